"""cyconv.ndimage side by side with scipy.ndimage and OpenCV, in one run.

    PYTHONPATH=. python benchmarks/bench_ndimage.py            # every case (several minutes)
    PYTHONPATH=. python benchmarks/bench_ndimage.py --quick    # fewer cases and repeats
    PYTHONPATH=. python benchmarks/bench_ndimage.py --only correlate,stack
    PYTHONPATH=. python benchmarks/bench_ndimage.py --json docs/_static/benchmarks/ndimage.json

One table: each row times cyconv.ndimage at workers=1 and workers=2,
scipy.ndimage (always one thread) and, for float32 2-D images, OpenCV at
cv2.setNumThreads(1) and (2) when ``cv2`` is installed
(``pip install opencv-python-headless``).  The contenders are timed in turns
(``_timing.interleaved_medians``), so a slow spell of a shared machine falls
on all of them alike; read the ratios, not the absolute times.

- ``x scipy w1`` / ``x scipy w2``: scipy's time over cyconv's at 1 / 2
  threads; ``x cv2 wN``: OpenCV's time over cyconv's at the same thread
  count.  Above 1, cyconv is faster.
- ``GF/s``: 2 x outputs x taps of the kernel applied, over cyconv's time:
  all taps of ``correlate``'s random (not separable) kernels, the 1-D taps
  summed over the axes for ``gaussian_filter`` and ``uniform_filter`` (their
  separable passes; ``uniform_filter`` may need fewer operations).  The
  header gives this machine's one-thread GEMM peak for scale.
- ``target`` / ``met``: the speed goals set for cyconv.ndimage on the row and
  whether this run meets them (``10x@1``: at least 10x at one thread;
  ``@any``: at either thread count); a missed goal shows the ratio reached.
- The peers are the same computation: mode ``'reflect'`` is OpenCV's
  ``BORDER_REFLECT`` and ``'mirror'`` its ``BORDER_REFLECT_101``;
  ``cv2.GaussianBlur`` gets ``ksize = 2 * int(4 * sigma + 0.5) + 1`` (scipy's
  radius at ``truncate=4``).  Each output is checked against scipy's once
  (``check``) before the timing.
- Stacks: cyconv filters the whole stack in one call with ``axes=(1, 2)``;
  the peers are a Python loop over the images, writing into one
  preallocated output.
"""
import argparse
import contextlib
import json

import numpy as np
import scipy
import scipy.ndimage

if __package__:  # imported as benchmarks.bench_ndimage (asv, docs_results.py)
    from . import _timing
else:  # run as a script: benchmarks/ is sys.path[0]
    import _timing

cyconv = _timing.optional("cyconv")
ndimage = _timing.optional("cyconv.ndimage")
cv2 = _timing.optional("cv2")

THREADS = (1, 2)
CV2_BORDER = {"reflect": 2, "mirror": 4}  # cv2.BORDER_REFLECT, cv2.BORDER_REFLECT_101
# A contender whose timed calls add up to more than this many seconds stops
# after three of them (scipy takes seconds on the large kernels).
BUDGET_SECONDS = 3.0
# The speed goals, as (peer, thread count or None for either, minimum ratio).
CORRELATE_TARGETS = [("scipy", 1, 10.0), ("scipy", 2, 18.0)]
CV2_TARGETS = [("cv2", 1, 1.0), ("cv2", 2, 1.0)]
FILTER_TARGETS = [("scipy", 1, 10.0)]
VOLUME_TARGETS = [("scipy", None, 8.0)]
STACK_TARGETS = [("scipy", None, 20.0)]
GROUPS = ("correlate", "gaussian", "uniform", "volume", "stack")


def gaussian_ksize(sigma, truncate=4.0):
    """OpenCV's kernel size for scipy's Gaussian radius ``int(truncate * sigma + 0.5)``."""
    return 2 * int(truncate * sigma + 0.5) + 1


