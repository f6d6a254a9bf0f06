"""Build and runtime configuration: ``show_config`` and the ``workers`` rule."""
import operator
import os
import sys

from cyconv import _simd
from cyconv._kernels import runtime
from cyconv._version import __version__

# Most threads per CPU that a positive ``workers`` may ask for.
OVERSUBSCRIPTION = 8


def resolve_workers(workers):
    """Number of threads for a ``workers`` argument, as the API contract says.

    ``None`` is OpenMP's current maximum (so ``OMP_NUM_THREADS`` and
    threadpoolctl apply), a positive int is taken as is, and a negative int
    counts back from the number of CPUs as in `scipy.fft` (-1 means all).
    Oversubscribing is the caller's choice, up to ``OVERSUBSCRIPTION`` times
    the larger of the CPU count and OpenMP's maximum; counts above that are
    lowered to it, because libgomp aborts (or crashes) the interpreter when it
    cannot create the tens of thousands of threads a stray ``workers=100_000``
    asks for.
    """
    openmp_threads = max(1, runtime.openmp_max_threads())
    if workers is None:
        return openmp_threads
    try:
        workers = operator.index(workers)
    except TypeError:
        raise TypeError(
            f"workers must be an integer or None, not {type(workers).__name__}"
        ) from None
    if workers == 0:
        raise ValueError("workers must not be zero")
    if 0 < workers <= OVERSUBSCRIPTION * openmp_threads:
        return workers   # within the cap without asking the OS (os.cpu_count reads /sys)
    if workers < 0:
        cpus = os.cpu_count() or 1
        if workers < -cpus:
            raise ValueError(
                f"workers value out of range; got {workers}, must not be less than {-cpus}"
            )
        workers += cpus + 1
    return min(workers, OVERSUBSCRIPTION * max(os.cpu_count() or 1, openmp_threads))


def _blas_description():
    try:
        import scipy

        blas = scipy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception as exc:  # scipy builds differ in what they record
        return f"unknown ({type(exc).__name__})"


def config_dict():
    """The facts ``show_config`` prints, as a dict."""
    compiler, flags = runtime.compiler()
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "compiler": compiler,
        "compile flags": flags,
        "SIMD level": _simd.LEVEL,
        "SIMD kernel flags": _simd.correlate_kernels.BUILD_FLAGS,
        "SIMD levels built": ", ".join(_simd.available_levels()),
        "CPU x86-64-v3 / v4": f"{runtime.cpu_has_x86_64_v3()} / {runtime.cpu_has_x86_64_v4()}",
        "OpenMP": runtime.openmp_enabled(),
        "OpenMP threads": resolve_workers(None),
        "BLAS (scipy.linalg.cython_blas)": _blas_description(),
    }


def show_config():
    """Print how cyconv was built and what it will use on this machine.

    Reports the version, the compiler and its flags, the SIMD kernel level in
    use (set ``CYCONV_SIMD=baseline`` before import to force the portable
    kernels), whether OpenMP is on and how many threads it will use, and the
    BLAS that ``scipy.linalg.cython_blas`` resolves to.

    Examples
    --------
    >>> import cyconv
    >>> cyconv.show_config()  # doctest: +ELLIPSIS
    cyconv ...
    """
    config = config_dict()
    print(f"cyconv {config.pop('version')}")
    width = max(len(key) for key in config)
    for key, value in config.items():
        print(f"  {key:<{width}} : {value}")
