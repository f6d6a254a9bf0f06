"""conv2d, conv2d_backward, im2col, col2im: PyTorch's rules, cyconv's kernels.

Strategy by shape (chosen here, computed in ``_kernels/im2col.pyx``):

- few channels per group (depthwise and small groups): a direct kernel, one
  output plane per work item;
- stride 1, kernel larger than 1x1: the register-tiled kernel of
  ``_kernels/conv_tile.h`` on zero-padded images, no im2col copy and no GEMM
  packing (also the input gradient, as the convolution of the padded output
  gradient with the flipped kernels); strided layers whose kernel splits into
  stride_h * stride_w phases with few zero taps (7x7 stride 2) too, as the
  stride-1 layer over those phases, the zero taps left out.  3x3 layers
  with many channels go through Winograd (``_kernels/winograd.h``)
  instead, F(2x2, 3x3) in float32 and F(4x4, 3x3) in float64, its products
  done by the same kernel, unless an output comes out inf or NaN; so do
  their weight gradients, by F(2x2, 3x3), its products GEMMs summing over
  the tiles;
- 1x1 kernels with stride 1 and no padding: the register-tiled kernel on
  the input gathered tile by tile (float32, up to 256 channels per group),
  else one GEMM per tile straight on the input, which is its own column
  matrix;
- everything else (strided layers, other weight gradients): im2col of a
  tile of output rows into a per-thread buffer, then one GEMM per group.

GEMM work items are (image, tile of output rows).  Images are tiled when
their buffers would pass ``COLUMN_BUFFER_BYTES`` and when the batch alone
gives fewer than ``MIN_WORK_ITEMS`` items, so a batch of one runs its GEMM
on several threads.  BLAS is single-threaded throughout and no split depends
on the thread count, so results are bitwise equal for any `workers`.
"""
import math
from collections import namedtuple

import numpy as np

from cyconv import _blas, _simd
from cyconv._config import resolve_workers
from cyconv._kernels import memory
from cyconv._validation import (
    all_finite,
    as_array,
    as_int,
    as_pair,
    check_index_range,
    layer_dtype,
    window_count,
)

_gemm = _simd.kernels("conv_gemm")
_direct = _simd.kernels("conv_direct")
_tiled = _simd.kernels("conv_tiled")
_winograd = _simd.kernels("conv_winograd")
_pointwise = _simd.kernels("conv_pointwise")

# Per-thread column buffer: bounded, and small enough to stay in the L3 cache
# between im2col writing it and the GEMM reading it.
COLUMN_BUFFER_BYTES = 4 << 20
# Below this many (image, tile) items per call, images are split into tiles.
MIN_WORK_ITEMS = 8
# Channels per group (in * out) up to which the direct kernel beats a GEMM.
DIRECT_MAX_CHANNEL_PRODUCT = 16
# Stride-1 layers: images zero-padded at a time (at least one) fill at most
# this much, and a work item covers about this many output pixels per channel.
PADDED_IMAGES_BYTES = 32 << 20
# Layers whose padded image (split into its stride phases or not) would pass
# this take the im2col + GEMM path, whose buffers stay bounded.
TILED_MAX_COPY_BYTES = 256 << 20
TILED_ITEM_PIXELS = 512
# Input a pass of the tiled kernel reads: held in the L1 cache.
TILED_PASS_BYTES = 24 << 10
# 3x3 stride-1 layers with at least this many input and output channels per
# group use Winograd: F(2x2, 3x3) does 2.25 times fewer multiplies.
WINOGRAD_MIN_CHANNELS = 16
# Output tile size of the forward pass (and of the input gradient) per type.
# F(4x4, 3x3) does 1.78 times fewer multiplies than F(2x2, 3x3), but its
# transforms scale values by up to 100 (against 4): float64 absorbs the
# rounding, float32 would not.  The weight gradient is always F(2x2, 3x3).
WINOGRAD_SIZES = {np.dtype(np.float32): 2, np.dtype(np.float64): 4}
# Transformed inputs and products of one Winograd work item, per thread
# (measured: 512 KiB beat 256 KiB and 1-2 MiB on the benchmark layers).  A
# layer whose single row of tiles needs 8 times this keeps the tiled kernel.
WINOGRAD_ITEM_BYTES = 512 << 10
# Winograd's multiplies (its items padded to whole kernel tiles) against the
# direct sums': small images waste most of a padded item and stay direct.
WINOGRAD_MAX_WORK = 0.75
# Kernel tiles of pixels a Winograd item needs at least (measured on 7x7 and
# 14x14 layers of 256-512 channels: one tile ran slower than the tiled kernel).
WINOGRAD_MIN_TILES = 2
# Work items a Winograd call needs at least: its items are images by rows of
# tiles, the tiled kernel's split output channels too (2 threads, 14x14 and
# 28x28 layers of 128-256 channels: 1 or 2 items ran at 0.55-0.85x the tiled
# kernel's speed, 3 or 4 at 1.1-1.2x).
WINOGRAD_MIN_ITEMS = 3
# Strided layers split into stride-1 phases for the tiled kernel when the
# phase kernels, padded to one size, have at most PHASE_MAX_WASTE times the
# layer's taps (7x7 stride 2: 64/49), or PHASE_SMALL_MAX_WASTE times in
# float32 layers of up to PHASE_SMALL_MAX_CHANNELS input channels per group
# (3x3 stride 2: 16/9, 5x5: 36/25).  The padding taps are never multiplied,
# but small phase kernels give the tiled kernel little reuse of each input
# row.  Measured against im2col + GEMM, 2 threads: float32 3x3 stride 2
# 1.1-1.5x up to 48 channels, 1.0x at 64, 0.4-0.7x at 128-256; 5x5 stride 2
# 1.4-2.3x up to 96 channels, 0.7-0.95x at 128-256; float64 3x3 and 5x5
# stride 2 0.6-1.2x.
PHASE_MAX_WASTE = 1.35
PHASE_SMALL_MAX_WASTE = 1.8
PHASE_SMALL_MAX_CHANNELS = 64
PHASE_SMALL_TYPES = (np.dtype(np.float32),)
# Types whose GEMM forward runs faster computing tiles pixel-major (OpenBLAS
# packs the column matrix faster in that product for float32, in the
# channel-major one for float64: measured with sgemm/dgemm on the layer shapes).
PIXEL_MAJOR_TYPES = (np.dtype(np.float32),)
# Pointwise (1x1) layers of these types, with at most this many input
# channels per group and planes of at least this many pixels, run the
# register-tiled kernel on the input gathered tile by tile, in work items of
# up to this many pixels.  Measured against one GEMM per tile on ResNet's 1x1
# layers, 2 threads: float32 1.05-1.8x with up to 256 input channels (7x7 to
# 112x112 planes); 0.86-1.2x with 512, 0.89x with 1024; float64 0.84-0.97x.
POINTWISE_TYPES = (np.dtype(np.float32),)
POINTWISE_MAX_CHANNELS = 256
POINTWISE_MIN_PIXELS = 49
POINTWISE_CHUNK_PIXELS = 512
# Partial weight gradients of the backward pass: at most this many, this large.
MAX_GRAD_SLOTS = 16
GRAD_SLOT_BYTES = 64 << 20
# Winograd weight gradients: all partial sums together at most this large
# (writing and summing them costs a pass over each).
WINOGRAD_GRAD_SLOTS_BYTES = 4 << 20
# Their work items' tiles are the sums of the GEMMs: longer ones run faster,
# up to buffers of about the L2 cache (measured on the benchmark layers).
WINOGRAD_GRAD_ITEM_BYTES = 2 << 20

