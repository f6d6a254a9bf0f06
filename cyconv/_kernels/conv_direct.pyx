"""NCHW convolution with few channels per group: the direct kernels.

When a group has few channels (``Tuning.direct_max_channel_product``: input
times output channels per group), a GEMM or the tiled kernel has almost
nothing to reuse across channels, so these work plane by plane (the forward
pass of depthwise layers whose rows fill few vectors is conv_depthwise's,
which vectorises across channels instead): a work item
is one output plane (forward), one input plane (input gradient) or one
(image, output channel) (weight and bias gradients).  With stride and
dilation 1 a plane is zero-padded and handed to the register-tiled kernels
of the correlation family (correlate_tile.h); otherwise every tap adds a
strided row.  The conventions every conv_* module follows are in
conv_common.pxd.
"""
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free
from libc.string cimport memset

from cyconv._kernels.conv_common cimport (
    Geometry, Span, alloc_buffers, make_geometry, padded_rows, round_up, tap_cols, tap_column,
    tap_rows,
)
from cyconv._kernels.correlate_tile cimport (
    CYCONV_TILE_BYTES, CYCONV_WEIGHT_COL_BYTES, copy_row, plane_sum, valid_correlate,
    weight_correlate,
)
from cyconv._kernels.fused cimport floating_t
from cyconv._kernels.openmp cimport omp_get_thread_num

# With stride and dilation 1, output rows are computed in whole tiles this wide.
ROW_TILE_BYTES = CYCONV_TILE_BYTES


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
                    bint finite_weight, bint with_grad_w, int num_threads):
    """Gradients of direct_forward.  Every element of grad_x is written;
    with ``with_grad_w``, grad_w_parts[n, co, ci, kH * kW] and
    grad_b_parts[n, co] get image n's parts of the weight and bias
    gradients, for the caller to sum over the batch in order (a transposed
    convolution is grad_x alone, and ``x`` then only gives its shape).

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
            if with_grad_w:
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
