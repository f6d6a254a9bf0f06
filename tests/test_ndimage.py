"""cyconv.ndimage against scipy.ndimage (the oracle) and tests/reference.py.

Every check calls scipy.ndimage and cyconv.ndimage with the same arguments
and asks for the same outcome: the same exception type, or the same shape and
dtype, integer and bool results equal to the bit, floating results equal to
rounding of the output dtype (NaN and inf in the same places).  Where the
result is floating, the slow NumPy reference (tests/reference.py) is checked
too, so that scipy is not the only witness.
"""
import concurrent.futures
import inspect
import itertools

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import assume, given, strategies as st

from cyconv import ndimage as cndi
from reference import (
    NDIMAGE_MODES,
    ndimage_correlate,
    ndimage_gaussian_kernel,
)
from support import outcome, random_array, with_layout

MODES = NDIMAGE_MODES
FUNCTIONS = ["correlate", "convolve", "correlate1d", "convolve1d", "uniform_filter",
             "uniform_filter1d", "gaussian_filter", "gaussian_filter1d", "sobel", "prewitt",
             "laplace", "gaussian_laplace", "gaussian_gradient_magnitude"]
DTYPES = [np.uint8, np.int16, np.int32, np.int64, np.uint16, np.bool_, np.float32, np.float64,
          np.complex64, np.complex128]
MORE_INTEGERS = [np.int8, np.uint32, np.uint64]
SIGNATURES = {name: inspect.signature(getattr(ndi, name)) for name in FUNCTIONS}


# --- Helpers -------------------------------------------------------------------

def dtype_id(dtype):
    return np.dtype(dtype).name


def fresh(value):
    """A copy of an array argument (so that scipy and cyconv each get their own)."""
    if isinstance(value, np.ndarray):
        copy = np.empty_like(value)  # keeps the memory order
        copy[...] = value
        copy.flags.writeable = value.flags.writeable
        return copy
    return value


