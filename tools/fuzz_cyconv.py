"""Fuzz every public cyconv function with atheris (libFuzzer for Python).

    python tools/fuzz_cyconv.py --iterations 20000      # a fixed number of inputs
    python tools/fuzz_cyconv.py --iterations 2000 --seed 1   # the quick CI run

Each input picks a function, dtypes, shapes (0 to 8 per axis), window
parameters (from ordinary values to 2**63) and workers, and calls the
function.  ValueError, TypeError and MemoryError are the documented answers
to bad input; any other exception, a crash (SIGSEGV, SIGABRT...) or a hang is
a finding.  The cyconv.ndimage functions get inputs of 0 to 4 dimensions,
kernels of any shape (larger than the input, empty axes), every boundary mode
and sequences of them, origins, axes, sigmas, orders, radii, sizes and
``output=`` as a dtype, an array or the input itself; besides those three,
they may raise what scipy.ndimage raises for the same input (RuntimeError,
IndexError / numpy's AxisError, OverflowError, ZeroDivisionError), and a call
that returns must return an array of the input's shape.

The fuzzer runs in a child process under this supervising parent, so a crash
is reported with the reproducer libFuzzer writes to --artifacts (replay it
with ``python tools/fuzz_cyconv.py --replay FILE``).
"""
import argparse
import glob
import os
import subprocess
import sys

DTYPES = ["float64", "float32", "float16", "int8", "uint16", "int64", "bool", "complex64",
          "complex128", "longdouble", "object", "<U1", ">f8"]
INTEGERS = [0, 1, 2, 3, 5, -1, -2, 2**31, 2**62, 2**63, 2**64, 10**9]
FUNCTIONS = ["correlate2d", "convolve2d", "conv2d", "conv2d_backward", "im2col", "col2im",
             "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
             "adaptive_max_pool2d", "adaptive_max_pool2d_backward", "adaptive_avg_pool2d",
             "adaptive_avg_pool2d_backward", "nanconvolve"]
# Adaptive output sizes: small, None, invalid and too large to index (never
# 2**31 or 10**9, which an output can be and then fill gigabytes slowly).
OUTPUT_SIZES = [0, 1, 2, 3, 5, 9, 13, None, -1, 1.5, 2**62, 2**64]
EXPECTED = (ValueError, TypeError, MemoryError)
NDIMAGE = ["correlate", "convolve", "correlate1d", "convolve1d", "uniform_filter",
           "uniform_filter1d", "gaussian_filter", "gaussian_filter1d", "sobel", "prewitt",
           "laplace", "gaussian_laplace", "gaussian_gradient_magnitude"]
FUNCTIONS += [f"ndimage.{name}" for name in NDIMAGE]
# scipy.ndimage's own answers to bad input, which cyconv.ndimage keeps.
NDIMAGE_EXPECTED = EXPECTED + (RuntimeError, IndexError, OverflowError, ZeroDivisionError)
MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-constant", "grid-mirror",
         "grid-wrap", "bad", None]
ORIGINS = [0, 0, 1, -1, 2, -2, 3, -4, 2**31, -2**63, 2**64]
# Filter sizes and radii: small, one far larger than any input, and ones too
# large to allocate (never 2**31..2**36, which could allocate and then crawl).
SIZES = [1, 2, 3, 4, 5, 7, 0, -1, 10**5, 2**40, 2**62, 2**63, 2**64]
SIGMAS = [0.0, 0.3, 1.0, 2.5, 7.0, -1.0, float("nan"), float("inf"), 1e-20, 1e30]
CVALS = [0.0, 1.5, -2, 300, float("nan"), float("inf"), 1j, "a"]


