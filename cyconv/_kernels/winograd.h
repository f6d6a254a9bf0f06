/*
 * Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms (Lavin & Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2016).  A 2x2 block of a
 * 3x3 stride-1 convolution's output is
 *
 *     Y = A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A
 *
 * over the 4x4 input tiles d_c (tiles overlap by two pixels) and the 3x3
 * kernels g_c, with
 *
 *     B^T = [1  0 -1  0]    A^T = [1  1  1  0]
 *           [0  1  1  0]          [0  1 -1 -1]
 *           [0 -1  1  0]
 *           [0  1  0 -1]
 *
 * so the 36 multiplies per output block become 16, and the sum over
 * channels of each of the 16 elementwise products is one GEMM.  B and A
 * hold only 0 and +-1: the transforms are additions, and output pixel (i, j)
 * of a block reads rows i..i+2 and columns j..j+2 of its tile only, as the
 * direct convolution does.
 *
 * The padded input plane is stored as its four polyphase parts: part (a, b)
 * holds pixels (2 * i + a, 2 * k + b) at i * half_ld + k.  Tile t = i *
 * half_ld + k then reads pixel (2 * i + p, 2 * k + q) at a constant offset
 * from t in part (p % 2, q % 2), so a run of tiles (whole tile rows, plus one
 * tile per row at k = half_ld - 1 whose results are discarded) is one loop
 * over contiguous arrays, which gcc vectorises at each module's
 * instruction-set level.
 *
 * F(4x4, 3x3) (float64) is the same with 6x6 input tiles overlapping by two
 * pixels, 4x4 output blocks and 36 products instead of 144:
 *
 *     B^T = [4  0 -5  0  1  0]    G = [ 1/4     0    0]    A^T = [1 1  1 1  1 0]
 *           [0 -4 -4  1  1  0]        [-1/6 -1/6 -1/6]          [0 1 -1 2 -2 0]
 *           [0  4 -4 -1  1  0]        [-1/6  1/6 -1/6]          [0 1  1 4  4 0]
 *           [0 -2 -1  2  1  0]        [1/24 1/12  1/6]          [0 1 -1 8 -8 1]
 *           [0  2 -1 -2  1  0]        [1/24 -1/12 1/6]
 *           [0  4  0 -5  0  1]        [   0     0    1]
 *
 * and the plane stored as its sixteen 4x4 polyphase parts: part (a, b) at
 * (4a + b) * part_len holds pixel (4i + a, 4k + b) at i * part_ld + k.
 *
 * The F(2x2, 3x3) weight gradient of a 3x3 kernel is then
 *
 *     dg = G^T [ sum_tiles (A dy A^T) . (B^T d B) ] G
 *
 * with dy the 2x2 block of the output gradient a tile computes: the same
 * input transform, A's adjoint for the output gradient, and one GEMM per
 * element summing over the tiles.
 */
#ifndef CYCONV_WINOGRAD_H
#define CYCONV_WINOGRAD_H

#include <stddef.h>
#include <string.h>

/* The loops below write several rows of one buffer (ld_xi apart, never
 * overlapping); without this, gcc would need more run-time alias checks than
 * it allows itself and leave them scalar. */
#if defined(__clang__)
#  define CYCONV_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#  define CYCONV_IVDEP _Pragma("GCC ivdep")
#else
#  define CYCONV_IVDEP
#endif
/* Loops over a tile's few values, unrolled so that their arrays become
 * registers and the loop over tiles around them vectorises. */
#if defined(__GNUC__) && !defined(__clang__)
#  define CYCONV_UNROLL _Pragma("GCC unroll 6")
#elif defined(__clang__)
#  define CYCONV_UNROLL _Pragma("unroll")
#else
#  define CYCONV_UNROLL
#endif

