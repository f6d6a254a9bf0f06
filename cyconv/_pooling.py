"""max_pool2d, avg_pool2d, the adaptive poolings and their gradients, as in torch.nn.functional."""
import functools
import math

import numpy as np

from cyconv import _simd
from cyconv._config import resolve_workers
from cyconv._kernels import memory
from cyconv._validation import as_array, as_float_array, as_int, as_pair, check_index_range

_kernels = _simd.kernels("pooling")

# Below this many input plus output cells a second thread costs more than it saves.
PARALLEL_MIN_CELLS = 32 * 1024

_SHAPES = "(N, C, H, W), (C, H, W) or (H, W)"


# Descriptions shared by the functions' docstrings.
_INPUT_DOC = """    x : array_like
        Input of shape ``(N, C, H, W)``, ``(C, H, W)`` or a single plane ``(H, W)``.
        float32 and float64 are kept; other real types are computed in float64."""
_SHARED_DOCS = {
    "input_and_window": _INPUT_DOC + """
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Step between windows; defaults to `kernel_size`.""",
    "ceil_mode": """    ceil_mode : bool, optional
        Round the number of windows up instead of down, keeping only windows
        that start inside the input or its left padding (default False).""",
    "input_and_output_size": _INPUT_DOC + """
    output_size : int or (int or None, int or None)
        Output height and width; None keeps that size of the input.  Sizes
        larger than the input's are allowed (windows then repeat); 0 gives an
        empty output.""",
    "workers": """    workers : int, optional
        Threads to use. ``None`` (default) is OpenMP's current maximum; a
        negative value counts back from the number of CPUs (``-1`` = all);
        ``0`` is an error.""",
    "adaptive_out": """    out : ndarray
        A new C-contiguous array with the batching of `x` and height and
        width ``(oh, ow)``.""",
    "grad_x": """    grad_x : ndarray
        A new C-contiguous array of shape `input_shape`, float32 if
        `grad_output` is float32, else float64.""",
}


def _check_input_shape(shape, name):
    """A pooling input shape: 2 to 4 axes, all non-empty except the batch."""
    if len(shape) not in (2, 3, 4):
        raise ValueError(f"{name} must be {_SHAPES}, got {len(shape)} dimensions")
    if min(shape[-3:] if len(shape) == 4 else shape) < 1:
        raise ValueError(f"{name} must have non-empty channel, height and width axes, got {shape}")
    return shape


def _window(kernel_size, stride, padding, dilation):
    """The four pairs of a pooling window, checked as torch checks them."""
    kernel = as_pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else as_pair(stride, "stride", 1)
    padding = as_pair(padding, "padding", 0)
    dilation = as_pair(dilation, "dilation", 1)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(
            f"padding must be at most half of kernel_size, got padding={padding} "
            f"for kernel_size={kernel}"
        )
    return kernel, stride, padding, dilation


