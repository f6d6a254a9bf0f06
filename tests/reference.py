"""Slow, obvious NumPy oracles for the functions that have no scipy twin.

Written for clarity, never for speed: explicit loops over windows, so that a
reader can check them against the textbook definitions.  One section per
public family.
"""
import math
from fractions import Fraction

import numpy as np


# --- NCHW convolution layers (conv2d, conv2d_backward, im2col, col2im) -------

def conv2d_padded(x, pad_top, pad_bottom, pad_left, pad_right):
    """Zero-pad the last two axes of an (N, C, H, W) array."""
    return np.pad(x, ((0, 0), (0, 0), (pad_top, pad_bottom), (pad_left, pad_right)))


def conv2d_windows(x, kernel_h, kernel_w, stride, dilation, out_h, out_w):
    """Yield (i, j, window) with window[n, c, u, v] = x[n, c, i*sH + u*dH, j*sW + v*dW]."""
    for i in range(out_h):
        for j in range(out_w):
            rows = i * stride[0] + dilation[0] * np.arange(kernel_h)
            cols = j * stride[1] + dilation[1] * np.arange(kernel_w)
            yield i, j, x[:, :, rows[:, None], cols[None, :]]


def conv2d_out_size(size, kernel, stride, pad_total, dilation):
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def conv2d_reference(x, weight, bias, stride, pads, dilation, groups):
    """Batched conv2d in float64 by explicit windows; pads = (top, bottom, left, right)."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    n, c, h, w = x.shape
    c_out, c_group, kh, kw = weight.shape
    out_h = conv2d_out_size(h, kh, stride[0], pads[0] + pads[1], dilation[0])
    out_w = conv2d_out_size(w, kw, stride[1], pads[2] + pads[3], dilation[1])
    padded = conv2d_padded(x, *pads)
    out = np.zeros((n, c_out, out_h, out_w))
    per_group = c_out // groups
    for i, j, window in conv2d_windows(padded, kh, kw, stride, dilation, out_h, out_w):
        for o in range(c_out):
            g = o // per_group
            out[:, o, i, j] = np.einsum(
                "ncuv,cuv->n", window[:, g * c_group:(g + 1) * c_group], weight[o])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return out


def conv2d_backward_reference(grad_out, x, weight, stride, pads, dilation, groups):
    """Gradients of conv2d_reference by scattering every window's contribution."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    grad_out = np.asarray(grad_out, dtype=np.float64)
    n, c, h, w = x.shape
    c_out, c_group, kh, kw = weight.shape
    out_h, out_w = grad_out.shape[2:]
    padded = conv2d_padded(x, *pads)
    grad_padded = np.zeros_like(padded)
    grad_w = np.zeros_like(weight)
    per_group = c_out // groups
    for i, j, window in conv2d_windows(padded, kh, kw, stride, dilation, out_h, out_w):
        rows = i * stride[0] + dilation[0] * np.arange(kh)
        cols = j * stride[1] + dilation[1] * np.arange(kw)
        for o in range(c_out):
            g = o // per_group
            channels = slice(g * c_group, (g + 1) * c_group)
            grad_w[o] += np.einsum("n,ncuv->cuv", grad_out[:, o, i, j], window[:, channels])
            for b in range(n):
                grad_padded[b, channels][:, rows[:, None], cols[None, :]] += grad_out[b, o, i, j] * weight[o]
    grad_x = grad_padded[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w]
    return grad_x, grad_w, grad_out.sum(axis=(0, 2, 3))


