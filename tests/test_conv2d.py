"""conv2d, conv2d_backward, im2col, col2im against NumPy oracles, finite differences and torch."""
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cyconv
from cyconv import _conv_plan, _layers
from reference import (
    col2im_reference,
    conv2d_backward_reference,
    conv2d_reference,
    im2col_reference,
)

# 3x3 layers with 16+ channels per group, for the Winograd path: odd and even
# sizes, padding 0-2, groups, output channels off the kernel's block, outputs
# smaller than a tile.
WINOGRAD_CASES = [
    ((2, 16, 9, 11), (16, 16, 3, 3), 1, 1, 1, 1),
    ((1, 32, 8, 6), (34, 16, 3, 3), 1, "valid", 1, 2),
    ((3, 17, 5, 4), (18, 17, 3, 3), 1, 2, 1, 1),
    ((1, 16, 1, 1), (16, 16, 3, 3), 1, 1, 1, 1),
    ((1, 16, 41, 3), (20, 16, 3, 3), 1, (2, 0), 1, 1),
    ((2, 16, 30, 22), (17, 16, 3, 3), 1, 1, 1, 1),
    ((1, 40, 6, 7), (18, 40, 3, 3), 1, 1, 1, 1),
]

# (x shape, weight shape, stride, padding, dilation, groups)
CASES = [
    ((2, 3, 7, 8), (4, 3, 3, 3), 1, 0, 1, 1),
    ((2, 3, 7, 8), (4, 3, 3, 3), 2, 1, 1, 1),
    ((1, 4, 9, 9), (6, 2, 3, 2), (1, 2), (2, 1), (2, 1), 2),
    ((3, 8, 6, 5), (8, 8, 1, 1), 1, 0, 1, 1),
    ((3, 8, 6, 5), (4, 8, 1, 1), 2, 0, 1, 1),
    ((2, 6, 7, 7), (6, 1, 3, 3), 1, 1, 1, 6),
    ((2, 4, 7, 9), (8, 1, 5, 3), (2, 1), (2, 1), 1, 4),
    ((2, 6, 8, 8), (6, 3, 2, 2), 1, "same", 2, 2),
    ((1, 5, 10, 11), (3, 5, 4, 3), 1, "same", 1, 1),
    ((1, 5, 10, 11), (3, 5, 4, 3), 1, "valid", 1, 1),
    ((2, 2, 3, 3), (3, 2, 3, 3), 3, 4, 1, 1),
    ((1, 3, 1, 1), (2, 3, 1, 1), 1, 0, 1, 1),
    ((1, 3, 40, 5), (5, 3, 3, 3), 1, 1, 1, 1),
    ((1, 4, 7, 6), (4, 2, 4, 2), 1, "same", 1, 2),
    ((2, 3, 5, 4), (3, 1, 2, 3), 1, (0, 2), 1, 3),
    # Stride 1 with more channels: the register-tiled kernel, forward and input
    # gradient (channel counts off the kernel's block of output channels).
    ((2, 5, 9, 11), (7, 5, 3, 3), 1, 1, 1, 1),
    ((1, 6, 8, 7), (12, 3, 3, 2), 1, "same", (2, 1), 2),
    ((2, 4, 6, 40), (9, 4, 5, 1), 1, (3, 0), 1, 1),
    ((1, 5, 3, 2), (17, 5, 4, 4), 1, 2, 1, 1),
    # Strided, split into stride-1 phases (kernel > stride, few zero taps).
    ((2, 3, 17, 19), (8, 3, 7, 7), 2, 3, 1, 1),
    ((1, 8, 9, 10), (12, 4, 4, 4), 2, 1, 1, 2),
    ((1, 5, 12, 13), (9, 5, 6, 6), (2, 3), (1, 2), 1, 1),
    ((1, 6, 11, 11), (9, 6, 4, 4), 2, 0, 1, 1),
    ((1, 3, 21, 22), (10, 3, 8, 8), 4, (2, 3), 1, 1),
    ((2, 2, 13, 14), (9, 2, 6, 6), 3, 0, 1, 1),
    ((2, 4, 15, 16), (9, 4, 3, 3), 2, 1, 1, 1),     # split in float32 only
    ((1, 6, 14, 13), (12, 3, 5, 5), 2, 2, 1, 2),
    # 3x3 with 16+ channels per group: Winograd F(2x2, 3x3) where the image
    # is large enough for it to pay, the tiled kernel otherwise.
    *WINOGRAD_CASES,
    # Padding past dilation * (kernel - 1): the input gradient falls back to GEMM.
    ((1, 4, 5, 6), (6, 4, 3, 2), 1, (3, 1), 1, 1),
    ((2, 8, 5, 5), (5, 8, 1, 1), 1, 1, 1, 1),
]


