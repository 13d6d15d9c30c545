/* mimalloc-hint.h — what libmimalloc-hint adds to mimalloc's API: which 64-byte lines of a
 * 4 KiB page hold live data. */
#ifndef LINESWAP_MIMALLOC_HINT_H
#define LINESWAP_MIMALLOC_HINT_H

#include <stdint.h>

#include "lines.h"

#define MI_HINT_PAGE_SIZE 4096
_Static_assert(MI_HINT_PAGE_SIZE == LINE_SIZE * PAGE_LINES, "one mask covers one page");

#define MI_HINT_API __attribute__((visibility("default")))

/* The live lines of the 4 KiB page holding addr: bit i set means bytes [64 i, 64 i + 64) of
 * the page may be read later. A line is live if an allocated block, a block freed by another
 * thread but not yet collected, or allocator metadata overlaps it. Every page that is not
 * made of blocks with a free bitmap (blocks above 128 KiB, mimalloc's headers, memory
 * mimalloc does not own) is LINES_WHOLE.
 *
 * Any thread may ask, without locks. The answer is exact for a page whose owning thread is
 * not allocating or freeing in it meanwhile; otherwise it is a snapshot that a concurrent
 * allocation may already have outdated, so a caller that must not lose data arranges for
 * the owner to publish its allocations (lineswap's hint ring does). A page of 8..24-byte
 * blocks keeps its bitmap in its own last bytes, which the query reads: ask only about pages
 * known to be in use (in mimalloc's debug builds a page freed and decommitted meanwhile is
 * inaccessible; in release builds it reads as zeros). */
MI_HINT_API uint64_t mi_hint_page_mask(const void *addr);

#endif
