r"""
Smoothing data with holes
=========================

Real images have holes: dead pixels, saturated stars masked out, the gaps
between a camera's detectors, clouds over a satellite scene.  Written as
NaN, a hole spreads through an ordinary convolution: every output whose
kernel touches it is NaN.  :func:`cyconv.nanconvolve` does what
``astropy.convolution.convolve`` does instead: it leaves the holes out and
divides each output by the kernel weight of the valid pixels it saw,

.. math::

    \mathrm{out}(x) = \frac{\sum_t k(t)\, v(x - t)\, [v(x - t)\ \mathrm{valid}]}
                           {\sum_t k(t)\, [v(x - t)\ \mathrm{valid}]},

a normalised convolution, so a hole smaller than the kernel is filled from
its neighbours, and the pixels next to a hole are not pulled towards zero.
"""
import warnings

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage

import cyconv
import cyconv.dask

# %%
# An image with holes
# -------------------
#
# A smooth 256x256 scene (a few broad blobs and a ripple) with a little
# noise; then dead pixels (one in 600), six round "stars" masked out, and a
# gap three columns wide between two detectors.

rng = np.random.default_rng(3)
n = 256
y, x = np.mgrid[:n, :n] / n
scene = 0.3 * np.sin(2 * np.pi * (3 * x + 2 * y)) + 1.0
for cy, cx, width, height in [(0.3, 0.3, 0.12, 1.5), (0.7, 0.6, 0.2, 1.0), (0.45, 0.85, 0.08, 2.0)]:
    scene += height * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * width ** 2))
scene += rng.normal(0, 0.05, scene.shape)

holed = scene.copy()
holed[rng.random(scene.shape) < 1 / 600] = np.nan                      # dead pixels
for cy, cx, radius in zip(*rng.uniform([20, 20, 2], [n - 20, n - 20, 5], (6, 3)).T):
    holed[(y * n - cy) ** 2 + (x * n - cx) ** 2 < radius ** 2] = np.nan   # masked stars
holed[:, 150:153] = np.nan                                           # the detector gap
print(f"holes: {np.isnan(holed).mean():.1%} of the pixels")

# %%
# A Gaussian kernel of sigma 2 pixels, 17x17 (four sigma either side),
# normalised to sum 1.  ``scipy.ndimage.gaussian_filter`` with the same sigma
# lets every hole grow by the kernel's radius: nearly half of the image is
# lost.  ``cyconv.nanconvolve`` fills every hole; the result is close to
# the clean scene smoothed.

sigma = 2.0
taps = np.arange(-8, 9)
profile = np.exp(-taps ** 2 / (2 * sigma ** 2))
kernel = np.outer(profile, profile)
kernel /= kernel.sum()

spread = ndimage.gaussian_filter(holed, sigma, mode="constant", truncate=4.0)
filled = cyconv.nanconvolve(holed, kernel)
reference = cyconv.nanconvolve(scene, kernel, fill_value=np.nan)
print(f"NaN after gaussian_filter: {np.isnan(spread).mean():.1%}")
print(f"NaN after nanconvolve:     {np.isnan(filled).mean():.1%}")
print(f"largest difference from the clean scene smoothed: "
      f"{np.abs(filled - reference)[8:-8, 8:-8].max():.3f}")

# %%
# ``scipy.ndimage.convolve`` with the kernel itself spreads the holes the
# same way; any ordinary convolution does.

print("ndimage.convolve gives the same NaN:",
      np.array_equal(np.isnan(ndimage.convolve(holed, kernel, mode="constant")),
                     np.isnan(spread)))

# %%
# The input, the ordinary convolution and the normalised one (holes are
# white):

colormap = plt.get_cmap("viridis").with_extremes(bad="white")
fig, axes = plt.subplots(1, 3, figsize=(10, 3.8), layout="constrained")
for axis, image, title in [(axes[0], holed, "with holes"),
                           (axes[1], spread, "ndimage.gaussian_filter"),
                           (axes[2], filled, "cyconv.nanconvolve")]:
    shown = axis.imshow(image, cmap=colormap, vmin=0.6, vmax=2.8)
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
fig.colorbar(shown, ax=axes, shrink=0.8)
plt.show()