@contextlib.contextmanager
def cv2_threads(count):
    cv2.setNumThreads(count)
    yield


def _loop(filter_one, stack, out):
    """A peer's stack filter: one call per image into ``out``."""
    def run():
        for image, target in zip(stack, out):
            filter_one(image, target)
        return out
    return run


def cases(groups, quick, size, volume, stack_shape):
    """Yield one dict per case: group, label, short (the figure's label), dtype,
    flops, targets, and the callables ``ours(workers)``, ``scipy()`` and
    ``cv2()`` (None when not measured)."""
    rng = np.random.default_rng(0)
    dtypes = (np.float64, np.float32)
    if "correlate" in groups:
        kernels, modes = ((3, 9), ("reflect",)) if quick else ((3, 5, 9, 15), ("reflect", "mirror"))
        for dtype in dtypes:
            image = rng.standard_normal((size, size)).astype(dtype)
            for k in kernels:
                weights = rng.standard_normal((k, k)).astype(dtype)
                for mode in modes:
                    case = dict(
                        group="correlate", label=f"correlate {size}^2 {k}x{k} {mode}",
                        short=f"{k}x{k} {mode}",
                        dtype=np.dtype(dtype).name, flops=2 * image.size * k * k,
                        targets=list(CORRELATE_TARGETS),
                        ours=lambda w, a=image, k=weights, m=mode:
                            ndimage.correlate(a, k, mode=m, workers=w),
                        scipy=lambda a=image, k=weights, m=mode:
                            scipy.ndimage.correlate(a, k, mode=m),
                        cv2=None)
                    if cv2 is not None and dtype == np.float32:
                        case["cv2"] = lambda a=image, k=weights, m=mode: \
                            cv2.filter2D(a, -1, k, borderType=CV2_BORDER[m])
                        case["targets"] += CV2_TARGETS
                    yield case
    for group in ("gaussian", "uniform"):
        if group not in groups:
            continue
        params = {"gaussian": (1, 2, 4, 8), "uniform": (3, 7, 15, 31)}[group]
        if quick:
            params = params[::2]
        for dtype in dtypes:
            image = rng.standard_normal((size, size)).astype(dtype)
            for param in params:
                if group == "gaussian":
                    taps = gaussian_ksize(param)
                    label = f"gaussian_filter {size}^2 sigma {param}"
                    short = f"sigma {param}, {np.dtype(dtype).name}"
                    ours = lambda w, a=image, s=param: ndimage.gaussian_filter(a, s, workers=w)
                    peer = lambda a=image, s=param: scipy.ndimage.gaussian_filter(a, s)
                    other = lambda a=image, s=param, t=taps: \
                        cv2.GaussianBlur(a, (t, t), s, borderType=CV2_BORDER["reflect"])
                else:
                    taps = param
                    label = f"uniform_filter {size}^2 size {param}"
                    short = f"size {param}, {np.dtype(dtype).name}"
                    ours = lambda w, a=image, s=param: ndimage.uniform_filter(a, s, workers=w)
                    peer = lambda a=image, s=param: scipy.ndimage.uniform_filter(a, s)
                    other = lambda a=image, s=param: \
                        cv2.blur(a, (s, s), borderType=CV2_BORDER["reflect"])
                use_cv2 = cv2 is not None and dtype == np.float32
                yield dict(group=group, label=label, short=short, dtype=np.dtype(dtype).name,
                           flops=2 * image.size * 2 * taps,
                           targets=FILTER_TARGETS + (CV2_TARGETS if use_cv2 else []),
                           ours=ours, scipy=peer, cv2=other if use_cv2 else None)
    if "volume" in groups:
        data = rng.standard_normal((volume,) * 3).astype(np.float32)
        weights = rng.standard_normal((5, 5, 5)).astype(np.float32)
        yield dict(group="volume", label=f"correlate {volume}^3 5x5x5 reflect", dtype="float32",
                   short=f"correlate {volume}^3, 5x5x5",
                   flops=2 * data.size * weights.size, targets=list(VOLUME_TARGETS),
                   ours=lambda w, a=data, k=weights: ndimage.correlate(a, k, workers=w),
                   scipy=lambda a=data, k=weights: scipy.ndimage.correlate(a, k), cv2=None)
    if "stack" in groups:
        count, side = stack_shape
        stack = rng.standard_normal((count, side, side)).astype(np.float32)
        weights = rng.standard_normal((5, 5)).astype(np.float32)
        out = np.empty_like(stack)
        name = f"stack {count}x{side}^2"
        taps = gaussian_ksize(2)
        yield dict(
            group="stack", label=f"{name} gaussian sigma 2, axes (1, 2)", dtype="float32",
            short=f"{count} images, gaussian",
            flops=2 * stack.size * 2 * taps, targets=list(STACK_TARGETS),
            ours=lambda w: ndimage.gaussian_filter(stack, 2, axes=(1, 2), workers=w),
            scipy=_loop(lambda a, o: scipy.ndimage.gaussian_filter(a, 2, output=o), stack, out),
            cv2=None if cv2 is None else _loop(
                lambda a, o: cv2.GaussianBlur(a, (taps, taps), 2, dst=o,
                                              borderType=CV2_BORDER["reflect"]), stack, out))
        yield dict(
            group="stack", label=f"{name} correlate 5x5, axes (1, 2)", dtype="float32",
            short=f"{count} images, 5x5",
            flops=2 * stack.size * weights.size, targets=list(STACK_TARGETS),
            ours=lambda w: ndimage.correlate(stack, weights, axes=(1, 2), workers=w),
            scipy=_loop(lambda a, o: scipy.ndimage.correlate(a, weights, output=o), stack, out),
            cv2=None if cv2 is None else _loop(
                lambda a, o: cv2.filter2D(a, -1, weights, dst=o,
                                          borderType=CV2_BORDER["reflect"]), stack, out))


