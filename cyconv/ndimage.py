"""scipy.ndimage's linear filters, drop-in: N-D, multithreaded, SIMD.

``from cyconv import ndimage`` in place of ``from scipy import ndimage``:
every function takes scipy's arguments (plus the keyword-only ``workers``)
and returns what scipy returns, for images, stacks and volumes of any number
of dimensions.

How a call is computed:

* Floating outputs (float32, float64, and complex ones by their real and
  imaginary parts) are computed in the output's type by cyconv's
  register-tiled correlation kernels, N-D as sums of 2-D correlations over
  the last two axes, in parallel over blocks of rows of every output plane.
  Results equal scipy's to the rounding of the output type.  Kernels that
  are outer products of 1-D kernels are found and run as one pass per axis
  when that is cheaper (`cyconv._filter_plan`).
* Integer and boolean outputs truncate a float64 sum, so they are computed
  in float64 in scipy's own order of operations, without fused multiply-adds
  (``lines.pyx``, and the baseline correlation kernels for N-D kernels):
  integer results equal scipy's exactly.
* The uniform filter is scipy's running sum, in float64, for every type: its
  cost does not grow with the window, and its results are scipy's to the bit.
* As in scipy, multi-pass filters (Gaussian, uniform, Sobel, Prewitt) store
  each pass in the output type, and weights no larger than the float64
  epsilon are left out of an N-D correlation, so a NaN or inf under a zero
  weight does not reach the output (such data take scipy's order).

Two deliberate differences, where scipy's result is undefined:

* With mode 'reflect' (or 'grid-mirror'), a kernel that reaches four or more
  times an axis's length beyond its start makes scipy's N-D ``correlate`` and
  ``convolve`` read memory outside the array; cyconv keeps reflecting (the
  value of scipy's own ``correlate1d``).
* Values that C's cast to an integer type leaves undefined (NaN, inf, and
  values beyond int64 into unsigned outputs) are numpy's cast here; within
  int64 every integer output wraps as scipy's compiled cast does.
"""
import math
import numbers
import operator
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from cyconv import _filter_plan, _simd
from cyconv._config import resolve_workers
from cyconv._correlate import direct_correlate
from cyconv._fft import FILL, MIRROR, NEAREST, SYMM, WRAP, extend, fft_correlate
from cyconv._kernels import correlate as _baseline_kernels
from cyconv._kernels import memory
from cyconv._validation import all_finite

__all__ = [
    "convolve",
    "convolve1d",
    "correlate",
    "correlate1d",
    "gaussian_filter",
    "gaussian_filter1d",
    "gaussian_gradient_magnitude",
    "gaussian_laplace",
    "laplace",
    "prewitt",
    "sobel",
    "uniform_filter",
    "uniform_filter1d",
]

# scipy.ndimage's modes for filters ('grid-*' act as their plain twins there).
_MODES = {
    "reflect": SYMM, "grid-mirror": SYMM, "mirror": MIRROR, "nearest": NEAREST,
    "wrap": WRAP, "grid-wrap": WRAP, "constant": FILL, "grid-constant": FILL,
}
# Below this many multiply-adds a second thread costs more than it saves.
PARALLEL_MIN_MACS = 200_000
_FAST_TYPES = (np.dtype(np.float32), np.dtype(np.float64))
_KERNEL_TYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


# --------------------------------------------------------------------------
# scipy.ndimage's argument rules (scipy/ndimage/_ni_support.py, _filters.py)
# --------------------------------------------------------------------------

def _mode_code(mode):
    if isinstance(mode, str) and mode in _MODES:
        return _MODES[mode]
    raise RuntimeError(f"boundary mode not supported: {mode!r}")


def _normalize_sequence(value, rank, name):
    """A scalar repeated ``rank`` times, or a sequence of exactly ``rank`` items."""
    if not isinstance(value, str) and np.iterable(value):
        items = list(value)
        if len(items) != rank:
            raise RuntimeError(
                f"{name}: sequence argument must have length equal to input rank "
                f"({len(items)} given, {rank} expected)")
        return items
    return [value] * rank


def _check_axes(axes, ndim):
    if axes is None:
        return tuple(range(ndim))
    if np.isscalar(axes):
        axes = (operator.index(axes),)
    elif isinstance(axes, Iterable):
        axes = tuple(operator.index(axis) for axis in axes)
        for axis in axes:
            if not -ndim <= axis <= ndim - 1:
                raise ValueError(f"axes: axis {axis} is out of range for {ndim} dimensions")
        axes = tuple(axis % ndim for axis in axes)
    else:
        raise ValueError("axes must be an integer, iterable of integers, or None")
    if len(set(axes)) != len(axes):
        raise ValueError(f"axes must be unique, got {axes}")
    return axes


def _normalize_axis(axis, ndim):
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def _get_output(output, input, complex_output=False):
    """The output array scipy's ``_get_output`` would give.

    New outputs are uninitialised (every element is written) and come from
    ``memory.empty``, whose freed blocks are reused: a fresh 32 MiB output
    costs thousands of page faults, as long as a 3x3 filter of it.
    """
    shape = input.shape
    if output is None:
        dtype = np.dtype(input.dtype.name)
        if complex_output:
            dtype = np.promote_types(input.dtype, np.complex64)
        return memory.empty(shape, dtype)
    if isinstance(output, (type, np.dtype)):
        if complex_output and np.dtype(output).kind != "c":
            warnings.warn("promoting specified output dtype to complex", stacklevel=4)
            output = np.promote_types(output, np.complex64)
        return memory.empty(shape, np.dtype(output))
    if isinstance(output, str):
        dtype = np.dtype(output)
        if complex_output and dtype.kind != "c":
            raise RuntimeError("output must have complex dtype")
        if not issubclass(dtype.type, np.number):
            raise RuntimeError("output must have numeric dtype")
        return memory.empty(shape, dtype)
    output = np.asarray(output)
    if output.shape != shape:
        raise RuntimeError(f"output shape not correct: {output.shape}, expected {shape}")
    if complex_output and output.dtype.kind != "c":
        raise RuntimeError("output must have complex dtype")
    return output


