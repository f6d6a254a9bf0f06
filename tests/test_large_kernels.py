"""Large kernels: FFT by overlap-save tiles, the method choice, long and narrow signals.

Oracles are scipy.signal and scipy.ndimage (and cyconv's own direct kernels,
which tests/test_correlate.py and tests/test_ndimage.py hold to scipy).  The
tiled FFT is also driven with tilings forced through `cyconv._fft.tiling_of`,
so that tile edges the cost model would not pick on small inputs are covered.
"""
import itertools
import json
import os

import numpy as np
import pytest
import scipy.fft
import scipy.ndimage as ndi
import scipy.signal

import cyconv
from cyconv import _correlate, _fft
from cyconv import ndimage as cndi
from support import outcome, random_array, run_python

FUNCTIONS = ["correlate2d", "convolve2d"]
MODES = ["full", "same", "valid"]
BOUNDARIES = ["fill", "wrap", "symm"]
NDIMAGE_MODES = ["reflect", "constant", "nearest", "mirror", "wrap"]


def dtype_id(dtype):
    return np.dtype(dtype).name


def fillvalue_for(dtype):
    """A fill value that is not zero, of the data's kind (scipy converts it to the data's type)."""
    kind = np.dtype(dtype).kind
    return {"i": 3, "c": 1.5 - 0.5j}.get(kind, 1.5)


def bound(dtype, taps):
    """The largest error allowed relative to max|expected| (test_ndimage.rtol_for's rule)."""
    eps = np.finfo(dtype).eps
    return max(1e-5 if eps > 1e-10 else 1e-11, 4 * taps * eps)


def assert_close(got, expected, taps):
    """Same shape and dtype; integers equal, floating values within `bound`."""
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if got.dtype.kind in "iu" or got.size == 0:
        np.testing.assert_array_equal(got, expected)
        return
    scale = max(float(np.abs(expected).max()), 1.0)
    error = float(np.abs(got.astype(np.complex128) - expected).max())
    assert error <= bound(got.dtype, taps) * scale, f"error {error:.3g} for max|expected| {scale:.3g}"


def assert_same_non_finite(got, expected):
    """NaN and infinities in the same places (scipy keeps them to the windows that meet them)."""
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(expected))


