"""cyconv.nanconvolve against the NumPy reference (tests/reference.py),
scipy.ndimage (data without holes) and astropy.convolution.convolve (an
optional cross-check).

Every check asks for the same outcome as the oracle: the same exception type,
or values equal to the rounding of the compute dtype with NaN (and inf) in the
same places.  The FFT method is held to a tolerance relative to
max|data| * sum|kernel|; the direct methods must give results that do not
depend on the number of threads, to the bit.

astropy's ``convolve`` spreads inf where nanconvolve treats it as a hole, so
the data given to astropy never hold inf.
"""
import warnings

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, strategies as st

import cyconv
from cyconv import NanConvolvePlan, NanConvolveWarning, nanconvolve, nanconvolve_plan
from reference import nanconvolve_reference
from support import outcome, with_layout

BOUNDARIES = [None, "fill", "wrap", "extend"]
TREATMENTS = ["interpolate", "fill"]
FILL_VALUES = [0.0, 2.5, np.nan]
SHAPES = {1: (23,), 2: (13, 11), 3: (7, 6, 5)}
HOLES = ["none", "scattered", "block", "all", "mask", "masked"]
DIRECT_TOLERANCE = 1e-10
FFT_TOLERANCE = 1e-9
# The sweeps make thousands of small calls on one thread: that the thread
# count changes nothing is `test_results_identical_for_any_worker_count`'s
# job, and one thread keeps the many small calls from waiting at OpenMP
# barriers when the other core of a small machine is busy.
ONE = dict(workers=1)


# --- Helpers -------------------------------------------------------------------

def boundary_id(boundary):
    return "none" if boundary is None else boundary


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def outer(*factors):
    """The rank-1 kernel whose axis ``a`` is ``factors[a]``."""
    kernel = np.ones(())
    for factor in factors:
        kernel = np.multiply.outer(kernel, np.asarray(factor, dtype=np.float64))
    return kernel


def gaussian(sigma, radius):
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def disk(radius, ndim=2):
    grid = np.indices((2 * radius + 1,) * ndim) - radius
    return ((grid ** 2).sum(axis=0) <= radius ** 2).astype(np.float64)


def fft_refused(method, nan_treatment, fill_value):
    """The documented refusal of method='fft': holes filled with an infinite value."""
    return method == "fft" and nan_treatment == "fill" and np.isinf(fill_value)


def scale_of(data, kernel):
    """max|finite data| * sum|kernel|: the size of the sums, for absolute tolerances."""
    data = np.ma.getdata(data).astype(np.float64)
    finite = data[np.isfinite(data)]
    largest = np.abs(finite).max() if finite.size else 1.0
    return max(largest, 1.0) * max(np.abs(np.asarray(kernel, np.float64)).sum(), 1.0)


def assert_matches(got, expected, tolerance, context=""):
    """The same exception type, or the same shape with values equal to ``tolerance``
    (relative, and absolute to the result's size) and NaN/inf in the same places."""
    if isinstance(expected, type):
        assert got is expected, f"{context}: expected {expected.__name__}, got {got!r}"
        return
    assert isinstance(got, np.ndarray), f"{context}: expected an array, got {got!r}"
    assert got.shape == expected.shape, context
    finite = expected[np.isfinite(expected)]
    size = max(np.abs(finite).max() if finite.size else 1.0, 1.0)
    np.testing.assert_allclose(got.astype(np.float64), expected, rtol=tolerance,
                               atol=tolerance * size, err_msg=context)


def sweep_kernels(ndim, rng):
    """(name, kernel) pairs covering both plans (and the 3-D leading pass).

    Every kernel's centre tap is non-zero: a zero centre makes 'no valid
    weight' possible at a finite input, which `test_zero_weight_outputs_*`
    checks on its own.  The negative kernel's taps are chosen so that any
    set of them sums to 0 (none) or to at least 0.05 in magnitude.
    """
    def positive(*shape):
        return rng.uniform(0.1, 1.0, shape)

    if ndim == 1:
        return [
            ("ones", np.ones(5)),
            ("random", positive(7)),
            ("zeros", np.array([1.0, 0.0, 2.0, 0.0, 1.0])),
            ("negative", np.array([-0.1, -0.1, 2.0, -0.1, -0.1])),
            ("1x1", np.array([1.7])),
            ("larger", positive(25)),
        ]
    if ndim == 2:
        rounded_disk = disk(2) * positive(5, 5)
        negative = np.full((3, 3), -0.1)
        negative[1, 1] = 2.0
        return [
            ("ones", np.ones((3, 3))),
            ("random", positive(3, 5)),
            ("rank1", outer(positive(5), positive(3))),
            ("rank1-zeros", outer([1.0, 0.0, 2.0, 0.0, 1.0], [0.5, 1.0, 0.5])),
            ("disk", rounded_disk),
            ("negative", negative),
            ("1x1", np.array([[1.7]])),
            ("larger", positive(15, 3)),
        ]
    ball = disk(1, 3) * positive(3, 3, 3)
    negative = np.full((3, 3, 3), -0.05)
    negative[1, 1, 1] = 2.0
    return [
        ("ones", np.ones((3, 3, 3))),
        ("random", positive(3, 3, 5)),
        ("rank1", outer(positive(3), positive(5), positive(3))),
        ("rank1-zeros", outer([1.0, 0.0, 2.0, 0.0, 1.0], [0.5, 1.0, 0.5], [1.0, 1.0, 0.5])),
        ("ball", ball),
        ("negative", negative),
        ("1x1", np.ones((1, 1, 1)) * 1.7),
        ("larger", positive(9, 3, 3)),
    ]


def with_holes(pattern, shape, rng):
    """(array, mask) for a hole pattern: none, scattered NaN (~10 %), a NaN block larger
    than every sweep kernel, all NaN, a ``mask`` argument, or a masked array with NaN."""
    data = rng.standard_normal(shape)
    mask = None
    if pattern == "scattered":
        data[rng.random(shape) < 0.1] = np.nan
    elif pattern == "block":
        data[tuple(slice(1, n - 1) if n > 6 else slice(None) for n in shape)] = np.nan
    elif pattern == "all":
        data[...] = np.nan
    elif pattern == "mask":
        mask = (rng.random(shape) < 0.15).astype(np.uint8)
    elif pattern == "masked":
        data[rng.random(shape) < 0.05] = np.nan
        data = np.ma.masked_array(data, mask=rng.random(shape) < 0.1)
    return data, mask


