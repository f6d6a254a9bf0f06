# The pooling family compiled for x86-64-v4 (AVX-512); setup.py adds the flags.
include "pooling.pyx"
