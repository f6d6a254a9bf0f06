"""Normalised convolution of data with holes: the value sum and the weight sum in one pass.

An output is ``sum(k * v) / sum(k)`` over the taps whose data value ``v`` is
finite (NaN, inf and masked values are holes), or, when holes are filled
instead, ``sum(k * v)`` with each hole read as a given value.  Every loop
reads a data row once for both sums (the loops are in nanconvolve_rows.h).
Kernels are correlations: the Python layer (``cyconv/_nanconvolve.py``) flips
the kernel and builds the extension maps; each entry point here checks the
maps and shapes against its arrays before any unchecked loop.

Three entry points:

* `separable_rows`: a rank-1 kernel over a stack of 2-D planes, a pass down
  the columns into a private row buffer and a pass along that row, so every
  plane is read once and written once; raw data go two output rows at a time.
  Its input is either raw data (holes found here) or the value and weight
  sums of an earlier pass:
* `leading_pass`: that earlier pass, along a volume's first axis.
* `dense_rows`: any kernel over data already extended by its boundary, the
  output cut into rows, the taps as offsets into the extended data.

Rows beyond an edge are given by extension maps (-1: a row of the boundary's
fill, which goes through the same loops as the data's rows).
"""
from cython.parallel cimport parallel, prange
from cpython.pyport cimport PY_SSIZE_T_MAX, PY_SSIZE_T_MIN
from libc.stdlib cimport free, malloc

from cyconv._kernels.fused cimport floating_t
from cyconv._kernels.openmp cimport omp_get_thread_num

# Columns computed at a time: the chunk's value and weight sums stay in L1
# (2 x 512 float64 = 8 KB).
cdef enum:
    CHUNK = 512

cdef extern from "nanconvolve_rows.h" nogil:
    void nc_raw_d(const double **rows, const double *taps, Py_ssize_t n_taps, Py_ssize_t n,
                  int interpolate, double hole, double *top, double *bottom)
    void nc_raw_f(const float **rows, const float *taps, Py_ssize_t n_taps, Py_ssize_t n,
                  int interpolate, float hole, float *top, float *bottom)
    void nc_pairs_d(const double **value_rows, const double **weight_rows, const double *taps,
                    Py_ssize_t n_taps, Py_ssize_t n, int interpolate, double *top,
                    double *bottom)
    void nc_pairs_f(const float **value_rows, const float **weight_rows, const float *taps,
                    Py_ssize_t n_taps, Py_ssize_t n, int interpolate, float *top,
                    float *bottom)
    void nc_raw_two_d(const double **rows, const double *taps, Py_ssize_t n_taps, Py_ssize_t n,
                      double *top0, double *bottom0, double *top1, double *bottom1)
    void nc_raw_two_f(const float **rows, const float *taps, Py_ssize_t n_taps, Py_ssize_t n,
                      float *top0, float *bottom0, float *top1, float *bottom1)
    Py_ssize_t nc_pairs_finish_d(const double **value_rows, const double **weight_rows,
                                 const double *taps, Py_ssize_t n_taps, Py_ssize_t n,
                                 int interpolate, double scale, const double *centre,
                                 double *top, double *bottom, double *out)
    Py_ssize_t nc_pairs_finish_f(const float **value_rows, const float **weight_rows,
                                 const float *taps, Py_ssize_t n_taps, Py_ssize_t n,
                                 int interpolate, float scale, const float *centre,
                                 float *top, float *bottom, float *out)
    Py_ssize_t nc_finish_scalar_d(const double *top, const double *bottom, const double *centre,
                                  Py_ssize_t first, Py_ssize_t n, int interpolate, double scale,
                                  double *out)
    Py_ssize_t nc_finish_scalar_f(const float *top, const float *bottom, const float *centre,
                                  Py_ssize_t first, Py_ssize_t n, int interpolate, float scale,
                                  float *out)


cdef inline void accumulate_raw(const floating_t **rows, const floating_t *taps,
                                Py_ssize_t n_taps, Py_ssize_t n, bint interpolate,
                                floating_t hole, floating_t *top,
                                floating_t *bottom) noexcept nogil:
    """The value and weight sums of raw rows (nc_raw of nanconvolve_rows.h)."""
    if floating_t is float:
        nc_raw_f(rows, taps, n_taps, n, interpolate, hole, top, bottom)
    else:
        nc_raw_d(rows, taps, n_taps, n, interpolate, hole, top, bottom)