def _check_type(dtype, name):
    """The types scipy.ndimage's C code takes (bool, integers, float32, float64)."""
    if dtype.kind not in "biuf" or dtype.itemsize > 8 or dtype == np.float16:
        raise RuntimeError(f"{name}: array type not supported: {dtype}")


def _as_cval(cval):
    if isinstance(cval, (str, bytes, complex)) or cval is None:
        raise TypeError(f"cval must be a real number, not {type(cval).__name__}")
    return float(np.real(cval))


def _as_origin(origin, size, name="origin"):
    """An origin as scipy checks it: within -(size // 2) .. (size - 1) // 2, an integer."""
    if origin < -(size // 2) or origin > (size - 1) // 2:
        raise ValueError(f"Invalid {name}; origin must satisfy -(weights.shape[k] // 2) "
                         f"<= origin[k] <= (weights.shape[k]-1) // 2, got {origin} for "
                         f"a size of {size}")
    if isinstance(origin, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, not bool")
    try:
        return operator.index(origin)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(origin).__name__}") from None


def _complex_via_real_components(function, input, weights, output, cval, **kwargs):
    """A complex filter as the linear combination of real ones (as scipy computes it)."""
    complex_input = input.dtype.kind == "c"
    complex_weights = weights.dtype.kind == "c"
    if complex_input and complex_weights:
        function(input.real, weights.real, output=output.real, cval=np.real(cval), **kwargs)
        output.real -= function(input.imag, weights.imag, output=None, cval=np.imag(cval),
                                **kwargs)
        function(input.real, weights.imag, output=output.imag, cval=np.real(cval), **kwargs)
        output.imag += function(input.imag, weights.real, output=None, cval=np.imag(cval),
                                **kwargs)
    elif complex_input:
        function(input.real, weights, output=output.real, cval=np.real(cval), **kwargs)
        function(input.imag, weights, output=output.imag, cval=np.imag(cval), **kwargs)
    else:
        if np.iscomplexobj(cval):
            raise ValueError("Cannot provide a complex-valued cval when the input is real.")
        function(input, weights.real, output=output.real, cval=cval, **kwargs)
        function(input, weights.imag, output=output.imag, cval=cval, **kwargs)
    return output


# --------------------------------------------------------------------------
# The engine: a list of passes from the input into the output
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Step:
    """One pass of a filter, named after the scipy routine whose arithmetic it has.

    ``kind`` is 'dense' (NI_Correlate: an N-D kernel, zero weights left out),
    'line' (NI_Correlate1D along ``axis``) or 'uniform' (NI_UniformFilter1D,
    a running mean of ``size`` along ``axis``).  ``weights`` has one axis per
    data axis; along axis ``a``, output ``i`` reads extended position
    ``i + offsets[a] + k`` for weight index ``k``, extended by ``modes[a]``
    with ``fill``.
    """

    kind: str
    weights: np.ndarray
    offsets: tuple
    modes: tuple
    fill: float
    axis: int = -1
    size: int = 0


def _line_step(kind, ndim, axis, weights, origin, mode, cval, size=0):
    axis = _normalize_axis(axis, ndim)
    shape = [1] * ndim
    shape[axis] = weights.size
    offsets = [0] * ndim
    offsets[axis] = -(weights.size // 2) - origin
    modes = [FILL] * ndim
    modes[axis] = mode
    return _Step(kind, weights.reshape(shape), tuple(offsets), tuple(modes), cval, axis, size)


def _planes(array):
    """The (planes, rows, columns) view of a C-contiguous array, and its N-D shape (>= 2-D)."""
    shape = (1,) * (2 - array.ndim) + array.shape
    return array.reshape((-1,) + shape[-2:]), shape


def _correlate_dense(kernels, source, weights, offsets, modes, fill, target, threads):
    """target = the N-D correlation of ``source`` (C-contiguous, target's dtype)."""
    planes, shape = _planes(source)
    ndim = len(shape)
    pad = ndim - source.ndim
    kernel = np.ascontiguousarray(weights, dtype=source.dtype).reshape(
        (1,) * pad + weights.shape)
    kernel_planes, kernel_shape = _planes(kernel)
    target_planes, _ = _planes(target)
    if kernels is _simd.correlate_kernels and planes.shape[0] == kernel_planes.shape[0] == 1 \
            and 1 in kernel_shape[-2:]:
        # Long signals and narrow columns have their own routes (see
        # cyconv._correlate); the axis the kernel does not reach reads no
        # extension, so the other axis's mode serves both.
        mode = modes[-1] if kernel_shape[-2] == 1 else modes[-2]
        direct_correlate(planes[0], kernel_planes[0], shape[-2:], ((0,) * pad + tuple(offsets))[-2:],
                     mode, fill, threads, out=target_planes[0])
        return
    kernels.correlate[_KERNEL_TYPE[source.dtype]](
        planes, kernel_planes, target_planes, shape, shape, kernel_shape,
        (0,) * pad + tuple(offsets), (FILL,) * pad + tuple(modes),
        np.full(1, fill, dtype=source.dtype), threads)


def _dense_leaving_out_zeros(source, step):
    """NI_Correlate's sum over the non-zero weights in C order, in float64.

    Used where the data hold NaN or inf and the kernel has zero weights:
    scipy never multiplies those, the tiled kernels multiply every tap.
    """
    extended = extend(np.asarray(source, dtype=np.float64), source.shape, step.weights.shape,
                      step.offsets, step.modes, step.fill)
    total = np.zeros(source.shape, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        for index in zip(*np.nonzero(step.weights)):
            window = tuple(slice(k, k + n) for k, n in zip(index, source.shape))
            total += step.weights[index] * extended[window]
    return total


def _finite(source, steps):
    """Whether ``source`` and the value beyond its edges in ``steps`` are all finite."""
    return all_finite(*[step.fill for step in steps if FILL in step.modes], source)


def _has_zero_weights(step):
    return step.kind == "dense" and (step.weights == 0).any()


def _line_pass(source, step, target, threads):
    """A 'line' or 'uniform' step in scipy's order of operations (lines.pyx).

    'line' steps take float64 data; 'uniform' steps float32 or float64.
    """
    axis = step.axis
    shape = source.shape
    view_shape = (math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:]))
    source, target = source.reshape(view_shape), target.reshape(view_shape)
    kernels = _simd.line_kernels
    if step.kind == "uniform":
        kernels.uniform_pass(source, target, step.size, step.offsets[axis], step.modes[axis],
                             step.fill, threads)
    else:
        kernels.correlate_pass(source, target, np.ascontiguousarray(step.weights.reshape(-1)),
                               step.offsets[axis], step.modes[axis], step.fill, threads)


def _store(target, result):
    """target[...] = result with the (type)value cast of scipy's C (gcc, x86-64).

    Truncation toward zero, and wrapping modulo the width of the target type
    for every value within int64 (a uint32 target keeps the low 32 bits of
    the int64 conversion, as gcc compiles the cast).  Values outside int64,
    NaN and inf are undefined behaviour in C; numpy's cast is taken there.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        if target.dtype.kind == "u" and target.dtype.itemsize >= 4:
            within = ~(result >= 2.0 ** 63)
            wrapped = np.where(within, result, 0).astype(np.int64).astype(target.dtype)
            np.copyto(target, np.where(within, wrapped, result.astype(target.dtype)))
        else:
            np.copyto(target, result, casting="unsafe")


def _run_exact(source, steps, output, threads):
    """Every pass in float64 in scipy's order, each cast and stored into ``output``.

    For integer and boolean outputs, and for floating data that a faster
    order would change (see `_run_fast`).  Boolean arrays are read and
    written as their bytes, as scipy's C reads and writes ``npy_bool``.
    """
    target = output.view(np.uint8) if output.dtype == np.bool_ else output
    if source.dtype == np.bool_:
        source = source.view(np.uint8)
    result = memory.empty(output.shape, np.float64)
    for step in steps:
        values = np.ascontiguousarray(source, dtype=np.float64)
        if _has_zero_weights(step) and not _finite(values, [step]):
            result[...] = _dense_leaving_out_zeros(values, step)
        elif step.kind == "dense":
            _correlate_dense(_baseline_kernels, values, step.weights, step.offsets, step.modes,
                             step.fill, result, threads)
        else:
            _line_pass(values, step, result, threads)
        _store(target, result)
        source = target


class _Dense(NamedTuple):
    """A correlation pass of the tiled kernels (see `_Step` for the fields)."""

    weights: np.ndarray
    offsets: tuple
    modes: tuple
    fill: float

    def along(self):
        """The one axis the pass runs along, or None."""
        axes = [a for a, n in enumerate(self.weights.shape) if n > 1]
        return axes[0] if len(axes) == 1 else None


class _FFT(NamedTuple):
    """A dense pass computed by FFT, tile by tile (`cyconv._fft.fft_correlate`)."""

    weights: np.ndarray
    offsets: tuple
    modes: tuple
    fill: float
    tiling: object


class _Fused(NamedTuple):
    """A pass along the rows and one along the columns, a block of rows at a time."""

    rows: _Dense
    columns: _Dense


def _fast_passes(steps, source, dtype, threads):
    """The steps as `_Dense` passes of the tiled kernels, `_Step` running sums, `_Fused` pairs.

    A dense step with a rank-1 kernel may split into one pass per axis (its
    plan), each keeping the step's offset along its own axis only; beyond
    the edges of a later pass the earlier ones have turned the constant
    ``fill`` into ``fill`` times the sum of their weights.  A uniform step
    keeps scipy's running sum where the cost model says it is cheaper than
    the tiled taps.  A pass along the rows followed by one along the columns
    becomes one `_Fused` pass, which saves a round trip through memory.
    """
    passes = []
    for step in steps:
        if step.kind == "uniform":
            inner = math.prod(source.shape[step.axis + 1:])
            if _filter_plan.prefer_running_sum(dtype, step.size, inner):
                passes.append(step)
            else:
                passes.append(_Dense(np.full(step.weights.shape, 1.0 / step.size),
                                     step.offsets, step.modes, step.fill))
        elif step.kind == "line":
            passes.append(_Dense(step.weights, step.offsets, step.modes, step.fill))
        else:
            plan = _filter_plan.plan_correlate(step.weights, source.shape, dtype,
                                               threads=threads, fft=True,
                                               finite=lambda: _finite(source, [step]))
            if plan.method == "fft":
                passes.append(_FFT(step.weights, step.offsets, step.modes, step.fill,
                                   plan.tiling))
                continue
            fill = step.fill
            for part in plan.passes:
                offsets = tuple(offset if n > 1 else 0
                                for offset, n in zip(step.offsets, part.weights.shape))
                passes.append(_Dense(part.weights, offsets, step.modes, fill))
                fill *= float(part.weights.sum())
    fused = []
    for entry in passes:
        last = fused[-1] if fused else None
        if (source.ndim >= 2 and isinstance(entry, _Dense) and isinstance(last, _Dense)
                and last.along() == source.ndim - 2 and entry.along() == source.ndim - 1):
            fused[-1] = _Fused(last, entry)
        else:
            fused.append(entry)
    return fused


def _correlate_fused(source, pair, target, threads):
    dtype = source.dtype
    shape = source.shape
    planes = (-1,) + shape[-2:]
    _simd.correlate_kernels.correlate_separable[_KERNEL_TYPE[dtype]](
        source.reshape(planes), np.ascontiguousarray(pair.rows.weights.reshape(-1), dtype),
        np.ascontiguousarray(pair.columns.weights.reshape(-1), dtype), target.reshape(planes),
        pair.rows.offsets[-2], pair.columns.offsets[-1], pair.rows.modes[-2],
        pair.columns.modes[-1], np.array([pair.rows.fill, pair.columns.fill], dtype), threads)


def _run_fast(source, steps, output, threads):
    """Floating outputs: the passes in the output's type, in ``output`` and one buffer.

    The tiled kernels sum in another order than scipy, which only changes
    rounding while the data are finite.  Where a NaN or inf meets a zero
    weight (which scipy leaves out) or a uniform filter (whose running sum
    scipy lets turn the rest of a line into NaN), scipy's order is taken.
    """
    dtype = output.dtype.newbyteorder("=")
    source = np.ascontiguousarray(source, dtype=dtype)
    passes = _fast_passes(steps, source, dtype, threads)
    # Uniform steps kept as running sums stay `_Step` entries; the others are taps now.
    tiled_uniform = (sum(step.kind == "uniform" for step in steps)
                     > sum(isinstance(entry, _Step) for entry in passes))
    if (any(_has_zero_weights(step) for step in steps) or tiled_uniform) and \
            not _finite(source, steps):
        _run_exact(source, steps, output, threads)
        return
    direct = (output.dtype == dtype and output.flags.c_contiguous
              and not np.may_share_memory(output, source))
    final = output if direct else memory.empty(source.shape, dtype)
    spare = memory.empty(source.shape, dtype) if len(passes) > 1 else None
    kernels = _simd.correlate_kernels
    for index, entry in enumerate(passes):
        target = final if (len(passes) - 1 - index) % 2 == 0 else spare
        if isinstance(entry, _Step):
            _line_pass(source, entry, target, threads)
        elif isinstance(entry, _Fused):
            _correlate_fused(source, entry, target, threads)
        elif isinstance(entry, _FFT):
            fft_correlate(source, entry.weights.astype(dtype), source.shape, entry.offsets,
                          entry.modes, entry.fill, threads, entry.tiling, out=target)
        else:
            _correlate_dense(kernels, source, *entry, target, threads)
        source = target
    if not direct:
        np.copyto(output, final, casting="unsafe")


def _filter(input, steps, output, workers):
    """Run ``steps`` from ``input`` into the array ``output`` (scipy's storage rules)."""
    _check_type(input.dtype, "input")
    _check_type(output.dtype, "output")
    threads = resolve_workers(workers)
    if input.size == 0:
        return output
    if not steps:
        output[...] = input
        return output
    macs = input.size * sum(step.weights.size for step in steps)
    if macs < PARALLEL_MIN_MACS:
        threads = 1
    if output.dtype in _FAST_TYPES or output.dtype.newbyteorder("=") in _FAST_TYPES:
        _run_fast(input, steps, output, threads)
    else:
        _run_exact(input, steps, output, threads)
    return output


# --------------------------------------------------------------------------
# The public functions
# --------------------------------------------------------------------------

_DOCS = {
    "input": """input : array_like
        The input array, of any number of dimensions.""",
    "axis": """axis : int, optional
        The axis of `input` along which to filter. Default is -1.""",
    "output": """output : array or dtype, optional
        The array in which to place the output (it may be `input` itself), or
        the dtype of the returned array. By default an array of the same
        dtype as `input` is created.""",
    "mode": """mode : {'reflect', 'constant', 'nearest', 'mirror', 'wrap', 'grid-constant', \
'grid-mirror', 'grid-wrap'}, optional
        How `input` is extended beyond its edges (default 'reflect'):
        'reflect' (d c b a | a b c d | d c b a), 'mirror' (d c b | a b c d |
        c b a), 'nearest' (a a a | a b c d | d d d), 'wrap' (a b c d | a b c d
        | a b c d), 'constant' (k k k | a b c d | k k k, with k = `cval`);
        'grid-mirror', 'grid-wrap' and 'grid-constant' are 'reflect', 'wrap'
        and 'constant'.""",
    "mode_multiple": """mode : str or sequence of str, optional
        How `input` is extended beyond its edges, as for `correlate`
        (default 'reflect'); a sequence gives one mode per filtered axis.""",
    "cval": """cval : scalar, optional
        The value beyond the edges for mode 'constant'. Default is 0.0.""",
    "origin": """origin : int, optional
        Shifts the filter: 0 (default) centres it, positive values shift it
        to the left. Must lie within ``-(size // 2) .. (size - 1) // 2``.""",
    "origin_multiple": """origin : int or sequence of int, optional
        Shifts the filter along each filtered axis, as for `correlate1d`.""",
    "workers": """workers : int, optional
        Threads to use. ``None`` (default) is OpenMP's current maximum (so
        ``OMP_NUM_THREADS`` and threadpoolctl apply); a negative value counts
        back from the number of CPUs (``-1`` = all); ``0`` is an error.""",
}


def _documented(function):
    function.__doc__ = function.__doc__.format(**_DOCS)
    return function


@_documented
def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0, *,
                workers=None):
    """Correlate along one axis: a drop-in for `scipy.ndimage.correlate1d`.

    ``out[..., i, ...] = sum_k weights[k] * ext(input)[..., i + k - len(weights) // 2
    - origin, ...]`` along `axis`, where ``ext`` extends `input` by `mode`.

    Parameters
    ----------
    {input}
    weights : array_like
        1-D sequence of weights (conjugated if complex).
    {axis}
    {output}
    {mode}
    {cval}
    {origin}
    {workers}

    Returns
    -------
    result : ndarray
        The correlation, of `input`'s shape (`output` itself if it is an array).

    Examples
    --------
    >>> from cyconv import ndimage
    >>> ndimage.correlate1d([2, 8, 0, 4, 1, 9, 9, 0], weights=[1, 3])
    array([ 8, 26,  8, 12,  7, 28, 36,  9])
    """
    input = np.asarray(input)
    weights = np.asarray(weights)
    if input.dtype.kind == "c" or weights.dtype.kind == "c":
        if weights.dtype.kind == "c":
            weights = weights.conj().astype(np.complex128, copy=False)
        output = _get_output(output, input, complex_output=True)
        return _complex_via_real_components(correlate1d, input, weights, output, cval,
                                            axis=axis, mode=mode, origin=origin,
                                            workers=workers)
    output = _get_output(output, input)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or weights.shape[0] < 1:
        raise RuntimeError("no filter weights given")
    axis = _normalize_axis(axis, input.ndim)
    origin = _as_origin(origin, weights.shape[0])
    step = _line_step("line", input.ndim, axis, weights, origin, _mode_code(mode),
                      _as_cval(cval))
    return _filter(input, [step], output, workers)


@_documented
def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0, *,
               workers=None):
    """Convolve along one axis: a drop-in for `scipy.ndimage.convolve1d`.

    `correlate1d` with the weights reversed (and the origin mirrored, so that
    even-sized kernels are placed as scipy places them).

    Parameters
    ----------
    {input}
    weights : array_like
        1-D sequence of weights.
    {axis}
    {output}
    {mode}
    {cval}
    {origin}
    {workers}

    Returns
    -------
    result : ndarray
        The convolution, of `input`'s shape.

    Examples
    --------
    >>> from cyconv import ndimage
    >>> ndimage.convolve1d([2, 8, 0, 4, 1, 9, 9, 0], weights=[1, 3])
    array([14, 24,  4, 13, 12, 36, 27,  0])
    """
    weights = np.asarray(weights)[::-1]
    origin = -origin
    if not weights.shape[0] & 1:
        origin -= 1
    if weights.dtype.kind == "c":
        weights = weights.conj()
    return correlate1d(input, weights, axis, output, mode, cval, origin, workers=workers)


