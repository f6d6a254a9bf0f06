r"""
Transposed convolution
======================

A convolution with stride, or without padding, makes images smaller.  Networks
that must give back an image (segmentation, super-resolution, generators) need
a layer that makes them larger again: the **transposed convolution**.  Instead
of gathering a window of inputs into one output, it *scatters*: every input
element multiplies the whole kernel, and the scaled copies are added into the
output where they land.

With an :math:`n_h \times n_w` input, a :math:`k_h \times k_w` kernel, stride
:math:`s` and padding :math:`p` (on each side), the output has

.. math::

    (n_h - 1) s_h - 2 p_h + k_h \quad \times \quad (n_w - 1) s_w - 2 p_w + k_w

rows and columns: padding *removes* rows and columns of the output here,
stride spreads the copies apart.  :func:`cyconv.conv_transpose2d` has the
semantics of ``torch.nn.functional.conv_transpose2d`` on NumPy arrays.
"""
import matplotlib.pyplot as plt
import numpy as np

import cyconv


def trans_conv(X, K):
    """The textbook's definition: every input element scatters a scaled kernel."""
    h, w = K.shape
    Y = np.zeros((X.shape[0] + h - 1, X.shape[1] + w - 1))
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            Y[i:i + h, j:j + w] += X[i, j] * K
    return Y


# %%
# The basic operation
# -------------------
# The textbook's example: a 2x2 input and a 2x2 kernel give a 3x3 output.

X = np.array([[0.0, 1.0], [2.0, 3.0]])
K = np.array([[0.0, 1.0], [2.0, 3.0]])
trans_conv(X, K)

# %%
# cyconv takes NCHW arrays (or unbatched CHW) and a weight laid out as
# PyTorch's, ``(C_in, C_out, kH, kW)``, and gives the same result:

cyconv.conv_transpose2d(X.reshape(1, 1, 2, 2), K.reshape(1, 1, 2, 2))

# %%
# Each input element contributes one scaled copy of the kernel; the output
# is their sum.

fig, axes = plt.subplots(1, 5, figsize=(11, 2.6))
for ax, (i, j) in zip(axes, np.ndindex(2, 2)):
    part = np.zeros((3, 3))
    part[i:i + 2, j:j + 2] = X[i, j] * K
    ax.imshow(part, cmap="Blues", vmin=0, vmax=12)
    ax.set_title(f"X[{i}, {j}] = {X[i, j]:g} times K")
axes[4].imshow(trans_conv(X, K), cmap="Blues", vmin=0, vmax=12)
axes[4].set_title("sum = output")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
    for (r, c), value in np.ndenumerate(ax.images[0].get_array()):
        ax.text(c, r, f"{value:g}", ha="center", va="center")
fig.tight_layout()

# %%
# Padding, stride and channels
# ----------------------------
# Padding removes rows and columns from each side of the output: with
# padding 1 only the middle element of the 3x3 output is left.

cyconv.conv_transpose2d(X.reshape(1, 1, 2, 2), K.reshape(1, 1, 2, 2), padding=1)

# %%
# Stride 2 places the copies two elements apart, so a 2x2 input and a 2x2
# kernel give 4x4 with no overlap:

cyconv.conv_transpose2d(X.reshape(1, 1, 2, 2), K.reshape(1, 1, 2, 2), stride=2)

# %%
# With several channels, a convolution with kernel size *k*, stride *s* and
# padding *p* turns a ``(C_i, 16, 16)`` input into ``(C_o, 8, 8)``; the
# transposed convolution with the same arguments and a weight of shape
# ``(C_o, C_i, k, k)`` turns that back into ``(C_i, 16, 16)``.  It restores the
# *shape*, not the values.

rng = np.random.default_rng(0)
images = rng.random((1, 10, 16, 16))
down = cyconv.conv2d(images, rng.random((20, 10, 5, 5)), padding=2, stride=2)
up = cyconv.conv_transpose2d(down, rng.random((20, 10, 5, 5)), padding=2, stride=2,
                             output_padding=1)
print(images.shape, "->", down.shape, "->", up.shape)

# %%
# A strided convolution maps several input sizes to one output size (15x15
# and 16x16 both give 8x8 here); ``output_padding`` says which one to give
# back, by adding rows and columns at the bottom and right.
#
# Connection to matrix transposition
# ----------------------------------
# A convolution is a linear map, so it is a matrix product: with the 3x3
# input and the 2x2 kernel flattened, ``conv2d(X)`` equals ``W @ X.ravel()``
# for a 4x9 matrix ``W`` that holds the kernel's weights in each row.  Its
# columns are the convolutions of the unit images.

K = np.array([[1.0, 2.0], [3.0, 4.0]])
X = np.arange(9.0).reshape(3, 3)


def conv_matrix(K, input_shape):
    """The matrix of the convolution by K: column t is the output of unit image t."""
    units = np.eye(np.prod(input_shape)).reshape(-1, 1, *input_shape)
    return cyconv.conv2d(units, K.reshape(1, 1, *K.shape)).reshape(len(units), -1).T


W = conv_matrix(K, X.shape)
print(W)
Y = cyconv.conv2d(X.reshape(1, 3, 3), K.reshape(1, 1, 2, 2))
print(np.allclose(Y.ravel(), W @ X.ravel()))

# %%
# The transposed convolution by the same kernel is the product with the
# transpose ``W.T``, a 9x4 matrix: it maps the 2x2 output back to 3x3.  That
# is where the name comes from, and why the transposed convolution is the
# gradient of the convolution with respect to its input
# (:func:`cyconv.conv2d_backward`).

Z = cyconv.conv_transpose2d(Y, K.reshape(1, 1, 2, 2))
print(np.allclose(Z.ravel(), W.T @ Y.ravel()))
print(np.allclose(Z, cyconv.conv2d_backward(Y, X.reshape(1, 3, 3), K.reshape(1, 1, 2, 2))[0]))

# %%
# The same holds for stride, padding and several channels: the matrix of
# ``conv_transpose2d`` is the transpose of that of ``conv2d``.

K = rng.random((2, 3, 3, 3))
W = np.stack([cyconv.conv2d(unit, K, stride=2, padding=1).ravel()
              for unit in np.eye(3 * 7 * 7).reshape(-1, 3, 7, 7)], axis=1)
Y = rng.random((2, 4, 4))
Z = cyconv.conv_transpose2d(Y, K, stride=2, padding=1)
print(W.shape, np.allclose(Z.ravel(), W.T @ Y.ravel()))

# %%
# Upsampling an image
# -------------------
# Fully convolutional networks start their transposed convolutions as
# bilinear interpolation: a 4x4 kernel with stride 2 and padding 1 doubles
# the height and width, each output a weighted mean of its nearest inputs.

def bilinear_kernel(size):
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    profile = 1 - np.abs(np.arange(size) - center) / factor
    return np.outer(profile, profile)


image = np.kron(rng.random((6, 6)), np.ones((2, 2))) + np.add.outer(np.arange(12),
                                                                    np.arange(12)) / 12
upsampled = cyconv.conv_transpose2d(image.reshape(1, 12, 12),
                                    bilinear_kernel(4).reshape(1, 1, 4, 4), stride=2, padding=1)
fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
axes[0].imshow(image, cmap="viridis")
axes[0].set_title(f"input {image.shape}")
axes[1].imshow(upsampled[0], cmap="viridis")
axes[1].set_title(f"conv_transpose2d, stride 2: {upsampled.shape[1:]}")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
