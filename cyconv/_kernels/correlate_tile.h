/*
 * Register-tiled 'valid' 2-D correlation for float and double:
 *
 *     out[r, c] = sum_{j < kernel_h, k < kernel_w} src[r + j, c + k] * kernel[j, k]
 *
 * Written with GCC/Clang vector extensions because gcc does not keep a tile of
 * accumulators in registers when the same loop is written in Cython (it
 * vectorises the wrong loop and spills).  A tile is TILE_ROWS output rows by
 * two vectors of columns; every input vector that is loaded feeds all the
 * output rows of the tile that use it, so the loop is bound by FMA throughput
 * rather than by loads.  The vector width follows the instruction set the file
 * is compiled for (-march), which is how the SIMD variants differ.
 * Compilers without vector extensions get the scalar loops only.
 */
#ifndef CYCONV_CORRELATE_TILE_H
#define CYCONV_CORRELATE_TILE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#  define CYCONV_VECTOR_EXT 1
#  if defined(__AVX512F__)
#    define CYCONV_VEC_BYTES 64
#  elif defined(__AVX__)
#    define CYCONV_VEC_BYTES 32
#  else
#    define CYCONV_VEC_BYTES 16
#  endif
#  define CYCONV_INLINE static inline __attribute__((always_inline))
#else
#  define CYCONV_VECTOR_EXT 0
#  define CYCONV_INLINE static inline
#endif

#define CYCONV_TILE_ROWS 4
/* Vectors of one output row summed side by side for a one-row kernel. */
#define CYCONV_ROW_VECTORS 8
#if CYCONV_VECTOR_EXT
/* Bytes of one row of a whole tile: outputs this wide need no narrow passes. */
#  define CYCONV_TILE_BYTES (2 * CYCONV_VEC_BYTES)
#else
#  define CYCONV_TILE_BYTES 16
#endif

/* acc + a * b rounded as the vector loops round it: fused where the
   instruction set has fused multiply-adds (gcc contracts the vector loops but
   not always the scalar one, whose products it may vectorise apart from the
   sums), so an output's value does not depend on which loop computed it. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__FMA__)
#  define CYCONV_MULADD(T, a, b, acc)                                            \
    (sizeof(T) == sizeof(float) ? (T)__builtin_fmaf((float)(a), (float)(b), (float)(acc)) \
                                : (T)__builtin_fma((double)(a), (double)(b), (double)(acc)))
#else
#  define CYCONV_MULADD(T, a, b, acc) ((acc) + (a) * (b))
#endif

/* One output element, for the tile remainders; `result` is added to when
   `accumulate` is set. */
#define CYCONV_SCALAR_DOT(T, src, ld_src, kernel, kernel_h, kernel_w, r, c, result, accumulate) \
    do {                                                                         \
        T acc_ = (accumulate) ? (result) : (T)0;                                 \
        for (ptrdiff_t j_ = 0; j_ < (kernel_h); ++j_) {                          \
            const T *row_ = (src) + ((r) + j_) * (ld_src) + (c);                \
            const T *w_ = (kernel) + j_ * (kernel_w);                           \
            for (ptrdiff_t k_ = 0; k_ < (kernel_w); ++k_)                     \
                acc_ = CYCONV_MULADD(T, row_[k_], w_[k_], acc_);                 \
        }                                                                        \
        (result) = acc_;                                                         \
    } while (0)

#if CYCONV_VECTOR_EXT

/* Columns [c0, c0 + n * lanes) of every row, one vector of type VT at a time,
   for the strips narrower than a whole tile; returns the first column left. */
