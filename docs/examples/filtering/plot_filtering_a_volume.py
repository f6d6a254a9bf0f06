r"""
Filtering a volume and a stack of images
========================================

:mod:`cyconv.ndimage`'s filters take arrays of any number of dimensions.  A
3-D volume is smoothed and edge-detected in 3-D, each voxel seeing its
neighbours in all three directions; a stack of 2-D images (frames of a
movie, slices, a batch) is filtered image by image in one call with
``axes``.
"""
import matplotlib.pyplot as plt
import numpy as np

from cyconv import ndimage

# %%
# A noisy volume
# --------------
#
# Twelve spheres of different sizes and brightness in a 96x96x96 float32
# volume, under Gaussian noise stronger than the dimmest of them.

rng = np.random.default_rng(1)
n = 96
z, y, x = np.ogrid[:n, :n, :n]
clean = np.zeros((n, n, n), np.float32)
for _ in range(12):
    cz, cy, cx = rng.uniform(14, n - 14, 3)
    radius = rng.uniform(5, 13)
    clean[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < radius ** 2] = rng.uniform(0.4, 1.0)
noisy = clean + rng.normal(0, 0.5, clean.shape).astype(np.float32)

# %%
# ``gaussian_filter`` smooths along all three axes (one 1-D pass per axis),
# and ``gaussian_gradient_magnitude`` is the length of the 3-D gradient of
# the smoothed volume: bright on the spheres' surfaces.  ``workers=-1`` runs
# on every CPU.

smooth = ndimage.gaussian_filter(noisy, sigma=2, workers=-1)
edges = ndimage.gaussian_gradient_magnitude(noisy, sigma=2, workers=-1)

# A threshold halfway up the dimmest sphere separates spheres from background
# far better once the noise is smoothed away.
inside = clean > 0
for name, volume in [("noisy", noisy), ("smoothed", smooth)]:
    correct = np.mean((volume > 0.2) == inside)
    print(f"{name:>8}: {correct:.1%} of voxels on the right side of the threshold")

# %%
# Two planes through the middle of the volume, one across each of two axes:
# the filters act in 3-D, so the spheres look the same from either side.

fig, axes = plt.subplots(2, 3, figsize=(9, 6.2), constrained_layout=True)
for row, (plane, take) in enumerate([("z = 48", lambda v: v[n // 2]),
                                     ("y = 48", lambda v: v[:, n // 2])]):
    for column, (title, volume) in enumerate([("noisy", noisy), ("gaussian_filter, sigma 2", smooth),
                                              ("gaussian_gradient_magnitude", edges)]):
        axis = axes[row, column]
        axis.imshow(take(volume), cmap="gray" if column < 2 else "magma")
        axis.set_title(f"{title}\nplane {plane}", fontsize="medium")
        axis.set_xticks([])
        axis.set_yticks([])

# %%
# A stack of images
# -----------------
#
# Sixteen frames of a movie: a bright spot moving left to right, in noise.
# Filtering each frame on its own is ``axes=(1, 2)``, the two image axes;
# the frames are processed in parallel, with no Python loop.

frames, side = 16, 128
t = np.arange(frames)[:, None, None]
row, column = np.ogrid[:side, :side]
spot_x = 16 + 6 * t
movie = np.exp(-((row - 64) ** 2 + (column - spot_x) ** 2) / (2 * 5.0 ** 2))
movie = (movie + rng.normal(0, 0.3, movie.shape)).astype(np.float32)

per_frame = ndimage.gaussian_filter(movie, sigma=3, axes=(1, 2))

# The same as a loop over the frames:
looped = np.stack([ndimage.gaussian_filter(frame, sigma=3) for frame in movie])
print("axes=(1, 2) equals the loop:", np.allclose(per_frame, looped))

# %%
# ``gaussian_gradient_magnitude`` follows scipy.ndimage here: its ``axes``
# chooses the axes to differentiate along, but each derivative is a
# ``gaussian_filter`` over every axis, time included.  A sigma of 0 leaves
# an axis alone, so per-frame edges take ``sigma=(0, 3, 3)``:

outlines = ndimage.gaussian_gradient_magnitude(movie, sigma=(0, 3, 3), axes=(1, 2))
looped = np.stack([ndimage.gaussian_gradient_magnitude(frame, sigma=3) for frame in movie])
print("per-frame edges equal the loop:", np.allclose(outlines, looped))

# %%
# Without ``axes`` the filter is 3-D, and smooths along time too: each
# frame gets a faint copy of the spot from its neighbours, a smear along the
# spot's path.

in_3d = ndimage.gaussian_filter(movie, sigma=3)

shown = [0, 5, 10, 15]
fig, axes = plt.subplots(4, len(shown), figsize=(8, 8.4), constrained_layout=True)
rows = [("noisy frame", movie, "gray"), ("axes=(1, 2)", per_frame, "gray"),
        ("edges, per frame", outlines, "magma"), ("no axes: 3-D", in_3d, "gray")]
for r, (title, data, cmap) in enumerate(rows):
    for c, frame in enumerate(shown):
        axis = axes[r, c]
        axis.imshow(data[frame], cmap=cmap)
        axis.set_xticks([])
        axis.set_yticks([])
        if r == 0:
            axis.set_title(f"frame {frame}", fontsize="medium")
        if c == 0:
            axis.set_ylabel(title)
plt.show()