def _correlate_or_convolve(input, weights, output, mode, cval, origin, convolution, axes,
                           workers):
    input = np.asarray(input)
    weights = np.asarray(weights)
    if input.dtype.kind == "c" or weights.dtype.kind == "c":
        if weights.dtype.kind == "c" and not convolution:
            weights = weights.conj()
        output = _get_output(output, input, complex_output=True)
        return _complex_via_real_components(
            _correlate_or_convolve_real, input, weights, output, cval, mode=mode,
            origin=origin, convolution=convolution, axes=axes, workers=workers)
    return _correlate_or_convolve_real(input, weights, output, mode, cval, origin,
                                       convolution, axes, workers)


def _correlate_or_convolve_real(input, weights, output=None, mode="reflect", cval=0.0,
                                origin=0, convolution=False, axes=None, workers=None):
    input = np.asarray(input)
    axes = _check_axes(axes, input.ndim)
    weights = np.asarray(weights, dtype=np.float64)
    if len(axes) < input.ndim:
        if weights.ndim != len(axes):
            raise RuntimeError(f"weights.ndim ({weights.ndim}) must match len(axes) "
                               f"({len(axes)})")
        weights = np.expand_dims(weights, tuple(a for a in range(input.ndim) if a not in axes))
    origins = _normalize_sequence(origin, len(axes), "origin")
    if len(axes) < input.ndim:
        expanded = [0] * input.ndim
        for value, axis in zip(origins, axes):
            expanded[axis] = value
        origins = expanded
    # As scipy: only the kernel's non-empty axes count against the input's.
    lengths = [n for n in weights.shape if n > 0]
    if len(lengths) != input.ndim:
        raise RuntimeError(f"weights.ndim ({len(lengths)}) must match len(axes) ({len(axes)})")
    if convolution:
        weights = weights[(slice(None, None, -1),) * weights.ndim]
        origins = [-value - (1 - n % 2) for value, n in zip(origins, weights.shape)]
    origins = [_as_origin(value, n) for value, n in zip(origins, lengths)]
    output = _get_output(output, input)
    if not isinstance(mode, str) and isinstance(mode, Iterable):
        raise RuntimeError("A sequence of modes is not supported")
    code = _mode_code(mode)
    cval = _as_cval(cval)
    if weights.size == 0:
        # scipy's sum over an empty kernel: zero everywhere.
        _check_type(input.dtype, "input")
        _check_type(output.dtype, "output")
        output[...] = 0
        return output
    if input.ndim == 0:
        # No axis to slide along: the element times the one weight.
        step = _Step("dense", _filter_plan.significant(weights.reshape(1)), (0,), (code,), cval)
        _filter(input.reshape(1), [step], output.reshape(1), workers)
        return output
    step = _Step("dense", _filter_plan.significant(weights),
                 tuple(-(n // 2) - value for n, value in zip(weights.shape, origins)),
                 (code,) * input.ndim, cval)
    return _filter(input, [step], output, workers)


@_documented
def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None,
              workers=None):
    """Multidimensional correlation: a drop-in for `scipy.ndimage.correlate`.

    ``out[i] = sum_k weights[k] * ext(input)[i + k - shape // 2 - origin]`` over
    every index ``k`` of `weights`.  A stack of images is filtered in one call
    by giving `axes` (or size-1 axes in `weights`).  Kernels that are outer
    products of 1-D kernels run as 1-D passes when that is cheaper.

    Parameters
    ----------
    {input}
    weights : array_like
        The kernel, with as many axes as `input` (or as `axes`).
    {output}
    {mode}
    {cval}
    {origin_multiple}
    axes : tuple of int or None, optional
        The axes of `input` that `weights` spans; None (default) is all.
    {workers}

    Returns
    -------
    result : ndarray
        The correlation, of `input`'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import ndimage
    >>> a = np.arange(25).reshape(5, 5)
    >>> ndimage.correlate(a, np.ones((3, 3)) / 9)[1:4, 1:4]
    array([[ 5,  6,  8],
           [11, 12, 13],
           [15, 17, 18]])

    Integer outputs truncate the float64 sum exactly as scipy does
    (``54 * (1/9)`` sums to just below 6).

    A stack of 10 images, each correlated with the same 2-D kernel:

    >>> stack = np.random.default_rng(0).random((10, 64, 64), dtype=np.float32)
    >>> edges = ndimage.correlate(stack, [[1, 0, -1], [2, 0, -2], [1, 0, -1]], axes=(1, 2))
    >>> edges.shape, edges.dtype
    ((10, 64, 64), dtype('float32'))
    """
    return _correlate_or_convolve(input, weights, output, mode, cval, origin, False, axes,
                                  workers)


@_documented
def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None,
             workers=None):
    """Multidimensional convolution: a drop-in for `scipy.ndimage.convolve`.

    `correlate` with `weights` reversed along every axis (and the origins
    mirrored, so that even-sized kernels are placed as scipy places them).

    Parameters
    ----------
    {input}
    weights : array_like
        The kernel, with as many axes as `input` (or as `axes`).
    {output}
    {mode}
    {cval}
    {origin_multiple}
    axes : tuple of int or None, optional
        The axes of `input` that `weights` spans; None (default) is all.
    {workers}

    Returns
    -------
    result : ndarray
        The convolution, of `input`'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import ndimage
    >>> a = np.array([[1, 2, 0, 0], [5, 3, 0, 4], [0, 0, 0, 7], [9, 3, 0, 0]])
    >>> k = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    >>> ndimage.convolve(a, k, mode='constant', cval=0.0)
    array([[11, 10,  7,  4],
           [10,  3, 11, 11],
           [15, 12, 14,  7],
           [12,  3,  7,  0]])
    """
    return _correlate_or_convolve(input, weights, output, mode, cval, origin, True, axes,
                                  workers)


