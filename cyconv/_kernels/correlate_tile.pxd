# The register-tiled 'valid' correlation of correlate_tile.h and the kernels of
# the weight and bias gradients, declared once for every kernel family that
# uses them (each module compiles its own static copy, at that module's
# instruction-set level).
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
