"""Robustness: odd and hostile inputs, non-finite values, threads and the GIL.

Every public function is checked against its oracle (scipy.signal or
tests/reference.py) on inputs chosen to reach the edges, is fed a table of
bad arguments that must each raise a clear error naming the argument, and is
hammered from several threads at once.  The fuzzer (tools/fuzz_cyconv.py),
the sanitizer build (tools/sanitize.sh) and the memory soak
(tools/memory_soak.py) cover what a test run cannot.
"""
import subprocess
import sys

import numpy as np
import pytest

import cyconv
from cyconv._config import resolve_workers


def run_isolated(code, timeout=120):
    """Run ``code`` in a fresh interpreter (a crash there cannot take pytest down)."""
    return subprocess.run([sys.executable, "-c", "import numpy as np, cyconv\n" + code],
                          capture_output=True, text=True, timeout=timeout)


# --- Regressions --------------------------------------------------------------

def test_huge_worker_counts_are_capped_instead_of_crashing():
    # libgomp aborted or crashed the interpreter when max_pool2d launched
    # one thread per requested worker.
    assert resolve_workers(10**6) <= max(resolve_workers(-1), resolve_workers(None))
    result = run_isolated("print(cyconv.max_pool2d(np.ones((300, 300)), 2, workers=100_000).sum())")
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout) == 150 * 150
    x = np.ones((1, 1, 8, 8))
    np.testing.assert_array_equal(cyconv.conv2d(x, np.ones((1, 1, 3, 3)), workers=2**70),
                                  cyconv.conv2d(x, np.ones((1, 1, 3, 3)), workers=1))


@pytest.mark.parametrize("name", ["correlate2d", "convolve2d"])
@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_auto_method_keeps_non_finite_values_local(rng, name, bad_value):
    # 'auto' chose the FFT for this size, which turned one NaN into an
    # all-NaN output where scipy (always direct) has NaN in 30x30 windows.
    image = rng.standard_normal((400, 400))
    image[10, 200] = bad_value
    kernel = rng.standard_normal((30, 30))
    function = getattr(cyconv, name)
    auto = function(image, kernel, "same")
    np.testing.assert_array_equal(auto, function(image, kernel, "same", method="direct"))
    windows_with_it = function((image != image) | np.isinf(image), np.ones((30, 30)), "same",
                               method="direct") > 0
    np.testing.assert_array_equal(~np.isfinite(auto), windows_with_it)
    assert np.count_nonzero(windows_with_it) < auto.size // 100


def test_max_pool2d_indices_skip_a_huge_padding_in_one_step():
    # The kernel walked the padding one tap at a time: 2**40 steps per window.
    result = run_isolated(
        "out, idx = cyconv.max_pool2d(np.full((1, 1), 7.0), 2**41, padding=2**40,"
        " return_indices=True)\nprint(out.item(), idx.item())", timeout=30)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["7.0", "0"]
