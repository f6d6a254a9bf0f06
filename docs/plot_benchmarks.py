"""The performance page's figures, drawn from the JSON results in ``_static/benchmarks/``.

Each results file is ``{"machine": ..., <table>: [row, ...]}`` as written by
``benchmarks/docs_results.py``; regenerate them there and the figures follow
at the next docs build.  Every figure shows speed-ups, peer time over cyconv
time, so above 1 means cyconv is faster; ratios from one run are comparable
even on a busy machine, absolute times are not.
"""
import json
import pathlib
import re

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

# Relative to docs/: the plot directive runs this file with docs/ as the working directory.
RESULTS_DIR = pathlib.Path("_static") / "benchmarks"


def load(name):
    with open(RESULTS_DIR / f"{name}.json") as handle:
        return json.load(handle)


def thread_label(count):
    return f"{count} thread{'s' if count != 1 else ''}"


def speedup_bars(axis, labels, series, title):
    """Grouped horizontal bars on a log scale, one group per label, one bar per series.

    ``series`` maps a legend entry to one speed-up per label (NaN: not
    measured, no bar).
    """
    height = 0.8 / len(series)
    positions = np.arange(len(labels))
    for offset, (name, values) in enumerate(series.items()):
        axis.barh(positions + offset * height, values, height, label=name)
    axis.set_yticks(positions + height * (len(series) - 1) / 2, labels)
    axis.set_ylim(len(labels) - 0.1, -0.1 - height)
    axis.set_xscale("log")
    # Powers of two read as "2x, 4x" where decades would crowd or vanish.
    axis.xaxis.set_major_locator(LogLocator(base=2))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.axvline(1, color="black", linewidth=0.8)
    axis.grid(axis="x", alpha=0.3)
    axis.set_title(title, fontsize="medium")
    axis.set_xlabel("speed-up")