def _pads(padding, weight_shape, dilation):
    """(top, bottom, left, right) as the reference wants it."""
    dilation = (dilation, dilation) if isinstance(dilation, int) else dilation
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        pads = []
        for k, d in zip(weight_shape[2:], dilation):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    rows, cols = (padding, padding) if isinstance(padding, int) else padding
    return (rows, rows, cols, cols)


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _assert_same_values(got, want):
    """NaN and inf of either sign exactly where ``want`` has them, finite values close."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-4)


def _case_arrays(rng, x_shape, w_shape, dtype=np.float64):
    x = rng.standard_normal(x_shape).astype(dtype)
    weight = rng.standard_normal(w_shape).astype(dtype)
    bias = rng.standard_normal(w_shape[0]).astype(dtype)
    return x, weight, bias


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_forward_and_backward_match_reference(rng, x_shape, w_shape, stride, padding, dilation,
                                              groups, with_bias):
    x, weight, bias = _case_arrays(rng, x_shape, w_shape)
    bias = bias if with_bias else None
    pads = _pads(padding, w_shape, dilation)
    expected = conv2d_reference(x, weight, bias, _pair(stride), pads, _pair(dilation), groups)
    out = cyconv.conv2d(x, weight, bias, stride, padding, dilation, groups)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert out.dtype == np.float64 and out.flags.c_contiguous

    grad_out = rng.standard_normal(expected.shape)
    grads = cyconv.conv2d_backward(grad_out, x, weight, stride, padding, dilation, groups)
    expected_grads = conv2d_backward_reference(grad_out, x, weight, _pair(stride), pads,
                                               _pair(dilation), groups)
    for got, want in zip(grads, expected_grads):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups",
                         [CASES[1], CASES[2], CASES[5]])
def test_unbatched_matches_batched(rng, x_shape, w_shape, stride, padding, dilation, groups):
    x, weight, bias = _case_arrays(rng, x_shape[1:], w_shape)
    out = cyconv.conv2d(x, weight, bias, stride, padding, dilation, groups)
    batched = cyconv.conv2d(x[None], weight, bias, stride, padding, dilation, groups)
    np.testing.assert_array_equal(out, batched[0])
    grad_out = rng.standard_normal(out.shape)
    grads = cyconv.conv2d_backward(grad_out, x, weight, stride, padding, dilation, groups)
    batched = cyconv.conv2d_backward(grad_out[None], x[None], weight, stride, padding,
                                     dilation, groups)
    assert grads[0].shape == x.shape
    for got, want in zip(grads, (batched[0][0],) + batched[1:]):
        np.testing.assert_array_equal(got, want)


def test_gradients_match_finite_differences(rng):
    x, weight, bias = _case_arrays(rng, (2, 4, 6, 5), (4, 2, 3, 2))
    args = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    grad_out = rng.standard_normal(cyconv.conv2d(x, weight, bias, **args).shape)

    def loss(x_, weight_, bias_):
        return float((cyconv.conv2d(x_, weight_, bias_, **args) * grad_out).sum())

    grad_x, grad_w, grad_b = cyconv.conv2d_backward(grad_out, x, weight, **args)
    step = 1e-6
    for analytic, which in ((grad_x, 0), (grad_w, 1), (grad_b, 2)):
        numeric = np.empty_like(analytic)
        for index in np.ndindex(analytic.shape):
            arrays = [x.copy(), weight.copy(), bias.copy()]
            arrays[which][index] += step
            up = loss(*arrays)
            arrays[which][index] -= 2 * step
            numeric[index] = (up - loss(*arrays)) / (2 * step)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("w_shape, padding, groups", [
    ((4, 1, 3, 3), 0, 4),     # depthwise, direct kernel
    ((4, 1, 3, 3), 1, 4),
    ((8, 2, 3, 2), (1, 0), 2),
    ((6, 4, 3, 3), 1, 1),     # im2col + GEMM
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_non_finite_values_reach_what_the_reference_gives(rng, w_shape, padding, groups,
                                                                  dtype):
    """inf and NaN spread exactly as far as the scattered windows spread them:
    the fast paths read padding and whole-vector tails that the sums must not
    include (0 * NaN is NaN)."""
    x = rng.standard_normal((2, 4, 6, 19)).astype(dtype)
    weight = rng.standard_normal(w_shape).astype(dtype)
    x[1, 0, 0, -1] = np.nan
    x[0, -1, -1, 0] = -np.inf
    weight[0, 0, 0, 0] = np.nan
    weight[-1, 0, -1, 1] = np.inf
    pads = _pads(padding, w_shape, 1)
    grad_out = rng.standard_normal(cyconv.conv2d(x, weight, None, 1, padding, 1, groups).shape)
    got = cyconv.conv2d_backward(grad_out.astype(dtype), x, weight, 1, padding, 1, groups)
    want = conv2d_backward_reference(grad_out.astype(dtype), x, weight, (1, 1), pads, (1, 1),
                                     groups)
    for got_part, want_part in zip(got, want):
        _assert_same_values(got_part, want_part)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("finite_weight", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_non_finite_values_reach_what_the_reference_gives(rng, stride, finite_weight,
                                                                    dtype):
    """The depthwise kernel packs padding zeros, spread zeros and repeated
    lanes beside the data: none of them may meet an inf (0 * inf is NaN).
    An inf or NaN weight sends the input gradient to the direct kernel."""
    x = rng.standard_normal((2, 20, 7, 9)).astype(dtype)
    weight = rng.standard_normal((20, 1, 3, 3)).astype(dtype)
    bias = rng.standard_normal(20).astype(dtype)
    x[1, 0, 0, -1] = np.nan
    x[0, -1, -1, 0] = -np.inf
    x[1, 17, 3, 4] = np.inf
    if not finite_weight:
        weight[3, 0, 1, 1] = np.inf
    args = (stride, 1, 1, 20)
    pads = _pads(1, weight.shape, 1)
    with _conv_plan.forced("depthwise"):
        assert cyconv.conv2d_plan(x.shape, weight.shape, *args, dtype=dtype,
                                  which="grad_input").algorithm == "depthwise"
        out = cyconv.conv2d(x, weight, bias, *args)
        grad_out = rng.standard_normal(out.shape).astype(dtype)
        got = cyconv.conv2d_backward(grad_out, x, weight, *args)
    _assert_same_values(out, conv2d_reference(x, weight, bias, (stride, stride), pads, (1, 1), 20))
    want = conv2d_backward_reference(grad_out, x, weight, (stride, stride), pads, (1, 1), 20)
    for got_part, want_part in zip(got, want):
        _assert_same_values(got_part, want_part)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups",
                         CASES + [((1, 32, 30, 30), (16, 32, 3, 3), 1, 1, 1, 1),
                                  ((2, 5, 9, 8), (7, 5, 3, 3), 2, 1, 1, 1)])
def test_float32_is_computed_in_float32(rng, x_shape, w_shape, stride, padding, dilation, groups):
    """float32 runs float32 kernels (some strategies differ by type) to float32 rounding."""
    x, weight, bias = _case_arrays(rng, x_shape, w_shape, np.float32)
    pads = _pads(padding, w_shape, dilation)
    out = cyconv.conv2d(x, weight, bias, stride, padding, dilation, groups)
    assert out.dtype == np.float32
    expected = conv2d_reference(x, weight, bias, _pair(stride), pads, _pair(dilation), groups)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    grad_out = rng.standard_normal(out.shape).astype(np.float32)
    grads = cyconv.conv2d_backward(grad_out, x, weight, stride, padding, dilation, groups)
    assert [g.dtype for g in grads] == [np.float32] * 3
    expected_grads = conv2d_backward_reference(grad_out, x, weight, _pair(stride), pads,
                                               _pair(dilation), groups)
    for got, want in zip(grads, expected_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype, expected", [
    (np.int32, np.float64), (np.uint8, np.float64), (np.bool_, np.float64),
    (np.float16, np.float64), (np.float32, np.float32), (np.float64, np.float64),
])
def test_dtype_rules(dtype, expected):
    x = (np.arange(2 * 5 * 5).reshape(2, 5, 5) % 3).astype(dtype)
    weight = np.ones((1, 2, 3, 3), dtype=dtype)
    out = cyconv.conv2d(x, weight)
    assert out.dtype == expected
    np.testing.assert_allclose(out, conv2d_reference(x[None], weight, None, (1, 1), (0,) * 4,
                                                     (1, 1), 1)[0])
    assert cyconv.im2col(x, 2).dtype == expected
    assert all(g.dtype == expected for g in cyconv.conv2d_backward(out, x, weight))


def test_mixed_dtypes_promote(rng):
    x, weight, bias = _case_arrays(rng, (1, 2, 5, 5), (1, 2, 3, 3), np.float32)
    assert cyconv.conv2d(x, weight.astype(np.float64)).dtype == np.float64
    assert cyconv.conv2d(x, weight, bias.astype(np.float64)).dtype == np.float64
    assert cyconv.conv2d(x, weight.astype(np.int64)).dtype == np.float64


@pytest.mark.parametrize("call", [
    lambda z: cyconv.conv2d(z, np.ones((1, 2, 3, 3))),
    lambda z: cyconv.conv2d(np.ones((2, 5, 5)), np.ones((1, 2, 3, 3), dtype=z.dtype)),
    lambda z: cyconv.im2col(z, 2),
    lambda z: cyconv.col2im(np.ones((8, 4), dtype=z.dtype), 3, 2),
])
def test_complex_is_rejected(call):
    with pytest.raises(TypeError):
        call(np.ones((2, 5, 5), dtype=complex))


def test_any_layout_is_accepted_and_inputs_untouched(rng):
    x, weight, bias = _case_arrays(rng, (2, 3, 9, 8), (4, 3, 3, 3))
    expected = cyconv.conv2d(x, weight, bias, padding=1)
    variants = [
        np.asfortranarray(x),
        np.repeat(x, 2, axis=3)[..., ::2],
        x.astype(x.dtype.newbyteorder(">")),
        x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2),
    ]
    readonly = x.copy()
    readonly.flags.writeable = False
    variants.append(readonly)
    for variant in variants:
        before = np.array(variant, copy=True)
        np.testing.assert_array_equal(
            cyconv.conv2d(variant, weight.astype(">f8"), bias, padding=1), expected)
        np.testing.assert_array_equal(variant, before)
    grad = np.ones_like(expected)
    grad.flags.writeable = False
    grad_x, _, _ = cyconv.conv2d_backward(grad, readonly, weight, padding=1)
    assert grad_x.flags.c_contiguous and grad_x.flags.writeable


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups",
                         [CASES[0], CASES[3], CASES[6], ((1, 16, 64, 9), (8, 16, 3, 3), 1, 1, 1, 1),
                          ((9, 16, 12, 12), (16, 8, 3, 3), 2, 1, 1, 2),
                          ((1, 16, 30, 9), (16, 16, 3, 3), 1, 1, 1, 1),
                          ((3, 32, 12, 10), (32, 16, 3, 3), 1, 0, 1, 2)])
def test_results_identical_for_any_worker_count(rng, x_shape, w_shape, stride, padding, dilation,
                                                groups):
    x, weight, bias = _case_arrays(rng, x_shape, w_shape, np.float32)
    args = (stride, padding, dilation, groups)
    one = cyconv.conv2d(x, weight, bias, *args, workers=1)
    grad_out = rng.standard_normal(one.shape).astype(np.float32)
    grads_one = cyconv.conv2d_backward(grad_out, x, weight, *args, workers=1)
    for workers in (2, 3, -1):
        np.testing.assert_array_equal(cyconv.conv2d(x, weight, bias, *args, workers=workers), one)
        for got, want in zip(cyconv.conv2d_backward(grad_out, x, weight, *args, workers=workers),
                             grads_one):
            np.testing.assert_array_equal(got, want)


def test_tiling_bounds_the_column_buffer(rng):
    """Tiny buffers and tile counts force every tiling and phase path; results stay put."""
    x, weight, bias = _case_arrays(rng, (2, 3, 13, 7), (4, 3, 5, 3))
    args = dict(stride=(1, 2), padding=2, dilation=(2, 1))
    expected = cyconv.conv2d(x, weight, bias, **args)
    grad_out = rng.standard_normal(expected.shape)
    expected_grads = cyconv.conv2d_backward(grad_out, x, weight, **args)
    with _conv_plan.tuned(column_buffer_bytes=1, max_grad_slots=3, gemm_min_pixels=1,
                          forced="gemm"):
        assert cyconv.conv2d_plan(x.shape, weight.shape, **args).settings["tile_rows"] == 1
        np.testing.assert_allclose(cyconv.conv2d(x, weight, bias, **args), expected, rtol=1e-13)
        for got, want in zip(cyconv.conv2d_backward(grad_out, x, weight, **args),
                             expected_grads):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [
    ((2, 5, 9, 11), (7, 5, 3, 3), 1, 1),      # stride 1: padded images
    ((2, 3, 17, 19), (8, 3, 7, 7), 2, 3),     # stride phases: a split copy of the batch
])
def test_large_copies_fall_back_to_bounded_buffers(rng, monkeypatch, x_shape, w_shape, stride,
                                                  padding):
    """Past tiled_max_copy_bytes the tiled kernel, which copies whole images,
    gives way to im2col + GEMM, with the same results."""
    x, weight, bias = _case_arrays(rng, x_shape, w_shape)
    grad_out = rng.standard_normal(cyconv.conv2d(x, weight, bias, stride, padding).shape)
    expected = (cyconv.conv2d(x, weight, bias, stride, padding),
                *cyconv.conv2d_backward(grad_out, x, weight, stride, padding))

    def refuse(*args):
        raise AssertionError("the tiled kernel ran")

    monkeypatch.setattr(_layers._tiled, "tiled_forward", refuse)
    with _conv_plan.tuned(tiled_max_copy_bytes=0):
        for which in _conv_plan.PASSES:
            assert cyconv.conv2d_plan(x_shape, w_shape, stride, padding,
                                      which=which).algorithm == "gemm"
        got = (cyconv.conv2d(x, weight, bias, stride, padding),
               *cyconv.conv2d_backward(grad_out, x, weight, stride, padding))
    for got_part, want_part in zip(got, expected):
        np.testing.assert_allclose(got_part, want_part, rtol=1e-12, atol=1e-12)


# Winograd for every layer of 16+ channels it can compute, small images too
# (by default they stay on the tiled kernel, the padded work items wasting
# what Winograd saves).
WINOGRAD_ON_SMALL_IMAGES = dict(winograd_max_work=float("inf"), winograd_item_tiles=0,
                                winograd_min_items=0)


@pytest.fixture
def always_winograd():
    with _conv_plan.tuned(**WINOGRAD_ON_SMALL_IMAGES):
        yield


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", WINOGRAD_CASES)
@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-4), (np.float64, 1e-12)])
def test_winograd_matches_reference(rng, monkeypatch, always_winograd, x_shape, w_shape, stride,
                                    padding, dilation, groups, dtype, tolerance):
    x, weight, bias = _case_arrays(rng, x_shape, w_shape, dtype)
    pads = _pads(padding, w_shape, dilation)
    calls = _count_calls(monkeypatch, "winograd_forward")
    grad_calls = _count_calls(monkeypatch, "winograd_grad_products")
    out = cyconv.conv2d(x, weight, bias, stride, padding, dilation, groups)
    expected = conv2d_reference(x, weight, bias, (1, 1), pads, (1, 1), groups)
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    grads = cyconv.conv2d_backward(grad_out, x, weight, stride, padding, dilation, groups)
    want = conv2d_backward_reference(grad_out, x, weight, (1, 1), pads, (1, 1), groups)
    for got_part, want_part in zip(grads, want):
        np.testing.assert_allclose(got_part, want_part, rtol=10 * tolerance, atol=10 * tolerance)
    assert calls == ["winograd_forward"] * 2   # the forward and the input gradient
    assert grad_calls == ["winograd_grad_products"]


# The module of each kernel whose calls the tests count.
_KERNEL_MODULES = {"winograd_forward": _layers._winograd,
                   "winograd_grad_products": _layers._winograd,
                   "tiled_forward": _layers._tiled, "pointwise_forward": _layers._pointwise,
                   "gemm_backward": _layers._gemm}


def _count_calls(monkeypatch, name):
    """Count the calls of kernel ``name`` (the kernel still runs)."""
    calls = []
    module = _KERNEL_MODULES[name]
    kernel = getattr(module, name)

    def counted(*args):
        calls.append(name)
        return kernel(*args)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-4), (np.float64, 1e-12)])
def test_winograd_runs_and_matches_the_tiled_kernel(rng, monkeypatch, always_winograd, dtype,
                                                    tolerance):
    """3x3 layers with many channels take Winograd, forward and both
    gradients, with the direct sums' results within rounding; tiny work
    items too (the same outputs; the weight gradient's sums are grouped
    differently)."""
    x, weight, bias = _case_arrays(rng, (2, 24, 13, 10), (20, 24, 3, 3), dtype)
    grad_out = rng.standard_normal((2, 20, 13, 10)).astype(dtype)
    calls = _count_calls(monkeypatch, "winograd_forward")
    grad_calls = _count_calls(monkeypatch, "winograd_grad_products")

    def run():
        return (cyconv.conv2d(x, weight, bias, padding=1),
                *cyconv.conv2d_backward(grad_out, x, weight, padding=1)[:2])

    got = run()
    assert calls == ["winograd_forward"] * 2 and len(grad_calls) == 1
    size = _conv_plan.current_tuning().winograd_size(np.dtype(dtype))
    row_bytes = _conv_plan.winograd_row_bytes(24, 20, 10, np.dtype(dtype), size)
    grad_row_bytes = _conv_plan.winograd_row_bytes(24, 20, 10, np.dtype(dtype), 2)
    with _conv_plan.tuned(winograd_item_bytes=row_bytes,   # one row of tiles
                          winograd_grad_item_bytes=grad_row_bytes):
        small_items = run()
    with _conv_plan.forced("tiled"):
        tiled = run()
    assert len(calls) == 4 and len(grad_calls) == 2
    for got_part, small_part, tiled_part in zip(got, small_items, tiled):
        np.testing.assert_allclose(small_part, got_part, rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(got_part, tiled_part, rtol=tolerance, atol=tolerance)
    for got_part, small_part in zip(got[:2], small_items[:2]):
        np.testing.assert_array_equal(small_part, got_part)


@pytest.mark.parametrize("x_shape, w_shape, padding, groups", [
    ((3, 16, 11, 9), (16, 16, 3, 3), 1, 1),
    ((1, 34, 20, 7), (36, 17, 3, 3), (0, 2), 2),
])
def test_winograd_results_identical_for_any_worker_count(rng, monkeypatch, always_winograd,
                                                         x_shape, w_shape, padding, groups):
    """The weight gradient's partial sums are split by work item, not by thread."""
    x, weight, bias = _case_arrays(rng, x_shape, w_shape, np.float32)
    calls = _count_calls(monkeypatch, "winograd_grad_products")
    one = cyconv.conv2d(x, weight, bias, padding=padding, groups=groups, workers=1)
    grad_out = rng.standard_normal(one.shape).astype(np.float32)
    grads_one = cyconv.conv2d_backward(grad_out, x, weight, padding=padding, groups=groups,
                                       workers=1)
    for workers in (2, 3, 5):
        np.testing.assert_array_equal(
            cyconv.conv2d(x, weight, bias, padding=padding, groups=groups, workers=workers), one)
        for got, want in zip(cyconv.conv2d_backward(grad_out, x, weight, padding=padding,
                                                    groups=groups, workers=workers), grads_one):
            np.testing.assert_array_equal(got, want)
    assert len(calls) == 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_non_finite_values_reach_what_the_reference_gives(rng, monkeypatch,
                                                                 always_winograd, dtype):
    """The Winograd transforms add pixels the direct sums keep apart (an inf
    would make NaNs of its whole tile): a non-finite output sends the layer
    to the tiled kernel, whose inf and NaN are the reference's."""
    x = rng.standard_normal((2, 16, 6, 19)).astype(dtype)
    weight = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    x[1, 0, 0, -1] = np.nan
    x[0, -1, 3, 4] = -np.inf
    weight[-1, 0, -1, 1] = np.inf
    grad_out = rng.standard_normal((2, 16, 6, 19)).astype(dtype)
    calls = _count_calls(monkeypatch, "tiled_forward")
    got = (cyconv.conv2d(x, weight, None, padding=1),
           *cyconv.conv2d_backward(grad_out, x, weight, padding=1))
    assert calls == ["tiled_forward"]   # forward only: an inf weight keeps grad_x off both
    want = (conv2d_reference(x, weight, None, (1, 1), (1, 1, 1, 1), (1, 1), 1),
            *conv2d_backward_reference(grad_out, x, weight, (1, 1), (1, 1, 1, 1), (1, 1), 1))
    for got_part, want_part in zip(got, want):
        _assert_same_values(got_part, want_part)


