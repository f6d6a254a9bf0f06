"""1-D passes along one axis in scipy.ndimage's own order of operations (float64).

Integer outputs truncate the float64 sum, so a sum that lands a rounding step
below an integer gives a different result: these kernels repeat scipy's
arithmetic exactly (its symmetric and antisymmetric shortcuts, its running sum
for the uniform filter) so that integer results equal scipy's.  The uniform
filter reads float32 and float64 data in place, so it serves floating data
too (its results are then scipy's to the bit).  Every SIMD
level of this family is compiled with -ffp-contract=off (setup.py): with a
fused multiply-add a product and its sum would be rounded once, not twice as
in scipy.

An array is seen as ``(outer, n, inner)`` with the pass along ``n``.  A
correlation's work item is a block of up to ``block`` lines (neighbouring inner columns, or for
a pass along the last axis neighbouring outer rows), gathered with the
boundary extension into a private float64 buffer whose rows hold one element
of every line, so the loops over the lines vectorise and each line keeps
scipy's order.
"""
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc

from cyconv._kernels.boundary cimport FILL, MIRROR, source_index
from cyconv._kernels.fused cimport floating_t
from cyconv._kernels.openmp cimport omp_get_thread_num

import numpy as np

# The symmetry codes of scipy's NI_Correlate1D.
cdef enum:
    GENERAL = 0
    SYMMETRIC = 1
    ANTISYMMETRIC = -1

# Lines computed side by side: two AVX-512 vectors of float64 (a constant, so
# that the sums of a row of them can live in registers).
cdef enum:
    LINES_PER_ITEM = 16
# Columns of one uniform-filter item: their running sums stay in L1.
cdef Py_ssize_t UNIFORM_COLUMNS = 512


cdef bint has_work(const Py_ssize_t *image_shape, const Py_ssize_t *out_shape, Py_ssize_t size,
                   int boundary) except -1:
    """Check a pass's arguments (before any unchecked loop); False when there is nothing to do."""
    if (out_shape[0] != image_shape[0] or out_shape[1] != image_shape[1]
            or out_shape[2] != image_shape[2]):
        raise ValueError("image and out must have the same shape")
    if size < 1:
        raise ValueError(f"a pass needs a window of at least 1, got {size}")
    if not 0 <= boundary <= MIRROR:
        raise ValueError(f"unknown boundary code {boundary}")
    return image_shape[0] * image_shape[1] * image_shape[2] != 0


cdef Py_ssize_t *extension_map(Py_ssize_t offset, Py_ssize_t ext_n, Py_ssize_t n,
                               int boundary) except NULL:
    """A new array (free it) of the input index read at extended positions offset .. + ext_n."""
    cdef Py_ssize_t e
    cdef Py_ssize_t *indices = <Py_ssize_t *> malloc(max(ext_n, 1) * sizeof(Py_ssize_t))
    if indices == NULL:
        raise MemoryError("cannot allocate the extension map")
    for e in range(ext_n):
        indices[e] = source_index(e + offset, n, boundary)
    return indices


cdef void gather(const floating_t *src, Py_ssize_t line_stride, Py_ssize_t step,
                 Py_ssize_t lines, const Py_ssize_t *ext_src, Py_ssize_t ext_n, double fill,
                 double *ext, Py_ssize_t width) noexcept nogil:
    """ext[e, b] = src[ext_src[e] * step + b * line_stride], or ``fill`` where ext_src is -1.

    Rows of ``ext`` are ``width`` apart; columns ``lines`` .. ``width`` are zero.

    Lines a row apart are read one at a time, along the row: read across
    them, rows a power of two apart fall into one cache set and evict each
    other (5x slower for 2048-wide rows).
    """
    cdef Py_ssize_t e, b
    cdef const floating_t *line
    if lines < width:
        for e in range(ext_n):
            for b in range(lines, width):
                ext[e * width + b] = 0.0
    if line_stride == 1:
        for e in range(ext_n):
            line = src + ext_src[e] * step
            for b in range(lines):
                ext[e * width + b] = fill if ext_src[e] < 0 else <double> line[b]
        return
    for b in range(lines):
        line = src + b * line_stride
        for e in range(ext_n):
            ext[e * width + b] = fill if ext_src[e] < 0 else <double> line[ext_src[e] * step]


