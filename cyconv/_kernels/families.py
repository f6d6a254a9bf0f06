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

# Families that must round every product and sum separately (no fused
# multiply-add), compiled with -ffp-contract=off (/fp:precise) at every
# level: "lines", so that integer outputs truncate the same float64 values as
# scipy's C; "nanconvolve", so that an output is rounded the same way by every
# loop that may compute it (one row or two at a time, a vector block or the
# scalar tail: the compiler fused different products in each), which keeps a
# chunked cyconv.dask.nanconvolve equal to the whole-array call to the bit.
# Measured on 2048^2 float64 and float32 images with 5x5 and 31x31 Gaussians:
# no slower than with fused multiply-adds.
EXACT_FAMILIES = ("lines", "nanconvolve")
