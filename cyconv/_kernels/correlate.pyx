"""Direct correlation kernels: scipy.signal's 2-D family and scipy.ndimage's N-D one.

Everything here computes; arguments are checked and normalised by
``cyconv/_correlate.py`` and ``cyconv/ndimage.py`` before they arrive.  An
N-D correlation is a sum of 2-D ones: the last two axes are planes, and each
output plane adds up the 2-D correlations of the input planes that the
kernel's leading axes reach, one kernel plane each.  The output is computed in blocks
of rows.  Where a block's input rows lie inside the image, its interior columns
are correlated in place; everything else (border rows, border columns) goes
through a private padded tile of rows extended by the boundary rule.  Either
way the inner loop is a branch-free 'valid' correlation, so 'fill', 'wrap' and
'symm' all cost the same.
"""
cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from cyconv._kernels.correlate_tile cimport (
    CYCONV_BUILD_FLAGS,
    CYCONV_SIMD_LEVEL,
    CYCONV_TILE_BYTES,
    cyconv_valid_corr_f32,
    cyconv_valid_corr_f64,
)
from cyconv._kernels.fused cimport correlate_t
from cyconv._kernels.boundary cimport FILL, MIRROR, source_index
from cyconv._kernels.openmp cimport omp_get_thread_num

import numpy as np

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    # Declared here because numpy's pxd marks 0 (NPY_BOOL, a valid answer) as the error value.
    int object_type "PyArray_ObjectType" (object op, int minimum_type) except *

SIMD_LEVEL = CYCONV_SIMD_LEVEL.decode()
BUILD_FLAGS = CYCONV_BUILD_FLAGS.decode()

# Bytes of padded tile per thread: large enough that the copy is amortised over
# all kernel rows, small enough to stay in the L2 cache.
cdef Py_ssize_t TILE_BYTES = 256 * 1024
# Bytes of the input rows of one column strip of a block, about half an L2:
# a 65-tap column pass over 2048^2 float64 went from 36 to 24 ms (one
# thread), a 2048^2 float64 3x3 correlation from 7.2 to 4.9 ms.
cdef Py_ssize_t STRIP_BYTES = 256 * 1024
# Above this many bytes a tile is split along the kernel rows instead.
cdef Py_ssize_t TILE_LIMIT_BYTES = 32 * 1024 * 1024


cdef void valid_correlate(const correlate_t *src, Py_ssize_t ld_src,
                          const correlate_t *kernel, Py_ssize_t kernel_h, Py_ssize_t kernel_w,
                          correlate_t *out, Py_ssize_t ld_out,
                          Py_ssize_t rows, Py_ssize_t cols, bint accumulate) noexcept nogil:
    """out (+)= valid correlation of src with kernel, one contiguous row-axpy per tap."""
    cdef Py_ssize_t r, j, k, c
    cdef correlate_t weight
    cdef correlate_t *out_row
    cdef const correlate_t *src_row
    if correlate_t is float:
        cyconv_valid_corr_f32(src, ld_src, kernel, kernel_h, kernel_w, out, ld_out,
                              rows, cols, accumulate)
    elif correlate_t is double:
        cyconv_valid_corr_f64(src, ld_src, kernel, kernel_h, kernel_w, out, ld_out,
                              rows, cols, accumulate)
    else:
        for r in range(rows):
            out_row = out + r * ld_out
            if not accumulate:
                for c in range(cols):
                    out_row[c] = 0
            for j in range(kernel_h):
                src_row = src + (r + j) * ld_src
                for k in range(kernel_w):
                    weight = kernel[j * kernel_w + k]
                    if correlate_t is cnp.npy_uint8 or correlate_t is cnp.npy_uint16:
                        # Promote to unsigned int: uint16 * uint16 overflows a signed int.
                        for c in range(cols):
                            out_row[c] = <correlate_t>(
                                out_row[c] + <unsigned int>weight * <unsigned int>src_row[c + k])
                    else:
                        for c in range(cols):
                            out_row[c] = out_row[c] + weight * src_row[c + k]


