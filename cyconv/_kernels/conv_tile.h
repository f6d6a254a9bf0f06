/*
 * Register-tiled multi-channel convolution over flattened padded planes:
 *
 *     out[r * ld_out + j] = sum_{t < taps} weights[t * CYCONV_CONV_BLOCK + r]
 *                                          * src[offsets[t] + start + j]
 *
 * for r < CYCONV_CONV_BLOCK output channels and j < count.  A stride-1
 * convolution of zero-padded planes with row length `ld` is exactly this when
 * tap t = (c, ky, kx) has offset c * plane + (ky * ld + kx) * dilation and
 * output pixel (y, x) sits at j = y * ld + x: the columns x >= out_w of each
 * row are computed too and discarded by the caller, which is cheaper than a
 * remainder loop per row and leaves the inner loop without branches.
 *
 * A tile is CYCONV_CONV_BLOCK output channels by two vectors of pixels, all
 * in registers: every tap loads two input vectors and broadcasts one weight
 * per channel into a fused multiply-add, so the loop is bound by FMA
 * throughput, with no im2col copy and no GEMM packing.  The weights of a tap
 * are contiguous (the caller packs them [tap][channel]).  Taps go in passes of
 * `taps_per_pass` over all the pixels, the partial sums kept in `out`, so the
 * input a pass reads (a few channels' rows) stays in the L1 cache.
 *
 * `count` must be a whole number of tiles (2 * lanes); src must be readable
 * (and finite only where results are kept) up to offsets[t] + start + count.
 */
#ifndef CYCONV_CONV_TILE_H
#define CYCONV_CONV_TILE_H

#include "correlate_tile.h"

#if CYCONV_VECTOR_EXT && CYCONV_VEC_BYTES >= 64
/* 32 vector registers: 8 channels x 2 vectors of accumulators. */
#  define CYCONV_CONV_BLOCK 8
#else
/* 16 vector registers: 4 channels x 2 vectors. */
#  define CYCONV_CONV_BLOCK 4
#endif

#if CYCONV_VECTOR_EXT

#define CYCONV_DEFINE_CONV_TILE(NAME, T)                                          \
typedef T NAME##_vec __attribute__((vector_size(CYCONV_VEC_BYTES)));              \
                                                                                  \
static void NAME(const T *src, const ptrdiff_t *offsets, ptrdiff_t taps,          \
                 ptrdiff_t taps_per_pass, const T *weights, ptrdiff_t start,      \
                 ptrdiff_t count, T *out, ptrdiff_t ld_out)                       \
{                                                                                 \
    enum { lanes = CYCONV_VEC_BYTES / sizeof(T), block = CYCONV_CONV_BLOCK };     \
    for (ptrdiff_t t0 = 0; t0 < taps; t0 += taps_per_pass) {                      \
        const ptrdiff_t t1 = t0 + taps_per_pass < taps ? t0 + taps_per_pass : taps; \
        for (ptrdiff_t j = 0; j < count; j += 2 * lanes) {                        \
            NAME##_vec acc[block][2], x0, x1;                                     \
            if (t0 == 0) memset(acc, 0, sizeof acc);                              \
            else for (int r = 0; r < block; ++r) {                                \
                memcpy(&acc[r][0], out + r * ld_out + j, sizeof x0);              \
                memcpy(&acc[r][1], out + r * ld_out + j + lanes, sizeof x1);      \
            }                                                                     \
            const T *base = src + start + j;                                      \
            for (ptrdiff_t t = t0; t < t1; ++t) {                                 \
                const T *w = weights + t * block;                                 \
                memcpy(&x0, base + offsets[t], sizeof x0);                        \
                memcpy(&x1, base + offsets[t] + lanes, sizeof x1);                \
                for (int r = 0; r < block; ++r) {                                 \
                    acc[r][0] += x0 * w[r];                                       \
                    acc[r][1] += x1 * w[r];                                       \
                }                                                                 \
            }                                                                     \
            for (int r = 0; r < block; ++r) {                                     \
                memcpy(out + r * ld_out + j, &acc[r][0], sizeof x0);              \
                memcpy(out + r * ld_out + j + lanes, &acc[r][1], sizeof x1);      \
            }                                                                     \
        }                                                                         \
    }                                                                             \
}

/* Pixels per tile: `count` comes in multiples of this many elements. */
#  define CYCONV_CONV_TILE_BYTES (2 * CYCONV_VEC_BYTES)

#else  /* no vector extensions: scalar loops */

#define CYCONV_DEFINE_CONV_TILE(NAME, T)                                          \
static void NAME(const T *src, const ptrdiff_t *offsets, ptrdiff_t taps,          \
                 ptrdiff_t taps_per_pass, const T *weights, ptrdiff_t start,      \
                 ptrdiff_t count, T *out, ptrdiff_t ld_out)                       \
{                                                                                 \
    (void)taps_per_pass;                                                          \
    for (ptrdiff_t j = 0; j < count; ++j)                                         \
        for (int r = 0; r < CYCONV_CONV_BLOCK; ++r) {                             \
            T total = 0;                                                          \
            for (ptrdiff_t t = 0; t < taps; ++t)                                  \
                total += weights[t * CYCONV_CONV_BLOCK + r] * src[offsets[t] + start + j]; \
            out[r * ld_out + j] = total;                                          \
        }                                                                         \
}

#  define CYCONV_CONV_TILE_BYTES 16

#endif

/*
 * Gathers `rows` rows of `bytes` bytes (row r at src + r * src_stride) tile by
 * tile: dst[(t * rows + r) * TILE + i] = src[r * src_stride + t * TILE + i],
 * zero past `bytes` to the end of the last tile (TILE = CYCONV_CONV_TILE_BYTES).
 * Tile t of every row is then contiguous (and on cache lines when dst is):
 * conv_tile reads it with offsets r * TILE, from the L1 cache for every block
 * of output channels, rather than hundreds of rows a plane apart.
 */
static inline void cyconv_gather_tiles(char *dst, const char *src, ptrdiff_t rows,
                                       ptrdiff_t src_stride, ptrdiff_t bytes)
{
    enum { tile = CYCONV_CONV_TILE_BYTES };
    const ptrdiff_t whole = bytes / tile, rest = bytes % tile;
    for (ptrdiff_t r = 0; r < rows; ++r) {
        const char *row = src + r * src_stride;
        char *to = dst + r * tile;
        for (ptrdiff_t t = 0; t < whole; ++t)
            memcpy(to + t * rows * tile, row + t * tile, tile);
        if (rest) {
            memcpy(to + whole * rows * tile, row + whole * tile, rest);
            memset(to + whole * rows * tile + rest, 0, tile - rest);
        }
    }
}

CYCONV_DEFINE_CONV_TILE(cyconv_conv_tile_f32, float)
CYCONV_DEFINE_CONV_TILE(cyconv_conv_tile_f64, double)

#endif