def recorded(monkeypatch, module, name, log, label=None):
    """Replace ``module.name`` by a wrapper that appends ``label`` (default: name) to ``log``."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        log.append(name if label is None else label)
        return original(*args, **kwargs)
    monkeypatch.setattr(module, name, wrapper)


def forced_fft(name, in1, in2, mode, boundary, fillvalue, fft_shape, threads):
    """`name`'s result by `fft_correlate` with transforms of ``fft_shape(out_shape, kernel_shape)``.

    Takes the operands, output geometry and offsets from the call's own
    preparation, so only the tiling differs from ``method='fft'``.
    """
    call = _correlate._prepare(in1, in2, mode, boundary, fillvalue, "fft", threads,
                               name == "convolve2d")
    assert not call.swapped, "these tests keep in1 the larger in 'valid' mode"
    tiling = _fft.tiling_of(call.out_shape, call.kernel.shape,
                            fft_shape(call.out_shape, call.kernel.shape))
    out = _fft.fft_correlate(call.image, call.kernel, call.out_shape, call.offsets,
                             (call.boundary, call.boundary), call.fill, threads, tiling)
    return out, tiling


# Transform shapes as functions of (out_shape, kernel_shape).  A transform as
# long as the kernel keeps one output per tile along that axis.

def one_output_per_tile(out_shape, kernel_shape):
    return tuple(max(k, 1) for k in kernel_shape)


def one_oversized_tile(out_shape, kernel_shape):
    return tuple(o + k + 3 for o, k in zip(out_shape, kernel_shape))


TILINGS = {
    "one output row per tile": lambda out, k: (k[0], out[1] + k[1] - 1),
    "one output column per tile": lambda out, k: (out[0] + k[0] - 1, k[1]),
    "5x7 tiles": lambda out, k: (k[0] + 4, k[1] + 6),
    "one tile larger than the output": one_oversized_tile,
}
IMAGE_SHAPE, KERNEL_SHAPE = (37, 29), (6, 5)   # one even kernel axis: 'same' centring differs


def test_forced_tilings_are_what_their_names_say():
    for mode, label in itertools.product(MODES, TILINGS):
        out_shape, _ = _correlate._output_geometry(mode, IMAGE_SHAPE, KERNEL_SHAPE, False)
        tiling = _fft.tiling_of(out_shape, KERNEL_SHAPE, TILINGS[label](out_shape, KERNEL_SHAPE))
        covered = [c * t for c, t in zip(tiling.counts, tiling.tile_shape)]
        assert all(c >= o for c, o in zip(covered, out_shape))
        if label == "5x7 tiles":
            # The last tile along each axis is cut short.
            assert all(o % t for o, t in zip(out_shape, tiling.tile_shape)), out_shape
        elif label == "one tile larger than the output":
            assert tiling.tiles == 1 and all(c > o for c, o in zip(covered, out_shape))
        else:
            assert 1 in tiling.tile_shape and tiling.tiles > 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128, np.int16], ids=dtype_id)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_forced_tilings_match_scipy_and_direct(name, mode, boundary, dtype, rng):
    in1 = random_array(rng, IMAGE_SHAPE, dtype)
    in2 = random_array(rng, KERNEL_SHAPE, dtype)
    fillvalue = fillvalue_for(dtype)
    expected = getattr(scipy.signal, name)(in1, in2, mode, boundary, fillvalue)
    direct = getattr(cyconv, name)(in1, in2, mode, boundary, fillvalue, method="direct")
    for label, fft_shape in TILINGS.items():
        got, _ = forced_fft(name, in1, in2, mode, boundary, fillvalue, fft_shape, threads=1)
        assert_close(got, expected, in2.size)
        assert_close(got, direct, in2.size)
        # Tiles in parallel compute what one thread does, to the bit.
        parallel, _ = forced_fft(name, in1, in2, mode, boundary, fillvalue, fft_shape, threads=2)
        np.testing.assert_array_equal(parallel, got, err_msg=label)


def test_one_output_per_tile(rng):
    """Transforms exactly the kernel's shape: every tile computes a single output."""
    in1, in2 = rng.standard_normal((9, 7)), rng.standard_normal((4, 3))
    for name, mode, boundary in itertools.product(FUNCTIONS, MODES, BOUNDARIES):
        expected = getattr(scipy.signal, name)(in1, in2, mode, boundary, 1.5)
        got, tiling = forced_fft(name, in1, in2, mode, boundary, 1.5, one_output_per_tile, 1)
        assert tiling.tile_shape == (1, 1)
        assert_close(got, expected, in2.size)
        parallel, _ = forced_fft(name, in1, in2, mode, boundary, 1.5, one_output_per_tile, 2)
        np.testing.assert_array_equal(parallel, got)


EDGE_SHAPES = [
    ((3, 4), (6, 9)),      # kernel larger than the image
    ((2, 3), (20, 30)),    # ... many times: 'wrap' and 'symm' extend it several periods
    ((1, 40), (1, 7)),
    ((40, 1), (7, 1)),
    ((1, 40), (3, 7)),
    ((40, 1), (7, 3)),
    ((1, 1), (5, 5)),
    ((5, 5), (1, 1)),
    ((30, 20), (1, 1)),
    ((30, 20), (1, 9)),    # a kernel axis of one tap is a batch of lines, not transformed
    ((30, 20), (9, 1)),
    ((1, 1), (1, 1)),
    ((4, 4), (4, 4)),
    ((0, 5), (2, 2)),      # empty outputs
    ((3, 3), (0, 2)),
    ((1, 3), (0, 1)),
]


@pytest.mark.parametrize("shapes", EDGE_SHAPES, ids=str)
def test_tile_edges(shapes, rng):
    """method='fft' as the cost model tiles it, one tile per output, and one oversized tile."""
    in1, in2 = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    for name, mode, boundary in itertools.product(FUNCTIONS, MODES, BOUNDARIES):
        if in1.size == 0 and boundary != "fill":
            continue  # scipy crashes; see test_correlate's test_empty_in1_with_wrap_...
        expected = outcome(getattr(scipy.signal, name), in1, in2, mode, boundary, 1.5)
        got = outcome(getattr(cyconv, name), in1, in2, mode, boundary, 1.5, method="fft")
        if isinstance(expected, type):
            assert got is expected
            continue
        assert_close(got, expected, in2.size)
        if _correlate._inputs_swap_needed(mode, in1.shape, in2.shape):
            continue  # in2 is the image here (scipy's swap): forced_fft keeps in1
        for fft_shape in (one_output_per_tile, one_oversized_tile):
            forced, _ = forced_fft(name, in1, in2, mode, boundary, 1.5, fft_shape, 1)
            assert_close(forced, expected, in2.size)


