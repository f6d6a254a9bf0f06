"""`nanconvolve`: convolution of data with holes, with astropy.convolution.convolve's semantics.

This module validates and normalises the arguments, chooses the algorithm
(a `NanConvolvePlan`) and finishes the result (dtype, ``preserve_nan``, the
warning); the sums themselves run in ``cyconv/_kernels/nanconvolve.pyx``
(direct) or through ``scipy.fft`` (`_fft_sums`).

Holes are NaN, +-inf and masked values.  astropy's ``convolve`` lets an inf
spread over the kernel's footprint while its ``convolve_fft`` treats inf as
a hole (astropy #8099, and astropy PR #18364, which makes ``convolve`` do
the same); here an inf is a hole whichever method runs, so that the method
never changes the result beyond rounding.
"""
import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.fft

from cyconv._config import resolve_workers
from cyconv._filter_plan import rank1_factors
from cyconv._kernels import memory
from cyconv._fft import FILL, NEAREST, WRAP
from cyconv._simd import kernels, line_kernels
from cyconv._validation import INDEX_LIMIT, as_array

nan_kernels = kernels("nanconvolve")

BOUNDARIES = (None, "fill", "wrap", "extend")
NAN_TREATMENTS = ("interpolate", "fill")
METHODS = ("auto", "direct", "fft")
# astropy.convolution.core.MAX_NORMALIZATION: a kernel whose sum is below its
# inverse cannot be normalised.
MAX_NORMALIZATION = 100

# With method='fft' the weight sums carry the transforms' rounding: an output
# whose weight is within this many rounding steps (of the compute type) times
# sum(|kernel|) of zero is treated as having no valid neighbour.  Measured:
# the weight sums' error on 2048^2 and 4096^2 images with 5-31 px kernels and
# 5 % holes stays below 4 steps (float64) and 3 steps (float32); convolve_fft
# uses 10 steps of a kernel normalised to sum 1.
FFT_ZERO_WEIGHT_STEPS = 1000

# The cost model of the 'auto' choice, one-thread seconds, measured by
# ``benchmarks/bench_nanconvolve.py --calibrate`` on 2048^2 images with 5 %
# NaN (AMD EPYC, AVX-512 kernels, 2026-12-03): per output element and pass
# over the data (a 1x1 kernel's time over two passes); per output element and
# tap with both sums, of the separable kernel (a 31x31 Gaussian, 62 taps) and
# of the dense one (a disk of radius 7, 177 taps); and per N log2 N of each of
# the FFT path's five transforms of N points, its pointwise work included (a
# 31x31 Gaussian).  With these, dense kernels of about 450 taps and more
# (disks from 25x25) go to the FFTs on 2048^2 images; separable ones never do
# below 255 taps.
PASS_SECONDS = {np.dtype(np.float32): 0.64e-9, np.dtype(np.float64): 0.89e-9}
TAP_SECONDS = {
    "separable": {np.dtype(np.float32): 0.067e-9, np.dtype(np.float64): 0.109e-9},
    "dense": {np.dtype(np.float32): 0.092e-9, np.dtype(np.float64): 0.179e-9},
}
FFT_SECONDS_PER_NLOGN = {np.dtype(np.float32): 0.38e-9, np.dtype(np.float64): 0.63e-9}


class NanConvolveWarning(UserWarning):
    """Holes that the kernel could not fill: outputs with no valid neighbour are NaN."""


@dataclass(frozen=True)
class NanConvolvePlan:
    """How one `nanconvolve` call is computed, and why.

    ``method`` is 'separable' (a rank-1 kernel as one pass per axis, in one
    sweep over the data), 'dense' (every tap of the kernel) or 'fft'
    (``scipy.fft``).
    """

    method: str
    reason: str
    # 'separable': the 1-D factor of each axis (flipped for correlation).
    factors: tuple = field(default=None, repr=False, compare=False)

    def __str__(self):
        return f"{self.method}: {self.reason}"


