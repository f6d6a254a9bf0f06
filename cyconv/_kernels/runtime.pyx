"""Facts about this build and this CPU, for ``show_config`` and dispatch."""
from cyconv._kernels.openmp cimport CYCONV_OPENMP, omp_get_max_threads

cdef extern from *:
    """
    #if defined(__clang__)
    #define CYCONV_COMPILER "clang " __clang_version__
    #elif defined(__GNUC__)
    #define CYCONV_COMPILER "gcc " __VERSION__
    #elif defined(_MSC_VER)
    #define CYCONV_COMPILER "msvc"
    #else
    #define CYCONV_COMPILER "unknown"
    #endif
    #ifndef CYCONV_BUILD_FLAGS
    #define CYCONV_BUILD_FLAGS ""
    #endif
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    static int cyconv_has_avx2_fma(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    #else
    static int cyconv_has_avx2_fma(void) { return 0; }
    #endif
    """
    const char *CYCONV_COMPILER
    const char *CYCONV_BUILD_FLAGS
    int cyconv_has_avx2_fma() noexcept nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(CYCONV_OPENMP)


def openmp_max_threads():
    """OpenMP's current maximum team size (honours OMP_NUM_THREADS, threadpoolctl)."""
    return omp_get_max_threads()


def compiler():
    """The compiler that built the extensions and the flags it was given."""
    return CYCONV_COMPILER.decode(), CYCONV_BUILD_FLAGS.decode()


def cpu_has_avx2_fma():
    """True when this CPU runs x86-64-v3 code (AVX2 and FMA)."""
    return bool(cyconv_has_avx2_fma())
