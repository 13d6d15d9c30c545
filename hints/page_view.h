/* page_view.h — what the server knows of one client's pages: virtual page -> live-line mask.
 *
 * A page that is not in the view is whole (all lines live): the safe answer. The view is
 * bounded; when it is full a new reduced mask is simply not kept (the page stays whole), so a
 * client can waste its own savings but never grow the server's memory. Single-threaded: the
 * hint service owns it. */
#ifndef LINESWAP_PAGE_VIEW_H
#define LINESWAP_PAGE_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "lines.h"

struct page_view_slot {
	uint64_t vpage; /* + 1, so that 0 marks an empty slot */
	uint64_t mask;
};

struct page_view {
	struct page_view_slot *slot;
	size_t capacity; /* slots, a power of two */
	size_t count;
	size_t max_count; /* beyond this, reductions are dropped */
	uint64_t dropped; /* reductions dropped because the view was full */
};

/* A view holding up to max_pages reduced pages (it grows as they come). Returns 0 or -ENOMEM. */
int page_view_init(struct page_view *v, size_t max_pages);
void page_view_free(struct page_view *v);
/* Forgets every page: all are whole again. Costs a table of the first size, whatever the
 * view held before. */
void page_view_clear(struct page_view *v);
/* Records that vpage's live lines are mask (LINES_WHOLE removes it). */
void page_view_set(struct page_view *v, uint64_t vpage, uint64_t mask);
/* The live lines of vpage as far as the view knows: LINES_WHOLE when it does not. */
uint64_t page_view_get(const struct page_view *v, uint64_t vpage);
/* Writes the view's pages in ascending order into out (room for v->count). Returns how many. */
size_t page_view_pages(const struct page_view *v, uint64_t *out);

#endif