def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """torch's number of windows along one axis of ``size`` cells."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    count = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (count - 1) * stride >= size + padding:
        # The last window must start inside the input or its left padding.
        count -= 1
    return count


# A network pools the same few shapes over and over: their output shapes and
# divisors are worked out once (about 20 of a tiny call's 25 us).  Errors
# are raised, never cached.
@functools.lru_cache(maxsize=256)
def _output_shape(spatial, window, ceil_mode):
    kernel, stride, padding, dilation = window
    shape = tuple(
        pool_output_size(spatial[axis], kernel[axis], stride[axis], padding[axis],
                         dilation[axis], ceil_mode)
        for axis in (0, 1)
    )
    if min(shape) < 1:
        raise ValueError(
            f"kernel_size={kernel} with dilation={dilation} and padding={padding} does not "
            f"fit an input of height and width {tuple(spatial)}: output size {shape}"
        )
    extents = [size + 2 * p + d * k + s * out for size, k, s, p, d, out
               in zip(spatial, kernel, stride, padding, dilation, shape)]
    check_index_range(f"kernel_size={kernel} with stride={stride}, padding={padding} and "
                      f"dilation={dilation}", *extents)
    return shape


def window_counts(spatial, out_shape, window, count_include_pad):
    """The cells each window counts, per axis: the divisor of ``(oh, ow)`` is their product.

    As in torch, a window counts the padding it covers (with
    ``count_include_pad``) but never reaches past the right padding, which
    windows added by ``ceil_mode`` can.
    """
    kernel, stride, padding, _ = window
    counts = []
    for size, count, k, s, p in zip(spatial, out_shape, kernel, stride, padding):
        start = np.arange(count) * s - p
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        counts.append(end - start)
    return counts


def window_scale(counts, divisor_override, dtype):
    """One over the divisor of each window, shared by forward and backward.

    Multiplying by the reciprocal instead of dividing differs from torch by
    at most a rounding.
    """
    if divisor_override is not None:
        return np.full((len(counts[0]), len(counts[1])), 1.0 / divisor_override, dtype)
    return (1.0 / np.multiply.outer(*counts)).astype(dtype)


@functools.lru_cache(maxsize=256)
def _avg_scale(spatial, out_shape, window, count_include_pad, divisor_override, dtype):
    """`window_scale` of `window_counts`, read-only."""
    scale = window_scale(window_counts(spatial, out_shape, window, count_include_pad),
                         divisor_override, dtype)
    scale.flags.writeable = False
    return scale


def _divisor_override(value):
    if value is None:
        return None
    value = as_int(value, "divisor_override")
    if value == 0:
        raise ValueError("divisor_override must not be zero")
    return value


def _threads(threads, cells):
    return threads if cells >= PARALLEL_MIN_CELLS else 1


def _is_global(plane_shape, window):
    """Whether the only window is the whole plane (global pooling)."""
    kernel, _, padding, dilation = window
    return tuple(kernel) == tuple(plane_shape) and padding == (0, 0) and dilation == (1, 1)


def _global_pool2d(planes, out, is_max, scale, threads):
    """``out`` = the maximum or the scaled sum of each of ``planes`` (P, H, W)."""
    count, height, width = planes.shape
    _kernels.global_pool2d(planes.reshape(count, height * width), out.reshape(count), is_max,
                           scale, threads)


def _global_pool2d_backward(grad, grad_x, scale, threads):
    """``grad_x`` (P, H, W) = each of ``grad`` (P, 1, 1) times ``scale``, over its whole plane."""
    count, height, width = grad_x.shape
    _kernels.global_pool2d_backward(grad.reshape(count), grad_x.reshape(count, height * width),
                                    scale, threads)


def _pooling_input(x, window, ceil_mode):
    """``x`` as planes ``(P, H, W)``, with its leading axes and the output's H and W."""
    x = as_float_array(x, "x")
    _check_input_shape(x.shape, "x")
    out_shape = _output_shape(x.shape[-2:], window, ceil_mode)
    return x.reshape((-1,) + x.shape[-2:]), x.shape[:-2], out_shape


