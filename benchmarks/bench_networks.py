"""Every conv and pooling layer of whole networks: cyconv against torch's CPU, in one run.

    PYTHONPATH=. python benchmarks/bench_networks.py                 # all networks
    PYTHONPATH=. python benchmarks/bench_networks.py --quick         # fewer repeats
    PYTHONPATH=. python benchmarks/bench_networks.py --only resnet50,unet --batches 1

Networks (float32, NCHW): ResNet-50, VGG-16 and EfficientNet-B0 at 224x224
(their convolutions, max pooling and global average pooling; the dense layers
and activations are left out), and the encoder of a U-Net at 256x256.  Each
distinct layer is timed once, in turns with torch (``_timing.interleaved_medians``),
at batch 1 and 8 and at 1 and 2 threads, and counted as often as the network
uses it.  At batch 8 the backward pass (input and weight gradients:
``conv2d_backward`` against ``aten.convolution_backward``) is timed too.

Columns: ``x torch`` is torch's time over cyconv's (above 1, cyconv is
faster); ``plan`` is the algorithm `cyconv.conv2d_plan` chose for the
forward pass.  The per-network lines sum the layers' medians times their
counts.  torch is required (``pip install torch``); it is a benchmark, not a
test: on a shared machine read the ratios, not the absolute times.
"""
import argparse
import collections
import contextlib
import json

import numpy as np

import cyconv

if __package__:
    from . import _timing
else:
    import _timing

torch = _timing.optional("torch")

# A layer: ("conv", C_in, H, W, C_out, kernel, stride, padding, groups)
#       or ("maxpool" | "avgpool", C, H, W, kernel, stride, padding).
Layer = collections.namedtuple("Layer", "kind channels size out_channels kernel stride padding groups")