@dataclass(frozen=True)
class _Call:
    """One validated call: the data, the kernel (flipped for correlation) and the rules."""

    data: np.ndarray          # C-contiguous compute dtype; masked values set to NaN
    out_dtype: np.dtype
    kernel: np.ndarray        # float64, flipped, finite
    kernel_sum: float
    boundary: object
    fill_value: float
    interpolate: bool         # the value and weight sums, divided
    normalize_kernel: bool
    preserve_nan: bool
    holes: object             # the hole mask when the caller needs it, else None
    workers: int


def _check_choice(value, name, choices):
    if not any(value is choice or (isinstance(value, str) and value == choice)
               for choice in choices):
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    return bool(value)


def _real(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    return float(value)


def _data(array, mask):
    """The data as a C-contiguous float array with masked values set to NaN, its output
    dtype and the mask given (or None)."""
    masked = np.ma.getmaskarray(array) if np.ma.isMaskedArray(array) else None
    if masked is not None:
        array = np.ma.getdata(array)
    array = as_array(array, "array")
    if array.ndim == 0:
        raise ValueError("array must have 1, 2 or 3 dimensions, got a 0-dimensional array")
    if array.dtype.kind == "c":
        raise TypeError(f"array must be real, got complex dtype {array.dtype}")
    if array.dtype.kind not in "biuf":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"array must be a real numeric array, got dtype {array.dtype}") from None
    out_dtype = (array.dtype.newbyteorder("=") if array.dtype.kind == "f"
                 else np.dtype(np.float64))
    compute = np.float32 if array.dtype.kind == "f" and array.dtype.itemsize <= 4 else np.float64
    if mask is not None:
        mask = as_array(mask, "mask")
        if mask.shape != array.shape:
            raise ValueError(f"mask must have the array's shape {array.shape}, got {mask.shape}")
        if mask.dtype.kind not in "biuf":
            raise TypeError(f"mask must be boolean or numeric, got dtype {mask.dtype}")
        mask = mask != 0
        masked = mask if masked is None or masked.shape != array.shape else masked | mask
    if masked is not None and masked.any():
        data = np.array(array, dtype=compute, order="C")
        data[masked] = np.nan
    else:
        data = np.ascontiguousarray(array, dtype=compute)
        masked = None
    return data, out_dtype


def _kernel(kernel):
    if np.ma.isMaskedArray(kernel):
        if np.ma.is_masked(kernel):
            raise ValueError(
                "kernel is a masked array with masked values; use kernel.filled(fill_value) "
                "to fill them before passing it")
        kernel = np.ma.getdata(kernel)
    kernel = as_array(kernel, "kernel")
    if kernel.dtype.kind == "c":
        raise TypeError(f"kernel must be real, got complex dtype {kernel.dtype}")
    try:
        kernel = np.array(kernel, dtype=np.float64, order="C")
    except (TypeError, ValueError):
        raise TypeError(f"kernel must be a real numeric array, got dtype {kernel.dtype}") from None
    if not np.isfinite(kernel).all():
        raise ValueError("kernel must hold finite values only (it has NaN or inf)")
    return kernel


