r"""
Coming from scipy.ndimage
=========================

:mod:`cyconv.ndimage` has scipy.ndimage's linear filters with the same
signatures as scipy 1.17: :func:`~cyconv.ndimage.correlate`,
:func:`~cyconv.ndimage.convolve`, their 1-D forms
:func:`~cyconv.ndimage.correlate1d` and :func:`~cyconv.ndimage.convolve1d`,
:func:`~cyconv.ndimage.uniform_filter`, :func:`~cyconv.ndimage.gaussian_filter`
(and their 1-D forms), :func:`~cyconv.ndimage.sobel`,
:func:`~cyconv.ndimage.prewitt`, :func:`~cyconv.ndimage.laplace`,
:func:`~cyconv.ndimage.gaussian_laplace` and
:func:`~cyconv.ndimage.gaussian_gradient_magnitude`.  They take any number
of dimensions, every boundary mode, ``cval``, ``origin``, ``axes`` and
``output``, return the same shape and dtype, and raise the same exception
types for what scipy rejects.  Switching is an import: ``from cyconv import
ndimage`` where the code had ``from scipy import ndimage``.
"""
import time

import numpy as np
import scipy.ndimage

from cyconv import ndimage

rng = np.random.default_rng(0)
image = rng.standard_normal((300, 400))
kernel = rng.standard_normal((5, 7))

modes = ("reflect", "constant", "nearest", "mirror", "wrap")
for mode in modes:
    for name, args in [("correlate", (kernel,)), ("convolve", (kernel,)),
                       ("uniform_filter", (5,)), ("gaussian_filter", (2.0,)),
                       ("sobel", ()), ("prewitt", ()), ("laplace", ()),
                       ("gaussian_laplace", (1.5,)), ("gaussian_gradient_magnitude", (1.5,))]:
        ours = getattr(ndimage, name)(image, *args, mode=mode)
        theirs = getattr(scipy.ndimage, name)(image, *args, mode=mode)
        assert ours.dtype == theirs.dtype and np.allclose(ours, theirs, rtol=1e-12, atol=1e-12)
print(f"9 filters x {len(modes)} modes agree with scipy.ndimage")

# %%
# Floating results equal scipy's to the rounding of the output type (the
# sums run in a different order, with fused multiply-adds).  Integer
# results are exact: scipy sums integer inputs in float64 and truncates into
# the integer output type, and cyconv does the same sums in the same order.
# That includes the wrap-around of a small output type, as here where the
# Sobel derivative of an 8-bit image does not fit in 8 bits:

camera = rng.integers(0, 256, (64, 64), dtype=np.uint8)
for name in ("sobel", "prewitt", "laplace"):
    ours = getattr(ndimage, name)(camera)
    theirs = getattr(scipy.ndimage, name)(camera)
    print(f"{name:8} {ours.dtype}  identical: {np.array_equal(ours, theirs)}")

# %%
# Two deliberate differences, both where scipy's result is undefined: with
# the ``'reflect'`` (or ``'grid-mirror'``) mode, scipy's N-D ``correlate``
# and ``convolve`` read memory outside the array when a kernel reaches back
# four times the length of an axis or more before its start (a 9-tap kernel
# with ``origin=4`` over an axis of 2 points, for example); cyconv uses the
# reflected value there, as scipy's own ``correlate1d`` does.  And where C's
# cast to an integer output is undefined (NaN, inf, values beyond int64 into
# unsigned types), cyconv gives numpy's cast; within int64 both wrap alike.
#
# ``output`` works as in scipy: a dtype to compute into, or an array to fill.

edges = ndimage.sobel(camera, output=np.int16)
filled = np.empty(camera.shape, np.float32)
ndimage.gaussian_filter(camera, 1.0, output=filled)
print(edges.dtype, np.array_equal(edges, scipy.ndimage.sobel(camera, output=np.int16)))

# %%
# What ``workers`` adds
# ---------------------
#
# scipy.ndimage runs on one thread.  Every function of cyconv.ndimage takes a
# keyword-only ``workers``: ``None`` (the default) uses OpenMP's current
# maximum, so ``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits``
# apply; a positive number is the number of threads; a negative number counts
# back from the number of CPUs as in ``scipy.fft`` (``-1`` is all of them).
# The result does not depend on the thread count, and the GIL is released
# during the computation.

