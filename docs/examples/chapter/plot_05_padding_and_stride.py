r"""
Padding and stride
==================

Two arguments control a convolution's output size.  **Padding** adds rows and
columns of zeros around the input, so that the output does not shrink (or
the kernel sees the border as often as the middle); **stride** moves the
window more than one element at a time, to shrink the output quickly.

With :math:`p_h` padding rows in total (half on top, half at the bottom),
:math:`p_w` padding columns and strides :math:`s_h, s_w`, an
:math:`n_h \times n_w` input and a :math:`k_h \times k_w` kernel give

.. math::

    \left\lfloor \frac{n_h - k_h + p_h + s_h}{s_h} \right\rfloor \times
    \left\lfloor \frac{n_w - k_w + p_w + s_w}{s_w} \right\rfloor,

which with stride 1 is :math:`(n_h - k_h + p_h + 1) \times (n_w - k_w + p_w + 1)`.
``padding=p`` in cyconv (as in PyTorch) pads *p* on each side, so
:math:`p_h = 2p`; choosing :math:`p_h = k_h - 1` keeps the size, which is
why kernels usually have odd sizes.
"""
import numpy as np

from cyconv.nn import Conv2D

X = np.random.default_rng(0).random((8, 8))


def output_shape(conv, X):
    """The layer's output for one one-channel image, without batch and channel axes."""
    return conv(X.reshape(1, 1, *X.shape)).shape[2:]


def formula(n, k, padding, stride):
    """The textbook's formula, per axis, with padding on each side."""
    return tuple((n_ - k_ + 2 * p + s) // s for n_, k_, p, s in zip(n, k, padding, stride))


# %%
# A 3x3 kernel with one row and column of padding on every side keeps 8x8:

output_shape(Conv2D(1, 1, kernel_size=3, padding=1), X)

# %%
# A 5x3 kernel needs two rows above and below and one column on each side:

output_shape(Conv2D(1, 1, kernel_size=(5, 3), padding=(2, 1)), X)

# %%
# Stride 2 halves the height and width:

output_shape(Conv2D(1, 1, kernel_size=3, padding=1, stride=2), X)

# %%
# A rectangular kernel with different padding and stride per axis:
# :math:`\lfloor (8 - 3 + 0 + 3) / 3 \rfloor = 2` rows and
# :math:`\lfloor (8 - 5 + 2 + 4) / 4 \rfloor = 2` columns.

output_shape(Conv2D(1, 1, kernel_size=(3, 5), padding=(0, 1), stride=(3, 4)), X)

# %%
# The formula and the layer agree on all four:

for kernel, padding, stride in [((3, 3), (1, 1), (1, 1)), ((5, 3), (2, 1), (1, 1)),
                                ((3, 3), (1, 1), (2, 2)), ((3, 5), (0, 1), (3, 4))]:
    layer = Conv2D(1, 1, kernel_size=kernel, padding=padding, stride=stride)
    print(f"k{kernel} p{padding} s{stride}: layer {output_shape(layer, X)}, "
          f"formula {formula(X.shape, kernel, padding, stride)}")

# %%
# ``padding="same"`` works the padding out (stride 1 only); for an even
# kernel the extra row or column goes at the bottom or right, as in PyTorch:

output_shape(Conv2D(1, 1, kernel_size=(4, 2), padding="same"), X)
