"""Side-by-side timing of cyconv.conv2d / conv2d_backward against torch and a NumPy floor.

Run ``PYTHONPATH=. python benchmarks/bench_conv2d.py`` from the repository root
(an in-place build) or with cyconv installed: one table
of median times (one run, so the ratios compare like with like), GFLOP/s,
the speed relative to torch's CPU convolution (when installed) and to a plain
NumPy im2col + matmul, and the fraction of this machine's GEMM peak in the
row's type (sgemm or dgemm, measured here with scipy's BLAS).  A benchmark,
not a test: on a shared machine read the ratios, not the absolute times.

GFLOP/s count the direct convolution's multiply-adds.  3x3 layers with many
channels run Winograd F(2x2, 3x3), which does 2.25 times fewer, so their
effective rate (and %peak) can pass the GEMM peak.
"""
import contextlib
import time

import numpy as np
import scipy.linalg.blas

import cyconv

if __package__:  # imported as benchmarks.bench_conv2d (docs_results.py, asv)
    from . import _timing
else:  # run as a script: benchmarks/ is sys.path[0]
    import _timing

SETTLE_SECONDS = _timing.SETTLE_SECONDS
OPENBLAS_SETTLE_SECONDS = _timing.OPENBLAS_SETTLE_SECONDS
_blas_threads = _timing.blas_threads
_median_time = _timing.median_time
_interleaved_medians = _timing.interleaved_medians

# (name, N, C_in, H, W, C_out, kernel, stride, padding, groups)
LAYERS = [
    ("N8 C64 56x56 3x3->64 p1", 8, 64, 56, 56, 64, 3, 1, 1, 1),
    ("N8 C3 224x224 7x7->64 s2 p3", 8, 3, 224, 224, 64, 7, 2, 3, 1),
    ("N8 C256 56x56 1x1->64", 8, 256, 56, 56, 64, 1, 1, 0, 1),
    ("N8 C128 28x28 3x3->128 p1", 8, 128, 28, 28, 128, 3, 1, 1, 1),
    ("N8 C256 28x28 3x3 dw p1", 8, 256, 28, 28, 256, 3, 1, 1, 256),
    ("N1 C64 56x56 3x3->64 p1", 1, 64, 56, 56, 64, 3, 1, 1, 1),
]


def gemm_peak(dtype, threads, size=2048, repeat=5):
    """GFLOP/s of scipy's GEMM in ``dtype`` (sgemm or dgemm) on ``size``-square
    matrices with ``threads`` threads."""
    rng = np.random.default_rng(0)
    a = np.asfortranarray(rng.random((size, size)).astype(dtype))
    b = np.asfortranarray(rng.random((size, size)).astype(dtype))
    gemm = scipy.linalg.blas.get_blas_funcs("gemm", dtype=dtype)
    with _blas_threads(threads):
        seconds = _median_time(lambda: gemm(1.0, a, b), repeat)
    time.sleep(OPENBLAS_SETTLE_SECONDS)
    return 2 * size**3 / seconds / 1e9


def _numpy_columns(x, kernel, stride, padding):
    """(N, C*k*k, L) columns by strided views: the plain NumPy im2col."""
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kernel, kernel), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]
    n, c, out_h, out_w = windows.shape[:4]
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kernel * kernel, out_h * out_w), (out_h, out_w)