#define CYCONV_DEFINE_NARROW(FNAME, T, VT, VBYTES)                                \
static ptrdiff_t FNAME(const T *src, ptrdiff_t ld_src, const T *kernel,           \
        ptrdiff_t kernel_h, ptrdiff_t kernel_w, T *out, ptrdiff_t ld_out,         \
        ptrdiff_t rows, ptrdiff_t c0, ptrdiff_t cols, int accumulate)             \
{                                                                                 \
    const ptrdiff_t lanes = (VBYTES) / (ptrdiff_t)sizeof(T);                      \
    const ptrdiff_t c_end = c0 + (cols - c0) / lanes * lanes;                     \
    for (ptrdiff_t c = c0; c < c_end; c += lanes)                                 \
        for (ptrdiff_t r = 0; r < rows; ++r) {                                    \
            VT acc, x;                                                            \
            if (accumulate) memcpy(&acc, out + r * ld_out + c, sizeof acc);       \
            else memset(&acc, 0, sizeof acc);                                     \
            for (ptrdiff_t j = 0; j < kernel_h; ++j) {                            \
                const T *row = src + (r + j) * ld_src + c;                        \
                const T *w = kernel + j * kernel_w;                               \
                for (ptrdiff_t k = 0; k < kernel_w; ++k) {                        \
                    memcpy(&x, row + k, sizeof x);                                \
                    acc += x * w[k];                                              \
                }                                                                 \
            }                                                                     \
            memcpy(out + r * ld_out + c, &acc, sizeof acc);                       \
        }                                                                         \
    return c_end;                                                                 \
}

#define CYCONV_DEFINE_VALID_CORR(NAME, T)                                         \
typedef T NAME##_vec __attribute__((vector_size(CYCONV_VEC_BYTES)));              \
typedef T NAME##_half __attribute__((vector_size(CYCONV_VEC_BYTES / 2)));         \
enum { NAME##_lanes = CYCONV_VEC_BYTES / sizeof(T) };                             \
                                                                                  \
CYCONV_INLINE NAME##_vec NAME##_load(const T *p) {                               \
    NAME##_vec v; memcpy(&v, p, sizeof v); return v;                              \
}                                                                                 \
CYCONV_INLINE void NAME##_store(T *p, NAME##_vec v) { memcpy(p, &v, sizeof v); }  \
                                                                                  \
/* Accumulate input row `j` of a 4-row tile into the rows that use it. */        \
CYCONV_INLINE void NAME##_tile_row(const T *srow, const T *kernel,                \
        ptrdiff_t kernel_h, ptrdiff_t kernel_w, ptrdiff_t j, NAME##_vec acc[4][2]) \
{                                                                                 \
    const int use0 = j < kernel_h;                                                \
    const int use1 = j >= 1 && j - 1 < kernel_h;                                  \
    const int use2 = j >= 2 && j - 2 < kernel_h;                                  \
    const int use3 = j >= 3 && j - 3 < kernel_h;                                  \
    if (use0 && use1 && use2 && use3) {                                           \
        const T *w0 = kernel + j * kernel_w, *w1 = w0 - kernel_w;                 \
        const T *w2 = w1 - kernel_w, *w3 = w2 - kernel_w;                         \
        for (ptrdiff_t k = 0; k < kernel_w; ++k) {                                \
            NAME##_vec x0 = NAME##_load(srow + k);                                \
            NAME##_vec x1 = NAME##_load(srow + k + NAME##_lanes);                 \
            acc[0][0] += x0 * w0[k]; acc[0][1] += x1 * w0[k];                     \
            acc[1][0] += x0 * w1[k]; acc[1][1] += x1 * w1[k];                     \
            acc[2][0] += x0 * w2[k]; acc[2][1] += x1 * w2[k];                     \
            acc[3][0] += x0 * w3[k]; acc[3][1] += x1 * w3[k];                     \
        }                                                                         \
        return;                                                                   \
    }                                                                             \
    for (ptrdiff_t k = 0; k < kernel_w; ++k) {                                    \
        NAME##_vec x0 = NAME##_load(srow + k);                                    \
        NAME##_vec x1 = NAME##_load(srow + k + NAME##_lanes);                     \
        if (use0) { T w = kernel[j * kernel_w + k];                               \
                    acc[0][0] += x0 * w; acc[0][1] += x1 * w; }                   \
        if (use1) { T w = kernel[(j - 1) * kernel_w + k];                         \
                    acc[1][0] += x0 * w; acc[1][1] += x1 * w; }                   \
        if (use2) { T w = kernel[(j - 2) * kernel_w + k];                         \
                    acc[2][0] += x0 * w; acc[2][1] += x1 * w; }                   \
        if (use3) { T w = kernel[(j - 3) * kernel_w + k];                         \
                    acc[3][0] += x0 * w; acc[3][1] += x1 * w; }                   \
    }                                                                             \
}                                                                                 \
                                                                                  \
