#!/usr/bin/env bash
# Build cyconv's extensions with AddressSanitizer and UndefinedBehaviorSanitizer
# in a separate copy of the source tree and run the test suite against that
# build.  Prints "sanitizers: clean" and exits 0 only when every test passes
# and neither sanitizer reported anything.
#
#   tools/sanitize.sh                      # whole suite
#   tools/sanitize.sh tests/test_robustness.py -k bad_input   # pytest arguments
#
# Environment:
#   CYCONV_SANITIZE_DIR  where the instrumented copy is built (default build-asan/)
#   HYPOTHESIS_PROFILE   as for the ordinary suite
#
# Needs the build requirements of pyproject.toml (setuptools>=77, Cython>=3,
# numpy, scipy) in the running Python, since it calls setup.py directly.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${CYCONV_SANITIZE_DIR:-$repo/build-asan}"
log="$build_dir/sanitizer.log"

echo "== copying the sources to $build_dir"
mkdir -p "$build_dir"
# Sources only: the in-place build's .so and .c files must not be picked up.
(cd "$repo" && tar cf - --exclude='*.so' --exclude='*.c' --exclude=__pycache__ \
    setup.py pyproject.toml README.md cyconv tests) | (cd "$build_dir" && tar xf -)

echo "== building with -fsanitize=address,undefined"
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -g -O1"
(cd "$build_dir" && CYCONV_EXTRA_CFLAGS="$flags" CYCONV_EXTRA_LDFLAGS="$flags" \
    python setup.py -q build_ext --inplace --force >"$build_dir/build.log" 2>&1) || {
    tail -30 "$build_dir/build.log"
    exit 1
}

echo "== running the tests under the sanitizers (report: $log)"
rm -f "$log".*
status=0
# CPython is not instrumented, so the ASan runtime is preloaded.  Leak
# detection is off because CPython's own allocations at exit would flood it
# (tools/memory_soak.py covers leaks); huge allocations must return NULL so
# that they become MemoryError as in an ordinary build.
(cd "$build_dir" && \
    LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
    ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:log_path=$log" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$log" \
    python -m pytest -q "${@:-tests}") || status=$?

if compgen -G "$log.*" >/dev/null; then
    cat "$log".*
    echo "sanitizers: DIRTY (see $log.*)"
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "sanitizers: tests failed (exit $status) without a sanitizer report"
    exit "$status"
fi
echo "sanitizers: clean"