def _backward_shapes(grad_output, input_shape):
    """``grad_output`` as a float array and ``input_shape`` as a checked tuple."""
    try:
        input_shape = tuple(as_int(size, "input_shape") for size in input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be a sequence of ints, got {input_shape!r}") from None
    _check_input_shape(input_shape, "input_shape")
    check_index_range("input_shape", math.prod(input_shape))
    grad = as_float_array(grad_output, "grad_output")
    if grad.shape[:-2] != input_shape[:-2] or grad.ndim != len(input_shape):
        raise ValueError(
            f"grad_output of shape {grad.shape} does not match input_shape {input_shape}"
        )
    return grad, input_shape


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, workers=None):
    """2-D max pooling over every channel, as `torch.nn.functional.max_pool2d`.

    ``out[..., i, j]`` is the largest ``x[..., i * sh - ph + u * dh, j * sw - pw + v * dw]``
    over ``0 <= u < kh, 0 <= v < kw``; padded cells count as -inf.  A NaN in a
    window makes its output NaN.

    Parameters
    ----------
%(input_and_window)s
    padding : int or (int, int), optional
        Implicit -inf rows and columns on each side, at most half the kernel
        (default 0).
    dilation : int or (int, int), optional
        Spacing between the taps of a window (default 1).
%(ceil_mode)s
    return_indices : bool, optional
        Also return where each maximum is, for `max_pool2d_backward`.
%(workers)s

    Returns
    -------
    out : ndarray
        A new C-contiguous array with the batching of `x` and height and
        width ``floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1`` (and so
        for the width; rounded up with `ceil_mode`).
    indices : ndarray of int64
        With `return_indices`: the flat index ``h * W + w`` of each maximum
        within its ``H * W`` plane.  Ties give the first maximum in window
        order (row by row), a window with NaNs the last NaN, as in PyTorch.

    See Also
    --------
    max_pool2d_backward : the gradient with respect to `x`.
    avg_pool2d : average pooling.

    Notes
    -----
    A dilated window can fall entirely into the padding; its output is -inf
    and, as in PyTorch, its index lies outside the plane (so that
    `max_pool2d_backward` refuses it).

    Examples
    --------
    The textbook's ``pool2d(X, (2, 2), 'max')`` is a 2x2 window with stride 1:

    >>> import numpy as np
    >>> import cyconv
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> cyconv.max_pool2d(X, 2, stride=1)
    array([[4., 5.],
           [7., 8.]])

    A 3x3 window, stride 2 and padding 1 on a batch of two channels, with
    the positions of the maxima:

    >>> x = np.arange(32.0).reshape(1, 2, 4, 4)
    >>> out, indices = cyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    >>> out[0, 1]
    array([[21., 23.],
           [29., 31.]])
    >>> indices[0, 1]
    array([[ 5,  7],
           [13, 15]])
    """
    threads = resolve_workers(workers)
    window = _window(kernel_size, stride, padding, dilation)
    planes, leading, out_shape = _pooling_input(x, window, bool(ceil_mode))
    out = memory.empty((planes.shape[0],) + out_shape, planes.dtype)
    threads = _threads(threads, planes.size + out.size)
    if return_indices:
        indices = memory.empty(out.shape, np.int64)
        _kernels.max_pool2d_indexed(planes, out, indices, *window, threads)
        return out.reshape(leading + out_shape), indices.reshape(leading + out_shape)
    if _is_global(planes.shape[-2:], window):
        _global_pool2d(planes, out, True, 1.0, threads)
    else:
        unused_scale = np.ones((1, 1), dtype=planes.dtype)
        _kernels.pool2d(planes, out, True, *window, unused_scale, threads)
    return out.reshape(leading + out_shape)


