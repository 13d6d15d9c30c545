/* lines.h — the line geometry every part of lineswap shares: a 4 KiB page is 64 lines of 64
 * bytes, and a page's live lines are a 64-bit mask with bit i for line i.
 *
 * The one invariant (docs/design.md, "The one invariant"): the mask a page is evicted by covers
 * every line any process may later read from it; a line outside it comes back as zeros. Every
 * producer of a mask answers LINES_WHOLE when it is unsure. */
#ifndef LINESWAP_LINES_H
#define LINESWAP_LINES_H

#include <stdint.h>

#define LINE_SHIFT 6
#define LINE_SIZE  (1u << LINE_SHIFT) /* bytes */
#define PAGE_LINES 64u

/* Lines 0 and 1, the first 128 bytes: every transfer moves them, whatever a mask says, so
 * their two bits are free for the per-page entry's flags (targets/remote.c). */
#define LINES_ALWAYS 0x3ull
/* Every line live: a page moves whole. The safe answer. */
#define LINES_WHOLE UINT64_MAX

_Static_assert(PAGE_LINES == 64, "a page's mask is one 64-bit word");
_Static_assert(LINE_SIZE *PAGE_LINES == 4096, "lines cover a 4 KiB page exactly");

#endif
