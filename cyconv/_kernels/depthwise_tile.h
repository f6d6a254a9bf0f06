/*
 * Depthwise convolution vectorised across channels.
 *
 * A plane-by-plane kernel vectorises along a row, which wastes most of every
 * vector on the 7x7 and 14x14 planes of deep layers and cannot load a
 * strided row as one vector.  Here a vector holds one pixel of `lanes`
 * channels instead (the channel-last layout, as oneDNN's nChw16c):
 *
 *     out[j][lane] = bias[lane] + sum_{t < taps} weights[t][lane] * band[base_j + offsets[t]][lane]
 *
 * so any stride, dilation or plane size fills every lane, and every tap of
 * every output is one vector load and one fused multiply-add.  A work item
 * packs the input rows it reads of `lanes` channels into a zero-padded band
 * (`pack_band`), sums the taps into a band of outputs (`depthwise_band`)
 * and writes them back to their planes (`unpack_band`).  Both copies
 * transpose `lanes` pixels by `lanes` channels in registers, so they run at
 * a few cycles per vector rather than one per element.  The input gradient
 * is the same sums over the output gradient spread `stride` apart (the
 * transposed layer), and the weight gradient sums products of a packed
 * input band and a packed output-gradient band (`grad_weight_band`).
 *
 * Lane l of a block of output channels starting at `first` reads input
 * channel (first + l) / multiplier (a depthwise layer with `multiplier`
 * output channels per input channel); lanes at or past `used` are zero.
 */
#ifndef CYCONV_DEPTHWISE_TILE_H
#define CYCONV_DEPTHWISE_TILE_H

#include "correlate_tile.h"

/* Outputs summed side by side: 8 accumulators, their bases, a weight and an
   input vector fit the 16 vector registers of SSE and AVX2. */
#define CYCONV_DW_PIXELS 8

#if CYCONV_VECTOR_EXT
#  define CYCONV_DW_BYTES CYCONV_VEC_BYTES
#else
#  define CYCONV_DW_BYTES 16
#endif

/* GCC's two-source shuffle with constant masks compiles to one or two
   instructions; elsewhere the transposes are scalar copies. */
#if CYCONV_VECTOR_EXT && defined(__GNUC__) && !defined(__clang__)
#  define CYCONV_DW_SHUFFLE 1
#else
#  define CYCONV_DW_SHUFFLE 0
#endif

#if CYCONV_VECTOR_EXT

#define CYCONV_DW_VECTOR(NAME, T)                                                 \
typedef T NAME##_vec __attribute__((vector_size(CYCONV_DW_BYTES)));

#else

#define CYCONV_DW_VECTOR(NAME, T)                                                 \
typedef struct { T v[CYCONV_DW_BYTES / sizeof(T)]; } NAME##_vec;

#endif

#if CYCONV_DW_SHUFFLE

/* The index vectors of one stage as constant initialisers (GCC turns a
   two-source shuffle into one instruction only when its mask is constant). */
#define CYCONV_DW_LOW(s, n, j) (((j) & (s)) ? (n) + ((j) ^ (s)) : (j))
#define CYCONV_DW_HIGH(s, n, j) (((j) & (s)) ? (n) + (j) : ((j) ^ (s)))
#define CYCONV_DW_LIST2(F, s, n) F(s, n, 0), F(s, n, 1)
#define CYCONV_DW_LIST4(F, s, n) CYCONV_DW_LIST2(F, s, n), F(s, n, 2), F(s, n, 3)
#define CYCONV_DW_LIST8(F, s, n) CYCONV_DW_LIST4(F, s, n), F(s, n, 4), F(s, n, 5), \
                                 F(s, n, 6), F(s, n, 7)
#define CYCONV_DW_LIST16(F, s, n) CYCONV_DW_LIST8(F, s, n), F(s, n, 8), F(s, n, 9),   \
                                  F(s, n, 10), F(s, n, 11), F(s, n, 12), F(s, n, 13), \
                                  F(s, n, 14), F(s, n, 15)
