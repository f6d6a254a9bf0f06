"""Choose the compiled kernel set for this CPU.

Every kernel family of ``cyconv/_kernels/families.py`` is built for the
baseline and, on x86-64, for x86-64-v3 (AVX2 + FMA) as ``<family>_avx2`` and
x86-64-v4 (AVX-512) as ``<family>_avx512``.  The widest set that the CPU supports and the build
contains is used, unless the environment variable ``CYCONV_SIMD`` names a
narrower one (``baseline`` or ``avx2``; read once, at import).
"""
import importlib
import importlib.util
import os
import warnings

from cyconv._kernels import runtime
from cyconv._kernels.families import SIMD_FAMILIES as FAMILIES
from cyconv._kernels.families import SIMD_LEVELS

ENV_VAR = "CYCONV_SIMD"
# The CPU test of each level (a level without one fails here, at import).
_CPU_SUPPORTS = {"avx2": runtime.cpu_has_x86_64_v3, "avx512": runtime.cpu_has_x86_64_v4}
# Narrowest first, as SIMD_LEVELS lists them.
_VARIANTS = {level: _CPU_SUPPORTS[level] for level in SIMD_LEVELS}


def available_levels():
    """SIMD levels compiled into this build (for every family) that this CPU can run."""
    levels = ["baseline"]
    for level, cpu_supports in _VARIANTS.items():
        if cpu_supports() and all(
            importlib.util.find_spec(f"cyconv._kernels.{family}_{level}") for family in FAMILIES
        ):
            levels.append(level)
    return levels


def _select():
    requested = os.environ.get(ENV_VAR, "auto").strip().lower()
    levels = available_levels()
    if requested == "auto":
        return levels[-1]
    if requested in ("baseline", *_VARIANTS):
        # A level wider than what this CPU and build run is capped, never forced.
        return requested if requested in levels else levels[-1]
    warnings.warn(
        f"{ENV_VAR}={requested!r} is not 'auto', 'baseline' or one of {list(_VARIANTS)}; "
        "using 'auto'",
        RuntimeWarning,
        stacklevel=3,
    )
    return levels[-1]


LEVEL = _select()


def kernels(family):
    """The compiled module of a kernel family at the selected SIMD level."""
    suffix = "" if LEVEL == "baseline" else f"_{LEVEL}"
    return importlib.import_module(f"cyconv._kernels.{family}{suffix}")


correlate_kernels = kernels("correlate")
line_kernels = kernels("lines")
