# How the kernels extend an input beyond its edges, declared once for every
# family.  The codes are shared with cyconv/_fft.py and cyconv/ndimage.py.
# SYMM is scipy.signal's 'symm' and scipy.ndimage's 'reflect' (d c b a | a b c d),
# MIRROR is scipy.ndimage's 'mirror' (d c b | a b c d), NEAREST repeats the edge.
cdef enum:
    FILL = 0
    SYMM = 1
    WRAP = 2
    NEAREST = 3
    MIRROR = 4


cdef inline Py_ssize_t source_index(Py_ssize_t i, Py_ssize_t size, int boundary) noexcept nogil:
    """Input index read at extended position ``i``, or -1 for the fill value.

    Extensions repeat periodically, so any distance beyond the edge is served.
    """
    cdef Py_ssize_t period
    if 0 <= i < size:
        return i
    if boundary == WRAP:
        i = i % size
        return i + size if i < 0 else i
    if boundary == SYMM:
        period = 2 * size
        i = i % period
        if i < 0:
            i += period
        return period - 1 - i if i >= size else i
    if boundary == NEAREST:
        return 0 if i < 0 else size - 1
    if boundary == MIRROR:
        if size == 1:
            return 0
        period = 2 * size - 2
        i = i % period
        if i < 0:
            i += period
        return period - i if i >= size else i
    return -1
