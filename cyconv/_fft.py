"""Correlation by FFT, tile by tile (overlap-save), and the cost of doing so.

The output is cut into tiles.  Each tile reads the window of the
boundary-extended input that its outputs need, gathered straight from the
input (the extended input is never built), transforms it at ``fft_shape``,
multiplies by the kernel's spectrum and keeps the outputs the circular
correlation did not wrap.  One tile covering the whole output is the classic
whole-array FFT; smaller tiles bound the memory by the tiles instead of the
image and keep the transforms in cache.  A `Tiling` is the choice of
transform shape, made by `choose_tiling` from a cost model.

Float32 data are transformed in complex64, float64 in complex128; integer
data in float64, rounded afterwards as `scipy.signal.convolve` does.
"""
import functools
import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import scipy.fft

from cyconv import _simd
from cyconv._kernels import memory

# Boundary codes shared with the kernels (cyconv/_kernels/boundary.pxd): the
# three of scipy.signal, and scipy.ndimage's 'nearest' and 'mirror'.
FILL, SYMM, WRAP, NEAREST, MIRROR = 0, 1, 2, 3, 4


def extend(image, out_shape, kernel_shape, offsets, boundaries, fill):
    """The boundary-extended image that a 'valid' correlation maps onto out_shape.

    Positions ``offsets[a] .. offsets[a] + out_shape[a] + kernel_shape[a] - 2``
    of the image extended along each axis ``a`` by ``boundaries[a]`` (or one
    code for every axis).
    """
    if isinstance(boundaries, int):
        boundaries = (boundaries,) * image.ndim
    return _gather(image, [_Axis(start, n, boundary).segment(0, max(o + k - 1, 0))
                           for start, o, k, n, boundary
                           in zip(offsets, out_shape, kernel_shape, image.shape, boundaries)],
                   fill)


class _Axis(NamedTuple):
    """Extended positions ``start`` onwards along an axis of ``size`` with ``boundary``."""

    start: int
    size: int
    boundary: int

    def segment(self, first, count):
        """Positions first .. first + count - 1 as (before, inside, after).

        ``inside`` is the slice of the input they read directly; ``before``
        and ``after`` are the input indices (-1: the fill value) of the
        positions beyond its two ends.
        """
        low, high = self.start + first, self.start + first + count
        inside_start = min(max(low, 0), self.size)
        inside = slice(inside_start, max(min(high, self.size), inside_start))
        before = min(max(-low, 0), count)
        after = count - before - (inside.stop - inside.start)
        return self._indices(low, before), inside, self._indices(high - after, after)

    def _indices(self, start, count):
        if count == 0 or self.size == 0:
            return np.full(count, -1, dtype=np.intp)
        return _simd.line_kernels.source_indices(start, count, self.size, self.boundary)


def _gather(image, segments, fill):
    """``image`` read at ``segments`` (see `_Axis.segment`; one per axis).

    Within the image a window is a view.  Each axis that reaches beyond it
    is cropped to the span it reads and copied once: its two ends gathered
    and joined to its middle.
    """
    crop, gathered = [], []
    for axis, (before, inside, after) in enumerate(segments):
        if not before.size and not after.size:
            crop.append(inside)
            continue
        read = np.concatenate([before[before >= 0], after[after >= 0],
                               [inside.start, inside.stop - 1] if inside.stop > inside.start
                               else []]).astype(np.intp)
        low = int(read.min()) if read.size else 0
        high = int(read.max()) + 1 if read.size else 0
        crop.append(slice(low, high))
        gathered.append((axis, before - low, slice(inside.start - low, inside.stop - low),
                         after - low, low))
    view = image[tuple(crop)]
    for axis, before, inside, after, low in gathered:
        middle = [slice(None)] * image.ndim
        middle[axis] = inside
        view = np.concatenate([_take(view, axis, before, low, fill), view[tuple(middle)],
                               _take(view, axis, after, low, fill)], axis=axis)
    return view


