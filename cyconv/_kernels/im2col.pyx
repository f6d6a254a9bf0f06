"""NCHW convolution kernels: im2col / col2im, the GEMM drivers and a direct grouped kernel.

Everything here computes; ``cyconv/_layers.py`` checks and normalises the
arguments, chooses the strategy and the tiling, and keeps BLAS single-threaded
while these kernels run (all parallelism is OpenMP's, over work items whose
split never depends on the thread count, so every result is bitwise the same
for any number of workers).

A *tile* is a block of consecutive output rows of one image.  Its column
matrix has ``channels * kernel_h * kernel_w`` rows and ``rows * out_w``
columns; row ``(c * kernel_h + ky) * kernel_w + kx`` holds the input pixels
that tap ``(ky, kx)`` of channel ``c`` multiplies, zero where it falls on the
padding.  The top/left padding only shifts the window; the bottom/right
padding is implied by the output size, which the caller passes.
"""
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc
from libc.stddef cimport ptrdiff_t
from libc.string cimport memcpy, memset

import numpy as np

from cyconv._kernels import memory

from cyconv._kernels.blas cimport gemm
from cyconv._kernels.conv_tile cimport (
    CYCONV_CONV_BLOCK,
    CYCONV_CONV_TILE_BYTES,
    cyconv_conv_tile_f32,
    cyconv_conv_tile_f64,
    cyconv_gather_tiles,
)
from cyconv._kernels.correlate_tile cimport (
    CYCONV_TILE_BYTES,
    CYCONV_WEIGHT_COL_BYTES,
    cyconv_copy_row_f32,
    cyconv_copy_row_f64,
    cyconv_sum_f32,
    cyconv_sum_f64,
    cyconv_valid_corr_f32,
    cyconv_valid_corr_f64,
    cyconv_weight_corr_f32,
    cyconv_weight_corr_f64,
)
from cyconv._kernels.fused cimport floating_t
from cyconv._kernels.openmp cimport omp_get_thread_num
from cyconv._kernels.winograd cimport (
    cyconv_split_row_f32,
    cyconv_split_row_f64,
    cyconv_wino_grad_output_f32,
    cyconv_wino_grad_output_f64,
    cyconv_wino_input_f32,
    cyconv_wino_input_f64,
    cyconv_wino_output_f32,
    cyconv_wino_output_f64,
    cyconv_wino4_input_f32,
    cyconv_wino4_input_f64,
    cyconv_wino4_output_f32,
    cyconv_wino4_output_f64,
)


cdef struct Geometry:
    Py_ssize_t height, width, out_h, out_w
    Py_ssize_t kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w


cdef Geometry make_geometry(Py_ssize_t height, Py_ssize_t width, Py_ssize_t out_h,
                            Py_ssize_t out_w, tuple kernel, tuple stride, tuple padding,
                            tuple dilation):
    cdef Geometry geo
    geo.height, geo.width, geo.out_h, geo.out_w = height, width, out_h, out_w
    geo.kernel_h, geo.kernel_w = kernel
    geo.stride_h, geo.stride_w = stride
    geo.pad_top, geo.pad_left = padding
    geo.dil_h, geo.dil_w = dilation
    return geo


cdef struct Span:
    Py_ssize_t lo, hi


