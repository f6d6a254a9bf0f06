"""`cyconv.ndimage`'s filters (scipy.ndimage's) on dask arrays, chunk by chunk.

The thirteen functions take the signatures of `cyconv.ndimage` (those of
``scipy.ndimage`` plus ``workers=``), take a dask array chunked along any
axes (or anything `dask.array.asarray` takes), and return a lazy dask array
of the input's shape whose computed value equals the in-memory call on the
whole array: to rounding of the output dtype for floating point, exactly for
integers.

How a chunk is computed:

1. Along each filtered axis the output at position ``i`` reads the input
   positions ``[i - before, i + after]``: for a kernel of length ``w`` with
   origin ``o``, ``before = w // 2 + o`` and ``after = w - 1 - before``
   (convolutions mirror the kernel and the origin as scipy does); for a
   Gaussian ``before = after = int(truncate * sigma + 0.5)`` or ``radius``;
   for `sobel`, `prewitt` and `laplace` one.  Axes that are not filtered get
   no halo.
2. Beyond the array's edges the input is extended lazily as scipy extends it
   ('reflect' and 'grid-mirror' mirror with the edge repeated, 'mirror'
   mirrors about the edge element, 'nearest' repeats it, 'wrap' and
   'grid-wrap' are periodic), by index arithmetic on slices, so a halo
   larger than the array folds over it as in scipy.  Along a 'constant' or
   'grid-constant' axis nothing is added: the chunk at the edge is the
   array's edge, and the in-memory function pads it with ``cval`` there
   itself, which keeps the filters made of several passes (`sobel`,
   `gaussian_filter`, ...) exact, as scipy pads each pass's result with
   ``cval`` rather than filtering a padded input.
3. Each chunk is given exactly that halo from its neighbours (chunks smaller
   than the halo are merged with the next), the in-memory `cyconv.ndimage`
   function runs on it with the same arguments, and the chunk's part of the
   result is kept.

One exception: scipy's uniform filters truncate a running floating-point
sum into an integer output, so their integer results depend on where each
line starts; into an integer dtype, `uniform_filter` and `uniform_filter1d`
run along whole lines instead, one axis after the other, and the result is
rechunked as the input.

The arguments are checked when the graph is built, by the in-memory
function on a one-element array of the input's dtype, so a call that
`cyconv.ndimage` rejects raises the same exception here, before anything is
computed; ``output`` may be ``None`` or a dtype (an array cannot be filled
lazily).  ``workers`` is per chunk, as in `cyconv.dask`: ``None`` shares
OpenMP's threads among the tasks dask runs at once.

Examples
--------
>>> import numpy as np
>>> import dask.array as da
>>> import cyconv.ndimage
>>> from cyconv.dask import ndimage
>>> image = np.random.default_rng(0).random((60, 50), dtype=np.float32)
>>> lazy = ndimage.gaussian_filter(da.from_array(image, chunks=(20, 25)), 2.0, mode="wrap")
>>> lazy
dask.array<..., shape=(60, 50), dtype=float32, chunksize=(20, 25), chunktype=numpy.ndarray>
>>> np.allclose(lazy.compute(), cyconv.ndimage.gaussian_filter(image, 2.0, mode="wrap"))
True
"""
import operator
from functools import partial

import numpy as np

from cyconv import ndimage as _memory
from cyconv.ndimage import _check_axes, _gaussian_radius, _normalize_sequence
from cyconv.dask import FILL, _dtype_sample, _lazy, _map_windows, chunk_threads, da

__all__ = list(_memory.__all__)

# How each mode extends the input beyond the array's edges (the in-memory
# module's codes); None: not at all, the in-memory function pads with cval.
_EXTENSION = {mode: None if code == FILL else code for mode, code in _memory._MODES.items()}


# -- the chunking, shared by all the filters -----------------------------------------