def max_pool2d_backward(grad_output, indices, input_shape, *, workers=None):
    """Gradient of `max_pool2d` with respect to its input.

    Each output's gradient goes to the input cell its index names; cells
    named by several outputs receive the sum (added in output order, so the
    result does not depend on `workers`).

    Parameters
    ----------
    grad_output : array_like
        Gradient with respect to the output of `max_pool2d`.
    indices : array_like of int
        The indices `max_pool2d` returned (same shape as `grad_output`), flat
        within each ``H * W`` plane.
    input_shape : tuple of int
        Shape of the `max_pool2d` input: ``(N, C, H, W)``, ``(C, H, W)`` or ``(H, W)``.
    workers : int, optional
        Threads to use, as for `max_pool2d`.

    Returns
    -------
%(grad_x)s

    Raises
    ------
    ValueError
        If the shapes disagree or an index lies outside ``[0, H * W)``.

    Examples
    --------
    >>> import numpy as np
    >>> import cyconv
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> out, indices = cyconv.max_pool2d(X, 2, stride=1, return_indices=True)
    >>> cyconv.max_pool2d_backward(np.ones_like(out), indices, X.shape)
    array([[0., 0., 0.],
           [0., 1., 1.],
           [0., 1., 1.]])
    """
    threads = resolve_workers(workers)
    grad, input_shape = _backward_shapes(grad_output, input_shape)
    indices = as_array(indices, "indices")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, not {indices.dtype}")
    if indices.shape != grad.shape:
        raise ValueError(
            f"indices of shape {indices.shape} must have the shape of grad_output {grad.shape}"
        )
    plane_count = math.prod(input_shape[:-2])
    grad = grad.reshape((plane_count,) + grad.shape[-2:])
    indices = np.ascontiguousarray(indices, dtype=np.int64).reshape(grad.shape)
    grad_x = memory.empty((plane_count,) + input_shape[-2:], grad.dtype)
    threads = _threads(threads, grad.size + grad_x.size)
    outside = _kernels.max_pool2d_backward(grad, indices, grad_x, threads)
    if outside:
        height, width = input_shape[-2:]
        raise ValueError(
            f"indices must lie in [0, {height * width}), the flat positions of a "
            f"{height}x{width} plane; {outside} do not"
        )
    return grad_x.reshape(input_shape)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, *, workers=None):
    """2-D average pooling over every channel, as `torch.nn.functional.avg_pool2d`.

    ``out[..., i, j]`` is the sum of ``x[..., i * sh - ph + u, j * sw - pw + v]``
    over ``0 <= u < kh, 0 <= v < kw`` (padded cells are zero) divided by the
    window's size.

    Parameters
    ----------
%(input_and_window)s
    padding : int or (int, int), optional
        Implicit zero rows and columns on each side, at most half the kernel
        (default 0).
%(ceil_mode)s
    count_include_pad : bool, optional
        Count the padded cells a window covers in its size (default True).
        The part of a `ceil_mode` window beyond the right padding never counts.
    divisor_override : int, optional
        Divide every sum by this non-zero number instead.
%(workers)s

    Returns
    -------
    out : ndarray
        A new C-contiguous array with the batching of `x` and height and
        width ``floor((H + 2 * ph - kh) / sh) + 1`` (and so for the width;
        rounded up with `ceil_mode`).

    See Also
    --------
    avg_pool2d_backward : the gradient with respect to `x`.
    max_pool2d : max pooling.

    Examples
    --------
    The textbook's ``pool2d(X, (2, 2), 'avg')`` is a 2x2 window with stride 1:

    >>> import numpy as np
    >>> import cyconv
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> cyconv.avg_pool2d(X, 2, stride=1)
    array([[2., 3.],
           [5., 6.]])

    With padding the corner windows cover padded zeros, which count in the
    divisor unless ``count_include_pad=False``:

    >>> cyconv.avg_pool2d(np.ones((2, 2)), 2, padding=1)
    array([[0.25, 0.25],
           [0.25, 0.25]])
    >>> cyconv.avg_pool2d(np.ones((2, 2)), 2, padding=1, count_include_pad=False)
    array([[1., 1.],
           [1., 1.]])
    """
    threads = resolve_workers(workers)
    window = _window(kernel_size, stride, padding, 1)
    divisor_override = _divisor_override(divisor_override)
    planes, leading, out_shape = _pooling_input(x, window, bool(ceil_mode))
    scale = _avg_scale(planes.shape[-2:], out_shape, window, bool(count_include_pad),
                       divisor_override, planes.dtype)
    out = memory.empty((planes.shape[0],) + out_shape, planes.dtype)
    threads = _threads(threads, planes.size + out.size)
    if _is_global(planes.shape[-2:], window):
        _global_pool2d(planes, out, False, float(scale[0, 0]), threads)
    else:
        _kernels.pool2d(planes, out, False, *window, scale, threads)
    return out.reshape(leading + out_shape)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None,
                        *, workers=None):
    """Gradient of `avg_pool2d` with respect to its input.

    Each output's gradient, divided by the divisor the forward used, is added
    to every input cell of its window (padded cells drop out).  The sums are
    formed in a fixed order, so the result does not depend on `workers`.

    Parameters
    ----------
    grad_output : array_like
        Gradient with respect to the output of `avg_pool2d`.
    input_shape : tuple of int
        Shape of the `avg_pool2d` input: ``(N, C, H, W)``, ``(C, H, W)`` or ``(H, W)``.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        The arguments given to `avg_pool2d`.
    workers : int, optional
        Threads to use, as for `avg_pool2d`.

    Returns
    -------
%(grad_x)s

    Examples
    --------
    Every cell of a 3x3 plane is in one to four of the 2x2 windows, each
    worth a quarter:

    >>> import numpy as np
    >>> import cyconv
    >>> cyconv.avg_pool2d_backward(np.ones((2, 2)), (3, 3), 2, stride=1)
    array([[0.25, 0.5 , 0.25],
           [0.5 , 1.  , 0.5 ],
           [0.25, 0.5 , 0.25]])
    """
    threads = resolve_workers(workers)
    window = _window(kernel_size, stride, padding, 1)
    divisor_override = _divisor_override(divisor_override)
    grad, input_shape = _backward_shapes(grad_output, input_shape)
    spatial = input_shape[-2:]
    out_shape = _output_shape(spatial, window, bool(ceil_mode))
    if grad.shape[-2:] != out_shape:
        raise ValueError(
            f"grad_output of shape {grad.shape} must have height and width {out_shape}, "
            f"those of the avg_pool2d output for input_shape {input_shape}"
        )
    scale = _avg_scale(spatial, out_shape, window, bool(count_include_pad), divisor_override,
                       grad.dtype)
    plane_count = math.prod(input_shape[:-2])
    grad_x = memory.empty((plane_count,) + spatial, grad.dtype)
    threads = _threads(threads, grad.size + grad_x.size)
    grad = grad.reshape((plane_count,) + out_shape)
    if _is_global(spatial, window):
        _global_pool2d_backward(grad, grad_x, float(scale[0, 0]), threads)
    else:
        _kernels.avg_pool2d_backward(grad, grad_x, *window[:3], scale, threads)
    return grad_x.reshape(input_shape)


