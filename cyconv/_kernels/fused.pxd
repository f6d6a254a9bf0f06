# The numeric element types of the kernels, declared once for every family.
cimport numpy as cnp

# float32/float64: the types every family computes natively.
ctypedef fused floating_t:
    float
    double

# Every real element type of scipy.signal's 2-D correlation.  Signed integers
# reach the kernels as their unsigned twins (the same bits under wrapping
# arithmetic, which C defines for unsigned types only); complex inputs are
# split into real planes by the Python layer.
ctypedef fused correlate_t:
    float
    double
    long double
    cnp.npy_uint8
    cnp.npy_uint16
    cnp.npy_uint32
    cnp.npy_uint64