def _check_output(name, output):
    if output is None or isinstance(output, (type, np.dtype, str)):
        return
    raise TypeError(
        f"cyconv.dask.ndimage.{name}: output must be None or a dtype; the result is a lazy "
        f"dask array and cannot be written into an existing {type(output).__name__} "
        "(store it with .compute(), da.store or .to_zarr instead)"
    )


def _per_axis(value, count):
    """scipy's ``_normalize_sequence``: ``value`` for each of ``count`` axes (already checked)."""
    return _normalize_sequence(value, count, "value")


def _filtered_axes(axes, ndim):
    """The axes scipy filters for ``axes`` (already checked), in the order given."""
    return [axis % ndim for axis in _check_axes(axes, ndim)]


def _gaussian_radii(sigmas, truncate, radius):
    """The half-width of scipy's Gaussian kernel along each axis (0 where it skips the axis)."""
    radii = _per_axis(radius, len(sigmas))
    return [_gaussian_radius(sigma, truncate, axis_radius) if sigma > 1e-15 else 0
            for sigma, axis_radius in zip(sigmas, radii)]


def _whole_block(block, call, workers):
    return call(block, workers=chunk_threads(workers))


def _filter_block(block, call, before, padded, shape, workers, block_info=None):
    """``call`` on one extended block; the part of its result that the output chunk holds.

    The block holds input positions ``[o0 - before, o1 + after)`` along each
    axis for output chunk ``[o0, o1)``.  Along the axes in ``padded`` the
    positions outside the array are dropped first: there the in-memory
    function pads with cval itself.
    """
    inside, kept = [], []
    for axis, (start, stop) in enumerate(block_info[None]["array-location"]):
        first = start - before[axis]  # input position of block[0] along this axis
        low = high = 0
        if padded[axis]:
            low = max(0, -first)
            high = max(0, first + block.shape[axis] - shape[axis])
        inside.append(slice(low, block.shape[axis] - high))
        kept.append(slice(before[axis] - low, before[axis] - low + stop - start))
    return call(block[tuple(inside)], workers=chunk_threads(workers))[tuple(kept)]


def _checked(function, x, output, workers, arguments):
    """Every argument check of the in-memory ``function``, on a one-element sample; the
    output's dtype."""
    _check_output(function.__name__, output)
    return function(_dtype_sample(x), **arguments, output=output, workers=workers).dtype


def _filter(function, input, output, workers, arguments, plan, dtype=None):
    """``function`` (a `cyconv.ndimage` filter) of the lazy ``input``, chunk by chunk.

    ``arguments`` are its keyword arguments besides ``output`` and
    ``workers``; ``plan(ndim)`` gives, once they are checked, each axis's
    ``(before, after)`` halo and the mode that extends it (None where the
    halo is 0).  ``dtype``: the output's, when the arguments are checked
    already.
    """
    x = _lazy(input)
    if dtype is None:
        dtype = _checked(function, x, output, workers, arguments)
    meta = np.empty((0,) * x.ndim, dtype)
    call = partial(function, **arguments, output=output)
    if x.ndim == 0 or x.size == 0:
        return x.rechunk(-1).map_blocks(_whole_block, call=call, workers=workers, meta=meta)
    halos, modes = plan(x.ndim)
    extensions = [None if mode is None else _EXTENSION[mode] for mode in modes]
    windows = [(-before, before + after + 1, 1, size)
               for (before, after), size in zip(halos, x.shape)]
    block_function = partial(
        _filter_block, call=call, before=[before for before, _ in halos],
        padded=[extension is None for extension in extensions], shape=x.shape, workers=workers,
    )
    # Positions outside the array along a padded axis are dropped unread: zeros do.
    boundaries = [FILL if extension is None else extension for extension in extensions]
    return _map_windows(block_function, x, windows, boundaries, 0, (), meta)


def _kernel_halo(length, origin):
    """``(before, after)`` for a kernel of ``length`` taps correlated with ``origin``."""
    before = length // 2 + origin
    return before, length - 1 - before