def _adaptive_output_size(output_size):
    """torch's ``output_size``: an int or a pair, whose None entries stand for the
    input's size (filled in by `_adaptive_input`, once the input is known)."""
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        return tuple(None if size is None else as_int(size, "output_size", 0)
                     for size in output_size)
    return as_pair(output_size, "output_size", 0)


def adaptive_windows(size, count):
    """torch's adaptive windows along an axis of ``size`` cells, as ``(count, 2)`` spans:
    window ``i`` is ``[floor(i * size / count), ceil((i + 1) * size / count))``.

    In integers: a float quotient rounds the bounds of large sizes wrongly.
    """
    index = np.arange(count, dtype=np.intp)
    return np.stack([index * size // count, -(-(index + 1) * size // count)], axis=1)


def _adaptive_shape(output_size, spatial, plane_count):
    """The output's height and width for ``output_size`` (None entries taking the input's)."""
    shape = tuple(size if out is None else out for out, size in zip(output_size, spatial))
    check_index_range(f"output_size={shape}", plane_count * shape[0] * shape[1],
                      shape[0] * spatial[0], shape[1] * spatial[1])
    return shape


# A network pools the same shapes over and over: their windows are worked
# out once (32 us each time, twice the rest of a call on 8 channels of 13x13).
@functools.lru_cache(maxsize=128)
def _adaptive_geometry(spatial, out_shape, dtype):
    """Read-only arrays: the row and column windows of an adaptive pooling, one
    over each window's size, and for each input row the span of output rows
    whose windows hold it (windows' bounds never decrease)."""
    rows, cols = (adaptive_windows(size, count) for size, count in zip(spatial, out_shape))
    scale = window_scale([rows[:, 1] - rows[:, 0], cols[:, 1] - cols[:, 0]], None, dtype)
    input_rows = np.arange(spatial[0])
    covers = np.stack([np.searchsorted(rows[:, 1], input_rows, "right"),
                       np.searchsorted(rows[:, 0], input_rows, "right")], axis=1)
    geometry = rows, cols, scale, covers
    for array in geometry:
        array.flags.writeable = False
    return geometry


def _adaptive_input(x, output_size):
    """``x`` as planes ``(P, H, W)``, with its leading axes, the output's H and W and
    `_adaptive_geometry`."""
    output_size = _adaptive_output_size(output_size)
    x = as_float_array(x, "x")
    _check_input_shape(x.shape, "x")
    planes = x.reshape((-1,) + x.shape[-2:])
    out_shape = _adaptive_shape(output_size, x.shape[-2:], planes.shape[0])
    return (planes, x.shape[:-2], out_shape,
            _adaptive_geometry(x.shape[-2:], out_shape, planes.dtype))


def _regular_window(spatial, out_shape):
    """The `pool2d` window (kernel = stride = size // out) whose windows are the
    adaptive ones when each output size divides the input's, else None."""
    if all(out and size % out == 0 for size, out in zip(spatial, out_shape)):
        kernel = tuple(size // out for size, out in zip(spatial, out_shape))
        return kernel, kernel, (0, 0), (1, 1)
    return None


def _adaptive_values(planes, out, is_max, geometry, threads):
    """``out`` = the adaptive max or average of ``planes``, by the fastest kernel that applies."""
    rows, cols, scale, _ = geometry
    # Windows that divide the input take pool2d: 1.8x as fast on (8, 512, 14,
    # 14) to 7x7 (average) and 1.4x on (8, 64, 112, 112) to 7x7 (max), float32,
    # 1 thread.  With indices the adaptive kernel serves all: both scan with
    # window_argmax and ran alike (4.8 ms on (8, 512, 14, 14) to 7x7).
    window = _regular_window(planes.shape[-2:], out.shape[-2:])
    if window is None:
        _kernels.adaptive_pool2d(planes, out, is_max, rows, cols, scale, threads)
    elif _is_global(planes.shape[-2:], window):
        _global_pool2d(planes, out, is_max, float(scale[0, 0]), threads)
    else:
        _kernels.pool2d(planes, out, is_max, *window, scale, threads)


def adaptive_avg_pool2d(x, output_size, *, workers=None):
    """2-D adaptive average pooling, as `torch.nn.functional.adaptive_avg_pool2d`.

    The windows are chosen for the output size: ``out[..., i, j]`` is the mean of
    ``x[..., h, w]`` over ``floor(i * H / oh) <= h < ceil((i + 1) * H / oh)`` and
    ``floor(j * W / ow) <= w < ceil((j + 1) * W / ow)``.  When ``oh`` divides
    ``H`` and ``ow`` divides ``W`` this is `avg_pool2d` with kernel and stride
    ``(H // oh, W // ow)``; otherwise neighbouring windows may overlap.

    Parameters
    ----------
%(input_and_output_size)s
%(workers)s

    Returns
    -------
%(adaptive_out)s

    See Also
    --------
    adaptive_avg_pool2d_backward : the gradient with respect to `x`.
    adaptive_max_pool2d : adaptive max pooling.
    avg_pool2d : average pooling with a fixed window.

    Examples
    --------
    Two windows of three rows and columns split a 5x5 plane, overlapping on
    its middle row and column:

    >>> import numpy as np
    >>> import cyconv
    >>> X = np.arange(25.0).reshape(5, 5)
    >>> cyconv.adaptive_avg_pool2d(X, 2)
    array([[ 6.,  8.],
           [16., 18.]])

    Global average pooling, the head of a ResNet, and None keeping the width:

    >>> x = np.ones((2, 8, 7, 7), np.float32)
    >>> cyconv.adaptive_avg_pool2d(x, 1).shape
    (2, 8, 1, 1)
    >>> cyconv.adaptive_avg_pool2d(X, (1, None))
    array([[10., 11., 12., 13., 14.]])
    """
    threads = resolve_workers(workers)
    planes, leading, out_shape, geometry = _adaptive_input(x, output_size)
    out = memory.empty((planes.shape[0],) + out_shape, planes.dtype)
    _adaptive_values(planes, out, False, geometry, _threads(threads, planes.size + out.size))
    return out.reshape(leading + out_shape)


def adaptive_max_pool2d(x, output_size, return_indices=False, *, workers=None):
    """2-D adaptive max pooling, as `torch.nn.functional.adaptive_max_pool2d`.

    ``out[..., i, j]`` is the largest ``x[..., h, w]`` over the window of
    `adaptive_avg_pool2d`: ``floor(i * H / oh) <= h < ceil((i + 1) * H / oh)``
    and ``floor(j * W / ow) <= w < ceil((j + 1) * W / ow)``.  A NaN in a
    window makes its output NaN.

    Parameters
    ----------
%(input_and_output_size)s
    return_indices : bool, optional
        Also return where each maximum is, for `adaptive_max_pool2d_backward`.
%(workers)s

    Returns
    -------
%(adaptive_out)s
    indices : ndarray of int64
        With `return_indices`: the flat index ``h * W + w`` of each maximum
        within its ``H * W`` plane.  Ties give the first maximum in window
        order (row by row), a window with NaNs the last NaN, as in PyTorch.

    See Also
    --------
    adaptive_max_pool2d_backward : the gradient with respect to `x`.
    adaptive_avg_pool2d : adaptive average pooling.
    max_pool2d : max pooling with a fixed window.

    Examples
    --------
    >>> import numpy as np
    >>> import cyconv
    >>> X = np.array([[1.0, 9.0, 2.0, 4.0, 0.0],
    ...               [3.0, 5.0, 8.0, 7.0, 6.0],
    ...               [2.0, 4.0, 3.0, 1.0, 9.0]])
    >>> out, indices = cyconv.adaptive_max_pool2d(X, (1, 2), return_indices=True)
    >>> out
    array([[9., 9.]])
    >>> indices
    array([[ 1, 14]])
    """
    threads = resolve_workers(workers)
    planes, leading, out_shape, geometry = _adaptive_input(x, output_size)
    out = memory.empty((planes.shape[0],) + out_shape, planes.dtype)
    threads = _threads(threads, planes.size + out.size)
    if return_indices:
        indices = memory.empty(out.shape, np.int64)
        _kernels.adaptive_max_pool2d_indexed(planes, out, indices, *geometry[:2], threads)
        return out.reshape(leading + out_shape), indices.reshape(leading + out_shape)
    _adaptive_values(planes, out, True, geometry, threads)
    return out.reshape(leading + out_shape)


def adaptive_avg_pool2d_backward(grad_output, input_shape, *, workers=None):
    """Gradient of `adaptive_avg_pool2d` with respect to its input.

    Each output's gradient, divided by the size of its window, is added to
    every input cell of the window.  The sums are formed in a fixed order,
    so the result does not depend on `workers`.

    Parameters
    ----------
    grad_output : array_like
        Gradient with respect to the output of `adaptive_avg_pool2d`; its
        height and width are the output size.
    input_shape : tuple of int
        Shape of the `adaptive_avg_pool2d` input: ``(N, C, H, W)``, ``(C, H, W)`` or ``(H, W)``.
    workers : int, optional
        Threads to use, as for `adaptive_avg_pool2d`.

    Returns
    -------
%(grad_x)s

    Examples
    --------
    The four 2x2 windows of a 3x3 plane pooled to 2x2 share its middle row
    and column:

    >>> import numpy as np
    >>> import cyconv
    >>> cyconv.adaptive_avg_pool2d_backward(np.ones((2, 2)), (3, 3))
    array([[0.25, 0.5 , 0.25],
           [0.5 , 1.  , 0.5 ],
           [0.25, 0.5 , 0.25]])
    """
    threads = resolve_workers(workers)
    grad, input_shape = _backward_shapes(grad_output, input_shape)
    spatial = input_shape[-2:]
    plane_count = math.prod(input_shape[:-2])
    out_shape = _adaptive_shape(grad.shape[-2:], spatial, plane_count)
    _, cols, scale, covers = _adaptive_geometry(spatial, out_shape, grad.dtype)
    grad_x = memory.empty((plane_count,) + spatial, grad.dtype)
    threads = _threads(threads, grad.size + grad_x.size)
    grad = grad.reshape((plane_count,) + out_shape)
    # Regular windows too take the adaptive kernel: avg_pool2d_backward's ran
    # alike on (8, 512, 14, 14) to 7x7 and 2.3x slower on (8, 64, 112, 112) to
    # 7x7 (float32, 1 thread).
    if out_shape == (1, 1):
        _global_pool2d_backward(grad, grad_x, float(scale[0, 0]), threads)
    else:
        _kernels.adaptive_avg_pool2d_backward(grad, grad_x, covers, cols, scale, threads)
    return grad_x.reshape(input_shape)


def adaptive_max_pool2d_backward(grad_output, indices, input_shape, *, workers=None):
    """Gradient of `adaptive_max_pool2d` with respect to its input.

    Its indices name the maxima as those of `max_pool2d` do, so this is
    `max_pool2d_backward`: each output's gradient goes to the input cell its
    index names, summed in output order where several name one cell.

    Parameters
    ----------
    grad_output, indices, input_shape, workers
        As for `max_pool2d_backward`, of an `adaptive_max_pool2d` call.

    Returns
    -------
%(grad_x)s

    Examples
    --------
    >>> import numpy as np
    >>> import cyconv
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> out, indices = cyconv.adaptive_max_pool2d(X, 2, return_indices=True)
    >>> cyconv.adaptive_max_pool2d_backward(np.ones_like(out), indices, X.shape)
    array([[0., 0., 0.],
           [0., 1., 1.],
           [0., 1., 1.]])
    """
    return max_pool2d_backward(grad_output, indices, input_shape, workers=workers)


for _function in (max_pool2d, max_pool2d_backward, avg_pool2d, avg_pool2d_backward,
                  adaptive_avg_pool2d, adaptive_avg_pool2d_backward, adaptive_max_pool2d,
                  adaptive_max_pool2d_backward):
    _function.__doc__ %= _SHARED_DOCS