@_documented
def uniform_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0, *,
                     workers=None):
    """The mean over a window along one axis: a drop-in for `scipy.ndimage.uniform_filter1d`.

    Parameters
    ----------
    {input}
    size : int
        Length of the window.
    {axis}
    {output}
    {mode}
    {cval}
    {origin}
    {workers}

    Returns
    -------
    result : ndarray
        The filtered array, of `input`'s shape.

    Examples
    --------
    >>> from cyconv import ndimage
    >>> ndimage.uniform_filter1d([2, 8, 0, 4, 1, 9, 9, 0], size=3)
    array([4, 3, 4, 1, 4, 6, 6, 3])
    """
    input = np.asarray(input)
    axis = _normalize_axis(axis, input.ndim)
    size = operator.index(size)
    if size < 1:
        raise RuntimeError(f"incorrect filter size: {size}")
    complex_output = input.dtype.kind == "c"
    output = _get_output(output, input, complex_output=complex_output)
    if complex_output:
        for part, out_part, value in ((input.real, output.real, np.real(cval)),
                                      (input.imag, output.imag, np.imag(cval))):
            _filter(part, [_uniform_step(input, axis, size, origin, mode, value)], out_part,
                    workers)
        return output
    return _filter(input, [_uniform_step(input, axis, size, origin, mode, cval)], output,
                   workers)


