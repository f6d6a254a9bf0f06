"""conv_transpose2d and its gradients: torch's rules on conv2d's kernels.

A transposed convolution is the input gradient of the `conv2d` it
transposes (the "adjoint layer"), plus a bias, so it runs that layer's
grad_input plan (`cyconv.conv2d_plan(..., which="grad_input")`): stride-1
layers run a forward kernel on the flipped weight (Winograd, tiled,
depthwise), strided ones ``W^T . x`` by GEMM then col2im, as torch does.
Its input gradient is the adjoint layer's forward pass and its weight
gradient the adjoint layer's weight gradient, both by conv2d's plans.
"""
import functools
import math
from collections import namedtuple

import numpy as np

from cyconv import _conv_plan
from cyconv._kernels import memory
from cyconv._layers import (
    _grad_input,
    _grad_weight,
    _has_batch_axis,
    _native,
    _plain,
    _run_forward,
    _threads,
    _unbatch,
)
from cyconv._validation import as_array, as_int, as_pair, check_index_range, layer_dtype

_Transpose = namedtuple("_Transpose",
                        "batched x weight bias dtype stride padding output_padding dilation "
                        "groups out_shape")


def transposed_size(size, kernel, stride, padding, output_padding, dilation):
    """torch's output size of a transposed convolution along one axis."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def check_output_padding(output_padding, stride, dilation):
    """torch's rule: each output padding below its stride or its dilation."""
    for extra, s, d in zip(output_padding, stride, dilation):
        if extra >= s and extra >= d:
            raise ValueError(f"output_padding={output_padding} must be smaller than either "
                             f"stride={stride} or dilation={dilation}")


def _transpose_geometry(x_shape, weight_shape, bias_shape, stride, padding, output_padding,
                        groups, dilation):
    """(batched, stride, padding, output_padding, dilation, groups,
    out_shape) of a transposed layer, every shape and argument checked as
    torch checks them."""
    batched = _has_batch_axis(x_shape, "x", 3)
    x_shape = x_shape if batched else (1,) + x_shape
    if len(weight_shape) != 4:
        raise ValueError(
            f"weight must be 4-D (C_in, C_out // groups, kH, kW), got shape {weight_shape}")
    groups = as_int(groups, "groups", 1)
    stride = as_pair(stride, "stride", 1)
    padding = as_pair(padding, "padding", 0)
    output_padding = as_pair(output_padding, "output_padding", 0)
    dilation = as_pair(dilation, "dilation", 1)
    in_channels, out_per_group = weight_shape[:2]
    kernel = weight_shape[2:]
    if x_shape[1] < 1:
        raise ValueError(f"x must have at least one channel, got shape {x_shape}")
    if min(kernel) < 1 or in_channels < 1 or out_per_group < 1:
        raise ValueError(f"weight must have positive sizes, got shape {weight_shape}")
    if in_channels % groups:
        raise ValueError(f"weight's {in_channels} input channels are not divisible by "
                         f"groups={groups}")
    if x_shape[1] != in_channels:
        raise ValueError(f"weight of shape {weight_shape} expects x to have {in_channels} "
                         f"channels, got {x_shape[1]}")
    out_channels = out_per_group * groups
    if bias_shape is not None and bias_shape != (out_channels,):
        raise ValueError(f"bias must have shape ({out_channels},), got {bias_shape}")
    check_output_padding(output_padding, stride, dilation)
    out_hw = tuple(map(transposed_size, x_shape[2:], kernel, stride, padding, output_padding,
                       dilation))
    if min(out_hw) < 1:
        raise ValueError(f"conv_transpose2d: input of height and width {x_shape[2:]} gives an "
                         f"output of size {out_hw}; it must be at least 1")
    extents = [size * s + d * k + 2 * p + extra for size, s, d, k, p, extra
               in zip(x_shape[2:], stride, dilation, kernel, padding, output_padding)]
    check_index_range(f"conv_transpose2d: kernel of shape {tuple(kernel)} with "
                      f"stride={stride}, padding={padding} and dilation={dilation}", *extents)
    out_shape = (x_shape[0], out_channels) + out_hw
    check_index_range(f"conv_transpose2d: output of shape {out_shape}", math.prod(out_shape))
    return batched, stride, padding, output_padding, dilation, groups, out_shape


_known_transpose_geometry = functools.lru_cache(maxsize=512)(_transpose_geometry)


