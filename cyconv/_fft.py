"""The FFT path of correlate2d/convolve2d and the direct-vs-FFT cost model."""
import math

import numpy as np
import scipy.fft

# Boundary codes shared with the kernels (cyconv/_kernels/boundary.pxd): the
# three of scipy.signal, and scipy.ndimage's 'nearest' and 'mirror'.
FILL, SYMM, WRAP, NEAREST, MIRROR = 0, 1, 2, 3, 4


_PAD_MODE = {FILL: "constant", SYMM: "symmetric", WRAP: "wrap"}


def extend(image, out_shape, kernel_shape, offsets, boundary, fill):
    """The boundary-extended image that a 'valid' correlation maps onto out_shape.

    Rows offsets[0] .. offsets[0] + out_shape[0] + kernel_shape[0] - 2 of the
    extended image (and likewise columns).  Whenever any padding is needed the
    window covers the whole image, so numpy's pad modes (which repeat their
    reflection or wrap as often as needed) extend exactly as the kernels do.
    """
    pads, crop = [], []
    for start, out_size, ksize, size in zip(offsets, out_shape, kernel_shape, image.shape):
        stop = start + out_size + ksize - 1
        pads.append((max(0, -start), max(0, stop - size)))
        crop.append(slice(max(0, start), min(stop, size)))
    image = image[tuple(crop)]
    if not any(before or after for before, after in pads):
        return image
    if boundary == FILL:
        return np.pad(image, pads, mode="constant", constant_values=fill)
    return np.pad(image, pads, mode=_PAD_MODE[boundary])


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


# Cost model: one-thread seconds per unit of work, measured on the reference
# machine class (2-core Xeon, AVX2 kernels) over images 256^2 to 2048^2 and
# kernels 7 to 31.  Direct work is multiply-adds; FFT work is N log2 N for each
# of the three transforms of the N-point padded image.  Complex direct runs
# four real passes.  The crossover this gives for 2048^2 'same' is about 29x29
# in float64 and 27x27 in float32.
DIRECT_SECONDS_PER_MAC = {
    np.dtype(np.float32): 0.045e-9, np.dtype(np.float64): 0.09e-9,
    np.dtype(np.complex64): 0.18e-9, np.dtype(np.complex128): 0.36e-9,
}
DIRECT_SECONDS_PER_MAC_OTHER = 1.0e-9
FFT_SECONDS_PER_NLOGN = {
    np.dtype(np.float32): 0.39e-9, np.dtype(np.float64): 0.9e-9,
    np.dtype(np.complex64): 0.8e-9, np.dtype(np.complex128): 1.8e-9,
}
FFT_SECONDS_PER_NLOGN_OTHER = 5.0e-9


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
    direct = macs * DIRECT_SECONDS_PER_MAC.get(dtype, DIRECT_SECONDS_PER_MAC_OTHER) / threads
    fft = 3 * n * math.log2(max(n, 2)) * FFT_SECONDS_PER_NLOGN.get(dtype, FFT_SECONDS_PER_NLOGN_OTHER)
    # The direct kernels scale with the threads; scipy.fft's workers less so.
    return fft / threads ** 0.7 < direct
