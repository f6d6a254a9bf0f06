"""The conv2d plan: the chooser's table, forced algorithms against the reference."""
import numpy as np
import pytest

import cyconv
from cyconv import _conv_plan
from reference import conv2d_backward_reference, conv2d_reference

F32, F64 = np.float32, np.float64

# (x shape, weight shape, conv2d arguments, dtype, pass, algorithm, words of
# the reason or of a refusal).  Every candidate accepts in some row and
# refuses for each of its reasons in another.
TABLE = [
    # depthwise: one input channel per group, strided or on rows that fill
    # few of the direct kernel's lanes.
    ((1, 96, 112, 112), (96, 1, 3, 3), dict(stride=2, padding=1, groups=96), F32, "forward",
     "depthwise", "each vector holds one pixel"),
    # Rows of 17 fill at most 0.71 of the direct kernel's lanes at every SIMD level.
    ((1, 64, 17, 17), (64, 1, 5, 5), dict(padding=2, groups=64), F32, "forward",
     "depthwise", "each vector holds one pixel"),
    ((1, 32, 112, 112), (32, 1, 3, 3), dict(padding=1, groups=32), F32, "forward", "direct",
     "less than depthwise_min_lane_gain"),
    ((1, 2, 16, 16), (64, 1, 3, 3), dict(padding=1, groups=2), F32, "forward", "tiled",
     "32 output channels per group is more than direct_max_channel_product"),
    ((2, 4, 9, 9), (4, 4, 5, 5), {}, F64, "forward", "direct",
     "4 input channels per group: the depthwise kernel reads one"),
    # Its input gradient is the transposed layer, the output gradient spread
    # stride apart; the weight gradient follows it.
    ((1, 96, 112, 112), (96, 1, 3, 3), dict(stride=2, padding=1, groups=96), F32, "grad_input",
     "depthwise", "(of the transposed layer)"),
    ((1, 96, 112, 112), (96, 1, 3, 3), dict(stride=2, padding=1, groups=96), F32,
     "grad_weight", "depthwise", "each vector holds one pixel"),
    ((2, 3, 17, 13), (6, 1, 5, 4), dict(stride=2, groups=3), F32, "grad_input", "direct",
     "an input channel's gradient would sum across lanes"),
    ((2, 16, 9, 9), (16, 1, 5, 5), dict(stride=2, padding=5, groups=16), F32, "grad_input",
     "direct", "would need negative padding"),
    # direct: few channels per group, every pass.
    ((1, 32, 112, 112), (32, 1, 3, 3), dict(padding=1, groups=32), F32, "forward", "direct",
     "1 x 1 channels per group"),
    ((1, 32, 112, 112), (32, 1, 3, 3), dict(padding=1, groups=32), F32, "grad_input", "direct",
     "1 x 1 channels per group"),
    ((1, 32, 112, 112), (32, 1, 3, 3), dict(padding=1, groups=32), F32, "grad_weight", "direct",
     "with the input gradient"),
    ((2, 4, 9, 9), (4, 4, 5, 5), {}, F64, "forward", "direct", "4 x 4 channels"),
    ((2, 8, 9, 9), (8, 8, 3, 3), dict(padding=1), F64, "forward", "tiled",
     "8 x 8 channels per group is more than direct_max_channel_product=16"),
    # winograd: F(2x2) in float32, F(4x4) in float64, and each cost refusal.
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), F32, "forward", "winograd",
     "F(2x2, 3x3)"),
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), F64, "forward", "winograd",
     "F(4x4, 3x3)"),
    ((8, 8, 32, 32), (8, 8, 3, 3), dict(padding=1), F32, "forward", "tiled",
     "fewer than winograd_min_channels"),
    ((1, 2048, 8, 512), (2048, 2048, 3, 3), dict(padding=1), F32, "forward", "tiled",
     "one row of tiles needs"),
    ((8, 512, 14, 14), (512, 512, 3, 3), dict(padding=1), F32, "forward", "winograd",
     "F(2x2, 3x3)"),
    ((1, 16, 2, 64), (16, 16, 3, 3), dict(padding=1), F32, "forward", "tiled",
     "fewer than winograd_min_items"),
    # Two columns: at least 0.89 of the direct multiplies for any tile of pixels,
    # and 8 images make enough work items whatever an item holds.
    ((8, 16, 29, 2), (16, 16, 3, 3), dict(padding=1), F32, "forward", "tiled",
     "more than winograd_max_work"),
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1, dilation=2), F32, "forward", "tiled",
     "Winograd is built for 3x3 kernels"),
    # tiled and its refusals.
    ((2, 8, 20, 20), (8, 8, 5, 5), dict(padding=2), F32, "forward", "tiled",
     "every tap is a fixed offset"),
    ((1, 8, 32, 32), (8, 8, 1, 1), {}, F32, "forward", "pointwise",
     "a 1x1 kernel needs no im2col copy"),
    # Output planes of one register tile at every SIMD level.
    ((2, 8, 4, 4), (8, 8, 3, 3), {}, F32, "forward", "gemm",
     "register tile(s), fewer than tiled_min_tiles"),
    ((1, 64, 4, 4), (64, 64, 4, 4), dict(stride=2, padding=1), F32, "forward", "gemm",
     "register tile(s), fewer than tiled_min_tiles"),
    # tiled_phases and its refusals.
    ((1, 3, 224, 224), (64, 3, 7, 7), dict(stride=2, padding=3), F32, "forward",
     "tiled_phases", "4 stride-1 phases with 4x4 kernels"),
    ((1, 8, 32, 32), (8, 8, 2, 2), dict(stride=2), F32, "forward", "gemm",
     "its phase kernels are 1x1"),
    ((1, 128, 32, 32), (128, 128, 3, 3), dict(stride=2), F32, "forward", "gemm",
     "1.78 times the layer's taps"),
    ((1, 8, 32, 32), (8, 8, 3, 3), dict(stride=2), F64, "forward", "gemm",
     "more than 1.35"),
    ((1, 8, 32, 32), (8, 8, 3, 3), dict(stride=2, dilation=2), F32, "forward", "gemm",
     "needs a stride above 1 and dilation 1"),
    # pointwise and its refusals; gemm on the input as its own column matrix.
    ((8, 256, 56, 56), (64, 256, 1, 1), {}, F32, "forward", "pointwise",
     "256 input channels"),
    ((1, 8, 32, 32), (8, 8, 1, 1), {}, F64, "forward", "gemm", "float64: one GEMM per tile"),
    ((1, 300, 32, 32), (8, 300, 1, 1), {}, F32, "forward", "gemm",
     "more than pointwise_max_channels"),
    ((1, 8, 6, 6), (8, 8, 1, 1), {}, F32, "forward", "gemm",
     "fewer than pointwise_min_pixels"),
    ((1, 8, 32, 32), (8, 8, 1, 1), {}, F64, "forward", "gemm", "its own column matrix"),
    ((1, 8, 32, 32), (8, 8, 1, 1), dict(stride=2), F32, "forward", "pointwise",
     "subsampled by (2, 2) first"),
    ((1, 8, 32, 32), (8, 8, 1, 1), dict(padding=1), F32, "forward", "gemm",
     "needs a 1x1 kernel and no padding"),
    ((1, 64, 32, 32), (64, 64, 3, 3), dict(stride=2, padding=1), F64, "forward", "gemm",
     "im2col of a tile of output rows"),
    # The input gradient: the forward algorithms on the transposed layer.
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), F32, "grad_input", "winograd",
     "of the transposed layer"),
    ((2, 8, 20, 20), (8, 8, 5, 5), dict(padding=2), F32, "grad_input", "tiled",
     "of the transposed layer"),
    ((8, 256, 56, 56), (64, 256, 1, 1), {}, F32, "grad_input", "pointwise",
     "64 input channels per group"),
    ((1, 8, 32, 32), (8, 8, 3, 3), dict(padding=3), F32, "grad_input", "gemm",
     "negative padding"),
    ((1, 64, 32, 32), (64, 64, 3, 3), dict(stride=2, padding=1), F32, "grad_input", "gemm",
     "the transposed layer is not stride 1"),
    ((1, 8, 32, 32), (8, 8, 1, 1), {}, F64, "grad_input", "gemm",
     "a 1x1 kernel's transposed layer is pointwise"),
    # The weight gradient.
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), F32, "grad_weight", "winograd",
     "its products are GEMMs"),
    ((2, 8, 20, 20), (8, 8, 5, 5), dict(padding=2), F32, "grad_weight", "gemm",
     "Winograd is built for 3x3 kernels"),
    ((1, 64, 32, 32), (64, 64, 3, 3), dict(stride=2, padding=1), F32, "grad_weight", "gemm",
     "with the input gradient"),
    ((8, 256, 56, 56), (64, 256, 1, 1), {}, F32, "grad_weight", "gemm", "summed over tiles"),
]