def legal_origins(size):
    """Every origin scipy accepts for a kernel of ``size`` taps along an axis."""
    return list(range(-(size // 2), (size - 1) // 2 + 1))


def extreme_origins(size):
    legal = legal_origins(size)
    return sorted({legal[0], 0, legal[-1]})


# --- Scipy's argument rules, for the reference ----------------------------------

def bind(name, x, args, kwargs):
    bound = SIGNATURES[name].bind(x, *args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.update(arguments.pop("kwargs", {}))
    return arguments


def as_axes(axes, ndim):
    if axes is None:
        return list(range(ndim))
    if np.isscalar(axes):
        axes = [axes]
    return [int(a) % ndim for a in axes]


def per_axis(value, count):
    if isinstance(value, str) or not np.iterable(value):
        return [value] * count
    return list(value)


def full_from_axes(values, axes, ndim, fill):
    full = [fill] * ndim
    for value, axis in zip(values, axes):
        full[axis] = value
    return full


def ref_correlate(x, weights, mode, cval, origin, axes, convolution):
    """scipy's rules: with fewer axes than dimensions, the kernel's dimensions go
    to the axes in increasing order (np.expand_dims) while the origins go to the
    axes in the order given; with all axes, their order is ignored."""
    x = np.asarray(x)
    weights = np.asarray(weights)
    axes = as_axes(axes, x.ndim)
    origins = per_axis(origin, len(axes))
    if len(axes) < x.ndim:
        weights = np.expand_dims(weights, tuple(a for a in range(x.ndim) if a not in axes))
        origins = full_from_axes(origins, axes, x.ndim, 0)
    if convolution:
        weights = weights[(slice(None, None, -1),) * weights.ndim]
        origins = [-o - (1 - weights.shape[i] % 2) for i, o in enumerate(origins)]
    else:
        weights = np.conj(weights)
    if weights.size == 0:  # no taps: scipy ignores the kernel's empty dimensions, sums nothing
        return np.zeros(x.shape, np.result_type(x, weights, np.float64))
    return ndimage_correlate(x, weights, [mode] * x.ndim, cval, origins)


def ref_correlate1d(x, weights, axis, mode, cval, origin, convolution=False):
    weights = np.asarray(weights)
    if convolution:
        weights = weights[::-1]
        origin = -origin - (1 - len(weights) % 2)
    else:
        weights = np.conj(weights)
    shape = [1] * np.ndim(x)
    shape[axis] = len(weights)
    origins = [0] * np.ndim(x)
    origins[axis] = origin
    modes = [mode] * np.ndim(x)
    return ndimage_correlate(x, weights.reshape(shape), modes, cval, origins)


def ref_gaussian1d(x, sigma, axis, order, mode, cval, truncate, radius):
    if radius is None:
        radius = int(truncate * float(sigma) + 0.5)
    kernel = ndimage_gaussian_kernel(float(sigma), order, radius)
    return ref_correlate1d(x, kernel[::-1], axis, mode, cval, 0)


def ref_gaussian(x, sigma, order, mode, cval, truncate, radius, axes):
    out = np.asarray(x)
    axes = as_axes(axes, out.ndim)
    sigmas, orders, modes, radii = (per_axis(v, len(axes)) for v in (sigma, order, mode, radius))
    filtered = False
    for axis, s, o, m, r in zip(axes, sigmas, orders, modes, radii):
        if s > 1e-15:
            out = ref_gaussian1d(out, s, axis, o, m, cval, truncate, r)
            filtered = True
    return out if filtered else out.astype(np.result_type(out, np.float64))


def reference(name, x, args, kwargs):
    """What scipy.ndimage.<name> computes, in float64 or complex128, from the reference."""
    a = bind(name, x, args, kwargs)
    x = np.asarray(a["input"])
    ndim = x.ndim
    if name in ("correlate", "convolve"):
        return ref_correlate(x, a["weights"], a["mode"], a["cval"], a["origin"], a["axes"],
                             name == "convolve")
    if name in ("correlate1d", "convolve1d"):
        return ref_correlate1d(x, a["weights"], a["axis"] % ndim, a["mode"], a["cval"],
                               a["origin"], name == "convolve1d")
    if name == "uniform_filter1d":
        return ref_correlate1d(x, np.ones(a["size"]) / a["size"], a["axis"] % ndim, a["mode"],
                               a["cval"], a["origin"])
    if name == "uniform_filter":
        axes = as_axes(a["axes"], ndim)
        out = x
        for axis, size, origin, mode in zip(axes, *(per_axis(a[k], len(axes))
                                                    for k in ("size", "origin", "mode"))):
            if size > 1:
                out = ref_correlate1d(out, np.ones(int(size)) / int(size), axis, mode, a["cval"],
                                      origin)
        return out.astype(np.result_type(out, np.float64))
    if name == "gaussian_filter1d":
        return ref_gaussian1d(x, a["sigma"], a["axis"] % ndim, a["order"], a["mode"], a["cval"],
                              a["truncate"], a["radius"])
    if name == "gaussian_filter":
        return ref_gaussian(x, a["sigma"], a["order"], a["mode"], a["cval"], a["truncate"],
                            a["radius"], a["axes"])
    if name in ("sobel", "prewitt"):
        axis = a["axis"] % ndim
        modes = per_axis(a["mode"], ndim)
        smooth = [1, 2, 1] if name == "sobel" else [1, 1, 1]
        out = ref_correlate1d(x, [-1, 0, 1], axis, modes[axis], a["cval"], 0)
        for other in range(ndim):
            if other != axis:
                out = ref_correlate1d(out, smooth, other, modes[other], a["cval"], 0)
        return out
    axes = as_axes(a["axes"], ndim)
    modes = per_axis(a["mode"], len(axes))
    extra = {k: a[k] for k in ("truncate", "radius") if k in a}
    if name == "laplace":
        terms = [ref_correlate1d(x, [1, -2, 1], axis, mode, a["cval"], 0)
                 for axis, mode in zip(axes, modes)]
    elif name == "gaussian_laplace":
        sigmas = full_from_axes(per_axis(a["sigma"], len(axes)), axes, ndim, 0)
        terms = [ref_gaussian(x, sigmas, [2 if i == axis else 0 for i in range(ndim)], mode,
                              a["cval"], extra.get("truncate", 4.0), extra.get("radius"), None)
                 for axis, mode in zip(axes, modes)]
    else:  # gaussian_gradient_magnitude
        terms = [ref_gaussian(x, a["sigma"], [1 if i == axis else 0 for i in range(ndim)], mode,
                              a["cval"], extra.get("truncate", 4.0), extra.get("radius"), None)
                 for axis, mode in zip(axes, modes)]
        terms = [t * t for t in terms]  # complex too: scipy squares, not |t|**2
    if not terms:
        return x.astype(np.result_type(x, np.float64))
    out = sum(terms[1:], terms[0])
    return np.sqrt(out) if name == "gaussian_gradient_magnitude" else out


def magnitude(name, x, args, kwargs):
    """(bound on |output| per unit of max|input|, number of taps summed): for tolerances."""
    a = bind(name, x, args, kwargs)
    ndim = max(np.ndim(x), 1)
    if name in ("correlate", "convolve", "correlate1d", "convolve1d"):
        weights = np.asarray(a["weights"])
        if weights.dtype.kind not in "biufc":
            return 1.0, 1
        return float(np.abs(weights).sum()), max(weights.size, 1)
    if name.startswith("uniform"):
        sizes = np.atleast_1d(np.asarray(a["size"], dtype=float))
        return 1.0, int(max(sizes.max(initial=1), 1)) * ndim
    if name == "sobel":
        return 2.0 * 4 ** (ndim - 1), 3 * ndim
    if name == "prewitt":
        return 2.0 * 3 ** (ndim - 1), 3 * ndim
    if name == "laplace":
        return 4.0 * ndim, 3 * ndim
    sigmas = np.atleast_1d(np.asarray(a["sigma"], dtype=float))
    radius = a.get("radius")
    radius = radius if isinstance(radius, (int, np.integer)) else None
    truncate = a.get("truncate", 4.0)
    per_axis_bound, taps = 1.0, 0
    for s in sigmas[sigmas > 1e-15]:
        r = radius if radius is not None else int(truncate * s + 0.5)
        bound = max(np.abs(ndimage_gaussian_kernel(s, order, r)).sum() for order in range(4))
        per_axis_bound = max(per_axis_bound, bound)
        taps += 2 * r + 1
    return ndim * per_axis_bound ** ndim, max(taps, 1) * ndim


def rtol_for(dtype, taps):
    eps = np.finfo(dtype).eps
    base = 1e-5 if eps > 1e-10 else 1e-12
    return max(base, 4 * taps * eps)


def assert_close(got, want, dtype, scale, taps, square_root=False):
    """Equal to rounding of ``dtype``: NaN and infinities in the same places."""
    got = np.asarray(got)
    want = np.asarray(want)
    for part in ((np.real, np.imag) if np.iscomplexobj(want) else (lambda v: v,)):
        g, w = part(got).astype(np.float64), part(want).astype(np.float64)
        finite = np.isfinite(w)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), "NaN placement differs")
        np.testing.assert_array_equal(g[np.isinf(w)], w[np.isinf(w)], "inf placement differs")
        rtol = rtol_for(dtype, taps)
        atol = rtol * scale
        if square_root:  # sqrt(s + d) - sqrt(s) <= sqrt(d)
            rtol, atol = np.sqrt(rtol), np.sqrt(rtol) * scale
        np.testing.assert_allclose(g[finite], w[finite], rtol=rtol, atol=atol)


def data_scale(x, cval):
    x = np.asarray(x)
    finite = np.abs(x[np.isfinite(x)]) if x.dtype.kind in "fc" else np.abs(x.astype(np.float64))
    cval_size = abs(complex(cval)) if np.isscalar(cval) and np.isfinite(complex(cval)) else 0.0
    return max(float(finite.max(initial=0)), cval_size)


def scipy_reads_out_of_bounds(name, x, args, kwargs):
    """scipy's N-D correlate reads outside the input (garbage) for 'reflect' past 4n.

    NI_Correlate's offsets for mode 'reflect' / 'grid-mirror' are wrong when a
    tap reaches 4 or more axis lengths beyond the edge of an axis longer than 1
    (correlate1d, which extends lines, is right).  There the reference is the
    oracle.
    """
    if name not in ("correlate", "convolve"):
        return False
    try:
        a = bind(name, x, args, kwargs)
        if a["mode"] not in ("reflect", "grid-mirror"):
            return False
        x = np.asarray(x)
        weights = np.asarray(a["weights"])
        axes = as_axes(a["axes"], x.ndim)
        origins = per_axis(a["origin"], len(axes))
        if len(axes) < x.ndim:
            weights = np.expand_dims(weights, tuple(i for i in range(x.ndim) if i not in axes))
            origins = full_from_axes(origins, axes, x.ndim, 0)
        for n, size, origin in zip(x.shape, weights.shape, origins):
            if name == "convolve":
                origin = -origin - (1 - size % 2)
            reach = max(size // 2 + origin, size - 1 - size // 2 - origin)
            if n > 1 and reach >= 4 * n:
                return True
    except Exception:  # noqa: BLE001 - invalid arguments: scipy raises before reading
        return False
    return False


def check(name, x, *args, reference_check=True, **kwargs):
    """cyconv.ndimage.<name>(x, *args, **kwargs) behaves as scipy's; returns cyconv's result.

    ``workers`` in ``kwargs`` goes to cyconv only.
    """
    kwargs_scipy = {k: fresh(v) for k, v in kwargs.items() if k != "workers"}
    x_copy = fresh(x)
    args_copy = [fresh(v) for v in args]
    want = outcome(getattr(ndi, name), fresh(x), *[fresh(v) for v in args], **kwargs_scipy)
    got = outcome(getattr(cndi, name), x, *args, **kwargs)
    if isinstance(want, type) or isinstance(got, type):
        assert got is want, f"scipy gave {want}, cyconv gave {got}"
        return got
    if isinstance(x, np.ndarray):
        np.testing.assert_array_equal(x, x_copy, "the input was modified")
    for value, copy in zip(args, args_copy):
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, copy, "an argument was modified")
    if isinstance(kwargs.get("output"), np.ndarray):
        assert got is kwargs["output"], "the output array given is not the one returned"
    else:  # a new array, as scipy's np.zeros
        assert got.flags.c_contiguous and got.flags.writeable
        assert not np.may_share_memory(got, np.asarray(x))
    assert type(got) is np.ndarray
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    kwargs = {k: v for k, v in kwargs.items() if k != "workers"}
    out_of_bounds = scipy_reads_out_of_bounds(name, x, args, kwargs)
    ref = None
    if reference_check or out_of_bounds:
        ref = reference(name, x, args, kwargs)
        assert ref.shape == want.shape
    if got.dtype.kind in "iub":
        if out_of_bounds:
            want = ref.astype(got.dtype) if np.array_equal(ref, np.trunc(ref)) else None
            if want is None:
                return got
        np.testing.assert_array_equal(got, want)
        return got
    l1, taps = magnitude(name, x, args, kwargs)
    scale = l1 * data_scale(x, kwargs.get("cval", 0.0))
    root = name == "gaussian_gradient_magnitude"
    if not out_of_bounds:
        assert_close(got, want, got.dtype, scale, taps, root)
    if ref is not None:
        if np.iscomplexobj(ref) and got.dtype.kind != "c":
            ref = ref.real  # a complex input copied into a real output (nothing to filter)
        assert_close(got, ref, got.dtype, scale, taps, root)
    return got


def kernel(rng, shape, dtype=np.float64):
    weights = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        weights = weights + 1j * rng.standard_normal(shape)
    return weights.astype(dtype)


# --- correlate / convolve --------------------------------------------------------

KERNEL_SHAPES = {
    1: [(1,), (2,), (3,), (4,), (7,), (12,)],
    2: [(1, 1), (3, 3), (2, 2), (1, 5), (4, 1), (2, 5), (6, 7), (9, 11)],
    3: [(1, 1, 1), (3, 3, 3), (2, 1, 3), (4, 2, 2), (1, 5, 1)],
    4: [(1, 1, 1, 1), (3, 2, 1, 3), (2, 2, 2, 2)],
}
INPUT_SHAPES = {1: [(1,), (2,), (9,), (17,)], 2: [(1, 1), (2, 3), (7, 9), (12, 5)],
                3: [(1, 4, 3), (5, 4, 6)], 4: [(3, 1, 4, 2), (2, 3, 3, 4)]}


@pytest.mark.parametrize("name", ["correlate", "convolve"])
@pytest.mark.parametrize("dtype", DTYPES + MORE_INTEGERS, ids=dtype_id)
@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_correlate_sweep(name, dtype, ndim, rng):
    """Every mode, kernel shape (odd, even, 1-wide, larger than the input) and extreme origins."""
    for shape, kshape in itertools.product(INPUT_SHAPES[ndim], KERNEL_SHAPES[ndim]):
        x = random_array(rng, shape, dtype)
        weights = kernel(rng, kshape)
        for mode in MODES:
            origin = [int(rng.choice(extreme_origins(k))) for k in kshape]
            check(name, x, weights, mode=mode, cval=1.5, origin=origin)
        check(name, x, weights, None, "constant", -2.25, [extreme_origins(k)[0] for k in kshape])
        check(name, x, weights, origin=extreme_origins(min(kshape))[-1])  # scalar origin


@pytest.mark.parametrize("name", ["correlate", "convolve"])
@pytest.mark.parametrize("pair", [
    (np.float64, np.complex128), (np.complex64, np.float64), (np.complex128, np.complex128),
    (np.complex64, np.complex64), (np.uint8, np.complex128), (np.float32, np.complex64),
    (np.int16, np.int64), (np.float32, np.float32), (np.float64, np.bool_),
], ids=str)
def test_correlate_dtype_pairs(name, pair, rng):
    """Complex inputs and kernels (conjugated by correlate), integer and bool kernels."""
    x = random_array(rng, (6, 7), pair[0])
    weights = random_array(rng, (3, 2), pair[1])
    for mode in MODES:
        check(name, x, weights, mode=mode, cval=0.5)
    check(name, x, weights, mode="constant", cval=0.5 - 1.5j)
    check(name, x, weights, mode="grid-constant", cval=2j)


@pytest.mark.parametrize("name", ["correlate", "convolve"])
def test_correlate_axes(name, rng):
    x = rng.standard_normal((5, 6, 4, 3))
    for axes, kshape in [((0,), (3,)), ((1, 3), (2, 3)), ((-1,), (4,)), ((-3, -1), (3, 2)),
                         ((2, 0), (2, 5)), (1, (5,)), ((3, 2, 1, 0), (2, 2, 2, 2)), ((), ()),
                         ((0, 1, 2), (1, 3, 2))]:
        weights = kernel(rng, kshape)
        for mode in MODES:
            check(name, x, weights, mode=mode, cval=-1.0, axes=axes)
        ndim = len(kshape)
        lowest = [extreme_origins(k)[0] for k in kshape]
        highest = [extreme_origins(k)[-1] for k in kshape]
        for origin in (lowest, highest):
            check(name, x, weights, origin=origin, axes=axes)
            if ndim == 1:
                check(name, x, weights, origin=origin[0], axes=axes)
        check(name, x.astype(np.int32), weights, mode="wrap", axes=axes)
        check(name, x.astype(np.complex64), weights, mode="mirror", axes=axes)


@pytest.mark.parametrize("name", ["correlate", "convolve"])
def test_integer_kernels_on_integers_are_exact(name, rng):
    """Integer-valued sums: any summation order gives scipy's integers exactly."""
    for dtype, mode in itertools.product([np.uint8, np.int8, np.int16, np.uint16, np.int32,
                                          np.int64, np.uint32, np.uint64], MODES):
        x = random_array(rng, (9, 8), dtype)
        weights = rng.integers(0 if np.dtype(dtype).kind == "u" else -3, 4, size=(3, 4))
        check(name, x, weights, mode=mode, cval=3)


# --- correlate1d / convolve1d ----------------------------------------------------

@pytest.mark.parametrize("name", ["correlate1d", "convolve1d"])
@pytest.mark.parametrize("dtype", DTYPES + MORE_INTEGERS, ids=dtype_id)
def test_correlate1d_sweep(name, dtype, rng):
    modes = itertools.cycle(MODES)  # three modes per case, all of them over the sweep
    for shape in [(1,), (13,), (6, 1), (4, 7), (3, 4, 5), (2, 3, 2, 4)]:
        x = random_array(rng, shape, dtype)
        for axis in range(-len(shape), len(shape)):
            for length in (1, 2, 3, 4, 5, 8, 2 * shape[axis] + 3):
                weights = kernel(rng, length)
                for mode in itertools.islice(modes, 3):
                    origin = int(rng.choice(extreme_origins(length)))
                    check(name, x, weights, axis, mode=mode, cval=-0.75, origin=origin)
    x = random_array(rng, (5, 6), dtype)
    # Symmetric and antisymmetric kernels (scipy sums these in pairs).
    for weights in ([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0], [0.25, -1.5, 3.0, -1.5, 0.25],
                    [2.0, 1.0, 0.0, -1.0, -2.0], [1.0], [0.0, 0.0, 0.0]):
        check(name, x, weights, 0, mode="nearest")
        check(name, x, weights, -1, mode="mirror")


@pytest.mark.parametrize("name", ["correlate1d", "convolve1d"])
def test_correlate1d_complex(name, rng):
    for dtypes in [(np.complex128, np.float64), (np.float64, np.complex128),
                   (np.complex64, np.complex64), (np.int16, np.complex128)]:
        x = random_array(rng, (4, 9), dtypes[0])
        weights = kernel(rng, 4, dtypes[1])
        for mode in MODES:
            check(name, x, weights, 1, mode=mode, cval=1.25, origin=-2)
        check(name, x, weights, 0, mode="constant", cval=1 + 2j, origin=1)


# --- uniform_filter ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_uniform_filter_sweep(dtype, rng):
    for shape in [(11,), (6, 9), (3, 5, 4), (2, 3, 4, 3)]:
        x = random_array(rng, shape, dtype)
        ndim = len(shape)
        for mode in MODES:
            size = int(rng.integers(1, 7))
            check("uniform_filter", x, size, mode=mode, cval=2.0,
                  origin=int(rng.choice(extreme_origins(size))))
            check("uniform_filter1d", x, size, int(rng.integers(-ndim, ndim)), mode=mode, cval=2.0,
                  origin=int(rng.choice(extreme_origins(size))))
        sizes = [int(s) for s in rng.integers(1, 6, ndim)]
        sizes[0] = 1  # an axis the filter skips
        origins = [extreme_origins(s)[-1] for s in sizes]
        modes = [MODES[i % len(MODES)] for i in range(ndim)]
        check("uniform_filter", x, sizes, mode=modes, origin=origins)
        check("uniform_filter", x, 2 * max(shape) + 1, mode="wrap")  # larger than the input
        check("uniform_filter", x, 4, mode="reflect", origin=-2)
        check("uniform_filter", x, 4, mode="reflect", origin=1)
        check("uniform_filter", x, [2] * ndim, mode=modes)
        check("uniform_filter1d", x, 1, 0)


def test_uniform_filter_axes(rng):
    x = rng.standard_normal((5, 4, 6))
    for axes, size, origin, mode in [
            ((0,), 3, 0, "reflect"), ((2, 0), (3, 4), (1, -2), ("wrap", "mirror")),
            ((-1,), 5, -2, "constant"), (1, 2, 0, "nearest"), ((-3, -2, -1), 3, 1, "grid-wrap"),
            ((0, 2), (1, 5), 0, ("bad-but-skipped", "grid-constant"))]:
        check("uniform_filter", x, size, mode=mode, cval=0.5, origin=origin, axes=axes)
        check("uniform_filter", x.astype(np.uint16) * 100, size, mode=mode, origin=origin,
              axes=axes, reference_check=False)


# --- Gaussian filters --------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_gaussian_filter1d_sweep(dtype, rng):
    x = random_array(rng, (7, 13), dtype)
    for sigma, order, truncate, radius in [
            (0.3, 0, 4.0, None), (1.0, 1, 4.0, None), (1.5, 2, 2.5, None), (0.7, 3, 4.0, None),
            (2.0, 0, 1.0, None), (1.0, 0, 4.0, 0), (1.0, 2, 4.0, 1), (0.5, 1, 4.0, 9),
            (4.0, 0, 4.0, None), (1.2, 3, 0.1, None)]:
        for mode in MODES:
            check("gaussian_filter1d", x, sigma, int(rng.integers(-2, 2)), order, mode=mode,
                  cval=1.5, truncate=truncate, radius=radius)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_gaussian_filter_sweep(dtype, rng):
    for shape in [(15,), (8, 9), (4, 5, 6), (3, 4, 3, 5)]:
        x = random_array(rng, shape, dtype)
        ndim = len(shape)
        for mode in MODES:
            check("gaussian_filter", x, float(rng.uniform(0.3, 2.0)),
                  int(rng.integers(0, 4)), mode=mode, cval=-1.0)
        sigmas = [float(s) for s in rng.uniform(0.4, 1.6, ndim)]
        sigmas[-1] = 0.0  # an axis left alone
        orders = [int(o) for o in rng.integers(0, 4, ndim)]
        modes = [MODES[(i * 3) % len(MODES)] for i in range(ndim)]
        check("gaussian_filter", x, sigmas, orders, mode=modes, cval=0.5)
        check("gaussian_filter", x, sigmas, 1, truncate=2.0)
        check("gaussian_filter", x, 1.0, 0, radius=2)
        check("gaussian_filter", x, 1.0, 2, radius=[int(r) for r in rng.integers(0, 4, ndim)])
        check("gaussian_filter", x, 0.0, 1)  # nothing to filter: a copy
        check("gaussian_filter", x, 10.0, 0, mode="wrap")  # kernel larger than the input


def test_gaussian_filter_axes(rng):
    x = rng.standard_normal((6, 5, 7))
    for axes, sigma, order, mode in [
            ((0,), 1.0, 0, "reflect"), ((2, 0), (0.5, 1.5), (1, 2), ("wrap", "nearest")),
            (-1, 2.0, 3, "mirror"), ((-3, -1), [1.0, 0.0], 0, ["constant", "bad-but-skipped"]),
            ((1, 2, 0), 0.8, (0, 1, 2), "grid-constant"), ((), 1.0, 0, "reflect")]:
        check("gaussian_filter", x, sigma, order, mode=mode, cval=2.0, axes=axes)
        check("gaussian_filter", x.astype(np.float32), sigma, order, mode=mode, axes=axes,
              radius=2)


# --- Derivative filters -------------------------------------------------------------

@pytest.mark.parametrize("name", ["sobel", "prewitt"])
@pytest.mark.parametrize("dtype", DTYPES + MORE_INTEGERS, ids=dtype_id)
def test_sobel_prewitt(name, dtype, rng):
    for shape in [(9,), (6, 7), (4, 5, 3), (3, 3, 4, 2), (1, 5)]:
        x = random_array(rng, shape, dtype)
        ndim = len(shape)
        for axis in range(-ndim, ndim):
            for mode in MODES:
                check(name, x, axis, mode=mode, cval=3.0)
        check(name, x, 0, mode=[MODES[(i * 5) % 8] for i in range(ndim)], cval=-1.0)


@pytest.mark.parametrize("dtype", DTYPES + MORE_INTEGERS, ids=dtype_id)
def test_laplace(dtype, rng):
    for shape in [(9,), (6, 7), (4, 5, 3), (3, 3, 4, 2), (5, 1)]:
        x = random_array(rng, shape, dtype)
        ndim = len(shape)
        for mode in MODES:
            check("laplace", x, mode=mode, cval=-2.0)
        check("laplace", x, mode=[MODES[(i * 3) % 8] for i in range(ndim)], cval=1.0)
        check("laplace", x, axes=(-1,))
        check("laplace", x, axes=tuple(range(ndim))[::-1], mode="wrap")
        check("laplace", x, axes=())


@pytest.mark.parametrize("name", ["gaussian_laplace", "gaussian_gradient_magnitude"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_gaussian_derivative_filters(name, dtype, rng):
    for shape in [(12,), (7, 8), (4, 5, 6)]:
        x = random_array(rng, shape, dtype)
        ndim = len(shape)
        for mode in MODES:
            check(name, x, float(rng.uniform(0.5, 2.0)), mode=mode, cval=0.5)
        sigmas = [float(s) for s in rng.uniform(0.5, 1.5, ndim)]
        check(name, x, sigmas, mode=[MODES[(i * 3 + 1) % 8] for i in range(ndim)])
        check(name, x, 1.0, truncate=2.0)
        check(name, x, 1.0, radius=1)
        check(name, x, [0.0] + sigmas[1:])
        if ndim > 1:
            check(name, x, 1.2, axes=(-1,))
            check(name, x, 1.2, axes=(ndim - 1, 0), mode=("wrap", "nearest"))
            if name == "gaussian_laplace":
                check(name, x, [0.7, 1.4], axes=(0, -1))
            else:  # its sigma stays per dimension of the input
                check(name, x, sigmas, axes=(0, -1))


# --- Integers and booleans: exactly scipy's ------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32,
                                   np.uint64, np.int64], ids=dtype_id)
def test_integer_outputs_wrap_and_truncate_like_scipy(dtype):
    """Sums are truncated toward zero and wrap into the type, as scipy's C cast."""
    info = np.iinfo(dtype)
    top = min(int(info.max), 1000)
    x = np.array([[0, 1, top, top - 1, 2, 0, top, 5]], dtype)
    for name, args, kwargs in [
            ("correlate", ([[1.0, -1.0, 0.5]],), {}),
            ("correlate", ([[2.5, 3.0, 0.0, 1.0]],), {"mode": "constant", "cval": 300}),
            ("correlate", ([[-0.5, 0.7, 0.9]],), {"mode": "constant", "cval": -1.5}),
            ("convolve", ([[3.0, 3.0]],), {}),
            ("correlate1d", ([1.0, -3.0, 1.0],), {}),
            ("convolve1d", ([-0.6],), {}),
            ("sobel", (), {}), ("sobel", (0,), {}), ("prewitt", (), {}),
            ("laplace", (), {}), ("uniform_filter", (3,), {}),
            ("uniform_filter1d", (4,), {"mode": "constant", "cval": -7}),
    ]:
        check(name, x, *args, **kwargs)
        check(name, np.repeat(x, 3, axis=0), *args, **kwargs)
    # Small images whose derivatives are negative: unsigned types wrap, and the
    # next pass reads the wrapped values.
    image = np.array([[5, 1, 9, 2], [3, 8, 1, 7], [0, 4, 4, 6]], dtype)
    for name, args in [("sobel", ()), ("sobel", (0,)), ("prewitt", ()), ("prewitt", (0,)),
                       ("laplace", ()), ("correlate1d", ([1.0, -1.0],)),
                       ("gaussian_filter", (1.0, 1)), ("gaussian_laplace", (0.8,)),
                       ("uniform_filter", (2,))]:
        check(name, image, *args)


@pytest.mark.parametrize("output", [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32,
                                    np.uint64, np.int64], ids=dtype_id)
def test_float_to_integer_outputs_cast_like_scipy(output):
    """Values outside the output type but inside int64 take scipy's C cast (on
    x86-64: to a 64-bit integer, then its low bits), in every pass."""
    x = np.array([[1.5, -2.7, 300.7, -0.5, 65535.9, -129.5, 1e10, -1e10, 3e9, -3e9]])
    for name, args in [("correlate", ([[1.0]],)), ("correlate1d", ([1.0, 0.5],)),
                       ("uniform_filter1d", (1,)), ("uniform_filter", (3,)), ("sobel", ()),
                       ("sobel", (0,)), ("gaussian_filter", (1.0,)), ("laplace", ())]:
        check(name, x, *args, output=output)
        check(name, np.vstack([x, -x, x / 7]), *args, output=output)


@pytest.mark.parametrize("output", [np.uint32, np.int32, np.int64], ids=dtype_id)
def test_non_finite_and_beyond_int64_casts_like_scipy(output):
    """NaN, infinities and magnitudes beyond int64: undefined in C, so whatever
    scipy's compiled cast gives on this machine (x86-64: 2**63's bit pattern).

    uint64 is left out: there scipy's compiled cast of values beyond int64
    follows no rule cyconv reproduces, a documented difference (see
    test_uint64_outputs_beyond_int64_are_numpys_cast).
    """
    x = np.array([[9.3e18, -9.3e18, 1e20, -1e20, np.nan, np.inf, -np.inf, 1.0]])
    for name, args in [("correlate", ([[1.0]],)), ("correlate1d", ([1.0],)),
                       ("uniform_filter1d", (1,))]:
        check(name, x, *args, output=output, reference_check=False)


def test_uint64_outputs_beyond_int64_are_numpys_cast():
    """The documented difference: within int64 scipy's wrapping, beyond it numpy's cast."""
    within = np.array([[9.3e18, -9.2e18, -1.0, 2.0**63, 1.0]])
    check("correlate", within, [[1.0]], output=np.uint64, reference_check=False)
    beyond = np.array([[-9.3e18, 1e20, -1e20, np.inf, -np.inf]])
    with np.errstate(invalid="ignore", over="ignore"):
        expected = beyond.astype(np.uint64)
    np.testing.assert_array_equal(cndi.correlate(beyond, [[1.0]], output=np.uint64), expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32])
def test_integer_results_of_normalised_kernels_are_scipys(dtype):
    """Constant images: the exact sum is an integer, and scipy's rounding decides.

    A normalised kernel (Gaussian, box) on a constant image sums to the value
    up to rounding, which truncation turns into the value or one less; scipy's
    order of summation (pairs of symmetric taps, running sums for the box,
    one 1-D pass after another, each truncated) decides which.
    """
    for value, sigma in itertools.product([1, 3, 7, 100, 255], [0.5, 1.0, 1.3, 2.0, 3.7]):
        x = np.full((14, 12), value, dtype)
        check("gaussian_filter", x, sigma)
        check("gaussian_filter1d", x, sigma, 0)
        check("gaussian_laplace", x, sigma)
        check("gaussian_gradient_magnitude", x, sigma)
        g = ndimage_gaussian_kernel(sigma, 0, int(4 * sigma + 0.5))
        check("correlate", x, np.outer(g, g))  # rank 1, but an N-D correlation in scipy
        check("correlate1d", x, g)
    ramp = np.arange(40, dtype=dtype).reshape(5, 8)
    for size in (2, 3, 5, 7):
        check("uniform_filter", ramp, size)
        check("uniform_filter1d", ramp, size, 0, origin=-(size // 2))
        check("uniform_filter", np.full((6, 7), 7, dtype), size)


def test_bool_inputs(rng):
    x = rng.random((7, 8)) > 0.5
    for name, args in [("correlate", (np.ones((3, 3)),)), ("convolve", ([[0.4, 0.7]],)),
                       ("correlate1d", ([1.0, -1.0],)), ("uniform_filter", (3,)),
                       ("gaussian_filter", (1.0,)), ("sobel", ()), ("laplace", ()),
                       ("correlate", ([[2.0, 0.6], [-1.0, 0.5]],))]:
        for mode in ("reflect", "constant", "wrap"):
            check(name, x, *args, mode=mode, cval=1)
        check(name, x, *args, output=np.float64)
        check(name, x, *args, output=np.int16)


def test_bool_output_bytes_match_scipy():
    """scipy stores the truncated sum's low byte in a bool output (2 for a sum of 2)."""
    x = np.array([[0, 1, 0, 0, 1, 1, 0], [1, 1, 1, 0, 0, 1, 0]], bool)
    for weights in ([[1.0, 1.0, 1.0]], [[1.0, -1.0, 1.0]], [[0.6, 0.6]], [[300.0]]):
        want = ndi.correlate(x, weights)
        got = cndi.correlate(x, weights)
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


# --- Non-finite values and scipy's dropped taps -------------------------------------

def test_non_finite_values_like_scipy(rng):
    x = rng.standard_normal((9, 10))
    x[2, 3], x[6, 7], x[0, 0] = np.nan, np.inf, -np.inf
    for name, args in [("correlate", (rng.standard_normal((3, 4)),)),
                       ("convolve", (rng.standard_normal((2, 3)),)),
                       ("correlate1d", (rng.standard_normal(4),)),
                       ("gaussian_filter", (1.0,)), ("sobel", ()),
                       ("laplace", ()), ("gaussian_gradient_magnitude", (1.0,))]:
        for mode in ("reflect", "constant", "wrap"):
            check(name, x, *args, mode=mode, cval=np.nan if mode == "constant" else 0.0)


def test_numpy_scalar_arguments_like_scipy(rng):
    """A float32 sigma makes scipy build its kernel in float32 arithmetic (NEP 50):
    its values, not the float64 kernel's."""
    x = rng.standard_normal((5, 6))
    check("gaussian_filter1d", x, np.float32(1.5), order=np.int8(1), reference_check=False)
    check("gaussian_filter", x, np.float32(0.7), reference_check=False)
    check("gaussian_filter1d", x, np.float64(1.5), order=np.int64(2))


def test_uniform_filter_non_finite_running_sum_like_scipy():
    """scipy's box filter is a running sum: once an inf has entered and left the
    window, inf - inf leaves NaN for the rest of the line.  Same values as scipy."""
    x = np.arange(40.0).reshape(4, 10)
    x[1, 2], x[2, 5], x[3, 0] = np.inf, np.nan, -np.inf
    for mode in ("reflect", "constant", "wrap"):
        for name, args in [("uniform_filter1d", (3,)), ("uniform_filter1d", (2, 0)),
                           ("uniform_filter", (3,))]:
            check(name, x, *args, mode=mode, reference_check=False)


def test_taps_at_or_below_machine_epsilon_are_dropped_like_scipy():
    """scipy's N-D correlate skips taps with |w| <= DBL_EPSILON (and NaN taps):
    an inf under a zero tap does not become NaN, a 1e-17 tap adds nothing."""
    x = np.array([[1.0, np.inf, 1.0, 2.0], [3.0, 4.0, np.nan, 5.0]])
    for weights in ([[1.0, 0.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]], [[1e-17, 1e-17]],
                    [[np.nan, 1.0]], [[1.0, 2.220446049250313e-16, 2.3e-16]],
                    np.outer([1.0, 0.0, 2.0], [1.0, 2.0, 1.0])):
        for name in ("correlate", "convolve"):
            want = ndi.correlate(x, weights) if name == "correlate" else ndi.convolve(x, weights)
            got = getattr(cndi, name)(x, weights)
            np.testing.assert_array_equal(got, want)
    # correlate1d keeps every tap, NaN and zero alike.
    for weights in ([1.0, 0.0, 0.0], [np.nan, 1.0], [1e-17, 1.0]):
        for axis in (0, 1):
            np.testing.assert_array_equal(cndi.correlate1d(x, weights, axis),
                                          ndi.correlate1d(x, weights, axis))


def test_reflect_far_beyond_a_short_axis_is_the_periodic_reflection(rng):
    """Where scipy's N-D correlate reads outside the input (reflect, taps 4n or
    more past an axis of length n > 1), cyconv gives the reflection that
    correlate1d gives, checked by the reference."""
    x = np.array([1.0, 2.0])
    weights = np.zeros(12)
    weights[0] = 1
    np.testing.assert_array_equal(cndi.correlate(x, weights, mode="reflect", origin=3),
                                  ndi.correlate1d(x, weights, mode="reflect", origin=3))
    for mode in ("reflect", "grid-mirror"):
        for n, size in [(2, 12), (2, 19), (3, 25), (4, 33)]:
            x = rng.standard_normal((n, 3))
            weights = rng.standard_normal((size, 2))
            assert scipy_reads_out_of_bounds("correlate", x, (weights,),
                                             {"mode": mode, "origin": [legal_origins(size)[-1], 0]})
            for origin in extreme_origins(size):
                for name in ("correlate", "convolve"):
                    check(name, x, weights, mode=mode, origin=[origin, 0])
                    check(name, x.astype(np.int16), weights.round(), mode=mode,
                          origin=[origin, 0])


# --- output= ---------------------------------------------------------------------------

CALLS = [
    ("correlate", (np.arange(6.0).reshape(2, 3) - 2,), {"mode": "wrap"}),
    ("convolve", (np.arange(4.0).reshape(2, 2),), {"origin": (-1, 0)}),
    ("correlate1d", ([1.0, -2.0, 0.5],), {"axis": 0, "mode": "mirror"}),
    ("convolve1d", ([0.5, 1.5],), {"mode": "nearest"}),
    ("uniform_filter", (3,), {"mode": "constant", "cval": 2.0}),
    ("uniform_filter1d", (4,), {"axis": 0}),
    ("gaussian_filter", (1.0,), {"order": (1, 0)}),
    ("gaussian_filter1d", (0.8,), {"order": 2}),
    ("sobel", (), {"axis": 0}),
    ("prewitt", (), {}),
    ("laplace", (), {"mode": "grid-wrap"}),
    ("gaussian_laplace", (1.1,), {}),
    ("gaussian_gradient_magnitude", (0.9,), {"mode": "reflect"}),
]
CALL_IDS = [c[0] for c in CALLS]


@pytest.mark.parametrize("name, args, kwargs", CALLS, ids=CALL_IDS)
@pytest.mark.parametrize("output", [None, np.float32, np.dtype(np.float64), "float32", "f8",
                                    np.int32, np.uint8, "int16", float, int, np.dtype(">f8"),
                                    np.complex128, "complex64", np.float16, "U3", bool],
                         ids=repr)
def test_output_dtypes(name, args, kwargs, output, rng):
    x = rng.standard_normal((8, 9)) * 4
    check(name, x, *args, output=output, **kwargs)
    check(name, x.astype(np.complex128), *args, output=output, **kwargs)
    check(name, np.abs(x).astype(np.uint8), *args, output=output, **kwargs)


@pytest.mark.parametrize("name, args, kwargs", CALLS, ids=CALL_IDS)
@pytest.mark.parametrize("layout", ["C", "F", "view", "reversed", "float32", "int64", "wrong-shape",
                                    "wrong-ndim", "readonly", "bigendian", "complex", "list"])
def test_output_arrays(name, args, kwargs, layout, rng):
    x = rng.standard_normal((8, 9)) * 4
    if layout == "C":
        out = np.zeros((8, 9))
    elif layout == "F":
        out = np.zeros((8, 9), order="F")
    elif layout == "view":
        out = np.zeros((17, 30))[1::2, 2::3]
    elif layout == "reversed":
        out = np.zeros((8, 9))[::-1, ::-1]
    elif layout == "float32":
        out = np.zeros((8, 9), np.float32)
    elif layout == "int64":
        out = np.zeros((8, 9), np.int64)
    elif layout == "wrong-shape":
        out = np.zeros((9, 8))
    elif layout == "wrong-ndim":
        out = np.zeros(72)
    elif layout == "readonly":
        out = np.zeros((8, 9))
        out.flags.writeable = False
    elif layout == "bigendian":
        out = np.zeros((8, 9), ">f8")
    elif layout == "complex":
        out = np.zeros((8, 9), np.complex128)
    else:
        out = np.zeros((8, 9)).tolist()
    untouched = np.zeros((17, 30)) if layout == "view" else None
    if untouched is not None:
        out = untouched[1::2, 2::3]
    got = check(name, x, *args, output=out, **kwargs)
    if untouched is not None and not isinstance(got, type):
        # Only the view's elements were written.
        mask = np.ones(untouched.shape, bool)
        mask[1::2, 2::3] = False
        assert not untouched[mask].any()


@pytest.mark.parametrize("name, args, kwargs", CALLS, ids=CALL_IDS)
def test_output_is_the_input(name, args, kwargs, rng):
    """In place: scipy's result.  correlate/convolve work on a copy; the Laplace
    and gradient filters read the input again after their first term overwrote
    it, and that is scipy's answer too."""
    for dtype in (np.float64, np.float32, np.int32):
        x = random_array(rng, (8, 9), dtype) * 3
        want = fresh(x)
        want = getattr(ndi, name)(want, *args, output=want, **kwargs)
        got = getattr(cndi, name)(x, *args, output=x, **kwargs)
        assert got is x
        if dtype == np.int32:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=rtol_for(dtype, 40),
                                       atol=rtol_for(dtype, 40) * 50)


@pytest.mark.parametrize("name", ["correlate", "convolve"])
def test_output_overlapping_the_input(name, rng):
    base = rng.standard_normal((12, 14))
    weights = rng.standard_normal((3, 4))
    for in_slice, out_slice in [((slice(0, 10), slice(0, 12)), (slice(2, 12), slice(2, 14))),
                                ((slice(1, 11), slice(None)), (slice(0, 10), slice(None))),
                                ((slice(None, None, 2), slice(1, 13)),
                                 (slice(1, None, 2), slice(0, 12)))]:
        for mode in ("reflect", "constant"):
            want_base = base.copy()
            want = getattr(ndi, name)(want_base[in_slice], weights, output=want_base[out_slice],
                                      mode=mode)
            got_base = base.copy()
            out = got_base[out_slice]
            got = getattr(cndi, name)(got_base[in_slice], weights, output=out, mode=mode)
            assert got is out
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(got_base, want_base, rtol=1e-12, atol=1e-12)


# --- Inputs: layouts, lists, empty and 0-d ---------------------------------------------

@pytest.mark.parametrize("name, args, kwargs", CALLS, ids=CALL_IDS)
@pytest.mark.parametrize("layout", ["fortran", "strided", "negative", "transposed", "readonly",
                                    "bigendian", "list"])
def test_input_layouts(name, args, kwargs, layout, rng):
    for dtype in (np.float64, np.float32, np.int16, np.complex128):
        x = with_layout(random_array(rng, (9, 11), dtype), layout)
        check(name, x, *args, **kwargs)
    if name in ("correlate", "convolve"):
        weights = with_layout(rng.standard_normal((3, 2)), layout)
        check(name, rng.standard_normal((7, 6)), weights, **kwargs)


@pytest.mark.parametrize("shape", [(0,), (0, 5), (4, 0), (0, 0), (3, 0, 2), (2, 3, 0)], ids=str)
def test_empty_inputs(shape):
    x = np.ones(shape)
    ndim = len(shape)
    for mode in ("reflect", "wrap", "mirror", "constant"):
        check("correlate", x, np.ones((3,) * ndim), mode=mode)
        check("convolve", x, np.ones((2,) * ndim), mode=mode)
        check("correlate1d", x, [1.0, 2.0], mode=mode)
        check("correlate1d", x, [1.0, 2.0], 0, mode=mode)
        check("convolve1d", x, [1.0, 2.0, 3.0], mode=mode)
        check("uniform_filter", x, 3, mode=mode)
        check("uniform_filter1d", x, 3, 0, mode=mode)
        check("gaussian_filter", x, 1.0, mode=mode)
        check("gaussian_filter1d", x, 1.0, mode=mode)
        check("sobel", x, mode=mode)
        check("prewitt", x, 0, mode=mode)
        check("laplace", x, mode=mode)
        check("gaussian_laplace", x, 1.0, mode=mode)
        check("gaussian_gradient_magnitude", x, 1.0, mode=mode)
        check("correlate", x.astype(np.uint8), np.ones((1,) * ndim), output=np.float32)


def test_zero_dimensional_inputs():
    x = np.array(3.5)
    check("correlate", x, np.array(2.0))
    check("correlate", np.array(3), np.array(2.0))
    check("convolve", x, np.array(-1.0), mode="wrap", origin=1)
    check("correlate", x, np.ones(0))  # scipy: the empty kernel has no non-empty axes
    check("correlate", x, np.ones(1))
    check("correlate", x, np.array(2.0), mode="bad")
    for name, args in [("uniform_filter", ()), ("gaussian_filter", (1.0,)), ("laplace", ()),
                       ("gaussian_laplace", (1.0,)), ("gaussian_gradient_magnitude", (1.0,)),
                       ("sobel", ()), ("prewitt", ()), ("correlate1d", ([1.0, 2.0],)),
                       ("convolve1d", ([1.0],)), ("uniform_filter1d", (3,)),
                       ("gaussian_filter1d", (1.0,))]:
        check(name, x, *args)
        check(name, 2.0, *args)


def test_scipy_quirks_that_are_valid_calls(rng):
    x = rng.standard_normal((5, 6))
    check("correlate", np.ones(4), np.ones((3, 0)))  # an empty axis of the kernel is ignored
    check("correlate", x, [[1, 2, 3]])  # list kernel
    check("correlate", x, np.ones((2, 2), object))
    check("correlate", x, np.ones((2, 2), np.float16))
    check("correlate", x, np.ones((2, 2), np.longdouble))
    check("correlate", x, np.ones((3, 3)), origin=np.int64(1))
    check("correlate", x, np.ones((3, 3)), origin=np.array([1, -1]))
    check("correlate", x, np.ones((3, 3)), mode="constant", cval=np.array(2.0))
    check("correlate", x, np.ones((3, 3)), mode="constant", cval=np.float32(-1.5))
    check("correlate", x, np.ones((3, 3)), mode="constant", cval=True)
    check("uniform_filter", x, 0)  # sizes below 2 skip the axis
    check("uniform_filter", x, -1)
    check("uniform_filter", x, 2.5)
    check("uniform_filter", x, 1000)
    check("gaussian_filter", x, -1.0)  # sigmas below 1e-15 skip the axis
    check("gaussian_filter", x, np.nan)
    check("gaussian_filter", x, 1.0, order=[1, 0], radius=[None, 2])
    check("gaussian_filter", x, 1.0, truncate=-1.0)
    check("gaussian_filter1d", x, 1.0, radius=np.int64(2))
    check("gaussian_filter", x, 1.0, order=4)
    check("gaussian_laplace", x, 1.0, truncate=2.0, radius=3)
    check("gaussian_laplace", x, -1.0, radius=-1)  # sigma skipped: a sum of copies
    check("uniform_filter", x.astype(complex), 3, output=np.float64)  # promoted to complex
    check("uniform_filter1d", x, np.int64(3), np.int32(0))


# --- Errors: the same exception type as scipy ---------------------------------------

X2 = np.ones((5, 6))
W2 = np.ones((3, 3))
READ_ONLY = np.zeros((5, 6))
READ_ONLY.flags.writeable = False
ERROR_CASES = [
    ("correlate", (X2, W2), {"mode": "bad"}),
    ("correlate", (X2, W2), {"mode": None}),
    ("correlate", (X2, W2), {"mode": "REFLECT"}),
    ("correlate", (X2, W2), {"mode": ["reflect", "wrap"]}),
    ("convolve", (X2, W2), {"mode": ("reflect", "wrap")}),
    ("correlate", (X2, W2), {"origin": 2}),
    ("correlate", (X2, W2), {"origin": -2}),
    ("correlate", (X2, W2), {"origin": [0, 2]}),
    ("correlate", (X2, W2), {"origin": [0]}),
    ("correlate", (X2, W2), {"origin": 0.5}),
    ("correlate", (X2, W2), {"origin": True}),
    ("convolve", (X2, np.ones((4, 4))), {"origin": 2}),
    ("convolve", (X2, np.ones((4, 4))), {"origin": -3}),
    ("correlate", (X2, np.ones(3)), {}),
    ("correlate", (X2, np.ones((3, 3, 3))), {}),
    ("correlate", (X2, np.ones((0, 3))), {}),
    ("correlate", (X2, np.ones((0, 0))), {}),
    ("correlate", (X2, [["a"]]), {}),
    ("correlate", (X2, W2), {"axes": (0, 0)}),
    ("correlate", (X2, np.ones(3)), {"axes": 2}),
    ("correlate", (X2, np.ones(3)), {"axes": -3}),
    ("correlate", (X2, np.ones(3)), {"axes": 1.0}),
    ("correlate", (X2, np.ones(3)), {"axes": object()}),
    ("correlate", (X2, W2), {"axes": 1}),
    ("convolve", (X2, np.ones(3)), {"axes": (0, 1)}),
    ("correlate", (X2, W2), {"cval": 1j}),
    ("correlate", (X2, W2 * 1j), {"cval": 1j}),
    ("correlate", (X2, W2), {"cval": "a"}),
    ("correlate", (X2, W2), {"cval": None}),
    ("correlate", (X2, W2), {"cval": np.array([1.0])}),
    ("correlate", (X2.astype(np.float16), W2), {}),
    ("correlate", (X2.astype(np.longdouble), W2), {}),
    ("correlate", (X2.astype(np.clongdouble), W2), {}),
    ("correlate", (X2.astype(object), W2), {}),
    ("correlate", (np.array([["a"]]), [[1.0]]), {}),
    ("correlate", (None, W2), {}),
    ("correlate", ([[1, 2], [3]], W2), {}),
    ("correlate", (X2, W2), {"output": np.zeros((5, 5))}),
    ("correlate", (X2, W2), {"output": "U1"}),
    ("correlate", (X2, W2), {"output": "?"}),
    ("correlate", (X2, W2), {"output": "nonsense"}),
    ("correlate", (X2, W2), {"output": np.float16}),
    ("correlate", (X2, W2), {"output": np.longdouble}),
    ("correlate", (X2, W2), {"output": np.complex128}),
    ("correlate", (X2, W2), {"output": np.zeros((5, 6), object)}),
    ("correlate", (X2, W2), {"output": 5}),
    ("correlate", (X2.astype(complex), W2), {"output": np.zeros((5, 6))}),
    ("correlate", (X2.astype(complex), W2), {"output": "f8"}),
    ("correlate", (np.array(3.0), np.ones(1)), {}),
    ("correlate1d", (X2, []), {}),
    ("correlate1d", (X2, np.ones((2, 2))), {}),
    ("correlate1d", (X2, 2.0), {}),
    ("correlate1d", (X2, [1, 1, 1, 1]), {"origin": 2}),
    ("correlate1d", (X2, [1, 1, 1, 1]), {"origin": -3}),
    ("convolve1d", (X2, [1, 1, 1, 1]), {"origin": 2}),
    ("correlate1d", (X2, [1, 2]), {"axis": 2}),
    ("correlate1d", (X2, [1, 2]), {"axis": -3}),
    ("correlate1d", (X2, [1, 2]), {"axis": 1.0}),
    ("correlate1d", (X2, [1, 2, 3]), {"mode": ["reflect", "wrap"]}),
    ("correlate1d", (X2, [1, 2]), {"mode": "bad"}),
    ("correlate1d", (X2, [1, 2]), {"cval": 1j}),
    ("correlate1d", (X2, [1, 2]), {"output": np.zeros((5, 5))}),
    ("correlate1d", (X2, [1, 2]), {"output": np.zeros((5, 6), np.float16)}),
    ("correlate1d", (X2, [1, 2]), {"output": np.complex128}),
    ("correlate1d", (X2.astype(np.float16), [1, 2]), {}),
    ("correlate1d", (np.array(3.0), [1, 2]), {}),
    ("uniform_filter1d", (X2, 0), {}),
    ("uniform_filter1d", (X2, -2), {}),
    ("uniform_filter1d", (X2, 2.5), {}),
    ("uniform_filter1d", (X2, 3), {"origin": 2}),
    ("uniform_filter1d", (X2, 4), {"origin": 2}),
    ("uniform_filter1d", (X2, 4), {"origin": -3}),
    ("uniform_filter1d", (X2, 3), {"axis": 5}),
    ("uniform_filter1d", (X2, 3), {"mode": "nope"}),
    ("uniform_filter", (X2, [3, 3, 3]), {}),
    ("uniform_filter", (X2, 3), {"origin": [0, 0, 0]}),
    ("uniform_filter", (X2, 3), {"origin": 2}),
    ("uniform_filter", (X2, 3), {"mode": ["reflect"]}),
    ("uniform_filter", (X2, 3), {"mode": ["reflect", "bad"]}),
    ("uniform_filter", (X2, 3), {"cval": 1j}),
    ("uniform_filter", (X2, 3), {"axes": (1, 1)}),
    ("uniform_filter", (X2, 3), {"output": np.float16}),
    ("uniform_filter", (X2.astype(np.float16), 3), {}),
    ("gaussian_filter1d", (X2, 1.0), {"radius": -1}),
    ("gaussian_filter1d", (X2, 1.0), {"radius": 1.5}),
    ("gaussian_filter1d", (X2, -1.0), {}),
    ("gaussian_filter1d", (X2, 0.0), {}),
    ("gaussian_filter1d", (X2, "1"), {}),
    ("gaussian_filter1d", (X2, 1.0), {"order": -1}),
    ("gaussian_filter1d", (X2, np.inf), {}),
    ("gaussian_filter1d", (np.ones(3), 1e30), {}),
    ("gaussian_filter1d", (X2, 1.0), {"axis": 2}),
    ("gaussian_filter", (X2, [1.0, 2.0, 3.0]), {}),
    ("gaussian_filter", (X2, 1.0), {"order": -1}),
    ("gaussian_filter", (X2, 1.0), {"order": [0, 1, 2]}),
    ("gaussian_filter", (X2, 1.0), {"mode": ["reflect"]}),
    ("gaussian_filter", (X2, 1.0), {"mode": ["reflect", "bad"]}),
    ("gaussian_filter", (X2, 1.0), {"radius": -2}),
    ("gaussian_filter", (X2, 1.0), {"axes": (0, 0)}),
    ("gaussian_filter", (X2, 1.0), {"axes": 3}),
    ("gaussian_filter", (X2, [1.0, 2.0]), {"axes": 1}),
    ("gaussian_filter", (X2, np.inf), {}),
    ("gaussian_filter", (X2.astype(np.float16), 1.0), {}),
    ("gaussian_filter", (X2, 1.0), {"output": bool, "mode": "bad"}),
    ("sobel", (X2,), {"axis": 2}),
    ("sobel", (X2,), {"mode": "bad"}),
    ("sobel", (X2,), {"mode": ["reflect"]}),
    ("sobel", (X2.astype(np.float16),), {}),
    ("sobel", (np.array(3.0),), {}),
    ("prewitt", (X2,), {"axis": -3}),
    ("prewitt", (X2,), {"output": np.zeros(3)}),
    ("laplace", (X2,), {"axes": (1, 1)}),
    ("laplace", (X2,), {"axes": 4}),
    ("laplace", (X2,), {"mode": "bad"}),
    ("laplace", (X2,), {"mode": ["wrap", "wrap", "wrap"]}),
    ("laplace", (X2,), {"cval": 1j}),
    ("gaussian_laplace", (X2, 1.0), {"foo": 2}),
    ("gaussian_laplace", (X2, 1.0), {"order": 1}),
    ("gaussian_laplace", (X2, [1.0, 2.0]), {"axes": [0]}),
    ("gaussian_laplace", (X2, 1.0), {"axes": (0, 0)}),
    ("gaussian_gradient_magnitude", (X2, [1.0, 2.0, 3.0]), {}),
    ("gaussian_gradient_magnitude", (X2, 1.0), {"radius": 1.5}),
    ("gaussian_gradient_magnitude", (X2, 1.0), {"mode": "bad"}),
    ("gaussian_gradient_magnitude", (X2, 1.0), {"truncate": "x"}),
    ("gaussian_gradient_magnitude", (X2.astype(np.longdouble), 1.0), {}),
    ("correlate", (X2, W2), {"output": READ_ONLY}),
    ("uniform_filter1d", (X2, 3), {"output": READ_ONLY}),
    ("gaussian_filter", (X2, 1.0), {"output": READ_ONLY}),
    ("laplace", (X2,), {"output": READ_ONLY}),
    ("correlate1d", (X2, [1, 2]), {"origin": 0.5}),
    ("correlate1d", (X2, [1, 2]), {"origin": 2**70}),
    ("correlate", (X2, W2), {"origin": [2**63, 0]}),
    ("sobel", (X2,), {"axis": 1.0}),
    ("gaussian_filter1d", (np.ones(3), 1.0), {"radius": 2**62}),
    ("gaussian_filter1d", (np.ones(3), 1.0), {"truncate": 1e30}),
]


@pytest.mark.parametrize("name, args, kwargs", ERROR_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_rejects_what_scipy_rejects(name, args, kwargs):
    want = outcome(getattr(ndi, name), *[fresh(a) for a in args], **kwargs)
    assert isinstance(want, type), f"scipy accepted the case: {want!r}"
    got = outcome(getattr(cndi, name), *args, **kwargs)
    assert got is want, f"scipy raised {want.__name__}, cyconv gave {got}"


# --- workers and threads ---------------------------------------------------------------

WORKER_CALLS = [
    ("correlate", (np.random.default_rng(1).standard_normal((5, 6)),), {"mode": "mirror"}),
    ("correlate", (np.outer([1.0, 2.0, 3.0, 2.0, 1.0], [1.0, -1.0, 2.0]),), {}),
    ("convolve", (np.random.default_rng(2).standard_normal((4, 4)),), {"mode": "wrap"}),
    ("correlate1d", (np.random.default_rng(3).standard_normal(9),), {"axis": 0}),
    ("convolve1d", ([1.0, 2.0, -1.0, 0.5],), {}),
    ("uniform_filter", (5,), {"mode": "nearest"}),
    ("uniform_filter1d", (6,), {"axis": 0}),
    ("gaussian_filter", (2.0,), {"order": 1}),
    ("gaussian_filter1d", (3.0,), {"axis": 0}),
    ("sobel", (), {}),
    ("prewitt", (), {"axis": 0}),
    ("laplace", (), {}),
    ("gaussian_laplace", (1.5,), {}),
    ("gaussian_gradient_magnitude", (1.5,), {}),
]


@pytest.mark.parametrize("name, args, kwargs", WORKER_CALLS, ids=[c[0] for c in WORKER_CALLS])
def test_workers_give_identical_results(name, args, kwargs, rng):
    func = getattr(cndi, name)
    inputs = [rng.standard_normal((300, 300)), rng.integers(0, 255, (301, 299)).astype(np.uint8),
              rng.standard_normal((3, 40, 300)).astype(np.float32)]
    for x in inputs:
        call_kwargs = kwargs
        if x.ndim == 3 and name in ("correlate", "convolve"):
            call_kwargs = dict(kwargs, axes=(1, 2))  # the 2-D kernel on the last two axes
        results = [func(x, *args, workers=w, **call_kwargs) for w in (1, 2, -1, None)]
        for result in results[1:]:
            assert result.dtype == results[0].dtype
            np.testing.assert_array_equal(result, results[0])
        if x.ndim == 2:
            check(name, x, *args, **kwargs, reference_check=False)
    with pytest.raises(ValueError, match="workers"):
        func(np.ones((5, 5)), *args, workers=0, **kwargs)
    with pytest.raises(TypeError, match="workers"):
        func(np.ones((5, 5)), *args, workers=1.5, **kwargs)
    with pytest.raises(TypeError, match="workers"):
        func(np.ones((5, 5)), *args, workers="2", **kwargs)
    with pytest.raises(ValueError, match="workers"):
        func(np.ones((5, 5)), *args, workers=-1000, **kwargs)


def test_concurrent_calls_match_sequential(rng):
    images = [rng.standard_normal((60 + 7 * i, 90 - 5 * i)) for i in range(4)]
    cases = [(name, args, kwargs, images[i % 4])
             for i, (name, args, kwargs) in enumerate(WORKER_CALLS)]
    expected = [getattr(cndi, name)(x, *args, **kwargs) for name, args, kwargs, x in cases]

    def run(index):
        name, args, kwargs, x = cases[index % len(cases)]
        return index, getattr(cndi, name)(x, *args, workers=2, **kwargs)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for index, result in pool.map(run, range(6 * len(cases))):
            np.testing.assert_array_equal(result, expected[index % len(cases)])


# --- The separable path ---------------------------------------------------------------

def test_rank_one_kernels_match_scipy(rng):
    x2 = rng.standard_normal((37, 41))
    x3 = rng.standard_normal((9, 11, 10))
    for u, v in [(rng.standard_normal(5), rng.standard_normal(7)),
                 (ndimage_gaussian_kernel(1.5, 0, 6), ndimage_gaussian_kernel(0.8, 1, 3)),
                 (np.ones(4), np.ones(6) / 6), (rng.standard_normal(9), np.ones(1)),
                 (np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0]))]:
        weights = np.outer(u, v)
        for name, mode in itertools.product(["correlate", "convolve"], MODES):
            origin = [int(rng.choice(extreme_origins(k))) for k in weights.shape]
            check(name, x2, weights, mode=mode, cval=0.5, origin=origin)
        check("correlate", x2.astype(np.float32), weights, mode="wrap")
        check("convolve", x2.astype(np.complex128), weights, mode="nearest")
        check("correlate", (x2 * 10).astype(np.int32), weights, mode="reflect")
    for a, b, c in [(rng.standard_normal(3), rng.standard_normal(4), rng.standard_normal(5)),
                    (np.ones(3), np.ones(3), np.ones(3))]:
        weights = np.einsum("i,j,k->ijk", a, b, c)
        for name, mode in itertools.product(["correlate", "convolve"], MODES):
            check(name, x3, weights, mode=mode, cval=-1.0)
        check("correlate", rng.standard_normal((4, 9, 11, 10)), weights, axes=(1, 2, 3))


def test_nearly_rank_one_kernels_match_scipy(rng):
    """An outer product plus 1e-6 in one entry is not separable: scipy's values."""
    x = rng.standard_normal((40, 39))
    for shape in [(5, 7), (3, 3), (9, 4)]:
        weights = np.outer(rng.standard_normal(shape[0]), rng.standard_normal(shape[1]))
        exact_outer = weights.copy()
        weights[shape[0] // 2, 0] += 1e-6
        for name, mode in itertools.product(["correlate", "convolve"], ["reflect", "constant",
                                                                         "wrap", "mirror"]):
            got = check(name, x, weights, mode=mode, cval=2.0)
            # The perturbation is visible in the answer, far above the tolerance
            # of check(): the rank-1 approximation would fail it.
            rank_one = getattr(ndi, name)(x, exact_outer, mode=mode, cval=2.0)
            assert np.abs(got - rank_one).max() > 1e-7
        weights3 = np.einsum("i,j,k->ijk", *(rng.standard_normal(3) for _ in range(3)))
        weights3[1, 2, 0] += 1e-6
        check("correlate", rng.standard_normal((8, 9, 10)), weights3)


def test_plan_chooses_separable_for_rank_one_and_dense_otherwise(rng):
    from cyconv._filter_plan import plan_correlate

    shape = (1000, 1000)
    for weights in (np.outer(rng.standard_normal(9), rng.standard_normal(11)),
                    np.outer(*[ndimage_gaussian_kernel(3.0, 0, 12)] * 2),
                    np.ones((15, 15)),
                    np.einsum("i,j,k->ijk", *(rng.standard_normal(7) for _ in range(3)))):
        input_shape = shape if weights.ndim == 2 else (200, 200, 200)
        plan = plan_correlate(weights, input_shape, np.dtype(np.float64))
        assert plan.method == "separable", str(plan)
        assert "separable" in str(plan)
    for weights in (rng.standard_normal((9, 11)), np.eye(7)):
        plan = plan_correlate(weights, shape, np.dtype(np.float64))
        assert plan.method == "dense", str(plan)
        assert "dense" in str(plan)
    nearly = np.outer(rng.standard_normal(9), rng.standard_normal(11))
    nearly[4, 0] += 1e-6
    assert plan_correlate(nearly, shape, np.dtype(np.float64)).method == "dense"
    nearly3 = np.einsum("i,j,k->ijk", *(rng.standard_normal(5) for _ in range(3)))
    nearly3[0, 1, 2] += 1e-6
    assert plan_correlate(nearly3, (200, 200, 200), np.dtype(np.float64)).method == "dense"
    # A zero weight of the dense kernel leaves out the NaN or inf it meets (as
    # scipy does); passes would spread it, so they need data known to be finite.
    holes = np.outer([1.0, 0.0, 2.0, 1.0, 3.0, 0.0, 1.0, 2.0, 1.0], rng.standard_normal(11))
    assert plan_correlate(holes, shape, np.dtype(np.float64)).method == "dense"
    assert plan_correlate(holes, shape, np.dtype(np.float64), finite=lambda: True).method == \
        "separable"


def test_separable_and_dense_agree_on_a_large_image(rng):
    """300x300 with a 15x15 box and Gaussian outer products: blocks across threads."""
    x = rng.standard_normal((300, 300))
    g = ndimage_gaussian_kernel(2.0, 0, 7)
    for weights in (np.ones((15, 15)) / 225, np.outer(g, g), np.outer(g, np.ones(5))):
        for mode in ("reflect", "constant", "wrap"):
            check("correlate", x, weights, mode=mode, cval=1.0, reference_check=False)
            check("convolve", x, weights, mode=mode, cval=1.0, reference_check=False)
    # Non-finite data under a rank-1 kernel with zero rows and columns: scipy's
    # NaN and inf placement (the zeros leave them out).
    x[40, 50], x[150, 151], x[299, 0] = np.nan, np.inf, -np.inf
    holes = np.outer([1.0, 0.0, 2.0, 1.0, 0.0, 3.0, 1.0, 2.0, 1.0],
                     [0.5, 1.0, 0.0, 2.0, 1.0, 1.0, 0.0, 1.0, 0.5])
    for weights in (holes, np.outer(g, g)):
        for mode in ("reflect", "constant"):
            check("correlate", x, weights, mode=mode, reference_check=False)
            check("convolve", x, weights, mode=mode, reference_check=False)


# --- Properties ----------------------------------------------------------------------

small_dims = st.integers(1, 7)


@given(data=st.data(), name=st.sampled_from(["correlate", "convolve"]),
       ndim=st.integers(1, 3), mode=st.sampled_from(MODES),
       dtype=st.sampled_from([np.float64, np.float32, np.int16, np.uint8, np.complex128]),
       cval=st.sampled_from([0.0, 1.5, -3.0]), seed=st.integers(0, 2**32 - 1))
def test_property_correlate(data, name, ndim, mode, dtype, cval, seed):
    rng = np.random.default_rng(seed)
    shape = data.draw(st.tuples(*[st.integers(0, 8)] * ndim), "shape")
    kshape = data.draw(st.tuples(*[small_dims] * ndim), "kernel shape")
    origin = [data.draw(st.sampled_from(legal_origins(k)), "origin") for k in kshape]
    weights = rng.standard_normal(kshape)
    if data.draw(st.booleans(), "rank one"):
        weights = np.ones(())
        for k in kshape:
            weights = np.multiply.outer(weights, rng.standard_normal(k))
    check(name, random_array(rng, shape, dtype), weights, mode=mode, cval=cval, origin=origin)


@given(data=st.data(), name=st.sampled_from(["correlate1d", "convolve1d", "uniform_filter1d",
                                              "gaussian_filter1d"]),
       mode=st.sampled_from(MODES), dtype=st.sampled_from([np.float64, np.float32, np.int32]),
       seed=st.integers(0, 2**32 - 1))
def test_property_one_dimensional(data, name, mode, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = data.draw(st.lists(st.integers(1, 9), min_size=1, max_size=3), "shape")
    x = random_array(rng, shape, dtype)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), "axis")
    if name == "gaussian_filter1d":
        sigma = data.draw(st.floats(0.2, 3.0), "sigma")
        order = data.draw(st.integers(0, 3), "order")
        check(name, x, sigma, axis, order, mode=mode, cval=0.5,
              truncate=data.draw(st.floats(0.5, 4.0), "truncate"))
        return
    size = data.draw(st.integers(1, 12), "size")
    origin = data.draw(st.sampled_from(legal_origins(size)), "origin")
    first = rng.standard_normal(size) if name != "uniform_filter1d" else size
    check(name, x, first, axis, mode=mode, cval=0.5, origin=origin)


@given(data=st.data(), name=st.sampled_from(["uniform_filter", "gaussian_filter", "laplace",
                                              "gaussian_laplace", "gaussian_gradient_magnitude"]),
       seed=st.integers(0, 2**32 - 1))
def test_property_axes_and_modes(data, name, seed):
    rng = np.random.default_rng(seed)
    shape = data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=4), "shape")
    ndim = len(shape)
    x = rng.standard_normal(shape)
    axes = data.draw(st.lists(st.integers(-ndim, ndim - 1), unique_by=lambda a: a % ndim,
                              max_size=ndim), "axes")
    count = len(axes)
    assume(count > 0 or name != "gaussian_gradient_magnitude")
    if data.draw(st.booleans(), "per-axis modes"):
        mode = data.draw(st.lists(st.sampled_from(MODES), min_size=count, max_size=count), "modes")
    else:
        mode = data.draw(st.sampled_from(MODES), "mode")
    kwargs = dict(mode=mode, cval=-0.5, axes=axes)
    if name == "uniform_filter":
        size = data.draw(st.lists(st.integers(1, 6), min_size=count, max_size=count), "size")
        origin = [data.draw(st.sampled_from(legal_origins(s)), "origin") for s in size]
        check(name, x, size, origin=origin, **kwargs)
    elif name == "gaussian_filter":
        sigma = data.draw(st.lists(st.sampled_from([0.0, 0.4, 1.0, 1.7]), min_size=count,
                                   max_size=count), "sigma")
        order = data.draw(st.lists(st.integers(0, 3), min_size=count, max_size=count), "order")
        check(name, x, sigma, order, **kwargs)
    elif name == "laplace":
        check(name, x, **kwargs)
    elif name == "gaussian_laplace":
        check(name, x, data.draw(st.floats(0.3, 2.0), "sigma"), **kwargs)
    else:
        check(name, x, [data.draw(st.floats(0.3, 2.0), "sigma")] * ndim, **kwargs)