one_thread = ndimage.gaussian_filter(image, 3.0, workers=1)
all_threads = ndimage.gaussian_filter(image, 3.0, workers=-1)
np.array_equal(one_thread, all_threads)

# %%
# Stacks of images with ``axes``
# ------------------------------
#
# With ``axes``, a filter runs along some axes only: a stack of images,
# channels last or first, or the frames of a movie, is filtered image by
# image in one call, in parallel over the whole stack, rather than in a
# Python loop.  ``axes=(1, 2)`` is what the loop over the first axis
# computes:

stack = rng.standard_normal((20, 128, 128)).astype(np.float32)
smooth = ndimage.gaussian_filter(stack, 2.0, axes=(1, 2))
looped = np.stack([scipy.ndimage.gaussian_filter(frame, 2.0) for frame in stack])
print(smooth.shape, np.allclose(smooth, looped, atol=1e-6))

# %%
# ``correlate`` and ``convolve`` take a kernel with as many dimensions as
# ``axes`` lists:

kernel3 = rng.standard_normal((3, 3)).astype(np.float32)
stacked = ndimage.correlate(stack, kernel3, axes=(1, 2))
print(np.allclose(stacked, [scipy.ndimage.correlate(frame, kernel3) for frame in stack],
                  atol=1e-5))

# %%
# Where scipy's ``axes`` does something unexpected, cyconv does the same: in
# ``gaussian_gradient_magnitude`` (in scipy 1.17) ``axes`` picks the axes to
# differentiate along, but each derivative is a Gaussian filter over every
# axis.  A sigma of 0 keeps an axis out of the smoothing:

edges_3d = ndimage.gaussian_gradient_magnitude(stack, 2.0, axes=(1, 2))  # mixes the images
edges_2d = ndimage.gaussian_gradient_magnitude(stack, (0, 2.0, 2.0), axes=(1, 2))
looped = np.stack([scipy.ndimage.gaussian_gradient_magnitude(frame, 2.0) for frame in stack])
print(np.allclose(edges_3d, looped, atol=1e-5), np.allclose(edges_2d, looped, atol=1e-5))

# %%
# Separable kernels, found automatically
# --------------------------------------
#
# A Gaussian or box filter is a pass per axis.  A kernel passed to
# ``correlate`` or ``convolve`` that happens to be an outer product of 1-D
# kernels, such as a 2-D binomial, a box or a Sobel kernel built by hand, is
# recognised too and runs as 1-D passes when that is cheaper; nothing needs
# to be asked, and the result is the same.

binomial = np.array([1.0, 6.0, 15.0, 20.0, 15.0, 6.0, 1.0]) / 64
separable = np.outer(binomial, binomial)
general = separable + 1e-3 * rng.standard_normal(separable.shape)  # not an outer product
print(np.allclose(ndimage.correlate(image, separable),
                  scipy.ndimage.correlate(image, separable)))


# %%
# How much faster
# ---------------
#
# A few calls timed here, on one thread and on all of them (the best of a
# few runs, as ``timeit`` reports, on small images so that this page builds
# quickly; the :doc:`performance page </performance>` has the 2048x2048
# figures, and ``benchmarks/bench_ndimage.py`` measures them on your
# machine).


def best_ms(function, repeat=7):
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


picture = rng.standard_normal((512, 512)).astype(np.float32)
cases = {
    "correlate, 7x7 kernel": ("correlate", (general.astype(np.float32),)),
    "correlate, separable 7x7": ("correlate", (separable.astype(np.float32),)),
    "gaussian_filter, sigma 2": ("gaussian_filter", (2.0,)),
    "uniform_filter, size 9": ("uniform_filter", (9,)),
    "sobel": ("sobel", ()),
}
print(f"512x512 float32        {'scipy':>9} {'cyconv, 1':>10} {'cyconv, all':>12}   (ms)")
for label, (name, args) in cases.items():
    theirs = best_ms(lambda: getattr(scipy.ndimage, name)(picture, *args))
    one = best_ms(lambda: getattr(ndimage, name)(picture, *args, workers=1))
    every = best_ms(lambda: getattr(ndimage, name)(picture, *args, workers=-1))
    print(f"{label:<24} {theirs:8.2f} {one:10.2f} {every:12.2f}")
