"""adaptive_avg_pool2d, adaptive_max_pool2d, their gradients and layers against the
NumPy oracles (and torch when installed)."""
import numpy as np
import pytest

import cyconv
from cyconv.nn import AdaptiveAvgPool2D, AdaptiveMaxPool2D
from reference import (
    adaptive_avg_pool2d_backward_reference,
    adaptive_pool2d_reference,
    max_pool2d_backward_ref,
)
from test_pooling import finite_difference_gradient, layouts, planes, tied_input

# Output sizes that divide the inputs below, that do not, larger than them,
# with None entries, global (1x1) and the input's own size.
OUTPUT_SIZES = [1, 2, 3, (4, 3), (3, 5), (7, 9), (11, 17), (20, 2), (None, 2), (2, None),
                (None, None), (1, None)]
SHAPES = [(2, 3, 7, 9), (3, 8, 8), (6, 6), (2, 2, 14, 12)]


def resolved(output_size, shape):
    """``output_size`` as a pair of ints, None entries taking the input's size."""
    pair = output_size if isinstance(output_size, tuple) else (output_size, output_size)
    return tuple(size if out is None else out for out, size in zip(pair, shape[-2:]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("output_size", OUTPUT_SIZES)
def test_adaptive_max_pool2d_matches_reference(rng, shape, output_size):
    x = tied_input(rng, shape)
    expected, expected_indices = adaptive_pool2d_reference(planes(x), resolved(output_size, shape),
                                                           "max")
    out, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True)
    assert out.shape == indices.shape == shape[:-2] + expected.shape[-2:]
    assert indices.dtype == np.int64 and out.flags.c_contiguous
    np.testing.assert_array_equal(planes(out), expected)
    np.testing.assert_array_equal(planes(indices), expected_indices)
    np.testing.assert_array_equal(cyconv.adaptive_max_pool2d(x, output_size), out)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("output_size", OUTPUT_SIZES)
def test_adaptive_avg_pool2d_matches_reference(rng, shape, output_size):
    x = rng.standard_normal(shape)
    expected, _ = adaptive_pool2d_reference(planes(x), resolved(output_size, shape), "avg")
    out = cyconv.adaptive_avg_pool2d(x, output_size)
    assert out.shape == shape[:-2] + expected.shape[-2:] and out.flags.c_contiguous
    np.testing.assert_allclose(planes(out), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("output_size", OUTPUT_SIZES)
def test_backward_matches_reference(rng, shape, output_size):
    x = tied_input(rng, shape)
    out, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True)
    grad = rng.standard_normal(out.shape)
    grad_x = cyconv.adaptive_max_pool2d_backward(grad, indices, shape)
    assert grad_x.shape == shape
    np.testing.assert_allclose(
        planes(grad_x),
        max_pool2d_backward_ref(planes(grad), planes(indices), planes(x).shape), rtol=1e-14)
    grad_x = cyconv.adaptive_avg_pool2d_backward(grad, shape)
    assert grad_x.shape == shape and grad_x.flags.c_contiguous
    np.testing.assert_allclose(
        planes(grad_x), adaptive_avg_pool2d_backward_reference(planes(grad), planes(x).shape),
        rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("output_size", [1, 3, (4, 2), (9, 5), (None, 3)])
def test_adaptive_avg_pool2d_backward_finite_differences(rng, output_size):
    x = rng.standard_normal((2, 7, 6))
    grad = rng.standard_normal(cyconv.adaptive_avg_pool2d(x, output_size).shape)
    expected = finite_difference_gradient(
        lambda v: cyconv.adaptive_avg_pool2d(v, output_size), x, grad)
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d_backward(grad, x.shape), expected,
                               atol=1e-8)


def test_adaptive_max_pool2d_backward_finite_differences(rng):
    x = rng.permutation(3 * 7 * 8).reshape(3, 7, 8).astype(np.float64)  # distinct: no ties
    out, indices = cyconv.adaptive_max_pool2d(x, (3, 5), return_indices=True)
    grad = rng.standard_normal(out.shape)
    expected = finite_difference_gradient(
        lambda v: cyconv.adaptive_max_pool2d(v, (3, 5)), x, grad)
    np.testing.assert_allclose(cyconv.adaptive_max_pool2d_backward(grad, indices, x.shape),
                               expected, atol=1e-8)


def test_ties_take_the_first_maximum_and_nan_the_last_nan():
    x = np.array([[1.0, 3.0, 3.0, 2.0],
                  [3.0, np.nan, 0.0, np.nan],
                  [1.0, 2.0, 3.0, 4.0]])
    out, indices = cyconv.adaptive_max_pool2d(x[::2], 1, return_indices=True)
    assert out.tolist() == [[4.0]] and indices.tolist() == [[7]]
    out, indices = cyconv.adaptive_max_pool2d(x[:1], (1, 2), return_indices=True)
    assert out.tolist() == [[3.0, 3.0]] and indices.tolist() == [[1, 2]]
    out, indices = cyconv.adaptive_max_pool2d(x, (2, 2), return_indices=True)
    assert np.isnan(out).all() and indices.tolist() == [[5, 7], [5, 7]]
    assert np.isnan(cyconv.adaptive_max_pool2d(x, (2, 2))).all()
    assert np.isnan(cyconv.adaptive_max_pool2d(x, 1)).all()  # the global kernel
    assert np.isnan(cyconv.adaptive_avg_pool2d(x, (3, 2))).tolist() == [
        [False, False], [True, True], [False, False]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output_size", [1, 4, (3, 5), (16, 11)])
def test_float_dtypes_are_preserved(rng, dtype, output_size):
    x = rng.standard_normal((2, 3, 8, 10)).astype(dtype)
    out, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True)
    average = cyconv.adaptive_avg_pool2d(x, output_size)
    assert out.dtype == average.dtype == dtype
    assert cyconv.adaptive_max_pool2d(x, output_size).dtype == dtype
    assert cyconv.adaptive_max_pool2d_backward(out, indices, x.shape).dtype == dtype
    grad_x = cyconv.adaptive_avg_pool2d_backward(average, x.shape)
    assert grad_x.dtype == dtype
    exact = planes(x.astype(np.float64))
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    size = resolved(output_size, x.shape)
    np.testing.assert_allclose(planes(average), adaptive_pool2d_reference(exact, size, "avg")[0],
                               rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(
        planes(grad_x),
        adaptive_avg_pool2d_backward_reference(planes(average.astype(np.float64)), exact.shape),
        rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint16, np.int64, np.float16])
def test_other_real_dtypes_compute_in_float64(dtype):
    x = (np.arange(2 * 5 * 7) % 7).astype(dtype).reshape(2, 5, 7)
    exact = x.astype(np.float64)
    for output_size in (1, 2, (3, 4)):
        out = cyconv.adaptive_max_pool2d(x, output_size)
        average = cyconv.adaptive_avg_pool2d(x, output_size)
        assert out.dtype == average.dtype == np.float64
        np.testing.assert_array_equal(out, cyconv.adaptive_max_pool2d(exact, output_size))
        np.testing.assert_array_equal(average, cyconv.adaptive_avg_pool2d(exact, output_size))
    grad = np.ones((2, 3, 4), dtype)
    grad_x = cyconv.adaptive_avg_pool2d_backward(grad, x.shape)
    assert grad_x.dtype == np.float64
    np.testing.assert_array_equal(grad_x, cyconv.adaptive_avg_pool2d_backward(
        grad.astype(np.float64), x.shape))


def test_batched_unbatched_and_single_plane_agree(rng):
    x = rng.standard_normal((2, 3, 9, 7))
    for output_size in (1, 3, (4, 5), (12, None)):
        for function in (cyconv.adaptive_max_pool2d, cyconv.adaptive_avg_pool2d):
            batched = function(x, output_size)
            np.testing.assert_array_equal(function(x[1], output_size), batched[1])
            np.testing.assert_array_equal(function(x[1, 2], output_size), batched[1, 2])
        out, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True)
        grad_x = cyconv.adaptive_max_pool2d_backward(out, indices, x.shape)
        np.testing.assert_array_equal(
            cyconv.adaptive_max_pool2d_backward(out[0, 1], indices[0, 1], (9, 7)), grad_x[0, 1])
        grad_x = cyconv.adaptive_avg_pool2d_backward(out, x.shape)
        np.testing.assert_array_equal(cyconv.adaptive_avg_pool2d_backward(out[1], x.shape[1:]),
                                      grad_x[1])
        np.testing.assert_array_equal(
            cyconv.adaptive_avg_pool2d_backward(out[1, 2], x.shape[2:]), grad_x[1, 2])