@_documented
def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *,
                   axes=None, workers=None):
    """Multidimensional mean filter: a drop-in for `scipy.ndimage.uniform_filter`.

    A sequence of `uniform_filter1d` passes, one per axis, each stored in the
    output's type as in scipy.

    Parameters
    ----------
    {input}
    size : int or sequence of int, optional
        The window length along each filtered axis. Default is 3.
    {output}
    {mode_multiple}
    {cval}
    {origin_multiple}
    axes : tuple of int or None, optional
        The axes to filter; None (default) is all.
    {workers}

    Returns
    -------
    result : ndarray
        The filtered array, of `input`'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import ndimage
    >>> image = np.zeros((5, 5))
    >>> image[2, 2] = 9.0
    >>> ndimage.uniform_filter(image, size=3)[1:4, 1:4]
    array([[1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.]])
    """
    input = np.asarray(input)
    output = _get_output(output, input, complex_output=input.dtype.kind == "c")
    axes = _check_axes(axes, input.ndim)
    sizes = _normalize_sequence(size, len(axes), "size")
    origins = _normalize_sequence(origin, len(axes), "origin")
    modes = _normalize_sequence(mode, len(axes), "mode")
    filtered = [(axis, int(n), o, m) for axis, n, o, m in zip(axes, sizes, origins, modes)
                if n > 1]
    if input.dtype.kind == "c":
        for part, out_part, value in ((input.real, output.real, np.real(cval)),
                                      (input.imag, output.imag, np.imag(cval))):
            _uniform_passes(part, filtered, out_part, value, workers)
        return output
    return _uniform_passes(input, filtered, output, cval, workers)