cdef inline void accumulate_raw_two(const floating_t **rows, const floating_t *taps,
                                    Py_ssize_t n_taps, Py_ssize_t n, floating_t *top0,
                                    floating_t *bottom0, floating_t *top1,
                                    floating_t *bottom1) noexcept nogil:
    """`accumulate_raw` (interpolating) of two neighbouring output rows: ``rows`` has
    ``n_taps + 1`` entries (nc_raw_two)."""
    if floating_t is float:
        nc_raw_two_f(rows, taps, n_taps, n, top0, bottom0, top1, bottom1)
    else:
        nc_raw_two_d(rows, taps, n_taps, n, top0, bottom0, top1, bottom1)


cdef inline void accumulate_pairs(const floating_t **value_rows, const floating_t **weight_rows,
                                  const floating_t *taps, Py_ssize_t n_taps, Py_ssize_t n,
                                  bint interpolate, floating_t *top,
                                  floating_t *bottom) noexcept nogil:
    """The sums of rows that are already value and weight sums (nc_pairs)."""
    if floating_t is float:
        nc_pairs_f(value_rows, weight_rows, taps, n_taps, n, interpolate, top, bottom)
    else:
        nc_pairs_d(value_rows, weight_rows, taps, n_taps, n, interpolate, top, bottom)


cdef inline Py_ssize_t finish(const floating_t *top, const floating_t *bottom,
                              const floating_t *centre, Py_ssize_t n, bint interpolate,
                              double scale, floating_t *out) noexcept nogil:
    """out = top / bottom * scale (the centre value, NaN for a hole, where bottom is 0), or
    top * scale; returns how many outputs are NaN (nc_finish_scalar)."""
    if floating_t is float:
        return nc_finish_scalar_f(top, bottom, centre, 0, n, interpolate, <float> scale, out)
    else:
        return nc_finish_scalar_d(top, bottom, centre, 0, n, interpolate, scale, out)


cdef inline Py_ssize_t pairs_finish(const floating_t **value_rows,
                                    const floating_t **weight_rows, const floating_t *taps,
                                    Py_ssize_t n_taps, Py_ssize_t n, bint interpolate,
                                    double scale, const floating_t *centre, floating_t *top,
                                    floating_t *bottom, floating_t *out) noexcept nogil:
    """`accumulate_pairs` and `finish` in one, while the sums are in
    registers; ``top`` and ``bottom`` are scratch for the last partial block."""
    if floating_t is float:
        return nc_pairs_finish_f(value_rows, weight_rows, taps, n_taps, n, interpolate,
                                 <float> scale, centre, top, bottom, out)
    else:
        return nc_pairs_finish_d(value_rows, weight_rows, taps, n_taps, n, interpolate, scale,
                                 centre, top, bottom, out)


cdef floating_t *copy_taps(const double[::1] taps, floating_t dtype_marker) except NULL:
    cdef Py_ssize_t t, n = taps.shape[0]
    cdef floating_t *copy = <floating_t *> malloc(max(n, 1) * sizeof(floating_t))
    if copy == NULL:
        raise MemoryError("cannot allocate the taps")
    for t in range(n):
        copy[t] = <floating_t> taps[t]
    return copy


cdef int check_map(const Py_ssize_t[::1] index_map, Py_ssize_t length, Py_ssize_t size,
                   str name) except -1:
    """Raise unless ``index_map`` has ``length`` entries, each -1 or an index below ``size``."""
    cdef Py_ssize_t e
    if index_map.shape[0] != length:
        raise ValueError(f"{name} has {index_map.shape[0]} entries, expected {length}")
    for e in range(length):
        if not -1 <= index_map[e] < size:
            raise ValueError(f"{name}[{e}] = {index_map[e]} is outside -1 .. {size - 1}")
    return 0