def conv(c_in, size, c_out, kernel, stride=1, padding=None, groups=1):
    return Layer("conv", c_in, size, c_out, kernel, stride,
                 kernel // 2 if padding is None else padding, groups)


def pool(kind, channels, size, kernel, stride=None, padding=0):
    return Layer(kind, channels, size, channels, kernel, stride or kernel, padding, 1)


def resnet50():
    layers = [conv(3, 224, 64, 7, 2), pool("maxpool", 64, 112, 3, 2, 1)]
    in_channels, size = 64, 56
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        out_channels = 4 * width
        for block in range(blocks):
            s = stride if block == 0 else 1
            layers += [conv(in_channels, size, width, 1), conv(width, size, width, 3, s)]
            if block == 0:
                layers.append(conv(in_channels, size, out_channels, 1, s, 0))
            size //= s
            layers.append(conv(width, size, out_channels, 1))
            in_channels = out_channels
    return layers + [pool("avgpool", 2048, 7, 7)]


def vgg16():
    layers, in_channels, size = [], 3, 224
    for width, count in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(count):
            layers.append(conv(in_channels, size, width, 3))
            in_channels = width
        layers.append(pool("maxpool", width, size, 2))
        size //= 2
    return layers


def efficientnet_b0():
    layers = [conv(3, 224, 32, 3, 2)]
    in_channels, size = 32, 112
    # (expansion, kernel, stride, out channels, repeats)
    for expansion, kernel, stride, out_channels, repeats in (
            (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
            (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)):
        for block in range(repeats):
            s = stride if block == 0 else 1
            hidden = in_channels * expansion
            if expansion != 1:
                layers.append(conv(in_channels, size, hidden, 1))
            layers.append(conv(hidden, size, hidden, kernel, s, groups=hidden))
            size //= s
            squeezed = max(1, in_channels // 4)
            layers += [pool("avgpool", hidden, size, size), conv(hidden, 1, squeezed, 1),
                       conv(squeezed, 1, hidden, 1), conv(hidden, size, out_channels, 1)]
            in_channels = out_channels
    return layers + [conv(320, 7, 1280, 1), pool("avgpool", 1280, 7, 7)]


def unet_encoder():
    layers, in_channels, size = [], 3, 256
    for width in (64, 128, 256, 512, 1024):
        layers += [conv(in_channels, size, width, 3), conv(width, size, width, 3)]
        in_channels = width
        if width != 1024:
            layers.append(pool("maxpool", width, size, 2))
            size //= 2
    return layers


NETWORKS = {"resnet50": resnet50, "vgg16": vgg16, "efficientnet_b0": efficientnet_b0,
            "unet": unet_encoder}


def _arrays(layer, batch, rng):
    x = rng.standard_normal((batch, layer.channels, layer.size, layer.size)).astype(np.float32)
    if layer.kind != "conv":
        return x, None
    weight = rng.standard_normal((layer.out_channels, layer.channels // layer.groups,
                                  layer.kernel, layer.kernel)).astype(np.float32)
    return x, weight


def _contenders(layer, batch, threads, backward, rng):
    """name -> (callable, context, pause) for cyconv and torch on ``layer``."""
    x, weight = _arrays(layer, batch, rng)
    tx = torch.from_numpy(x)
    functional = torch.nn.functional
    if layer.kind == "conv":
        args = (layer.stride, layer.padding, 1, layer.groups)
        tw = torch.from_numpy(weight)
        if backward:
            out_shape = cyconv.conv2d_plan(x.shape, weight.shape, *args).layer.out_shape
            grad = rng.standard_normal(out_shape).astype(np.float32)
            tg = torch.from_numpy(grad)

            def ours():
                cyconv.conv2d_backward(grad, x, weight, *args, workers=threads)

            def theirs():
                torch.ops.aten.convolution_backward(
                    tg, tx, tw, [layer.out_channels], [layer.stride] * 2, [layer.padding] * 2,
                    [1, 1], False, [0, 0], layer.groups, [True, True, False])
        else:
            def ours():
                cyconv.conv2d(x, weight, None, *args, workers=threads)

            def theirs():
                with torch.no_grad():
                    functional.conv2d(tx, tw, None, *args)
    else:
        window = (layer.kernel, layer.stride, layer.padding)
        ours_function = cyconv.max_pool2d if layer.kind == "maxpool" else cyconv.avg_pool2d
        theirs_function = functional.max_pool2d if layer.kind == "maxpool" else functional.avg_pool2d

        def ours():
            ours_function(x, *window, workers=threads)

        def theirs():
            with torch.no_grad():
                theirs_function(tx, *window)

    return {"cyconv": (ours, contextlib.nullcontext, 0.0),
            "torch": (theirs, _timing.torch_threads(torch, threads), 0.0)}


def plan_name(layer, batch):
    if layer.kind != "conv":
        return layer.kind
    return cyconv.conv2d_plan((batch, layer.channels, layer.size, layer.size),
                              (layer.out_channels, layer.channels // layer.groups,
                               layer.kernel, layer.kernel),
                              layer.stride, layer.padding, 1, layer.groups).algorithm


def describe(layer):
    if layer.kind == "conv":
        text = (f"conv {layer.channels}->{layer.out_channels} {layer.size}^2 "
                f"{layer.kernel}x{layer.kernel}")
        text += f" s{layer.stride}" if layer.stride != 1 else ""
        text += " dw" if layer.groups == layer.channels and layer.groups > 1 else ""
        return text
    return f"{layer.kind} {layer.channels} {layer.size}^2 {layer.kernel}x{layer.kernel} s{layer.stride}"


def measure(networks, batches, threads, repeat):
    """Rows per (network, pass, batch, threads): per layer and the network total."""
    rng = np.random.default_rng(0)
    rows = []
    for network in networks:
        counts = collections.Counter(NETWORKS[network]())
        for batch in batches:
            passes = ["forward"] + (["backward"] if batch == max(batches) else [])
            for direction in passes:
                for count in threads:
                    layers = []
                    for layer, uses in counts.items():
                        if direction == "backward" and layer.kind != "conv":
                            continue
                        medians = _timing.interleaved_medians(
                            _contenders(layer, batch, count, direction == "backward", rng),
                            repeat, budget=2.0, pair_below=0.05)
                        layers.append({"layer": describe(layer), "uses": uses,
                                       "plan": plan_name(layer, batch), **medians})
                    rows.append({"network": network, "pass": direction, "batch": batch,
                                 "threads": count, "layers": layers})
    return rows


def format_rows(rows):
    lines = []
    summary = []
    for row in rows:
        title = (f"{row['network']} {row['pass']} batch {row['batch']} "
                 f"{row['threads']} thread(s)")
        lines.append(f"\n{title}")
        lines.append(f"{'layer':44} {'uses':>4} {'plan':>13} {'cyconv ms':>10} "
                     f"{'torch ms':>9} {'x torch':>8}")
        total = {"cyconv": 0.0, "torch": 0.0}
        worst = None
        for layer in row["layers"]:
            ratio = layer["torch"] / layer["cyconv"]
            worst = min(worst or ratio, ratio)
            for name in total:
                total[name] += layer["uses"] * layer[name]
            lines.append(f"{layer['layer']:44} {layer['uses']:4} {layer['plan']:>13} "
                         f"{layer['cyconv'] * 1e3:10.3f} {layer['torch'] * 1e3:9.3f} "
                         f"{ratio:8.2f}")
        ratio = total["torch"] / total["cyconv"]
        lines.append(f"{'network total':44} {'':4} {'':>13} {total['cyconv'] * 1e3:10.2f} "
                     f"{total['torch'] * 1e3:9.2f} {ratio:8.2f}")
        summary.append(f"{title:58} total x torch {ratio:5.2f}   worst layer {worst:5.2f}")
    return "\n".join(lines + ["", "Summary (torch time / cyconv time; above 1: cyconv faster)"]
                     + summary)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated networks: " + ", ".join(NETWORKS))
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--json", help="also write the rows to this file")
    options = parser.parse_args()
    if torch is None:
        raise SystemExit("bench_networks.py compares against torch: pip install torch")
    networks = options.only.split(",") if options.only else list(NETWORKS)
    unknown = set(networks) - set(NETWORKS)
    if unknown:
        raise SystemExit(f"unknown networks {sorted(unknown)}; choose from {list(NETWORKS)}")
    rows = measure(networks, [int(b) for b in options.batches.split(",")],
                   [int(t) for t in options.threads.split(",")], 3 if options.quick else 7)
    print(_timing.machine())
    print(format_rows(rows))
    if options.json:
        with open(options.json, "w") as handle:
            json.dump({"machine": _timing.machine(), "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
