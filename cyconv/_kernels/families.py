"""The kernel families built at several SIMD levels, and those levels: one list.

``setup.py`` reads this file with ``runpy.run_path`` (it must not import the
package, which is not built yet) and, for every family and level, writes the
module ``<family>_<level>.pyx`` (a comment and ``include "<family>.pyx"``) and
compiles it with the level's flags; ``cyconv/_simd.py`` imports the same
names to pick the modules at run time.  Plain Python: no imports.
"""

# Kernel modules (``cyconv/_kernels/<family>.pyx``) also compiled for the
# wider instruction sets, each chosen at import by ``_simd.kernels(family)``.
SIMD_FAMILIES = (
    "correlate",
    "lines",
    "pooling",
    "conv_gemm",
    "conv_direct",
    "conv_tiled",
    "conv_winograd",
    "conv_pointwise",
    "conv_depthwise",
    "nanconvolve",
)

# Level -> the compiler flags of its modules, narrowest first.  The baseline
# (no suffix, the platform's default instruction set) is not listed.
SIMD_LEVELS = {
    "avx2": ("-march=x86-64-v3",),     # AVX2 + FMA
    "avx512": ("-march=x86-64-v4",),   # AVX-512
}

# Families that must round every product and sum as scipy's C does (no fused
# multiply-add), so that integer outputs truncate the same float64 values:
# compiled with -ffp-contract=off (/fp:precise) at every level.
EXACT_FAMILIES = ("lines",)
