# The exact line passes compiled for x86-64-v4 (AVX-512); setup.py adds the flags
# (and -ffp-contract=off, as for every level of this family).
include "lines.pyx"
