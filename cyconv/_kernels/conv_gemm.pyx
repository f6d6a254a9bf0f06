"""NCHW convolution by im2col / col2im and GEMM (OpenBLAS through blas.pxd).

The general algorithm: any kernel, stride, padding, dilation and groups,
its multiply-adds done by BLAS.  It computes what the specialised modules
do not: strided layers that do not split into polyphase parts for
conv_tiled, 1x1 layers outside conv_pointwise's reach, the weight gradients
of all but conv_direct's and Winograd's layers, the input gradients neither
conv_tiled nor conv_pointwise computes; and cyconv.im2col and cyconv.col2im
themselves (torch's unfold and fold).  A 1x1 stride-1 layer without padding needs no im2col: its input is
its own column matrix, multiplied in place (the kernels' ``direct`` flag).
The conventions every conv_* module follows are in conv_common.pxd.

A *row tile* is a block of consecutive output rows of one image.  Its column
matrix has ``channels * kernel_h * kernel_w`` rows and ``rows * out_w``
columns; row ``(c * kernel_h + ky) * kernel_w + kx`` holds the input pixels
that tap ``(ky, kx)`` of channel ``c`` multiplies, zero where it falls on the
padding.  The top/left padding only shifts the window; the bottom/right
padding is implied by the output size, which the caller passes.
"""
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free
from libc.string cimport memcpy, memset

from cyconv._kernels.blas cimport gemm
from cyconv._kernels.conv_common cimport (
    Geometry, Span, alloc_buffers, make_geometry, tap_cols, tap_column, tap_rows,
)
from cyconv._kernels.correlate_tile cimport copy_row
from cyconv._kernels.fused cimport floating_t
from cyconv._kernels.openmp cimport omp_get_thread_num


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


cdef void walk_row_tile(floating_t *image, Py_ssize_t channels, const Geometry *geo,
                        Py_ssize_t row0, Py_ssize_t rows, floating_t *cols, Py_ssize_t ld,
                        bint to_columns) noexcept nogil:
    """im2col (``to_columns``: cols = the row tile's column matrix, its rows
    ``ld`` apart) or its adjoint col2im (image += the columns put back) for
    output rows [row0, row0 + rows) of a (channels, H, W) image; only
    im2col's writes cover the padding."""
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
                column = cols + ((c * geo.kernel_h + ky) * geo.kernel_w + kx) * ld
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


cdef inline void im2col_row_tile(const floating_t *image, Py_ssize_t channels,
                                 const Geometry *geo, Py_ssize_t row0, Py_ssize_t rows,
                                 floating_t *cols, Py_ssize_t ld) noexcept nogil:
    """Column matrix of output rows [row0, row0 + rows) of a (channels, H, W)
    image, its rows ``ld`` apart (several images side by side share one)."""
    walk_row_tile(<floating_t *>image, channels, geo, row0, rows, cols, ld, True)


