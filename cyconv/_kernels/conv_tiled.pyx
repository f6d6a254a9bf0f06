"""NCHW stride-1 convolution by the register-tiled kernel of conv_tile.h.

Each image is zero-padded once, so that a tap is a constant offset into the
flattened padded planes and conv_tile keeps CONV_BLOCK output channels by
two vectors of pixels (a register tile) in registers across every tap: no
im2col copy and no GEMM packing, which together took about as long as the
multiply-adds.  Stride-1 layers with kernels above 1x1 run here unless
conv_direct or conv_winograd takes them, and so do their input gradients
(the padded output gradient convolved with the flipped kernels) and the
strided layers whose kernel splits into polyphase parts with few zero taps
(7x7 stride 2), as the stride-1 layer over those parts.
pack_weight lays out the weights of this kernel and of conv_pointwise;
CONV_BLOCK and CONV_TILE_BYTES give the caller conv_tile's block of output
channels and register tile at this module's instruction-set level (the same
for every conv_* module of that level: conv_winograd packs its weights in
such blocks too).  The conventions every conv_* module follows are in
conv_common.pxd.
"""
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc
from libc.stddef cimport ptrdiff_t
from libc.string cimport memset

from cyconv._kernels.conv_common cimport (
    Geometry, alloc_buffers, make_geometry, padded_rows, round_up,
)
from cyconv._kernels.conv_tile cimport CYCONV_CONV_BLOCK, CYCONV_CONV_TILE_BYTES, conv_tile
from cyconv._kernels.correlate_tile cimport copy_row
from cyconv._kernels.fused cimport floating_t
from cyconv._kernels.openmp cimport omp_get_thread_num
from cyconv._kernels.winograd cimport split_plane


# Output channels of one conv_tile call: callers pack weights in blocks of it.
CONV_BLOCK = CYCONV_CONV_BLOCK
# Bytes of pixels of one register tile of conv_tile: its pixel counts come in
# multiples of it.
CONV_TILE_BYTES = CYCONV_CONV_TILE_BYTES


cdef int check_taps(const Py_ssize_t[::1] tap_index, Py_ssize_t kernel_taps) except -1:
    """ValueError unless every tap index is that of a tap of a kernel of
    ``kernel_taps`` (the kernels read the taps' data unchecked)."""
    cdef Py_ssize_t t
    for t in range(tap_index.shape[0]):
        if not 0 <= tap_index[t] < kernel_taps:
            raise ValueError(f"tap_index[{t}] = {tap_index[t]} is not a tap of the kernel")
    return 0


def pack_weight(const floating_t[:, :, :] weight, const Py_ssize_t[::1] tap_index,
                floating_t[:, :, :, ::1] packed, int num_threads):
    """Fill ``packed`` with tiled_forward's (and pointwise_forward's) weights.

    ``packed[g, b, t, r]`` = ``weight[g, b * CONV_BLOCK + r, tap_index[t]]``,
    zero past the group's last output channel; ``weight`` is (groups,
    C_out/groups, taps of a kernel), any strides.  A work item is one
    (group, block): it reads CONV_BLOCK kernels along and writes on.
    """
    cdef Py_ssize_t groups = weight.shape[0], out_per_group = weight.shape[1]
    cdef Py_ssize_t blocks = packed.shape[1], taps = packed.shape[2]
    cdef Py_ssize_t item, group, block, used, t, r, index
    if (packed.shape[0] != groups or packed.shape[3] != CYCONV_CONV_BLOCK
            or blocks != (out_per_group + CYCONV_CONV_BLOCK - 1) // CYCONV_CONV_BLOCK
            or tap_index.shape[0] != taps):
        raise ValueError(f"packed weights of shape {tuple(packed.shape)[:4]} do not hold "
                         f"{taps} taps of weights of shape {tuple(weight.shape)[:3]} "
                         f"in blocks of {CYCONV_CONV_BLOCK}")
    check_taps(tap_index, weight.shape[2])
    with nogil:
        for item in prange(groups * blocks, num_threads=num_threads, schedule='static'):
            group = item // blocks
            block = item % blocks
            used = min(CYCONV_CONV_BLOCK, out_per_group - block * CYCONV_CONV_BLOCK)
            for t in range(taps):
                index = tap_index[t]
                for r in range(CYCONV_CONV_BLOCK):
                    packed[group, block, t, r] = (
                        weight[group, block * CYCONV_CONV_BLOCK + r, index] if r < used else 0)


