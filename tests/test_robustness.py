"""Robustness: odd and hostile inputs, non-finite values, threads and the GIL.

Every public function is checked against its oracle (scipy.signal or
tests/reference.py) on inputs chosen to reach the edges, is fed a table of
bad arguments that must each raise a clear error naming the argument, and is
hammered from several threads at once.  The fuzzer (tools/fuzz_cyconv.py),
the sanitizer build (tools/sanitize.sh) and the memory soak
(tools/memory_soak.py) cover what a test run cannot.
"""

import numpy as np
import pytest

import cyconv
from cyconv._config import resolve_workers
from support import run_python, with_layout


def run_isolated(code, timeout=120):
    """Run ``code`` in a fresh interpreter (a crash there cannot take pytest down)."""
    return run_python("import numpy as np, cyconv\n" + code, timeout=timeout)


# --- Regressions --------------------------------------------------------------

def test_huge_worker_counts_are_capped_instead_of_crashing():
    # libgomp aborted or crashed the interpreter when max_pool2d launched
    # one thread per requested worker.
    from cyconv._config import OVERSUBSCRIPTION
    limit = OVERSUBSCRIPTION * max(resolve_workers(-1), resolve_workers(None))
    assert resolve_workers(10**6) == limit
    assert resolve_workers(3) == 3  # moderate oversubscription is the caller's choice
    result = run_isolated("print(cyconv.max_pool2d(np.ones((300, 300)), 2, workers=100_000).sum())")
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout) == 150 * 150
    x = np.ones((1, 1, 8, 8))
    np.testing.assert_array_equal(cyconv.conv2d(x, np.ones((1, 1, 3, 3)), workers=2**70),
                                  cyconv.conv2d(x, np.ones((1, 1, 3, 3)), workers=1))


@pytest.mark.parametrize("name", ["correlate2d", "convolve2d"])
@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
@pytest.mark.parametrize("rank1", [False, True])
def test_auto_method_keeps_non_finite_values_local(rng, name, bad_value, rank1):
    # 'auto' chose the FFT for this size, which turned one NaN into an
    # all-NaN output where scipy (always direct) has NaN in 30x30 windows.
    # The passes of a rank-1 kernel keep it local but not its value (inf -
    # inf meets in another order; a zero weight makes NaN of an inf): their
    # output is checked and the dense sum run instead.
    image = rng.standard_normal((400, 400))
    image[10, 200] = bad_value
    image[300, 100:103] = [np.inf, -np.inf, np.inf]
    if rank1:
        kernel = np.outer(np.hanning(30), np.linspace(-1, 1, 30))
    else:
        kernel = rng.standard_normal((30, 30))
    function = getattr(cyconv, name)
    plan = cyconv.correlate2d_plan(image, kernel, "same", convolve=name == "convolve2d")
    assert plan.method == ("separable" if rank1 else "dense"), str(plan)
    with np.errstate(invalid="ignore"):
        auto = function(image, kernel, "same")
        direct = function(image, kernel, "same", method="direct")
    np.testing.assert_array_equal(auto, direct)
    windows_with_it = function((image != image) | np.isinf(image), np.ones((30, 30)), "same",
                               method="direct") > 0
    np.testing.assert_array_equal(~np.isfinite(auto), windows_with_it)
    assert np.count_nonzero(windows_with_it) < auto.size // 50


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
    "adaptive_max_pool2d": dict(x=np.ones((1, 2, 5, 5)), output_size=3),
    "adaptive_max_pool2d_backward": dict(grad_output=np.ones((1, 2, 3, 3)),
                                         indices=np.zeros((1, 2, 3, 3), np.int64),
                                         input_shape=(1, 2, 5, 5)),
    "adaptive_avg_pool2d": dict(x=np.ones((1, 2, 5, 5)), output_size=3),
    "adaptive_avg_pool2d_backward": dict(grad_output=np.ones((1, 2, 3, 3)),
                                         input_shape=(1, 2, 5, 5)),
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
            ("avg_pool2d", "x", (1, 1, 1, 5, 5)), ("adaptive_max_pool2d", "x", (5,)),
            ("adaptive_avg_pool2d", "x", (1, 1, 1, 5, 5))]:
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
    yield "adaptive_avg_pool2d", "x", np.ones((1, 0, 5, 5)), ValueError, "x"
    for name, size in (("max_pool2d_backward", 2), ("adaptive_max_pool2d_backward", 3)):
        yield name, "indices", np.zeros((1, 2, size, size)), TypeError, "indices"
        yield name, "indices", np.zeros((1, 2, size, size + 1), int), ValueError, "indices"
        yield name, "indices", np.full((1, 2, size, size), 25), ValueError, "indices"
        yield name, "indices", np.full((1, 2, size, size), -1), ValueError, "indices"
    yield "avg_pool2d_backward", "grad_output", np.ones((1, 2, 3, 2)), ValueError, "grad_output"
    yield "adaptive_avg_pool2d_backward", "grad_output", np.ones((1, 3, 3, 3)), ValueError, \
        "grad_output"
    yield "adaptive_avg_pool2d_backward", "grad_output", np.ones((2, 3, 3)), ValueError, \
        "grad_output"
    for name in ("max_pool2d_backward", "avg_pool2d_backward", "adaptive_max_pool2d_backward",
                 "adaptive_avg_pool2d_backward"):
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
    for name in ("adaptive_max_pool2d", "adaptive_avg_pool2d"):
        yield name, "output_size", -1, ValueError, "output_size"
        yield name, "output_size", 1.5, TypeError, "output_size"
        yield name, "output_size", "2", TypeError, "output_size"
        yield name, "output_size", None, TypeError, "output_size"
        yield name, "output_size", (2, None, 2), ValueError, "output_size"
        yield name, "output_size", HUGE, ValueError, "output_size"
        yield name, "output_size", (2**40, 2**40), ValueError, "output_size"  # too large to index
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


