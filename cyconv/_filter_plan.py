"""How a linear filter of cyconv.ndimage is computed: dense, or as 1-D passes.

A `FilterPlan` is the choice for one call: the passes that run, and why.
`plan_correlate` makes it for an N-D correlation kernel.  A kernel that is an
outer product of 1-D kernels (rank 1) is run as one pass per axis when the
cost model says that is cheaper; any other kernel runs as one dense pass.
Passes are computed in the output's floating type, so the choice only changes
rounding; integer outputs never get here (they are computed in scipy's order,
see ``cyconv/ndimage.py``).
"""
import math
from dataclasses import dataclass, field

import numpy as np

# scipy.ndimage leaves out weights no larger than this (NI_Correlate).
WEIGHT_EPSILON = np.finfo(np.float64).eps

# A kernel is rank 1 when the outer product of its factors reproduces every
# weight within this many float64 rounding steps of its largest weight: the
# factors then differ from the kernel by less than the passes' own rounding.
RANK1_TOLERANCE_STEPS = 64

# The cost model, in seconds per output element on one core: every pass
# streams its input and output once (PASS_SECONDS) and does one multiply-add
# per tap (TAP_SECONDS).  Fitted by tools/calibrate_filter_plan.py over 1-D
# passes of 3-33 taps and dense kernels 3x3-15x15 on 2048^2 images (AMD EPYC,
# AVX-512 kernels; the fit is within 10-20 % of most points, 40 % of 33-tap
# column passes in float64).  With these, 3x3 and 5x5 rank-1 kernels run
# dense and 7x7 and larger as passes.
PASS_SECONDS = {np.dtype(np.float32): 0.57e-9, np.dtype(np.float64): 0.98e-9}
TAP_SECONDS = {np.dtype(np.float32): 0.029e-9, np.dtype(np.float64): 0.049e-9}
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
    """The passes a correlation runs as, and why: ``method`` is 'dense' or 'separable'."""

    method: str
    passes: tuple
    reason: str

    def __str__(self):
        shapes = ", ".join("x".join(map(str, p.weights.shape)) for p in self.passes)
        return f"{self.method} ({shapes}): {self.reason}"


def significant(weights):
    """``weights`` with the values scipy leaves out (all but |w| > eps, so NaN too) set to zero."""
    weights = np.array(weights, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        weights[~(np.abs(weights) > WEIGHT_EPSILON)] = 0.0
    return weights


def rank1_factors(weights):
    """The 1-D factors of a rank-1 kernel, one per axis longer than 1, or None.

    Each factor is the line of the kernel through its largest weight, all but
    the first divided by that weight, so that their outer product is the
    kernel; None unless it reproduces every weight within the tolerance.
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
    if error > RANK1_TOLERANCE_STEPS * WEIGHT_EPSILON * abs(pivot):
        return None
    return [(axis, factor) for axis, factor in zip(axes, factors)]


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
    per_pass = PASS_SECONDS.get(dtype, PASS_SECONDS[np.dtype(np.float64)])
    per_tap = TAP_SECONDS.get(dtype, TAP_SECONDS[np.dtype(np.float64)])
    return elements * sum(per_pass + per_tap * taps for taps in taps_per_pass)


def plan_correlate(weights, input_shape, dtype, finite=None):
    """The plan of a correlation of data of ``input_shape`` and ``dtype`` with ``weights``.

    ``weights`` has one axis per data axis (size 1 where the filter does not
    reach) and holds only significant weights (see `significant`).  The cost
    model is consulted first, from the shapes alone, so that small kernels
    are not factored at all.  Passes would propagate a NaN or inf that a zero
    weight of the dense kernel leaves out (as scipy does), so a kernel with
    zeros is split only when ``finite`` (a callable saying whether the data
    are all finite) allows it.
    """
    weights = np.asarray(weights, dtype=np.float64)
    dense = (Pass(weights),)
    lengths = [n for n in weights.shape if n > 1]
    if len(lengths) < 2:
        return FilterPlan("dense", dense, "the kernel spans at most one axis")
    elements = math.prod(input_shape)
    dense_cost = _cost(dtype, elements, [weights.size])
    split_cost = _cost(dtype, elements, lengths)
    if split_cost >= dense_cost:
        return FilterPlan("dense", dense,
                          f"{len(lengths)} passes would cost more than one "
                          f"({split_cost:.3g} s against {dense_cost:.3g} s)")
    factors = rank1_factors(weights)
    if factors is None:
        return FilterPlan("dense", dense, "the kernel is not rank 1")
    if (weights == 0).any() and not (finite is not None and finite()):
        return FilterPlan("dense", dense,
                          "rank 1, but zero weights must leave out the NaN and inf they meet")
    passes = []
    for axis, factor in factors:
        shape = [1] * weights.ndim
        shape[axis] = factor.size
        passes.append(Pass(factor.reshape(shape)))
    return FilterPlan("separable", tuple(passes),
                      f"rank 1: {len(passes)} passes cost {split_cost:.3g} s against "
                      f"{dense_cost:.3g} s dense")