#if CYCONV_DW_BYTES == 64
#  define CYCONV_DW_LIST_float CYCONV_DW_LIST16
#  define CYCONV_DW_LIST_double CYCONV_DW_LIST8
#elif CYCONV_DW_BYTES == 32
#  define CYCONV_DW_LIST_float CYCONV_DW_LIST8
#  define CYCONV_DW_LIST_double CYCONV_DW_LIST4
#else
#  define CYCONV_DW_LIST_float CYCONV_DW_LIST4
#  define CYCONV_DW_LIST_double CYCONV_DW_LIST2
#endif

/* Stage s of a transpose: the elements whose row and column differ in bit s
   trade places. */
#define CYCONV_DW_STAGE(NAME, T, s)                                               \
    if ((s) < lanes) {                                                            \
        const NAME##_index low = {CYCONV_DW_LIST_##T(CYCONV_DW_LOW, s, lanes)};   \
        const NAME##_index high = {CYCONV_DW_LIST_##T(CYCONV_DW_HIGH, s, lanes)}; \
        for (int i = 0; i < lanes; ++i) {                                         \
            if ((i & (s)) || (i | (s)) >= lanes) continue;                        \
            const NAME##_vec a = rows[i], b = rows[i | (s)];                      \
            rows[i] = __builtin_shuffle(a, b, low);                               \
            rows[i | (s)] = __builtin_shuffle(a, b, high);                        \
        }                                                                         \
    }

/* rows[i][j] <-> rows[j][i]: after a stage for every bit, each element has
   moved to its transpose. */
#define CYCONV_DW_TRANSPOSE(NAME, T, IT)                                          \
typedef IT NAME##_index __attribute__((vector_size(CYCONV_DW_BYTES)));            \
CYCONV_INLINE void NAME##_transpose(NAME##_vec *rows)                             \
{                                                                                 \
    enum { lanes = CYCONV_DW_BYTES / sizeof(T) };                                 \
    CYCONV_DW_STAGE(NAME, T, 1)                                                   \
    CYCONV_DW_STAGE(NAME, T, 2)                                                   \
    CYCONV_DW_STAGE(NAME, T, 4)                                                   \
    CYCONV_DW_STAGE(NAME, T, 8)                                                   \
}

#else

#define CYCONV_DW_TRANSPOSE(NAME, T, IT)                                          \
CYCONV_INLINE void NAME##_transpose(NAME##_vec *rows)                             \
{                                                                                 \
    enum { lanes = CYCONV_DW_BYTES / sizeof(T) };                                 \
    T *cells = (T *)rows;                                                         \
    for (int i = 0; i < lanes; ++i)                                               \
        for (int j = i + 1; j < lanes; ++j) {                                     \
            const T swap = cells[i * lanes + j];                                  \
            cells[i * lanes + j] = cells[j * lanes + i];                          \
            cells[j * lanes + i] = swap;                                          \
        }                                                                         \
}

#endif

#define CYCONV_DEFINE_DEPTHWISE(NAME, T, IT)                                      \
CYCONV_DW_VECTOR(NAME, T)                                                         \
CYCONV_DW_TRANSPOSE(NAME, T, IT)                                                  \
                                                                                  \
/* band[r][c][lane] = pixel (first_row + r, c - pad_left) of the lane's        \
   channel spread `step_h` x `step_w` apart (the input gradient of a strided     \
   layer reads its output gradient so), zero between and outside; r < rows,     \
   c < band_w. */                                                                 \
