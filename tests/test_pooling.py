"""max_pool2d, avg_pool2d and their gradients against the NumPy oracles (and torch when installed)."""
import doctest
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cyconv
from cyconv import _pooling
from reference import (
    avg_pool2d_backward_ref,
    avg_pool2d_ref,
    max_pool2d_backward_ref,
    max_pool2d_ref,
    pool_output_size,
)

# (kernel, stride, padding, dilation) covering square and rectangular windows,
# stride below, at and above the kernel, padding up to half the kernel.
MAX_WINDOWS = [
    ((1, 1), (1, 1), (0, 0), (1, 1)),
    ((2, 2), (2, 2), (0, 0), (1, 1)),
    ((3, 3), (2, 2), (1, 1), (1, 1)),
    ((3, 3), (1, 1), (1, 1), (1, 1)),
    ((2, 3), (1, 2), (1, 1), (1, 1)),
    ((3, 2), (3, 1), (0, 1), (2, 1)),
    ((2, 2), (1, 1), (1, 0), (2, 3)),
    ((4, 3), (2, 3), (2, 1), (1, 2)),
]
AVG_WINDOWS = [window[:3] for window in MAX_WINDOWS if window[3] == (1, 1)] + [
    ((4, 3), (3, 2), (2, 1)),
]
SHAPES = [(2, 3, 7, 9), (3, 8, 8), (5, 6)]


def planes(x):
    return x.reshape((-1,) + x.shape[-2:])