cdef inline void col2im_row_tile(const floating_t *cols, Py_ssize_t ld, Py_ssize_t channels,
                                 const Geometry *geo, Py_ssize_t row0, Py_ssize_t rows,
                                 floating_t *image) noexcept nogil:
    """Add the column matrix of output rows [row0, row0 + rows), its rows
    ``ld`` apart, back into a (channels, H, W) image."""
    walk_row_tile(image, channels, geo, row0, rows, <floating_t *>cols, ld, False)


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
            im2col_row_tile(&x[plane // channels, plane % channels, 0, 0], 1, &geo, 0,
                            geo.out_h, &cols[plane // channels, (plane % channels) * taps, 0],
                            geo.out_h * geo.out_w)


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
            col2im_row_tile(&cols[plane // channels, (plane % channels) * taps, 0],
                            geo.out_h * geo.out_w, 1, &geo,
                            0, geo.out_h, &image[plane // channels, plane % channels, 0, 0])


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


# Tasks per image that build shared columns, each a slice of its channels.
cdef enum:
    COLUMN_SLICES = 4


def gemm_forward(const floating_t[:, :, :, ::1] x, const floating_t[:, ::1] weight,
                 const floating_t[::1] bias, floating_t[:, :, :, ::1] out,
                 tuple kernel, tuple stride, tuple padding, tuple dilation,
                 Py_ssize_t groups, Py_ssize_t tile_rows, Py_ssize_t images,
                 Py_ssize_t channel_blocks, bint direct, bint pixel_major, int num_threads):
    """out = conv(x, weight) + bias through one GEMM per work item and group.

    ``weight`` is (C_out, C_in/groups * kH * kW); ``bias`` is empty for none.
    A work item is a row tile of ``tile_rows`` output rows of ``images``
    consecutive images (their column matrices side by side: one GEMM with
    ``images`` times the pixels, which small planes need for OpenBLAS's
    speed) and one of ``channel_blocks`` blocks of each group's output
    channels (so that a batch of one small plane still makes work for every
    thread); the column matrices of such items are built once, before the
    GEMMs, and shared by their blocks.  ``direct`` (1x1 kernel, stride 1, no
    padding): a single image's input is its own column matrix and is
    multiplied in place.

    ``pixel_major``: the GEMM computes the tile as ``cols^T . weight^T`` into
    a per-thread buffer that transpose_tile writes out with the bias;
    otherwise as ``weight . cols``, straight into the output (which starts as
    the bias) for one image, through the buffer for several.  Which one
    OpenBLAS runs faster depends on the type (it packs the column matrix
    faster as an operand of the first for float32, of the second for
    float64), so the caller chooses.
    """
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], out.shape[2], out.shape[3],
                                      kernel, stride, padding, dilation)
    cdef Py_ssize_t batch = x.shape[0], in_per_group = x.shape[1] // groups
    cdef Py_ssize_t out_per_group = out.shape[1] // groups, depth = weight.shape[1]
    cdef Py_ssize_t plane = geo.out_h * geo.out_w, in_plane = geo.height * geo.width
    cdef Py_ssize_t n_tiles, image_groups, block, items, item, n0, count, row0, tile_len
    cdef Py_ssize_t width, group, co0, co_count, co, i, k
    cdef Py_ssize_t col_len, result_len, buffer_len
    cdef bint has_bias = bias.shape[0] > 0, in_place, single_pixel
    cdef const floating_t *columns
    cdef Py_ssize_t ld_columns
    cdef const floating_t *row
    cdef floating_t *c_block
    cdef floating_t *buffer
    cdef floating_t *result
    cdef floating_t *buffers = NULL
    cdef floating_t *shared = NULL
    cdef Py_ssize_t part, task, c0, c1, parts = 1, shared_len = 0
    if tile_rows < 1 or images < 1 or channel_blocks < 1:
        raise ValueError("tile_rows, images and channel_blocks must be positive")
    n_tiles = (geo.out_h + tile_rows - 1) // tile_rows
    image_groups = (batch + images - 1) // images
    block = (out_per_group + channel_blocks - 1) // channel_blocks
    items = image_groups * n_tiles * channel_blocks
    # One-pixel planes (squeeze-excite layers): the images' inputs are the
    # rows of one matrix, their outputs the rows of another.
    single_pixel = direct and plane == 1 and in_plane == 1
    in_place = direct and (images == 1 or single_pixel)
    col_len = 0 if in_place else depth * images * tile_rows * geo.out_w
    if channel_blocks > 1 and not in_place:
        # Every (images, row tile, group)'s columns, built once for all its blocks.
        parts = image_groups * n_tiles * groups
        shared_len = parts * col_len
        col_len = 0
    result_len = block * images * tile_rows * geo.out_w \
        if (pixel_major or images > 1) and not single_pixel else 0
    buffer_len = col_len + result_len
    num_threads = <int>max(1, min(num_threads, items))
    try:
        buffers = alloc_buffers(num_threads, buffer_len, <floating_t>0)
        if shared_len:
            shared = alloc_buffers(1, shared_len, <floating_t>0)
            with nogil:
                # A slice of one image's channels at a time: a batch of one
                # small plane is a single part.
                for task in prange(parts * images * COLUMN_SLICES, num_threads=num_threads,
                                   schedule='dynamic'):
                    part = task // (images * COLUMN_SLICES)
                    i = task // COLUMN_SLICES % images
                    c0 = task % COLUMN_SLICES * in_per_group // COLUMN_SLICES
                    c1 = (task % COLUMN_SLICES + 1) * in_per_group // COLUMN_SLICES
                    group = part % groups
                    row0 = (part // groups % n_tiles) * tile_rows
                    n0 = part // groups // n_tiles * images
                    count = min(images, batch - n0)
                    tile_len = min(tile_rows, geo.out_h - row0) * geo.out_w
                    if i < count and c1 > c0:
                        im2col_row_tile(&x[n0 + i, group * in_per_group + c0, 0, 0], c1 - c0,
                                        &geo, row0, tile_len // geo.out_w,
                                        shared + part * (shared_len // parts) + i * tile_len
                                        + c0 * geo.kernel_h * geo.kernel_w * count * tile_len,
                                        count * tile_len)
        with nogil, parallel(num_threads=num_threads):
            buffer = buffers + omp_get_thread_num() * buffer_len if buffers != NULL else NULL
            result = buffer + col_len if buffer != NULL else NULL
            for item in prange(items, schedule='dynamic'):
                co0 = (item % channel_blocks) * block
                row0 = (item // channel_blocks % n_tiles) * tile_rows
                n0 = item // channel_blocks // n_tiles * images
                co_count = min(block, out_per_group - co0)
                count = min(images, batch - n0)
                tile_len = min(tile_rows, geo.out_h - row0) * geo.out_w
                width = count * tile_len
                if co_count <= 0:
                    continue
                for group in range(groups):
                    k = group * out_per_group + co0
                    if single_pixel:
                        c_block = &out[n0, k, 0, 0]
                        for i in range(count):
                            for co in range(co_count):
                                c_block[i * out.shape[1] + co] = bias[k + co] if has_bias else 0
                        gemm(False, True, count, co_count, depth, 1,
                             &x[n0, group * in_per_group, 0, 0], x.shape[1], &weight[k, 0], depth,
                             1, c_block, out.shape[1])
                        continue
                    if in_place:
                        columns = &x[n0, group * in_per_group, 0, 0] + row0 * geo.width
                        ld_columns = in_plane
                    elif shared != NULL:
                        columns = shared + ((item // channel_blocks) * groups + group) * (
                            shared_len // parts)
                        ld_columns = width
                    else:
                        for i in range(count):
                            im2col_row_tile(&x[n0 + i, group * in_per_group, 0, 0],
                                            in_per_group, &geo, row0, tile_len // geo.out_w,
                                            buffer + i * tile_len, width)
                        columns = buffer
                        ld_columns = width
                    if pixel_major:
                        gemm(True, True, width, co_count, depth, 1, columns, ld_columns,
                             &weight[k, 0], depth, 0, result, co_count)
                        for i in range(count):
                            transpose_tile(result + i * tile_len * co_count, tile_len, co_count,
                                           &bias[k] if has_bias else NULL,
                                           &out[n0 + i, k, 0, 0] + row0 * geo.out_w, plane)
                    elif count == 1:
                        c_block = &out[n0, k, 0, 0] + row0 * geo.out_w
                        if has_bias:
                            for co in range(co_count):
                                for i in range(tile_len):
                                    c_block[co * plane + i] = bias[k + co]
                        gemm(False, False, co_count, tile_len, depth, 1, &weight[k, 0], depth,
                             columns, ld_columns, 1 if has_bias else 0, c_block, plane)
                    else:
                        gemm(False, False, co_count, width, depth, 1, &weight[k, 0], depth,
                             columns, ld_columns, 0, result, width)
                        for i in range(count):
                            for co in range(co_count):
                                row = result + co * width + i * tile_len
                                c_block = &out[n0 + i, k + co, 0, 0] + row0 * geo.out_w
                                copy_row(c_block, row, tile_len, has_bias,
                                         bias[k + co] if has_bias else 0)
    finally:
        free(buffers)
        free(shared)


def gemm_backward(const floating_t[:, :, :, ::1] grad_out, const floating_t[:, :, :, ::1] x,
                  const floating_t[:, ::1] weight, floating_t[:, :, :, ::1] grad_x,
                  floating_t[:, :, :, ::1] grad_w_slots,
                  tuple kernel, tuple stride, tuple padding, tuple dilation,
                  Py_ssize_t groups, Py_ssize_t tile_rows, Py_ssize_t images, Py_ssize_t phases,
                  Py_ssize_t channel_blocks, bint direct, bint with_grad_x, bint with_grad_w,
                  int num_threads):
    """Per-slot partial grad_w (zeroed by the caller) of gemm_forward when
    ``with_grad_w``, and grad_x (zeroed) when ``with_grad_x``: a transposed
    convolution is grad_x alone, and then only the slots' count matters.
    Without grad_w, a work item may be one of ``channel_blocks`` blocks of
    grad_x's channels (disjoint outputs), so that a batch of small planes
    is a few large GEMMs that still keep every thread busy.

    Per (images, tile, group): grad_w_slot += cols . grad_out_tile^T and
    grad_x += col2im(W^T . grad_out_tile).  A slot is (groups, C_in/groups *
    kH * kW, C_out/groups), the weight gradient transposed: OpenBLAS packs
    the column matrix faster as the right operand of that product than as
    the left one of ``grad_out_tile . cols^T`` (1.1-1.3x on these shapes).
    With ``images`` above 1 (whole planes as tiles) the column matrices and
    output gradients of that many consecutive images go side by side into
    per-thread buffers, so that one GEMM sums over all their pixels: a small
    plane's GEMM would otherwise write the whole weight gradient for a few
    dozen products each.  Tiles ``t`` with the same ``t % phases`` touch
    disjoint input rows, so one phase runs its items in parallel; item ``j``
    of a phase always goes to slot ``j % slots``, each slot walked in order
    by one thread, and the caller sums the slots in order.
    """
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], grad_out.shape[2], grad_out.shape[3],
                                      kernel, stride, padding, dilation)
    cdef Py_ssize_t batch = x.shape[0], in_per_group = x.shape[1] // groups
    cdef Py_ssize_t out_per_group = grad_out.shape[1] // groups, depth = weight.shape[1]
    cdef Py_ssize_t plane = geo.out_h * geo.out_w, in_plane = geo.height * geo.width
    cdef Py_ssize_t n_tiles = (geo.out_h + tile_rows - 1) // tile_rows
    cdef Py_ssize_t image_groups = (batch + images - 1) // images
    cdef Py_ssize_t slots = grad_w_slots.shape[0]
    cdef Py_ssize_t phase, phase_tiles, phase_items, slot, item, n, row0, rows, group, tile_len
    cdef Py_ssize_t count, width, i, co, rest, first, channels
    cdef Py_ssize_t taps = geo.kernel_h * geo.kernel_w
    cdef bint in_place = direct and images == 1
    cdef Py_ssize_t col_len = 0 if in_place else depth * images * tile_rows * geo.out_w
    cdef Py_ssize_t go_len = out_per_group * images * plane if images > 1 else 0
    cdef const floating_t *go_block
    cdef const floating_t *w_block
    cdef Py_ssize_t ld_go
    cdef floating_t *buffer
    cdef floating_t *go_buffer
    if images < 1 or (images > 1 and tile_rows < geo.out_h):
        raise ValueError("images must be positive, and above 1 only with whole planes as tiles")
    if channel_blocks < 1 or channel_blocks > in_per_group or (channel_blocks > 1 and with_grad_w):
        raise ValueError("channel_blocks must be in [1, channels per group], 1 with grad_w")
    num_threads = <int>max(1, min(num_threads, slots))
    cdef floating_t *buffers = alloc_buffers(num_threads, col_len + go_len, <floating_t>0)
    try:
        for phase in range(min(phases, n_tiles)):
            phase_tiles = (n_tiles - phase + phases - 1) // phases
            phase_items = image_groups * phase_tiles * channel_blocks
            with nogil, parallel(num_threads=num_threads):
                buffer = buffers + omp_get_thread_num() * (col_len + go_len) \
                    if buffers != NULL else NULL
                go_buffer = buffer + col_len if buffer != NULL else NULL
                for slot in prange(slots, schedule='dynamic'):
                    item = slot
                    while item < phase_items:
                        rest = item // channel_blocks
                        first = item % channel_blocks * in_per_group // channel_blocks
                        channels = (item % channel_blocks + 1) * in_per_group // channel_blocks \
                            - first
                        n = rest // phase_tiles * images
                        count = min(images, batch - n)
                        row0 = (phase + (rest % phase_tiles) * phases) * tile_rows
                        rows = min(tile_rows, geo.out_h - row0)
                        tile_len = rows * geo.out_w
                        width = count * tile_len
                        for group in range(groups):
                            go_block = &grad_out[n, group * out_per_group, 0, 0] + row0 * geo.out_w
                            ld_go = plane
                            w_block = &weight[group * out_per_group, 0]
                            if count > 1:
                                for co in range(out_per_group):
                                    for i in range(count):
                                        memcpy(go_buffer + co * width + i * plane,
                                               &grad_out[n + i, group * out_per_group + co, 0, 0],
                                               plane * sizeof(floating_t))
                                go_block = go_buffer
                                ld_go = width
                            if in_place:
                                if with_grad_w:
                                    gemm(False, True, depth, out_per_group, tile_len, 1,
                                         &x[n, group * in_per_group, 0, 0] + row0 * geo.width,
                                         in_plane, go_block, ld_go, 1,
                                         &grad_w_slots[slot, group, 0, 0], out_per_group)
                                if with_grad_x:
                                    gemm(True, False, channels * taps, tile_len, out_per_group, 1,
                                         w_block + first * taps, depth, go_block, ld_go, 0,
                                         &grad_x[n, group * in_per_group + first, 0, 0]
                                         + row0 * geo.width, in_plane)
                            else:
                                if with_grad_w:
                                    for i in range(count):
                                        im2col_row_tile(&x[n + i, group * in_per_group, 0, 0],
                                                        in_per_group, &geo, row0, rows,
                                                        buffer + i * tile_len, width)
                                    gemm(False, True, depth, out_per_group, width, 1, buffer,
                                         width, go_block, ld_go, 1,
                                         &grad_w_slots[slot, group, 0, 0], out_per_group)
                                if with_grad_x:
                                    gemm(True, False, channels * taps, width, out_per_group, 1,
                                         w_block + first * taps, depth, go_block, ld_go, 0,
                                         buffer, width)
                                    for i in range(count):
                                        col2im_row_tile(
                                            buffer + i * tile_len, width, channels, &geo, row0,
                                            rows, &grad_x[n + i, group * in_per_group + first, 0, 0])
                        item = item + slots
    finally:
        free(buffers)
