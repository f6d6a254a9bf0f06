"""Helpers shared by the test modules."""
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

import cyconv

# The directory this process imported cyconv from: an in-place build in
# development, site-packages when the suite runs against an installed package.
_CYCONV_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cyconv.__file__)))


def run_python(code, env=None, timeout=120, check=False):
    """Run ``code`` in a fresh interpreter that imports the same cyconv as this one.

    The child starts in an empty directory (so a source tree in the current
    directory cannot shadow the compiled package), and a crash there cannot
    take pytest down.
    """
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_CYCONV_ROOT, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as empty_dir:
        return subprocess.run([sys.executable, "-c", code], env=env, cwd=empty_dir,
                              capture_output=True, text=True, timeout=timeout, check=check)


def counting_array(shape, chunks, calls):
    """A dask array of ones that appends to ``calls`` the location of every
    block it computes (dask is imported here: only the dask tests call this)."""
    import dask.array as da
    import numpy as np

    def block(block_info=None):
        calls.append(block_info[None]["chunk-location"])
        return np.ones(block_info[None]["chunk-shape"])
    return da.map_blocks(block, chunks=chunks, dtype=float, meta=np.empty((0,) * len(shape)))


def outcome(func, *args, **kwargs):
    """The result, or the type of the exception raised (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the type is what is compared
            return type(exc)


def with_layout(array, layout):
    """The same values in another memory layout (or as a nested list, for "list")."""
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "strided":
        wide = np.zeros(tuple(2 * n + 1 for n in array.shape), array.dtype)
        view = wide[tuple(slice(1, None, 2) for _ in array.shape)]
        view[...] = array
        return view
    if layout == "negative":
        return np.flip(np.flip(array).copy())
    if layout == "transposed":
        return np.ascontiguousarray(array.T).T
    if layout == "readonly":
        array = array.copy()
        array.flags.writeable = False
        return array
    if layout == "bigendian":
        return array.astype(array.dtype.newbyteorder(">"))
    if layout == "byteswapped":
        return array.astype(array.dtype.newbyteorder("S"))
    if layout == "list":
        return array.tolist()
    return array


def random_array(rng, shape, dtype):
    """Small integers (sums stay far from overflow), booleans, or normal deviates."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) > 0.5
    if dtype.kind == "u":
        return rng.integers(0, 20, size=shape, endpoint=True).astype(dtype)
    if dtype.kind == "i":
        return rng.integers(-20, 20, size=shape, endpoint=True).astype(dtype)
    values = rng.standard_normal(shape)
    if dtype.kind == "c":
        values = values + 1j * rng.standard_normal(shape)
    return values.astype(dtype)