# --- Edge-reaching properties against the oracles ------------------------------

import scipy.signal  # noqa: E402
from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from reference import (  # noqa: E402
    adaptive_avg_pool2d_backward_reference,
    adaptive_pool2d_reference,
    avg_pool2d_backward_ref,
    avg_pool2d_ref,
    col2im_reference,
    conv2d_backward_reference,
    conv2d_reference,
    im2col_reference,
    max_pool2d_backward_ref,
    max_pool2d_ref,
    pool_output_size,
)
from test_correlate import DTYPES, is_deliberate_difference, outcome  # noqa: E402

LAYOUTS = ["contiguous", "fortran", "negative", "strided", "byteswapped", "readonly"]
# Largest magnitudes whose products and short sums stay finite in the type.
HUGE_VALUE = {4: 1e18, 8: 1e150}


def values(dtype, finite=False):
    """Elements of ``dtype``: ordinary, huge, tiny, zero and (unless finite) NaN and +-inf."""
    dtype = np.dtype(dtype)
    if dtype.kind in "biu":
        return hnp.from_dtype(dtype)
    real = np.dtype(dtype.char.lower()) if dtype.kind == "c" else dtype
    huge = HUGE_VALUE.get(min(real.itemsize, 8), 1e3)
    specials = [0.0, huge, -huge, 1 / huge, -1 / huge] + ([] if finite else [np.nan, np.inf, -np.inf])
    width = 32 if real.itemsize == 4 else 64
    part = st.one_of(st.floats(-2, 2, width=width), st.sampled_from(specials))
    if real.itemsize == 2:
        part = st.floats(-100, 100, width=16) if finite else st.floats(width=16)
    if dtype.kind == "c":
        return st.builds(complex, part, part)
    return part


@st.composite
def arrays(draw, dtype, shape, finite=False):
    array = draw(hnp.arrays(dtype, shape, elements=values(dtype, finite)))
    return with_layout(array, draw(st.sampled_from(LAYOUTS)))


def assert_matches(got, want, magnitude, terms):
    """``got`` equals the oracle ``want`` to rounding, NaN and inf included.

    ``magnitude`` is the oracle applied to absolute values: the size of the
    terms summed, which bounds the rounding error of any summation order.
    """
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    assert got.flags.c_contiguous
    if got.dtype.kind in "iub":
        np.testing.assert_array_equal(got, want)
        return
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite], want[~finite])
    info = np.finfo(got.dtype)
    bound = 4 * (terms + 1) * (info.eps * np.abs(magnitude[finite]) + info.smallest_subnormal)
    error = np.abs(got[finite].astype(want.dtype) - want[finite])
    assert np.all(error <= bound), f"error {error.max()} beyond {bound[np.argmax(error - bound)]}"


