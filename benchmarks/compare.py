"""Side-by-side timing of cyconv against the peers installed, in one run.

    python benchmarks/compare.py            # the full correlate2d table
    python benchmarks/compare.py --quick    # fewer sizes and kernels
    python benchmarks/compare.py --targets  # the speed issue's target cases only
    python benchmarks/compare.py --json results.json   # also save the rows

Every figure is a median over repeated calls taken in this run; ratios are
peer time / cyconv time (above 1: cyconv is faster).  The machine is shared
and noisy: compare ratios from one run, never absolute times across runs.
GFLOP/s counts 2 x outputs x taps; the peak is a float64/float32 GEMM measured
here, one thread.
"""
import argparse
import json

import numpy as np
import scipy.ndimage
import scipy.signal

import cyconv

if __package__:  # imported as benchmarks.compare (asv, docs_results.py)
    from . import _timing
else:  # run as a script: benchmarks/ is sys.path[0]
    import _timing

gemm_peak_gflops = _timing.gemm_peak_gflops
median_seconds = _timing.median_seconds
optional = _timing.optional

NDIMAGE_MODE = {"fill": "constant", "symm": "reflect", "wrap": "wrap"}

cv2 = optional("cv2")
torch = optional("torch")


def set_peer_threads(threads):
    if cv2 is not None:
        cv2.setNumThreads(threads)
    if torch is not None:
        torch.set_num_threads(threads)


def peer_functions(image, kernel, boundary):
    """name -> zero-argument callable giving the 'same' correlation, where available."""
    peers = {
        "scipy.signal.correlate2d": lambda: scipy.signal.correlate2d(image, kernel, "same", boundary),
        "ndimage.correlate": lambda: scipy.ndimage.correlate(image, kernel, mode=NDIMAGE_MODE[boundary]),
    }
    if boundary == "fill":
        peers["signal.correlate(auto)"] = lambda: scipy.signal.correlate(image, kernel, "same")
    if cv2 is not None and boundary in ("fill", "symm"):
        border = cv2.BORDER_CONSTANT if boundary == "fill" else cv2.BORDER_REFLECT
        peers["cv2.filter2D"] = lambda: cv2.filter2D(image, -1, kernel, borderType=border)
    if torch is not None and boundary == "fill":
        timage = torch.from_numpy(image)[None, None]
        tkernel = torch.from_numpy(np.ascontiguousarray(kernel))[None, None]
        peers["torch conv2d"] = lambda: torch.nn.functional.conv2d(timage, tkernel, padding="same")
    return peers


def correlate_rows(sizes, kernels, boundaries, dtypes, threads, repeat, method="direct"):
    rng = np.random.default_rng(0)
    rows = []
    for size in sizes:
        for dtype in dtypes:
            image = rng.standard_normal((size, size)).astype(dtype)
            for ksize in kernels:
                kernel = rng.standard_normal((ksize, ksize)).astype(dtype)
                for boundary in boundaries:
                    row = dict(size=size, dtype=np.dtype(dtype).name, kernel=ksize, boundary=boundary)
                    flops = 2 * size * size * ksize * ksize
                    for count in threads:
                        row[f"cyconv w{count}"] = median_seconds(
                            lambda: cyconv.correlate2d(image, kernel, "same", boundary,
                                                       method=method, workers=count), repeat)
                        row[f"GF/s w{count}"] = flops / row[f"cyconv w{count}"] / 1e9
                    for count in threads:
                        set_peer_threads(count)
                        for name, func in peer_functions(image, kernel, boundary).items():
                            single_threaded = name.startswith(("scipy", "ndimage", "signal"))
                            if single_threaded and count != threads[0]:
                                continue
                            label = name if single_threaded else f"{name} w{count}"
                            try:
                                row[label] = median_seconds(func, repeat, budget=3.0)
                            except (RuntimeError, MemoryError) as exc:
                                # torch's 'same' padding of large float64 kernels can ask
                                # for tens of GB; such a peer is left out of the row.
                                print(f"  ({label} failed for k={ksize}: {str(exc)[:60]})")
                    rows.append(row)
    return rows