def _agrees(result, reference):
    """Same values up to float32 rounding, relative to the largest."""
    result = np.asarray(result, np.float64)
    reference = np.asarray(reference, np.float64)
    scale = max(float(np.abs(reference).max(initial=0.0)), 1e-30)
    error = float(np.abs(result - reference).max(initial=0.0))
    return result.shape == reference.shape and error <= 1e-4 * scale


def measure(case, repeat):
    """The row of one case: seconds per contender, GF/s, the check and the targets."""
    row = {key: case[key] for key in ("group", "label", "short", "dtype")}
    contenders = {}
    for count in THREADS:
        contenders[f"cyconv w{count}"] = (lambda c=count: case["ours"](c), contextlib.nullcontext,
                                          _timing.SETTLE_SECONDS)
    contenders["scipy"] = (case["scipy"], contextlib.nullcontext, _timing.SETTLE_SECONDS)
    if case["cv2"] is not None:
        for count in THREADS:
            contenders[f"cv2 w{count}"] = (case["cv2"], lambda c=count: cv2_threads(c),
                                           _timing.SETTLE_SECONDS)
    # Check once (it doubles as every contender's first warm-up call); copies,
    # because the stack peers write into one shared output.
    reference = np.array(case["scipy"]())
    problems = []
    for name, (function, context, _) in list(contenders.items()):
        if name == "scipy":
            continue
        try:
            with context():
                result = np.array(function())
        except Exception as exc:  # noqa: BLE001 - a failing contender leaves the row, not the run
            problems.append(f"{name} raised {type(exc).__name__}: {str(exc)[:80]}")
            del contenders[name]
            continue
        if not _agrees(result, reference):
            problems.append(f"{name} differs from scipy")
    row["check"] = "; ".join(problems) or "ok"
    seconds = _timing.interleaved_medians(contenders, repeat, budget=BUDGET_SECONDS,
                                          pair_below=0.05)
    row.update(seconds)
    for count in THREADS:
        key = f"cyconv w{count}"
        if key in row:
            row[f"GF/s w{count}"] = case["flops"] / row[key] / 1e9
    row["targets"] = []
    for peer, threads, minimum in case["targets"]:
        counts = THREADS if threads is None else (threads,)
        ratios = {count: ratio(row, peer, count) for count in counts}
        met = [count for count, value in ratios.items() if value is not None and value >= minimum]
        row["targets"].append({"peer": peer, "threads": threads, "minimum": minimum,
                               "ratios": {str(c): v for c, v in ratios.items()},
                               "met": bool(met), "met_at": met})
    return row


