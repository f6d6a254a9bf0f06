"""Pooling side by side: cyconv, torch (when installed) and a NumPy sliding-window floor.

``python benchmarks/bench_pooling.py`` prints one table for float32 N=8, C=64,
112x112 at 1 and 2 threads: median milliseconds and GB/s (bytes read plus
written) next to this machine's copy bandwidth, all measured in one run with
the implementations timed in turn so that a busy machine slows them alike.
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
    for name, nbytes, calls in _cases(x, torch):
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
    header = f"{'case':<24}{'thr':>4}{'cyconv ms':>11}{'GB/s':>7}"
    header += f"{'torch ms':>10}{'GB/s':>7}{'x torch':>9}" if has_torch else ""
    header += f"{'numpy ms':>10}{'x numpy':>9}"
    print(f"float32 {SHAPE}, medians; copy bandwidth {copy:.1f} GB/s (read + written)")
    print(header)
    for row in rows:
        line = f"{row['case']:<24}{row['threads']:>4}{row['cyconv ms']:>11.2f}{row['cyconv GB/s']:>7.1f}"
        if has_torch:
            line += f"{row['torch ms']:>10.2f}{row['torch GB/s']:>7.1f}"
            line += f"{row['torch ms'] / row['cyconv ms']:>9.1f}"
        line += f"{row['numpy ms']:>10.1f}{row['numpy ms'] / row['cyconv ms']:>9.1f}"
        print(line)


if __name__ == "__main__":
    main()
