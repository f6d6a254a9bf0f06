"""Max and average pooling kernels, forward and backward.

Everything here computes; ``cyconv/_pooling.py`` checks and normalises the
arguments and sizes the outputs.  Arrays arrive as stacks of planes
``(planes, H, W)``.  Work is split into tasks of (plane, block of rows): one
block per plane when there are enough planes to keep every thread busy, more
otherwise.  Each task writes only its own output rows (or, for the backward,
its own input rows), so no two threads write the same cell and the result does
not depend on the number of threads.  Tasks are handed out dynamically, so that
a thread whose core another process has taken holds the others up little, in
chunks of consecutive tasks when they are small.

The value-only forward is separable: the taps of a window's rows are combined
into one padded row buffer (max or sum), then the taps along that row.  The
buffer's padding holds -inf (max) or 0 (sum), so no padded copy of the input
is made and the inner loops have no bounds tests.  The forward with indices
scans each window tap by tap in torch's order instead.  Adaptive pooling's
windows, of varying sizes, come as spans of rows and of columns and are
pooled the same two ways.
"""
cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.string cimport memcpy, memset

from cyconv._kernels.conv_common cimport Span, round_up
from cyconv._kernels.fused cimport floating_t
from cyconv._kernels.openmp cimport omp_get_thread_num

import numpy as np


cdef struct Window:
    Py_ssize_t kh, kw, sh, sw, ph, pw, dh, dw


cdef Window make_window(kernel, stride, padding, dilation):
    cdef Window w
    w.kh, w.kw = kernel
    w.sh, w.sw = stride
    w.ph, w.pw = padding
    w.dh, w.dw = dilation
    return w


cdef inline floating_t combine(floating_t best, floating_t value, bint is_max) noexcept nogil:
    """The sum, or torch's maximum: a larger value or a NaN replaces the running
    maximum, so any NaN in the window propagates (``a if a > b else b`` would not)."""
    if is_max:
        return value if (value > best or value != value) else best
    return best + value


cdef Py_ssize_t padded_width(Window w, Py_ssize_t width, Py_ssize_t out_w):
    """Length of a row buffer holding the input row between its paddings."""
    return max((out_w - 1) * w.sw + (w.kw - 1) * w.dw + 1, w.pw + width)


