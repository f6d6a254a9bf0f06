/*
 * The sum and the maximum of a contiguous run of values (a pooling plane),
 * for float and double.
 *
 * Written with GCC/Clang vector extensions: without -ffast-math gcc neither
 * vectorises a floating-point sum nor a maximum that must propagate NaN.  The
 * maximum keeps torch's rule (a NaN anywhere makes the result NaN): a vector
 * of running maxima, blended where a value is larger, and a mask of the NaN
 * seen.  The sum adds whole vectors into two accumulators, then folds the
 * lanes by halves, so that a short plane (a 7x7 global pooling) waits
 * neither on one chain of scalar adds nor on a scalar pass over every lane.
 * Compilers without vector extensions get scalar loops.
 */
#ifndef CYCONV_PLANE_REDUCE_H
#define CYCONV_PLANE_REDUCE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "correlate_tile.h"  /* CYCONV_VECTOR_EXT, CYCONV_VEC_BYTES: one vector width */

#if CYCONV_VECTOR_EXT

/* On (8, 2048, 7, 7) float32 this took 60 us where four scalar chains took
   270 (and torch's mean 100).  Its vectors are at most 32 bytes: on the
   reference machine (AMD EPYC, AVX-512) 64-byte ones summed 7x7 planes at
   half the speed, and long planes no faster. */
#define CYCONV_PLANE_SUM_BYTES (CYCONV_VEC_BYTES < 32 ? CYCONV_VEC_BYTES : 32)

#define CYCONV_DEFINE_PLANE_SUM(NAME, T)                                          \
static inline T NAME##_sum(const T *x, ptrdiff_t n)                               \
{                                                                                 \
    typedef T vec __attribute__((vector_size(CYCONV_PLANE_SUM_BYTES)));           \
    typedef T quad __attribute__((vector_size(16)));                              \
    const ptrdiff_t lanes = CYCONV_PLANE_SUM_BYTES / (ptrdiff_t)sizeof(T);        \
    vec a = {0}, b = {0}, v;                                                      \
    quad low, high = {0};                                                         \
    T total = 0;                                                                  \
    ptrdiff_t i = 0;                                                              \
    for (; i + 2 * lanes <= n; i += 2 * lanes) {                                  \
        memcpy(&v, x + i, sizeof v);                                              \
        a += v;                                                                   \
        memcpy(&v, x + i + lanes, sizeof v);                                      \
        b += v;                                                                   \
    }                                                                             \
    if (i + lanes <= n) {                                                         \
        memcpy(&v, x + i, sizeof v);                                              \
        a += v;                                                                   \
        i += lanes;                                                               \
    }                                                                             \
    a += b;                                                                       \
    /* A 32-byte vector's upper half onto its lower (nothing for 16 bytes). */   \
    memcpy(&low, &a, sizeof low);                                                 \
    memcpy(&high, (const char *)&a + sizeof low, sizeof a - sizeof low);          \
    low += high;                                                                  \
    for (ptrdiff_t k = 0; k < (ptrdiff_t)(sizeof low / sizeof(T)); ++k)           \
        total += low[k];                                                          \
    for (; i < n; ++i)                                                            \
        total += x[i];                                                            \
    return total;                                                                 \
}

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
