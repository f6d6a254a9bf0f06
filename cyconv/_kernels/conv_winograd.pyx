"""NCHW 3x3 stride-1 convolution by Winograd's F(2x2, 3x3) and F(4x4, 3x3) (winograd.h).

On 3x3 layers with many channels per group the transforms replace the 36
multiplies of a 2x2 output block by 16 (F(2x2, 3x3)), or the 144 of a 4x4
block by 36 (F(4x4, 3x3), float64 only: its transforms scale values by up to
100).  The products of each transformed value, summed over the input
channels, are conv_tile calls with one tap per input channel (forward) or
GEMMs through blas.pxd (weight gradient, F(2x2, 3x3)).  The caller keeps the
tiled kernel where these lose (small images, few work items) and
recomputes a layer whose output comes out inf or NaN.  The conventions
every conv_* module follows are in conv_common.pxd.

A *tile* here is a Winograd tile: a size x size block of output pixels and
the (size + 2)-square block of input pixels its transforms read; conv_tile's
unit of pixels (CONV_TILE_BYTES) is called a register tile.
"""
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc
from libc.stddef cimport ptrdiff_t
from libc.string cimport memset

import numpy as np

from cyconv._kernels import memory

from cyconv._kernels.blas cimport gemm
from cyconv._kernels.conv_common cimport reused_scratch, round_up
from cyconv._kernels.conv_tile cimport (
    CYCONV_CONV_BLOCK, CYCONV_CONV_TILE_BYTES, channel_offsets, conv_tile,
)
from cyconv._kernels.correlate_tile cimport copy_row
from cyconv._kernels.fused cimport floating_t
from cyconv._kernels.openmp cimport omp_get_thread_num
from cyconv._kernels.winograd cimport split_plane, wino_grad_output, wino_input, wino_output


cdef void transform_inputs(const floating_t[:, :, :, ::1] x, Py_ssize_t n,
                           Py_ssize_t first_channel, Py_ssize_t channels, Py_ssize_t top,
                           Py_ssize_t left, int size, Py_ssize_t part_rows, Py_ssize_t part_ld,
                           Py_ssize_t tiles, floating_t *parts, floating_t *out,
                           Py_ssize_t ld_tiles, Py_ssize_t ld_xi) noexcept nogil:
    """wino_input (F(size x size, 3x3)) of ``tiles`` tiles of channels
    ``first_channel .. first_channel + channels`` of image ``n``: each
    plane's rows are zero-padded (``top`` rows above the first tile row,
    ``left`` columns), split into ``parts`` (``part_rows`` part rows) just
    before, while they are in the cache; channel ``c``'s values go to
    ``out + c * ld_tiles``."""
    cdef Py_ssize_t c
    for c in range(channels):
        split_plane(&x[n, first_channel + c, 0, 0], x.shape[2], x.shape[3], top, left, size,
                    size, part_rows, part_ld, part_rows * part_ld, parts)
        wino_input(size, parts, part_rows * part_ld, part_ld, 0, tiles, out + c * ld_tiles,
                   ld_xi)


cdef inline Py_ssize_t odd_lines(Py_ssize_t length, Py_ssize_t multiple,
                                 Py_ssize_t line) noexcept nogil:
    """``length`` rounded up to a multiple of ``multiple`` (whole cache lines
    of ``line`` elements), then to an odd number of lines.  Rows that far
    apart, and one line more between the 16 matrices, fall in different sets
    of the cache (power-of-two strides would crowd the rows the Winograd
    loops stream together into a few sets)."""
    cdef Py_ssize_t padded = round_up(length, multiple)
    return padded + line if padded // line % 2 == 0 else padded


cdef int winograd_size(Py_ssize_t values) except -1:
    """The tile size of F(size x size, 3x3) whose packed weights hold
    ``values`` = (size + 2)**2 values per kernel: 2 or 4."""
    if values == 16:
        return 2
    if values == 36:
        return 4
    raise ValueError(f"packed Winograd weights hold 16 or 36 values per kernel, not {values}")


