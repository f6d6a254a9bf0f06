"""conv_transpose2d and conv_transpose2d_backward against NumPy oracles,
finite differences and torch autograd."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cyconv
from cyconv import _conv_plan, _conv_transpose
from cyconv.nn import ConvTranspose2D
from reference import conv_transpose2d_backward_reference, conv_transpose2d_reference

# (x shape, weight shape, stride, padding, output_padding, dilation, groups)
CASES = [
    ((1, 1, 2, 2), (1, 1, 2, 2), 1, 0, 0, 1, 1),                # the textbook's example
    ((2, 3, 5, 4), (3, 4, 3, 3), 1, 1, 0, 1, 1),
    ((2, 3, 5, 4), (3, 4, 3, 3), 2, 1, 1, 1, 1),                # decoder: doubles the size
    ((2, 4, 4, 4), (4, 3, 4, 4), 2, 1, 0, 1, 1),                # DCGAN
    ((1, 6, 5, 3), (6, 2, 2, 2), 2, 0, 0, 1, 1),                # U-Net
    ((2, 4, 5, 6), (4, 3, 3, 2), (2, 3), (1, 0), (1, 2), (1, 1), 2),
    ((1, 4, 4, 5), (4, 1, 3, 3), (1, 2), (2, 1), (0, 1), (2, 2), 4),   # depthwise
    ((2, 2, 3, 3), (2, 2, 1, 1), 3, 0, 2, 1, 1),                # no tap reaches some outputs
    ((1, 3, 6, 7), (3, 2, 3, 3), 1, 3, 0, 1, 1),                # padding past the kernel
    ((1, 2, 3, 4), (2, 3, 3, 2), 2, 0, (1, 2), (2, 3), 1),      # output padding past the stride
    ((1, 2, 1, 1), (2, 2, 1, 1), 1, 0, 0, 1, 1),
    ((2, 16, 6, 5), (16, 18, 3, 3), 1, 1, 0, 1, 1),             # Winograd / tiled
    ((2, 8, 5, 5), (8, 6, 1, 1), 1, 0, 0, 1, 1),                # pointwise
    ((1, 3, 2, 2), (3, 2, 5, 5), 1, 0, 0, 1, 1),                # kernel larger than the input
]

# The algorithms of the grad_input plan, each forced on a layer it accepts.
FORCED = [
    ("depthwise", (2, 20, 7, 6), (20, 1, 3, 3), 2, 1, 1, 1, 20),
    ("direct", (2, 3, 6, 5), (3, 2, 3, 3), 2, 1, 1, 1, 1),
    ("winograd", (2, 16, 8, 7), (16, 16, 3, 3), 1, 1, 0, 1, 1),
    ("tiled", (2, 5, 7, 6), (5, 4, 3, 2), 1, (1, 0), 0, (2, 1), 1),
    ("pointwise", (2, 8, 5, 6), (8, 4, 1, 1), 1, 0, 0, 1, 2),
    ("gemm", (2, 6, 5, 4), (6, 2, 4, 4), 2, 1, 1, 1, 3),
]


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _arrays(rng, x_shape, w_shape, groups, dtype=np.float64):
    x = rng.standard_normal(x_shape).astype(dtype)
    weight = rng.standard_normal(w_shape).astype(dtype)
    bias = rng.standard_normal(w_shape[1] * groups).astype(dtype)
    return x, weight, bias


def _check_against_reference(rng, x_shape, w_shape, stride, padding, output_padding, dilation,
                             groups, with_bias=True, tolerance=1e-11):
    x, weight, bias = _arrays(rng, x_shape, w_shape, groups)
    bias = bias if with_bias else None
    args = (stride, padding, output_padding, groups, dilation)
    pairs = [_pair(v) for v in (stride, padding, output_padding, dilation)]
    expected = conv_transpose2d_reference(x, weight, bias, *pairs, groups)
    out = cyconv.conv_transpose2d(x, weight, bias, *args)
    assert out.shape == expected.shape and out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)
    grad_out = rng.standard_normal(expected.shape)
    grads = cyconv.conv_transpose2d_backward(grad_out, x, weight, *args)
    for got, want in zip(grads, conv_transpose2d_backward_reference(grad_out, x, weight, *pairs,
                                                                    groups)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding, dilation, groups",
                         CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_forward_and_backward_match_reference(rng, x_shape, w_shape, stride, padding,
                                              output_padding, dilation, groups, with_bias):
    _check_against_reference(rng, x_shape, w_shape, stride, padding, output_padding, dilation,
                             groups, with_bias)


@pytest.mark.parametrize("algorithm, x_shape, w_shape, stride, padding, output_padding, "
                         "dilation, groups", FORCED)
def test_every_algorithm_of_the_plan_matches_reference(rng, algorithm, x_shape, w_shape, stride,
                                                       padding, output_padding, dilation, groups):
    layer_x = (x_shape[0], w_shape[1] * groups) + tuple(
        (size - 1) * s - 2 * p + d * (k - 1) + extra + 1 for size, s, p, d, k, extra in zip(
            x_shape[2:], _pair(stride), _pair(padding), _pair(dilation), w_shape[2:],
            _pair(output_padding)))
    with _conv_plan.forced(algorithm):
        plan = cyconv.conv2d_plan(layer_x, w_shape, stride, padding, dilation, groups,
                                  dtype=np.float64, which="grad_input")
        assert plan.algorithm == algorithm
        _check_against_reference(rng, x_shape, w_shape, stride, padding, output_padding,
                                 dilation, groups, tolerance=1e-10)


@pytest.mark.parametrize("algorithm", ["depthwise", "direct", "tiled", "gemm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_weights_give_what_the_definition_gives(rng, algorithm, dtype):
    """An inf weight meets only the input pixels that the definition
    multiplies it with: 0 * inf is NaN there, and nowhere else."""
    groups = 4 if algorithm == "depthwise" else 1
    x = rng.standard_normal((1, 4, 5, 5)).astype(dtype)
    x[0, :, 2, 2] = 0
    weight = rng.standard_normal((4, 4 // groups, 3, 3)).astype(dtype)
    weight[:, 0, 1, 1] = np.inf
    with _conv_plan.forced(algorithm):
        out = cyconv.conv_transpose2d(x, weight, None, 1, 1, groups=groups)
    with np.errstate(invalid="ignore"):
        want = conv_transpose2d_reference(x, weight, None, (1, 1), (1, 1), (0, 0), (1, 1), groups)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(out[finite], want[finite], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", [CASES[2], CASES[5], CASES[9]])
def test_unbatched_matches_batched(rng, case):
    x_shape, w_shape, *args = case
    groups = args[-1]
    args = args[:3] + [args[4], args[3]]   # stride, padding, output_padding, groups, dilation
    x, weight, bias = _arrays(rng, x_shape[1:], w_shape, groups)
    out = cyconv.conv_transpose2d(x, weight, bias, *args)
    np.testing.assert_array_equal(out, cyconv.conv_transpose2d(x[None], weight, bias, *args)[0])
    grad_out = rng.standard_normal(out.shape)
    grads = cyconv.conv_transpose2d_backward(grad_out, x, weight, *args)
    batched = cyconv.conv_transpose2d_backward(grad_out[None], x[None], weight, *args)
    assert grads[0].shape == x.shape
    for got, want in zip(grads, (batched[0][0],) + batched[1:]):
        np.testing.assert_array_equal(got, want)


def test_gradients_match_finite_differences(rng):
    x, weight, bias = _arrays(rng, (2, 4, 4, 3), (4, 3, 3, 2), 2)
    args = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2, dilation=(1, 2))
    grad_out = rng.standard_normal(cyconv.conv_transpose2d(x, weight, bias, **args).shape)

    def loss(x_, weight_, bias_):
        return float((cyconv.conv_transpose2d(x_, weight_, bias_, **args) * grad_out).sum())

    grads = cyconv.conv_transpose2d_backward(grad_out, x, weight, **args)
    step = 1e-6
    for index, array in enumerate((x, weight, bias)):
        numeric = np.zeros_like(array)
        for position in np.ndindex(array.shape):
            plus, minus = [a.copy() for a in (x, weight, bias)], [a.copy() for a in (x, weight,
                                                                                     bias)]
            plus[index][position] += step
            minus[index][position] -= step
            numeric[position] = (loss(*plus) - loss(*minus)) / (2 * step)
        np.testing.assert_allclose(grads[index], numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype, expected", [
    (np.float32, np.float32), (np.float64, np.float64), (np.int32, np.float64),
    (np.bool_, np.float64), (np.float16, np.float64),
])
def test_dtype_rules(dtype, expected):
    x = np.ones((1, 2, 3, 3), dtype)
    weight = np.ones((2, 1, 2, 2), dtype)
    out = cyconv.conv_transpose2d(x, weight, stride=2)
    assert out.dtype == expected
    grads = cyconv.conv_transpose2d_backward(np.ones(out.shape, dtype), x, weight, stride=2)
    assert all(grad.dtype == expected for grad in grads)
    assert out.dtype == cyconv.conv_transpose2d(x, weight.astype(expected), stride=2).dtype


def test_mixed_dtypes_promote(rng):
    x, weight, _ = _arrays(rng, (1, 2, 3, 3), (2, 2, 3, 3), 1, np.float32)
    assert cyconv.conv_transpose2d(x, weight.astype(np.float64)).dtype == np.float64
    with pytest.raises(TypeError, match="x must be real"):
        cyconv.conv_transpose2d(x.astype(np.complex64), weight)


def test_any_layout_is_accepted_and_inputs_untouched(rng):
    x, weight, bias = _arrays(rng, (2, 4, 6, 5), (4, 3, 3, 3), 1)
    args = (2, 1, 1)
    expected = cyconv.conv_transpose2d(x, weight, bias, *args)
    grad_out = rng.standard_normal(expected.shape)
    expected_grads = cyconv.conv_transpose2d_backward(grad_out, x, weight, *args)
    wide = np.zeros((2, 4, 12, 10))
    wide[:, :, ::2, ::2] = x
    read_only = x.copy()
    read_only.flags.writeable = False
    for variant in (np.asfortranarray(x), wide[:, :, ::2, ::2], read_only,
                    x.astype(">f8"), x.transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2)):
        before = variant.copy()
        np.testing.assert_array_equal(cyconv.conv_transpose2d(variant, weight, bias, *args),
                                      expected)
        for got, want in zip(cyconv.conv_transpose2d_backward(
                np.asfortranarray(grad_out), variant, weight.astype(">f8"), *args),
                expected_grads):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(variant, before)


@pytest.mark.parametrize("algorithm, x_shape, w_shape, stride, padding, output_padding, "
                         "dilation, groups", FORCED)
def test_results_identical_for_any_worker_count(rng, algorithm, x_shape, w_shape, stride,
                                                padding, output_padding, dilation, groups):
    x, weight, bias = _arrays(rng, x_shape, w_shape, groups, np.float32)
    args = (stride, padding, output_padding, groups, dilation)
    with _conv_plan.forced(algorithm):
        one = cyconv.conv_transpose2d(x, weight, bias, *args, workers=1)
        grad_out = rng.standard_normal(one.shape).astype(np.float32)
        grads = cyconv.conv_transpose2d_backward(grad_out, x, weight, *args, workers=1)
        for workers in (2, 3):
            np.testing.assert_array_equal(
                cyconv.conv_transpose2d(x, weight, bias, *args, workers=workers), one)
            for got, want in zip(cyconv.conv_transpose2d_backward(grad_out, x, weight, *args,
                                                                  workers=workers), grads):
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [
    ((2, 6, 3, 4), (6, 8, 4, 4), 2, 1),      # small planes: the batch's images in one GEMM
    ((1, 5, 9, 7), (5, 6, 2, 2), 2, 0),      # one image: its whole plane in one GEMM
])
def test_gemm_channel_blocks_share_the_work_not_the_result(rng, x_shape, w_shape, stride,
                                                           padding):
    """Without a weight gradient, blocks of output channels are the GEMM's
    work items: more blocks, the same values."""
    x, weight, bias = _arrays(rng, x_shape, w_shape, 1, np.float32)
    conv = _conv_transpose._transpose_arguments(x, weight, bias, stride, padding, 0, 1, 1)
    layer = _conv_transpose._adjoint_layer(conv, weight.shape)[0]
    results = []
    for items in (1, 3, 64):
        with _conv_plan.tuned(gemm_min_items=items), _conv_plan.forced("gemm"):
            settings = _conv_plan.gemm_backward_settings(
                layer, _conv_plan.current_tuning(), True, with_grad_weight=False)
            assert settings["channel_blocks"] == min(items, w_shape[1])
            results.append(cyconv.conv_transpose2d(x, weight, bias, stride, padding, workers=2))
    for result in results[1:]:
        np.testing.assert_allclose(result, results[0], rtol=1e-5, atol=1e-5)


def test_empty_batch():
    out = cyconv.conv_transpose2d(np.ones((0, 2, 3, 3)), np.ones((2, 3, 2, 2)), np.ones(3),
                                  stride=2)
    assert out.shape == (0, 3, 6, 6)
    grad_x, grad_w, grad_b = cyconv.conv_transpose2d_backward(
        np.ones((0, 3, 6, 6)), np.ones((0, 2, 3, 3)), np.ones((2, 3, 2, 2)), stride=2)
    assert grad_x.shape == (0, 2, 3, 3)
    np.testing.assert_array_equal(grad_w, np.zeros((2, 3, 2, 2)))
    np.testing.assert_array_equal(grad_b, np.zeros(3))


@given(
    batch=st.integers(1, 2), groups=st.integers(1, 2), in_per_group=st.integers(1, 3),
    out_per_group=st.integers(1, 3), height=st.integers(1, 6), width=st.integers(1, 6),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    extra=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_matches_reference(batch, groups, in_per_group, out_per_group, height, width,
                                    kernel, stride, padding, dilation, extra, seed):
    output_padding = tuple(min(e, max(s, d) - 1) for e, s, d in zip(extra, stride, dilation))
    out_hw = [(size - 1) * s - 2 * p + d * (k - 1) + e + 1 for size, s, p, d, k, e in
              zip((height, width), stride, padding, dilation, kernel, output_padding)]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, groups * in_per_group, height, width))
    weight = rng.standard_normal((groups * in_per_group, out_per_group) + kernel)
    args = (stride, padding, output_padding, groups, dilation)
    if min(out_hw) < 1:
        with pytest.raises(ValueError, match="output"):
            cyconv.conv_transpose2d(x, weight, None, *args)
        return
    out = cyconv.conv_transpose2d(x, weight, None, *args, workers=2)
    np.testing.assert_allclose(
        out, conv_transpose2d_reference(x, weight, None, stride, padding, output_padding,
                                        dilation, groups), atol=1e-12)
    grads = cyconv.conv_transpose2d_backward(out, x, weight, *args, workers=2)
    for got, want in zip(grads, conv_transpose2d_backward_reference(
            out, x, weight, stride, padding, output_padding, dilation, groups)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


X = np.ones((1, 4, 3, 3))
W = np.ones((4, 2, 3, 3))


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(x=np.ones((4, 3))), ValueError, "x must be 4-D"),
    (dict(weight=np.ones((4, 2, 3))), ValueError, "weight must be 4-D"),
    (dict(weight=np.ones((3, 2, 3, 3))), ValueError, "channels"),
    (dict(weight=np.ones((4, 0, 3, 3))), ValueError, "positive sizes"),
    (dict(x=np.ones((1, 0, 3, 3)), weight=np.ones((0, 2, 3, 3))), ValueError, "channel"),
    (dict(groups=3), ValueError, "groups"),
    (dict(groups=0), ValueError, "groups"),
    (dict(bias=np.ones(3)), ValueError, "bias"),
    (dict(stride=0), ValueError, "stride"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(padding="same"), TypeError, "padding"),
    (dict(dilation=(1, 0)), ValueError, "dilation"),
    (dict(output_padding=-1), ValueError, "output_padding"),
    (dict(output_padding=1), ValueError, "output_padding"),
    (dict(stride=2, output_padding=2), ValueError, "output_padding"),
    (dict(padding=3), ValueError, "output"),
    (dict(stride=1.5), TypeError, "stride"),
    (dict(x=np.ones((1, 4, 3, 3), complex)), TypeError, "x must be real"),
    (dict(workers=0), ValueError, "workers"),
])
def test_invalid_arguments(kwargs, error, word):
    arguments = dict(x=X, weight=W)
    arguments.update(kwargs)
    with pytest.raises(error, match=word):
        cyconv.conv_transpose2d(**arguments)


def test_invalid_backward_arguments():
    with pytest.raises(ValueError, match="grad_output must have the output's shape"):
        cyconv.conv_transpose2d_backward(np.ones((1, 2, 4, 4)), X, W)
    with pytest.raises(TypeError, match="grad_output must be real"):
        cyconv.conv_transpose2d_backward(np.ones((1, 2, 5, 5), complex), X, W)
    with pytest.raises(ValueError, match="output_padding"):
        cyconv.conv_transpose2d_backward(np.ones((1, 2, 6, 6)), X, W, output_padding=1)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding, dilation, groups",
                         CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch_forward_and_autograd(rng, x_shape, w_shape, stride, padding,
                                            output_padding, dilation, groups, dtype):
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    x, weight, bias = _arrays(rng, x_shape, w_shape, groups, dtype)
    args = (stride, padding, output_padding, groups, dilation)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    expected = torch.nn.functional.conv_transpose2d(tx, tw, tb, *args)
    grad_out = rng.standard_normal(tuple(expected.shape)).astype(dtype)
    expected.backward(torch.from_numpy(grad_out))
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    out = cyconv.conv_transpose2d(x, weight, bias, *args)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    grads = cyconv.conv_transpose2d_backward(grad_out, x, weight, *args)
    for got, want in zip(grads, (tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=tolerance, atol=tolerance)


def test_torch_rejects_what_cyconv_rejects(rng):
    """A seeded sweep of argument combinations: torch and cyconv agree on
    which are valid, and on the output's shape and values."""
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    for _ in range(300):
        stride, dilation = tuple(rng.integers(1, 4, 2)), tuple(rng.integers(1, 4, 2))
        kernel, size = tuple(rng.integers(1, 5, 2)), tuple(rng.integers(1, 5, 2))
        padding, output_padding = tuple(rng.integers(0, 4, 2)), tuple(rng.integers(0, 4, 2))
        args = [tuple(map(int, v)) for v in (stride, padding, output_padding)]
        args += [1, tuple(map(int, dilation))]
        x = np.ones((1, 2) + tuple(map(int, size)), np.float32)
        weight = np.ones((2, 3) + tuple(map(int, kernel)), np.float32)
        try:
            want = torch.nn.functional.conv_transpose2d(torch.from_numpy(x),
                                                        torch.from_numpy(weight), None, *args)
        except RuntimeError:
            want = None
        if want is None or 0 in want.shape:
            # Some of torch's paths return an empty output where others
            # refuse it ("Output size is too small"); cyconv always refuses.
            with pytest.raises(ValueError):
                cyconv.conv_transpose2d(x, weight, None, *args)
            continue
        got = cyconv.conv_transpose2d(x, weight, None, *args)
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


