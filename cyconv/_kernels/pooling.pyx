"""Max and average pooling kernels, forward and backward.

Everything here computes; ``cyconv/_pooling.py`` checks and normalises the
arguments and sizes the outputs.  Arrays arrive as stacks of planes
``(planes, H, W)``.  Work is split into tasks of (plane, block of rows): one
block per plane when there are enough planes to keep every thread busy, more
otherwise.  Each task writes only its own output rows (or, for the backward,
its own input rows), so no two threads write the same cell and the result does
not depend on the number of threads.  Tasks are handed out dynamically, so that
a thread whose core another process has taken holds the others up little.

The value-only forward is separable: the taps of a window's rows are combined
into one padded row buffer (max or sum), then the taps along that row.  The
buffer's padding holds -inf (max) or 0 (sum), so no padded copy of the input
is made and the inner loops have no bounds tests.  The forward with indices
scans each window tap by tap in torch's order instead.
"""
cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.string cimport memcpy, memset

from cyconv._kernels.correlate_tile cimport (
    CYCONV_WEIGHT_COL_BYTES,
    cyconv_sum_f32,
    cyconv_sum_f64,
)
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


cdef thread_buffers(int threads, Py_ssize_t length, bint single):
    """One scratch row of ``length`` elements per thread (float32 if ``single``)."""
    return np.empty((threads, length), dtype=np.float32 if single else np.float64)


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
    cdef Py_ssize_t oh, ow, i, j, ih, iw, offset, count
    cdef floating_t pad = -INFINITY if is_max else 0
    cdef floating_t *dst
    cdef floating_t *row = vrow + w.pw
    cdef const floating_t *src
    cdef const floating_t *first = NULL
    cdef const floating_t *second = NULL
    cdef const floating_t *row_scale
    for i in range(w.pw):
        vrow[i] = pad
    for i in range(w.pw + width, vrow_len):
        vrow[i] = pad
    for oh in range(oh0, oh1):
        # The window's rows inside the input: up to three combined in one
        # pass, each further one in a pass of its own.
        count = 0
        for i in range(w.kh):
            ih = oh * w.sh - w.ph + i * w.dh
            if ih < 0 or ih >= height:
                continue
            src = x + ih * width
            if count == 0:
                first = src
            elif count == 1:
                second = src
            elif count == 2:
                combine_rows(row, first, second, src, width, is_max)
            else:
                combine_rows(row, row, src, NULL, width, is_max)
            count += 1
        if count == 0:
            for iw in range(width):
                row[iw] = pad
        elif count == 1:
            memcpy(row, first, width * sizeof(floating_t))
        elif count == 2:
            combine_rows(row, first, second, NULL, width, is_max)
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


cdef void max_rows_indexed(const floating_t *x, Py_ssize_t height, Py_ssize_t width,
                           floating_t *out, cnp.int64_t *indices, Py_ssize_t out_w,
                           Py_ssize_t oh0, Py_ssize_t oh1, Window w) noexcept nogil:
    """Max and its flat index, window by window exactly as torch scans them.

    Taps are visited row by row; a strictly larger value or a NaN takes over,
    so ties keep the first maximum and a NaN the last NaN.  A window with no
    tap inside the input gives -inf and the index of its first tap after the
    padding (torch's value, outside the plane).
    """
    cdef Py_ssize_t oh, ow, ih, iw, ih0, iw0, ih1, iw1, best_index
    cdef floating_t best, value
    cdef bint take
    for oh in range(oh0, oh1):
        ih0 = oh * w.sh - w.ph
        ih1 = min(ih0 + (w.kh - 1) * w.dh + 1, height)
        if ih0 < 0:
            # The first tap inside the input, in one step: a loop of single
            # taps ran for minutes through a padding of 2**40 rows.
            ih0 += (-ih0 + w.dh - 1) // w.dh * w.dh
        for ow in range(out_w):
            iw0 = ow * w.sw - w.pw
            iw1 = min(iw0 + (w.kw - 1) * w.dw + 1, width)
            if iw0 < 0:
                iw0 += (-iw0 + w.dw - 1) // w.dw * w.dw
            best = -INFINITY
            best_index = ih0 * width + iw0
            ih = ih0
            while ih < ih1:
                iw = iw0
                while iw < iw1:
                    # Branch-free selects: which tap wins is data, not predictable.
                    value = x[ih * width + iw]
                    take = (value > best) | (value != value)
                    best = value if take else best
                    best_index = ih * width + iw if take else best_index
                    iw += w.dw
                ih += w.dh
            out[oh * out_w + ow] = best
            indices[oh * out_w + ow] = best_index


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
        for task in prange(planes * blocks, schedule='dynamic'):
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
    cdef Py_ssize_t task
    cdef Task t
    if planes == 0:
        return
    with nogil, parallel(num_threads=num_threads):
        for task in prange(planes * blocks, schedule='dynamic'):
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
        for task in prange(planes * blocks, schedule='dynamic'):
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