def tied_input(rng, shape, dtype=np.float64):
    """Values on a coarse grid (so windows have ties) with a few NaNs."""
    x = np.round(rng.standard_normal(shape), 0).astype(dtype)
    x.flat[rng.choice(x.size, size=max(1, x.size // 25), replace=False)] = np.nan
    return x


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("window", MAX_WINDOWS)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool2d_matches_reference(rng, shape, window, ceil_mode):
    x = tied_input(rng, shape)
    kernel, stride, padding, dilation = window
    expected, expected_indices = max_pool2d_ref(planes(x), *window, ceil_mode)
    out, indices = cyconv.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode,
                                     return_indices=True)
    assert out.shape == indices.shape == shape[:-2] + expected.shape[-2:]
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(planes(out), expected)
    np.testing.assert_array_equal(planes(indices), expected_indices)
    values_only = cyconv.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
    np.testing.assert_array_equal(values_only, out)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("window", AVG_WINDOWS)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad, divisor_override",
                         [(True, None), (False, None), (True, 5), (False, -3)])
def test_avg_pool2d_matches_reference(rng, shape, window, ceil_mode, count_include_pad,
                                      divisor_override):
    x = rng.standard_normal(shape)
    expected = avg_pool2d_ref(planes(x), *window, ceil_mode, count_include_pad,
                              divisor_override)
    out = cyconv.avg_pool2d(x, *window, ceil_mode, count_include_pad, divisor_override)
    assert out.shape == shape[:-2] + expected.shape[-2:]
    np.testing.assert_allclose(planes(out), expected, rtol=1e-12, atol=1e-12)


def test_avg_pool2d_propagates_nan(rng):
    x = rng.standard_normal((6, 6))
    x[2, 3] = np.nan
    out = cyconv.avg_pool2d(x, 2)
    assert np.isnan(out[1, 1]) and np.isnan(out).sum() == 1


@pytest.mark.parametrize("shape", [(2, 3, 7, 7), (4, 1, 1), (3, 33), (2, 5, 16, 16)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_pooling_matches_reference(rng, shape, dtype):
    """A window as large as the plane (global pooling) takes its own kernel:
    the reference's values, NaN propagated by the maximum, any workers."""
    x = tied_input(rng, shape).astype(dtype)
    kernel = shape[-2:]
    expected_max, _ = max_pool2d_ref(planes(x), kernel, kernel, (0, 0), (1, 1), False)
    expected_avg = avg_pool2d_ref(planes(x), kernel, kernel, (0, 0), False, True, None)
    assert np.isnan(expected_max).any()
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    for workers in (1, 2):
        out_max = cyconv.max_pool2d(x, kernel, workers=workers)
        out_avg = cyconv.avg_pool2d(x, kernel, divisor_override=None, workers=workers)
        assert out_max.shape == out_avg.shape == shape[:-2] + (1, 1)
        assert out_max.dtype == out_avg.dtype == dtype
        np.testing.assert_array_equal(planes(out_max), expected_max)
        np.testing.assert_allclose(planes(out_avg), expected_avg, rtol=tolerance, atol=tolerance)
    scaled = cyconv.avg_pool2d(x, kernel, divisor_override=3)
    np.testing.assert_allclose(planes(scaled),
                               avg_pool2d_ref(planes(x), kernel, kernel, (0, 0), False, True, 3),
                               rtol=tolerance, atol=tolerance)


def test_textbook_examples():
    X = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(cyconv.max_pool2d(X, 2, stride=1), [[4, 5], [7, 8]])
    np.testing.assert_array_equal(cyconv.avg_pool2d(X, 2, stride=1), [[2, 3], [5, 6]])


def test_docstring_examples_run():
    failures, tried = doctest.testmod(_pooling, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried >= 8 and failures == 0


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("window", MAX_WINDOWS)
def test_max_pool2d_backward_matches_reference(rng, window, ceil_mode):
    x = tied_input(rng, (2, 3, 7, 9))
    out, indices = cyconv.max_pool2d(x, *window, ceil_mode, return_indices=True)
    grad = rng.standard_normal(out.shape)
    expected = max_pool2d_backward_ref(planes(grad), planes(indices), (6, 7, 9))
    grad_x = cyconv.max_pool2d_backward(grad, indices, x.shape)
    assert grad_x.shape == x.shape
    np.testing.assert_allclose(planes(grad_x), expected, rtol=1e-14)


def finite_difference_gradient(function, x, grad_output, step=1e-6):
    """d<function(x), grad_output>/dx by central differences."""
    gradient = np.empty_like(x)
    for position in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[position] += step
        down[position] -= step
        gradient[position] = np.sum((function(up) - function(down)) * grad_output) / (2 * step)
    return gradient


def test_max_pool2d_backward_finite_differences(rng):
    x = rng.permutation(3 * 7 * 8).reshape(3, 7, 8).astype(np.float64)  # distinct: no ties
    out, indices = cyconv.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    grad = rng.standard_normal(out.shape)
    expected = finite_difference_gradient(
        lambda v: cyconv.max_pool2d(v, 3, stride=2, padding=1), x, grad)
    np.testing.assert_allclose(cyconv.max_pool2d_backward(grad, indices, x.shape), expected,
                               atol=1e-8)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("window", AVG_WINDOWS)
@pytest.mark.parametrize("count_include_pad, divisor_override",
                         [(True, None), (False, None), (False, 7)])
def test_avg_pool2d_backward_finite_differences(rng, window, ceil_mode, count_include_pad,
                                                divisor_override):
    options = (ceil_mode, count_include_pad, divisor_override)
    x = rng.standard_normal((2, 7, 6))
    grad = rng.standard_normal(cyconv.avg_pool2d(x, *window, *options).shape)
    expected = finite_difference_gradient(
        lambda v: cyconv.avg_pool2d(v, *window, *options), x, grad)
    grad_x = cyconv.avg_pool2d_backward(grad, x.shape, *window, *options)
    np.testing.assert_allclose(grad_x, expected, atol=1e-8)
    np.testing.assert_allclose(
        grad_x, avg_pool2d_backward_ref(grad, x.shape, *window, count_include_pad,
                                        divisor_override), rtol=1e-12, atol=1e-14)


@given(
    data=st.data(),
    planes_count=st.integers(1, 3),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
)
def test_pooling_property(data, planes_count, kernel, stride, dilation, ceil_mode,
                          count_include_pad):
    """Any valid configuration equals the oracles; any other raises ValueError."""
    padding = (data.draw(st.integers(0, kernel[0] // 2)), data.draw(st.integers(0, kernel[1] // 2)))
    height, width = data.draw(st.integers(1, 10)), data.draw(st.integers(1, 10))
    seed = data.draw(st.integers(0, 2**32 - 1))
    x = tied_input(np.random.default_rng(seed), (planes_count, height, width), np.float32)
    sizes = [pool_output_size(n, k, s, p, d, ceil_mode)
             for n, k, s, p, d in zip((height, width), kernel, stride, padding, dilation)]
    if min(sizes) < 1:
        with pytest.raises(ValueError, match="kernel_size"):
            cyconv.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
        return
    expected, expected_indices = max_pool2d_ref(x, kernel, stride, padding, dilation, ceil_mode)
    out, indices = cyconv.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, True)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(indices, expected_indices)
    # Without dilation the windows are no larger, so every such average is valid too.
    np.testing.assert_allclose(
        cyconv.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad),
        avg_pool2d_ref(x, kernel, stride, padding, ceil_mode, count_include_pad, None),
        rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint16, np.int64, np.float16])
def test_other_real_dtypes_compute_in_float64(dtype):
    x = (np.arange(2 * 5 * 5) % 7).astype(dtype).reshape(2, 5, 5)
    exact = x.astype(np.float64)
    out = cyconv.max_pool2d(x, 2)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, cyconv.max_pool2d(exact, 2))
    average = cyconv.avg_pool2d(x, 3, stride=1, padding=1)
    assert average.dtype == np.float64
    np.testing.assert_array_equal(average, cyconv.avg_pool2d(exact, 3, stride=1, padding=1))
    grad = cyconv.avg_pool2d_backward(np.ones((2, 2, 2), dtype), x.shape, 2)
    assert grad.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtypes_are_preserved(rng, dtype):
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    out, indices = cyconv.max_pool2d(x, 3, 2, 1, return_indices=True)
    average = cyconv.avg_pool2d(x, 3, 2, 1)
    assert out.dtype == average.dtype == dtype
    assert cyconv.max_pool2d_backward(out, indices, x.shape).dtype == dtype
    assert cyconv.avg_pool2d_backward(average, x.shape, 3, 2, 1).dtype == dtype
    np.testing.assert_allclose(planes(average), avg_pool2d_ref(
        planes(x.astype(np.float64)), (3, 3), (2, 2), (1, 1), False, True, None), rtol=1e-6, atol=1e-6)


def test_complex_input_is_a_type_error():
    with pytest.raises(TypeError, match="x"):
        cyconv.max_pool2d(np.ones((4, 4), complex), 2)
    with pytest.raises(TypeError, match="grad_output"):
        cyconv.avg_pool2d_backward(np.ones((2, 2), complex), (4, 4), 2)


def test_batched_unbatched_and_single_plane_agree(rng):
    x = rng.standard_normal((2, 3, 9, 7))
    for function in (cyconv.max_pool2d, cyconv.avg_pool2d):
        batched = function(x, 3, 2, 1)
        np.testing.assert_array_equal(function(x[1], 3, 2, 1), batched[1])
        np.testing.assert_array_equal(function(x[1, 2], 3, 2, 1), batched[1, 2])
    out, indices = cyconv.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(
        cyconv.max_pool2d_backward(out[0, 1], indices[0, 1], (9, 7)),
        cyconv.max_pool2d_backward(out, indices, x.shape)[0, 1])


def test_empty_batch():
    x = np.ones((0, 3, 6, 6), np.float32)
    assert cyconv.max_pool2d(x, 2).shape == (0, 3, 3, 3)
    assert cyconv.avg_pool2d(x, 2).shape == (0, 3, 3, 3)
    grad = np.ones((0, 3, 3, 3), np.float32)
    assert cyconv.avg_pool2d_backward(grad, x.shape, 2).shape == x.shape
    assert cyconv.max_pool2d_backward(grad, grad.astype(np.int64), x.shape).shape == x.shape


def layouts(x):
    """The same values as x in other memory layouts, none C-contiguous and native."""
    fortran = np.asfortranarray(x)
    strided = np.repeat(x, 2, axis=-1)[..., ::2]
    readonly = x.copy()
    readonly.flags.writeable = False
    swapped = x.astype(x.dtype.newbyteorder(">" if x.dtype.byteorder != ">" else "<"))
    return {"fortran": fortran, "strided": strided, "readonly": readonly, "byteswapped": swapped}


def test_any_memory_layout_gives_the_same_result_and_is_not_modified(rng):
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32)
    out, indices = cyconv.max_pool2d(x, 3, 2, 1, return_indices=True)
    average = cyconv.avg_pool2d(x, 3, 1, 1)
    for name, variant in layouts(x).items():
        before = variant.copy()
        result = cyconv.max_pool2d(variant, 3, 2, 1)
        assert result.flags.c_contiguous and result.dtype == np.float32, name
        np.testing.assert_array_equal(result, out, err_msg=name)
        np.testing.assert_array_equal(cyconv.avg_pool2d(variant, 3, 1, 1), average, err_msg=name)
        np.testing.assert_array_equal(variant, before, err_msg=name)
    for name, variant in layouts(out).items():
        grad = cyconv.max_pool2d_backward(variant, layouts(indices)[name], x.shape)
        assert grad.flags.c_contiguous, name
        np.testing.assert_array_equal(grad, cyconv.max_pool2d_backward(out, indices, x.shape))


@pytest.mark.parametrize("shape", [(8, 16, 40, 40), (1, 1, 300, 200)])
def test_workers_do_not_change_results(rng, shape):
    """Many planes split by plane; one large plane split by rows (bigger than PARALLEL_MIN_CELLS)."""
    x = np.round(rng.standard_normal(shape), 1).astype(np.float32)
    results = []
    for workers in (1, 2):
        out, indices = cyconv.max_pool2d(x, 3, 2, 1, return_indices=True, workers=workers)
        results.append([
            out, indices,
            cyconv.max_pool2d(x, 3, 2, 1, workers=workers),
            cyconv.avg_pool2d(x, 3, 1, 1, count_include_pad=False, workers=workers),
            cyconv.max_pool2d_backward(out, indices, shape, workers=workers),
            cyconv.avg_pool2d_backward(x, shape, 3, 1, 1, workers=workers),
        ])
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_workers_zero_is_rejected():
    with pytest.raises(ValueError, match="workers"):
        cyconv.max_pool2d(np.ones((4, 4)), 2, workers=0)
    with pytest.raises(ValueError, match="workers"):
        cyconv.avg_pool2d_backward(np.ones((2, 2)), (4, 4), 2, workers=0)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(kernel_size=0), "kernel_size"),
    (dict(kernel_size=(2, 0)), "kernel_size"),
    (dict(kernel_size=(2, 2, 2)), "kernel_size"),
    (dict(kernel_size=2, stride=0), "stride"),
    (dict(kernel_size=2, stride=(1, -1)), "stride"),
    (dict(kernel_size=2, padding=-1), "padding"),
    (dict(kernel_size=3, padding=2), "padding"),
    (dict(kernel_size=(4, 2), padding=(2, 2)), "padding"),
    (dict(kernel_size=2, dilation=0), "dilation"),
    (dict(kernel_size=6), "kernel_size"),
    (dict(kernel_size=3, dilation=3), "kernel_size"),
])
def test_invalid_max_pool2d_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        cyconv.max_pool2d(np.ones((2, 5, 5)), **kwargs)


