"""Large kernels: the method choice's regret, the FFT tiles against the peers, memory.

    python benchmarks/bench_large_kernels.py              # targets, memory, regret grid
    python benchmarks/bench_large_kernels.py --quick      # a smaller grid
    python benchmarks/bench_large_kernels.py --regret     # the regret grid alone
    python benchmarks/bench_large_kernels.py --calibrate  # fit cyconv._fft's constants
    python benchmarks/bench_large_kernels.py --dask       # 30000^2 on a LocalCluster

Sections:

* **targets**: cyconv's ``correlate2d`` (``method='auto'``) against
  ``scipy.signal.oaconvolve``, ``fftconvolve`` (``scipy.fft`` workers) and
  ``cv2.filter2D`` on 8192^2 float32 with a 101x101 kernel, against
  ``fftconvolve`` on long 1xN signals, and against ``cv2.filter2D`` on small
  images.  Ratios are peer time over cyconv's (above 1: cyconv is faster).
* **memory**: the peak resident memory of one call of each contender, each
  in a fresh interpreter (``VmHWM`` less the resident memory before its
  input was made), over input + output.
* **regret**: every method timed on every case of a grid of image shapes
  (1xN to square, 64^2 to 4096^2), kernels (3 to 127 taps a side, rank 1 or
  not), both float types and 1 and 2 threads; regret is the time of
  ``method='auto'`` over the fastest way ('fft tiled' is the model's tiling,
  or on outputs of a million points and more where the model takes one
  tile, its tiling within a quarter of the memory).  Every way includes the
  checks and conversions that every call makes before planning; 'auto'
  also plans.

Everything is measured in this run, medians in turns
(``_timing.interleaved_medians``); a benchmark, not a test.
"""
import argparse
import contextlib
import math
import subprocess
import sys
import textwrap

import numpy as np
import scipy.fft
import scipy.signal

import cyconv
from cyconv import _correlate, _fft, _filter_plan

if __package__:
    from . import _timing
else:
    import _timing

cv2 = _timing.optional("cv2")

# Calls shorter than this are timed in runs of about this long (see
# _timing.interleaved_medians), as a loop over frames or tiles calls them;
# the targets print single calls after a pause beside them.
BATCH_SECONDS = 0.005


def random_kernel(shape, rng, separable=False):
    """A kernel that is rank 1 (a Gaussian) or not (noise on a disk-like bump)."""
    axes = [np.exp(-0.5 * (np.arange(n) - (n - 1) / 2) ** 2 / max(n / 6, 0.5) ** 2)
            for n in shape]
    kernel = np.multiply.outer(*axes)
    if not separable:
        kernel = kernel + 0.1 * rng.random(shape)
    return kernel / kernel.sum()


# -- methods -------------------------------------------------------------------------------