/* F(4x4, 3x3)'s B^T and A^T applied to six values (see above). */
#define CYCONV_WINO4_BT(x0, x1, x2, x3, x4, x5, y0, y1, y2, y3, y4, y5) do {       \
        y0 = 4 * (x0) - 5 * (x2) + (x4);                                       \
        y1 = (x3) + (x4) - 4 * ((x1) + (x2));                                  \
        y2 = (x4) - (x3) + 4 * ((x1) - (x2));                                  \
        y3 = (x4) - (x2) + 2 * ((x3) - (x1));                                  \
        y4 = (x4) - (x2) + 2 * ((x1) - (x3));                                  \
        y5 = 4 * (x1) - 5 * (x3) + (x5);                                       \
    } while (0)
#define CYCONV_WINO4_AT(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3) do {               \
        y0 = (m0) + (m1) + (m2) + (m3) + (m4);                                 \
        y1 = (m1) - (m2) + 2 * ((m3) - (m4));                                  \
        y2 = (m1) + (m2) + 4 * ((m3) + (m4));                                  \
        y3 = (m1) - (m2) + 8 * ((m3) - (m4)) + (m5);                           \
    } while (0)

#define CYCONV_DEFINE_WINOGRAD(SUFFIX, T)                                          \
/* dst[j * dst_step + k] = src[phases * k + j - shift] for j < phases and      \
 * k < count, zero where that index falls outside [0, width); shift >= 0: the  \
 * row's polyphase parts (one phase: the row zero-padded). */                  \
static void cyconv_split_row_##SUFFIX(const T *restrict src, ptrdiff_t width,  \
                                      ptrdiff_t shift, ptrdiff_t phases,       \
                                      ptrdiff_t count, T *restrict dst,        \
                                      ptrdiff_t dst_step)                      \
{                                                                              \
    /* Groups [lo, hi) have all their pixels inside the row. */                \
    ptrdiff_t lo = (shift + phases - 1) / phases, hi = (width + shift) / phases; \
    if (lo > count) lo = count;                                                \
    if (hi < lo) hi = lo;                                                      \
    if (hi > count) hi = count;                                                \
    const T *shifted = src - shift;                                            \
    if (phases == 1) {                                                         \
        if (hi > lo) memcpy(dst + lo, shifted + lo, (hi - lo) * sizeof(T));    \
    } else if (phases == 2) {                                                  \
        for (ptrdiff_t k = lo; k < hi; ++k) {                                  \
            dst[k] = shifted[2 * k];                                           \
            dst[dst_step + k] = shifted[2 * k + 1];                            \
        }                                                                      \
    } else if (phases == 4) {                                                  \
        for (ptrdiff_t k = lo; k < hi; ++k) {                                  \
            dst[k] = shifted[4 * k];                                           \
            dst[dst_step + k] = shifted[4 * k + 1];                            \
            dst[2 * dst_step + k] = shifted[4 * k + 2];                        \
            dst[3 * dst_step + k] = shifted[4 * k + 3];                        \
        }                                                                      \
    } else {                                                                   \
        for (ptrdiff_t j = 0; j < phases; ++j)                                 \
            for (ptrdiff_t k = lo; k < hi; ++k)                                \
                dst[j * dst_step + k] = shifted[phases * k + j];               \
    }                                                                          \
    for (ptrdiff_t k = 0; k < count; ++k) {                                    \
        if (k == lo) k = hi;  /* the groups inside, done above */              \
        if (k == count) break;                                                 \
        for (ptrdiff_t j = 0; j < phases; ++j) {                               \
            ptrdiff_t col = phases * k + j - shift;                            \
            dst[j * dst_step + k] = col >= 0 && col < width ? src[col] : 0;    \
        }                                                                      \
    }                                                                          \
}                                                                              \
                                                                               \
/* The 16 transformed values of tiles start .. start + count of a plane split \
 * into polyphase parts of part_len elements: value xi = 4 * row + column of  \
 * tile start + t goes to out[xi * ld_xi + t]. */                             \
