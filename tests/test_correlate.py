"""correlate2d / convolve2d against scipy.signal as the oracle."""
import itertools
import threading
import warnings

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import cyconv
from cyconv import _simd
from support import outcome

FUNCTIONS = ["correlate2d", "convolve2d"]
MODES = ["full", "same", "valid"]
BOUNDARIES = ["fill", "wrap", "symm"]
SHAPE_PAIRS = [
    ((1, 1), (1, 1)),
    ((1, 7), (1, 3)),
    ((7, 1), (2, 1)),
    ((5, 6), (3, 3)),
    ((6, 8), (2, 4)),
    ((9, 4), (4, 5)),   # kernel wider than the image
    ((3, 4), (6, 9)),   # kernel larger than the image in both dimensions
    ((4, 3), (6, 2)),   # taller, narrower kernel: 'valid' mode cannot run
    ((23, 37), (5, 7)),
    ((40, 33), (9, 8)),
]
DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
          np.uint64, np.float32, np.float64, np.longdouble, np.complex64,
          np.complex128, np.clongdouble]


def random_array(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100), size=shape,
                            endpoint=True).astype(dtype)
    values = rng.standard_normal(shape)
    if dtype.kind == "c":
        values = values + 1j * rng.standard_normal(shape)
    return values.astype(dtype)


def is_deliberate_difference(name, mode, in1, in2):
    """cyconv returns the true correlation where scipy conjugates it."""
    swapped = mode == "valid" and any(b > a for a, b in zip(in1.shape, in2.shape))
    complex_input = np.iscomplexobj(in1) or np.iscomplexobj(in2)
    return name == "correlate2d" and swapped and complex_input


def assert_matches_scipy(name, in1, in2, mode="full", boundary="fill", fillvalue=0, **kwargs):
    expected = outcome(getattr(scipy.signal, name), in1, in2, mode, boundary, fillvalue)
    if not isinstance(expected, type) and is_deliberate_difference(
            name, mode, np.asarray(in1), np.asarray(in2)):
        expected = scipy.signal.correlate(in1, in2, mode="valid")
    got = outcome(getattr(cyconv, name), in1, in2, mode, boundary, fillvalue, **kwargs)
    if isinstance(expected, type) or isinstance(got, type):
        assert got is expected, f"scipy gave {expected}, cyconv gave {got}"
        return got
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    assert got.flags.c_contiguous
    if got.dtype.kind in "iu":
        np.testing.assert_array_equal(got, expected)
    else:
        precision = np.finfo(got.dtype).eps ** 0.5 if got.dtype.itemsize < 16 else 1e-12
        scale = max(1.0, float(np.abs(expected).max(initial=0)))
        np.testing.assert_allclose(got, expected, rtol=precision, atol=precision * scale * 10)
    return got


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_parity_float64(name, mode, boundary, shapes, rng):
    in1 = rng.standard_normal(shapes[0])
    in2 = rng.standard_normal(shapes[1])
    for method in ("direct", "fft", "auto"):
        assert_matches_scipy(name, in1, in2, mode, boundary, fillvalue=1.5, method=method)
        # in2 larger than in1: 'valid' swaps, the others keep in1's geometry.
        assert_matches_scipy(name, in2, in1, mode, boundary, fillvalue=-2, method=method)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