def sweep_cases(ndim, boundary, nan_treatment, rng):
    """Every (kernel name, kernel, hole pattern, data, mask, fill value, parity) of one
    sweep; ``parity`` alternates along every loop (it picks preserve_nan)."""
    fill_values = FILL_VALUES if boundary == "fill" or nan_treatment == "fill" else [0.0]
    for k, (name, kernel) in enumerate(sweep_kernels(ndim, rng)):
        for h, pattern in enumerate(HOLES):
            data, mask = with_holes(pattern, SHAPES[ndim], rng)
            for f, fill_value in enumerate(fill_values):
                yield name, kernel, pattern, data, mask, fill_value, (k + h + f) % 2 == 1


# --- The reference itself --------------------------------------------------------

def test_reference_by_hand():
    """Small cases worked out on paper (they check the reference, not cyconv)."""
    data = [1.0, np.nan, 3.0]
    np.testing.assert_allclose(nanconvolve_reference(data, [1, 1, 1]), [0.5, 2.0, 1.5])
    np.testing.assert_allclose(nanconvolve_reference(data, [1, 1, 1], boundary="extend"),
                               [1.0, 2.0, 3.0])
    np.testing.assert_allclose(nanconvolve_reference(data, [1, 1, 1], nan_treatment="fill"),
                               [1 / 3, 4 / 3, 1.0])
    # The kernel is flipped: [1, 2, 4] against a step is a convolution, not a correlation.
    np.testing.assert_allclose(
        nanconvolve_reference([0.0, 1.0, 0.0], [1.0, 2.0, 4.0], normalize_kernel=False),
        [1.0, 2.0, 4.0])
    # wrap with a kernel longer than the period: output 0 reads 0 1 2 0 1 2 0 (indices).
    np.testing.assert_allclose(
        nanconvolve_reference([1.0, 2.0, 3.0], np.ones(7), boundary="wrap"),
        [13 / 7, 14 / 7, 15 / 7])
    np.testing.assert_array_equal(
        nanconvolve_reference([5.0, 1.0, 2.0, 7.0], [1, 1, 1], boundary=None),
        [0, 8 / 3, 10 / 3, 0])


# --- Seeded sweeps: the reference and astropy ----------------------------------------

@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("boundary", BOUNDARIES, ids=boundary_id)
@pytest.mark.parametrize("nan_treatment", TREATMENTS)
@pytest.mark.parametrize("normalize_kernel", [True, False], ids=["normalize", "raw"])
def test_sweep_matches_reference(ndim, boundary, nan_treatment, normalize_kernel, rng):
    for name, kernel, pattern, data, mask, fill_value, preserve_nan in sweep_cases(
            ndim, boundary, nan_treatment, rng):
        args = (data, kernel, boundary, fill_value, nan_treatment, normalize_kernel, mask,
                preserve_nan)
        expected = outcome(nanconvolve_reference, *args)
        for method in ("direct", "fft"):
            context = (f"kernel={name} holes={pattern} fill_value={fill_value} "
                       f"preserve_nan={preserve_nan} method={method}")
            got = outcome(nanconvolve, *args, method=method, **ONE)
            if fft_refused(method, nan_treatment, fill_value):
                assert got is ValueError, context
                continue
            if isinstance(got, np.ndarray):
                assert got.dtype == np.float64, context
            tolerance = DIRECT_TOLERANCE if method == "direct" else FFT_TOLERANCE
            assert_matches(got, expected, tolerance, context)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("boundary", BOUNDARIES, ids=boundary_id)
@pytest.mark.parametrize("nan_treatment", TREATMENTS)
@pytest.mark.parametrize("normalize_kernel", [True, False], ids=["normalize", "raw"])
def test_sweep_matches_astropy(ndim, boundary, nan_treatment, normalize_kernel, rng):
    astropy_convolution = pytest.importorskip("astropy.convolution",
                                              reason="astropy is an optional cross-check")
    for name, kernel, pattern, data, mask, fill_value, parity in sweep_cases(
            ndim, boundary, nan_treatment, rng):
        preserve_nan = not parity
        args = (data, kernel, boundary, fill_value, nan_treatment, normalize_kernel, mask,
                preserve_nan)
        expected = outcome(astropy_convolution.convolve, *args)
        context = f"kernel={name} holes={pattern} fill_value={fill_value} preserve={preserve_nan}"
        got = outcome(nanconvolve, *args, method="direct", **ONE)
        if isinstance(expected, type):   # astropy's own classes (KernelSizeError...)
            assert got is ValueError, context
            continue
        assert_matches(got, expected, DIRECT_TOLERANCE, context)


@pytest.mark.parametrize("normalize_kernel", [True, False], ids=["normalize", "raw"])
def test_zero_weight_outputs_take_the_centre_value(normalize_kernel):
    """A zero centre tap: where only zero taps meet valid data, astropy returns the
    input value there (NaN at a hole), scaled like every output (times the kernel's
    sum when normalize_kernel=False)."""
    data = np.array([1.0, np.nan, 5.0, np.nan, 7.0, 8.0])
    kernel = np.array([1.0, 0.0, 1.0])
    expected = nanconvolve_reference(data, kernel, normalize_kernel=normalize_kernel)
    np.testing.assert_array_equal(expected[2], 5.0 if normalize_kernel else 10.0)
    for method in ("direct", "fft"):
        got = quiet(nanconvolve, data, kernel, normalize_kernel=normalize_kernel, method=method)
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=method)
    image = np.arange(1.0, 50.0).reshape(7, 7)
    image[2:5, 2:5] = np.nan
    image[3, 3] = 4.0                           # a value whose neighbours are all holes
    ring = np.ones((3, 3))
    ring[1, 1] = 0.0
    dense = ring.copy()
    dense[0, 0] = 0.5                           # not rank 1: the dense plan
    for kernel in (ring, dense):
        expected = nanconvolve_reference(image, kernel, normalize_kernel=normalize_kernel)
        assert expected[3, 3] == (4.0 if normalize_kernel else 4.0 * kernel.sum())
        for method in ("direct", "fft"):
            got = quiet(nanconvolve, image, kernel, normalize_kernel=normalize_kernel,
                        method=method)
            np.testing.assert_allclose(got, expected, rtol=1e-10, err_msg=method)


def test_zero_weight_outputs_match_astropy():
    convolution = pytest.importorskip("astropy.convolution",
                                      reason="astropy is an optional cross-check")
    data = np.array([1.0, np.nan, 5.0, np.nan, 7.0, 8.0])
    for normalize_kernel in (True, False):
        for boundary in BOUNDARIES:
            args = (data, [1.0, 0.0, 1.0], boundary, 0.0, "interpolate", normalize_kernel)
            expected = quiet(convolution.convolve, *args)
            np.testing.assert_array_equal(nanconvolve_reference(*args), expected)
            assert_matches(quiet(nanconvolve, *args, method="direct"), expected,
                           DIRECT_TOLERANCE, f"{boundary} {normalize_kernel}")