def _words(plan):
    return " ".join([plan.reason] + [reason for _, reason in plan.refused])


@pytest.mark.parametrize("x_shape, w_shape, kwargs, dtype, which, algorithm, words", TABLE)
def test_chooser_table(x_shape, w_shape, kwargs, dtype, which, algorithm, words):
    plan = cyconv.conv2d_plan(x_shape, w_shape, dtype=dtype, which=which, **kwargs)
    assert plan.algorithm == algorithm, str(plan)
    assert words in str(plan), str(plan)
    assert plan.which == which
    refused = [name for name, _ in plan.refused]
    assert algorithm not in refused and len(set(refused)) == len(refused)


def test_every_reason_and_algorithm_is_in_the_table():
    """Each algorithm is chosen in some row, for each pass it serves."""
    chosen = {(row[4], row[5]) for row in TABLE}
    for algorithm in _conv_plan.ALGORITHMS:
        assert ("forward", algorithm) in chosen
    for algorithm in ("depthwise", "direct", "winograd", "tiled", "pointwise", "gemm"):
        assert ("grad_input", algorithm) in chosen
    for algorithm in ("depthwise", "direct", "winograd", "gemm"):
        assert ("grad_weight", algorithm) in chosen


def test_plan_shows_its_fallbacks():
    plan = cyconv.conv2d_plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    assert plan.fallbacks == (("tiled", _conv_plan.NON_FINITE_OUTPUT),)
    grad_input = cyconv.conv2d_plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1,
                                    which="grad_input")
    assert [name for name, _ in grad_input.fallbacks] == ["gemm", "tiled"]
    assert "falls back to gemm where a weight is inf or NaN" in str(grad_input)
    assert cyconv.conv2d_plan((2, 8, 9, 9), (8, 8, 3, 3), stride=2).fallbacks == ()
    depthwise = cyconv.conv2d_plan((1, 96, 112, 112), (96, 1, 3, 3), stride=2, padding=1,
                                   groups=96, which="grad_input")
    assert depthwise.fallbacks == (("direct", _conv_plan.NON_FINITE_WEIGHT),)