def test_single_precision_stays_single(monkeypatch, rng):
    """float32 data are transformed in complex64 (not float64), complex64 in complex64."""
    seen = []

    def spy(transform):
        def wrapper(x, *args, **kwargs):
            result = transform(x, *args, **kwargs)
            seen.append((np.asarray(x).dtype, result.dtype))
            return result
        return wrapper

    for name in ("rfftn", "irfftn", "fftn", "ifftn"):
        monkeypatch.setattr(scipy.fft, name, spy(getattr(scipy.fft, name)))
    single = {np.dtype(np.float32), np.dtype(np.complex64)}
    for dtype, wide in ((np.float32, np.float64), (np.complex64, np.complex128)):
        image = random_array(rng, (300, 280), dtype)
        kernel = random_array(rng, (41, 37), dtype)
        seen.clear()
        got = cyconv.correlate2d(image, kernel, "same", "symm", method="fft")
        assert seen and {t for pair in seen for t in pair} <= single, seen
        expected = scipy.signal.correlate2d(image.astype(wide), kernel.astype(wide), "same", "symm")
        assert_close(got, expected.astype(dtype), kernel.size)
    # cyconv.ndimage casts float64 weights to float32 data's type before transforming.
    seen.clear()
    image = random_array(rng, (300, 257), np.float32)
    weights = rng.standard_normal((41, 37))
    got = cndi.correlate(image, weights)
    assert seen and {t for pair in seen for t in pair} <= single, seen
    expected = ndi.correlate(image.astype(np.float64), weights)
    assert_close(got, expected.astype(np.float32), weights.size)


# Run in a fresh interpreter: peak resident memory (VmHWM, reset through
# /proc/self/clear_refs) of each call above the resident memory before it.
# tracemalloc is not enough here: it sees numpy's arrays, but scipy.fft's
# irfftn over two axes allocates in C++ a complex buffer as large as the
# spectrum (4.8 MiB per 1125x1125 float32 tile, a quarter of the tiles'
# working memory) that tracemalloc never sees; resident memory counts it.
MEMORY_SCRIPT = """
import json
import numpy as np
import scipy.signal
import cyconv

def status(key):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(key + ":"))

def peak_growth(function):
    with open("/proc/self/clear_refs", "w") as reset:
        reset.write("5")
    before = status("VmRSS")
    result = function()
    return status("VmHWM") - before, result

rng = np.random.default_rng(0)
image = rng.standard_normal((2048, 2048), dtype=np.float32)
kernel = rng.standard_normal((101, 101), dtype=np.float32)
plan = cyconv.correlate2d_plan(image, kernel, "same", convolve=True, method="fft", workers=1)
ours, out = peak_growth(lambda: cyconv.convolve2d(image, kernel, "same", method="fft", workers=1))
io = image.nbytes + out.nbytes
del out
# Measured second, scipy may reuse what ours freed: its figure can only be lower.
theirs, _ = peak_growth(lambda: scipy.signal.fftconvolve(image, kernel, "same"))
print(json.dumps(dict(ours=ours, theirs=theirs, io=io, tiles=plan.tiling.tiles)))
"""


def test_fft_memory_is_bounded():
    """2048^2 float32 with a 101x101 kernel: input + output are 32 MiB, so the
    tiles' working memory limit is the 32 MiB floor (MEMORY_FLOOR) and the
    call's peak stays within 1.5x (input + output); scipy's whole-array FFT
    takes more than twice that (about 2.8x here, against 1.4x)."""
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc/self/clear_refs and VmHWM")
    child = run_python(MEMORY_SCRIPT)
    if "clear_refs" in child.stderr:
        pytest.skip("cannot reset the peak resident memory (/proc/self/clear_refs)")
    assert child.returncode == 0, child.stderr
    figures = json.loads(child.stdout)
    assert figures["tiles"] > 1
    assert figures["ours"] <= 1.5 * figures["io"], figures
    assert figures["theirs"] > figures["ours"], figures


