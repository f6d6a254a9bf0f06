"""NCHW depthwise convolution (one input channel per group) vectorised across channels.

The kernels of depthwise_tile.h hold one pixel of a block of channels per
vector, so every lane does useful work whatever the stride, dilation or
plane size (conv_direct's plane-by-plane kernels lose most of a vector on a
7x7 plane and load a strided row element by element).  A forward work item
is (image, block of output channels, band of output rows): it packs the
input rows the band reads into a zero-padded channel-last buffer, sums the
taps into a second buffer and writes that back to the output planes.  The
input gradient is the same pass over the output gradient spread ``stride``
apart; the weight gradient packs the output gradient beside the input.
The conventions every conv_* module follows are in conv_common.pxd.
"""
from cython.parallel cimport parallel, prange
from libc.stddef cimport ptrdiff_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from cyconv._kernels.conv_common cimport Geometry, make_geometry, reused_scratch, round_up
from cyconv._kernels.fused cimport floating_t
from cyconv._kernels.openmp cimport omp_get_thread_num


cdef extern from "depthwise_tile.h" nogil:
    const int CYCONV_DW_BYTES
    void cyconv_depthwise_f32_pack_band(const float *image, ptrdiff_t plane, ptrdiff_t height,
                                        ptrdiff_t width, ptrdiff_t first, ptrdiff_t used,
                                        ptrdiff_t multiplier, ptrdiff_t step_h,
                                        ptrdiff_t step_w, ptrdiff_t first_row,
                                        ptrdiff_t rows, ptrdiff_t pad_left, ptrdiff_t band_w,
                                        float *band)
    void cyconv_depthwise_f64_pack_band(const double *image, ptrdiff_t plane, ptrdiff_t height,
                                        ptrdiff_t width, ptrdiff_t first, ptrdiff_t used,
                                        ptrdiff_t multiplier, ptrdiff_t step_h,
                                        ptrdiff_t step_w, ptrdiff_t first_row,
                                        ptrdiff_t rows, ptrdiff_t pad_left, ptrdiff_t band_w,
                                        double *band)
    void cyconv_depthwise_f32_grad_weight_band(const float *band, ptrdiff_t band_w,
                                               const ptrdiff_t *offsets, ptrdiff_t taps,
                                               const float *grad_out, ptrdiff_t stride_h,
                                               ptrdiff_t stride_w, ptrdiff_t out_w,
                                               ptrdiff_t count, float *grad_weight,
                                               float *grad_bias)
    void cyconv_depthwise_f64_grad_weight_band(const double *band, ptrdiff_t band_w,
                                               const ptrdiff_t *offsets, ptrdiff_t taps,
                                               const double *grad_out, ptrdiff_t stride_h,
                                               ptrdiff_t stride_w, ptrdiff_t out_w,
                                               ptrdiff_t count, double *grad_weight,
                                               double *grad_bias)
    void cyconv_depthwise_f32_band(const float *band, ptrdiff_t band_w, const ptrdiff_t *offsets,
                                   ptrdiff_t taps, const float *weights, const float *bias,
                                   ptrdiff_t stride_h, ptrdiff_t stride_w, ptrdiff_t out_w,
                                   ptrdiff_t count, float *outputs)
    void cyconv_depthwise_f64_band(const double *band, ptrdiff_t band_w,
                                   const ptrdiff_t *offsets, ptrdiff_t taps,
                                   const double *weights, const double *bias,
                                   ptrdiff_t stride_h, ptrdiff_t stride_w, ptrdiff_t out_w,
                                   ptrdiff_t count, double *outputs)
    void cyconv_depthwise_f32_unpack_band(const float *outputs, ptrdiff_t count, float *image,
                                          ptrdiff_t plane, ptrdiff_t first, ptrdiff_t used,
                                          ptrdiff_t start)
    void cyconv_depthwise_f64_unpack_band(const double *outputs, ptrdiff_t count, double *image,
                                          ptrdiff_t plane, ptrdiff_t first, ptrdiff_t used,
                                          ptrdiff_t start)


# Bytes of one vector: a block of channels is this many bytes of one pixel.
VECTOR_BYTES = CYCONV_DW_BYTES