static void cyconv_wino_input_##SUFFIX(const T *restrict parts,                \
                                       ptrdiff_t part_len, ptrdiff_t half_ld,  \
                                       ptrdiff_t start, ptrdiff_t count,       \
                                       T *restrict out, ptrdiff_t ld_xi)       \
{                                                                              \
    const T *ee = parts + start, *eo = ee + part_len;                          \
    const T *oe = eo + part_len, *oo = oe + part_len;                          \
    const ptrdiff_t down = half_ld;                                            \
    CYCONV_IVDEP                                                               \
    for (ptrdiff_t t = 0; t < count; ++t) {                                    \
        /* Rows 0..3 of the tile, columns 0..3: d[row][col]. */                \
        T d00 = ee[t], d01 = eo[t], d02 = ee[t + 1], d03 = eo[t + 1];           \
        T d10 = oe[t], d11 = oo[t], d12 = oe[t + 1], d13 = oo[t + 1];           \
        T d20 = ee[t + down], d21 = eo[t + down];                              \
        T d22 = ee[t + down + 1], d23 = eo[t + down + 1];                      \
        T d30 = oe[t + down], d31 = oo[t + down];                              \
        T d32 = oe[t + down + 1], d33 = oo[t + down + 1];                      \
        /* B^T d: rows combined. */                                            \
        T a0 = d00 - d20, a1 = d01 - d21, a2 = d02 - d22, a3 = d03 - d23;      \
        T b0 = d10 + d20, b1 = d11 + d21, b2 = d12 + d22, b3 = d13 + d23;      \
        T c0 = d20 - d10, c1 = d21 - d11, c2 = d22 - d12, c3 = d23 - d13;      \
        T e0 = d10 - d30, e1 = d11 - d31, e2 = d12 - d32, e3 = d13 - d33;      \
        /* (B^T d) B: columns combined. */                                     \
        out[0 * ld_xi + t] = a0 - a2;  out[1 * ld_xi + t] = a1 + a2;           \
        out[2 * ld_xi + t] = a2 - a1;  out[3 * ld_xi + t] = a1 - a3;           \
        out[4 * ld_xi + t] = b0 - b2;  out[5 * ld_xi + t] = b1 + b2;           \
        out[6 * ld_xi + t] = b2 - b1;  out[7 * ld_xi + t] = b1 - b3;           \
        out[8 * ld_xi + t] = c0 - c2;  out[9 * ld_xi + t] = c1 + c2;           \
        out[10 * ld_xi + t] = c2 - c1; out[11 * ld_xi + t] = c1 - c3;          \
        out[12 * ld_xi + t] = e0 - e2; out[13 * ld_xi + t] = e1 + e2;          \
        out[14 * ld_xi + t] = e2 - e1; out[15 * ld_xi + t] = e1 - e3;          \
    }                                                                          \
}                                                                              \
                                                                               \
/* The 2x2 outputs of `count` tiles from their 16 products m[xi * ld_xi + t]:  \
 * pixel (i, j) of tile t goes to out[i * ld_out + 2t + j].  Returns how many   \
 * of them are inf or NaN (v - v is 0 for the others). */                      \