def numpy_forward(x, weight, stride, padding, groups):
    cols, (out_h, out_w) = _numpy_columns(x, weight.shape[2], stride, padding)
    n, out_channels = x.shape[0], weight.shape[0]
    cols = cols.reshape(n, groups, -1, out_h * out_w)
    kernels = weight.reshape(groups, out_channels // groups, -1)
    return np.matmul(kernels, cols).reshape(n, out_channels, out_h, out_w)


def numpy_backward(grad_out, x, weight, stride, padding, groups):
    kernel = weight.shape[2]
    cols, (out_h, out_w) = _numpy_columns(x, kernel, stride, padding)
    n, channels, height, width = x.shape
    out_channels = weight.shape[0]
    cols = cols.reshape(n, groups, -1, out_h * out_w)
    grad = grad_out.reshape(n, groups, out_channels // groups, out_h * out_w)
    kernels = weight.reshape(groups, out_channels // groups, -1)
    grad_w = np.matmul(grad, cols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(weight.shape)
    grad_cols = np.matmul(kernels.transpose(0, 2, 1), grad).reshape(
        n, channels, kernel, kernel, out_h, out_w)
    grad_padded = np.zeros((n, channels, height + 2 * padding, width + 2 * padding), x.dtype)
    for ky in range(kernel):
        for kx in range(kernel):
            grad_padded[:, :, ky:ky + stride * out_h:stride, kx:kx + stride * out_w:stride] += \
                grad_cols[:, :, ky, kx]
    grad_x = grad_padded[:, :, padding:padding + height, padding:padding + width]
    return grad_x, grad_w, grad_out.sum(axis=(0, 2, 3))


def _torch_functions(torch, x, weight, grad_out, stride, padding, groups):
    tx, tw, tg = (torch.from_numpy(a) for a in (x, weight, grad_out))
    tb = torch.zeros(weight.shape[0], dtype=tx.dtype)

    def forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(tx, tw, tb, stride, padding, 1, groups)

    def backward():
        # What autograd runs for conv2d's backward.
        torch.ops.aten.convolution_backward(tg, tx, tw, [weight.shape[0]], [stride] * 2,
                                            [padding] * 2, [1, 1], False, [0, 0], groups,
                                            [True, True, True])

    return forward, backward


# (direction, dtype) pairs measured: the float32 layer pair, and float64 forward.
CASES = (("forward", "float32"), ("backward", "float32"), ("forward", "float64"))


def conv2d_table(threads=(1, 2), repeat=7, cases=CASES):
    """Rows of median times for every layer, (direction, dtype) case and thread count.

    Each row is a dict: layer, direction, dtype, threads, cyconv/torch/numpy
    seconds (torch None when not installed), cyconv GFLOP/s, the speed-up over
    torch and over NumPy (peer time / cyconv time) and the fraction of the
    GEMM peak of the row's type at that thread count.
    """
    try:
        import torch
    except ImportError:
        torch = None
    peaks = {(dtype, count): gemm_peak(dtype, count)
             for dtype in sorted({dtype for _, dtype in cases}) for count in threads}
    rng = np.random.default_rng(0)
    rows = []
    for name, n, c, h, w, c_out, kernel, stride, padding, groups in LAYERS:
        for dtype in sorted({dtype for _, dtype in cases}):
            x = rng.standard_normal((n, c, h, w)).astype(dtype)
            weight = rng.standard_normal((c_out, c // groups, kernel, kernel)).astype(dtype)
            bias = np.zeros(c_out, dtype)
            out = cyconv.conv2d(x, weight, bias, stride, padding, 1, groups)
            grad_out = rng.standard_normal(out.shape).astype(dtype)
            flops = 2 * out.size * (c // groups) * kernel * kernel
            ours = {
                "forward": lambda count: cyconv.conv2d(x, weight, bias, stride, padding, 1, groups,
                                                       workers=count),
                "backward": lambda count: cyconv.conv2d_backward(grad_out, x, weight, stride,
                                                                 padding, 1, groups, workers=count),
            }
            floor = {
                "forward": lambda: numpy_forward(x, weight, stride, padding, groups),
                "backward": lambda: numpy_backward(grad_out, x, weight, stride, padding, groups),
            }
            peers = dict(zip(("forward", "backward"),
                             _torch_functions(torch, x, weight, grad_out, stride, padding, groups)
                             if torch is not None else (None, None)))
            for direction in [d for d, case_dtype in cases if case_dtype == dtype]:
                work = flops * (2 if direction == "backward" else 1)
                for count in threads:
                    contenders = {
                        "cyconv": (lambda: ours[direction](count), contextlib.nullcontext,
                                   SETTLE_SECONDS),
                        "numpy": (floor[direction], lambda: _blas_threads(count),
                                  OPENBLAS_SETTLE_SECONDS),
                    }
                    if torch is not None:
                        torch.set_num_threads(count)
                        contenders["torch"] = (peers[direction], contextlib.nullcontext,
                                               SETTLE_SECONDS)
                    time.sleep(OPENBLAS_SETTLE_SECONDS)
                    medians = _interleaved_medians(contenders, repeat)
                    seconds, numpy_seconds = medians["cyconv"], medians["numpy"]
                    torch_seconds = medians.get("torch")
                    gflops = work / seconds / 1e9
                    rows.append({
                        "layer": name, "direction": direction, "dtype": dtype, "threads": count,
                        "cyconv_s": seconds, "torch_s": torch_seconds, "numpy_s": numpy_seconds,
                        "gflops": gflops,
                        "vs_torch": None if torch_seconds is None else torch_seconds / seconds,
                        "vs_numpy": numpy_seconds / seconds,
                        "gemm_peak_gflops": peaks[dtype, count],
                        "of_peak": gflops / peaks[dtype, count],
                    })
    return rows


def format_table(rows):
    header = (f"{'layer':<29} {'dir':<8} {'dtype':<7} {'thr':>3} {'cyconv ms':>9} "
              f"{'torch ms':>9} {'numpy ms':>9} {'GFLOP/s':>8} {'xtorch':>6} {'xnumpy':>6} "
              f"{'%peak':>5}")
    lines = [header, "-" * len(header)]
    for row in rows:
        torch_ms = "-" if row["torch_s"] is None else f"{row['torch_s'] * 1e3:9.2f}"
        vs_torch = "-" if row["vs_torch"] is None else f"{row['vs_torch']:6.2f}"
        lines.append(
            f"{row['layer']:<29} {row['direction']:<8} {row['dtype']:<7} {row['threads']:>3} "
            f"{row['cyconv_s'] * 1e3:9.2f} {torch_ms:>9} {row['numpy_s'] * 1e3:9.2f} "
            f"{row['gflops']:8.1f} {vs_torch:>6} {row['vs_numpy']:6.2f} "
            f"{100 * row['of_peak']:5.0f}")
    peaks = sorted({(row["dtype"], row["threads"], row["gemm_peak_gflops"]) for row in rows})
    lines.append("GEMM peak (scipy BLAS, 2048^2), %peak's reference: "
                 + ", ".join(f"{dtype} {count} thread(s) {gflops:.0f} GFLOP/s"
                             for dtype, count, gflops in peaks))
    lines.append("xtorch / xnumpy: peer time / cyconv time (higher is better for cyconv); "
                 "GFLOP/s of the direct algorithm (Winograd rows can pass 100 %peak)")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(conv2d_table()))
