r"""
Pooling
=======

A pooling layer slides a window like a convolution but has no kernel: it
returns the maximum (**max pooling**) or the mean (**average pooling**) of
each window.  It makes the output less sensitive to exactly where a
feature is, and with a stride it shrinks the image.
"""
import matplotlib.pyplot as plt
import numpy as np

import cyconv

X = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
print(cyconv.max_pool2d(X, 2, stride=1))
print(cyconv.avg_pool2d(X, 2, stride=1))

# %%
# Padding and stride
# ------------------
#
# As in PyTorch, the stride defaults to the window size, so windows do not
# overlap: one 3x3 window fits a 4x4 input.

X = np.arange(16.0).reshape(1, 1, 4, 4)
cyconv.max_pool2d(X, 3)

# %%
# Padding and stride can be set; padded cells never win a maximum:

cyconv.max_pool2d(X, 3, padding=1, stride=2)

# %%
# A rectangular window with a padding and stride per axis:

cyconv.max_pool2d(X, (2, 3), padding=(1, 1), stride=(2, 3))

# %%
# Average pooling counts the padding in the window by default; with
# ``count_include_pad=False`` it averages only the real cells:

print(cyconv.avg_pool2d(X, 3, padding=1, stride=2))
print(cyconv.avg_pool2d(X, 3, padding=1, stride=2, count_include_pad=False))

# %%
# Channels
# --------
#
# Pooling works on each channel on its own, so the output has as many
# channels as the input:

X = np.concatenate([X, X + 1], axis=1)
cyconv.max_pool2d(X, 3, padding=1, stride=2)

# %%
# The layers :class:`cyconv.nn.MaxPool2D` and :class:`cyconv.nn.AvgPool2D`
# wrap these functions with a ``backward``: max pooling sends each output's
# gradient to the position of its maximum, average pooling spreads it over
# its window.

from cyconv.nn import MaxPool2D

pool = MaxPool2D(2)
image = np.random.default_rng(1).random((8, 8))
pooled = pool(image)
gradient = pool.backward(np.ones_like(pooled))

fig, axes = plt.subplots(1, 3, figsize=(9, 3.4), layout="constrained")
for axis, shown, title in [(axes[0], image, "input 8x8"),
                           (axes[1], pooled, "2x2 max pooling, 4x4"),
                           (axes[2], gradient, "backward: 1 at each maximum")]:
    axis.imshow(shown, cmap="viridis", vmin=0, vmax=1)
    axis.set_title(title)
    axis.set_axis_off()
plt.show()