static ptrdiff_t cyconv_wino_output_##SUFFIX(const T *restrict m,              \
                                             ptrdiff_t ld_xi, ptrdiff_t count, \
                                             T *restrict out, ptrdiff_t ld_out) \
{                                                                              \
    ptrdiff_t nonfinite = 0;                                                   \
    T *restrict top = out, *restrict bottom = out + ld_out;                    \
    CYCONV_IVDEP                                                               \
    for (ptrdiff_t t = 0; t < count; ++t) {                                    \
        /* A^T m: rows combined, s = row 0 of the result, d = row 1. */         \
        T s0 = m[0 * ld_xi + t] + m[4 * ld_xi + t] + m[8 * ld_xi + t];         \
        T s1 = m[1 * ld_xi + t] + m[5 * ld_xi + t] + m[9 * ld_xi + t];         \
        T s2 = m[2 * ld_xi + t] + m[6 * ld_xi + t] + m[10 * ld_xi + t];        \
        T s3 = m[3 * ld_xi + t] + m[7 * ld_xi + t] + m[11 * ld_xi + t];        \
        T d0 = m[4 * ld_xi + t] - m[8 * ld_xi + t] - m[12 * ld_xi + t];        \
        T d1 = m[5 * ld_xi + t] - m[9 * ld_xi + t] - m[13 * ld_xi + t];        \
        T d2 = m[6 * ld_xi + t] - m[10 * ld_xi + t] - m[14 * ld_xi + t];       \
        T d3 = m[7 * ld_xi + t] - m[11 * ld_xi + t] - m[15 * ld_xi + t];       \
        T y00 = s0 + s1 + s2, y01 = s1 - s2 - s3;                              \
        T y10 = d0 + d1 + d2, y11 = d1 - d2 - d3;                              \
        top[2 * t] = y00;                                                      \
        top[2 * t + 1] = y01;                                                  \
        bottom[2 * t] = y10;                                                   \
        bottom[2 * t + 1] = y11;                                               \
        nonfinite += (y00 - y00 != 0) + (y01 - y01 != 0)                       \
                     + (y10 - y10 != 0) + (y11 - y11 != 0);                    \
    }                                                                          \
    return nonfinite;                                                          \
}                                                                              \
                                                                               \
/* F(4x4, 3x3): the 36 transformed values of tiles start .. start + count of  \
 * a plane split into 4x4 polyphase parts (part (a, b) at (4a + b) * part_len \
 * holds pixel (4i + a, 4k + b) at i * part_ld + k): value xi = 6 * row +      \
 * column of tile start + t goes to out[xi * ld_xi + t]. */                   \
static void cyconv_wino4_input_##SUFFIX(const T *restrict parts,               \
                                        ptrdiff_t part_len, ptrdiff_t part_ld, \
                                        ptrdiff_t start, ptrdiff_t count,      \
                                        T *restrict out, ptrdiff_t ld_xi)      \
{                                                                              \
    const T *src = parts + start;                                              \
    CYCONV_IVDEP                                                               \
    for (ptrdiff_t t = 0; t < count; ++t) {                                    \
        T d[6][6], u[6][6];                                                    \
        CYCONV_UNROLL                                                          \
        for (int p = 0; p < 6; ++p)                                            \
            CYCONV_UNROLL                                                      \
            for (int q = 0; q < 6; ++q)                                        \
                d[p][q] = src[((p % 4) * 4 + q % 4) * part_len                 \
                              + (p / 4) * part_ld + q / 4 + t];                \
        /* B^T d: rows combined; then (B^T d) B: columns. */                   \
        CYCONV_UNROLL                                                          \
        for (int q = 0; q < 6; ++q)                                            \
            CYCONV_WINO4_BT(d[0][q], d[1][q], d[2][q], d[3][q], d[4][q], d[5][q], \
                            u[0][q], u[1][q], u[2][q], u[3][q], u[4][q], u[5][q]); \
        CYCONV_UNROLL                                                          \
        for (int p = 0; p < 6; ++p)                                            \
            CYCONV_WINO4_BT(u[p][0], u[p][1], u[p][2], u[p][3], u[p][4], u[p][5], \
                            out[(6 * p) * ld_xi + t], out[(6 * p + 1) * ld_xi + t], \
                            out[(6 * p + 2) * ld_xi + t], out[(6 * p + 3) * ld_xi + t], \
                            out[(6 * p + 4) * ld_xi + t], out[(6 * p + 5) * ld_xi + t]); \
    }                                                                          \
}                                                                              \
                                                                               \
/* F(4x4, 3x3): the 4x4 outputs of `count` tiles from their 36 products       \
 * m[xi * ld_xi + t]: pixel (i, j) of tile t goes to out[i * ld_out + 4t + j]. \
 * Returns how many of them are inf or NaN. */                                 \
