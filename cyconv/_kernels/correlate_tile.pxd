# The register-tiled 'valid' correlation of correlate_tile.h and the kernels of
# the weight and bias gradients, declared once for every kernel family that
# uses them (each module compiles its own static copy, at that module's
# instruction-set level), and their float/double trampolines for the NCHW
# convolution kernels.
from cyconv._kernels.conv_common cimport Geometry
from cyconv._kernels.fused cimport floating_t

cdef extern from "correlate_tile.h" nogil:
    const char *CYCONV_SIMD_LEVEL
    const char *CYCONV_BUILD_FLAGS
    const int CYCONV_TILE_BYTES
    void cyconv_valid_corr_f32(const float *src, Py_ssize_t ld_src, const float *kernel,
                               Py_ssize_t kernel_h, Py_ssize_t kernel_w, float *out,
                               Py_ssize_t ld_out, Py_ssize_t rows, Py_ssize_t cols,
                               int accumulate)
    void cyconv_valid_corr_f64(const double *src, Py_ssize_t ld_src, const double *kernel,
                               Py_ssize_t kernel_h, Py_ssize_t kernel_w, double *out,
                               Py_ssize_t ld_out, Py_ssize_t rows, Py_ssize_t cols,
                               int accumulate)
    const int CYCONV_WEIGHT_COL_BYTES
    void cyconv_weight_corr_f32(const float *src, Py_ssize_t ld_src, const float *grad,
                                Py_ssize_t ld_grad, Py_ssize_t rows, Py_ssize_t cols,
                                Py_ssize_t kernel_h, Py_ssize_t kernel_w, float *out)
    void cyconv_weight_corr_f64(const double *src, Py_ssize_t ld_src, const double *grad,
                                Py_ssize_t ld_grad, Py_ssize_t rows, Py_ssize_t cols,
                                Py_ssize_t kernel_h, Py_ssize_t kernel_w, double *out)
    float cyconv_sum_f32(const float *data, Py_ssize_t count)
    double cyconv_sum_f64(const double *data, Py_ssize_t count)
    void cyconv_copy_row_f32(float *dst, const float *src, Py_ssize_t count, int add,
                             float shift)
    void cyconv_copy_row_f64(double *dst, const double *src, Py_ssize_t count, int add,
                             double shift)


cdef inline void valid_correlate(const floating_t *src, Py_ssize_t ld_src,
                                 const floating_t *kernel, const Geometry *geo,
                                 floating_t *out, Py_ssize_t ld_out, Py_ssize_t cols,
                                 bint accumulate) noexcept nogil:
    """out (+)= the valid correlation of src (out_h + kH - 1 rows) with one kernel plane."""
    if floating_t is float:
        cyconv_valid_corr_f32(src, ld_src, kernel, geo.kernel_h, geo.kernel_w, out, ld_out,
                              geo.out_h, cols, accumulate)
    else:
        cyconv_valid_corr_f64(src, ld_src, kernel, geo.kernel_h, geo.kernel_w, out, ld_out,
                              geo.out_h, cols, accumulate)


cdef inline void weight_correlate(const floating_t *src, Py_ssize_t ld_src,
                                  const floating_t *grad, Py_ssize_t ld_grad,
                                  const Geometry *geo, Py_ssize_t cols,
                                  floating_t *out) noexcept nogil:
    """out[kH, kW] = the valid correlation of src with the (out_h, cols) plane grad.

    Rows of both are read in whole vectors past ``cols``: ``ld_grad`` and
    ``ld_src - kW + 1`` must be ``cols`` rounded up to CYCONV_WEIGHT_COL_BYTES.
    """
    if floating_t is float:
        cyconv_weight_corr_f32(src, ld_src, grad, ld_grad, geo.out_h, cols, geo.kernel_h,
                               geo.kernel_w, out)
    else:
        cyconv_weight_corr_f64(src, ld_src, grad, ld_grad, geo.out_h, cols, geo.kernel_h,
                               geo.kernel_w, out)


cdef inline void copy_row(floating_t *dst, const floating_t *src, Py_ssize_t count,
                          bint add, floating_t shift) noexcept nogil:
    """dst[:count] = src[:count] (+ shift when ``add``), in whole vectors for short rows too."""
    if floating_t is float:
        cyconv_copy_row_f32(dst, src, count, add, shift)
    else:
        cyconv_copy_row_f64(dst, src, count, add, shift)


cdef inline floating_t plane_sum(const floating_t *data, Py_ssize_t count) noexcept nogil:
    """The sum of ``count`` elements, a whole number of weight-gradient columns."""
    if floating_t is float:
        return cyconv_sum_f32(data, count)
    else:
        return cyconv_sum_f64(data, count)
