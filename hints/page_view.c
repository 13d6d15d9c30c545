/* The per-client page view (page_view.h): leaves of masks behind a directory with open
 * addressing, linear probing and backward-shift deletion (no tombstones: a lookup stops at the
 * first empty slot). */
#include "page_view.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LEAF_BYTES sizeof(struct page_view_block)

bool page_view_budget_take(struct page_view_budget *const budget[PAGE_VIEW_BUDGETS], uint64_t bytes)
{
	for (unsigned i = 0; i < PAGE_VIEW_BUDGETS; i++)
		if (budget[i] &&
		    (budget[i]->used > budget[i]->cap || budget[i]->cap - budget[i]->used < bytes))
			return false;
	for (unsigned i = 0; i < PAGE_VIEW_BUDGETS; i++)
		if (budget[i])
			budget[i]->used += bytes;
	return true;
}

void page_view_budget_give(struct page_view_budget *const budget[PAGE_VIEW_BUDGETS], uint64_t bytes)
{
	for (unsigned i = 0; i < PAGE_VIEW_BUDGETS; i++)
		if (budget[i])
			budget[i]->used -= bytes;
}

/* Memory the view takes or gives back, charged to its own count and every budget. */
static bool take(struct page_view *v, uint64_t bytes)
{
	if (!page_view_budget_take(v->budget, bytes))
		return false;
	v->bytes += bytes;
	return true;
}

static void give(struct page_view *v, uint64_t bytes)
{
	page_view_budget_give(v->budget, bytes);
	v->bytes -= bytes;
}

static size_t hash(uint64_t key, size_t capacity)
{
	key *= 0x9e3779b97f4a7c15ull;
	return (size_t)(key >> 32) & (capacity - 1);
}

/* A directory of capacity empty slots, charged; NULL when memory or a budget is short. */
static struct page_view_leaf *new_dir(struct page_view *v, size_t capacity)
{
	struct page_view_leaf *dir;

	if (!take(v, capacity * sizeof(*dir)))
		return NULL;
	dir = calloc(capacity, sizeof(*dir));
	if (!dir)
		give(v, capacity * sizeof(*dir));
	return dir;
}

int page_view_init(struct page_view *v, size_t max_pages,
		   struct page_view_budget *const budget[PAGE_VIEW_BUDGETS])
{
	*v = (struct page_view){ .capacity = PAGE_VIEW_DIR_MIN, .max_count = max_pages };
	for (unsigned i = 0; i < PAGE_VIEW_BUDGETS && budget; i++)
		v->budget[i] = budget[i];
	v->dir = new_dir(v, PAGE_VIEW_DIR_MIN);
	return v->dir ? 0 : -ENOMEM;
}

/* Frees every leaf held, the directory and the recent pages. */
static void free_leaves(struct page_view *v)
{
	for (size_t i = 0, seen = 0; seen < v->leaves; i++)
		if (v->dir[i].key) {
			free(v->dir[i].b);
			seen++;
		}
	give(v, v->leaves * LEAF_BYTES);
	free(v->recent);
	give(v, v->recent_cap * sizeof(*v->recent));
	v->recent = NULL;
	v->nrecent = v->recent_cap = 0;
	v->leaves = 0;
	v->count = 0;
	v->live = 0;
	if (v->dir) {
		free(v->dir);
		give(v, v->capacity * sizeof(*v->dir));
		v->dir = NULL;
	}
}

void page_view_free(struct page_view *v)
{
	free_leaves(v);
}

void page_view_clear(struct page_view *v)
{
	free_leaves(v);
	/* The directory goes back to its first size: a client starting epoch after epoch costs
	 * a small table each time. NULL only when memory is short: the view then keeps nothing. */
	v->capacity = PAGE_VIEW_DIR_MIN;
	v->dir = new_dir(v, PAGE_VIEW_DIR_MIN);
}

static size_t find(const struct page_view *v, uint64_t key)
{
	size_t i = hash(key, v->capacity);

	while (v->dir[i].key != 0 && v->dir[i].key != key)
		i = (i + 1) & (v->capacity - 1);
	return i;
}

static void remove_at(struct page_view *v, size_t i)
{
	size_t mask = v->capacity - 1;

	/* Shift back every later slot of the cluster whose home is not between the hole and it. */
	for (size_t j = (i + 1) & mask; v->dir[j].key != 0; j = (j + 1) & mask) {
		size_t home = hash(v->dir[j].key, v->capacity);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			v->dir[i] = v->dir[j];
			i = j;
		}
	}
	v->dir[i] = (struct page_view_leaf){ 0 };
	v->leaves--;
}

/* Doubles the directory (its cost: the leaves held); false, unchanged, when short. */
static bool grow(struct page_view *v)
{
	struct page_view_leaf *old = v->dir;
	size_t old_capacity = v->capacity;

	v->dir = new_dir(v, old_capacity * 2);
	if (!v->dir) {
		v->dir = old;
		return false;
	}
	v->capacity = old_capacity * 2;
	for (size_t i = 0; i < old_capacity; i++)
		if (old[i].key)
			v->dir[find(v, old[i].key)] = old[i];
	free(old);
	give(v, old_capacity * sizeof(*old));
	return true;
}

/* A new leaf for key, or NULL (nothing changed) when the view or a budget is full. */
static struct page_view_leaf *add_leaf(struct page_view *v, uint64_t key)
{
	struct page_view_leaf *l;
	struct page_view_block *b;