static ptrdiff_t cyconv_wino4_output_##SUFFIX(const T *restrict m,             \
                                              ptrdiff_t ld_xi, ptrdiff_t count, \
                                              T *restrict out, ptrdiff_t ld_out) \
{                                                                              \
    ptrdiff_t nonfinite = 0;                                                   \
    CYCONV_IVDEP                                                               \
    for (ptrdiff_t t = 0; t < count; ++t) {                                    \
        T v[4][6], y[4][4];                                                    \
        /* A^T m: rows combined; then (A^T m) A: columns. */                   \
        for (int q = 0; q < 6; ++q)                                            \
            CYCONV_WINO4_AT(m[q * ld_xi + t], m[(6 + q) * ld_xi + t],          \
                            m[(12 + q) * ld_xi + t], m[(18 + q) * ld_xi + t],  \
                            m[(24 + q) * ld_xi + t], m[(30 + q) * ld_xi + t],  \
                            v[0][q], v[1][q], v[2][q], v[3][q]);               \
        for (int i = 0; i < 4; ++i) {                                          \
            CYCONV_WINO4_AT(v[i][0], v[i][1], v[i][2], v[i][3], v[i][4], v[i][5], \
                            y[i][0], y[i][1], y[i][2], y[i][3]);               \
            for (int j = 0; j < 4; ++j) {                                      \
                out[i * ld_out + 4 * t + j] = y[i][j];                         \
                nonfinite += y[i][j] - y[i][j] != 0;                           \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    return nonfinite;                                                          \
}                                                                              \
                                                                               \
/* The weight gradient's transform of the output gradient, A y A^T (the      \
 * adjoint of the output transform) of the 2x2 blocks y of tiles start ..     \
 * start + count, from the gradient's polyphase parts (even/odd rows and      \
 * columns, part_len apart): value xi of tile start + t goes to               \
 * out[xi * ld_xi + t]. */                                                     \
static void cyconv_wino_grad_output_##SUFFIX(const T *restrict parts,          \
                                             ptrdiff_t part_len,               \
                                             ptrdiff_t start, ptrdiff_t count, \
                                             T *restrict out, ptrdiff_t ld_xi) \
{                                                                              \
    const T *ee = parts + start, *eo = ee + part_len;                          \
    const T *oe = eo + part_len, *oo = oe + part_len;                          \
    CYCONV_IVDEP                                                               \
    for (ptrdiff_t t = 0; t < count; ++t) {                                    \
        T y00 = ee[t], y01 = eo[t], y10 = oe[t], y11 = oo[t];                  \
        /* A y: rows y0, y0 + y1, y0 - y1, -y1; (A y) A^T: the same of its    \
         * two columns. */                                                     \
        T s0 = y00 + y10, s1 = y01 + y11, d0 = y00 - y10, d1 = y01 - y11;      \
        out[0 * ld_xi + t] = y00;        out[1 * ld_xi + t] = y00 + y01;       \
        out[2 * ld_xi + t] = y00 - y01;  out[3 * ld_xi + t] = -y01;            \
        out[4 * ld_xi + t] = s0;         out[5 * ld_xi + t] = s0 + s1;         \
        out[6 * ld_xi + t] = s0 - s1;    out[7 * ld_xi + t] = -s1;             \
        out[8 * ld_xi + t] = d0;         out[9 * ld_xi + t] = d0 + d1;         \
        out[10 * ld_xi + t] = d0 - d1;   out[11 * ld_xi + t] = -d1;            \
        out[12 * ld_xi + t] = -y10;      out[13 * ld_xi + t] = -y10 - y11;     \
        out[14 * ld_xi + t] = y11 - y10; out[15 * ld_xi + t] = y11;            \
    }                                                                          \
}

CYCONV_DEFINE_WINOGRAD(f32, float)
CYCONV_DEFINE_WINOGRAD(f64, double)

#endif