def tiled_forward(const floating_t[:, :, :, ::1] x, const floating_t[:, :, :, ::1] packed,
                  const Py_ssize_t[::1] tap_index, const floating_t[::1] bias,
                  floating_t[:, :, :, ::1] out, tuple kernel, tuple phases, tuple padding,
                  tuple dilation, Py_ssize_t chunk_images, Py_ssize_t chunk_rows,
                  Py_ssize_t taps_per_pass, int num_threads):
    """Stride-1 convolution by the register-tiled kernel of conv_tile.h, of
    ``x`` or of its ``phases`` (s_h, s_w) polyphase parts: a layer of that
    stride is a stride-1 layer over them, whose channels come group by
    group, phase by phase, and whose ``kernel`` is the layer's divided by
    the stride, rounded up.

    ``packed[g, b, t, r]`` is the weight of tap ``tap_index[t]`` (the flat
    index of (c, ky, kx) in a group's C_in/groups x kH x kW kernel of that
    layer) for output channel ``g * out_per_group + b * CONV_BLOCK + r``
    (zero past the group's last channel): taps left out are zero weights
    that are never multiplied.  ``bias`` is empty for none; ``padding`` is
    (top, left), non-negative.  Images are zero-padded and split, up to
    ``chunk_images`` at a time, into planes whose rows are the padded input
    rows: a tap is then a constant offset into the flattened plane, and
    output row y is pixels [y * ld, y * ld + out_w) of the flattened result.
    Work items are (image, block of ``chunk_rows`` output rows, group,
    channel block), each computed into a per-thread buffer and copied out
    with the bias, ``taps_per_pass`` taps at a time.
    """
    cdef Geometry geo = make_geometry(x.shape[2], x.shape[3], out.shape[2], out.shape[3],
                                      kernel, (1, 1), padding, dilation)
    cdef Py_ssize_t phases_h = phases[0], phases_w = phases[1]
    cdef Py_ssize_t batch = x.shape[0], x_channels = x.shape[1], out_channels = out.shape[1]
    cdef Py_ssize_t groups = packed.shape[0], blocks = packed.shape[1], taps = packed.shape[2]
    cdef Py_ssize_t x_per_group = x_channels // groups, out_per_group = out_channels // groups
    cdef Py_ssize_t channels = x_channels * phases_h * phases_w
    cdef Py_ssize_t in_per_group = channels // groups
    cdef Py_ssize_t tile = CYCONV_CONV_TILE_BYTES // sizeof(floating_t)
    cdef Py_ssize_t ld = geo.out_w + geo.dil_w * (geo.kernel_w - 1)
    # Reads run past the last padded row by less than a row plus a tile.
    cdef Py_ssize_t plane_len = round_up((padded_rows(&geo) + 1) * ld + tile, tile)
    cdef Py_ssize_t row_chunks = (geo.out_h + chunk_rows - 1) // chunk_rows
    cdef Py_ssize_t buffer_ld = round_up(chunk_rows * ld, tile)
    cdef Py_ssize_t chunk, first, images, plane, item, n, rest, y0, rows, group, block, co, r, y
    cdef Py_ssize_t t, index, items, channel, phase
    cdef Py_ssize_t kernel_taps = geo.kernel_h * geo.kernel_w
    # A plane's phases lie one group's channels apart; each is padded_rows
    # rows of ld, then zeros to plane_len.
    cdef Py_ssize_t part_step = x_per_group * plane_len
    cdef Py_ssize_t part_used = padded_rows(&geo) * ld
    cdef bint has_bias = bias.shape[0] > 0
    cdef floating_t *parts
    cdef floating_t *buffer
    if phases_h < 1 or phases_w < 1 or geo.pad_top < 0 or geo.pad_left < 0:
        raise ValueError(f"phases {phases} must be positive, padding {padding} non-negative")
    cdef ptrdiff_t *offsets = <ptrdiff_t *> malloc(max(taps, 1) * sizeof(ptrdiff_t))
    cdef floating_t *padded = alloc_buffers(min(chunk_images, batch) * channels, plane_len,
                                            <floating_t>0) if offsets != NULL else NULL
    cdef floating_t *buffers = alloc_buffers(num_threads, CYCONV_CONV_BLOCK * buffer_ld,
                                             <floating_t>0) if padded != NULL else NULL
    try:
        if offsets == NULL or padded == NULL or buffers == NULL:
            raise MemoryError("cannot allocate the padded images")
        if taps_per_pass < 1:
            raise ValueError(f"taps_per_pass must be positive, got {taps_per_pass}")
        if tap_index.shape[0] != taps:
            raise ValueError(f"tap_index has {tap_index.shape[0]} taps, packed {taps}")
        check_taps(tap_index, in_per_group * kernel_taps)
        for t in range(taps):
            index = tap_index[t]
            offsets[t] = (index // kernel_taps * plane_len
                          + index % kernel_taps // geo.kernel_w * geo.dil_h * ld
                          + index % geo.kernel_w * geo.dil_w)
        with nogil:
            for chunk in range((batch + chunk_images - 1) // chunk_images):
                first = chunk * chunk_images
                images = min(chunk_images, batch - first)
                for plane in prange(images * x_channels, num_threads=num_threads,
                                    schedule='static'):
                    channel = plane % x_channels
                    parts = padded + ((plane // x_channels) * channels
                                      + channel // x_per_group * in_per_group
                                      + channel % x_per_group) * plane_len
                    split_plane(&x[first + plane // x_channels, channel, 0, 0], geo.height,
                                geo.width, geo.pad_top, geo.pad_left, phases_h, phases_w,
                                padded_rows(&geo), ld, part_step, parts)
                    for phase in range(phases_h * phases_w):
                        memset(parts + phase * part_step + part_used, 0,
                               (plane_len - part_used) * sizeof(floating_t))
                items = images * row_chunks * groups * blocks
                with parallel(num_threads=num_threads):
                    buffer = buffers + omp_get_thread_num() * CYCONV_CONV_BLOCK * buffer_ld
                    for item in prange(items, schedule='dynamic'):
                        block = item % blocks
                        rest = item // blocks
                        group = rest % groups
                        rest = rest // groups
                        y0 = (rest % row_chunks) * chunk_rows
                        n = rest // row_chunks
                        rows = min(chunk_rows, geo.out_h - y0)
                        conv_tile(padded + (n * channels + group * in_per_group) * plane_len,
                                  offsets, taps, taps_per_pass, &packed[group, block, 0, 0],
                                  y0 * ld,
                                  round_up(rows * ld, tile), buffer, buffer_ld)
                        for r in range(min(CYCONV_CONV_BLOCK,
                                           out_per_group - block * CYCONV_CONV_BLOCK)):
                            co = group * out_per_group + block * CYCONV_CONV_BLOCK + r
                            for y in range(rows):
                                copy_row(&out[first + n, co, y0 + y, 0],
                                         buffer + r * buffer_ld + y * ld, geo.out_w, has_bias,
                                         bias[co] if has_bias else 0)
    finally:
        free(buffers)
        free(padded)
        free(offsets)