ALL_DTYPES = DTYPES + MORE_INTEGERS


@st.composite
def filter_calls(draw):
    """(name, args, kwargs) of any of the 13 functions, with arguments scipy accepts."""
    name = draw(st.sampled_from(FUNCTIONS))
    ndim = draw(st.integers(1, 3))
    modes = draw(st.lists(st.sampled_from(MODES), min_size=ndim, max_size=ndim))
    axis = draw(st.integers(-ndim, ndim - 1))
    if name in ("correlate", "convolve"):
        kshape = draw(st.tuples(*[st.integers(1, 5)] * ndim))
        weights = np.round(np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
                           .standard_normal(kshape), 2)
        origin = [draw(st.sampled_from(legal_origins(k))) for k in kshape]
        return name, ndim, (weights,), dict(mode=modes[0], origin=origin)
    if name in ("correlate1d", "convolve1d"):
        length = draw(st.integers(1, 6))
        weights = draw(st.lists(st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.25, 1.0, 3.0]),
                                min_size=length, max_size=length))
        return name, ndim, (weights, axis), dict(mode=modes[0],
                                                 origin=draw(st.sampled_from(legal_origins(length))))
    if name == "uniform_filter":
        return name, ndim, (draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim)),), \
            dict(mode=modes)
    if name == "uniform_filter1d":
        size = draw(st.integers(1, 6))
        return name, ndim, (size, axis), dict(mode=modes[0],
                                              origin=draw(st.sampled_from(legal_origins(size))))
    if name == "gaussian_filter":
        sigma = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.6]), min_size=ndim, max_size=ndim))
        order = draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim))
        return name, ndim, (sigma, order), dict(mode=modes)
    if name == "gaussian_filter1d":
        return name, ndim, (draw(st.sampled_from([0.5, 1.0, 2.2])), axis,
                            draw(st.integers(0, 3))), dict(mode=modes[0])
    if name in ("sobel", "prewitt"):
        return name, ndim, (axis,), dict(mode=modes)
    if name == "laplace":
        return name, ndim, (), dict(mode=modes)
    return name, ndim, (draw(st.sampled_from([0.6, 1.0, 1.5])),), dict(mode=modes)