def _take(view, axis, indices, low, fill):
    """``view``'s elements at ``indices`` along ``axis``; ``fill`` where they were -1 - ``low``."""
    outside = indices < -low
    taken = np.take(view, np.where(outside, 0, indices), axis=axis) if view.shape[axis] else \
        np.empty(view.shape[:axis] + (indices.size,) + view.shape[axis + 1:], view.dtype)
    if outside.any():
        chosen = [slice(None)] * view.ndim
        chosen[axis] = outside
        taken[tuple(chosen)] = fill
    return taken


# The cost model, one thread, measured by benchmarks/bench_large_kernels.py
# --calibrate on the reference machine (AMD EPYC, 2 cores): tiles of 64^2 to
# 1024^2 over 2048^2 images with 15x15 and 63x63 kernels, fitted within 15 %.
# TILE_SECONDS is the fixed cost of one tile (the Python, numpy and scipy.fft
# calls around its two transforms: 35-40 us), FFT_SECONDS_PER_NLOGN the
# forward and inverse transforms' cost per point and log2 of the transformed
# points.  Tiles larger than CACHED_BYTES run LARGE_FACTOR slower (8192^2
# float32 with 101x101, per point and log2: 1024^2 and 1024x2048 tiles alike,
# 2048^2 tiles 1.3x slower), and one transform of the whole image 1.3-1.8x
# (512^2 to 4096^2 images with a 31x31 kernel; WHOLE_FACTOR): each of its
# passes strides over the whole image, and its buffers are fresh pages.
TILE_SECONDS = 38e-6
# Once per call: the kernel's spectrum, index maps, the small input's
# extension (64x64 float64 with 31x31: 0.15-0.2 ms before the first tile).
CALL_SECONDS = 150e-6
# (float64's fit, 0.55 ns, chose the FFT over the direct kernels on 2048^2
# and 4096x1024 images with 15x15 and 31x9 kernels, 1.5x slower: the regret
# grid's tiles of those sizes ran at 0.62-0.65 ns.)
FFT_SECONDS_PER_NLOGN = {np.dtype(np.float32): 0.37e-9, np.dtype(np.float64): 0.63e-9,
                         np.dtype(np.complex64): 0.66e-9, np.dtype(np.complex128): 1.33e-9}
CACHED_BYTES = 8 << 20
# The calibration's lengths are powers of 2; each factor 3 or 5 of a length
# adds this much to the cost of its axis (8192^2 float32 with 101x101: 1024^2
# tiles 814 ms, 1000^2 1090, 768^2 1016, 640^2 1103, 512^2 983).
ODD_FACTOR_PENALTY = {3: 0.1, 5: 0.12}
LARGE_FACTOR = 1.3
WHOLE_FACTOR = 1.6
# scipy.fft's workers speed one large transform up by threads ** this
# (measured: 1.6x at 2 threads on 4096^2); separate tiles scale fully.
WORKERS_EXPONENT = 0.7
# Tiles side by side run threads ** this faster than on one thread (2048^2
# and 4096x1024 images, kernels 31x31 to 127x127: 1.35-1.76x on 2 threads;
# their copies and products contend for memory bandwidth).
TILES_EXPONENT = 0.6
# Starting more threads, on this shared machine class: a 64x64 image's
# whole transform with a 63x63 kernel took 0.35 ms on one worker and 0.9 ms
# on two, and the direct kernels on 320x240 float32 with 7x7 0.34 ms on one
# thread and 1.4 ms on two, each timed after a pause and a warm-up call.
THREADS_START_SECONDS = 0.5e-3
# The working memory of the tiles (the kernel's spectrum and, per thread, a
# gathered window, its spectrum and its inverse) may reach this fraction of
# input + output, so that peak memory stays within 1.5x (input + output)
# however large the kernel; small calls may use MEMORY_FLOOR bytes instead.
MEMORY_FRACTION = 0.5
MEMORY_FLOOR = 32 << 20
# Inputs whose extended image is at most this large are extended once (a
# copy) instead of tile by tile: an edge tile's gathering costs 0.1-0.2 ms
# (64x64 float64 with 31x31 in two tiles: 0.5 ms against 0.2 ms expected).
EXTEND_ONCE_BYTES = 4 << 20
# Transform lengths tried per axis (the rest of the 5-smooth lengths differ
# from one of these by less than 10 %).
LENGTH_CANDIDATES = 40