def test_any_memory_layout_gives_the_same_result_and_is_not_modified(rng):
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32)
    for output_size in (1, 4, (3, 5), (10, 9)):
        out, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True)
        average = cyconv.adaptive_avg_pool2d(x, output_size)
        for name, variant in layouts(x).items():
            before = variant.copy()
            result = cyconv.adaptive_max_pool2d(variant, output_size)
            assert result.flags.c_contiguous and result.dtype == np.float32, name
            np.testing.assert_array_equal(result, out, err_msg=name)
            with_indices = cyconv.adaptive_max_pool2d(variant, output_size, return_indices=True)
            np.testing.assert_array_equal(with_indices[1], indices, err_msg=name)
            np.testing.assert_array_equal(cyconv.adaptive_avg_pool2d(variant, output_size),
                                          average, err_msg=name)
            np.testing.assert_array_equal(variant, before, err_msg=name)
        expected = cyconv.adaptive_avg_pool2d_backward(average, x.shape)
        for name, variant in layouts(average).items():
            grad_x = cyconv.adaptive_avg_pool2d_backward(variant, x.shape)
            assert grad_x.flags.c_contiguous, name
            np.testing.assert_array_equal(grad_x, expected, err_msg=name)


@pytest.mark.parametrize("shape", [(4, 16, 40, 40), (1, 1, 300, 200)])
@pytest.mark.parametrize("output_size", [1, 8, (7, 9), (61, 45)])
def test_workers_do_not_change_results(rng, shape, output_size):
    """Many planes split by plane; one large plane split by rows (bigger than PARALLEL_MIN_CELLS)."""
    x = np.round(rng.standard_normal(shape), 1).astype(np.float32)
    results = []
    for workers in (1, 2, 3):
        out, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True,
                                                  workers=workers)
        average = cyconv.adaptive_avg_pool2d(x, output_size, workers=workers)
        results.append([
            out, indices, average,
            cyconv.adaptive_max_pool2d(x, output_size, workers=workers),
            cyconv.adaptive_max_pool2d_backward(out, indices, shape, workers=workers),
            cyconv.adaptive_avg_pool2d_backward(average, shape, workers=workers),
        ])
    for other in results[1:]:
        for one, two in zip(results[0], other):
            np.testing.assert_array_equal(one, two)