def _plan_on(axes_halos_modes):
    """A plan from ``[(axis, (before, after), mode)]``, the other axes without halo."""
    def plan(ndim):
        halos, modes = [(0, 0)] * ndim, [None] * ndim
        for axis, halo, mode in axes_halos_modes(ndim):
            if halo != (0, 0):
                halos[axis], modes[axis] = halo, mode
        return halos, modes
    return plan


# -- docstrings ---------------------------------------------------------------------

_INPUT = """input : dask.array.Array or array_like
        Chunked along any axes."""
_OUTPUT = """output : dtype, optional
        The output's dtype (default: scipy's).  An array is rejected: the
        result is lazy; store it with ``.compute()``, `dask.array.store` or
        ``.to_zarr``."""
_WORKERS = """workers : int, optional
        Threads per chunk.  ``None`` (default) shares OpenMP's threads among
        the tasks dask runs at once (see `cyconv.dask`)."""
_RETURNS = """Returns
    -------
    out : dask.array.Array
        Lazy, of the input's shape, chunked as the input (chunks smaller
        than the halo merged with the next); computed, equal to
        ``cyconv.ndimage.{name}`` on the whole array."""


_INTEGER_NOTES = """Notes
    -----
    scipy computes a moving average as a running floating-point sum from
    the start of each line, which an integer output truncates, so a value
    depends on where its line starts.  Into an integer dtype the filter
    therefore runs on chunks that hold whole lines along the filtered
    {lines} (as large as the input's chunks), and
    the result is rechunked as the input: exact, at the cost of
    {cost}.  Floating-point outputs use halos."""


def _document(function):
    function.__doc__ = function.__doc__.format(
        input=_INPUT, output=_OUTPUT, workers=_WORKERS,
        returns=_RETURNS.format(name=function.__name__),
        integer_notes=_INTEGER_NOTES.format(lines="axes, one axis after the other",
                                            cost="the rechunkings"),
        integer_notes_1d=_INTEGER_NOTES.format(lines="axis", cost="a rechunking"),
    )
    return function


# -- correlate / convolve -----------------------------------------------------------


def _correlate_plan(weights, mode, origin, axes, convolve):
    def axes_halos_modes(ndim):
        filtered = _filtered_axes(axes, ndim)
        if len(filtered) < ndim:
            # scipy inserts the other axes into the kernel (so its axes follow the
            # filtered ones in increasing order) but pairs the origins with axes as given.
            origins = dict(zip(filtered, _per_axis(origin, len(filtered))))
            lengths = dict(zip(sorted(filtered), weights.shape))
        else:  # scipy then pairs the kernel's axes with the input's in order
            origins = dict(enumerate(_per_axis(origin, ndim)))
            lengths = dict(enumerate(weights.shape))
        for axis, length in lengths.items():
            axis_origin = origins[axis]
            if convolve:  # the mirrored kernel's origin, as scipy computes it
                axis_origin = -axis_origin - (0 if length & 1 else 1)
            yield axis, _kernel_halo(length, axis_origin), mode
    return _plan_on(axes_halos_modes)


@_document
def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None,
              workers=None):
    """`cyconv.ndimage.correlate` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    weights : array_like
        The kernel; small, sent whole to every chunk (a dask array is
        computed first).
    {output}
    mode, cval, origin, axes
        As for `cyconv.ndimage.correlate`.
    {workers}

    {returns}

    {integer_notes}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> image = np.random.default_rng(0).integers(0, 100, (40, 30), dtype=np.int32)
    >>> weights = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
    >>> lazy = ndimage.correlate(da.from_array(image, chunks=(10, 15)), weights,
    ...                          mode="nearest", origin=(1, 0))
    >>> lazy.chunks
    ((10, 10, 10, 10), (15, 15))
    >>> np.array_equal(lazy.compute(),
    ...                cyconv.ndimage.correlate(image, weights, mode="nearest", origin=(1, 0)))
    True
    """
    weights = np.asarray(weights)
    return _filter(_memory.correlate, input, output, workers,
                   dict(weights=weights, mode=mode, cval=cval, origin=origin, axes=axes),
                   _correlate_plan(weights, mode, origin, axes, False))