@given(data=st.data(), name=st.sampled_from(["correlate2d", "convolve2d"]),
       dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES + [np.bool_])),
       shape1=st.tuples(st.integers(0, 7), st.integers(0, 7)),
       shape2=st.tuples(st.integers(0, 9), st.integers(0, 9)),
       mode=st.sampled_from(["full", "same", "valid"]),
       boundary=st.sampled_from(["fill", "wrap", "symm"]),
       fillvalue=st.sampled_from([0, 1.5, -3, np.nan, np.inf]),
       method=st.sampled_from(["auto", "direct"]))
def test_property_correlate_edges(data, name, dtypes, shape1, shape2, mode, boundary, fillvalue,
                                  method):
    in1 = data.draw(arrays(dtypes[0], shape1), "in1")
    in2 = data.draw(arrays(dtypes[1], shape2), "in2")
    assume(not (in1.size == 0 and boundary != "fill"))  # scipy crashes; cyconv refuses (tested)
    assume(not is_deliberate_difference(name, mode, in1, in2))
    want = outcome(getattr(scipy.signal, name), in1, in2, mode, boundary, fillvalue)
    got = outcome(getattr(cyconv, name), in1, in2, mode, boundary, fillvalue, method=method)
    if isinstance(want, type) or isinstance(got, type):
        assert got is want
        return
    assert got.dtype == want.dtype
    magnitude = None
    if want.dtype.kind not in "iub":
        # Converted before abs: np.abs of the most negative int64 is itself.
        magnitude = getattr(scipy.signal, name)(
            *(np.abs(a.astype(np.result_type(a.dtype, np.float64))) for a in (in1, in2)),
            mode, boundary, abs(fillvalue))
    assert_matches(got, want, magnitude, in2.size)


@pytest.mark.parametrize("method", ["auto", "direct"])
def test_complex_inf_times_a_real_kernel_follows_scipy(method):
    # The zero imaginary plane of a real kernel was skipped, so (0 + inf j) * 1
    # lost scipy's NaN real part (inf * 0) and gave 0 + inf j.
    image = np.zeros((3, 4), np.complex128)
    image[1, 2] = complex(0, np.inf)
    want = scipy.signal.correlate2d(image, np.ones((2, 2)))
    got = cyconv.correlate2d(image, np.ones((2, 2)), method=method)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got.real).sum() == 4


LAYER_DTYPES = [np.float32, np.float64, np.float16, np.int8, np.uint16, np.bool_]
# Strides and dilations include ones far beyond the input (one window, or none).
STEPS = st.sampled_from([1, 1, 2, 3, 10**9])


def layer_result_dtype(*arrays):
    dtype = np.result_type(*arrays)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def float64(array):
    return np.asarray(array, dtype=np.float64)


@st.composite
def conv_cases(draw):
    groups, in_per, out_per = (draw(st.integers(1, 3)) for _ in range(3))
    x_shape = (draw(st.integers(0, 2)), groups * in_per, draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dtypes = draw(st.tuples(st.sampled_from(LAYER_DTYPES), st.sampled_from(LAYER_DTYPES)))
    x = draw(arrays(dtypes[0], x_shape))
    weight = draw(arrays(dtypes[1], (groups * out_per, in_per) + kernel, finite=True))
    geometry = dict(stride=(draw(STEPS), draw(STEPS)), dilation=(draw(STEPS), draw(STEPS)),
                    padding=(draw(st.integers(0, 3)), draw(st.integers(0, 3))), groups=groups)
    return x, weight, geometry


def conv_output_hw(x, weight, stride, padding, dilation, groups):
    return [pool_output_size(n, k, s, p, d, False) for n, k, s, p, d
            in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation)]