def _box(size, length):
    """The weights of a uniform window of ``size`` over an axis of ``length``, as a view.

    The running sum reads the axis extended to ``length + size - 1`` positions
    (as scipy's line buffer holds them); a window whose extended line could
    not fit in this machine's memory is refused before anything is allocated
    (scipy crashes on some: its buffer length overflows).
    """
    needed = 8 * (length + size - 1)
    if needed > _physical_memory():
        raise MemoryError(f"size {size}: a uniform filter this long needs {needed} bytes "
                          "for each line it extends, more than this machine has")
    return np.broadcast_to(1.0, (size,))


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: no bound but the index range
        return np.iinfo(np.intp).max // 8


def _uniform_step(input, axis, size, origin, mode, cval):
    """The step of a uniform filter of ``size`` along ``axis``, checked in scipy's order."""
    axis = _normalize_axis(axis, input.ndim)
    if size // 2 + origin < 0 or size // 2 + origin >= size:
        raise ValueError(f"invalid origin {origin} for a size of {size}")
    origin = _as_origin(origin, size)
    code, cval = _mode_code(mode), _as_cval(cval)
    return _line_step("uniform", input.ndim, axis, _box(size, input.shape[axis]), origin, code,
                      cval, size)


def _uniform_passes(input, filtered, output, cval, workers):
    steps = [_uniform_step(input, axis, size, origin, mode, cval)
             for axis, size, origin, mode in filtered]
    return _filter(input, steps, output, workers)


def _gaussian_kernel1d(sigma, order, radius):
    """The 1-D Gaussian (derivative) kernel of scipy.ndimage, for correlation."""
    if order < 0:
        raise ValueError(f"order must be non-negative, got {order}")
    exponent_range = np.arange(order + 1)
    sigma2 = sigma * sigma
    x = np.arange(-radius, radius + 1)
    phi_x = np.exp(-0.5 / sigma2 * x ** 2)
    phi_x = phi_x / phi_x.sum()
    if order == 0:
        return phi_x
    # f(x) = q(x) * phi(x): apply q -> q' + q * p' (p' = -x / sigma^2) `order` times.
    q = np.zeros(order + 1)
    q[0] = 1
    derivative = np.diag(exponent_range[1:], 1)
    times_slope = np.diag(np.ones(order) / -sigma2, -1)
    operator_matrix = derivative + times_slope
    for _ in range(order):
        q = operator_matrix.dot(q)
    q = (x[:, None] ** exponent_range).dot(q)
    return q * phi_x


def _gaussian_radius(sigma, truncate, radius):
    width = int(truncate * float(sigma) + 0.5)
    if radius is not None:
        width = radius
    if not isinstance(width, numbers.Integral) or width < 0:
        raise ValueError(f"Radius must be a nonnegative integer, got {width!r}.")
    return width


