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
    #if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && (defined(__x86_64__) || defined(__i386__))
    /* gcc knows the psABI levels as a whole: every feature -march=x86-64-vN may use. */
    static int cyconv_has_x86_64_v3(void) { __builtin_cpu_init(); return __builtin_cpu_supports("x86-64-v3"); }
    static int cyconv_has_x86_64_v4(void) { __builtin_cpu_init(); return __builtin_cpu_supports("x86-64-v4"); }
    #elif (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    static int cyconv_has_x86_64_v3(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
            && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
    }
    static int cyconv_has_x86_64_v4(void) {
        return cyconv_has_x86_64_v3() && __builtin_cpu_supports("avx512f")
            && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd")
            && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    }
    #else
    static int cyconv_has_x86_64_v3(void) { return 0; }
    static int cyconv_has_x86_64_v4(void) { return 0; }
    #endif
    """
    const char *CYCONV_COMPILER
    const char *CYCONV_BUILD_FLAGS
    int cyconv_has_x86_64_v3() noexcept nogil
    int cyconv_has_x86_64_v4() noexcept nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(CYCONV_OPENMP)


def openmp_max_threads():
    """OpenMP's current maximum team size (honours OMP_NUM_THREADS, threadpoolctl)."""
    return omp_get_max_threads()


def compiler():
    """The compiler that built the extensions and the flags it was given."""
    return CYCONV_COMPILER.decode(), CYCONV_BUILD_FLAGS.decode()


def cpu_has_x86_64_v3():
    """True when this CPU runs x86-64-v3 code (AVX2, FMA, BMI1/2...)."""
    return bool(cyconv_has_x86_64_v3())


def cpu_has_x86_64_v4():
    """True when this CPU runs x86-64-v4 code (AVX-512 F/BW/CD/DQ/VL on top of v3)."""
    return bool(cyconv_has_x86_64_v4())
