# The geometry of a convolution layer and the helpers that the NCHW
# convolution kernel modules (conv_gemm, conv_direct, conv_tiled,
# conv_winograd, conv_pointwise) share; each of them compiles its own copy,
# at its instruction-set level.
#
# Those modules only compute: cyconv/_layers.py checks and normalises the
# arguments, chooses the algorithm and its tiling, and keeps BLAS
# single-threaded while they run.  All their parallelism is OpenMP's, over
# work items whose split never depends on the thread count, so every result
# is bitwise the same for any number of workers.
from libc.stdlib cimport malloc

from cyconv._kernels.fused cimport floating_t


cdef struct Geometry:
    Py_ssize_t height, width, out_h, out_w
    Py_ssize_t kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w


cdef inline Geometry make_geometry(Py_ssize_t height, Py_ssize_t width, Py_ssize_t out_h,
                                   Py_ssize_t out_w, tuple kernel, tuple stride, tuple padding,
                                   tuple dilation):
    cdef Geometry geo
    geo.height, geo.width, geo.out_h, geo.out_w = height, width, out_h, out_w
    geo.kernel_h, geo.kernel_w = kernel
    geo.stride_h, geo.stride_w = stride
    geo.pad_top, geo.pad_left = padding
    geo.dil_h, geo.dil_w = dilation
    return geo


cdef struct Span:
    Py_ssize_t lo, hi


cdef inline Span valid_span(Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t size,
                            Py_ssize_t out_size) noexcept nogil:
    """Outputs o in [lo, hi) read input o * stride + offset inside [0, size).

    Returned by value: in a prange body, variables assigned in the loop are
    thread-private, while ones written through a pointer would be shared.
    """
    cdef Span span
    cdef Py_ssize_t first = 0, last = size - 1 - offset
    if offset < 0:
        first = (-offset + stride - 1) // stride
    span.lo = min(first, out_size)
    span.hi = max(min(last // stride + 1 if last >= 0 else 0, out_size), span.lo)
    return span


cdef inline Span tap_rows(const Geometry *geo, Py_ssize_t ky) noexcept nogil:
    """Output rows whose tap row ``ky`` falls inside the input."""
    return valid_span(ky * geo.dil_h - geo.pad_top, geo.stride_h, geo.height, geo.out_h)


cdef inline Py_ssize_t tap_column(const Geometry *geo, Py_ssize_t kx) noexcept nogil:
    """Input column that output column 0 reads through tap column ``kx``."""
    return kx * geo.dil_w - geo.pad_left


cdef inline Span tap_cols(const Geometry *geo, Py_ssize_t kx) noexcept nogil:
    """Output columns whose tap column ``kx`` falls inside the input."""
    return valid_span(tap_column(geo, kx), geo.stride_w, geo.width, geo.out_w)


cdef inline Py_ssize_t padded_rows(const Geometry *geo) noexcept nogil:
    """Rows of the zero-padded input a stride-1 output reads."""
    return geo.out_h + geo.dil_h * (geo.kernel_h - 1)


cdef inline Py_ssize_t round_up(Py_ssize_t size, Py_ssize_t multiple) noexcept nogil:
    return (size + multiple - 1) // multiple * multiple


cdef inline floating_t *alloc_buffers(Py_ssize_t count, Py_ssize_t length,
                                      floating_t sample) except? NULL:
    """``count`` private buffers of ``length`` elements (NULL when none are needed)."""
    cdef floating_t *buffers
    if count * length == 0:
        return NULL
    buffers = <floating_t *> malloc(count * length * sizeof(floating_t))
    if buffers == NULL:
        raise MemoryError("cannot allocate the per-thread column buffers")
    return buffers


cdef inline floating_t[::1] reused_scratch(Py_ssize_t length, floating_t sample):
    """``length`` elements of scratch from the reusing allocator of the
    outputs (``memory.empty``): a fresh block of a few MB would be mapped
    anew by every call, and its page faults cost a tenth of a batch-1 layer.
    The block starts on a cache line; callers keep each thread's part on
    whole lines too."""
    # Imported here: a .pxd has no module-level imports (both are in sys.modules).
    import numpy as np
    from cyconv._kernels import memory
    return memory.empty(length, np.float32 if floating_t is float else np.float64)
