"""Check an installed cyconv wheel: run it from outside the source tree.

    python -P tools/check_installed.py [--source DIR] [--no-build-tools]

* cyconv is imported from site-packages (not from ``--source``), and every
  module of it imports;
* with ``--no-build-tools``: neither Cython nor setuptools is installed, so
  nothing could have been compiled at install time;
* on Linux, an OpenMP build loads the libgomp that auditwheel bundled in
  ``cyconv.libs``, not the system's;
* SIMD dispatch: the AVX2/FMA kernels where the CPU has them (an x86-64 wheel
  must carry them), and the baseline kernels with ``CYCONV_SIMD=baseline``,
  which ``show_config`` must report.

Used by ``tools/test_wheel.sh`` and by cibuildwheel's test-command.
"""
import argparse
import importlib
import importlib.util
import os
import platform
import pkgutil
import subprocess
import sys


def check_level():
    """Assert the kernel level chosen at import; return it."""
    from cyconv import _config, _simd
    from cyconv._kernels import runtime
    from cyconv._kernels.families import SIMD_FAMILIES, SIMD_LEVELS

    cfg = _config.config_dict()
    requested = os.environ.get(_simd.ENV_VAR, "")
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    if x86 and sys.platform != "win32":
        # setup.py builds every level's variants on every x86-64 platform but Windows.
        for level in SIMD_LEVELS:
            for family in SIMD_FAMILIES:
                assert importlib.util.find_spec(f"cyconv._kernels.{family}_{level}"), \
                    f"no {level} {family} kernels in the wheel"
    # What this CPU runs: x86-64-v4 (avx512), else v3 (avx2), else the baseline.
    cpu_levels = ["baseline"] + [level for level, supported in
                                 (("avx2", runtime.cpu_has_x86_64_v3()),
                                  ("avx512", runtime.cpu_has_x86_64_v4())) if supported]
    if x86 and sys.platform != "win32":
        assert _simd.available_levels() == cpu_levels, (_simd.available_levels(), cpu_levels)
    expected = requested if requested in cpu_levels else _simd.available_levels()[-1]
    if expected != "baseline":
        march = {"avx2": "-march=x86-64-v3", "avx512": "-march=x86-64-v4"}[expected]
        assert march in cfg["SIMD kernel flags"], cfg["SIMD kernel flags"]
    assert cfg["SIMD level"] == expected, (cfg["SIMD level"], expected)
    module = "correlate" if expected == "baseline" else f"correlate_{expected}"
    assert _simd.correlate_kernels.__name__ == f"cyconv._kernels.{module}", _simd.correlate_kernels
    assert "-march" not in cfg["compile flags"], cfg["compile flags"]
    print(f"{_simd.ENV_VAR}={requested or '(unset)'}: SIMD level {cfg['SIMD level']}, "
          f"kernels {_simd.correlate_kernels.__name__}, CPU x86-64-v3 / v4: {cfg['CPU x86-64-v3 / v4']}")
    return expected


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="the source tree, which cyconv must not come from")
    parser.add_argument("--no-build-tools", action="store_true",
                        help="fail when Cython or setuptools is installed")
    parser.add_argument("--level-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.level_only:
        check_level()
        return

    if args.no_build_tools:
        for tool in ("Cython", "setuptools"):
            assert importlib.util.find_spec(tool) is None, f"{tool} is installed"

    import cyconv
    from cyconv._kernels import runtime

    home = os.path.dirname(os.path.realpath(cyconv.__file__))
    if args.source:
        source = os.path.realpath(args.source)
        assert os.path.commonpath([home, source]) != source, f"cyconv imported from {home}"
    for mod in pkgutil.walk_packages(cyconv.__path__, "cyconv."):
        if mod.name == "cyconv.__main__":
            continue
        if mod.name == "cyconv.dask" and importlib.util.find_spec("dask") is None:
            continue  # the optional extra: without dask its import says what to install
        importlib.import_module(mod.name)
    print("cyconv", cyconv.__version__, "from", home)

    if sys.platform.startswith("linux") and runtime.openmp_enabled():
        out = subprocess.run(["ldd", runtime.__file__], capture_output=True, text=True).stdout
        gomp = [line.strip() for line in out.splitlines() if "gomp" in line]
        print("OpenMP runtime:", *gomp)
        assert gomp and all("cyconv.libs" in line for line in gomp), "libgomp is not the bundled copy"
    elif not runtime.openmp_enabled():
        print("built without OpenMP: kernels run serially")

    check_level()
    env = dict(os.environ, CYCONV_SIMD="baseline", PYTHONSAFEPATH="1")
    subprocess.run([sys.executable, __file__, "--level-only"], env=env, check=True)
    out = subprocess.run([sys.executable, "-c", "import cyconv; cyconv.show_config()"],
                         env=env, check=True, capture_output=True, text=True).stdout
    print("show_config() with CYCONV_SIMD=baseline:\n" + out, end="")
    level = [line for line in out.splitlines() if line.strip().startswith("SIMD level ")]
    assert level and level[0].split(":")[-1].strip() == "baseline", level
    print("check_installed: OK")


if __name__ == "__main__":
    main()