# Built the same way in this process and in a fresh one: the inputs of three plans.
PLAN_CASES = """
import numpy as np
gaussian = np.exp(-0.5 * (np.arange(-15, 16) / 4.0) ** 2)
cases = {
    "dense": (np.zeros((256, 256), np.float32), np.ones((3, 3), np.float32)),
    "fft": (np.zeros((2048, 2048), np.float32),
            np.ones((101, 101), np.float32) + np.eye(101, dtype=np.float32)),
    # float64: the rank-1 test allows float64 rounding only, so a float32
    # copy of this kernel is not rank 1 (and is planned 'fft').
    "separable": (np.zeros((2048, 2048)), np.outer(gaussian, gaussian)),
}
"""


def plan_cases():
    namespace = {}
    exec(PLAN_CASES, namespace)
    return namespace["cases"]


def test_method_choice_is_deterministic():
    plans = {}
    for expected_method, (image, kernel) in plan_cases().items():
        plan = cyconv.correlate2d_plan(image, kernel, "same", workers=2)
        assert plan.method == expected_method, str(plan)
        if plan.method == "fft":
            assert plan.tiling.tiles > 1
        _fft.choose_tiling.cache_clear()  # planned again, not remembered
        assert str(cyconv.correlate2d_plan(image, kernel, "same", workers=2)) == str(plan)
        plans[expected_method] = str(plan)
    child = run_python(PLAN_CASES + """
import json
import cyconv
print(json.dumps({name: str(cyconv.correlate2d_plan(image, kernel, "same", workers=2))
                  for name, (image, kernel) in cases.items()}))
""")
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == plans


@pytest.mark.parametrize("threads", [1, 2])
def test_tiles_fit_the_memory_limit(threads):
    out_shape, kernel_shape = (2048, 2048), (101, 101)
    for limit in (64 << 20, 16 << 20, 4 << 20, 1 << 20):
        tiling = _fft.choose_tiling(out_shape, kernel_shape, np.float32, threads, limit)
        assert tiling.bytes <= limit, (limit, tiling)
        assert all(c * t >= o for c, t, o in zip(tiling.counts, tiling.tile_shape, out_shape))
    # Without a limit: MEMORY_FRACTION of the extended input + output, or MEMORY_FLOOR.
    for size in (2048, 4096):
        tiling = _fft.choose_tiling((size, size), kernel_shape, np.float32, threads)
        io = 4 * ((size + 100) ** 2 + size ** 2)
        assert tiling.bytes <= max(_fft.MEMORY_FLOOR, _fft.MEMORY_FRACTION * io)


def test_non_finite_data_never_take_the_fft(rng):
    """An FFT would spread a NaN or inf over whole tiles; scipy keeps it to its windows."""
    image = rng.standard_normal((300, 280))
    kernel = rng.standard_normal((41, 37))
    assert cyconv.correlate2d_plan(image, kernel, "same").method == "fft"
    holed = image.copy()
    holed[50, 60], holed[200, 10] = np.nan, np.inf
    for name, in1, boundary, fillvalue in [
        ("correlate2d", holed, "fill", 0), ("convolve2d", holed, "symm", 0),
        ("correlate2d", image, "fill", np.nan),   # a NaN fill reaches every edge window
    ]:
        plan = cyconv.correlate2d_plan(in1, kernel, "same", boundary, fillvalue,
                                       convolve=name == "convolve2d")
        assert plan.method != "fft" and "NaN" in plan.reason, str(plan)
        with np.errstate(invalid="ignore"):
            expected = getattr(scipy.signal, name)(in1, kernel, "same", boundary, fillvalue)
            got = getattr(cyconv, name)(in1, kernel, "same", boundary, fillvalue)
        assert_same_non_finite(got, expected)
        finite = np.isfinite(expected)
        assert finite.any()
        assert_close(got[finite], expected[finite], kernel.size)
    # A NaN fill that the boundary never reads does not stop the FFT.
    plan = cyconv.correlate2d_plan(image, kernel, "same", "wrap", np.nan)
    assert plan.method == "fft"
    assert_close(cyconv.correlate2d(image, kernel, "same", "wrap", np.nan),
                 scipy.signal.correlate2d(image, kernel, "same", "wrap"), kernel.size)


