"""correlate2d / convolve2d: scipy.signal's rules, cyconv's kernels."""
import dataclasses
from typing import NamedTuple

import numpy as np

from cyconv import _filter_plan, _simd
from cyconv._config import resolve_workers
from cyconv._fft import FILL, SYMM, WRAP, choose_tiling, extend, fft_correlate
from cyconv._kernels import memory
from cyconv._validation import all_finite, as_array

_MODES = {"valid": 0, "same": 1, "full": 2}
_BOUNDARIES = {
    "fill": FILL, "pad": FILL,
    "wrap": WRAP, "circular": WRAP,
    "symm": SYMM, "symmetric": SYMM,
}
_METHODS = ("auto", "direct", "fft")
# Below this many multiply-adds a second thread costs more than it saves.
PARALLEL_MIN_MACS = 200_000
_UNSIGNED_TWIN = {np.dtype(f"i{n}"): np.dtype(f"u{n}") for n in (1, 2, 4, 8)}
# dtype -> the kernel's fused-type specialisation (indexing skips Cython's
# per-call dispatch, which costs microseconds on tiny inputs).
_KERNEL_TYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
                np.dtype(np.longdouble): "long double", np.dtype(np.uint8): "npy_uint8",
                np.dtype(np.uint16): "npy_uint16", np.dtype(np.uint32): "npy_uint32",
                np.dtype(np.uint64): "npy_uint64"}
_KERNELS = {dtype: _simd.correlate_kernels.correlate[name] for dtype, name in _KERNEL_TYPE.items()}
_COMPLEX_PLANE = {np.dtype(np.complex64): np.float32, np.dtype(np.complex128): np.float64,
                  np.dtype(np.clongdouble): np.longdouble}


def _inputs_swap_needed(mode, shape1, shape2):
    """scipy's rule: in 'valid' mode the larger input must come first."""
    if mode != "valid":
        return False
    ok1 = shape1[0] >= shape2[0] and shape1[1] >= shape2[1]
    ok2 = shape2[0] >= shape1[0] and shape2[1] >= shape1[1]
    if not (ok1 or ok2):
        raise ValueError(
            "For 'valid' mode, one must be at least as large as the other in every dimension"
        )
    return not ok1


