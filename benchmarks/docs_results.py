"""Measure the benchmark tables that the documentation's performance page plots.

    PYTHONPATH=. python benchmarks/docs_results.py             # from the repository root
    PYTHONPATH=. python benchmarks/docs_results.py ndimage     # only the tables named

writes ``docs/_static/benchmarks/{correlate2d,conv2d,pooling,ndimage}.json``.
Each file is one JSON object ``{"machine": ..., <table name>: [row, ...]}``
whose rows are exactly those of ``compare.py --json``,
``bench_conv2d.conv2d_table``, ``bench_pooling.pooling_table`` and
``bench_ndimage.py --json`` (which writes the whole ``ndimage.json`` itself);
``docs/plot_benchmarks.py`` draws the figures from them when the docs build.
Run it on a quiet machine: the figures show whatever was measured here.
"""
import json
import os
import sys

import numpy as np

from benchmarks import _timing, bench_conv2d, bench_ndimage, bench_pooling, compare

OUTPUT_DIR = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "_static", "benchmarks")
THREADS = (1, 2)


machine = _timing.machine


def save(name, tables):
    path = os.path.join(OUTPUT_DIR, f"{name}.json")
    with open(path, "w") as handle:
        json.dump({"machine": machine(), **tables}, handle, indent=1)
    print(f"wrote {os.path.normpath(path)}")


def main(names=None):
    """Measure and save the tables in ``names`` (default: all of them)."""
    tables = {
        "correlate2d": lambda: {
            "correlate2d": compare.correlate_rows([1024], [3, 5, 9, 15], ["fill"],
                                                  [np.float64, np.float32], THREADS, repeat=5),
            "textbook": compare.textbook_rows(repeat=5),
        },
        "conv2d": lambda: {"conv2d": bench_conv2d.conv2d_table(THREADS)},
        "pooling": lambda: {"pooling": bench_pooling.pooling_table(THREADS)},
        "ndimage": lambda: bench_ndimage.json_tables(bench_ndimage.ndimage_table(),
                                                     bench_ndimage.peak_gflops()),
    }
    unknown = set(names or ()) - set(tables)
    if unknown:
        sys.exit(f"unknown tables {sorted(unknown)}; choose among {', '.join(tables)}")
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    for name, measure in tables.items():
        if not names or name in names:
            save(name, measure())


if __name__ == "__main__":
    main(sys.argv[1:])
