"""conv2d, conv2d_backward, im2col, col2im: PyTorch's rules, cyconv's kernels.

Which algorithm runs each pass of a layer is a `ConvPlan` of
``_conv_plan.py`` (see `conv2d_plan`); this module validates the arguments,
runs the plan on the kernels of ``_kernels/`` and applies its data-dependent
fallbacks.  BLAS is single-threaded throughout and no split depends on the
thread count, so results are bitwise equal for any `workers`.
"""
import functools
import math
from collections import namedtuple

import numpy as np

from cyconv import _blas, _conv_plan, _simd
from cyconv._config import resolve_workers
from cyconv._kernels import memory
from cyconv._validation import (
    all_finite,
    as_array,
    as_int,
    as_pair,
    check_index_range,
    layer_dtype,
    window_count,
)

# One compiled module per algorithm, at the selected SIMD level.
_depthwise = _simd.kernels("conv_depthwise")
_direct = _simd.kernels("conv_direct")
_gemm = _simd.kernels("conv_gemm")
_pointwise = _simd.kernels("conv_pointwise")
_tiled = _simd.kernels("conv_tiled")
_winograd = _simd.kernels("conv_winograd")

_Conv = namedtuple(
    "_Conv", "batched x weight bias dtype kernel stride padding dilation groups out_shape"
)


def _padding_pairs(padding, kernel, stride, dilation):
    """(top, bottom), (left, right) for an int, a pair, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            pairs = []
            for size, dil in zip(kernel, dilation):
                total = dil * (size - 1)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise ValueError(f"padding must be 'valid', 'same', an int or a pair, got {padding!r}")
    rows, cols = as_pair(padding, "padding", 0)
    return (rows, rows), (cols, cols)


def _has_batch_axis(shape, name, unbatched_ndim):
    """Whether an array of ``shape`` has a leading batch axis."""
    if len(shape) in (unbatched_ndim, unbatched_ndim + 1):
        return len(shape) == unbatched_ndim + 1
    raise ValueError(
        f"{name} must be {unbatched_ndim + 1}-D (batched) or {unbatched_ndim}-D (unbatched), "
        f"got shape {shape}"
    )


def _batched(array, name, unbatched_ndim):
    """``array`` with a leading batch axis, and whether it had one."""
    if _has_batch_axis(array.shape, name, unbatched_ndim):
        return array, True
    return array[np.newaxis], False


def _output_hw(name, image_hw, kernel, stride, padding, dilation):
    """Output rows and columns, refused (as torch does) when fewer than one."""
    out_hw = tuple(
        window_count(size, k, s, sum(pads), d)
        for size, k, s, pads, d in zip(image_hw, kernel, stride, padding, dilation)
    )
    if min(out_hw) < 1:
        padded = tuple(size + sum(pads) for size, pads in zip(image_hw, padding))
        effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        raise ValueError(
            f"{name}: padded input size {padded} is smaller than the dilated kernel "
            f"{effective}; the output would be empty"
        )
    extents = [size + sum(pads) + d * k + s * out
               for size, pads, d, k, s, out in zip(image_hw, padding, dilation, kernel, stride, out_hw)]
    check_index_range(f"{name}: kernel_size={kernel} with stride={stride}, padding={padding} "
                      f"and dilation={dilation}", *extents)
    return out_hw


def _conv_arguments(x, weight, bias, stride, padding, dilation, groups, extra=None):
    """Check and normalise conv2d's arguments; ``extra`` arrays only join the dtype."""
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    bias = None if bias is None else as_array(bias, "bias")
    dtype = layer_dtype(x=x, weight=weight, bias=bias, **(extra or {}))
    shapes = (x.shape, weight.shape, None if bias is None else bias.shape)
    arguments = (stride, padding, dilation, groups)
    if all(map(_plain, arguments)):
        geometry = _known_conv_geometry(*shapes, *arguments)
    else:
        geometry = _conv_geometry(*shapes, *arguments)
    batched = geometry[0]
    return _Conv(batched, x if batched else x[np.newaxis], weight, bias, dtype, *geometry[1:])


def _plain(argument):
    """True for an int, a str or a tuple of ints: arguments whose equal
    values are valid alike (1.0 == 1, but only 1 is a valid stride)."""
    return type(argument) in (int, str) or (
        type(argument) is tuple and all(type(item) is int for item in argument))


