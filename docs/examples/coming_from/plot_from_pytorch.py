r"""
Coming from PyTorch
===================

cyconv's NCHW functions have the semantics of ``torch.nn.functional`` and of
torch's autograd, on NumPy arrays: the same shapes, values, padding rules
(``padding="same"`` puts the extra row or column of an even kernel at the
bottom or right), ``ceil_mode``, ``count_include_pad``, max-pooling index
layout and errors.  float32 and float64 are kept, other real dtypes are
computed in float64.

=============================================  ==============================================================
PyTorch                                        cyconv
=============================================  ==============================================================
``F.conv2d(x, w, b, stride, padding, ...)``    :func:`cyconv.conv2d` (same arguments)
autograd through ``F.conv2d``                  :func:`cyconv.conv2d_backward` → ``(grad_x, grad_w, grad_b)``
``F.max_pool2d(..., return_indices=True)``     :func:`cyconv.max_pool2d`
autograd through ``F.max_pool2d``              :func:`cyconv.max_pool2d_backward` (from the indices)
``F.avg_pool2d``                               :func:`cyconv.avg_pool2d`
autograd through ``F.avg_pool2d``              :func:`cyconv.avg_pool2d_backward`
``F.unfold`` / ``F.fold``                      :func:`cyconv.im2col` / :func:`cyconv.col2im`
``nn.Conv2d``                                  :class:`cyconv.nn.Conv2D`
``nn.MaxPool2d`` / ``nn.AvgPool2d``            :class:`cyconv.nn.MaxPool2D` / :class:`cyconv.nn.AvgPool2D`
``torch.set_num_threads(n)``                   ``workers=n`` on every call, or ``OMP_NUM_THREADS``
=============================================  ==============================================================

There is no autograd: each backward function takes the gradient of the
output and returns those of the inputs, so a network's backward pass is the
chain of them in reverse.  A small convolution, ReLU and max-pooling stack,
trained for a few steps on random targets:
"""
import numpy as np

import cyconv

rng = np.random.default_rng(0)
x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
target = rng.standard_normal((4, 8, 8, 8)).astype(np.float32)
weight = (0.2 * rng.standard_normal((8, 3, 3, 3))).astype(np.float32)
bias = np.zeros(8, np.float32)

for step in range(5):
    # forward
    conv = cyconv.conv2d(x, weight, bias, padding=1)
    relu = np.maximum(conv, 0)
    pooled, indices = cyconv.max_pool2d(relu, 2, return_indices=True)
    loss = ((pooled - target) ** 2).mean()
    # backward, in reverse order
    grad_pooled = 2 * (pooled - target) / pooled.size
    grad_relu = cyconv.max_pool2d_backward(grad_pooled, indices, relu.shape)
    grad_conv = grad_relu * (conv > 0)
    grad_x, grad_weight, grad_bias = cyconv.conv2d_backward(grad_conv, x, weight, padding=1)
    weight -= 0.5 * grad_weight
    bias -= 0.5 * grad_bias
    print(f"step {step}: loss {loss:.4f}")

# %%
# The same in the layer objects of :mod:`cyconv.nn`, which keep what their
# backward pass needs:

from cyconv.nn import Conv2D, MaxPool2D

conv_layer = Conv2D(3, 8, 3, padding=1, rng=0)
pool_layer = MaxPool2D(2)
conv = conv_layer(x)
pooled = pool_layer(np.maximum(conv, 0))
grad_conv = pool_layer.backward(np.ones_like(pooled)) * (conv > 0)
grad_x = conv_layer.backward(grad_conv)
print(grad_x.shape, conv_layer.grad_weight.shape, conv_layer.grad_bias.shape)

# %%
# Arrays go to and from torch without copies: ``torch.from_numpy(a)`` and
# ``tensor.numpy()``.  Results match torch's CPU kernels to rounding; the test
# suite checks them against torch when it is installed.
