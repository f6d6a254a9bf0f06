"""cyconv.nanconvolve against astropy.convolution and the two-FFT recipe, in one run.

    PYTHONPATH=. python benchmarks/bench_nanconvolve.py [--quick] [--threads 1,2] [--calibrate]

Data: a 2048x2048 image of standard normal values with 5 % NaN at random
places, float64 and float32.  Part 1: Gaussian kernels of 5 to 31 pixels
(sigma = (size - 1) / 8), ``nanconvolve`` with its default method against
``astropy.convolution.convolve`` (one thread whatever the count: astropy's
``convolve`` has none); ``x astropy`` is astropy's time over cyconv's, and
``f32/f64`` cyconv's float32 time over its float64 time.  Part 2: large
kernels, ``method='fft'`` against ``astropy.convolution.convolve_fft`` (its
defaults, with scipy.fft's transforms at the same thread count) and the
recipe people write by hand, ``fftconvolve(filled) / fftconvolve(valid)``
(scipy.signal, scipy.fft workers at the thread count).  All timed in turns
(``_timing.interleaved_medians``); a benchmark, not a test: read the ratios.

``--calibrate`` prints the one-thread constants of the cost model in
``cyconv/_nanconvolve.py`` measured on this machine instead.
"""
import argparse
import contextlib
import functools
import math

import numpy as np
import scipy.fft
import scipy.signal

import cyconv
from cyconv import _nanconvolve

if __package__:
    from . import _timing
else:
    import _timing

astropy_convolution = _timing.optional("astropy.convolution")

SHAPE = (2048, 2048)
HOLE_FRACTION = 0.05
DIRECT_SIZES = (5, 11, 21, 31)
FFT_KERNELS = (("gaussian", 63), ("gaussian", 127), ("disk", 31), ("disk", 63))


def holed_image(dtype, rng):
    image = rng.standard_normal(SHAPE)
    image[rng.random(SHAPE) < HOLE_FRACTION] = np.nan
    return image.astype(dtype)