def test_parity_dtypes(name, dtype, mode, rng):
    for (shape1, shape2), boundary in itertools.product(SHAPE_PAIRS[3:8], BOUNDARIES):
        in1 = random_array(rng, shape1, dtype)
        in2 = random_array(rng, shape2, dtype)
        assert_matches_scipy(name, in1, in2, mode, boundary, fillvalue=3, method="direct")


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint64])
def test_integer_sums_wrap_like_scipy(dtype):
    info = np.iinfo(dtype)
    in1 = np.full((6, 7), info.max, dtype=dtype)
    in2 = np.full((3, 3), info.max // 3 + 1, dtype=dtype)
    for name, mode in itertools.product(FUNCTIONS, MODES):
        assert_matches_scipy(name, in1, in2, mode, "fill", fillvalue=info.max)


@pytest.mark.parametrize("pair", [
    (np.int8, np.uint8), (np.int16, np.float32), (np.float32, np.complex64),
    (np.float32, np.int64), (np.int64, np.uint64), (np.bool_, np.int8),
    (np.float16, np.float32), (np.uint8, np.complex128), (np.longdouble, np.complex64),
], ids=str)
def test_mixed_dtype_pairs(pair, rng):
    in1 = random_array(rng, (9, 8), pair[0]) if pair[0] != np.bool_ else rng.random((9, 8)) > 0.5
    in2 = random_array(rng, (3, 4), pair[1])
    for name, mode in itertools.product(FUNCTIONS, MODES):
        got = assert_matches_scipy(name, in1, in2, mode, "symm")
        assert got.dtype == np.result_type(in1, in2)


@pytest.mark.parametrize("fillvalue", [
    0, 1, -1, 1.5, np.float64(2.5), np.int64(300), np.float32(3.7), True, "2", [[3]],
    None, 1j, np.complex128(2), 2 ** 70, np.nan, [], [1, 2], "abc", np.array(3.7),
    np.array([3.0]), object(),
], ids=repr)
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int64, np.float32, np.float64, np.complex128])
def test_fillvalue_conversion_like_scipy(fillvalue, dtype, rng):
    in1 = random_array(rng, (4, 5), dtype)
    in2 = random_array(rng, (2, 3), dtype)
    for name in FUNCTIONS:
        assert_matches_scipy(name, in1, in2, "full", "fill", fillvalue)
        # scipy ignores fillvalue unless the boundary is 'fill'.
        assert_matches_scipy(name, in1, in2, "same", "wrap", fillvalue)


@pytest.mark.parametrize("case", [
    dict(in1=np.ones((3, 3), bool), in2=np.ones((2, 2), bool)),
    dict(in1=np.ones((3, 3), np.float16), in2=np.ones((2, 2), np.float16)),
    dict(in1=np.ones((3, 3), object), in2=np.ones((2, 2))),
    dict(in1=np.ones((3, 3), "U1"), in2=np.ones((2, 2))),
    dict(in1=np.ones((3, 3)), in2=np.ones((2, 2), "U1")),
    dict(in1=np.ones((3, 3), "M8[s]"), in2=np.ones((2, 2), "M8[s]")),
    dict(in1=[["a", "b"]], in2=[["c"]]),
    dict(in1=np.ones(3), in2=np.ones((2, 2))),
    dict(in1=np.ones((3, 3, 1)), in2=np.ones((2, 2))),
    dict(in1=None, in2=np.ones((2, 2))),
    dict(in1=3.0, in2=np.ones((2, 2))),
    dict(in1=[[1, 2], [3]], in2=np.ones((2, 2))),
    dict(in1=np.ones((3, 5)), in2=np.ones((4, 2)), mode="valid"),
    dict(in1=np.ones((0, 3)), in2=np.ones((1, 1)), mode="valid"),
    dict(in1=np.ones((3, 3)), in2=np.ones((2, 2)), mode="bad"),
    dict(in1=np.ones((3, 3)), in2=np.ones((2, 2)), mode=None),
    dict(in1=np.ones((3, 3)), in2=np.ones((2, 2)), mode=["full"]),
    dict(in1=np.ones((3, 3)), in2=np.ones((2, 2)), boundary="bad"),
    dict(in1=np.ones((3, 3)), in2=np.ones((2, 2)), boundary="reflect"),
    dict(in1=np.ones((3, 3)), in2=np.ones((2, 2)), boundary=[]),
    dict(in1=np.ones((0, 0)), in2=np.ones((0, 0))),
    dict(in1=np.ones((0, 3)), in2=np.ones((0, 2))),
], ids=lambda case: ",".join(f"{k}={getattr(v, 'shape', v)}" for k, v in case.items()))
def test_rejects_what_scipy_rejects(case):
    for name in FUNCTIONS:
        assert isinstance(assert_matches_scipy(name, **case), type)