def test_tuning_changes_the_choice_for_the_with_block_only():
    shape = ((2, 8, 20, 20), (8, 8, 5, 5))
    with _conv_plan.tuned(tiled_max_copy_bytes=0) as tuning:
        assert tuning.tiled_max_copy_bytes == 0
        plan = cyconv.conv2d_plan(*shape, padding=2)
        assert plan.algorithm == "gemm"
        assert "more than tiled_max_copy_bytes=0" in _words(plan)
    assert cyconv.conv2d_plan(*shape, padding=2).algorithm == "tiled"


def test_forced_waives_cost_refusals_only():
    with _conv_plan.forced("direct"):
        plan = cyconv.conv2d_plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    assert plan.algorithm == "direct" and plan.reason.startswith("forced")
    with _conv_plan.forced("winograd"):
        small = cyconv.conv2d_plan((1, 4, 5, 5), (4, 4, 3, 3), padding=1)
        five = cyconv.conv2d_plan((1, 32, 9, 9), (32, 32, 5, 5), padding=2)
    assert small.algorithm == "winograd"        # 4 channels: a cost refusal, waived
    assert five.algorithm == "gemm"             # 5x5: Winograd cannot
    assert ("direct", "not forced") in five.refused
    assert "Winograd is built for 3x3 kernels" in _words(five)