/* Output rows [r, r + 4), column tiles [0, vec_cols); inlined with a        \
   constant kernel_w for the common widths so the tap loop unrolls. */          \
CYCONV_INLINE void NAME##_rows4(const T *src, ptrdiff_t ld_src, const T *kernel,  \
        ptrdiff_t kernel_h, ptrdiff_t kernel_w, T *out, ptrdiff_t ld_out,         \
        ptrdiff_t r, ptrdiff_t vec_cols, int accumulate)                          \
{                                                                                 \
    for (ptrdiff_t c = 0; c < vec_cols; c += 2 * NAME##_lanes) {                  \
        NAME##_vec acc[4][2];                                                     \
        memset(acc, 0, sizeof acc);                                               \
        if (accumulate)                                                           \
            for (int i = 0; i < CYCONV_TILE_ROWS; ++i) {                          \
                acc[i][0] = NAME##_load(out + (r + i) * ld_out + c);              \
                acc[i][1] = NAME##_load(out + (r + i) * ld_out + c + NAME##_lanes); \
            }                                                                     \
        for (ptrdiff_t j = 0; j < kernel_h + CYCONV_TILE_ROWS - 1; ++j)           \
            NAME##_tile_row(src + (r + j) * ld_src + c, kernel,                   \
                            kernel_h, kernel_w, j, acc);                          \
        for (int i = 0; i < CYCONV_TILE_ROWS; ++i) {                              \
            NAME##_store(out + (r + i) * ld_out + c, acc[i][0]);                  \
            NAME##_store(out + (r + i) * ld_out + c + NAME##_lanes, acc[i][1]);   \
        }                                                                         \
    }                                                                             \
}                                                                                 \
                                                                                  \
CYCONV_DEFINE_NARROW(NAME##_narrow_full, T, NAME##_vec, CYCONV_VEC_BYTES)          \
CYCONV_DEFINE_NARROW(NAME##_narrow_half, T, NAME##_half, CYCONV_VEC_BYTES / 2)    \
                                                                                  \
/* A kernel of one row: each output row on its own, `vectors` vectors of     \
   columns at a time, so that as many independent sums hide the latency of   \
   the multiply-adds (the 4-row tile has only two per input row here, and    \
   ran at a quarter of the FMA throughput).  Inlined with a constant count. */ \
CYCONV_INLINE ptrdiff_t NAME##_row_vectors(const T *src, const T *kernel,         \
        ptrdiff_t kernel_w, T *out, ptrdiff_t c, ptrdiff_t cols, int accumulate,  \
        const int vectors)                                                        \
{                                                                                 \
    const ptrdiff_t wide = vectors * NAME##_lanes;                                \
    for (; c + wide <= cols; c += wide) {                                         \
        NAME##_vec acc[CYCONV_ROW_VECTORS];                                       \
        for (int v = 0; v < vectors; ++v)                                         \
            acc[v] = accumulate ? NAME##_load(out + c + v * NAME##_lanes)         \
                                : (NAME##_vec){0};                                \
        for (ptrdiff_t k = 0; k < kernel_w; ++k) {                                \
            const T w = kernel[k];                                                \
            for (int v = 0; v < vectors; ++v)                                     \
                acc[v] += NAME##_load(src + c + k + v * NAME##_lanes) * w;        \
        }                                                                         \
        for (int v = 0; v < vectors; ++v)                                         \
            NAME##_store(out + c + v * NAME##_lanes, acc[v]);                     \
    }                                                                             \
    return c;                                                                     \
}                                                                                 \
                                                                                  \
/* The columns of one output row in chunks of CYCONV_ROW_VECTORS vectors,    \
   then of 4 and 2: rows a few hundred columns wide (the planes of a stack)    \
   would otherwise leave up to half their columns to one dependent chain of   \
   multiply-adds per vector (256-wide float32 rows: 112 of 240 columns). */    \
CYCONV_INLINE ptrdiff_t NAME##_one_row(const T *src, const T *kernel,            \
        ptrdiff_t kernel_w, T *out, ptrdiff_t cols, int accumulate)               \
{                                                                                 \
    ptrdiff_t c = NAME##_row_vectors(src, kernel, kernel_w, out, 0, cols,         \
                                     accumulate, CYCONV_ROW_VECTORS);             \
    c = NAME##_row_vectors(src, kernel, kernel_w, out, c, cols, accumulate, 4);   \
    return NAME##_row_vectors(src, kernel, kernel_w, out, c, cols, accumulate, 2); \
}                                                                                 \
                                                                                  \