def test_zero_output_size_and_empty_batch():
    """As in torch: an output size of 0 gives an empty output, N = 0 an empty batch."""
    x = np.ones((2, 3, 6, 5), np.float32)
    for output_size, out_shape in [(0, (0, 0)), ((0, 4), (0, 4)), ((3, 0), (3, 0))]:
        out, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True)
        assert out.shape == indices.shape == (2, 3) + out_shape
        assert cyconv.adaptive_max_pool2d(x, output_size).shape == out.shape
        assert cyconv.adaptive_avg_pool2d(x, output_size).shape == out.shape
        grad_x = cyconv.adaptive_avg_pool2d_backward(out, x.shape)
        assert grad_x.shape == x.shape and not grad_x.any()
        grad_x = cyconv.adaptive_max_pool2d_backward(out, indices, x.shape)
        assert grad_x.shape == x.shape and not grad_x.any()
    empty = x[:0]
    for output_size in (1, 3, (7, 2)):
        out, indices = cyconv.adaptive_max_pool2d(empty, output_size, return_indices=True)
        assert out.shape == indices.shape == (0, 3) + resolved(output_size, x.shape)
        assert cyconv.adaptive_avg_pool2d(empty, output_size).shape == out.shape
        assert cyconv.adaptive_avg_pool2d_backward(out, empty.shape).shape == empty.shape
        assert cyconv.adaptive_max_pool2d_backward(out, indices, empty.shape).shape == empty.shape