@pytest.mark.parametrize("dtype, w_shape, stride, padding", [
    (np.float32, (8, 3, 7, 7), 2, 3),
    (np.float64, (8, 3, 7, 7), 2, 3),
    (np.float32, (8, 3, 7, 8), (2, 3), (3, 1)),
    (np.float64, (8, 3, 7, 8), (2, 3), (3, 1)),
    (np.float32, (9, 4, 3, 3), 2, 1),       # float32, few channels: sparser splits too
    (np.float32, (6, 5, 5, 5), 2, 2),
])
def test_stride_phases_leave_the_zero_taps_out(rng, monkeypatch, dtype, w_shape, stride, padding):
    """A strided layer split into stride-1 phases pads each phase's kernel
    with zero taps, over pixels the true windows never reach: an inf there
    must not make NaNs (0 * inf), so those taps are never multiplied."""
    x = rng.standard_normal((2, w_shape[1], 23, 21)).astype(dtype)
    weight = rng.standard_normal(w_shape).astype(dtype)
    x[0, 0, 10, 10] = np.inf
    x[1, -1, 7, 12] = -np.inf
    x[1, 0, 15, 3] = np.nan
    calls = _count_calls(monkeypatch, "tiled_forward")
    got = cyconv.conv2d(x, weight, None, stride, padding)
    assert calls == ["tiled_forward"]
    pads = _pads(padding, w_shape, 1)
    want = conv2d_reference(x, weight, None, _pair(stride), pads, (1, 1), 1)
    _assert_same_values(got, want)
    assert np.isfinite(want).mean() > 0.5


