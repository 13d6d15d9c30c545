/* page_lines.h — a set of 4 KiB pages, each with a mask of 64-byte lines: the shadow model
 * of which lines hold live blocks, for the allocator tests. */
#ifndef LINESWAP_TEST_PAGE_LINES_H
#define LINESWAP_TEST_PAGE_LINES_H

#include <stddef.h>
#include <stdint.h>

struct page_lines {
	size_t cap; /* a power of two */
	size_t count;
	uintptr_t *page; /* 0: empty slot */
	uint64_t *lines;
};

void page_lines_init(struct page_lines *m);
void page_lines_free(struct page_lines *m);
void page_lines_clear(struct page_lines *m);
/* Or lines into page (4 KiB aligned), adding the page if it is new. */
void page_lines_add(struct page_lines *m, uintptr_t page, uint64_t lines);
/* Add the lines that bytes [p, p + n) overlap (n > 0), on every page they touch. */
void page_lines_add_bytes(struct page_lines *m, const void *p, size_t n);
/* The lines of page, 0 if it is not in the set. */
uint64_t page_lines_get(const struct page_lines *m, uintptr_t page);

#endif