def _output_geometry(mode, image_shape, kernel_shape, convolve):
    """Output shape and the extended-image offset of output (0, 0).

    The kernel is given unflipped; for convolution the caller flips it and a
    'same' output is centred on kernel_size // 2 instead of (kernel_size - 1) // 2.
    """
    shape, offsets = [], []
    for size, ksize in zip(image_shape, kernel_shape):
        if mode == "full":
            shape.append(size + ksize - 1)
            offsets.append(-(ksize - 1))
        elif mode == "same":
            shape.append(size)
            offsets.append(-(ksize // 2) if convolve else -((ksize - 1) // 2))
        else:
            shape.append(size - ksize + 1)
            offsets.append(0)
    return tuple(shape), tuple(offsets)


# The direct kernels share their work among threads in blocks of at least
# FOLD_ROWS output rows: a long signal with fewer rows runs on one thread, so
# on more it is folded into rows of FOLD_WIDTH outputs.  (The fold had also
# saved 65 ns per output on one thread, which was the kernels' index maps
# being built through Python integers; built in C, a 1x100000 float32 row
# with 5 taps takes 0.23 ms unfolded against 0.72 ms folded.)
FOLD_ROWS = 8
FOLD_WIDTH = 4096
# Outputs narrower than one AVX-512 vector of float32 waste the kernels'
# lanes (100000x1 float32 with 300x1 taps: 87 ms, against 2.4 ms for the
# transposed 1x100000 with 1x300): a one-column kernel on such outputs is
# run transposed, as a one-row kernel, which sums its taps in the same
# order (so a chunk's result does not depend on its width).  Wider kernels
# lose much less (100000x8 with 300x3: 0.05 ns per multiply-add, as square
# images).
NARROW_COLUMNS = 16


def direct_correlate(image, kernel, out_shape, offsets, boundary, fill, threads, out=None):
    """The direct correlation of real data into ``out`` (a new array if None)."""
    return _checked_correlate(image, kernel, out_shape, offsets, boundary, fill, threads, out,
                              find_non_finite=False)[0]


def _checked_correlate(image, kernel, out_shape, offsets, boundary, fill, threads, out=None,
                       find_non_finite=True):
    """`direct_correlate`, and whether any output is NaN or infinite (None if not looked for).

    Folded, the folds' padding counts as output: a NaN or inf there is a
    false alarm, which only costs the caller's recomputation.
    """
    if out_shape[1] < NARROW_COLUMNS and out_shape[0] > out_shape[1] and kernel.shape[1] == 1:
        result, non_finite = _checked_correlate(
            np.ascontiguousarray(image.T), np.ascontiguousarray(kernel.T), out_shape[::-1],
            offsets[::-1], boundary, fill, threads, find_non_finite=find_non_finite)
        result = result.T
    elif (threads > 1 and kernel.shape[0] == 1 and out_shape[0] < FOLD_ROWS
          and out_shape[1] >= 2 * FOLD_WIDTH):
        result, non_finite = _folded(image, kernel, out_shape, offsets, boundary, fill, threads,
                                     find_non_finite)
    else:
        out = memory.empty(out_shape, image.dtype) if out is None else out
        return out, _run_kernel(image, kernel, out, offsets, boundary, fill, threads,
                                find_non_finite)
    if out is None:
        return np.ascontiguousarray(result), non_finite
    out[...] = result
    return out, non_finite


def _run_kernel(image, kernel, out, offsets, boundary, fill, threads, find_non_finite=False):
    fill_value = np.array(fill, dtype=image.dtype, ndmin=1)
    shape = image.shape
    image, kernel, target = np.ascontiguousarray(image)[None], np.ascontiguousarray(kernel)[None], out[None]
    twin = _UNSIGNED_TWIN.get(image.dtype)
    if twin is not None:
        image, kernel, target, fill_value = (a.view(twin) for a in (image, kernel, target, fill_value))
    return _KERNELS[target.dtype](image, kernel, target, shape, out.shape, kernel.shape[1:],
                                  offsets, (boundary, boundary), fill_value, threads,
                                  find_non_finite)


def _folded(image, kernel, out_shape, offsets, boundary, fill, threads, find_non_finite):
    """A correlation of a few long rows with a one-row kernel, FOLD_WIDTH outputs per row.

    Returns it and what `_run_kernel` returns with ``find_non_finite``.
    """
    rows, width = out_shape
    taps = kernel.shape[1]
    folds = -(-width // FOLD_WIDTH)
    extended = np.empty((rows, folds * FOLD_WIDTH + taps - 1), image.dtype)
    extended[:, width + taps - 1:] = 0
    extended[:, :width + taps - 1] = extend(image, out_shape, kernel.shape, offsets, boundary,
                                            fill)
    windows = np.lib.stride_tricks.sliding_window_view(extended, FOLD_WIDTH + taps - 1, axis=1)
    folded = np.ascontiguousarray(windows[:, ::FOLD_WIDTH]).reshape(rows * folds, -1)
    out = memory.empty((rows * folds, FOLD_WIDTH), image.dtype)
    non_finite = _run_kernel(folded, kernel, out, (0, 0), FILL, fill, threads, find_non_finite)
    return out.reshape(rows, -1)[:, :width], non_finite


def _direct_passes(image, passes, out_shape, offsets, boundary, fill, threads):
    """The correlation as 1-D passes of a rank-1 kernel's factors (float32/float64 only).

    Pass ``p`` runs along one axis to that axis's output extent; beyond the
    edges of a later pass, the earlier passes have turned the fill value into
    ``fill`` times the sum of their weights.  Returns the output and whether
    any of it is NaN or infinite.
    """
    source = image
    fill = float(fill)
    for index, weights in enumerate(passes):
        axis = 0 if weights.shape[0] > 1 else 1
        shape = list(source.shape)
        shape[axis] = out_shape[axis]
        step_offsets = [0, 0]
        step_offsets[axis] = offsets[axis]
        source, non_finite = _checked_correlate(source, weights.astype(image.dtype),
                                                tuple(shape), tuple(step_offsets), boundary,
                                                fill, threads,
                                                find_non_finite=index == len(passes) - 1)
        fill *= float(weights.sum())
    return source, non_finite


def _direct(image, kernel, out_shape, offsets, boundary, fill, threads):
    plane = _COMPLEX_PLANE.get(image.dtype)
    if plane is None:
        return direct_correlate(image, kernel, out_shape, offsets, boundary, fill, threads)
    # Complex as four real correlations of the real and imaginary planes.  A
    # zero imaginary kernel plane is skipped only for finite data: inf * 0 is
    # NaN in scipy's complex products, which the skipped plane would lose.
    skip_zero_imag = not kernel.imag.any() and all_finite(image, fill)
    parts = {}
    for image_part, image_plane, fill_part in (("re", image.real, fill.real), ("im", image.imag, fill.imag)):
        for kernel_part, kernel_plane in (("re", kernel.real), ("im", kernel.imag)):
            if kernel_part == "im" and skip_zero_imag:
                continue
            parts[image_part + kernel_part] = direct_correlate(
                image_plane.astype(plane), kernel_plane.astype(plane), out_shape, offsets,
                boundary, fill_part, threads,
            )
    out = memory.empty(out_shape, image.dtype)
    out.real = parts["rere"] - parts["imim"] if "imim" in parts else parts["rere"]
    out.imag = parts["imre"] + parts["reim"] if "reim" in parts else parts["imre"]
    if not skip_zero_imag and not all_finite(image, kernel, fill):
        _redo_non_finite_windows(out, extend(image, out_shape, kernel.shape, offsets, boundary,
                                             fill), kernel)
    return out


# Output elements recomputed at a time by _redo_non_finite_windows (times the taps).
_REDO_CHUNK = 1 << 22


def _redo_non_finite_windows(out, extended, kernel):
    """Recompute the outputs whose window meets an inf or NaN as scipy does.

    scipy multiplies in C99 complex arithmetic, whose Annex G turns a product
    that comes out NaN + NaN*j back into an infinity when a factor is infinite
    ((inf + inf*j) * 1 is inf + inf*j, not NaN): the real planes above cannot
    see that, so those windows are summed again product by product.
    """
    taps = kernel.size
    if out.size == 0 or taps == 0:
        return
    if np.isfinite(kernel).all():
        touched = np.lib.stride_tricks.sliding_window_view(
            ~np.isfinite(extended), kernel.shape).any(axis=(2, 3))
    else:
        touched = np.ones(out.shape, dtype=bool)
    rows, cols = np.nonzero(touched)
    windows = np.lib.stride_tricks.sliding_window_view(extended, kernel.shape)
    step = max(1, _REDO_CHUNK // max(taps, 1))
    for start in range(0, rows.size, step):
        chosen = rows[start:start + step], cols[start:start + step]
        products = _c99_multiply(windows[chosen].reshape(-1, taps), kernel.reshape(1, taps))
        out[chosen] = products.sum(axis=1)


def _c99_multiply(z, w):
    """z * w elementwise as C99 Annex G multiplies complex numbers (__mulsc3)."""
    a, b, c, d = z.real, z.imag, w.real, w.imag
    with np.errstate(invalid="ignore", over="ignore"):
        ac, bd, ad, bc = a * c, b * d, a * d, b * c
        real, imag = ac - bd, ad + bc
        redo = np.isnan(real) & np.isnan(imag)
        if not redo.any():
            return _complex(real, imag, z.dtype)
        a, b, c, d = (np.broadcast_to(part, redo.shape).copy() for part in (a, b, c, d))
        z_inf = np.isinf(a) | np.isinf(b)
        w_inf = np.isinf(c) | np.isinf(d)
        overflow = ~z_inf & ~w_inf & (np.isinf(ac) | np.isinf(bd) | np.isinf(ad) | np.isinf(bc))
        for box, others in ((z_inf, (c, d)), (w_inf, (a, b))):
            mask = redo & box
            for part in (a, b) if box is z_inf else (c, d):
                part[mask] = np.copysign(np.isinf(part[mask]).astype(part.dtype), part[mask])
            for part in others:
                part[mask & np.isnan(part)] = np.copysign(0, part[mask & np.isnan(part)])
        mask = redo & overflow
        for part in (a, b, c, d):
            part[mask & np.isnan(part)] = np.copysign(0, part[mask & np.isnan(part)])
        recalc = redo & (z_inf | w_inf | overflow)
        real[recalc] = np.inf * (a * c - b * d)[recalc]
        imag[recalc] = np.inf * (a * d + b * c)[recalc]
    return _complex(real, imag, z.dtype)


def _complex(real, imag, dtype):
    out = np.empty(real.shape, dtype)
    out.real, out.imag = real, imag
    return out


def check_arguments(name, in1, in2, mode, boundary, method):
    """scipy's checks of the flags and shapes, in scipy's order.

    Returns whether the inputs are swapped ('valid' mode with `in2` the
    larger) and the boundary's kernel code.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if not in1.ndim == in2.ndim == 2:
        raise ValueError(f"{name} inputs must both be 2-D arrays")
    swapped = _inputs_swap_needed(mode, in1.shape, in2.shape)
    if mode not in _MODES:
        raise ValueError("Acceptable mode flags are 'valid', 'same', or 'full'.")
    if boundary not in _BOUNDARIES:
        raise ValueError(
            "Acceptable boundary flags are 'fill', 'circular' (or 'wrap'), "
            "and 'symmetric' (or 'symm')."
        )
    return swapped, _BOUNDARIES[boundary]


def check_geometry(name, mode, image_shape, kernel_shape, dtype, boundary, convolve):
    """Output shape and offsets of the converted operands, refusing what cyconv cannot compute."""
    out_shape, offsets = _output_geometry(mode, image_shape, kernel_shape, convolve)
    if min(out_shape) < 0:
        raise ValueError(
            f"in1 {image_shape} and in2 {kernel_shape} give a negative output shape {out_shape}"
        )
    if dtype.kind not in "iufc" or dtype == np.float16:
        raise ValueError(f"{name} not available for this type: {dtype}")
    if 0 in image_shape and boundary != FILL and 0 not in out_shape and 0 not in kernel_shape:
        # scipy divides by zero here and crashes; cyconv refuses.
        raise ValueError("in1 is empty: boundary 'wrap' and 'symm' need a non-empty in1")
    return out_shape, offsets


# The plans that need no costing, shared by every call (without passes, as
# `_filter_plan.dense_first_plan`'s: correlate2d_plan adds the kernel's).
_ASKED_DENSE = _filter_plan.FilterPlan("dense", (), ("asked for",))
_SMALL_DENSE = _filter_plan.FilterPlan("dense", (), (f"fewer than {PARALLEL_MIN_MACS} "
                                                     "multiply-adds",))


def _plan(method, image, kernel, fill, boundary, out_shape, threads, small):
    """The `FilterPlan` of a correlation of the converted operands."""
    dtype = image.dtype
    if method == "direct":
        return _ASKED_DENSE
    if method == "auto" and small:
        return _SMALL_DENSE
    whole = (_filter_plan.Pass(kernel),)
    if method == "fft":
        tiling = choose_tiling(out_shape, kernel.shape, dtype, threads)
        return _filter_plan.FilterPlan("fft", whole, ("asked for",), tiling)
    fft = dtype.kind in "fc" and dtype != np.longdouble and dtype != np.clongdouble
    dense = _filter_plan.dense_first_plan(kernel.shape, out_shape, dtype, threads, fft)
    if dense is not None:
        return dense
    # An FFT spreads one NaN or inf over the whole output, where scipy keeps
    # it to the windows that contain it: the data are scanned first.  Passes
    # keep it to those windows too, but make other values of it (inf - inf
    # meets in another order): their output is checked instead, in cache as
    # it is written (scanning a 2048^2 float32 image took 0.9 ms of a 4.5 ms
    # 7x7 call, the check takes 0.2 ms).  Integers stay exact on the direct
    # path, as scipy's own choice keeps them.
    return _filter_plan.plan_correlate(
        kernel, out_shape, dtype, threads=threads,
        finite=lambda: all_finite(image, kernel, fill if boundary == FILL else 0),
        fft=fft, split_output_checked=True)


class _Call(NamedTuple):
    """A validated call: the converted operands, its geometry and its plan."""

    image: np.ndarray
    kernel: np.ndarray
    fill: np.ndarray
    boundary: int
    out_shape: tuple
    offsets: tuple
    threads: int
    swapped: bool
    plan: _filter_plan.FilterPlan


def _prepare(in1, in2, mode, boundary, fillvalue, method, workers, convolve):
    name = "convolve2d" if convolve else "correlate2d"
    threads = resolve_workers(workers)
    in1 = as_array(in1, "in1")
    in2 = as_array(in2, "in2")
    swapped, boundary = check_arguments(name, in1, in2, mode, boundary, method)
    if swapped:
        in1, in2 = in2, in1
    image, kernel, fill = _simd.correlate_kernels.scipy_operands(
        in1, in2 if convolve else in2.conj(), fillvalue, boundary == FILL
    )
    fill = fill.reshape(())
    out_shape, offsets = check_geometry(name, mode, image.shape, kernel.shape, image.dtype,
                                        boundary, convolve)
    if convolve:
        kernel = kernel[::-1, ::-1]
    small = out_shape[0] * out_shape[1] * kernel.size < PARALLEL_MIN_MACS
    if small:
        threads = 1
    plan = _plan(method, image, kernel, fill, boundary, out_shape, threads, small)
    threads = plan.threads or threads
    return _Call(image, kernel, fill, boundary, out_shape, offsets, threads, swapped, plan)


def correlate_or_convolve(in1, in2, mode, boundary, fillvalue, method, workers, convolve):
    image, kernel, fill, boundary, out_shape, offsets, threads, swapped, plan = _prepare(
        in1, in2, mode, boundary, fillvalue, method, workers, convolve)
    dtype = image.dtype
    if plan.method == "separable":
        out, non_finite = _direct_passes(image, [p.weights for p in plan.passes], out_shape,
                                         offsets, boundary, fill, threads)
        if non_finite:
            out = _direct(image, kernel, out_shape, offsets, boundary, fill, threads)
    elif plan.method == "fft":
        out = fft_correlate(image, kernel, out_shape, offsets, (boundary, boundary), fill,
                            threads, plan.tiling)
    else:
        out = _direct(image, kernel, out_shape, offsets, boundary, fill, threads)
    if swapped and not convolve:
        # scipy reverses here and, for complex input, returns the conjugate of
        # the true correlation; cyconv returns the true one (as scipy.signal.correlate).
        out = out[::-1, ::-1]
        if dtype.kind == "c":
            np.conjugate(out, out=out)
        out = np.ascontiguousarray(out)
    return out


_SHARED_PARAMETERS = """
    mode : {'full', 'valid', 'same'}, optional
        Size of the output. ``'full'`` (default) is the whole linear result;
        ``'valid'`` only the points that do not depend on the boundary (one
        input must be at least as large as the other in every dimension, and
        the inputs are swapped if `in2` is the larger, as in scipy); ``'same'``
        the size of `in1`, centred on the ``'full'`` output.
    boundary : {'fill', 'wrap', 'symm'}, optional
        How `in1` is extended beyond its edges: ``'fill'`` (or ``'pad'``) with
        `fillvalue`, ``'wrap'`` (or ``'circular'``) periodically, ``'symm'``
        (or ``'symmetric'``) by mirroring with the edge repeated.  Kernels
        larger than `in1` extend it as many periods as needed.
    fillvalue : scalar, optional
        Value of the padding with ``boundary='fill'`` (default 0), converted to
        the output type with scipy's rules.
    method : {'auto', 'direct', 'fft'}, optional
        ``'direct'`` runs cyconv's multithreaded SIMD kernels, ``'fft'`` uses
        `scipy.fft` on the boundary-extended input (integer results rounded
        as `scipy.signal.convolve` does), ``'auto'`` (default) picks whichever
        the cost model predicts is faster (always direct for integers and
        for inputs holding NaN or inf, which an FFT spreads everywhere).
    workers : int, optional
        Threads to use. ``None`` (default) is OpenMP's current maximum (so
        ``OMP_NUM_THREADS`` and threadpoolctl apply); a negative value counts
        back from the number of CPUs (``-1`` = all); ``0`` is an error.
"""


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, method="auto", workers=None):
    """Cross-correlate two 2-D arrays: a drop-in for `scipy.signal.correlate2d`.

    ``out[m, n] = sum_jk in1[m + j - r, n + k - c] * conj(in2[j, k])``, where
    the offsets ``r, c`` follow from `mode`.  For every input scipy accepts
    the result has the same values (to floating-point rounding), shape and
    dtype (``np.result_type(in1, in2)``; integer sums wrap as in scipy), and
    for every input scipy rejects the same exception type is raised.

    Parameters
    ----------
    in1 : array_like
        The 2-D image.
    in2 : array_like
        The 2-D template (kernel), conjugated if complex.
%s
    Returns
    -------
    out : ndarray
        A new C-contiguous 2-D array.

    See Also
    --------
    convolve2d : the same with the kernel flipped.
    scipy.signal.correlate2d : the reference this function reproduces.

    Notes
    -----
    Two deliberate differences from scipy: an empty `in1` with ``'wrap'`` or
    ``'symm'`` (scipy divides by zero and crashes) raises `ValueError`; and
    in ``'valid'`` mode with complex inputs where `in2` is the larger, scipy
    returns the complex conjugate of the correlation, cyconv returns the
    correlation itself (the value of ``scipy.signal.correlate``).

    Examples
    --------
    The textbook's example: a 3x3 input and a 2x2 kernel.

    >>> import numpy as np
    >>> import cyconv
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> K = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> cyconv.correlate2d(X, K, mode="valid")
    array([[19., 25.],
           [37., 43.]])

    The same call as scipy's, with the boundary mirrored:

    >>> import scipy.signal
    >>> image = np.random.default_rng(0).random((64, 48))
    >>> kernel = np.ones((5, 3)) / 15
    >>> ours = cyconv.correlate2d(image, kernel, mode="same", boundary="symm")
    >>> np.allclose(ours, scipy.signal.correlate2d(image, kernel, "same", "symm"))
    True
    """
    return correlate_or_convolve(in1, in2, mode, boundary, fillvalue, method, workers, convolve=False)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, method="auto", workers=None):
    """Convolve two 2-D arrays: a drop-in for `scipy.signal.convolve2d`.

    ``out[m, n] = sum_jk in1[m - j + r, n - k + c] * in2[j, k]``, where the
    offsets follow from `mode` (a ``'same'`` output of an even kernel is
    centred as scipy centres it).  Same values, shape, dtype and exceptions as
    scipy, as for `correlate2d`.

    Parameters
    ----------
    in1 : array_like
        The first 2-D input.
    in2 : array_like
        The second 2-D input (the kernel).
%s
    Returns
    -------
    out : ndarray
        A new C-contiguous 2-D array.

    See Also
    --------
    correlate2d : the same without flipping the kernel.
    scipy.signal.convolve2d : the reference this function reproduces.

    Notes
    -----
    As for `correlate2d`, an empty `in1` with ``'wrap'`` or ``'symm'`` raises
    `ValueError` where scipy crashes.

    Examples
    --------
    >>> import numpy as np
    >>> import cyconv
    >>> cyconv.convolve2d([[1, 2], [3, 4]], [[1, -1]])
    array([[ 1,  1, -2],
           [ 3,  1, -4]])

    Edge detection on an image with a bright square, all CPUs:

    >>> image = np.zeros((6, 8))
    >>> image[:, 2:6] = 1.0
    >>> cyconv.convolve2d(image, [[1.0, -1.0]], mode="valid", workers=-1)[0]
    array([ 0.,  1.,  0.,  0.,  0., -1.,  0.])
    """
    return correlate_or_convolve(in1, in2, mode, boundary, fillvalue, method, workers, convolve=True)


def correlate2d_plan(in1, in2, mode="full", boundary="fill", fillvalue=0, *, convolve=False,
                     method="auto", workers=None):
    """How `correlate2d` (or `convolve2d`) would compute this call, and why.

    Takes `correlate2d`'s arguments (and raises what it raises) without
    computing anything.  The plan's ``method`` is ``'dense'`` (the direct
    kernels), ``'separable'`` (a rank-1 kernel as one pass per axis) or
    ``'fft'`` (overlap-save FFT tiles; ``plan.tiling`` gives their shape).
    Printing it shows the cost model's estimate for each candidate.

    Parameters
    ----------
    in1, in2, mode, boundary, fillvalue, method, workers
        As for `correlate2d`.
    convolve : bool, optional
        Plan `convolve2d` instead (default False).

    Returns
    -------
    plan : FilterPlan
        ``method``, ``passes``, ``reason`` and ``tiling`` (None unless 'fft').

    Examples
    --------
    >>> import numpy as np
    >>> import cyconv
    >>> image = np.zeros((2048, 2048), np.float32)
    >>> cyconv.correlate2d_plan(image, np.ones((3, 3)), "same").method
    'dense'
    >>> plan = cyconv.correlate2d_plan(image, np.ones((101, 101)) + np.eye(101), "same")
    >>> plan.method, plan.tiling.tiles > 1
    ('fft', True)
    """
    call = _prepare(in1, in2, mode, boundary, fillvalue, method, workers, convolve)
    if not call.plan.passes:
        return dataclasses.replace(call.plan, passes=(_filter_plan.Pass(call.kernel),))
    return call.plan


correlate2d.__doc__ = correlate2d.__doc__ % _SHARED_PARAMETERS
convolve2d.__doc__ = convolve2d.__doc__ % _SHARED_PARAMETERS