def _gaussian_step(ndim, sigma, axis, order, mode, cval, truncate, radius):
    width = _gaussian_radius(sigma, truncate, radius)
    weights = _gaussian_kernel1d(sigma, order, width)[::-1]
    return _line_step("line", ndim, axis, np.ascontiguousarray(weights, dtype=np.float64), 0,
                      mode, cval)


@_documented
def gaussian_filter1d(input, sigma, axis=-1, order=0, output=None, mode="reflect", cval=0.0,
                      truncate=4.0, *, radius=None, workers=None):
    """1-D Gaussian filter: a drop-in for `scipy.ndimage.gaussian_filter1d`.

    Parameters
    ----------
    {input}
    sigma : scalar
        Standard deviation of the Gaussian kernel.
    {axis}
    order : int, optional
        0 (default) smooths with the Gaussian; a positive order correlates
        with that derivative of it.
    {output}
    {mode}
    {cval}
    truncate : float, optional
        Truncate the kernel at this many standard deviations (default 4.0).
    radius : None or int, optional
        The kernel's radius (its size is ``2 * radius + 1``); `truncate` is
        then ignored.
    {workers}

    Returns
    -------
    result : ndarray
        The filtered array, of `input`'s shape.

    Examples
    --------
    >>> from cyconv import ndimage
    >>> ndimage.gaussian_filter1d([1.0, 2.0, 3.0, 4.0, 5.0], 1)
    array([1.42704095, 2.06782203, 3.        , 3.93217797, 4.57295905])
    """
    width = _gaussian_radius(sigma, truncate, radius)
    weights = _gaussian_kernel1d(sigma, order, width)[::-1]
    return correlate1d(input, weights, axis, output, mode, cval, 0, workers=workers)


@_documented
def gaussian_filter(input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0,
                    *, radius=None, axes=None, workers=None):
    """Multidimensional Gaussian filter: a drop-in for `scipy.ndimage.gaussian_filter`.

    One 1-D Gaussian pass per filtered axis (axes whose sigma is 0 are
    skipped), each stored in the output's type as in scipy.

    Parameters
    ----------
    {input}
    sigma : scalar or sequence of scalars
        Standard deviation of the Gaussian along each filtered axis.
    order : int or sequence of int, optional
        Derivative order along each axis (0, the default, smooths).
    {output}
    {mode_multiple}
    {cval}
    truncate : float, optional
        Truncate the kernels at this many standard deviations (default 4.0).
    radius : None or int or sequence of int, optional
        The kernels' radii; `truncate` is then ignored.
    axes : tuple of int or None, optional
        The axes to filter; None (default) is all.  Sequences given for
        `sigma`, `order`, `mode` or `radius` have one entry per axis here.
    {workers}

    Returns
    -------
    result : ndarray
        The filtered array, of `input`'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import ndimage
    >>> a = np.arange(50, step=2).reshape((5, 5))
    >>> ndimage.gaussian_filter(a, sigma=1)
    array([[ 4,  6,  8,  9, 11],
           [10, 12, 14, 15, 17],
           [20, 22, 24, 25, 27],
           [29, 31, 33, 34, 36],
           [35, 37, 39, 40, 42]])

    A stack of 100 images smoothed along its two image axes only:

    >>> stack = np.random.default_rng(0).random((100, 128, 128), dtype=np.float32)
    >>> ndimage.gaussian_filter(stack, sigma=2, axes=(1, 2), workers=-1).shape
    (100, 128, 128)
    """
    input = np.asarray(input)
    output = _get_output(output, input)
    axes = _check_axes(axes, input.ndim)
    count = len(axes)
    orders = _normalize_sequence(order, count, "order")
    sigmas = _normalize_sequence(sigma, count, "sigma")
    modes = _normalize_sequence(mode, count, "mode")
    radii = _normalize_sequence(radius, count, "radius")
    filtered = [(axes[i], sigmas[i], orders[i], modes[i], radii[i])
                for i in range(count) if sigmas[i] > 1e-15]
    if input.dtype.kind == "c":
        if not filtered:
            output[...] = input
            return output
        for axis, s, o, m, r in filtered:
            gaussian_filter1d(input, s, axis, o, output, m, cval, truncate, radius=r,
                              workers=workers)
            input = output
        return output
    steps = [_gaussian_step(input.ndim, s, axis, o, _mode_code(m), _as_cval(cval), truncate, r)
             for axis, s, o, m, r in filtered]
    return _filter(input, steps, output, workers)


def _derivative_steps(input, axis, mode, cval, derivative, smoothing):
    ndim = input.ndim
    axis = _normalize_axis(axis, ndim)
    modes = _normalize_sequence(mode, ndim, "mode")
    cval = _as_cval(cval)
    steps = [_line_step("line", ndim, axis, np.array(derivative, dtype=np.float64), 0,
                        _mode_code(modes[axis]), cval)]
    for other in range(ndim):
        if other != axis:
            steps.append(_line_step("line", ndim, other, np.array(smoothing, dtype=np.float64),
                                    0, _mode_code(modes[other]), cval))
    return steps


def _separable_derivative(input, axis, output, mode, cval, workers, smoothing):
    input = np.asarray(input)
    axis = _normalize_axis(axis, input.ndim)
    output = _get_output(output, input)
    if input.dtype.kind == "c":
        modes = _normalize_sequence(mode, input.ndim, "mode")
        correlate1d(input, [-1, 0, 1], axis, output, modes[axis], cval, 0, workers=workers)
        for other in range(input.ndim):
            if other != axis:
                correlate1d(output, smoothing, other, output, modes[other], cval, 0,
                            workers=workers)
        return output
    steps = _derivative_steps(input, axis, mode, cval, [-1, 0, 1], smoothing)
    return _filter(input, steps, output, workers)


