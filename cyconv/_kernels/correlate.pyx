"""Direct 2-D correlation kernels (the scipy.signal-compatible family).

Everything here computes; arguments are checked and normalised by
``cyconv/_correlate.py`` before they arrive.  The output is computed in blocks
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
    cyconv_valid_corr_f32,
    cyconv_valid_corr_f64,
)
from cyconv._kernels.fused cimport correlate_t
from cyconv._kernels.openmp cimport omp_get_thread_num

import numpy as np

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    # Declared here because numpy's pxd marks 0 (NPY_BOOL, a valid answer) as the error value.
    int object_type "PyArray_ObjectType" (object op, int minimum_type) except *

SIMD_LEVEL = CYCONV_SIMD_LEVEL.decode()
BUILD_FLAGS = CYCONV_BUILD_FLAGS.decode()

# Boundary codes shared with cyconv/_correlate.py.
cdef enum:
    FILL = 0
    SYMM = 1
    WRAP = 2

# Bytes of padded tile per thread: large enough that the copy is amortised over
# all kernel rows, small enough to stay in the L2 cache.
cdef Py_ssize_t TILE_BYTES = 256 * 1024
# Above this many bytes a tile is split along the kernel rows instead.
cdef Py_ssize_t TILE_LIMIT_BYTES = 32 * 1024 * 1024


cdef inline Py_ssize_t source_index(Py_ssize_t i, Py_ssize_t size, int boundary) noexcept nogil:
    """Input index read at extended position ``i``, or -1 for the fill value."""
    cdef Py_ssize_t period
    if 0 <= i < size:
        return i
    if boundary == WRAP:
        i = i % size
        return i + size if i < 0 else i
    if boundary == SYMM:
        period = 2 * size
        i = i % period
        if i < 0:
            i += period
        return period - 1 - i if i >= size else i
    return -1


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


cdef void correlate_block(const correlate_t *image, Py_ssize_t image_w,
                          const correlate_t *kernel, Py_ssize_t kernel_h, Py_ssize_t kernel_w,
                          correlate_t *out, Py_ssize_t out_w,
                          Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t chunk_h,
                          const Py_ssize_t *row_src, const Py_ssize_t *col_src,
                          Py_ssize_t mid_lo, Py_ssize_t mid_hi,
                          correlate_t fill, correlate_t *tile) noexcept nogil:
    """Output rows [row0, row0 + rows), kernel rows taken ``chunk_h`` at a time.

    Where a block's input rows are a contiguous run of the image, the interior
    columns read the image in place and only the border columns go through a
    padded tile.
    """
    cdef Py_ssize_t j0 = 0, chunk, first, interior_lo, interior_hi
    cdef correlate_t *out_rows = out + row0 * out_w
    cdef const correlate_t *chunk_kernel
    cdef bint accumulate
    # Output columns whose taps all fall in the plain-copy columns.
    interior_lo = mid_lo
    interior_hi = max(mid_hi - kernel_w + 1, interior_lo)
    while j0 < kernel_h:
        chunk = min(chunk_h, kernel_h - j0)
        first = row0 + j0
        chunk_kernel = kernel + j0 * kernel_w
        accumulate = j0 > 0
        if interior_hi > interior_lo and row_src[first] >= 0 and \
                row_src[first + rows + chunk - 2] == row_src[first] + rows + chunk - 2:
            valid_correlate(image + row_src[first] * image_w + col_src[interior_lo], image_w,
                            chunk_kernel, chunk, kernel_w, out_rows + interior_lo, out_w,
                            rows, interior_hi - interior_lo, accumulate)
            correlate_strip(image, image_w, chunk_kernel, chunk, kernel_w, out_rows, out_w,
                            rows, 0, interior_lo, row_src + first, col_src, mid_lo, mid_hi,
                            fill, tile, accumulate)
            correlate_strip(image, image_w, chunk_kernel, chunk, kernel_w, out_rows, out_w,
                            rows, interior_hi, out_w, row_src + first, col_src, mid_lo, mid_hi,
                            fill, tile, accumulate)
        else:
            correlate_strip(image, image_w, chunk_kernel, chunk, kernel_w, out_rows, out_w,
                            rows, 0, out_w, row_src + first, col_src, mid_lo, mid_hi,
                            fill, tile, accumulate)
        j0 += chunk


def correlate(const correlate_t[:, ::1] image, const correlate_t[:, ::1] kernel,
              correlate_t[:, ::1] out, Py_ssize_t row_offset, Py_ssize_t col_offset,
              int boundary, const correlate_t[::1] fill_value, int num_threads):
    """out[m, n] = sum_jk ext(image)[m + row_offset + j, n + col_offset + k] * kernel[j, k].

    ``ext`` extends ``image`` by ``boundary`` (0 fill, 1 symm, 2 wrap) with
    ``fill_value[0]``.  The caller guarantees a non-empty image unless the
    boundary is fill.
    """
    cdef correlate_t fill = fill_value[0]
    cdef Py_ssize_t image_h = image.shape[0], image_w = image.shape[1]
    cdef Py_ssize_t kernel_h = kernel.shape[0], kernel_w = kernel.shape[1]
    cdef Py_ssize_t out_h = out.shape[0], out_w = out.shape[1]
    cdef Py_ssize_t ext_h, ext_w, i, block_rows, chunk_h, n_blocks, block, row0
    cdef Py_ssize_t mid_lo, mid_hi, tile_len, row_bytes
    cdef correlate_t *tiles = NULL
    cdef correlate_t *tile
    cdef Py_ssize_t *row_src
    cdef Py_ssize_t *col_src
    if out_h == 0 or out_w == 0:
        return
    if kernel_h == 0 or kernel_w == 0:
        out[:, :] = 0
        return
    ext_h = out_h + kernel_h - 1
    ext_w = out_w + kernel_w - 1
    row_src = <Py_ssize_t *> malloc((ext_h + ext_w) * sizeof(Py_ssize_t))
    if row_src == NULL:
        raise MemoryError("cannot allocate the correlation index maps")
    col_src = row_src + ext_h
    for i in range(ext_h):
        row_src[i] = source_index(i + row_offset, image_h, boundary)
    for i in range(ext_w):
        col_src[i] = source_index(i + col_offset, image_w, boundary)
    # Columns [mid_lo, mid_hi) of every extended row are a plain copy.
    mid_lo = min(max(-col_offset, 0), ext_w)
    mid_hi = max(min(image_w - col_offset, ext_w), mid_lo)

    row_bytes = ext_w * sizeof(correlate_t)
    block_rows = max(TILE_BYTES // row_bytes - kernel_h + 1, 8)
    block_rows = min(block_rows - block_rows % 4, out_h)
    n_blocks = (out_h + block_rows - 1) // block_rows
    if (block_rows + kernel_h - 1) * row_bytes <= TILE_LIMIT_BYTES:
        chunk_h = kernel_h
    else:
        chunk_h = max(TILE_LIMIT_BYTES // row_bytes - block_rows + 1, 1)
    num_threads = max(1, min(num_threads, n_blocks))
    tile_len = (block_rows + chunk_h - 1) * ext_w
    try:
        tiles = <correlate_t *> malloc(num_threads * tile_len * sizeof(correlate_t))
        if tiles == NULL:
            raise MemoryError("cannot allocate the correlation tiles")
        if num_threads == 1:
            # Serial without an OpenMP region: entering even a one-thread team
            # costs a microsecond or two, a quarter of the textbook 3x3 call.
            with nogil:
                for block in range(n_blocks):
                    row0 = block * block_rows
                    correlate_block(&image[0, 0] if image_h * image_w else NULL, image_w,
                                    &kernel[0, 0], kernel_h, kernel_w, &out[0, 0], out_w,
                                    row0, min(block_rows, out_h - row0), chunk_h,
                                    row_src, col_src, mid_lo, mid_hi,
                                    fill, tiles)
        else:
            with nogil, parallel(num_threads=num_threads):
                tile = tiles + omp_get_thread_num() * tile_len
                # Dynamic: a thread that starts late (its core busy) takes fewer blocks.
                for block in prange(n_blocks, schedule='dynamic'):
                    row0 = block * block_rows
                    correlate_block(&image[0, 0] if image_h * image_w else NULL, image_w,
                                    &kernel[0, 0], kernel_h, kernel_w, &out[0, 0], out_w,
                                    row0, min(block_rows, out_h - row0), chunk_h,
                                    row_src, col_src, mid_lo, mid_hi,
                                    fill, tile)
    finally:
        free(tiles)
        free(row_src)


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