def test_plan_errors():
    with pytest.raises(ValueError, match="which"):
        cyconv.conv2d_plan((1, 3, 8, 8), (4, 3, 3, 3), which="backward")
    with pytest.raises(ValueError, match="algorithm"):
        with _conv_plan.forced("fft"):
            pass
    with pytest.raises(ValueError, match="groups"):
        cyconv.conv2d_plan((1, 3, 8, 8), (4, 3, 3, 3), groups=2)
    with pytest.raises(ValueError, match="output would be empty"):
        cyconv.conv2d_plan((1, 3, 2, 2), (4, 3, 3, 3))
    with pytest.raises(TypeError):
        cyconv.conv2d_plan((1, 3, 8, 8), (4, 3, 3, 3), dtype=np.complex64)


def test_plan_of_unbatched_and_integer_inputs():
    plan = cyconv.conv2d_plan((3, 8, 8), (4, 3, 3, 3), dtype=np.int16)
    assert plan.layer.dtype == np.float64 and plan.layer.x_shape == (1, 3, 8, 8)


# Layers on which each algorithm can run, forced, for every pass it serves.
FORCED_LAYERS = [
    ((2, 16, 9, 11), (20, 16, 3, 3), dict(padding=1)),
    ((2, 6, 13, 12), (8, 6, 7, 7), dict(stride=2, padding=3)),
    ((2, 12, 7, 9), (10, 12, 1, 1), {}),
    ((2, 12, 11, 8), (10, 12, 1, 1), dict(stride=(2, 3))),
    ((2, 3, 17, 13), (6, 1, 5, 4), dict(stride=(3, 2), padding=(2, 1), groups=3)),
    ((1, 6, 10, 8), (10, 3, 3, 3), dict(padding=(0, 2), groups=2)),
    ((2, 4, 11, 10), (4, 4, 3, 2), dict(padding=2, dilation=(2, 1))),
    # Depthwise: a partial block of channels, rows wider than a vector (and
    # a last column the kernel never reads), narrower ones, dilation.
    ((3, 20, 9, 6), (20, 1, 3, 3), dict(padding=(1, 2), dilation=(2, 1), groups=20)),
    ((1, 5, 6, 40), (5, 1, 3, 7), dict(stride=(1, 2), groups=5)),
    ((2, 4, 9, 12), (4, 1, 2, 3), dict(stride=2, groups=4)),
]


# The passes each algorithm serves.
SERVES = {
    "depthwise": set(_conv_plan.PASSES), "direct": set(_conv_plan.PASSES), "winograd": set(_conv_plan.PASSES),
    "tiled": {"forward", "grad_input"}, "tiled_phases": {"forward"},
    "pointwise": {"forward", "grad_input"}, "gemm": set(_conv_plan.PASSES),
}


def _runs(algorithm, x_shape, w_shape, kwargs, dtype):
    """The passes on which a forced ``algorithm`` runs for this layer."""
    with _conv_plan.forced(algorithm):
        return [which for which in _conv_plan.PASSES
                if cyconv.conv2d_plan(x_shape, w_shape, dtype=dtype, which=which,
                                      **kwargs).algorithm == algorithm]


