"""The FFT path of correlate2d/convolve2d and the direct-vs-FFT cost model."""
import math

import numpy as np
import scipy.fft

# Boundary codes shared with the kernels (cyconv/_kernels/correlate.pyx).
FILL, SYMM, WRAP = 0, 1, 2


def source_indices(start, count, size, boundary):
    """Input index read at extended positions start..start+count-1.

    For 'fill', positions outside the input map to ``size``: the caller appends
    one slot holding the fill value there.
    """
    idx = np.arange(start, start + count)
    if boundary == WRAP:
        return idx % size
    if boundary == SYMM:
        idx = idx % (2 * size)
        return np.where(idx >= size, 2 * size - 1 - idx, idx)
    return np.where((idx >= 0) & (idx < size), idx, size)


def extend(image, out_shape, kernel_shape, offsets, boundary, fill):
    """The boundary-extended image that a 'valid' correlation maps onto out_shape."""
    rows = source_indices(offsets[0], out_shape[0] + kernel_shape[0] - 1, image.shape[0], boundary)
    cols = source_indices(offsets[1], out_shape[1] + kernel_shape[1] - 1, image.shape[1], boundary)
    if boundary == FILL:
        padded = np.empty((image.shape[0] + 1, image.shape[1] + 1), dtype=image.dtype)
        padded[:-1, :-1] = image
        padded[-1, :] = fill
        padded[:, -1] = fill
        image = padded
    return image[np.ix_(rows, cols)]


def fft_correlate(image, kernel, out_shape, offsets, boundary, fill, workers):
    """Correlation of the extended image with ``kernel`` by FFT, cropped to out_shape.

    Integer inputs are computed in float64 and rounded, as scipy.signal.convolve
    does for its FFT method.
    """
    dtype = image.dtype
    out = np.zeros(out_shape, dtype=dtype)
    if out.size == 0 or kernel.size == 0:
        return out
    ext = extend(image, out_shape, kernel.shape, offsets, boundary, fill)
    if dtype.kind in "iu":
        ext = ext.astype(np.float64)
        kernel = kernel.astype(np.float64)
    flipped = kernel[::-1, ::-1]
    complex_input = dtype.kind == "c"
    shape = [scipy.fft.next_fast_len(n, real=not complex_input) for n in ext.shape]
    if complex_input:
        spectrum = scipy.fft.fft2(ext, shape, workers=workers)
        spectrum *= scipy.fft.fft2(flipped, shape, workers=workers)
        full = scipy.fft.ifft2(spectrum, shape, workers=workers, overwrite_x=True)
    else:
        spectrum = scipy.fft.rfft2(ext, shape, workers=workers)
        spectrum *= scipy.fft.rfft2(flipped, shape, workers=workers)
        full = scipy.fft.irfft2(spectrum, shape, workers=workers, overwrite_x=True)
    kh, kw = kernel.shape
    valid = full[kh - 1 : kh - 1 + out_shape[0], kw - 1 : kw - 1 + out_shape[1]]
    if dtype.kind in "iu":
        valid = np.around(valid)
    out[...] = valid
    return out


# Cost model, in seconds per unit, fitted on the reference machine class
# (see docs/performance.rst): direct work is multiply-adds, FFT work is
# N log2 N summed over the three transforms of an N-point padded image.
DIRECT_SECONDS_PER_MAC = {np.dtype(np.float32): 0.035e-9, np.dtype(np.float64): 0.06e-9}
DIRECT_SECONDS_PER_MAC_OTHER = 1.0e-9
FFT_SECONDS_PER_NLOGN = {np.dtype(np.float32): 0.45e-9, np.dtype(np.float64): 0.6e-9}
FFT_SECONDS_PER_NLOGN_OTHER = 1.5e-9


def prefer_fft(dtype, out_shape, kernel_shape, threads):
    """True when the FFT path is expected to beat the direct kernels."""
    if dtype.kind in "iu":
        # The direct path is exact; scipy's auto choice also avoids FFTs for
        # integers whose sums could lose precision in float64.
        return False
    macs = math.prod(out_shape) * math.prod(kernel_shape)
    if macs == 0:
        return False
    ext = [o + k - 1 for o, k in zip(out_shape, kernel_shape)]
    n = math.prod(scipy.fft.next_fast_len(e, real=True) for e in ext)
    direct = macs * DIRECT_SECONDS_PER_MAC.get(dtype, DIRECT_SECONDS_PER_MAC_OTHER)
    fft = 3 * n * math.log2(max(n, 2)) * FFT_SECONDS_PER_NLOGN.get(dtype, FFT_SECONDS_PER_NLOGN_OTHER)
    # Both paths use the threads; the FFT scales less well.
    return fft * min(threads, 2) ** 0.3 < direct