@_document
def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None,
             workers=None):
    """`cyconv.ndimage.convolve` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    weights : array_like
        The kernel; small, sent whole to every chunk (a dask array is
        computed first).
    {output}
    mode, cval, origin, axes
        As for `cyconv.ndimage.convolve`.
    {workers}

    {returns}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> volume = np.random.default_rng(0).random((8, 30, 20))
    >>> weights = np.ones((4, 5)) / 20
    >>> lazy = ndimage.convolve(da.from_array(volume, chunks=(4, 10, 10)), weights,
    ...                         mode="constant", cval=1.0, axes=(1, 2))
    >>> np.allclose(lazy.compute(), cyconv.ndimage.convolve(volume, weights, mode="constant",
    ...                                                     cval=1.0, axes=(1, 2)))
    True
    """
    weights = np.asarray(weights)
    return _filter(_memory.convolve, input, output, workers,
                   dict(weights=weights, mode=mode, cval=cval, origin=origin, axes=axes),
                   _correlate_plan(weights, mode, origin, axes, True))


def _correlate1d_plan(weights, axis, mode, origin, convolve):
    def axes_halos_modes(ndim):
        length = len(weights)
        axis_origin = -origin - (0 if length & 1 else 1) if convolve else origin
        yield operator.index(axis) % ndim, _kernel_halo(length, axis_origin), mode
    return _plan_on(axes_halos_modes)


@_document
def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0, *,
                workers=None):
    """`cyconv.ndimage.correlate1d` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    weights : array_like
        The 1-D kernel, sent whole to every chunk.
    axis : int, optional
        The axis to filter along (default: the last).
    {output}
    mode, cval, origin
        As for `cyconv.ndimage.correlate1d`.
    {workers}

    {returns}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> signal = np.arange(100, dtype=np.int16).reshape(4, 25) ** 2
    >>> lazy = ndimage.correlate1d(da.from_array(signal, chunks=(2, 7)), [1, -1], mode="mirror")
    >>> np.array_equal(lazy.compute(), cyconv.ndimage.correlate1d(signal, [1, -1], mode="mirror"))
    True
    """
    weights = np.asarray(weights)
    return _filter(_memory.correlate1d, input, output, workers,
                   dict(weights=weights, axis=axis, mode=mode, cval=cval, origin=origin),
                   _correlate1d_plan(weights, axis, mode, origin, False))


@_document
def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0, *,
               workers=None):
    """`cyconv.ndimage.convolve1d` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    weights : array_like
        The 1-D kernel, sent whole to every chunk.
    axis : int, optional
        The axis to filter along (default: the last).
    {output}
    mode, cval, origin
        As for `cyconv.ndimage.convolve1d`.
    {workers}

    {returns}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> signal = np.random.default_rng(0).random((6, 50))
    >>> lazy = ndimage.convolve1d(da.from_array(signal, chunks=(3, 8)), [0.5, 0.3, 0.2],
    ...                           axis=1, mode="wrap")
    >>> np.allclose(lazy.compute(), cyconv.ndimage.convolve1d(signal, [0.5, 0.3, 0.2],
    ...                                                       axis=1, mode="wrap"))
    True
    """
    weights = np.asarray(weights)
    return _filter(_memory.convolve1d, input, output, workers,
                   dict(weights=weights, axis=axis, mode=mode, cval=cval, origin=origin),
                   _correlate1d_plan(weights, axis, mode, origin, True))


# -- uniform ------------------------------------------------------------------------


def _uniform(function, input, output, workers, arguments, passes):
    """`uniform_filter` or `uniform_filter1d`; ``passes(ndim)``: scipy's 1-D passes,
    ``(axis, size, origin, mode)``."""
    x = _lazy(input)
    dtype = _checked(function, x, output, workers, arguments)
    if x.ndim and x.size and dtype.kind in "iub" and passes(x.ndim):
        return _uniform_along_lines(x, dtype, passes(x.ndim), arguments["cval"], workers)

    def axes_halos_modes(ndim):
        for axis, size, origin, mode in passes(ndim):
            yield axis, _kernel_halo(size, origin), mode
    return _filter(function, x, output, workers, arguments, _plan_on(axes_halos_modes), dtype)


