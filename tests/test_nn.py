"""cyconv.nn layers: shapes, initialisation, gradients, and the textbook's kernel-learning experiment."""
import numpy as np
import pytest

import cyconv
from cyconv.nn import AdaptiveAvgPool2D, AdaptiveMaxPool2D, AvgPool2D, Conv2D, MaxPool2D


def test_nn_is_reachable_from_the_package():
    assert cyconv.nn.Conv2D is Conv2D
    assert "nn" in cyconv.__all__


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_shapes_and_dtypes(rng, dtype):
    layer = Conv2D(4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2,
                   dtype=dtype, rng=0)
    assert layer.weight.shape == (6, 2, 3, 2) and layer.weight.dtype == dtype
    assert layer.bias.shape == (6,) and layer.bias.dtype == dtype
    x = rng.standard_normal((3, 4, 9, 7)).astype(dtype)
    out = layer(x)
    assert out.shape == (3, 6, 5, 7) and out.dtype == dtype
    grad_x = layer.backward(np.ones_like(out))
    assert grad_x.shape == x.shape and grad_x.dtype == dtype
    assert layer.grad_weight.shape == layer.weight.shape and layer.grad_weight.dtype == dtype
    assert layer.grad_bias.shape == (6,) and layer.grad_bias.dtype == dtype


def test_conv2d_unbatched_input_and_same_padding(rng):
    layer = Conv2D(2, 3, 4, padding="same", rng=1)
    x = rng.standard_normal((2, 5, 6)).astype(np.float32)
    out = layer(x)
    assert out.shape == (3, 5, 6)
    assert layer.backward(np.ones_like(out)).shape == x.shape


def test_initialisation_is_pytorchs_uniform_bound():
    layer = Conv2D(8, 16, (3, 5), groups=2, rng=np.random.default_rng(3))
    bound = 1 / np.sqrt(8 // 2 * 3 * 5)
    assert np.all(np.abs(layer.bias) <= bound)
    assert np.all(np.abs(layer.weight) <= bound)
    # Uniform on [-bound, bound]: 960 samples reach near both ends, variance bound**2 / 3.
    assert layer.weight.max() > 0.95 * bound and layer.weight.min() < -0.95 * bound
    assert np.var(layer.weight) == pytest.approx(bound**2 / 3, rel=0.15)


def test_rng_accepts_seed_generator_and_none():
    np.testing.assert_array_equal(Conv2D(1, 2, 3, rng=7).weight,
                                  Conv2D(1, 2, 3, rng=np.random.default_rng(7)).weight)
    assert not np.array_equal(Conv2D(1, 2, 3, rng=7).weight, Conv2D(1, 2, 3, rng=8).weight)
    assert Conv2D(1, 2, 3).weight.shape == (2, 1, 3, 3)


def test_no_bias():
    layer = Conv2D(1, 1, (1, 2), bias=False, rng=0)
    assert layer.bias is None
    out = layer(np.ones((1, 1, 2, 3)))
    layer.backward(np.ones_like(out))
    assert layer.grad_bias is None


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), ValueError, "groups"),
    (dict(in_channels=0, out_channels=4, kernel_size=3), ValueError, "in_channels"),
    (dict(in_channels=1, out_channels=1, kernel_size=0), ValueError, "kernel_size"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, padding="same", stride=2), ValueError, "same"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, padding=-1), ValueError, "padding"),
    (dict(in_channels=1, out_channels=1, kernel_size=3, dtype=np.int32), TypeError, "dtype"),
    (dict(in_channels=1.5, out_channels=1, kernel_size=3), TypeError, "in_channels"),
])
def test_conv2d_invalid_arguments(kwargs, error, word):
    with pytest.raises(error, match=word):
        Conv2D(**kwargs)


@pytest.mark.parametrize("layer", [Conv2D(1, 1, 2), MaxPool2D(2), AvgPool2D(2)])
def test_backward_before_forward_is_an_error(layer):
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.ones((1, 1, 1, 1)))


def test_conv2d_matches_the_functions(rng):
    args = dict(stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=3)
    layer = Conv2D(3, 6, (2, 3), dtype=np.float64, rng=rng, **args)
    x = rng.standard_normal((2, 3, 8, 9))
    out = layer(x)
    np.testing.assert_array_equal(out, cyconv.conv2d(x, layer.weight, layer.bias, **args))
    grad_out = rng.standard_normal(out.shape)
    grad_x = layer.backward(grad_out)
    expected = cyconv.conv2d_backward(grad_out, x, layer.weight, **args)
    for got, want in zip((grad_x, layer.grad_weight, layer.grad_bias), expected):
        np.testing.assert_array_equal(got, want)


def test_conv2d_gradients_match_finite_differences(rng):
    layer = Conv2D(2, 2, 2, stride=2, padding=1, dtype=np.float64, rng=rng)
    x = rng.standard_normal((1, 2, 4, 3))
    grad_out = rng.standard_normal(layer(x).shape)
    grad_x = layer.backward(grad_out)
    step = 1e-6

    def numeric_gradient(array):
        numeric = np.empty_like(array)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + step
            up = (layer.forward(x) * grad_out).sum()
            array[index] = original - step
            down = (layer.forward(x) * grad_out).sum()
            array[index] = original
            numeric[index] = (up - down) / (2 * step)
        return numeric

    analytic = (grad_x, layer.grad_weight.copy(), layer.grad_bias.copy())
    for got, array in zip(analytic, (x, layer.weight, layer.bias)):
        np.testing.assert_allclose(got, numeric_gradient(array), rtol=1e-6, atol=1e-8)