def test_zero_taps_spread_nan_filled_holes_like_astropy():
    """nan_treatment='fill' with fill_value=NaN is a plain convolution of data with NaN:
    0 * NaN is NaN (astropy's loop multiplies every tap), so NaN spreads over the
    kernel's whole box whichever plan runs, zero taps included."""
    data = np.arange(1.0, 50.0).reshape(7, 7)
    data[3, 3] = np.nan
    rank1 = outer([0.0, 1.0, 1.0], [1.0, 2.0, 1.0])          # separable
    dense = rank1.copy()
    dense[2, 0] = 3.0                                        # the dense plan
    for kernel, plan in ((rank1, "separable"), (dense, "dense"), (dense, "fft")):
        method = "fft" if plan == "fft" else "direct"
        assert nanconvolve_plan(data, kernel, method=method).method == plan
        for boundary in ("fill", "extend"):
            expected = nanconvolve_reference(data, kernel, boundary, np.nan, "fill")
            assert np.isnan(expected[2:5, 2:5]).all()
            got = nanconvolve(data, kernel, boundary, np.nan, "fill", method=method)
            assert_matches(got, expected, FFT_TOLERANCE, f"{plan} {boundary}")


def test_boundary_none_zeroes_the_border_and_preserves_its_holes(rng):
    data = rng.standard_normal((9, 8))
    data[0, 0] = data[4, 4] = np.nan
    kernel = rng.uniform(0.1, 1.0, (3, 5))
    for method in ("direct", "fft"):
        out = nanconvolve(data, kernel, boundary=None, method=method)
        border = np.ones(data.shape, bool)
        border[1:-1, 2:-2] = False
        assert (out[border] == 0).all()
        assert np.isfinite(out).all()
        kept = nanconvolve(data, kernel, boundary=None, preserve_nan=True, method=method)
        assert np.isnan(kept[0, 0]) and np.isnan(kept[4, 4])
        assert np.isnan(kept).sum() == 2
        assert_matches(kept, nanconvolve_reference(data, kernel, None, preserve_nan=True),
                       FFT_TOLERANCE, method)


def test_wrap_with_a_kernel_larger_than_the_array():
    """Periodic however far the kernel reaches: [1, 2, 3] under 7 ones."""
    for method in ("direct", "fft"):
        np.testing.assert_allclose(
            nanconvolve([1.0, 2.0, 3.0], np.ones(7), boundary="wrap", method=method),
            [13 / 7, 14 / 7, 15 / 7], rtol=1e-12)
        image = np.arange(6.0).reshape(2, 3)
        kernel = np.ones((5, 9))
        np.testing.assert_allclose(
            nanconvolve(image, kernel, boundary="wrap", method=method),
            nanconvolve_reference(image, kernel, "wrap"), rtol=1e-12)


@pytest.mark.parametrize("shape, kernel_shape", [((9000,), (7,)), ((3, 600), (3, 5)),
                                                 ((2, 3, 530), (3, 1, 5))], ids=str)
@pytest.mark.parametrize("nan_treatment", TREATMENTS)
def test_long_rows_match_reference(shape, kernel_shape, nan_treatment, rng):
    """Rows longer than the kernels' 512-column chunks, with vector blocks and a remainder;
    a signal long enough to be cut into several work items."""
    data = rng.standard_normal(shape)
    data[rng.random(shape) < 0.1] = np.nan
    kernels = [rng.uniform(0.1, 1.0, kernel_shape)]
    if len(shape) > 1:
        kernels.append(outer(*(rng.uniform(0.1, 1.0, k) for k in kernel_shape)))
    for kernel in kernels:
        for boundary in ("fill", "wrap", "extend"):
            expected = nanconvolve_reference(data, kernel, boundary, 1.5, nan_treatment)
            for method in ("direct", "fft"):
                got = nanconvolve(data, kernel, boundary, 1.5, nan_treatment, method=method)
                assert_matches(got, expected, DIRECT_TOLERANCE if method == "direct"
                               else FFT_TOLERANCE, f"{boundary} {method}")


# --- inf is a hole -------------------------------------------------------------------

@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("nan_treatment", TREATMENTS)
@pytest.mark.parametrize("preserve_nan", [False, True])
def test_inf_is_a_hole(method, nan_treatment, preserve_nan, rng):
    for shape, kernel in (((31,), rng.uniform(0.1, 1, 5)),
                          ((17, 19), outer(gaussian(1.0, 2), gaussian(1.5, 3))),
                          ((17, 19), disk(2) * rng.uniform(0.1, 1, (5, 5))),
                          ((8, 7, 9), rng.uniform(0.1, 1, (3, 3, 3)))):
        data = rng.standard_normal(shape)
        chosen = rng.random(shape)
        data[chosen < 0.05] = np.inf
        data[(chosen >= 0.05) & (chosen < 0.1)] = -np.inf
        data[(chosen >= 0.1) & (chosen < 0.12)] = np.nan
        as_nan = np.where(np.isinf(data), np.nan, data)
        for boundary in BOUNDARIES:
            args = (boundary, 0.5, nan_treatment, True, None, preserve_nan)
            got = quiet(nanconvolve, data, kernel, *args, method=method, **ONE)
            np.testing.assert_array_equal(
                got, quiet(nanconvolve, as_nan, kernel, *args, method=method, **ONE))
            assert not np.isinf(got).any()
            assert_matches(got, nanconvolve_reference(data, kernel, *args),
                           DIRECT_TOLERANCE if method == "direct" else FFT_TOLERANCE)


def test_infinite_fill_value_makes_the_boundary_a_hole(rng):
    data = rng.standard_normal((9, 10))
    kernel = rng.uniform(0.1, 1, (3, 3))
    for method in ("direct", "fft"):
        np.testing.assert_array_equal(
            nanconvolve(data, kernel, fill_value=np.inf, method=method),
            nanconvolve(data, kernel, fill_value=np.nan, method=method))
    np.testing.assert_allclose(nanconvolve(data, kernel, fill_value=-np.inf),
                               nanconvolve_reference(data, kernel, "fill", np.nan), rtol=1e-12)


# --- dtypes ---------------------------------------------------------------------------

DTYPE_CASES = [
    # (input dtype, output dtype, tolerance relative to the result's size)
    (np.float16, np.float16, 2e-3),
    (np.float32, np.float32, 1e-5),
    (np.float64, np.float64, 1e-12),
    (np.longdouble, np.longdouble, 1e-12),
    (np.int16, np.float64, 1e-12),
    (np.int64, np.float64, 1e-12),
    (np.uint8, np.float64, 1e-12),
    (np.bool_, np.float64, 1e-12),
]