# %%
# The edges: ``boundary`` and ``fill_value``
# ------------------------------------------
#
# The default, ``boundary='fill'`` with ``fill_value=0``, treats the outside
# of the image as valid zeros, so the edges are pulled towards 0.  With
# ``fill_value=np.nan`` the outside is a hole like the others: edge pixels
# are the mean of the valid pixels inside, unbiased.  ``'extend'`` repeats
# the edge pixels and ``'wrap'`` the opposite side; ``None`` sets the
# outputs whose kernel reaches outside to 0.

zero_fill = cyconv.nanconvolve(holed, kernel)
nan_fill = cyconv.nanconvolve(holed, kernel, fill_value=np.nan)
row = 40
for name, image in [("clean", reference), ("fill 0", zero_fill), ("fill NaN", nan_fill)]:
    print(f"{name:>8}: first pixel of row {row}: {image[row, 0]:.3f}")

# %%
# ``preserve_nan=True`` smooths the valid pixels the same way but gives the
# holes back as NaN, for when a filled value must not be mistaken for a
# measurement.

kept = cyconv.nanconvolve(holed, kernel, preserve_nan=True)
print("NaN where the input had holes, and only there:",
      np.array_equal(np.isnan(kept), np.isnan(holed)))
print("the other pixels unchanged:",
      np.array_equal(kept[~np.isnan(holed)], filled[~np.isnan(holed)]))

# %%
# A hole larger than the kernel cannot be filled: the outputs whose kernel
# sees no valid pixel stay NaN, and `cyconv.NanConvolveWarning` says how
# many.  A larger kernel (or a second pass) fills it.

cloud = holed.copy()
cloud[90:140, 30:80] = np.nan
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", cyconv.NanConvolveWarning)
    clouded = cyconv.nanconvolve(cloud, kernel, fill_value=np.nan)
for warning in caught:
    print(f"{warning.category.__name__}: {warning.message}")

# %%
# ``mask=`` marks holes without writing NaN into the data (non-zero or True
# entries are holes, together with NaN, inf and a masked array's mask):

flagged = rng.random(scene.shape) < 0.05
print("mask= equals NaN in the data:",
      np.array_equal(cyconv.nanconvolve(scene, kernel, mask=flagged),
                     cyconv.nanconvolve(np.where(flagged, np.nan, scene), kernel)))

# %%
# The edge profiles, ``preserve_nan`` and the hole left by the cloud:

fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
columns = np.arange(40)
axes[0].plot(columns, reference[row, :40], color="0.7", linewidth=4,
             label="clean scene, smoothed")
axes[0].plot(columns, zero_fill[row, :40], label="fill_value=0")
axes[0].plot(columns, nan_fill[row, :40], "--", label="fill_value=NaN")
axes[0].set_xlabel("column")
axes[0].set_title(f"row {row}, at the left edge")
axes[0].legend(fontsize="small")
for axis, image, title in [(axes[1], kept, "preserve_nan=True"),
                           (axes[2], clouded, "a hole larger than the kernel")]:
    axis.imshow(image, cmap=colormap, vmin=0.6, vmax=2.8)
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
plt.show()

# %%
# How it is computed
# ------------------
#
# :func:`cyconv.nanconvolve_plan` names the algorithm and why.  A Gaussian
# is the outer product of two 1-D kernels (rank 1): it runs as one pass
# along each axis, a few taps per pixel instead of 17x17.  A disk is not
# separable and runs tap by tap ('dense'), or through FFTs when the kernel
# is large; the result does not depend on the choice beyond rounding.

disk = (taps[:, None] ** 2 + taps[None, :] ** 2 <= 8 ** 2).astype(float)
print("Gaussian:", cyconv.nanconvolve_plan(holed, kernel))
print("disk:    ", cyconv.nanconvolve_plan(holed, disk))

# %%
# With astropy installed, the result is astropy's:

try:
    from astropy.convolution import convolve
except ImportError:
    print("astropy is not installed")
else:
    print("equals astropy.convolution.convolve:", np.allclose(filled, convolve(holed, kernel)))

# %%
# Images larger than memory: ``cyconv.dask.nanconvolve`` computes a dask
# array chunk by chunk, each chunk with its neighbours' pixels within the
# kernel's radius, and gives the same result.

lazy = cyconv.dask.nanconvolve(da.from_array(holed, chunks=64), kernel, method="direct")
print("chunked equals in memory:",
      np.array_equal(lazy.compute(), cyconv.nanconvolve(holed, kernel, method="direct")))