@pytest.mark.parametrize("shapes", [
    ((0, 3), (2, 2)), ((3, 0), (2, 2)), ((3, 3), (0, 2)), ((3, 3), (0, 0)),
    ((0, 3), (1, 2)), ((1, 3), (0, 1)), ((0, 0), (0, 0)),
], ids=str)
def test_empty_shapes(shapes):
    in1, in2 = np.ones(shapes[0]), np.ones(shapes[1])
    for name, mode in itertools.product(FUNCTIONS, MODES):
        assert_matches_scipy(name, in1, in2, mode, "fill", fillvalue=2.0)


def test_empty_in1_with_wrap_raises_where_scipy_crashes():
    with pytest.raises(ValueError, match="in1"):
        cyconv.correlate2d(np.ones((0, 3)), np.ones((2, 2)), boundary="wrap")
    with pytest.raises(ValueError, match="in1"):
        cyconv.convolve2d(np.ones((3, 0)), np.ones((2, 2)), boundary="symm")
    # Without a read of the input there is nothing to refuse, as in scipy.
    assert cyconv.correlate2d(np.ones((0, 3)), np.ones((2, 2)), "same", "wrap").shape == (0, 3)


def test_complex_valid_swapped_is_the_true_correlation():
    in1 = np.array([[1 + 1j, 2]])
    in2 = np.array([[1j, 2, 3 + 1j]])
    got = cyconv.correlate2d(in1, in2, "valid")
    np.testing.assert_allclose(got, scipy.signal.correlate(in1, in2, "valid"))
    np.testing.assert_allclose(got, np.conj(scipy.signal.correlate2d(in1, in2, "valid")))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_complex_infinities_multiply_like_scipy(dtype, boundary):
    """scipy's C99 complex products turn (inf + inf*j) * 1 back into an
    infinity (Annex G) where real and imaginary planes give NaN; cyconv
    matches scipy's inf and NaN placement, also for integer kernels."""
    values = [0, 1, -2.5, np.inf, -np.inf, np.nan]
    pool = np.array([complex(re, im) for re in values for im in values], dtype)
    rng = np.random.default_rng(7)
    for trial in range(40):
        in1 = rng.choice(pool, size=(3, 4))
        in2 = rng.choice(pool, size=(2, 2)) if trial % 2 else rng.integers(-2, 3, (2, 2), np.int8)
        for name, mode in itertools.product(["correlate2d", "convolve2d"], ["full", "same", "valid"]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                want = getattr(scipy.signal, name)(in1, in2, mode, boundary)
                got = getattr(cyconv, name)(in1, in2, mode, boundary)
            for part in (np.real, np.imag):
                for test in (np.isnan, np.isposinf, np.isneginf):
                    np.testing.assert_array_equal(test(part(got)), test(part(want)))
            finite = np.isfinite(want)
            np.testing.assert_allclose(got[finite], want[finite], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shapes", [((0, 0), (0, 1)), ((2, 3), (0, 2)), ((0, 3), (1, 1))])
def test_complex_empty_with_non_finite_fill_like_scipy(shapes):
    in1 = np.zeros(shapes[0], np.complex64)
    in2 = np.ones(shapes[1], np.int8)
    for mode in ("full", "same"):
        try:
            want = scipy.signal.correlate2d(in1, in2, mode, fillvalue=np.nan)
        except ValueError:
            with pytest.raises(ValueError):
                cyconv.correlate2d(in1, in2, mode, fillvalue=np.nan)
            continue
        got = cyconv.correlate2d(in1, in2, mode, fillvalue=np.nan)
        assert got.shape == want.shape and got.dtype == want.dtype


def test_boundary_aliases():
    in1 = np.arange(20.0).reshape(4, 5)
    in2 = np.arange(6.0).reshape(2, 3)
    for alias, name in [("pad", "fill"), ("circular", "wrap"), ("symmetric", "symm")]:
        np.testing.assert_array_equal(cyconv.correlate2d(in1, in2, boundary=alias),
                                      cyconv.correlate2d(in1, in2, boundary=name))


def test_textbook_example():
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(cyconv.correlate2d(X, K, "valid"), [[19, 25], [37, 43]])


@pytest.mark.parametrize("layout", ["fortran", "strided", "transposed", "negative",
                                    "readonly", "bigendian"])
def test_layouts_and_inputs_not_modified(layout, rng):
    base1 = rng.standard_normal((30, 26))
    base2 = rng.standard_normal((6, 10))
    if layout == "fortran":
        in1, in2 = np.asfortranarray(base1), np.asfortranarray(base2)
    elif layout == "strided":
        in1, in2 = base1[::2, 1::3], base2[::2, ::3]
    elif layout == "transposed":
        in1, in2 = base1.T, base2.T
    elif layout == "negative":
        in1, in2 = base1[::-1, ::-2], base2[:, ::-1]
    elif layout == "readonly":
        in1, in2 = base1.copy(), base2.copy()
        in1.flags.writeable = in2.flags.writeable = False
    else:
        in1, in2 = base1.astype(">f8"), base2.astype(">f4")
    copies = in1.copy(), in2.copy()
    for name, mode, boundary in itertools.product(FUNCTIONS, MODES, BOUNDARIES):
        assert_matches_scipy(name, in1, in2, mode, boundary, fillvalue=0.5)
    np.testing.assert_array_equal(in1, copies[0])
    np.testing.assert_array_equal(in2, copies[1])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_workers(name, rng):
    in1 = rng.standard_normal((300, 200))
    in2 = rng.standard_normal((7, 5))
    func = getattr(cyconv, name)
    results = [func(in1, in2, "same", "symm", method="direct", workers=w) for w in (1, 2, -1, None)]
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])
    with pytest.raises(ValueError, match="workers"):
        func(in1, in2, workers=0)
    with pytest.raises(TypeError, match="workers"):
        func(in1, in2, workers=1.5)
    with pytest.raises(ValueError, match="workers"):
        func(in1, in2, workers=-1000)
    with pytest.raises(ValueError, match="method"):
        func(in1, in2, method="winograd")