/* Output rows [r, r + 4) of the whole tiles, kernel_w a constant for the     \
   common widths so that the tap loop unrolls, and kernel_h too for the square \
   3x3 and 5x5 (5x5 float32 on 240x320: 48 us against 55 us, AVX-512). */    \
CYCONV_INLINE void NAME##_rows4_any(const T *src, ptrdiff_t ld_src, const T *kernel, \
        ptrdiff_t kernel_h, ptrdiff_t kernel_w, T *out, ptrdiff_t ld_out,         \
        ptrdiff_t r, ptrdiff_t vec_cols, int accumulate)                          \
{                                                                                 \
    switch (kernel_w) {                                                           \
    case 1: NAME##_rows4(src, ld_src, kernel, kernel_h, 1, out, ld_out, r, vec_cols, accumulate); break; \
    case 2: NAME##_rows4(src, ld_src, kernel, kernel_h, 2, out, ld_out, r, vec_cols, accumulate); break; \
    case 3:                                                                       \
        if (kernel_h == 3) NAME##_rows4(src, ld_src, kernel, 3, 3, out, ld_out, r, vec_cols, accumulate); \
        else NAME##_rows4(src, ld_src, kernel, kernel_h, 3, out, ld_out, r, vec_cols, accumulate); \
        break;                                                                    \
    case 5:                                                                       \
        if (kernel_h == 5) NAME##_rows4(src, ld_src, kernel, 5, 5, out, ld_out, r, vec_cols, accumulate); \
        else NAME##_rows4(src, ld_src, kernel, kernel_h, 5, out, ld_out, r, vec_cols, accumulate); \
        break;                                                                    \
    default: NAME##_rows4(src, ld_src, kernel, kernel_h, kernel_w, out, ld_out, r, vec_cols, accumulate); \
    }                                                                             \
}                                                                                 \
                                                                                  \
/* One output row of whole tiles, two vectors at a time (the rows left over   \
   from the 4-row tiles). */                                                   \
CYCONV_INLINE void NAME##_row2(const T *src, ptrdiff_t ld_src, const T *kernel,   \
        ptrdiff_t kernel_h, ptrdiff_t kernel_w, T *out, ptrdiff_t vec_cols,       \
        int accumulate)                                                           \
{                                                                                 \
    for (ptrdiff_t c = 0; c < vec_cols; c += 2 * NAME##_lanes) {                  \
        NAME##_vec acc0 = {0}, acc1 = {0};                                        \
        if (accumulate) {                                                         \
            acc0 = NAME##_load(out + c);                                          \
            acc1 = NAME##_load(out + c + NAME##_lanes);                           \
        }                                                                         \
        for (ptrdiff_t j = 0; j < kernel_h; ++j) {                                \
            const T *srow = src + j * ld_src + c;                                 \
            const T *w = kernel + j * kernel_w;                                   \
            for (ptrdiff_t k = 0; k < kernel_w; ++k) {                            \
                acc0 += NAME##_load(srow + k) * w[k];                             \
                acc1 += NAME##_load(srow + k + NAME##_lanes) * w[k];              \
            }                                                                     \
        }                                                                         \
        NAME##_store(out + c, acc0);                                              \
        NAME##_store(out + c + NAME##_lanes, acc1);                               \
    }                                                                             \
}                                                                                 \
                                                                                  \
