"""Fuzz every public cyconv function with atheris (libFuzzer for Python).

    python tools/fuzz_cyconv.py --iterations 20000      # a fixed number of inputs
    python tools/fuzz_cyconv.py --iterations 2000 --seed 1   # the quick CI run

Each input picks a function, dtypes, shapes (0 to 8 per axis), window
parameters (from ordinary values to 2**63) and workers, and calls the
function.  ValueError, TypeError and MemoryError are the documented answers
to bad input; any other exception, a crash (SIGSEGV, SIGABRT...) or a hang is
a finding.  The fuzzer runs in a child process under this supervising
parent, so a crash is reported with the reproducer libFuzzer writes to
--artifacts (replay it with ``python tools/fuzz_cyconv.py --replay FILE``).
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
             "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]
EXPECTED = (ValueError, TypeError, MemoryError)


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
    elif name == "max_pool2d_backward":
        shape = tuple(fdp.ConsumeIntInRange(0, 8) for _ in range(ndim))
        args, kwargs = (array(ndim), array(ndim), shape), {}
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