cdef Py_ssize_t row_blocks(Py_ssize_t planes, Py_ssize_t rows, int threads):
    """Blocks of rows per plane: enough tasks for every thread, and no more."""
    if planes == 0 or planes >= 4 * threads:
        return 1
    return max(1, min(rows, (4 * threads + planes - 1) // planes))


# Input and output cells a thread takes at a time at the least: handed out
# one by one, 2048 planes of 13x13 pooled to 6x6 ran 3x slower on two
# threads than on one (each plane's work costs less than handing it out, and
# neighbouring planes' outputs written by two threads share cache lines).
DEF CHUNK_MIN_CELLS = 16384

# Each thread's scratch row starts this many bytes (a multiple) after the one
# before: rows sharing a cache line, or the pair of lines adjacent-line
# prefetching fetches, made each thread's writes evict the other's.
DEF SCRATCH_LINE_BYTES = 128


cdef Py_ssize_t task_chunk(Py_ssize_t planes, Py_ssize_t blocks, Py_ssize_t plane_cells,
                           int threads) noexcept nogil:
    """Consecutive tasks handed to a thread at once: ``CHUNK_MIN_CELLS`` worth of
    planes of ``plane_cells`` input and output cells cut in ``blocks``, but no
    more than a quarter of a thread's share, so that the load still balances."""
    return max(1, min(CHUNK_MIN_CELLS * blocks // max(plane_cells, 1),
                      planes * blocks // (4 * threads)))


cdef thread_buffers(int threads, Py_ssize_t length, bint single):
    """One scratch row of ``length`` elements per thread (float32 if ``single``),
    on cache lines of its own."""
    cdef Py_ssize_t per_line = SCRATCH_LINE_BYTES // (4 if single else 8)
    return np.empty((threads, round_up(length, per_line) + per_line),
                    dtype=np.float32 if single else np.float64)


cdef struct Task:
    Py_ssize_t plane, lo, hi


cdef inline Task task_range(Py_ssize_t task, Py_ssize_t blocks, Py_ssize_t rows) noexcept nogil:
    """Task ``task`` is rows [lo, hi) of plane ``plane``."""
    cdef Task t
    cdef Py_ssize_t block = task % blocks
    t.plane = task // blocks
    t.lo = block * rows // blocks
    t.hi = (block + 1) * rows // blocks
    return t


cdef inline Span taps_inside(Py_ssize_t start, Py_ssize_t kernel, Py_ssize_t dilation,
                             Py_ssize_t size) noexcept nogil:
    """The taps ``start + i * dilation`` (``0 <= i < kernel``) inside ``[0, size)``: the
    first (past the left padding even when none is inside) and a bound past the last."""
    cdef Span taps
    taps.lo = start
    taps.hi = min(start + (kernel - 1) * dilation + 1, size)
    if start < 0:
        # The first tap inside the input, in one step: a loop of single
        # taps ran for minutes through a padding of 2**40 rows.
        taps.lo += (-start + dilation - 1) // dilation * dilation
    return taps


cdef inline void combine_row_taps(const floating_t *x, Py_ssize_t width, Span rows,
                                  Py_ssize_t step, floating_t *row, bint is_max) noexcept nogil:
    """``row`` = the max or the sum of input rows ``rows.lo``, ``rows.lo + step``, ...
    below ``rows.hi``; -inf or 0 where there are none."""
    cdef Py_ssize_t ih = rows.lo, iw
    # Up to three rows combined in one pass, each further one in a pass of its own.
    if ih >= rows.hi:
        for iw in range(width):
            row[iw] = -INFINITY if is_max else 0
    elif ih + step >= rows.hi:
        memcpy(row, x + ih * width, width * sizeof(floating_t))
    elif ih + 2 * step >= rows.hi:
        combine_rows(row, x + ih * width, x + (ih + step) * width, NULL, width, is_max)
    else:
        combine_rows(row, x + ih * width, x + (ih + step) * width, x + (ih + 2 * step) * width,
                     width, is_max)
        ih += 3 * step
        while ih < rows.hi:
            combine_rows(row, row, x + ih * width, NULL, width, is_max)
            ih += step


cdef void pool_rows(const floating_t *x, Py_ssize_t height, Py_ssize_t width,
                    floating_t *out, Py_ssize_t out_w, Py_ssize_t oh0, Py_ssize_t oh1,
                    Window w, bint is_max, const floating_t *scale,
                    floating_t *vrow, Py_ssize_t vrow_len) noexcept nogil:
    """Output rows [oh0, oh1) of one plane: the max, or the sum times ``scale``."""
    # ``is_max`` passed as a constant, so that the compiler makes one
    # vectorised copy of the loops for each.
    if is_max:
        pool_rows_by(x, height, width, out, out_w, oh0, oh1, w, True, scale, vrow, vrow_len)
    else:
        pool_rows_by(x, height, width, out, out_w, oh0, oh1, w, False, scale, vrow, vrow_len)


cdef inline void pool_rows_by(const floating_t *x, Py_ssize_t height, Py_ssize_t width,
                              floating_t *out, Py_ssize_t out_w, Py_ssize_t oh0, Py_ssize_t oh1,
                              Window w, bint is_max, const floating_t *scale,
                              floating_t *vrow, Py_ssize_t vrow_len) noexcept nogil:
    cdef Py_ssize_t oh, ow, i, j, offset
    cdef floating_t pad = -INFINITY if is_max else 0
    cdef floating_t *dst
    cdef floating_t *row = vrow + w.pw
    cdef const floating_t *row_scale
    for i in range(w.pw):
        vrow[i] = pad
    for i in range(w.pw + width, vrow_len):
        vrow[i] = pad
    for oh in range(oh0, oh1):
        combine_row_taps(x, width, taps_inside(oh * w.sh - w.ph, w.kh, w.dh, height), w.dh,
                         row, is_max)
        dst = out + oh * out_w
        row_scale = scale if is_max else scale + oh * out_w
        # The common windows in one pass with the stride a constant, so that
        # the compiler vectorises each; any other window tap by tap.
        if w.dw == 1 and 2 <= w.kw <= 3 and w.sw == 1:
            small_window_row(vrow, dst, out_w, 1, w.kw, is_max, row_scale)
        elif w.dw == 1 and 2 <= w.kw <= 3 and w.sw == 2:
            small_window_row(vrow, dst, out_w, 2, w.kw, is_max, row_scale)
        else:
            for ow in range(out_w):
                dst[ow] = vrow[ow * w.sw]
            for j in range(1, w.kw):
                offset = j * w.dw
                for ow in range(out_w):
                    dst[ow] = combine(dst[ow], vrow[ow * w.sw + offset], is_max)
            if not is_max:
                for ow in range(out_w):
                    dst[ow] = dst[ow] * row_scale[ow]


cdef inline void combine_rows(floating_t *dst, const floating_t *p, const floating_t *q,
                              const floating_t *r, Py_ssize_t n, bint is_max) noexcept nogil:
    """dst = max or sum of the rows p, q and (unless NULL) r, elementwise."""
    cdef Py_ssize_t i
    if r == NULL:
        for i in range(n):
            dst[i] = combine(p[i], q[i], is_max)
    else:
        for i in range(n):
            dst[i] = combine(combine(p[i], q[i], is_max), r[i], is_max)


cdef inline void small_window_row(const floating_t *vrow, floating_t *dst, Py_ssize_t out_w,
                                  Py_ssize_t stride, Py_ssize_t kw, bint is_max,
                                  const floating_t *scale) noexcept nogil:
    """The taps along a row of a window 2 or 3 wide, in one pass."""
    cdef Py_ssize_t ow
    cdef floating_t value
    for ow in range(out_w):
        value = combine(vrow[stride * ow], vrow[stride * ow + 1], is_max)
        if kw == 3:
            value = combine(value, vrow[stride * ow + 2], is_max)
        dst[ow] = value * scale[ow] if not is_max else value


cdef inline cnp.int64_t window_argmax(const floating_t *x, Py_ssize_t width, Span rows,
                                      Py_ssize_t dh, Span cols, Py_ssize_t dw,
                                      floating_t *best_out) noexcept nogil:
    """The max of the taps ``rows`` x ``cols`` (``dh`` and ``dw`` apart) and its flat
    index, scanned exactly as torch scans a window.

    Taps are visited row by row; a strictly larger value or a NaN takes over,
    so ties keep the first maximum and a NaN the last NaN.  A window with no
    tap inside the input gives -inf and the index of its first tap after the
    padding (torch's value, outside the plane).
    """
    cdef Py_ssize_t ih, iw
    cdef cnp.int64_t best_index = rows.lo * width + cols.lo
    cdef floating_t best = -INFINITY, value
    cdef bint take
    ih = rows.lo
    while ih < rows.hi:
        iw = cols.lo
        while iw < cols.hi:
            # Branch-free selects: which tap wins is data, not predictable.
            value = x[ih * width + iw]
            take = (value > best) | (value != value)
            best = value if take else best
            best_index = ih * width + iw if take else best_index
            iw += dw
        ih += dh
    best_out[0] = best
    return best_index


cdef void max_rows_indexed(const floating_t *x, Py_ssize_t height, Py_ssize_t width,
                           floating_t *out, cnp.int64_t *indices, Py_ssize_t out_w,
                           Py_ssize_t oh0, Py_ssize_t oh1, Window w) noexcept nogil:
    """Max and its flat index (`window_argmax`) of output rows [oh0, oh1) of one plane."""
    cdef Py_ssize_t oh, ow
    cdef Span rows
    for oh in range(oh0, oh1):
        rows = taps_inside(oh * w.sh - w.ph, w.kh, w.dh, height)
        for ow in range(out_w):
            indices[oh * out_w + ow] = window_argmax(
                x, width, rows, w.dh, taps_inside(ow * w.sw - w.pw, w.kw, w.dw, width), w.dw,
                &out[oh * out_w + ow])


def pool2d(const floating_t[:, :, ::1] x, floating_t[:, :, ::1] out, bint is_max,
           kernel, stride, padding, dilation, const floating_t[:, ::1] scale, int num_threads):
    """Max (``is_max``) or average pooling of every plane of ``x`` into ``out``.

    Window ``(oh, ow)`` starts at ``(oh * sh - ph, ow * sw - pw)`` with taps
    ``dilation`` apart; the average is its sum times ``scale[oh, ow]`` (one over
    the divisor; ``scale`` is not read for max).
    """
    cdef Window w = make_window(kernel, stride, padding, dilation)
    cdef Py_ssize_t planes = x.shape[0], height = x.shape[1], width = x.shape[2]
    cdef Py_ssize_t out_h = out.shape[1], out_w = out.shape[2]
    cdef Py_ssize_t blocks = row_blocks(planes, out_h, num_threads)
    cdef Py_ssize_t chunk = task_chunk(planes, blocks, height * width + out_h * out_w, num_threads)
    cdef Py_ssize_t vrow_len = padded_width(w, width, out_w)
    cdef Py_ssize_t task
    cdef Task t
    cdef floating_t[:, ::1] buffers
    cdef floating_t *vrow
    if planes == 0:
        return
    buffers = thread_buffers(num_threads, vrow_len, floating_t is float)
    with nogil, parallel(num_threads=num_threads):
        vrow = &buffers[omp_get_thread_num(), 0]
        for task in prange(planes * blocks, schedule='dynamic', chunksize=chunk):
            t = task_range(task, blocks, out_h)
            pool_rows(&x[t.plane, 0, 0], height, width, &out[t.plane, 0, 0], out_w, t.lo, t.hi,
                      w, is_max, &scale[0, 0], vrow, vrow_len)


def max_pool2d_indexed(const floating_t[:, :, ::1] x, floating_t[:, :, ::1] out,
                       cnp.int64_t[:, :, ::1] indices, kernel, stride, padding, dilation,
                       int num_threads):
    """Max pooling of every plane with the flat index of each maximum in its plane."""
    cdef Window w = make_window(kernel, stride, padding, dilation)
    cdef Py_ssize_t planes = x.shape[0], height = x.shape[1], width = x.shape[2]
    cdef Py_ssize_t out_h = out.shape[1], out_w = out.shape[2]
    cdef Py_ssize_t blocks = row_blocks(planes, out_h, num_threads)
    cdef Py_ssize_t chunk = task_chunk(planes, blocks, height * width + out_h * out_w, num_threads)
    cdef Py_ssize_t task
    cdef Task t
    if planes == 0:
        return
    with nogil, parallel(num_threads=num_threads):
        for task in prange(planes * blocks, schedule='dynamic', chunksize=chunk):
            t = task_range(task, blocks, out_h)
            max_rows_indexed(&x[t.plane, 0, 0], height, width, &out[t.plane, 0, 0],
                             &indices[t.plane, 0, 0], out_w, t.lo, t.hi, w)


def max_pool2d_backward(const floating_t[:, :, ::1] grad_output,
                        const cnp.int64_t[:, :, ::1] indices, floating_t[:, :, ::1] grad_x,
                        int num_threads):
    """grad_x[p].flat[indices[p, o]] += grad_output[p, o], in output order.

    A task owns a block of input rows and takes only the indices that fall in
    it.  Returns the number of indices outside the plane (those are skipped;
    the caller rejects the result when it is not zero).
    """
    cdef Py_ssize_t planes = grad_x.shape[0], height = grad_x.shape[1], width = grad_x.shape[2]
    cdef Py_ssize_t plane_size = height * width
    cdef Py_ssize_t out_size = grad_output.shape[1] * grad_output.shape[2]
    cdef Py_ssize_t blocks = row_blocks(planes, height, num_threads)
    cdef Py_ssize_t chunk = task_chunk(planes, blocks, plane_size + out_size, num_threads)
    cdef Py_ssize_t task, o
    cdef Task t
    cdef cnp.int64_t index, first, stop
    cdef const floating_t *grad
    cdef const cnp.int64_t *plane_indices
    cdef floating_t *dst
    if planes == 0 or plane_size == 0:
        return 0
    cdef Py_ssize_t[::1] bad = np.zeros(planes * blocks, dtype=np.intp)
    with nogil, parallel(num_threads=num_threads):
        for task in prange(planes * blocks, schedule='dynamic', chunksize=chunk):
            t = task_range(task, blocks, height)
            dst = &grad_x[t.plane, 0, 0]
            first = t.lo * width
            stop = t.hi * width
            memset(dst + first, 0, (stop - first) * sizeof(floating_t))
            if out_size == 0:
                continue
            grad = &grad_output[t.plane, 0, 0]
            plane_indices = &indices[t.plane, 0, 0]
            for o in range(out_size):
                index = plane_indices[o]
                if index < 0 or index >= plane_size:
                    bad[task] += 1
                elif first <= index < stop:
                    dst[index] = dst[index] + grad[o]
    return int(np.asarray(bad).sum())


cdef inline void scaled_column_sums(const floating_t *grad, const floating_t *scale,
                                    Py_ssize_t out_w, Py_ssize_t oh_lo, Py_ssize_t oh_hi,
                                    floating_t *spread) noexcept nogil:
    """``spread[ow]`` = the sum of ``grad * scale`` over output rows [oh_lo, oh_hi)
    of column ``ow``."""
    cdef Py_ssize_t oh, ow
    for ow in range(out_w):
        spread[ow] = 0
    for oh in range(oh_lo, oh_hi):
        for ow in range(out_w):
            spread[ow] = spread[ow] + grad[oh * out_w + ow] * scale[oh * out_w + ow]


cdef void avg_backward_rows(const floating_t *grad, Py_ssize_t out_h, Py_ssize_t out_w,
                            floating_t *grad_x, Py_ssize_t width, Py_ssize_t ih0, Py_ssize_t ih1,
                            Window w, const floating_t *scale, floating_t *spread, floating_t *hrow, Py_ssize_t hrow_len) noexcept nogil:
    """Input rows [ih0, ih1) of one plane's average-pooling gradient.

    For each input row, the scaled gradients of the windows covering it are
    summed per output column, then spread over each window's columns in a
    private padded row.
    """
    cdef Py_ssize_t ih, oh_lo, oh_hi, ow, j, start
    for ih in range(ih0, ih1):
        # Windows oh with oh * sh - ph <= ih < oh * sh - ph + kh.
        start = ih + w.ph - w.kh + 1
        oh_lo = 0 if start <= 0 else (start + w.sh - 1) // w.sh
        oh_hi = min((ih + w.ph) // w.sh + 1, out_h)
        scaled_column_sums(grad, scale, out_w, oh_lo, oh_hi, spread)
        memset(hrow, 0, hrow_len * sizeof(floating_t))
        for j in range(w.kw):
            for ow in range(out_w):
                hrow[ow * w.sw + j] = hrow[ow * w.sw + j] + spread[ow]
        memcpy(grad_x + ih * width, hrow + w.pw, width * sizeof(floating_t))


def avg_pool2d_backward(const floating_t[:, :, ::1] grad_output, floating_t[:, :, ::1] grad_x,
                        kernel, stride, padding, const floating_t[:, ::1] scale,
                        int num_threads):
    """The gradient of `pool2d`'s average: each output's gradient, times the
    forward's ``scale``, added to every input cell of its window."""
    cdef Window w = make_window(kernel, stride, padding, (1, 1))
    cdef Py_ssize_t planes = grad_x.shape[0], height = grad_x.shape[1], width = grad_x.shape[2]
    cdef Py_ssize_t out_h = grad_output.shape[1], out_w = grad_output.shape[2]
    cdef Py_ssize_t blocks = row_blocks(planes, height, num_threads)
    cdef Py_ssize_t chunk = task_chunk(planes, blocks, height * width + out_h * out_w, num_threads)
    cdef Py_ssize_t hrow_len = padded_width(w, width, out_w)
    cdef Py_ssize_t task
    cdef Task t
    cdef floating_t[:, ::1] buffers
    cdef floating_t *spread
    if planes == 0:
        return
    buffers = thread_buffers(num_threads, out_w + hrow_len, floating_t is float)
    with nogil, parallel(num_threads=num_threads):
        spread = &buffers[omp_get_thread_num(), 0]
        for task in prange(planes * blocks, schedule='dynamic', chunksize=chunk):
            t = task_range(task, blocks, height)
            avg_backward_rows(&grad_output[t.plane, 0, 0], out_h, out_w, &grad_x[t.plane, 0, 0],
                              width, t.lo, t.hi, w, &scale[0, 0], spread, spread + out_w, hrow_len)


# --- Adaptive pooling ---------------------------------------------------------
# Windows of any size, one span of input rows per output row and one of input
# columns per output column (``(count, 2)`` arrays of [lo, hi), laid out as
# `Span`), computed by the caller with torch's rule.


cdef inline void adaptive_rows(const floating_t *x, Py_ssize_t width, floating_t *out,
                               Py_ssize_t out_w, Py_ssize_t oh0, Py_ssize_t oh1,
                               const Span *rows, const Span *cols, bint is_max,
                               const floating_t *scale, floating_t *row) noexcept nogil:
    """Output rows [oh0, oh1) of one plane: the max, or the sum times ``scale``.

    A window's input rows are combined into ``row`` in passes along whole
    input rows, then each output column reduces its span of it.
    """
    cdef Py_ssize_t oh, ow, iw
    cdef floating_t value
    for oh in range(oh0, oh1):
        combine_row_taps(x, width, rows[oh], 1, row, is_max)
        for ow in range(out_w):
            value = row[cols[ow].lo]
            for iw in range(cols[ow].lo + 1, cols[ow].hi):
                value = combine(value, row[iw], is_max)
            out[oh * out_w + ow] = value if is_max else value * scale[oh * out_w + ow]


def adaptive_pool2d(const floating_t[:, :, ::1] x, floating_t[:, :, ::1] out, bint is_max,
                    const Py_ssize_t[:, ::1] rows, const Py_ssize_t[:, ::1] cols,
                    const floating_t[:, ::1] scale, int num_threads):
    """Max (``is_max``) or average pooling of every plane of ``x`` into ``out`` over
    the windows ``rows[oh]`` x ``cols[ow]``; the average is the sum times
    ``scale[oh, ow]`` (not read for max)."""
    cdef Py_ssize_t planes = x.shape[0], height = x.shape[1], width = x.shape[2]
    cdef Py_ssize_t out_h = out.shape[1], out_w = out.shape[2]
    cdef Py_ssize_t blocks = row_blocks(planes, out_h, num_threads)
    cdef Py_ssize_t chunk = task_chunk(planes, blocks, height * width + out_h * out_w, num_threads)
    cdef Py_ssize_t task
    cdef Task t
    cdef floating_t[:, ::1] buffers
    cdef floating_t *row
    if planes * out_h * out_w == 0:
        return
    buffers = thread_buffers(num_threads, width, floating_t is float)
    with nogil, parallel(num_threads=num_threads):
        row = &buffers[omp_get_thread_num(), 0]
        for task in prange(planes * blocks, schedule='dynamic', chunksize=chunk):
            t = task_range(task, blocks, out_h)
            # ``is_max`` passed as a constant, so that the compiler makes one
            # vectorised copy of the rows' combination for each.
            if is_max:
                adaptive_rows(&x[t.plane, 0, 0], width, &out[t.plane, 0, 0], out_w, t.lo, t.hi,
                              <const Span *> &rows[0, 0], <const Span *> &cols[0, 0], True,
                              &scale[0, 0], row)
            else:
                adaptive_rows(&x[t.plane, 0, 0], width, &out[t.plane, 0, 0], out_w, t.lo, t.hi,
                              <const Span *> &rows[0, 0], <const Span *> &cols[0, 0], False,
                              &scale[0, 0], row)


def adaptive_max_pool2d_indexed(const floating_t[:, :, ::1] x, floating_t[:, :, ::1] out,
                                cnp.int64_t[:, :, ::1] indices, const Py_ssize_t[:, ::1] rows,
                                const Py_ssize_t[:, ::1] cols, int num_threads):
    """Max pooling of every plane over the windows ``rows[oh]`` x ``cols[ow]``, with
    the flat index of each maximum in its plane (`window_argmax`)."""
    cdef Py_ssize_t planes = x.shape[0], height = x.shape[1], width = x.shape[2]
    cdef Py_ssize_t out_h = out.shape[1], out_w = out.shape[2]
    cdef Py_ssize_t blocks = row_blocks(planes, out_h, num_threads)
    cdef Py_ssize_t chunk = task_chunk(planes, blocks, height * width + out_h * out_w, num_threads)
    cdef Py_ssize_t task, oh, ow
    cdef Task t
    cdef const Span *row_spans = <const Span *> &rows[0, 0]
    cdef const Span *col_spans = <const Span *> &cols[0, 0]
    cdef floating_t *dst
    if planes * out_h * out_w == 0:
        return
    with nogil, parallel(num_threads=num_threads):
        for task in prange(planes * blocks, schedule='dynamic', chunksize=chunk):
            t = task_range(task, blocks, out_h)
            dst = &out[t.plane, 0, 0]
            for oh in range(t.lo, t.hi):
                for ow in range(out_w):
                    indices[t.plane, oh, ow] = window_argmax(
                        &x[t.plane, 0, 0], width, row_spans[oh], 1, col_spans[ow], 1,
                        &dst[oh * out_w + ow])


def adaptive_avg_pool2d_backward(const floating_t[:, :, ::1] grad_output,
                                 floating_t[:, :, ::1] grad_x, const Py_ssize_t[:, ::1] covers,
                                 const Py_ssize_t[:, ::1] cols, const floating_t[:, ::1] scale,
                                 int num_threads):
    """The gradient of `adaptive_pool2d`'s average: each output's gradient, times
    the forward's ``scale``, added to every input cell of its window.

    ``covers[ih]`` is the span of output rows whose windows hold input row
    ``ih``, ``cols[ow]`` the input columns of output column ``ow``.  A task
    owns a block of input rows: per row, the scaled gradients of the covering
    windows are summed per output column, then added over each column's span.
    """
    cdef Py_ssize_t planes = grad_x.shape[0], height = grad_x.shape[1], width = grad_x.shape[2]
    cdef Py_ssize_t out_h = grad_output.shape[1], out_w = grad_output.shape[2]
    cdef Py_ssize_t blocks = row_blocks(planes, height, num_threads)
    cdef Py_ssize_t chunk = task_chunk(planes, blocks, height * width + out_h * out_w, num_threads)
    cdef Py_ssize_t task, ih, ow, iw
    cdef Task t
    cdef const Span *row_covers = <const Span *> &covers[0, 0]
    cdef const Span *col_spans = <const Span *> &cols[0, 0]
    cdef floating_t[:, ::1] buffers
    cdef floating_t *spread
    cdef floating_t *dst
    if planes == 0:
        return
    buffers = thread_buffers(num_threads, out_w, floating_t is float)
    with nogil, parallel(num_threads=num_threads):
        spread = &buffers[omp_get_thread_num(), 0]
        for task in prange(planes * blocks, schedule='dynamic', chunksize=chunk):
            t = task_range(task, blocks, height)
            for ih in range(t.lo, t.hi):
                scaled_column_sums(&grad_output[t.plane, 0, 0], &scale[0, 0], out_w,
                                   row_covers[ih].lo, row_covers[ih].hi, spread)
                dst = &grad_x[t.plane, ih, 0]
                memset(dst, 0, width * sizeof(floating_t))
                for ow in range(out_w):
                    for iw in range(col_spans[ow].lo, col_spans[ow].hi):
                        dst[iw] = dst[iw] + spread[ow]


cdef extern from "plane_reduce.h" nogil:
    float cyconv_plane_f32_sum(const float *x, Py_ssize_t n)
    double cyconv_plane_f64_sum(const double *x, Py_ssize_t n)
    float cyconv_plane_f32_max(const float *x, Py_ssize_t n)
    double cyconv_plane_f64_max(const double *x, Py_ssize_t n)

cdef inline floating_t plane_reduce(const floating_t *values, Py_ssize_t count,
                                    bint is_max) noexcept nogil:
    """The maximum (NaN propagating, as `combine`) or the sum of ``count``
    contiguous values."""
    if floating_t is float:
        if is_max:
            return cyconv_plane_f32_max(values, count)
        return cyconv_plane_f32_sum(values, count)
    else:
        if is_max:
            return cyconv_plane_f64_max(values, count)
        return cyconv_plane_f64_sum(values, count)


def global_pool2d(const floating_t[:, ::1] x, floating_t[::1] out, bint is_max, double scale,
                  int num_threads):
    """A window as large as the plane: ``out[p]`` is the maximum (NaN
    propagating, as `combine`) or the sum times ``scale`` of row ``p`` of
    ``x`` (planes flattened to rows).

    The general kernel's buffers and per-task set-up cost more than the
    arithmetic of a 7x7 plane: on (8, 512, 7, 7) float32 it took 290 us,
    where this kernel reads the planes at memory speed.
    """
    cdef Py_ssize_t planes = x.shape[0], count = x.shape[1], p
    if out.shape[0] != planes:
        raise ValueError("out must hold one value per plane")
    if count == 0:
        raise ValueError("the planes must not be empty")
    with nogil, parallel(num_threads=num_threads):
        for p in prange(planes, schedule='static'):
            if is_max:
                out[p] = plane_reduce(&x[p, 0], count, True)
            else:
                out[p] = <floating_t> (plane_reduce(&x[p, 0], count, False) * scale)


def global_pool2d_backward(const floating_t[::1] grad_output, floating_t[:, ::1] grad_x,
                           double scale, int num_threads):
    """The gradient of `global_pool2d`'s average: row ``p`` of ``grad_x`` filled
    with ``grad_output[p] * scale``.

    The windowed kernels' per-row set-up costs more than filling a 7x7
    plane: on (8, 2048, 7, 7) float32 they took 2.6 and 3.3 ms, this one
    0.13 ms (torch 0.9 ms).
    """
    cdef Py_ssize_t planes = grad_x.shape[0], count = grad_x.shape[1], p, i
    cdef floating_t value
    if grad_output.shape[0] != planes:
        raise ValueError("grad_output must hold one value per plane")
    with nogil, parallel(num_threads=num_threads):
        for p in prange(planes, schedule='static'):
            value = <floating_t> (grad_output[p] * scale)
            for i in range(count):
                grad_x[p, i] = value
