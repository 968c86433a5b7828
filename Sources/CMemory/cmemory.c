#include "cmemory.h"
#include <malloc.h>

int dw_malloc_tune(int mmap_threshold, int arena_max) {
    int failed = 0;
    if (mmap_threshold > 0 && mallopt(M_MMAP_THRESHOLD, mmap_threshold) != 1) failed = 1;
    if (arena_max > 0 && mallopt(M_ARENA_MAX, arena_max) != 1) failed = 1;
    return failed ? -1 : 0;
}

void dw_malloc_trim(void) { malloc_trim(0); }