cdef void extend_row(correlate_t *dst, const correlate_t *src_row, const Py_ssize_t *col_src,
                     Py_ssize_t c0, Py_ssize_t c1, Py_ssize_t mid_lo, Py_ssize_t mid_hi,
                     correlate_t fill) noexcept nogil:
    """Columns [c0, c1) of one boundary-extended row; ``src_row`` NULL is a row of fill.

    Columns [mid_lo, mid_hi) are a plain copy of the input row; the others are
    gathered through ``col_src`` (-1 is the fill value).
    """
    cdef Py_ssize_t c, copy_lo = max(c0, mid_lo), copy_hi = min(c1, mid_hi)
    if src_row == NULL:
        for c in range(c1 - c0):
            dst[c] = fill
        return
    for c in range(c0, min(c1, mid_lo)):
        dst[c - c0] = fill if col_src[c] < 0 else src_row[col_src[c]]
    if copy_hi > copy_lo:
        memcpy(dst + copy_lo - c0, src_row + col_src[copy_lo],
               (copy_hi - copy_lo) * sizeof(correlate_t))
    for c in range(max(c0, mid_hi), c1):
        dst[c - c0] = fill if col_src[c] < 0 else src_row[col_src[c]]


cdef void correlate_strip(const correlate_t *image, Py_ssize_t image_w,
                          const correlate_t *kernel, Py_ssize_t chunk, Py_ssize_t kernel_w,
                          correlate_t *out, Py_ssize_t out_w, Py_ssize_t rows,
                          Py_ssize_t n0, Py_ssize_t n1, const Py_ssize_t *row_src,
                          const Py_ssize_t *col_src, Py_ssize_t mid_lo, Py_ssize_t mid_hi,
                          correlate_t fill, correlate_t *tile, bint accumulate) noexcept nogil:
    """Output columns [n0, n1) of ``rows`` rows through a padded tile."""
    cdef Py_ssize_t j, width = n1 - n0 + kernel_w - 1
    if n1 <= n0:
        return
    for j in range(rows + chunk - 1):
        extend_row(tile + j * width,
                   image + row_src[j] * image_w if row_src[j] >= 0 else NULL,
                   col_src, n0, n0 + width, mid_lo, mid_hi, fill)
    valid_correlate(tile, width, kernel, chunk, kernel_w, out + n0, out_w, rows, n1 - n0,
                    accumulate)


cdef inline bint rows_in_place(const Py_ssize_t *row_src, Py_ssize_t first,
                               Py_ssize_t count) noexcept nogil:
    """Whether extended rows [first, first + count) are image rows in order.

    Every boundary map steps by at most +1 from one extended row to the next
    (and fill rows are -1 only outside the image), so the ends decide it.
    """
    return row_src[first] >= 0 and row_src[first + count - 1] == row_src[first] + count - 1