static void NAME##_pack_band(const T *image, ptrdiff_t plane, ptrdiff_t height,   \
                             ptrdiff_t width, ptrdiff_t first, ptrdiff_t used,    \
                             ptrdiff_t multiplier, ptrdiff_t step_h, ptrdiff_t step_w, \
                             ptrdiff_t first_row, ptrdiff_t rows, ptrdiff_t pad_left, \
                             ptrdiff_t band_w, T *band)                           \
{                                                                                 \
    enum { lanes = CYCONV_DW_BYTES / sizeof(T) };                                 \
    const ptrdiff_t row_len = band_w * lanes;                                     \
    /* Columns c < kept land inside the band; rows [lo, hi) do. */               \
    ptrdiff_t kept = band_w > pad_left ? (band_w - pad_left + step_w - 1) / step_w : 0; \
    if (kept > width) kept = width;                                               \
    const ptrdiff_t lo = first_row > 0 ? (first_row + step_h - 1) / step_h : 0;   \
    ptrdiff_t hi = (first_row + rows - 1) / step_h + 1;                           \
    if (first_row + rows <= 0) hi = 0;                                            \
    if (hi > height) hi = height;                                                 \
    if (step_h > 1 || step_w > 1) {                                               \
        memset(band, 0, rows * row_len * sizeof(T));                              \
    } else {                                                                      \
        for (ptrdiff_t r = 0; r < rows; ++r) {                                    \
            T *dst = band + r * row_len;                                          \
            if (first_row + r < lo || first_row + r >= hi) {                      \
                memset(dst, 0, row_len * sizeof(T));                              \
                continue;                                                         \
            }                                                                     \
            memset(dst, 0, (pad_left < band_w ? pad_left : band_w) * lanes * sizeof(T)); \
            if (pad_left + kept < band_w)                                         \
                memset(dst + (pad_left + kept) * lanes, 0,                        \
                       (band_w - pad_left - kept) * lanes * sizeof(T));           \
        }                                                                         \
    }                                                                             \
    if (hi <= lo || kept <= 0) return;                                            \
    /* Lanes past `used` repeat the last channel: their weights are zero and     \
       their outputs are never written back. */                                   \
    const T *source[lanes];                                                       \
    for (ptrdiff_t l = 0; l < lanes; ++l)                                         \
        source[l] = image + (first + (l < used ? l : used - 1)) / multiplier * plane; \
    if (width >= lanes) {                                                         \
        /* Row by row, `lanes` pixels at a time, the last chunk of a row         \
           overlapping the one before. */                                         \
        for (ptrdiff_t row = lo; row < hi; ++row) {                               \
            T *dst = band + ((row * step_h - first_row) * band_w + pad_left) * lanes; \
            for (ptrdiff_t col = 0; col < kept; col += lanes) {                   \
                const ptrdiff_t at = col + lanes <= width ? col : width - lanes;  \
                NAME##_vec block[lanes];                                          \
                for (int l = 0; l < lanes; ++l)                                   \
                    memcpy(&block[l], source[l] + row * width + at, sizeof block[l]); \
                NAME##_transpose(block);                                          \
                for (int i = 0; i < lanes; ++i)                                   \
                    if (at + i < kept)                                            \
                        memcpy(dst + (at + i) * step_w * lanes, &block[i],        \
                               sizeof block[i]);                                  \
            }                                                                     \
        }                                                                         \
        return;                                                                   \
    }                                                                             \
    /* Rows narrower than a vector: their pixels are contiguous in every         \
       plane, `lanes` at a time, each stored where its row and column go. */     \
    const ptrdiff_t end = hi * width;                                             \
    ptrdiff_t q = lo * width, row = lo, col = 0;                                  \
    for (; q + lanes <= end; q += lanes) {                                        \
        NAME##_vec block[lanes];                                                  \
        for (int l = 0; l < lanes; ++l)                                           \
            memcpy(&block[l], source[l] + q, sizeof block[l]);                    \
        NAME##_transpose(block);                                                  \
        for (int i = 0; i < lanes; ++i) {                                         \
            if (col < kept)                                                       \
                memcpy(band + ((row * step_h - first_row) * band_w + pad_left     \
                               + col * step_w) * lanes, &block[i], sizeof block[i]); \
            if (++col == width) { col = 0; ++row; }                               \
        }                                                                         \
    }                                                                             \
    for (; q < end; ++q) {                                                        \
        if (col < kept) {                                                         \
            T *cell = band + ((row * step_h - first_row) * band_w + pad_left      \
                              + col * step_w) * lanes;                            \
            for (int l = 0; l < lanes; ++l) cell[l] = source[l][q];               \
        }                                                                         \
        if (++col == width) { col = 0; ++row; }                                   \
    }                                                                             \
}                                                                                 \
                                                                                  \