@pytest.mark.parametrize("algorithm", _conv_plan.ALGORITHMS)
@pytest.mark.parametrize("dtype, tolerance", [(F32, 2e-4), (F64, 1e-11)])
def test_every_algorithm_forced_matches_the_reference(rng, algorithm, dtype, tolerance):
    """Forced on every layer it can compute, each algorithm gives the
    reference's forward and gradients, bitwise the same for any workers."""
    ran = set()
    for x_shape, w_shape, kwargs in FORCED_LAYERS:
        passes = _runs(algorithm, x_shape, w_shape, kwargs, dtype)
        if not passes:
            continue
        ran.update(passes)
        x = rng.standard_normal(x_shape).astype(dtype)
        weight = rng.standard_normal(w_shape).astype(dtype)
        bias = rng.standard_normal(w_shape[0]).astype(dtype)
        stride = kwargs.get("stride", 1)
        padding = kwargs.get("padding", 0)
        dilation = kwargs.get("dilation", 1)
        groups = kwargs.get("groups", 1)
        args = (stride, padding, dilation, groups)
        pair = [tuple(v) if isinstance(v, tuple) else (v, v) for v in (stride, padding, dilation)]
        pads = (pair[1][0], pair[1][0], pair[1][1], pair[1][1])
        with _conv_plan.forced(algorithm):
            out = cyconv.conv2d(x, weight, bias, *args, workers=1)
            grad_out = rng.standard_normal(out.shape).astype(dtype)
            grads = cyconv.conv2d_backward(grad_out, x, weight, *args, workers=1)
            for workers in (2, 3):
                np.testing.assert_array_equal(
                    cyconv.conv2d(x, weight, bias, *args, workers=workers), out)
                for got, want in zip(cyconv.conv2d_backward(grad_out, x, weight, *args,
                                                            workers=workers), grads):
                    np.testing.assert_array_equal(got, want)
        want = conv2d_reference(x, weight, bias, pair[0], pads, pair[2], groups)
        np.testing.assert_allclose(out, want, rtol=tolerance, atol=tolerance * 10)
        wants = conv2d_backward_reference(grad_out, x, weight, pair[0], pads, pair[2], groups)
        for got, want in zip(grads, wants):
            np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * 30)
    assert ran == SERVES[algorithm]


@pytest.mark.parametrize("dtype, tolerance", [(F32, 2e-4), (F64, 1e-11)])
@pytest.mark.parametrize("pixel_major", [True, False])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", [
    ((5, 6, 4, 3), (10, 3, 3, 3), dict(padding=1, groups=2)),   # several images per GEMM
    ((3, 8, 5, 5), (12, 8, 1, 1), dict(padding=1)),             # 1x1 padded: columns side by side
    ((1, 8, 5, 5), (12, 8, 1, 1), {}),                          # 1x1, one image: blocks in place
    ((1, 4, 9, 7), (7, 4, 2, 3), dict(stride=(2, 1), padding=(1, 0))),   # channel blocks
    ((5, 12, 1, 1), (15, 4, 1, 1), dict(groups=3)),   # one-pixel planes: rows of one GEMM
])
def test_gemm_work_items_of_images_and_channel_blocks(rng, dtype, tolerance, pixel_major,
                                                      x_shape, w_shape, kwargs):
    """Forward GEMMs over several images side by side, and over blocks of the
    output channels (a ragged last block, a partial last group of images),
    give the reference's values, bitwise the same for any workers."""
    x = rng.standard_normal(x_shape).astype(dtype)
    weight = rng.standard_normal(w_shape).astype(dtype)
    bias = rng.standard_normal(w_shape[0]).astype(dtype)
    types = (np.dtype(dtype),) if pixel_major else ()
    plane = cyconv.conv2d_plan(x_shape, w_shape, **kwargs).layer.out_shape[2:]
    # Two images per GEMM (the last group of an odd batch has one).
    with _conv_plan.tuned(forced="gemm", gemm_min_pixels=2 * plane[0] * plane[1],
                          min_work_items=64, gemm_min_channels=2, pixel_major_types=types):
        plan = cyconv.conv2d_plan(x_shape, w_shape, dtype=dtype, **kwargs)
        assert plan.algorithm == "gemm" and plan.settings["pixel_major"] == pixel_major
        assert plan.settings["images"] == min(2, x_shape[0])
        assert plan.settings["channel_blocks"] > 1
        out = cyconv.conv2d(x, weight, bias, workers=1, **kwargs)
        for workers in (2, 3):
            np.testing.assert_array_equal(cyconv.conv2d(x, weight, bias, workers=workers,
                                                        **kwargs), out)
    stride = kwargs.get("stride", 1)
    stride = stride if isinstance(stride, tuple) else (stride, stride)
    padding = kwargs.get("padding", 0)
    padding = padding if isinstance(padding, tuple) else (padding, padding)
    want = conv2d_reference(x, weight, bias, stride,
                            (padding[0], padding[0], padding[1], padding[1]), (1, 1),
                            kwargs.get("groups", 1))
    np.testing.assert_allclose(out, want, rtol=tolerance, atol=tolerance * 10)