cdef void correlate_rows(const correlate_t *image, Py_ssize_t image_w,
                         const correlate_t *kernel, Py_ssize_t chunk, Py_ssize_t kernel_w,
                         correlate_t *out_rows, Py_ssize_t out_w, Py_ssize_t rows,
                         const Py_ssize_t *row_src, bint in_place, const Py_ssize_t *col_src,
                         Py_ssize_t mid_lo, Py_ssize_t mid_hi, correlate_t fill,
                         correlate_t *tile, bint accumulate) noexcept nogil:
    """``rows`` output rows, each reading extended rows ``row_src[i .. i + chunk)``.

    With ``in_place`` (those rows are a contiguous run of the image) the
    interior columns read the image itself and only the border columns go
    through a padded tile; the border strips are at least a register tile
    wide where the output is, so that they run in whole vectors too.
    """
    cdef Py_ssize_t tile_cols = CYCONV_TILE_BYTES // <Py_ssize_t> sizeof(correlate_t)
    cdef Py_ssize_t interior_lo, interior_hi, strip, c0
    # Output columns whose taps all fall in the plain-copy columns.
    interior_lo = mid_lo
    interior_hi = max(mid_hi - kernel_w + 1, interior_lo)
    if not in_place or interior_hi <= interior_lo:
        correlate_strip(image, image_w, kernel, chunk, kernel_w, out_rows, out_w, rows, 0,
                        out_w, row_src, col_src, mid_lo, mid_hi, fill, tile, accumulate)
        return
    if interior_lo > 0:
        interior_lo = min(max(interior_lo, tile_cols), interior_hi)
    if interior_hi < out_w:
        interior_hi = max(min(interior_hi, out_w - tile_cols), interior_lo)
    # Column strips whose input rows stay in L2 together: a tall kernel would
    # otherwise read every input row from L3 once for each 4-row tile that uses it.
    strip = max(STRIP_BYTES // ((rows + chunk - 1) * <Py_ssize_t> sizeof(correlate_t))
                - kernel_w + 1, 64)
    strip -= strip % 64
    c0 = interior_lo
    while c0 < interior_hi:
        valid_correlate(image + row_src[0] * image_w + col_src[c0], image_w, kernel, chunk,
                        kernel_w, out_rows + c0, out_w, rows, min(strip, interior_hi - c0),
                        accumulate)
        c0 += strip
    correlate_strip(image, image_w, kernel, chunk, kernel_w, out_rows, out_w, rows, 0,
                    interior_lo, row_src, col_src, mid_lo, mid_hi, fill, tile, accumulate)
    correlate_strip(image, image_w, kernel, chunk, kernel_w, out_rows, out_w, rows,
                    interior_hi, out_w, row_src, col_src, mid_lo, mid_hi, fill, tile,
                    accumulate)


cdef void correlate_block(const correlate_t *image, Py_ssize_t image_w,
                          const correlate_t *kernel, Py_ssize_t kernel_h, Py_ssize_t kernel_w,
                          correlate_t *out_rows, Py_ssize_t out_w,
                          Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t chunk_h,
                          const Py_ssize_t *row_src, const Py_ssize_t *col_src,
                          Py_ssize_t mid_lo, Py_ssize_t mid_hi,
                          correlate_t fill, correlate_t *tile, bint add) noexcept nogil:
    """Output rows [row0, row0 + rows) into ``out_rows`` (the first of them),
    kernel rows taken ``chunk_h`` at a time.

    The rows are taken in runs of register tiles (4 rows) whose input rows
    are, or are not, a contiguous run of the image: the first read the image
    in place, the others go through a padded tile, so a block that touches
    the top or bottom edge copies only its edge rows.  With ``add`` the block
    is added to what ``out_rows`` holds.
    """
    cdef Py_ssize_t j0 = 0, chunk, first, start, end, n
    cdef const correlate_t *chunk_kernel
    cdef bint accumulate, in_place
    while j0 < kernel_h:
        chunk = min(chunk_h, kernel_h - j0)
        chunk_kernel = kernel + j0 * kernel_w
        accumulate = add or j0 > 0
        start = 0
        while start < rows:
            # A run grows by groups of 4 rows while it stays in place (the
            # whole run contiguous), or stays out of place.
            first = row0 + j0 + start
            n = min(4, rows - start)
            in_place = rows_in_place(row_src, first, n + chunk - 1)
            end = start + n
            while end < rows:
                n = min(4, rows - end)
                if in_place:
                    if not rows_in_place(row_src, first, end + n - start + chunk - 1):
                        break
                elif rows_in_place(row_src, row0 + j0 + end, n + chunk - 1):
                    break
                end += n
            correlate_rows(image, image_w, chunk_kernel, chunk, kernel_w,
                           out_rows + start * out_w, out_w, end - start, row_src + first,
                           in_place, col_src, mid_lo, mid_hi, fill, tile, accumulate)
            start = end
        j0 += chunk


