"""cyconv.dask.nanconvolve: chunked results equal cyconv.nanconvolve on the whole array."""
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is an optional dependency (cyconv[dask])")

import dask  # noqa: E402

import cyconv  # noqa: E402
import cyconv.dask as cdask  # noqa: E402
from cyconv import NanConvolveWarning  # noqa: E402
from support import counting_array  # noqa: E402

BOUNDARIES = ["fill", "wrap", "extend", None]
NAN_TREATMENTS = ["interpolate", "fill"]
# Uneven chunks, some smaller than every kernel's radius; one chunk; even chunks.
CHUNKINGS_2D = [((7, 1, 12, 3), (2, 9, 5, 6)), (23, 22), (8, 6)]


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _holed(rng, shape, fraction=0.15):
    """Normal data with scattered NaN and inf, and a block of NaN larger than small kernels."""
    data = rng.standard_normal(shape)
    data[rng.random(shape) < fraction] = np.nan
    data[rng.random(shape) < 0.02] = np.inf
    data[(slice(2, 7),) * len(shape)] = np.nan
    return data


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NanConvolveWarning)
        return function(*args, **kwargs)


def _assert_same(lazy, expected, exact=True):
    assert isinstance(lazy, da.Array)
    assert lazy.shape == expected.shape
    assert lazy.dtype == expected.dtype
    result = _quiet(lazy.compute)
    assert result.dtype == expected.dtype
    if exact:
        np.testing.assert_array_equal(result, expected)
    else:
        np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)


def _check(data, kernel, chunks, mask=None, lazy_mask=None, **arguments):
    arguments.setdefault("method", "direct")
    expected = _quiet(cyconv.nanconvolve, data, kernel, mask=mask, **arguments)
    lazy = cdask.nanconvolve(da.from_array(data, chunks=chunks), kernel,
                             mask=mask if lazy_mask is None else lazy_mask, **arguments)
    _assert_same(lazy, expected, exact=arguments["method"] == "direct")
    return lazy


KERNELS_2D = {
    "separable": lambda rng: np.outer(rng.random(5) + 0.1, rng.random(3) + 0.1),
    "dense": lambda rng: rng.random((7, 7)) + 0.05,
    "tall": lambda rng: rng.random((25, 3)) + 0.1,  # taller than the array
}


@pytest.mark.parametrize("chunks", CHUNKINGS_2D, ids=["uneven", "one", "even"])
@pytest.mark.parametrize("kernel", list(KERNELS_2D))
@pytest.mark.parametrize("nan_treatment", NAN_TREATMENTS)
@pytest.mark.parametrize("boundary", BOUNDARIES, ids=str)
def test_2d_matches_in_memory(rng, boundary, nan_treatment, kernel, chunks):
    data = _holed(rng, (23, 22))
    kernel = KERNELS_2D[kernel](rng)
    if boundary is None and kernel.shape[0] > data.shape[0]:
        with pytest.raises(ValueError, match="boundary=None"):
            cdask.nanconvolve(da.from_array(data, chunks=chunks), kernel, boundary=None)
        return
    for fill_value in (1.5, np.nan):
        _check(data, kernel, chunks, boundary=boundary, nan_treatment=nan_treatment,
               fill_value=fill_value)


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=str)
def test_1d_matches_in_memory(rng, boundary):
    data = _holed(rng, (40,))
    for kernel in (np.ones(3), rng.random(7) + 0.1, rng.random(61) + 0.1):
        if boundary is None and kernel.size > data.size:
            continue
        for nan_treatment in NAN_TREATMENTS:
            _check(data, kernel, (3, 10, 1, 26), boundary=boundary, fill_value=np.nan,
                   nan_treatment=nan_treatment)
            _check(data, kernel, 4, boundary=boundary, fill_value=-2.0,
                   nan_treatment=nan_treatment)


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=str)
def test_3d_matches_in_memory(rng, boundary):
    data = _holed(rng, (9, 10, 11))
    separable = np.einsum("i,j,k", rng.random(5) + 0.1, rng.random(3) + 0.1, rng.random(7) + 0.1)
    dense = rng.random((3, 5, 3)) + 0.1
    for kernel in (separable, dense):
        for nan_treatment in NAN_TREATMENTS:
            _check(data, kernel, (5, (3, 7), 6), boundary=boundary, fill_value=2.0,
                   nan_treatment=nan_treatment)
    _check(data, separable, (2, 10, (1, 10)), boundary=boundary, fill_value=np.nan,
           preserve_nan=True, normalize_kernel=False)


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=str)
def test_flags(rng, boundary):
    data = _holed(rng, (20, 21))
    kernel = rng.random((5, 3)) + 0.1
    for preserve_nan, normalize_kernel in [(False, False), (True, True)]:
        for nan_treatment in NAN_TREATMENTS:
            _check(data, kernel, (6, 11), boundary=boundary, preserve_nan=preserve_nan,
                   normalize_kernel=normalize_kernel, nan_treatment=nan_treatment)


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=str)
def test_masks(rng, boundary):
    data = _holed(rng, (20, 21), fraction=0.05)
    kernel = rng.random((5, 5)) + 0.1
    mask = rng.random(data.shape) < 0.2
    _check(data, kernel, (6, 7), mask=mask, boundary=boundary)
    # A dask mask chunked differently from the data, numeric and with NaN (a hole too).
    numeric = mask * 2.0
    numeric[0, 0] = np.nan
    _check(data, kernel, (6, 7), mask=numeric, lazy_mask=da.from_array(numeric, chunks=3),
           boundary=boundary, preserve_nan=True)
    # A masked array's mask joins mask=.
    other = rng.random(data.shape) < 0.1
    masked = np.ma.MaskedArray(data, mask)
    expected = _quiet(cyconv.nanconvolve, masked, kernel, boundary=boundary, mask=other,
                      method="direct")
    _assert_same(cdask.nanconvolve(masked, kernel, boundary=boundary, mask=other,
                                   method="direct"), expected)
    lazy_masked = da.ma.masked_array(da.from_array(data, chunks=(6, 7)),
                                     mask=da.from_array(mask, chunks=(6, 7)))
    _assert_same(cdask.nanconvolve(lazy_masked, kernel, boundary=boundary, mask=other,
                                   method="direct"), expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble, np.int16,
                                   np.uint8, bool])
