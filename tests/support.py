"""Helpers shared by the test modules."""
import os
import subprocess
import sys
import tempfile

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