cdef Py_ssize_t source_plane(Py_ssize_t plane, Py_ssize_t kernel_plane, Py_ssize_t n_lead,
                             const Py_ssize_t *shape, const Py_ssize_t *out_shape,
                             const Py_ssize_t *kernel_shape, const Py_ssize_t *lead_src,
                             const Py_ssize_t *lead_start) noexcept nogil:
    """Input plane that kernel plane ``kernel_plane`` of output plane ``plane`` reads, -1 for fill."""
    cdef Py_ssize_t a, index, source = 0, stride = 1
    for a in range(n_lead - 1, -1, -1):
        index = lead_src[lead_start[a] + plane % out_shape[a] + kernel_plane % kernel_shape[a]]
        if index < 0:
            return -1
        source += index * stride
        stride *= shape[a]
        plane //= out_shape[a]
        kernel_plane //= kernel_shape[a]
    return source


cdef bint any_non_finite(const correlate_t *values, Py_ssize_t n) noexcept nogil:
    """Whether any of ``values`` is NaN or infinite (never for integers).

    x - x is 0 for a finite x and NaN otherwise.  Sixty-four independent sums
    of it vectorise and overlap, where one sum (whose order C keeps) or a
    count does not: over a 7-tap pass on 2048^2 float32, counting added
    2.5 ms, sixteen sums 0.26 ms, sixty-four 0.2 ms (the pass: 1.3-2.3 ms).
    """
    cdef correlate_t sums[64]
    cdef correlate_t total = 0
    cdef Py_ssize_t i, j, whole = n - n % 64
    for j in range(64):
        sums[j] = 0
    for i in range(0, whole, 64):
        for j in range(64):
            sums[j] += values[i + j] - values[i + j]
    for i in range(whole, n):
        total += values[i] - values[i]
    for j in range(64):
        total += sums[j]
    return total != 0


cdef bint correlate_item(const correlate_t *image, const correlate_t *kernel, correlate_t *out,
                         Py_ssize_t item, Py_ssize_t n_blocks, Py_ssize_t block_rows,
                         Py_ssize_t chunk_h, Py_ssize_t n_lead, const Py_ssize_t *dims,
                         const Py_ssize_t *lead_src, const Py_ssize_t *lead_start,
                         const Py_ssize_t *row_src, const Py_ssize_t *fill_rows,
                         const Py_ssize_t *col_src, Py_ssize_t mid_lo, Py_ssize_t mid_hi,
                         correlate_t fill, correlate_t *tile,
                         bint find_non_finite) noexcept nogil:
    """One work item: a block of rows of one output plane, summed over the kernel planes.

    ``dims`` holds the input, output and kernel shapes, ``n_lead + 2`` each.
    With ``find_non_finite``, returns whether the block holds a NaN or inf,
    looked at while it is still in cache (else False).
    """
    cdef const Py_ssize_t *shape = dims
    cdef const Py_ssize_t *out_shape = dims + n_lead + 2
    cdef const Py_ssize_t *kernel_shape = dims + 2 * (n_lead + 2)
    cdef Py_ssize_t image_h = shape[n_lead], image_w = shape[n_lead + 1]
    cdef Py_ssize_t out_h = out_shape[n_lead], out_w = out_shape[n_lead + 1]
    cdef Py_ssize_t kernel_h = kernel_shape[n_lead], kernel_w = kernel_shape[n_lead + 1]
    cdef Py_ssize_t plane = item // n_blocks, row0 = (item % n_blocks) * block_rows
    cdef Py_ssize_t rows = min(block_rows, out_h - row0)
    cdef correlate_t *block = out + plane * out_h * out_w + row0 * out_w
    cdef Py_ssize_t kernel_planes = 1, q, source, a
    for a in range(n_lead):
        kernel_planes *= kernel_shape[a]
    for q in range(kernel_planes):
        source = source_plane(plane, q, n_lead, shape, out_shape, kernel_shape,
                              lead_src, lead_start)
        correlate_block(image + source * image_h * image_w if source >= 0 else image, image_w,
                        kernel + q * kernel_h * kernel_w, kernel_h, kernel_w,
                        block, out_w, row0, rows, chunk_h,
                        row_src if source >= 0 else fill_rows, col_src, mid_lo, mid_hi,
                        fill, tile, q > 0)
    return find_non_finite and any_non_finite(block, rows * out_w)


