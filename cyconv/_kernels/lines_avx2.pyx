# The exact line passes compiled for x86-64-v3 (AVX2); setup.py adds the flags
# (and -ffp-contract=off, as for every level of this family).
include "lines.pyx"