class Tiling(NamedTuple):
    """How a correlation by FFT is cut into tiles: the transform and output shape of one tile."""

    fft_shape: tuple
    tile_shape: tuple
    counts: tuple
    seconds: float
    bytes: int
    # Threads that pay (None: the caller's).
    threads: object = None

    @property
    def tiles(self):
        return math.prod(self.counts)

    def __str__(self):
        shape = "x".join(map(str, self.fft_shape))
        on = f" on {self.threads} threads" if self.threads and self.threads > 1 else ""
        if self.tiles == 1:
            return f"one {shape} transform{on}"
        return (f"{self.tiles} tiles of {'x'.join(map(str, self.tile_shape))} outputs, "
                f"{shape} transforms{on}")


def work_dtype(dtype):
    """The type the transforms run in."""
    dtype = np.dtype(dtype).newbyteorder("=")
    if dtype in (np.float32, np.complex64, np.longdouble, np.clongdouble, np.complex128):
        return dtype
    return np.dtype(np.float64)


@functools.lru_cache(maxsize=64)
def _smooth_lengths(limit):
    """Sorted 2^a 3^b 5^c up to ``limit`` (lengths pocketfft transforms fastest)."""
    lengths = []
    power2 = 1
    while power2 <= limit:
        power3 = power2
        while power3 <= limit:
            value = power3
            while value <= limit:
                lengths.append(value)
                value *= 5
            power3 *= 3
        power2 *= 2
    return np.array(sorted(lengths), dtype=np.int64)


def _candidate_lengths(out, k):
    """Transform lengths worth trying along an axis of ``out`` outputs and ``k`` taps."""
    if k == 1:
        # Not transformed: the tile's length is a batch of independent lines.
        whole = np.array([out], dtype=np.int64)
        lengths = np.unique(np.concatenate([2 ** np.arange(int(math.log2(out)) + 1), whole]))
        return lengths
    largest = scipy.fft.next_fast_len(out + k - 1, real=True)
    lengths = _smooth_lengths(largest)
    lengths = lengths[lengths >= k]
    if lengths.size > LENGTH_CANDIDATES:
        keep = np.unique(np.geomspace(1, lengths.size, LENGTH_CANDIDATES).astype(int) - 1)
        powers = lengths[(lengths & (lengths - 1)) == 0]
        lengths = np.union1d(lengths[keep], powers)
    return lengths


