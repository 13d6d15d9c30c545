/* hint_lines.h — shared by the line-mask query and the hint producer (both built with
 * mimalloc's internal headers). */
#ifndef LINESWAP_HINT_LINES_H
#define LINESWAP_HINT_LINES_H

#include <mimalloc.h>
#include <mimalloc-internal.h>
#include <stddef.h>
#include <stdint.h>

#include "lines.h"

/* Patch 0004's geometry inside mimalloc is the project's. */
_Static_assert(MI_HINT_LINE_SHIFT == LINE_SHIFT, "mimalloc's hint lines are lineswap's lines");
_Static_assert((1u << MI_HINT_OS_PAGE_SHIFT) == LINE_SIZE * PAGE_LINES,
	       "mimalloc's hint pages are lineswap's pages");

/* The live lines of the 4 KiB page at base, which lies in bitmap page `page`, counting blocks
 * [0, blocks) of it: a block that is allocated (clear in the free bitmap) makes every line it
 * overlaps live. Reads the bitmap with relaxed atomics. */
uint64_t _mi_hint_lines(const mi_page_t *page, uintptr_t base, size_t blocks);

#endif