@pytest.mark.parametrize("arguments", [
    dict(mode="bad"), dict(mode=None), dict(boundary="bad"), dict(boundary="reflect"),
    dict(method="winograd"), dict(workers=0), dict(workers=1.5), dict(workers=-1000),
    dict(in1=np.ones(5)), dict(in1=np.ones((3, 5)), in2=np.ones((4, 2)), mode="valid"),
    dict(in1=np.ones((3, 3), np.float16), in2=np.ones((2, 2), np.float16)),
    dict(in1=np.ones((3, 3), object)),
    dict(in1=np.ones((0, 3)), boundary="wrap"),
], ids=lambda arguments: ",".join(
    f"{key}={value.dtype}{value.shape}" if isinstance(value, np.ndarray) else f"{key}={value!r}"
    for key, value in arguments.items()))
@pytest.mark.parametrize("convolve", [False, True])
def test_plan_raises_what_the_call_raises(arguments, convolve):
    arguments = dict(dict(in1=np.ones((6, 7)), in2=np.ones((2, 2))), **arguments)
    with pytest.raises(Exception) as from_call:
        getattr(cyconv, "convolve2d" if convolve else "correlate2d")(**arguments)
    with pytest.raises(from_call.type) as from_plan:
        cyconv.correlate2d_plan(**arguments, convolve=convolve)
    assert str(from_plan.value) == str(from_call.value)


def _plan_agreement_cases(rng):
    gaussian = np.exp(-0.5 * (np.arange(-15, 16) / 4.0) ** 2)
    holed = rng.standard_normal((300, 280))
    holed[7, 9] = np.nan
    return {
        "dense": (rng.standard_normal((256, 256)).astype(np.float32),
                  np.ones((3, 3), np.float32)),
        "fft": (rng.standard_normal((600, 500)).astype(np.float32),
                rng.standard_normal((41, 37)).astype(np.float32)),
        "separable": (rng.standard_normal((300, 300)), np.outer(gaussian, gaussian)),
        "dense, fft refused": (holed, rng.standard_normal((41, 37))),
    }


@pytest.mark.parametrize("convolve", [False, True])
def test_plan_names_what_runs(convolve, monkeypatch, rng):
    ran = []
    for function, method in (("_direct", "dense"), ("_direct_passes", "separable"),
                             ("fft_correlate", "fft")):
        recorded(monkeypatch, _correlate, function, ran, method)
    name = "convolve2d" if convolve else "correlate2d"
    for case, (image, kernel) in _plan_agreement_cases(rng).items():
        plan = cyconv.correlate2d_plan(image, kernel, "same", "symm", convolve=convolve)
        assert case.startswith(plan.method), str(plan)
        ran.clear()
        with np.errstate(invalid="ignore"):
            got = getattr(cyconv, name)(image, kernel, "same", "symm")
        assert ran == [plan.method]
        # The route the plan names, asked for: the same result to the bit.
        if plan.method == "fft":
            forced_plan = cyconv.correlate2d_plan(image, kernel, "same", "symm",
                                                  convolve=convolve, method="fft")
            assert forced_plan.tiling == plan.tiling
            forced = getattr(cyconv, name)(image, kernel, "same", "symm", method="fft")
        elif plan.method == "dense":
            with np.errstate(invalid="ignore"):
                forced = getattr(cyconv, name)(image, kernel, "same", "symm", method="direct")
        else:  # no method asks for the passes: the dense sum agrees to rounding
            assert_close(got, getattr(cyconv, name)(image, kernel, "same", "symm",
                                                    method="direct"), kernel.size)
            continue
        np.testing.assert_array_equal(got, forced)


def kernel_calls(monkeypatch):
    """The (image shape, kernel shape) of every call of the direct kernels, as they run."""
    calls = []
    original = _correlate._run_kernel

    def spy(image, kernel, *args):
        calls.append((image.shape, kernel.shape))
        return original(image, kernel, *args)
    monkeypatch.setattr(_correlate, "_run_kernel", spy)
    return calls


def routes_taken(calls, kernel_shape):
    """Folded: rows of FOLD_WIDTH outputs.  Transposed: a one-column kernel run as a row."""
    routes = set()
    for image_shape, shape in calls:
        if image_shape[1] == _correlate.FOLD_WIDTH + shape[1] - 1 and shape[0] == 1:
            routes.add("folded")
        if shape != kernel_shape and shape == kernel_shape[::-1]:
            routes.add("transposed")
    return routes