cdef inline void pack_band(const floating_t *image, ptrdiff_t plane, ptrdiff_t height,
                           ptrdiff_t width, ptrdiff_t first, ptrdiff_t used,
                           ptrdiff_t multiplier, ptrdiff_t step_h, ptrdiff_t step_w,
                           ptrdiff_t first_row, ptrdiff_t rows, ptrdiff_t pad_left,
                           ptrdiff_t band_w, floating_t *band) noexcept nogil:
    if floating_t is float:
        cyconv_depthwise_f32_pack_band(image, plane, height, width, first, used, multiplier,
                                       step_h, step_w, first_row, rows, pad_left, band_w, band)
    else:
        cyconv_depthwise_f64_pack_band(image, plane, height, width, first, used, multiplier,
                                       step_h, step_w, first_row, rows, pad_left, band_w, band)


cdef inline void grad_weight_band(const floating_t *band, ptrdiff_t band_w,
                                  const ptrdiff_t *offsets, ptrdiff_t taps,
                                  const floating_t *grad_out, ptrdiff_t stride_h,
                                  ptrdiff_t stride_w, ptrdiff_t out_w, ptrdiff_t count,
                                  floating_t *grad_weight, floating_t *grad_bias) noexcept nogil:
    if floating_t is float:
        cyconv_depthwise_f32_grad_weight_band(band, band_w, offsets, taps, grad_out, stride_h,
                                              stride_w, out_w, count, grad_weight, grad_bias)
    else:
        cyconv_depthwise_f64_grad_weight_band(band, band_w, offsets, taps, grad_out, stride_h,
                                              stride_w, out_w, count, grad_weight, grad_bias)


cdef inline void depthwise_band(const floating_t *band, ptrdiff_t band_w,
                                const ptrdiff_t *offsets, ptrdiff_t taps,
                                const floating_t *weights, const floating_t *bias,
                                ptrdiff_t stride_h, ptrdiff_t stride_w, ptrdiff_t out_w,
                                ptrdiff_t count, floating_t *outputs) noexcept nogil:
    if floating_t is float:
        cyconv_depthwise_f32_band(band, band_w, offsets, taps, weights, bias, stride_h, stride_w,
                                  out_w, count, outputs)
    else:
        cyconv_depthwise_f64_band(band, band_w, offsets, taps, weights, bias, stride_h, stride_w,
                                  out_w, count, outputs)


cdef inline void unpack_band(const floating_t *outputs, ptrdiff_t count, floating_t *image,
                             ptrdiff_t plane, ptrdiff_t first, ptrdiff_t used,
                             ptrdiff_t start) noexcept nogil:
    if floating_t is float:
        cyconv_depthwise_f32_unpack_band(outputs, count, image, plane, first, used, start)
    else:
        cyconv_depthwise_f64_unpack_band(outputs, count, image, plane, first, used, start)


cdef inline Py_ssize_t rows_read(const Geometry *geo, Py_ssize_t rows) noexcept nogil:
    """Input rows that ``rows`` output rows read: a band's height."""
    return (rows - 1) * geo.stride_h + (geo.kernel_h - 1) * geo.dil_h + 1


cdef inline Py_ssize_t band_width(const Geometry *geo) noexcept nogil:
    """Input columns that an output row reads: a band's width."""
    return (geo.out_w - 1) * geo.stride_w + (geo.kernel_w - 1) * geo.dil_w + 1


