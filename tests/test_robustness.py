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


# --- Bad input: every public function, every argument --------------------------

# One valid call per function; each row of BAD_INPUTS replaces one argument.
VALID_CALLS = {
    "correlate2d": dict(in1=np.ones((5, 5)), in2=np.ones((2, 2))),
    "convolve2d": dict(in1=np.ones((5, 5)), in2=np.ones((2, 2))),
    "conv2d": dict(x=np.ones((1, 2, 5, 5)), weight=np.ones((3, 2, 3, 3)), bias=np.ones(3)),
    "conv2d_backward": dict(grad_output=np.ones((1, 3, 3, 3)), x=np.ones((1, 2, 5, 5)),
                            weight=np.ones((3, 2, 3, 3))),
    "im2col": dict(x=np.ones((1, 2, 5, 5)), kernel_size=2),
    "col2im": dict(cols=np.ones((1, 8, 16)), output_size=(5, 5), kernel_size=2),
    "max_pool2d": dict(x=np.ones((1, 2, 5, 5)), kernel_size=2),
    "max_pool2d_backward": dict(grad_output=np.ones((1, 2, 2, 2)),
                                indices=np.zeros((1, 2, 2, 2), np.int64), input_shape=(1, 2, 5, 5)),
    "avg_pool2d": dict(x=np.ones((1, 2, 5, 5)), kernel_size=2),
    "avg_pool2d_backward": dict(grad_output=np.ones((1, 2, 2, 2)), input_shape=(1, 2, 5, 5),
                                kernel_size=2),
}
LAYERS = [name for name in VALID_CALLS if name not in ("correlate2d", "convolve2d")]
ARRAYS = {name: [arg for arg, value in call.items() if isinstance(value, np.ndarray)]
          for name, call in VALID_CALLS.items()}
WINDOWED = ["im2col", "col2im", "max_pool2d", "avg_pool2d", "avg_pool2d_backward"]
HUGE = 2**64