_Conv = namedtuple(
    "_Conv", "batched x weight bias dtype kernel stride padding dilation groups out_shape"
)


def _padding_pairs(padding, kernel, stride, dilation):
    """(top, bottom), (left, right) for an int, a pair, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            pairs = []
            for size, dil in zip(kernel, dilation):
                total = dil * (size - 1)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise ValueError(f"padding must be 'valid', 'same', an int or a pair, got {padding!r}")
    rows, cols = as_pair(padding, "padding", 0)
    return (rows, rows), (cols, cols)


def _batched(array, name, unbatched_ndim):
    """``array`` with a leading batch axis, and whether it had one."""
    if array.ndim == unbatched_ndim:
        return array[np.newaxis], False
    if array.ndim == unbatched_ndim + 1:
        return array, True
    raise ValueError(
        f"{name} must be {unbatched_ndim + 1}-D (batched) or {unbatched_ndim}-D (unbatched), "
        f"got shape {array.shape}"
    )


def _output_hw(name, image_hw, kernel, stride, padding, dilation):
    """Output rows and columns, refused (as torch does) when fewer than one."""
    out_hw = tuple(
        window_count(size, k, s, sum(pads), d)
        for size, k, s, pads, d in zip(image_hw, kernel, stride, padding, dilation)
    )
    if min(out_hw) < 1:
        padded = tuple(size + sum(pads) for size, pads in zip(image_hw, padding))
        effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        raise ValueError(
            f"{name}: padded input size {padded} is smaller than the dilated kernel "
            f"{effective}; the output would be empty"
        )
    extents = [size + sum(pads) + d * k + s * out
               for size, pads, d, k, s, out in zip(image_hw, padding, dilation, kernel, stride, out_hw)]
    check_index_range(f"{name}: kernel_size={kernel} with stride={stride}, padding={padding} "
                      f"and dilation={dilation}", *extents)
    return out_hw


def _conv_arguments(x, weight, bias, stride, padding, dilation, groups, extra=None):
    """Check and normalise conv2d's arguments; ``extra`` arrays only join the dtype."""
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    bias = None if bias is None else as_array(bias, "bias")
    dtype = layer_dtype(x=x, weight=weight, bias=bias, **(extra or {}))
    x, batched = _batched(x, "x", 3)
    if weight.ndim != 4:
        raise ValueError(f"weight must be 4-D (C_out, C_in // groups, kH, kW), got shape {weight.shape}")
    groups = as_int(groups, "groups", 1)
    stride = as_pair(stride, "stride", 1)
    dilation = as_pair(dilation, "dilation", 1)
    batch, channels = x.shape[:2]
    out_channels, in_per_group = weight.shape[:2]
    kernel = weight.shape[2:]
    if channels < 1:
        raise ValueError(f"x must have at least one channel, got shape {x.shape}")
    if min(kernel) < 1 or out_channels < 1 or in_per_group < 1:
        raise ValueError(f"weight must have positive sizes, got shape {weight.shape}")
    if out_channels % groups:
        raise ValueError(f"weight's {out_channels} output channels are not divisible by groups={groups}")
    if channels != in_per_group * groups:
        raise ValueError(
            f"groups={groups} and weight of shape {weight.shape} expect x to have "
            f"{in_per_group * groups} channels, got {channels}"
        )
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"bias must have shape ({out_channels},), got {bias.shape}")
    padding = _padding_pairs(padding, kernel, stride, dilation)
    out_hw = _output_hw("conv2d", x.shape[2:], kernel, stride, padding, dilation)
    check_index_range(f"conv2d: x of shape {x.shape} with padding={padding}",
                      batch * out_channels * out_hw[0] * out_hw[1])
    return _Conv(batched, x, weight, bias, dtype, kernel, stride, padding, dilation, groups,
                 (batch, out_channels) + out_hw)


