"""Argument checks shared by the NCHW layer functions (conv2d, pooling).

Each helper names the argument it rejects, so that every public function
reports bad input the same way.
"""
import operator

import numpy as np


def as_int(value, name):
    """``value`` as a Python int; TypeError naming ``name`` when it is not an integer."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None


def as_pair(value, name, minimum):
    """An int or a pair of ints as a pair ``(height, width)``, each at least ``minimum``."""
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        pair = (as_int(value[0], name), as_int(value[1], name))
    else:
        number = as_int(value, name)
        pair = (number, number)
    if min(pair) < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return pair


def as_real_array(value, name):
    """``np.asarray(value)``, refusing complex and non-numeric data with a TypeError."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real numbers, not {array.dtype}")
    return array


def float_dtype(*arrays):
    """The dtype the layer functions compute in.

    float32 and float64 are kept (mixed inputs give ``np.result_type``); every
    other real type (bool, integers, float16) is computed in float64.
    """
    dtype = np.result_type(*arrays)
    if dtype.kind == "f" and dtype.itemsize in (4, 8):
        return np.dtype(dtype.type)  # native byte order
    return np.dtype(np.float64)


def as_float_array(value, name):
    """``value`` as a C-contiguous native array of its `float_dtype` (a copy only if needed)."""
    array = as_real_array(value, name)
    return np.ascontiguousarray(array, dtype=float_dtype(array))
