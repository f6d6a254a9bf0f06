"""Build the cyconv Cython extensions.

OpenMP is used when the compiler accepts it and silently left out when it does
not (the kernels then run serially).  The default build targets the baseline
instruction set of the platform; on x86-64 every kernel family is also built
for x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512), chosen at import by the
CPU's features (see ``cyconv/_simd.py``).  Set ``CYCONV_NO_SIMD_VARIANTS=1`` to build
the baseline only.
"""
import os
import platform
import shlex
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL_DIR = os.path.join("cyconv", "_kernels")

# Families whose kernels are also compiled for wider instruction sets.  The
# variant module `<family>_<level>.pyx` is a one-line `include` of the family.
SIMD_FAMILIES = ["correlate", "im2col", "lines", "pooling"]
SIMD_LEVELS = {"avx2": ["-march=x86-64-v3"], "avx512": ["-march=x86-64-v4"]}

# Extension name -> instruction-set flags, for the SIMD variants.
SIMD_EXTENSION_FLAGS = {}

BASE_COMPILE_ARGS = ["-O3", "-fno-math-errno"]
# Families that must round every product and sum as scipy's C does (no fused
# multiply-add), so that integer outputs truncate the same float64 values.
EXACT_FAMILIES = ["lines"]
EXACT_ARGS = {"unix": ["-ffp-contract=off"], "msvc": ["/fp:precise"]}
OPENMP_FLAGS = {"unix": ["-fopenmp"], "msvc": ["/openmp"]}


def _compiler_accepts(compiler, flags, source):
    """Return True when `compiler` compiles and links `source` with `flags`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as handle:
            handle.write(source)
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(
                objects, "probe", output_dir=tmp, extra_postargs=flags
            )
        except Exception:
            return False
    return True


OPENMP_PROBE = """
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
  n += omp_get_num_threads();
  return n > 0 ? 0 : 1; }
"""
SIMD_PROBE = "int main(void) { return 0; }\n"


class CyconvBuildExt(build_ext):
    """build_ext that adds OpenMP and SIMD-level flags the compiler supports."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            # Each family is compiled once per SIMD level: use every core.
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        openmp = OPENMP_FLAGS.get(ctype, [])
        use_openmp = (
            os.environ.get("CYCONV_NO_OPENMP", "0") != "1"
            and bool(openmp)
            and _compiler_accepts(self.compiler, openmp, OPENMP_PROBE)
        )
        if not use_openmp:
            print("cyconv: building without OpenMP (kernels run serially)")
        base_args = BASE_COMPILE_ARGS if ctype == "unix" else ["/O2"]
        kept = []
        for ext in self.extensions:
            level_flags = SIMD_EXTENSION_FLAGS.get(ext.name, [])
            if level_flags and not _compiler_accepts(
                self.compiler, level_flags, SIMD_PROBE
            ):
                print(f"cyconv: compiler rejects {level_flags}; skipping {ext.name}")
                continue
            extra = list(base_args) + list(level_flags)
            if ext.name.split(".")[-1].split("_")[0] in EXACT_FAMILIES:
                extra += EXACT_ARGS.get(ctype, [])
            extra += shlex.split(os.environ.get("CYCONV_EXTRA_CFLAGS", ""))
            link = list(shlex.split(os.environ.get("CYCONV_EXTRA_LDFLAGS", "")))
            if use_openmp:
                extra += openmp
                link += openmp if ctype == "unix" else []
            ext.extra_compile_args = extra + ext.extra_compile_args
            ext.extra_link_args = link + ext.extra_link_args
            flags = " ".join(extra).replace('"', "")
            ext.define_macros.append(("CYCONV_BUILD_FLAGS", f'"{flags}"'))
            kept.append(ext)
        self.extensions = kept
        super().build_extensions()


def _simd_variants_wanted():
    if os.environ.get("CYCONV_NO_SIMD_VARIANTS", "0") == "1":
        return False
    machine = platform.machine().lower()
    return machine in ("x86_64", "amd64") and sys.platform != "win32"


def make_extensions():
    common = dict(
        include_dirs=[np.get_include(), KERNEL_DIR],
        # The memory-handler API (kernels/memory.pyx) needs numpy >= 1.22;
        # the package requires 1.25.
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION"),
                       ("NPY_TARGET_VERSION", "NPY_1_25_API_VERSION")],
    )
    names = sorted(
        f[:-4]
        for f in os.listdir(KERNEL_DIR)
        if f.endswith(".pyx") and not any(
            f.startswith(f"{fam}_{lvl}") for fam in SIMD_FAMILIES for lvl in SIMD_LEVELS
        )
    )
    extensions = []
    for name in names:
        extensions.append(
            Extension(
                f"cyconv._kernels.{name}",
                [os.path.join(KERNEL_DIR, f"{name}.pyx")],
                **{k: list(v) for k, v in common.items()},
            )
        )
    if _simd_variants_wanted():
        for family in SIMD_FAMILIES:
            for level, flags in SIMD_LEVELS.items():
                ext = Extension(
                    f"cyconv._kernels.{family}_{level}",
                    [os.path.join(KERNEL_DIR, f"{family}_{level}.pyx")],
                    **{k: list(v) for k, v in common.items()},
                )
                SIMD_EXTENSION_FLAGS[ext.name] = flags
                extensions.append(ext)
    return cythonize(
        extensions,
        nthreads=os.cpu_count() or 1,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
        },
        annotate=os.environ.get("CYCONV_ANNOTATE", "0") == "1",
    )


setup(ext_modules=make_extensions(), cmdclass={"build_ext": CyconvBuildExt})
