/* The inner loops of cyconv/_kernels/nanconvolve.pyx: tap-weighted sums of rows.
 *
 * nc_raw_<s>: top[j] = sum_t taps[t] * rows[t][j] over finite values (a hole,
 * NaN or +-inf, counts as `hole`, or is left out when `interpolate`), and
 * bottom[j] = sum_t taps[t] over the finite values.  Rows beyond an edge are
 * real rows of the boundary's fill, so that every output goes through the
 * same operations wherever it lies (a special case for them was rounded
 * differently by the compiler, and chunked results then differed from
 * whole-array ones in the last bit).
 * nc_pairs_<s>: the same sums of rows that are already value and weight sums
 * (no holes); `weight_rows` is read only when `interpolate`.
 *
 * Why C with vector types: written as plain loops (in Cython or C), GCC 12
 * vectorises these over the taps, gathering one element of every row into a
 * vector, which ran at 0.45 ns per tap and element (float64, AVX-512) against
 * 0.2 ns for the loops below, which keep NC_VECTORS vectors of each sum in
 * registers while the taps stream past.  Each SIMD level of the family
 * compiles this with its own -march, so the vector width follows it.
 * Compilers without GCC's vector extensions (MSVC) get the scalar loops.
 *
 * <s> is `d` for double and `f` for float: nanconvolve_rows_type.h is included
 * once for each.
 */
#ifndef CYCONV_NANCONVOLVE_ROWS_H
#define CYCONV_NANCONVOLVE_ROWS_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#  define NC_VECTOR_EXTENSIONS 1
#  if defined(__AVX512F__)
#    define NC_VECTOR_BYTES 64
#  elif defined(__AVX__)
#    define NC_VECTOR_BYTES 32
#  else
#    define NC_VECTOR_BYTES 16
#  endif
/* Vectors per sum: four independent chains of additions hide their latency;
 * nc_raw_two's four sums take two each below AVX-512 (16 registers). */
#  define NC_VECTORS 4
#  if NC_VECTOR_BYTES == 64
#    define NC_VECTORS_TWO 4
#  else
#    define NC_VECTORS_TWO 2
#  endif
#else
#  define NC_VECTOR_EXTENSIONS 0
#endif

#define NC_T double
#define NC_BITS uint64_t
#define NC_MAX DBL_MAX
#define NC_ABS_MASK 0x7fffffffffffffffULL
#define NC_NAME(name) name##_d
#include "nanconvolve_rows_type.h"
#undef NC_T
#undef NC_BITS
#undef NC_MAX
#undef NC_ABS_MASK
#undef NC_NAME

#define NC_T float
#define NC_BITS uint32_t
#define NC_MAX FLT_MAX
#define NC_ABS_MASK 0x7fffffffU
#define NC_NAME(name) name##_f
#include "nanconvolve_rows_type.h"
#undef NC_T
#undef NC_BITS
#undef NC_MAX
#undef NC_ABS_MASK
#undef NC_NAME

#endif