def _log2_weighted(lengths):
    """log2 of each length, weighted by how much slower its odd factors transform."""
    weights = np.ones(lengths.shape)
    remaining = lengths.astype(np.int64)
    for factor, penalty in ODD_FACTOR_PENALTY.items():
        divisible = remaining % factor == 0
        while divisible.any():
            weights += penalty * divisible
            remaining = np.where(divisible, remaining // factor, remaining)
            divisible = remaining % factor == 0
    return np.log2(np.maximum(lengths, 2)) * weights


def _constant(table, dtype):
    """The cost constant of ``dtype``; long doubles cost at least what doubles do."""
    return table.get(dtype, table[np.dtype(np.complex128 if dtype.kind == "c" else np.float64)])


@functools.lru_cache(maxsize=256)
def choose_tiling(out_shape, kernel_shape, dtype, threads, memory_limit=None):
    """The cheapest `Tiling` by the cost model whose working memory fits.

    ``memory_limit`` (bytes) defaults to MEMORY_FRACTION of the input and
    output of this correlation, or MEMORY_FLOOR.  The tiling's ``seconds``
    are the model's time on ``threads``.
    """
    dtype = work_dtype(dtype)
    out_shape = tuple(max(o, 1) for o in out_shape)
    kernel_shape = tuple(max(k, 1) for k in kernel_shape)
    if memory_limit is None:
        inputs = math.prod(o + k - 1 for o, k in zip(out_shape, kernel_shape))
        memory_limit = max(MEMORY_FLOOR,
                           MEMORY_FRACTION * (inputs + math.prod(out_shape)) * dtype.itemsize)
    grids = np.meshgrid(*[_candidate_lengths(o, k) for o, k in zip(out_shape, kernel_shape)],
                        indexing="ij")
    lengths = [g.reshape(-1).astype(np.float64) for g in grids]
    counts = [np.ceil(o / (length - k + 1)) for o, k, length in zip(out_shape, kernel_shape,
                                                                      lengths)]
    points = np.prod(lengths, axis=0)
    transformed_axes = [a for a, k in enumerate(kernel_shape) if k > 1]
    transformed = np.prod([lengths[a] for a in transformed_axes] or [np.ones_like(points)],
                          axis=0)
    log2_points = sum(_log2_weighted(length) for length, k in zip(lengths, kernel_shape)
                      if k > 1) if transformed_axes else np.ones_like(points)
    fft = _constant(FFT_SECONDS_PER_NLOGN, dtype) * points * log2_points
    tiles = np.prod(counts, axis=0)
    fft = np.where(points * dtype.itemsize > CACHED_BYTES, LARGE_FACTOR * fft, fft)
    fft = np.where(tiles == 1, WHOLE_FACTOR * fft, fft)
    tile = TILE_SECONDS + fft
    parallel = np.minimum(tiles, threads)
    # The kernel's spectrum: one forward transform, not repeated along batch axes.
    spectrum_seconds = (CALL_SECONDS
                        + _constant(FFT_SECONDS_PER_NLOGN, dtype) / 2 * transformed * log2_points)
    # Bytes: the kernel's spectrum, and per thread the window, its spectrum
    # and the inverse transform (in the work type's real or complex points).
    itemsize = dtype.itemsize
    spectrum = points * (1 if dtype.kind == "c" else 0.5) * 2 * itemsize
    per_tile = points * itemsize + spectrum + points * itemsize
    working = spectrum + parallel * per_tile
    # Chosen by its one-thread cost, so that the tiles (and the result's
    # rounding) do not depend on ``threads`` unless memory binds.
    one_thread = np.where(working <= memory_limit, tiles * tile + spectrum_seconds, np.inf)
    best = int(np.argmin(one_thread))
    if not np.isfinite(one_thread[best]):
        best = int(np.argmin(working))
    single = float(tiles[best] * tile[best] + spectrum_seconds[best])
    # More threads: scipy.fft's workers on one transform, or tiles side by
    # side, whose Python part (TILE_SECONDS) holds the GIL; either way
    # starting them costs THREADS_START_SECONDS.
    if tiles[best] == 1:
        shared = tile[best] / threads ** WORKERS_EXPONENT
    else:
        shared = (tiles[best] * TILE_SECONDS
                  + max(tiles[best] / threads ** TILES_EXPONENT, 1.0) * fft[best])
    shared = float(shared + spectrum_seconds[best] + THREADS_START_SECONDS)
    use = threads if threads > 1 and shared < single else 1
    fft_shape = tuple(int(length[best]) for length in lengths)
    return Tiling(fft_shape, tuple(length - k + 1 for length, k in zip(fft_shape, kernel_shape)),
                  tuple(int(c[best]) for c in counts), shared if use > 1 else single,
                  int(spectrum[best] + min(use, tiles[best]) * per_tile[best]), use)


def tiling_of(out_shape, kernel_shape, fft_shape):
    """The `Tiling` with transforms of ``fft_shape`` (each at least the kernel's length)."""
    if any(length < k for length, k in zip(fft_shape, kernel_shape)):
        raise ValueError(f"fft_shape {fft_shape} is smaller than the kernel {kernel_shape}")
    tile_shape = tuple(length - k + 1 for length, k in zip(fft_shape, kernel_shape))
    counts = tuple(-(-o // t) for o, t in zip(out_shape, tile_shape))
    return Tiling(tuple(fft_shape), tile_shape, counts, math.nan, 0)


def fft_correlate(image, kernel, out_shape, offsets, boundaries, fill, threads, tiling=None,
                  out=None):
    """The correlation of the extended ``image`` with ``kernel`` by FFT, tile by tile.

    ``out_shape`` and ``offsets`` are those of a 'valid' correlation of the
    extended image (see `extend`); ``boundaries`` holds one boundary code per
    axis.  Returns ``out`` (a new array of the image's type if None).
    """
    dtype = image.dtype
    if out is None:
        out = memory.empty(out_shape, dtype)
    if out.size == 0:
        return out
    if kernel.size == 0:
        out[...] = 0
        return out
    work = work_dtype(dtype)
    if tiling is None:
        tiling = choose_tiling(tuple(out_shape), kernel.shape, work, threads)
    if tiling.threads is not None:
        threads = tiling.threads
    # Axes the kernel does not reach are batches of independent lines
    # (a kernel reaching none is transformed along the last).
    transformed = tuple(a for a, k in enumerate(kernel.shape) if k > 1) or (kernel.ndim - 1,)
    lengths = [tiling.fft_shape[a] for a in transformed]

    def inverse(product, workers):
        if work.kind == "c":
            return scipy.fft.ifftn(product, lengths, axes=transformed, workers=workers,
                                   overwrite_x=True)
        # The leading axes in place, then the real axis: irfftn would
        # allocate a second spectrum-sized buffer (which tracemalloc misses).
        if len(transformed) > 1:
            product = scipy.fft.ifftn(product, lengths[:-1], axes=transformed[:-1],
                                      workers=workers, overwrite_x=True)
        return scipy.fft.irfft(product, lengths[-1], axis=transformed[-1], workers=workers)

    forward = scipy.fft.fftn if work.kind == "c" else scipy.fft.rfftn
    flipped = kernel[(slice(None, None, -1),) * kernel.ndim].astype(work)
    spectrum = forward(flipped, lengths, axes=transformed, workers=threads)
    extended_shape = [o + k - 1 for o, k in zip(out_shape, kernel.shape)]
    if math.prod(extended_shape) * image.dtype.itemsize <= EXTEND_ONCE_BYTES:
        # Small: gather the extended image once, so that every tile is a view.
        image = extend(image, out_shape, kernel.shape, offsets, boundaries, fill)
        offsets, boundaries = (0,) * image.ndim, (FILL,) * image.ndim
    axes = [_Axis(start, n, boundary) for start, n, boundary
            in zip(offsets, image.shape, boundaries)]
    fill = np.asarray(fill).astype(work)
    round_result = dtype.kind in "iub"

    def run(position, workers):
        starts = [i * t for i, t in zip(position, tiling.tile_shape)]
        sizes = [min(t, o - s) for t, o, s in zip(tiling.tile_shape, out_shape, starts)]
        # A context per thread: every tile's arrays, scipy.fft's too, reuse blocks.
        with memory.reusing():
            window = _gather(image, [axis.segment(s, n + k - 1) for axis, s, n, k
                                     in zip(axes, starts, sizes, kernel.shape)], fill)
            window = window.astype(work, copy=False)
            product = forward(window, lengths, axes=transformed, workers=workers)
            product *= spectrum
            full = inverse(product, workers)
            kept = full[tuple(slice(k - 1, k - 1 + n) for k, n in zip(kernel.shape, sizes))]
            if round_result:
                kept = np.around(kept)
        target = out[tuple(slice(s, s + n) for s, n in zip(starts, sizes))]
        np.copyto(target, kept, casting="unsafe")

    positions = list(itertools.product(*[range(c) for c in tiling.counts]))
    if len(positions) == 1 or threads == 1:
        for position in positions:
            run(position, threads)
    else:
        with ThreadPoolExecutor(min(threads, len(positions))) as pool:
            list(pool.map(lambda position: run(position, 1), positions))
    return out