def test_dtypes(rng, dtype):
    data = (rng.random((15, 14)) * 10).astype(dtype)
    lazy = _check(data, rng.random((3, 5)), (4, 5), mask=rng.random(data.shape) < 0.2,
                  boundary="wrap")
    assert lazy.dtype == (dtype if np.dtype(dtype).kind == "f" else np.float64)


@pytest.mark.parametrize("method", ["fft", "auto"])
@pytest.mark.parametrize("boundary", BOUNDARIES, ids=str)
def test_fft_and_auto_match_to_rounding(rng, boundary, method):
    data = _holed(rng, (64, 70), fraction=0.1)
    kernel = rng.random((31, 31)) + 0.1
    _check(data, kernel, (20, 33), boundary=boundary, method=method)


@pytest.mark.parametrize("workers", [None, 1, 2])
def test_threads_scheduler(rng, workers):
    data = _holed(rng, (100, 90))
    kernel = np.ones((5, 7))
    with dask.config.set(scheduler="threads", num_workers=2):
        for boundary in BOUNDARIES:
            _check(data, kernel, (17, 31), boundary=boundary, workers=workers)


def test_kernel_as_dask_array_and_list(rng):
    data = _holed(rng, (12, 13))
    kernel = rng.random((3, 5))
    expected = _quiet(cyconv.nanconvolve, data, kernel, method="direct")
    _assert_same(cdask.nanconvolve(da.from_array(data, chunks=4), da.from_array(kernel),
                                   method="direct"), expected)
    _assert_same(cdask.nanconvolve(data.tolist(), kernel.tolist(), method="direct"), expected)


def test_output_keeps_the_chunks_it_can(rng):
    data = da.from_array(rng.random((23, 22)), chunks=((7, 1, 12, 3), (2, 9, 5, 6)))
    assert cdask.nanconvolve(data, np.ones((1, 1))).chunks == data.chunks
    # Chunks smaller than the kernel are merged with the next.
    assert cdask.nanconvolve(data, np.ones((5, 3))).chunks == ((7, 13, 3), (2, 9, 5, 6))


def test_nothing_is_computed_before_compute():
    calls = []
    mask = counting_array((20, 20), ((5,) * 4, (20,)), calls) == 0
    lazy = cdask.nanconvolve(counting_array((20, 20), ((10, 10), (10, 10)), calls), np.ones((3, 3)),
                             mask=mask)
    assert calls == []
    lazy.compute()
    assert calls