def fuzz_one(data):
    import atheris
    import numpy as np

    import cyconv

    fdp = atheris.FuzzedDataProvider(data)

    def integer():
        return fdp.PickValueInList(INTEGERS) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 6)

    def parameter():
        return integer() if fdp.ConsumeBool() else (integer(), integer())

    def array(ndim):
        shape = tuple(fdp.ConsumeIntInRange(0, 8) for _ in range(ndim))
        dtype = np.dtype(fdp.PickValueInList(DTYPES))
        count = int(np.prod(shape))
        if dtype.kind in "OU":
            return np.full(shape, "a", dtype)
        raw = fdp.ConsumeBytes(count * dtype.itemsize)
        values = np.frombuffer(raw.ljust(count * dtype.itemsize, b"\0"), dtype=dtype)
        if dtype.kind == "b":
            values = values.view(np.uint8) % 2 == 1
        values = values.reshape(shape)
        if fdp.ConsumeBool() and values.ndim:
            values = values[::-1]  # negative strides
        return values

    name = fdp.PickValueInList(FUNCTIONS)
    workers = fdp.PickValueInList([None, 1, 2, -1, 3, 10**6])
    if name.startswith("ndimage."):
        fuzz_ndimage(fdp, name[len("ndimage."):], array, workers)
        return
    ndim = fdp.ConsumeIntInRange(1, 5)
    if name in ("correlate2d", "convolve2d"):
        args = (array(ndim), array(fdp.ConsumeIntInRange(1, 3)),
                fdp.PickValueInList(["full", "same", "valid"]),
                fdp.PickValueInList(["fill", "wrap", "symm"]),
                fdp.PickValueInList([0, 1.5, float("nan"), 300, -1]))
        kwargs = {"method": fdp.PickValueInList(["auto", "direct", "fft"])}
    elif name in ("conv2d", "conv2d_backward"):
        x, weight = array(ndim), array(fdp.ConsumeIntInRange(3, 5))
        geometry = (parameter(), parameter(), parameter(), integer())
        first = (array(ndim), x, weight) if name == "conv2d_backward" else (x, weight, None)
        args, kwargs = first + geometry, {}
    elif name == "col2im":
        args, kwargs = (array(ndim), parameter(), parameter(), parameter(), parameter(),
                        parameter()), {}
    elif name in ("max_pool2d_backward", "adaptive_max_pool2d_backward"):
        shape = tuple(fdp.ConsumeIntInRange(0, 8) for _ in range(ndim))
        args, kwargs = (array(ndim), array(ndim), shape), {}
    elif name == "adaptive_avg_pool2d_backward":
        shape = tuple(fdp.ConsumeIntInRange(0, 8) for _ in range(ndim))
        args, kwargs = (array(ndim), shape), {}
    elif name in ("adaptive_max_pool2d", "adaptive_avg_pool2d"):
        sizes = [fdp.PickValueInList(OUTPUT_SIZES) for _ in range(2)]
        args = (array(ndim), sizes[0] if fdp.ConsumeBool() else tuple(sizes))
        kwargs = {"return_indices": fdp.ConsumeBool()} if name == "adaptive_max_pool2d" else {}
    elif name == "nanconvolve":
        data = array(fdp.ConsumeIntInRange(0, 4))
        kernel = array(data.ndim if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 4))
        mask = array(data.ndim) if fdp.ConsumeBool() else None
        args = (data, kernel, fdp.PickValueInList([None, "fill", "wrap", "extend", "bad"]),
                fdp.PickValueInList(CVALS), fdp.PickValueInList(["interpolate", "fill", "x"]),
                fdp.ConsumeBool(), mask, fdp.ConsumeBool())
        kwargs = {"method": fdp.PickValueInList(["auto", "direct", "fft", "x"])}
    elif name == "avg_pool2d_backward":
        shape = tuple(fdp.ConsumeIntInRange(0, 8) for _ in range(ndim))
        args, kwargs = (array(ndim), shape, parameter(), parameter(), parameter(),
                        fdp.ConsumeBool()), {}
    else:
        args, kwargs = (array(ndim), parameter(), parameter(), parameter()), {}
        if name == "max_pool2d":
            kwargs = {"dilation": parameter(), "return_indices": fdp.ConsumeBool()}
    try:
        getattr(cyconv, name)(*args, workers=workers, **kwargs)
    except EXPECTED:
        pass