@given(case=conv_cases())
def test_property_conv2d_edges(case):
    x, weight, geometry = case
    if min(conv_output_hw(x, weight, **geometry)) < 1:
        with pytest.raises(ValueError, match="kernel"):
            cyconv.conv2d(x, weight, **geometry)
        return
    pads = [p for p in geometry["padding"] for _ in (0, 1)]
    args = (geometry["stride"], pads, geometry["dilation"], geometry["groups"])
    got = cyconv.conv2d(x, weight, **geometry)
    assert got.dtype == layer_result_dtype(x, weight)
    assert_matches(got, conv2d_reference(float64(x), float64(weight), None, *args),
                   conv2d_reference(np.abs(float64(x)), np.abs(float64(weight)), None, *args),
                   weight[0].size)


@given(case=conv_cases(), data=st.data())
def test_property_conv2d_backward_edges(case, data):
    x, weight, geometry = case
    out_hw = conv_output_hw(x, weight, **geometry)
    assume(min(out_hw) >= 1)
    grad_out = data.draw(arrays(np.float64, (x.shape[0], weight.shape[0], *out_hw), finite=True))
    pads = [p for p in geometry["padding"] for _ in (0, 1)]
    args = (geometry["stride"], pads, geometry["dilation"], geometry["groups"])
    got = cyconv.conv2d_backward(grad_out, x, weight, **geometry)
    want = conv2d_backward_reference(grad_out, float64(x), float64(weight), *args)
    magnitude = conv2d_backward_reference(np.abs(grad_out), np.abs(float64(x)),
                                          np.abs(float64(weight)), *args)
    terms = max(weight.shape[0], int(np.prod(out_hw)) * x.shape[0] + 1, weight[0].size)
    for got_part, want_part, size in zip(got, want, magnitude):
        assert_matches(got_part, want_part, size, terms)


@given(case=conv_cases(), data=st.data())
def test_property_im2col_col2im_edges(case, data):
    x, weight, geometry = case
    kernel, stride, padding, dilation = (weight.shape[2:], geometry["stride"],
                                         geometry["padding"], geometry["dilation"])
    out_hw = conv_output_hw(x, weight, **geometry)
    if min(out_hw) < 1:
        with pytest.raises(ValueError, match="kernel"):
            cyconv.im2col(x, kernel, stride, padding, dilation)
        return
    cols = cyconv.im2col(x, kernel, stride, padding, dilation)
    assert cols.dtype == layer_result_dtype(x)
    if x.shape[0] == 0:  # the oracles need an image
        assert cols.shape == (0, x.shape[1] * kernel[0] * kernel[1], out_hw[0] * out_hw[1])
        assert cyconv.col2im(cols, x.shape[2:], kernel, stride, padding, dilation).shape == x.shape
        return
    np.testing.assert_array_equal(cols, im2col_reference(x, kernel, stride, padding, dilation))
    folded_input = data.draw(arrays(np.float64, cols.shape))
    got = cyconv.col2im(folded_input, x.shape[2:], kernel, stride, padding, dilation)
    assert_matches(got, col2im_reference(folded_input, x.shape[2:], kernel, stride, padding, dilation),
                   col2im_reference(np.abs(folded_input), x.shape[2:], kernel, stride, padding,
                                    dilation), kernel[0] * kernel[1])


@st.composite
def pool_cases(draw, dilated=True):
    shape = draw(st.sampled_from([(), (1,), (0, 2), (2, 1)])) + (draw(st.integers(1, 7)),
                                                                   draw(st.integers(1, 7)))
    x = draw(arrays(draw(st.sampled_from(LAYER_DTYPES)), shape))
    kernel = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dilation = (draw(STEPS), draw(STEPS)) if dilated else (1, 1)
    return x, kernel, (draw(STEPS), draw(STEPS)), padding, dilation, draw(st.booleans())


def pool_output_hw(x, kernel, stride, padding, dilation, ceil_mode):
    return [pool_output_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d
            in zip(x.shape[-2:], kernel, stride, padding, dilation)]


def as_planes(array):
    """``array`` as float64 planes (P, H, W), P possibly 0."""
    return float64(array).reshape(planes_shape(array.shape))


def planes_shape(shape):
    return (int(np.prod(shape[:-2])),) + tuple(shape[-2:])