def _conv_geometry(x_shape, weight_shape, bias_shape, stride, padding, dilation, groups):
    """(batched, kernel, stride, padding, dilation, groups, out_shape) of a
    layer, every shape and argument checked."""
    batched = _has_batch_axis(x_shape, "x", 3)
    x_shape = x_shape if batched else (1,) + x_shape
    if len(weight_shape) != 4:
        raise ValueError(f"weight must be 4-D (C_out, C_in // groups, kH, kW), got shape {weight_shape}")
    groups = as_int(groups, "groups", 1)
    stride = as_pair(stride, "stride", 1)
    dilation = as_pair(dilation, "dilation", 1)
    batch, channels = x_shape[:2]
    out_channels, in_per_group = weight_shape[:2]
    kernel = weight_shape[2:]
    if channels < 1:
        raise ValueError(f"x must have at least one channel, got shape {x_shape}")
    if min(kernel) < 1 or out_channels < 1 or in_per_group < 1:
        raise ValueError(f"weight must have positive sizes, got shape {weight_shape}")
    if out_channels % groups:
        raise ValueError(f"weight's {out_channels} output channels are not divisible by groups={groups}")
    if channels != in_per_group * groups:
        raise ValueError(
            f"groups={groups} and weight of shape {weight_shape} expect x to have "
            f"{in_per_group * groups} channels, got {channels}"
        )
    if bias_shape is not None and bias_shape != (out_channels,):
        raise ValueError(f"bias must have shape ({out_channels},), got {bias_shape}")
    padding = _padding_pairs(padding, kernel, stride, dilation)
    out_hw = _output_hw("conv2d", x_shape[2:], kernel, stride, padding, dilation)
    check_index_range(f"conv2d: x of shape {x_shape} with padding={padding}",
                      batch * out_channels * out_hw[0] * out_hw[1])
    return batched, kernel, stride, padding, dilation, groups, (batch, out_channels) + out_hw


# A network calls a few dozen layers over and over: their checks (a third
# of a small layer's call) are done once.  Errors are raised, never cached.
_known_conv_geometry = functools.lru_cache(maxsize=512)(_conv_geometry)


def _native(array, dtype):
    return np.ascontiguousarray(array, dtype=dtype)


def _phase_weight(stride, kernel, weight, phase_kernel):
    """(weight, taps) of the stride-1 layer equal to a layer of ``stride``
    and ``kernel`` over the stride_h x stride_w phases of its padded input.

    Phase (a, b) holds pixels (s_h * i + a, s_w * j + b) of the padded
    input; the layer's channels come group by group, phase by phase (as
    tiled_forward splits them), and the kernel of phase (a, b) holds taps
    (s_h * i + a, s_w * j + b) of the original one, zero past its edge.
    ``taps`` are the flat indices of the others in a kernel of the new
    layer: the zeros must not be multiplied (0 * inf is NaN).
    """
    (stride_h, stride_w), (kernel_h, kernel_w) = stride, phase_kernel
    in_per_group = weight.shape[1]

    def spread(kernels):
        out_channels = kernels.shape[0]
        padded = np.zeros((out_channels, in_per_group, stride_h * kernel_h, stride_w * kernel_w),
                          kernels.dtype)
        padded[:, :, :kernel[0], :kernel[1]] = kernels
        padded = padded.reshape(out_channels, in_per_group, kernel_h, stride_h, kernel_w, stride_w)
        return padded.transpose(0, 3, 5, 1, 2, 4).reshape(
            out_channels, stride_h * stride_w * in_per_group, kernel_h, kernel_w)

    taps = np.flatnonzero(spread(np.ones((1,) + weight.shape[1:], bool)))
    return spread(weight), taps