cdef inline void kernel_transform(int size, const double *top, const double *middle,
                                  const double *bottom, double *out,
                                  Py_ssize_t step) noexcept nogil:
    """G (size + 2 by 3, winograd.h) times (top, middle, bottom) for the
    CONV_BLOCK kernels of a block, element r of each being kernel r's:
    element i of kernel r goes to ``out[i * step + r]``.  (The loops over
    the block vectorise.)"""
    cdef Py_ssize_t r
    cdef double outer, even, half
    if size == 2:
        for r in range(CYCONV_CONV_BLOCK):
            out[r] = top[r]
            out[step + r] = (top[r] + middle[r] + bottom[r]) / 2
            out[2 * step + r] = (top[r] - middle[r] + bottom[r]) / 2
            out[3 * step + r] = bottom[r]
    else:
        for r in range(CYCONV_CONV_BLOCK):
            # By the reciprocal of 6, not dividing: divisions took most of
            # the time of the transform, for a last-bit difference.
            outer = top[r] + bottom[r]
            even = top[r] / 4 + bottom[r]
            half = middle[r] / 2
            out[r] = top[r] / 4
            out[step + r] = -(outer + middle[r]) * (1.0 / 6)
            out[2 * step + r] = -(outer - middle[r]) * (1.0 / 6)
            out[3 * step + r] = (even + half) * (1.0 / 6)
            out[4 * step + r] = (even - half) * (1.0 / 6)
            out[5 * step + r] = bottom[r]


# Input channels winograd_weight transforms at a time: their values fill
# (size + 2)**2 buffers of a few cache lines, one per value, each copied out
# whole (writing every value of one channel straight into its matrix puts
# 16 or 36 stores a matrix apart, in one cache set: 1.5-2.5x slower on
# 512x512 float32 weights).
cdef enum:
    WEIGHT_CHUNK_CHANNELS = 16


