"""Pooling side by side: cyconv, torch (when installed) and a NumPy sliding-window floor.

``python benchmarks/bench_pooling.py`` prints one table for float32 N=8, C=64,
112x112, then adaptive pooling (N=8: ResNet's global average, VGG's 14x14 to
7x7, 13x13 to 6x6 whose windows do not divide the input, 7x7 to 13x13, an
output larger than its input), at 1 and 2 threads: median milliseconds and
GB/s (bytes read plus written) next to this machine's copy bandwidth, all
measured in one run with the implementations timed in turn so that a busy
machine slows them alike.
"""
import statistics
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import cyconv

SHAPE = (8, 64, 112, 112)


def _median_seconds(calls, repeat):
    """Median wall time of each callable, timed in turn ``repeat`` times after a warm-up."""
    for call in calls.values():
        call()
    times = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def copy_bandwidth(repeat=5):
    """GB/s of ``np.copyto`` on 64 MiB (bytes read plus written)."""
    source = np.ones(16 * 2**20, np.float32)
    target = np.empty_like(source)
    seconds = _median_seconds({"copy": lambda: np.copyto(target, source)}, repeat)["copy"]
    return 2 * source.nbytes / seconds / 1e9


def _numpy_window_pool(x, kernel, stride, padding, is_max):
    """The floor: every window materialised as a view, reduced by NumPy."""
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                    constant_values=-np.inf if is_max else 0)
    windows = sliding_window_view(padded, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    return windows.max(axis=(-2, -1)) if is_max else windows.mean(axis=(-2, -1))


def _numpy_max_backward(grad, indices, shape):
    planes = shape[0] * shape[1]
    grad_x = np.zeros((planes, shape[2] * shape[3]), grad.dtype)
    np.add.at(grad_x, (np.arange(planes)[:, None], indices.reshape(planes, -1)),
              grad.reshape(planes, -1))
    return grad_x.reshape(shape)


def _numpy_adaptive_pool(x, output_size, is_max):
    """The floor: one NumPy reduction per window of torch's adaptive rule."""
    (height, width), (out_h, out_w) = x.shape[-2:], output_size
    out = np.empty(x.shape[:-2] + output_size, x.dtype)
    reduce = np.max if is_max else np.mean
    for i in range(out_h):
        rows = slice(i * height // out_h, -(-(i + 1) * height // out_h))
        for j in range(out_w):
            cols = slice(j * width // out_w, -(-(j + 1) * width // out_w))
            out[..., i, j] = reduce(x[..., rows, cols], axis=(-2, -1))
    return out


def _numpy_adaptive_avg_backward(grad, shape):
    (height, width), (out_h, out_w) = shape[-2:], grad.shape[-2:]
    grad_x = np.zeros(shape, grad.dtype)
    for i in range(out_h):
        r0, r1 = i * height // out_h, -(-(i + 1) * height // out_h)
        for j in range(out_w):
            c0, c1 = j * width // out_w, -(-(j + 1) * width // out_w)
            grad_x[..., r0:r1, c0:c1] += grad[..., i, j, None, None] / ((r1 - r0) * (c1 - c0))
    return grad_x


# (name, input shape, output size, "avg", "max", "max+indices" or "avg backward").
ADAPTIVE_CASES = [
    ("adaptive avg 2048x7x7 -> 1", (8, 2048, 7, 7), (1, 1), "avg"),
    ("adaptive avg 2048x7x7 -> 1 bwd", (8, 2048, 7, 7), (1, 1), "avg backward"),
    ("adaptive avg 512x14x14 -> 7", (8, 512, 14, 14), (7, 7), "avg"),
    ("adaptive avg 256x13x13 -> 6", (8, 256, 13, 13), (6, 6), "avg"),
    ("adaptive max 256x13x13 -> 6", (8, 256, 13, 13), (6, 6), "max"),
    ("adaptive max+idx 256x13x13 -> 6", (8, 256, 13, 13), (6, 6), "max+indices"),
    ("adaptive avg 256x13x13 -> 6 bwd", (8, 256, 13, 13), (6, 6), "avg backward"),
    ("adaptive avg 256x7x7 -> 13", (8, 256, 7, 7), (13, 13), "avg"),
    ("adaptive max 256x7x7 -> 13", (8, 256, 7, 7), (13, 13), "max"),
]


def _adaptive_cases(torch):
    """`_cases` for adaptive pooling, each case on an input of its own shape."""
    functional = torch.nn.functional if torch else None
    cases = []
    for name, shape, size, op in ADAPTIVE_CASES:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        tensor = torch.from_numpy(x) if torch else None
        if op == "avg backward":
            grad = np.random.default_rng(1).standard_normal(shape[:2] + size).astype(np.float32)
            calls = {
                "cyconv": lambda t, g=grad, s=shape:
                    cyconv.adaptive_avg_pool2d_backward(g, s, workers=t),
                "numpy": lambda t, g=grad, s=shape: _numpy_adaptive_avg_backward(g, s),
            }
            if torch:
                calls["torch"] = lambda t, g=torch.from_numpy(grad), x=tensor: \
                    torch.ops.aten._adaptive_avg_pool2d_backward(g, x)
            cases.append((name, 2 * x.nbytes + grad.nbytes, calls))
            continue
        is_max = op != "avg"
        ours = cyconv.adaptive_max_pool2d if is_max else cyconv.adaptive_avg_pool2d
        kwargs = {"return_indices": True} if op == "max+indices" else {}
        calls = {
            "cyconv": lambda t, f=ours, x=x, s=size, k=kwargs: f(x, s, workers=t, **k),
            "numpy": lambda t, x=x, s=size, m=is_max: _numpy_adaptive_pool(x, s, m),
        }
        if torch:
            # torch's adaptive max pooling finds the indices whether or not it returns them.
            peer = functional.adaptive_max_pool2d if is_max else functional.adaptive_avg_pool2d
            calls["torch"] = lambda t, f=peer, x=tensor, s=size: f(x, s)
        out_bytes = np.prod(shape[:2] + size) * (4 + (8 if kwargs else 0))
        cases.append((name, x.nbytes + int(out_bytes), calls))
    return cases


def _cases(x, torch):
    """(name, bytes moved, {implementation: callable taking the thread count})."""
    functional = torch.nn.functional if torch else None
    tensor = torch.from_numpy(x) if torch else None
    cases = []
    for name, is_max, kernel, stride, padding in [
        ("max 3x3 s2 p1", True, 3, 2, 1),
        ("max 2x2 s2", True, 2, 2, 0),
        ("avg 2x2 s2", False, 2, 2, 0),
        ("avg 3x3 s1 p1", False, 3, 1, 1),
    ]:
        ours = cyconv.max_pool2d if is_max else cyconv.avg_pool2d
        out = ours(x, kernel, stride, padding)
        calls = {
            "cyconv": lambda t, f=ours, k=kernel, s=stride, p=padding: f(x, k, s, p, workers=t),
            "numpy": lambda t, m=is_max, k=kernel, s=stride, p=padding:
                _numpy_window_pool(x, k, s, p, m),
        }
        if torch:
            peer = functional.max_pool2d if is_max else functional.avg_pool2d
            calls["torch"] = lambda t, f=peer, k=kernel, s=stride, p=padding: f(tensor, k, s, p)
        cases.append((name, x.nbytes + out.nbytes, calls))

    out, indices = cyconv.max_pool2d(x, 3, 2, 1, return_indices=True)
    grad = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    calls = {
        "cyconv": lambda t: cyconv.max_pool2d_backward(grad, indices, x.shape, workers=t),
        "numpy": lambda t: _numpy_max_backward(grad, indices, x.shape),
    }
    if torch:
        grad_tensor, index_tensor = torch.from_numpy(grad), torch.from_numpy(indices)
        calls["torch"] = lambda t: torch.ops.aten.max_pool2d_with_indices_backward(
            grad_tensor, tensor, [3, 3], [2, 2], [1, 1], [1, 1], False, index_tensor)
    cases.append(("max 3x3 s2 p1 backward", grad.nbytes + indices.nbytes + x.nbytes, calls))
    return cases


def pooling_table(threads=(1, 2), repeat=5):
    """Rows ``{case, threads, <impl> ms, <impl> GB/s, ...}``; the NumPy floor is single-threaded."""
    try:
        import torch
    except ImportError:
        torch = None
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    rows = []
    for name, nbytes, calls in _cases(x, torch) + _adaptive_cases(torch):
        for count in threads:
            if torch:
                torch.set_num_threads(count)
            seconds = _median_seconds({impl: (lambda c=call, n=count: c(n))
                                       for impl, call in calls.items()}, repeat)
            row = {"case": name, "threads": count}
            for impl, value in seconds.items():
                row[f"{impl} ms"] = value * 1e3
                row[f"{impl} GB/s"] = nbytes / value / 1e9
            rows.append(row)
    return rows


def main():
    copy = copy_bandwidth()
    rows = pooling_table()
    has_torch = "torch ms" in rows[0]
    header = f"{'case':<32}{'thr':>4}{'cyconv ms':>11}{'GB/s':>7}"
    header += f"{'torch ms':>10}{'GB/s':>7}{'x torch':>9}" if has_torch else ""
    header += f"{'numpy ms':>10}{'x numpy':>9}"
    print(f"float32 {SHAPE} (adaptive: N=8, C x H x W -> output size), medians; "
          f"copy bandwidth {copy:.1f} GB/s (read + written)")
    print(header)
    for row in rows:
        line = f"{row['case']:<32}{row['threads']:>4}{row['cyconv ms']:>11.3f}{row['cyconv GB/s']:>7.1f}"
        if has_torch:
            line += f"{row['torch ms']:>10.3f}{row['torch GB/s']:>7.1f}"
            line += f"{row['torch ms'] / row['cyconv ms']:>9.2f}"
        line += f"{row['numpy ms']:>10.1f}{row['numpy ms'] / row['cyconv ms']:>9.1f}"
        print(line)


if __name__ == "__main__":
    main()
