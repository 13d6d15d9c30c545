/* arena_range.c — see arena_range.h. */
#include "arena_range.h"

#include <errno.h>
#include <string.h>

void arena_table_init(struct arena_table *t, uint64_t device_bytes)
{
	t->device_bytes = device_bytes / ARENA_ALIGN * ARENA_ALIGN;
	t->n = 0;
}

/* Puts r at index i, keeping the table sorted (the caller checked there is room). */
static void insert_at(struct arena_table *t, unsigned i, struct arena_range r)
{
	memmove(&t->range[i + 1], &t->range[i], (t->n - i) * sizeof(t->range[0]));
	t->range[i] = r;
	t->n++;
}

static uint64_t round_up(uint64_t bytes)
{
	return bytes > UINT64_MAX - ARENA_ALIGN
		       ? 0
		       : (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
}

int arena_grant(struct arena_table *t, uint64_t bytes, uint32_t owner, uint64_t *offset,
		uint64_t *granted)
{
	uint64_t want = round_up(bytes), at = 0;

	if (bytes == 0 || want == 0)
		return -EINVAL;
	if (t->n == ARENA_MAX_RANGES)
		return -ENOSPC;
	for (unsigned i = 0; i <= t->n; i++) {
		uint64_t end = i < t->n ? t->range[i].offset : t->device_bytes;

		if (end >= at && end - at >= want) {
			insert_at(t, i,
				  (struct arena_range){ .offset = at,
							.bytes = want,
							.owner = owner,
							.state = ARENA_GRANTED });
			*offset = at;
			*granted = want;
			return 0;
		}
		if (i < t->n)
			at = t->range[i].offset + t->range[i].bytes;
	}
	return -ENOSPC;
}

int arena_take(struct arena_table *t, uint64_t offset, uint64_t bytes, uint32_t owner)
{
	unsigned i = 0;

	if (bytes == 0 || offset % ARENA_ALIGN || bytes % ARENA_ALIGN || offset > t->device_bytes ||
	    bytes > t->device_bytes - offset)
		return -EINVAL;
	while (i < t->n && t->range[i].offset + t->range[i].bytes <= offset)
		i++;
	if (i < t->n && t->range[i].offset == offset && t->range[i].bytes == bytes &&
	    t->range[i].state == ARENA_RELEASED) {
		t->range[i].owner = owner; /* its client is back (under a new daemon) */
		t->range[i].state = ARENA_GRANTED;
		return 0;
	}
	if (i < t->n && t->range[i].offset < offset + bytes)
		return -EBUSY;
	if (t->n == ARENA_MAX_RANGES)
		return -ENOSPC;
	insert_at(
		t, i,
		(struct arena_range){
			.offset = offset, .bytes = bytes, .owner = owner, .state = ARENA_GRANTED });
	return 0;
}

const struct arena_range *arena_find(const struct arena_table *t, uint64_t at)
{
	unsigned lo = 0, hi = t->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (t->range[mid].offset + t->range[mid].bytes <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < t->n && t->range[lo].offset <= at && t->range[lo].state == ARENA_GRANTED)
		return &t->range[lo];
	return NULL;
}

bool arena_release(struct arena_table *t, uint32_t owner)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->range[i].state == ARENA_GRANTED && t->range[i].owner == owner) {
			t->range[i].state = ARENA_RELEASED;
			return true;
		}
	return false;
}

bool arena_forget(struct arena_table *t, uint64_t offset)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->range[i].offset == offset && t->range[i].state == ARENA_RELEASED) {
			memmove(&t->range[i], &t->range[i + 1],
				(t->n - i - 1) * sizeof(t->range[0]));
			t->n--;
			return true;
		}
	return false;
}
