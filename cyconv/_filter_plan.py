"""How a linear filter of cyconv.ndimage is computed: dense, or as 1-D passes.

A `FilterPlan` is the choice for one call: the passes that run, and why.
`plan_correlate` makes it for an N-D correlation kernel.  A kernel that is an
outer product of 1-D kernels (rank 1) is run as one pass per axis when the
cost model says that is cheaper; any other kernel runs as one dense pass.
Passes are computed in the output's floating type, so the choice only changes
rounding; integer outputs never get here (they are computed in scipy's order,
see ``cyconv/ndimage.py``).
"""
import functools
import math
import types
from dataclasses import dataclass, field

import numpy as np

from cyconv._fft import THREADS_START_SECONDS, choose_tiling

# scipy.ndimage leaves out weights no larger than this (NI_Correlate).
WEIGHT_EPSILON = np.finfo(np.float64).eps

# A kernel is rank 1 when the outer product of its factors reproduces every
# weight within this many float64 rounding steps of its largest weight: the
# factors then differ from the kernel by less than the passes' own rounding.
RANK1_TOLERANCE_STEPS = 64

# The cost model, in seconds per output element on one core: every pass
# streams its input and output once (PASS_SECONDS) and does one multiply-add
# per tap (TAP_SECONDS).  Fitted by tools/calibrate_filter_plan.py over 1-D
# passes of 3-33 taps and dense kernels 3x3-63x63 on 2048^2 images (AMD EPYC,
# AVX-512 kernels; relative least squares, the median of three runs: TAP
# 0.0219-0.0229 and 0.0434-0.0442 ns, PASS 0.24-0.39 and 0.61-0.80 ns).
# The fit is within 10-20 % of the dense kernels and 30 % of the passes
# (those along columns run slower than it, those along rows faster).  With
# these, 3x3 rank-1 kernels run dense, 5x5 dense in float32 and as passes in
# float64 (either way within 10-25 % of the other) and 7x7 and larger as
# passes (1.4-2x faster).
# (The fit before the register tiles were unrolled, 0.57 + 0.029 ns, put a
# 31x9 float32 kernel on 4096x1024 at 36 ms: it ran in 26 ms, and the FFT
# tiles the model had chosen instead in 36 ms.)
PASS_SECONDS = {np.dtype(np.float32): 0.33e-9, np.dtype(np.float64): 0.61e-9}
TAP_SECONDS = {np.dtype(np.float32): 0.022e-9, np.dtype(np.float64): 0.044e-9}
# scipy's running sum for the uniform filter (lines.uniform_pass), seconds
# per output element on one core, measured on 2048^2 images by the same
# script: along columns (16 or more neighbouring lines read in place) and
# along rows (lines gathered a few at a time).  Its cost does not depend on
# the window: with these, columns take it from 19 taps (float32) or 7
# (float64) on, rows from 60 (float32) or 42 (float64).
RUNNING_SUM_SECONDS = {
    (np.dtype(np.float32), "columns"): 1.1e-9, (np.dtype(np.float32), "rows"): 2.3e-9,
    (np.dtype(np.float64), "columns"): 1.3e-9, (np.dtype(np.float64), "rows"): 3.0e-9,
}
# Trying to factor a new kernel (rank1_factors) on a 7x7 kernel: 17-30 us.
RANK1_TEST_SECONDS = 25e-6
# Lines side by side in lines.pyx: with fewer inner columns the lines are rows.
RUNNING_SUM_COLUMNS = 16


@dataclass(frozen=True)
class Pass:
    """One correlation pass: ``weights`` (as many axes as the data, size 1 where unused)."""

    weights: np.ndarray = field(repr=False)

    @property
    def axes(self):
        return tuple(a for a, n in enumerate(self.weights.shape) if n > 1)

    def __repr__(self):
        return f"Pass(shape={self.weights.shape})"


@dataclass(frozen=True)
class FilterPlan:
    """How a correlation runs, and why.

    ``method`` is 'dense' (the tiled kernels, every tap), 'separable' (one
    pass per axis of a rank-1 kernel) or 'fft' (`cyconv._fft.fft_correlate`
    with ``tiling``).  ``costs`` holds the cost model's seconds for each
    candidate (empty when the method was asked for) and ``notes`` what else
    decided it; ``reason`` puts them in words.  ``threads`` is how many
    threads pay for themselves (None: the caller's).
    """

    method: str
    passes: tuple
    notes: tuple = ()
    tiling: object = None
    costs: dict = field(default_factory=dict)
    threads: int = None

    @property
    def reason(self):
        words = []
        if self.costs:
            others = ", ".join(f"{name} {_seconds(cost)}" for name, cost in self.costs.items()
                               if name != self.method)
            words.append(_seconds(self.costs[self.method]) + (f" against {others}" if others
                                                              else ""))
        return "; ".join(words + list(self.notes))

    def __str__(self):
        shapes = ", ".join("x".join(map(str, p.weights.shape)) for p in self.passes)
        how = f", {self.tiling}" if self.tiling is not None else (
            f", on {self.threads} threads" if self.threads and self.threads > 1 else "")
        return f"{self.method} ({shapes}{how}): {self.reason}"