def fuzz_ndimage(fdp, name, array, workers):
    """One call of cyconv.ndimage.<name> with arguments drawn from ``fdp``."""
    import numpy as np

    from cyconv import ndimage

    ndim = fdp.ConsumeIntInRange(0, 4)
    x = array(ndim)
    if fdp.ConsumeBool():
        x = x.copy()  # writable, so that it can also be the output
    if fdp.ConsumeBool() and x.ndim >= 2:
        x = x.swapaxes(0, -1)  # Fortran-like strides

    # Valid arguments are drawn more often than invalid ones, so that most
    # calls get past the checks to the kernels.
    def some(values, upto=4):
        """A value, one per axis of the input, or a sequence of any length."""
        choice = fdp.ConsumeIntInRange(0, 3)
        if choice <= 1:
            return fdp.PickValueInList(values)
        count = x.ndim if choice == 2 else fdp.ConsumeIntInRange(0, upto)
        return [fdp.PickValueInList(values) for _ in range(count)]

    def axis():
        """Mostly one of the input's axes (negative too), sometimes out of range."""
        if x.ndim and fdp.ConsumeIntInRange(0, 3):
            return fdp.ConsumeIntInRange(-x.ndim, x.ndim - 1)
        return fdp.ConsumeIntInRange(-5, 5)

    def axes():
        choice = fdp.ConsumeIntInRange(0, 3)
        if choice <= 1:
            return None
        if choice == 2:
            return axis()
        return [axis() for _ in range(fdp.ConsumeIntInRange(0, 4))]

    mode = (fdp.PickValueInList(MODES[:8]) if fdp.ConsumeIntInRange(0, 3) else some(MODES))
    cval = fdp.PickValueInList(CVALS[:6]) if fdp.ConsumeIntInRange(0, 3) else \
        fdp.PickValueInList(CVALS)
    kwargs = {"mode": mode, "cval": cval}
    output = fdp.ConsumeIntInRange(0, 9)
    if output == 1:
        kwargs["output"] = np.dtype(fdp.PickValueInList(DTYPES))
    elif output == 2:
        kwargs["output"] = np.zeros(x.shape, fdp.PickValueInList(["float64", "float32", "int16",
                                                                  "uint8", "complex128"]))
    elif output == 3:
        kwargs["output"] = x  # in place (refused if read-only, as scipy does)
    elif output == 4:
        kwargs["output"] = np.zeros(x.shape + (1,))  # the wrong shape
    if name in ("correlate", "convolve"):
        args = (array(x.ndim if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 4)),)
        kwargs.update(origin=some(ORIGINS), axes=axes())
    elif name in ("correlate1d", "convolve1d"):
        args = (array(fdp.PickValueInList([1, 1, 1, 0, 2])), axis())
        kwargs["origin"] = fdp.PickValueInList(ORIGINS)
    elif name == "uniform_filter":
        args = (some(SIZES),)
        kwargs.update(origin=some(ORIGINS), axes=axes())
    elif name == "uniform_filter1d":
        args = (fdp.PickValueInList(SIZES), axis())
        kwargs["origin"] = fdp.PickValueInList(ORIGINS)
    elif name in ("gaussian_filter", "gaussian_filter1d"):
        one = name == "gaussian_filter1d"
        args = (fdp.PickValueInList(SIGMAS) if one else some(SIGMAS),)
        kwargs.update(order=fdp.ConsumeIntInRange(-1, 4) if one else some([0, 1, 2, 3, 4, -1]),
                      truncate=fdp.PickValueInList([4.0, 0.0, 1.5, -1.0, 30.0]),
                      radius=fdp.PickValueInList([None, 0, 1, 3, -1, 2.5, 10**4])
                      if one else some([None, 0, 1, 3, -1, 10**4]))
        if one:
            kwargs["axis"] = axis()
        else:
            kwargs["axes"] = axes()
    elif name in ("sobel", "prewitt"):
        args = (axis(),)
    elif name == "laplace":
        args = ()
        kwargs["axes"] = axes()
    else:  # gaussian_laplace, gaussian_gradient_magnitude
        args = (some(SIGMAS),)
        kwargs["axes"] = axes()
        if fdp.ConsumeBool():
            kwargs["truncate"] = fdp.PickValueInList([4.0, 0.5, -1.0])
        if fdp.ConsumeBool():
            kwargs["radius"] = fdp.PickValueInList([0, 2, -1, 10**4])
    try:
        result = getattr(ndimage, name)(x, *args, workers=workers, **kwargs)
    except NDIMAGE_EXPECTED:
        return
    if not isinstance(result, np.ndarray) or result.shape != x.shape:
        raise AssertionError(f"ndimage.{name} returned {type(result)} "
                             f"{getattr(result, 'shape', None)} for an input of shape {x.shape}")


def run_child(options):
    import atheris

    with atheris.instrument_imports():
        import cyconv  # noqa: F401
    argv = [sys.argv[0], f"-runs={options.iterations}", f"-seed={options.seed}",
            "-timeout=60", f"-artifact_prefix={options.artifacts}{os.sep}", "-print_final_stats=1"]
    if options.replay:
        argv = [sys.argv[0], options.replay]
    atheris.Setup(argv, fuzz_one)
    atheris.Fuzz()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--artifacts", default="fuzz-artifacts")
    parser.add_argument("--replay", help="run one reproducer file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child or options.replay:
        run_child(options)
        return 0
    os.makedirs(options.artifacts, exist_ok=True)
    before = set(glob.glob(os.path.join(options.artifacts, "*")))
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                            f"--iterations={options.iterations}", f"--seed={options.seed}",
                            f"--artifacts={options.artifacts}"], capture_output=True, text=True)
    stats = [line for line in child.stderr.splitlines() if line.startswith("stat::")]
    print("\n".join(stats))
    reproducers = sorted(set(glob.glob(os.path.join(options.artifacts, "*"))) - before)
    if child.returncode != 0 or reproducers:
        print(child.stderr[-5000:])
        print(f"fuzz: FINDING (exit {child.returncode}); reproducers: {reproducers}")
        return 1
    print(f"fuzz: {options.iterations} iterations, no crash")
    return 0


if __name__ == "__main__":
    sys.exit(main())