def methods(image, kernel, threads):
    """Every way cyconv can compute ``correlate2d(image, kernel, 'same')``: name -> callable.

    Each way asked for pays what any call pays before its plan, the checks
    and conversions of the operands (``_correlate._prepare`` with
    ``method='direct'``, whose plan is a constant): ``auto`` pays for
    planning on top of that, and its regret includes it.
    """
    call = _correlate._prepare(image, kernel, "same", "fill", 0, "auto", threads, False)
    out_shape, offsets = call.out_shape, call.offsets

    def checked(compute):
        def run():
            _correlate._prepare(image, kernel, "same", "fill", 0, "direct", threads, False)
            return compute()
        return run

    found = {"auto": lambda: cyconv.correlate2d(image, kernel, "same", workers=threads),
             "direct": lambda: cyconv.correlate2d(image, kernel, "same", method="direct",
                                                  workers=threads)}
    factors = _filter_plan.rank1_factors(np.asarray(kernel, np.float64),
                                         _filter_plan.rank1_epsilon(call.image.dtype))
    if factors is not None:
        passes = [p.weights for p in _filter_plan.split_passes(factors, 2)]
        found["separable"] = checked(lambda: _correlate._direct_passes(
            call.image, passes, out_shape, offsets, call.boundary, call.fill, call.threads))
    whole = tuple(scipy.fft.next_fast_len(o + k - 1, real=True)
                  for o, k in zip(out_shape, call.kernel.shape))
    tilings = {"fft whole": _fft.tiling_of(out_shape, call.kernel.shape, whole)}
    best = _fft.choose_tiling(out_shape, call.kernel.shape, call.image.dtype, call.threads)
    if best.tiles == 1 and math.prod(out_shape) >= 1 << 20:
        best = _fft.choose_tiling(out_shape, call.kernel.shape, call.image.dtype, call.threads,
                                  memory_limit=best.bytes // 4)
    if best.tiles > 1:
        tilings["fft tiled"] = best
    for name, tiling in tilings.items():
        found[name] = checked(lambda tiling=tiling: _fft.fft_correlate(
            call.image, call.kernel, out_shape, offsets, (call.boundary,) * 2, call.fill,
            call.threads, tiling))
    return found, call.plan


def chosen_name(plan):
    if plan.method == "dense":
        return "direct"
    if plan.method == "fft":
        return "fft whole" if plan.tiling.tiles == 1 else "fft tiled"
    return plan.method


# -- regret grid -----------------------------------------------------------------------------

def grid(quick):
    images = [(64, 64), (320, 240), (2048, 2048), (4096, 1024)]
    kernels = [(3, 3), (7, 7), (15, 15), (31, 31), (63, 63), (127, 127), (1, 31), (31, 9)]
    signals = [(1, 100_000), (1, 1_000_000), (100_000, 1)]
    taps = [31, 301, 3001]
    if quick:
        images, kernels = [(320, 240), (2048, 2048)], [(3, 3), (31, 31), (127, 127)]
        signals, taps = [(1, 100_000)], [31, 3001]
    cases = [(image, kernel, separable) for image in images for kernel in kernels
             for separable in ((False, True) if kernel in ((7, 7), (31, 31)) else (False,))]
    for shape in signals:
        for n in taps:
            kernel = (1, n) if shape[0] == 1 else (n, 1)
            cases.append((shape, kernel, False))
    return cases


def regret_rows(quick, repeat, rng):
    rows = []
    for image_shape, kernel_shape, separable in grid(quick):
        for dtype in (np.float32, np.float64):
            image = rng.random(image_shape, dtype=np.float64).astype(dtype)
            kernel = random_kernel(kernel_shape, rng, separable).astype(dtype)
            for threads in (1, 2):
                found, plan = methods(image, kernel, threads)
                medians = _timing.interleaved_medians(
                    {name: (function, contextlib.nullcontext, _timing.SETTLE_SECONDS)
                     for name, function in found.items()}, repeat, budget=4.0, pair_below=0.05,
                    batch=BATCH_SECONDS)
                chosen = chosen_name(plan)
                best = min(medians.values())
                rows.append(dict(image=image_shape, kernel=kernel_shape,
                                 rank1=separable, dtype=np.dtype(dtype).name, threads=threads,
                                 times=medians, chosen=chosen,
                                 regret=medians["auto"] / best,
                                 fastest=min(medians, key=medians.get)))
                print(format_regret_row(rows[-1]), flush=True)
    return rows


REGRET_METHODS = ("auto", "direct", "separable", "fft whole", "fft tiled")


def format_regret_header():
    columns = "".join(f"{name:>11}" for name in REGRET_METHODS)
    return (f"{'image':>13} {'kernel':>9} {'rank1':>5} {'dtype':>7} {'thr':>3}{columns}"
            f"  {'auto chose':>10} {'regret':>6}")


def format_regret_row(row):
    times = "".join(f"{row['times'][name] * 1e3:>11.2f}" if name in row["times"] else f"{'-':>11}"
                    for name in REGRET_METHODS)
    return (f"{'x'.join(map(str, row['image'])):>13} {'x'.join(map(str, row['kernel'])):>9} "
            f"{'yes' if row['rank1'] else 'no':>5} {row['dtype']:>7} {row['threads']:>3}{times}"
            f"  {row['chosen']:>10} {row['regret']:>6.2f}")


# -- targets ---------------------------------------------------------------------------------

def peers(image, kernel, threads, boundary):
    """The peers' calls on the same correlation ('same', the boundary of cyconv's call)."""
    flipped = kernel[::-1, ::-1]
    found = {}
    if boundary == "fill":
        found["oaconvolve"] = lambda: scipy.signal.oaconvolve(image, flipped, "same")

        def fftconvolve():
            with scipy.fft.set_workers(threads):
                return scipy.signal.fftconvolve(image, flipped, "same")
        found["fftconvolve"] = fftconvolve
    if cv2 is not None:
        border = cv2.BORDER_CONSTANT if boundary == "fill" else cv2.BORDER_REFLECT
        # cv2 centres an even kernel one step later than scipy's 'same'; the
        # benchmark's kernels are odd.
        found["cv2.filter2D"] = lambda: cv2.filter2D(image, -1, kernel, borderType=border)
    return found


def target_rows(repeat, rng, quick):
    cases = [((8192, 8192), (101, 101), np.float32, "fill"),
             ((1, 1_000_000), (1, 1001), np.float32, "fill"),
             ((1, 1_000_000), (1, 1001), np.float64, "fill"),
             ((1, 100_000), (1, 301), np.float64, "fill"),
             ((1, 100_000), (1, 3001), np.float32, "fill"),
             ((320, 240), (3, 3), np.float32, "symm"),
             ((320, 240), (5, 5), np.float32, "symm")]
    if quick:
        cases[0] = ((4096, 4096), (101, 101), np.float32, "fill")
    rows = []
    for image_shape, kernel_shape, dtype, boundary in cases:
        image = rng.random(image_shape, dtype=np.float32).astype(dtype, copy=False)
        kernel = random_kernel(kernel_shape, rng).astype(dtype)
        for threads in (1, 2):
            if cv2 is not None:
                cv2.setNumThreads(threads)
            contenders = {"cyconv": (lambda: cyconv.correlate2d(
                image, kernel, "same", boundary, method="auto", workers=threads))}
            contenders.update(peers(image, kernel, threads, boundary))
            timed = {name: (function, contextlib.nullcontext, _timing.SETTLE_SECONDS)
                     for name, function in contenders.items()}
            medians = _timing.interleaved_medians(timed, repeat, budget=6.0, batch=BATCH_SECONDS)
            plan = cyconv.correlate2d_plan(image, kernel, "same", boundary, workers=threads)
            rows.append(dict(image=image_shape, kernel=kernel_shape, dtype=np.dtype(dtype).name,
                             threads=threads, boundary=boundary, times=medians,
                             plan=chosen_name(plan)))
            print(format_target_row(rows[-1]), flush=True)
            if medians["cyconv"] < BATCH_SECONDS:
                single = _timing.interleaved_medians(timed, repeat, budget=6.0)
                print(f"{'':>22} one call after a pause: " + "  ".join(
                    f"{name} {seconds * 1e3:.3f} ms" for name, seconds in single.items())
                    + f"  | x best peer {peer_over_ours(single):.2f}", flush=True)
    return rows


def peer_over_ours(times):
    """The best peer's time over cyconv's (NaN without a peer)."""
    peers_ = [times[name] for name in times if name != "cyconv"]
    return min(peers_) / times["cyconv"] if peers_ else math.nan


def format_target_row(row):
    ours = row["times"]["cyconv"]
    peers_ = [name for name in row["times"] if name != "cyconv"]
    ratios = "  ".join(f"{name} {row['times'][name] * 1e3:.3g} ms ({row['times'][name] / ours:.2f}x)"
                       for name in peers_)
    best = peer_over_ours(row["times"])
    return (f"{'x'.join(map(str, row['image'])):>12} {'x'.join(map(str, row['kernel'])):>8} "
            f"{row['dtype']:>7} {row['boundary']:>4} thr {row['threads']}  cyconv "
            f"{ours * 1e3:.3g} ms [{row['plan']}]  {ratios}  | x best peer {best:.2f}")


# -- memory ----------------------------------------------------------------------------------

MEMORY_SCRIPT = textwrap.dedent("""
    import numpy as np, scipy.signal, sys
    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    which, size, taps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    import cyconv
    try:
        import cv2
    except ImportError:
        cv2 = None
    kernel = np.random.default_rng(1).random((taps, taps)).astype(np.float32)
    before = status("VmRSS")
    image = np.random.default_rng(0).random((size, size), dtype=np.float32)
    if which == "cyconv":
        out = cyconv.correlate2d(image, kernel, "same")
    elif which == "fftconvolve":
        out = scipy.signal.fftconvolve(image, kernel, "same")
    elif which == "oaconvolve":
        out = scipy.signal.oaconvolve(image, kernel, "same")
    else:
        out = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    print((status("VmHWM") - before) / (image.nbytes + out.nbytes))
""")


def memory_rows(size, taps):
    rows = {}
    for which in ("cyconv", "oaconvolve", "fftconvolve") + (("cv2.filter2D",) if cv2 else ()):
        result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, which, str(size), str(taps)],
                                capture_output=True, text=True, check=True)
        rows[which] = float(result.stdout.strip())
    return rows


