r"""
Multiple input and output channels
==================================

Colour images have three channels, and hidden layers many more.  With
several **input channels** the kernel has one 2-D slice per channel: each
channel is correlated with its slice and the results are summed.
"""
import numpy as np

import cyconv


def corr2d_multi_in(X, K):
    """The textbook's definition: one 2-D correlation per channel, summed."""
    return sum(cyconv.correlate2d(x, k, mode="valid") for x, k in zip(X, K))


X = np.array([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
              [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
K = np.array([[[0.0, 1.0], [2.0, 3.0]],
              [[1.0, 2.0], [3.0, 4.0]]])
corr2d_multi_in(X, K)

# %%
# :func:`cyconv.conv2d` does this on ``(C_in, H, W)`` inputs (or batches
# ``(N, C_in, H, W)``) with a weight of shape ``(C_out, C_in, kH, kW)``; here
# one output channel:

cyconv.conv2d(X, K[np.newaxis])

# %%
# Several **output channels** stack one such kernel per output channel.
# Stacking ``K``, ``K + 1`` and ``K + 2`` gives three; the first output
# channel is the result above.

K3 = np.stack([K, K + 1, K + 2])
print(K3.shape)
cyconv.conv2d(X, K3)

# %%
# 1x1 convolution
# ---------------
#
# A 1x1 kernel looks at no neighbours: it mixes the channels of each pixel
# with the same weights everywhere.  It is a fully connected layer applied at
# every pixel, that is, a matrix product of the ``(C_out, C_in)`` weight with
# the ``(C_in, H * W)`` pixels, used to change the number of channels.

rng = np.random.default_rng(0)
X = rng.standard_normal((3, 3, 3))
W = rng.standard_normal((2, 3, 1, 1))
Y_matmul = (W.reshape(2, 3) @ X.reshape(3, 9)).reshape(2, 3, 3)
Y_conv = cyconv.conv2d(X, W)
np.allclose(Y_conv, Y_matmul)

# %%
# Every convolution is a matrix product once the windows are laid out as
# columns: :func:`cyconv.im2col` (PyTorch's ``unfold``) gives the
# ``(C_in * kH * kW, positions)`` matrix.

X = rng.standard_normal((2, 4, 5))
W = rng.standard_normal((3, 2, 2, 2))
columns = cyconv.im2col(X, kernel_size=2)
print(columns.shape)
np.allclose((W.reshape(3, -1) @ columns).reshape(3, 3, 4), cyconv.conv2d(X, W))
