"""Output arrays whose large blocks are kept for reuse when they are freed.

A fresh 32 MiB output costs about 8,000 page faults (5 - 9 ms on the
reference machine, more than the 3x3 correlation that fills it) because
glibc maps every block above 32 MiB anew and returns it on free.  Smaller
blocks fare little better when several are freed together: glibc trims the
top of its heap and the next call faults the pages in again (the kernels'
1 - 4 MiB scratch in a batch-1 3x3 backward pass: 1,200 faults per call,
about 40 % of its time).  Outputs allocated through ``empty`` use a numpy
memory handler that keeps up to ``CACHE_BLOCKS`` freed blocks of at least
``MIN_BLOCK_BYTES`` (at most ``CACHE_BYTES`` in all; the oldest make room
for newer ones) and hands them out again for requests of nearly the same
size, so repeated calls reuse memory that is already mapped.  The arrays
are ordinary owning numpy arrays: numpy remembers the handler of each array
and gives its memory back through it, whatever context frees it.  Inside
``with reusing():`` every array made on the thread takes the same handler,
scipy.fft's too (8192^2 float32 in 1024^2 FFT tiles on two threads: 50,000
page faults and 0.13 s of system time per call down to 11,000 and 0.08 s).
"""
cimport numpy as cnp

import numpy as np

cnp.import_array()