/* Rows [r0, r0 + n) (n <= 4) of whole tiles: the 4-row tile or single rows. */  \
CYCONV_INLINE void NAME##_rows(const T *src, ptrdiff_t ld_src, const T *kernel,   \
        ptrdiff_t kernel_h, ptrdiff_t kernel_w, T *out, ptrdiff_t ld_out,         \
        ptrdiff_t r0, ptrdiff_t n, ptrdiff_t vec_cols, int accumulate)            \
{                                                                                 \
    if (kernel_h == 1) {                                                          \
        for (ptrdiff_t r = r0; r < r0 + n; ++r)                                   \
            NAME##_one_row(src + r * ld_src, kernel, kernel_w, out + r * ld_out,  \
                           vec_cols, accumulate);                                 \
    } else if (n == CYCONV_TILE_ROWS) {                                           \
        NAME##_rows4_any(src, ld_src, kernel, kernel_h, kernel_w, out, ld_out,    \
                         r0, vec_cols, accumulate);                               \
    } else {                                                                      \
        for (ptrdiff_t r = r0; r < r0 + n; ++r)                                   \
            NAME##_row2(src + r * ld_src, ld_src, kernel, kernel_h, kernel_w,     \
                        out + r * ld_out, vec_cols, accumulate);                  \
    }                                                                             \
}                                                                                 \
                                                                                  \
static void NAME(const T *src, ptrdiff_t ld_src, const T *kernel,                 \
                 ptrdiff_t kernel_h, ptrdiff_t kernel_w,                          \
                 T *out, ptrdiff_t ld_out, ptrdiff_t rows, ptrdiff_t cols,        \
                 int accumulate)                                                  \
{                                                                                 \
    const ptrdiff_t tile_cols = 2 * NAME##_lanes;                                 \
    const ptrdiff_t vec_cols = cols - cols % tile_cols;                           \
    if (vec_cols == 0) {                                                          \
        /* Narrower than a tile: one vector, then half a vector, then scalars. */ \
        ptrdiff_t c = NAME##_narrow_full(src, ld_src, kernel, kernel_h, kernel_w, \
                                         out, ld_out, rows, 0, cols, accumulate); \
        c = NAME##_narrow_half(src, ld_src, kernel, kernel_h, kernel_w, out,      \
                               ld_out, rows, c, cols, accumulate);                \
        for (ptrdiff_t rr = 0; rr < rows; ++rr)                                   \
            for (ptrdiff_t cc = c; cc < cols; ++cc)                               \
                CYCONV_SCALAR_DOT(T, src, ld_src, kernel, kernel_h, kernel_w, rr, \
                                  cc, out[rr * ld_out + cc], accumulate);         \
        return;                                                                   \
    }                                                                             \
    for (ptrdiff_t r = 0; r < rows; r += CYCONV_TILE_ROWS) {                      \
        const ptrdiff_t n = rows - r < CYCONV_TILE_ROWS ? rows - r : CYCONV_TILE_ROWS; \
        NAME##_rows(src, ld_src, kernel, kernel_h, kernel_w, out, ld_out, r, n,   \
                    vec_cols, accumulate);                                        \
        if (vec_cols == cols) continue;                                           \
        /* The columns past the last whole tile: the last tile_cols columns     \
           again, into a scratch tile (starting from `out` when accumulating),   \
           of which only those columns are kept.  Each output's sum runs in the  \
           order of the whole tiles, so it is the same wherever it falls (a     \
           chunk's edge and the whole array agree); the narrow loops had cost   \
           half the time of a 3x3 correlation 318 columns wide. */              \
        const ptrdiff_t c_last = cols - tile_cols;                                \
        T scratch[CYCONV_TILE_ROWS * 2 * NAME##_lanes];                           \
        for (ptrdiff_t i = 0; i < n; ++i)                                         \
            if (accumulate)                                                       \
                memcpy(scratch + i * tile_cols, out + (r + i) * ld_out + c_last,  \
                       tile_cols * sizeof(T));                                    \
        NAME##_rows(src + r * ld_src + c_last, ld_src, kernel, kernel_h, kernel_w, \
                    scratch, tile_cols, 0, n, tile_cols, accumulate);             \
        for (ptrdiff_t i = 0; i < n; ++i)                                         \
            memcpy(out + (r + i) * ld_out + vec_cols,                             \
                   scratch + i * tile_cols + (vec_cols - c_last),                 \
                   (cols - vec_cols) * sizeof(T));                                \
    }                                                                             \
}