def significant(weights):
    """``weights`` with the values scipy leaves out (all but |w| > eps, so NaN too) set to zero."""
    weights = np.array(weights, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        weights[~(np.abs(weights) > WEIGHT_EPSILON)] = 0.0
    return weights


def rank1_factors(weights, epsilon=WEIGHT_EPSILON):
    """The 1-D factors of a rank-1 kernel, one per axis longer than 1, or None.

    Each factor is the line of the kernel through its largest weight, all but
    the first divided by that weight, so that their outer product is the
    kernel; None unless it reproduces every weight within RANK1_TOLERANCE_STEPS
    rounding steps ``epsilon`` of the largest weight.
    """
    axes = [a for a, n in enumerate(weights.shape) if n > 1]
    if len(axes) < 2 or not np.isfinite(weights).all():
        return None
    pivot_index = np.unravel_index(np.argmax(np.abs(weights)), weights.shape)
    pivot = weights[pivot_index]
    if pivot == 0:
        return None
    factors = []
    for position, axis in enumerate(axes):
        line = list(pivot_index)
        line[axis] = slice(None)
        factor = weights[tuple(line)].copy()
        factors.append(factor if position == 0 else factor / pivot)
    product = factors[0]
    for factor in factors[1:]:
        product = np.multiply.outer(product, factor)
    error = np.abs(product - weights.reshape([weights.shape[a] for a in axes])).max()
    if error > RANK1_TOLERANCE_STEPS * epsilon * abs(pivot):
        return None
    return [(axis, factor) for axis, factor in zip(axes, factors)]


def rank1_epsilon(dtype):
    """The rounding step a kernel is rank 1 within: that of the type its passes compute in.

    A float32 Gaussian is rank 1 to float32's precision, not to float64's.
    """
    return np.finfo(np.float32).eps if np.dtype(dtype) == np.float32 else WEIGHT_EPSILON


def split_passes(factors, ndim):
    """`rank1_factors`'s factors as one `Pass` per axis of an ``ndim``-axis kernel."""
    passes = []
    for axis, factor in factors:
        shape = [1] * ndim
        shape[axis] = factor.size
        passes.append(Pass(factor.reshape(shape)))
    return tuple(passes)


@functools.lru_cache(maxsize=64)
def _cached_rank1_factors(shape, epsilon, weights_bytes):
    """`rank1_factors`, remembered for the last kernels seen (filters repeat their kernel)."""
    return rank1_factors(np.frombuffer(weights_bytes).reshape(shape), epsilon)


def prefer_running_sum(dtype, size, inner):
    """Whether a uniform filter of ``size`` is cheaper as scipy's running sum than as taps.

    ``inner`` is the number of elements after the filtered axis (1 along the
    last axis).
    """
    layout = "columns" if inner >= RUNNING_SUM_COLUMNS else "rows"
    dtype = np.dtype(dtype)
    running = RUNNING_SUM_SECONDS.get((dtype, layout), RUNNING_SUM_SECONDS[
        (np.dtype(np.float64), layout)])
    return running < _cost(dtype, 1, [size])


def _cost(dtype, elements, taps_per_pass):
    dtype = np.dtype(dtype)
    planes = 4 if dtype.kind == "c" else 1
    if dtype.kind == "c":
        dtype = np.dtype(np.float32) if dtype == np.complex64 else np.dtype(np.float64)
    per_pass = PASS_SECONDS.get(dtype, PASS_SECONDS[np.dtype(np.float64)])
    per_tap = TAP_SECONDS.get(dtype, TAP_SECONDS[np.dtype(np.float64)])
    return planes * elements * sum(per_pass + per_tap * taps for taps in taps_per_pass)


def _on_threads(seconds, threads):
    """The direct kernels' one-thread ``seconds`` on as many of ``threads`` as pay, and those."""
    shared = seconds / threads + THREADS_START_SECONDS
    return (shared, threads) if threads > 1 and shared < seconds else (seconds, 1)


def _seconds(value):
    return f"{value * 1e3:.3g} ms"


@functools.lru_cache(maxsize=256)
def _ranked_candidates(kernel_shape, out_shape, dtype, threads, fft):
    """The candidates cheapest first, their costs, threads and the FFT's tiling.

    From the shapes alone, so remembered: costing them took 16 us of a 3x3
    call on 240x320 that computes in 20 us.
    """
    elements = math.prod(out_shape)
    lengths = [n for n in kernel_shape if n > 1]
    costs, threads_for = {}, {}
    # The dense kernels add up one 2-D correlation per plane of the kernel's
    # leading axes, each a pass over the output (16x256^2 float32 with 9x11x13
    # weights: 3.8 ns per output and kernel plane, the model 3.5 ns).
    costs["dense"], threads_for["dense"] = _on_threads(
        _cost(dtype, elements, [math.prod(kernel_shape[-2:])] * math.prod(kernel_shape[:-2])),
        threads)
    # Trying to factor the kernel costs RANK1_TEST_SECONDS: worth it only if
    # the passes would save more.
    if len(lengths) >= 2 and dtype in PASS_SECONDS and (
            costs["dense"] - _on_threads(_cost(dtype, elements, lengths), threads)[0]
            > RANK1_TEST_SECONDS):
        costs["separable"], threads_for["separable"] = _on_threads(
            _cost(dtype, elements, lengths), threads)
    tiling = None
    if fft and elements:
        tiling = choose_tiling(out_shape, kernel_shape, dtype, threads)
        costs["fft"], threads_for["fft"] = tiling.seconds, tiling.threads
    # Read-only: every plan of these shapes shares them.
    return (tuple(sorted(costs, key=costs.get)), types.MappingProxyType(costs), threads_for,
            tiling)


@functools.lru_cache(maxsize=256)
def dense_first_plan(kernel_shape, out_shape, dtype, threads, fft):
    """The plan, without its pass, when the cheapest candidate is dense; else None.

    A dense plan depends on the shapes alone (it has no condition to check),
    so callers that hold the kernel themselves share one: building it took
    4 us of a 20 us 3x3 call.
    """
    ranked, costs, threads_for, _ = _ranked_candidates(kernel_shape, out_shape, dtype, threads,
                                                       fft)
    if ranked[0] != "dense":
        return None
    return FilterPlan("dense", (), costs=costs, threads=threads_for["dense"])


def plan_correlate(weights, out_shape, dtype, *, threads=1, finite=None, fft=False,
                   split_output_checked=False):
    """The plan of a correlation with ``weights`` giving ``out_shape`` outputs of ``dtype``.

    ``weights`` has one axis per data axis (size 1 where the filter does not
    reach) and holds only significant weights (see `significant`).  The
    candidates are costed from the shapes alone, cheapest first, and a
    candidate's conditions are checked only when it is the cheapest: a
    rank-1 factorisation, and for passes over zero weights (which would
    propagate a NaN or inf that the dense kernel leaves out, as scipy does)
    or for an FFT (which spreads one over everything), finite data as
    ``finite`` (a callable) says.  ``fft`` allows the FFT (floating data).
    ``split_output_checked`` says the caller looks for NaN or inf in the
    passes' output and then runs the dense sum instead (passes and dense sum
    agree wherever a window holds neither), so the data are not scanned for
    the passes.
    """
    weights = np.asarray(weights)
    weights = weights if weights.dtype.kind == "c" else weights.astype(np.float64)
    dtype = np.dtype(dtype)
    ranked, costs, threads_for, tiling = _ranked_candidates(
        weights.shape, tuple(out_shape), dtype, threads, fft)
    finite_data = []

    def is_finite():
        if not finite_data:
            finite_data.append(finite is not None and finite())
        return finite_data[0]

    notes = []
    for method in ranked:
        if method == "dense":
            return FilterPlan("dense", (Pass(weights),), tuple(notes), costs=costs,
                              threads=threads_for["dense"])
        if method == "fft":
            if is_finite():
                return FilterPlan("fft", (Pass(weights),), tuple(notes), tiling, costs,
                                  threads_for["fft"])
            notes.append("fft refused: the data hold NaN or inf, which it would spread")
            continue
        factors = _cached_rank1_factors(weights.shape, rank1_epsilon(dtype), weights.tobytes())
        if factors is None:
            notes.append("separable refused: the kernel is not rank 1")
            continue
        if split_output_checked:
            notes.append("dense instead if the output holds NaN or inf")
        elif (weights == 0).any() and not is_finite():
            notes.append("separable refused: the passes would spread the NaN or inf "
                         "that the dense sum keeps to its windows")
            continue
        return FilterPlan("separable", split_passes(factors, weights.ndim), tuple(notes),
                          costs=costs,
                          threads=threads_for["separable"])