def test_warning_per_chunk_when_computed():
    data = np.ones((20, 20))
    data[2:9, 2:9] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lazy = cdask.nanconvolve(da.from_array(data, chunks=5), np.ones((3, 3)))
        assert caught == []
        result = lazy.compute()
    counts = [int(str(w.message).split()[0]) for w in caught]
    assert all(issubclass(w.category, NanConvolveWarning) for w in caught)
    assert len(counts) == 4  # the four chunks that hold outputs with no valid neighbour
    assert sum(counts) == np.count_nonzero(np.isnan(result)) == 25
    with warnings.catch_warnings():
        warnings.simplefilter("error", NanConvolveWarning)
        # No warning with preserve_nan, with nan_treatment='fill', nor with holes the kernel fills.
        cdask.nanconvolve(da.from_array(data, chunks=5), np.ones((3, 3)),
                          preserve_nan=True).compute()
        cdask.nanconvolve(da.from_array(data, chunks=5), np.ones((3, 3)),
                          nan_treatment="fill").compute()
        cdask.nanconvolve(da.from_array(data, chunks=5), np.ones((9, 9))).compute()


def test_no_warning_for_the_zero_border_of_boundary_none():
    # The corner's output has no valid neighbour, but boundary=None makes it 0.
    data = np.ones((12, 12))
    data[0, 0] = np.nan
    kernel = np.zeros((5, 5))
    kernel[2, 2] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", NanConvolveWarning)
        expected = cyconv.nanconvolve(data, kernel, boundary=None)
        result = cdask.nanconvolve(da.from_array(data, chunks=4), kernel, boundary=None).compute()
    np.testing.assert_array_equal(result, expected)


def test_kernel_that_cannot_be_normalised(rng):
    laplacian = np.array([[0.0, -1, 0], [-1, 4, -1], [0, -1, 0]])
    clean = rng.random((20, 20))
    _check(clean, laplacian, 6, normalize_kernel=False)
    _check(clean, laplacian, 6, normalize_kernel=False, boundary="wrap")
    holed = clean.copy()
    holed[13, 4] = np.nan
    _check(holed, laplacian, 6, normalize_kernel=False, nan_treatment="fill")
    with pytest.raises(ValueError, match="normalised"):
        cyconv.nanconvolve(holed, laplacian, normalize_kernel=False)
    # Whether the array has holes is known when it is computed.
    lazy = cdask.nanconvolve(da.from_array(holed, chunks=6), laplacian, normalize_kernel=False)
    with pytest.raises(ValueError, match="normalised"):
        lazy.compute()
    lazy = cdask.nanconvolve(da.from_array(clean, chunks=6), laplacian, normalize_kernel=False,
                             mask=clean > 0.99)
    with pytest.raises(ValueError, match="normalised"):
        lazy.compute()
    # What does not depend on the data is checked when the graph is built.
    with pytest.raises(ValueError, match="normalize_kernel"):
        cdask.nanconvolve(da.from_array(clean, chunks=6), laplacian)
    with pytest.raises(ValueError, match="normalised"):
        cdask.nanconvolve(da.from_array(clean, chunks=6), laplacian, normalize_kernel=False,
                          fill_value=np.nan)


@pytest.mark.parametrize("arguments", [
    dict(boundary="symm"),
    dict(nan_treatment="zero"),
    dict(method="gpu"),
    dict(fill_value="1"),
    dict(preserve_nan=1),
    dict(kernel=np.ones((2, 3))),
    dict(kernel=np.ones(3)),
    dict(kernel=np.array([[np.nan]])),
    dict(kernel=np.ones((3, 3)) + 0j),
    dict(kernel=np.ones((21, 3)), boundary=None),
    dict(mask=np.ones((3, 3))),
    dict(mask=np.full((20, 20), "a")),
    dict(nan_treatment="fill", fill_value=np.inf, method="fft"),
    dict(workers=0),
    dict(array=np.ones((20, 20), complex)),
    dict(array=np.zeros((0, 4))),
    dict(array=np.ones((2, 2, 2, 2))),
    dict(array=np.array(1.0), kernel=np.ones(1)),
])
def test_rejects_what_in_memory_rejects(arguments):
    arguments = dict(arguments)
    array = arguments.pop("array", np.ones((20, 20)))
    kernel = arguments.pop("kernel", np.ones((3, 3)))
    # (cyconv.nanconvolve takes a 0-D array as a 1-D one; the contract rejects it.)
    if array.ndim > 0:
        with pytest.raises((ValueError, TypeError)) as in_memory:
            cyconv.nanconvolve(array, kernel, **arguments)
        error = in_memory.type
    else:
        error = ValueError
    with pytest.raises(error):
        cdask.nanconvolve(da.from_array(array), kernel, **arguments)
