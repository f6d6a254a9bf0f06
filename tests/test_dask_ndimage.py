"""cyconv.dask.ndimage: chunked results equal cyconv.ndimage's in memory, lazily."""
import itertools

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is an optional dependency (cyconv[dask])")

import dask  # noqa: E402

import cyconv.ndimage as ndimage  # noqa: E402
from cyconv.dask import ndimage as dndimage  # noqa: E402
from support import counting_array  # noqa: E402

MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-constant", "grid-mirror",
         "grid-wrap"]
# Uneven chunks, some smaller than every kernel below.
IMAGE_SHAPE = (17, 13)
IMAGE_CHUNKS = ((6, 1, 2, 8), (2, 7, 1, 3))

_weights = np.random.default_rng(7)
# Per function: the arguments after the input, on a 2-D image; kernels of
# every parity, origins off centre, one kernel longer than the image.
CASES = {
    "correlate": ((_weights.standard_normal((4, 5)),), dict(origin=(1, -2))),
    "convolve": ((_weights.standard_normal((6, 3)),), dict(origin=(-3, 1))),
    "correlate1d": ((_weights.standard_normal(8),), dict(axis=0, origin=3)),
    "convolve1d": ((_weights.standard_normal(19),), dict(origin=-4)),
    "uniform_filter": ((), dict(size=(5, 4), origin=(-2, 1))),
    "uniform_filter1d": ((6,), dict(axis=0, origin=-3)),
    "gaussian_filter": ((), dict(sigma=(2.0, 0.8), order=(0, 1))),
    "gaussian_filter1d": ((1.5,), dict(axis=-1, order=2, truncate=6.0)),
    "sobel": ((), dict(axis=0)),
    "prewitt": ((), dict(axis=1)),
    "laplace": ((), {}),
    "gaussian_laplace": ((1.2,), dict(truncate=3.0)),
    "gaussian_gradient_magnitude": ((0.9,), dict(radius=3)),
}
FUNCTIONS = sorted(CASES)


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _expected_and_lazy(name, image, chunks, *args, **kwargs):
    expected = getattr(ndimage, name)(image, *args, **kwargs)
    lazy = getattr(dndimage, name)(da.from_array(image, chunks=chunks), *args, **kwargs)
    return expected, lazy


def _assert_same(lazy, expected):
    assert isinstance(lazy, da.Array)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    result = lazy.compute()
    assert result.shape == expected.shape and result.dtype == expected.dtype
    if expected.dtype.kind in "iub":
        np.testing.assert_array_equal(result, expected)
    else:
        tolerance = 1e-5 if expected.dtype in (np.float32, np.complex64) else 1e-11
        np.testing.assert_allclose(result, expected, rtol=tolerance, atol=tolerance)


def check(name, image, chunks, *args, **kwargs):
    expected, lazy = _expected_and_lazy(name, image, chunks, *args, **kwargs)
    _assert_same(lazy, expected)
    return lazy


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_and_mode(rng, name, mode):
    image = rng.standard_normal(IMAGE_SHAPE)
    args, kwargs = CASES[name]
    check(name, image, IMAGE_CHUNKS, *args, mode=mode, cval=1.5, **kwargs)


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "int64"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_integer_dtypes_exactly(rng, name, dtype):
    info = np.iinfo(dtype)
    image = rng.integers(max(info.min, -1000), min(info.max, 1000), IMAGE_SHAPE, dtype=dtype)
    args, kwargs = CASES[name]
    for mode, cval in (("reflect", 0.0), ("constant", 7.6), ("wrap", 0.0)):
        check(name, image, IMAGE_CHUNKS, *args, mode=mode, cval=cval, **kwargs)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_float32_and_complex(rng, name):
    args, kwargs = CASES[name]
    image = rng.standard_normal(IMAGE_SHAPE).astype(np.float32)
    check(name, image, IMAGE_CHUNKS, *args, mode="mirror", **kwargs)
    if name not in ("sobel", "prewitt", "laplace", "gaussian_laplace",
                    "gaussian_gradient_magnitude", "gaussian_filter", "gaussian_filter1d"):
        image = rng.standard_normal(IMAGE_SHAPE) + 1j * rng.standard_normal(IMAGE_SHAPE)
        check(name, image, IMAGE_CHUNKS, *args, mode="constant", cval=0.5 - 1j, **kwargs)