def _uniform_along_lines(x, dtype, passes, cval, workers):
    """scipy's uniform filter into an integer dtype, pass by pass, each on whole lines.

    scipy computes each line's moving average as a running floating-point sum
    from the line's start and truncates it to the integer output, so the
    result at a position depends on where its line starts: a chunk with a
    halo could differ by one.  Each pass is therefore computed on chunks that
    hold whole lines along its axis (as large as the input's chunks, or one
    line when a line is larger), and the result is rechunked as the input.
    """
    chunks = x.chunks
    chunk_bytes = int(np.prod([max(sizes) for sizes in chunks])) * max(x.dtype.itemsize,
                                                                        dtype.itemsize)
    for axis, size, origin, mode in passes:
        line_bytes = x.shape[axis] * max(x.dtype.itemsize, dtype.itemsize)
        lines = x.rechunk({other: -1 if other == axis else "auto" for other in range(x.ndim)},
                          block_size_limit=max(chunk_bytes, line_bytes))
        call = partial(_memory.uniform_filter1d, size=size, axis=axis, output=dtype, mode=mode,
                       cval=cval, origin=origin)
        x = lines.map_blocks(_whole_block, call=call, workers=workers,
                             meta=np.empty((0,) * x.ndim, dtype))
    return x.rechunk(chunks)



@_document
def uniform_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0, *,
                     workers=None):
    """`cyconv.ndimage.uniform_filter1d` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    size : int
        The length of the moving average.
    axis : int, optional
        The axis to filter along (default: the last).
    {output}
    mode, cval, origin
        As for `cyconv.ndimage.uniform_filter1d`.
    {workers}

    {returns}

    {integer_notes_1d}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> series = np.random.default_rng(0).random(1000)
    >>> lazy = ndimage.uniform_filter1d(da.from_array(series, chunks=100), 25, origin=-3)
    >>> np.allclose(lazy.compute(), cyconv.ndimage.uniform_filter1d(series, 25, origin=-3))
    True
    """
    def passes(ndim):
        return [(operator.index(axis) % ndim, int(size), origin, mode)]
    return _uniform(_memory.uniform_filter1d, input, output, workers,
                    dict(size=size, axis=axis, mode=mode, cval=cval, origin=origin), passes)


@_document
def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None,
                   workers=None):
    """`cyconv.ndimage.uniform_filter` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    size : int or sequence of int, optional
        The window's length along each filtered axis.
    {output}
    mode, cval, origin, axes
        As for `cyconv.ndimage.uniform_filter`; modes and origins may be
        given per axis.
    {workers}

    {returns}

    {integer_notes}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> image = np.random.default_rng(0).integers(0, 255, (64, 48), dtype=np.uint8)
    >>> lazy = ndimage.uniform_filter(da.from_array(image, chunks=16), (5, 3),
    ...                               mode=("reflect", "constant"), cval=255)
    >>> np.array_equal(lazy.compute(), cyconv.ndimage.uniform_filter(
    ...     image, (5, 3), mode=("reflect", "constant"), cval=255))
    True
    """
    def passes(ndim):
        filtered = _filtered_axes(axes, ndim)
        count = len(filtered)
        return [(axis, int(axis_size), axis_origin, axis_mode)
                for axis, axis_size, axis_origin, axis_mode in zip(
                    filtered, _per_axis(size, count), _per_axis(origin, count),
                    _per_axis(mode, count))
                if axis_size > 1]
    return _uniform(_memory.uniform_filter, input, output, workers,
                    dict(size=size, mode=mode, cval=cval, origin=origin, axes=axes), passes)


# -- Gaussian -----------------------------------------------------------------------