@_documented
def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0, *, workers=None):
    """Prewitt filter: a drop-in for `scipy.ndimage.prewitt`.

    The derivative ``[-1, 0, 1]`` along `axis`, smoothed by ``[1, 1, 1]``
    along every other axis.

    Parameters
    ----------
    {input}
    {axis}
    {output}
    {mode_multiple}
    {cval}
    {workers}

    Returns
    -------
    result : ndarray
        The filtered array, of `input`'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import ndimage
    >>> ndimage.prewitt(np.array([[0, 0, 1, 1], [0, 0, 1, 1]]), axis=1)
    array([[0, 3, 3, 0],
           [0, 3, 3, 0]])
    """
    return _separable_derivative(input, axis, output, mode, cval, workers, [1, 1, 1])


@_documented
def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0, *, workers=None):
    """Sobel filter: a drop-in for `scipy.ndimage.sobel`.

    The derivative ``[-1, 0, 1]`` along `axis`, smoothed by ``[1, 2, 1]``
    along every other axis.

    Parameters
    ----------
    {input}
    {axis}
    {output}
    {mode_multiple}
    {cval}
    {workers}

    Returns
    -------
    result : ndarray
        The filtered array, of `input`'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import ndimage
    >>> ndimage.sobel(np.array([[0, 0, 1, 1], [0, 0, 1, 1]]), axis=1)
    array([[0, 4, 4, 0],
           [0, 4, 4, 0]])
    """
    return _separable_derivative(input, axis, output, mode, cval, workers, [1, 2, 1])


def _generic_laplace(input, derivative2, output, mode, cval, axes, workers):
    input = np.asarray(input)
    output = _get_output(output, input)
    axes = _check_axes(axes, input.ndim)
    if not axes:
        output[...] = input
        return output
    modes = _normalize_sequence(mode, len(axes), "mode")
    derivative2(input, axes[0], output, modes[0], cval)
    for axis, axis_mode in zip(axes[1:], modes[1:]):
        output += derivative2(input, axis, output.dtype, axis_mode, cval)
    return output


@_documented
def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None, workers=None):
    """N-D Laplace filter from second differences: a drop-in for `scipy.ndimage.laplace`.

    The sum over the filtered axes of the correlation with ``[1, -2, 1]``.

    Parameters
    ----------
    {input}
    {output}
    {mode_multiple}
    {cval}
    axes : tuple of int or None, optional
        The axes to filter; None (default) is all.
    {workers}

    Returns
    -------
    result : ndarray
        The filtered array, of `input`'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import ndimage
    >>> image = np.zeros((3, 3))
    >>> image[1, 1] = 1.0
    >>> ndimage.laplace(image, mode='constant')
    array([[ 0.,  1.,  0.],
           [ 1., -4.,  1.],
           [ 0.,  1.,  0.]])
    """
    def derivative2(input, axis, output, mode, cval):
        return correlate1d(input, [1, -2, 1], axis, output, mode, cval, 0, workers=workers)

    return _generic_laplace(input, derivative2, output, mode, cval, axes, workers)


def _sigma_per_axis(input, sigma, axes):
    axes = _check_axes(axes, input.ndim)
    sigmas = _normalize_sequence(sigma, len(axes), "sigma")
    if len(axes) < input.ndim:
        expanded = [0] * input.ndim
        for value, axis in zip(sigmas, axes):
            expanded[axis] = value
        sigmas = expanded
    return sigmas


@_documented
def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None,
                     workers=None, **kwargs):
    """Laplace filter from Gaussian second derivatives: a drop-in for `scipy.ndimage.gaussian_laplace`.

    Parameters
    ----------
    {input}
    sigma : scalar or sequence of scalars
        Standard deviation of the Gaussian along each filtered axis.
    {output}
    {mode_multiple}
    {cval}
    axes : tuple of int or None, optional
        The axes to filter; None (default) is all.
    {workers}
    **kwargs
        Passed to `gaussian_filter` (``truncate``, ``radius``).

    Returns
    -------
    result : ndarray
        The filtered array, of `input`'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import ndimage
    >>> image = np.zeros((9, 9))
    >>> image[4, 4] = 1.0
    >>> response = ndimage.gaussian_laplace(image, sigma=1)
    >>> float(response[4, 4].round(6))
    -0.318312
    """
    input = np.asarray(input)
    sigmas = _sigma_per_axis(input, sigma, axes)

    def derivative2(input, axis, output, mode, cval):
        order = [0] * input.ndim
        order[axis] = 2
        return gaussian_filter(input, sigmas, order, output, mode, cval, workers=workers,
                               **kwargs)

    return _generic_laplace(input, derivative2, output, mode, cval, axes, workers)


@_documented
def gaussian_gradient_magnitude(input, sigma, output=None, mode="reflect", cval=0.0, *,
                                axes=None, workers=None, **kwargs):
    """Gradient magnitude from Gaussian derivatives: a drop-in for `scipy.ndimage.gaussian_gradient_magnitude`.

    Parameters
    ----------
    {input}
    sigma : scalar or sequence of scalars
        Standard deviation of the Gaussian along each axis.
    {output}
    {mode_multiple}
    {cval}
    axes : tuple of int or None, optional
        The axes to differentiate along; None (default) is all.
    {workers}
    **kwargs
        Passed to `gaussian_filter` (``truncate``, ``radius``).

    Returns
    -------
    result : ndarray
        The gradient magnitude, of `input`'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> from cyconv import ndimage
    >>> ramp = np.tile(np.arange(8.0), (8, 1))
    >>> ndimage.gaussian_gradient_magnitude(ramp, sigma=1, mode='mirror')[4].round(3)
    array([0.   , 0.728, 0.971, 0.999, 0.999, 0.971, 0.728, 0.   ])
    """
    input = np.asarray(input)
    output = _get_output(output, input)
    axes = _check_axes(axes, input.ndim)
    if not axes:
        output[...] = input
        return output
    modes = _normalize_sequence(mode, len(axes), "mode")

    def derivative(axis, output, mode):
        order = [0] * input.ndim
        order[axis] = 1
        return gaussian_filter(input, sigma, order, output, mode, cval, workers=workers,
                               **kwargs)

    derivative(axes[0], output, modes[0])
    np.multiply(output, output, output)
    for axis, axis_mode in zip(axes[1:], modes[1:]):
        part = derivative(axis, output.dtype, axis_mode)
        np.multiply(part, part, part)
        output += part
    np.sqrt(output, output, casting="unsafe")
    return output