@given(case=pool_cases())
def test_property_max_pool2d_edges(case):
    x, kernel, stride, padding, dilation, ceil_mode = case
    if min(pool_output_hw(*case)) < 1:
        with pytest.raises(ValueError, match="kernel_size"):
            cyconv.max_pool2d(*case)
        return
    out, indices = cyconv.max_pool2d(*case, return_indices=True)
    want, want_indices = max_pool2d_ref(as_planes(x), kernel, stride, padding, dilation, ceil_mode)
    assert out.dtype == layer_result_dtype(x) and out.shape == x.shape[:-2] + want.shape[1:]
    np.testing.assert_array_equal(as_planes(out), want)
    np.testing.assert_array_equal(indices.reshape(want_indices.shape), want_indices)
    np.testing.assert_array_equal(cyconv.max_pool2d(*case), out)


@given(case=pool_cases(), data=st.data())
def test_property_max_pool2d_backward_edges(case, data):
    x = case[0]
    assume(min(pool_output_hw(*case)) >= 1)
    _, indices = cyconv.max_pool2d(*case, return_indices=True)
    grad = data.draw(arrays(np.float64, indices.shape))
    if indices.size and (indices.min() < 0 or indices.max() >= x.shape[-1] * x.shape[-2]):
        # A window entirely in the padding: torch's out-of-plane index, refused.
        with pytest.raises(ValueError, match="indices"):
            cyconv.max_pool2d_backward(grad, indices, x.shape)
        return
    got = cyconv.max_pool2d_backward(grad, indices, x.shape)
    want = max_pool2d_backward_ref(as_planes(grad), as_planes(indices).astype(np.int64),
                                   planes_shape(x.shape))
    assert_matches(got.reshape(want.shape), want,
                   max_pool2d_backward_ref(np.abs(as_planes(grad)),
                                           as_planes(indices).astype(np.int64), want.shape),
                   grad.size)


@given(case=pool_cases(dilated=False), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, 1, 3, -2]))
def test_property_avg_pool2d_edges(case, count_include_pad, divisor_override):
    x, kernel, stride, padding, _, ceil_mode = case
    arguments = (kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    if min(pool_output_hw(*case)) < 1:
        with pytest.raises(ValueError, match="kernel_size"):
            cyconv.avg_pool2d(x, *arguments)
        return
    got = cyconv.avg_pool2d(x, *arguments)
    assert got.dtype == layer_result_dtype(x)
    want = avg_pool2d_ref(as_planes(x), *arguments)
    assert_matches(got.reshape(want.shape), want, avg_pool2d_ref(np.abs(as_planes(x)), *arguments),
                   kernel[0] * kernel[1])


@given(case=pool_cases(dilated=False), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, 1, 3, -2]), data=st.data())
def test_property_avg_pool2d_backward_edges(case, count_include_pad, divisor_override, data):
    x, kernel, stride, padding, _, ceil_mode = case
    out_hw = pool_output_hw(*case)
    assume(min(out_hw) >= 1)
    grad = data.draw(arrays(np.float64, x.shape[:-2] + tuple(out_hw)))
    got = cyconv.avg_pool2d_backward(grad, x.shape, kernel, stride, padding, ceil_mode,
                                     count_include_pad, divisor_override)
    assert got.shape == x.shape
    plane_shape = planes_shape(x.shape)
    arguments = (kernel, stride, padding, count_include_pad, divisor_override)
    assert_matches(got.reshape(plane_shape),
                   avg_pool2d_backward_ref(as_planes(grad), plane_shape, *arguments),
                   avg_pool2d_backward_ref(np.abs(as_planes(grad)), plane_shape, *arguments),
                   kernel[0] * kernel[1])


@st.composite
def adaptive_cases(draw):
    shape = draw(st.sampled_from([(), (1,), (0, 2), (2, 1)])) + (draw(st.integers(1, 7)),
                                                                   draw(st.integers(1, 7)))
    x = draw(arrays(draw(st.sampled_from(LAYER_DTYPES)), shape))
    # Output sizes below, equal to and above the input's, 0, and None (the input's).
    sizes = st.one_of(st.integers(0, 10), st.none())
    return x, (draw(sizes), draw(sizes))


def adaptive_output_hw(x, output_size):
    return tuple(size if out is None else out for out, size in zip(output_size, x.shape[-2:]))