@pytest.mark.parametrize("output_size, error", [
    (-1, ValueError),
    ((2, -1), ValueError),
    ((1, 2, 3), ValueError),
    ((), ValueError),
    (1.5, TypeError),
    ((2, 1.5), TypeError),
    ("3", TypeError),
    (None, TypeError),
    ((None,), TypeError),
    (np.float64(2.0), TypeError),
])
def test_invalid_output_size(output_size, error):
    x = np.ones((2, 5, 5))
    for function in (cyconv.adaptive_avg_pool2d, cyconv.adaptive_max_pool2d):
        with pytest.raises(error, match="output_size"):
            function(x, output_size)
    for layer in (AdaptiveAvgPool2D, AdaptiveMaxPool2D):
        with pytest.raises(error, match="output_size"):
            layer(output_size)


@pytest.mark.parametrize("output_size", [2**40, (2**31, 2**31), (1, 2**60)])
def test_output_too_large_to_index_is_refused(output_size):
    for function in (cyconv.adaptive_avg_pool2d, cyconv.adaptive_max_pool2d):
        with pytest.raises(ValueError, match="output_size"):
            function(np.ones((2, 5, 5)), output_size)


@pytest.mark.parametrize("shape", [(5,), (1, 1, 1, 5, 5), (2, 0, 5, 5), (0, 5), (3, 5, 0)])
def test_invalid_input_shapes(shape):
    for function in (cyconv.adaptive_avg_pool2d, cyconv.adaptive_max_pool2d):
        with pytest.raises(ValueError, match="x"):
            function(np.ones(shape), 1)


def test_invalid_backward_arguments():
    x = np.arange(2 * 6 * 6.0).reshape(2, 6, 6)
    out, indices = cyconv.adaptive_max_pool2d(x, 4, return_indices=True)
    backward = cyconv.adaptive_max_pool2d_backward
    with pytest.raises(ValueError, match="indices"):
        backward(out, indices[:, :2], x.shape)
    with pytest.raises(TypeError, match="indices"):
        backward(out, indices.astype(float), x.shape)
    with pytest.raises(ValueError, match="input_shape"):
        backward(out, indices, (6, 6))
    for bad_index in (-1, 36, 2**40):
        wrong = indices.copy()
        wrong[1, 2, 0] = bad_index
        with pytest.raises(ValueError, match=r"indices must lie in \[0, 36\)"):
            backward(out, wrong, x.shape)
    with pytest.raises(ValueError, match="grad_output"):
        cyconv.adaptive_avg_pool2d_backward(out, (1,) + x.shape)
    with pytest.raises(ValueError, match="grad_output"):
        cyconv.adaptive_avg_pool2d_backward(out[0], x.shape)
    with pytest.raises(ValueError, match="input_shape"):
        cyconv.adaptive_avg_pool2d_backward(out, (2, 0, 6))
    with pytest.raises(TypeError, match="input_shape"):
        cyconv.adaptive_avg_pool2d_backward(out, None)


def test_complex_input_is_a_type_error():
    for function in (cyconv.adaptive_avg_pool2d, cyconv.adaptive_max_pool2d):
        with pytest.raises(TypeError, match="x"):
            function(np.ones((4, 4), complex), 2)
    with pytest.raises(TypeError, match="grad_output"):
        cyconv.adaptive_avg_pool2d_backward(np.ones((2, 2), complex), (4, 4))
    with pytest.raises(TypeError, match="grad_output"):
        cyconv.adaptive_max_pool2d_backward(np.ones((2, 2), complex), np.zeros((2, 2), int),
                                            (4, 4))


def test_workers_zero_is_rejected():
    with pytest.raises(ValueError, match="workers"):
        cyconv.adaptive_max_pool2d(np.ones((4, 4)), 2, workers=0)
    with pytest.raises(ValueError, match="workers"):
        cyconv.adaptive_avg_pool2d_backward(np.ones((2, 2)), (4, 4), workers=0)