def _packed_weight(weight, groups, dtype, threads, taps):
    """(groups, blocks, taps, CONV_BLOCK): tiled_forward's weight layout, of
    the taps ``taps`` of a kernel (flat indices into ``weight[0]``)."""
    per_group = weight.shape[0] // groups
    block = _tiled.CONV_BLOCK
    packed = memory.empty((groups, -(-per_group // block), len(taps), block), dtype)
    _tiled.pack_weight(weight.astype(dtype, copy=False).reshape(groups, per_group, -1), taps,
                         packed, threads)
    return packed


def _winograd_weight(weight, groups, dtype, size, threads):
    """winograd_forward's transformed weights for F(size x size, 3x3),
    tiled_forward's packing of them."""
    out_per_group = weight.shape[0] // groups
    block = _tiled.CONV_BLOCK
    packed = memory.empty((groups * (size + 2) ** 2, -(-out_per_group // block), weight.shape[1],
                           block), dtype)
    _winograd.winograd_weight(np.ascontiguousarray(weight), packed, groups, threads)
    return packed


def _transposed_weight(weight, groups):
    """The weight of the transposed convolution: kernels flipped, input and
    output channels of each group swapped."""
    out_channels, in_per_group, kernel_h, kernel_w = weight.shape
    flipped = weight.reshape(groups, out_channels // groups, in_per_group, kernel_h, kernel_w)
    flipped = flipped.transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
    return flipped.reshape(groups * in_per_group, out_channels // groups, kernel_h, kernel_w)


def _layer(conv):
    """The shapes of a checked layer, as plans take them."""
    return _conv_plan.Layer(conv.x.shape, conv.weight.shape, conv.stride, conv.padding,
                            conv.dilation, conv.groups, conv.dtype, conv.out_shape)


def _top_left(layer):
    return layer.padding[0][0], layer.padding[1][0]


def _run_forward(plan, x, weight, bias, out, threads):
    """``out`` = the convolution ``plan.layer`` of ``x`` by ``plan``
    (``plan.algorithm`` is one of the forward algorithms; arrays native and
    C-contiguous, ``bias`` empty for none)."""
    layer, settings, algorithm = plan.layer, plan.settings, plan.algorithm
    dtype, groups = out.dtype, layer.groups
    if algorithm == "winograd":
        size = settings["size"]
        nonfinite = _winograd.winograd_forward(
            x, _winograd_weight(weight, groups, dtype, size, threads), bias, out,
            _top_left(layer), groups, settings["tile_rows"], settings["taps_per_pass"], threads)
        if nonfinite == 0:
            return
        # The transforms may have made inf or NaN of finite sums: the direct sums.
        with _conv_plan.forced("tiled"):
            plan = _conv_plan.plan(layer)
        settings, algorithm = plan.settings, plan.algorithm
    if algorithm == "depthwise":
        _depthwise.depthwise_forward(x, weight, bias, out, layer.stride, _top_left(layer),
                                     layer.dilation, settings.get("spread", (1, 1)),
                                     settings["band_rows"], threads)
    elif algorithm == "direct":
        _direct.direct_forward(x, weight, bias, out, layer.stride, _top_left(layer),
                                layer.dilation, groups, threads)
    elif algorithm in ("tiled", "tiled_phases"):
        kernel, phases = settings["kernel"], settings.get("phases", (1, 1))
        if phases != (1, 1):
            weight, taps = _phase_weight(layer.stride, layer.weight_shape[2:], weight, kernel)
        else:
            taps = np.arange(weight[0].size, dtype=np.intp)
        taps_per_pass = max(1, settings["channels_per_pass"] * len(taps) // weight.shape[1])
        _tiled.tiled_forward(x, _packed_weight(weight, groups, dtype, threads, taps), taps,
                               bias, out, kernel, phases, _top_left(layer), layer.dilation,
                               settings["images_per_copy"], settings["rows_per_item"],
                               taps_per_pass, threads)
    elif algorithm == "pointwise":
        step_h, step_w = settings["subsample"]
        if (step_h, step_w) != (1, 1):
            x = np.ascontiguousarray(x[:, :, ::step_h, ::step_w])
        # A 1x1 kernel's taps are its input channels.
        taps = np.arange(weight.shape[1], dtype=np.intp)
        _pointwise.pointwise_forward(x, _packed_weight(weight, groups, dtype, threads, taps), bias,
                                   out, settings["chunk_pixels"], threads)
    elif algorithm == "gemm":
        with _blas.single_threaded():
            _gemm.gemm_forward(x, weight.reshape(weight.shape[0], -1), bias, out,
                                  tuple(layer.weight_shape[2:]), layer.stride, _top_left(layer),
                                  layer.dilation, groups, settings["tile_rows"],
                                  settings["images"], settings["channel_blocks"],
                                  not settings["im2col"], settings["pixel_major"], threads)
    else:
        raise AssertionError(f"no forward algorithm {algorithm!r}")


def _kernel_grad_input(plan, grad_output, weight, threads):
    """grad_x by the forward algorithm of ``plan`` on the transposed layer, or
    None where a weight is inf or NaN and the plan multiplies padding zeros."""
    if ("gemm", _conv_plan.NON_FINITE_WEIGHT) in plan.fallbacks and not all_finite(weight):
        return None
    inner = _conv_plan.transposed(plan.layer)
    grad_x = memory.empty(plan.layer.x_shape, plan.layer.dtype)
    _run_forward(_conv_plan.ConvPlan("forward", plan.algorithm, plan.settings, plan.reason, (),
                                     inner),
                 grad_output, _native(_transposed_weight(weight, plan.layer.groups),
                                      plan.layer.dtype),
                 np.empty(0, plan.layer.dtype), grad_x, threads)
    return grad_x


def _depthwise_grad_weight(plan, grad_output, x, threads):
    """(grad_weight, grad_bias) of a depthwise layer, summed image by image."""
    layer = plan.layer
    batch, channels = layer.out_shape[:2]
    kernel = tuple(layer.weight_shape[2:])
    grad_weight = memory.empty((batch, channels, kernel[0] * kernel[1]), layer.dtype)
    grad_bias = memory.empty((batch, channels), layer.dtype)
    _depthwise.depthwise_grad_weight(grad_output, x, grad_weight, grad_bias, kernel, layer.stride,
                                     _top_left(layer), layer.dilation, plan.settings["band_rows"],
                                     threads)
    return (np.add.reduce(grad_weight, axis=0).reshape(layer.weight_shape),
            np.add.reduce(grad_bias, axis=0))


def _winograd_grad_weight(plan, grad_output, x, threads):
    """grad_weight by Winograd F(2x2, 3x3), or None when a result is inf or
    NaN, which the transforms may have spread."""
    layer, settings = plan.layer, plan.settings
    in_per_group, out_per_group = layer.weight_shape[1], layer.weight_shape[0] // layer.groups
    partial = memory.empty((settings["grad_slots"], layer.groups * 16, in_per_group,
                            out_per_group), layer.dtype)
    with _blas.single_threaded():
        _winograd.winograd_grad_products(x, grad_output, partial, _top_left(layer), layer.groups,
                                        settings["tile_rows"], threads)
    grad_weight = np.empty(layer.weight_shape, layer.dtype)
    _winograd.winograd_grad_weight(partial, grad_weight, threads)
    return grad_weight if all_finite(grad_weight) else None


def _direct_backward(layer, grad_output, x, weight, threads, with_grad_w=True):
    """(grad_x, grad_weight, grad_bias) by the direct kernel; the last two
    None unless ``with_grad_w`` (then ``x`` is not read)."""
    grad_x = memory.empty(layer.x_shape, layer.dtype)
    out_channels, in_per_group, kernel_h, kernel_w = layer.weight_shape
    images = layer.x_shape[0] if with_grad_w else 0
    grad_w_parts = np.empty((images, out_channels, in_per_group, kernel_h * kernel_w),
                            dtype=layer.dtype)
    grad_b_parts = np.empty((images, out_channels), dtype=layer.dtype)
    _direct.direct_backward(grad_output, x if with_grad_w else grad_x, weight, grad_x,
                            grad_w_parts, grad_b_parts, layer.stride, _top_left(layer),
                            layer.dilation, layer.groups, all_finite(weight), with_grad_w,
                            threads)
    if not with_grad_w:
        return grad_x, None, None
    return grad_x, grad_w_parts.sum(axis=0).reshape(layer.weight_shape), grad_b_parts.sum(axis=0)


def _grad_input(plan, grad_output, weight, threads):
    """grad_x alone, by the grad_input ``plan`` and its fallbacks."""
    layer = plan.layer
    if plan.algorithm == "direct" or (
            ("direct", _conv_plan.NON_FINITE_WEIGHT) in plan.fallbacks and not all_finite(weight)):
        return _direct_backward(layer, grad_output, None, weight, threads, with_grad_w=False)[0]
    if plan.algorithm != "gemm":
        grad_x = _kernel_grad_input(plan, grad_output, weight, threads)
        if grad_x is not None:
            return grad_x
    return _gemm_backward(layer, grad_output, None, weight, threads, with_grad_w=False)[0]


def _gemm_backward(layer, grad_output, x, weight, threads, with_grad_x=True, with_grad_w=True):
    """(grad_x, grad_weight) by im2col + GEMM and col2im, each None unless
    asked for; ``x`` is read only for the weight gradient."""
    settings = _conv_plan.gemm_backward_settings(layer, _conv_plan.current_tuning(),
                                                 with_grad_x, with_grad_w)
    grad_x = np.zeros(layer.x_shape if with_grad_x else (0, 0, 0, 0), dtype=layer.dtype)
    weight = weight.reshape(layer.weight_shape[0], -1)
    out_per_group = weight.shape[0] // layer.groups
    slot_shape = (layer.groups, weight.shape[1], out_per_group) if with_grad_w else (0, 0, 0)
    grad_w_slots = np.zeros((settings["grad_slots"],) + slot_shape, dtype=layer.dtype)
    with _blas.single_threaded():
        _gemm.gemm_backward(grad_output, x if with_grad_w else grad_x, weight,
                            grad_x, grad_w_slots, tuple(layer.weight_shape[2:]), layer.stride,
                            _top_left(layer), layer.dilation, layer.groups,
                            settings["tile_rows"], settings["images"], settings["phases"],
                            settings["channel_blocks"], not settings["im2col"], with_grad_x,
                            with_grad_w, threads)
    grad_weight = None
    if with_grad_w:
        grad_weight = grad_w_slots.sum(axis=0).transpose(0, 2, 1).reshape(layer.weight_shape)
    return (grad_x if with_grad_x else None), grad_weight


def _grad_weight(layer, grad_output, x, weight, threads):
    """grad_weight of ``layer`` alone, by its grad_weight plan (which does
    not depend on the weight's values; ``weight`` only feeds kernels that
    compute the input gradient with it)."""
    plan = _conv_plan.plan(layer, "grad_weight")
    if plan.algorithm == "depthwise":
        return _depthwise_grad_weight(plan, grad_output, x, threads)[0]
    if plan.algorithm == "direct":
        return _direct_backward(layer, grad_output, x, weight, threads)[1]
    if plan.algorithm == "winograd":
        grad_weight = _winograd_grad_weight(plan, grad_output, x, threads)
        if grad_weight is not None:
            return grad_weight
    return _gemm_backward(layer, grad_output, x, weight, threads, with_grad_x=False)[1]


def conv2d_plan(x_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1, *,
                dtype=np.float32, which="forward"):
    """The plan that `conv2d` (or `conv2d_backward`) runs for these shapes.

    Parameters
    ----------
    x_shape : tuple of int
        ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``.
    weight_shape : tuple of int
        ``(C_out, C_in // groups, kH, kW)``.
    stride, padding, dilation, groups
        As given to `conv2d`; the same rules and errors.
    dtype : dtype, optional
        The type of the inputs (default float32); it decides the computing
        type as in `conv2d`.
    which : {'forward', 'grad_input', 'grad_weight'}, optional
        The pass (default ``'forward'``).

    Returns
    -------
    plan : ConvPlan
        ``plan.algorithm`` names the algorithm, ``plan.settings`` its
        configuration, ``plan.reason`` why it was chosen and ``plan.refused``
        why each earlier candidate was not; ``print(plan)`` shows them all.

    Examples
    --------
    >>> import cyconv
    >>> plan = cyconv.conv2d_plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    >>> plan.algorithm
    'winograd'
    >>> [name for name, reason in plan.refused]
    ['depthwise', 'direct']
    >>> cyconv.conv2d_plan((1, 32, 112, 112), (32, 1, 3, 3), stride=2, padding=1,
    ...                    groups=32).algorithm
    'depthwise'
    >>> cyconv.conv2d_plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1,
    ...                    which="grad_weight").algorithm
    'winograd'
    """
    x = np.broadcast_to(np.zeros((), dtype), tuple(x_shape))
    weight = np.broadcast_to(np.zeros((), dtype), tuple(weight_shape))
    return _conv_plan.plan(_layer(_conv_arguments(x, weight, None, stride, padding, dilation,
                                                  groups)), which)


def _threads(workers):
    """Thread count for the kernels: one when BLAS threads cannot be limited."""
    threads = resolve_workers(workers)
    return threads if _blas.controllable() else 1


def _unbatch(array, batched):
    return array if batched else array[0]


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, workers=None):
    """2-D convolution of NCHW images (PyTorch's ``conv2d``: a cross-correlation).

    ``out[n, o, i, j] = bias[o] + sum_{c, u, v} x_pad[n, g*C_g + c, i*sH + u*dH, j*sW + v*dW]
    * weight[o, c, u, v]`` where ``g = o // (C_out // groups)`` and ``C_g = C_in // groups``.
    Values, shapes and every validity rule are those of
    ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : array_like
        Input, ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``.
    weight : array_like
        Kernels, ``(C_out, C_in // groups, kH, kW)``.
    bias : array_like, optional
        ``(C_out,)``, added to every output position of its channel.
    stride : int or (int, int), optional
        Step between windows (default 1).
    padding : int, (int, int), 'valid' or 'same', optional
        Zero padding on both sides of each axis (default 0).  ``'valid'`` is
        no padding; ``'same'`` (stride 1 only) pads so the output has the
        input's size, the extra row/column of an even kernel going
        bottom/right.
    dilation : int or (int, int), optional
        Spacing between kernel taps (default 1).
    groups : int, optional
        Input and output channels are split into this many groups, each
        convolved separately (``groups == C_in``: depthwise).
    workers : int, optional
        Threads to use. ``None`` (default) is OpenMP's current maximum; a
        negative value counts back from the number of CPUs; ``0`` is an error.

    Returns
    -------
    out : ndarray
        ``(N, C_out, H_out, W_out)`` (unbatched if `x` was), a new
        C-contiguous array; float32 and float64 are kept, mixed inputs
        promote, other real types are computed in float64.

    See Also
    --------
    conv2d_backward : the gradients of this function.
    im2col : the column matrix behind the GEMM formulation.

    Examples
    --------
    The textbook's multiple input channels: the per-channel correlations are
    summed.

    >>> import numpy as np
    >>> import cyconv
    >>> X = np.array([[[0.0, 1, 2], [3, 4, 5], [6, 7, 8]],
    ...               [[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]])
    >>> K = np.array([[[0.0, 1], [2, 3]], [[1.0, 2], [3, 4]]])
    >>> cyconv.conv2d(X, K[np.newaxis])
    array([[[ 56.,  72.],
            [104., 120.]]])

    Multiple output channels stack one kernel per output channel:

    >>> cyconv.conv2d(X, np.stack([K, K + 1, K + 2])).shape
    (3, 2, 2)

    A 1x1 convolution is a matrix product over the channels at every pixel:

    >>> X = np.random.default_rng(0).random((3, 3, 3))
    >>> W = np.random.default_rng(1).random((2, 3, 1, 1))
    >>> Y = cyconv.conv2d(X, W)
    >>> np.allclose(Y.reshape(2, 9), W.reshape(2, 3) @ X.reshape(3, 9))
    True
    """
    threads = _threads(workers)
    conv = _conv_arguments(x, weight, bias, stride, padding, dilation, groups)
    dtype = conv.dtype
    out = memory.empty(conv.out_shape, dtype)
    if out.size == 0:
        return _unbatch(out, conv.batched)
    bias = np.empty(0, dtype) if conv.bias is None else _native(conv.bias, dtype)
    _run_forward(_conv_plan.plan(_layer(conv)), _native(conv.x, dtype),
                 _native(conv.weight, dtype), bias, out, threads)
    return _unbatch(out, conv.batched)


def conv2d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    workers=None):
    """Gradients of `conv2d` with respect to its input, weight and bias.

    ``grad_x`` is the transposed convolution of `grad_output` (col2im of
    ``W^T . grad_output``), ``grad_weight`` the correlation of `grad_output`
    with the input summed over the batch (``grad_output . cols^T``), and
    ``grad_bias`` the sum of `grad_output` over batch and positions: the
    values torch autograd gives for ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the loss with respect to the output of `conv2d`, of that
        output's shape.
    x, weight, stride, padding, dilation, groups
        As given to `conv2d`.
    workers : int, optional
        Threads to use, as in `conv2d`.

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
    For ``loss = out.sum()`` each weight's gradient is the sum of the inputs
    it touches, and each input's gradient counts the windows it lies in:

    >>> import numpy as np
    >>> import cyconv
    >>> x = np.arange(9.0).reshape(1, 3, 3)
    >>> weight = np.ones((1, 1, 2, 2))
    >>> grad_x, grad_weight, grad_bias = cyconv.conv2d_backward(
    ...     np.ones((1, 2, 2)), x, weight)
    >>> grad_x
    array([[[1., 2., 1.],
            [2., 4., 2.],
            [1., 2., 1.]]])
    >>> grad_weight
    array([[[[ 8., 12.],
             [20., 24.]]]])
    >>> grad_bias
    array([4.])
    """
    threads = _threads(workers)
    grad_output = as_array(grad_output, "grad_output")
    conv = _conv_arguments(x, weight, None, stride, padding, dilation, groups,
                           extra={"grad_output": grad_output})
    expected = conv.out_shape if conv.batched else conv.out_shape[1:]
    if grad_output.shape != expected:
        raise ValueError(f"grad_output must have the output's shape {expected}, got {grad_output.shape}")
    dtype = conv.dtype
    grad_output = _native(grad_output, dtype).reshape(conv.out_shape)
    if conv.x.shape[0] == 0:
        return (_unbatch(np.zeros(conv.x.shape, dtype), conv.batched),
                np.zeros(conv.weight.shape, dtype), np.zeros(conv.weight.shape[0], dtype))
    x = _native(conv.x, dtype)
    weight = _native(conv.weight, dtype)
    layer = _layer(conv)
    grad_input = _conv_plan.plan(layer, "grad_input")
    if grad_input.algorithm == "direct" or (
            ("direct", _conv_plan.NON_FINITE_WEIGHT) in grad_input.fallbacks
            and not all_finite(weight)):
        grad_x, grad_weight, grad_bias = _direct_backward(layer, grad_output, x, weight, threads)
        return _unbatch(grad_x, conv.batched), grad_weight, grad_bias
    if grad_input.algorithm == "depthwise":
        grad_x = _kernel_grad_input(grad_input, grad_output, weight, threads)
        grad_weight, grad_bias = _depthwise_grad_weight(
            _conv_plan.plan(layer, "grad_weight"), grad_output, x, threads)
        return _unbatch(grad_x, conv.batched), grad_weight, grad_bias
    grad_bias = grad_output.sum(axis=(0, 2, 3), dtype=dtype)
    grad_x = None
    if grad_input.algorithm != "gemm":
        grad_x = _kernel_grad_input(grad_input, grad_output, weight, threads)
    if grad_x is None:
        grad_x, grad_weight = _gemm_backward(layer, grad_output, x, weight, threads)
    else:
        grad_weight = _grad_weight(layer, grad_output, x, weight, threads)
    return _unbatch(grad_x, conv.batched), grad_weight, grad_bias


def _window_arguments(kernel_size, stride, padding, dilation):
    kernel = as_pair(kernel_size, "kernel_size", 1)
    stride = as_pair(stride, "stride", 1)
    padding = as_pair(padding, "padding", 0)
    dilation = as_pair(dilation, "dilation", 1)
    return kernel, stride, padding, dilation


def _nonempty_dims(array, name):
    if 0 in array.shape[1:]:
        raise ValueError(f"{name} must have non-zero sizes except the batch, got shape {array.shape}")


def im2col(x, kernel_size, stride=1, padding=0, dilation=1, *, workers=None):
    """Extract sliding windows as columns (``torch.nn.functional.unfold``).

    Parameters
    ----------
    x : array_like
        ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
    kernel_size, stride, padding, dilation : int or (int, int)
        The window geometry; `padding` adds zeros on both sides.
    workers : int, optional
        Threads to use, as in `conv2d`.

    Returns
    -------
    cols : ndarray
        ``(N, C * kH * kW, L)`` (or ``(C * kH * kW, L)``) where ``L`` is the
        number of window positions; row ``(c * kH + u) * kW + v`` holds tap
        ``(u, v)`` of channel ``c``.

    Examples
    --------
    A convolution is a matrix product with the column matrix:

    >>> import numpy as np
    >>> import cyconv
    >>> x = np.arange(16.0).reshape(1, 4, 4)
    >>> cols = cyconv.im2col(x, 3)
    >>> cols.shape
    (9, 4)
    >>> weight = np.ones((1, 1, 3, 3))
    >>> np.array_equal(weight.reshape(1, 9) @ cols, cyconv.conv2d(x, weight).reshape(1, 4))
    True
    """
    threads = resolve_workers(workers)
    x = as_array(x, "x")
    dtype = layer_dtype(x=x)
    x, batched = _batched(x, "x", 3)
    _nonempty_dims(x, "x")
    kernel, stride, padding, dilation = _window_arguments(kernel_size, stride, padding, dilation)
    pads = tuple((p, p) for p in padding)
    out_hw = _output_hw("im2col", x.shape[2:], kernel, stride, pads, dilation)
    depth = x.shape[1] * kernel[0] * kernel[1]
    check_index_range(f"im2col: x of shape {x.shape} with kernel_size={kernel}, "
                      f"stride={stride}, padding={padding} and dilation={dilation}",
                      x.shape[0] * depth * out_hw[0] * out_hw[1])
    cols = memory.empty((x.shape[0], depth, out_hw[0] * out_hw[1]), dtype)
    if cols.size:
        _gemm.im2col(_native(x, dtype), cols, out_hw, kernel, stride, padding, dilation, threads)
    return _unbatch(cols, batched)


def col2im(cols, output_size, kernel_size, stride=1, padding=0, dilation=1, *, workers=None):
    """Sum sliding-window columns back into images (``torch.nn.functional.fold``).

    The adjoint of `im2col`: every column entry is added at the pixel it was
    taken from, so overlapping windows accumulate.

    Parameters
    ----------
    cols : array_like
        ``(N, C * kH * kW, L)`` or unbatched ``(C * kH * kW, L)``.
    output_size : int or (int, int)
        ``(H, W)`` of the images.
    kernel_size, stride, padding, dilation : int or (int, int)
        The window geometry, as given to `im2col`.
    workers : int, optional
        Threads to use, as in `conv2d`.

    Returns
    -------
    image : ndarray
        ``(N, C, H, W)`` (or ``(C, H, W)``).

    Examples
    --------
    Folding the columns of an image counts how many windows cover each pixel:

    >>> import numpy as np
    >>> import cyconv
    >>> ones = np.ones((1, 3, 3))
    >>> cyconv.col2im(cyconv.im2col(ones, 2), (3, 3), 2)
    array([[[1., 2., 1.],
            [2., 4., 2.],
            [1., 2., 1.]]])
    """
    threads = resolve_workers(workers)
    cols = as_array(cols, "cols")
    dtype = layer_dtype(cols=cols)
    cols, batched = _batched(cols, "cols", 2)
    _nonempty_dims(cols, "cols")
    output_size = as_pair(output_size, "output_size", 1)
    kernel, stride, padding, dilation = _window_arguments(kernel_size, stride, padding, dilation)
    taps = kernel[0] * kernel[1]
    if cols.shape[1] % taps:
        raise ValueError(
            f"cols' dimension {cols.ndim - 2} ({cols.shape[1]}) must be divisible by "
            f"kernel_size's product {taps}"
        )
    pads = tuple((p, p) for p in padding)
    out_hw = _output_hw("col2im", output_size, kernel, stride, pads, dilation)
    if cols.shape[2] != out_hw[0] * out_hw[1]:
        raise ValueError(
            f"cols' last dimension must be the number of sliding blocks "
            f"{out_hw[0]} * {out_hw[1]} = {out_hw[0] * out_hw[1]}, got {cols.shape[2]}"
        )
    image_shape = (cols.shape[0], cols.shape[1] // taps) + output_size
    check_index_range(f"col2im: output_size={output_size}", math.prod(image_shape))
    image = np.zeros(image_shape, dtype=dtype)
    if image.size:
        _gemm.col2im(_native(cols, dtype), image, out_hw, kernel, stride, padding, dilation,
                        threads)
    return _unbatch(image, batched)