def winograd_weight(const floating_t[:, :, :, ::1] weight, floating_t[:, :, :, ::1] packed,
                    Py_ssize_t groups, int num_threads):
    """Fill ``packed`` with winograd_forward's weights for F(size x size,
    3x3), size 2 or 4, where ``packed.shape[0]`` is ``groups * (size + 2)**2``.

    ``packed[g * values + xi, b, c, r]`` = element xi of G w G^T (size + 2
    square, see winograd.h) for output channel ``b * CONV_BLOCK + r`` of
    group ``g`` and its input channel ``c`` (zero past the group's last
    channel), computed in double and rounded once.  A work item is one
    (group, block), done ``WEIGHT_CHUNK_CHANNELS`` input channels at a
    time: their kernels are gathered into a per-thread buffer, transformed
    CONV_BLOCK at a time into a per-thread buffer per value, and each such
    buffer is copied into its value's matrix.
    """
    if groups < 1 or weight.shape[0] % groups or packed.shape[0] % groups:
        raise ValueError(f"{groups} groups do not divide weights of shape "
                         f"{tuple(weight.shape)} packed in {packed.shape[0]}")
    cdef Py_ssize_t out_channels = weight.shape[0], in_per_group = weight.shape[1]
    cdef Py_ssize_t blocks = packed.shape[1], values = packed.shape[0] // groups
    cdef int size = winograd_size(values)
    cdef Py_ssize_t side = size + 2, block_len = CYCONV_CONV_BLOCK
    cdef Py_ssize_t out_per_group = out_channels // groups
    if (weight.shape[2] != 3 or weight.shape[3] != 3
            or blocks != (out_per_group + CYCONV_CONV_BLOCK - 1) // CYCONV_CONV_BLOCK
            or packed.shape[2] != in_per_group or packed.shape[3] != CYCONV_CONV_BLOCK):
        raise ValueError(f"packed weights of shape {tuple(packed.shape)[:4]} do not hold "
                         f"weights of shape {tuple(weight.shape)} in {groups} groups")
    # A value's buffer holds a chunk of channels: an odd number of cache
    # lines apart, the buffers fall in different sets.
    cdef Py_ssize_t chunk_len = WEIGHT_CHUNK_CHANNELS * block_len
    cdef Py_ssize_t value_step = odd_lines(chunk_len, 8, 8)
    # Per thread: a chunk's kernels ([c][tap][r]), G w of one channel's
    # ([side][3][r]), G w G^T of the chunk's ([value][c][r]).
    cdef Py_ssize_t thread_len = ((9 * WEIGHT_CHUNK_CHANNELS + 3 * side) * block_len
                                  + values * value_step)
    cdef Py_ssize_t item, group, block, used, chunk, c0, c, count, r, i, j, xi, index
    cdef const floating_t *src
    cdef double *kernels
    cdef double *rows
    cdef double *transformed
    cdef floating_t *dst
    cdef double *buffers = <double *> malloc(num_threads * thread_len * sizeof(double))
    if buffers == NULL:
        raise MemoryError("cannot allocate the transformed weights")
    try:
        with nogil, parallel(num_threads=num_threads):
            kernels = buffers + omp_get_thread_num() * thread_len
            rows = kernels + 9 * WEIGHT_CHUNK_CHANNELS * block_len
            transformed = rows + 3 * side * block_len
            for item in prange(groups * blocks, schedule='static'):
                group, block = item // blocks, item % blocks
                used = min(CYCONV_CONV_BLOCK, out_per_group - block * CYCONV_CONV_BLOCK)
                if used < CYCONV_CONV_BLOCK:
                    # A partial block's missing kernels are zeros (never written below).
                    memset(kernels, 0, 9 * WEIGHT_CHUNK_CHANNELS * block_len * sizeof(double))
                for chunk in range((in_per_group + WEIGHT_CHUNK_CHANNELS - 1)
                                   // WEIGHT_CHUNK_CHANNELS):
                    c0 = chunk * WEIGHT_CHUNK_CHANNELS
                    count = min(WEIGHT_CHUNK_CHANNELS, in_per_group - c0)
                    for r in range(used):
                        # The chunk's kernels of an output channel lie in a row.
                        src = &weight[group * out_per_group + block * CYCONV_CONV_BLOCK + r,
                                      c0, 0, 0]
                        for index in range(count * 9):
                            kernels[index * block_len + r] = src[index]
                    for c in range(count):
                        for j in range(3):
                            # G w: the kernels' rows combined.
                            kernel_transform(size, kernels + (9 * c + j) * block_len,
                                             kernels + (9 * c + 3 + j) * block_len,
                                             kernels + (9 * c + 6 + j) * block_len,
                                             rows + j * block_len, 3 * block_len)
                        for i in range(side):
                            # (G w) G^T: then its columns.
                            kernel_transform(size, rows + 3 * i * block_len,
                                             rows + (3 * i + 1) * block_len,
                                             rows + (3 * i + 2) * block_len,
                                             transformed + side * i * value_step + c * block_len,
                                             value_step)
                    for xi in range(values):
                        dst = &packed[group * values + xi, block, c0, 0]
                        for index in range(count * block_len):
                            dst[index] = <floating_t>transformed[xi * value_step + index]
    finally:
        free(buffers)


def winograd_forward(const floating_t[:, :, :, ::1] x, const floating_t[:, :, :, ::1] packed,
                     const floating_t[::1] bias, floating_t[:, :, :, ::1] out, tuple padding,
                     Py_ssize_t groups, Py_ssize_t chunk_tile_rows, Py_ssize_t pass_channels,
                     int num_threads):
    """3x3 stride-1 convolution by Winograd F(size x size, 3x3), size 2 or 4
    (see winograd.h): ``packed.shape[0]`` is ``groups * (size + 2)**2``.

    ``packed[group * values + xi, b, c, r]`` is element xi of G g G^T for
    output channel ``b * CONV_BLOCK + r`` and input channel ``c`` of the
    group (zero past its last channel), as winograd_weight packs them;
    ``bias`` is empty for none; ``padding`` is (top, left), non-negative.  A
    work item is (image, ``chunk_tile_rows`` rows of output tiles): the rows
    it reads of each input plane are zero-padded and split into polyphase
    parts, and while those are in the cache, transformed into a per-thread
    buffer (measured 0.95-1.3x the speed of splitting whole images first,
    1.1x typical), multiplied by the transformed weights (a product per
    value and group, each a conv_tile call with one tap per input channel,
    ``pass_channels`` at a time) and transformed back into ``out``, with the
    bias.

    Returns how many tile outputs came out infinite or NaN, counting the
    discarded ones past the output's edges: the transforms add inputs the
    direct sum keeps apart, so the caller recomputes such layers directly
    rather than trust where inf and NaN went.
    """
    cdef Py_ssize_t batch = x.shape[0], channels = x.shape[1], out_channels = out.shape[1]
    cdef Py_ssize_t out_h = out.shape[2], out_w = out.shape[3]
    cdef Py_ssize_t pad_top = padding[0], pad_left = padding[1]
    cdef Py_ssize_t in_per_group = channels // groups, out_per_group = out_channels // groups
    cdef Py_ssize_t values = packed.shape[0] // groups
    cdef int size = winograd_size(values)
    cdef Py_ssize_t padded_out = packed.shape[1] * CYCONV_CONV_BLOCK
    cdef Py_ssize_t register_tile = CYCONV_CONV_TILE_BYTES // sizeof(floating_t)
    cdef Py_ssize_t tiles_h = (out_h + size - 1) // size, part_ld = (out_w + size - 1) // size + 1
    # The transforms run over whole register tiles (no scalar remainder
    # loops): past an item's last tile row by less than a register tile,
    # reading one part row and one element further than the tile they compute.
    cdef Py_ssize_t part_rows = chunk_tile_rows + 2 + (register_tile + part_ld - 1) // part_ld
    cdef Py_ssize_t part_len = part_rows * part_ld
    cdef Py_ssize_t row_chunks = (tiles_h + chunk_tile_rows - 1) // chunk_tile_rows
    # Transformed tiles and products: rows of ld_tiles, whole register tiles.
    cdef Py_ssize_t line = 64 // sizeof(floating_t)
    cdef Py_ssize_t ld_tiles = odd_lines(chunk_tile_rows * part_ld, register_tile, line)
    cdef Py_ssize_t inputs_step = in_per_group * ld_tiles + line
    cdef Py_ssize_t products_step = padded_out * ld_tiles + line
    # Per thread: transformed inputs, their products, the rows of outputs
    # (output row i of every tile at i * ld_out), the split rows of a plane.
    cdef Py_ssize_t inputs_len = values * inputs_step
    cdef Py_ssize_t products_len = values * products_step
    cdef Py_ssize_t ld_out = size * ld_tiles
    cdef Py_ssize_t thread_len = round_up(
        inputs_len + products_len + size * ld_out + size * size * part_len, line)
    cdef Py_ssize_t items = batch * row_chunks, item, n, ty0, tile_rows, tiles, group
    cdef Py_ssize_t k, y, block, xi
    cdef Py_ssize_t nonfinite = 0
    cdef bint has_bias = bias.shape[0] > 0
    cdef floating_t *inputs
    cdef floating_t *products
    cdef floating_t *rows_out
    cdef floating_t *parts
    cdef floating_t[::1] scratch = reused_scratch(num_threads * thread_len, <floating_t>0)
    cdef floating_t *buffers = &scratch[0]
    cdef ptrdiff_t *offsets = channel_offsets(in_per_group, ld_tiles)
    try:
        with nogil, parallel(num_threads=num_threads):
            inputs = buffers + omp_get_thread_num() * thread_len
            products = inputs + inputs_len
            rows_out = products + products_len
            parts = rows_out + size * ld_out
            for item in prange(items, schedule='dynamic'):
                n = item // row_chunks
                ty0 = (item % row_chunks) * chunk_tile_rows
                tile_rows = min(chunk_tile_rows, tiles_h - ty0)
                tiles = round_up(tile_rows * part_ld, register_tile)
                for group in range(groups):
                    transform_inputs(x, n, group * in_per_group, in_per_group,
                                     pad_top - size * ty0, pad_left, size, part_rows, part_ld,
                                     tiles, parts, inputs, ld_tiles, inputs_step)
                    for xi in range(values):
                        for block in range(packed.shape[1]):
                            conv_tile(inputs + xi * inputs_step, offsets, in_per_group,
                                      pass_channels, &packed[group * values + xi, block, 0, 0], 0,
                                      tiles, products + xi * products_step
                                      + block * CYCONV_CONV_BLOCK * ld_tiles, ld_tiles)
                    for k in range(out_per_group):
                        nonfinite += wino_output(size, products + k * ld_tiles, products_step,
                                                 tiles, rows_out, ld_out)
                        for y in range(size * ty0, min(out_h, size * (ty0 + tile_rows))):
                            copy_row(&out[n, group * out_per_group + k, y, 0],
                                     rows_out + (y % size) * ld_out
                                     + (y // size - ty0) * size * part_ld,
                                     out_w, has_bias,
                                     bias[group * out_per_group + k] if has_bias else 0)
    finally:
        free(offsets)
    return nonfinite


def winograd_grad_products(const floating_t[:, :, :, ::1] x,
                           const floating_t[:, :, :, ::1] grad_out,
                           floating_t[:, :, :, ::1] slots, tuple padding, Py_ssize_t groups,
                           Py_ssize_t chunk_tile_rows, int num_threads):
    """The weight gradient of winograd_forward's layer before its weight
    transform, summed over the tiles in ``slots.shape[0]`` partial sums.

    ``slots[s, g * 16 + xi, c, k]`` = sum over the tiles of slot ``s`` of
    value xi of B^T d B (input channel c of group g, as winograd_forward
    transforms it) times value xi of A y A^T (the 2x2 block of the output
    gradient's channel k of the group; winograd.h).  Work items are (image,
    ``chunk_tile_rows`` rows of tiles), numbered in that order; item ``j``
    goes to slot ``j % slots``, each slot walked in order by one thread (its
    first item overwrites it), so the sums are the same for any number of
    threads; there must be at least as many items as slots.  An item splits
    the rows it reads of each plane into polyphase parts just before their
    transform, while they are in the cache; the discarded tiles past each
    row read zeros of the output gradient.
    """
    cdef Py_ssize_t batch = x.shape[0], channels = x.shape[1], out_channels = grad_out.shape[1]
    cdef Py_ssize_t out_h = grad_out.shape[2], out_w = grad_out.shape[3]
    cdef Py_ssize_t pad_top = padding[0], pad_left = padding[1]
    cdef Py_ssize_t in_per_group = channels // groups, out_per_group = out_channels // groups
    cdef Py_ssize_t n_slots = slots.shape[0]
    cdef Py_ssize_t tiles_h = (out_h + 1) // 2, half_ld = (out_w + 1) // 2 + 1
    cdef Py_ssize_t row_chunks = (tiles_h + chunk_tile_rows - 1) // chunk_tile_rows
    # Parts of an item's rows: its input tiles reach two part rows further.
    cdef Py_ssize_t x_part_len = (chunk_tile_rows + 2) * half_ld
    cdef Py_ssize_t grad_part_len = chunk_tile_rows * half_ld
    cdef Py_ssize_t line = 64 // sizeof(floating_t)
    cdef Py_ssize_t ld_tiles = odd_lines(chunk_tile_rows * half_ld, line, line)
    cdef Py_ssize_t inputs_step = in_per_group * ld_tiles + line
    cdef Py_ssize_t grads_step = out_per_group * ld_tiles + line
    cdef Py_ssize_t inputs_len = 16 * inputs_step, grads_len = 16 * grads_step
    cdef Py_ssize_t thread_len = round_up(inputs_len + grads_len + 4 * x_part_len, line)
    cdef Py_ssize_t slot, item, n, ty0, tile_rows, tiles, group, k
    cdef int xi
    cdef floating_t *inputs
    cdef floating_t *grads
    cdef floating_t *parts
    num_threads = <int>max(1, min(num_threads, n_slots))
    cdef floating_t[::1] scratch = reused_scratch(num_threads * thread_len, <floating_t>0)
    cdef floating_t *buffers = &scratch[0]
    with nogil, parallel(num_threads=num_threads):
        inputs = buffers + omp_get_thread_num() * thread_len
        grads = inputs + inputs_len
        parts = grads + grads_len
        for slot in prange(n_slots, schedule='dynamic'):
            item = slot
            while item < batch * row_chunks:
                n = item // row_chunks
                ty0 = item % row_chunks * chunk_tile_rows
                tile_rows = min(chunk_tile_rows, tiles_h - ty0)
                tiles = tile_rows * half_ld
                for group in range(groups):
                    transform_inputs(x, n, group * in_per_group, in_per_group, pad_top - 2 * ty0,
                                     pad_left, 2, tile_rows + 2, half_ld, tiles, parts, inputs,
                                     ld_tiles, inputs_step)
                    for k in range(out_per_group):
                        split_plane(&grad_out[n, group * out_per_group + k, 0, 0], out_h, out_w,
                                    -2 * ty0, 0, 2, 2, tile_rows, half_ld, tiles, parts)
                        wino_grad_output(parts, tiles, 0, tiles, grads + k * ld_tiles,
                                         grads_step)
                    for xi in range(16):
                        gemm(False, True, in_per_group, out_per_group, tiles, 1,
                             inputs + xi * inputs_step, ld_tiles, grads + xi * grads_step,
                             ld_tiles, 0 if item < n_slots else 1,
                             &slots[slot, group * 16 + xi, 0, 0], out_per_group)
                item = item + n_slots


def winograd_grad_weight(const floating_t[:, :, :, ::1] slots, floating_t[:, :, :, ::1] grad_w,
                         int num_threads):
    """``grad_w`` (C_out, C_in / groups, 3, 3) from winograd_grad_products'
    slots: their sum (in slot order, in double) transformed by G^T . G, the
    adjoint of the weight transform G g G^T (winograd.h)."""
    cdef Py_ssize_t n_slots = slots.shape[0], in_per_group = slots.shape[2]
    cdef Py_ssize_t out_per_group = slots.shape[3]
    cdef Py_ssize_t item, group, c, k, s, i, xi
    cdef double *sums
    cdef double *row
    cdef double first, second
    # Per thread: the 16 sums for each k, then G^T M (3 x 4).
    cdef Py_ssize_t thread_len = 16 * out_per_group + 12
    cdef double[::1] buffers = memory.empty(num_threads * thread_len, np.float64)
    with nogil, parallel(num_threads=num_threads):
        sums = &buffers[0] + omp_get_thread_num() * thread_len
        row = sums + 16 * out_per_group
        for item in prange(slots.shape[1] // 16 * in_per_group, schedule='static'):
            group, c = item // in_per_group, item % in_per_group
            for xi in range(16):
                for k in range(out_per_group):
                    sums[xi * out_per_group + k] = slots[0, group * 16 + xi, c, k]
                for s in range(1, n_slots):
                    for k in range(out_per_group):
                        sums[xi * out_per_group + k] += slots[s, group * 16 + xi, c, k]
            for k in range(out_per_group):
                for i in range(4):
                    # G^T M: its rows m0 + (m1 + m2) / 2, (m1 - m2) / 2,
                    # (m1 + m2) / 2 + m3, for each of M's columns i.
                    first = sums[(4 + i) * out_per_group + k]
                    second = sums[(8 + i) * out_per_group + k]
                    row[i] = sums[i * out_per_group + k] + (first + second) / 2
                    row[4 + i] = (first - second) / 2
                    row[8 + i] = (first + second) / 2 + sums[(12 + i) * out_per_group + k]
                for i in range(3):
                    # (G^T M) G: the same of its columns.
                    first, second = row[4 * i + 1], row[4 * i + 2]
                    grad_w[group * out_per_group + k, c, i, 0] = \
                        <floating_t>(row[4 * i] + (first + second) / 2)
                    grad_w[group * out_per_group + k, c, i, 1] = <floating_t>((first - second) / 2)
                    grad_w[group * out_per_group + k, c, i, 2] = \
                        <floating_t>((first + second) / 2 + row[4 * i + 3])