@pytest.mark.parametrize("dtype, out_dtype, tolerance", DTYPE_CASES,
                         ids=[np.dtype(case[0]).name for case in DTYPE_CASES])
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_dtypes(dtype, out_dtype, tolerance, method, rng):
    shape = (12, 13)
    if np.dtype(dtype).kind == "f":
        data = (rng.standard_normal(shape) * 3).astype(dtype)
        data[rng.random(shape) < 0.1] = np.nan
        mask = None
    elif np.dtype(dtype).kind == "b":
        data = rng.random(shape) < 0.5
        mask = rng.random(shape) < 0.1
    else:
        data = rng.integers(0, 50, shape).astype(dtype)
        mask = rng.random(shape) < 0.1
    exact = data.astype(np.float64)          # the values the input holds
    for kernel in (outer(gaussian(1.0, 2), gaussian(0.7, 1)), disk(2)):
        for nan_treatment in TREATMENTS:
            out = nanconvolve(data, kernel, "extend", 0.0, nan_treatment, mask=mask,
                              method=method)
            assert out.dtype == out_dtype and out.shape == shape
            expected = nanconvolve_reference(exact, kernel, "extend", 0.0, nan_treatment,
                                             mask=mask)
            if method == "fft":
                tolerance = max(tolerance, FFT_TOLERANCE)
            assert_matches(out, expected, tolerance, f"{nan_treatment}")


def test_lists_give_float64():
    data = [[1, 2, 3], [4, float("nan"), 6], [7, 8, 9]]
    out = nanconvolve(data, [[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, nanconvolve_reference(data, disk(1)), rtol=1e-12)
    out = nanconvolve([1, 2, 3, 4], [1, 2, 1])
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [1.0, 2.0, 3.0, 2.75], rtol=1e-12)


def test_float32_is_computed_in_float32(rng):
    """float32 results are float32 sums, within float32 rounding of the float64 ones (and
    not the float64 ones rounded, as astropy's); float16 is computed the same way and
    rounded once."""
    data = rng.standard_normal((30, 31)).astype(np.float32)
    data[rng.random(data.shape) < 0.1] = np.nan
    kernel = outer(gaussian(2.0, 5), gaussian(2.0, 5))
    for method in ("direct", "fft"):
        single = nanconvolve(data, kernel, method=method)
        double = nanconvolve(data.astype(np.float64), kernel, method=method)
        np.testing.assert_allclose(single, double, rtol=1e-5, atol=1e-5)
        assert not np.array_equal(single, double.astype(np.float32), equal_nan=True)
    half = nanconvolve(data.astype(np.float16), kernel)
    assert half.dtype == np.float16
    np.testing.assert_array_equal(
        half, nanconvolve(data.astype(np.float16).astype(np.float32), kernel).astype(np.float16))


def test_masked_float32_array_keeps_its_dtype(rng):
    data = np.ma.masked_array(rng.standard_normal((8, 9)).astype(np.float32),
                              mask=rng.random((8, 9)) < 0.2)
    out = nanconvolve(data, np.ones((3, 3)), preserve_nan=True)
    assert type(out) is np.ndarray and out.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(out), np.ma.getmaskarray(data))


# --- Layouts and untouched inputs ----------------------------------------------------

def snapshot(value):
    """A copy to compare with afterwards (data and mask of a masked array)."""
    if np.ma.isMaskedArray(value):
        return np.ma.getdata(value).copy(), np.ma.getmaskarray(value).copy()
    return np.array(value, copy=True), None


def assert_unchanged(value, before):
    data, mask = snapshot(value)
    np.testing.assert_array_equal(data, before[0])
    assert data.dtype == before[0].dtype
    if before[1] is not None:
        np.testing.assert_array_equal(mask, before[1])