@_document
def gaussian_filter1d(input, sigma, axis=-1, order=0, output=None, mode="reflect", cval=0.0,
                      truncate=4.0, *, radius=None, workers=None):
    """`cyconv.ndimage.gaussian_filter1d` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    sigma : float
        The Gaussian's standard deviation.
    axis : int, optional
        The axis to filter along (default: the last).
    order : int, optional
        0 smooths; 1, 2, ... convolve with that derivative of the Gaussian.
    {output}
    mode, cval, truncate, radius
        As for `cyconv.ndimage.gaussian_filter1d`; the halo is the kernel's
        radius, ``int(truncate * sigma + 0.5)`` or `radius`.
    {workers}

    {returns}

    {integer_notes_1d}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> series = np.random.default_rng(0).random((3, 500))
    >>> lazy = ndimage.gaussian_filter1d(da.from_array(series, chunks=(1, 64)), 6.0, order=1)
    >>> np.allclose(lazy.compute(), cyconv.ndimage.gaussian_filter1d(series, 6.0, order=1))
    True
    """
    def axes_halos_modes(ndim):
        # Unlike gaussian_filter, gaussian_filter1d filters whatever the sigma.
        halo = _gaussian_radius(sigma, truncate, radius)
        yield operator.index(axis) % ndim, (halo, halo), mode
    return _filter(_memory.gaussian_filter1d, input, output, workers,
                   dict(sigma=sigma, axis=axis, order=order, mode=mode, cval=cval,
                        truncate=truncate, radius=radius),
                   _plan_on(axes_halos_modes))


def _gaussian_plan(sigmas, modes, truncate, radius):
    """Halos for a Gaussian over all axes with per-axis ``sigmas`` and ``modes``."""
    def axes_halos_modes(ndim):
        for axis, (halo, mode) in enumerate(zip(_gaussian_radii(sigmas, truncate, radius), modes)):
            yield axis, (halo, halo), mode
    return _plan_on(axes_halos_modes)


@_document
def gaussian_filter(input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *,
                    radius=None, axes=None, workers=None):
    """`cyconv.ndimage.gaussian_filter` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    sigma : float or sequence of float
        The Gaussian's standard deviation along each filtered axis.
    order : int or sequence of int, optional
        0 smooths; 1, 2, ... convolve with that derivative of the Gaussian.
    {output}
    mode, cval, truncate, radius, axes
        As for `cyconv.ndimage.gaussian_filter`; modes and radii may be given
        per axis.  The halo along each axis is its kernel's radius.
    {workers}

    {returns}

    {integer_notes}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> image = np.random.default_rng(0).random((80, 60), dtype=np.float32)
    >>> lazy = ndimage.gaussian_filter(da.from_array(image, chunks=(20, 30)), (3.0, 1.5),
    ...                                mode=("mirror", "wrap"))
    >>> np.allclose(lazy.compute(), cyconv.ndimage.gaussian_filter(image, (3.0, 1.5),
    ...                                                            mode=("mirror", "wrap")))
    True
    """
    def plan(ndim):
        filtered = _filtered_axes(axes, ndim)
        count = len(filtered)
        sigmas, modes = [0.0] * ndim, [None] * ndim
        radii = [None] * ndim
        for axis, axis_sigma, axis_mode, axis_radius in zip(
                filtered, _per_axis(sigma, count), _per_axis(mode, count),
                _per_axis(radius, count)):
            sigmas[axis], modes[axis], radii[axis] = axis_sigma, axis_mode, axis_radius
        return _gaussian_plan(sigmas, modes, truncate, radii)(ndim)
    return _filter(_memory.gaussian_filter, input, output, workers,
                   dict(sigma=sigma, order=order, mode=mode, cval=cval, truncate=truncate,
                        radius=radius, axes=axes),
                   plan)


