"""cyconv.dask: chunked results equal the in-memory ones, lazily, on any scheduler."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is an optional dependency (cyconv[dask])")

import dask  # noqa: E402

import cyconv  # noqa: E402
import cyconv.dask as cdask  # noqa: E402
from support import counting_array, run_python  # noqa: E402

# Uneven chunks, some smaller than every kernel below.
IMAGE_CHUNKS = ((7, 1, 12, 3), (2, 9, 5, 6))
KERNEL_SHAPES = [(1, 1), (3, 3), (2, 4), (5, 2), (8, 9), (30, 3), (25, 40)]


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _assert_same(lazy, expected):
    assert isinstance(lazy, da.Array)
    result = lazy.compute()
    assert result.shape == expected.shape
    assert result.dtype == expected.dtype
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("convolve", [False, True], ids=["correlate", "convolve"])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("kernel_shape", KERNEL_SHAPES)
def test_correlate_matches_in_memory(rng, mode, boundary, convolve, kernel_shape):
    image = rng.standard_normal((23, 22))
    kernel = rng.standard_normal(kernel_shape)
    in_memory, chunked = (cyconv.convolve2d, cdask.convolve2d) if convolve else (
        cyconv.correlate2d, cdask.correlate2d)
    try:
        expected = in_memory(image, kernel, mode, boundary, fillvalue=1.5)
    except ValueError:  # 'valid' with neither input the larger in both dimensions
        with pytest.raises(ValueError):
            chunked(da.from_array(image, chunks=IMAGE_CHUNKS), kernel, mode, boundary)
        return
    lazy = chunked(da.from_array(image, chunks=IMAGE_CHUNKS), kernel, mode, boundary, fillvalue=1.5)
    _assert_same(lazy, expected)


def test_same_mode_keeps_the_input_chunks(rng):
    image = da.from_array(rng.random((23, 22)), chunks=IMAGE_CHUNKS)
    assert cdask.correlate2d(image, np.ones((2, 2)), "same").chunks == IMAGE_CHUNKS


@pytest.mark.parametrize("convolve", [False, True])
def test_valid_mode_swaps_when_in2_is_larger(rng, convolve):
    small = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
    large = rng.standard_normal((9, 7))
    function = "convolve2d" if convolve else "correlate2d"
    lazy = getattr(cdask, function)(da.from_array(small, chunks=2), large, "valid")
    _assert_same(lazy, getattr(cyconv, function)(small, large, "valid"))


@pytest.mark.parametrize("dtypes", [("int16", "int16"), ("uint8", "float32"), ("complex64", "complex128"),
                                    ("int32", "complex64")])
def test_correlate_dtypes_and_fillvalue(rng, dtypes):
    image = (rng.random((17, 19)) * 50).astype(dtypes[0])
    kernel = (rng.random((4, 3)) * 5 - 2).astype(dtypes[1])
    for boundary in ("fill", "symm"):
        expected = cyconv.correlate2d(image, kernel, "same", boundary, fillvalue=3)
        lazy = cdask.correlate2d(da.from_array(image, chunks=(5, 6)), kernel, "same", boundary,
                                 fillvalue=3)
        _assert_same(lazy, expected)


def test_empty_image(rng):
    image = np.empty((0, 4))
    kernel = rng.random((2, 3))
    _assert_same(cdask.correlate2d(da.from_array(image), kernel, fillvalue=2.0),
                 cyconv.correlate2d(image, kernel, fillvalue=2.0))


@pytest.mark.parametrize("arguments", [
    dict(mode="nope"), dict(boundary="nope"), dict(method="nope"), dict(workers=0),
    dict(boundary="fill", fillvalue=[1, 2]),
])
def test_correlate_rejects_what_in_memory_rejects(rng, arguments):
    image = rng.random((8, 8))
    with pytest.raises(ValueError) as expected:
        cyconv.correlate2d(image, np.ones((2, 2)), **arguments)
    with pytest.raises(type(expected.value)):
        cdask.correlate2d(da.from_array(image, chunks=3), np.ones((2, 2)), **arguments)


def test_nothing_is_computed_before_compute():
    calls = []
    image = counting_array((20, 20), ((10, 10), (10, 10)), calls)
    x = counting_array((2, 3, 20, 20), ((1, 1), (3,), (10, 10), (10, 10)), calls)
    results = [
        cdask.correlate2d(image, np.ones((3, 3)), boundary="wrap"),
        cdask.convolve2d(image, np.ones((3, 3)), "valid"),
        cdask.conv2d(x, np.ones((4, 3, 3, 3)), padding=1),
        *cdask.max_pool2d(x, 3, stride=2, padding=1, return_indices=True),
        cdask.avg_pool2d(x, 2),
    ]
    assert calls == []
    dask.compute(*results)
    assert calls


CONV_CASES = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(3, 2), padding=(2, 0), dilation=(1, 2)),
    dict(padding="same", dilation=2),
    dict(padding="same"),
    dict(padding="valid", stride=4),
    dict(groups=2, stride=2),
    dict(groups=4, padding=3, dilation=3),
]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_in_memory(rng, case, bias):
    groups = case.get("groups", 1)
    x = rng.standard_normal((3, 4, 19, 17)).astype(np.float32)
    weight = rng.standard_normal((8, 4 // groups, 4, 3)).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32) if bias else None
    expected = cyconv.conv2d(x, weight, bias, **case)
    lazy = cdask.conv2d(da.from_array(x, chunks=(2, 3, (5, 2, 12), (1, 8, 8))), weight, bias, **case)
    assert lazy.dtype == expected.dtype and lazy.shape == expected.shape
    np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-5, atol=1e-5)


def test_conv2d_unbatched_and_strided_chunks(rng):
    x = rng.standard_normal((2, 32, 32))
    weight = rng.standard_normal((3, 2, 2, 2))
    lazy = cdask.conv2d(da.from_array(x, chunks=(2, 8, 16)), weight, stride=2)
    assert lazy.chunks == ((3,), (4, 4, 4, 4), (8, 8))
    _assert_same(lazy, cyconv.conv2d(x, weight, stride=2))


def test_conv2d_rejects_what_in_memory_rejects(rng):
    x = da.zeros((1, 3, 8, 8), chunks=4)
    with pytest.raises(ValueError, match="groups"):
        cdask.conv2d(x, np.ones((4, 2, 3, 3)), groups=2)
    with pytest.raises(TypeError):
        cdask.conv2d(x.astype(complex), np.ones((4, 3, 3, 3)))


POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(5, 3), stride=(2, 3), padding=(2, 1), ceil_mode=True),
    dict(kernel_size=4, stride=1, padding=2),
    dict(kernel_size=3, stride=7, ceil_mode=True),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("shape", [(3, 2, 21, 18), (21, 18)])
def test_max_pool2d_matches_in_memory(rng, case, dilation, shape):
    x = rng.standard_normal(shape)
    x[..., 3:9, 0:5] = -np.inf  # windows whose maximum is -inf, near padding
    x[..., 15, 11] = np.nan
    chunks = (2, 1, (4, 1, 16), (7, 11))[-len(shape):]
    try:
        out, indices = cyconv.max_pool2d(x, dilation=dilation, return_indices=True, **case)
    except ValueError:
        with pytest.raises(ValueError):
            cdask.max_pool2d(da.from_array(x, chunks=chunks), dilation=dilation, **case)
        return
    lazy_out, lazy_indices = cdask.max_pool2d(da.from_array(x, chunks=chunks), dilation=dilation,
                                              return_indices=True, **case)
    np.testing.assert_array_equal(lazy_out.compute(), out)
    np.testing.assert_array_equal(lazy_indices.compute(), indices)
    assert lazy_indices.dtype == np.int64
    np.testing.assert_array_equal(
        cdask.max_pool2d(da.from_array(x, chunks=chunks), dilation=dilation, **case).compute(), out)


@pytest.mark.parametrize("divisor_override", [None, 3])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", POOL_CASES)
def test_avg_pool2d_matches_in_memory(rng, case, count_include_pad, divisor_override):
    x = rng.standard_normal((2, 3, 21, 18)).astype(np.float32)
    expected = cyconv.avg_pool2d(x, count_include_pad=count_include_pad,
                                 divisor_override=divisor_override, **case)
    lazy = cdask.avg_pool2d(da.from_array(x, chunks=(1, 2, (2, 9, 10), (18,))),
                            count_include_pad=count_include_pad,
                            divisor_override=divisor_override, **case)
    assert lazy.dtype == expected.dtype
    np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-6, atol=1e-6)


def test_pooling_output_chunks_follow_the_stride():
    x = da.zeros((2, 3, 64, 48), chunks=(1, 3, 16, 12))
    assert cdask.max_pool2d(x, 2).chunks == ((1, 1), (3,), (8,) * 4, (6,) * 4)
    assert cdask.avg_pool2d(x, 3, stride=2, padding=1).chunks == ((1, 1), (3,), (8,) * 4, (6,) * 4)


def test_default_threads_do_not_oversubscribe():
    openmp = cyconv._config.resolve_workers(None)
    assert cdask.chunk_threads(None) == openmp  # synchronous: one task at a time
    assert cdask.chunk_threads(2) == 2
    with dask.config.set(scheduler="threads", num_workers=2):
        shares = da.from_delayed(dask.delayed(lambda: np.array([cdask.chunk_threads(None)]))(),
                                 (1,), int).compute()
    assert shares[0] == max(1, openmp // 2)


def test_local_cluster_with_two_worker_processes(rng):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is optional")
    image = rng.standard_normal((96, 80)).astype(np.float32)
    kernel = rng.standard_normal((5, 4)).astype(np.float32)
    x = rng.standard_normal((2, 3, 24, 20))
    weight = rng.standard_normal((4, 3, 3, 3))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit="512MiB") as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        lazy_image = da.from_array(image, chunks=(40, 30))
        lazy_x = da.from_array(x, chunks=(1, 3, 10, 20))
        correlation, convolution, layer, pooled = client.compute([
            cdask.correlate2d(lazy_image, kernel, "same", "symm"),
            cdask.convolve2d(lazy_image, kernel, "full", "wrap"),
            cdask.conv2d(lazy_x, weight, stride=2, padding=1),
            cdask.max_pool2d(lazy_x, 3, stride=2, padding=1, ceil_mode=True),
        ], sync=True)
        # One task at a time per worker: a chunk may use all the threads OpenMP
        # allows there (distributed sets OMP_NUM_THREADS=1 in its workers by default).
        threads = client.run(lambda: (cdask.chunk_threads(None),
                                      cyconv._config.resolve_workers(None)))
    np.testing.assert_allclose(correlation, cyconv.correlate2d(image, kernel, "same", "symm"),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(convolution, cyconv.convolve2d(image, kernel, "full", "wrap"),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer, cyconv.conv2d(x, weight, stride=2, padding=1), rtol=1e-12)
    np.testing.assert_array_equal(pooled, cyconv.max_pool2d(x, 3, stride=2, padding=1,
                                                            ceil_mode=True))
    assert all(chunk == openmp for chunk, openmp in threads.values())


def test_import_without_dask_says_what_to_install():
    code = ("import sys; sys.modules['dask'] = None\n"
            "import cyconv\n"
            "try:\n    import cyconv.dask\nexcept ImportError as error:\n    print(error)\n")
    result = run_python(code, check=True)
    assert 'pip install "cyconv[dask]"' in result.stdout