def _transpose_arguments(x, weight, bias, stride, padding, output_padding, groups, dilation,
                         extra=None):
    """Check and normalise conv_transpose2d's arguments (``extra`` arrays only
    join the dtype)."""
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    bias = None if bias is None else as_array(bias, "bias")
    dtype = layer_dtype(x=x, weight=weight, bias=bias, **(extra or {}))
    shapes = (x.shape, weight.shape, None if bias is None else bias.shape)
    arguments = (stride, padding, output_padding, groups, dilation)
    geometry = (_known_transpose_geometry if all(map(_plain, arguments))
                else _transpose_geometry)(*shapes, *arguments)
    batched = geometry[0]
    return _Transpose(batched, x if batched else x[np.newaxis], weight, bias, dtype,
                      *geometry[1:])


def _adjoint_layer(conv, weight_shape):
    """The `conv2d` layer whose input gradient is ``conv`` (bias aside), and
    the bottom rows and right columns of ``conv``'s output that it does not
    reach: the output padding beyond the padding, which only the bias fills."""
    unread = tuple(max(extra - p, 0) for extra, p in zip(conv.output_padding, conv.padding))
    read_hw = tuple(size - rows for size, rows in zip(conv.out_shape[2:], unread))
    padding = tuple((p, max(p - extra, 0)) for p, extra in zip(conv.padding, conv.output_padding))
    layer = _conv_plan.Layer(conv.out_shape[:2] + read_hw, weight_shape, conv.stride, padding,
                             conv.dilation, conv.groups, conv.dtype, conv.x.shape)
    return layer, unread


def _forward(conv, x, weight, bias, threads):
    """The transposed convolution ``conv`` of native, C-contiguous arrays."""
    layer, unread = _adjoint_layer(conv, weight.shape)
    out = _grad_input(_conv_plan.plan(layer, "grad_input"), x, weight, threads)
    if unread != (0, 0):
        full = np.zeros(conv.out_shape, conv.dtype)
        full[:, :, :out.shape[2], :out.shape[3]] = out
        out = full
    if bias is not None:
        out += bias[:, None, None]
    return out


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, workers=None):
    """2-D transposed convolution of NCHW images (PyTorch's ``conv_transpose2d``).

    The adjoint of `conv2d` (its gradient with respect to the input), with
    a bias: every input pixel ``x[n, c, i, j]`` adds ``x[n, c, i, j] *
    weight[c, o, u, v]`` to output ``(i * sH + u * dH - pH, j * sW + v * dW
    - pW)`` of each output channel ``o`` of its group.  Values, shapes and
    every validity rule are those of
    ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    x : array_like
        Input, ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``.
    weight : array_like
        Kernels, ``(C_in, C_out // groups, kH, kW)`` (torch's layout: the
        weight of the `conv2d` this layer transposes).
    bias : array_like, optional
        ``(C_out,)``, added to every output position of its channel.
    stride : int or (int, int), optional
        Spacing in the output between the contributions of neighbouring
        input pixels (default 1).
    padding : int or (int, int), optional
        Rows and columns cropped from each side of the full output (default
        0): the padding of the `conv2d` this layer transposes.
    output_padding : int or (int, int), optional
        Rows and columns added to the bottom and right of the output
        (default 0), smaller than `stride` or `dilation`: they choose among
        the input sizes a strided `conv2d` maps to the same output size.
    groups : int, optional
        Input and output channels are split into this many groups, each
        transposed-convolved separately.
    dilation : int or (int, int), optional
        Spacing between kernel taps (default 1).
    workers : int, optional
        Threads to use. ``None`` (default) is OpenMP's current maximum; a
        negative value counts back from the number of CPUs; ``0`` is an error.

    Returns
    -------
    out : ndarray
        ``(N, C_out, H_out, W_out)`` (unbatched if `x` was), ``H_out = (H -
        1) * sH - 2 * pH + dH * (kH - 1) + output_padding_H + 1`` (and so
        for the width), a new C-contiguous array; float32 and float64 are
        kept, mixed inputs promote, other real types are computed in
        float64.

    See Also
    --------
    conv_transpose2d_backward : the gradients of this function.
    conv2d_backward : its ``grad_x`` is this function of ``grad_output``.

    Examples
    --------
    The textbook's transposed convolution: each input value scales the
    whole kernel, and the copies are summed where they overlap.

    >>> import numpy as np
    >>> import cyconv
    >>> X = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    >>> K = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> cyconv.conv_transpose2d(X, K)
    array([[[ 0.,  0.,  1.],
            [ 0.,  4.,  6.],
            [ 4., 12.,  9.]]])

    With stride 2 the copies no longer overlap; padding 1 crops the first
    and last row and column:

    >>> cyconv.conv_transpose2d(X, K, stride=2)
    array([[[0., 0., 0., 1.],
            [0., 0., 2., 3.],
            [0., 2., 0., 3.],
            [4., 6., 6., 9.]]])
    >>> cyconv.conv_transpose2d(X, K, stride=2, padding=1)
    array([[[0., 2.],
            [2., 0.]]])

    It is the adjoint of `conv2d`: ``<conv2d(y, K), X> = <y, conv_transpose2d(X, K)>``.

    >>> y = np.random.default_rng(0).random((1, 3, 3))
    >>> bool(np.isclose((cyconv.conv2d(y, K) * X).sum(),
    ...                 (y * cyconv.conv_transpose2d(X, K)).sum()))
    True
    """
    threads = _threads(workers)
    conv = _transpose_arguments(x, weight, bias, stride, padding, output_padding, groups,
                                dilation)
    dtype = conv.dtype
    if 0 in conv.out_shape:
        return _unbatch(memory.empty(conv.out_shape, dtype), conv.batched)
    bias = None if conv.bias is None else _native(conv.bias, dtype)
    out = _forward(conv, _native(conv.x, dtype), _native(conv.weight, dtype), bias, threads)
    return _unbatch(out, conv.batched)


