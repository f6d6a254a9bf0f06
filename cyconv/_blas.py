"""Keep scipy's BLAS single-threaded while cyconv's OpenMP kernels call it.

The layer kernels call ``scipy.linalg.cython_blas`` from inside OpenMP
parallel regions; a multithreaded BLAS there would oversubscribe the cores.
The thread count of the OpenBLAS that scipy bundles is set through its own
exported functions with ctypes (found once, at first use), so no dependency
beyond scipy is needed; threadpoolctl is used instead when scipy's BLAS is
something else and threadpoolctl is installed.  Nested and concurrent callers
share one limit: the first sets it, the last restores the original.
"""
import ctypes
import glob
import os
import threading

# Exported by scipy-openblas wheels (prefixed) and by plain OpenBLAS builds.
_SYMBOL_PREFIXES = ("scipy_openblas", "openblas")


def _openblas_paths():
    """OpenBLAS libraries that scipy ships, then any other loaded one (Linux)."""
    import scipy
    import scipy.linalg.cython_blas  # noqa: F401  (loads scipy's BLAS)

    scipy_dir = os.path.dirname(scipy.__file__)
    paths = []
    for pattern in (os.path.join(scipy_dir, os.pardir, "scipy.libs", "*openblas*"),
                    os.path.join(scipy_dir, ".dylibs", "*openblas*")):
        paths += sorted(glob.glob(pattern))
    try:
        with open("/proc/self/maps") as maps:
            loaded = {line.split()[-1] for line in maps if "openblas" in line}
    except OSError:
        loaded = set()
    numpy_libs = f"{os.sep}numpy"
    paths += sorted(path for path in loaded if numpy_libs not in path)
    return paths


def _ctypes_controls():
    for path in _openblas_paths():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _SYMBOL_PREFIXES:
            setter = getattr(library, f"{prefix}_set_num_threads", None)
            getter = getattr(library, f"{prefix}_get_num_threads", None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return getter, setter
    return None


def _threadpoolctl_controls():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    blas = ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        return None

    def getter():
        return max(controller.num_threads for controller in blas.lib_controllers)

    def setter(count):
        blas.limit(limits=count)

    return getter, setter


class _BlasLimit:
    def __init__(self):
        self._lock = threading.Lock()
        self._controls = None
        self._searched = False
        self._users = 0
        self._original = None

    def _find(self):
        if not self._searched:
            self._controls = _ctypes_controls() or _threadpoolctl_controls()
            self._searched = True
        return self._controls

    def controllable(self):
        """True when cyconv can set the number of BLAS threads."""
        if self._searched:   # every call asks: no lock once the answer is known
            return self._controls is not None
        with self._lock:
            return self._find() is not None

    def single_threaded(self):
        """Limit BLAS to one thread inside a ``with`` block; ``as`` gives
        whether that was possible."""
        return _SingleThreaded(self)

    def _enter(self):
        with self._lock:
            controls = self._find()
            if controls is not None:
                if self._users == 0:
                    self._original = controls[0]()
                    controls[1](1)
                self._users += 1
        return controls is not None

    def _exit(self):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._controls[1](self._original)


class _SingleThreaded:
    """The ``with`` block of `_BlasLimit.single_threaded` (a class: a
    generator-based context manager costs a microsecond more, a tenth of a
    small layer's call)."""

    __slots__ = ("_limit", "_limited")

    def __init__(self, limit):
        self._limit = limit

    def __enter__(self):
        self._limited = self._limit._enter()
        return self._limited

    def __exit__(self, *exc_info):
        if self._limited:
            self._limit._exit()


_limit = _BlasLimit()
single_threaded = _limit.single_threaded
controllable = _limit.controllable