def separable_rows(const floating_t[:, :, ::1] values, const floating_t[:, :, ::1] weights,
                   const floating_t[:, :, ::1] centre, floating_t[:, :, ::1] out,
                   const double[::1] column_taps, const double[::1] row_taps,
                   const Py_ssize_t[::1] row_map, const Py_ssize_t[::1] column_map,
                   const floating_t[:, ::1] pad_rows, bint raw, bint interpolate, double hole,
                   double pad_value, double pad_weight, double scale, int num_threads):
    """out[p, i, j] from each (H, W) plane ``p``: a pass of ``column_taps`` down the columns,
    then of ``row_taps`` along the rows; returns the number of NaN outputs.

    ``raw``: ``values`` is data with holes (``weights`` unused), else ``values`` and
    ``weights`` are the sums of an earlier pass.  ``row_map[i + t]`` is the input row read
    by output row ``i`` at column tap ``t``; -1 reads the fill: ``pad_rows[0]`` (and
    ``pad_rows[1]`` as weights when not ``raw``).  ``column_map`` likewise for columns,
    whose fill is ``pad_value`` with weight ``pad_weight`` as raw data (0 and 0 for a
    hole).  ``centre`` is the data at each
    output (read where no tap has weight).
    """
    cdef Py_ssize_t planes = out.shape[0], height = out.shape[1], width = out.shape[2]
    cdef Py_ssize_t n_column_taps = column_taps.shape[0], n_row_taps = row_taps.shape[0]
    cdef Py_ssize_t extended = width + n_row_taps - 1, half = (n_row_taps - 1) // 2
    cdef Py_ssize_t per_thread, item, plane, i, j, t, start, n, nans = 0
    cdef double column_sum = 0
    cdef floating_t *ctaps = NULL
    cdef floating_t *rtaps = NULL
    cdef floating_t *buffers = NULL
    cdef const floating_t **row_pointers = NULL
    cdef floating_t *column_top
    cdef floating_t *column_sums
    cdef floating_t *column_weights
    cdef floating_t *top
    cdef floating_t *bottom
    cdef const floating_t **value_rows
    cdef const floating_t **weight_rows
    cdef Py_ssize_t source, max_taps, chunk, edge, rows_per_item, items_per_plane, count, row
    cdef floating_t edge_value, edge_weight
    if (values.shape[0] != planes or values.shape[2] != width or centre.shape[0] != planes
            or centre.shape[1] != height or centre.shape[2] != width):
        raise ValueError("separable_rows: values, centre and out disagree in shape")
    if not raw and (weights.shape[0] != planes or weights.shape[1] != values.shape[1]
                    or weights.shape[2] != width):
        raise ValueError("separable_rows: weights and values disagree in shape")
    check_map(row_map, height + n_column_taps - 1, values.shape[1], "row_map")
    if pad_rows.shape[0] != 2 or pad_rows.shape[1] != width:
        raise ValueError("separable_rows: pad_rows must hold two rows of the planes' width")
    check_map(column_map, extended, width, "column_map")
    if planes == 0 or height == 0 or width == 0:
        return 0
    for t in range(n_column_taps):
        column_sum += column_taps[t]
    # A padded column holds the fill at every row: the column pass turns it
    # into the fill times the column taps' sum.
    edge_value = <floating_t> (pad_value * column_sum)
    edge_weight = <floating_t> (pad_weight * column_sum)
    # Raw data interpolated: two output rows share each loaded row (5x5 and
    # 11x11 Gaussians on 2048^2 float64: 6 % and 17 % faster).
    rows_per_item = 2 if raw and interpolate else 1
    items_per_plane = (height + rows_per_item - 1) // rows_per_item
    num_threads = max(1, min(num_threads, planes * items_per_plane))
    max_taps = max(n_column_taps + 1, n_row_taps, 1)
    per_thread = 4 * extended + 2 * CHUNK
    try:
        ctaps = copy_taps(column_taps, <floating_t> 0)
        rtaps = copy_taps(row_taps, <floating_t> 0)
        buffers = <floating_t *> malloc(num_threads * per_thread * sizeof(floating_t))
        row_pointers = <const floating_t **> malloc(
            num_threads * 2 * max_taps * sizeof(floating_t *))
        if buffers == NULL or row_pointers == NULL:
            raise MemoryError("cannot allocate the row buffers")
        with nogil, parallel(num_threads=num_threads):
            column_top = buffers + omp_get_thread_num() * per_thread
            top = column_top + 4 * extended
            bottom = top + CHUNK
            value_rows = row_pointers + omp_get_thread_num() * 2 * max_taps
            weight_rows = value_rows + max_taps
            for item in prange(planes * items_per_plane, schedule='static'):
                plane = item // items_per_plane
                i = (item % items_per_plane) * rows_per_item
                count = min(rows_per_item, height - i)
                for chunk in range((width + CHUNK - 1) // CHUNK):
                    start = chunk * CHUNK
                    n = min(CHUNK, width - start)
                    for t in range(n_column_taps + count - 1):
                        source = row_map[i + t]
                        if source < 0:
                            value_rows[t] = &pad_rows[0, start]
                            weight_rows[t] = &pad_rows[1, start]
                        else:
                            value_rows[t] = &values[plane, source, start]
                            weight_rows[t] = &weights[plane, source, start]
                    if count == 2:
                        accumulate_raw_two(
                            value_rows, ctaps, n_column_taps, n, column_top + half + start,
                            column_top + extended + half + start,
                            column_top + 2 * extended + half + start,
                            column_top + 3 * extended + half + start)
                    elif raw:
                        accumulate_raw(value_rows, ctaps, n_column_taps, n, interpolate,
                                       <floating_t> hole, column_top + half + start,
                                       column_top + extended + half + start)
                    else:
                        accumulate_pairs(value_rows, weight_rows, ctaps, n_column_taps, n,
                                         interpolate, column_top + half + start,
                                         column_top + extended + half + start)
                for row in range(count):
                    column_sums = column_top + 2 * row * extended
                    column_weights = column_sums + extended
                    # Extended columns beyond the edges: the fill, or a copy.
                    for edge in range(2 * half):
                        j = edge if edge < half else width + edge
                        source = column_map[j]
                        if source < 0:
                            column_sums[j] = edge_value
                            column_weights[j] = edge_weight
                        else:
                            column_sums[j] = column_sums[source + half]
                            column_weights[j] = column_weights[source + half]
                    for chunk in range((width + CHUNK - 1) // CHUNK):
                        start = chunk * CHUNK
                        n = min(CHUNK, width - start)
                        for t in range(n_row_taps):
                            value_rows[t] = column_sums + start + t
                            weight_rows[t] = column_weights + start + t
                        nans += pairs_finish(value_rows, weight_rows, rtaps, n_row_taps, n,
                                             interpolate, scale, &centre[plane, i + row, start],
                                             top, bottom, &out[plane, i + row, start])
    finally:
        free(ctaps)
        free(rtaps)
        free(buffers)
        free(row_pointers)
    return nans


def leading_pass(const floating_t[:, ::1] values, floating_t[:, ::1] out_values,
                 floating_t[:, ::1] out_weights, const double[::1] taps,
                 const Py_ssize_t[::1] row_map, const floating_t[::1] pad_row, bint interpolate,
                 double hole, int num_threads):
    """The value and weight sums of a pass of ``taps`` down the columns of raw data, whose
    rows are a volume's planes: out row ``i`` reads rows ``row_map[i + t]`` (-1:
    ``pad_row``, the fill)."""
    cdef Py_ssize_t height = out_values.shape[0], width = out_values.shape[1]
    cdef Py_ssize_t n_taps = taps.shape[0], chunks, item, i, t, start, n, source
    cdef floating_t *ctaps = NULL
    cdef const floating_t **row_pointers = NULL
    cdef const floating_t **rows
    if (values.shape[1] != width or out_weights.shape[0] != height
            or out_weights.shape[1] != width):
        raise ValueError("leading_pass: values and outputs disagree in shape")
    check_map(row_map, height + n_taps - 1, values.shape[0], "row_map")
    if pad_row.shape[0] != width:
        raise ValueError("leading_pass: pad_row must be as long as a row")
    if height == 0 or width == 0:
        return
    chunks = (width + CHUNK - 1) // CHUNK
    num_threads = max(1, min(num_threads, height * chunks))
    try:
        ctaps = copy_taps(taps, <floating_t> 0)
        row_pointers = <const floating_t **> malloc(
            num_threads * max(n_taps, 1) * sizeof(floating_t *))
        if row_pointers == NULL:
            raise MemoryError("cannot allocate the row pointers")
        with nogil, parallel(num_threads=num_threads):
            rows = row_pointers + omp_get_thread_num() * n_taps
            for item in prange(height * chunks, schedule='static'):
                i = item // chunks
                start = (item % chunks) * CHUNK
                n = min(CHUNK, width - start)
                for t in range(n_taps):
                    source = row_map[i + t]
                    rows[t] = &pad_row[start] if source < 0 else &values[source, start]
                accumulate_raw(rows, ctaps, n_taps, n, interpolate, <floating_t> hole,
                               &out_values[i, start], &out_weights[i, start])
    finally:
        free(ctaps)
        free(row_pointers)


def dense_rows(const floating_t[::1] extended, const Py_ssize_t[::1] row_starts,
               const Py_ssize_t[::1] tap_offsets, const double[::1] taps,
               const floating_t[::1] centre, floating_t[::1] out, Py_ssize_t width,
               bint interpolate, double hole, double scale, int num_threads):
    """Any kernel over data already extended by its boundary; returns the NaN outputs.

    The output is cut into rows of ``width`` (the last may be shorter): output
    ``row * width + j`` reads, at tap ``t``,
    ``extended[row_starts[row] + tap_offsets[t] + j]``.
    """
    cdef Py_ssize_t total = out.shape[0], n_taps = taps.shape[0], rows, row_length
    cdef Py_ssize_t i, t, start, n, chunk, nans = 0, lowest = 0, highest = 0
    cdef Py_ssize_t first_tap = PY_SSIZE_T_MAX, last_tap = PY_SSIZE_T_MIN
    cdef floating_t *ctaps = NULL
    cdef floating_t *buffers = NULL
    cdef const floating_t **row_pointers = NULL
    cdef const floating_t **tap_rows
    cdef floating_t *top
    cdef floating_t *bottom
    if total == 0:
        return 0
    if width < 1:
        raise ValueError(f"dense_rows: width must be positive, got {width}")
    rows = (total + width - 1) // width
    if (row_starts.shape[0] != rows or tap_offsets.shape[0] != n_taps
            or centre.shape[0] != total):
        raise ValueError("dense_rows: row, tap and centre counts disagree with out")
    for t in range(n_taps):
        first_tap = min(first_tap, tap_offsets[t])
        last_tap = max(last_tap, tap_offsets[t])
    for i in range(rows if n_taps else 0):
        row_length = min(width, total - i * width)
        lowest = min(lowest, row_starts[i] + first_tap)
        highest = max(highest, row_starts[i] + last_tap + row_length)
    if lowest < 0 or highest > extended.shape[0]:
        raise ValueError("dense_rows: a tap reads beyond the extended data")
    num_threads = max(1, min(num_threads, rows))
    try:
        ctaps = copy_taps(taps, <floating_t> 0)
        buffers = <floating_t *> malloc(num_threads * 2 * CHUNK * sizeof(floating_t))
        row_pointers = <const floating_t **> malloc(
            num_threads * max(n_taps, 1) * sizeof(floating_t *))
        if buffers == NULL or row_pointers == NULL:
            raise MemoryError("cannot allocate the row buffers")
        with nogil, parallel(num_threads=num_threads):
            top = buffers + omp_get_thread_num() * 2 * CHUNK
            bottom = top + CHUNK
            tap_rows = row_pointers + omp_get_thread_num() * n_taps
            for i in prange(rows, schedule='static'):
                row_length = min(width, total - i * width)
                for chunk in range((row_length + CHUNK - 1) // CHUNK):
                    start = chunk * CHUNK
                    n = min(CHUNK, row_length - start)
                    for t in range(n_taps):
                        tap_rows[t] = &extended[row_starts[i] + tap_offsets[t] + start]
                    accumulate_raw(tap_rows, ctaps, n_taps, n, interpolate, <floating_t> hole,
                                   top, bottom)
                    nans += finish(top, bottom, &centre[i * width + start], n, interpolate,
                                   scale, &out[i * width + start])
    finally:
        free(ctaps)
        free(buffers)
        free(row_pointers)
    return nans