def textbook_rows(repeat):
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    image = np.ones((6, 8))
    image[:, 2:6] = 0
    edge = np.array([[1.0, -1.0]])
    cases = [("3x3 X, 2x2 K valid", X, K), ("6x8 edge, [1,-1] valid", image, edge)]
    rows = []
    for label, a, k in cases:
        ours = median_seconds(lambda: cyconv.correlate2d(a, k, "valid"), repeat * 200)
        theirs = median_seconds(lambda: scipy.signal.correlate2d(a, k, "valid"), repeat * 200)
        rows.append({"case": label, "cyconv us": ours * 1e6, "scipy us": theirs * 1e6,
                     "cyconv/scipy time": ours / theirs})
    return rows


def print_correlate_table(rows, threads):
    columns = [c for c in rows[0] if c not in ("size", "dtype", "kernel", "boundary")]
    for row in rows[1:]:
        columns += [c for c in row if c not in columns and c not in ("size", "dtype", "kernel", "boundary")]
    ours = [f"cyconv w{count}" for count in threads]
    peers = [c for c in columns if c not in ours and not c.startswith("GF/s")]
    header = f"{'image':>5} {'dtype':>7} {'k':>3} {'bound':>5} | " + " ".join(f"{c:>10}" for c in ours)
    header += " | " + " ".join(f"{'GF/s ' + c[7:]:>8}" for c in ours)
    header += " | " + " ".join(f"{p[:22]:>22}" for p in peers)
    print(header)
    print("-" * len(header))
    for row in rows:
        line = f"{row['size']:>5} {row['dtype']:>7} {row['kernel']:>3} {row['boundary']:>5} | "
        line += " ".join(f"{row[c] * 1e3:8.2f}ms" for c in ours)
        line += " | " + " ".join(f"{row['GF/s ' + c[7:]]:8.1f}" for c in ours)
        cells = []
        for peer in peers:
            if peer not in row:
                cells.append(f"{'-':>22}")
                continue
            # Ratio against cyconv at the same thread count (1 for single-threaded peers).
            match = [c for c in ours if peer.endswith(c[6:])] or [ours[0]]
            ratio = row[peer] / row[match[0]]
            cells.append(f"{row[peer] * 1e3:10.2f}ms {ratio:8.1f}x")
        print(line + " | " + " ".join(cells))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="512 and 2048, kernels 3 and 9, fill only")
    parser.add_argument("--targets", action="store_true", help="the speed issue's target cases")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="write every row (times in seconds) to this file")
    args = parser.parse_args(argv)
    saved = {}
    threads = (1, 2)
    print(f"cyconv {cyconv.__version__}; peers: scipy {scipy.__version__}"
          f"{', cv2 ' + cv2.__version__ if cv2 else ''}{', torch ' + torch.__version__ if torch else ''}")
    print(f"one-thread GEMM peak: float64 {gemm_peak_gflops(np.float64):.1f} GFLOP/s, "
          f"float32 {gemm_peak_gflops(np.float32):.1f} GFLOP/s\n")
    if args.targets:
        print("== targets: 2048x2048 'same' (ratios = peer time / cyconv time)")
        rows = correlate_rows([2048], [3, 5, 9, 15], ["fill"], [np.float64, np.float32], threads, args.repeat)
        rows += correlate_rows([2048], [5], ["symm", "wrap"], [np.float64], threads, args.repeat)
        print_correlate_table(rows, threads)
        print("\n== 31x31 and larger, method='auto' vs scipy.signal.correlate(method='auto')")
        saved["correlate2d auto"] = correlate_rows([2048], [31, 63], ["fill"], [np.float64], threads,
                                                   args.repeat, method="auto")
        print_correlate_table(saved["correlate2d auto"], threads)
    else:
        sizes, kernels, boundaries = [512, 2048], [3, 5, 9, 15, 31], ["fill", "symm", "wrap"]
        if args.quick:
            kernels, boundaries = [3, 9], ["fill"]
        print("== correlate2d 'same', method='direct' (ratios = peer time / cyconv time)")
        rows = correlate_rows(sizes, kernels, boundaries, [np.float64, np.float32], threads, args.repeat)
        print_correlate_table(rows, threads)
    saved["correlate2d"] = rows
    print("\n== the textbook's tiny cases, per call")
    saved["textbook"] = textbook_rows(args.repeat)
    for row in saved["textbook"]:
        print(f"  {row['case']:<26} cyconv {row['cyconv us']:7.1f} us   scipy {row['scipy us']:7.1f} us"
              f"   time ratio {row['cyconv/scipy time']:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(saved, handle, indent=1)


if __name__ == "__main__":
    main()