#else  /* no vector extensions: scalar loops */

#define CYCONV_DEFINE_VALID_CORR(NAME, T)                                         \
static void NAME(const T *src, ptrdiff_t ld_src, const T *kernel,                 \
                 ptrdiff_t kernel_h, ptrdiff_t kernel_w,                          \
                 T *out, ptrdiff_t ld_out, ptrdiff_t rows, ptrdiff_t cols,        \
                 int accumulate)                                                  \
{                                                                                 \
    for (ptrdiff_t r = 0; r < rows; ++r)                                          \
        for (ptrdiff_t c = 0; c < cols; ++c)                                      \
            CYCONV_SCALAR_DOT(T, src, ld_src, kernel, kernel_h, kernel_w, r, c,   \
                              out[r * ld_out + c], accumulate);                   \
}

#endif

CYCONV_DEFINE_VALID_CORR(cyconv_valid_corr_f32, float)
CYCONV_DEFINE_VALID_CORR(cyconv_valid_corr_f64, double)

/*
 * The small 'valid' correlation of a convolution's weight gradient:
 *
 *     out[j * kernel_w + k] = sum_{r < rows, c < cols} grad[r, c] * src[r + j, c + k]
 *
 * The kernel (here the output gradient) is as large as the output and the
 * result is kernel_h x kernel_w, so the tile kernel above does not fit: each
 * loaded gradient vector instead feeds one accumulator per tap of a kernel
 * row.  Rows of both operands are read in whole vectors, up to `cols`
 * rounded up (callers leave room); lanes are summed in a fixed order, so the
 * result does not depend on anything but the operands.  cyconv_sum, the bias gradient's
 * plane sum, takes whole vectors likewise.
 */
#if CYCONV_VECTOR_EXT
/* Taps of one kernel row accumulated together, in registers. */
#  define CYCONV_WEIGHT_TAPS 8
#  define CYCONV_WEIGHT_LANES(T) (CYCONV_VEC_BYTES / (ptrdiff_t)sizeof(T))
/* Bytes the gradient columns given to cyconv_weight_corr come in multiples of. */
#  define CYCONV_WEIGHT_COL_BYTES CYCONV_VEC_BYTES

#define CYCONV_DEFINE_WEIGHT_CORR(NAME, T, IT)                                    \
typedef T NAME##_vec __attribute__((vector_size(CYCONV_VEC_BYTES)));              \
typedef IT NAME##_bits __attribute__((vector_size(CYCONV_VEC_BYTES)));            \
                                                                                  \