def gaussian(size):
    sigma = (size - 1) / 8
    line = np.exp(-0.5 * ((np.arange(size) - size // 2) / sigma) ** 2)
    kernel = np.outer(line, line)
    return kernel / kernel.sum()


def disk(size):
    radius = size // 2
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    kernel = (x * x + y * y <= radius * radius).astype(np.float64)
    return kernel / kernel.sum()


def two_fft_recipe(image, kernel):
    valid = np.isfinite(image)
    filled = np.where(valid, image, 0)
    top = scipy.signal.fftconvolve(filled, kernel, mode="same")
    bottom = scipy.signal.fftconvolve(valid.astype(image.dtype), kernel, mode="same")
    return top / bottom


def fft_workers(count):
    return functools.partial(scipy.fft.set_workers, count)


def quiet(function):
    """``function`` with astropy's warnings about holes silenced (they cost nothing)."""
    import warnings

    @functools.wraps(function)
    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function()
    return call


def direct_rows(threads, repeat, sizes, rng):
    rows = []
    for size in sizes:
        kernel = gaussian(size)
        for dtype in (np.float64, np.float32):
            image = holed_image(dtype, rng)
            contenders = {
                f"cyconv {count}": (functools.partial(cyconv.nanconvolve, image, kernel,
                                                      workers=count),
                                    contextlib.nullcontext, 0.0)
                for count in threads}
            if astropy_convolution is not None:
                contenders["astropy"] = (
                    quiet(functools.partial(astropy_convolution.convolve, image, kernel)),
                    contextlib.nullcontext, 0.0)
            medians = _timing.interleaved_medians(contenders, repeat, budget=3.0,
                                                  pair_below=0.05)
            for count in threads:
                rows.append((size, np.dtype(dtype).name, count, medians[f"cyconv {count}"],
                             medians.get("astropy")))
    return rows


def format_direct(rows):
    f64 = {(size, count): ours for size, dtype, count, ours, _ in rows if dtype == "float64"}
    lines = [f"{'kernel':>9} {'dtype':>8} {'threads':>7} {'cyconv ms':>10} {'astropy ms':>11} "
             f"{'x astropy':>10} {'f32/f64':>8}"]
    for size, dtype, count, ours, astropy in rows:
        ratio = f"{astropy / ours:10.1f}" if astropy else f"{'-':>10}"
        theirs = f"{astropy * 1e3:11.1f}" if astropy else f"{'-':>11}"
        half = f"{ours / f64[size, count]:8.2f}" if dtype == "float32" else f"{'':>8}"
        lines.append(f"{f'{size}x{size}':>9} {dtype:>8} {count:7} {ours * 1e3:10.1f} "
                     f"{theirs} {ratio} {half}")
    return "\n".join(lines)


def fft_rows(threads, repeat, kernels, rng):
    rows = []
    for shape_name, size in kernels:
        kernel = gaussian(size) if shape_name == "gaussian" else disk(size)
        for dtype in (np.float64, np.float32):
            image = holed_image(dtype, rng)
            for count in threads:
                contenders = {
                    "cyconv fft": (functools.partial(cyconv.nanconvolve, image, kernel,
                                                     method="fft", workers=count),
                                   contextlib.nullcontext, 0.0),
                    "cyconv auto": (functools.partial(cyconv.nanconvolve, image, kernel,
                                                      workers=count),
                                    contextlib.nullcontext, 0.0),
                    "recipe": (functools.partial(two_fft_recipe, image, kernel),
                               fft_workers(count), 0.0),
                }
                if astropy_convolution is not None:
                    contenders["convolve_fft"] = (
                        quiet(functools.partial(
                            astropy_convolution.convolve_fft, image, kernel,
                            fftn=functools.partial(scipy.fft.fftn, workers=count),
                            ifftn=functools.partial(scipy.fft.ifftn, workers=count))),
                        contextlib.nullcontext, 0.0)
                medians = _timing.interleaved_medians(contenders, repeat, budget=3.0,
                                                      pair_below=0.05)
                plan = cyconv.nanconvolve_plan(image, kernel, workers=count).method
                rows.append((f"{shape_name} {size}", np.dtype(dtype).name, count, plan, medians))
    return rows


def format_fft(rows):
    lines = [f"{'kernel':>12} {'dtype':>8} {'threads':>7} {'fft ms':>8} {'auto ms':>8} "
             f"{'(auto)':>10} {'conv_fft ms':>11} {'x conv_fft':>10} {'recipe ms':>10} "
             f"{'x recipe':>9}"]
    for name, dtype, count, plan, medians in rows:
        ours = medians["cyconv fft"]
        astropy = medians.get("convolve_fft")
        theirs = (f"{astropy * 1e3:11.1f} {astropy / ours:10.2f}" if astropy
                  else f"{'-':>11} {'-':>10}")
        lines.append(f"{name:>12} {dtype:>8} {count:7} {ours * 1e3:8.1f} "
                     f"{medians['cyconv auto'] * 1e3:8.1f} {plan:>10} {theirs} "
                     f"{medians['recipe'] * 1e3:10.1f} {medians['recipe'] / ours:9.2f}")
    return "\n".join(lines)


def calibrate(repeat):
    """The one-thread constants of the 'auto' cost model, from this machine."""
    rng = np.random.default_rng(0)
    import warnings

    # The 1x1 kernel leaves holes unfilled: its warnings are expected here.
    warnings.simplefilter("ignore", cyconv.NanConvolveWarning)
    print("constant                    float32     float64")
    results = {}
    for dtype in (np.float32, np.float64):
        image = holed_image(dtype, rng)
        elements = image.size

        def seconds(kernel, method):
            return _timing.median_time(functools.partial(
                cyconv.nanconvolve, image, kernel, method=method, workers=1), repeat)

        # A pass per axis of a 1x1 kernel is the fixed cost; a 31x31 Gaussian
        # adds 60 taps of value and weight sums.
        fixed = seconds(np.ones((1, 1)), "direct")
        taps = seconds(gaussian(31), "direct")
        dense = seconds(disk(15), "direct")
        fft = seconds(gaussian(31), "fft")
        shape = [scipy.fft.next_fast_len(n + 30, real=True) for n in SHAPE]
        points = math.prod(shape)
        results[dtype] = {
            "PASS_SECONDS": fixed / elements / 2,
            "TAP_SECONDS['separable']": (taps - fixed) / elements / 62,
            "TAP_SECONDS['dense']": (dense - fixed) / elements / np.count_nonzero(disk(15)),
            "FFT_SECONDS_PER_NLOGN": fft / (5 * points * math.log2(points)),
        }
    for name in results[np.float64]:
        print(f"{name:27} {results[np.float32][name]:10.3g} {results[np.float64][name]:10.3g}")
    print("in cyconv/_nanconvolve.py now:")
    for name in ("PASS_SECONDS", "TAP_SECONDS", "FFT_SECONDS_PER_NLOGN"):
        print(f"  {name} = {getattr(_nanconvolve, name)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--quick", action="store_true",
                        help="3 repeats, kernels 5 and 31, two FFT kernels")
    parser.add_argument("--calibrate", action="store_true",
                        help="print the cost model's constants measured here")
    options = parser.parse_args()
    repeat = 3 if options.quick else 7
    if options.calibrate:
        calibrate(repeat)
        return
    if astropy_convolution is None:
        print("astropy is not installed: cyconv's times only (pip install astropy)")
    threads = [int(t) for t in options.threads.split(",")]
    rng = np.random.default_rng(0)
    print(_timing.machine())
    print(f"{SHAPE[0]}x{SHAPE[1]} image, {HOLE_FRACTION:.0%} NaN, Gaussian kernels, "
          "default method against astropy.convolution.convolve")
    sizes = (5, 31) if options.quick else DIRECT_SIZES
    print(format_direct(direct_rows(threads, repeat, sizes, rng)))
    print()
    print("method='fft' against astropy.convolution.convolve_fft and "
          "fftconvolve(filled) / fftconvolve(valid)")
    kernels = FFT_KERNELS[::2] if options.quick else FFT_KERNELS
    print(format_fft(fft_rows(threads, repeat, kernels, rng)))


if __name__ == "__main__":
    main()
