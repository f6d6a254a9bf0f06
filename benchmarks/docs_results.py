"""Measure the benchmark tables that the documentation's performance page plots.

    PYTHONPATH=. python benchmarks/docs_results.py     # from the repository root

writes ``docs/_static/benchmarks/{correlate2d,conv2d,pooling}.json``.  Each
file is one JSON object ``{"machine": ..., <table name>: [row, ...]}`` whose
rows are exactly those of ``compare.py --json``, ``bench_conv2d.conv2d_table``
and ``bench_pooling.pooling_table``; ``docs/plot_benchmarks.py`` draws the
figures from them when the docs build.  Run it on a quiet machine: the
figures show whatever was measured here.
"""
import json
import os
import platform

import numpy as np

from benchmarks import bench_conv2d, bench_pooling, compare

OUTPUT_DIR = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "_static", "benchmarks")
THREADS = (1, 2)


def machine():
    """A one-line description of where the numbers were taken."""
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"


def save(name, tables):
    path = os.path.join(OUTPUT_DIR, f"{name}.json")
    with open(path, "w") as handle:
        json.dump({"machine": machine(), **tables}, handle, indent=1)
    print(f"wrote {os.path.normpath(path)}")


def main():
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    save("correlate2d", {
        "correlate2d": compare.correlate_rows([1024], [3, 5, 9, 15], ["fill"],
                                              [np.float64, np.float32], THREADS, repeat=5),
        "textbook": compare.textbook_rows(repeat=5),
    })
    save("conv2d", {"conv2d": bench_conv2d.conv2d_table(THREADS)})
    save("pooling", {"pooling": bench_pooling.pooling_table(THREADS)})


if __name__ == "__main__":
    main()