cdef void scatter(const double *result, Py_ssize_t width, Py_ssize_t n, Py_ssize_t lines,
                  floating_t *out, Py_ssize_t line_stride, Py_ssize_t step) noexcept nogil:
    """out[l * step + b * line_stride] = result[l, b] (rows ``width`` apart), rounded to the
    output's type.

    Written one line at a time for the reason `gather` reads so.
    """
    cdef Py_ssize_t l, b
    cdef floating_t *line
    if line_stride == 1:
        for l in range(n):
            for b in range(lines):
                out[l * step + b] = <floating_t> result[l * width + b]
        return
    for b in range(lines):
        line = out + b * line_stride
        for l in range(n):
            line[l * step] = <floating_t> result[l * width + b]


cdef void correlate_lines(const double *ext, Py_ssize_t n, const double *weights,
                          Py_ssize_t size, int symmetry, double *result) noexcept nogil:
    """result[l, b] for l < n and LINES_PER_ITEM lines b, in NI_Correlate1D's order.

    The sums of one output row are kept in a local array of constant length,
    which the compiler holds in vector registers across the taps.
    """
    cdef Py_ssize_t half = size // 2, after = size - half - 1, l, b, j
    cdef const double *centre
    cdef double w
    cdef double total[LINES_PER_ITEM]
    for l in range(n):
        centre = ext + (l + half) * LINES_PER_ITEM
        if symmetry == GENERAL:
            w = weights[half + after]
            for b in range(LINES_PER_ITEM):
                total[b] = centre[after * LINES_PER_ITEM + b] * w
            for j in range(-half, after):
                w = weights[half + j]
                for b in range(LINES_PER_ITEM):
                    total[b] = total[b] + centre[j * LINES_PER_ITEM + b] * w
        elif symmetry == SYMMETRIC:
            w = weights[half]
            for b in range(LINES_PER_ITEM):
                total[b] = centre[b] * w
            for j in range(-half, 0):
                w = weights[half + j]
                for b in range(LINES_PER_ITEM):
                    total[b] = total[b] + (centre[j * LINES_PER_ITEM + b]
                                           + centre[-j * LINES_PER_ITEM + b]) * w
        else:
            w = weights[half]
            for b in range(LINES_PER_ITEM):
                total[b] = centre[b] * w
            for j in range(-half, 0):
                w = weights[half + j]
                for b in range(LINES_PER_ITEM):
                    total[b] = total[b] + (centre[j * LINES_PER_ITEM + b]
                                           - centre[-j * LINES_PER_ITEM + b]) * w
        for b in range(LINES_PER_ITEM):
            result[l * LINES_PER_ITEM + b] = total[b]


def symmetry(const double[::1] weights):
    """scipy's symmetry test of odd-sized weights: 1, -1 (antisymmetric) or 0."""
    cdef Py_ssize_t size = weights.shape[0], half = size // 2, i
    cdef double eps = 2.220446049250313e-16
    if size % 2 == 0:
        return GENERAL
    for i in range(1, half + 1):
        if abs(weights[half + i] - weights[half - i]) > eps:
            break
    else:
        return SYMMETRIC
    for i in range(1, half + 1):
        if abs(weights[half + i] + weights[half - i]) > eps:
            return GENERAL
    return ANTISYMMETRIC