# --- the nn layer ------------------------------------------------------------

def test_layer_matches_the_functions(rng):
    args = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2, dilation=(1, 2))
    layer = ConvTranspose2D(4, 6, (3, 2), dtype=np.float64, rng=rng, **args)
    assert layer.weight.shape == (4, 3, 3, 2) and layer.bias.shape == (6,)
    x = rng.standard_normal((2, 4, 5, 4))
    out = layer(x)
    np.testing.assert_array_equal(
        out, cyconv.conv_transpose2d(x, layer.weight, layer.bias, **args))
    grad_out = rng.standard_normal(out.shape)
    grad_x = layer.backward(grad_out)
    want = cyconv.conv_transpose2d_backward(grad_out, x, layer.weight, **args)
    for got, expected in zip((grad_x, layer.grad_weight, layer.grad_bias), want):
        np.testing.assert_array_equal(got, expected)


def test_layer_initialisation_is_pytorchs():
    """torch takes the fan-in of a transposed layer from the weight's second
    axis: out_channels // groups * kH * kW."""
    layer = ConvTranspose2D(8, 6, (3, 5), groups=2, rng=3)
    bound = 1 / np.sqrt(3 * 3 * 5)
    assert layer.weight.dtype == np.float32 and layer.weight.shape == (8, 3, 3, 5)
    for parameter in (layer.weight, layer.bias):
        assert np.abs(parameter).max() <= bound
        assert np.abs(parameter).max() > 0.8 * bound
    assert ConvTranspose2D(2, 2, 2, bias=False).bias is None
    np.testing.assert_array_equal(ConvTranspose2D(2, 3, 2, rng=5).weight,
                                  ConvTranspose2D(2, 3, 2, rng=np.random.default_rng(5)).weight)