# -- calibration -----------------------------------------------------------------------------

def calibrate(repeat, rng):
    """Fit TILE_SECONDS and FFT_SECONDS_PER_NLOGN (one thread) over forced tilings."""
    for dtype in (np.float32, np.float64, np.complex64, np.complex128):
        points, rows = [], []
        image = rng.random((2048, 2048)).astype(dtype)
        for taps in (15, 63):
            kernel = rng.random((taps, taps)).astype(dtype)
            offsets = (-(taps // 2),) * 2
            for length in (64, 128, 256, 512, 1024):
                if length < 2 * taps:
                    continue
                tiling = _fft.tiling_of(image.shape, kernel.shape, (length, length))
                seconds = _timing.median_time(lambda: _fft.fft_correlate(
                    image, kernel, image.shape, offsets, (0, 0), 0, 1, tiling), repeat)
                n = length * length
                kernel_share = 0.5 * n * math.log2(n) / tiling.tiles
                rows.append([1.0, n * math.log2(n) + kernel_share])
                points.append(seconds / tiling.tiles)
                print(f"{np.dtype(dtype).name:>10} {taps:>3} taps, {length:>4}^2 tiles x "
                      f"{tiling.tiles:>4}: {seconds * 1e3:8.1f} ms", flush=True)
        a, y = np.array(rows), np.array(points)
        weights = 1 / y
        (tile, nlogn), *_ = np.linalg.lstsq(a * weights[:, None], y * weights, rcond=None)
        fit = a @ np.array([tile, nlogn])
        print(f"{np.dtype(dtype).name}: TILE_SECONDS {tile:.3g}, FFT_SECONDS_PER_NLOGN "
              f"{nlogn:.3g} (fit / measured: {np.round(fit / y, 2).tolist()})")


# -- dask ------------------------------------------------------------------------------------

def dask_run(size, taps, chunk):
    """correlate2d of a size^2 float32 image on a LocalCluster with 4 GB per worker."""
    import time

    import dask.array as da
    from dask.distributed import Client, LocalCluster

    import cyconv.dask

    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="4GB") as cluster, \
            Client(cluster) as client:
        image = da.random.default_rng(0).random((size, size), dtype=np.float32,
                                                chunks=(chunk, chunk))
        kernel = random_kernel((taps, taps), np.random.default_rng(1)).astype(np.float32)
        result = cyconv.dask.correlate2d(image, kernel, "same")
        start = time.perf_counter()
        total = float(result.sum(dtype=np.float64).compute())
        seconds = time.perf_counter() - start
        plan = cyconv.correlate2d_plan(np.empty((chunk + taps - 1,) * 2, np.float32), kernel,
                                       "valid", workers=1)
        peak = max(worker["metrics"]["memory"] for worker in
                   client.scheduler_info()["workers"].values())
    print(f"{size}^2 float32, {taps}x{taps} kernel, chunks {chunk}^2, 2 workers x 1 thread, "
          f"4 GB each: {seconds:.1f} s (sum {total:.6g}); a chunk's plan: {plan}; "
          f"largest worker memory at the end {peak / 2 ** 30:.2f} GiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--dask", action="store_true")
    parser.add_argument("--regret", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(_timing.machine())
    if args.calibrate:
        calibrate(args.repeat, rng)
        return
    if args.dask:
        dask_run(30_000, 129, 4096)
        return
    if not args.regret:
        print("\ntargets: correlate2d 'same', method='auto', against the peers "
              "(ratio: peer / cyconv)")
        target_rows(args.repeat, rng, args.quick)
        size = 4096 if args.quick else 8192
        print(f"\nmemory: peak resident memory over (input + output), {size}^2 float32, "
              "101x101 kernel, 'same', one call in a fresh interpreter")
        for name, ratio in memory_rows(size, 101).items():
            print(f"  {name:>14}: {ratio:.2f}x")
    print("\nregret: ms per call of every method, the method 'auto' chose, and its time over "
          "the fastest")
    print(format_regret_header())
    rows = regret_rows(args.quick, max(3, args.repeat - 2), rng)
    worst = max(rows, key=lambda row: row["regret"])
    print(f"\nregret over {len(rows)} cases: median {np.median([r['regret'] for r in rows]):.2f}, "
          f"max {worst['regret']:.2f} ({format_regret_row(worst).strip()})")


if __name__ == "__main__":
    main()