def test_tiled_kernel_refuses_taps_outside_the_kernel():
    """Its offsets are computed from the tap indices, then read without bounds checks."""
    x = np.zeros((1, 2, 6, 6))
    out = np.empty((1, 8, 4, 4))
    packed = np.zeros((1, 1, 3, _layers._tiled.CONV_BLOCK))
    for taps, phases, taps_per_pass in (([0, 5, 18], (1, 1), 3), ([0, 5, -1], (1, 1), 3),
                                        ([0, 5], (1, 1), 3), ([0, 5, 17], (1, 1), 0),
                                        ([0, 5, 36], (2, 1), 3), ([0, 5, 17], (0, 1), 3)):
        with pytest.raises(ValueError, match="tap|phases"):
            _layers._tiled.tiled_forward(x, packed, np.array(taps, np.intp), np.empty(0), out,
                                           (3, 3), phases, (0, 0), (1, 1), 1, 4, taps_per_pass, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_weights_hold_the_chosen_taps_block_by_block(rng, dtype):
    """packed[g, b, t, r] is the weight of tap taps[t] for output channel
    b * CONV_BLOCK + r of group g, zero past the group's channels, from
    weights of any layout and type."""
    block = _layers._tiled.CONV_BLOCK
    weight = rng.standard_normal((2 * (block + 3), 3, 2, 3))
    taps = np.array([0, 4, 5, 17], np.intp)
    flat = weight.reshape(2, block + 3, -1)
    want = np.zeros((2, 2, len(taps), block), dtype)
    for group, b, t, r in np.ndindex(want.shape):
        if b * block + r < block + 3:
            want[group, b, t, r] = flat[group, b * block + r, taps[t]]
    for layout in (weight, np.asfortranarray(weight), weight.astype(">f8")):
        got = _layers._packed_weight(layout, 2, np.dtype(dtype), 2, taps)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)
    flipped = weight[:, :, ::-1, ::-1]
    all_taps = _layers._packed_weight(flipped, 2, np.dtype(dtype), 1,
                                      np.arange(flipped[0].size, dtype=np.intp))
    np.testing.assert_array_equal(all_taps[0, 0, :, 0],
                                  flipped[0].reshape(-1).astype(dtype))