# Chunked along 1, 2 and 3 of the axes of a volume.
VOLUME_CHUNKS = [((9,), (8,), (2, 1, 4)), ((4, 5), (8,), (3, 4)), ((1, 3, 5), (2, 6), (5, 2))]
VOLUME_CASES = [
    ("correlate", (np.ones((2, 3, 4)) / 24,), dict(origin=(0, 1, -2))),
    ("correlate", (np.arange(6.0).reshape(2, 3),), dict(axes=(2, 0), origin=(1, -1))),
    ("convolve", (np.arange(4.0) - 1.5,), dict(axes=(1,), origin=1)),
    ("convolve", (np.arange(12.0).reshape(4, 3),), dict(axes=(0, 2))),
    ("correlate1d", ([1.0, -2.0, 0.5, 3.0],), dict(axis=1)),
    ("uniform_filter", (), dict(size=(3, 4), axes=(2, 1), origin=(1, 0))),
    ("gaussian_filter", (), dict(sigma=1.1, axes=(0, 2))),
    ("gaussian_filter", (), dict(sigma=(0.7, 0, 1.6), order=(1, 0, 0))),
    ("gaussian_filter1d", (2.0,), dict(axis=0, radius=2)),
    ("sobel", (), dict(axis=1)),
    ("prewitt", (), dict(axis=0)),
    ("laplace", (), dict(axes=(0, 2))),
    ("gaussian_laplace", (1.0,), dict(axes=(1, 2))),
    ("gaussian_gradient_magnitude", ((1.0, 0.5, 0.8),), dict(axes=(0,))),
]


@pytest.mark.parametrize("chunks", VOLUME_CHUNKS, ids=["one-axis", "two-axes", "three-axes"])
@pytest.mark.parametrize("case", VOLUME_CASES, ids=[case[0] for case in VOLUME_CASES])
def test_volumes_chunked_along_any_axes(rng, case, chunks):
    name, args, kwargs = case
    volume = rng.standard_normal((9, 8, 7))
    for mode in ("nearest", "constant", "grid-wrap"):
        check(name, volume, chunks, *args, mode=mode, cval=-2.0, **kwargs)


@pytest.mark.parametrize("mode", MODES)
def test_kernels_larger_than_the_array(rng, mode):
    # Halos fold over the array (several periods) as scipy extends it.
    for shape in ((1, 4), (2, 3), (5, 3)):
        image = rng.integers(-50, 50, shape).astype(np.int32)
        chunks = tuple((1,) * size for size in shape)
        # Halos after the array only: scipy 1.17's n-D correlate reads outside the
        # array in 'reflect' mode at positions -4n, -8n, ... before it.
        check("correlate", image, chunks, rng.standard_normal((11, 14)), mode=mode, cval=3,
              origin=(-5, -7))
        check("correlate", image, chunks, rng.standard_normal((5, 2)), mode=mode, cval=3,
              origin=(2, 0))
        check("convolve1d", image, chunks, rng.standard_normal(30), axis=0, mode=mode, cval=3)
        check("uniform_filter", image, chunks, 17, mode=mode, cval=3)
        check("gaussian_filter", image.astype(float), chunks, 6.0, mode=mode, cval=3)
        check("gaussian_filter1d", image, chunks, 1.0, radius=40, mode=mode, cval=3)


@pytest.mark.parametrize("name", ["correlate", "convolve", "correlate1d", "convolve1d",
                                  "uniform_filter", "uniform_filter1d"])
