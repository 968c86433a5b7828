// deferwatch's settings of glibc's allocator for the long-running daemon (mallopt and
// malloc_trim are not visible through Swift's Glibc module).
#ifndef DEFERWATCH_CMEMORY_H
#define DEFERWATCH_CMEMORY_H

// Allocations of mmap_threshold bytes or more get pages of their own, given back to the
// kernel when freed (glibc otherwise raises the threshold after each such free, up to
// 32 MiB, and the large arrays of the queue and the views then stay in the heap once
// freed); at most arena_max malloc arenas (glibc's default is 8 per core). 0 keeps glibc's
// own value. Returns 0 when glibc took both.
int dw_malloc_tune(int mmap_threshold, int arena_max);

// Gives free memory at the top of the heaps back to the kernel (malloc_trim(0)).
void dw_malloc_trim(void);

#endif
