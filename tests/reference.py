"""Slow, obvious NumPy oracles for the functions that have no scipy twin.

Written for clarity, never for speed: explicit loops over windows, so that a
reader can check them against the textbook definitions.  One section per
public family.
"""
import math

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