def _native(array, dtype):
    return np.ascontiguousarray(array, dtype=dtype)


def _uses_direct_kernel(conv):
    in_per_group = conv.weight.shape[1]
    out_per_group = conv.weight.shape[0] // conv.groups
    return in_per_group * out_per_group <= DIRECT_MAX_CHANNEL_PRODUCT


def _padded_image_bytes(channels, out_shape, kernel, dilation, dtype):
    """Bytes of one image as tiled_forward pads it (rounded up a little)."""
    out_h, out_w = out_shape[2:]
    ld = out_w + dilation[1] * (kernel[1] - 1)
    return channels * (out_h + dilation[0] * (kernel[0] - 1) + 2) * ld * dtype.itemsize


def _uses_tiled_kernel(conv):
    """Stride 1, kernel above 1x1: a tap is a constant offset into a padded image.

    (A 1x1 layer's GEMM needs no im2col copy, and beats this kernel there.)
    """
    return (conv.stride == (1, 1) and conv.kernel != (1, 1)
            and _padded_image_bytes(conv.x.shape[1], conv.out_shape, conv.kernel, conv.dilation,
                                    conv.dtype) <= TILED_MAX_COPY_BYTES)


def _phase_kernel(conv):
    """Kernel of the stride-1 layer a strided one becomes by splitting its
    padded input into stride_h * stride_w phases, or None when that kernel
    would have too many taps past the layer's (see ``PHASE_MAX_WASTE``) or
    be 1x1 (then the GEMM path, which needs no copy of a phase, is faster)."""
    if conv.stride == (1, 1) or conv.dilation != (1, 1):
        return None
    phase_kernel = tuple(-(-k // s) for k, s in zip(conv.kernel, conv.stride))
    waste = math.prod(k * s for k, s in zip(phase_kernel, conv.stride)) / math.prod(conv.kernel)
    small = (conv.dtype in PHASE_SMALL_TYPES
             and conv.weight.shape[1] <= PHASE_SMALL_MAX_CHANNELS)
    if phase_kernel == (1, 1) or waste > (PHASE_SMALL_MAX_WASTE if small else PHASE_MAX_WASTE):
        return None
    split_bytes = _padded_image_bytes(conv.x.shape[1] * math.prod(conv.stride), conv.out_shape,
                                      phase_kernel, (1, 1), conv.dtype)
    return phase_kernel if split_bytes <= TILED_MAX_COPY_BYTES else None


def _phase_weight(conv, weight, phase_kernel):
    """(weight, taps) of the stride-1 layer equal to the strided ``conv``
    over the stride_h x stride_w phases of its padded input.

    Phase (a, b) holds pixels (s_h * i + a, s_w * j + b) of the padded
    input; the layer's channels come group by group, phase by phase (as
    tiled_forward splits them), and the kernel of phase (a, b) holds taps
    (s_h * i + a, s_w * j + b) of the original one, zero past its edge.
    ``taps`` are the flat indices of the others in a kernel of the new
    layer: the zeros must not be multiplied (0 * inf is NaN).
    """
    (stride_h, stride_w), (kernel_h, kernel_w) = conv.stride, phase_kernel
    in_per_group = weight.shape[1]

    def spread(kernels):
        out_channels = kernels.shape[0]
        padded = np.zeros((out_channels, in_per_group, stride_h * kernel_h, stride_w * kernel_w),
                          kernels.dtype)
        padded[:, :, :conv.kernel[0], :conv.kernel[1]] = kernels
        padded = padded.reshape(out_channels, in_per_group, kernel_h, stride_h, kernel_w, stride_w)
        return padded.transpose(0, 3, 5, 1, 2, 4).reshape(
            out_channels, stride_h * stride_w * in_per_group, kernel_h, kernel_w)

    taps = np.flatnonzero(spread(np.ones((1,) + weight.shape[1:], bool)))
    return spread(weight), taps


def _packed_weight(weight, groups, dtype, threads, taps):
    """(groups, blocks, taps, CONV_BLOCK): tiled_forward's weight layout, of
    the taps ``taps`` of a kernel (flat indices into ``weight[0]``)."""
    per_group = weight.shape[0] // groups
    block = _tiled.CONV_BLOCK
    packed = memory.empty((groups, -(-per_group // block), len(taps), block), dtype)
    _tiled.pack_weight(weight.astype(dtype, copy=False).reshape(groups, per_group, -1), taps,
                         packed, threads)
    return packed


def _tiled_chunks(channels, out_shape, kernel, dilation, dtype):
    """(images padded at a time, output rows per work item, input channels per pass)
    of tiled_forward for ``channels`` input channels."""
    batch, _, out_h, out_w = out_shape
    ld = out_w + dilation[1] * (kernel[1] - 1)
    image_bytes = _padded_image_bytes(channels, out_shape, kernel, dilation, dtype)
    images = max(1, min(batch, PADDED_IMAGES_BYTES // max(image_bytes, 1)))
    rows = max(1, min(out_h, TILED_ITEM_PIXELS // ld))
    pass_rows = rows + dilation[0] * (kernel[0] - 1) + 1
    pass_channels = max(1, TILED_PASS_BYTES // (pass_rows * ld * dtype.itemsize))
    return images, rows, pass_channels


def _winograd_row_tiles(out_w, size):
    """Tiles winograd_forward computes per row of ``size`` x ``size`` tiles:
    one per ``size`` output columns, plus one whose results are discarded
    (see winograd.h)."""
    return -(-out_w // size) + 1


def _winograd_row_bytes(in_per_group, out_per_group, out_w, dtype, size):
    """Per-thread buffer bytes of one row of Winograd tiles."""
    return ((size + 2) ** 2 * (in_per_group + out_per_group) * _winograd_row_tiles(out_w, size)
            * dtype.itemsize)


def _winograd_item_rows(batch, tiles_h, row_bytes, item_bytes):
    """Rows of 2x2 tiles per Winograd work item: its buffers within
    ``item_bytes``, and at least ``MIN_WORK_ITEMS`` items per call."""
    rows = max(1, min(tiles_h, item_bytes // row_bytes))
    if batch * -(-tiles_h // rows) < MIN_WORK_ITEMS:
        rows = max(1, -(-tiles_h * batch // MIN_WORK_ITEMS))
    return rows


def _winograd_tile_rows(kernel, dilation, in_per_group, out_per_group, out_shape, dtype, size):
    """Rows of ``size`` x ``size`` output tiles per Winograd work item, or
    None where the layer is not Winograd's (3x3, dilation 1,
    ``WINOGRAD_MIN_CHANNELS``) or would not gain from it.

    An item's buffers stay within ``WINOGRAD_ITEM_BYTES`` (up to four times
    that to fill the kernel's whole tiles of pixels), and a call has at
    least ``MIN_WORK_ITEMS`` items where its tiles allow, and
    ``WINOGRAD_MIN_ITEMS`` or the layer is not Winograd's.
    """
    if (kernel != (3, 3) or dilation != (1, 1)
            or min(in_per_group, out_per_group) < WINOGRAD_MIN_CHANNELS):
        return None
    batch, _, out_h, out_w = out_shape
    tiles_h, row_tiles = -(-out_h // size), _winograd_row_tiles(out_w, size)
    row_bytes = _winograd_row_bytes(in_per_group, out_per_group, out_w, dtype, size)
    if row_bytes > 8 * WINOGRAD_ITEM_BYTES:
        return None
    rows = _winograd_item_rows(batch, tiles_h, row_bytes, WINOGRAD_ITEM_BYTES)
    tile = _tiled.CONV_TILE_BYTES // dtype.itemsize

    def slots(rows):
        return -(-rows * row_tiles // tile) * tile

    def short(rows):
        # Too few pixels: each transformed weight is used once per pixel of
        # the item, and one kernel tile streams the weights (far more than
        # the cache holds at 512 channels) at a few FLOP per byte.  Too much
        # padding: the tiles past the last row are computed for nothing.
        return slots(rows) < WINOGRAD_MIN_TILES * tile or slots(rows) > 1.25 * rows * row_tiles

    while rows < tiles_h and short(rows) and (rows + 1) * row_bytes <= 4 * WINOGRAD_ITEM_BYTES:
        rows += 1
    if (slots(rows) < WINOGRAD_MIN_TILES * tile
            or batch * -(-tiles_h // rows) < WINOGRAD_MIN_ITEMS
            or (size + 2) ** 2 * slots(rows)
            > WINOGRAD_MAX_WORK * 9 * min(size * rows, out_h) * out_w):
        return None
    return rows


def _winograd_weight(weight, groups, dtype, size, threads):
    """winograd_forward's transformed weights for F(size x size, 3x3),
    tiled_forward's packing of them."""
    out_per_group = weight.shape[0] // groups
    block = _tiled.CONV_BLOCK
    packed = memory.empty((groups * (size + 2) ** 2, -(-out_per_group // block), weight.shape[1],
                           block), dtype)
    _winograd.winograd_weight(np.ascontiguousarray(weight), packed, groups, threads)
    return packed


def _stride1_forward(x, weight, bias, out, kernel, padding, dilation, groups, threads,
                     phases=(1, 1), taps=None):
    """``out`` = the stride-1 convolution of ``x`` (``padding`` is top/left,
    the output size implies the rest) or, with ``phases`` (s_h, s_w), of
    its phases for a layer of that stride (``weight`` and ``kernel`` are
    then _phase_weight's): by Winograd where it applies, else (or when an
    output comes out inf or NaN, which the Winograd sums may have spread) by
    the register-tiled kernel.  ``taps`` are the flat indices of the taps of
    ``weight[0]`` to multiply (None: all), the others being zeros."""
    dtype = out.dtype
    in_per_group, out_per_group = weight.shape[1], weight.shape[0] // groups
    chunk_images, rows, pass_channels = _tiled_chunks(x.shape[1] * math.prod(phases), out.shape,
                                                      kernel, dilation, dtype)
    size = WINOGRAD_SIZES[dtype]
    tile_rows = _winograd_tile_rows(kernel, dilation, in_per_group, out_per_group, out.shape,
                                    dtype, size)
    if tile_rows is not None and phases == (1, 1):
        # The products are tiled_forward's kernel with a tap per input
        # channel, over a tile_rows-long row of tiles: passes sized the same.
        tiles = tile_rows * _winograd_row_tiles(out.shape[3], size)
        pass_taps = max(1, min(in_per_group, TILED_PASS_BYTES // (tiles * dtype.itemsize)))
        nonfinite = _winograd.winograd_forward(
            x, _winograd_weight(weight, groups, dtype, size, threads), bias, out, padding,
            groups, tile_rows, pass_taps, threads)
        if nonfinite == 0:
            return
    if taps is None:
        taps = np.arange(weight[0].size, dtype=np.intp)
    packed = _packed_weight(weight, groups, dtype, threads, taps)
    taps_per_pass = max(1, pass_channels * len(taps) // in_per_group)
    _tiled.tiled_forward(x, packed, taps, bias, out, kernel, phases, padding, dilation,
                           chunk_images, rows, taps_per_pass, threads)


def _winograd_grad_weight(conv, grad_output, x, threads):
    """grad_weight by Winograd F(2x2, 3x3) where the forward pass would use
    it (stride 1 and ``_winograd_tile_rows``), else None; None too when a
    result is inf or NaN, which the transforms may have spread."""
    in_per_group, out_per_group = conv.weight.shape[1], conv.weight.shape[0] // conv.groups
    dtype, out_shape = conv.dtype, conv.out_shape
    if conv.stride != (1, 1) or _winograd_tile_rows(conv.kernel, conv.dilation, in_per_group,
                                                    out_per_group, out_shape, dtype, 2) is None:
        return None
    tiles_h = -(-out_shape[2] // 2)
    tile_rows = _winograd_item_rows(
        out_shape[0], tiles_h,
        _winograd_row_bytes(in_per_group, out_per_group, out_shape[3], dtype, 2),
        WINOGRAD_GRAD_ITEM_BYTES)
    items = out_shape[0] * -(-tiles_h // tile_rows)
    slot_bytes = 16 * conv.weight.shape[0] * in_per_group * dtype.itemsize
    slots = max(1, min(items, MAX_GRAD_SLOTS, WINOGRAD_GRAD_SLOTS_BYTES // slot_bytes))
    partial = memory.empty((slots, conv.groups * 16, in_per_group, out_per_group), dtype)
    with _blas.single_threaded():
        _winograd.winograd_grad_products(x, grad_output, partial,
                                        (conv.padding[0][0], conv.padding[1][0]), conv.groups,
                                        tile_rows, threads)
    grad_weight = np.empty(conv.weight.shape, dtype)
    _winograd.winograd_grad_weight(partial, grad_weight, threads)
    return grad_weight if all_finite(grad_weight) else None


def _tiled_grad_x(conv, grad_output, weight, threads):
    """grad_x by _stride1_forward (Winograd or the tiled kernel): the stride-1
    transposed convolution is the convolution of the output gradient, padded by ``dilation * (kernel - 1)
    - padding``, with the flipped kernels, input and output channels swapped.
    None when that padding would be negative, when a weight is inf or NaN
    (the padded form multiplies every weight by zeros the true sum never
    has, and inf * 0 is NaN) or when a padded image would pass
    ``TILED_MAX_COPY_BYTES``."""
    kernel, dilation = conv.kernel, conv.dilation
    pads = tuple(d * (k - 1) - p for d, k, (p, _) in zip(dilation, kernel, conv.padding))
    image_bytes = _padded_image_bytes(weight.shape[0], conv.x.shape, kernel, dilation, conv.dtype)
    if min(pads) < 0 or image_bytes > TILED_MAX_COPY_BYTES or not all_finite(weight):
        return None
    grad_x = memory.empty(conv.x.shape, conv.dtype)
    _stride1_forward(grad_output, _transposed_weight(weight, conv.groups), np.empty(0, conv.dtype),
                     grad_x, kernel, pads, dilation, conv.groups, threads)
    return grad_x


def _kernel_grad_x(conv, grad_output, weight, threads):
    """grad_x without im2col: by _tiled_grad_x for stride-1 layers, by the
    pointwise kernel for the 1x1 layers it computes (the input gradient is
    then the 1x1 convolution of the output gradient by the transposed
    weights); None where neither applies."""
    if _uses_tiled_kernel(conv):
        return _tiled_grad_x(conv, grad_output, weight, threads)
    if not (_is_pointwise(conv) and _uses_pointwise_kernel(weight.shape[0] // conv.groups,
                                                           conv.x.shape, conv.dtype)):
        return None
    grad_x = memory.empty(conv.x.shape, conv.dtype)
    _pointwise_forward(grad_output, _transposed_weight(weight, conv.groups),
                       np.empty(0, conv.dtype), grad_x, conv.groups, threads)
    return grad_x


def _transposed_weight(weight, groups):
    """The weight of the transposed convolution: kernels flipped, input and
    output channels of each group swapped."""
    out_channels, in_per_group, kernel_h, kernel_w = weight.shape
    flipped = weight.reshape(groups, out_channels // groups, in_per_group, kernel_h, kernel_w)
    flipped = flipped.transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
    return flipped.reshape(groups * in_per_group, out_channels // groups, kernel_h, kernel_w)


def _uses_pointwise_kernel(in_per_group, out_shape, dtype):
    """Whether pointwise_forward computes this pointwise layer (else one
    GEMM per tile): float32, and a tile of all the input channels small
    enough for the L1 cache, where every block of output channels reads it."""
    return (dtype in POINTWISE_TYPES and in_per_group <= POINTWISE_MAX_CHANNELS
            and out_shape[2] * out_shape[3] >= POINTWISE_MIN_PIXELS)


def _pointwise_forward(x, weight, bias, out, groups, threads):
    """``out`` = the 1x1 convolution of ``x`` by pointwise_forward, in work
    items of ``POINTWISE_CHUNK_PIXELS``, fewer (whole 32s) where that leaves
    fewer than ``MIN_WORK_ITEMS`` items."""
    batch, plane = out.shape[0], out.shape[2] * out.shape[3]
    chunk = min(POINTWISE_CHUNK_PIXELS, plane,
                max(32, -(-plane * batch // MIN_WORK_ITEMS // 32) * 32))
    # A 1x1 kernel's taps are its input channels.
    taps = np.arange(weight.shape[1], dtype=np.intp)
    _pointwise.pointwise_forward(x, _packed_weight(weight, groups, out.dtype, threads, taps), bias,
                               out, chunk, threads)


def _is_pointwise(conv):
    """1x1 kernel, stride 1, no padding: the input is its own column matrix."""
    return conv.kernel == (1, 1) and conv.stride == (1, 1) and conv.padding == ((0, 0), (0, 0))


def _tile_rows(conv, pointwise):
    """Output rows per work item: bounded buffers, enough items for the threads.

    A tile's buffers are its column matrix (none when pointwise) and, for
    ``PIXEL_MAJOR_TYPES``, its pixel-major GEMM result, each at most
    ``COLUMN_BUFFER_BYTES``.
    """
    batch, _, out_h, out_w = conv.out_shape
    depth = 0 if pointwise else conv.weight[0].size
    out_per_group = conv.weight.shape[0] // conv.groups
    widest = max(out_per_group if conv.dtype in PIXEL_MAJOR_TYPES else 0, depth, 1)
    rows = min(out_h, max(1, COLUMN_BUFFER_BYTES // (widest * out_w * conv.dtype.itemsize)))
    if 0 < batch < MIN_WORK_ITEMS:
        tiles_per_image = -(-MIN_WORK_ITEMS // batch)
        rows = min(rows, -(-out_h // tiles_per_image))
    return rows


def _phases(conv, tile_rows):
    """Smallest p such that tiles t and t + p never touch the same input row."""
    span = conv.dilation[0] * (conv.kernel[0] - 1) - conv.stride[0] + 1
    return 1 + max(0, -(-span // (tile_rows * conv.stride[0])))


def _threads(workers):
    """Thread count for the kernels: one when BLAS threads cannot be limited."""
    threads = resolve_workers(workers)
    return threads if _blas.controllable() else 1


def _unbatch(array, batched):
    return array if batched else array[0]


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, workers=None):
    """2-D convolution of NCHW images (PyTorch's ``conv2d``: a cross-correlation).

    ``out[n, o, i, j] = bias[o] + sum_{c, u, v} x_pad[n, g*C_g + c, i*sH + u*dH, j*sW + v*dW]
    * weight[o, c, u, v]`` where ``g = o // (C_out // groups)`` and ``C_g = C_in // groups``.
    Values, shapes and every validity rule are those of
    ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : array_like
        Input, ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``.
    weight : array_like
        Kernels, ``(C_out, C_in // groups, kH, kW)``.
    bias : array_like, optional
        ``(C_out,)``, added to every output position of its channel.
    stride : int or (int, int), optional
        Step between windows (default 1).
    padding : int, (int, int), 'valid' or 'same', optional
        Zero padding on both sides of each axis (default 0).  ``'valid'`` is
        no padding; ``'same'`` (stride 1 only) pads so the output has the
        input's size, the extra row/column of an even kernel going
        bottom/right.
    dilation : int or (int, int), optional
        Spacing between kernel taps (default 1).
    groups : int, optional
        Input and output channels are split into this many groups, each
        convolved separately (``groups == C_in``: depthwise).
    workers : int, optional
        Threads to use. ``None`` (default) is OpenMP's current maximum; a
        negative value counts back from the number of CPUs; ``0`` is an error.

    Returns
    -------
    out : ndarray
        ``(N, C_out, H_out, W_out)`` (unbatched if `x` was), a new
        C-contiguous array; float32 and float64 are kept, mixed inputs
        promote, other real types are computed in float64.

    See Also
    --------
    conv2d_backward : the gradients of this function.
    im2col : the column matrix behind the GEMM formulation.

    Examples
    --------
    The textbook's multiple input channels: the per-channel correlations are
    summed.

    >>> import numpy as np
    >>> import cyconv
    >>> X = np.array([[[0.0, 1, 2], [3, 4, 5], [6, 7, 8]],
    ...               [[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]])
    >>> K = np.array([[[0.0, 1], [2, 3]], [[1.0, 2], [3, 4]]])
    >>> cyconv.conv2d(X, K[np.newaxis])
    array([[[ 56.,  72.],
            [104., 120.]]])

    Multiple output channels stack one kernel per output channel:

    >>> cyconv.conv2d(X, np.stack([K, K + 1, K + 2])).shape
    (3, 2, 2)

    A 1x1 convolution is a matrix product over the channels at every pixel:

    >>> X = np.random.default_rng(0).random((3, 3, 3))
    >>> W = np.random.default_rng(1).random((2, 3, 1, 1))
    >>> Y = cyconv.conv2d(X, W)
    >>> np.allclose(Y.reshape(2, 9), W.reshape(2, 3) @ X.reshape(3, 9))
    True
    """
    threads = _threads(workers)
    conv = _conv_arguments(x, weight, bias, stride, padding, dilation, groups)
    dtype = conv.dtype
    out = memory.empty(conv.out_shape, dtype)
    if out.size == 0:
        return _unbatch(out, conv.batched)
    x = _native(conv.x, dtype)
    bias = np.empty(0, dtype) if conv.bias is None else _native(conv.bias, dtype)
    top_left = (conv.padding[0][0], conv.padding[1][0])
    if _uses_direct_kernel(conv):
        _direct.direct_forward(x, _native(conv.weight, dtype), bias, out, conv.stride,
                                top_left, conv.dilation, conv.groups, threads)
        return _unbatch(out, conv.batched)
    phase_kernel = _phase_kernel(conv)
    if _uses_tiled_kernel(conv) or phase_kernel is not None:
        kernel, weight, taps = conv.kernel, _native(conv.weight, dtype), None
        if phase_kernel is not None:
            kernel = phase_kernel
            weight, taps = _phase_weight(conv, weight, phase_kernel)
        _stride1_forward(x, weight, bias, out, kernel, top_left, conv.dilation, conv.groups,
                         threads, conv.stride, taps)
        return _unbatch(out, conv.batched)
    pointwise = _is_pointwise(conv)
    if pointwise and _uses_pointwise_kernel(conv.weight.shape[1], conv.out_shape, dtype):
        _pointwise_forward(x, _native(conv.weight, dtype), bias, out, conv.groups, threads)
        return _unbatch(out, conv.batched)
    weight = _native(conv.weight, dtype).reshape(conv.weight.shape[0], -1)
    with _blas.single_threaded():
        _gemm.gemm_forward(x, weight, bias, out, conv.kernel, conv.stride, top_left,
                              conv.dilation, conv.groups, _tile_rows(conv, pointwise),
                              pointwise, dtype in PIXEL_MAJOR_TYPES, threads)
    return _unbatch(out, conv.batched)


def conv2d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    workers=None):
    """Gradients of `conv2d` with respect to its input, weight and bias.

    ``grad_x`` is the transposed convolution of `grad_output` (col2im of
    ``W^T . grad_output``), ``grad_weight`` the correlation of `grad_output`
    with the input summed over the batch (``grad_output . cols^T``), and
    ``grad_bias`` the sum of `grad_output` over batch and positions: the
    values torch autograd gives for ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the loss with respect to the output of `conv2d`, of that
        output's shape.
    x, weight, stride, padding, dilation, groups
        As given to `conv2d`.
    workers : int, optional
        Threads to use, as in `conv2d`.

    Returns
    -------
    grad_x : ndarray
        The shape of `x`.
    grad_weight : ndarray
        The shape of `weight`.
    grad_bias : ndarray
        ``(C_out,)``.

    Examples
    --------
    For ``loss = out.sum()`` each weight's gradient is the sum of the inputs
    it touches, and each input's gradient counts the windows it lies in:

    >>> import numpy as np
    >>> import cyconv
    >>> x = np.arange(9.0).reshape(1, 3, 3)
    >>> weight = np.ones((1, 1, 2, 2))
    >>> grad_x, grad_weight, grad_bias = cyconv.conv2d_backward(
    ...     np.ones((1, 2, 2)), x, weight)
    >>> grad_x
    array([[[1., 2., 1.],
            [2., 4., 2.],
            [1., 2., 1.]]])
    >>> grad_weight
    array([[[[ 8., 12.],
             [20., 24.]]]])
    >>> grad_bias
    array([4.])
    """
    threads = _threads(workers)
    grad_output = as_array(grad_output, "grad_output")
    conv = _conv_arguments(x, weight, None, stride, padding, dilation, groups,
                           extra={"grad_output": grad_output})
    expected = conv.out_shape if conv.batched else conv.out_shape[1:]
    if grad_output.shape != expected:
        raise ValueError(f"grad_output must have the output's shape {expected}, got {grad_output.shape}")
    dtype = conv.dtype
    grad_output = _native(grad_output, dtype).reshape(conv.out_shape)
    if conv.x.shape[0] == 0:
        return (_unbatch(np.zeros(conv.x.shape, dtype), conv.batched),
                np.zeros(conv.weight.shape, dtype), np.zeros(conv.weight.shape[0], dtype))
    x = _native(conv.x, dtype)
    top_left = (conv.padding[0][0], conv.padding[1][0])
    if _uses_direct_kernel(conv):
        grad_x = memory.empty(conv.x.shape, dtype)
        out_channels, in_per_group, kernel_h, kernel_w = conv.weight.shape
        grad_w_parts = np.empty((x.shape[0], out_channels, in_per_group, kernel_h * kernel_w),
                                dtype=dtype)
        grad_b_parts = np.empty((x.shape[0], out_channels), dtype=dtype)
        weight = _native(conv.weight, dtype)
        _direct.direct_backward(grad_output, x, weight, grad_x, grad_w_parts, grad_b_parts,
                                 conv.stride, top_left, conv.dilation, conv.groups,
                                 all_finite(weight), threads)
        grad_weight = grad_w_parts.sum(axis=0).reshape(conv.weight.shape)
        return _unbatch(grad_x, conv.batched), grad_weight, grad_b_parts.sum(axis=0)
    grad_bias = grad_output.sum(axis=(0, 2, 3), dtype=dtype)
    weight = _native(conv.weight, dtype)
    grad_x = _kernel_grad_x(conv, grad_output, weight, threads)
    grad_weight = None if grad_x is None else _winograd_grad_weight(conv, grad_output, x, threads)
    if grad_weight is not None:
        return _unbatch(grad_x, conv.batched), grad_weight, grad_bias
    with_grad_x = grad_x is None
    if with_grad_x:
        grad_x = np.zeros(conv.x.shape, dtype=dtype)
    weight = weight.reshape(conv.weight.shape[0], -1)
    pointwise = _is_pointwise(conv)
    tile_rows = _tile_rows(conv, pointwise)
    phases = _phases(conv, tile_rows) if with_grad_x else 1
    tiles = -(-conv.out_shape[2] // tile_rows)
    items_per_phase = conv.x.shape[0] * -(-tiles // phases)
    slots = max(1, min(items_per_phase, MAX_GRAD_SLOTS, GRAD_SLOT_BYTES // (weight.nbytes or 1)))
    out_per_group = weight.shape[0] // conv.groups
    grad_w_slots = np.zeros((slots, conv.groups, weight.shape[1], out_per_group), dtype=dtype)
    with _blas.single_threaded():
        _gemm.gemm_backward(grad_output, x, weight, grad_x, grad_w_slots, conv.kernel,
                               conv.stride, top_left, conv.dilation, conv.groups, tile_rows,
                               phases, pointwise, with_grad_x, threads)
    grad_weight = grad_w_slots.sum(axis=0).transpose(0, 2, 1).reshape(conv.weight.shape)
    return _unbatch(grad_x, conv.batched), grad_weight, grad_bias


def _window_arguments(kernel_size, stride, padding, dilation):
    kernel = as_pair(kernel_size, "kernel_size", 1)
    stride = as_pair(stride, "stride", 1)
    padding = as_pair(padding, "padding", 0)
    dilation = as_pair(dilation, "dilation", 1)
    return kernel, stride, padding, dilation


def _nonempty_dims(array, name):
    if 0 in array.shape[1:]:
        raise ValueError(f"{name} must have non-zero sizes except the batch, got shape {array.shape}")


def im2col(x, kernel_size, stride=1, padding=0, dilation=1, *, workers=None):
    """Extract sliding windows as columns (``torch.nn.functional.unfold``).

    Parameters
    ----------
    x : array_like
        ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
    kernel_size, stride, padding, dilation : int or (int, int)
        The window geometry; `padding` adds zeros on both sides.
    workers : int, optional
        Threads to use, as in `conv2d`.

    Returns
    -------
    cols : ndarray
        ``(N, C * kH * kW, L)`` (or ``(C * kH * kW, L)``) where ``L`` is the
        number of window positions; row ``(c * kH + u) * kW + v`` holds tap
        ``(u, v)`` of channel ``c``.

    Examples
    --------
    A convolution is a matrix product with the column matrix:

    >>> import numpy as np
    >>> import cyconv
    >>> x = np.arange(16.0).reshape(1, 4, 4)
    >>> cols = cyconv.im2col(x, 3)
    >>> cols.shape
    (9, 4)
    >>> weight = np.ones((1, 1, 3, 3))
    >>> np.array_equal(weight.reshape(1, 9) @ cols, cyconv.conv2d(x, weight).reshape(1, 4))
    True
    """
    threads = resolve_workers(workers)
    x = as_array(x, "x")
    dtype = layer_dtype(x=x)
    x, batched = _batched(x, "x", 3)
    _nonempty_dims(x, "x")
    kernel, stride, padding, dilation = _window_arguments(kernel_size, stride, padding, dilation)
    pads = tuple((p, p) for p in padding)
    out_hw = _output_hw("im2col", x.shape[2:], kernel, stride, pads, dilation)
    depth = x.shape[1] * kernel[0] * kernel[1]
    check_index_range(f"im2col: x of shape {x.shape} with kernel_size={kernel}, "
                      f"stride={stride}, padding={padding} and dilation={dilation}",
                      x.shape[0] * depth * out_hw[0] * out_hw[1])
    cols = memory.empty((x.shape[0], depth, out_hw[0] * out_hw[1]), dtype)
    if cols.size:
        _gemm.im2col(_native(x, dtype), cols, out_hw, kernel, stride, padding, dilation, threads)
    return _unbatch(cols, batched)


def col2im(cols, output_size, kernel_size, stride=1, padding=0, dilation=1, *, workers=None):
    """Sum sliding-window columns back into images (``torch.nn.functional.fold``).

    The adjoint of `im2col`: every column entry is added at the pixel it was
    taken from, so overlapping windows accumulate.

    Parameters
    ----------
    cols : array_like
        ``(N, C * kH * kW, L)`` or unbatched ``(C * kH * kW, L)``.
    output_size : int or (int, int)
        ``(H, W)`` of the images.
    kernel_size, stride, padding, dilation : int or (int, int)
        The window geometry, as given to `im2col`.
    workers : int, optional
        Threads to use, as in `conv2d`.

    Returns
    -------
    image : ndarray
        ``(N, C, H, W)`` (or ``(C, H, W)``).

    Examples
    --------
    Folding the columns of an image counts how many windows cover each pixel:

    >>> import numpy as np
    >>> import cyconv
    >>> ones = np.ones((1, 3, 3))
    >>> cyconv.col2im(cyconv.im2col(ones, 2), (3, 3), 2)
    array([[[1., 2., 1.],
            [2., 4., 2.],
            [1., 2., 1.]]])
    """
    threads = resolve_workers(workers)
    cols = as_array(cols, "cols")
    dtype = layer_dtype(cols=cols)
    cols, batched = _batched(cols, "cols", 2)
    _nonempty_dims(cols, "cols")
    output_size = as_pair(output_size, "output_size", 1)
    kernel, stride, padding, dilation = _window_arguments(kernel_size, stride, padding, dilation)
    taps = kernel[0] * kernel[1]
    if cols.shape[1] % taps:
        raise ValueError(
            f"cols' dimension {cols.ndim - 2} ({cols.shape[1]}) must be divisible by "
            f"kernel_size's product {taps}"
        )
    pads = tuple((p, p) for p in padding)
    out_hw = _output_hw("col2im", output_size, kernel, stride, pads, dilation)
    if cols.shape[2] != out_hw[0] * out_hw[1]:
        raise ValueError(
            f"cols' last dimension must be the number of sliding blocks "
            f"{out_hw[0]} * {out_hw[1]} = {out_hw[0] * out_hw[1]}, got {cols.shape[2]}"
        )
    image_shape = (cols.shape[0], cols.shape[1] // taps) + output_size
    check_index_range(f"col2im: output_size={output_size}", math.prod(image_shape))
    image = np.zeros(image_shape, dtype=dtype)
    if image.size:
        _gemm.col2im(_native(cols, dtype), image, out_hw, kernel, stride, padding, dilation,
                        threads)
    return _unbatch(image, batched)
