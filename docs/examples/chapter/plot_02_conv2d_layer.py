"""
A convolution layer
===================

A convolution layer cross-correlates its input with a kernel and adds a
scalar bias; kernel and bias are the parameters it learns.  The textbook's
layer holds them as two tensors and calls ``corr2d`` in its forward pass.
With NumPy and cyconv the same layer is a few lines:
"""
import numpy as np

import cyconv


class TextbookConv2D:
    """The textbook's layer: a random kernel, a zero bias, one 2-D correlation."""

    def __init__(self, kernel_size, rng):
        self.weight = rng.random(kernel_size)
        self.bias = np.zeros(1)

    def forward(self, x):
        return cyconv.correlate2d(x, self.weight, mode="valid") + self.bias


layer = TextbookConv2D((1, 2), np.random.default_rng(0))
layer.forward(np.arange(12.0).reshape(3, 4))

# %%
# :class:`cyconv.nn.Conv2D` is the full layer, shaped like
# ``torch.nn.Conv2d``: inputs are batches of multi-channel images
# ``(N, C_in, H, W)``, the weight is ``(C_out, C_in, kH, kW)``, there is one
# bias per output channel, and the parameters start uniform in
# :math:`\pm 1/\sqrt{\text{fan\_in}}` as PyTorch initialises them.  A
# :math:`h \times w` kernel makes an :math:`h \times w` convolution layer.

from cyconv.nn import Conv2D

conv = Conv2D(in_channels=1, out_channels=1, kernel_size=(1, 2), rng=0)
print(conv)
print("weight", conv.weight.shape, conv.weight.dtype, "bias", conv.bias)

# %%
# Calling the layer runs its forward pass, :func:`cyconv.conv2d` on the whole
# batch; ``backward`` (used on the next pages) returns the gradient with
# respect to the input and stores those of the weight and bias.

x = np.arange(24.0).reshape(2, 1, 3, 4)  # a batch of two one-channel 3x4 images
y = conv(x)
print(y.shape)
np.allclose(y[1, 0], cyconv.correlate2d(x[1, 0], conv.weight[0, 0], mode="valid") + conv.bias)
