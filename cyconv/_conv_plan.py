"""Which algorithm computes a convolution layer, chosen in one place.

Every pass of a layer (``'forward'``, ``'grad_input'``, ``'grad_weight'``)
walks an ordered list of candidate algorithms, most specialised first (as
oneDNN's ``cpu_convolution_list.cpp``).  A candidate either builds its whole
configuration from the layer's shapes or refuses with a reason; the first
that accepts is the `ConvPlan`.  ``gemm`` (im2col + GEMM) accepts every
layer, so the list always ends in a plan.

A refusal is either a limit of the algorithm (Winograd computes 3x3 kernels
only) or a cost judgement (Winograd's padded tiles would waste what it
saves); `forced` overrides the second kind only, so that tests and users can
run any algorithm on every layer it can compute.  The tuning values behind
the judgements are fields of one `Tuning`, each with the measurement behind
it; `tuned` replaces some of them for the calls in its ``with`` block.

The choice depends on shapes, the dtype and the tuning only, never on the
thread count: results are bitwise the same for any ``workers``.  Two choices
depend on the data and show as the plan's ``fallback``: Winograd's
transforms can make inf or NaN of finite sums (they then rerun on the
``tiled`` kernel, or ``gemm`` for the weight gradient), and the ``tiled``
input gradient multiplies every weight by padding zeros, so a weight that is
inf or NaN sends it to ``gemm``.
"""
import contextlib
import contextvars
import dataclasses
import functools
import math
import types
from collections import namedtuple

import numpy as np

from cyconv import _simd

# Kernel modules whose vector sizes enter the costs: the tiled kernel's tile
# of pixels sizes Winograd's work items, the depthwise kernel's vector is its
# block of channels and the direct kernel computes rows in whole tiles.
_TILED = _simd.kernels("conv_tiled")
_DEPTHWISE = _simd.kernels("conv_depthwise")
_DIRECT = _simd.kernels("conv_direct")

ALGORITHMS = ("depthwise", "direct", "winograd", "tiled", "tiled_phases", "pointwise", "gemm")
PASSES = ("forward", "grad_input", "grad_weight")

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