def test_invalid_avg_pool2d_arguments():
    x = np.ones((2, 5, 5))
    with pytest.raises(ValueError, match="divisor_override"):
        cyconv.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(TypeError, match="divisor_override"):
        cyconv.avg_pool2d(x, 2, divisor_override=1.5)
    with pytest.raises(TypeError, match="kernel_size"):
        cyconv.avg_pool2d(x, 2.0)
    with pytest.raises(ValueError, match="padding"):
        cyconv.avg_pool2d(x, 2, padding=2)


@pytest.mark.parametrize("shape", [(5,), (1, 1, 1, 5, 5), (2, 0, 5, 5), (0, 5), (3, 5, 0)])
def test_invalid_input_shapes(shape):
    with pytest.raises(ValueError, match="x"):
        cyconv.max_pool2d(np.ones(shape), 1)
    with pytest.raises(ValueError, match="x"):
        cyconv.avg_pool2d(np.ones(shape), 1)


def test_invalid_backward_arguments():
    x = np.arange(2 * 6 * 6.0).reshape(2, 6, 6)
    out, indices = cyconv.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match="indices"):
        cyconv.max_pool2d_backward(out, indices[:, :2], x.shape)
    with pytest.raises(TypeError, match="indices"):
        cyconv.max_pool2d_backward(out, indices.astype(float), x.shape)
    with pytest.raises(ValueError, match="input_shape"):
        cyconv.max_pool2d_backward(out, indices, (6, 6))
    with pytest.raises(ValueError, match="input_shape"):
        cyconv.max_pool2d_backward(out[0, 0], indices[0, 0], (6,))
    for bad_index in (-1, 36, 2**40):
        wrong = indices.copy()
        wrong[1, 2, 0] = bad_index
        with pytest.raises(ValueError, match=r"indices must lie in \[0, 36\)"):
            cyconv.max_pool2d_backward(out, wrong, x.shape)
    with pytest.raises(ValueError, match="grad_output"):
        cyconv.avg_pool2d_backward(out, x.shape, 3)
    with pytest.raises(ValueError, match="grad_output"):
        cyconv.avg_pool2d_backward(out, (1,) + x.shape, 2)


