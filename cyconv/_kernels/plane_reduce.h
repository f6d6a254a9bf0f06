/*
 * The sum and the maximum of a short contiguous run of values (a pooling
 * plane), for float and double.
 *
 * Written with GCC/Clang vector extensions: without -ffast-math gcc neither
 * vectorises a floating-point sum nor a maximum that must propagate NaN.  The
 * maximum keeps torch's rule (a NaN anywhere makes the result NaN): a vector
 * of running maxima, blended where a value is larger, and a mask of the NaN
 * seen.  The sum runs in four independent scalar chains: short planes (a 7x7
 * global pooling) then wait neither on one chain of adds nor on a reduction
 * across a vector's lanes (longer ones take cyconv_sum of correlate_tile.h).
 * Compilers without vector extensions get a scalar maximum.
 */
#ifndef CYCONV_PLANE_REDUCE_H
#define CYCONV_PLANE_REDUCE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "correlate_tile.h"  /* CYCONV_VECTOR_EXT, CYCONV_VEC_BYTES: one vector width */

#define CYCONV_DEFINE_PLANE_SUM(NAME, T)                                          \
static inline T NAME##_sum(const T *x, ptrdiff_t n)                               \
{                                                                                 \
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                             \
    ptrdiff_t i = 0;                                                              \
    for (; i + 4 <= n; i += 4) {                                                  \
        s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3];              \
    }                                                                             \
    for (; i < n; ++i) s0 += x[i];                                                \
    return (s0 + s1) + (s2 + s3);                                                 \
}

#if CYCONV_VECTOR_EXT

#define CYCONV_DEFINE_PLANE_MAX(NAME, T, IT)                                   \
static inline T NAME##_max(const T *x, ptrdiff_t n)                               \
{                                                                                 \
    typedef T vec __attribute__((vector_size(CYCONV_VEC_BYTES)));                 \
    typedef IT bits __attribute__((vector_size(CYCONV_VEC_BYTES)));               \
    const ptrdiff_t lanes = CYCONV_VEC_BYTES / (ptrdiff_t)sizeof(T);              \
    T best = x[0];                                                                \
    int nan = 0;                                                                  \
    if (n >= lanes) {                                                             \
        vec m, v;                                                                 \
        bits seen, larger;                                                        \
        memcpy(&m, x, sizeof m);                                                  \
        seen = m != m;                                                            \
        /* The last vector may overlap the one before: a maximum allows it. */   \
        for (ptrdiff_t i = lanes;; i += lanes) {                                  \
            if (i > n - lanes) i = n - lanes;                                     \
            memcpy(&v, x + i, sizeof v);                                          \
            seen |= v != v;                                                       \
            larger = v > m;                                                       \
            m = (vec)(((bits)v & larger) | ((bits)m & ~larger));                  \
            if (i == n - lanes) break;                                            \
        }                                                                         \
        best = m[0];                                                              \
        for (ptrdiff_t k = 0; k < lanes; ++k) {                                   \
            nan |= seen[k] != 0;                                                  \
            best = m[k] > best ? m[k] : best;                                     \
        }                                                                         \
    } else {                                                                      \
        for (ptrdiff_t i = 0; i < n; ++i) {                                       \
            nan |= x[i] != x[i];                                                  \
            best = x[i] > best ? x[i] : best;                                     \
        }                                                                         \
    }                                                                             \
    return nan ? (T)NAN : best;                                                   \
}

#else  /* no vector extensions: scalar loops */

#define CYCONV_DEFINE_PLANE_MAX(NAME, T, IT)                                   \
static inline T NAME##_max(const T *x, ptrdiff_t n)                               \
{                                                                                 \
    T best = x[0];                                                                \
    int nan = 0;                                                                  \
    for (ptrdiff_t i = 0; i < n; ++i) {                                           \
        nan |= x[i] != x[i];                                                      \
        best = x[i] > best ? x[i] : best;                                         \
    }                                                                             \
    return nan ? (T)NAN : best;                                                   \
}

#endif

CYCONV_DEFINE_PLANE_SUM(cyconv_plane_f32, float)
CYCONV_DEFINE_PLANE_SUM(cyconv_plane_f64, double)
CYCONV_DEFINE_PLANE_MAX(cyconv_plane_f32, float, int32_t)
CYCONV_DEFINE_PLANE_MAX(cyconv_plane_f64, double, int64_t)

#endif
