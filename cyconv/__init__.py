"""cyconv: fast, trustworthy 2-D convolution for NumPy.

A drop-in for ``scipy.signal.correlate2d`` / ``convolve2d`` and for
``scipy.ndimage``'s linear filters (``cyconv.ndimage``), built on
multithreaded Cython kernels, plus the NCHW convolution and pooling layers of
a deep-learning textbook with PyTorch's semantics, and convolution of data
with holes (``nanconvolve``, astropy's semantics).
"""
from cyconv._config import show_config
from cyconv._correlate import convolve2d, correlate2d, correlate2d_plan
from cyconv._conv_plan import ConvPlan
from cyconv._conv_transpose import conv_transpose2d, conv_transpose2d_backward
from cyconv._layers import col2im, conv2d, conv2d_backward, conv2d_plan, im2col
from cyconv._nanconvolve import (
    NanConvolvePlan,
    NanConvolveWarning,
    nanconvolve,
    nanconvolve_plan,
)
from cyconv._pooling import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
)
from cyconv._version import __version__
from cyconv import ndimage, nn

__all__ = [
    "ConvPlan",
    "NanConvolvePlan",
    "NanConvolveWarning",
    "__version__",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "col2im",
    "conv2d",
    "conv2d_backward",
    "conv2d_plan",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "convolve2d",
    "correlate2d",
    "correlate2d_plan",
    "im2col",
    "max_pool2d",
    "max_pool2d_backward",
    "nanconvolve",
    "nanconvolve_plan",
    "ndimage",
    "nn",
    "show_config",
]
