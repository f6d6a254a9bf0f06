"""cyconv.dask on a LocalCluster beside the in-memory call and dask-image: time and peak memory.

    python benchmarks/bench_dask.py [--size 16384] [--kernel 9] [--chunk 2048] [--workers 2]
    python benchmarks/bench_dask.py --ndimage [--size 16384] [--chunk 2048] [--memory-limit MIB]
    python benchmarks/bench_dask.py [--ndimage] --quick     # a 1024^2 smoke run

A float32 image (16384^2 = 1 GiB by default) is correlated with a kernel in
'same' mode with the mirrored boundary ('symm', which is scipy.ndimage's
'reflect', so dask-image computes the same thing).  The image is generated
chunk by chunk from seeds, identically for every run, and the result is
reduced to its sum so no run holds the whole output unless it must.

- in memory: ``cyconv.correlate2d`` in a fresh process on the assembled
  image; its peak is the process's peak resident set.
- cyconv.dask / dask-image: on a LocalCluster of ``--workers`` processes with
  one thread each, restarted before each run; the peak is each worker's
  peak resident set (``getrusage``), the largest and the sum over workers.
- generate + sum: the same pipeline without the correlation, for the cost of
  making the data on the workers.

With ``--ndimage``: the `cyconv.dask.ndimage` filters against
``dask_image.ndfilters`` (``pip install dask-image``, in the ``bench`` extra),
the same filter with the same arguments on each side, on a float32 image
drawn lazily by ``dask.array.random`` that is larger than each worker's
``--memory-limit`` (default: half the image, at least 384 MiB), on a
fresh LocalCluster of ``--workers`` processes with one thread each for each
run.  Each result is reduced to its sum, which must agree between the
two; the table gives both times and dask-image's over cyconv's.

Not an asv benchmark: it needs minutes and gigabytes.
"""
import argparse
import resource
import subprocess
import sys
import time
from functools import partial

import numpy as np

MIB = 1 << 20


def image_block(block_info=None):
    """The image's block at ``block_info``'s location, from a seed of that location."""
    location = block_info[None]["chunk-location"]
    shape = block_info[None]["chunk-shape"]
    rng = np.random.default_rng([12345, *location])
    return rng.random(shape, dtype=np.float32)


