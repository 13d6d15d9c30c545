/* page_view.h — what the server knows of one client's pages: virtual page -> live-line mask.
 *
 * A page that is not in the view is whole (all lines live): the safe answer. Masks live in
 * leaves of PAGE_VIEW_LEAF_PAGES consecutive pages (4 KiB each, like a page table's), found
 * through a small hash directory, so adding a page never rehashes pages: at most a leaf is
 * made, or the directory of leaves doubles. What the directory and the leaves cost is
 * bounded by the budgets below, and so is every walk over them (a clear, a listing). The view is
 * bounded twice: by max_pages reduced pages, and by the memory budgets it is charged to (its
 * client's, its uid's, the daemon's); when either is reached a new reduced mask is simply not kept
 * (the page stays whole), so a client can waste its own savings but never grow the server's memory
 * past a cap. Single-threaded: the hint service owns it and its budgets. */
#ifndef LINESWAP_PAGE_VIEW_H
#define LINESWAP_PAGE_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lines.h"

#define PAGE_VIEW_LEAF_PAGES 512
#define PAGE_VIEW_LEAF_WORDS (PAGE_VIEW_LEAF_PAGES / 64) /* of a leaf's page bitmaps */
#define PAGE_VIEW_BUDGETS    3
#define PAGE_VIEW_DIR_MIN    16 /* directory slots of a new or cleared view */
#define PAGE_VIEW_MIN_BYTES  (PAGE_VIEW_DIR_MIN * sizeof(struct page_view_leaf))

/* Memory some owner may hold: charged before it is taken, credited when it is freed. */
struct page_view_budget {
	uint64_t used, cap;
};

/* A leaf's pages: their masks, and two bitmaps over them. `swapped` is the swap-slot
 * resolver's (slot_resolver.c): set when it read the page's swap entry, cleared when it finds
 * the page no longer swapped out or the page's mask changes; the view only clears it. */
struct page_view_block {
	uint64_t masks[PAGE_VIEW_LEAF_PAGES]; /* LINES_WHOLE where not reduced */
	uint64_t reduced[PAGE_VIEW_LEAF_WORDS];
	uint64_t swapped[PAGE_VIEW_LEAF_WORDS];
};

struct page_view_leaf {
	uint64_t key;   /* vpage / PAGE_VIEW_LEAF_PAGES + 1; 0 marks an empty directory slot */
	uint32_t count; /* masks in it that are not whole */
	struct page_view_block *b;
};

/* A page the resolver found newly swapped out, and the entry it read there: its write may come
 * in a later round (slot_resolver.c). */
struct page_view_recent {
	uint64_t vpage, entry, ns;
};

struct page_view {
	struct page_view_leaf *dir;
	size_t capacity;  /* directory slots, a power of two */
	size_t leaves;    /* in use */
	size_t count;     /* reduced pages */
	uint64_t live;    /* live lines of the reduced pages (the bits of their masks) */
	size_t max_count; /* beyond this, reductions are dropped */
	uint64_t dropped; /* reductions dropped: the view or a budget was full */
	uint64_t bytes;   /* memory held, charged to every budget */
	struct page_view_budget *budget[PAGE_VIEW_BUDGETS]; /* NULL: none */
	/* The resolver's recent pages, oldest first: recent[0..nrecent) (capacity recent_cap,
	 * charged like the rest). */
	struct page_view_recent *recent;
	size_t nrecent, recent_cap;
	uint64_t refresh_key; /* the resolver walks leaves from this key on whatever it knows */
};

/* A view holding up to max_pages reduced pages, charged to the budgets given (up to
 * PAGE_VIEW_BUDGETS, NULL-padded). Returns 0, or -ENOMEM when memory or a budget is short
 * (PAGE_VIEW_MIN_BYTES of room is enough). */
int page_view_init(struct page_view *v, size_t max_pages,
		   struct page_view_budget *const budget[PAGE_VIEW_BUDGETS]);
void page_view_free(struct page_view *v);
/* Forgets every page: all are whole again. Costs the leaves held and the directory's size;
 * the directory goes back to its first size. */
void page_view_clear(struct page_view *v);
/* Records that vpage's live lines are mask (LINES_WHOLE removes it). */
void page_view_set(struct page_view *v, uint64_t vpage, uint64_t mask);
/* The live lines of vpage as far as the view knows: LINES_WHOLE when it does not. */
uint64_t page_view_get(const struct page_view *v, uint64_t vpage);
/* Writes pointers to the view's leaves, in ascending order of their pages, into out (room for
 * v->leaves). Returns how many. */
size_t page_view_leaves(const struct page_view *v, const struct page_view_leaf **out);
/* Sets vpage's swapped bit (a page the view holds whole counts as set). Returns whether it was
 * set already. */
bool page_view_mark_swapped(struct page_view *v, uint64_t vpage);
/* Makes room for n recent pages; false (nothing changed) when memory or a budget is short. */
bool page_view_recent_reserve(struct page_view *v, size_t n);
/* Writes the view's pages in ascending order into out (room for v->count). Returns how many.
 * Costs the pages held and a sort of the leaves. */
size_t page_view_pages(const struct page_view *v, uint64_t *out);

/* Whether every budget has room for bytes more; then charges them. */
bool page_view_budget_take(struct page_view_budget *const budget[PAGE_VIEW_BUDGETS],
			   uint64_t bytes);
void page_view_budget_give(struct page_view_budget *const budget[PAGE_VIEW_BUDGETS],
			   uint64_t bytes);

#endif