def test_backward_uses_the_latest_forward(rng):
    layer = Conv2D(1, 1, 2, dtype=np.float64, rng=0)
    first, second = rng.standard_normal((2, 1, 1, 4, 4))
    layer(first)
    layer(second)
    grad_out = np.ones((1, 1, 3, 3))
    layer.backward(grad_out)
    expected = cyconv.conv2d_backward(grad_out, second, layer.weight)[1]
    np.testing.assert_array_equal(layer.grad_weight, expected)


def edge_image():
    """The textbook's 6x8 image: white (1) with columns 2..5 black (0)."""
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    return X


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_textbook_learns_the_edge_kernel(seed, dtype):
    X = edge_image()
    Y = cyconv.correlate2d(X, [[1.0, -1.0]], mode="valid")
    X, Y = X.reshape(1, 1, 6, 8), Y.reshape(1, 1, 6, 7)
    layer = Conv2D(1, 1, kernel_size=(1, 2), bias=False, dtype=dtype, rng=seed)
    losses = []
    for _ in range(50):
        Y_hat = layer(X)
        losses.append(((Y_hat - Y) ** 2).sum())
        layer.backward(2 * (Y_hat - Y))
        layer.weight -= 3e-2 * layer.grad_weight
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
    np.testing.assert_allclose(layer.weight.reshape(2), [1.0, -1.0], atol=0.05)


def test_max_pool_layer_matches_the_functions(rng):
    args = dict(stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=True)
    pool = MaxPool2D(3, **args)
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    out = pool(x)
    expected, indices = cyconv.max_pool2d(x, 3, return_indices=True, **args)
    np.testing.assert_array_equal(out, expected)
    grad_out = rng.standard_normal(out.shape).astype(np.float32)
    grad_x = pool.backward(grad_out)
    np.testing.assert_array_equal(grad_x, cyconv.max_pool2d_backward(grad_out, indices, x.shape))
    assert grad_x.dtype == np.float32


def test_max_pool_gradient_goes_to_the_maxima():
    pool = MaxPool2D(2)
    x = np.array([[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 7.0, 1.0]])
    pool(x)
    np.testing.assert_array_equal(pool.backward([[10.0, 20.0]]),
                                  [[0, 10.0, 0, 0], [0, 0, 20.0, 0]])


def test_avg_pool_layer_matches_the_functions(rng):
    args = dict(stride=2, padding=(1, 0), ceil_mode=True, count_include_pad=False)
    pool = AvgPool2D((3, 2), **args)
    x = rng.standard_normal((3, 6, 7))
    out = pool(x)
    np.testing.assert_array_equal(out, cyconv.avg_pool2d(x, (3, 2), **args))
    grad_out = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(pool.backward(grad_out),
                                  cyconv.avg_pool2d_backward(grad_out, x.shape, (3, 2), **args))


def test_avg_pool_divisor_override():
    pool = AvgPool2D(2, divisor_override=1)
    np.testing.assert_array_equal(pool(np.ones((1, 4, 4))), np.full((1, 2, 2), 4.0))
    np.testing.assert_array_equal(pool.backward(np.ones((1, 2, 2))), np.ones((1, 4, 4)))


@pytest.mark.parametrize("make, word", [
    (lambda: MaxPool2D(2, padding=2), "padding"),
    (lambda: MaxPool2D(0), "kernel_size"),
    (lambda: AvgPool2D(3, stride=0), "stride"),
    (lambda: AvgPool2D(2, divisor_override=0), "divisor_override"),
])
def test_pool_invalid_arguments(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_layers_match_torch_modules(rng):
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    layer = Conv2D(2, 4, 3, stride=2, padding=1, dtype=np.float64, rng=rng)
    module = torch.nn.Conv2d(2, 4, 3, stride=2, padding=1, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(layer.weight))
        module.bias.copy_(torch.from_numpy(layer.bias))
    x = rng.standard_normal((2, 2, 7, 6))
    tx = torch.tensor(x, requires_grad=True)
    for ours, theirs in [(layer, module), (MaxPool2D(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
                         (AvgPool2D(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1)),
                         (AdaptiveMaxPool2D((3, None)), torch.nn.AdaptiveMaxPool2d((3, None))),
                         (AdaptiveAvgPool2D((5, 4)), torch.nn.AdaptiveAvgPool2d((5, 4)))]:
        tx.grad = None
        expected = theirs(tx)
        out = ours(x)
        np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
        grad_out = rng.standard_normal(out.shape)
        expected.backward(torch.from_numpy(grad_out))
        np.testing.assert_allclose(ours.backward(grad_out), tx.grad.numpy(), rtol=1e-12,
                                   atol=1e-12)
    np.testing.assert_allclose(layer.grad_weight, module.weight.grad.numpy(), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(layer.grad_bias, module.bias.grad.numpy(), rtol=1e-12)
