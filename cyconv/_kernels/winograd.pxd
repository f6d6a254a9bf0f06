# The Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms of winograd.h (each
# module that cimports them compiles its own static copy at its
# instruction-set level), their float/double trampolines, and split_plane:
# the zero-padded polyphase split of a plane that conv_winograd's transforms
# and conv_tiled's strided layers read.
from libc.stddef cimport ptrdiff_t
from libc.string cimport memset

from cyconv._kernels.fused cimport floating_t

cdef extern from "winograd.h" nogil:
    void cyconv_split_row_f32(const float *src, ptrdiff_t width, ptrdiff_t shift,
                              ptrdiff_t phases, ptrdiff_t count, float *dst, ptrdiff_t dst_step)
    void cyconv_split_row_f64(const double *src, ptrdiff_t width, ptrdiff_t shift,
                              ptrdiff_t phases, ptrdiff_t count, double *dst, ptrdiff_t dst_step)
    void cyconv_wino_input_f32(const float *parts, ptrdiff_t part_len, ptrdiff_t half_ld,
                               ptrdiff_t start, ptrdiff_t count, float *out, ptrdiff_t ld_xi)
    void cyconv_wino_input_f64(const double *parts, ptrdiff_t part_len, ptrdiff_t half_ld,
                               ptrdiff_t start, ptrdiff_t count, double *out, ptrdiff_t ld_xi)
    ptrdiff_t cyconv_wino_output_f32(const float *m, ptrdiff_t ld_xi, ptrdiff_t count,
                                     float *out, ptrdiff_t ld_out)
    ptrdiff_t cyconv_wino_output_f64(const double *m, ptrdiff_t ld_xi, ptrdiff_t count,
                                     double *out, ptrdiff_t ld_out)
    void cyconv_wino4_input_f32(const float *parts, ptrdiff_t part_len, ptrdiff_t part_ld,
                                ptrdiff_t start, ptrdiff_t count, float *out, ptrdiff_t ld_xi)
    void cyconv_wino4_input_f64(const double *parts, ptrdiff_t part_len, ptrdiff_t part_ld,
                                ptrdiff_t start, ptrdiff_t count, double *out, ptrdiff_t ld_xi)
    ptrdiff_t cyconv_wino4_output_f32(const float *m, ptrdiff_t ld_xi, ptrdiff_t count,
                                      float *out, ptrdiff_t ld_out)
    ptrdiff_t cyconv_wino4_output_f64(const double *m, ptrdiff_t ld_xi, ptrdiff_t count,
                                      double *out, ptrdiff_t ld_out)
    void cyconv_wino_grad_output_f32(const float *parts, ptrdiff_t part_len, ptrdiff_t start,
                                     ptrdiff_t count, float *out, ptrdiff_t ld_xi)
    void cyconv_wino_grad_output_f64(const double *parts, ptrdiff_t part_len, ptrdiff_t start,
                                     ptrdiff_t count, double *out, ptrdiff_t ld_xi)


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


cdef inline void split_plane(const floating_t *plane, Py_ssize_t height, Py_ssize_t width,
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
