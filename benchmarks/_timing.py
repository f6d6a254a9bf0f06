"""Timing helpers shared by the benchmark scripts (compare.py, bench_conv2d.py, bench_ndimage.py).

Every script measures its contenders in one run and reports medians and
ratios: on a shared machine only figures from the same run compare.
"""
import contextlib
import importlib
import os
import platform
import statistics
import time

import numpy as np

# Pause after each timing: a library's idle threads spin for a while after
# its last call and would take a core from the one measured next.  OpenMP's
# stop within this; NumPy's OpenBLAS threads spin for more than 0.12 s (torch
# timed right after them ran 10x slower), hence the longer pause after them.
SETTLE_SECONDS = 0.12
OPENBLAS_SETTLE_SECONDS = 0.5


def optional(module):
    """The module if it imports, else None (peers such as cv2 and torch are optional)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def machine():
    """A one-line description of where the numbers were taken."""
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"


def blas_threads(count):
    """Limit NumPy's and scipy's BLAS to ``count`` threads when threadpoolctl is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")


def torch_threads(torch, count):
    """A context factory for `interleaved_medians`: torch on ``count`` threads."""
    @contextlib.contextmanager
    def limited():
        torch.set_num_threads(count)
        yield
    return limited


def median_seconds(func, repeat, budget=None):
    """Median of `repeat` timed calls (fewer when one call exceeds `budget` s)."""
    func()  # warm up: page in the output, load code
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
        if budget is not None and sum(times) > budget:
            break
    return float(np.median(times))


def gemm_peak_gflops(dtype, size=1024, repeat=5):
    """One-thread GEMM speed: the practical FMA peak of one core."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((size, size)).astype(dtype)
    with threadpool_limits(1):
        seconds = median_seconds(lambda: a @ a, repeat)
    return 2 * size ** 3 / seconds / 1e9


def median_time(function, repeat):
    """Median wall time of ``repeat`` calls after a pause and an untimed call."""
    time.sleep(SETTLE_SECONDS)
    return median_seconds(function, repeat)


def interleaved_medians(functions, repeat, budget=None, pair_below=None, batch=None):
    """Median seconds of each of ``functions`` (name -> (callable, context,
    pause after it)), timed in turns, so that a slow spell of a shared
    machine falls on all of them alike rather than on whichever ran then.

    A turn times a call right after an untimed one, as calls in a loop run:
    the first call after a pause pays for waking the idle cores and refilling
    the caches (about 1 ms per call for torch and cyconv alike on the
    2-vCPU reference machine), which would swamp millisecond layers.

    For slow contenders (a single-threaded peer taking seconds), two options
    shorten the run without changing what the fast ones measure:
    ``pair_below`` (seconds): a contender whose warm-up call took longer is
    timed without the untimed call before each timed one (waking the cores
    is negligible next to it); ``budget`` (seconds): a contender whose timed
    calls add up to more stops after at least three of them.

    ``batch`` (seconds): a contender whose warm-up call took less is timed
    as a run of calls lasting about that long, and its time is the run's
    over its count.  A single sub-millisecond call right after the pause
    measures the pause more than the call: on the reference machine a
    320x240 3x3 filter took 2x to 3x its time in a loop, cv2's compact C
    path less so than a call through Python.
    """
    times = {name: [] for name in functions}
    paired = dict.fromkeys(functions, True)
    count = dict.fromkeys(functions, 1)
    for round_ in range(repeat + 1):
        for name, (function, context, settle) in functions.items():
            if round_ > 3 and budget is not None and sum(times[name]) > budget:
                continue
            with context():
                if paired[name]:
                    function()
                start = time.perf_counter()
                for _ in range(count[name]):
                    function()
                seconds = (time.perf_counter() - start) / count[name]
            time.sleep(settle)
            if round_:  # the first round warms up
                times[name].append(seconds)
                continue
            if pair_below is not None and seconds > pair_below:
                paired[name] = False
            if batch is not None and seconds < batch:
                count[name] = max(1, round(batch / max(seconds, 1e-7)))
    return {name: statistics.median(values) for name, values in times.items()}