cdef inline Span valid_span(Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t size,
                            Py_ssize_t out_size) noexcept nogil:
    """Outputs o in [lo, hi) read input o * stride + offset inside [0, size).

    Returned by value: in a prange body, variables assigned in the loop are
    thread-private, while ones written through a pointer would be shared.
    """
    cdef Span span
    cdef Py_ssize_t first = 0, last = size - 1 - offset
    if offset < 0:
        first = (-offset + stride - 1) // stride
    span.lo = min(first, out_size)
    span.hi = max(min(last // stride + 1 if last >= 0 else 0, out_size), span.lo)
    return span


cdef inline Span tap_rows(const Geometry *geo, Py_ssize_t ky) noexcept nogil:
    """Output rows whose tap row ``ky`` falls inside the input."""
    return valid_span(ky * geo.dil_h - geo.pad_top, geo.stride_h, geo.height, geo.out_h)


cdef inline Py_ssize_t tap_column(const Geometry *geo, Py_ssize_t kx) noexcept nogil:
    """Input column that output column 0 reads through tap column ``kx``."""
    return kx * geo.dil_w - geo.pad_left


cdef inline Span tap_cols(const Geometry *geo, Py_ssize_t kx) noexcept nogil:
    """Output columns whose tap column ``kx`` falls inside the input."""
    return valid_span(tap_column(geo, kx), geo.stride_w, geo.width, geo.out_w)


cdef inline void gather_row(const floating_t *src, Py_ssize_t stride, Span cols_in,
                            Py_ssize_t out_w, floating_t *dst) noexcept nogil:
    """One column-matrix row segment: the strided input row, zero where it is padding."""
    cdef Py_ssize_t ow
    memset(dst, 0, cols_in.lo * sizeof(floating_t))
    if stride == 1:
        memcpy(dst + cols_in.lo, src + cols_in.lo, (cols_in.hi - cols_in.lo) * sizeof(floating_t))
    else:
        for ow in range(cols_in.lo, cols_in.hi):
            dst[ow] = src[ow * stride]
    memset(dst + cols_in.hi, 0, (out_w - cols_in.hi) * sizeof(floating_t))


cdef inline void scatter_row(const floating_t *src, Py_ssize_t stride, Span cols_in,
                             floating_t *dst) noexcept nogil:
    """Add one column-matrix row segment back onto its strided input row."""
    cdef Py_ssize_t ow
    if stride == 1:
        for ow in range(cols_in.lo, cols_in.hi):
            dst[ow] += src[ow]
    else:
        for ow in range(cols_in.lo, cols_in.hi):
            dst[ow * stride] += src[ow]


cdef void walk_tile(floating_t *image, Py_ssize_t channels, const Geometry *geo,
                    Py_ssize_t row0, Py_ssize_t rows, floating_t *cols,
                    bint to_columns) noexcept nogil:
    """im2col (``to_columns``: cols = the tile's column matrix) or its adjoint
    col2im (image += the columns put back) for output rows [row0, row0 + rows)
    of a (channels, H, W) image; only im2col's writes cover the padding."""
    cdef Py_ssize_t tile_len = rows * geo.out_w
    cdef Py_ssize_t c, ky, kx, oh, col_offset
    cdef Span rows_in, cols_in
    cdef floating_t *pixels
    cdef floating_t *column
    for c in range(channels):
        for ky in range(geo.kernel_h):
            rows_in = tap_rows(geo, ky)
            for kx in range(geo.kernel_w):
                col_offset = tap_column(geo, kx)
                cols_in = tap_cols(geo, kx)
                column = cols + ((c * geo.kernel_h + ky) * geo.kernel_w + kx) * tile_len
                for oh in range(row0, row0 + rows):
                    if oh < rows_in.lo or oh >= rows_in.hi:
                        if to_columns:
                            memset(column + (oh - row0) * geo.out_w, 0,
                                   geo.out_w * sizeof(floating_t))
                        continue
                    pixels = image + (c * geo.height + oh * geo.stride_h + ky * geo.dil_h
                                      - geo.pad_top) * geo.width + col_offset
                    if to_columns:
                        gather_row(pixels, geo.stride_w, cols_in, geo.out_w,
                                   column + (oh - row0) * geo.out_w)
                    else:
                        scatter_row(column + (oh - row0) * geo.out_w, geo.stride_w, cols_in,
                                    pixels)


cdef inline void im2col_tile(const floating_t *image, Py_ssize_t channels, const Geometry *geo,
                             Py_ssize_t row0, Py_ssize_t rows, floating_t *cols) noexcept nogil:
    """Column matrix of output rows [row0, row0 + rows) of a (channels, H, W) image."""
    walk_tile(<floating_t *>image, channels, geo, row0, rows, cols, True)


cdef inline void col2im_tile(const floating_t *cols, Py_ssize_t channels, const Geometry *geo,
                             Py_ssize_t row0, Py_ssize_t rows, floating_t *image) noexcept nogil:
    """Add the column matrix of output rows [row0, row0 + rows) back into a (channels, H, W) image."""
    walk_tile(image, channels, geo, row0, rows, <floating_t *>cols, False)


cdef floating_t *alloc_buffers(Py_ssize_t count, Py_ssize_t length, floating_t sample) except? NULL:
    """``count`` private buffers of ``length`` elements (NULL when none are needed)."""
    cdef floating_t *buffers
    if count * length == 0:
        return NULL
    buffers = <floating_t *> malloc(count * length * sizeof(floating_t))
    if buffers == NULL:
        raise MemoryError("cannot allocate the per-thread column buffers")
    return buffers


cdef floating_t[::1] reused_scratch(Py_ssize_t length, floating_t sample):
    """``length`` elements of scratch from the reusing allocator of the
    outputs (``memory.empty``): a fresh block of a few MB would be mapped
    anew by every call, and its page faults cost a tenth of a batch-1 layer.
    The block starts on a cache line; callers keep each thread's part on
    whole lines too."""
    return memory.empty(length, np.float32 if floating_t is float else np.float64)


def im2col(const floating_t[:, :, :, ::1] x, floating_t[:, :, ::1] cols,
           tuple output_hw, tuple kernel, tuple stride, tuple padding, tuple dilation,
           int num_threads):
    """cols[n, (c, ky, kx), (oh, ow)] = padded x[n, c, oh*s + ky*d, ow*s + kx*d] (torch unfold)."""
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], output_hw[0], output_hw[1],
                                      kernel, stride, padding, dilation)
    cdef Py_ssize_t channels = x.shape[1], planes = x.shape[0] * x.shape[1]
    cdef Py_ssize_t taps = geo.kernel_h * geo.kernel_w, plane
    with nogil:
        for plane in prange(planes, num_threads=num_threads, schedule='static'):
            im2col_tile(&x[plane // channels, plane % channels, 0, 0], 1, &geo, 0, geo.out_h,
                        &cols[plane // channels, (plane % channels) * taps, 0])


def col2im(const floating_t[:, :, ::1] cols, floating_t[:, :, :, ::1] image,
           tuple output_hw, tuple kernel, tuple stride, tuple padding, tuple dilation,
           int num_threads):
    """image (zeroed by the caller) += the sum of every column back at its place (torch fold)."""
    cdef Geometry geo = make_geometry(image.shape[2], image.shape[3], output_hw[0], output_hw[1],
                                      kernel, stride, padding, dilation)
    cdef Py_ssize_t channels = image.shape[1], planes = image.shape[0] * image.shape[1]
    cdef Py_ssize_t taps = geo.kernel_h * geo.kernel_w, plane
    with nogil:
        for plane in prange(planes, num_threads=num_threads, schedule='static'):
            col2im_tile(&cols[plane // channels, (plane % channels) * taps, 0], 1, &geo, 0,
                        geo.out_h, &image[plane // channels, plane % channels, 0, 0])


cdef enum:
    # Pixels per block of transpose_tile: a block of the pixel-major tile,
    # read once per channel, stays in the L1 cache.
    TRANSPOSE_BLOCK = 64


cdef void transpose_tile(const floating_t *tile, Py_ssize_t pixels, Py_ssize_t channels,
                         const floating_t *bias, floating_t *out, Py_ssize_t plane) noexcept nogil:
    """out[co * plane + p] = tile[p * channels + co] (+ bias[co] unless ``bias`` is NULL)."""
    cdef Py_ssize_t index, block, p, co
    cdef floating_t *dst
    cdef const floating_t *src
    for index in range((pixels + TRANSPOSE_BLOCK - 1) // TRANSPOSE_BLOCK):
        block = index * TRANSPOSE_BLOCK
        for co in range(channels):
            dst = out + co * plane
            src = tile + co
            if bias != NULL:
                for p in range(block, min(block + TRANSPOSE_BLOCK, pixels)):
                    dst[p] = src[p * channels] + bias[co]
            else:
                for p in range(block, min(block + TRANSPOSE_BLOCK, pixels)):
                    dst[p] = src[p * channels]


def gemm_forward(const floating_t[:, :, :, ::1] x, const floating_t[:, ::1] weight,
                 const floating_t[::1] bias, floating_t[:, :, :, ::1] out,
                 tuple kernel, tuple stride, tuple padding, tuple dilation,
                 Py_ssize_t groups, Py_ssize_t tile_rows, bint direct, bint pixel_major,
                 int num_threads):
    """out = conv(x, weight) + bias through one GEMM per (image, row tile, group).

    ``weight`` is (C_out, C_in/groups * kH * kW); ``bias`` is empty for none.
    ``direct`` (1x1 kernel, stride 1, no padding): the input is its own column
    matrix and is multiplied in place, without a copy.

    ``pixel_major``: the GEMM computes the tile as ``cols^T . weight^T`` into
    a per-thread buffer that transpose_tile writes out with the bias;
    otherwise as ``weight . cols`` straight into the output, which starts as
    the bias.  Which one OpenBLAS runs faster depends on the type (it packs
    the column matrix faster as an operand of the first for float32, of the
    second for float64), so the caller chooses.
    """
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], out.shape[2], out.shape[3],
                                      kernel, stride, padding, dilation)
    cdef Py_ssize_t batch = x.shape[0], in_per_group = x.shape[1] // groups
    cdef Py_ssize_t out_per_group = out.shape[1] // groups, depth = weight.shape[1]
    cdef Py_ssize_t plane = geo.out_h * geo.out_w, in_plane = geo.height * geo.width
    cdef Py_ssize_t n_tiles = (geo.out_h + tile_rows - 1) // tile_rows
    cdef Py_ssize_t item, n, row0, tile_len, group, co, i
    cdef Py_ssize_t col_len = 0 if direct else depth * tile_rows * geo.out_w
    cdef Py_ssize_t result_len = out_per_group * tile_rows * geo.out_w if pixel_major else 0
    cdef Py_ssize_t buffer_len = col_len + result_len
    cdef bint has_bias = bias.shape[0] > 0
    cdef const floating_t *columns
    cdef Py_ssize_t ld_columns
    cdef floating_t *c_block
    cdef floating_t *buffer
    num_threads = <int>max(1, min(num_threads, batch * n_tiles))
    cdef floating_t *buffers = alloc_buffers(num_threads, buffer_len, <floating_t>0)
    try:
        with nogil, parallel(num_threads=num_threads):
            buffer = buffers + omp_get_thread_num() * buffer_len if buffers != NULL else NULL
            for item in prange(batch * n_tiles, schedule='dynamic'):
                n = item // n_tiles
                row0 = (item % n_tiles) * tile_rows
                tile_len = min(tile_rows, geo.out_h - row0) * geo.out_w
                for group in range(groups):
                    if direct:
                        columns = &x[n, group * in_per_group, 0, 0] + row0 * geo.width
                        ld_columns = in_plane
                    else:
                        im2col_tile(&x[n, group * in_per_group, 0, 0], in_per_group, &geo,
                                    row0, tile_len // geo.out_w, buffer)
                        columns = buffer
                        ld_columns = tile_len
                    c_block = &out[n, group * out_per_group, 0, 0] + row0 * geo.out_w
                    if pixel_major:
                        gemm(True, True, tile_len, out_per_group, depth, 1, columns, ld_columns,
                             &weight[group * out_per_group, 0], depth, 0, buffer + col_len,
                             out_per_group)
                        transpose_tile(buffer + col_len, tile_len, out_per_group,
                                       &bias[group * out_per_group] if has_bias else NULL,
                                       c_block, plane)
                        continue
                    if has_bias:
                        for co in range(out_per_group):
                            for i in range(tile_len):
                                c_block[co * plane + i] = bias[group * out_per_group + co]
                    gemm(False, False, out_per_group, tile_len, depth, 1,
                         &weight[group * out_per_group, 0], depth, columns, ld_columns,
                         1 if has_bias else 0, c_block, plane)
    finally:
        free(buffers)


def gemm_backward(const floating_t[:, :, :, ::1] grad_out, const floating_t[:, :, :, ::1] x,
                  const floating_t[:, ::1] weight, floating_t[:, :, :, ::1] grad_x,
                  floating_t[:, :, :, ::1] grad_w_slots,
                  tuple kernel, tuple stride, tuple padding, tuple dilation,
                  Py_ssize_t groups, Py_ssize_t tile_rows, Py_ssize_t phases, bint direct,
                  bint with_grad_x, int num_threads):
    """Per-slot partial grad_w (zeroed by the caller) of gemm_forward, and
    grad_x (zeroed) when ``with_grad_x``.

    Per (image, tile, group): grad_w_slot += cols . grad_out_tile^T and
    grad_x += col2im(W^T . grad_out_tile).  A slot is (groups, C_in/groups *
    kH * kW, C_out/groups), the weight gradient transposed: OpenBLAS packs
    the column matrix faster as the right operand of that product than as
    the left one of ``grad_out_tile . cols^T`` (1.1-1.3x on these shapes).  Tiles ``t`` with the same
    ``t % phases`` touch disjoint input rows, so one phase runs its items in
    parallel; item ``j`` of a phase always goes to slot ``j % slots``, each slot
    walked in order by one thread, and the caller sums the slots in order.
    """
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], grad_out.shape[2], grad_out.shape[3],
                                      kernel, stride, padding, dilation)
    cdef Py_ssize_t batch = x.shape[0], in_per_group = x.shape[1] // groups
    cdef Py_ssize_t out_per_group = grad_out.shape[1] // groups, depth = weight.shape[1]
    cdef Py_ssize_t plane = geo.out_h * geo.out_w, in_plane = geo.height * geo.width
    cdef Py_ssize_t n_tiles = (geo.out_h + tile_rows - 1) // tile_rows
    cdef Py_ssize_t slots = grad_w_slots.shape[0]
    cdef Py_ssize_t phase, phase_tiles, phase_items, slot, item, n, row0, rows, group, tile_len
    cdef Py_ssize_t col_len = 0 if direct else depth * tile_rows * geo.out_w
    cdef const floating_t *go_block
    cdef const floating_t *w_block
    cdef floating_t *buffer
    num_threads = <int>max(1, min(num_threads, slots))
    cdef floating_t *buffers = alloc_buffers(num_threads, col_len, <floating_t>0)
    try:
        for phase in range(min(phases, n_tiles)):
            phase_tiles = (n_tiles - phase + phases - 1) // phases
            phase_items = batch * phase_tiles
            with nogil, parallel(num_threads=num_threads):
                buffer = buffers + omp_get_thread_num() * col_len if buffers != NULL else NULL
                for slot in prange(slots, schedule='dynamic'):
                    item = slot
                    while item < phase_items:
                        n = item // phase_tiles
                        row0 = (phase + (item % phase_tiles) * phases) * tile_rows
                        rows = min(tile_rows, geo.out_h - row0)
                        tile_len = rows * geo.out_w
                        for group in range(groups):
                            go_block = &grad_out[n, group * out_per_group, 0, 0] + row0 * geo.out_w
                            w_block = &weight[group * out_per_group, 0]
                            if direct:
                                gemm(False, True, depth, out_per_group, tile_len, 1,
                                     &x[n, group * in_per_group, 0, 0] + row0 * geo.width, in_plane,
                                     go_block, plane, 1, &grad_w_slots[slot, group, 0, 0],
                                     out_per_group)
                                if with_grad_x:
                                    gemm(True, False, depth, tile_len, out_per_group, 1, w_block,
                                         depth, go_block, plane, 0,
                                         &grad_x[n, group * in_per_group, 0, 0] + row0 * geo.width,
                                         in_plane)
                            else:
                                im2col_tile(&x[n, group * in_per_group, 0, 0], in_per_group, &geo,
                                            row0, rows, buffer)
                                gemm(False, True, depth, out_per_group, tile_len, 1, buffer,
                                     tile_len, go_block, plane, 1,
                                     &grad_w_slots[slot, group, 0, 0], out_per_group)
                                if with_grad_x:
                                    gemm(True, False, depth, tile_len, out_per_group, 1, w_block,
                                         depth, go_block, plane, 0, buffer, tile_len)
                                    col2im_tile(buffer, in_per_group, &geo, row0, rows,
                                                &grad_x[n, group * in_per_group, 0, 0])
                        item = item + slots
    finally:
        free(buffers)


cdef inline void valid_correlate(const floating_t *src, Py_ssize_t ld_src,
                                 const floating_t *kernel, const Geometry *geo,
                                 floating_t *out, Py_ssize_t ld_out, Py_ssize_t cols,
                                 bint accumulate) noexcept nogil:
    """out (+)= the valid correlation of src (out_h + kH - 1 rows) with one kernel plane."""
    if floating_t is float:
        cyconv_valid_corr_f32(src, ld_src, kernel, geo.kernel_h, geo.kernel_w, out, ld_out,
                              geo.out_h, cols, accumulate)
    else:
        cyconv_valid_corr_f64(src, ld_src, kernel, geo.kernel_h, geo.kernel_w, out, ld_out,
                              geo.out_h, cols, accumulate)


cdef inline void weight_correlate(const floating_t *src, Py_ssize_t ld_src,
                                  const floating_t *grad, Py_ssize_t ld_grad,
                                  const Geometry *geo, Py_ssize_t cols,
                                  floating_t *out) noexcept nogil:
    """out[kH, kW] = the valid correlation of src with the (out_h, cols) plane grad.

    Rows of both are read in whole vectors past ``cols``: ``ld_grad`` and
    ``ld_src - kW + 1`` must be ``cols`` rounded up to CYCONV_WEIGHT_COL_BYTES.
    """
    if floating_t is float:
        cyconv_weight_corr_f32(src, ld_src, grad, ld_grad, geo.out_h, cols, geo.kernel_h,
                               geo.kernel_w, out)
    else:
        cyconv_weight_corr_f64(src, ld_src, grad, ld_grad, geo.out_h, cols, geo.kernel_h,
                               geo.kernel_w, out)


cdef inline void copy_row(floating_t *dst, const floating_t *src, Py_ssize_t count,
                          bint add, floating_t shift) noexcept nogil:
    """dst[:count] = src[:count] (+ shift when ``add``), in whole vectors for short rows too."""
    if floating_t is float:
        cyconv_copy_row_f32(dst, src, count, add, shift)
    else:
        cyconv_copy_row_f64(dst, src, count, add, shift)


cdef inline floating_t plane_sum(const floating_t *data, Py_ssize_t count) noexcept nogil:
    """The sum of ``count`` elements, a whole number of weight-gradient columns."""
    if floating_t is float:
        return cyconv_sum_f32(data, count)
    else:
        return cyconv_sum_f64(data, count)


cdef inline Py_ssize_t round_up(Py_ssize_t size, Py_ssize_t multiple) noexcept nogil:
    return (size + multiple - 1) // multiple * multiple


cdef inline Py_ssize_t chunk_for(Py_ssize_t items, int num_threads) noexcept nogil:
    """Items per dynamic-schedule chunk: about 16 chunks a thread, so a thread
    that starts late takes fewer, without one scheduling call per small item."""
    return max(1, items // (16 * num_threads))


cdef inline Span window_columns(const Geometry *geo, Py_ssize_t ld) noexcept nogil:
    """Columns [lo, hi) of a padded row (``ld`` long) that hold input pixels."""
    cdef Span columns
    columns.lo = min(geo.pad_left, ld)
    columns.hi = max(min(geo.width + geo.pad_left, ld), columns.lo)
    return columns


cdef inline Py_ssize_t padded_rows(const Geometry *geo) noexcept nogil:
    """Rows of the zero-padded input a stride-1 output reads."""
    return geo.out_h + geo.dil_h * (geo.kernel_h - 1)


cdef void zero_padding(const Geometry *geo, Py_ssize_t ld, floating_t *padded) noexcept nogil:
    """Zero every cell of a padded plane that pad_plane does not write.

    A stride-1 output reads padded_rows rows of ``ld`` columns.  The zeros
    depend on the geometry only, so a buffer reused for many planes of one
    geometry is zeroed once.
    """
    cdef Py_ssize_t row, source_row
    cdef Span columns = window_columns(geo, ld)
    cdef floating_t *dst
    for row in range(padded_rows(geo)):
        dst = padded + row * ld
        source_row = row - geo.pad_top
        if source_row < 0 or source_row >= geo.height:
            memset(dst, 0, ld * sizeof(floating_t))
            continue
        memset(dst, 0, columns.lo * sizeof(floating_t))
        memset(dst + columns.hi, 0, (ld - columns.hi) * sizeof(floating_t))


cdef void pad_plane(const floating_t *plane, const Geometry *geo, Py_ssize_t ld,
                    floating_t *padded) noexcept nogil:
    """Copy one input plane into the window of a padded plane prepared by zero_padding.

    Rows are short (planes of a grouped convolution are small): copy_row
    does them without a library call or a scalar tail.
    """
    cdef Py_ssize_t row
    cdef Span columns = window_columns(geo, ld)
    cdef Py_ssize_t first_row = max(0, geo.pad_top)
    cdef Py_ssize_t last_row = min(padded_rows(geo), geo.height + geo.pad_top)
    for row in range(first_row, last_row):
        copy_row(padded + row * ld + columns.lo,
                 plane + (row - geo.pad_top) * geo.width + columns.lo - geo.pad_left,
                 columns.hi - columns.lo, False, 0)


cdef void add_taps(const floating_t *plane, const floating_t *kernel, const Geometry *geo,
                   floating_t *out) noexcept nogil:
    """out += one input plane correlated with one kernel plane, any stride and dilation."""
    cdef Py_ssize_t ky, kx, oh, ow, col_offset
    cdef Span rows_in, cols_in
    cdef floating_t tap
    cdef floating_t *out_row
    cdef const floating_t *in_row
    for ky in range(geo.kernel_h):
        rows_in = tap_rows(geo, ky)
        for kx in range(geo.kernel_w):
            col_offset = tap_column(geo, kx)
            cols_in = tap_cols(geo, kx)
            tap = kernel[ky * geo.kernel_w + kx]
            for oh in range(rows_in.lo, rows_in.hi):
                out_row = out + oh * geo.out_w
                in_row = plane + (oh * geo.stride_h + ky * geo.dil_h - geo.pad_top) * geo.width \
                    + col_offset
                if geo.stride_w == 1:
                    for ow in range(cols_in.lo, cols_in.hi):
                        out_row[ow] += tap * in_row[ow]
                else:
                    for ow in range(cols_in.lo, cols_in.hi):
                        out_row[ow] += tap * in_row[ow * geo.stride_w]


def direct_forward(const floating_t[:, :, :, ::1] x, const floating_t[:, :, :, ::1] weight,
                   const floating_t[::1] bias, floating_t[:, :, :, ::1] out,
                   tuple stride, tuple padding, tuple dilation, Py_ssize_t groups,
                   int num_threads):
    """Grouped convolution with few channels per group (depthwise): one output plane per item.

    With stride and dilation 1 each input plane is zero-padded into a
    per-thread buffer and correlated by the register-tiled kernel of the
    correlation family into a plane rounded up to whole tiles (planes are
    often narrower than a tile), whose valid columns are then copied out
    with the bias added; otherwise every tap adds a strided row.
    """
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], out.shape[2], out.shape[3],
                                      (weight.shape[2], weight.shape[3]), stride, padding, dilation)
    cdef Py_ssize_t out_channels = out.shape[1], in_per_group = weight.shape[1]
    cdef Py_ssize_t out_per_group = out_channels // groups, items = x.shape[0] * out_channels
    cdef Py_ssize_t item, n, co, ci, i, row
    cdef bint unit = geo.stride_h == 1 and geo.stride_w == 1 and geo.dil_h == 1 and geo.dil_w == 1
    cdef Py_ssize_t wide_w = round_up(geo.out_w, CYCONV_TILE_BYTES // sizeof(floating_t))
    cdef Py_ssize_t pad_ld = wide_w + geo.kernel_w - 1
    cdef Py_ssize_t pad_len = (geo.out_h + geo.kernel_h - 1) * pad_ld + geo.out_h * wide_w \
        if unit else 0
    cdef floating_t *out_plane
    cdef floating_t *padded
    cdef floating_t *wide
    cdef floating_t initial
    cdef bint has_bias = bias.shape[0] > 0
    num_threads = <int>max(1, min(num_threads, items))
    cdef Py_ssize_t chunk = chunk_for(items, num_threads)
    cdef floating_t *buffers = alloc_buffers(num_threads, pad_len, <floating_t>0)
    try:
        with nogil, parallel(num_threads=num_threads):
            padded = buffers + omp_get_thread_num() * pad_len if buffers != NULL else NULL
            wide = padded + (geo.out_h + geo.kernel_h - 1) * pad_ld if buffers != NULL else NULL
            if unit:
                zero_padding(&geo, pad_ld, padded)
            for item in prange(items, schedule='dynamic', chunksize=chunk):
                n = item // out_channels
                co = item % out_channels
                out_plane = &out[n, co, 0, 0]
                initial = bias[co] if has_bias else 0
                if not unit:
                    for i in range(geo.out_h * geo.out_w):
                        out_plane[i] = initial
                    for ci in range(in_per_group):
                        add_taps(&x[n, (co // out_per_group) * in_per_group + ci, 0, 0],
                                 &weight[co, ci, 0, 0], &geo, out_plane)
                    continue
                for ci in range(in_per_group):
                    pad_plane(&x[n, (co // out_per_group) * in_per_group + ci, 0, 0], &geo,
                              pad_ld, padded)
                    valid_correlate(padded, pad_ld, &weight[co, ci, 0, 0], &geo, wide, wide_w,
                                    wide_w, ci > 0)
                for row in range(geo.out_h):
                    copy_row(out_plane + row * geo.out_w, wide + row * wide_w, geo.out_w,
                             has_bias, initial)
    finally:
        free(buffers)


def direct_backward(const floating_t[:, :, :, ::1] grad_out, const floating_t[:, :, :, ::1] x,
                    const floating_t[:, :, :, ::1] weight, floating_t[:, :, :, ::1] grad_x,
                    floating_t[:, :, :, ::1] grad_w_parts, floating_t[:, ::1] grad_b_parts,
                    tuple stride, tuple padding, tuple dilation, Py_ssize_t groups,
                    bint finite_weight, int num_threads):
    """Gradients of direct_forward.  Every element of grad_x is written;
    grad_w_parts[n, co, ci, kH * kW] and grad_b_parts[n, co] get image n's
    parts of the weight and bias gradients, for the caller to sum over the
    batch in order.

    grad_x: one input plane per item, gathering every output plane of its
    group.  With stride and dilation 1 (padding below the kernel size, and
    ``finite_weight``: the padded form multiplies every weight by zeros the
    true sum never has) that is a 'valid' correlation of the zero-padded output gradient with
    the flipped kernel, run by the register-tiled kernel into a plane rounded
    up to whole tiles; otherwise every tap scatters a strided row.
    grad_w: one (image, output channel) per item.  With stride and dilation 1
    the input plane, zero-padded, is correlated with the output gradient
    (its columns padded with zeros to whole vectors) by the weight-gradient
    kernel of the correlation family; otherwise every tap is a dot product.
    The bias part is the sum of that padded output-gradient plane.
    """
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], grad_out.shape[2], grad_out.shape[3],
                                      (weight.shape[2], weight.shape[3]), stride, padding,
                                      dilation)
    cdef Py_ssize_t batch = x.shape[0], channels = x.shape[1], out_channels = grad_out.shape[1]
    cdef Py_ssize_t in_per_group = weight.shape[1], out_per_group = out_channels // groups
    cdef Py_ssize_t item, n, co, ci, ci_local, ky, kx, oh, ow, col_offset, i, row
    cdef Span rows_in, cols_in
    cdef floating_t tap, total
    cdef floating_t *gx_row
    cdef floating_t *parts
    cdef const floating_t *go_row
    cdef const floating_t *in_row
    cdef bint unit_w = geo.stride_h == 1 and geo.stride_w == 1 and geo.dil_h == 1 \
        and geo.dil_w == 1
    cdef bint unit_x = unit_w and geo.pad_top < geo.kernel_h and geo.pad_left < geo.kernel_w \
        and finite_weight
    # The transposed geometry: the output gradient padded by kernel - 1 - padding.
    cdef Geometry transposed = make_geometry(
        geo.out_h, geo.out_w, geo.height, geo.width, (geo.kernel_h, geo.kernel_w), (1, 1),
        (geo.kernel_h - 1 - geo.pad_top, geo.kernel_w - 1 - geo.pad_left), (1, 1))
    cdef Py_ssize_t taps = geo.kernel_h * geo.kernel_w
    cdef Py_ssize_t wide_w = round_up(geo.width, CYCONV_TILE_BYTES // sizeof(floating_t))
    cdef Py_ssize_t pad_ld = wide_w + geo.kernel_w - 1
    cdef Py_ssize_t x_len = (geo.height + geo.kernel_h - 1) * pad_ld + geo.height * wide_w \
        + taps if unit_x else 0
    # Weight and bias gradients: the output gradient with zero columns up to whole vectors.
    cdef Py_ssize_t go_ld = round_up(geo.out_w, CYCONV_WEIGHT_COL_BYTES // sizeof(floating_t))
    cdef Py_ssize_t in_ld = go_ld + geo.kernel_w - 1
    cdef Py_ssize_t w_len = ((geo.out_h + geo.kernel_h - 1) * in_ld if unit_w else 0) \
        + geo.out_h * go_ld
    cdef floating_t *padded
    cdef floating_t *wide
    cdef floating_t *flipped
    cdef floating_t *go_wide
    cdef int gx_threads = <int>max(1, min(num_threads, batch * channels))
    cdef int gw_threads = <int>max(1, min(num_threads, batch * out_channels))
    cdef Py_ssize_t gx_chunk = chunk_for(batch * channels, gx_threads)
    cdef Py_ssize_t gw_chunk = chunk_for(batch * out_channels, gw_threads)
    cdef Py_ssize_t scratch_len = max(x_len, w_len)
    cdef floating_t *scratch = alloc_buffers(max(gx_threads, gw_threads), scratch_len,
                                             <floating_t>0)
    try:
        with nogil:
            with parallel(num_threads=gx_threads):
                padded = scratch + omp_get_thread_num() * scratch_len if scratch != NULL else NULL
                wide = padded + (geo.height + geo.kernel_h - 1) * pad_ld if scratch != NULL else NULL
                flipped = wide + geo.height * wide_w if scratch != NULL else NULL
                if unit_x:
                    zero_padding(&transposed, pad_ld, padded)
                for item in prange(batch * channels, schedule='dynamic', chunksize=gx_chunk):
                    n = item // channels
                    ci = item % channels
                    ci_local = ci % in_per_group
                    if unit_x:
                        for co in range((ci // in_per_group) * out_per_group,
                                        (ci // in_per_group + 1) * out_per_group):
                            for i in range(taps):
                                flipped[i] = (&weight[co, ci_local, 0, 0])[taps - 1 - i]
                            pad_plane(&grad_out[n, co, 0, 0], &transposed, pad_ld, padded)
                            valid_correlate(padded, pad_ld, flipped, &transposed, wide, wide_w,
                                            wide_w, co % out_per_group > 0)
                        for row in range(geo.height):
                            copy_row(&grad_x[n, ci, row, 0], wide + row * wide_w, geo.width,
                                     False, 0)
                        continue
                    memset(&grad_x[n, ci, 0, 0], 0, geo.height * geo.width * sizeof(floating_t))
                    for co in range((ci // in_per_group) * out_per_group,
                                    (ci // in_per_group + 1) * out_per_group):
                        for ky in range(geo.kernel_h):
                            rows_in = tap_rows(&geo, ky)
                            for kx in range(geo.kernel_w):
                                col_offset = tap_column(&geo, kx)
                                cols_in = tap_cols(&geo, kx)
                                tap = weight[co, ci_local, ky, kx]
                                for oh in range(rows_in.lo, rows_in.hi):
                                    go_row = &grad_out[n, co, oh, 0]
                                    gx_row = &grad_x[n, ci, 0, 0] + (oh * geo.stride_h + ky * geo.dil_h
                                                                     - geo.pad_top) * geo.width + col_offset
                                    if geo.stride_w == 1:
                                        for ow in range(cols_in.lo, cols_in.hi):
                                            gx_row[ow] += tap * go_row[ow]
                                    else:
                                        for ow in range(cols_in.lo, cols_in.hi):
                                            gx_row[ow * geo.stride_w] += tap * go_row[ow]
            with parallel(num_threads=gw_threads):
                padded = scratch + omp_get_thread_num() * scratch_len if scratch != NULL else NULL
                go_wide = padded + ((geo.out_h + geo.kernel_h - 1) * in_ld if unit_w else 0)
                if unit_w:
                    zero_padding(&geo, in_ld, padded)
                for item in prange(batch * out_channels, schedule='dynamic', chunksize=gw_chunk):
                    n = item // out_channels
                    co = item % out_channels
                    for row in range(geo.out_h):
                        copy_row(go_wide + row * go_ld, &grad_out[n, co, row, 0], geo.out_w,
                                 False, 0)
                        memset(go_wide + row * go_ld + geo.out_w, 0,
                               (go_ld - geo.out_w) * sizeof(floating_t))
                    grad_b_parts[n, co] = plane_sum(go_wide, geo.out_h * go_ld)
                    for ci_local in range(in_per_group):
                        ci = (co // out_per_group) * in_per_group + ci_local
                        parts = &grad_w_parts[n, co, ci_local, 0]
                        if unit_w:
                            pad_plane(&x[n, ci, 0, 0], &geo, in_ld, padded)
                            weight_correlate(padded, in_ld, go_wide, go_ld, &geo, geo.out_w, parts)
                            continue
                        for ky in range(geo.kernel_h):
                            rows_in = tap_rows(&geo, ky)
                            for kx in range(geo.kernel_w):
                                col_offset = tap_column(&geo, kx)
                                cols_in = tap_cols(&geo, kx)
                                total = 0
                                for oh in range(rows_in.lo, rows_in.hi):
                                    go_row = &grad_out[n, co, oh, 0]
                                    in_row = &x[n, ci, 0, 0] + (oh * geo.stride_h + ky * geo.dil_h
                                                                - geo.pad_top) * geo.width + col_offset
                                    for ow in range(cols_in.lo, cols_in.hi):
                                        total = total + go_row[ow] * in_row[ow * geo.stride_w]
                                parts[ky * geo.kernel_w + kx] = total
    finally:
        free(scratch)


# Output channels of one conv_tile call: callers pack weights in blocks of it.
CONV_BLOCK = CYCONV_CONV_BLOCK
# Bytes of pixels of one conv_tile tile: its pixel counts come in multiples of it.
CONV_TILE_BYTES = CYCONV_CONV_TILE_BYTES


cdef inline void conv_tile(const floating_t *src, const ptrdiff_t *offsets, Py_ssize_t taps,
                           Py_ssize_t taps_per_pass, const floating_t *weights,
                           Py_ssize_t start, Py_ssize_t count, floating_t *out,
                           Py_ssize_t ld_out) noexcept nogil:
    if floating_t is float:
        cyconv_conv_tile_f32(src, offsets, taps, taps_per_pass, weights, start, count, out,
                             ld_out)
    else:
        cyconv_conv_tile_f64(src, offsets, taps, taps_per_pass, weights, start, count, out,
                             ld_out)


cdef int check_taps(const Py_ssize_t[::1] tap_index, Py_ssize_t kernel_taps) except -1:
    """ValueError unless every tap index is that of a tap of a kernel of
    ``kernel_taps`` (the kernels read the taps' data unchecked)."""
    cdef Py_ssize_t t
    for t in range(tap_index.shape[0]):
        if not 0 <= tap_index[t] < kernel_taps:
            raise ValueError(f"tap_index[{t}] = {tap_index[t]} is not a tap of the kernel")
    return 0


def pack_weight(const floating_t[:, :, :] weight, const Py_ssize_t[::1] tap_index,
                floating_t[:, :, :, ::1] packed, int num_threads):
    """Fill ``packed`` with tiled_forward's (and pointwise_forward's) weights.

    ``packed[g, b, t, r]`` = ``weight[g, b * CONV_BLOCK + r, tap_index[t]]``,
    zero past the group's last output channel; ``weight`` is (groups,
    C_out/groups, taps of a kernel), any strides.  A work item is one
    (group, block): it reads CONV_BLOCK kernels along and writes on.
    """
    cdef Py_ssize_t groups = weight.shape[0], out_per_group = weight.shape[1]
    cdef Py_ssize_t blocks = packed.shape[1], taps = packed.shape[2]
    cdef Py_ssize_t item, group, block, used, t, r, index
    if (packed.shape[0] != groups or packed.shape[3] != CYCONV_CONV_BLOCK
            or blocks != (out_per_group + CYCONV_CONV_BLOCK - 1) // CYCONV_CONV_BLOCK
            or tap_index.shape[0] != taps):
        raise ValueError(f"packed weights of shape {tuple(packed.shape)[:4]} do not hold "
                         f"{taps} taps of weights of shape {tuple(weight.shape)[:3]} "
                         f"in blocks of {CYCONV_CONV_BLOCK}")
    check_taps(tap_index, weight.shape[2])
    with nogil:
        for item in prange(groups * blocks, num_threads=num_threads, schedule='static'):
            group = item // blocks
            block = item % blocks
            used = min(CYCONV_CONV_BLOCK, out_per_group - block * CYCONV_CONV_BLOCK)
            for t in range(taps):
                index = tap_index[t]
                for r in range(CYCONV_CONV_BLOCK):
                    packed[group, block, t, r] = (
                        weight[group, block * CYCONV_CONV_BLOCK + r, index] if r < used else 0)


def tiled_forward(const floating_t[:, :, :, ::1] x, const floating_t[:, :, :, ::1] packed,
                  const Py_ssize_t[::1] tap_index, const floating_t[::1] bias,
                  floating_t[:, :, :, ::1] out, tuple kernel, tuple phases, tuple padding,
                  tuple dilation, Py_ssize_t chunk_images, Py_ssize_t chunk_rows,
                  Py_ssize_t taps_per_pass, int num_threads):
    """Stride-1 convolution by the register-tiled kernel of conv_tile.h, of
    ``x`` or of its ``phases`` (s_h, s_w) polyphase parts: a layer of that
    stride is a stride-1 layer over them, whose channels come group by
    group, phase by phase, and whose ``kernel`` is the layer's divided by
    the stride, rounded up.

    ``packed[g, b, t, r]`` is the weight of tap ``tap_index[t]`` (the flat
    index of (c, ky, kx) in a group's C_in/groups x kH x kW kernel of that
    layer) for output channel ``g * out_per_group + b * CONV_BLOCK + r``
    (zero past the group's last channel): taps left out are zero weights
    that are never multiplied.  ``bias`` is empty for none; ``padding`` is
    (top, left), non-negative.  Images are zero-padded and split, up to
    ``chunk_images`` at a time, into planes whose rows are the padded input
    rows: a tap is then a constant offset into the flattened plane, and
    output row y is pixels [y * ld, y * ld + out_w) of the flattened result.
    Work items are (image, block of ``chunk_rows`` output rows, group,
    channel block), each computed into a per-thread buffer and copied out
    with the bias, ``taps_per_pass`` taps at a time.
    """
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], out.shape[2], out.shape[3],
                                      kernel, (1, 1), padding, dilation)
    cdef Py_ssize_t phases_h = phases[0], phases_w = phases[1]
    cdef Py_ssize_t batch = x.shape[0], x_channels = x.shape[1], out_channels = out.shape[1]
    cdef Py_ssize_t groups = packed.shape[0], blocks = packed.shape[1], taps = packed.shape[2]
    cdef Py_ssize_t x_per_group = x_channels // groups, out_per_group = out_channels // groups
    cdef Py_ssize_t channels = x_channels * phases_h * phases_w
    cdef Py_ssize_t in_per_group = channels // groups
    cdef Py_ssize_t tile = CYCONV_CONV_TILE_BYTES // sizeof(floating_t)
    cdef Py_ssize_t ld = geo.out_w + geo.dil_w * (geo.kernel_w - 1)
    # Reads run past the last padded row by less than a row plus a tile.
    cdef Py_ssize_t plane_len = round_up((padded_rows(&geo) + 1) * ld + tile, tile)
    cdef Py_ssize_t row_chunks = (geo.out_h + chunk_rows - 1) // chunk_rows
    cdef Py_ssize_t buffer_ld = round_up(chunk_rows * ld, tile)
    cdef Py_ssize_t chunk, first, images, plane, item, n, rest, y0, rows, group, block, co, r, y
    cdef Py_ssize_t t, index, items, channel, phase
    cdef Py_ssize_t kernel_taps = geo.kernel_h * geo.kernel_w
    # A plane's phases lie one group's channels apart; each is padded_rows
    # rows of ld, then zeros to plane_len.
    cdef Py_ssize_t part_step = x_per_group * plane_len
    cdef Py_ssize_t part_used = padded_rows(&geo) * ld
    cdef bint has_bias = bias.shape[0] > 0
    cdef floating_t *parts
    cdef floating_t *buffer
    if phases_h < 1 or phases_w < 1 or geo.pad_top < 0 or geo.pad_left < 0:
        raise ValueError(f"phases {phases} must be positive, padding {padding} non-negative")
    cdef ptrdiff_t *offsets = <ptrdiff_t *> malloc(max(taps, 1) * sizeof(ptrdiff_t))
    cdef floating_t *padded = alloc_buffers(min(chunk_images, batch) * channels, plane_len,
                                            <floating_t>0) if offsets != NULL else NULL
    cdef floating_t *buffers = alloc_buffers(num_threads, CYCONV_CONV_BLOCK * buffer_ld,
                                             <floating_t>0) if padded != NULL else NULL
    try:
        if offsets == NULL or padded == NULL or buffers == NULL:
            raise MemoryError("cannot allocate the padded images")
        if taps_per_pass < 1:
            raise ValueError(f"taps_per_pass must be positive, got {taps_per_pass}")
        if tap_index.shape[0] != taps:
            raise ValueError(f"tap_index has {tap_index.shape[0]} taps, packed {taps}")
        check_taps(tap_index, in_per_group * kernel_taps)
        for t in range(taps):
            index = tap_index[t]
            offsets[t] = (index // kernel_taps * plane_len
                          + index % kernel_taps // geo.kernel_w * geo.dil_h * ld
                          + index % geo.kernel_w * geo.dil_w)
        with nogil:
            for chunk in range((batch + chunk_images - 1) // chunk_images):
                first = chunk * chunk_images
                images = min(chunk_images, batch - first)
                for plane in prange(images * x_channels, num_threads=num_threads,
                                    schedule='static'):
                    channel = plane % x_channels
                    parts = padded + ((plane // x_channels) * channels
                                      + channel // x_per_group * in_per_group
                                      + channel % x_per_group) * plane_len
                    split_plane(&x[first + plane // x_channels, channel, 0, 0], geo.height,
                                geo.width, geo.pad_top, geo.pad_left, phases_h, phases_w,
                                padded_rows(&geo), ld, part_step, parts)
                    for phase in range(phases_h * phases_w):
                        memset(parts + phase * part_step + part_used, 0,
                               (plane_len - part_used) * sizeof(floating_t))
                items = images * row_chunks * groups * blocks
                with parallel(num_threads=num_threads):
                    buffer = buffers + omp_get_thread_num() * CYCONV_CONV_BLOCK * buffer_ld
                    for item in prange(items, schedule='dynamic'):
                        block = item % blocks
                        rest = item // blocks
                        group = rest % groups
                        rest = rest // groups
                        y0 = (rest % row_chunks) * chunk_rows
                        n = rest // row_chunks
                        rows = min(chunk_rows, geo.out_h - y0)
                        conv_tile(padded + (n * channels + group * in_per_group) * plane_len,
                                  offsets, taps, taps_per_pass, &packed[group, block, 0, 0],
                                  y0 * ld,
                                  round_up(rows * ld, tile), buffer, buffer_ld)
                        for r in range(min(CYCONV_CONV_BLOCK,
                                           out_per_group - block * CYCONV_CONV_BLOCK)):
                            co = group * out_per_group + block * CYCONV_CONV_BLOCK + r
                            for y in range(rows):
                                copy_row(&out[first + n, co, y0 + y, 0],
                                         buffer + r * buffer_ld + y * ld, geo.out_w, has_bias,
                                         bias[co] if has_bias else 0)
    finally:
        free(buffers)
        free(padded)
        free(offsets)


cdef inline void split_row(const floating_t *src, Py_ssize_t width, Py_ssize_t shift,
                           Py_ssize_t phases, Py_ssize_t count, floating_t *dst,
                           Py_ssize_t dst_step) noexcept nogil:
    if floating_t is float:
        cyconv_split_row_f32(src, width, shift, phases, count, dst, dst_step)
    else:
        cyconv_split_row_f64(src, width, shift, phases, count, dst, dst_step)


cdef inline void wino_input(int size, const floating_t *parts, Py_ssize_t part_len,
                            Py_ssize_t part_ld, Py_ssize_t start, Py_ssize_t count,
                            floating_t *out, Py_ssize_t ld_xi) noexcept nogil:
    """The input transform of F(size x size, 3x3), size 2 or 4."""
    if size == 2:
        if floating_t is float:
            cyconv_wino_input_f32(parts, part_len, part_ld, start, count, out, ld_xi)
        else:
            cyconv_wino_input_f64(parts, part_len, part_ld, start, count, out, ld_xi)
    elif floating_t is float:
        cyconv_wino4_input_f32(parts, part_len, part_ld, start, count, out, ld_xi)
    else:
        cyconv_wino4_input_f64(parts, part_len, part_ld, start, count, out, ld_xi)


cdef inline Py_ssize_t wino_output(int size, const floating_t *products, Py_ssize_t ld_xi,
                                   Py_ssize_t count, floating_t *out,
                                   Py_ssize_t ld_out) noexcept nogil:
    """The output transform of F(size x size, 3x3), size 2 or 4."""
    if size == 2:
        if floating_t is float:
            return cyconv_wino_output_f32(products, ld_xi, count, out, ld_out)
        else:
            return cyconv_wino_output_f64(products, ld_xi, count, out, ld_out)
    elif floating_t is float:
        return cyconv_wino4_output_f32(products, ld_xi, count, out, ld_out)
    else:
        return cyconv_wino4_output_f64(products, ld_xi, count, out, ld_out)


cdef inline void wino_grad_output(const floating_t *parts, Py_ssize_t part_len, Py_ssize_t start,
                                  Py_ssize_t count, floating_t *out,
                                  Py_ssize_t ld_xi) noexcept nogil:
    if floating_t is float:
        cyconv_wino_grad_output_f32(parts, part_len, start, count, out, ld_xi)
    else:
        cyconv_wino_grad_output_f64(parts, part_len, start, count, out, ld_xi)


cdef void split_plane(const floating_t *plane, Py_ssize_t height, Py_ssize_t width,
                      Py_ssize_t pad_top, Py_ssize_t pad_left, Py_ssize_t phases_h,
                      Py_ssize_t phases_w, Py_ssize_t part_rows, Py_ssize_t part_ld,
                      Py_ssize_t part_step, floating_t *parts) noexcept nogil:
    """Zero-pad a plane and store its ``phases_h`` x ``phases_w`` polyphase
    parts (see winograd.h), each ``part_rows`` rows of ``part_ld``, part
    (a, b) (pixels (phases_h * i + a, phases_w * j + b) of the padded plane)
    at ``parts + (a * phases_w + b) * part_step``."""
    cdef Py_ssize_t row, source_row, phase
    cdef floating_t *first
    for row in range(phases_h * part_rows):
        first = parts + phases_w * (row % phases_h) * part_step + (row // phases_h) * part_ld
        source_row = row - pad_top
        if source_row < 0 or source_row >= height:
            for phase in range(phases_w):
                memset(first + phase * part_step, 0, part_ld * sizeof(floating_t))
        else:
            split_row(plane + source_row * width, width, pad_left, phases_w, part_ld, first,
                      part_step)


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
    """The output tile size of F(size x size, 3x3) whose packed weights hold
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
    cdef Py_ssize_t tile = CYCONV_CONV_TILE_BYTES // sizeof(floating_t)
    cdef Py_ssize_t tiles_h = (out_h + size - 1) // size, part_ld = (out_w + size - 1) // size + 1
    # The transforms run over whole conv_tile tiles (no scalar remainder
    # loops): past an item's last tile row by less than a tile, reading one
    # part row and one element further than the tile they compute.
    cdef Py_ssize_t part_rows = chunk_tile_rows + 2 + (tile + part_ld - 1) // part_ld
    cdef Py_ssize_t part_len = part_rows * part_ld
    cdef Py_ssize_t row_chunks = (tiles_h + chunk_tile_rows - 1) // chunk_tile_rows
    # Transformed tiles and products: rows of ld_tiles, whole conv_tile tiles.
    cdef Py_ssize_t line = 64 // sizeof(floating_t)
    cdef Py_ssize_t ld_tiles = odd_lines(chunk_tile_rows * part_ld, tile, line)
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
    cdef Py_ssize_t c, k, y, block, xi
    cdef Py_ssize_t nonfinite = 0
    cdef bint has_bias = bias.shape[0] > 0
    cdef floating_t *inputs
    cdef floating_t *products
    cdef floating_t *rows_out
    cdef floating_t *parts
    cdef floating_t[::1] scratch = reused_scratch(num_threads * thread_len, <floating_t>0)
    cdef floating_t *buffers = &scratch[0]
    cdef ptrdiff_t *offsets = <ptrdiff_t *> malloc(in_per_group * sizeof(ptrdiff_t))
    try:
        if offsets == NULL:
            raise MemoryError("cannot allocate the channel offsets")
        for c in range(in_per_group):
            offsets[c] = c * ld_tiles
        with nogil, parallel(num_threads=num_threads):
            inputs = buffers + omp_get_thread_num() * thread_len
            products = inputs + inputs_len
            rows_out = products + products_len
            parts = rows_out + size * ld_out
            for item in prange(items, schedule='dynamic'):
                n = item // row_chunks
                ty0 = (item % row_chunks) * chunk_tile_rows
                tile_rows = min(chunk_tile_rows, tiles_h - ty0)
                tiles = round_up(tile_rows * part_ld, tile)
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


def pointwise_forward(const floating_t[:, :, :, ::1] x, const floating_t[:, :, :, ::1] packed,
                      const floating_t[::1] bias, floating_t[:, :, :, ::1] out,
                      Py_ssize_t chunk_pixels, int num_threads):
    """1x1 stride-1 convolution without padding by conv_tile, one tap per
    input channel, with no GEMM packing.

    ``packed`` is tiled_forward's (groups, blocks, C_in/groups, CONV_BLOCK);
    ``bias`` is empty for none.  A work item is (image, ``chunk_pixels``
    pixels).  Per group, gather_tiles copies the chunk of every input
    channel into a per-thread buffer tile by tile (zero past the plane's
    end); then for each tile, every block of output channels reads the
    tile's inputs from the L1 cache, its results going straight into
    ``out`` (then the bias is added), or through a second per-thread buffer
    whose rows copy_row writes out, for a partial tile or a group's partial
    last block.
    """
    cdef Py_ssize_t batch = x.shape[0], groups = packed.shape[0], blocks = packed.shape[1]
    cdef Py_ssize_t plane = out.shape[2] * out.shape[3]
    cdef Py_ssize_t in_per_group = x.shape[1] // groups, out_per_group = out.shape[1] // groups
    cdef Py_ssize_t tile = CYCONV_CONV_TILE_BYTES // sizeof(floating_t)
    cdef Py_ssize_t chunks = (plane + chunk_pixels - 1) // chunk_pixels
    # Per thread: a block's results for one tile, then a chunk's inputs
    # (whole tiles: every part starts on a cache line).
    cdef Py_ssize_t thread_len = CYCONV_CONV_BLOCK * tile + in_per_group * round_up(chunk_pixels,
                                                                                   tile)
    cdef Py_ssize_t item, n, first, count, tiles, t, done, group, block, used, co, c, r, j
    cdef bint has_bias = bias.shape[0] > 0
    cdef floating_t shift
    cdef const floating_t *tile_inputs
    cdef floating_t *row
    cdef floating_t *results
    cdef floating_t *inputs
    cdef floating_t[::1] scratch = reused_scratch(num_threads * thread_len, <floating_t>0)
    cdef floating_t *buffers = &scratch[0]
    cdef ptrdiff_t *offsets = <ptrdiff_t *> malloc(in_per_group * sizeof(ptrdiff_t))
    if offsets == NULL:
        raise MemoryError("cannot allocate the channel offsets")
    for c in range(in_per_group):
        offsets[c] = c * tile
    try:
        with nogil, parallel(num_threads=num_threads):
            results = buffers + omp_get_thread_num() * thread_len
            inputs = results + CYCONV_CONV_BLOCK * tile
            for item in prange(batch * chunks, schedule='dynamic'):
                n = item // chunks
                first = item % chunks * chunk_pixels
                count = min(chunk_pixels, plane - first)
                tiles = (count + tile - 1) // tile
                for group in range(groups):
                    cyconv_gather_tiles(<char *> inputs,
                                        <const char *> (&x[n, group * in_per_group, 0, 0] + first),
                                        in_per_group, plane * sizeof(floating_t),
                                        count * sizeof(floating_t))
                    for t in range(tiles):
                        tile_inputs = inputs + t * in_per_group * tile
                        done = min(tile, count - t * tile)
                        for block in range(blocks):
                            co = group * out_per_group + block * CYCONV_CONV_BLOCK
                            used = min(CYCONV_CONV_BLOCK, out_per_group - block * CYCONV_CONV_BLOCK)
                            row = &out[n, co, 0, 0] + first + t * tile
                            if used == CYCONV_CONV_BLOCK and done == tile:
                                conv_tile(tile_inputs, offsets, in_per_group, in_per_group,
                                          &packed[group, block, 0, 0], 0, tile, row, plane)
                                if has_bias:
                                    for r in range(used):
                                        shift = bias[co + r]   # a local: the loop vectorises
                                        for j in range(tile):
                                            row[r * plane + j] += shift
                            else:
                                conv_tile(tile_inputs, offsets, in_per_group, in_per_group,
                                          &packed[group, block, 0, 0], 0, tile, results, tile)
                                for r in range(used):
                                    copy_row(row + r * plane, results + r * tile, done, has_bias,
                                             bias[co + r] if has_bias else 0)
    finally:
        free(offsets)