def test_weight_packing_refuses_taps_outside_the_kernel_and_wrong_shapes():
    block = _layers._tiled.CONV_BLOCK
    weight = np.zeros((1, block + 1, 6))
    for taps, packed_shape in (([0, 6], (1, 2, 2, block)), ([-1, 2], (1, 2, 2, block)),
                               ([0, 1], (1, 1, 2, block)), ([0, 1], (1, 2, 3, block)),
                               ([0, 1], (2, 2, 2, block)), ([0, 1], (1, 2, 2, block + 1))):
        with pytest.raises(ValueError, match="tap|packed"):
            _layers._tiled.pack_weight(weight, np.array(taps, np.intp), np.zeros(packed_shape),
                                         1)


def test_winograd_weight_transform_refuses_packed_weights_of_another_shape():
    block = _layers._tiled.CONV_BLOCK
    weight = np.zeros((block + 1, 3, 3, 3))
    for packed_shape, groups in (((16, 2, 3, block), 0), ((16, 2, 3, block), 3),
                                 ((16, 1, 3, block), 1), ((16, 2, 2, block), 1),
                                 ((16, 2, 3, block + 1), 1)):
        with pytest.raises(ValueError, match="groups|packed"):
            _layers._winograd.winograd_weight(weight, np.zeros(packed_shape), groups, 1)
    with pytest.raises(ValueError, match="packed"):
        _layers._winograd.winograd_weight(np.zeros((block, 3, 5, 5)),
                                         np.zeros((16, 1, 3, block)), 1, 1)