def test_layer_output_size_chooses_the_output_padding(rng):
    layer = ConvTranspose2D(2, 3, 3, stride=(2, 3), padding=1, rng=rng)
    x = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
    assert layer(x).shape == (1, 3, 7, 13)
    for size in [(7, 13), (8, 15), (1, 3, 8, 14)]:
        out = layer(x, output_size=size)
        assert out.shape[2:] == tuple(size[-2:])
        extra = (size[-2] - 7, size[-1] - 13)
        np.testing.assert_array_equal(out, cyconv.conv_transpose2d(
            x, layer.weight, layer.bias, (2, 3), 1, extra))
        grad_x = layer.backward(np.ones_like(out))
        np.testing.assert_array_equal(grad_x, cyconv.conv_transpose2d_backward(
            np.ones_like(out), x, layer.weight, (2, 3), 1, extra)[0])
    for size, word in [((9, 13), "not reachable"), ((6, 13), "not reachable"),
                       ((7,), "output_size"), ((7, 13.5), "output_size")]:
        with pytest.raises((ValueError, TypeError), match=word):
            layer(x, output_size=size)


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(in_channels=3, out_channels=4, kernel_size=2, groups=2), ValueError, "groups"),
    (dict(in_channels=2, out_channels=2, kernel_size=2, output_padding=1), ValueError,
     "output_padding"),
    (dict(in_channels=2, out_channels=2, kernel_size=0), ValueError, "kernel_size"),
    (dict(in_channels=2, out_channels=2, kernel_size=2, dtype=np.int32), TypeError, "dtype"),
])
def test_layer_invalid_arguments(kwargs, error, word):
    with pytest.raises(error, match=word):
        ConvTranspose2D(**kwargs)


def test_layer_backward_needs_a_forward():
    with pytest.raises(RuntimeError, match="forward"):
        ConvTranspose2D(1, 1, 2).backward(np.ones((1, 1, 3, 3)))


def test_layer_matches_torch_module(rng):
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    layer = ConvTranspose2D(4, 6, 3, stride=2, padding=1, groups=2, dtype=np.float64, rng=rng)
    module = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(layer.weight))
        module.bias.copy_(torch.from_numpy(layer.bias))
    x = rng.standard_normal((2, 4, 5, 5))
    tx = torch.tensor(x, requires_grad=True)
    expected = module(tx, output_size=[10, 10])
    out = layer(x, output_size=(10, 10))
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    grad_out = rng.standard_normal(out.shape)
    expected.backward(torch.from_numpy(grad_out))
    np.testing.assert_allclose(layer.backward(grad_out), tx.grad.numpy(), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(layer.grad_weight, module.weight.grad.numpy(), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(layer.grad_bias, module.bias.grad.numpy(), rtol=1e-12, atol=1e-12)
