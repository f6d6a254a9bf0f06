r"""
Cross-correlation
=================

What deep-learning libraries call a convolution is a *cross-correlation*: a
kernel slides over the input from left to right and top to bottom, and each
output element is the sum of the kernel times the input window under it.
Without padding an :math:`n_h \times n_w` input and a :math:`k_h \times k_w`
kernel give an output of

.. math:: (n_h - k_h + 1) \times (n_w - k_w + 1).

The textbook writes it as two Python loops:
"""
import numpy as np

import cyconv


def corr2d(X, K):
    """The textbook's loop: one window sum per output element."""
    h, w = K.shape
    Y = np.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


# %%
# The 3x3 example: the first output is
# :math:`0 \times 0 + 1 \times 1 + 3 \times 2 + 4 \times 3 = 19`.

X = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
K = np.array([[0.0, 1.0], [2.0, 3.0]])
corr2d(X, K)

# %%
# In cyconv this is :func:`cyconv.correlate2d` with ``mode="valid"`` (only
# the positions where the kernel fits inside the input), exactly the call you
# would make to ``scipy.signal.correlate2d``:

cyconv.correlate2d(X, K, mode="valid")

# %%
# The default mode, ``"full"``, also keeps the positions where the kernel only
# partly overlaps the input (the rest counts as zeros), and ``"same"`` crops
# the full result to the input's size:

print(cyconv.correlate2d(X, K).shape, cyconv.correlate2d(X, K, mode="same").shape)

# %%
# A true convolution flips the kernel first;
# :func:`cyconv.convolve2d` does that:

np.array_equal(cyconv.convolve2d(X, K, mode="valid"),
               cyconv.correlate2d(X, K[::-1, ::-1], mode="valid"))

# %%
# The loop and cyconv agree on any input; only the speed differs.  On a
# 256x256 image with a 5x5 kernel:

import time

rng = np.random.default_rng(0)
image, kernel = rng.standard_normal((256, 256)), rng.standard_normal((5, 5))
start = time.perf_counter()
looped = corr2d(image, kernel)
loop_seconds = time.perf_counter() - start
start = time.perf_counter()
fast = cyconv.correlate2d(image, kernel, mode="valid")
cyconv_seconds = time.perf_counter() - start
print(f"same values: {np.allclose(looped, fast)}; "
      f"loop {loop_seconds * 1e3:.0f} ms, cyconv {cyconv_seconds * 1e3:.2f} ms")