/* Taps [k0, k0 + taps) of kernel row j; inlined with constant `taps`. */        \
CYCONV_INLINE void NAME##_taps(const T *src, ptrdiff_t ld_src, const T *grad,     \
        ptrdiff_t ld_grad, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t j,           \
        ptrdiff_t k0, ptrdiff_t taps, T *out)                                     \
{                                                                                 \
    const ptrdiff_t lanes = CYCONV_WEIGHT_LANES(T);                               \
    const ptrdiff_t whole = cols - cols % lanes;                                  \
    NAME##_vec acc[CYCONV_WEIGHT_TAPS], g, x;                                     \
    NAME##_bits valid, product;                                                   \
    for (ptrdiff_t lane = 0; lane < lanes; ++lane)                                \
        valid[lane] = whole + lane < cols ? -1 : 0;                               \
    memset(acc, 0, sizeof acc);                                                   \
    for (ptrdiff_t r = 0; r < rows; ++r) {                                        \
        const T *grow = grad + r * ld_grad;                                       \
        const T *srow = src + (r + j) * ld_src + k0;                              \
        for (ptrdiff_t c = 0; c < whole; c += lanes) {                            \
            memcpy(&g, grow + c, sizeof g);                                       \
            for (ptrdiff_t k = 0; k < taps; ++k) {                                \
                memcpy(&x, srow + c + k, sizeof x);                               \
                acc[k] += g * x;                                                  \
            }                                                                     \
        }                                                                         \
        if (whole == cols) continue;                                              \
        /* The partial vector: lanes past `cols` are dropped from the products,  \
           so whatever the buffers hold there (even inf or NaN) adds nothing. */  \
        memcpy(&g, grow + whole, sizeof g);                                       \
        for (ptrdiff_t k = 0; k < taps; ++k) {                                    \
            memcpy(&x, srow + whole + k, sizeof x);                               \
            x *= g;                                                               \
            memcpy(&product, &x, sizeof x);                                       \
            product &= valid;                                                     \
            memcpy(&x, &product, sizeof x);                                       \
            acc[k] += x;                                                          \
        }                                                                         \
    }                                                                             \
    for (ptrdiff_t k = 0; k < taps; ++k) {                                        \
        T total = 0;                                                              \
        for (ptrdiff_t lane = 0; lane < lanes; ++lane)                            \
            total += acc[k][lane];                                                \
        out[k] = total;                                                           \
    }                                                                             \
}                                                                                 \
                                                                                  \
static inline void NAME(const T *src, ptrdiff_t ld_src, const T *grad, ptrdiff_t ld_grad, \
                 ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t kernel_h,              \
                 ptrdiff_t kernel_w, T *out)                                      \
{                                                                                 \
    for (ptrdiff_t j = 0; j < kernel_h; ++j) {                                    \
        T *out_row = out + j * kernel_w;                                          \
        switch (kernel_w) {                                                       \
        case 1: NAME##_taps(src, ld_src, grad, ld_grad, rows, cols, j, 0, 1, out_row); break; \
        case 2: NAME##_taps(src, ld_src, grad, ld_grad, rows, cols, j, 0, 2, out_row); break; \
        case 3: NAME##_taps(src, ld_src, grad, ld_grad, rows, cols, j, 0, 3, out_row); break; \
        case 5: NAME##_taps(src, ld_src, grad, ld_grad, rows, cols, j, 0, 5, out_row); break; \
        case 7: NAME##_taps(src, ld_src, grad, ld_grad, rows, cols, j, 0, 7, out_row); break; \
        default:                                                                  \
            for (ptrdiff_t k0 = 0; k0 < kernel_w; k0 += CYCONV_WEIGHT_TAPS) {     \
                ptrdiff_t taps = kernel_w - k0;                                   \
                NAME##_taps(src, ld_src, grad, ld_grad, rows, cols, j, k0,        \
                            taps < CYCONV_WEIGHT_TAPS ? taps : CYCONV_WEIGHT_TAPS, \
                            out_row + k0);                                        \
            }                                                                     \
        }                                                                         \
    }                                                                             \
}

/* The sum of `count` elements, a whole number of vectors; lanes in a fixed order. */
#define CYCONV_DEFINE_SUM(NAME, T)                                                \
static inline T NAME(const T *data, ptrdiff_t count)                                   \
{                                                                                 \
    typedef T vec __attribute__((vector_size(CYCONV_VEC_BYTES)));                 \
    vec acc = {0}, v;                                                             \
    T total = 0;                                                                  \
    for (ptrdiff_t i = 0; i < count; i += CYCONV_WEIGHT_LANES(T)) {               \
        memcpy(&v, data + i, sizeof v);                                           \
        acc += v;                                                                 \
    }                                                                             \
    for (ptrdiff_t lane = 0; lane < CYCONV_WEIGHT_LANES(T); ++lane)               \
        total += acc[lane];                                                       \
    return total;                                                                 \
}