def correlate_pass(const double[:, :, ::1] image, double[:, :, ::1] out,
                   const double[::1] weights, Py_ssize_t offset, int boundary, double fill,
                   int num_threads):
    """out = the correlation along axis 1 of ``image`` (outer, n, inner), as scipy computes it.

    Output ``l`` reads extended positions ``l + offset`` to ``l + offset + size - 1``.
    """
    cdef Py_ssize_t outer = image.shape[0], n = image.shape[1], inner = image.shape[2]
    cdef Py_ssize_t size = weights.shape[0]
    cdef Py_ssize_t ext_n = n + size - 1, block, blocks, n_items, item, first, lines
    cdef Py_ssize_t line_stride, count, buffer_len
    cdef int sym = symmetry(weights) if size > 0 else GENERAL
    cdef Py_ssize_t *ext_src = NULL
    cdef double *buffers = NULL
    cdef double *buffer
    cdef const double *source
    cdef double *target
    if not has_work(image.shape, out.shape, size, boundary):
        return
    # LINES_PER_ITEM lines side by side: neighbouring inner columns when
    # there are enough of them, else neighbouring outer rows.
    if inner >= LINES_PER_ITEM:
        count, line_stride = inner, 1
    else:
        count, line_stride = outer, n * inner
    block = LINES_PER_ITEM
    blocks = (count + block - 1) // block
    n_items = blocks * (outer if inner >= LINES_PER_ITEM else inner)
    num_threads = max(1, min(num_threads, n_items))
    buffer_len = (ext_n + n) * block
    try:
        ext_src = extension_map(offset, ext_n, n, boundary)
        buffers = <double *> malloc(num_threads * buffer_len * sizeof(double))
        if buffers == NULL:
            raise MemoryError("cannot allocate the line buffers")
        with nogil, parallel(num_threads=num_threads):
            buffer = buffers + omp_get_thread_num() * buffer_len
            for item in prange(n_items, schedule='dynamic'):
                first = (item % blocks) * block
                lines = min(block, count - first)
                if inner >= LINES_PER_ITEM:
                    source = &image[item // blocks, 0, first]
                    target = &out[item // blocks, 0, first]
                else:
                    source = &image[first, 0, item // blocks]
                    target = &out[first, 0, item // blocks]
                gather(source, line_stride, inner, lines, ext_src, ext_n, fill, buffer, block)
                correlate_lines(buffer, n, &weights[0], size, sym, buffer + ext_n * block)
                scatter(buffer + ext_n * block, block, n, lines, target, line_stride, inner)
    finally:
        free(ext_src)
        free(buffers)


cdef inline double element(const floating_t *line, Py_ssize_t index, double fill) noexcept nogil:
    return fill if index < 0 else <double> line[index]


cdef void uniform_rows(const floating_t *src, floating_t *out, Py_ssize_t n, Py_ssize_t step,
                       Py_ssize_t lines, Py_ssize_t size, const Py_ssize_t *ext_src,
                       double fill, double *total) noexcept nogil:
    """NI_UniformFilter1D on ``lines`` neighbouring columns, read and written in place.

    Element ``l`` of column ``b`` is ``src[l * step + b]``.  The running sum
    (+ entering - leaving) is kept in float64 and each output is that sum
    divided by ``size``, as in scipy; the loops over the columns vectorise.
    """
    cdef Py_ssize_t l, b, enter, leave
    cdef double divisor = <double> size
    cdef const floating_t *entering
    cdef const floating_t *leaving
    for b in range(lines):
        total[b] = 0.0
    for l in range(size):
        for b in range(lines):
            total[b] += element(src + b, ext_src[l] * step if ext_src[l] >= 0 else -1, fill)
    for b in range(lines):
        out[b] = <floating_t> (total[b] / divisor)
    for l in range(1, n):
        enter = ext_src[l - 1 + size]
        leave = ext_src[l - 1]
        if enter >= 0 and leave >= 0:
            entering = src + enter * step
            leaving = src + leave * step
            for b in range(lines):
                total[b] += <double> entering[b] - <double> leaving[b]
                out[l * step + b] = <floating_t> (total[b] / divisor)
        else:
            for b in range(lines):
                total[b] += (element(src + b, enter * step if enter >= 0 else -1, fill)
                             - element(src + b, leave * step if leave >= 0 else -1, fill))
                out[l * step + b] = <floating_t> (total[b] / divisor)


cdef void running_mean(const double *ext, Py_ssize_t n, Py_ssize_t lines, Py_ssize_t size,
                       double *result, double *total) noexcept nogil:
    """NI_UniformFilter1D on gathered lines: ext[e, b] extended, result[l, b]."""
    cdef Py_ssize_t l, b
    cdef double divisor = <double> size
    for b in range(lines):
        total[b] = 0.0
    for l in range(size):
        for b in range(lines):
            total[b] += ext[l * lines + b]
    for b in range(lines):
        result[b] = total[b] / divisor
    for l in range(1, n):
        for b in range(lines):
            total[b] += ext[(l - 1 + size) * lines + b] - ext[(l - 1) * lines + b]
            result[l * lines + b] = total[b] / divisor


def uniform_pass(const floating_t[:, :, ::1] image, floating_t[:, :, ::1] out,
                 Py_ssize_t size, Py_ssize_t offset, int boundary, double fill,
                 int num_threads):
    """out = scipy's uniform filter of ``size`` along axis 1 of ``image`` (outer, n, inner).

    The running sum is kept in float64 for float32 data too, as scipy keeps
    it, so the result is scipy's for either type.  Output ``l`` reads extended
    positions ``l + offset`` to ``l + offset + size - 1``.
    """
    cdef Py_ssize_t outer = image.shape[0], n = image.shape[1], inner = image.shape[2]
    cdef Py_ssize_t ext_n = n + size - 1, block, blocks, n_items, item, first, lines
    cdef Py_ssize_t count, line_stride, buffer_len
    cdef Py_ssize_t *ext_src = NULL
    cdef double *buffers = NULL
    cdef double *buffer
    if not has_work(image.shape, out.shape, size, boundary):
        return
    # Neighbouring inner columns side by side where there are enough, read
    # in place a row at a time; else neighbouring outer rows, gathered.
    if inner >= LINES_PER_ITEM:
        count, line_stride, block = inner, 1, min(inner, UNIFORM_COLUMNS)
        buffer_len = block
    else:
        count, line_stride, block = outer, n * inner, min(outer, LINES_PER_ITEM)
        buffer_len = (ext_n + n + 1) * block
    blocks = (count + block - 1) // block
    n_items = blocks * (outer if inner >= LINES_PER_ITEM else inner)
    num_threads = max(1, min(num_threads, n_items))
    try:
        ext_src = extension_map(offset, ext_n, n, boundary)
        buffers = <double *> malloc(num_threads * buffer_len * sizeof(double))
        if buffers == NULL:
            raise MemoryError("cannot allocate the running sums")
        with nogil, parallel(num_threads=num_threads):
            buffer = buffers + omp_get_thread_num() * buffer_len
            for item in prange(n_items, schedule='dynamic'):
                first = (item % blocks) * block
                lines = min(block, count - first)
                if inner >= LINES_PER_ITEM:
                    uniform_rows(&image[item // blocks, 0, first], &out[item // blocks, 0, first],
                                 n, inner, lines, size, ext_src, fill, buffer)
                else:
                    gather(&image[first, 0, item // blocks], line_stride, inner, lines, ext_src,
                           ext_n, fill, buffer, lines)
                    running_mean(buffer, n, lines, size, buffer + ext_n * lines,
                                 buffer + (ext_n + n) * lines)
                    scatter(buffer + ext_n * lines, lines, n, lines,
                            &out[first, 0, item // blocks], line_stride, inner)
    finally:
        free(ext_src)
        free(buffers)


def source_indices(Py_ssize_t start, Py_ssize_t count, Py_ssize_t size, int boundary):
    """The input index of extended positions ``start`` .. ``start + count - 1`` (-1: fill)."""
    if not 0 <= boundary <= MIRROR:
        raise ValueError(f"unknown boundary code {boundary}")
    if size <= 0 and boundary != FILL:
        raise ValueError("an empty axis can only be extended by the fill value")
    indices = np.empty(max(count, 0), dtype=np.intp)
    cdef Py_ssize_t[::1] view = indices
    cdef Py_ssize_t i
    for i in range(view.shape[0]):
        view[i] = source_index(start + i, size, boundary)
    return indices