# -- Layers ----------------------------------------------------------------------

@pytest.mark.parametrize("output_size", [1, (3, None), (5, 4)])
def test_layers_match_the_functions(rng, output_size):
    x = tied_input(rng, (2, 3, 7, 8), np.float32)
    grad_out = rng.standard_normal((2, 3) + resolved(output_size, x.shape)).astype(np.float32)
    pool = AdaptiveMaxPool2D(output_size)
    out, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True)
    np.testing.assert_array_equal(pool(x), out)
    grad_x = pool.backward(grad_out)
    assert grad_x.dtype == np.float32
    np.testing.assert_array_equal(grad_x,
                                  cyconv.adaptive_max_pool2d_backward(grad_out, indices, x.shape))
    pool = AdaptiveAvgPool2D(output_size)
    np.testing.assert_array_equal(pool.forward(x), cyconv.adaptive_avg_pool2d(x, output_size))
    np.testing.assert_array_equal(pool.backward(grad_out),
                                  cyconv.adaptive_avg_pool2d_backward(grad_out, x.shape))


def test_layer_backward_uses_the_latest_forward_and_needs_one():
    for layer in (AdaptiveMaxPool2D(2), AdaptiveAvgPool2D(2)):
        with pytest.raises(RuntimeError, match="forward"):
            layer.backward(np.ones((1, 1, 2, 2)))
        layer(np.ones((1, 1, 4, 4)))
        layer(np.ones((3, 5)))
        assert layer.backward(np.ones((2, 2))).shape == (3, 5)


def test_layer_repr_and_output_size():
    assert repr(AdaptiveAvgPool2D(7)) == "AdaptiveAvgPool2D(output_size=(7, 7))"
    assert repr(AdaptiveMaxPool2D((None, 3))) == "AdaptiveMaxPool2D(output_size=(None, 3))"
    assert AdaptiveMaxPool2D([2, 3]).output_size == (2, 3)
    assert "AdaptiveAvgPool2D" in cyconv.nn.__all__ and "AdaptiveMaxPool2D" in cyconv.nn.__all__


# -- PyTorch, when installed -------------------------------------------------

TORCH_SIZES = [1, 7, 6, (3, 5), (13, 20), (None, 4), (5, None)]


@pytest.mark.parametrize("shape", [(2, 3, 13, 13), (3, 14, 9)])
@pytest.mark.parametrize("output_size", TORCH_SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch(rng, shape, output_size, dtype):
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    functional = torch.nn.functional
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    x = tied_input(rng, shape, dtype)
    tensor = torch.from_numpy(x).requires_grad_()
    expected, expected_indices = functional.adaptive_max_pool2d(tensor, output_size,
                                                                return_indices=True)
    out, indices = cyconv.adaptive_max_pool2d(x, output_size, return_indices=True)
    np.testing.assert_array_equal(out, expected.detach().numpy())
    np.testing.assert_array_equal(indices, expected_indices.numpy())
    np.testing.assert_array_equal(cyconv.adaptive_max_pool2d(x, output_size), out)
    grad = rng.standard_normal(out.shape).astype(dtype)
    expected.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(cyconv.adaptive_max_pool2d_backward(grad, indices, shape),
                               tensor.grad.numpy(), rtol=tolerance)

    x = rng.standard_normal(shape).astype(dtype)
    tensor = torch.from_numpy(x).requires_grad_()
    expected = functional.adaptive_avg_pool2d(tensor, output_size)
    out = cyconv.adaptive_avg_pool2d(x, output_size)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    expected.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d_backward(grad, shape),
                               tensor.grad.numpy(), rtol=tolerance, atol=tolerance)


def test_zero_output_size_matches_torch():
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    x = np.ones((2, 3, 5, 5), np.float32)
    for output_size in (0, (0, 3), (2, 0)):
        expected = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), output_size)
        assert cyconv.adaptive_avg_pool2d(x, output_size).shape == tuple(expected.shape)