@dataclasses.dataclass(frozen=True)
class Tuning:
    """The values the candidates judge cost by (measured on a 2-core AMD EPYC).

    ``forced``: names of algorithms whose cost refusals are waived (the
    first of them that can compute the layer runs); empty for the cost model.
    """

    # Per-thread column buffer: bounded, and small enough to stay in the L3
    # cache between im2col writing it and the GEMM reading it.
    column_buffer_bytes: int = 4 << 20
    # Below this many (image, tile) items per call, images are split into tiles.
    min_work_items: int = 8
    # Channels per group (in * out) up to which the direct kernel beats a GEMM.
    direct_max_channel_product: int = 16
    # Depthwise layers: a work item's packed band of input rows and its
    # outputs fill at most this much.  Every band packs the kernel's halo
    # rows again: on EfficientNet-B0's depthwise layers (batch 1, float32, 1
    # and 2 threads) bands of 4-40 KiB ran 1.1-1.9x the time of 100-500 KiB
    # ones, which were within 15% of each other.
    depthwise_band_bytes: int = 256 << 10
    # Stride-1 depthwise layers stay with the direct kernel, which reuses
    # each loaded vector across four output rows, unless its rows (whole
    # tiles of two vectors) fill less than this share of the lanes that the
    # depthwise kernel's blocks of channels fill.  Forced on 28 layers
    # (float32 and float64, 7x7 to 224x224 planes, 1 to 1152 channels, 1 and
    # 2 threads): the direct kernel ran 1.2-1.6x as fast on 24- to 64-pixel
    # rows that fill its tiles, the two were within 25% of each other on
    # rows that fill 7/8, and the depthwise kernel ran 1.3-1.9x as fast on
    # float32 rows of 7 and 14 pixels (a fill of 7/32 and 7/16).
    depthwise_min_lane_gain: float = 4 / 3
    # Stride-1 layers: images zero-padded at a time (at least one) fill at most
    # this much, and a work item covers about this many output pixels per channel.
    padded_images_bytes: int = 32 << 20
    tiled_item_pixels: int = 512
    # Layers whose padded image (split into its stride phases or not) would pass
    # this take the im2col + GEMM path, whose buffers stay bounded.
    tiled_max_copy_bytes: int = 256 << 20
    # The tiled kernels sum every tap over a whole work item before the next;
    # an output plane (its rows padded to the kernel's width) of fewer
    # register tiles leaves too little work per tap.  float32, AVX-512, 1
    # thread: 4x4 outputs of 4x4 stride-2 layers (one tile, 256-512
    # channels) ran 2.5x (batch 8) and 6.9x (batch 1) the GEMM's time; 8x8
    # outputs (three tiles) 1.06x; 16x16 (nine) 0.73x; stride-1 7x7 outputs
    # of 3x3 layers (two tiles, 512 channels) 1.05-1.3x, 8x8 (three, 64
    # channels) 0.69x, LeNet's 10x10 (five, 6 channels) 0.43x.
    tiled_min_tiles: int = 2
    # Input a pass of the tiled kernel reads: held in the L1 cache.
    tiled_pass_bytes: int = 24 << 10
    # 3x3 stride-1 layers with at least this many input and output channels per
    # group use Winograd: F(2x2, 3x3) does 2.25 times fewer multiplies.
    winograd_min_channels: int = 16
    # Output tile size of the forward pass (and of the input gradient), float32
    # and float64.  F(4x4, 3x3) does 1.78 times fewer multiplies than F(2x2,
    # 3x3), but its transforms scale values by up to 100 (against 4): float64
    # absorbs the rounding, float32 would not.  The weight gradient is always
    # F(2x2, 3x3).
    winograd_size_float32: int = 2
    winograd_size_float64: int = 4
    # Transformed inputs and products of one Winograd work item, per thread
    # (measured: 512 KiB beat 256 KiB and 1-2 MiB on the benchmark layers).  A
    # layer whose single row of tiles needs 8 times this keeps the tiled kernel.
    winograd_item_bytes: int = 512 << 10
    # Winograd's multiplies (its items padded to whole kernel tiles) against the
    # direct sums': small images waste most of a padded item and stay direct.
    winograd_max_work: float = 0.75
    # Kernel tiles of pixels a Winograd item grows to where its buffers allow
    # (each transformed weight is used once per pixel of the item: one tile
    # streams the weights at a few FLOP per byte).  Items that stay smaller
    # still run Winograd: forced on 14x14 and 28x28 layers of 256-512
    # channels at batch 8, one-tile items ran 1.3-1.6x as fast as the tiled
    # kernel; the 7x7 layers where the tiled kernel wins are refused by
    # winograd_max_work.
    winograd_item_tiles: int = 2
    # Work items a Winograd call needs at least: its items are images by rows of
    # tiles, the tiled kernel's split output channels too (2 threads, 14x14 and
    # 28x28 layers of 128-256 channels: 1 or 2 items ran at 0.55-0.85x the tiled
    # kernel's speed, 3 or 4 at 1.1-1.2x).
    winograd_min_items: int = 3
    # Winograd weight gradients: all partial sums together at most this large
    # (writing and summing them costs a pass over each).
    winograd_grad_slots_bytes: int = 4 << 20
    # Their work items' tiles are the sums of the GEMMs: longer ones run faster,
    # up to buffers of about the L2 cache (measured on the benchmark layers).
    winograd_grad_item_bytes: int = 2 << 20
    # Strided layers split into stride-1 phases for the tiled kernel when the
    # phase kernels, padded to one size, have at most phase_max_waste times the
    # layer's taps (7x7 stride 2: 64/49), or phase_small_max_waste times in
    # float32 layers of up to phase_small_max_channels input channels per group
    # (3x3 stride 2: 16/9, 5x5: 36/25).  The padding taps are never multiplied,
    # but small phase kernels give the tiled kernel little reuse of each input
    # row.  Measured against im2col + GEMM, 2 threads: float32 3x3 stride 2
    # 1.1-1.5x up to 48 channels, 1.0x at 64, 0.4-0.7x at 128-256; 5x5 stride 2
    # 1.4-2.3x up to 96 channels, 0.7-0.95x at 128-256; float64 3x3 and 5x5
    # stride 2 0.6-1.2x.
    phase_max_waste: float = 1.35
    phase_small_max_waste: float = 1.8
    phase_small_max_channels: int = 64
    phase_small_types: tuple = (_F32,)
    # Types whose GEMM forward computes tiles pixel-major (cols^T . weight^T
    # into a buffer transposed out) rather than channel-major (weight . cols
    # straight into the output): none.  On ResNet-50's 1x1 and strided 3x3
    # GEMM layers (float32, batch 1 and 8, 1 and 2 threads) channel-major ran
    # 0.9-1.5x the speed of pixel-major, 1.2x on most; float64 the same.
    pixel_major_types: tuple = ()
    # Pointwise (1x1) layers of these types, with at most this many input
    # channels per group and planes of at least this many pixels, run the
    # register-tiled kernel on the input gathered tile by tile, in work items of
    # up to this many pixels.  Measured against one GEMM per tile on ResNet's 1x1
    # layers, 2 threads: float32 1.05-1.8x with up to 256 input channels (7x7 to
    # 112x112 planes); 0.86-1.2x with 512, 0.89x with 1024; float64 0.84-0.97x.
    pointwise_types: tuple = (_F32,)
    pointwise_max_channels: int = 256
    pointwise_min_pixels: int = 49
    pointwise_chunk_pixels: int = 512
    # Pixels a forward GEMM multiplies at least, from several images where
    # their planes are smaller: OpenBLAS sgemm (one thread, M 256-2048 x K
    # 512-4608) ran at 45-70 GFLOP/s on 49 pixels, 66-78 on 98-196 and 79-90
    # on 392 and more.
    gemm_min_pixels: int = 392
    # Output channels a forward GEMM computes at least when a group's are
    # split between work items (batch-1 layers on small planes).  OpenBLAS
    # packs the whole column matrix again for every block: on ResNet-50's
    # 1x1 and strided 3x3 GEMM layers at batch 1, blocks of 128 ran 1.0-1.2x
    # the speed of blocks of 64 at 1 and 2 threads; blocks of 256 gained a
    # little more at one thread but left 2 threads a single work item on
    # layers of 256 channels (0.6x).
    gemm_min_channels: int = 128
    # Work items the GEMM passes keep at least when they put several images
    # side by side.  On ResNet-50's 7x7 and 14x14 GEMM layers at batch 8 the
    # whole backward pass with 2 ran 1.1-1.9x (1 thread) and 1.2-2.7x (2
    # threads) as fast as one image per GEMM; with 1 (a single item) 2
    # threads lost up to half of that, with 4 either lost 5-20%.  The forward
    # pass of EfficientNet-B0's 7x7 layers of 192 and 320 output channels
    # (one block of gemm_min_channels) ran at 0.4-0.6x torch at 2 threads
    # with a single item.
    gemm_min_items: int = 2
    # Partial weight gradients of the GEMM backward pass: at most this many, this large.
    max_grad_slots: int = 16
    grad_slot_bytes: int = 64 << 20
    forced: tuple = ()

    def __hash__(self):
        # Every plan lookup hashes the tuning: once per object (it is frozen),
        # not a microsecond per call.
        try:
            return self.__dict__["_hash"]
        except KeyError:
            value = hash(dataclasses.astuple(self))
            object.__setattr__(self, "_hash", value)
            return value

    def winograd_size(self, dtype):
        return self.winograd_size_float32 if dtype == _F32 else self.winograd_size_float64


