r"""
Coming from scipy.signal
========================

:func:`cyconv.correlate2d` and :func:`cyconv.convolve2d` take the same
arguments as ``scipy.signal.correlate2d`` and ``convolve2d`` and return the
same values, shape and dtype, for every mode (``full``, ``same``,
``valid``), boundary (``fill``, ``wrap``, ``symm``), ``fillvalue`` and dtype
scipy accepts, and raise the same exception types for what scipy rejects.
Switching is an import:
"""
import numpy as np
import scipy.signal

import cyconv

rng = np.random.default_rng(0)
image = rng.standard_normal((300, 400))
kernel = rng.standard_normal((7, 5))

for mode in ("full", "same", "valid"):
    for boundary in ("fill", "wrap", "symm"):
        ours = cyconv.correlate2d(image, kernel, mode, boundary)
        theirs = scipy.signal.correlate2d(image, kernel, mode, boundary)
        assert ours.shape == theirs.shape and np.allclose(ours, theirs)
print("all modes and boundaries agree")

# %%
# Integer inputs keep scipy's integer output types, overflow included, and
# complex kernels are conjugated as in scipy:

small = np.arange(12, dtype=np.int16).reshape(3, 4)
print(cyconv.convolve2d(small, np.ones((2, 2), np.int16)).dtype)
print(cyconv.correlate2d([[1j, 2]], [[1j]], mode="valid"))

# %%
# Two deliberate differences: where scipy crashes (an empty ``in1`` with the
# ``wrap`` or ``symm`` boundary) cyconv raises ``ValueError``, and where
# scipy's ``correlate2d`` returns the complex conjugate of the true result
# (complex inputs in ``valid`` mode when the inputs are swapped), cyconv
# returns the true result, that of ``scipy.signal.correlate``.
#
# What ``workers`` adds
# ---------------------
#
# scipy's ``correlate2d`` runs on one thread.  cyconv's keyword-only
# ``workers`` argument sets the number of threads: ``None`` (the default) uses
# OpenMP's current maximum, so ``OMP_NUM_THREADS`` and
# ``threadpoolctl.threadpool_limits`` apply; a negative number counts back
# from the number of CPUs as in ``scipy.fft`` (``-1`` is all of them).  The
# result does not depend on the thread count, and the GIL is released, so
# calls from several Python threads also run in parallel.

one_thread = cyconv.correlate2d(image, kernel, "same", workers=1)
all_threads = cyconv.correlate2d(image, kernel, "same", workers=-1)
np.array_equal(one_thread, all_threads)

# %%
# What ``method`` adds
# --------------------
#
# ``scipy.signal.correlate2d`` always sums directly, which gets slow for
# large kernels; ``scipy.signal.correlate`` can use FFTs but only pads with
# zeros.  cyconv's ``method`` is ``"direct"`` (the SIMD kernels),
# ``"fft"`` (``scipy.fft`` on the boundary-extended input, so ``wrap`` and
# ``symm`` work too) or ``"auto"`` (the default: whichever a cost model
# predicts is faster; always direct for integers).

big_kernel = rng.standard_normal((41, 41))
direct = cyconv.correlate2d(image, big_kernel, "same", "symm", method="direct")
fft = cyconv.correlate2d(image, big_kernel, "same", "symm", method="fft")
np.allclose(direct, fft)

# %%
# How much faster it is, by kernel size and thread count, is on the
# :doc:`performance page </performance>`.
