"""cyconv's functions on dask arrays, for images and batches larger than memory.

Here: `correlate2d` and `convolve2d` (scipy.signal's), `conv2d`,
`max_pool2d` and `avg_pool2d` (PyTorch's), and `nanconvolve` (astropy's
convolution of data with holes); scipy.ndimage's filters are in
`cyconv.dask.ndimage`.

Every function builds a lazy dask graph; nothing is computed until
``.compute()`` (or ``dask.compute``, or a ``dask.distributed`` client).  The
way each chunk is computed is the same for all six functions here and for
the ``scipy.ndimage`` filters of `cyconv.dask.ndimage`:

1. The input is extended lazily beyond its edges by the positions the output
   reads there (padding, scipy's boundaries), by index arithmetic on slices
   of the input, so any kernel size works, even one larger than the image.
2. Along each spatial axis, output chunk ``[o0, o1)`` reads extended positions
   ``[o0 * stride, (o1 - 1) * stride + span)``, where ``span`` is the dilated
   kernel extent.  The extended input is chunked at ``o * stride`` for each
   output chunk boundary ``o``, and each chunk is given the
   ``span - stride`` positions after it as its halo (``map_overlap`` with an
   asymmetric depth), so every chunk holds exactly the windows of its output.
   Where the output keeps the input's size (stride 1, windows around their
   output), the extended input keeps the input's chunks instead, the edge
   extensions joined to the first and the last, and each chunk is given the
   positions its windows read before it and after it.
3. The in-memory function runs on each chunk with no padding ('valid'), and
   the result is placed where it belongs.

Output chunks follow the input's (input boundary ``b`` becomes output
boundary ``ceil(b / stride)``), merged only where a chunk is smaller than the
halo its neighbour needs.

`nanconvolve` extends the input beyond its edges only for 'wrap'; with the
other boundaries the chunks at the array's edges are computed with the
boundary itself, as the whole array is (see its Notes).

Threads: inside a chunk cyconv's kernels use ``workers`` threads.  The
default, ``workers=None``, is chosen when the chunk runs so that dask's own
threads are not oversubscribed: OpenMP's maximum divided by the number of
tasks that run at once in that process (the worker's ``nthreads`` on
dask.distributed, the thread pool's size under the threaded scheduler, one
under the synchronous scheduler), and at least one.
"""
import sys
import threading
import warnings
from functools import partial

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as error:
    raise ImportError(
        'cyconv.dask needs dask; install it with: pip install "cyconv[dask]"'
    ) from error

from cyconv import _correlate, _layers, _nanconvolve, _pooling
from cyconv._config import resolve_workers
from cyconv._fft import FILL, MIRROR, NEAREST, SYMM, WRAP
from cyconv._nanconvolve import NanConvolveWarning, nanconvolve_plan
from cyconv._simd import correlate_kernels
from cyconv._validation import INDEX_LIMIT, as_array, layer_dtype

__all__ = ["avg_pool2d", "conv2d", "convolve2d", "correlate2d", "max_pool2d", "nanconvolve",
           "ndimage"]


def _tasks_at_once():
    """How many dask tasks may run at the same time as this one, in this process."""
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        try:
            return distributed.get_worker().state.nthreads
        except ValueError:  # not inside a distributed worker
            pass
    if threading.current_thread() is threading.main_thread():
        # The synchronous scheduler runs tasks one by one in the caller's thread.
        return 1
    return dask.config.get("num_workers", None) or dask.system.CPU_COUNT


