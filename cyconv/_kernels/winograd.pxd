# The Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms of winograd.h (each
# module that cimports them compiles its own static copy at its
# instruction-set level).
from libc.stddef cimport ptrdiff_t

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
