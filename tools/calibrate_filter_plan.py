"""Measure the constants of cyconv._filter_plan's cost model on this machine.

    python tools/calibrate_filter_plan.py

Times (thread CPU time, one thread, medians) 1-D passes and dense 2-D
correlations of a 2048x2048 image in float32 and float64, and fits
``seconds per element = PASS + TAP * taps`` by least squares of the
relative error over all of them, printing the fit next to each measurement;
then times scipy's running sum for the uniform filter along columns and
along rows.  The constants in
``_filter_plan.PASS_SECONDS`` / ``TAP_SECONDS`` / ``RUNNING_SUM_SECONDS``
come from this script.
"""
import time

import numpy as np

from cyconv import _simd, correlate2d, ndimage

SIZE = 2048
ONE_D_TAPS = (3, 9, 17, 33)
DENSE_SIDES = (3, 5, 9, 15, 31, 63)


def seconds(function, repeat=7):
    times = []
    for _ in range(repeat):
        start = time.thread_time()
        function()
        times.append(time.thread_time() - start)
    return float(np.median(times))


def main():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        image = rng.random((SIZE, SIZE)).astype(dtype)
        out = np.empty_like(image)
        rows = []
        for taps in ONE_D_TAPS:
            weights = rng.random(taps)
            for axis in (0, 1):
                t = seconds(lambda: ndimage.correlate1d(image, weights, axis, out, workers=1))
                rows.append((f"1-D {taps} taps, axis {axis}", taps, t / image.size))
        for side in DENSE_SIDES:
            # Asked for: ndimage.correlate would take the FFT for the large ones.
            weights = rng.random((side, side)).astype(dtype)
            t = seconds(lambda: correlate2d(image, weights, "same", "symm", method="direct",
                                            workers=1))
            rows.append((f"dense {side}x{side}", side * side, t / image.size))
        design = np.array([[1.0, taps] for _, taps, _ in rows])
        observed = np.array([t for _, _, t in rows])
        # Relative errors, as the plans compare costs by their ratio.
        (per_pass, per_tap), *_ = np.linalg.lstsq(design / observed[:, None],
                                                  np.ones_like(observed), rcond=None)
        print(f"{np.dtype(dtype).name}: PASS = {per_pass * 1e9:.3f} ns, TAP = {per_tap * 1e9:.4f} ns"
              " per output element")
        for name, taps, t in rows:
            model = per_pass + per_tap * taps
            print(f"  {name:22s} {t * 1e9:7.3f} ns/element   model {model * 1e9:7.3f}"
                  f"   {model / t:5.2f}x")
        kernels = _simd.line_kernels
        for layout, shape in (("columns", (1, SIZE, SIZE)), ("rows", (SIZE, SIZE, 1))):
            t = seconds(lambda: kernels.uniform_pass(image.reshape(shape), out.reshape(shape),
                                                     15, -7, 1, 0.0, 1))
            print(f"  running sum along {layout:8s} {t / image.size * 1e9:7.3f} ns/element")


if __name__ == "__main__":
    main()