def test_winograd_kernels_refuse_weights_of_no_tile_size():
    """The tile size comes from the packed weights' values per kernel: 16 or 36."""
    block = _layers._tiled.CONV_BLOCK
    with pytest.raises(ValueError, match="16 or 36"):
        _layers._winograd.winograd_weight(np.zeros((block, 2, 3, 3)),
                                         np.zeros((25, 1, 2, block)), 1, 1)
    with pytest.raises(ValueError, match="16 or 36"):
        _layers._winograd.winograd_forward(np.zeros((1, 2, 6, 6)), np.zeros((25, 1, 2, block)),
                                          np.empty(0), np.empty((1, block, 6, 6)), (1, 1), 1, 1,
                                          2, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_weight_gradient_of_non_finite_inputs(rng, monkeypatch, always_winograd, dtype):
    """Finite weights keep the input gradient on Winograd; inf and NaN in the
    input send the weight gradient back to the direct sums."""
    x = rng.standard_normal((2, 16, 7, 8)).astype(dtype)
    weight = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    x[1, 3, 0, -1] = np.nan
    x[0, -1, 4, 4] = np.inf
    grad_out = rng.standard_normal((2, 16, 7, 8)).astype(dtype)
    grad_calls = _count_calls(monkeypatch, "winograd_grad_products")
    gemm_calls = _count_calls(monkeypatch, "gemm_backward")
    got = cyconv.conv2d_backward(grad_out, x, weight, padding=1)
    assert grad_calls == ["winograd_grad_products"] and gemm_calls == ["gemm_backward"]
    want = conv2d_backward_reference(grad_out, x, weight, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert not np.isfinite(want[1]).all()
    for got_part, want_part in zip(got, want):
        _assert_same_values(got_part, want_part)


def test_winograd_overflow_falls_back_to_the_direct_sums(rng, monkeypatch, always_winograd):
    """Inputs near the float32 limit: the transformed tiles (differences of
    pixels) overflow where the direct sums of small weights do not."""
    x = np.full((1, 16, 6, 6), 3e38, np.float32)
    x[:, :, 1::2] = -3e38
    weight = np.full((16, 16, 3, 3), 1e-3, np.float32)
    calls = _count_calls(monkeypatch, "tiled_forward")
    gemm_calls = _count_calls(monkeypatch, "gemm_backward")
    out = cyconv.conv2d(x, weight, padding=1)
    assert calls == ["tiled_forward"]
    want = conv2d_reference(x.astype(np.float64), weight.astype(np.float64), None, (1, 1),
                            (1, 1, 1, 1), (1, 1), 1)
    assert np.isfinite(out).all()
    # float32 sums of 144 terms of 3e35 that cancel: errors scale with the terms.
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5 * 144 * 3e35)
    # The weight gradient: sums of 36 terms of 3e35 (grad_out 1e-3).
    grad_out = np.full(out.shape, 1e-3, np.float32)
    grad_weight = cyconv.conv2d_backward(grad_out, x, weight, padding=1)[1]
    assert gemm_calls == ["gemm_backward"]
    want = conv2d_backward_reference(grad_out.astype(np.float64), x.astype(np.float64),
                                     weight.astype(np.float64), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert np.isfinite(grad_weight).all()
    np.testing.assert_allclose(grad_weight, want[1], rtol=1e-4, atol=1e-5 * 36 * 3e35)


def test_winograd_tile_size_by_type(rng, monkeypatch, always_winograd):
    """float32 layers take F(2x2, 3x3) (16 transformed values per kernel),
    float64 layers F(4x4, 3x3) (36), on planes no multiple of either."""
    values = []
    kernel = _layers._winograd.winograd_forward

    def spy(x, packed, *args):
        values.append(packed.shape[0])
        return kernel(x, packed, *args)

    monkeypatch.setattr(_layers._winograd, "winograd_forward", spy)
    for dtype, tolerance in ((np.float32, 1e-4), (np.float64, 1e-12)):
        x, weight, bias = _case_arrays(rng, (2, 32, 9, 11), (34, 16, 3, 3), dtype)
        out = cyconv.conv2d(x, weight, bias, padding=(1, 2), groups=2)
        want = conv2d_reference(x, weight, bias, (1, 1), (1, 1, 2, 2), (1, 1), 2)
        np.testing.assert_allclose(out, want, rtol=tolerance, atol=tolerance)
    assert values == [2 * 16, 2 * 36]


def test_winograd_4x4_in_float32_when_asked(rng, monkeypatch, always_winograd):
    """The fused kernels compile F(4x4, 3x3) for float32 too: right to its
    rounding (transforms scaling by up to 100) when a caller selects it."""
    calls = _count_calls(monkeypatch, "winograd_forward")
    x, weight, bias = _case_arrays(rng, (2, 32, 9, 11), (34, 16, 3, 3), np.float32)
    with _conv_plan.tuned(winograd_size_float32=4):
        out = cyconv.conv2d(x, weight, bias, padding=(1, 2), groups=2)
    want = conv2d_reference(x.astype(np.float64), weight.astype(np.float64),
                            bias.astype(np.float64), (1, 1), (1, 1, 2, 2), (1, 1), 2)
    assert calls == ["winograd_forward"]
    np.testing.assert_allclose(out, want, rtol=1e-3, atol=1e-3)


def test_winograd_float64_overflow_falls_back_to_the_direct_sums(rng, monkeypatch,
                                                                  always_winograd):
    """F(4x4, 3x3)'s transforms scale pixels by up to 100: near the float64
    limit they overflow where the direct sums of small weights do not."""
    x = np.full((1, 16, 9, 9), 1e307)
    x[:, :, 1::2] = -1e307
    weight = np.full((16, 16, 3, 3), 1e-3)
    calls = _count_calls(monkeypatch, "tiled_forward")
    out = cyconv.conv2d(x, weight, padding=1)
    assert calls == ["tiled_forward"]
    assert np.isfinite(out).all()
    want = conv2d_reference(x, weight, None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12 * 144 * 1e304)


@pytest.fixture
def always_pointwise():
    """The register-tiled pointwise kernel for every float32 1x1 layer, in
    chunks of 32 pixels (a whole number of tiles at every instruction set)."""
    with _conv_plan.tuned(pointwise_chunk_pixels=32, pointwise_min_pixels=1):
        yield


@pytest.mark.parametrize("x_shape, w_shape, groups", [
    ((2, 16, 5, 7), (12, 16, 1, 1), 1),       # a partial tile per plane, partial block
    ((1, 12, 8, 9), (10, 6, 1, 1), 2),        # groups, 72 pixels: two chunks and a tail
    ((3, 9, 33, 1), (16, 9, 1, 1), 1),        # whole blocks, a one-pixel tail
    ((1, 40, 8, 8), (8, 40, 1, 1), 1),        # whole tiles only
])
def test_pointwise_kernel_matches_reference(rng, monkeypatch, always_pointwise, x_shape, w_shape,
                                            groups):
    """float32 1x1 layers: forward and input gradient by the pointwise
    kernel, bitwise the same for any workers."""
    x, weight, bias = _case_arrays(rng, x_shape, w_shape, np.float32)
    calls = _count_calls(monkeypatch, "pointwise_forward")
    out = cyconv.conv2d(x, weight, bias, groups=groups)
    want = conv2d_reference(x, weight, bias, (1, 1), (0, 0, 0, 0), (1, 1), groups)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    grad_out = rng.standard_normal(out.shape).astype(np.float32)
    grads = cyconv.conv2d_backward(grad_out, x, weight, groups=groups)
    wants = conv2d_backward_reference(grad_out, x, weight, (1, 1), (0, 0, 0, 0), (1, 1), groups)
    for got_part, want_part in zip(grads, wants):
        np.testing.assert_allclose(got_part, want_part, rtol=1e-4, atol=1e-4)
    assert calls == ["pointwise_forward"] * 2
    for workers in (1, 3):
        np.testing.assert_array_equal(
            cyconv.conv2d(x, weight, bias, groups=groups, workers=workers), out)
        np.testing.assert_array_equal(
            cyconv.conv2d_backward(grad_out, x, weight, groups=groups, workers=workers)[0],
            grads[0])


def test_pointwise_kernel_by_default_on_float32_layers(rng, monkeypatch):
    x, weight, bias = _case_arrays(rng, (1, 24, 24, 24), (16, 24, 1, 1), np.float32)
    calls = _count_calls(monkeypatch, "pointwise_forward")
    out = cyconv.conv2d(x, weight, bias)
    assert calls == ["pointwise_forward"]
    np.testing.assert_allclose(
        out, conv2d_reference(x, weight, bias, (1, 1), (0, 0, 0, 0), (1, 1), 1),
        rtol=1e-5, atol=1e-5)
    cyconv.conv2d(x.astype(np.float64), weight, bias)
    cyconv.conv2d(x[:, :, :6, :6], weight, bias)
    many = np.ones((1, _conv_plan.current_tuning().pointwise_max_channels + 1, 8, 8),
                   np.float32)
    cyconv.conv2d(many, np.ones((4, many.shape[1], 1, 1), np.float32))
    # float64, planes below pointwise_min_pixels, too many channels: GEMM.
    assert calls == ["pointwise_forward"]


@given(
    batch=st.integers(1, 2), groups=st.integers(1, 2), in_per_group=st.integers(3, 20),
    out_per_group=st.integers(6, 20), height=st.integers(1, 10), width=st.integers(1, 10),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_pointwise_kernel_matches_reference(batch, groups, in_per_group, out_per_group,
                                                     height, width, seed):
    """float32 1x1 layers of any plane size (chunks of 40 pixels, off every
    kernel tile: partial tiles inside chunks and at the ends of planes),
    channel counts off the kernel's block, groups."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, groups * in_per_group, height, width)).astype(np.float32)
    weight = rng.standard_normal((groups * out_per_group, in_per_group, 1, 1)).astype(np.float32)
    with pytest.MonkeyPatch.context() as patch, _conv_plan.tuned(
            pointwise_chunk_pixels=40, pointwise_min_pixels=1,
            min_work_items=1):   # or chunks shrink to 32
        calls = _count_calls(patch, "pointwise_forward")
        out = cyconv.conv2d(x, weight, None, groups=groups, workers=2)
        grad_x = cyconv.conv2d_backward(out, x, weight, groups=groups, workers=2)[0]
    assert len(calls) == 2
    np.testing.assert_allclose(out, conv2d_reference(x, weight, None, (1, 1), (0, 0, 0, 0), (1, 1),
                                                     groups), rtol=1e-4, atol=1e-4)
    want = conv2d_backward_reference(out, x, weight, (1, 1), (0, 0, 0, 0), (1, 1), groups)[0]
    np.testing.assert_allclose(grad_x, want, rtol=1e-4, atol=1e-3)


def test_pointwise_kernel_non_finite_values(rng, always_pointwise):
    """Each output is the direct sum over channels: inf and NaN where the reference has them."""
    x, weight, bias = _case_arrays(rng, (2, 16, 6, 7), (9, 16, 1, 1), np.float32)
    x[0, 3, 2, 5] = np.inf
    x[1, 0, 5, 6] = np.nan
    weight[4, 7] = -np.inf
    out = cyconv.conv2d(x, weight, bias)
    _assert_same_values(out, conv2d_reference(x, weight, bias, (1, 1), (0, 0, 0, 0), (1, 1), 1))
    grad_out = rng.standard_normal(out.shape).astype(np.float32)
    grad_x = cyconv.conv2d_backward(grad_out, x, weight)[0]
    _assert_same_values(grad_x, conv2d_backward_reference(grad_out, x, weight, (1, 1),
                                                          (0, 0, 0, 0), (1, 1), 1)[0])


def test_concurrent_calls_match_sequential(rng):
    x, weight, bias = _case_arrays(rng, (4, 8, 20, 20), (8, 8, 3, 3), np.float32)
    expected = cyconv.conv2d(x, weight, bias, padding=1)
    results = [None] * 4

    def work(i):
        results[i] = cyconv.conv2d(x, weight, bias, padding=1, workers=2)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_empty_batch():
    out = cyconv.conv2d(np.ones((0, 2, 5, 5)), np.ones((3, 2, 3, 3)), np.ones(3))
    assert out.shape == (0, 3, 3, 3)
    grad_x, grad_w, grad_b = cyconv.conv2d_backward(np.ones((0, 3, 3, 3)), np.ones((0, 2, 5, 5)),
                                                    np.ones((3, 2, 3, 3)))
    assert grad_x.shape == (0, 2, 5, 5)
    np.testing.assert_array_equal(grad_w, np.zeros((3, 2, 3, 3)))
    np.testing.assert_array_equal(grad_b, np.zeros(3))


@pytest.mark.parametrize("x_shape, kernel, stride, padding, dilation", [
    ((2, 3, 7, 8), 3, 1, 0, 1),
    ((1, 2, 9, 7), (3, 2), (2, 3), (1, 2), (2, 1)),
    ((3, 1, 5, 5), 1, 2, 0, 1),
    ((2, 4, 4, 4), 4, 1, 3, 1),
])
def test_im2col_col2im_match_reference(rng, x_shape, kernel, stride, padding, dilation):
    x = rng.standard_normal(x_shape)
    pairs = [_pair(v) for v in (kernel, stride, padding, dilation)]
    cols = cyconv.im2col(x, kernel, stride, padding, dilation)
    np.testing.assert_array_equal(cols, im2col_reference(x, *pairs))
    np.testing.assert_array_equal(cyconv.im2col(x[0], kernel, stride, padding, dilation), cols[0])
    folded = cyconv.col2im(cols, x_shape[2:], kernel, stride, padding, dilation)
    np.testing.assert_allclose(folded, col2im_reference(cols, x_shape[2:], *pairs), rtol=1e-14)
    np.testing.assert_array_equal(
        cyconv.col2im(cols[0], x_shape[2:], kernel, stride, padding, dilation, workers=1), folded[0])


@given(
    batch=st.integers(1, 3), groups=st.integers(1, 3), in_per_group=st.integers(1, 3),
    out_per_group=st.integers(1, 3), height=st.integers(1, 9), width=st.integers(1, 9),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_matches_reference(batch, groups, in_per_group, out_per_group, height, width,
                                    kernel, stride, padding, dilation, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, groups * in_per_group, height, width))
    weight = rng.standard_normal((groups * out_per_group, in_per_group) + kernel)
    pads = (padding[0], padding[0], padding[1], padding[1])
    out_hw = [(size + 2 * p - d * (k - 1) - 1) // s + 1
              for size, p, d, k, s in zip((height, width), padding, dilation, kernel, stride)]
    if min(out_hw) < 1:
        with pytest.raises(ValueError, match="conv2d"):
            cyconv.conv2d(x, weight, None, stride, padding, dilation, groups)
        return
    out = cyconv.conv2d(x, weight, None, stride, padding, dilation, groups, workers=2)
    np.testing.assert_allclose(
        out, conv2d_reference(x, weight, None, stride, pads, dilation, groups), atol=1e-12)
    grads = cyconv.conv2d_backward(out, x, weight, stride, padding, dilation, groups, workers=2)
    for got, want in zip(grads, conv2d_backward_reference(out, x, weight, stride, pads, dilation,
                                                          groups)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@given(
    batch=st.integers(1, 2), groups=st.integers(1, 2), in_per_group=st.integers(16, 17),
    out_per_group=st.integers(16, 17), height=st.integers(1, 10), width=st.integers(1, 10),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1),
)
def test_property_winograd_matches_reference(batch, groups, in_per_group, out_per_group, height,
                                             width, padding, dtype, seed):
    """3x3 stride-1 layers with 16+ channels per group (the Winograd path):
    forward and gradients, any size, padding and batch."""
    if height + 2 * padding[0] < 3 or width + 2 * padding[1] < 3:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, groups * in_per_group, height, width)).astype(dtype)
    weight = rng.standard_normal((groups * out_per_group, in_per_group, 3, 3)).astype(dtype)
    pads = (padding[0], padding[0], padding[1], padding[1])
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    with _conv_plan.tuned(**WINOGRAD_ON_SMALL_IMAGES):
        out = cyconv.conv2d(x, weight, None, 1, padding, 1, groups, workers=2)
        grads = cyconv.conv2d_backward(out, x, weight, 1, padding, 1, groups, workers=2)
    np.testing.assert_allclose(out, conv2d_reference(x, weight, None, (1, 1), pads, (1, 1),
                                                     groups), rtol=tolerance, atol=tolerance)
    want = conv2d_backward_reference(out, x, weight, (1, 1), pads, (1, 1), groups)
    for got_part, want_part in zip(grads, want):
        np.testing.assert_allclose(got_part, want_part, rtol=10 * tolerance, atol=10 * tolerance)


X = np.ones((1, 4, 6, 6))
W = np.ones((2, 4, 3, 3))


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(x=np.ones((4, 6, 6, 1, 1))), ValueError, "x"),
    (dict(x=np.ones((6, 6))), ValueError, "x"),
    (dict(weight=np.ones((2, 4, 3))), ValueError, "weight"),
    (dict(weight=np.ones((2, 3, 3, 3))), ValueError, "channels"),
    (dict(weight=np.ones((3, 2, 3, 3)), groups=2), ValueError, "groups"),
    (dict(weight=np.ones((2, 4, 0, 3))), ValueError, "weight"),
    (dict(groups=0), ValueError, "groups"),
    (dict(groups=1.5), TypeError, "groups"),
    (dict(stride=0), ValueError, "stride"),
    (dict(stride=(1, -1)), ValueError, "stride"),
    (dict(stride=1.0), TypeError, "stride"),
    (dict(stride=(1, 2, 3)), ValueError, "stride"),
    (dict(dilation=0), ValueError, "dilation"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(padding="full"), ValueError, "padding"),
    (dict(padding=(1, "a")), TypeError, "padding"),
    (dict(padding="same", stride=2), ValueError, "same"),
    (dict(weight=np.ones((2, 4, 7, 3))), ValueError, "kernel"),
    (dict(dilation=3), ValueError, "kernel"),
    (dict(bias=np.ones(3)), ValueError, "bias"),
    (dict(bias=np.ones((2, 1))), ValueError, "bias"),
    (dict(x=np.ones((1, 0, 6, 6)), weight=np.ones((2, 0, 3, 3))), ValueError, "x"),
    (dict(padding=2**62), ValueError, "large"),
    (dict(workers=0), ValueError, "workers"),
    (dict(x=np.array([["a"]])), TypeError, "x"),
])
def test_invalid_arguments(kwargs, error, word):
    arguments = dict(x=X, weight=W)
    arguments.update(kwargs)
    with pytest.raises(error, match=word):
        cyconv.conv2d(**arguments)


@pytest.mark.parametrize("valid, invalid, error", [
    (dict(stride=(1, 1)), dict(stride=(1, 1.0)), TypeError),
    (dict(groups=1), dict(groups=1.0), TypeError),
    (dict(padding=(1, 1)), dict(padding=[1, -1]), ValueError),
])
def test_checks_remembered_for_a_layer_refuse_equal_invalid_arguments(valid, invalid, error):
    """The checks of a layer are done once for it; an argument equal to a
    valid one but invalid itself (1.0 == 1) is still refused."""
    cyconv.conv2d(X, W, **valid)
    with pytest.raises(error):
        cyconv.conv2d(X, W, **invalid)


def test_invalid_backward_arguments():
    with pytest.raises(ValueError, match="grad_output"):
        cyconv.conv2d_backward(np.ones((1, 2, 3, 3)), X, W)
    with pytest.raises(TypeError, match="grad_output"):
        cyconv.conv2d_backward(np.ones((1, 2, 4, 4), dtype=complex), X, W)
    with pytest.raises(ValueError, match="workers"):
        cyconv.conv2d_backward(np.ones((1, 2, 4, 4)), X, W, workers=0)


@pytest.mark.parametrize("call, error, word", [
    (lambda: cyconv.im2col(np.ones((6, 6)), 2), ValueError, "x"),
    (lambda: cyconv.im2col(X, 0), ValueError, "kernel_size"),
    (lambda: cyconv.im2col(X, 7), ValueError, "im2col"),
    (lambda: cyconv.im2col(X, 2, padding=-1), ValueError, "padding"),
    (lambda: cyconv.im2col(np.ones((1, 4, 0, 6)), 1), ValueError, "x"),
    (lambda: cyconv.col2im(np.ones((1, 8, 24)), 6, 2), ValueError, "sliding blocks"),
    (lambda: cyconv.col2im(np.ones((1, 7, 25)), 6, 2), ValueError, "divisible"),
    (lambda: cyconv.col2im(np.ones((8, 25)), 0, 2), ValueError, "output_size"),
    (lambda: cyconv.col2im(np.ones((8, 25)), 6, 2, workers=0), ValueError, "workers"),
    (lambda: cyconv.col2im(np.ones(8), 6, 2), ValueError, "cols"),
])
def test_invalid_im2col_col2im_arguments(call, error, word):
    with pytest.raises(error, match=word):
        call()


torch_cases = pytest.mark.parametrize(
    "x_shape, w_shape, stride, padding, dilation, groups", CASES)


@torch_cases
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch_forward_and_autograd(rng, x_shape, w_shape, stride, padding, dilation,
                                            groups, dtype):
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    x, weight, bias = _case_arrays(rng, x_shape, w_shape, dtype)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    expected = torch.nn.functional.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    out = cyconv.conv2d(x, weight, bias, stride, padding, dilation, groups)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=tol, atol=tol)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    expected.backward(torch.tensor(grad_out))
    grads = cyconv.conv2d_backward(grad_out, x, weight, stride, padding, dilation, groups)
    for got, want in zip(grads, (tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    (3, 1, 0, 1), ((2, 3), (2, 1), (1, 0), (1, 2)), (1, 3, 2, 1),
])
def test_matches_torch_unfold_and_fold(rng, kernel, stride, padding, dilation):
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    cols = cyconv.im2col(x, kernel, stride, padding, dilation)
    expected = torch.nn.functional.unfold(torch.tensor(x), kernel, dilation, padding, stride)
    np.testing.assert_array_equal(cols, expected.numpy())
    folded = cyconv.col2im(cols, (8, 9), kernel, stride, padding, dilation)
    expected = torch.nn.functional.fold(expected, (8, 9), kernel, dilation, padding, stride)
    np.testing.assert_allclose(folded, expected.numpy(), rtol=1e-6)


def test_torch_rejects_what_cyconv_rejects():
    torch = pytest.importorskip("torch", reason="torch is an optional cross-check")
    for kwargs in (dict(padding="same", stride=2), dict(dilation=3), dict(padding=-1)):
        with pytest.raises((RuntimeError, ValueError)):
            torch.nn.functional.conv2d(torch.tensor(X), torch.tensor(W), **kwargs)
        with pytest.raises(ValueError):
            cyconv.conv2d(X, W, **kwargs)
