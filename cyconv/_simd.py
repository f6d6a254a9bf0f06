"""Choose the compiled kernel set for this CPU.

Every kernel family is built for baseline x86-64 and, on x86-64, for
x86-64-v3 (AVX2 + FMA) as ``<family>_avx2``.  The wider set is used when the
CPU supports it and the build contains it, unless the environment variable
``CYCONV_SIMD=baseline`` asks for the portable kernels (read once, at import).
"""
import importlib
import importlib.util
import os
import warnings

from cyconv._kernels import runtime

ENV_VAR = "CYCONV_SIMD"
FAMILIES = ("correlate", "im2col", "pooling")  # as SIMD_FAMILIES in setup.py
_VARIANTS = {"avx2": runtime.cpu_has_avx2_fma}


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
    if requested not in ("auto", "baseline"):
        warnings.warn(
            f"{ENV_VAR}={requested!r} is not 'auto' or 'baseline'; using 'auto'",
            RuntimeWarning,
            stacklevel=3,
        )
        requested = "auto"
    return "baseline" if requested == "baseline" else available_levels()[-1]


LEVEL = _select()


def kernels(family):
    """The compiled module of a kernel family at the selected SIMD level."""
    suffix = "" if LEVEL == "baseline" else f"_{LEVEL}"
    return importlib.import_module(f"cyconv._kernels.{family}{suffix}")


correlate_kernels = kernels("correlate")