def chunk_threads(workers):
    """Threads for one chunk: ``workers`` if given, else a share of the CPUs (see module doc)."""
    if workers is not None:
        return resolve_workers(workers)
    return max(1, resolve_workers(None) // _tasks_at_once())


def _lazy(array):
    return array if isinstance(array, da.Array) else da.asarray(array)


def _dtype_sample(array):
    """A tiny array of ``array``'s dtype, for the in-memory argument checks."""
    return np.zeros((1,) * array.ndim, array.dtype)


def _extended(x, axis, start, stop, boundary, fill):
    """Positions ``[start, stop)`` of ``x`` along ``axis``, extended beyond its edges.

    'fill' pads with ``fill``; 'wrap' repeats ``x`` periodically; 'symm'
    mirrors it with the edge repeated (period ``2 * size``); 'mirror' mirrors
    it about the edge element (period ``2 * size - 2``; a length-1 axis
    repeats its value); 'nearest' repeats the edge element.  Built from
    slices of ``x``, so it stays lazy and exact for any extent.
    """
    size = x.shape[axis]
    if start == 0 and stop == size:
        return x
    if boundary == MIRROR and size == 1:
        boundary = NEAREST
    # The periodic extensions: period, and the index that position p maps to
    # in its mirrored half is ``turn - (p mod period)``.
    period, turn = {WRAP: (size, None), SYMM: (2 * size, 2 * size - 1),
                    MIRROR: (2 * size - 2, 2 * size - 2)}.get(boundary, (None, None))
    pieces = []
    position = start
    while position < stop:
        if 0 <= position < size:
            end = min(stop, size)
            piece = _axis_slice(x, axis, slice(position, end))
        elif boundary == FILL:
            end = min(stop, 0) if position < 0 else stop
            shape = list(x.shape)
            shape[axis] = end - position
            chunks = list(x.chunks)
            chunks[axis] = (end - position,)
            piece = da.full(shape, fill, dtype=x.dtype, chunks=tuple(chunks))
        elif boundary == NEAREST:
            end = min(stop, 0) if position < 0 else stop
            edge = slice(0, 1) if position < 0 else slice(size - 1, size)
            piece = da.repeat(_axis_slice(x, axis, edge), end - position, axis=axis)
        else:
            offset = position % period
            if offset < size:
                end = min(stop, position - offset + size)
                piece = _axis_slice(x, axis, slice(offset, offset + end - position))
            else:
                end = min(stop, position - offset + period)
                first, last = turn - offset, turn - offset - (end - position)
                piece = _axis_slice(x, axis, slice(first, None if last < 0 else last, -1))
        pieces.append(piece)
        position = end
    return da.concatenate(pieces, axis=axis)


def _axis_slice(x, axis, index):
    return x[(slice(None),) * (axis % x.ndim) + (index,)]


def _output_chunks(input_chunks, out_size, stride, halo):
    """Output chunks along one axis: the input's, scaled by the stride, merged where
    a chunk would be too small to give its predecessor the halo."""
    boundaries = set()
    edge = 0
    for size in input_chunks[:-1]:
        edge += size
        boundaries.add(min(out_size, -(-edge // stride)))
    boundaries = sorted(boundaries - {0, out_size})
    sizes = np.diff([0, *boundaries, out_size]).tolist()
    smallest = -(-halo // stride)
    merged, pending = [], 0
    for size in sizes:
        pending += size
        if pending >= smallest:
            merged.append(pending)
            pending = 0
    if pending:
        # The last chunk's input also holds the last window's full span, so
        # it is never too small for a halo.
        merged.append(pending)
    return tuple(merged)


def _map_windows(block_function, x, windows, boundary, fill, leading_chunks, meta, **kwargs):
    """``block_function`` on the windows of ``x`` that each output chunk reads.

    ``windows`` gives, for each of the last ``len(windows)`` axes, ``(start,
    span, stride, out_size)``: output ``o`` reads extended positions ``[start
    + o * stride, start + o * stride + span)``; ``boundary`` is one extension
    for all of them or a sequence of one per axis.  ``block_function``
    receives the extended block and returns its outputs ('valid' windows with
    the stride); the axes before keep their chunks, ``leading_chunks`` in the
    output.
    """
    first_axis = x.ndim - len(windows)
    if isinstance(boundary, (list, tuple)):
        boundaries = boundary
    else:
        boundaries = [boundary] * len(windows)
    out_chunks, depth = [], {axis: (0, 0) for axis in range(x.ndim)}
    input_chunks = x.chunks
    extended_chunks = list(input_chunks[:first_axis])
    for axis, (start, span, stride, out_size), axis_boundary in zip(
            range(first_axis, x.ndim), windows, boundaries):
        halo = max(0, span - stride)
        chunks = _output_chunks(input_chunks[axis], out_size, stride, halo)
        before, after = -start, span - 1 + start
        if stride == 1 and out_size == x.shape[axis] > 0 and before >= 0 and after >= 0:
            # Output i reads input [i - before, i + after]: the extended array keeps the
            # input's chunks, the extensions joined to the first and last, and each
            # chunk gets ``before`` positions from its predecessor and ``after`` from
            # its successor, so only the edge chunks are copied before the overlap.
            if len(chunks) > 1 and chunks[-1] + after < before:
                chunks = chunks[:-2] + (chunks[-2] + chunks[-1],)
            depth[axis] = (before, after)
            extended_chunks.append(
                ((before + chunks[0],) + chunks[1:-1] + (chunks[-1] + after,))
                if len(chunks) > 1 else (before + chunks[0] + after,))
        else:
            depth[axis] = (0, halo)
            extended_chunks.append(tuple(size * stride for size in chunks[:-1])
                                   + ((chunks[-1] - 1) * stride + span,))
        out_chunks.append(chunks)
        x = _extended(x, axis, start, start + (out_size - 1) * stride + span, axis_boundary, fill)
    x = x.rechunk(tuple(extended_chunks))
    return da.map_overlap(
        block_function, x, depth=depth, boundary="none", trim=False, allow_rechunk=False,
        chunks=tuple(leading_chunks) + tuple(out_chunks), meta=meta, **kwargs,
    )


def _output_slices(block_info):
    """Where the output chunk ``map_blocks`` is computing lies along the last two axes."""
    return tuple(slice(start, stop) for start, stop in block_info[None]["array-location"][-2:])


# -- correlate2d / convolve2d ---------------------------------------------------------


def _correlate_block(block, kernel, method, workers, convolve):
    return _correlate.correlate_or_convolve(
        block, kernel, "valid", "fill", 0, method, chunk_threads(workers), convolve
    )


def _in_memory_correlate(in1, in2, mode, boundary, fillvalue, method, workers, convolve):
    return _correlate.correlate_or_convolve(
        in1, in2, mode, boundary, fillvalue, method, chunk_threads(workers), convolve
    )


def _correlate_or_convolve(in1, in2, mode, boundary, fillvalue, method, workers, convolve):
    name = "convolve2d" if convolve else "correlate2d"
    resolve_workers(workers)
    in1 = _lazy(in1)
    # The kernel is small and sent whole to every chunk.
    in2 = np.asarray(in2)
    swapped, boundary_code = _correlate.check_arguments(name, in1, in2, mode, boundary, method)
    samples = (in2, _dtype_sample(in1)) if swapped else (_dtype_sample(in1), in2)
    _, kernel, fill = correlate_kernels.scipy_operands(*samples, fillvalue, boundary_code == FILL)
    dtype = kernel.dtype
    image_shape, kernel_shape = (in2.shape, in1.shape) if swapped else (in1.shape, in2.shape)
    out_shape, offsets = _correlate.check_geometry(
        name, mode, image_shape, kernel_shape, dtype, boundary_code, convolve
    )
    meta = np.empty((0, 0), dtype)
    if swapped or in1.size == 0 or in2.size == 0:
        # Here in1 is no larger than the in-memory in2 (or one is empty): one task.
        compute = partial(_in_memory_correlate, in2=in2, mode=mode, boundary=boundary,
                          fillvalue=fillvalue, method=method, workers=workers, convolve=convolve)
        return in1.rechunk(-1).map_blocks(compute, chunks=out_shape, meta=meta)
    windows = [(offset, size, 1, out) for offset, size, out in zip(offsets, kernel.shape, out_shape)]
    block_function = partial(_correlate_block, kernel=kernel, method=method, workers=workers,
                             convolve=convolve)
    return _map_windows(block_function, in1.astype(dtype), windows, boundary_code,
                        fill.reshape(()), (), meta)


_CORRELATE_PARAMETERS = """
    Parameters
    ----------
    in1 : dask.array.Array or array_like
        The 2-D image, chunked in both dimensions.
    in2 : array_like
        The 2-D kernel; small, sent whole to every chunk (a dask array is
        computed first).
    mode, boundary, fillvalue, method
        As for `cyconv.{name}`: every mode (with scipy's 'valid' swap and
        'same' centring), boundary and fillvalue.
    workers : int, optional
        Threads per chunk.  ``None`` (default) shares the CPUs among the
        tasks dask runs at once (see the module documentation).

    Returns
    -------
    out : dask.array.Array
        Lazy; computed, equal to ``cyconv.{name}`` on the whole arrays.
        When 'valid' mode swaps the inputs (`in2` the larger) the result is
        one chunk, computed in memory.
"""


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, method="auto", workers=None):
    """`cyconv.correlate2d` (scipy's ``correlate2d``) of a dask array, chunk by chunk.
%s
    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv, cyconv.dask
    >>> image = np.random.default_rng(0).random((100, 90))
    >>> kernel = np.ones((5, 4)) / 20
    >>> lazy = cyconv.dask.correlate2d(da.from_array(image, chunks=(30, 40)), kernel,
    ...                                mode="same", boundary="symm")
    >>> lazy.chunks
    ((30, 30, 30, 10), (40, 40, 10))
    >>> np.allclose(lazy.compute(), cyconv.correlate2d(image, kernel, "same", "symm"))
    True
    """
    return _correlate_or_convolve(in1, in2, mode, boundary, fillvalue, method, workers, False)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, method="auto", workers=None):
    """`cyconv.convolve2d` (scipy's ``convolve2d``) of a dask array, chunk by chunk.
%s
    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv, cyconv.dask
    >>> image = np.random.default_rng(0).random((64, 64))
    >>> lazy = cyconv.dask.convolve2d(da.from_array(image, chunks=16), [[1.0, -1.0]],
    ...                               boundary="wrap")
    >>> lazy.shape
    (64, 65)
    >>> np.allclose(lazy.compute(), cyconv.convolve2d(image, [[1.0, -1.0]], boundary="wrap"))
    True
    """
    return _correlate_or_convolve(in1, in2, mode, boundary, fillvalue, method, workers, True)


correlate2d.__doc__ %= _CORRELATE_PARAMETERS.format(name="correlate2d")
convolve2d.__doc__ %= _CORRELATE_PARAMETERS.format(name="convolve2d")


# -- conv2d ---------------------------------------------------------------------------


def _shape_proxy(x, dtype=None):
    """A read-only array of ``x``'s shape and dtype that takes no memory."""
    return np.broadcast_to(np.zeros((), x.dtype if dtype is None else dtype), x.shape)


def _conv_block(block, weight, bias, stride, dilation, groups, workers):
    return _layers.conv2d(block, weight, bias, stride, 0, dilation, groups,
                          workers=chunk_threads(workers))


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, workers=None):
    """`cyconv.conv2d` (PyTorch's ``conv2d``) of an NCHW dask array, chunk by chunk.

    Parameters
    ----------
    x : dask.array.Array or array_like
        ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``, chunked along N, H
        and W (the channels are gathered into one chunk).
    weight, bias : array_like
        As for `cyconv.conv2d`; small, sent whole to every chunk.
    stride, padding, dilation, groups
        As for `cyconv.conv2d`, including ``padding='same'`` and ``'valid'``.
    workers : int, optional
        Threads per chunk.  ``None`` (default) shares the CPUs among the
        tasks dask runs at once (see the module documentation).

    Returns
    -------
    out : dask.array.Array
        Lazy ``(N, C_out, H_out, W_out)`` (unbatched if `x` was), one chunk
        along the channels; computed, equal to `cyconv.conv2d`.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv, cyconv.dask
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((4, 3, 40, 40), dtype=np.float32)
    >>> weight = rng.random((8, 3, 3, 3), dtype=np.float32)
    >>> lazy = cyconv.dask.conv2d(da.from_array(x, chunks=(2, 3, 20, 20)), weight,
    ...                           stride=2, padding=1)
    >>> lazy.chunks
    ((2, 2), (8,), (10, 10), (10, 10))
    >>> np.allclose(lazy.compute(), cyconv.conv2d(x, weight, stride=2, padding=1), atol=1e-5)
    True
    """
    resolve_workers(workers)
    x = _lazy(x)
    weight = np.asarray(weight)
    bias = None if bias is None else np.asarray(bias)
    conv = _layers._conv_arguments(_shape_proxy(x), weight, bias, stride, padding, dilation, groups)
    if not conv.batched:
        x = x[np.newaxis]
    x = x.astype(conv.dtype).rechunk({1: -1})
    windows = [
        (-pads[0], dil * (size - 1) + 1, step, out)
        for pads, dil, size, step, out in zip(conv.padding, conv.dilation, conv.kernel,
                                              conv.stride, conv.out_shape[2:])
    ]
    block_function = partial(
        _conv_block, weight=weight.astype(conv.dtype),
        bias=None if bias is None else bias.astype(conv.dtype),
        stride=conv.stride, dilation=conv.dilation, groups=conv.groups, workers=workers,
    )
    out = _map_windows(block_function, x, windows, FILL, 0, (x.chunks[0], (conv.out_shape[1],)),
                       np.empty((0,) * 4, conv.dtype))
    return out if conv.batched else out[0]


# -- pooling --------------------------------------------------------------------------


def _pooling_setup(x, window, ceil_mode):
    """Check a pooling input as the in-memory functions do; the lazy input in its
    computing dtype and the ``_map_windows`` windows."""
    x = _lazy(x)
    _pooling._check_input_shape(x.shape, "x")
    dtype = layer_dtype(x=_dtype_sample(x))
    out_shape = _pooling._output_shape(x.shape[-2:], window, ceil_mode)
    kernel, stride, padding, dilation = window
    windows = [(-padding[axis], dilation[axis] * (kernel[axis] - 1) + 1, stride[axis], out_shape[axis])
               for axis in (0, 1)]
    return x.astype(dtype), dtype, out_shape, windows


def _first_tap_inside(out_size, kernel, stride, padding, dilation):
    """Per output along one axis: the first tap of its window at or after position 0."""
    first = np.arange(out_size, dtype=np.int64) * stride - padding
    skipped = np.maximum(0, -(-(-first) // dilation))
    return first + skipped * dilation


def _max_block(block, window, workers, first_taps, width, block_info=None):
    out, local = _pooling.max_pool2d(block, window[0], window[1], 0, window[3],
                                     return_indices=True, workers=chunk_threads(workers))
    # Local flat indices within the block -> flat indices within the whole plane.
    block_width = block.shape[-1]
    out_rows, out_columns = _output_slices(block_info)
    stride, padding = window[1], window[2]
    # The block starts at extended position start * stride, image position that - padding.
    rows = local // block_width + out_rows.start * stride[0] - padding[0]
    columns = local % block_width + out_columns.start * stride[1] - padding[1]
    indices = rows * width + columns
    # A window whose maximum is -inf has no strict winner; the in-memory kernel
    # then reports its first tap inside the input (not the padding), as torch does.
    no_winner = out == -np.inf
    first_inside = np.add.outer(first_taps[0][out_rows] * width, first_taps[1][out_columns])
    indices = np.where(no_winner, np.broadcast_to(first_inside, out.shape), indices)
    result = np.empty(out.shape, dtype=[("value", out.dtype), ("index", np.int64)])
    result["value"], result["index"] = out, indices
    return result


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, workers=None):
    """`cyconv.max_pool2d` (PyTorch's ``max_pool2d``) of a dask array, chunk by chunk.

    Parameters
    ----------
    x : dask.array.Array or array_like
        ``(N, C, H, W)``, ``(C, H, W)`` or ``(H, W)``, chunked along any axes.
    kernel_size, stride, padding, dilation, ceil_mode, return_indices
        As for `cyconv.max_pool2d`; the indices are flat within each whole
        ``H * W`` plane, as in memory.
    workers : int, optional
        Threads per chunk.  ``None`` (default) shares the CPUs among the
        tasks dask runs at once (see the module documentation).

    Returns
    -------
    out : dask.array.Array
        Lazy; computed, equal to `cyconv.max_pool2d`.
    indices : dask.array.Array of int64
        With `return_indices`; it shares its tasks with `out`.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv, cyconv.dask
    >>> x = np.random.default_rng(0).random((2, 3, 32, 32))
    >>> lazy = cyconv.dask.max_pool2d(da.from_array(x, chunks=(1, 3, 16, 16)), 2)
    >>> lazy.chunks
    ((1, 1), (3,), (8, 8), (8, 8))
    >>> np.array_equal(lazy.compute(), cyconv.max_pool2d(x, 2))
    True
    """
    resolve_workers(workers)
    window = _pooling._window(kernel_size, stride, padding, dilation)
    ceil_mode = bool(ceil_mode)
    x, dtype, out_shape, windows = _pooling_setup(x, window, ceil_mode)
    leading_chunks = x.chunks[:-2]
    if not return_indices:
        block_function = partial(_max_block_values, window=window, workers=workers)
        return _map_windows(block_function, x, windows, FILL, -np.inf, leading_chunks,
                            np.empty((0,) * x.ndim, dtype))
    kernel, stride, padding, dilation = window
    first_taps = [_first_tap_inside(out_shape[axis], kernel[axis], stride[axis], padding[axis],
                                    dilation[axis]) for axis in (0, 1)]
    block_function = partial(_max_block, window=window, workers=workers,
                             first_taps=first_taps, width=x.shape[-1])
    pairs = _map_windows(block_function, x, windows, FILL, -np.inf, leading_chunks,
                         np.empty((0,) * x.ndim, [("value", dtype), ("index", np.int64)]))
    return pairs["value"], pairs["index"]


def _max_block_values(block, window, workers):
    return _pooling.max_pool2d(block, window[0], window[1], 0, window[3],
                               workers=chunk_threads(workers))


def _avg_block(block, window, counts, divisor_override, workers, block_info=None):
    sums = _pooling.avg_pool2d(block, window[0], window[1], 0, divisor_override=1,
                               workers=chunk_threads(workers))
    counts = [axis_counts[part] for axis_counts, part in zip(counts, _output_slices(block_info))]
    return sums * _pooling.window_scale(counts, divisor_override, sums.dtype)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, *, workers=None):
    """`cyconv.avg_pool2d` (PyTorch's ``avg_pool2d``) of a dask array, chunk by chunk.

    Parameters
    ----------
    x : dask.array.Array or array_like
        ``(N, C, H, W)``, ``(C, H, W)`` or ``(H, W)``, chunked along any axes.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As for `cyconv.avg_pool2d`; each window's divisor is that of the
        whole input, wherever the chunk edges fall.
    workers : int, optional
        Threads per chunk.  ``None`` (default) shares the CPUs among the
        tasks dask runs at once (see the module documentation).

    Returns
    -------
    out : dask.array.Array
        Lazy; computed, equal to `cyconv.avg_pool2d`.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv, cyconv.dask
    >>> x = np.random.default_rng(0).random((3, 30, 30))
    >>> lazy = cyconv.dask.avg_pool2d(da.from_array(x, chunks=(1, 10, 10)), 3, stride=2,
    ...                               padding=1, ceil_mode=True, count_include_pad=False)
    >>> np.allclose(lazy.compute(), cyconv.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True,
    ...                                               count_include_pad=False))
    True
    """
    resolve_workers(workers)
    window = _pooling._window(kernel_size, stride, padding, 1)
    divisor_override = _pooling._divisor_override(divisor_override)
    ceil_mode = bool(ceil_mode)
    x, dtype, out_shape, windows = _pooling_setup(x, window, ceil_mode)
    counts = _pooling.window_counts(x.shape[-2:], out_shape, window, bool(count_include_pad))
    block_function = partial(_avg_block, window=window, counts=counts,
                             divisor_override=divisor_override, workers=workers)
    return _map_windows(block_function, x, windows, FILL, 0, x.chunks[:-2],
                        np.empty((0,) * x.ndim, dtype))


# -- nanconvolve ----------------------------------------------------------------------


def _nanconvolve_block(block, kernel, boundary, fill_value, nan_treatment, normalize_kernel,
                       preserve_nan, normalization_zero_tol, method, workers, radii, shape,
                       out_dtype, block_info=None):
    """`cyconv.nanconvolve` of one output chunk, from its block.

    Along each axis the block holds the positions ``[o0 - r, o1 + r)`` of
    output chunk ``[o0, o1)`` (``r`` the kernel's radius), wrapped beyond
    the array's edges for 'wrap'.  For the other boundaries the positions
    outside the array are dropped and the in-memory computation extends the
    array's edge itself, as on the whole array.  The block is computed whole
    (the chunk's boundary only reaches the outputs of the halo, which are
    cut off); the warning, ``boundary=None``'s zero border and
    ``preserve_nan`` are then applied to the chunk's own outputs.
    """
    location = block_info[None]["array-location"]
    inside, kept = [], []
    for (start, stop), radius, size, block_size in zip(location, radii, shape, block.shape):
        low = high = 0
        if boundary != "wrap":
            low = max(0, radius - start)
            high = max(0, stop + radius - size)
        inside.append(slice(low, block_size - high))
        kept.append(slice(radius - low, radius - low + stop - start))
    # The boundary of the in-memory computation: the global one at the array's edges
    # ('fill', 'extend'); elsewhere it only reaches outputs that are cut off.
    block_boundary = boundary if boundary in ("fill", "extend") else "extend"
    call = _nanconvolve._validate(
        block[tuple(inside)], kernel, block_boundary, fill_value, nan_treatment,
        normalize_kernel, None, preserve_nan, normalization_zero_tol, method,
        chunk_threads(workers))
    out, _ = _nanconvolve._compute(call, method)
    kept = tuple(kept)
    out = out[kept]
    counted = out
    if boundary is None:
        # Outputs whose window leaves the array are 0, and not counted as holes.
        border = np.zeros(out.shape, dtype=bool)
        for axis, ((start, stop), radius, size) in enumerate(zip(location, radii, shape)):
            index = np.arange(start, stop)
            edge = (index < radius) | (index >= size - radius)
            border |= edge.reshape((-1,) + (1,) * (out.ndim - axis - 1))
        out[border] = 0
        counted = out[~border]
    if call.interpolate and not preserve_nan:
        nans = int(np.count_nonzero(np.isnan(counted)))
        if nans:
            where = ", ".join(f"{start}:{stop}" for start, stop in location)
            warnings.warn(
                f"{nans} outputs of the chunk [{where}] have no valid value under the kernel "
                "and are NaN: a region of holes larger than the kernel; use a larger kernel "
                "to fill it", NanConvolveWarning)
    if preserve_nan:
        out[call.holes[kept]] = np.nan
    return out.astype(out_dtype, copy=False)


def _nanconvolve_data(array, mask):
    """The lazy data and its lazy mask of holes (None if no mask is given), checked as in
    memory."""
    holes = None
    if not isinstance(array, da.Array):
        if np.ma.isMaskedArray(array):
            holes = np.ma.getmaskarray(array)
            array = np.ma.getdata(array)
        array = as_array(array, "array")
    x = _lazy(array)
    if isinstance(x._meta, np.ma.MaskedArray):
        holes = da.ma.getmaskarray(x)
        x = da.ma.getdata(x)
    if mask is not None:
        if not isinstance(mask, da.Array):
            mask = as_array(mask, "mask")
        if mask.shape != x.shape:
            raise ValueError(f"mask must have the array's shape {x.shape}, got {mask.shape}")
        if mask.dtype.kind not in "biuf":
            raise TypeError(f"mask must be boolean or numeric, got dtype {mask.dtype}")
        mask = _lazy(mask) != 0
        holes = mask if holes is None else _lazy(holes) | mask
    return x, holes


def nanconvolve(array, kernel, boundary="fill", fill_value=0.0, nan_treatment="interpolate",
                normalize_kernel=True, mask=None, preserve_nan=False,
                normalization_zero_tol=1e-08, *, method="auto", workers=None):
    """`cyconv.nanconvolve` (astropy's ``convolve``: data with holes) of a dask array,
    chunk by chunk.

    Parameters
    ----------
    array : dask.array.Array or array_like
        1-, 2- or 3-D data, chunked along any axes.  NaN, +-inf, masked
        values (of a masked array, or of a dask array of masked chunks) are
        holes.
    kernel : array_like
        Small, sent whole to every chunk (a dask array is computed first).
    boundary, fill_value, nan_treatment, normalize_kernel, preserve_nan, normalization_zero_tol
        As for `cyconv.nanconvolve`, with every boundary exact across the
        chunks: 'wrap' and 'extend' reach across the whole array, and
        ``boundary=None``'s zero border is at the array's edges only.
    mask : dask.array.Array or array_like, optional
        Of the array's shape, chunked in any way; non-zero entries are holes.
    method : {'auto', 'direct', 'fft'}, optional
        As for `cyconv.nanconvolve`; 'auto' chooses for each chunk (with its
        halo) by the chunk's cost.
    workers : int, optional
        Threads per chunk.  ``None`` (default) shares the CPUs among the
        tasks dask runs at once (see the module documentation).

    Returns
    -------
    out : dask.array.Array
        Lazy, of the array's shape and of `cyconv.nanconvolve`'s output
        dtype, chunked as the array (chunks smaller than the kernel merged
        with the next); computed, equal to
        `cyconv.nanconvolve` on the whole array: bit for bit with
        ``method='direct'``, to rounding when the FFTs compute a chunk.

    Warns
    -----
    NanConvolveWarning
        When a chunk is computed (on the worker, with dask.distributed):
        one warning per chunk that holds outputs with no valid value under
        the kernel, with their number in that chunk, where the in-memory
        call warns once for the whole array.

    Raises
    ------
    ValueError, TypeError
        What `cyconv.nanconvolve` rejects, when the graph is built, with
        one exception: a kernel that cannot be normalised with
        ``nan_treatment='interpolate'`` and ``normalize_kernel=False`` is an
        error only if the array has holes, which is known when it is
        computed: then computing raises the ValueError.

    Notes
    -----
    Each chunk is given its neighbours' values within the kernel's radius
    (``kernel.shape[i] // 2`` along axis ``i``), wrapped around the array
    for 'wrap'; the in-memory computation runs on it and keeps the chunk's
    own outputs.  At the array's edges the in-memory computation pads as it
    does for the whole array, so the result does not depend on the chunks.
    ``preserve_nan`` and the warning apply to each chunk's outputs.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv, cyconv.dask
    >>> rng = np.random.default_rng(0)
    >>> image = rng.random((60, 50))
    >>> image[rng.random(image.shape) < 0.1] = np.nan
    >>> kernel = np.outer(*2 * [np.exp(-np.linspace(-2, 2, 7) ** 2)])
    >>> lazy = cyconv.dask.nanconvolve(da.from_array(image, chunks=(20, 25)), kernel,
    ...                                boundary="wrap", method="direct")
    >>> lazy.chunks
    ((20, 20, 20), (25, 25))
    >>> result = lazy.compute()
    >>> bool(np.isnan(result).any())
    False
    >>> np.array_equal(result, cyconv.nanconvolve(image, kernel, boundary="wrap",
    ...                                           method="direct"))
    True
    """
    if isinstance(kernel, da.Array):
        kernel = kernel.compute()
    x, holes = _nanconvolve_data(array, mask)
    if x.ndim == 0:
        raise ValueError("array must have 1, 2 or 3 dimensions, got a 0-dimensional array")
    if x.ndim <= 3 and x.size == 0:
        raise ValueError(f"array must not be empty, got shape {x.shape}")
    # Every argument check of the in-memory function, on a one-element sample; the
    # sample's size would fail boundary=None's rule, checked on the real sizes below.
    sample_dtype = x.dtype if x.dtype.kind in "biufc" else np.dtype(np.float64)
    sample = np.zeros((1,) * x.ndim, sample_dtype)
    nanconvolve_plan(sample, kernel, "extend" if boundary is None else boundary, fill_value,
                     nan_treatment, normalize_kernel, None, preserve_nan,
                     normalization_zero_tol, method=method, workers=workers)
    if np.ma.isMaskedArray(kernel):
        kernel = np.ma.getdata(kernel)
    kernel = np.array(kernel, dtype=np.float64)
    radii = [k // 2 for k in kernel.shape]
    if any(n + k > INDEX_LIMIT for n, k in zip(x.shape, kernel.shape)):
        raise ValueError("array and kernel are too large to index")
    if boundary is None and not all(n > 2 * r for n, r in zip(x.shape, radii)):
        raise ValueError(
            f"with boundary=None every kernel axis must be smaller than the array's "
            f"(kernel {kernel.shape}, array {x.shape}); use boundary 'fill', 'extend' "
            f"or 'wrap' instead")
    # The in-memory dtype rules: floating data keep their dtype, computed in float32
    # (float16, float32) or float64; other data are computed in float64.
    if x.dtype.kind not in "biuf":
        x = x.astype(np.float64)
    out_dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    compute = np.float32 if x.dtype in (np.float16, np.float32) else np.float64
    x = x.astype(compute)
    if holes is not None:
        # A masked value is a hole, as a NaN is.
        x = da.where(holes, compute(np.nan), x)
    windows = [(-radius, 2 * radius + 1, 1, size) for radius, size in zip(radii, x.shape)]
    block_function = partial(
        _nanconvolve_block, kernel=kernel, boundary=boundary, fill_value=fill_value,
        nan_treatment=nan_treatment, normalize_kernel=normalize_kernel,
        preserve_nan=preserve_nan, normalization_zero_tol=normalization_zero_tol,
        method=method, workers=workers, radii=radii, shape=x.shape, out_dtype=out_dtype,
    )
    # Beyond the edges the chunks are wrapped for 'wrap'; otherwise the positions are
    # dropped unread (zeros do) and the in-memory computation pads the edge.
    extension = WRAP if boundary == "wrap" else FILL
    return _map_windows(block_function, x, windows, extension, 0, (),
                        np.empty((0,) * x.ndim, out_dtype))


# cyconv.dask.ndimage: scipy.ndimage's filters (it uses the helpers above).
from cyconv.dask import ndimage  # noqa: E402
