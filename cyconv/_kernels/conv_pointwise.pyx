"""NCHW 1x1 convolution (stride 1, no padding) by the register-tiled kernel of conv_tile.h.

One tap per input channel and no GEMM packing: a work item gathers its
pixels of every input channel register tile by register tile, so that the
tile every block of output channels reads next sits contiguous in the L1
cache.  The caller sends float32 layers with up to 256 input channels per
group here (1.05 - 1.8 times as fast as OpenBLAS on ResNet's 1x1 layers);
other 1x1 layers are conv_gemm's GEMM on the input in place.  The weights
are laid out by conv_tiled's pack_weight.  The conventions every conv_*
module follows are in conv_common.pxd.
"""
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free
from libc.stddef cimport ptrdiff_t

from cyconv._kernels.conv_common cimport reused_scratch, round_up
from cyconv._kernels.conv_tile cimport (
    CYCONV_CONV_BLOCK, CYCONV_CONV_TILE_BYTES, channel_offsets, conv_tile, cyconv_gather_tiles,
)
from cyconv._kernels.correlate_tile cimport copy_row
from cyconv._kernels.fused cimport floating_t
from cyconv._kernels.openmp cimport omp_get_thread_num


def pointwise_forward(const floating_t[:, :, :, ::1] x, const floating_t[:, :, :, ::1] packed,
                      const floating_t[::1] bias, floating_t[:, :, :, ::1] out,
                      Py_ssize_t chunk_pixels, int num_threads):
    """1x1 stride-1 convolution without padding by conv_tile, one tap per
    input channel, with no GEMM packing.

    ``packed`` is tiled_forward's (groups, blocks, C_in/groups, CONV_BLOCK);
    ``bias`` is empty for none.  A work item is (image, ``chunk_pixels``
    pixels).  Per group, gather_tiles copies the chunk of every input
    channel into a per-thread buffer tile by tile (zero past the plane's
    end); then for each tile, every block of output channels reads the
    tile's inputs from the L1 cache, its results going straight into
    ``out`` (then the bias is added), or through a second per-thread buffer
    whose rows copy_row writes out, for a partial tile or a group's partial
    last block.
    """
    cdef Py_ssize_t batch = x.shape[0], groups = packed.shape[0], blocks = packed.shape[1]
    cdef Py_ssize_t plane = out.shape[2] * out.shape[3]
    cdef Py_ssize_t in_per_group = x.shape[1] // groups, out_per_group = out.shape[1] // groups
    cdef Py_ssize_t tile = CYCONV_CONV_TILE_BYTES // sizeof(floating_t)
    cdef Py_ssize_t chunks = (plane + chunk_pixels - 1) // chunk_pixels
    # Per thread: a block's results for one tile, then a chunk's inputs
    # (whole tiles: every part starts on a cache line).
    cdef Py_ssize_t thread_len = CYCONV_CONV_BLOCK * tile + in_per_group * round_up(chunk_pixels,
                                                                                   tile)
    cdef Py_ssize_t item, n, first, count, tiles, t, done, group, block, used, co, r, j
    cdef bint has_bias = bias.shape[0] > 0
    cdef floating_t shift
    cdef const floating_t *tile_inputs
    cdef floating_t *row
    cdef floating_t *results
    cdef floating_t *inputs
    cdef floating_t[::1] scratch = reused_scratch(num_threads * thread_len, <floating_t>0)
    cdef floating_t *buffers = &scratch[0]
    cdef ptrdiff_t *offsets = channel_offsets(in_per_group, tile)
    try:
        with nogil, parallel(num_threads=num_threads):
            results = buffers + omp_get_thread_num() * thread_len
            inputs = results + CYCONV_CONV_BLOCK * tile
            for item in prange(batch * chunks, schedule='dynamic'):
                n = item // chunks
                first = item % chunks * chunk_pixels
                count = min(chunk_pixels, plane - first)
                tiles = (count + tile - 1) // tile
                for group in range(groups):
                    cyconv_gather_tiles(<char *> inputs,
                                        <const char *> (&x[n, group * in_per_group, 0, 0] + first),
                                        in_per_group, plane * sizeof(floating_t),
                                        count * sizeof(floating_t))
                    for t in range(tiles):
                        tile_inputs = inputs + t * in_per_group * tile
                        done = min(tile, count - t * tile)
                        for block in range(blocks):
                            co = group * out_per_group + block * CYCONV_CONV_BLOCK
                            used = min(CYCONV_CONV_BLOCK, out_per_group - block * CYCONV_CONV_BLOCK)
                            row = &out[n, co, 0, 0] + first + t * tile
                            if used == CYCONV_CONV_BLOCK and done == tile:
                                conv_tile(tile_inputs, offsets, in_per_group, in_per_group,
                                          &packed[group, block, 0, 0], 0, tile, row, plane)
                                if has_bias:
                                    for r in range(used):
                                        shift = bias[co + r]   # a local: the loop vectorises
                                        for j in range(tile):
                                            row[r * plane + j] += shift
                            else:
                                conv_tile(tile_inputs, offsets, in_per_group, in_per_group,
                                          &packed[group, block, 0, 0], 0, tile, results, tile)
                                for r in range(used):
                                    copy_row(row + r * plane, results + r * tile, done, has_bias,
                                             bias[co + r] if has_bias else 0)
    finally:
        free(offsets)