cdef void avg_backward_rows(const floating_t *grad, Py_ssize_t out_h, Py_ssize_t out_w,
                            floating_t *grad_x, Py_ssize_t width, Py_ssize_t ih0, Py_ssize_t ih1,
                            Window w, const floating_t *scale, floating_t *spread, floating_t *hrow, Py_ssize_t hrow_len) noexcept nogil:
    """Input rows [ih0, ih1) of one plane's average-pooling gradient.

    For each input row, the scaled gradients of the windows covering it are
    summed per output column, then spread over each window's columns in a
    private padded row.
    """
    cdef Py_ssize_t ih, oh, oh_lo, oh_hi, ow, j, start
    for ih in range(ih0, ih1):
        # Windows oh with oh * sh - ph <= ih < oh * sh - ph + kh.
        start = ih + w.ph - w.kh + 1
        oh_lo = 0 if start <= 0 else (start + w.sh - 1) // w.sh
        oh_hi = min((ih + w.ph) // w.sh + 1, out_h)
        for ow in range(out_w):
            spread[ow] = 0
        for oh in range(oh_lo, oh_hi):
            for ow in range(out_w):
                spread[ow] = spread[ow] + grad[oh * out_w + ow] * scale[oh * out_w + ow]
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
        for task in prange(planes * blocks, schedule='dynamic'):
            t = task_range(task, blocks, height)
            avg_backward_rows(&grad_output[t.plane, 0, 0], out_h, out_w, &grad_x[t.plane, 0, 0],
                              width, t.lo, t.hi, w, &scale[0, 0], spread, spread + out_w, hrow_len)


cdef extern from "plane_reduce.h" nogil:
    float cyconv_plane_f32_sum(const float *x, Py_ssize_t n)
    double cyconv_plane_f64_sum(const double *x, Py_ssize_t n)
    float cyconv_plane_f32_max(const float *x, Py_ssize_t n)
    double cyconv_plane_f64_max(const double *x, Py_ssize_t n)

# Planes of at least this many vectors are summed in whole vectors: on shorter
# ones the final reduction across the lanes costs more than four scalar chains
# (measured on (8, 512, 7, 7) float32: 70 us in vectors, the chains at memory speed).
DEF VECTOR_SUM_MIN_VECTORS = 8


cdef inline floating_t plane_reduce(const floating_t *values, Py_ssize_t count,
                                    bint is_max) noexcept nogil:
    """The maximum (NaN propagating, as `combine`) or the sum of ``count``
    contiguous values."""
    cdef Py_ssize_t lanes = max(1, CYCONV_WEIGHT_COL_BYTES // <Py_ssize_t> sizeof(floating_t))
    # Short planes are summed whole by the chains; long ones in vectors up to
    # the last whole vector, the chains taking the rest.
    cdef Py_ssize_t whole = 0 if count < VECTOR_SUM_MIN_VECTORS * lanes else count - count % lanes
    if floating_t is float:
        if is_max:
            return cyconv_plane_f32_max(values, count)
        return ((cyconv_sum_f32(values, whole) if whole else 0)
                + cyconv_plane_f32_sum(values + whole, count - whole))
    else:
        if is_max:
            return cyconv_plane_f64_max(values, count)
        return ((cyconv_sum_f64(values, whole) if whole else 0)
                + cyconv_plane_f64_sum(values + whole, count - whole))


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