_TUNING = contextvars.ContextVar("cyconv_conv_tuning", default=Tuning())


def current_tuning():
    """The `Tuning` in effect in this thread (or task)."""
    return _TUNING.get()


@contextlib.contextmanager
def tuned(**changes):
    """Run the ``with`` block under the current `Tuning` with ``changes``.

    For tests and experiments, e.g. ``tuned(forced=("winograd",))`` or
    ``tuned(column_buffer_bytes=1)``.  Context-local: other threads keep theirs.
    """
    if "forced" in changes:
        changes["forced"] = _algorithm_names(changes["forced"])
    token = _TUNING.set(dataclasses.replace(_TUNING.get(), **changes))
    try:
        yield _TUNING.get()
    finally:
        _TUNING.reset(token)


def forced(*algorithms):
    """``tuned(forced=algorithms)``: waive the cost refusals of these algorithms."""
    return tuned(forced=algorithms)


def _algorithm_names(names):
    names = (names,) if isinstance(names, str) else tuple(names)
    for name in names:
        if name not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {name!r}; the algorithms are {ALGORITHMS}")
    return names


Layer = namedtuple("Layer", "x_shape weight_shape stride padding dilation groups dtype out_shape")
Layer.__doc__ = """A convolution layer's shapes: what a plan is chosen from.

``padding`` is ((top, bottom), (left, right)); ``out_shape`` the NCHW output."""


def _in_per_group(layer):
    return layer.weight_shape[1]


def _out_per_group(layer):
    return layer.weight_shape[0] // layer.groups


def _kernel(layer):
    return tuple(layer.weight_shape[2:])


def transposed(layer):
    """The stride-1 layer whose forward pass is ``layer``'s input gradient:
    the output gradient padded by ``dilation * (kernel - 1) - padding`` and
    convolved with the flipped kernels, input and output channels swapped
    (None where that padding would be negative)."""
    kernel = _kernel(layer)
    pads = tuple(d * (k - 1) - p for d, k, (p, _) in zip(layer.dilation, kernel, layer.padding))
    if min(pads) < 0:
        return None
    weight_shape = (layer.groups * _in_per_group(layer), _out_per_group(layer)) + kernel
    return Layer(layer.out_shape, weight_shape, (1, 1), tuple((p, p) for p in pads),
                 layer.dilation, layer.groups, layer.dtype, layer.x_shape)


class Refusal(namedtuple("Refusal", "reason limit")):
    """Why a candidate does not take a layer: ``limit`` when it cannot compute
    it at all, else a cost judgement that `forced` waives."""


def _cannot(reason):
    return Refusal(reason, True)


def _costly(reason):
    return Refusal(reason, False)


class ConvPlan:
    """The algorithm a pass of a convolution layer runs, and why.

    Attributes
    ----------
    which : str
        The pass: ``'forward'``, ``'grad_input'`` or ``'grad_weight'``.
    algorithm : str
        One of `ALGORITHMS`.
    settings : dict
        The algorithm's configuration (work-item sizes, tiles, buffers).
    reason : str
        Why it took the layer.
    refused : tuple of (str, str)
        The earlier candidates, each with its reason for refusing.
    fallbacks : tuple of (str, str)
        The algorithms that run instead where the data make this one unfit
        (see the module docstring), each with the condition.
    layer : Layer
        The shapes the plan was made for.

    Examples
    --------
    >>> import cyconv
    >>> plan = cyconv.conv2d_plan((1, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)
    >>> plan.algorithm, plan.settings["phases"]
    ('tiled_phases', (2, 2))
    >>> [name for name, reason in plan.refused]
    ['depthwise', 'direct', 'winograd', 'tiled']
    """

    def __init__(self, which, algorithm, settings, reason, refused, layer, fallbacks=()):
        self.which = which
        self.algorithm = algorithm
        self.settings = types.MappingProxyType(dict(settings))
        self.reason = reason
        self.refused = tuple(refused)
        self.layer = layer
        self.fallbacks = tuple(fallbacks)

    def __repr__(self):
        return f"<ConvPlan {self.which}: {self.algorithm} {self.settings}>"

    def __str__(self):
        layer = self.layer
        settings = ", ".join(f"{key}={value}" for key, value in self.settings.items())
        lines = [
            f"conv2d {self.which} of x {layer.x_shape} {layer.dtype}, weight "
            f"{layer.weight_shape}, stride {layer.stride}, padding {layer.padding}, dilation "
            f"{layer.dilation}, groups {layer.groups}:",
            f"  {self.algorithm} ({settings}): {self.reason}",
        ]
        lines += [f"  falls back to {name} {when}" for name, when in self.fallbacks]
        lines += [f"  refused {name}: {why}" for name, why in self.refused]
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Shared sizes
# --------------------------------------------------------------------------

def padded_image_bytes(channels, out_shape, kernel, dilation, dtype):
    """Bytes of one image as the tiled kernel pads it (rounded up a little)."""
    out_h, out_w = out_shape[2:]
    ld = out_w + dilation[1] * (kernel[1] - 1)
    return channels * (out_h + dilation[0] * (kernel[0] - 1) + 2) * ld * dtype.itemsize


