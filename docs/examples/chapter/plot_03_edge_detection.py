"""
Edge detection
==============

A first use of a convolution layer: find where the pixel values change.  The
image is 6x8, white (1) with a black (0) band in columns 2 to 5.
"""
import matplotlib.pyplot as plt
import numpy as np

import cyconv

X = np.ones((6, 8))
X[:, 2:6] = 0
X

# %%
# The 1x2 kernel ``[1, -1]`` gives zero where two horizontally neighbouring
# pixels are equal and not zero where they differ: 1 on the edge from white
# to black, -1 on the edge from black to white.

K = np.array([[1.0, -1.0]])
Y = cyconv.correlate2d(X, K, mode="valid")
Y

# %%
# Transposed, the edges are horizontal, and this kernel, which only compares
# horizontal neighbours, sees nothing: it detects vertical edges only.

cyconv.correlate2d(X.T, K, mode="valid")

# %%
# The image and its edges, then the transposed image, where the same kernel
# finds nothing (grey is zero):


def show(axis, image, title, colormap, limits):
    shown = axis.imshow(image, cmap=colormap, vmin=limits[0], vmax=limits[1])
    axis.set_title(title)
    axis.set_xticks(range(image.shape[1]))
    axis.set_yticks(range(image.shape[0]))
    return shown


fig, axes = plt.subplots(2, 2, figsize=(8, 7), layout="constrained")
show(axes[0, 0], X, "input X (6x8)", "gray", (0, 1))
edges = show(axes[0, 1], Y, "X correlated with [1, -1]", "RdBu_r", (-1, 1))
show(axes[1, 0], X.T, "input X.T (8x6)", "gray", (0, 1))
show(axes[1, 1], cyconv.correlate2d(X.T, K, mode="valid"),
     "X.T correlated with [1, -1]", "RdBu_r", (-1, 1))
fig.colorbar(edges, ax=axes[:, 1], shrink=0.6, label="output value")
plt.show()
