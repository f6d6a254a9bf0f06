# The register-tiled 'valid' correlation of correlate_tile.h, declared once for
# every kernel family that uses it (each module compiles its own static copy,
# at that module's instruction-set level).
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
