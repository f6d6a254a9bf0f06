# The im2col family compiled for x86-64-v4 (AVX-512); setup.py adds the flags.
include "im2col.pyx"