@pytest.mark.parametrize("layout", ["fortran", "strided", "negative", "readonly", "bigendian"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layouts_give_the_contiguous_result_and_inputs_are_untouched(layout, dtype, rng):
    for shape, kernel in (((14, 11), disk(2) * rng.uniform(0.5, 1, (5, 5))),
                          ((14, 11), outer(gaussian(1.0, 2), gaussian(1.0, 1))),
                          ((6, 7, 8), rng.uniform(0.1, 1, (3, 3, 3)))):
        data = rng.standard_normal(shape).astype(dtype)
        data[rng.random(shape) < 0.1] = np.nan
        mask = rng.random(shape) < 0.1
        for method in ("direct", "fft"):
            for nan_treatment in TREATMENTS:
                kwargs = dict(boundary="extend", nan_treatment=nan_treatment, method=method)
                expected = nanconvolve(data, kernel, mask=mask, **kwargs)
                variants = [with_layout(v, layout) for v in (data, kernel, mask)]
                before = [snapshot(v) for v in variants]
                got = nanconvolve(variants[0], variants[1], mask=variants[2], **kwargs)
                # Native, like every cyconv result (and scipy's), even for big-endian data.
                assert got.dtype == np.dtype(dtype), got.dtype
                assert got.flags.c_contiguous and got.flags.writeable
                np.testing.assert_array_equal(got, expected)
                for variant, copy in zip(variants, before):
                    assert_unchanged(variant, copy)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_inputs_are_never_modified(method, rng):
    """Holes filled, masked values set to NaN, preserve_nan: none of it in the inputs."""
    for dtype in (np.float64, np.float32, np.int32):
        data = (rng.standard_normal((10, 12)) * 5).astype(dtype)
        if data.dtype.kind == "f":
            data[2:4, 3] = np.nan
            data[7, 7] = np.inf
        masked = np.ma.masked_array(data.copy(), mask=rng.random(data.shape) < 0.2)
        mask = (rng.random(data.shape) < 0.1).astype(np.int8)
        kernel = rng.uniform(0.1, 1, (3, 5))
        for array, mask_argument in ((data, None), (data, mask), (masked, None),
                                     (masked, mask)):
            inputs = [array, kernel] + ([] if mask_argument is None else [mask_argument])
            before = [snapshot(v) for v in inputs]
            for nan_treatment in TREATMENTS:
                for preserve_nan in (False, True):
                    out = quiet(nanconvolve, array, kernel, "fill", 1.0, nan_treatment,
                                mask=mask_argument, preserve_nan=preserve_nan, method=method)
                    assert out is not np.ma.getdata(array)
            for value, copy in zip(inputs, before):
                assert_unchanged(value, copy)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_masks_combine(method, rng):
    """A masked array's mask, ``mask != 0`` and NaN are one set of holes."""
    data = rng.standard_normal((9, 11))
    data[1, 1] = np.nan
    own = rng.random(data.shape) < 0.1
    extra = np.where(rng.random(data.shape) < 0.1, 2.5, 0.0)      # non-zero: a hole
    holes = own | (extra != 0) | np.isnan(data)
    expected = nanconvolve(np.where(holes, np.nan, data), disk(1), preserve_nan=True,
                           method=method, **ONE)
    for array, mask in ((np.ma.masked_array(data, mask=own), extra),
                        (np.where(own, np.nan, data), extra),
                        (np.ma.masked_array(data, mask=extra != 0), own.astype(np.int8))):
        got = nanconvolve(array, disk(1), mask=mask, preserve_nan=True, method=method, **ONE)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(np.isnan(got), holes)


def test_the_result_is_a_new_array_even_without_holes():
    data = np.ones((5, 6))
    out = nanconvolve(data, np.ones((1, 1)))
    assert not np.shares_memory(out, data)
    np.testing.assert_array_equal(out, data)
    out[...] = 7
    np.testing.assert_array_equal(data, 1.0)


# --- Kernels --------------------------------------------------------------------------

class ArrayLike:
    def __init__(self, values):
        self.values = np.asarray(values)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def test_kernel_accepts_anything_asarray_does(rng):
    data = rng.standard_normal((9, 9))
    data[4, 4] = np.nan
    kernel = rng.uniform(0.1, 1, (3, 3))
    expected = nanconvolve(data, kernel)
    for variant in (kernel.tolist(), ArrayLike(kernel), np.asfortranarray(kernel),
                    np.ma.masked_array(kernel, mask=False), with_layout(kernel, "bigendian")):
        np.testing.assert_array_equal(nanconvolve(data, variant), expected)
    integers = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.int16)
    np.testing.assert_array_equal(nanconvolve(data, integers),
                                  nanconvolve(data, integers.astype(float)))
    with pytest.raises(ValueError, match="kernel"):
        nanconvolve(data, np.ma.masked_array(kernel, mask=np.eye(3, dtype=bool)))


def test_astropy_kernels(rng):
    convolution = pytest.importorskip("astropy.convolution",
                                      reason="astropy is an optional cross-check")
    data = rng.standard_normal((20, 21))
    data[5:8, 6:9] = np.nan
    for kernel in (convolution.Gaussian2DKernel(1.5), convolution.Tophat2DKernel(2),
                   convolution.Box2DKernel(3)):
        got = quiet(nanconvolve, data, kernel)   # the box leaves the hole's centre NaN
        assert type(got) is np.ndarray
        np.testing.assert_allclose(got, nanconvolve_reference(data, kernel.array), rtol=1e-10)
        np.testing.assert_allclose(got, quiet(convolution.convolve, data, kernel), rtol=1e-10)
    assert nanconvolve_plan(data, convolution.Gaussian2DKernel(1.5),
                            method="direct").method == "separable"
    line = rng.standard_normal(40)
    line[10] = np.nan
    kernel = convolution.Gaussian1DKernel(2.0)
    np.testing.assert_allclose(nanconvolve(line, kernel), convolution.convolve(line, kernel),
                               rtol=1e-10)
    np.testing.assert_allclose(nanconvolve(line, kernel, boundary="extend"),
                               convolution.convolve(line, kernel, boundary="extend"), rtol=1e-10)


@pytest.mark.parametrize("kernel", [[-1.0, 2.0, -1.0], [1.0, -1.005, 0.01], [1.0, -3.0, 1.0],
                                    [0.004, 0.0, 0.001]], ids=["zero-sum", "small", "negative",
                                                               "tiny"])
def test_kernel_sum_rule(kernel, rng):
    """A kernel whose sum is below 0.01 (or within normalization_zero_tol of 0): only a
    plain convolution, with normalize_kernel=False and no hole to interpolate."""
    clean = rng.standard_normal(15)
    holed = clean.copy()
    holed[4] = np.nan
    for method in ("direct", "fft"):
        with pytest.raises(ValueError, match="normalize_kernel"):
            nanconvolve(clean, kernel, method=method)
        with pytest.raises(ValueError, match="nan_treatment"):
            nanconvolve(holed, kernel, normalize_kernel=False, method=method)
        with pytest.raises(ValueError, match="nan_treatment"):
            nanconvolve(clean, kernel, fill_value=np.nan, normalize_kernel=False, method=method)
        with pytest.raises(ValueError, match="kernel"):
            nanconvolve(holed, kernel, nan_treatment="fill", method=method)
        for boundary in BOUNDARIES:
            expected = nanconvolve_reference(clean, kernel, boundary, 1.0,
                                             normalize_kernel=False)
            got = nanconvolve(clean, kernel, boundary, 1.0, normalize_kernel=False,
                              method=method)
            assert_matches(got, expected, DIRECT_TOLERANCE if method == "direct"
                           else FFT_TOLERANCE, str(boundary))
            got = nanconvolve(holed, kernel, boundary, 1.0, "fill", normalize_kernel=False,
                              method=method)
            expected = nanconvolve_reference(holed, kernel, boundary, 1.0, "fill", False)
            assert_matches(got, expected, DIRECT_TOLERANCE if method == "direct"
                           else FFT_TOLERANCE, str(boundary))
        # Without holes the 'fill' boundary with a finite value interpolates nothing.
        np.testing.assert_allclose(
            nanconvolve(clean, kernel, normalize_kernel=False, method=method),
            ndi.convolve(clean, kernel, mode="constant"), rtol=1e-9, atol=1e-9)


def test_normalization_zero_tol(rng):
    data = rng.standard_normal(12)
    kernel = [0.25, 0.5, 0.25]
    nanconvolve(data, kernel, normalization_zero_tol=0.5)
    with pytest.raises(ValueError, match="normalize_kernel"):
        nanconvolve(data, kernel, normalization_zero_tol=1.0)
    np.testing.assert_allclose(
        nanconvolve(data, kernel, normalize_kernel=False, normalization_zero_tol=1.0),
        nanconvolve(data, kernel, normalize_kernel=False), rtol=1e-14)


def test_kernel_sum_rule_matches_astropy(rng):
    convolution = pytest.importorskip("astropy.convolution",
                                      reason="astropy is an optional cross-check")
    clean = rng.standard_normal(15)
    holed = clean.copy()
    holed[4] = np.nan
    for kernel in ([-1.0, 2.0, -1.0], [1.0, -1.005, 0.01], [0.25, 0.5, 0.25]):
        for data in (clean, holed):
            for kwargs in (dict(), dict(normalize_kernel=False), dict(nan_treatment="fill"),
                           dict(nan_treatment="fill", normalize_kernel=False),
                           dict(fill_value=np.nan, normalize_kernel=False),
                           dict(normalization_zero_tol=1.0)):
                expected = outcome(convolution.convolve, data, kernel, **kwargs)
                got = outcome(nanconvolve, data, kernel, **kwargs)
                if isinstance(expected, type):
                    assert got is ValueError, (kernel, kwargs)
                else:
                    assert_matches(got, expected, DIRECT_TOLERANCE, str((kernel, kwargs)))


# --- Methods, plans and workers --------------------------------------------------------

def test_plan_names(rng):
    image = rng.standard_normal((64, 64))
    image[10:13, 20:22] = np.nan
    g = gaussian(2.0, 6)
    for kernel in (outer(g, g), np.ones((5, 5)), outer(g, np.ones(3)), np.ones((1, 7))):
        plan = nanconvolve_plan(image, kernel, method="direct")
        assert isinstance(plan, NanConvolvePlan)
        assert plan.method == "separable", str(plan)
    volume = rng.standard_normal((12, 12, 12))
    volume_kernel = outer(gaussian(1.0, 2), gaussian(1.0, 1), gaussian(1.0, 3))
    assert nanconvolve_plan(volume, volume_kernel, method="direct").method == "separable"
    for kernel in (disk(3), rng.uniform(0.1, 1, (5, 7)), np.eye(5)):
        assert nanconvolve_plan(image, kernel, method="direct").method == "dense"
    assert nanconvolve_plan(volume, disk(1, 3), method="direct").method == "dense"
    for kernel in (outer(g, g), disk(3)):
        plan = nanconvolve_plan(image, kernel, method="fft")
        assert plan.method == "fft"
        assert str(plan) == f"fft: {plan.reason}" and plan.reason
    plan = nanconvolve_plan(image, disk(3))
    assert plan.method in ("separable", "dense", "fft")
    assert str(plan).startswith(plan.method + ": ") and plan.reason
    # The FFTs cannot fill holes with inf: 'auto' goes direct and says why.
    plan = nanconvolve_plan(image, np.ones((41, 41)), nan_treatment="fill", fill_value=np.inf)
    assert plan.method == "separable" and "FFT" in plan.reason
    with pytest.raises(ValueError, match="method='fft'"):
        nanconvolve_plan(image, disk(3), nan_treatment="fill", fill_value=-np.inf, method="fft")


def test_auto_runs_the_planned_method(rng):
    image = rng.standard_normal((96, 97))
    image[rng.random(image.shape) < 0.05] = np.nan
    for kernel in (outer(gaussian(1.0, 2), gaussian(1.0, 2)), disk(2), np.ones((31, 31))):
        method = nanconvolve_plan(image, kernel).method
        explicit = "fft" if method == "fft" else "direct"
        np.testing.assert_array_equal(nanconvolve(image, kernel),
                                      nanconvolve(image, kernel, method=explicit))


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-9), (np.float32, 1e-3)])
@pytest.mark.parametrize("boundary", BOUNDARIES, ids=boundary_id)
def test_methods_agree(dtype, tolerance, boundary, rng):
    """direct and fft differ by rounding only, relative to max|data| * sum|k|."""
    image = rng.uniform(-1, 1, (48, 50)).astype(dtype)
    image[rng.random(image.shape) < 0.1] = np.nan
    image[20:32, 5:15] = np.nan                               # larger than the kernels
    g = gaussian(1.5, 4)
    for kernel in (outer(g, g), disk(4) * rng.uniform(0.5, 1, (9, 9))):
        for nan_treatment in TREATMENTS:
            for normalize_kernel in (True, False):
                args = (image, kernel, boundary, 0.5, nan_treatment, normalize_kernel)
                direct = quiet(nanconvolve, *args, method="direct")
                fft = quiet(nanconvolve, *args, method="fft")
                assert direct.dtype == fft.dtype == dtype
                np.testing.assert_array_equal(np.isnan(direct), np.isnan(fft))
                np.testing.assert_allclose(fft, direct, rtol=0,
                                           atol=tolerance * scale_of(image, kernel))