def _gaussian_terms(derivative, x, sigmas, output, modes, cval, axes, workers, kwargs):
    """scipy's ``generic_laplace`` / ``generic_gradient_magnitude`` term by term.

    For a mode sequence whose modes extend the edges differently: scipy's
    term along ``axes[i]`` is a Gaussian over every axis with ``modes[i]``
    alone, so each term gets the extension of its own mode.
    """
    terms = []
    for axis, mode in zip(axes, modes):
        order = [0] * x.ndim
        order[axis] = derivative
        terms.append(gaussian_filter(x, sigmas, order, output, mode, cval, workers=workers,
                                     **kwargs))
    if derivative == 2:
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total
    return da.map_blocks(_magnitude, *terms, dtype=terms[0].dtype)


def _magnitude(*terms):
    """scipy's ``generic_gradient_magnitude`` on computed terms, in their dtype."""
    total = terms[0] * terms[0]
    for term in terms[1:]:
        total += term * term
    np.sqrt(total, total, casting="unsafe")
    return total


def _gaussian_derivatives(function, derivative, input, sigma, output, mode, cval, axes, workers,
                          kwargs):
    """`gaussian_laplace` (``derivative`` 2) or `gaussian_gradient_magnitude` (1)."""
    x = _lazy(input)
    arguments = dict(sigma=sigma, mode=mode, cval=cval, axes=axes, **kwargs)
    dtype = _checked(function, x, output, workers, arguments)
    if x.ndim == 0 or x.size == 0:
        return _filter(function, x, output, workers, arguments, None, dtype)
    filtered = _filtered_axes(axes, x.ndim)
    if derivative == 2 and len(filtered) < x.ndim:  # scipy's gaussian_laplace
        sigmas = [0] * x.ndim
        for axis, axis_sigma in zip(filtered, _per_axis(sigma, len(filtered))):
            sigmas[axis] = axis_sigma
    else:  # sigma is per axis of the input, whatever the axes
        sigmas = _per_axis(sigma, x.ndim)
    modes = _per_axis(mode, len(filtered))
    if len({_EXTENSION[axis_mode] for axis_mode in modes}) > 1:
        return _gaussian_terms(derivative, x, sigmas, output, modes, cval, filtered, workers,
                               kwargs)
    if not filtered:  # scipy copies the input
        sigmas = [0] * x.ndim
    plan = _gaussian_plan(sigmas, [modes[0] if modes else None] * x.ndim,
                          kwargs.get("truncate", 4.0), kwargs.get("radius"))
    return _filter(function, x, output, workers, arguments, plan, dtype)


@_document
def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None,
                     workers=None, **kwargs):
    """`cyconv.ndimage.gaussian_laplace` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    sigma : float or sequence of float
        The Gaussian's standard deviation along each filtered axis.
    {output}
    mode, cval, axes
        As for `cyconv.ndimage.gaussian_laplace`.  With a sequence of modes
        that extend the edges differently, each second derivative is
        computed on its own (as scipy does, it applies its mode along every
        axis) and the terms are summed lazily.
    {workers}
    **kwargs
        ``truncate``, ``radius``: as for `gaussian_filter`.

    {returns}

    {integer_notes}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> image = np.random.default_rng(0).random((50, 40))
    >>> lazy = ndimage.gaussian_laplace(da.from_array(image, chunks=(25, 10)), 2.0,
    ...                                 truncate=3.0)
    >>> np.allclose(lazy.compute(), cyconv.ndimage.gaussian_laplace(image, 2.0, truncate=3.0))
    True
    """
    return _gaussian_derivatives(_memory.gaussian_laplace, 2, input, sigma, output, mode, cval,
                                 axes, workers, kwargs)