def correlate(const correlate_t[:, :, ::1] image, const correlate_t[:, :, ::1] kernel,
              correlate_t[:, :, ::1] out, shape, out_shape, kernel_shape, offsets, boundaries,
              const correlate_t[::1] fill_value, int num_threads, bint find_non_finite=False):
    """out = the correlation of the extended image with kernel, N-D, plane by plane.

    ``shape``, ``out_shape`` and ``kernel_shape`` are the N-D shapes (at least
    2-D) whose leading axes are flattened into the first axis of ``image``,
    ``out`` and ``kernel``.  Along every axis ``a``, output position ``i``
    reads extended position ``i + offsets[a] + k`` for kernel index ``k``; the
    input is extended by ``boundaries[a]`` (FILL, SYMM, WRAP, NEAREST, MIRROR)
    with ``fill_value[0]``.  Every shape is checked against the views here,
    before any unchecked loop.

    With ``find_non_finite``, returns whether any output is NaN or infinite,
    each block looked at as it is written (still in cache: a pass over the
    whole output afterwards would read it from memory again); else None.
    """
    cdef Py_ssize_t ndim = len(shape), n_lead = ndim - 2, a, i, total
    cdef Py_ssize_t non_finite = 0  # blocks holding a NaN or inf
    cdef Py_ssize_t planes = 1, out_planes = 1, kernel_planes = 1
    cdef Py_ssize_t image_h, image_w, kernel_h, kernel_w, out_h, out_w
    cdef Py_ssize_t ext_h, ext_w, map_len = 0, e, block_rows, chunk_h, n_blocks, n_items, item
    cdef Py_ssize_t mid_lo, mid_hi, tile_len, row_bytes
    cdef Py_ssize_t axis_offset, axis_size
    cdef int axis_boundary
    cdef correlate_t fill
    cdef correlate_t *tiles = NULL
    cdef correlate_t *tile
    cdef Py_ssize_t *memory = NULL
    cdef Py_ssize_t *dims
    cdef Py_ssize_t *lead_start
    cdef Py_ssize_t *lead_src
    cdef Py_ssize_t *row_src
    cdef Py_ssize_t *fill_rows
    cdef Py_ssize_t *col_src
    if ndim < 2 or not (len(out_shape) == len(kernel_shape) == len(offsets)
                        == len(boundaries) == ndim):
        raise ValueError("shape, out_shape, kernel_shape, offsets and boundaries must have "
                         "one entry per axis, at least two")
    if fill_value.shape[0] < 1:
        raise ValueError("fill_value must hold one value")
    for a in range(n_lead):
        planes *= shape[a]
        out_planes *= out_shape[a]
        kernel_planes *= kernel_shape[a]
        if shape[a] < 0 or out_shape[a] < 0 or kernel_shape[a] < 0:
            raise ValueError("shapes must not be negative")
    if (image.shape[0] != planes or image.shape[1] != shape[n_lead]
            or image.shape[2] != shape[n_lead + 1]
            or out.shape[0] != out_planes or out.shape[1] != out_shape[n_lead]
            or out.shape[2] != out_shape[n_lead + 1]
            or kernel.shape[0] != kernel_planes or kernel.shape[1] != kernel_shape[n_lead]
            or kernel.shape[2] != kernel_shape[n_lead + 1]):
        raise ValueError("image, out and kernel do not have the shapes given")
    for a in range(n_lead, ndim):
        if out_shape[a] < 0 or kernel_shape[a] < 0:
            raise ValueError("shapes must not be negative")
    for a in range(ndim):
        if not 0 <= boundaries[a] <= MIRROR:
            raise ValueError(f"unknown boundary code {boundaries[a]}")
    if out.shape[0] * out.shape[1] * out.shape[2] == 0:
        return False if find_non_finite else None
    if kernel.shape[0] * kernel.shape[1] * kernel.shape[2] == 0:
        out[:, :, :] = 0
        return False if find_non_finite else None
    for a in range(ndim):
        if shape[a] == 0 and boundaries[a] != FILL:
            raise ValueError("an empty axis can only be extended by the fill value")
        map_len += out_shape[a] + kernel_shape[a] - 1
    fill = fill_value[0]
    image_h, image_w = image.shape[1], image.shape[2]
    out_h, out_w = out.shape[1], out.shape[2]
    kernel_h, kernel_w = kernel.shape[1], kernel.shape[2]
    ext_h = out_h + kernel_h - 1
    ext_w = out_w + kernel_w - 1
    # One block: the shapes, each lead axis's start in the maps, the maps of
    # every axis (the last two are row_src and col_src), a row map of fill.
    total = 3 * ndim + n_lead + map_len + ext_h
    memory = <Py_ssize_t *> malloc(total * sizeof(Py_ssize_t))
    if memory == NULL:
        raise MemoryError("cannot allocate the correlation index maps")
    dims = memory
    lead_start = dims + 3 * ndim
    lead_src = lead_start + n_lead
    for a in range(ndim):
        dims[a] = shape[a]
        dims[ndim + a] = out_shape[a]
        dims[2 * ndim + a] = kernel_shape[a]
    i = 0
    for a in range(ndim):
        if a < n_lead:
            lead_start[a] = i
        # C copies of the tuple items: read inside the loop, they had cost
        # 20 us of a 3x3 call on 240x320 (the kernel itself: 18 us).
        axis_offset, axis_size, axis_boundary = offsets[a], shape[a], boundaries[a]
        for e in range(dims[ndim + a] + dims[2 * ndim + a] - 1):
            lead_src[i] = source_index(e + axis_offset, axis_size, axis_boundary)
            i += 1
    row_src = lead_src + (i - ext_w - ext_h)
    col_src = lead_src + (i - ext_w)
    fill_rows = lead_src + i
    for i in range(ext_h):
        fill_rows[i] = -1
    # Columns [mid_lo, mid_hi) of every extended row are a plain copy.
    mid_lo = min(max(-offsets[ndim - 1], 0), ext_w)
    mid_hi = max(min(image_w - offsets[ndim - 1], ext_w), mid_lo)

    row_bytes = ext_w * sizeof(correlate_t)
    # At least as many rows as the kernel: each block reads its rows plus
    # kernel_h - 1 more, which is then at most twice the rows it writes.
    block_rows = max(TILE_BYTES // row_bytes - kernel_h + 1, kernel_h, 8)
    block_rows = min(block_rows - block_rows % 4, out_h)
    n_blocks = (out_h + block_rows - 1) // block_rows
    n_items = out_planes * n_blocks
    if (block_rows + kernel_h - 1) * row_bytes <= TILE_LIMIT_BYTES:
        chunk_h = kernel_h
    else:
        chunk_h = max(TILE_LIMIT_BYTES // row_bytes - block_rows + 1, 1)
    num_threads = max(1, min(num_threads, n_items))
    tile_len = (block_rows + chunk_h - 1) * ext_w
    try:
        tiles = <correlate_t *> malloc(num_threads * tile_len * sizeof(correlate_t))
        if tiles == NULL:
            raise MemoryError("cannot allocate the correlation tiles")
        if num_threads == 1:
            # Serial without an OpenMP region: entering even a one-thread team
            # costs a microsecond or two, a quarter of the textbook 3x3 call.
            with nogil:
                for item in range(n_items):
                    non_finite += correlate_item(
                        &image[0, 0, 0] if image.shape[0] * image_h * image_w else NULL,
                        &kernel[0, 0, 0], &out[0, 0, 0], item, n_blocks, block_rows, chunk_h,
                        n_lead, dims, lead_src, lead_start, row_src, fill_rows, col_src,
                        mid_lo, mid_hi, fill, tiles, find_non_finite)
        else:
            with nogil, parallel(num_threads=num_threads):
                tile = tiles + omp_get_thread_num() * tile_len
                # Dynamic: a thread that starts late (its core busy) takes fewer items.
                for item in prange(n_items, schedule='dynamic'):
                    non_finite += correlate_item(
                        &image[0, 0, 0] if image.shape[0] * image_h * image_w else NULL,
                        &kernel[0, 0, 0], &out[0, 0, 0], item, n_blocks, block_rows, chunk_h,
                        n_lead, dims, lead_src, lead_start, row_src, fill_rows, col_src,
                        mid_lo, mid_hi, fill, tile, find_non_finite)
    finally:
        free(tiles)
        free(memory)
    return non_finite > 0 if find_non_finite else None


cdef void separable_item(const correlate_t *plane, correlate_t *out_plane, Py_ssize_t height,
                         Py_ssize_t width, Py_ssize_t row0, Py_ssize_t rows,
                         const correlate_t *weights_y, Py_ssize_t size_y,
                         const correlate_t *weights_x, Py_ssize_t size_x,
                         const Py_ssize_t *row_src, const Py_ssize_t *identity,
                         const Py_ssize_t *col_src, Py_ssize_t mid_lo, Py_ssize_t mid_hi,
                         correlate_t fill_y, correlate_t fill_x,
                         correlate_t *between, correlate_t *tile) noexcept nogil:
    """Rows [row0, row0 + rows) of one plane: the pass along the rows into ``between``
    (still in cache), then the pass along the columns from it into the output."""
    correlate_block(plane, width, weights_y, size_y, 1, between, width, row0, rows, size_y,
                    row_src, identity, 0, width, fill_y, tile, False)
    correlate_block(between, width, weights_x, 1, size_x, out_plane + row0 * width, width,
                    0, rows, 1, identity, col_src, mid_lo, mid_hi, fill_x, tile, False)


def correlate_separable(const correlate_t[:, :, ::1] image, const correlate_t[::1] weights_y,
                        const correlate_t[::1] weights_x, correlate_t[:, :, ::1] out,
                        Py_ssize_t offset_y, Py_ssize_t offset_x, int boundary_y,
                        int boundary_x, const correlate_t[::1] fills, int num_threads):
    """Two 1-D passes over every plane of ``image`` (planes, rows, columns), fused.

    The pass along the rows (``weights_y``; output row ``i`` reads extended
    row ``i + offset_y + k``, extended by ``boundary_y`` with ``fills[0]``)
    and then the pass along the columns (``weights_x``, ``offset_x``,
    ``boundary_x``, ``fills[1]``), a block of rows at a time: the first pass's
    rows stay in cache for the second instead of making a round trip through
    memory.  The result equals the two passes run one after the other.
    """
    cdef Py_ssize_t planes = image.shape[0], height = image.shape[1], width = image.shape[2]
    cdef Py_ssize_t size_y = weights_y.shape[0], size_x = weights_x.shape[0]
    cdef Py_ssize_t ext_h = height + size_y - 1, ext_w = width + size_x - 1, i
    cdef Py_ssize_t block_rows, n_blocks, n_items, item, plane, row0, rows, scratch_len
    cdef Py_ssize_t mid_lo, mid_hi, row_bytes
    cdef Py_ssize_t *maps = NULL
    cdef Py_ssize_t *row_src
    cdef Py_ssize_t *col_src
    cdef Py_ssize_t *identity
    cdef correlate_t *scratch = NULL
    cdef correlate_t *between
    cdef correlate_t fill_y, fill_x
    if out.shape[0] != planes or out.shape[1] != height or out.shape[2] != width:
        raise ValueError("image and out must have the same shape")
    if size_y < 1 or size_x < 1:
        raise ValueError("both passes need at least one weight")
    if fills.shape[0] < 2:
        raise ValueError("fills must hold the fill value of each pass")
    for boundary in (boundary_y, boundary_x):
        if not 0 <= boundary <= MIRROR:
            raise ValueError(f"unknown boundary code {boundary}")
    if planes * height * width == 0:
        return
    fill_y, fill_x = fills[0], fills[1]
    row_bytes = width * sizeof(correlate_t)
    block_rows = max(TILE_BYTES // row_bytes - size_y + 1, size_y, 8)  # as in correlate
    block_rows = min(block_rows - block_rows % 4, height)
    n_blocks = (height + block_rows - 1) // block_rows
    n_items = planes * n_blocks
    num_threads = max(1, min(num_threads, n_items))
    # Per thread: the rows between the passes, and a padded tile big enough
    # for either pass's border strips.
    scratch_len = block_rows * width + (block_rows + size_y - 1) * ext_w
    try:
        maps = <Py_ssize_t *> malloc((ext_h + ext_w + max(width, block_rows)) * sizeof(Py_ssize_t))
        scratch = <correlate_t *> malloc(num_threads * scratch_len * sizeof(correlate_t))
        if maps == NULL or scratch == NULL:
            raise MemoryError("cannot allocate the separable correlation's buffers")
        row_src = maps
        col_src = maps + ext_h
        identity = col_src + ext_w
        for i in range(ext_h):
            row_src[i] = source_index(i + offset_y, height, boundary_y)
        for i in range(ext_w):
            col_src[i] = source_index(i + offset_x, width, boundary_x)
        for i in range(max(width, block_rows)):
            identity[i] = i
        mid_lo = min(max(-offset_x, 0), ext_w)
        mid_hi = max(min(width - offset_x, ext_w), mid_lo)
        with nogil, parallel(num_threads=num_threads):
            between = scratch + omp_get_thread_num() * scratch_len
            for item in prange(n_items, schedule='dynamic'):
                plane = item // n_blocks
                row0 = (item % n_blocks) * block_rows
                rows = min(block_rows, height - row0)
                separable_item(&image[plane, 0, 0], &out[plane, 0, 0], height, width, row0,
                               rows, &weights_y[0], size_y, &weights_x[0], size_x, row_src,
                               identity, col_src, mid_lo, mid_hi, fill_y, fill_x, between,
                               between + block_rows * width)
    finally:
        free(maps)
        free(scratch)


def scipy_operands(in1, in2, fillvalue, bint use_fill):
    """Convert the operands exactly as ``scipy.signal._sigtools._convolve2d`` does.

    Returns ``(image, kernel, fill)``: both inputs converted to their common
    type by numpy's legacy promotion, and the fill value as a 0-d array of that
    type (zero when ``use_fill`` is false, where scipy ignores ``fillvalue``).
    The same inputs raise the same exceptions as in scipy.
    """
    cdef int typenum = object_type(in1, cnp.NPY_BOOL)
    typenum = object_type(in2, typenum)
    image = cnp.PyArray_FromObject(in1, typenum, 2, 2)
    kernel = cnp.PyArray_FromObject(in2, typenum, 2, 2)
    if not use_fill:
        return image, kernel, np.zeros((), dtype=image.dtype)
    try:
        fill = cnp.PyArray_FromObject(fillvalue, typenum, 0, 0)
    except Exception:
        # scipy retries through complex, then refuses the result.
        cnp.PyArray_Cast(cnp.PyArray_FromObject(fillvalue, cnp.NPY_CDOUBLE, 0, 0), typenum)
        raise ValueError("could not cast `fillvalue` directly to the output type "
                         "(it was first converted to complex).") from None
    if fill.size != 1:
        if fill.size == 0:
            raise ValueError("`fillvalue` cannot be an empty array.")
        raise ValueError("`fillvalue` must be scalar or an array with one element.")
    return image, kernel, fill