@given(case=adaptive_cases())
def test_property_adaptive_pool2d_edges(case):
    x, output_size = case
    out_hw = adaptive_output_hw(x, output_size)
    out, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True)
    want, want_indices = adaptive_pool2d_reference(as_planes(x), out_hw, "max")
    assert out.dtype == layer_result_dtype(x) and out.shape == x.shape[:-2] + out_hw
    np.testing.assert_array_equal(as_planes(out), want)
    np.testing.assert_array_equal(indices.reshape(want_indices.shape), want_indices)
    np.testing.assert_array_equal(cyconv.adaptive_max_pool2d(x, output_size), out)
    got = cyconv.adaptive_avg_pool2d(x, output_size)
    assert got.dtype == layer_result_dtype(x)
    want, _ = adaptive_pool2d_reference(as_planes(x), out_hw, "avg")
    magnitude, _ = adaptive_pool2d_reference(np.abs(as_planes(x)), out_hw, "avg")
    assert_matches(got.reshape(want.shape), want, magnitude, x.shape[-2] * x.shape[-1])


@given(case=adaptive_cases(), data=st.data())
def test_property_adaptive_pool2d_backward_edges(case, data):
    x, output_size = case
    out_hw = adaptive_output_hw(x, output_size)
    grad = data.draw(arrays(np.float64, x.shape[:-2] + out_hw))
    plane_shape = planes_shape(x.shape)
    got = cyconv.adaptive_avg_pool2d_backward(grad, x.shape)
    assert got.shape == x.shape
    assert_matches(got.reshape(plane_shape),
                   adaptive_avg_pool2d_backward_reference(as_planes(grad), plane_shape),
                   adaptive_avg_pool2d_backward_reference(np.abs(as_planes(grad)), plane_shape),
                   out_hw[0] * out_hw[1])
    _, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True)
    got = cyconv.adaptive_max_pool2d_backward(grad, indices, x.shape)
    want = max_pool2d_backward_ref(as_planes(grad), as_planes(indices).astype(np.int64),
                                   plane_shape)
    assert_matches(got.reshape(want.shape), want,
                   max_pool2d_backward_ref(np.abs(as_planes(grad)),
                                           as_planes(indices).astype(np.int64), plane_shape),
                   grad.size)


# --- Threads and the GIL -------------------------------------------------------

import threading  # noqa: E402
import time  # noqa: E402


def every_function_calls(rng, size):
    """One call of every public function on inputs of side ``size``."""
    x = rng.standard_normal((2, 4, size, size))
    weight = rng.standard_normal((6, 2, 3, 3))
    out, indices = cyconv.max_pool2d(x, 3, 2, 1, return_indices=True)
    adaptive_out, adaptive_indices = cyconv.adaptive_max_pool2d(x, (5, 3), return_indices=True)
    holed = x[:, 0].copy()
    holed[rng.random(holed.shape) < 0.1] = np.nan
    ring = np.ones((3, 5))
    ring[1, 2] = 0
    return [
        (cyconv.correlate2d, (x[0, 0], weight[0, 0], "same", "symm"), {}),
        (cyconv.convolve2d, (x[0, 0], weight[0, 0]), {}),
        (cyconv.conv2d, (x, weight, None, 1, 1, 1, 2), {}),
        (cyconv.conv2d_backward, (rng.standard_normal((2, 6, size, size)), x, weight, 1, 1, 1, 2), {}),
        (cyconv.im2col, (x, 3, 2, 1), {}),
        (cyconv.col2im, (cyconv.im2col(x, 3, 2, 1), (size, size), 3, 2, 1), {}),
        (cyconv.max_pool2d, (x, 3, 2, 1), {"return_indices": True}),
        (cyconv.max_pool2d_backward, (out, indices, x.shape), {}),
        (cyconv.avg_pool2d, (x, 3, 2, 1), {}),
        (cyconv.avg_pool2d_backward, (out, x.shape, 3, 2, 1), {}),
        (cyconv.adaptive_max_pool2d, (x, (5, 3)), {"return_indices": True}),
        (cyconv.adaptive_max_pool2d_backward, (adaptive_out, adaptive_indices, x.shape), {}),
        (cyconv.adaptive_avg_pool2d, (x, (size + 3, 1)), {}),
        (cyconv.adaptive_avg_pool2d_backward, (adaptive_out, x.shape), {}),
        (cyconv.nanconvolve, (holed[0], np.ones((3, 5)), "extend"), {}),
        (cyconv.nanconvolve, (holed, np.ones((3, 3, 3)), "wrap"), {"preserve_nan": True}),
        (cyconv.nanconvolve, (holed[0], ring, "fill", np.nan), {"method": "direct"}),
        (cyconv.nanconvolve, (holed[0], ring, None), {"method": "fft"}),
    ]


