# The pooling family compiled for x86-64-v3 (AVX2 + FMA); setup.py adds the flags.
include "pooling.pyx"