def _tiled_chunks(channels, out_shape, kernel, dilation, dtype, tuning):
    """(images padded at a time, output rows per work item, input channels per
    pass) of the tiled kernel for ``channels`` input channels."""
    batch, _, out_h, out_w = out_shape
    ld = out_w + dilation[1] * (kernel[1] - 1)
    image_bytes = padded_image_bytes(channels, out_shape, kernel, dilation, dtype)
    images = max(1, min(batch, tuning.padded_images_bytes // max(image_bytes, 1)))
    rows = max(1, min(out_h, tuning.tiled_item_pixels // ld))
    pass_rows = rows + dilation[0] * (kernel[0] - 1) + 1
    pass_channels = max(1, tuning.tiled_pass_bytes // (pass_rows * ld * dtype.itemsize))
    return images, rows, pass_channels


def winograd_row_tiles(out_w, size):
    """Tiles the Winograd kernel computes per row of ``size`` x ``size`` tiles:
    one per ``size`` output columns, plus one whose results are discarded
    (see winograd.h)."""
    return -(-out_w // size) + 1


def winograd_row_bytes(in_per_group, out_per_group, out_w, dtype, size):
    """Per-thread buffer bytes of one row of Winograd tiles."""
    return ((size + 2) ** 2 * (in_per_group + out_per_group) * winograd_row_tiles(out_w, size)
            * dtype.itemsize)


def _winograd_item_rows(batch, tiles_h, row_bytes, item_bytes, tuning):
    """Rows of tiles per Winograd work item: its buffers within
    ``item_bytes``, and at least ``min_work_items`` items per call."""
    rows = max(1, min(tiles_h, item_bytes // row_bytes))
    if batch * -(-tiles_h // rows) < tuning.min_work_items:
        rows = max(1, -(-tiles_h * batch // tuning.min_work_items))
    return rows


def _gemm_tile_rows(layer, pointwise, tuning, split_for_threads=True):
    """Output rows per GEMM work item: bounded buffers, and (``split_for_threads``)
    enough items for the threads.

    A tile's buffers are its column matrix (none when pointwise) and, for
    ``pixel_major_types``, its pixel-major GEMM result, each at most
    ``column_buffer_bytes``.
    """
    batch, _, out_h, out_w = layer.out_shape
    depth = 0 if pointwise else _in_per_group(layer) * math.prod(_kernel(layer))
    widest = max(_out_per_group(layer) if layer.dtype in tuning.pixel_major_types else 0,
                 depth, 1)
    rows = min(out_h, max(1, tuning.column_buffer_bytes
                          // (widest * out_w * layer.dtype.itemsize)))
    if split_for_threads and 0 < batch < tuning.min_work_items:
        tiles_per_image = -(-tuning.min_work_items // batch)
        rows = min(rows, -(-out_h // tiles_per_image))
    return rows


def _is_pointwise(layer):
    """1x1 kernel, stride 1, no padding: the input is its own column matrix."""
    return (_kernel(layer) == (1, 1) and layer.stride == (1, 1)
            and layer.padding == ((0, 0), (0, 0)))


# --------------------------------------------------------------------------
# The candidates: each returns (settings, reason) or a Refusal
# --------------------------------------------------------------------------

_DEPTHWISE_REASON = "one input channel per group: each vector holds one pixel of {} channels"


def _one_input_channel(layer):
    """The refusal of a layer with several input channels per group, or None."""
    if _in_per_group(layer) != 1:
        return _cannot(f"{_in_per_group(layer)} input channels per group: the depthwise "
                       "kernel reads one")
    return None


def _depthwise(layer, tuning, spread=(1, 1)):
    """One input channel per group: a vector holds one pixel of a block of
    output channels, whatever the stride or plane size.  ``spread``: the
    input's pixels lie that far apart (the input gradient of a strided layer)."""
    refusal = _one_input_channel(layer)
    if refusal:
        return refusal
    if _out_per_group(layer) > tuning.direct_max_channel_product:
        return _costly(f"{_out_per_group(layer)} output channels per group is more than "
                       f"direct_max_channel_product={tuning.direct_max_channel_product}")
    channels, out_w = layer.out_shape[1], layer.out_shape[3]
    lanes = _DEPTHWISE.VECTOR_BYTES // layer.dtype.itemsize
    if layer.stride == layer.dilation == spread == (1, 1):
        tile = _DIRECT.ROW_TILE_BYTES // layer.dtype.itemsize
        direct_fill = out_w / (-(-out_w // tile) * tile)
        depthwise_fill = channels / (-(-channels // lanes) * lanes)
        if depthwise_fill < tuning.depthwise_min_lane_gain * direct_fill:
            return _costly(f"rows of {out_w} pixels fill {direct_fill:.2f} of the direct "
                           f"kernel's lanes, {channels} channels {depthwise_fill:.2f} of "
                           f"this kernel's: less than depthwise_min_lane_gain="
                           f"{tuning.depthwise_min_lane_gain:.2f} times as many")
    settings = _depthwise_bands(layer, tuning)
    if spread != (1, 1):
        settings["spread"] = spread
    return settings, _DEPTHWISE_REASON.format(lanes)


def _depthwise_bands(layer, tuning):
    """The depthwise kernel's work items: bands of output rows whose packed
    input and outputs fill at most ``depthwise_band_bytes``, split further
    where images by blocks of channels are fewer than ``min_work_items``."""
    (kernel_h, kernel_w), (stride_h, stride_w) = _kernel(layer), layer.stride
    batch, channels, out_h, out_w = layer.out_shape
    lanes = _DEPTHWISE.VECTOR_BYTES // layer.dtype.itemsize
    pixel_bytes = lanes * layer.dtype.itemsize
    band_w = (out_w - 1) * stride_w + (kernel_w - 1) * layer.dilation[1] + 1
    # An item of r output rows packs r * stride_h + halo input rows.
    halo = (kernel_h - 1) * layer.dilation[0] + 1 - stride_h
    row_bytes = (stride_h * band_w + out_w) * pixel_bytes
    rows = (tuning.depthwise_band_bytes - halo * band_w * pixel_bytes) // row_bytes
    items = batch * -(-channels // lanes)
    rows = min(rows, -(-out_h // -(-tuning.min_work_items // items)))
    return {"band_rows": max(1, min(out_h, rows)), "lanes": lanes}


def _depthwise_grad_input(layer, tuning):
    """The depthwise kernel on the transposed layer, its input (the output
    gradient) spread ``stride`` apart."""
    refusal = _one_input_channel(layer)
    if refusal:
        return refusal
    if _out_per_group(layer) != 1:
        return _cannot(f"{_out_per_group(layer)} output channels per group: an input "
                       "channel's gradient would sum across lanes")
    inner = transposed(layer)
    if inner is None:
        return _cannot("the transposed layer would need negative padding")
    result = _depthwise(inner, tuning, spread=layer.stride)
    if isinstance(result, Refusal):
        return result
    settings, reason = result
    return settings, f"{reason} (of the transposed layer)"


def _direct(layer, tuning):
    product = _in_per_group(layer) * _out_per_group(layer)
    if product > tuning.direct_max_channel_product:
        return _costly(f"{_in_per_group(layer)} x {_out_per_group(layer)} channels per group "
                       f"is more than direct_max_channel_product="
                       f"{tuning.direct_max_channel_product}")
    return {}, (f"{_in_per_group(layer)} x {_out_per_group(layer)} channels per group: "
                "one output plane per work item beats a GEMM this narrow")


def _tiled_refusal(layer, tuning):
    if layer.stride != (1, 1):
        return _cannot(f"stride {layer.stride}: the tiled kernel reads every input pixel")
    if _kernel(layer) == (1, 1):
        return _costly("a 1x1 kernel needs no im2col copy: pointwise or gemm is faster")
    image_bytes = padded_image_bytes(layer.x_shape[1], layer.out_shape, _kernel(layer),
                                     layer.dilation, layer.dtype)
    if image_bytes > tuning.tiled_max_copy_bytes:
        return _cannot(f"a padded image of {image_bytes} bytes is more than "
                       f"tiled_max_copy_bytes={tuning.tiled_max_copy_bytes}")
    return None


def _tiled_tiles_refusal(layer, kernel, dilation_w, tuning):
    """Refuses a plane of fewer than ``tiled_min_tiles`` register tiles."""
    out_h, out_w = layer.out_shape[2:]
    row = out_w + dilation_w * (kernel[1] - 1)
    tiles = -(-out_h * row * layer.dtype.itemsize // _TILED.CONV_TILE_BYTES)
    if tiles < tuning.tiled_min_tiles:
        return _costly(f"a {out_h}x{out_w} output plane (rows of {row} pixels) is {tiles} "
                       f"register tile(s), fewer than tiled_min_tiles={tuning.tiled_min_tiles}")
    return None


def _tiled_settings(layer, kernel, channels, tuning):
    images, rows, pass_channels = _tiled_chunks(channels, layer.out_shape, kernel,
                                                layer.dilation, layer.dtype, tuning)
    return {"kernel": kernel, "images_per_copy": images, "rows_per_item": rows,
            "channels_per_pass": pass_channels}


def _tiled(layer, tuning):
    refusal = (_tiled_refusal(layer, tuning)
               or _tiled_tiles_refusal(layer, _kernel(layer), layer.dilation[1], tuning))
    if refusal:
        return refusal
    return (_tiled_settings(layer, _kernel(layer), layer.x_shape[1], tuning),
            "stride 1: every tap is a fixed offset into the zero-padded image, "
            "summed in registers without an im2col copy")


def _winograd(layer, tuning):
    """F(size x size, 3x3) on stride-1 3x3 layers with enough channels and
    pixels to fill its work items; the tiled kernel is its fallback."""
    if _kernel(layer) != (3, 3) or layer.dilation != (1, 1) or layer.stride != (1, 1):
        return _cannot("Winograd is built for 3x3 kernels, stride 1, dilation 1")
    refusal = _tiled_refusal(layer, tuning)
    if refusal:
        return _cannot(f"its fallback, the tiled kernel, refuses: {refusal.reason}")
    size = tuning.winograd_size(layer.dtype)
    return _winograd_rows(layer, size, tuning.winograd_item_bytes, tuning)


def _winograd_rows(layer, size, item_bytes, tuning):
    """Settings of F(size x size, 3x3) on ``layer`` in items of about
    ``item_bytes``, or the refusal."""
    in_per_group, out_per_group = _in_per_group(layer), _out_per_group(layer)
    if min(in_per_group, out_per_group) < tuning.winograd_min_channels:
        return _costly(f"{in_per_group} x {out_per_group} channels per group: fewer than "
                       f"winograd_min_channels={tuning.winograd_min_channels} leave the "
                       "transforms most of the work")
    batch, _, out_h, out_w = layer.out_shape
    tiles_h, row_tiles = -(-out_h // size), winograd_row_tiles(out_w, size)
    row_bytes = winograd_row_bytes(in_per_group, out_per_group, out_w, layer.dtype, size)
    if row_bytes > 8 * item_bytes:
        return _costly(f"one row of tiles needs {row_bytes} bytes, more than 8 x "
                       f"{item_bytes} of a work item")
    rows = _winograd_item_rows(batch, tiles_h, row_bytes, item_bytes, tuning)
    tile = _TILED.CONV_TILE_BYTES // layer.dtype.itemsize

    def slots(rows):
        return -(-rows * row_tiles // tile) * tile

    def short(rows):
        # Too few pixels: each transformed weight is used once per pixel of
        # the item, and one kernel tile streams the weights (far more than
        # the cache holds at 512 channels) at a few FLOP per byte.  Too much
        # padding: the tiles past the last row are computed for nothing.
        return slots(rows) < tuning.winograd_item_tiles * tile or slots(rows) > 1.25 * rows * row_tiles

    while rows < tiles_h and short(rows) and (rows + 1) * row_bytes <= 4 * item_bytes:
        rows += 1
    items = batch * -(-tiles_h // rows)
    if items < tuning.winograd_min_items:
        return _costly(f"{items} work item(s), fewer than "
                       f"winograd_min_items={tuning.winograd_min_items}")
    work = (size + 2) ** 2 * slots(rows) / (9 * min(size * rows, out_h) * out_w)
    if work > tuning.winograd_max_work:
        return _costly(f"its padded tiles cost {work:.2f} of the direct multiplies, more than "
                       f"winograd_max_work={tuning.winograd_max_work}")
    # The products are the tiled kernel with a tap per input channel, over a
    # row of tiles: passes sized as the tiled kernel's.
    pass_taps = max(1, min(in_per_group, tuning.tiled_pass_bytes
                           // (rows * row_tiles * layer.dtype.itemsize)))
    return ({"transform": f"F({size}x{size}, 3x3)", "size": size, "tile_rows": rows,
             "taps_per_pass": pass_taps},
            f"3x3, {in_per_group} x {out_per_group} channels per group: "
            f"{work:.2f} of the direct multiplies")


def _tiled_phases(layer, tuning):
    """A strided layer as the stride-1 layer over its stride_h x stride_w
    phases: the tiled kernel with the phase kernels' zero taps left out."""
    if layer.stride == (1, 1) or layer.dilation != (1, 1):
        return _cannot("needs a stride above 1 and dilation 1")
    kernel, stride = _kernel(layer), layer.stride
    phase_kernel = tuple(-(-k // s) for k, s in zip(kernel, stride))
    if phase_kernel == (1, 1):
        return _costly("its phase kernels are 1x1: gemm needs no copy of a phase")
    waste = math.prod(k * s for k, s in zip(phase_kernel, stride)) / math.prod(kernel)
    small = (layer.dtype in tuning.phase_small_types
             and _in_per_group(layer) <= tuning.phase_small_max_channels)
    limit = tuning.phase_small_max_waste if small else tuning.phase_max_waste
    if waste > limit:
        return _costly(f"its phase kernels have {waste:.2f} times the layer's taps, more than "
                       f"{limit} for {_in_per_group(layer)} input channels per group")
    refusal = _tiled_tiles_refusal(layer, phase_kernel, 1, tuning)
    if refusal:
        return refusal
    channels = layer.x_shape[1] * math.prod(stride)
    split_bytes = padded_image_bytes(channels, layer.out_shape, phase_kernel, (1, 1),
                                     layer.dtype)
    if split_bytes > tuning.tiled_max_copy_bytes:
        return _cannot(f"a split image of {split_bytes} bytes is more than "
                       f"tiled_max_copy_bytes={tuning.tiled_max_copy_bytes}")
    settings = _tiled_settings(layer, phase_kernel, channels, tuning)
    settings["phases"] = stride
    return settings, (f"stride {stride}: {stride[0] * stride[1]} stride-1 phases with "
                      f"{phase_kernel[0]}x{phase_kernel[1]} kernels, {waste:.2f} times "
                      "the taps (the padding taps are never multiplied)")


def _pointwise(layer, tuning):
    """1x1 layers without padding; a strided one on its subsampled input
    (a copy of 1 / (stride_h * stride_w) of it, as gemm's im2col makes)."""
    if _kernel(layer) != (1, 1) or layer.padding != ((0, 0), (0, 0)):
        return _cannot("needs a 1x1 kernel and no padding")
    if layer.dtype not in tuning.pointwise_types:
        return _costly(f"{layer.dtype}: one GEMM per tile is faster")
    if _in_per_group(layer) > tuning.pointwise_max_channels:
        return _costly(f"{_in_per_group(layer)} input channels per group: more than "
                       f"pointwise_max_channels={tuning.pointwise_max_channels} leave the "
                       "L1 cache")
    batch, _, out_h, out_w = layer.out_shape
    plane = out_h * out_w
    if plane < tuning.pointwise_min_pixels:
        return _costly(f"{plane} pixels per plane, fewer than "
                       f"pointwise_min_pixels={tuning.pointwise_min_pixels}")
    chunk = min(tuning.pointwise_chunk_pixels, plane,
                max(32, -(-plane * batch // tuning.min_work_items // 32) * 32))
    reason = (f"1x1, {_in_per_group(layer)} input channels per group: the register tile on "
              "the input gathered tile by tile")
    if layer.stride != (1, 1):
        reason += f", subsampled by {layer.stride} first"
    return {"chunk_pixels": chunk, "subsample": layer.stride}, reason


def _gemm_work_items(layer, pointwise, tuning):
    """(tile_rows, images, channel_blocks) of the forward GEMMs.

    A plane of fewer than ``gemm_min_pixels`` pixels is one row tile, and
    that many pixels' worth of images share a GEMM (not where a 1x1 layer
    would copy them); larger planes keep
    `_gemm_tile_rows`, not split below ``gemm_min_pixels``.  Where that
    leaves fewer than ``min_work_items`` items, each group's output channels
    are split into blocks of at least ``gemm_min_channels``, whose shared
    columns (the whole batch's) may take 4 x ``column_buffer_bytes``.
    """
    batch, _, out_h, out_w = layer.out_shape
    # Several images' columns are copied side by side, a 1x1 layer's too.
    depth = _in_per_group(layer) * math.prod(_kernel(layer))
    widest = max(_out_per_group(layer) if layer.dtype in tuning.pixel_major_types else 0, depth)
    image_bytes = widest * out_h * out_w * layer.dtype.itemsize
    # A pointwise layer's input is its own column matrix: copying images side
    # by side cost more than the wider GEMM gained (the 7x7 and 14x14 1x1
    # layers of ResNet-50 and EfficientNet-B0 at batch 8 ran 1.0-1.2x as fast
    # in place at one thread, 1.0-1.9x at two).  One-pixel planes are the
    # rows of one matrix, with no copy.
    if out_h * out_w < tuning.gemm_min_pixels and (not pointwise or out_h * out_w == 1):
        tile_rows = out_h
        images = min(batch, -(-tuning.gemm_min_pixels // (out_h * out_w)),
                     max(1, tuning.column_buffer_bytes // image_bytes))
    else:
        tile_rows = max(_gemm_tile_rows(layer, pointwise, tuning),
                        min(out_h, -(-tuning.gemm_min_pixels // out_w)))
        images = 1
    items = -(-batch // images) * -(-out_h // tile_rows)
    channel_blocks = 1
    in_place = pointwise and images == 1
    # The blocks share their items' columns, built beforehand: all of them at once.
    shared_bytes = 0 if in_place else layer.groups * depth * batch * out_h * out_w * layer.dtype.itemsize
    if items < tuning.min_work_items and shared_bytes <= 4 * tuning.column_buffer_bytes:
        channel_blocks = max(1, min(-(-tuning.min_work_items // items),
                                    _out_per_group(layer) // tuning.gemm_min_channels))
    if items * channel_blocks < tuning.gemm_min_items and images > 1:
        # Too few channels for blocks: fewer images per GEMM.
        images = max(1, min(images, batch // tuning.gemm_min_items))
    return tile_rows, images, channel_blocks


def _gemm(layer, tuning):
    pointwise = _is_pointwise(layer)
    tile_rows, images, channel_blocks = _gemm_work_items(layer, pointwise, tuning)
    settings = {"tile_rows": tile_rows, "images": images, "channel_blocks": channel_blocks,
                "im2col": not pointwise,
                "pixel_major": layer.dtype in tuning.pixel_major_types}
    reason = ("a 1x1 stride-1 layer is its own column matrix: one GEMM per tile"
              if pointwise else "im2col of a tile of output rows, then one GEMM per group")
    return settings, reason


def gemm_backward_settings(layer, tuning, with_grad_input, with_grad_weight=True):
    """gemm_backward's settings: its tiles, the images whose columns share a
    GEMM, the phases that keep concurrent col2im tiles apart, the blocks of
    input channels, and the slots of partial weight gradients (without
    them, the slots only count the work items that run at once).

    Every GEMM writes a whole weight gradient, summing over its tile's
    pixels: planes of fewer than ``gemm_min_pixels`` are whole tiles, and
    about that many pixels' worth of images go side by side into one GEMM,
    as long as they leave ``gemm_min_items`` work items.  Without the weight
    gradient (a transposed convolution) the images and rows fill the GEMM
    and blocks of input channels make up the work items instead: a GEMM
    with half the rows loses less than one with half the columns.
    """
    batch, _, out_h, out_w = layer.out_shape
    pointwise = _is_pointwise(layer)
    tile_rows = _gemm_tile_rows(layer, pointwise, tuning, split_for_threads=with_grad_weight)
    images = 1
    if out_h * out_w < tuning.gemm_min_pixels:
        tile_rows = out_h
        depth = _in_per_group(layer) * math.prod(_kernel(layer))
        image_bytes = depth * out_h * out_w * layer.dtype.itemsize
        items_kept = tuning.gemm_min_items if with_grad_weight else 1
        images = max(1, min(-(-tuning.gemm_min_pixels // (out_h * out_w)), batch // items_kept,
                            tuning.column_buffer_bytes // image_bytes))
        images = -(-batch // -(-batch // images))   # as many in every item (8: 4 + 4, not 7 + 1)
    phases = 1
    if with_grad_input:
        # Smallest p such that tiles t and t + p never touch the same input row.
        span = layer.dilation[0] * (_kernel(layer)[0] - 1) - layer.stride[0] + 1
        phases = 1 + max(0, -(-span // (tile_rows * layer.stride[0])))
    tiles = -(-out_h // tile_rows)
    items_per_phase = -(-batch // images) * -(-tiles // phases)
    channel_blocks = 1
    if not with_grad_weight:
        channel_blocks = min(_in_per_group(layer), -(-tuning.gemm_min_items // items_per_phase))
        items_per_phase *= channel_blocks
    weight_bytes = math.prod(layer.weight_shape) * layer.dtype.itemsize if with_grad_weight else 1
    slots = max(1, min(items_per_phase, tuning.max_grad_slots,
                       tuning.grad_slot_bytes // weight_bytes))
    return {"tile_rows": tile_rows, "images": images, "im2col": not pointwise or images > 1,
            "phases": phases, "channel_blocks": channel_blocks, "grad_slots": slots}


# --------------------------------------------------------------------------
# The chooser
# --------------------------------------------------------------------------

# Tuning that waives every cost refusal, for forced algorithms.
_WAIVED = dict(direct_max_channel_product=math.inf, winograd_min_channels=0,
               winograd_min_items=0, winograd_max_work=math.inf,
               phase_max_waste=math.inf, phase_small_max_waste=math.inf,
               pointwise_types=(_F32, _F64), pointwise_max_channels=math.inf,
               pointwise_min_pixels=0, tiled_min_tiles=0)


def _walk(which, layer, candidates, tuning):
    """The first of ``candidates`` (name, function) that accepts ``layer``."""
    refused = []
    waived = dataclasses.replace(tuning, **_WAIVED) if tuning.forced else tuning
    for name, candidate in candidates:
        is_forced = name in tuning.forced
        if tuning.forced and not is_forced and name != "gemm":
            refused.append((name, "not forced"))
            continue
        result = candidate(layer, waived if is_forced else tuning)
        if isinstance(result, Refusal):
            refused.append((name, result.reason))
            continue
        settings, reason = result
        return ConvPlan(which, name, settings, f"forced: {reason}" if is_forced else reason,
                        refused, layer)
    raise AssertionError("gemm accepts every layer")


def _transposed_candidate(candidate, needs):
    """An input-gradient candidate: ``candidate`` on the `transposed` layer."""
    def accepts(layer, tuning):
        refusal = needs(layer)
        if refusal:
            return _cannot(refusal)
        inner = transposed(layer)
        if inner is None:
            return _cannot("the transposed layer would need negative padding")
        result = candidate(inner, tuning)
        if isinstance(result, Refusal):
            return result
        settings, reason = result
        return settings, f"{reason} (of the transposed layer)"
    return accepts


def _needs_stride1_kernel(layer):
    if layer.stride != (1, 1):
        return f"stride {layer.stride}: the transposed layer is not stride 1"
    if _kernel(layer) == (1, 1):
        return "a 1x1 kernel's transposed layer is pointwise"
    return None


def _needs_pointwise(layer):
    return None if _is_pointwise(layer) else "needs a 1x1 kernel, stride 1 and no padding"


def _gemm_grad_input(layer, tuning):
    settings = gemm_backward_settings(layer, tuning, with_grad_input=True)
    return settings, "col2im of W^T . grad_output, tile by tile (the weight gradient too)"


def _winograd_grad(layer, tuning):
    """Winograd F(2x2, 3x3) for the weight gradient where the forward pass
    would take Winograd at that size."""
    forward = _winograd(layer, dataclasses.replace(tuning, winograd_size_float32=2,
                                                   winograd_size_float64=2))
    if isinstance(forward, Refusal):
        return forward
    in_per_group = _in_per_group(layer)
    batch, _, out_h, out_w = layer.out_shape
    tiles_h = -(-out_h // 2)
    row_bytes = winograd_row_bytes(in_per_group, _out_per_group(layer), out_w, layer.dtype, 2)
    rows = _winograd_item_rows(batch, tiles_h, row_bytes, tuning.winograd_grad_item_bytes,
                               tuning)
    items = batch * -(-tiles_h // rows)
    slot_bytes = 16 * layer.weight_shape[0] * in_per_group * layer.dtype.itemsize
    slots = max(1, min(items, tuning.max_grad_slots,
                       tuning.winograd_grad_slots_bytes // slot_bytes))
    return ({"transform": "F(2x2, 3x3)", "tile_rows": rows, "grad_slots": slots},
            f"{forward[1]}: its products are GEMMs summing over the tiles")


_FORWARD = (("depthwise", _depthwise), ("direct", _direct), ("winograd", _winograd),
            ("tiled", _tiled), ("tiled_phases", _tiled_phases), ("pointwise", _pointwise),
            ("gemm", _gemm))
_GRAD_INPUT = (
    ("depthwise", _depthwise_grad_input),
    ("direct", _direct),
    ("winograd", _transposed_candidate(_winograd, _needs_stride1_kernel)),
    ("tiled", _transposed_candidate(_tiled, _needs_stride1_kernel)),
    ("pointwise", _transposed_candidate(_pointwise, _needs_pointwise)),
    ("gemm", _gemm_grad_input),
)
# Where the data make a planned algorithm unfit (the fallbacks' conditions).
NON_FINITE_OUTPUT = "where an output comes out inf or NaN (the transforms may have made it)"
NON_FINITE_WEIGHT = ("where a weight is inf or NaN (the transposed layer multiplies every "
                     "weight by padding zeros)")


def _plan_forward(layer, tuning):
    result = _walk("forward", layer, _FORWARD, tuning)
    if result.algorithm == "winograd":
        result.fallbacks = (("tiled", NON_FINITE_OUTPUT),)
    return result


def _plan_grad_input(layer, tuning):
    """The forward algorithms on the `transposed` layer where they apply,
    else gemm_backward."""
    result = _walk("grad_input", layer, _GRAD_INPUT, tuning)
    if result.algorithm == "depthwise":
        result.fallbacks = (("direct", NON_FINITE_WEIGHT),)
    if result.algorithm in ("winograd", "tiled"):
        result.fallbacks = (("gemm", NON_FINITE_WEIGHT),)
    if result.algorithm == "winograd":
        result.fallbacks += (("tiled", NON_FINITE_OUTPUT),)
    return result


def _plan_grad_weight(layer, tuning):
    """Depthwise where the input gradient is; with the input gradient where
    that is direct or gemm (one kernel sums both); else Winograd F(2x2, 3x3)
    where it applies, else gemm."""
    grad_input = _cached_plan(layer, "grad_input", tuning)
    if grad_input.algorithm == "depthwise":
        return ConvPlan("grad_weight", "depthwise", _depthwise_bands(layer, tuning),
                        _DEPTHWISE_REASON.format(grad_input.settings["lanes"]),
                        grad_input.refused, layer,
                        (("direct", f"with the input gradient {NON_FINITE_WEIGHT}"),))
    if grad_input.algorithm in ("direct", "gemm"):
        settings = dict(grad_input.settings)
        return ConvPlan("grad_weight", grad_input.algorithm, settings,
                        "computed with the input gradient, by the same kernel",
                        grad_input.refused, layer)

    def with_gemm(layer, tuning):
        return gemm_backward_settings(layer, tuning, with_grad_input=False), \
            "grad_output . im2col(x)^T, summed over tiles"

    result = _walk("grad_weight", layer, (("winograd", _winograd_grad), ("gemm", with_gemm)),
                   tuning)
    result.refused = grad_input.refused[:1] + result.refused
    if result.algorithm == "winograd":
        result.fallbacks = (("gemm", "where a result is inf or NaN"),)
    if ("gemm", NON_FINITE_WEIGHT) in grad_input.fallbacks:
        result.fallbacks += (("gemm", f"with the input gradient {NON_FINITE_WEIGHT}"),)
    return result


def plan(layer, which="forward", tuning=None):
    """The plan of pass ``which`` (one of `PASSES`) of ``layer`` under
    ``tuning`` (default: `current_tuning`).  Plans are cached and shared:
    never modify one."""
    if which not in PASSES:
        raise ValueError(f"which must be one of {PASSES}, got {which!r}")
    return _cached_plan(layer, which, tuning or current_tuning())


_BUILDERS = {"forward": _plan_forward, "grad_input": _plan_grad_input,
             "grad_weight": _plan_grad_weight}


# A network has a few dozen distinct layers; building a plan (its reasons
# included) costs tens of microseconds, a tiny layer's whole run.
@functools.lru_cache(maxsize=512)
def _cached_plan(layer, which, tuning):
    return _BUILDERS[which](layer, tuning)