def lazy_image(size, chunk):
    import dask.array as da

    return da.map_blocks(image_block, chunks=((chunk,) * (size // chunk),) * 2,
                         dtype=np.float32, meta=np.empty((0, 0), np.float32))


def kernel(size):
    return np.random.default_rng(0).random((size, size), dtype=np.float32) / size**2


def peak_rss_bytes():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def in_memory_run(size, chunk, kernel_size):
    """Run in a fresh process: assemble the image, correlate, print time, sum, peak."""
    import cyconv

    blocks = size // chunk
    image = np.empty((size, size), np.float32)
    for i in range(blocks):
        for j in range(blocks):
            info = {None: {"chunk-location": (i, j), "chunk-shape": (chunk, chunk)}}
            image[i * chunk:(i + 1) * chunk, j * chunk:(j + 1) * chunk] = image_block(info)
    start = time.perf_counter()
    out = cyconv.correlate2d(image, kernel(kernel_size), "same", "symm")
    seconds = time.perf_counter() - start
    print(seconds, out.sum(dtype=np.float64), peak_rss_bytes())


def cluster_run(client, result):
    client.restart()
    start = time.perf_counter()
    total = float(result.compute())
    seconds = time.perf_counter() - start
    peaks = client.run(peak_rss_bytes).values()
    return seconds, total, max(peaks), sum(peaks)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--kernel", type=int, default=9)
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ndimage", action="store_true",
                        help="cyconv.dask.ndimage against dask_image.ndfilters")
    parser.add_argument("--memory-limit", type=int, default=None, metavar="MIB",
                        help="per worker, with --ndimage (default: half the image, >= 384)")
    parser.add_argument("--quick", action="store_true", help="a 1024^2 image in 256^2 chunks")
    parser.add_argument("--in-memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.size, args.chunk = 1024, 256
    if args.size % args.chunk:
        parser.error("--size must be a multiple of --chunk")
    if args.ndimage:
        ndimage_main(args)
        return
    if args.in_memory_only:
        in_memory_run(args.size, args.chunk, args.kernel)
        return

    import distributed

    import cyconv.dask

    rows = []
    command = [sys.executable, __file__, "--in-memory-only", f"--size={args.size}",
               f"--chunk={args.chunk}", f"--kernel={args.kernel}"]
    seconds, total, peak = map(float, subprocess.run(
        command, capture_output=True, text=True, check=True).stdout.split())
    rows.append(("cyconv.correlate2d, in memory", seconds, total, peak, peak))

    image = lazy_image(args.size, args.chunk)
    weights = kernel(args.kernel)
    runs = [
        ("generate + sum only (no correlation)", image.sum(dtype=np.float64)),
        ("cyconv.dask.correlate2d", cyconv.dask.correlate2d(image, weights, "same", "symm")
         .sum(dtype=np.float64)),
    ]
    try:
        from dask_image import ndfilters
    except ImportError:
        print("dask-image is not installed; its row is left out")
    else:
        runs.append(("dask_image.ndfilters.correlate", ndfilters.correlate(
            image, weights, mode="reflect").sum(dtype=np.float64)))
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        for name, result in runs:
            rows.append((name, *cluster_run(client, result)))

    print(f"\n{args.size}x{args.size} float32 ({args.size**2 * 4 / MIB:.0f} MiB), "
          f"{args.kernel}x{args.kernel} kernel, 'same'/'symm', chunks {args.chunk}^2, "
          f"LocalCluster of {args.workers} processes x 1 thread\n")
    print("| run | wall time (s) | peak memory: largest process (MiB) | all processes (MiB) | sum of output |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, total, peak, peak_sum in rows:
        print(f"| {name} | {seconds:.1f} | {peak / MIB:.0f} | {peak_sum / MIB:.0f} | {total:.6e} |")


def ndimage_runs(image, weights):
    """``(name, cyconv.dask.ndimage result, dask_image.ndfilters result)`` per filter."""
    from dask_image import ndfilters

    from cyconv.dask import ndimage

    return [
        (f"correlate {len(weights)}x{len(weights)}", ndimage.correlate(image, weights),
         ndfilters.correlate(image, weights)),
        (f"convolve {len(weights)}x{len(weights)}, 'wrap'",
         ndimage.convolve(image, weights, mode="wrap"),
         ndfilters.convolve(image, weights, mode="wrap")),
        ("uniform_filter 15", ndimage.uniform_filter(image, 15),
         ndfilters.uniform_filter(image, 15)),
        ("gaussian_filter sigma 4", ndimage.gaussian_filter(image, 4.0),
         ndfilters.gaussian_filter(image, 4.0)),
        ("sobel", ndimage.sobel(image), ndfilters.sobel(image)),
        ("prewitt, 'nearest'", ndimage.prewitt(image, mode="nearest"),
         ndfilters.prewitt(image, mode="nearest")),
        ("laplace", ndimage.laplace(image), ndfilters.laplace(image)),
        ("gaussian_laplace sigma 2", ndimage.gaussian_laplace(image, 2.0),
         ndfilters.gaussian_laplace(image, 2.0)),
        ("gaussian_gradient_magnitude sigma 2", ndimage.gaussian_gradient_magnitude(image, 2.0),
         ndfilters.gaussian_gradient_magnitude(image, 2.0)),
    ]


def import_filters():
    import dask_image.ndfilters  # noqa: F401

    import cyconv.dask.ndimage  # noqa: F401


def fresh_cluster_run(workers, memory_limit, result):
    """``cluster_run`` on a LocalCluster of its own (many ``client.restart()`` in a row
    can leave the workers unable to reconnect)."""
    import distributed

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  memory_limit=memory_limit, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(import_filters)  # not timed: both libraries loaded in every worker
        start = time.perf_counter()
        total = float(result.compute())
        seconds = time.perf_counter() - start
        peaks = client.run(peak_rss_bytes).values()
    return seconds, total, max(peaks), sum(peaks)


def ndimage_main(args):
    try:
        import dask_image  # noqa: F401
    except ImportError:
        print("dask-image is not installed (pip install dask-image, or the bench extra): "
              "nothing to compare cyconv.dask.ndimage with")
        return
    import dask.array as da

    image_mib = args.size**2 * 4 / MIB
    memory_limit = args.memory_limit or max(384, int(image_mib // 2))
    image = da.random.default_rng(12345).random((args.size, args.size), dtype=np.float32,
                                                chunks=args.chunk)
    weights = kernel(args.kernel)
    run = partial(fresh_cluster_run, args.workers, f"{memory_limit}MiB")
    base = run(image.sum(dtype=np.float64))[0]
    rows = []
    for name, ours, theirs in ndimage_runs(image, weights):
        ours_seconds, ours_total, ours_peak, _ = run(ours.sum(dtype=np.float64))
        theirs_seconds, theirs_total, theirs_peak, _ = run(theirs.sum(dtype=np.float64))
        agree = np.isclose(ours_total, theirs_total, rtol=1e-4, atol=1e-5 * args.size**2)
        print(f"{name}: {ours_seconds:.2f} s, dask-image {theirs_seconds:.2f} s",
              file=sys.stderr, flush=True)
        rows.append((name, ours_seconds, theirs_seconds, ours_peak, theirs_peak, agree))

    print(f"\n{args.size}x{args.size} float32 ({image_mib:.0f} MiB) from dask.array.random, "
          f"chunks {args.chunk}^2, a fresh LocalCluster of {args.workers} processes x 1 thread "
          f"per run, memory limit {memory_limit} MiB per worker; generate + sum alone: "
          f"{base:.2f} s\n")
    print("| filter | cyconv.dask.ndimage (s) | dask_image.ndfilters (s) | dask-image / cyconv "
          "| peak per worker, cyconv / dask-image (MiB) | sums agree |")
    print("|---|---:|---:|---:|---:|---|")
    for name, ours, theirs, ours_peak, theirs_peak, agree in rows:
        print(f"| {name} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f}x "
              f"| {ours_peak / MIB:.0f} / {theirs_peak / MIB:.0f} | {'yes' if agree else 'NO'} |")


if __name__ == "__main__":
    main()
