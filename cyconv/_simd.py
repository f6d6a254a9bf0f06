"""Choose the compiled kernel set for this CPU.

The correlation kernels are built for baseline x86-64 and for x86-64-v3
(AVX2 + FMA).  The wider set is used when the CPU supports it and the build
contains it, unless the environment variable ``CYCONV_SIMD=baseline`` asks for
the portable kernels (read once, at import).
"""
import importlib
import importlib.util
import os
import warnings

from cyconv._kernels import runtime

ENV_VAR = "CYCONV_SIMD"
_VARIANTS = {"avx2": runtime.cpu_has_avx2_fma}


def available_levels():
    """SIMD levels compiled into this build that this CPU can run."""
    levels = ["baseline"]
    for level, cpu_supports in _VARIANTS.items():
        if cpu_supports() and importlib.util.find_spec(
            f"cyconv._kernels.correlate_{level}"
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
    level = "baseline" if requested == "baseline" else available_levels()[-1]
    suffix = "" if level == "baseline" else f"_{level}"
    return level, importlib.import_module(f"cyconv._kernels.correlate{suffix}")


LEVEL, correlate_kernels = _select()