@pytest.mark.parametrize("shapes, routes", [
    # Too few multiply-adds for a second thread: not folded.
    pytest.param(((1, 20000), (1, 5)), set(), id="1x20000-5taps"),
    pytest.param(((1, 20000), (1, 301)), {"folded"}, id="1x20000-301taps"),
    pytest.param(((3, 20000), (1, 31)), {"folded"}, id="3x20000-31taps"),
    pytest.param(((3, 20000), (1, 301)), {"folded"}, id="3x20000-301taps"),
    # Transposed, a column is a long row, which folds.
    pytest.param(((20000, 1), (31, 1)), {"transposed", "folded"}, id="20000x1-31x1"),
    pytest.param(((3000, 5), (30, 1)), {"transposed"}, id="3000x5-30x1"),
])
def test_long_and_narrow_routes_match_scipy(shapes, routes, monkeypatch, rng):
    calls = kernel_calls(monkeypatch)
    in1 = rng.standard_normal(shapes[0]).astype(np.float32)
    in2 = rng.standard_normal(shapes[1]).astype(np.float32)
    for name, mode, boundary in itertools.product(FUNCTIONS, MODES, BOUNDARIES):
        expected = getattr(scipy.signal, name)(in1.astype(np.float64), in2.astype(np.float64),
                                               mode, boundary, 1.5)
        for dtype in (np.float32, np.float64):
            calls.clear()
            got = getattr(cyconv, name)(in1.astype(dtype), in2.astype(dtype), mode, boundary,
                                        1.5, method="direct", workers=2)
            assert routes_taken(calls, in2.shape) == routes, calls
            assert_close(got, expected.astype(dtype), in2.size)


def test_long_rows_fold_only_to_feed_threads(monkeypatch, rng):
    # On one thread the kernels take a long row as it is (as fast as folded).
    calls = kernel_calls(monkeypatch)
    in1 = rng.standard_normal((1, 20000)).astype(np.float32)
    in2 = rng.standard_normal((1, 31)).astype(np.float32)
    got = cyconv.correlate2d(in1, in2, "same", method="direct", workers=1)
    assert routes_taken(calls, in2.shape) == set(), calls
    expected = scipy.signal.correlate2d(in1.astype(np.float64), in2, "same")
    assert_close(got, expected.astype(np.float32), in2.size)