def ratio(row, peer, count):
    """Peer time / cyconv time at ``count`` threads (scipy: always its one thread)."""
    ours = row.get(f"cyconv w{count}")
    theirs = row.get(peer if peer == "scipy" else f"{peer} w{count}")
    return None if ours is None or theirs is None else theirs / ours


def target_text(row):
    """The row's goals by peer, e.g. ``scipy 10x@1 18x@2; cv2 1x@1 1x@2`` (``@any``: either count)."""
    by_peer = {}
    for target in row["targets"]:
        where = "any" if target["threads"] is None else target["threads"]
        by_peer.setdefault(target["peer"], []).append(f"{target['minimum']:g}x@{where}")
    return "; ".join(f"{peer} {' '.join(goals)}" for peer, goals in by_peer.items())


def met_text(row):
    missed = []
    for target in row["targets"]:
        if not target["met"]:
            best = max((v for v in target["ratios"].values() if v is not None), default=None)
            where = "@any" if target["threads"] is None else f"@{target['threads']}"
            missed.append(f"{target['peer']}{where} " + ("-" if best is None else f"{best:.1f}x"))
    if missed:
        return "NO: " + ", ".join(missed)
    if any(t["threads"] is None and t["met_at"] == [THREADS[-1]] for t in row["targets"]):
        return f"yes (the @any at {THREADS[-1]} threads only)"
    return "yes"


def _ms(seconds):
    return f"{'-':>8}" if seconds is None else f"{seconds * 1e3:8.2f}"


def _x(value):
    return f"{'-':>6}" if value is None else f"{value:6.1f}"


def format_table(rows, peaks):
    """The table as text; OpenCV's columns only when some row measured it."""
    has_cv2 = any(f"cv2 w{count}" in row for row in rows for count in THREADS)
    header = (f"{'case':<44} {'dtype':<7} | {'cyconv w1':>9} {'w2':>8} | {'GF/s w1':>7} {'w2':>5} | "
              f"{'scipy':>8} {'x w1':>6} {'x w2':>6} | ")
    if has_cv2:
        header += f"{'cv2 w1':>8} {'x':>6} {'cv2 w2':>8} {'x':>6} | "
    header += f"{'target':<32} met"
    lines = [header, "-" * len(header)]
    for row in rows:
        gflops = [row.get(f"GF/s w{count}") for count in THREADS]
        line = (f"{row['label']:<44} {row['dtype']:<7} | {_ms(row.get('cyconv w1')):>9} "
                f"{_ms(row.get('cyconv w2'))} | "
                + ("      -" if gflops[0] is None else f"{gflops[0]:7.1f}")
                + ("     -" if gflops[1] is None else f"{gflops[1]:6.1f}")
                + f" | {_ms(row.get('scipy'))} {_x(ratio(row, 'scipy', 1))} "
                f"{_x(ratio(row, 'scipy', 2))} | ")
        if has_cv2:
            line += (f"{_ms(row.get('cv2 w1'))} {_x(ratio(row, 'cv2', 1))} "
                     f"{_ms(row.get('cv2 w2'))} {_x(ratio(row, 'cv2', 2))} | ")
        lines.append(line + f"{target_text(row):<32} {met_text(row)}")
    met = sum(all(t["met"] for t in row["targets"]) for row in rows)
    lines.append("")
    lines.append(f"targets met in {met} of {len(rows)} rows.  Times in ms (medians); x: peer time / "
                 "cyconv time (higher: cyconv faster); scipy is single-threaded, its 'x w2' is "
                 "against cyconv at 2 threads.")
    if not has_cv2:
        lines.append("OpenCV not measured (pip install opencv-python-headless): its targets are left out.")
    lines.append("one-thread GEMM peak: " + ", ".join(f"{dtype} {value:.1f} GFLOP/s"
                                                    for dtype, value in peaks.items())
                 + "; GF/s: 2 x outputs x taps applied (separable filters: 1-D taps summed over axes).")
    failed = [f"  {row['label']} {row['dtype']}: {row['check']}" for row in rows if row["check"] != "ok"]
    if failed:
        lines.append("outputs that do not match scipy's (or raised):")
        lines.extend(failed)
    return "\n".join(lines)