def conv_transpose2d_reference(x, weight, bias, stride, padding, output_padding, dilation,
                               groups):
    """torch's conv_transpose2d in float64: every input pixel scatters its
    value times the kernel into the full output, which is then cropped."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    n, c_in, h, w = x.shape
    _, per_group, kh, kw = weight.shape
    in_per_group = c_in // groups
    full = np.zeros((n, per_group * groups,
                     (h - 1) * stride[0] + dilation[0] * (kh - 1) + 1 + output_padding[0],
                     (w - 1) * stride[1] + dilation[1] * (kw - 1) + 1 + output_padding[1]))
    for c in range(c_in):
        outs = slice(c // in_per_group * per_group, (c // in_per_group + 1) * per_group)
        for i in range(h):
            for j in range(w):
                for u in range(kh):
                    for v in range(kw):
                        full[:, outs, i * stride[0] + u * dilation[0],
                             j * stride[1] + v * dilation[1]] += np.outer(x[:, c, i, j],
                                                                          weight[c, :, u, v])
    out = full[:, :, padding[0]:full.shape[2] - padding[0], padding[1]:full.shape[3] - padding[1]]
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return out


def conv_transpose2d_backward_reference(grad_out, x, weight, stride, padding, output_padding,
                                        dilation, groups):
    """Gradients of conv_transpose2d_reference: every scattered product's
    output gradient, gathered back to its input pixel and its tap."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    grad_out = np.asarray(grad_out, dtype=np.float64)
    n, c_in, h, w = x.shape
    _, per_group, kh, kw = weight.shape
    in_per_group = c_in // groups
    out_h, out_w = grad_out.shape[2:]
    grad_x = np.zeros_like(x)
    grad_w = np.zeros_like(weight)
    for c in range(c_in):
        outs = slice(c // in_per_group * per_group, (c // in_per_group + 1) * per_group)
        for i in range(h):
            for j in range(w):
                for u in range(kh):
                    for v in range(kw):
                        row = i * stride[0] + u * dilation[0] - padding[0]
                        col = j * stride[1] + v * dilation[1] - padding[1]
                        if 0 <= row < out_h and 0 <= col < out_w:
                            go = grad_out[:, outs, row, col]
                            grad_x[:, c, i, j] += go @ weight[c, :, u, v]
                            grad_w[c, :, u, v] += x[:, c, i, j] @ go
    return grad_x, grad_w, grad_out.sum(axis=(0, 2, 3))


def im2col_reference(x, kernel, stride, padding, dilation):
    """torch.nn.functional.unfold of an (N, C, H, W) array, in float64."""
    x = np.asarray(x, dtype=np.float64)
    n, c, h, w = x.shape
    out_h = conv2d_out_size(h, kernel[0], stride[0], 2 * padding[0], dilation[0])
    out_w = conv2d_out_size(w, kernel[1], stride[1], 2 * padding[1], dilation[1])
    padded = conv2d_padded(x, padding[0], padding[0], padding[1], padding[1])
    cols = np.zeros((n, c * kernel[0] * kernel[1], out_h * out_w))
    for i, j, window in conv2d_windows(padded, *kernel, stride, dilation, out_h, out_w):
        cols[:, :, i * out_w + j] = window.reshape(n, -1)
    return cols


def col2im_reference(cols, output_size, kernel, stride, padding, dilation):
    """torch.nn.functional.fold of an (N, C*kH*kW, L) array, in float64."""
    cols = np.asarray(cols, dtype=np.float64)
    n = cols.shape[0]
    c = cols.shape[1] // (kernel[0] * kernel[1])
    h, w = output_size
    out_h = conv2d_out_size(h, kernel[0], stride[0], 2 * padding[0], dilation[0])
    out_w = conv2d_out_size(w, kernel[1], stride[1], 2 * padding[1], dilation[1])
    padded = np.zeros((n, c, h + 2 * padding[0], w + 2 * padding[1]))
    for i in range(out_h):
        for j in range(out_w):
            rows = i * stride[0] + dilation[0] * np.arange(kernel[0])
            cols_ = j * stride[1] + dilation[1] * np.arange(kernel[1])
            padded[:, :, rows[:, None], cols_[None, :]] += cols[:, :, i * out_w + j].reshape(
                n, c, *kernel)
    return padded[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w]


# ---------------------------------------------------------------------------
# Pooling (max_pool2d, avg_pool2d and their gradients), as PyTorch defines them.
# Inputs are stacks of planes (P, H, W); every window is visited tap by tap.


def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """Windows along one axis: torch's formula, minus a ceil_mode window starting in the right padding."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    count = (math.ceil if ceil_mode else math.floor)(span / stride) + 1
    if ceil_mode and (count - 1) * stride >= size + padding:
        count -= 1
    return count


def _window_taps(start, kernel, dilation):
    return [start + u * dilation for u in range(kernel)]


def max_pool2d_ref(x, kernel, stride, padding, dilation, ceil_mode):
    """(out, indices): the max over each window's in-plane taps, row by row.

    A strictly larger value or a NaN takes over (ties keep the first maximum,
    NaNs the last NaN); an empty window is -inf at its first tap past the padding.
    """
    planes, height, width = x.shape
    out_h, out_w = (pool_output_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                    zip((height, width), kernel, stride, padding, dilation))
    out = np.empty((planes, out_h, out_w), dtype=x.dtype)
    indices = np.empty((planes, out_h, out_w), dtype=np.int64)
    for i in range(out_h):
        rows = _window_taps(i * stride[0] - padding[0], kernel[0], dilation[0])
        for j in range(out_w):
            cols = _window_taps(j * stride[1] - padding[1], kernel[1], dilation[1])
            first = min(r for r in rows if r >= 0) * width + min(c for c in cols if c >= 0)
            for plane in range(planes):
                best, best_index = -np.inf, first
                for r in rows:
                    for c in cols:
                        if 0 <= r < height and 0 <= c < width:
                            value = x[plane, r, c]
                            if value > best or np.isnan(value):
                                best, best_index = value, r * width + c
                out[plane, i, j] = best
                indices[plane, i, j] = best_index
    return out, indices


def avg_pool2d_divisor(height, width, i, j, kernel, stride, padding, count_include_pad,
                       divisor_override):
    """What window (i, j) is divided by: its cells inside the input, or inside input and padding."""
    if divisor_override is not None:
        return divisor_override
    sizes = []
    for index, size, k, s, p in zip((i, j), (height, width), kernel, stride, padding):
        start = index * s - p
        end = min(start + k, size + p)
        if not count_include_pad:
            start, end = max(start, 0), min(end, size)
        sizes.append(end - start)
    return sizes[0] * sizes[1]


def avg_pool2d_ref(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """The sum over each window's in-plane cells divided by `avg_pool2d_divisor`."""
    planes, height, width = x.shape
    out_h, out_w = (pool_output_size(n, k, s, p, 1, ceil_mode) for n, k, s, p in
                    zip((height, width), kernel, stride, padding))
    out = np.empty((planes, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * stride[0] - padding[0], j * stride[1] - padding[1]
            cells = x[:, max(r0, 0):r0 + kernel[0], max(c0, 0):c0 + kernel[1]]
            divisor = avg_pool2d_divisor(height, width, i, j, kernel, stride, padding,
                                         count_include_pad, divisor_override)
            out[:, i, j] = cells.sum(axis=(1, 2)) / divisor
    return out


def max_pool2d_backward_ref(grad_output, indices, input_shape):
    """Each gradient added at the flat in-plane position its index names."""
    planes, height, width = input_shape
    grad_x = np.zeros((planes, height * width), dtype=grad_output.dtype)
    for plane in range(planes):
        np.add.at(grad_x[plane], indices[plane].ravel(), grad_output[plane].ravel())
    return grad_x.reshape(input_shape)


def avg_pool2d_backward_ref(grad_output, input_shape, kernel, stride, padding,
                            count_include_pad, divisor_override):
    """Each gradient over its divisor, added to every in-plane cell of its window."""
    planes, height, width = input_shape
    grad_x = np.zeros(input_shape, dtype=grad_output.dtype)
    for i in range(grad_output.shape[1]):
        for j in range(grad_output.shape[2]):
            r0, c0 = i * stride[0] - padding[0], j * stride[1] - padding[1]
            divisor = avg_pool2d_divisor(height, width, i, j, kernel, stride, padding,
                                         count_include_pad, divisor_override)
            grad_x[:, max(r0, 0):r0 + kernel[0], max(c0, 0):c0 + kernel[1]] += (
                grad_output[:, i, j, None, None] / divisor)
    return grad_x


def adaptive_window(index, size, count):
    """Input cells [start, end) of adaptive window ``index`` of ``count`` along ``size``
    cells: floor(index * size / count) to ceil((index + 1) * size / count), exactly."""
    return (math.floor(Fraction(index * size, count)),
            math.ceil(Fraction((index + 1) * size, count)))


def adaptive_pool2d_reference(x, output_size, op):
    """(out, indices) of torch's adaptive pooling of planes (P, H, W); ``op`` is
    'max' (indices as `max_pool2d_ref`'s, row by row) or 'avg' (indices None).
    ``output_size`` is a pair of ints."""
    planes, height, width = x.shape
    out_h, out_w = output_size
    out = np.empty((planes, out_h, out_w), dtype=x.dtype)
    indices = np.empty((planes, out_h, out_w), dtype=np.int64)
    for i in range(out_h):
        r0, r1 = adaptive_window(i, height, out_h)
        for j in range(out_w):
            c0, c1 = adaptive_window(j, width, out_w)
            for plane in range(planes):
                if op == "avg":
                    out[plane, i, j] = x[plane, r0:r1, c0:c1].sum() / ((r1 - r0) * (c1 - c0))
                    continue
                best, best_index = -np.inf, r0 * width + c0
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        value = x[plane, r, c]
                        if value > best or np.isnan(value):
                            best, best_index = value, r * width + c
                out[plane, i, j] = best
                indices[plane, i, j] = best_index
    return out, (indices if op == "max" else None)


def adaptive_avg_pool2d_backward_reference(grad_output, input_shape):
    """Each gradient over its window's size, added to every cell of its window."""
    planes, height, width = input_shape
    out_h, out_w = grad_output.shape[1:]
    grad_x = np.zeros(input_shape, dtype=grad_output.dtype)
    for i in range(out_h):
        r0, r1 = adaptive_window(i, height, out_h)
        for j in range(out_w):
            c0, c1 = adaptive_window(j, width, out_w)
            grad_x[:, r0:r1, c0:c1] += grad_output[:, i, j, None, None] / ((r1 - r0) * (c1 - c0))
    return grad_x


# ---------------------------------------------------------------------------
# scipy.ndimage's linear filters, as plain sums over an extended input.
#
# ``ndimage_correlate`` is the one oracle: every output element is the sum,
# over the kernel taps, of weight times the input element the tap lands on,
# where taps that land outside the input are mapped back into it by the
# boundary mode (or read ``cval``).  The other filters are written with it.

NDIMAGE_MODES = ["reflect", "constant", "nearest", "mirror", "wrap",
                 "grid-constant", "grid-mirror", "grid-wrap"]


def ndimage_extended_index(i, n, mode):
    """Where index ``i`` of an axis of length ``n`` reads from, or None for cval.

    reflect (= grid-mirror):  d c b a | a b c d | d c b a   (period 2n)
    mirror:                     d c b | a b c d | c b a     (period 2n - 2)
    nearest:                  a a a a | a b c d | d d d d
    wrap (= grid-wrap):       a b c d | a b c d | a b c d   (period n)
    constant (= grid-constant): cval outside.
    """
    if 0 <= i < n:
        return i
    if mode in ("constant", "grid-constant"):
        return None
    if mode == "nearest":
        return 0 if i < 0 else n - 1
    if mode in ("wrap", "grid-wrap"):
        return i % n
    if mode in ("reflect", "grid-mirror"):
        j = i % (2 * n)
        return j if j < n else 2 * n - 1 - j
    if mode == "mirror":
        if n == 1:
            return 0
        j = i % (2 * n - 2)
        return j if j < n else 2 * n - 2 - j
    raise ValueError(f"unknown mode {mode!r}")


def ndimage_correlate(x, weights, modes, cval=0.0, origins=None):
    """N-D correlation as scipy.ndimage.correlate defines it, in float64 (or complex128).

    ``out[i] = sum_j weights[j] * ext(x)[i + j - weights.shape // 2 - origin]``
    per axis; ``modes`` and ``origins`` are one per axis.  No conjugation:
    the caller conjugates complex weights where scipy does.
    """
    x = np.asarray(x)
    weights = np.asarray(weights)
    dtype = np.complex128 if (np.iscomplexobj(x) or np.iscomplexobj(weights)
                              or np.iscomplexobj(cval)) else np.float64
    x = x.astype(dtype)
    ndim = x.ndim
    assert weights.ndim == ndim
    origins = [0] * ndim if origins is None else list(origins)
    out = np.zeros(x.shape, dtype)
    if x.size == 0:
        return out
    if ndim == 0:
        return out + weights[()] * x
    # The input extended along every axis by the taps' reach: per axis, the
    # index each extended position reads (-1 where it reads cval).
    index_lists = []
    for axis in range(ndim):
        n, size = x.shape[axis], weights.shape[axis]
        before = size // 2 + origins[axis]
        indices = [ndimage_extended_index(i - before, n, modes[axis]) for i in range(n + size - 1)]
        index_lists.append(np.array([-1 if i is None else i for i in indices], dtype=np.intp))
    padded = x[np.ix_(*[np.maximum(ix, 0) for ix in index_lists])].copy()
    outside = np.zeros(padded.shape, bool)
    for axis, ix in enumerate(index_lists):
        shape = [1] * ndim
        shape[axis] = len(ix)
        outside |= (ix < 0).reshape(shape)
    padded[outside] = cval
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 and inf - inf are NaN, as meant
        for tap in np.ndindex(weights.shape):
            window = tuple(slice(t, t + n) for t, n in zip(tap, x.shape))
            out += weights[tap] * padded[window]
    return out


def ndimage_correlate1d(x, weights, axis, mode, cval=0.0, origin=0):
    """correlate1d: ``weights`` laid along ``axis`` of an N-D correlation."""
    x = np.asarray(x)
    shape = [1] * x.ndim
    shape[axis] = len(weights)
    modes = [mode] * x.ndim
    origins = [0] * x.ndim
    origins[axis] = origin
    return ndimage_correlate(x, np.reshape(weights, shape), modes, cval, origins)


def ndimage_gaussian_kernel(sigma, order, radius):
    """The sampled, normalised Gaussian's ``order``-th derivative on -radius..radius.

    d^n/dx^n exp(-x^2 / 2 s^2) = (-1/s)^n He_n(x / s) exp(-x^2 / 2 s^2), with
    He_n the probabilists' Hermite polynomial; the Gaussian is normalised by
    its sum over the samples (as scipy does) before the polynomial is applied.
    """
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 * (x / sigma) ** 2)
    phi /= phi.sum()
    coefficients = np.zeros(order + 1)
    coefficients[order] = 1
    return (-1 / sigma) ** order * np.polynomial.hermite_e.hermeval(x / sigma, coefficients) * phi


def ndimage_gaussian_filter1d(x, sigma, axis, order, mode, cval=0.0, truncate=4.0, radius=None):
    """A convolution with the Gaussian kernel (a correlation with it reversed)."""
    if radius is None:
        radius = int(truncate * float(sigma) + 0.5)
    kernel = ndimage_gaussian_kernel(float(sigma), order, radius)
    return ndimage_correlate1d(x, kernel[::-1], axis, mode, cval)


def ndimage_gaussian_filter(x, sigmas, orders, modes, cval=0.0, truncate=4.0, radii=None):
    """One 1-D pass per axis whose sigma is positive (sigmas, orders, modes per axis)."""
    out = np.asarray(x).astype(np.result_type(np.asarray(x).dtype, np.float64))
    radii = [None] * out.ndim if radii is None else radii
    for axis in range(out.ndim):
        if sigmas[axis] > 1e-15:
            out = ndimage_gaussian_filter1d(out, sigmas[axis], axis, orders[axis], modes[axis],
                                            cval, truncate, radii[axis])
    return out


# ---------------------------------------------------------------------------
# nanconvolve: astropy.convolution.convolve's convolution of data with holes.
#
# Every output is computed from its own window of the input extended by the
# kernel's radius, with the kernel flipped (a true convolution), as the
# C loop of astropy.convolution.convolve does it.  Holes are NaN, +-inf,
# masked values and ``mask != 0`` (astropy spreads inf; nanconvolve does not).

NANCONVOLVE_MAX_NORMALIZATION = 100   # astropy.convolution.core.MAX_NORMALIZATION


def nanconvolve_holes(array, mask=None):
    """(float64 copy of the data with every hole set to NaN, boolean hole mask)."""
    holes = np.zeros(np.shape(array), dtype=bool)
    if np.ma.isMaskedArray(array):
        holes |= np.ma.getmaskarray(array)
    data = np.array(np.ma.getdata(array), dtype=np.float64)
    if mask is not None:
        holes |= np.asarray(mask) != 0
    holes |= ~np.isfinite(data)
    data[holes] = np.nan
    return data, holes


def nanconvolve_extended(data, radii, boundary, fill_value):
    """``data`` extended by ``radii[axis]`` on both sides of every axis.

    'fill': fill_value outside;  'wrap': position p reads p mod n (however far);
    'extend': the nearest edge value;  None: zeros (its border outputs are 0 anyway).
    """
    extended = data
    for axis, radius in enumerate(radii):
        n = data.shape[axis]
        positions = np.arange(-radius, n + radius)
        if boundary == "wrap":
            extended = np.take(extended, positions % n, axis=axis)
        elif boundary == "extend":
            extended = np.take(extended, np.clip(positions, 0, n - 1), axis=axis)
        else:
            outside = fill_value if boundary == "fill" else 0.0
            widths = [(0, 0)] * data.ndim
            widths[axis] = (radius, radius)
            extended = np.pad(extended, widths, mode="constant", constant_values=outside)
    return extended


def nanconvolve_reference(array, kernel, boundary="fill", fill_value=0.0,
                          nan_treatment="interpolate", normalize_kernel=True, mask=None,
                          preserve_nan=False, normalization_zero_tol=1e-08):
    """astropy.convolution.convolve(array, kernel, ...) in float64, window by window.

    With holes to interpolate (``nan_treatment='interpolate'`` and a hole in the
    data, or boundary 'fill' with a non-finite fill_value) each output is
    ``sum(k * v) / sum(k)`` over the finite ``v`` of its window, or its own input
    value (NaN at a hole) where that weight is exactly 0; the result is then
    multiplied by the kernel's sum if ``normalize_kernel`` is False.  Otherwise
    holes read ``fill_value`` ('fill') and each output is ``sum(k * v)``,
    divided by the kernel's sum if ``normalize_kernel``.  boundary=None: outputs
    whose window leaves the array are 0.  ``preserve_nan``: NaN at the holes.
    """
    data, holes = nanconvolve_holes(array, mask)
    kernel = np.array(kernel, dtype=np.float64)
    flipped = kernel[(slice(None, None, -1),) * kernel.ndim]
    radii = [k // 2 for k in kernel.shape]
    if boundary is None and any(n <= 2 * r for n, r in zip(data.shape, radii)):
        raise ValueError("boundary=None needs every kernel axis smaller than the array's")
    interpolate = nan_treatment == "interpolate" and (
        holes.any() or (boundary == "fill" and not np.isfinite(fill_value)))
    kernel_sum = kernel.sum()
    if normalize_kernel or interpolate:
        if (kernel_sum < 1.0 / NANCONVOLVE_MAX_NORMALIZATION
                or abs(kernel_sum) <= normalization_zero_tol):
            raise ValueError("the kernel cannot be normalised: its sum is close to zero")
    if nan_treatment == "fill":
        data[holes] = fill_value
    extended = nanconvolve_extended(data, radii, boundary, fill_value)
    out = np.zeros(data.shape)
    for index in np.ndindex(data.shape):
        if boundary is None and any(i < r or i >= n - r
                                    for i, r, n in zip(index, radii, data.shape)):
            continue
        window = extended[tuple(slice(i, i + k) for i, k in zip(index, kernel.shape))]
        if interpolate:
            valid = np.isfinite(window)
            top = np.sum(flipped[valid] * window[valid])
            bottom = np.sum(flipped[valid])
            out[index] = data[index] if bottom == 0 else top / bottom
        else:
            with np.errstate(invalid="ignore"):   # 0 * NaN is NaN, as in astropy
                out[index] = np.sum(flipped * window)
    if normalize_kernel and not interpolate:
        out /= kernel_sum
    elif interpolate and not normalize_kernel:
        out *= kernel_sum
    if preserve_nan:
        out[holes] = np.nan
    return out
