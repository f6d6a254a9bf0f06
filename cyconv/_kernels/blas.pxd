# Row-major GEMM over scipy.linalg.cython_blas, fused over float/double.
#
# BLAS is column-major; a row-major C = op(A) op(B) is the column-major
# C^T = op(B)^T op(A)^T, so the operands are swapped and the transpose flags
# pass through unchanged.  scipy's BLAS takes 32-bit ints: every dimension
# and leading dimension above INT_MAX is split into pieces that fit.
from libc.limits cimport INT_MAX
from scipy.linalg.cython_blas cimport dgemm, sgemm

from cyconv._kernels.fused cimport floating_t

cdef enum:
    # Largest block of one dimension given to BLAS in a single call.
    GEMM_CHUNK = 1 << 30


cdef inline int blas_ld(Py_ssize_t ld, Py_ssize_t row_length) noexcept nogil:
    """A leading dimension BLAS accepts; a too-large one only reaches here for a single row."""
    if ld > INT_MAX:
        ld = row_length
    return <int>max(ld, 1)


cdef inline void gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      floating_t alpha, const floating_t *a, Py_ssize_t lda,
                      const floating_t *b, Py_ssize_t ldb,
                      floating_t beta, floating_t *c, Py_ssize_t ldc) noexcept nogil:
    """Row-major C[m, n] = alpha op(A)[m, k] op(B)[k, n] + beta C, single call per fitting block.

    A is stored m x k (k x m when ``trans_a``) with row stride ``lda``; B is
    stored k x n (n x k when ``trans_b``) with row stride ``ldb``.
    """
    cdef Py_ssize_t start, step
    cdef int im, in_, ik, ilda, ildb, ildc
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if m <= 0 or n <= 0:
        return
    # Rows of C: split when there are too many, or when a row stride of C
    # or of an untransposed A does not fit (then one row at a time).
    if m > 1 and (ldc > INT_MAX or (not trans_a and lda > INT_MAX)):
        step = 1
    else:
        step = GEMM_CHUNK
    if m > step:
        start = 0
        while start < m:
            gemm(trans_a, trans_b, min(step, m - start), n, k, alpha,
                 a + (start if trans_a else start * lda), lda, b, ldb, beta, c + start * ldc, ldc)
            start += step
        return
    step = 1 if (n > 1 and trans_b and ldb > INT_MAX) else GEMM_CHUNK
    if n > step:
        start = 0
        while start < n:
            gemm(trans_a, trans_b, m, min(step, n - start), k, alpha, a, lda,
                 b + (start * ldb if trans_b else start), ldb, beta, c + start, ldc)
            start += step
        return
    step = 1 if (k > 1 and ((trans_a and lda > INT_MAX) or (not trans_b and ldb > INT_MAX))) \
        else GEMM_CHUNK
    if k > step:
        start = 0
        while start < k:
            gemm(trans_a, trans_b, m, n, min(step, k - start), alpha,
                 a + (start * lda if trans_a else start), lda,
                 b + (start if trans_b else start * ldb), ldb,
                 beta if start == 0 else 1, c, ldc)
            start += step
        return
    im = <int>m
    in_ = <int>n
    ik = <int>k
    ilda = blas_ld(lda, m if trans_a else k)
    ildb = blas_ld(ldb, k if trans_b else n)
    ildc = blas_ld(ldc, n)
    if floating_t is float:
        sgemm(&tb, &ta, &in_, &im, &ik, &alpha, <float *>b, &ildb, <float *>a, &ilda,
              &beta, c, &ildc)
    else:
        dgemm(&tb, &ta, &in_, &im, &ik, &alpha, <double *>b, &ildb, <double *>a, &ilda,
              &beta, c, &ildc)