def ndimage_table(groups=GROUPS, quick=False, repeat=5, size=2048, volume=200, stack=(300, 256),
                  progress=False):
    """Rows of ``measure`` for every case of ``groups`` (see ``cases``)."""
    if ndimage is None:
        raise ImportError("cyconv.ndimage is not importable: build cyconv in place "
                          "(PYTHONPATH=.) or install it")
    rows = []
    for case in cases(groups, quick, size, volume, stack):
        rows.append(measure(case, repeat))
        if progress:
            print(f"  measured {case['label']} {case['dtype']}", flush=True)
    return rows


def peak_gflops():
    """This machine's one-thread GEMM speed by dtype, for scale."""
    return {np.dtype(dtype).name: _timing.gemm_peak_gflops(dtype) for dtype in (np.float64, np.float32)}


def json_tables(rows, peaks):
    """What ``--json`` saves next to ``machine``: the performance page reads ``ndimage``."""
    return {"peak_gflops": peaks,
            "versions": {"cyconv": cyconv.__version__, "scipy": scipy.__version__,
                         "cv2": cv2.__version__ if cv2 else None},
            "ndimage": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="half the kernels, sigmas and sizes, 'reflect' only, 3 repeats")
    parser.add_argument("--repeat", type=int, help="timed calls per contender (default 5, --quick 3)")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"comma-separated case groups among {', '.join(GROUPS)}")
    parser.add_argument("--size", type=int, default=2048, help="side of the 2-D images (2048)")
    parser.add_argument("--volume", type=int, default=200, help="side of the 3-D volume (200)")
    parser.add_argument("--stack", default="300x256",
                        help="COUNTxSIDE of the image stack (300x256)")
    parser.add_argument("--json", help="also write the rows (times in seconds) to this file; "
                        "docs/_static/benchmarks/ndimage.json is the performance page's")
    args = parser.parse_args(argv)
    groups = [group.strip() for group in args.only.split(",") if group.strip()]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown groups {sorted(unknown)}; choose among {', '.join(GROUPS)}")
    count, _, side = args.stack.partition("x")
    stack = (int(count), int(side))
    repeat = args.repeat or (3 if args.quick else 5)
    if ndimage is None:
        parser.exit(1, "cyconv.ndimage is not importable: build cyconv in place and run with "
                       "PYTHONPATH=. from the repository root, or install cyconv\n")

    print(f"cyconv {cyconv.__version__}; peers: scipy {scipy.__version__}"
          + (f", cv2 {cv2.__version__}" if cv2 else " (cv2 not installed: no OpenCV columns)"))
    peaks = peak_gflops()
    print("one-thread GEMM peak: " + ", ".join(f"{d} {v:.1f} GFLOP/s" for d, v in peaks.items()))
    rows = ndimage_table(groups, args.quick, repeat, args.size, args.volume, stack, progress=True)
    print()
    print(format_table(rows, peaks))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": _timing.machine(), **json_tables(rows, peaks)}, handle, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