cdef inline Py_ssize_t band_length(const Geometry *geo, Py_ssize_t band_rows,
                                   Py_ssize_t lanes, Py_ssize_t itemsize) noexcept nogil:
    """Elements of a packed input band, on whole cache lines."""
    return round_up(rows_read(geo, band_rows) * band_width(geo) * lanes, 64 // itemsize)


cdef ptrdiff_t *tap_offsets(const Geometry *geo, Py_ssize_t lanes) except NULL:
    """Where each tap reads in a packed band, from an output's base; the
    caller frees them."""
    cdef Py_ssize_t ky, kx
    cdef ptrdiff_t *offsets = <ptrdiff_t *> malloc(geo.kernel_h * geo.kernel_w
                                                   * sizeof(ptrdiff_t))
    if offsets == NULL:
        raise MemoryError("cannot allocate the tap offsets")
    for ky in range(geo.kernel_h):
        for kx in range(geo.kernel_w):
            offsets[ky * geo.kernel_w + kx] = (ky * geo.dil_h * band_width(geo)
                                               + kx * geo.dil_w) * lanes
    return offsets


def depthwise_forward(const floating_t[:, :, :, ::1] x, const floating_t[:, :, :, ::1] weight,
                      const floating_t[::1] bias, floating_t[:, :, :, ::1] out,
                      tuple stride, tuple padding, tuple dilation, tuple spread,
                      Py_ssize_t band_rows, int num_threads):
    """Depthwise convolution: ``weight`` is (C_out, 1, kH, kW), C_out a
    multiple of the C_in groups; ``bias`` is empty for none; ``padding`` is
    (top, left).  The pixels of ``x`` are ``spread`` apart in the image that
    is convolved, zeros between ((1, 1) for a forward pass; a strided
    layer's stride for its input gradient, the transposed layer).

    A work item is (image, block of VECTOR_BYTES of output channels,
    ``band_rows`` output rows).  The weights and bias are first laid out
    [block][tap][lane], zero in the lanes past the last channel.
    """
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], out.shape[2], out.shape[3],
                                      (weight.shape[2], weight.shape[3]), stride, padding,
                                      dilation)
    cdef Py_ssize_t batch = x.shape[0], channels = out.shape[1]
    cdef Py_ssize_t multiplier = channels // x.shape[1], taps = geo.kernel_h * geo.kernel_w
    cdef Py_ssize_t step_h = spread[0], step_w = spread[1]
    if channels % x.shape[1] or weight.shape[0] != channels or weight.shape[1] != 1 \
            or min(step_h, step_w, band_rows) < 1:
        raise ValueError("a depthwise layer needs (C_out, 1, kH, kW) weights, C_out a multiple "
                         "of C_in, and positive spreads and band rows")
    cdef Py_ssize_t lanes = CYCONV_DW_BYTES // sizeof(floating_t)
    cdef Py_ssize_t blocks = (channels + lanes - 1) // lanes
    cdef Py_ssize_t bands = (geo.out_h + band_rows - 1) // band_rows
    # Per thread: the packed input band, then its outputs (on whole cache lines).
    cdef Py_ssize_t band_len = band_length(&geo, band_rows, lanes, sizeof(floating_t))
    cdef Py_ssize_t thread_len = band_len + round_up(band_rows * geo.out_w * lanes,
                                                     64 // sizeof(floating_t))
    cdef Py_ssize_t item, n, block, first, used, oh0, rows, c, t
    cdef floating_t *packed_in
    cdef floating_t *outputs
    cdef floating_t[::1] weights = reused_scratch(blocks * taps * lanes, <floating_t>0)
    cdef floating_t[::1] shifts = reused_scratch(blocks * lanes, <floating_t>0)
    cdef floating_t[::1] scratch = reused_scratch(num_threads * thread_len, <floating_t>0)
    cdef floating_t *buffers = &scratch[0]
    for c in range(blocks * lanes):
        shifts[c] = bias[c] if c < channels and bias.shape[0] > 0 else 0
        for t in range(taps):
            weights[(c // lanes * taps + t) * lanes + c % lanes] = \
                weight[c, 0, t // geo.kernel_w, t % geo.kernel_w] if c < channels else 0
    cdef ptrdiff_t *offsets = tap_offsets(&geo, lanes)
    try:
        with nogil, parallel(num_threads=num_threads):
            packed_in = buffers + omp_get_thread_num() * thread_len
            outputs = packed_in + band_len
            for item in prange(batch * blocks * bands, schedule='dynamic'):
                n = item // (blocks * bands)
                block = item // bands % blocks
                oh0 = item % bands * band_rows
                rows = min(band_rows, geo.out_h - oh0)
                first = block * lanes
                used = min(lanes, channels - first)
                pack_band(&x[n, 0, 0, 0], geo.height * geo.width, geo.height, geo.width, first,
                          used, multiplier, step_h, step_w, oh0 * geo.stride_h - geo.pad_top,
                          rows_read(&geo, rows), geo.pad_left, band_width(&geo), packed_in)
                depthwise_band(packed_in, band_width(&geo), offsets, taps,
                               &weights[block * taps * lanes], &shifts[block * lanes],
                               geo.stride_h, geo.stride_w, geo.out_w, rows * geo.out_w, outputs)
                unpack_band(outputs, rows * geo.out_w, &out[n, 0, 0, 0], geo.out_h * geo.out_w,
                            first, used, oh0 * geo.out_w)
    finally:
        free(offsets)


def depthwise_grad_weight(const floating_t[:, :, :, ::1] grad_out,
                          const floating_t[:, :, :, ::1] x, floating_t[:, :, ::1] grad_weight,
                          floating_t[:, ::1] grad_bias, tuple kernel, tuple stride,
                          tuple padding, tuple dilation, Py_ssize_t band_rows, int num_threads):
    """Per-image weight and bias gradients of depthwise_forward's layer:
    ``grad_weight`` (N, C_out, kH * kW) and ``grad_bias`` (N, C_out), which
    the caller sums over the images in order.

    A work item is (image, block of output channels), its bands of
    ``band_rows`` output rows summed in order into per-thread [tap][lane]
    sums: the input band packed as the forward pass packs it, the output
    gradient's rows packed channel-last beside it.
    """
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], grad_out.shape[2],
                                      grad_out.shape[3], kernel, stride, padding, dilation)
    cdef Py_ssize_t batch = x.shape[0], channels = grad_out.shape[1]
    cdef Py_ssize_t multiplier = channels // x.shape[1], taps = geo.kernel_h * geo.kernel_w
    cdef Py_ssize_t out_plane = geo.out_h * geo.out_w
    if channels % x.shape[1] or grad_weight.shape[0] != batch \
            or grad_weight.shape[1] != channels or grad_weight.shape[2] != taps \
            or grad_bias.shape[0] != batch or grad_bias.shape[1] != channels or band_rows < 1:
        raise ValueError("a depthwise layer's gradients need C_out a multiple of C_in, "
                         "(N, C_out, kH * kW) and (N, C_out) outputs and positive band rows")
    cdef Py_ssize_t lanes = CYCONV_DW_BYTES // sizeof(floating_t)
    cdef Py_ssize_t blocks = (channels + lanes - 1) // lanes
    # Per thread: the input band, the output gradient's band, the sums.
    cdef Py_ssize_t line = 64 // sizeof(floating_t)
    cdef Py_ssize_t band_len = band_length(&geo, band_rows, lanes, sizeof(floating_t))
    cdef Py_ssize_t grad_len = round_up(band_rows * geo.out_w * lanes, line)
    cdef Py_ssize_t thread_len = band_len + grad_len + round_up((taps + 1) * lanes, line)
    cdef Py_ssize_t item, n, first, used, band, oh0, rows, c, t
    cdef floating_t *packed_in
    cdef floating_t *packed_grad
    cdef floating_t *sums
    cdef floating_t[::1] scratch = reused_scratch(num_threads * thread_len, <floating_t>0)
    cdef floating_t *buffers = &scratch[0]
    cdef ptrdiff_t *offsets = tap_offsets(&geo, lanes)
    try:
        with nogil, parallel(num_threads=num_threads):
            packed_in = buffers + omp_get_thread_num() * thread_len
            packed_grad = packed_in + band_len
            sums = packed_grad + grad_len
            for item in prange(batch * blocks, schedule='dynamic'):
                n = item // blocks
                first = item % blocks * lanes
                used = min(lanes, channels - first)
                memset(sums, 0, (taps + 1) * lanes * sizeof(floating_t))
                for band in range((geo.out_h + band_rows - 1) // band_rows):
                    oh0 = band * band_rows
                    rows = min(band_rows, geo.out_h - oh0)
                    pack_band(&x[n, 0, 0, 0], geo.height * geo.width, geo.height, geo.width,
                              first, used, multiplier, 1, 1, oh0 * geo.stride_h - geo.pad_top,
                              rows_read(&geo, rows), geo.pad_left, band_width(&geo), packed_in)
                    pack_band(&grad_out[n, 0, 0, 0], out_plane, geo.out_h, geo.out_w, first,
                              used, 1, 1, 1, oh0, rows, 0, geo.out_w, packed_grad)
                    grad_weight_band(packed_in, band_width(&geo), offsets, taps, packed_grad,
                                     geo.stride_h, geo.stride_w, geo.out_w, rows * geo.out_w,
                                     sums, sums + taps * lanes)
                for c in range(used):
                    grad_bias[n, first + c] = sums[taps * lanes + c]
                    for t in range(taps):
                        grad_weight[n, first + c, t] = sums[t * lanes + c]
    finally:
        free(offsets)
