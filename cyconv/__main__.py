"""``python -m cyconv``: the textbook walkthrough in short, with a timing.

``python -m cyconv`` runs the 3x3 example, edge detection on a built-in
synthetic image and a 2048x2048 timing against scipy.signal.correlate2d.
``python -m cyconv --size N`` changes the timed image size.
"""
import argparse
import time

import numpy as np
import scipy.signal

import cyconv


def _median_seconds(func, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def walkthrough(size=2048, repeat=3):
    print("cyconv", cyconv.__version__, "- 2-D cross-correlation, the textbook way, fast\n")

    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    print("1. Cross-correlation of X with the 2x2 kernel K ('valid' mode):")
    print("X =\n", X, "\nK =\n", K)
    print("cyconv.correlate2d(X, K, 'valid') =\n", cyconv.correlate2d(X, K, "valid"), "\n")

    image = np.ones((6, 8))
    image[:, 2:6] = 0.0
    edge = np.array([[1.0, -1.0]])
    print("2. Edge detection: a 6x8 image, black in columns 2..5, and the kernel [1, -1]:")
    print(image)
    print("vertical edges (1 = white to black, -1 = black to white):")
    print(cyconv.correlate2d(image, edge, "valid"))
    print("the transposed image has no vertical edges, so the kernel sees nothing:")
    print(cyconv.correlate2d(image.T, edge, "valid"), "\n")

    rng = np.random.default_rng(0)
    big = rng.standard_normal((size, size))
    kernel = rng.standard_normal((3, 3))
    ours = cyconv.correlate2d(big, kernel, "same")
    np.testing.assert_allclose(ours, scipy.signal.correlate2d(big, kernel, "same"), atol=1e-9)
    scipy_time = _median_seconds(lambda: scipy.signal.correlate2d(big, kernel, "same"), repeat)
    print(f"3. Timing: {size}x{size} float64 image, 3x3 kernel, mode 'same' "
          f"(results checked equal), median of {repeat}:")
    print(f"   {'scipy.signal.correlate2d':<32} {scipy_time * 1e3:9.1f} ms")
    for workers in (1, None):
        seconds = _median_seconds(lambda: cyconv.correlate2d(big, kernel, "same", workers=workers), repeat)
        label = f"cyconv.correlate2d workers={workers}"
        print(f"   {label:<32} {seconds * 1e3:9.1f} ms   speed-up {scipy_time / seconds:6.1f}x")
    print()
    cyconv.show_config()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cyconv", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048, help="side of the timed image")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per contender")
    args = parser.parse_args(argv)
    if args.size < 3 or args.repeat < 1:
        parser.error("--size must be at least 3 and --repeat at least 1")
    walkthrough(args.size, args.repeat)


if __name__ == "__main__":
    main()