def test_concurrent_calls_match_sequential(rng):
    cases = [(rng.standard_normal((64 + 13 * i, 80 - 5 * i)), rng.standard_normal((1 + i % 5, 2 + i % 4)),
              FUNCTIONS[i % 2], MODES[i % 3], BOUNDARIES[(i // 3) % 3]) for i in range(12)]
    expected = [getattr(cyconv, f)(a, k, m, b) for a, k, f, m, b in cases]
    results = [None] * (8 * len(cases))

    def work(thread_index):
        for repeat in range(3):
            for i, (a, k, f, m, b) in enumerate(cases):
                results[thread_index * len(cases) + i] = getattr(cyconv, f)(a, k, m, b, workers=2)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, result in enumerate(results):
        np.testing.assert_array_equal(result, expected[index % len(cases)])


def test_uses_the_compiled_kernels():
    assert _simd.correlate_kernels.__file__.endswith((".so", ".pyd"))
    assert _simd.LEVEL in _simd.available_levels()


dims = st.integers(min_value=0, max_value=12)


@given(
    in1=hnp.arrays(np.float64, st.tuples(dims, dims),
                   elements=st.floats(-1e3, 1e3, allow_nan=False)),
    in2=hnp.arrays(np.float64, st.tuples(st.integers(0, 6), st.integers(0, 6)),
                   elements=st.floats(-1e3, 1e3, allow_nan=False)),
    name=st.sampled_from(FUNCTIONS),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    fillvalue=st.floats(-10, 10),
    method=st.sampled_from(["direct", "fft"]),
)
def test_property_matches_scipy(in1, in2, name, mode, boundary, fillvalue, method):
    if in1.size == 0 and boundary != "fill":
        return  # scipy crashes here; covered by test_empty_in1_with_wrap_raises_where_scipy_crashes
    assert_matches_scipy(name, in1, in2, mode, boundary, fillvalue, method=method)


@given(
    dtype=st.sampled_from([np.int8, np.uint16, np.int32, np.uint64, np.complex64]),
    shape1=st.tuples(st.integers(1, 10), st.integers(1, 10)),
    shape2=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    name=st.sampled_from(FUNCTIONS),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    seed=st.integers(0, 2 ** 32 - 1),
)
def test_property_dtypes_match_scipy(dtype, shape1, shape2, name, mode, boundary, seed):
    rng = np.random.default_rng(seed)
    assert_matches_scipy(name, random_array(rng, shape1, dtype), random_array(rng, shape2, dtype),
                         mode, boundary, fillvalue=2)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_tall_kernel_is_split_to_bound_the_tile(name, boundary, rng):
    # A padded tile for all 3000 kernel rows would exceed the tile limit, so the
    # kernel is applied in row chunks whose partial sums accumulate.
    in1 = rng.standard_normal((2, 3000))
    in2 = rng.standard_normal((3000, 3))
    assert_matches_scipy(name, in1, in2, "same", boundary, fillvalue=0.25, method="direct")


def test_large_outputs_reuse_freed_blocks_and_stay_ordinary_arrays(rng):
    from numpy._core.multiarray import get_handler_name

    image = rng.standard_normal((1100, 1100))
    kernel = rng.standard_normal((3, 3))
    first = cyconv.correlate2d(image, kernel, "same")
    assert get_handler_name(first) == "cyconv_output_cache"
    assert first.flags.owndata and first.flags.c_contiguous and first.flags.writeable
    expected = scipy.signal.correlate2d(image, kernel, "same")
    np.testing.assert_allclose(first, expected, atol=1e-12)
    address = first.ctypes.data
    del first
    # The freed block comes back for the next output of the same size, holding
    # the new result (nothing stale), and a live array's block is never shared.
    second = cyconv.correlate2d(image, -kernel, "same")
    assert second.ctypes.data == address
    np.testing.assert_allclose(second, -expected, atol=1e-12)
    third = cyconv.correlate2d(image, kernel, "same")
    assert third.ctypes.data != second.ctypes.data
    np.testing.assert_allclose(third, expected, atol=1e-12)
    third.resize((10, 10), refcheck=False)  # realloc through the same handler
    assert third.shape == (10, 10)


def test_output_cache_keeps_the_newest_blocks():
    from cyconv._kernels import memory

    sizes = [(memory.MIN_BLOCK_BYTES // 8 + 4096 * i) * 2 for i in range(memory.CACHE_BLOCKS + 2)]
    addresses = []
    for size in sizes:
        block = memory.empty(size, np.float64)
        addresses.append(block.ctypes.data)
        del block
    # Every older size was evicted to make room; the newest comes back.
    again = memory.empty(sizes[-1], np.float64)
    assert again.ctypes.data == addresses[-1]


def test_reusing_gives_every_array_made_inside_the_cache_and_only_there(rng):
    import scipy.fft
    from numpy._core.multiarray import get_handler_name

    from cyconv._kernels import memory

    default = get_handler_name(np.empty(3))
    image = rng.standard_normal((600, 600)).astype(np.float32)
    with memory.reusing():
        spectrum = scipy.fft.rfft2(image)
        plain = np.ones(5)
        with memory.reusing():
            nested = np.empty(2)
        after_nested = np.empty(2)
    assert get_handler_name(spectrum) == get_handler_name(plain) == "cyconv_output_cache"
    assert get_handler_name(nested) == get_handler_name(after_nested) == "cyconv_output_cache"
    assert get_handler_name(np.empty(3)) == default
    np.testing.assert_allclose(scipy.fft.irfft2(spectrum, image.shape), image, atol=1e-5)
    # Each thread has its own handler: a context on one leaves the others alone.
    seen = []
    with memory.reusing():
        worker = threading.Thread(target=lambda: seen.append(get_handler_name(np.empty(3))))
        worker.start()
        worker.join()
    assert seen == [default]


@pytest.mark.parametrize("size", [1, 1000, 3 << 20])
def test_output_blocks_start_on_a_cache_line(size):
    """Cached or not, and after a realloc, which keeps the values."""
    from cyconv._kernels import memory

    block = memory.empty(size, np.float32)
    assert block.ctypes.data % 64 == 0
    block[:] = np.arange(size)
    block.resize(size + 17, refcheck=False)
    assert block.ctypes.data % 64 == 0
    np.testing.assert_array_equal(block[:size], np.arange(size, dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel_shape", [(3, 3), (5, 5), (4, 7), (1, 5), (6, 1)], ids=str)
def test_an_output_is_the_same_wherever_it_falls(dtype, kernel_shape, rng):
    # Columns past the last whole register tile are summed in a scratch
    # tile, and rows at the edges through a padded tile: each output must
    # still come out bit for bit as it does in the middle of a larger call.
    image = rng.standard_normal((29, 150)).astype(dtype)
    kernel = rng.standard_normal(kernel_shape).astype(dtype)
    whole = cyconv.correlate2d(image, kernel, "valid", method="direct")
    for width in (1, 7, 15, 16, 17, 31, 32, 33, 47, 64, 65, 100):
        for height in (1, 3, 4, 5, 9):
            part = image[2:2 + height + kernel_shape[0] - 1, 3:3 + width + kernel_shape[1] - 1]
            got = cyconv.correlate2d(part, kernel, "valid", method="direct")
            np.testing.assert_array_equal(got, whole[2:2 + height, 3:3 + width])


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kernel_shape", [(3, 3), (5, 5), (2, 6)], ids=str)
def test_edges_of_every_width_and_height_match_scipy(boundary, kernel_shape, rng):
    # The border strips are widened to a whole register tile and the edge
    # rows are cut into runs of 4: every width and height around those sizes.
    kernel = rng.standard_normal(kernel_shape).astype(np.float32)
    for height in (1, 2, 4, 5, 8, 11):
        for width in (1, 3, 16, 31, 33, 40, 64, 70):
            image = rng.standard_normal((height, width)).astype(np.float32)
            for mode in MODES:
                assert_matches_scipy("correlate2d", image, kernel, mode, boundary,
                                     fillvalue=0.5, method="direct")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [((700, 300), (5, 1)), ((3, 9000), (1, 7)),
                                    ((300, 10), (9, 1)), ((260, 260), (3, 4))], ids=str)
def test_non_finite_outputs_are_found_in_every_block(shapes, dtype, threads, rng):
    # The kernel looks at each block of rows as it writes it (and the long
    # rows are folded, the narrow columns transposed): a NaN or inf anywhere
    # in the output must be found, and none where there is none.
    from cyconv._correlate import _checked_correlate, direct_correlate
    image_shape, kernel_shape = shapes
    kernel = rng.standard_normal(kernel_shape).astype(dtype)
    offsets = (-(kernel_shape[0] // 2), -(kernel_shape[1] // 2))
    image = rng.standard_normal(image_shape).astype(dtype)
    out, non_finite = _checked_correlate(image, kernel, image_shape, offsets, 0, 0.0, threads)
    assert non_finite is False
    np.testing.assert_array_equal(out, direct_correlate(image, kernel, image_shape, offsets,
                                                        0, 0.0, threads))
    for position in [(0, 0), (image_shape[0] - 1, image_shape[1] - 1),
                     tuple(rng.integers(0, image_shape)), tuple(rng.integers(0, image_shape))]:
        for bad in (np.nan, np.inf, -np.inf):
            holed = image.copy()
            holed[position] = bad
            with np.errstate(invalid="ignore"):
                out, non_finite = _checked_correlate(holed, kernel, image_shape, offsets, 0,
                                                     0.0, threads)
            assert non_finite == (not np.isfinite(out).all()), (position, bad)
            assert non_finite
