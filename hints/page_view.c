/* The per-client page view: open addressing with linear probing and backward-shift deletion,
 * so there are no tombstones and a lookup stops at the first empty slot. */
#include "page_view.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static size_t hash(uint64_t key, size_t capacity)
{
	key *= 0x9e3779b97f4a7c15ull;
	return (size_t)(key >> 32) & (capacity - 1);
}

#define MIN_CAPACITY 1024

int page_view_init(struct page_view *v, size_t max_pages)
{
	*v = (struct page_view){ .capacity = MIN_CAPACITY, .max_count = max_pages };
	v->slot = calloc(v->capacity, sizeof(*v->slot));
	return v->slot ? 0 : -ENOMEM;
}

void page_view_free(struct page_view *v)
{
	free(v->slot);
	v->slot = NULL;
}

void page_view_clear(struct page_view *v)
{
	struct page_view_slot *fresh;

	/* A table grown large goes back to its first size: a client that starts epoch after
	 * epoch costs the server a small table each time, not a memset of its largest. */
	if (v->capacity > MIN_CAPACITY && (fresh = calloc(MIN_CAPACITY, sizeof(*fresh)))) {
		free(v->slot);
		v->slot = fresh;
		v->capacity = MIN_CAPACITY;
	} else if (v->count) {
		memset(v->slot, 0, v->capacity * sizeof(*v->slot));
	}
	v->count = 0;
}

static size_t find(const struct page_view *v, uint64_t key)
{
	size_t i = hash(key, v->capacity);

	while (v->slot[i].vpage != 0 && v->slot[i].vpage != key)
		i = (i + 1) & (v->capacity - 1);
	return i;
}

static void remove_at(struct page_view *v, size_t i)
{
	size_t mask = v->capacity - 1;

	/* Shift back every later slot of the cluster whose home is not between the hole and it. */
	for (size_t j = (i + 1) & mask; v->slot[j].vpage != 0; j = (j + 1) & mask) {
		size_t home = hash(v->slot[j].vpage, v->capacity);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			v->slot[i] = v->slot[j];
			i = j;
		}
	}
	v->slot[i] = (struct page_view_slot){ 0 };
	v->count--;
}

/* Doubles the table; false (and the table unchanged) when memory is short. */
static bool grow(struct page_view *v)
{
	struct page_view old = *v;

	v->slot = calloc(old.capacity * 2, sizeof(*v->slot));
	if (!v->slot) {
		v->slot = old.slot;
		return false;
	}
	v->capacity = old.capacity * 2;
	for (size_t i = 0; i < old.capacity; i++)
		if (old.slot[i].vpage)
			v->slot[find(v, old.slot[i].vpage)] = old.slot[i];
	free(old.slot);
	return true;
}

void page_view_set(struct page_view *v, uint64_t vpage, uint64_t mask)
{
	uint64_t key = vpage + 1;
	size_t i = find(v, key);

	if (v->slot[i].vpage == key) {
		if (mask == LINES_WHOLE)
			remove_at(v, i);
		else
			v->slot[i].mask = mask;
		return;
	}
	if (mask == LINES_WHOLE)
		return;
	/* kept at most two thirds full, so probes stay short */
	if (v->count >= v->max_count || (3 * (v->count + 1) > 2 * v->capacity && !grow(v))) {
		v->dropped++;
		return;
	}
	i = find(v, key);
	v->slot[i] = (struct page_view_slot){ .vpage = key, .mask = mask };
	v->count++;
}

uint64_t page_view_get(const struct page_view *v, uint64_t vpage)
{
	size_t i = find(v, vpage + 1);

	return v->slot[i].vpage ? v->slot[i].mask : LINES_WHOLE;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

size_t page_view_pages(const struct page_view *v, uint64_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < v->capacity; i++)
		if (v->slot[i].vpage)
			out[n++] = v->slot[i].vpage - 1;
	qsort(out, n, sizeof(*out), cmp_u64);
	return n;
}