def test_window_entirely_in_padding_matches_torch_and_backward_refuses_it():
    # Taps at rows -1 and 2 of a 2-row input: torch gives -inf and index 2 * W + 2.
    x = np.arange(4.0).reshape(2, 2)
    out, indices = cyconv.max_pool2d(x, 2, stride=1, padding=1, dilation=3, return_indices=True)
    assert out.tolist() == [[-np.inf]] and indices.tolist() == [[6]]
    with pytest.raises(ValueError, match="indices"):
        cyconv.max_pool2d_backward(np.ones((1, 1)), indices, x.shape)


# -- PyTorch, when installed -------------------------------------------------

TORCH_CASES = list(itertools.product(
    [(2, 2, 0, 1), (3, 2, 1, 1), (3, 1, 1, 1), ((3, 2), (2, 1), (1, 0), (1, 2)), (2, 3, 1, 2)],
    [False, True],
))


@pytest.mark.parametrize("window, ceil_mode", TORCH_CASES)
def test_max_pool2d_matches_torch(rng, window, ceil_mode):
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    functional = torch.nn.functional
    x = tied_input(rng, (2, 3, 11, 10), np.float32)
    tensor = torch.from_numpy(x).requires_grad_()
    expected, expected_indices = functional.max_pool2d(tensor, *window, ceil_mode,
                                                       return_indices=True)
    out, indices = cyconv.max_pool2d(x, *window, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(out, expected.detach().numpy())
    np.testing.assert_array_equal(indices, expected_indices.numpy())
    grad = rng.standard_normal(out.shape).astype(np.float32)
    expected.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(cyconv.max_pool2d_backward(grad, indices, x.shape),
                               tensor.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("window, ceil_mode", TORCH_CASES)
@pytest.mark.parametrize("count_include_pad, divisor_override",
                         [(True, None), (False, None), (False, 2)])
def test_avg_pool2d_matches_torch(rng, window, ceil_mode, count_include_pad, divisor_override):
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    kernel, stride, padding, _ = window
    options = (ceil_mode, count_include_pad, divisor_override)
    x = rng.standard_normal((2, 3, 11, 10)).astype(np.float32)
    tensor = torch.from_numpy(x).requires_grad_()
    expected = torch.nn.functional.avg_pool2d(tensor, kernel, stride, padding, *options)
    out = cyconv.avg_pool2d(x, kernel, stride, padding, *options)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    grad = rng.standard_normal(out.shape).astype(np.float32)
    expected.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(
        cyconv.avg_pool2d_backward(grad, x.shape, kernel, stride, padding, *options),
        tensor.grad.numpy(), rtol=1e-5, atol=1e-6)