def _rows():
    """(function, argument, bad value, exception, pattern the message must match)."""
    # Not arrays of real numbers, and ragged nesting, for every array argument.
    for name in LAYERS:
        for arg in ARRAYS[name]:
            yield name, arg, ["a", "b"], TypeError, arg
            yield name, arg, object(), TypeError, arg
            yield name, arg, np.ones((2, 2, 2, 2), complex), TypeError, arg
            yield name, arg, [[1.0, 2.0], [3.0]], ValueError, arg
            if arg != "bias":
                yield name, arg, None, TypeError, arg
    for name in ("correlate2d", "convolve2d"):
        # scipy's exception types (the drop-in contract), with clear messages.
        for arg in ("in1", "in2"):
            yield name, arg, None, ValueError, "2-D"
            yield name, arg, np.ones(4), ValueError, "2-D"
            yield name, arg, np.ones((2, 2, 2)), ValueError, "2-D"
            yield name, arg, [[1.0, 2.0], [3.0]], ValueError, arg
        yield name, "in1", np.array([["a", "b"]]), ValueError, "type"
        yield name, "mode", "big", ValueError, "mode"
        yield name, "boundary", "zero", ValueError, "boundary"
        yield name, "method", "winograd", ValueError, "method"
        yield name, "fillvalue", [1, 2], ValueError, "fillvalue"
        yield name, "fillvalue", [], ValueError, "fillvalue"
    # Wrong number of dimensions.
    for name, arg, shape in [
            ("conv2d", "x", (5,)), ("conv2d", "x", (1, 1, 2, 5, 5)), ("conv2d", "weight", (3, 2, 3)),
            ("conv2d_backward", "x", (5, 5)), ("conv2d_backward", "weight", (3, 2, 3, 3, 1)),
            ("im2col", "x", (5, 5)), ("col2im", "cols", (8,)), ("col2im", "cols", (1, 1, 8, 16)),
            ("max_pool2d", "x", (5,)), ("max_pool2d", "x", (1, 1, 1, 5, 5)),
            ("avg_pool2d", "x", (1, 1, 1, 5, 5))]:
        yield name, arg, np.ones(shape), ValueError, arg
    # Shapes that do not fit together.
    yield "conv2d", "weight", np.ones((3, 3, 3, 3)), ValueError, "channels"
    yield "conv2d", "bias", np.ones(4), ValueError, "bias"
    yield "conv2d", "groups", 2, ValueError, "groups"
    yield "conv2d", "weight", np.ones((3, 2, 6, 6)), ValueError, "kernel"
    yield "conv2d", "weight", np.ones((3, 2, 0, 3)), ValueError, "weight"
    yield "conv2d", "x", np.ones((1, 0, 5, 5)), ValueError, "x"
    yield "conv2d_backward", "grad_output", np.ones((1, 3, 4, 3)), ValueError, "grad_output"
    yield "col2im", "cols", np.ones((1, 7, 16)), ValueError, "kernel_size"
    yield "col2im", "cols", np.ones((1, 8, 15)), ValueError, "blocks"
    yield "col2im", "output_size", 0, ValueError, "output_size"
    yield "col2im", "output_size", (5, 5, 5), ValueError, "output_size"
    yield "max_pool2d", "x", np.ones((1, 2, 0, 5)), ValueError, "x"
    yield "max_pool2d_backward", "indices", np.zeros((1, 2, 2, 2)), TypeError, "indices"
    yield "max_pool2d_backward", "indices", np.zeros((1, 2, 2, 3), int), ValueError, "indices"
    yield "max_pool2d_backward", "indices", np.full((1, 2, 2, 2), 25), ValueError, "indices"
    yield "max_pool2d_backward", "indices", np.full((1, 2, 2, 2), -1), ValueError, "indices"
    yield "avg_pool2d_backward", "grad_output", np.ones((1, 2, 3, 2)), ValueError, "grad_output"
    for name in ("max_pool2d_backward", "avg_pool2d_backward"):
        yield name, "input_shape", (1, 2, 5), ValueError, "input_shape"
        yield name, "input_shape", (1, 2, -5, 5), ValueError, "input_shape"
        yield name, "input_shape", ("1", 2, 5, 5), TypeError, "input_shape"
        yield name, "input_shape", None, TypeError, "input_shape"
        yield name, "input_shape", (1, 2, 2**40, 2**40), ValueError, "input_shape"
        yield name, "input_shape", (1, 2, HUGE, 5), ValueError, "input_shape"
    # Window geometry: zero, negative, non-integer, too many values, too large.
    for name in WINDOWED + ["conv2d", "conv2d_backward"]:
        params = ["stride", "padding"] + (["kernel_size"] if name in WINDOWED else [])
        params += ["dilation"] if name not in ("avg_pool2d", "avg_pool2d_backward") else []
        for param in params:
            minimum = 0 if param == "padding" else 1
            yield name, param, minimum - 1, ValueError, param
            yield name, param, 1.5, TypeError, param
            text_error = ValueError if param == "padding" and name.startswith("conv") else TypeError
            yield name, param, "2", text_error, param
            yield name, param, (1, 1, 1), ValueError, param
            yield name, param, HUGE, ValueError, param
        if name in ("conv2d", "conv2d_backward"):
            yield name, "groups", 0, ValueError, "groups"
            yield name, "groups", 1.0, TypeError, "groups"
            yield name, "stride", None, TypeError, "stride"
            yield name, "padding", "full", ValueError, "padding"
            # An output too large to index, refused before any allocation.
            yield name, "padding", 2**40, ValueError, "padding"
    yield "im2col", "padding", 2**40, ValueError, "padding"
    for name in ("max_pool2d", "avg_pool2d", "avg_pool2d_backward"):
        yield name, "padding", 2, ValueError, "padding"  # more than half the kernel
        yield name, "kernel_size", 9, ValueError, "kernel_size"  # larger than the padded input
    for name in ("avg_pool2d", "avg_pool2d_backward"):
        yield name, "divisor_override", 0, ValueError, "divisor_override"
        yield name, "divisor_override", 0.5, TypeError, "divisor_override"
    yield "conv2d", "padding", "same", ValueError, "stride"  # 'same' needs stride 1 ...
    for name in VALID_CALLS:
        yield name, "workers", 0, ValueError, "workers"
        yield name, "workers", "2", TypeError, "workers"
        yield name, "workers", 1.5, TypeError, "workers"
        yield name, "workers", -HUGE, ValueError, "workers"


BAD_INPUTS = list(_rows())


@pytest.mark.parametrize("name, argument, value, error, pattern", BAD_INPUTS,
                         ids=[f"{row[0]}-{row[1]}-{i}" for i, row in enumerate(BAD_INPUTS)])
def test_bad_input_raises_a_clear_error(name, argument, value, error, pattern):
    kwargs = dict(VALID_CALLS[name], **{argument: value})
    if name == "conv2d" and isinstance(value, str) and value == "same":
        kwargs["stride"] = 2  # ... so this row checks the combination
    getattr(cyconv, name)(**VALID_CALLS[name])  # the unmodified call is valid
    with pytest.raises(error, match=pattern):
        getattr(cyconv, name)(**kwargs)