@given(call=filter_calls(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_property_every_function_dtype_and_output(call, data, seed):
    """Any function, input dtype and output form (None, a dtype, an array in
    C or Fortran order or a strided view): scipy's dtype, and integer and bool
    results to the bit."""
    name, ndim, args, kwargs = call
    rng = np.random.default_rng(seed)
    shape = data.draw(st.tuples(*[st.integers(1, 9)] * ndim), "shape")
    dtype = data.draw(st.sampled_from(ALL_DTYPES), "dtype")
    x = random_array(rng, shape, dtype)
    if dtype in (np.float32, np.float64):
        x = x * data.draw(st.sampled_from([1.0, 40.0, 1e4]), "scale")
    form = data.draw(st.sampled_from(["none", "dtype", "C", "F", "view"]), "output form")
    if form != "none":
        out_dtype = data.draw(st.sampled_from([np.float32, np.float64, np.uint8, np.int16,
                                               np.uint32, np.int64, np.bool_]), "output dtype")
        if form == "dtype":
            kwargs["output"] = out_dtype
        elif form == "view":
            kwargs["output"] = np.zeros(tuple(2 * n for n in shape), out_dtype)[
                tuple(slice(None, None, 2) for _ in shape)]
        else:
            kwargs["output"] = np.zeros(shape, out_dtype, order=form)
    kwargs["cval"] = data.draw(st.sampled_from([0.0, 2.5, -7.0]), "cval")
    check(name, x, *args, **kwargs)


def test_every_function_is_public_with_scipys_signature_plus_workers():
    for name in FUNCTIONS:
        ours = inspect.signature(getattr(cndi, name))
        theirs = SIGNATURES[name]
        parameters = list(ours.parameters.values())
        assert "workers" in ours.parameters
        workers = ours.parameters["workers"]
        assert workers.kind is inspect.Parameter.KEYWORD_ONLY and workers.default is None
        without = [p for p in parameters if p.name != "workers"]
        assert [(p.name, p.kind, p.default) for p in without] == \
            [(p.name, p.kind, p.default) for p in theirs.parameters.values()]
        assert getattr(cndi, name).__doc__