def _validate(array, kernel, boundary, fill_value, nan_treatment, normalize_kernel, mask,
              preserve_nan, normalization_zero_tol, method, workers):
    _check_choice(boundary, "boundary", BOUNDARIES)
    _check_choice(nan_treatment, "nan_treatment", NAN_TREATMENTS)
    _check_choice(method, "method", METHODS)
    fill_value = _real(fill_value, "fill_value")
    normalization_zero_tol = _real(normalization_zero_tol, "normalization_zero_tol")
    normalize_kernel = _check_flag(normalize_kernel, "normalize_kernel")
    preserve_nan = _check_flag(preserve_nan, "preserve_nan")
    workers = resolve_workers(workers)
    kernel = _kernel(kernel)
    data, out_dtype = _data(array, mask)
    if data.ndim > 3:
        raise ValueError(f"array must have 1, 2 or 3 dimensions, got {data.ndim}")
    if kernel.ndim != data.ndim:
        raise ValueError(
            f"kernel must have as many dimensions as array ({data.ndim}), got {kernel.ndim}")
    if data.size == 0:
        raise ValueError(f"array must not be empty, got shape {data.shape}")
    if any(n % 2 == 0 for n in kernel.shape):
        raise ValueError(f"kernel size must be odd along every axis, got shape {kernel.shape}")
    if any(n + k > INDEX_LIMIT for n, k in zip(data.shape, kernel.shape)):
        raise ValueError("array and kernel are too large to index")
    radii = [k // 2 for k in kernel.shape]
    if boundary is None and not all(n > 2 * r for n, r in zip(data.shape, radii)):
        raise ValueError(
            f"with boundary=None every kernel axis must be smaller than the array's "
            f"(kernel {kernel.shape}, array {data.shape}); use boundary 'fill', 'extend' "
            f"or 'wrap' instead")

    kernel_sum = float(kernel.sum())
    interpolate = nan_treatment == "interpolate"
    unnormalizable = (kernel_sum < 1.0 / MAX_NORMALIZATION
                      or math.isclose(kernel_sum, 0.0, abs_tol=normalization_zero_tol))
    if unnormalizable and (interpolate or normalize_kernel):
        # Interpolation needs a normalisable kernel only when there are holes
        # to interpolate (astropy's rule); without any it is a plain convolution.
        if interpolate and (_has_holes(data) or boundary == "fill"
                            and not math.isfinite(fill_value)):
            raise ValueError(
                "nan_treatment='interpolate' requires a kernel that can be normalised, but "
                f"the kernel's sum ({kernel_sum:.3g}) is close to zero or below "
                f"{1.0 / MAX_NORMALIZATION:.2f}; for a zero-sum kernel and data with NaNs, "
                "set nan_treatment='fill'")
        if normalize_kernel:
            raise ValueError(
                f"normalize_kernel=True needs a kernel whose sum is at least "
                f"{1.0 / MAX_NORMALIZATION:.2f}, got {kernel_sum:.3g}; for a zero-sum kernel "
                "set normalize_kernel=False")
        interpolate = False
    holes = ~np.isfinite(data) if preserve_nan else None
    return _Call(data, out_dtype, np.ascontiguousarray(kernel[(slice(None, None, -1),) * kernel.ndim]),
                 kernel_sum, boundary, fill_value, interpolate, normalize_kernel, preserve_nan,
                 holes, workers)


def _has_holes(data):
    return not np.isfinite(data).all()


def _axis_factors(kernel):
    """One 1-D factor per axis whose outer product is ``kernel``, or None if it is not rank 1."""
    long_axes = [a for a, n in enumerate(kernel.shape) if n > 1]
    factors = [np.ones(1) for _ in kernel.shape]
    if len(long_axes) < 2:
        axis = long_axes[0] if long_axes else 0
        factors[axis] = kernel.ravel().copy()
        return factors
    found = rank1_factors(kernel)
    if found is None:
        return None
    for axis, factor in found:
        factors[axis] = np.ascontiguousarray(factor)
    return factors


def _fft_refusal(call):
    """Why the FFT path cannot compute this call, or None."""
    if not call.interpolate and math.isinf(call.fill_value):
        return "holes filled with an infinite fill_value cannot go through FFTs"
    return None


def _choose(call, method):
    """The `NanConvolvePlan` of a validated call."""
    kernel, dtype = call.kernel, call.data.dtype
    # A 1-D kernel's one pass is the dense kernel, which cuts a signal into rows.
    factors = _axis_factors(kernel) if kernel.ndim > 1 else None
    taps = np.count_nonzero(kernel)
    elements = call.data.size
    sums = 2 if call.interpolate else 1
    if factors is not None:
        direct_method = "separable"
        direct_taps = sum(len(f) for f in factors)
        passes = len(factors)
    else:
        direct_method, direct_taps, passes = "dense", taps, 2
    factors = tuple(factors) if factors is not None else None
    if method == "direct":
        return NanConvolvePlan(direct_method, "method='direct'", factors)
    fft_shape = [scipy.fft.next_fast_len(n + 2 * (k // 2), real=True)
                 for n, k in zip(call.data.shape, kernel.shape)]
    points = math.prod(fft_shape)
    transforms = 3 + 2 * (sums - 1)
    fft_cost = transforms * points * math.log2(max(points, 2)) * FFT_SECONDS_PER_NLOGN[dtype]
    refusal = _fft_refusal(call)
    if method == "fft":
        if refusal is not None:
            raise ValueError(f"method='fft' cannot be used: {refusal}; use method='direct'")
        return NanConvolvePlan("fft", "method='fft'")
    if refusal is not None:
        return NanConvolvePlan(direct_method, f"the FFTs cannot: {refusal}", factors)
    # One sum (holes filled) costs about half of the two.
    direct_cost = elements * (passes * PASS_SECONDS[dtype]
                              + sums / 2 * direct_taps * TAP_SECONDS[direct_method][dtype])
    # The kernels scale with the threads; scipy.fft's workers less so.
    direct_cost /= call.workers
    fft_cost /= call.workers ** 0.7
    if fft_cost < direct_cost:
        return NanConvolvePlan("fft", f"the FFTs ({fft_cost:.3g} s) cost less than the "
                                      f"{direct_method} kernel ({direct_cost:.3g} s)")
    return NanConvolvePlan(direct_method, f"the {direct_method} kernel ({direct_cost:.3g} s) "
                                          f"costs less than the FFTs ({fft_cost:.3g} s)",
                           factors)


# nanconvolve's boundaries as the kernels' extension codes.
_BOUNDARY_CODES = {"fill": FILL, "wrap": WRAP, "extend": NEAREST}


def _source_indices(start, count, size, boundary):
    """The input index read at extended positions start .. start + count (-1: the fill)."""
    return line_kernels.source_indices(start, count, size, _BOUNDARY_CODES[boundary])


def _extension_map(size, radius, boundary):
    """The input index read at each extended position -radius .. size + radius (-1: fill)."""
    return _source_indices(-radius, size + 2 * radius, size, boundary)


def _pad(call):
    """(value of a filled position, its weight): the fill when boundary='fill'."""
    if call.interpolate:
        if call.boundary == "fill" and math.isfinite(call.fill_value):
            return call.fill_value, 1.0
        return 0.0, 0.0
    return (call.fill_value if call.boundary == "fill" else 0.0), 0.0


def _hole(call):
    return 0.0 if call.interpolate else call.fill_value


def _scale(call):
    if call.interpolate:
        return 1.0 if call.normalize_kernel else call.kernel_sum
    return 1.0 / call.kernel_sum if call.normalize_kernel else 1.0


def _map_boundary(call):
    # boundary=None keeps only outputs whose window lies inside the array:
    # any extension gives them, and the border is zeroed afterwards.
    return "fill" if call.boundary is None else call.boundary


def _pad_row(call, width):
    """A row of the boundary's fill as raw data: the fill value, or a hole where it is not a
    value (a NaN fill when interpolating; anything for boundary=None)."""
    pad_value, pad_weight = _pad(call)
    return np.full(width, pad_value if pad_weight or not call.interpolate else np.nan,
                   dtype=call.data.dtype)


def _separable(call, plan):
    """A rank-1 kernel: one sweep of column and row passes over each plane (a volume's
    first axis by `leading_pass` before)."""
    data = call.data
    boundary = _map_boundary(call)
    pad_value, pad_weight = _pad(call)
    hole, scale = _hole(call), _scale(call)
    factors = list(plan.factors)
    out = memory.empty(data.shape, data.dtype)
    planes = data.reshape((-1,) + data.shape[-2:])
    values, weights, raw = planes, planes, True
    pad_rows = np.stack([_pad_row(call, planes.shape[2])] * 2)
    if data.ndim == 3:
        depth, height, width = data.shape
        leading = factors.pop(0)
        values = memory.empty((depth, height * width), data.dtype)
        weights = memory.empty((depth, height * width), data.dtype)
        nan_kernels.leading_pass(
            data.reshape(depth, -1), values, weights, leading,
            _extension_map(depth, leading.size // 2, boundary), _pad_row(call, height * width),
            call.interpolate, hole, call.workers)
        values, weights, raw = values.reshape(data.shape), weights.reshape(data.shape), False
        # A padded position after the first pass: the fill times its taps' sum.
        pad_value, pad_weight = pad_value * leading.sum(), pad_weight * leading.sum()
        pad_rows = np.array([[pad_value] * width, [pad_weight] * width], dtype=data.dtype)
    column_taps, row_taps = factors
    nans = nan_kernels.separable_rows(
        values, weights, planes, out.reshape(planes.shape), column_taps, row_taps,
        _extension_map(planes.shape[1], column_taps.size // 2, boundary),
        _extension_map(planes.shape[2], row_taps.size // 2, boundary), pad_rows, raw,
        call.interpolate, hole, pad_value, pad_weight, scale, call.workers)
    return out, nans


def _extended(call):
    """The data extended by the kernel's radius along every axis, as the boundary says."""
    extended = memory.empty(
        tuple(n + k - 1 for n, k in zip(call.data.shape, call.kernel.shape)), call.data.dtype)
    _extend_in_place(call, extended)
    return extended


# Outputs per work item of a 1-D signal in the dense kernel: rows of this
# length share the threads.
SIGNAL_ROW = 4096


def _tap_mask(call):
    """The taps the sums read: a zero tap adds nothing, except where holes are filled with
    NaN: there 0 * NaN spreads NaN over the kernel's whole box, as in astropy."""
    if not call.interpolate and math.isnan(call.fill_value):
        return np.ones(call.kernel.shape, dtype=bool)
    return call.kernel != 0


def _dense(call, plan):
    """Every tap of the kernel over the data extended by the boundary."""
    data, kernel = call.data, call.kernel
    if data.ndim == 1 and data.size > 2 * kernel.size + SIGNAL_ROW:
        return _dense_signal(call)
    extended = _extended(call)
    strides = [s // extended.itemsize for s in extended.strides]
    taps = np.argwhere(_tap_mask(call))
    offsets = np.ascontiguousarray((taps * strides).sum(axis=1), dtype=np.intp)
    weights = np.ascontiguousarray(kernel[tuple(taps.T)], dtype=np.float64)
    if data.ndim == 1:
        width = SIGNAL_ROW
        row_starts = np.arange(0, data.size, width, dtype=np.intp)
    else:
        width = data.shape[-1]
        leading = np.indices(data.shape[:-1]).reshape(data.ndim - 1, -1).T
        row_starts = np.ascontiguousarray((leading * strides[:-1]).sum(axis=1), dtype=np.intp)
    out = memory.empty(data.shape, data.dtype)
    nans = nan_kernels.dense_rows(
        extended.ravel(), row_starts, offsets, weights, data.ravel(), out.ravel(), width,
        call.interpolate, _hole(call), _scale(call), call.workers)
    return out, nans


def _dense_signal(call):
    """A long 1-D signal: its inside read in place, cut into rows of SIGNAL_ROW outputs, and
    only the ``radius`` outputs at each end from small extended copies."""
    data, kernel = call.data, call.kernel
    radius, size = kernel.size // 2, data.size
    taps = np.flatnonzero(_tap_mask(call))
    weights = np.ascontiguousarray(kernel[taps], dtype=np.float64)
    offsets = taps.astype(np.intp)
    out = memory.empty(data.shape, data.dtype)
    args = (call.interpolate, _hole(call), _scale(call), call.workers)
    inside = slice(radius, size - radius)
    nans = nan_kernels.dense_rows(
        data, np.arange(0, size - 2 * radius, SIGNAL_ROW, dtype=np.intp), offsets, weights,
        data[inside], out[inside], SIGNAL_ROW, *args)
    fill = call.fill_value if call.boundary == "fill" else 0.0
    for first in (0, size - radius):
        # Outputs first .. first + radius read positions first - radius .. + 2 * radius.
        sources = _source_indices(first - radius, 3 * radius, size, _map_boundary(call))
        extended = np.where(sources >= 0, data[np.maximum(sources, 0)], fill).astype(data.dtype)
        part = slice(first, first + radius)
        nans += nan_kernels.dense_rows(
            extended, np.zeros(1, np.intp), offsets, weights, data[part], out[part], radius,
            *args)
    return out, nans


def _kernel_spectrum(kernel, shape, workers):
    """``scipy.fft.rfftn(kernel, shape)``, transforming only the kernel's own rows along the
    last axis before the full-length transforms of the other axes (a 31x31 kernel's
    spectrum at 2160^2: 26 ms against 38 ms for rfftn)."""
    spectrum = scipy.fft.rfft(kernel, shape[-1], axis=-1, workers=workers)
    for axis in range(kernel.ndim - 1):
        spectrum = scipy.fft.fft(spectrum, shape[axis], axis=axis, workers=workers,
                                 overwrite_x=True)
    return spectrum


def _fft_buffer(shape, extents, dtype):
    """An uninitialised array of ``shape`` whose part beyond ``extents`` (the zero padding of
    a transform) is zero, and its leading part of ``extents``."""
    buffer = memory.empty(shape, dtype)
    for axis, extent in enumerate(extents):
        buffer[(slice(None),) * axis + (slice(extent, None),)] = 0
    return buffer, buffer[tuple(slice(0, extent) for extent in extents)]


def _extend_in_place(call, extended):
    """Write the data, extended by the kernel's radius as the boundary says, into
    ``extended`` (its shape is the data's plus twice the radius), one axis after another
    as numpy.pad does."""
    radii = [k // 2 for k in call.kernel.shape]
    extended[tuple(slice(r, r + n) for r, n in zip(radii, call.data.shape))] = call.data
    boundary = _map_boundary(call)
    # boundary=None: the border is zeroed afterwards, so any finite value does.
    fill = call.fill_value if call.boundary == "fill" else 0.0
    for axis, (radius, size) in enumerate(zip(radii, call.data.shape)):
        for part in (slice(0, radius), slice(radius + size, size + 2 * radius)):
            target = (slice(None),) * axis + (part,)
            if boundary == "fill":
                extended[target] = fill
                continue
            sources = _source_indices(part.start - radius, part.stop - part.start, size,
                                      boundary) + radius
            extended[target] = np.take(extended, sources, axis=axis)


def _fft_sums(call, plan):
    """The same sums as the direct kernels, each a 'valid' convolution of the extended data
    by ``scipy.fft`` (complex64 for float32 data), built in place in the transforms'
    zero-padded buffers."""
    dtype = call.data.dtype
    kernel = call.kernel[(slice(None, None, -1),) * call.data.ndim].astype(dtype)
    extents = [n + k - 1 for n, k in zip(call.data.shape, kernel.shape)]
    shape = [scipy.fft.next_fast_len(n, real=True) for n in extents]
    axes = tuple(range(len(shape)))
    values_buffer, values = _fft_buffer(shape, extents, dtype)
    _extend_in_place(call, values)
    valid = np.isfinite(values)
    # Holes filled with NaN spread NaN (as the direct kernels do): they go
    # through the transforms as 0, and their reach is marked afterwards.
    spread_nan = not call.interpolate and math.isnan(call.fill_value)
    np.copyto(values, 0.0 if spread_nan else _hole(call), where=~valid)
    kernel_spectrum = _kernel_spectrum(kernel, shape, call.workers)
    crop = tuple(slice(k - 1, k - 1 + n) for k, n in zip(kernel.shape, call.data.shape))

    def convolved(buffer):
        spectrum = scipy.fft.rfftn(buffer, axes=axes, workers=call.workers)
        spectrum *= kernel_spectrum
        return scipy.fft.irfftn(spectrum, shape, axes=axes, workers=call.workers,
                                overwrite_x=True)[crop]

    top = convolved(values_buffer)
    del values_buffer, values
    scale = np.asarray(_scale(call), dtype=dtype)
    if not call.interpolate:
        out = np.multiply(top, scale, out=memory.empty(top.shape, dtype))
        if spread_nan:
            support = _tap_mask(call)[(slice(None, None, -1),) * kernel.ndim]
            reach = scipy.fft.irfftn(
                scipy.fft.rfftn(~valid, shape, axes=axes, workers=call.workers)
                * scipy.fft.rfftn(support, shape, axes=axes, workers=call.workers),
                shape, axes=axes, workers=call.workers)[crop]
            out[reach > 0.5] = np.nan
        return out, int(np.count_nonzero(np.isnan(out)))
    weights_buffer, weights = _fft_buffer(shape, extents, dtype)
    weights[...] = valid
    del valid, weights
    bottom = convolved(weights_buffer)
    del weights_buffer
    tolerance = (FFT_ZERO_WEIGHT_STEPS * np.finfo(dtype).eps
                 * float(np.abs(call.kernel).sum()))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(top, bottom, out=memory.empty(top.shape, dtype))
    empty = np.abs(bottom) <= tolerance
    nans = 0
    if empty.any():
        centre = call.data[empty]
        centre[~np.isfinite(centre)] = np.nan
        out[empty] = centre
        nans = int(np.count_nonzero(np.isnan(centre)))
    if scale != 1:
        out *= scale
    return out, nans


_RUNNERS = {"separable": _separable, "dense": _dense, "fft": _fft_sums}


def _compute(call, method):
    """The convolution of a validated call by the planned algorithm, and its number of NaN
    outputs (before ``boundary=None``'s zero border and ``preserve_nan``)."""
    plan = _choose(call, method)
    return _RUNNERS[plan.method](call, plan)


def nanconvolve_plan(array, kernel, boundary="fill", fill_value=0.0,
                     nan_treatment="interpolate", normalize_kernel=True, mask=None,
                     preserve_nan=False, normalization_zero_tol=1e-08, *, method="auto",
                     workers=None):
    """The algorithm `nanconvolve` runs for these arguments, and why.

    Takes `nanconvolve`'s arguments and validates them as it does.

    Returns
    -------
    NanConvolvePlan
        ``method`` is 'separable', 'dense' or 'fft'; printing it gives the reason.

    Examples
    --------
    >>> import numpy as np
    >>> import cyconv
    >>> image = np.ones((64, 64))
    >>> print(cyconv.nanconvolve_plan(image, np.ones((5, 5))).method)
    separable
    """
    call = _validate(array, kernel, boundary, fill_value, nan_treatment, normalize_kernel,
                     mask, preserve_nan, normalization_zero_tol, method, workers)
    return _choose(call, method)


def nanconvolve(array, kernel, boundary="fill", fill_value=0.0, nan_treatment="interpolate",
                normalize_kernel=True, mask=None, preserve_nan=False,
                normalization_zero_tol=1e-08, *, method="auto", workers=None):
    """Convolve data that has holes (NaN, inf, masked values), filling them from their
    neighbours: `astropy.convolution.convolve`'s semantics, multithreaded.

    With ``nan_treatment='interpolate'`` each output is the kernel-weighted mean of
    the valid values under the kernel, ``sum(k * v) / sum(k)`` over valid ``v``
    only (normalised convolution), so a hole smaller than the kernel is filled
    and data next to a hole are not biased towards zero.

    Parameters
    ----------
    array : array_like
        1-, 2- or 3-D data.  NaN and +-inf are holes.  A masked array's masked
        values are holes.  Integer and boolean data are computed in float64.
    kernel : array_like
        The convolution kernel, as many dimensions as ``array``, odd sizes
        along every axis, finite values.  Anything `numpy.asarray` accepts,
        astropy ``Kernel`` objects included.
    boundary : {'fill', 'wrap', 'extend', None}, optional
        Values beyond the edges: ``fill_value`` ('fill', the default); the
        array repeated periodically ('wrap'); the nearest edge value
        ('extend'); or None: outputs whose kernel reaches beyond an edge are
        0 (each kernel axis must then be smaller than the array's).
    fill_value : float, optional
        The value beyond the edges for ``boundary='fill'`` (NaN makes the
        edges holes, so edge outputs are interpolated from inside the array),
        and the value holes are replaced with for ``nan_treatment='fill'``.
    nan_treatment : {'interpolate', 'fill'}, optional
        'interpolate' (default): holes are left out of the sums and every
        output is normalised by the kernel weight of its valid values; a
        kernel whose sum is close to zero (below 0.01 or within
        ``normalization_zero_tol`` of it) raises ValueError when there are
        holes.  'fill': holes are replaced by ``fill_value`` before a plain
        convolution.
    normalize_kernel : bool, optional
        Divide the kernel by its sum (default True).  With False and
        'interpolate', outputs are scaled back by the kernel's sum.
    mask : array_like, optional
        Same shape as ``array``; non-zero entries are holes (together with the
        masked values of a masked array).
    preserve_nan : bool, optional
        Set the outputs at holes back to NaN after the convolution.
    normalization_zero_tol : float, optional
        Absolute tolerance under which the kernel's sum counts as zero.
    method : {'auto', 'direct', 'fft'}, optional
        'direct' sums the taps (a rank-1 kernel as one pass per axis, in a
        single sweep over the data); 'fft' computes the same value and weight
        sums through `scipy.fft` (the interpolation of
        ``astropy.convolution.convolve_fft``), in complex64 for float32 data;
        'auto' (default) picks the cheaper by a cost model
        (`nanconvolve_plan` shows the choice).  With 'fft', an output whose
        valid weight is within 1000 rounding steps of zero counts as having
        no valid neighbour; 'fft' refuses ``nan_treatment='fill'`` with an
        infinite ``fill_value``.
    workers : int, optional
        Threads for the kernels and for `scipy.fft`; the default is OpenMP's
        maximum.  The result does not depend on it.

    Returns
    -------
    ndarray
        The convolution, of the array's shape.  Floating inputs keep their
        dtype (float16 and float32 are computed in float32, long double in
        float64); others give float64.

    Warns
    -----
    NanConvolveWarning
        With 'interpolate' and ``preserve_nan=False``, when some output has
        no valid value under the kernel (a hole larger than the kernel): it
        is NaN.

    Raises
    ------
    ValueError
        An unknown ``boundary``, ``nan_treatment`` or ``method``; an empty
        array or more than 3 dimensions; a kernel of even size, with NaN or
        inf, of another dimensionality or masked; a kernel that cannot be
        normalised (see above); a ``mask`` of another shape.
    TypeError
        Complex or non-numeric ``array`` or ``kernel``, a non-real
        ``fill_value``, non-boolean flags.

    Notes
    -----
    Differences from astropy, on purpose: an inf is a hole (astropy's
    ``convolve`` spreads it, its ``convolve_fft`` treats it as a hole; astropy
    #8099); kernels with NaN or inf are refused rather than spreading NaN;
    float32 data are computed in float32 (astropy computes in float64 and
    rounds, so results differ by float32 rounding); ``method='fft'`` gives
    ``boundary`` and holes with no valid neighbour the same meaning as the
    direct method (``convolve_fft`` treats ``None`` as 'fill', has no
    'extend' and returns 0 there); the result is always an ndarray (astropy
    returns a ``Kernel`` when both arguments are kernels) and the warning is
    a `NanConvolveWarning`, not an ``AstropyUserWarning``.

    Examples
    --------
    >>> import numpy as np
    >>> import cyconv
    >>> cyconv.nanconvolve([1.0, np.nan, 3.0], [1, 1, 1])
    array([0.5, 2. , 1.5])
    >>> cyconv.nanconvolve([1.0, np.nan, 3.0], [1, 1, 1], boundary='extend')
    array([1., 2., 3.])
    >>> cyconv.nanconvolve([1.0, np.nan, 3.0], [1, 1, 1], nan_treatment='fill')
    array([0.33333333, 1.33333333, 1.        ])
    """
    call = _validate(array, kernel, boundary, fill_value, nan_treatment, normalize_kernel,
                     mask, preserve_nan, normalization_zero_tol, method, workers)
    out, nans = _compute(call, method)
    if call.boundary is None:
        interior = tuple(slice(k // 2, n - k // 2) for n, k in zip(out.shape, call.kernel.shape))
        border = np.ones(out.shape, dtype=bool)
        border[interior] = False
        out[border] = 0
        nans = int(np.count_nonzero(np.isnan(out[interior])))
    if call.interpolate and not call.preserve_nan and nans:
        warnings.warn(
            f"{nans} outputs have no valid value under the kernel and are NaN: a region of "
            "holes larger than the kernel; use a larger kernel to fill it",
            NanConvolveWarning, stacklevel=2)
    if call.preserve_nan:
        out[call.holes] = np.nan
    return out.astype(call.out_dtype, copy=False)