	/* kept at most two thirds full, so probes stay short */
	if (3 * (v->leaves + 1) > 2 * v->capacity && !grow(v))
		return NULL;
	if (!take(v, LEAF_BYTES))
		return NULL;
	b = malloc(LEAF_BYTES);
	if (!b) {
		give(v, LEAF_BYTES);
		return NULL;
	}
	memset(b->masks, 0xff, sizeof(b->masks)); /* LINES_WHOLE */
	memset(b->reduced, 0, sizeof(b->reduced));
	memset(b->swapped, 0, sizeof(b->swapped));
	l = &v->dir[find(v, key)];
	*l = (struct page_view_leaf){ .key = key, .b = b };
	v->leaves++;
	return l;
}

void page_view_set(struct page_view *v, uint64_t vpage, uint64_t mask)
{
	uint64_t key = vpage / PAGE_VIEW_LEAF_PAGES + 1;
	unsigned at = (unsigned)(vpage % PAGE_VIEW_LEAF_PAGES);
	struct page_view_leaf *l;
	size_t i;

	if (!v->dir) {
		v->dropped += mask != LINES_WHOLE;
		return;
	}
	i = find(v, key);
	l = v->dir[i].key ? &v->dir[i] : NULL;
	if (mask == LINES_WHOLE) {
		if (!l || l->b->masks[at] == LINES_WHOLE)
			return;
		v->live -= (uint64_t)__builtin_popcountll(l->b->masks[at]);
		l->b->masks[at] = LINES_WHOLE;
		l->b->reduced[at / 64] &= ~(1ull << at % 64);
		l->b->swapped[at / 64] &= ~(1ull << at % 64);
		v->count--;
		if (--l->count == 0) {
			free(l->b);
			give(v, LEAF_BYTES);
			remove_at(v, i);
		}
		return;
	}
	if (!l || l->b->masks[at] == LINES_WHOLE) {
		if (v->count >= v->max_count || (!l && !(l = add_leaf(v, key)))) {
			v->dropped++;
			return;
		}
		l->count++;
		v->count++;
		l->b->reduced[at / 64] |= 1ull << at % 64;
	} else {
		v->live -= (uint64_t)__builtin_popcountll(l->b->masks[at]);
	}
	v->live += (uint64_t)__builtin_popcountll(mask);
	/* A new mask: the resolver reads the page's entry again (knowledge is only what to read).
	 */
	if (l->b->masks[at] != mask)
		l->b->swapped[at / 64] &= ~(1ull << at % 64);
	l->b->masks[at] = mask;
}

uint64_t page_view_get(const struct page_view *v, uint64_t vpage)
{
	size_t i;

	if (!v->dir)
		return LINES_WHOLE;
	i = find(v, vpage / PAGE_VIEW_LEAF_PAGES + 1);
	return v->dir[i].key ? v->dir[i].b->masks[vpage % PAGE_VIEW_LEAF_PAGES] : LINES_WHOLE;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

size_t page_view_pages(const struct page_view *v, uint64_t *out)
{
	size_t n = 0, nkeys = 0;
	uint64_t *keys;

	if (!v->dir || !v->count)
		return 0;
	/* The leaves' keys, sorted, at the end of out: every leaf holds a page, so the pages
	 * written before leaf k's never reach its key (nor any later one). */
	keys = out + v->count - v->leaves;
	for (size_t i = 0; nkeys < v->leaves; i++)
		if (v->dir[i].key)
			keys[nkeys++] = v->dir[i].key;
	qsort(keys, nkeys, sizeof(*keys), cmp_u64);
	for (size_t k = 0; k < nkeys; k++) {
		uint64_t key = keys[k];
		const struct page_view_leaf *l = &v->dir[find(v, key)];

		for (unsigned p = 0; p < PAGE_VIEW_LEAF_PAGES; p++)
			if (l->b->masks[p] != LINES_WHOLE)
				out[n++] = (key - 1) * PAGE_VIEW_LEAF_PAGES + p;
	}
	return n;
}

static int cmp_leaf(const void *a, const void *b)
{
	uint64_t x = (*(const struct page_view_leaf *const *)a)->key;
	uint64_t y = (*(const struct page_view_leaf *const *)b)->key;

	return (x > y) - (x < y);
}

size_t page_view_leaves(const struct page_view *v, const struct page_view_leaf **out)
{
	size_t n = 0;

	for (size_t i = 0; v->dir && n < v->leaves; i++)
		if (v->dir[i].key)
			out[n++] = &v->dir[i];
	qsort(out, n, sizeof(*out), cmp_leaf);
	return n;
}

bool page_view_mark_swapped(struct page_view *v, uint64_t vpage)
{
	size_t i;
	unsigned at = (unsigned)(vpage % PAGE_VIEW_LEAF_PAGES);

	if (!v->dir)
		return true;
	i = find(v, vpage / PAGE_VIEW_LEAF_PAGES + 1);
	if (!v->dir[i].key || v->dir[i].b->masks[at] == LINES_WHOLE)
		return true;
	uint64_t *w = &v->dir[i].b->swapped[at / 64], bit = 1ull << at % 64;
	bool was = *w & bit;

	*w |= bit;
	return was;
}

bool page_view_recent_reserve(struct page_view *v, size_t n)
{
	size_t cap = v->recent_cap ? v->recent_cap : 64;
	struct page_view_recent *p;

	if (n <= v->recent_cap)
		return true;
	while (cap < n)
		cap *= 2;
	if (!take(v, (cap - v->recent_cap) * sizeof(*p)))
		return false;
	p = realloc(v->recent, cap * sizeof(*p));
	if (!p) {
		give(v, (cap - v->recent_cap) * sizeof(*p));
		return false;
	}
	v->recent = p;
	v->recent_cap = cap;
	return true;
}