WORKER_CASES = [
    ((1000,), gaussian(2.0, 6)),
    ((9000,), gaussian(2.0, 6)),
    ((40, 40), outer(gaussian(1.0, 3), gaussian(2.0, 4))),
    ((40, 40), disk(3)),
    ((40, 600), np.ones((3, 5))),
    ((12, 12, 12), outer(gaussian(1.0, 1), gaussian(1.0, 2), gaussian(1.0, 1))),
    ((12, 12, 12), disk(2, 3)),
]


@pytest.mark.parametrize("shape, kernel", WORKER_CASES,
                         ids=[f"{case[0]}-{case[1].shape}" for case in WORKER_CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_results_identical_for_any_worker_count(shape, kernel, dtype, rng):
    data = rng.standard_normal(shape).astype(dtype)
    data[rng.random(shape) < 0.1] = np.nan
    for boundary in BOUNDARIES:
        for nan_treatment in TREATMENTS:
            args = (data, kernel, boundary, 0.5, nan_treatment)
            one = quiet(nanconvolve, *args, method="direct", workers=1)
            for workers in (2, 3):
                np.testing.assert_array_equal(
                    quiet(nanconvolve, *args, method="direct", workers=workers), one)
    fft = [nanconvolve(data, kernel, method="fft", workers=w) for w in (1, 2)]
    np.testing.assert_allclose(fft[1], fft[0], rtol=1e-6, atol=1e-6)


# --- Warnings ---------------------------------------------------------------------------

def block_of_holes():
    data = np.arange(150.0).reshape(10, 15)
    data[2:8, 3:10] = np.nan                      # 6 x 7, larger than a 3 x 3 kernel
    return data


WARNING_CASES = [
    # (name, data, kwargs, warns)
    ("block", block_of_holes(), dict(), True),
    ("block-extend", block_of_holes(), dict(boundary="extend"), True),
    ("block-wrap", block_of_holes(), dict(boundary="wrap"), True),
    ("block-none", block_of_holes(), dict(boundary=None), True),
    ("block-unnormalised", block_of_holes(), dict(normalize_kernel=False), True),
    ("block-preserve", block_of_holes(), dict(preserve_nan=True), False),
    ("block-fill", block_of_holes(), dict(nan_treatment="fill"), False),
    ("block-fill-nan", block_of_holes(), dict(nan_treatment="fill", fill_value=np.nan), False),
    ("all-nan", np.full((6, 6), np.nan), dict(boundary="extend"), True),
    ("all-nan-fill-boundary", np.full((6, 6), np.nan), dict(fill_value=1.0), True),
    ("scattered", np.where(np.eye(8, dtype=bool), np.nan, 1.0), dict(), False),
    ("no-holes", np.ones((8, 8)), dict(), False),
    ("nan-boundary", np.ones((8, 8)), dict(fill_value=np.nan), False),
    ("holes-in-the-border", np.pad(np.ones((6, 6)), 1, constant_values=np.nan),
     dict(boundary=None), False),
    ("masked-block", np.ones((10, 10)), dict(mask=np.pad(np.ones((6, 6)), 2)), True),
    ("signal-gap", np.r_[np.ones(5), np.full(4, np.nan), np.ones(5)], dict(), True),
    ("signal-holes", np.r_[np.ones(5), np.full(2, np.nan), np.ones(5)], dict(), False),
    ("volume-block", np.pad(np.full((4, 4, 4), np.nan), 2, constant_values=1.0), dict(), True),
    ("volume-block-wrap", np.pad(np.full((4, 4, 4), np.nan), 2, constant_values=1.0),
     dict(boundary="wrap"), True),
    ("volume-holes", np.pad(np.full((2, 2, 2), np.nan), 2, constant_values=1.0), dict(),
     False),
]


@pytest.mark.parametrize("name, data, kwargs, warns", WARNING_CASES,
                         ids=[case[0] for case in WARNING_CASES])
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_warns_exactly_when_an_output_is_nan(name, data, kwargs, warns, method):
    if fft_refused(method, kwargs.get("nan_treatment", "interpolate"),
                   kwargs.get("fill_value", 0.0)):
        method = "direct"
    separable = np.ones((3,) * data.ndim)
    dense = separable.copy()
    dense[(0,) * data.ndim] = 0.5                   # the same support, not rank 1
    for kernel in (separable, dense):
        if warns:
            with pytest.warns(NanConvolveWarning) as record:
                out = nanconvolve(data, kernel, method=method, **kwargs)
            assert len(record) == 1
            assert record[0].filename == __file__      # stacklevel: the caller's line
            assert np.isnan(out).any()
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                out = nanconvolve(data, kernel, method=method, **kwargs)
            if kwargs.get("nan_treatment", "interpolate") == "interpolate" and \
                    not kwargs.get("preserve_nan", False):
                assert not np.isnan(out).any()


def test_warning_class():
    assert issubclass(NanConvolveWarning, UserWarning)
    assert cyconv.NanConvolveWarning is NanConvolveWarning


# --- Properties ---------------------------------------------------------------------------

def draw_kernel(data, rng, ndim):
    """Positive taps, maybe rank 1, maybe with zeros (never the centre)."""
    shape = data.draw(st.tuples(*[st.sampled_from([1, 3, 5])] * ndim), "kernel shape")
    if data.draw(st.booleans(), "rank one"):
        kernel = outer(*(rng.uniform(0.1, 1.0, k) for k in shape))
    else:
        kernel = rng.uniform(0.1, 1.0, shape)
    if data.draw(st.booleans(), "zeros"):
        kernel[rng.random(shape) < 0.3] = 0.0
        kernel[tuple(k // 2 for k in shape)] = 0.5
    return kernel


@given(data=st.data(), ndim=st.integers(1, 3), boundary=st.sampled_from(BOUNDARIES),
       nan_treatment=st.sampled_from(TREATMENTS), normalize_kernel=st.booleans(),
       preserve_nan=st.booleans(), fill_value=st.sampled_from([0.0, -1.5, 2.5, np.nan]),
       density=st.sampled_from([0.0, 0.1, 0.5, 1.0]), method=st.sampled_from(["direct", "fft"]),
       seed=st.integers(0, 2**32 - 1))
def test_property_matches_reference(data, ndim, boundary, nan_treatment, normalize_kernel,
                                    preserve_nan, fill_value, density, method, seed):
    rng = np.random.default_rng(seed)
    shape = data.draw(st.tuples(*[st.integers(1, 6)] * ndim), "shape")
    array = rng.standard_normal(shape)
    array[rng.random(shape) < density] = np.nan
    mask = rng.random(shape) < 0.1 if data.draw(st.booleans(), "mask") else None
    kernel = draw_kernel(data, rng, ndim)
    args = (array, kernel, boundary, fill_value, nan_treatment, normalize_kernel, mask,
            preserve_nan)
    got = outcome(nanconvolve, *args, method=method, **ONE)
    if fft_refused(method, nan_treatment, fill_value):
        assert got is ValueError
        return
    assert_matches(got, outcome(nanconvolve_reference, *args),
                   DIRECT_TOLERANCE if method == "direct" else FFT_TOLERANCE)


@given(data=st.data(), ndim=st.integers(1, 3), nan_treatment=st.sampled_from(TREATMENTS),
       method=st.sampled_from(["direct", "fft", "auto"]), seed=st.integers(0, 2**32 - 1))
def test_property_without_holes_is_scipy_convolve(data, ndim, nan_treatment, method, seed):
    """No holes, fill 0, no normalisation: scipy.ndimage.convolve with mode='constant',
    whatever the kernel's sum (zero-sum kernels included)."""
    rng = np.random.default_rng(seed)
    shape = data.draw(st.tuples(*[st.integers(1, 7)] * ndim), "shape")
    kernel_shape = data.draw(st.tuples(*[st.sampled_from([1, 3, 5])] * ndim), "kernel shape")
    array = rng.standard_normal(shape)
    kernel = rng.standard_normal(kernel_shape)
    if data.draw(st.booleans(), "zero sum"):
        kernel -= kernel.mean()
    got = nanconvolve(array, kernel, "fill", 0.0, nan_treatment, normalize_kernel=False,
                      method=method, **ONE)
    expected = ndi.convolve(array, kernel, mode="constant", cval=0.0)
    tolerance = DIRECT_TOLERANCE if method == "direct" else FFT_TOLERANCE
    np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance * scale_of(array, kernel))


@given(data=st.data(), ndim=st.integers(1, 3), value=st.floats(-1e3, 1e3),
       density=st.floats(0.0, 0.9), normalize_kernel=st.booleans(),
       method=st.sampled_from(["direct", "fft"]), seed=st.integers(0, 2**32 - 1))
def test_property_constant_field_is_interpolated_exactly(data, ndim, value, density,
                                                         normalize_kernel, method, seed):
    """A constant with holes, boundary='extend': every finite output is the constant
    (times the kernel's sum without normalisation); NaN only at holes."""
    rng = np.random.default_rng(seed)
    shape = data.draw(st.tuples(*[st.integers(1, 8)] * ndim), "shape")
    field = np.full(shape, value)
    holes = rng.random(shape) < density
    field[holes] = np.nan
    kernel = draw_kernel(data, rng, ndim)
    out = quiet(nanconvolve, field, kernel, "extend", normalize_kernel=normalize_kernel,
                method=method, **ONE)
    finite = np.isfinite(out)
    assert not (~finite & ~holes).any()
    expected = value if normalize_kernel else value * kernel.sum()
    tolerance = 1e-12 if method == "direct" else 1e-9
    np.testing.assert_allclose(out[finite], expected, rtol=tolerance, atol=tolerance)


# --- Errors ------------------------------------------------------------------------------

X = np.ones((6, 6))
K = np.ones((3, 3))


class Unconvertible:
    def __array__(self, dtype=None, copy=None):
        raise TypeError("no array here")


LAPLACIAN = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0.0]])