cdef extern from *:
    """
    #include <stdint.h>
    #include <stdlib.h>
    #include <string.h>
    #include "pythread.h"

    #define CYCONV_CACHE_BLOCKS 8
    #define CYCONV_MIN_BLOCK_BYTES ((size_t)1 << 20)
    #define CYCONV_CACHE_BYTES ((size_t)256 << 20)
    /* Blocks start on a cache line: an AVX-512 load from a block at malloc's
       16-byte alignment spans two lines (the kernels' products from such
       buffers ran 10 - 12 % slower).  Before each block, its header. */
    #define CYCONV_ALIGN ((size_t)64)
    typedef struct { char *raw; size_t capacity; } cyconv_header;

    static cyconv_header *cyconv_header_of(void *data) {
        return (cyconv_header *)data - 1;
    }

    static PyThread_type_lock cyconv_cache_lock = NULL;
    static void *cyconv_cached[CYCONV_CACHE_BLOCKS];
    static size_t cyconv_cached_count = 0, cyconv_cached_bytes = 0;

    static size_t cyconv_capacity(void *data) {
        return cyconv_header_of(data)->capacity;
    }

    static void *cyconv_cache_take(size_t size) {
        void *found = NULL;
        if (size < CYCONV_MIN_BLOCK_BYTES || cyconv_cache_lock == NULL) return NULL;
        PyThread_acquire_lock(cyconv_cache_lock, WAIT_LOCK);
        for (size_t i = 0; i < cyconv_cached_count; ++i) {
            size_t capacity = cyconv_capacity(cyconv_cached[i]);
            /* Nearly the same size only: a small request must not pin a huge block. */
            if (capacity >= size && capacity - size <= size / 4) {
                found = cyconv_cached[i];
                memmove(cyconv_cached + i, cyconv_cached + i + 1,
                        (--cyconv_cached_count - i) * sizeof(void *));
                cyconv_cached_bytes -= capacity;
                break;
            }
        }
        PyThread_release_lock(cyconv_cache_lock);
        return found;
    }

    static int cyconv_cache_keep(void *data) {
        /* The newest blocks stay: older ones are evicted (freed) to make room, so
           a cache full of one size does not turn away the size in use now. */
        size_t capacity = cyconv_capacity(data);
        void *evicted[CYCONV_CACHE_BLOCKS];
        size_t n_evicted = 0;
        if (capacity < CYCONV_MIN_BLOCK_BYTES || capacity > CYCONV_CACHE_BYTES
                || cyconv_cache_lock == NULL) return 0;
        PyThread_acquire_lock(cyconv_cache_lock, WAIT_LOCK);
        while (cyconv_cached_count == CYCONV_CACHE_BLOCKS
                || cyconv_cached_bytes + capacity > CYCONV_CACHE_BYTES) {
            void *oldest = cyconv_cached[0];
            cyconv_cached_bytes -= cyconv_capacity(oldest);
            memmove(cyconv_cached, cyconv_cached + 1, --cyconv_cached_count * sizeof(void *));
            evicted[n_evicted++] = oldest;
        }
        cyconv_cached[cyconv_cached_count++] = data;
        cyconv_cached_bytes += capacity;
        PyThread_release_lock(cyconv_cache_lock);
        for (size_t i = 0; i < n_evicted; ++i) free(cyconv_header_of(evicted[i])->raw);
        return 1;
    }

    static void *cyconv_block_malloc(void *ctx, size_t size) {
        void *data = cyconv_cache_take(size);
        char *raw, *aligned;
        (void)ctx;
        if (data != NULL) return data;
        if (size > (size_t)-1 - sizeof(cyconv_header) - CYCONV_ALIGN) return NULL;
        raw = (char *)malloc(size + sizeof(cyconv_header) + CYCONV_ALIGN);
        if (raw == NULL) return NULL;
        aligned = raw + sizeof(cyconv_header);
        aligned += (CYCONV_ALIGN - (uintptr_t)aligned % CYCONV_ALIGN) % CYCONV_ALIGN;
        cyconv_header_of(aligned)->raw = raw;
        cyconv_header_of(aligned)->capacity = size;
        return aligned;
    }

    static void *cyconv_block_calloc(void *ctx, size_t count, size_t item_size) {
        size_t size;
        void *data;
        if (item_size != 0 && count > (size_t)-1 / item_size) return NULL;
        size = count * item_size;
        data = cyconv_block_malloc(ctx, size);
        if (data != NULL) memset(data, 0, size);
        return data;
    }

    static void cyconv_block_free(void *ctx, void *data, size_t size) {
        (void)ctx; (void)size;  /* the header knows the capacity */
        if (data == NULL || cyconv_cache_keep(data)) return;
        free(cyconv_header_of(data)->raw);
    }

    static void *cyconv_block_realloc(void *ctx, void *data, size_t new_size) {
        /* A new aligned block (realloc would keep only malloc's alignment). */
        void *moved;
        size_t kept;
        if (data == NULL) return cyconv_block_malloc(ctx, new_size);
        moved = cyconv_block_malloc(ctx, new_size);
        if (moved == NULL) return NULL;
        kept = cyconv_capacity(data);
        memcpy(moved, data, kept < new_size ? kept : new_size);
        cyconv_block_free(ctx, data, kept);
        return moved;
    }

    static PyDataMem_Handler cyconv_output_handler = {
        "cyconv_output_cache", 1,
        {NULL, cyconv_block_malloc, cyconv_block_calloc, cyconv_block_realloc, cyconv_block_free},
    };

    static PyObject *cyconv_output_handler_capsule(void) {
        if (cyconv_cache_lock == NULL) {
            cyconv_cache_lock = PyThread_allocate_lock();
            if (cyconv_cache_lock == NULL) return PyErr_NoMemory();
        }
        return PyCapsule_New(&cyconv_output_handler, "mem_handler", NULL);
    }
    """
    object cyconv_output_handler_capsule()
    size_t CYCONV_CACHE_BLOCKS
    size_t CYCONV_MIN_BLOCK_BYTES
    size_t CYCONV_CACHE_BYTES

CACHE_BLOCKS = CYCONV_CACHE_BLOCKS
MIN_BLOCK_BYTES = CYCONV_MIN_BLOCK_BYTES
CACHE_BYTES = CYCONV_CACHE_BYTES

_HANDLER = cyconv_output_handler_capsule()


def empty(shape, dtype):
    """``np.empty(shape, dtype)`` with its memory from the reusing handler."""
    # The handler set and restored here rather than by ``with reusing()``,
    # which costs 0.26 us more on every output (0.53 against 0.79 us).
    previous = cnp.PyDataMem_SetHandler(_HANDLER)
    try:
        return np.empty(shape, dtype)
    finally:
        cnp.PyDataMem_SetHandler(previous)


cdef class reusing:
    """A context in which every numpy array made on this thread, by cyconv or
    by a library through numpy (scipy.fft's transforms), takes its memory from
    the reusing handler: a loop of FFT tiles then maps its blocks once.
    """
    cdef object previous

    def __enter__(self):
        self.previous = cnp.PyDataMem_SetHandler(_HANDLER)
        return self

    def __exit__(self, *exc_info):
        cnp.PyDataMem_SetHandler(self.previous)
        return False