/* outputs[j] for j < count, output j at row j / out_w, column j % out_w:        \
   the taps read band + (row * stride_h * band_w + column * stride_w) * lanes    \
   + offsets[t]. */                                                               \
static void NAME##_band(const T *band, ptrdiff_t band_w, const ptrdiff_t *offsets, \
                        ptrdiff_t taps, const T *weights, const T *bias,          \
                        ptrdiff_t stride_h, ptrdiff_t stride_w, ptrdiff_t out_w,  \
                        ptrdiff_t count, T *outputs)                              \
{                                                                                 \
    enum { lanes = CYCONV_DW_BYTES / sizeof(T), pixels = CYCONV_DW_PIXELS };      \
    ptrdiff_t row = 0, col = 0;                                                   \
    for (ptrdiff_t j = 0; j < count; j += pixels) {                               \
        const T *base[pixels];                                                    \
        NAME##_vec acc[pixels], x, w;                                             \
        const ptrdiff_t done = count - j < pixels ? count - j : pixels;           \
        for (int p = 0; p < pixels; ++p) {                                        \
            /* A partial tile repeats its last output, stored once. */            \
            base[p] = band + (row * stride_h * band_w + col * stride_w) * lanes;  \
            memcpy(&acc[p], bias, sizeof acc[p]);                                 \
            if (p + 1 < done && ++col == out_w) { col = 0; ++row; }               \
        }                                                                         \
        if (done == pixels && ++col == out_w) { col = 0; ++row; }                 \
        for (ptrdiff_t t = 0; t < taps; ++t) {                                    \
            memcpy(&w, weights + t * lanes, sizeof w);                            \
            for (int p = 0; p < pixels; ++p) {                                    \
                memcpy(&x, base[p] + offsets[t], sizeof x);                       \
                CYCONV_DW_FMA(acc[p], x, w);                                      \
            }                                                                     \
        }                                                                         \
        memcpy(outputs + j * lanes, acc, done * sizeof acc[0]);                   \
    }                                                                             \
}                                                                                 \
                                                                                  \
/* grad_weight[t][lane] += sum_{j < count} grad_out[j][lane]                    \
   * band[base_j + offsets[t]][lane], bases as in _band, and                      \
   grad_bias[lane] += sum_j grad_out[j][lane]: the sums of a fixed order. */      \