# (arguments, exception, a regex on the message: it starts with the argument's name)
ERRORS = [
    (dict(boundary="reflect"), ValueError, "^boundary"),
    (dict(boundary="None"), ValueError, "^boundary"),
    (dict(nan_treatment="zero"), ValueError, "^nan_treatment"),
    (dict(nan_treatment=None), ValueError, "^nan_treatment"),
    (dict(method="gpu"), ValueError, "^method"),
    (dict(array=np.float64(1.0), kernel=np.ones(1)), ValueError, "^array"),
    (dict(array=np.array(1.0), kernel=np.ones(())), ValueError, "^array"),
    (dict(array=5.0, kernel=[1.0]), ValueError, "^array"),
    (dict(array=np.ones((3, 3, 3, 3)), kernel=np.ones((1, 1, 1, 1))), ValueError, "^array"),
    (dict(array=np.ones((0,)), kernel=np.ones(1)), ValueError, "^array"),
    (dict(array=np.ones((4, 0)), kernel=np.ones((1, 1))), ValueError, "^array"),
    (dict(array=[], kernel=[1.0]), ValueError, "^array"),
    (dict(kernel=np.ones(3)), ValueError, "^kernel"),
    (dict(kernel=np.ones((3, 3, 3))), ValueError, "^kernel"),
    (dict(kernel=np.ones((3, 2))), ValueError, "^kernel"),
    (dict(kernel=np.ones((4, 3))), ValueError, "^kernel"),
    (dict(kernel=np.ones((0, 3))), ValueError, "^kernel"),
    (dict(kernel=np.array([[1, 1, 1], [1, np.nan, 1], [1, 1, 1]])), ValueError, "^kernel"),
    (dict(kernel=np.array([[1, 1, 1], [1, np.inf, 1], [1, 1, 1]])), ValueError, "^kernel"),
    (dict(kernel=np.ma.masked_array(K, mask=np.eye(3))), ValueError, "^kernel"),
    (dict(mask=np.zeros((6, 5))), ValueError, "^mask"),
    (dict(mask=np.zeros(36)), ValueError, "^mask"),
    (dict(mask=np.full((6, 6), "a")), TypeError, "^mask"),
    (dict(array=np.ones((6, 6), complex)), TypeError, "^array"),
    (dict(kernel=np.ones((3, 3), complex)), TypeError, "^kernel"),
    (dict(array=np.full((6, 6), "a")), TypeError, "^array"),
    (dict(array=np.array([[object()] * 6] * 6)), TypeError, "^array"),
    (dict(kernel=np.full((3, 3), "a")), TypeError, "^kernel"),
    (dict(array=Unconvertible()), TypeError, "^array"),
    (dict(array=[[1.0, 2.0], [3.0]]), ValueError, "^array"),
    (dict(fill_value="0"), TypeError, "^fill_value"),
    (dict(fill_value=1j), TypeError, "^fill_value"),
    (dict(fill_value=None), TypeError, "^fill_value"),
    (dict(fill_value=True), TypeError, "^fill_value"),
    (dict(fill_value=np.ones(1)), TypeError, "^fill_value"),
    (dict(normalize_kernel=1), TypeError, "^normalize_kernel"),
    (dict(normalize_kernel="yes"), TypeError, "^normalize_kernel"),
    (dict(normalize_kernel=None), TypeError, "^normalize_kernel"),
    (dict(preserve_nan=None), TypeError, "^preserve_nan"),
    (dict(preserve_nan=0), TypeError, "^preserve_nan"),
    (dict(normalization_zero_tol="small"), TypeError, "^normalization_zero_tol"),
    (dict(workers=0), ValueError, "^workers"),
    (dict(workers=1.5), TypeError, "^workers"),
    (dict(boundary=None, kernel=np.ones((7, 3))), ValueError, "boundary=None"),
    (dict(boundary=None, array=np.ones((6, 4)), kernel=np.ones((3, 5))), ValueError,
     "boundary=None"),
    (dict(kernel=LAPLACIAN), ValueError, "^normalize_kernel"),
    (dict(kernel=LAPLACIAN, nan_treatment="fill"), ValueError, "^normalize_kernel"),
    (dict(array=np.where(np.eye(6), np.nan, 1.0), normalize_kernel=False, kernel=LAPLACIAN),
     ValueError, "^nan_treatment"),
    (dict(mask=np.eye(6), normalize_kernel=False, kernel=LAPLACIAN), ValueError,
     "^nan_treatment"),
    (dict(fill_value=np.nan, normalize_kernel=False, kernel=LAPLACIAN), ValueError,
     "^nan_treatment"),
    (dict(nan_treatment="fill", fill_value=np.inf, method="fft"), ValueError, "^method='fft'"),
    (dict(nan_treatment="fill", fill_value=-np.inf, method="fft"), ValueError, "^method='fft'"),
]


@pytest.mark.parametrize("kwargs, error, word", ERRORS,
                         ids=[f"{i}-{case[2]}" for i, case in enumerate(ERRORS)])
@pytest.mark.parametrize("function", [nanconvolve, nanconvolve_plan], ids=lambda f: f.__name__)
def test_invalid_arguments(function, kwargs, error, word):
    arguments = dict(array=X, kernel=K)
    arguments.update(kwargs)
    with pytest.raises(error, match=word):
        function(**arguments)


def test_public_signature():
    import inspect

    parameters = inspect.signature(nanconvolve).parameters
    assert list(parameters) == ["array", "kernel", "boundary", "fill_value", "nan_treatment",
                                "normalize_kernel", "mask", "preserve_nan",
                                "normalization_zero_tol", "method", "workers"]
    assert parameters["method"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["workers"].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.signature(nanconvolve_plan).parameters.keys() == parameters.keys()
    for name in ("nanconvolve", "nanconvolve_plan", "NanConvolvePlan", "NanConvolveWarning"):
        assert name in cyconv.__all__


def test_docstring_examples_are_collected():
    """tests/test_docstrings.py runs every module's examples, nanconvolve's among them."""
    from test_docstrings import MODULES

    assert "cyconv._nanconvolve" in MODULES
