"""cyconv.conv_transpose2d and its backward against torch's CPU, in one run.

    PYTHONPATH=. python benchmarks/bench_conv_transpose.py [--quick] [--threads 1,2]

Layers: a DCGAN generator's up-sampling layers (batch 8, kernel 4, stride 2,
padding 1, 512 -> 256 -> 128 -> 64 -> 3 channels, outputs 8x8 to 64x64) and
the up-convolutions of a U-Net on 256x256 images (batch 1, kernel 2, stride
2, 1024 -> 512 down to 128 -> 64 channels).  Each is timed in float32 and
float64, forward and backward (input, weight and bias gradients against
``aten.convolution_backward``), at each thread count, in turns with torch
(``_timing.interleaved_medians``).  ``x torch`` is torch's time over
cyconv's: above 1, cyconv is faster.  A benchmark, not a test: on a shared
machine read the ratios, not the absolute times.
"""
import argparse
import contextlib

import numpy as np

import cyconv

if __package__:
    from . import _timing
else:
    import _timing

torch = _timing.optional("torch")

# (name, N, C_in, H, C_out, kernel, stride, padding)
LAYERS = [
    ("dcgan 512->256 4^2", 8, 512, 4, 256, 4, 2, 1),
    ("dcgan 256->128 8^2", 8, 256, 8, 128, 4, 2, 1),
    ("dcgan 128->64 16^2", 8, 128, 16, 64, 4, 2, 1),
    ("dcgan 64->3 32^2", 8, 64, 32, 3, 4, 2, 1),
    ("unet 1024->512 16^2", 1, 1024, 16, 512, 2, 2, 0),
    ("unet 512->256 32^2", 1, 512, 32, 256, 2, 2, 0),
    ("unet 256->128 64^2", 1, 256, 64, 128, 2, 2, 0),
    ("unet 128->64 128^2", 1, 128, 128, 64, 2, 2, 0),
]


def _contenders(layer, dtype, threads, backward, rng):
    _, batch, c_in, size, c_out, kernel, stride, padding = layer
    x = rng.standard_normal((batch, c_in, size, size)).astype(dtype)
    weight = rng.standard_normal((c_in, c_out, kernel, kernel)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    out_size = (size - 1) * stride - 2 * padding + kernel
    grad = rng.standard_normal((batch, c_out, out_size, out_size)).astype(dtype)
    tx, tw, tb, tg = map(torch.from_numpy, (x, weight, bias, grad))
    if backward:
        def ours():
            cyconv.conv_transpose2d_backward(grad, x, weight, stride, padding, workers=threads)

        def theirs():
            torch.ops.aten.convolution_backward(
                tg, tx, tw, [c_out], [stride] * 2, [padding] * 2, [1, 1], True, [0, 0], 1,
                [True, True, True])
    else:
        def ours():
            cyconv.conv_transpose2d(x, weight, bias, stride, padding, workers=threads)

        def theirs():
            with torch.no_grad():
                torch.nn.functional.conv_transpose2d(tx, tw, tb, stride, padding)

    return {"cyconv": (ours, contextlib.nullcontext, 0.0),
            "torch": (theirs, _timing.torch_threads(torch, threads), 0.0)}


def measure(threads, repeat):
    rng = np.random.default_rng(0)
    rows = []
    for layer in LAYERS:
        for dtype in (np.float32, np.float64):
            for direction in ("forward", "backward"):
                for count in threads:
                    medians = _timing.interleaved_medians(
                        _contenders(layer, dtype, count, direction == "backward", rng),
                        repeat, budget=2.0, pair_below=0.05)
                    rows.append((layer[0], np.dtype(dtype).name, direction, count, medians))
    return rows


def format_rows(rows):
    lines = [f"{'layer':22} {'dtype':>7} {'pass':>8} {'threads':>7} {'cyconv ms':>10} "
             f"{'torch ms':>9} {'x torch':>8}"]
    for name, dtype, direction, count, medians in rows:
        lines.append(f"{name:22} {dtype:>7} {direction:>8} {count:7} "
                     f"{medians['cyconv'] * 1e3:10.3f} {medians['torch'] * 1e3:9.3f} "
                     f"{medians['torch'] / medians['cyconv']:8.2f}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    options = parser.parse_args()
    if torch is None:
        raise SystemExit("bench_conv_transpose.py compares against torch: pip install torch")
    rows = measure([int(t) for t in options.threads.split(",")], 3 if options.quick else 7)
    print(_timing.machine())
    print(format_rows(rows))


if __name__ == "__main__":
    main()