def test_every_origin(rng, name):
    image = rng.standard_normal((12, 11))
    chunks = ((5, 7), (3, 3, 5))
    for length in (1, 2, 5, 6):
        for origin in range(-(length // 2), (length - 1) // 2 + 1):
            if name in ("correlate", "convolve"):
                args, kwargs = (rng.standard_normal((length, 3)),), dict(origin=(origin, -1))
            elif name.startswith("uniform"):
                args, kwargs = (length,), dict(origin=origin)
            else:
                args, kwargs = (rng.standard_normal(length),), dict(origin=origin, axis=0)
            for mode in ("reflect", "constant", "wrap"):
                check(name, image, chunks, *args, mode=mode, cval=0.5, **kwargs)


PER_AXIS = ["uniform_filter", "gaussian_filter", "sobel", "prewitt", "laplace", "gaussian_laplace",
            "gaussian_gradient_magnitude"]


@pytest.mark.parametrize("name", PER_AXIS)
def test_a_mode_per_axis(rng, name):
    image = rng.standard_normal(IMAGE_SHAPE)
    integers = rng.integers(0, 200, IMAGE_SHAPE).astype(np.uint8)
    args, kwargs = CASES[name]
    pairs = list(itertools.permutations(["reflect", "constant", "nearest", "mirror", "wrap"], 2))
    for first, second in pairs + [("grid-constant", "constant"), ("grid-mirror", "reflect")]:
        check(name, image, IMAGE_CHUNKS, *args, mode=(first, second), cval=-1.5, **kwargs)
    for first, second in pairs[::3]:
        check(name, integers, IMAGE_CHUNKS, *args, mode=(first, second), cval=9.5, **kwargs)


def test_integer_uniform_filters_on_whole_lines(rng):
    # scipy's running sum truncated to integers depends on where each line
    # starts: these pass along whole lines, and are exact where a halo is not.
    image = rng.integers(-1000, 1000, (40, 30)).astype(np.int16)
    chunks = ((6, 1, 2, 8, 23), (2, 7, 1, 3, 17))
    for _ in range(10):
        lazy = check("uniform_filter", image, chunks, (5, 4), mode="constant", cval=7.6,
                     origin=(-2, 1))
        check("uniform_filter1d", image, chunks, 6, axis=0, mode="constant", cval=7.6, origin=-3)
        image = rng.integers(-1000, 1000, (40, 30)).astype(np.int16)
    assert lazy.chunks == chunks
    check("uniform_filter", image.astype(np.uint8), chunks, 3, output=np.int32, axes=1)


def test_one_dimensional_and_length_one_axes(rng):
    signal = rng.standard_normal(40)
    for mode in MODES:
        check("correlate1d", signal, ((1, 4, 30, 5),), [1.0, 2.0, -1.0, 0.5], mode=mode, origin=-2)
        check("gaussian_filter", signal, 7, 2.5, mode=mode)
        check("sobel", signal, 7, mode=mode)
        column = rng.standard_normal((1, 9))
        check("uniform_filter", column, (1, 2), 4, mode=mode)
        check("gaussian_laplace", column, (1, 4), 1.0, mode=mode)


def test_output_dtypes(rng):
    image = rng.integers(0, 255, IMAGE_SHAPE).astype(np.uint8)
    for output in (np.float32, "float64", np.dtype(np.int16)):
        check("correlate", image, IMAGE_CHUNKS, np.ones((3, 3)) / 9, output=output)
        check("gaussian_filter", image, IMAGE_CHUNKS, 1.0, output=output, mode="constant", cval=2)
        check("sobel", image, IMAGE_CHUNKS, output=output)
        check("gaussian_gradient_magnitude", image, IMAGE_CHUNKS, 1.0, output=output,
              mode=("wrap", "nearest"))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_an_output_array_is_rejected(name):
    args, kwargs = CASES[name]
    with pytest.raises(TypeError, match="output"):
        getattr(dndimage, name)(da.zeros((8, 8), chunks=4), *args, output=np.empty((8, 8)),
                                **kwargs)
    with pytest.raises(TypeError, match="output"):
        getattr(dndimage, name)(da.zeros((8, 8), chunks=4), *args, output=da.zeros((8, 8)),
                                **kwargs)


REJECTED = [
    ("correlate", (np.ones(3),), {}),
    ("correlate", (np.ones((3, 3)),), dict(mode="nope")),
    ("correlate", (np.ones((3, 3)),), dict(mode=["reflect", "wrap"])),
    ("correlate", (np.ones((3, 3)),), dict(origin=2)),
    ("correlate", (np.ones((3, 3)),), dict(axes=(0, 0))),
    ("correlate", (np.ones((3, 3)),), dict(cval=1j)),
    ("convolve", (np.ones((2, 2)),), dict(origin=(0, 1))),
    ("correlate1d", ([],), {}),
    ("correlate1d", ([1.0, 2.0],), dict(axis=2)),
    ("convolve1d", (np.ones((2, 2)),), {}),
    ("uniform_filter1d", (0,), {}),
    ("uniform_filter1d", (3,), dict(origin=2)),
    ("uniform_filter", (3,), dict(mode=["reflect"])),
    ("gaussian_filter1d", (1.0,), dict(radius=-1)),
    ("gaussian_filter", (1.0,), dict(order=-1)),
    ("gaussian_filter", ((1.0, 2.0, 3.0),), {}),
    ("sobel", (), dict(axis=2)),
    ("prewitt", (), dict(mode="nope")),
    ("laplace", (), dict(mode=("reflect",))),
    ("gaussian_laplace", (1.0,), dict(nonsense=1)),
    ("gaussian_gradient_magnitude", ((1.0, 2.0, 3.0),), {}),
    ("correlate", (np.ones((3, 3)),), dict(workers=0)),
    ("gaussian_filter", (1.0,), dict(output="nonsense")),
]


@pytest.mark.parametrize("case", REJECTED, ids=[f"{name}-{i}" for i, (name, _, _) in
                                                 enumerate(REJECTED)])
def test_rejects_eagerly_what_in_memory_rejects(case):
    name, args, kwargs = case
    image = np.zeros((8, 8))
    with pytest.raises(Exception) as expected:
        getattr(ndimage, name)(image, *args, **kwargs)
    calls = []
    with pytest.raises(type(expected.value)):
        getattr(dndimage, name)(counting_array((8, 8), ((4, 4), (4, 4)), calls), *args, **kwargs)
    assert calls == []


def test_empty_and_zero_dimensional(rng):
    for image, chunks in ((np.zeros((0, 5)), (1, 2)), (np.zeros((4, 0, 3)), 2),
                          (np.array(2.5), ())):
        for name in ("gaussian_filter", "uniform_filter", "laplace"):
            args, kwargs = CASES[name]
            kwargs = {key: value for key, value in kwargs.items()
                      if key not in ("sigma", "size", "origin", "order")}
            args = (1.0,) if name == "gaussian_filter" else args
            check(name, image, chunks, *args, **kwargs)


def test_chunks_follow_the_input_unless_smaller_than_the_halo(rng):
    image = da.from_array(rng.standard_normal((40, 30)), chunks=(10, 15))
    assert dndimage.gaussian_filter(image, 1.0).chunks == image.chunks
    assert dndimage.correlate(image, np.ones((5, 7))).chunks == image.chunks
    assert dndimage.uniform_filter1d(image, 7, axis=0).chunks == image.chunks
    # 15 rows of halo (before + after): the 10-row chunks are merged in twos.
    assert dndimage.correlate1d(image, np.ones(16), axis=0).chunks == ((20, 20), (15, 15))
    # Only the filtered axes get a halo: the others keep chunks of any size.
    thin = da.from_array(rng.standard_normal((40, 30)), chunks=(1, 15))
    assert dndimage.sobel(thin, axis=1, mode=["constant", "wrap"]).chunks[0] != thin.chunks[0]
    assert dndimage.gaussian_filter(thin, 1.0, axes=1).chunks == thin.chunks


@pytest.mark.parametrize("case", [
    # function, arguments, (before, after) per axis
    ("correlate", (np.ones((4, 3)),), dict(origin=(1, 0)), [(3, 0), (1, 1)]),
    ("convolve", (np.ones((4, 3)),), dict(origin=(1, 0)), [(0, 3), (1, 1)]),
    ("correlate1d", (np.ones(5),), dict(axis=0, origin=-2), [(0, 4), (0, 0)]),
    ("uniform_filter", (), dict(size=(1, 4), origin=(0, 1)), [(0, 0), (3, 0)]),
    ("gaussian_filter", (), dict(sigma=1.0, axes=(1,)), [(0, 0), (4, 4)]),
    ("gaussian_filter1d", (2.0,), dict(axis=0, radius=3), [(3, 3), (0, 0)]),
    ("sobel", (), dict(axis=0), [(1, 1), (1, 1)]),
    ("laplace", (), dict(axes=0), [(1, 1), (0, 0)]),
    ("gaussian_gradient_magnitude", ((1.0, 0.0),), {}, [(4, 4), (0, 0)]),
], ids=lambda case: case[0] if isinstance(case, tuple) else None)
@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_each_chunk_gets_exactly_its_halo(rng, monkeypatch, case, mode):
    name, args, kwargs, halos = case
    shapes = []
    in_memory = getattr(ndimage, name)

    def recording(block, *args, **kwargs):
        shapes.append(block.shape)
        return in_memory(block, *args, **kwargs)

    recording.__name__ = name
    monkeypatch.setattr(dndimage, "_memory", type("Stub", (), {name: staticmethod(recording)}))
    image = rng.standard_normal((40, 36))
    chunks = ((10, 10, 20), (12, 12, 12))
    lazy = getattr(dndimage, name)(da.from_array(image, chunks=chunks), *args, mode=mode,
                                   **kwargs)
    shapes.clear()  # the argument check on a one-element sample
    _assert_same(lazy, in_memory(image, *args, mode=mode, **kwargs))
    expected = set()
    for block in itertools.product(*(range(len(sizes)) for sizes in chunks)):
        shape = []
        for axis, index in enumerate(block):
            before, after = halos[axis]
            if mode == "constant":  # nothing added beyond the array's edges: cval is
                before *= index > 0  # the in-memory function's to add
                after *= index < len(chunks[axis]) - 1
            shape.append(chunks[axis][index] + before + after)
        expected.add(tuple(shape))
    assert set(shapes) == expected and len(shapes) == 9


def test_a_dask_kernel_and_array_like_input(rng):
    image = rng.standard_normal((12, 10))
    weights = rng.standard_normal((3, 4))
    lazy = dndimage.correlate(image.tolist(), da.from_array(weights), mode="wrap")
    _assert_same(lazy, ndimage.correlate(image, weights, mode="wrap"))


def test_nothing_is_computed_before_compute():
    calls = []
    image = counting_array((20, 20), ((10, 10), (10, 10)), calls)
    results = []
    for name in FUNCTIONS:
        args, kwargs = CASES[name]
        results.append(getattr(dndimage, name)(image, *args, mode="wrap", **kwargs))
    results.append(dndimage.gaussian_laplace(image, 1.0, mode=["wrap", "constant"]))
    assert calls == []
    dask.compute(*results)
    assert calls


def test_workers_per_chunk(rng):
    image = rng.standard_normal((30, 20))
    for workers in (1, 2, -1):
        lazy = dndimage.gaussian_filter(da.from_array(image, chunks=10), 1.5, workers=workers)
        _assert_same(lazy, ndimage.gaussian_filter(image, 1.5))


def test_local_cluster(rng):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is optional")
    image = rng.standard_normal((96, 80)).astype(np.float32)
    weights = rng.standard_normal((5, 4)).astype(np.float32)
    lazy_image = da.from_array(image, chunks=(30, 25))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        correlation, smooth, magnitude = client.compute([
            dndimage.correlate(lazy_image, weights, mode="mirror"),
            dndimage.gaussian_filter(lazy_image, 3.0, mode="wrap"),
            dndimage.gaussian_gradient_magnitude(lazy_image, 1.0, mode=["reflect", "constant"]),
        ], sync=True)
    np.testing.assert_allclose(correlation, ndimage.correlate(image, weights, mode="mirror"),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(smooth, ndimage.gaussian_filter(image, 3.0, mode="wrap"),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(magnitude, ndimage.gaussian_gradient_magnitude(
        image, 1.0, mode=["reflect", "constant"]), rtol=1e-5, atol=1e-5)


def test_import_paths():
    import cyconv.dask
    import cyconv.dask.ndimage as module

    assert cyconv.dask.ndimage is module is dndimage
    assert sorted(module.__all__) == FUNCTIONS