@_document
def gaussian_gradient_magnitude(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None,
                                workers=None, **kwargs):
    """`cyconv.ndimage.gaussian_gradient_magnitude` (scipy.ndimage's) of a dask array.

    Parameters
    ----------
    {input}
    sigma : float or sequence of float
        The Gaussian's standard deviation along each axis of the input.
    {output}
    mode, cval, axes
        As for `cyconv.ndimage.gaussian_gradient_magnitude`.  With a sequence
        of modes that extend the edges differently, each derivative is
        computed on its own (as scipy does, it applies its mode along every
        axis) and the terms are combined lazily.
    {workers}
    **kwargs
        ``truncate``, ``radius``: as for `gaussian_filter`.

    {returns}

    {integer_notes}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> image = np.random.default_rng(0).random((50, 40), dtype=np.float32)
    >>> lazy = ndimage.gaussian_gradient_magnitude(da.from_array(image, chunks=(20, 20)), 1.5,
    ...                                            mode=("nearest", "wrap"))
    >>> np.allclose(lazy.compute(), cyconv.ndimage.gaussian_gradient_magnitude(
    ...     image, 1.5, mode=("nearest", "wrap")), atol=1e-6)
    True
    """
    return _gaussian_derivatives(_memory.gaussian_gradient_magnitude, 1, input, sigma, output,
                                 mode, cval, axes, workers, kwargs)


# -- sobel / prewitt / laplace ------------------------------------------------------


def _every_axis_plan(mode):
    def axes_halos_modes(ndim):
        for axis, axis_mode in enumerate(_per_axis(mode, ndim)):
            yield axis, (1, 1), axis_mode
    return _plan_on(axes_halos_modes)


@_document
def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0, *, workers=None):
    """`cyconv.ndimage.sobel` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    axis : int, optional
        The axis of the derivative (default: the last); every other axis is
        smoothed.
    {output}
    mode, cval
        As for `cyconv.ndimage.sobel`; the mode may be given per axis.
    {workers}

    {returns}

    {integer_notes}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> image = np.random.default_rng(0).integers(0, 1000, (30, 40), dtype=np.int32)
    >>> lazy = ndimage.sobel(da.from_array(image, chunks=(7, 9)), axis=0)
    >>> np.array_equal(lazy.compute(), cyconv.ndimage.sobel(image, axis=0))
    True
    """
    return _filter(_memory.sobel, input, output, workers,
                   dict(axis=axis, mode=mode, cval=cval), _every_axis_plan(mode))


@_document
def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0, *, workers=None):
    """`cyconv.ndimage.prewitt` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    axis : int, optional
        The axis of the derivative (default: the last); every other axis is
        smoothed.
    {output}
    mode, cval
        As for `cyconv.ndimage.prewitt`; the mode may be given per axis.
    {workers}

    {returns}

    {integer_notes}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> image = np.random.default_rng(0).random((30, 40))
    >>> lazy = ndimage.prewitt(da.from_array(image, chunks=(10, 8)), mode="constant", cval=0.5)
    >>> np.allclose(lazy.compute(), cyconv.ndimage.prewitt(image, mode="constant", cval=0.5))
    True
    """
    return _filter(_memory.prewitt, input, output, workers,
                   dict(axis=axis, mode=mode, cval=cval), _every_axis_plan(mode))


@_document
def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None, workers=None):
    """`cyconv.ndimage.laplace` (scipy.ndimage's) of a dask array, chunk by chunk.

    Parameters
    ----------
    {input}
    {output}
    mode, cval, axes
        As for `cyconv.ndimage.laplace`; the mode may be given per axis.
    {workers}

    {returns}

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import cyconv.ndimage
    >>> from cyconv.dask import ndimage
    >>> volume = np.random.default_rng(0).integers(-50, 50, (10, 12, 14), dtype=np.int16)
    >>> lazy = ndimage.laplace(da.from_array(volume, chunks=(3, 5, 7)), axes=(0, 2))
    >>> np.array_equal(lazy.compute(), cyconv.ndimage.laplace(volume, axes=(0, 2)))
    True
    """
    def axes_halos_modes(ndim):
        filtered = _filtered_axes(axes, ndim)
        for axis, axis_mode in zip(filtered, _per_axis(mode, len(filtered))):
            yield axis, (1, 1), axis_mode
    return _filter(_memory.laplace, input, output, workers,
                   dict(mode=mode, cval=cval, axes=axes), _plan_on(axes_halos_modes))
