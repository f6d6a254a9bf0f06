"""max_pool2d / avg_pool2d and their gradients: torch.nn.functional's rules, cyconv's kernels."""
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


# Parameter descriptions shared by the forward functions' docstrings.
_SHARED_DOCS = {
    "input_and_window": """    x : array_like
        Input of shape ``(N, C, H, W)``, ``(C, H, W)`` or a single plane ``(H, W)``.
        float32 and float64 are kept; other real types are computed in float64.
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Step between windows; defaults to `kernel_size`.""",
    "ceil_mode": """    ceil_mode : bool, optional
        Round the number of windows up instead of down, keeping only windows
        that start inside the input or its left padding (default False).""",
    "workers": """    workers : int, optional
        Threads to use. ``None`` (default) is OpenMP's current maximum; a
        negative value counts back from the number of CPUs (``-1`` = all);
        ``0`` is an error.""",
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
    grad_x : ndarray
        A new C-contiguous array of shape `input_shape`, float32 if
        `grad_output` is float32, else float64.

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
    counts = window_counts(planes.shape[-2:], out_shape, window, bool(count_include_pad))
    scale = window_scale(counts, divisor_override, planes.dtype)
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
    grad_x : ndarray
        A new C-contiguous array of shape `input_shape`, float32 if
        `grad_output` is float32, else float64.

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
    counts = window_counts(spatial, out_shape, window, bool(count_include_pad))
    scale = window_scale(counts, divisor_override, grad.dtype)
    plane_count = math.prod(input_shape[:-2])
    grad_x = memory.empty((plane_count,) + spatial, grad.dtype)
    threads = _threads(threads, grad.size + grad_x.size)
    _kernels.avg_pool2d_backward(grad.reshape((plane_count,) + out_shape), grad_x,
                                 *window[:3], scale, threads)
    return grad_x.reshape(input_shape)


max_pool2d.__doc__ = max_pool2d.__doc__ % _SHARED_DOCS
avg_pool2d.__doc__ = avg_pool2d.__doc__ % _SHARED_DOCS