def test_eight_threads_give_the_sequential_results(rng):
    calls = [call for size in (9, 17, 33, 64) for call in every_function_calls(rng, size)]
    expected = [function(*args, **kwargs) for function, args, kwargs in calls]
    results = {}

    def hammer(thread_index):
        for repeat in range(3):
            for i in np.random.default_rng(thread_index + 10 * repeat).permutation(len(calls)):
                function, args, kwargs = calls[i]
                results[thread_index, repeat, i] = function(*args, workers=2, **kwargs)

    threads = [threading.Thread(target=hammer, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 * 3 * len(calls)
    for (_, _, i), result in results.items():
        want = expected[i] if isinstance(expected[i], tuple) else (expected[i],)
        got = result if isinstance(result, tuple) else (result,)
        for got_part, want_part in zip(got, want, strict=True):
            np.testing.assert_array_equal(got_part, want_part)


@pytest.mark.parametrize("name", ["correlate2d", "conv2d", "max_pool2d", "nanconvolve"])
def test_gil_is_released_while_computing(rng, name):
    image = rng.standard_normal((1, 8, 700, 700))
    call = {
        "correlate2d": lambda: cyconv.correlate2d(image[0, 0], np.ones((71, 71)), method="direct",
                                                  workers=1),
        "conv2d": lambda: cyconv.conv2d(image, np.ones((8, 8, 5, 5)), workers=1),
        "max_pool2d": lambda: cyconv.max_pool2d(image, 7, 1, return_indices=True, workers=1),
        "nanconvolve": lambda: cyconv.nanconvolve(image[0, 0], np.ones((31, 31)) - np.eye(31),
                                                  method="direct", workers=1),
    }[name]
    worker = threading.Thread(target=call)
    start = time.perf_counter()
    worker.start()
    ticks = []
    while worker.is_alive():
        ticks.append(time.perf_counter())  # pure Python work on this thread
    elapsed = time.perf_counter() - start
    assert elapsed > 0.05, "the call is too short to tell"
    # With the GIL held, this thread would only run in 5 ms switch slots at
    # the edges of the call; released, it runs all along (largest gap small).
    gaps = np.diff([start] + ticks)
    assert gaps.max() < 0.5 * elapsed, (gaps.max(), elapsed)
    assert len(ticks) > 1000


# --- cyconv.ndimage at the edges -------------------------------------------------
# Odd strides, kernels far larger than the input, size-0 and length-1 axes and
# every boundary mode, against scipy.ndimage (through test_ndimage.check, which
# also checks the NumPy reference and takes it as the oracle where scipy's
# N-D correlate reads outside the input).  Under tools/sanitize.sh these are
# the cases most likely to read or write out of bounds.

from test_ndimage import MODES as NDIMAGE_MODES, check as check_ndimage  # noqa: E402


def odd_views(rng):
    """The same kind of data in layouts a kernel must not assume away."""
    base = rng.standard_normal((23, 31))
    return [
        base[::3, ::-2],                        # negative and non-unit strides
        base.T[1:, ::5],                        # transposed, strided
        np.asfortranarray(base)[2:5],           # Fortran order
        base[:, :1],                            # a length-1 axis
        base[4:5, 7:8],                         # a single element
        base[:0],                               # a size-0 axis
        base[:, 3:3],                           # the other axis empty
        base.astype(">f4")[::2, 1::4],          # big-endian float32, strided
        (base * 50).astype(np.int16)[::-1, 2::3],
    ]


@pytest.mark.parametrize("mode", NDIMAGE_MODES)
def test_ndimage_odd_layouts_and_huge_kernels(mode, rng):
    for x in odd_views(rng):
        n0, n1 = (max(n, 1) for n in x.shape)
        for kshape in [(1, 1), (2, 3), (3 * n0 + 4, 2), (1, 4 * n1 + 3), (2 * n0 + 1, 2 * n1 + 2)]:
            weights = rng.standard_normal(kshape)
            lowest = [-(k // 2) for k in kshape]
            highest = [(k - 1) // 2 for k in kshape]
            for origin in (0, lowest, highest):
                check_ndimage("correlate", x, weights, mode=mode, cval=1.25, origin=origin)
            check_ndimage("convolve", x, weights, mode=mode, cval=-0.5, origin=highest)
        for axis in (0, 1, -1):
            length = 3 * max(x.shape[axis], 1) + 5
            check_ndimage("correlate1d", x, rng.standard_normal(length), axis, mode=mode,
                          origin=-(length // 2))
            check_ndimage("uniform_filter1d", x, length, axis, mode=mode, origin=(length - 1) // 2)
        check_ndimage("gaussian_filter", x, 2.0, mode=mode, radius=3 * max(x.shape, default=1))
        check_ndimage("gaussian_filter1d", x, 0.7, 0, 3, mode=mode)
        for name in ("sobel", "prewitt", "laplace"):
            check_ndimage(name, x, mode=mode)
        check_ndimage("gaussian_gradient_magnitude", x, 1.0, mode=mode)


@pytest.mark.parametrize("shape", [(0,), (5, 0, 3), (0, 0), (1, 1, 1, 1), (2, 1, 3, 1), (1,)],
                         ids=str)
def test_ndimage_tiny_and_empty_shapes(shape, rng):
    x = rng.standard_normal(shape)
    ndim = len(shape)
    for mode in NDIMAGE_MODES:
        check_ndimage("correlate", x, rng.standard_normal((4,) * ndim), mode=mode)
        check_ndimage("convolve", x, rng.standard_normal((3,) * ndim), mode=mode, origin=1)
        check_ndimage("correlate1d", x, rng.standard_normal(7), mode=mode)
        check_ndimage("uniform_filter", x, 5, mode=mode)
        check_ndimage("gaussian_laplace", x, 1.5, mode=mode)


def test_ndimage_strided_output_in_place_and_threads(rng):
    """Multithreaded blocks writing into a strided view, and in place."""
    x = rng.standard_normal((201, 157))
    weights = rng.standard_normal((7, 6))
    holder = np.zeros((402, 471))
    out = holder[::2, ::3]
    got = cndi.correlate(x, weights, output=out, mode="mirror", workers=2)
    assert got is out
    np.testing.assert_allclose(out, scipy.ndimage.correlate(x, weights, mode="mirror"),
                               rtol=1e-12, atol=1e-10)
    untouched = np.ones(holder.shape, bool)
    untouched[::2, ::3] = False
    assert not holder[untouched].any()
    inplace = x.copy()
    cndi.uniform_filter(inplace, 9, output=inplace, mode="wrap", workers=2)
    np.testing.assert_allclose(inplace, scipy.ndimage.uniform_filter(x, 9, mode="wrap"),
                               rtol=1e-12, atol=1e-12)
    for name, args in [("gaussian_filter", (3.0,)), ("sobel", ()), ("convolve", (weights,))]:
        check_ndimage(name, x[::-1, 1::2], *args, mode="reflect", workers=2,
                      reference_check=False)


import scipy.ndimage  # noqa: E402
from cyconv import ndimage as cndi  # noqa: E402


@pytest.mark.parametrize("size", [2**40, 2**62, 2**63 - 1, 2**64])
def test_ndimage_box_sizes_too_large_to_allocate_are_refused(size):
    # scipy.ndimage.uniform_filter1d(np.ones(3), 2**62) crashes the interpreter
    # (its line buffer's length overflows); cyconv refuses before any work.
    result = run_isolated(
        "from cyconv import ndimage\n"
        "for call in (lambda: ndimage.uniform_filter1d(np.ones(3), SIZE),\n"
        "             lambda: ndimage.uniform_filter(np.ones((3, 2)), SIZE, mode='wrap'),\n"
        "             lambda: ndimage.uniform_filter1d(np.ones(3), SIZE, origin=-(SIZE // 2))):\n"
        "    try:\n"
        "        call()\n"
        "    except (ValueError, MemoryError) as exc:\n"
        "        print(type(exc).__name__)\n".replace("SIZE", str(size)), timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stdout.split()) == 3