def finish(fig, axes, results):
    """One legend for all panels, the machine the numbers come from, tight layout."""
    handles, names = axes[0].get_legend_handles_labels()
    columns = max(1, min(len(names), int(fig.get_figwidth() // 2.6)))
    fig.legend(handles, names, loc="lower center", ncol=columns, fontsize="small", frameon=False)
    fig.text(0.01, 0.005, f"measured on {results['machine']}; above 1x: cyconv is faster",
             fontsize="x-small", color="dimgray")
    legend_rows = -(-len(names) // columns)
    fig.tight_layout(rect=(0, (0.25 + 0.2 * legend_rows) / fig.get_figheight(), 1, 1))


def ratio(numerator, denominator):
    return np.nan if numerator is None or denominator is None else numerator / denominator


def correlate2d_figure():
    """Speed-up of correlate2d over scipy.signal.correlate2d, by kernel size and threads."""
    results = load("correlate2d")
    rows = results["correlate2d"]
    counts = sorted({int(match[1]) for row in rows for key in row
                     if (match := re.fullmatch(r"cyconv w(\d+)", key))})
    panels = sorted({(row["dtype"], row["boundary"]) for row in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.8), squeeze=False,
                             sharex=True, sharey=True)
    for axis, (dtype, boundary) in zip(axes[0], panels):
        chosen = [row for row in rows if (row["dtype"], row["boundary"]) == (dtype, boundary)]
        labels = [f"{row['size']}x{row['size']}, {row['kernel']}x{row['kernel']}" for row in chosen]
        series = {f"cyconv, {thread_label(count)}":
                  [ratio(row["scipy.signal.correlate2d"], row[f"cyconv w{count}"]) for row in chosen]
                  for count in counts}
        speedup_bars(axis, labels, series,
                     f"{dtype}, 'same', boundary '{boundary}'\nover scipy.signal.correlate2d")
    axes[0][0].set_ylabel("image, kernel")
    finish(fig, axes[0], results)


def _peer_figure(rows, case_key, cases, seconds, peers, results):
    """One panel per case, one bar group per label, one bar per peer and thread count.

    ``seconds(row, implementation)`` is that implementation's time in the row
    (None if not measured); ``peers`` maps a legend name to an implementation.
    """
    counts = sorted({row["threads"] for row in rows})
    height = 1.5 + 0.6 * len(rows) / len(cases) / len(counts)
    fig, axes = plt.subplots(1, len(cases), figsize=(3.2 * len(cases) + 2.5, height),
                             squeeze=False, sharex=True, sharey=True)
    for axis, (case, title) in zip(axes[0], cases.items()):
        chosen = [row for row in rows if case_key(row) == case]
        labels = list(dict.fromkeys(row["label"] for row in chosen))
        series = {}
        for peer, implementation in peers.items():
            for count in counts:
                by_label = {row["label"]: row for row in chosen if row["threads"] == count}
                series[f"over {peer}, {thread_label(count)}"] = [
                    ratio(seconds(by_label[label], implementation),
                          seconds(by_label[label], "cyconv"))
                    for label in labels]
        speedup_bars(axis, labels, series, title)
    finish(fig, axes[0], results)


def conv2d_figure():
    """Speed-up of conv2d and conv2d_backward over torch and a NumPy im2col + matmul."""
    results = load("conv2d")
    rows = [dict(row, label=row["layer"]) for row in results["conv2d"]]
    cases = {(row["direction"], row["dtype"]): f"conv2d {row['direction']}, {row['dtype']}"
             for row in rows}
    _peer_figure(rows, lambda row: (row["direction"], row["dtype"]), cases,
                 lambda row, implementation: row[f"{implementation}_s"],
                 {"torch": "torch", "NumPy im2col + matmul": "numpy"}, results)


def pooling_figure():
    """Speed-up of the pooling functions over torch and NumPy sliding windows."""
    results = load("pooling")
    rows = [dict(row, label=row["case"]) for row in results["pooling"]]
    measured = {key[:-3] for row in rows for key in row if key.endswith(" ms")}
    peers = {name: implementation for name, implementation in
             [("torch", "torch"), ("NumPy sliding windows", "numpy")] if implementation in measured}
    _peer_figure(rows, lambda row: "float32", {"float32": "pooling, float32 (8, 64, 112, 112)"},
                 lambda row, implementation: row.get(f"{implementation} ms"), peers, results)


def ndimage_figure():
    """Speed-up of cyconv.ndimage over scipy.ndimage and OpenCV, by case and thread count.

    Drawn from ``ndimage.json`` as written by ``benchmarks/bench_ndimage.py
    --json``; the page shows it only when that file exists (``conf.py`` sets
    the ``ndimage_results`` tag), and without it this draws nothing.
    """
    if not (RESULTS_DIR / "ndimage.json").exists():
        return
    results = load("ndimage")
    rows = results["ndimage"]
    counts = sorted({int(match[1]) for row in rows for key in row
                     if (match := re.fullmatch(r"cyconv w(\d+)", key))})
    panels = {}
    for row in rows:
        if row["group"] == "correlate":
            title = f"correlate, {row['dtype']}"
        elif row["group"] in ("gaussian", "uniform"):
            title = f"{row['group']}_filter"
        else:
            title = "3-D volume and image stacks, float32"
        panels.setdefault(title, []).append(row)
    size = next((re.search(r"(\d+)\^2", row["label"])[1] for row in rows
                 if row["group"] != "stack" and "^2" in row["label"]), None)
    columns = 2
    grid_rows = -(-(len(panels) + 1) // columns)
    tallest = max(len(chosen) for chosen in panels.values())
    fig, axes = plt.subplots(grid_rows, columns, figsize=(10, grid_rows * (1.2 + 0.45 * tallest)),
                             squeeze=False, sharex=True)
    flat = list(axes.flat)
    for axis, (title, chosen) in zip(flat, panels.items()):
        series = {}
        for peer, name in (("scipy", "scipy.ndimage"), ("cv2", "OpenCV")):
            for count in counts:
                key = peer if peer == "scipy" else f"{peer} w{count}"
                if any(key in row for row in rows):
                    series[f"over {name}, {thread_label(count)}"] = [
                        ratio(row.get(key), row.get(f"cyconv w{count}")) for row in chosen]
        if size and "volume" not in title:
            title += f", {size}x{size}"
        speedup_bars(axis, [row["short"] for row in chosen], series, title)
        axis.xaxis.set_tick_params(labelbottom=True)
    # The free panel holds the legend, the machine and the peaks.
    legend_axis = flat[len(panels)]
    legend_axis.axis("off")
    handles, names = flat[0].get_legend_handles_labels()
    legend_axis.legend(handles, names, loc="upper left", frameon=False)
    peaks = results.get("peak_gflops", {})
    notes = [f"measured on {results['machine']}", "above 1x: cyconv is faster"]
    notes += [f"one-thread GEMM peak, {dtype}: {value:.0f} GFLOP/s" for dtype, value in peaks.items()]
    legend_axis.text(0, 0.05, "\n".join(notes), fontsize="small", color="dimgray",
                     transform=legend_axis.transAxes)
    for axis in flat[len(panels) + 1:]:
        axis.axis("off")
    fig.tight_layout()
