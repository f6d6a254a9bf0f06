# The register-tiled multi-channel convolution of conv_tile.h, its
# float/double trampoline and the offsets of its taps when they are input
# channels (each module that cimports it compiles its own static copy at its
# instruction-set level).
from libc.stddef cimport ptrdiff_t
from libc.stdlib cimport malloc

from cyconv._kernels.fused cimport floating_t

cdef extern from "conv_tile.h" nogil:
    const int CYCONV_CONV_BLOCK
    const int CYCONV_CONV_TILE_BYTES
    void cyconv_conv_tile_f32(const float *src, const ptrdiff_t *offsets, Py_ssize_t taps,
                              Py_ssize_t taps_per_pass, const float *weights,
                              Py_ssize_t start, Py_ssize_t count, float *out,
                              Py_ssize_t ld_out)
    void cyconv_conv_tile_f64(const double *src, const ptrdiff_t *offsets, Py_ssize_t taps,
                              Py_ssize_t taps_per_pass, const double *weights,
                              Py_ssize_t start, Py_ssize_t count, double *out,
                              Py_ssize_t ld_out)
    void cyconv_gather_tiles(char *dst, const char *src, Py_ssize_t rows,
                             Py_ssize_t src_stride, Py_ssize_t bytes)


cdef inline void conv_tile(const floating_t *src, const ptrdiff_t *offsets, Py_ssize_t taps,
                           Py_ssize_t taps_per_pass, const floating_t *weights,
                           Py_ssize_t start, Py_ssize_t count, floating_t *out,
                           Py_ssize_t ld_out) noexcept nogil:
    if floating_t is float:
        cyconv_conv_tile_f32(src, offsets, taps, taps_per_pass, weights, start, count, out,
                             ld_out)
    else:
        cyconv_conv_tile_f64(src, offsets, taps, taps_per_pass, weights, start, count, out,
                             ld_out)


cdef inline ptrdiff_t *channel_offsets(Py_ssize_t channels, Py_ssize_t step) except NULL:
    """conv_tile's offsets for one tap per input channel, the channels ``step``
    elements apart; the caller frees them."""
    cdef Py_ssize_t c
    cdef ptrdiff_t *offsets = <ptrdiff_t *> malloc(channels * sizeof(ptrdiff_t))
    if offsets == NULL:
        raise MemoryError("cannot allocate the channel offsets")
    for c in range(channels):
        offsets[c] = c * step
    return offsets
