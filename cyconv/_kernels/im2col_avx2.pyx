# The im2col family compiled for x86-64-v3 (AVX2 + FMA); setup.py adds the flags.
include "im2col.pyx"
