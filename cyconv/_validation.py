"""Argument checks shared by the NCHW layer families (convolution, pooling).

Every check raises a ``ValueError`` or ``TypeError`` that names the argument,
before any work starts.  Sizes are Python integers, so arithmetic on them
never wraps; `check_index_range` refuses results the kernels could not index.
"""
import operator

import numpy as np

# Every extent and element count a kernel sees stays below this bound, so that
# index arithmetic on them (sums of a few such values) cannot overflow intp.
INDEX_LIMIT = np.iinfo(np.intp).max // 8


def as_int(value, name, minimum=None):
    """``value`` as a Python int (anything with ``__index__``), at least ``minimum``."""
    try:
        result = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None
    if minimum is not None and result < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {result}")
    if abs(result) > INDEX_LIMIT:
        raise ValueError(f"{name} is too large: {result} (at most {INDEX_LIMIT} in magnitude)")
    return result


def as_pair(value, name, minimum=None):
    """An int or a sequence of one or two ints as a pair ``(for_rows, for_columns)``."""
    if type(value) is int and (minimum is None or value >= minimum) and abs(value) <= INDEX_LIMIT:
        return value, value   # the common case, without the general checks' cost
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an int or a pair of ints, not {value!r}")
    try:
        single = operator.index(value)
    except TypeError:
        single = None
    if single is not None:
        items = (single, single)
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(
                f"{name} must be an int or a pair of ints, not {type(value).__name__}"
            ) from None
        if len(items) == 1:
            items = items * 2
        if len(items) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {len(items)} values")
    pair = tuple(as_int(item, name) for item in items)
    if minimum is not None and min(pair) < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return pair


_NATIVE_FLOATS = {np.dtype(np.float32), np.dtype(np.float64)}


def layer_dtype(**arrays):
    """The computing dtype of the layer functions for the given named arrays (None skipped).

    float32 and float64 are kept (mixed inputs promote as `np.result_type`);
    every other real type (bool, integers, float16, long double) is computed
    in float64; complex and non-numeric inputs raise `TypeError`.
    """
    present = {name: array for name, array in arrays.items() if array is not None}
    dtypes = {array.dtype for array in present.values()}
    if len(dtypes) == 1 and dtypes <= _NATIVE_FLOATS:
        return dtypes.pop()   # one float type: no promotion to work out
    for name, array in present.items():
        if array.dtype.kind == "c":
            raise TypeError(f"{name} must be real, got complex dtype {array.dtype}")
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got dtype {array.dtype}")
    dtype = np.result_type(*present.values())
    if dtype in (np.float32, np.float64):
        return dtype
    return np.dtype(np.float64)


def window_count(size, kernel, stride, padding_total, dilation):
    """Number of window positions along one axis (floor rule); may be < 1."""
    return (size + padding_total - dilation * (kernel - 1) - 1) // stride + 1


def check_index_range(name, *sizes):
    """Refuse sizes or element counts too large for the kernels to index."""
    for size in sizes:
        if size > INDEX_LIMIT:
            raise ValueError(f"{name} gives sizes too large to compute ({size} elements or more)")


def as_array(value, name):
    """``np.asarray(value)``, with NumPy's conversion errors (ragged lists...) naming ``name``."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} cannot be converted to an array: {exc}") from None


def as_float_array(value, name):
    """``value`` as a C-contiguous native array of its `layer_dtype` (a copy only if needed)."""
    array = as_array(value, name)
    return np.ascontiguousarray(array, dtype=layer_dtype(**{name: array}))


def all_finite(*arrays):
    """True when none of ``arrays`` holds a NaN or an infinity."""
    return all(np.isfinite(array).all() for array in arrays)