/* dst[i] = src[i] (+ shift when `add`) for i < count, non-overlapping rows.
   Rows at least a vector long are done in whole vectors, the last one
   overlapping the one before, so short rows need no scalar tail. */
#define CYCONV_DEFINE_COPY_ROW(NAME, T)                                           \
CYCONV_INLINE void NAME(T *dst, const T *src, ptrdiff_t count, int add, T shift)  \
{                                                                                 \
    typedef T vec __attribute__((vector_size(CYCONV_VEC_BYTES)));                 \
    const ptrdiff_t lanes = CYCONV_WEIGHT_LANES(T);                               \
    vec v;                                                                        \
    if (count < lanes) {                                                          \
        for (ptrdiff_t i = 0; i < count; ++i) dst[i] = add ? src[i] + shift : src[i]; \
        return;                                                                   \
    }                                                                             \
    for (ptrdiff_t i = 0;; i += lanes) {                                          \
        if (i > count - lanes) i = count - lanes;                                 \
        memcpy(&v, src + i, sizeof v);                                            \
        if (add) v += shift;                                                      \
        memcpy(dst + i, &v, sizeof v);                                            \
        if (i == count - lanes) return;                                           \
    }                                                                             \
}

#else  /* no vector extensions: scalar loops */

#  define CYCONV_WEIGHT_COL_BYTES 1

#define CYCONV_DEFINE_COPY_ROW(NAME, T)                                           \
CYCONV_INLINE void NAME(T *dst, const T *src, ptrdiff_t count, int add, T shift)  \
{                                                                                 \
    for (ptrdiff_t i = 0; i < count; ++i) dst[i] = add ? src[i] + shift : src[i]; \
}

#define CYCONV_DEFINE_SUM(NAME, T)                                                \
static inline T NAME(const T *data, ptrdiff_t count)                                   \
{                                                                                 \
    T total = 0;                                                                  \
    for (ptrdiff_t i = 0; i < count; ++i) total += data[i];                       \
    return total;                                                                 \
}

#define CYCONV_DEFINE_WEIGHT_CORR(NAME, T, IT)                                    \
static inline void NAME(const T *src, ptrdiff_t ld_src, const T *grad, ptrdiff_t ld_grad, \
                 ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t kernel_h,              \
                 ptrdiff_t kernel_w, T *out)                                      \
{                                                                                 \
    for (ptrdiff_t j = 0; j < kernel_h; ++j)                                      \
        for (ptrdiff_t k = 0; k < kernel_w; ++k) {                                \
            T total = 0;                                                          \
            for (ptrdiff_t r = 0; r < rows; ++r)                                  \
                for (ptrdiff_t c = 0; c < cols; ++c)                              \
                    total += grad[r * ld_grad + c] * src[(r + j) * ld_src + c + k]; \
            out[j * kernel_w + k] = total;                                        \
        }                                                                         \
}

#endif

CYCONV_DEFINE_WEIGHT_CORR(cyconv_weight_corr_f32, float, int32_t)
CYCONV_DEFINE_WEIGHT_CORR(cyconv_weight_corr_f64, double, int64_t)
CYCONV_DEFINE_SUM(cyconv_sum_f32, float)
CYCONV_DEFINE_SUM(cyconv_sum_f64, double)
CYCONV_DEFINE_COPY_ROW(cyconv_copy_row_f32, float)
CYCONV_DEFINE_COPY_ROW(cyconv_copy_row_f64, double)


#ifndef CYCONV_BUILD_FLAGS  /* setup.py defines it; other builds report nothing */
#  define CYCONV_BUILD_FLAGS ""
#endif

#if defined(__AVX512F__)
#  define CYCONV_SIMD_LEVEL "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#  define CYCONV_SIMD_LEVEL "avx2"
#elif defined(__x86_64__) || defined(_M_X64)
#  define CYCONV_SIMD_LEVEL "baseline (sse2)"
#else
#  define CYCONV_SIMD_LEVEL "baseline"
#endif

#endif
