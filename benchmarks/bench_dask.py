"""cyconv.dask on a LocalCluster beside the in-memory call and dask-image: time and peak memory.

    python benchmarks/bench_dask.py [--size 16384] [--kernel 9] [--chunk 2048] [--workers 2]

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

Not an asv benchmark: it needs minutes and gigabytes.
"""
import argparse
import resource
import subprocess
import sys
import time

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
    parser.add_argument("--in-memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.size % args.chunk:
        parser.error("--size must be a multiple of --chunk")
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


if __name__ == "__main__":
    main()