def conv_transpose2d_backward(grad_output, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, workers=None):
    """Gradients of `conv_transpose2d` with respect to its input, weight and bias.

    ``grad_x`` is the `conv2d` of `grad_output` by `weight` (the
    convolution this layer transposes), ``grad_weight`` that convolution's
    weight gradient for the output gradient `x`, and ``grad_bias`` the sum
    of `grad_output` over batch and positions: the values torch autograd
    gives for ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the loss with respect to the output of
        `conv_transpose2d`, of that output's shape.
    x, weight, stride, padding, output_padding, groups, dilation
        As given to `conv_transpose2d`.
    workers : int, optional
        Threads to use, as in `conv_transpose2d`.

    Returns
    -------
    grad_x : ndarray
        The shape of `x`.
    grad_weight : ndarray
        The shape of `weight`.
    grad_bias : ndarray
        ``(C_out,)``.

    Examples
    --------
    For ``loss = out.sum()`` each input's gradient is the sum of the
    kernel, and each weight's the sum of the inputs:

    >>> import numpy as np
    >>> import cyconv
    >>> X = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    >>> K = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> grad_x, grad_weight, grad_bias = cyconv.conv_transpose2d_backward(
    ...     np.ones((1, 3, 3)), X, K)
    >>> grad_x
    array([[[6., 6.],
            [6., 6.]]])
    >>> grad_weight
    array([[[[6., 6.],
             [6., 6.]]]])
    >>> grad_bias
    array([9.])
    """
    threads = _threads(workers)
    grad_output = as_array(grad_output, "grad_output")
    conv = _transpose_arguments(x, weight, None, stride, padding, output_padding, groups,
                                dilation, extra={"grad_output": grad_output})
    expected = conv.out_shape if conv.batched else conv.out_shape[1:]
    if grad_output.shape != expected:
        raise ValueError(f"grad_output must have the output's shape {expected}, "
                         f"got {grad_output.shape}")
    dtype = conv.dtype
    if conv.x.shape[0] == 0:
        return (_unbatch(np.zeros(conv.x.shape, dtype), conv.batched),
                np.zeros(conv.weight.shape, dtype), np.zeros(conv.out_shape[1], dtype))
    grad_output = _native(grad_output, dtype).reshape(conv.out_shape)
    grad_bias = grad_output.sum(axis=(0, 2, 3), dtype=dtype)
    x = _native(conv.x, dtype)
    weight = _native(conv.weight, dtype)
    layer, unread = _adjoint_layer(conv, weight.shape)
    if unread != (0, 0):
        height, width = layer.x_shape[2:]
        grad_output = np.ascontiguousarray(grad_output[:, :, :height, :width])
    grad_x = memory.empty(layer.out_shape, dtype)
    _run_forward(_conv_plan.plan(layer), grad_output, weight, np.empty(0, dtype), grad_x,
                 threads)
    grad_weight = _grad_weight(layer, x, grad_output, weight, threads)
    return _unbatch(grad_x, conv.batched), grad_weight, grad_bias