@pytest.mark.parametrize("shapes, chunks", [
    # The whole folds; chunks narrower than 2 * FOLD_WIDTH do not.
    pytest.param(((3, 20000), (1, 17)), (3, (9008, 6000, 4992)), id="3x20000-folded"),
    pytest.param(((1, 20000), (1, 17)), (1, (4000, 4000, 12000)), id="1x20000-folded"),
    # Chunks narrower than NARROW_COLUMNS run transposed; the whole does not.
    pytest.param(((20000, 24), (17, 1)), ((9008, 6000, 4992), 12), id="20000x24-transposed"),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=dtype_id)
def test_dask_chunks_equal_the_whole_to_the_bit(shapes, chunks, dtype, rng):
    """The fold and the transposition sum each output's taps in the same order as
    the kernels' usual route, so chunks that take another route than the whole
    array give the same bits."""
    pytest.importorskip("dask", reason="dask is an optional dependency (cyconv[dask])")
    import dask
    import dask.array as da
    import cyconv.dask as cdask

    in1 = rng.standard_normal(shapes[0]).astype(dtype)
    in2 = rng.standard_normal(shapes[1]).astype(dtype)
    for name, mode, boundary in itertools.product(FUNCTIONS, MODES, BOUNDARIES):
        whole = getattr(cyconv, name)(in1, in2, mode, boundary, 1.5, method="direct")
        lazy = getattr(cdask, name)(da.from_array(in1, chunks=chunks), in2, mode, boundary, 1.5,
                                    method="direct")
        assert len(lazy.chunks[0] + lazy.chunks[1]) > 2
        with dask.config.set(scheduler="synchronous"):
            np.testing.assert_array_equal(lazy.compute(), whole, err_msg=f"{name} {mode} {boundary}")


# (data shape, weights shape, axes, origin): the weights are not rank 1.
NDIMAGE_CASES = [
    ((300, 257), (41, 37), None, (3, -5)),
    ((5, 120, 130), (1, 33, 31), None, (0, 4, -2)),
    ((5, 120, 130), (33, 31), (1, 2), (-4, 3)),
    ((40, 50, 60), (9, 11, 13), None, (1, -2, 3)),
]


@pytest.mark.parametrize("mode", NDIMAGE_MODES)
@pytest.mark.parametrize("case", NDIMAGE_CASES, ids=lambda case: f"{case[0]}-{case[1]}")
def test_ndimage_large_kernels_match_scipy(case, mode, monkeypatch, rng):
    shape, weights_shape, axes, origin = case
    transformed = []
    recorded(monkeypatch, cndi, "fft_correlate", transformed)
    # float32 values, so that one float64 reference serves both types.
    data = rng.standard_normal(shape).astype(np.float32)
    weights = rng.standard_normal(weights_shape)
    for name in ("correlate", "convolve"):
        expected = getattr(ndi, name)(data.astype(np.float64), weights, mode=mode, cval=1.5,
                                      origin=origin, axes=axes)
        for dtype in (np.float32, np.float64):
            transformed.clear()
            got = getattr(cndi, name)(data.astype(dtype), weights, mode=mode, cval=1.5,
                                      origin=origin, axes=axes)
            assert transformed, "the cost model did not choose the FFT"
            assert_close(got, expected.astype(dtype), weights.size)


def test_ndimage_non_finite_data_never_take_the_fft(monkeypatch, rng):
    transformed = []
    recorded(monkeypatch, cndi, "fft_correlate", transformed)
    data = rng.standard_normal((300, 257))
    weights = rng.standard_normal((41, 37))
    cndi.correlate(data, weights)
    assert transformed
    transformed.clear()
    data[100, 50], data[3, 200] = np.nan, -np.inf
    with np.errstate(invalid="ignore"):
        got = cndi.correlate(data, weights, mode="mirror")
        expected = ndi.correlate(data, weights, mode="mirror")
    assert not transformed
    assert_same_non_finite(got, expected)
    finite = np.isfinite(expected)
    assert_close(got[finite], expected[finite], weights.size)


@pytest.mark.parametrize("taps", [5, 31])
@pytest.mark.parametrize("mode", NDIMAGE_MODES)
def test_ndimage_long_signals_match_scipy(taps, mode, monkeypatch, rng):
    calls = kernel_calls(monkeypatch)
    data = rng.standard_normal(100_000).astype(np.float32)
    weights = rng.standard_normal(taps)
    for name, origin in (("correlate1d", taps // 2 - 1), ("convolve1d", -(taps // 2))):
        expected = getattr(ndi, name)(data.astype(np.float64), weights, mode=mode, cval=1.5,
                                      origin=origin)
        for dtype in (np.float32, np.float64):
            calls.clear()
            got = getattr(cndi, name)(data.astype(dtype), weights, mode=mode, cval=1.5,
                                      origin=origin)
            assert routes_taken(calls, (1, taps)) == {"folded"}, calls
            assert_close(got, expected.astype(dtype), taps)


@pytest.mark.parametrize("kernel", ["large", "rank1_with_zeros"])
def test_ndimage_non_finite_cval_stays_in_the_edge_windows(kernel, rng):
    """A NaN cval is data too: neither the FFT nor passes over zero weights may spread it."""
    image = rng.standard_normal((300, 257))
    if kernel == "large":
        weights = rng.standard_normal((41, 37))
    else:
        line = np.array([0, 1, 2, 3, 4, 3, 2, 1, 0.0])
        weights = np.outer(line, line)
    got = cndi.correlate(image, weights, mode="constant", cval=np.nan)
    expected = ndi.correlate(image, weights, mode="constant", cval=np.nan)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-9)


def test_float32_rank1_kernels_are_separable():
    """A float32 Gaussian is rank 1 to float32's rounding, which is what its passes compute in."""
    line = np.exp(-0.5 * (np.arange(31) - 15.0) ** 2 / 5.0 ** 2)
    kernel = np.outer(line, line).astype(np.float32)
    plan = cyconv.correlate2d_plan(np.zeros((2048, 2048), np.float32), kernel, "same")
    assert plan.method == "separable", str(plan)


def test_fft_results_do_not_depend_on_workers(rng):
    """The tiling is chosen by its one-thread cost, so the rounding is the same on any threads."""
    image = rng.standard_normal((1500, 1400)).astype(np.float32)
    kernel = rng.standard_normal((61, 57)).astype(np.float32)
    results = [cyconv.correlate2d(image, kernel, "same", method="fft", workers=workers)
               for workers in (1, 2, 3)]
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])