static void NAME##_grad_weight_band(const T *band, ptrdiff_t band_w,             \
                                    const ptrdiff_t *offsets, ptrdiff_t taps,     \
                                    const T *grad_out, ptrdiff_t stride_h,        \
                                    ptrdiff_t stride_w, ptrdiff_t out_w,          \
                                    ptrdiff_t count, T *grad_weight, T *grad_bias) \
{                                                                                 \
    enum { lanes = CYCONV_DW_BYTES / sizeof(T), pixels = CYCONV_DW_PIXELS };      \
    ptrdiff_t row = 0, col = 0;                                                   \
    NAME##_vec bias_sum;                                                          \
    memcpy(&bias_sum, grad_bias, sizeof bias_sum);                                \
    for (ptrdiff_t j = 0; j < count; j += pixels) {                               \
        const T *base[pixels];                                                    \
        NAME##_vec g[pixels], x, acc[2], sum;                                     \
        const ptrdiff_t done = count - j < pixels ? count - j : pixels;           \
        for (int p = 0; p < pixels; ++p) {                                        \
            base[p] = band + (row * stride_h * band_w + col * stride_w) * lanes;  \
            if (p < done) memcpy(&g[p], grad_out + (j + p) * lanes, sizeof g[p]);  \
            if (p + 1 < done && ++col == out_w) { col = 0; ++row; }               \
        }                                                                         \
        if (done == pixels && ++col == out_w) { col = 0; ++row; }                 \
        for (int p = 0; p < done; ++p) CYCONV_DW_ADD(bias_sum, g[p]);             \
        for (ptrdiff_t t = 0; t < taps; ++t) {                                    \
            memset(acc, 0, sizeof acc);                                           \
            /* A partial tile multiplies only its pixels: 0 * inf is NaN. */      \
            if (done == pixels)                                                   \
                for (int p = 0; p < pixels; ++p) {                                \
                    memcpy(&x, base[p] + offsets[t], sizeof x);                   \
                    CYCONV_DW_FMA(acc[p & 1], x, g[p]);                           \
                }                                                                 \
            else                                                                  \
                for (int p = 0; p < done; ++p) {                                  \
                    memcpy(&x, base[p] + offsets[t], sizeof x);                   \
                    CYCONV_DW_FMA(acc[p & 1], x, g[p]);                           \
                }                                                                 \
            memcpy(&sum, grad_weight + t * lanes, sizeof sum);                    \
            CYCONV_DW_ADD(acc[0], acc[1]);                                        \
            CYCONV_DW_ADD(sum, acc[0]);                                           \
            memcpy(grad_weight + t * lanes, &sum, sizeof sum);                    \
        }                                                                         \
    }                                                                             \
    memcpy(grad_bias, &bias_sum, sizeof bias_sum);                                \
}                                                                                 \
                                                                                  \
/* Plane (first + l) at pixel start + j = outputs[j][l], j < count, l < used. */  \
static void NAME##_unpack_band(const T *outputs, ptrdiff_t count, T *image,       \
                               ptrdiff_t plane, ptrdiff_t first, ptrdiff_t used,  \
                               ptrdiff_t start)                                   \
{                                                                                 \
    enum { lanes = CYCONV_DW_BYTES / sizeof(T) };                                 \
    ptrdiff_t j = 0;                                                              \
    for (; j + lanes <= count; j += lanes) {                                      \
        NAME##_vec block[lanes];                                                  \
        for (int i = 0; i < lanes; ++i)                                           \
            memcpy(&block[i], outputs + (j + i) * lanes, sizeof block[i]);        \
        NAME##_transpose(block);                                                  \
        if (used == lanes)                                                        \
            for (int l = 0; l < lanes; ++l)                                       \
                memcpy(image + (first + l) * plane + start + j, &block[l],        \
                       sizeof block[l]);                                          \
        else                                                                      \
            for (ptrdiff_t l = 0; l < used; ++l)                                  \
                memcpy(image + (first + l) * plane + start + j, &block[l],        \
                       sizeof block[l]);                                          \
    }                                                                             \
    for (ptrdiff_t l = 0; l < used; ++l)                                          \
        for (ptrdiff_t i = j; i < count; ++i)                                     \
            image[(first + l) * plane + start + i] = outputs[i * lanes + l];      \
}

#if CYCONV_VECTOR_EXT
#  define CYCONV_DW_FMA(acc, x, w) ((acc) += (x) * (w))
#  define CYCONV_DW_ADD(acc, x) ((acc) += (x))
#else
#  define CYCONV_DW_FMA(acc, x, w)                                                \
    do { for (size_t l_ = 0; l_ < sizeof (acc).v / sizeof (acc).v[0]; ++l_)       \
             (acc).v[l_] += (x).v[l_] * (w).v[l_]; } while (0)
#  define CYCONV_DW_ADD(acc, x)                                                   \
    do { for (size_t l_ = 0; l_ < sizeof (acc).v / sizeof (acc).v[0]; ++l_)       \
             (acc).v[l_] += (x).v[l_]; } while (0)
#endif

CYCONV_DEFINE_DEPTHWISE(cyconv_depthwise_f32, float, int32_t)
CYCONV_DEFINE_DEPTHWISE(cyconv_depthwise_f64, double, int64_t)

#endif
