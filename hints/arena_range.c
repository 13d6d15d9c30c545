/* arena_range.c — see arena_range.h. */
#include "arena_range.h"

#include <errno.h>
#include <string.h>

void arena_table_init(struct arena_table *t, uint64_t device_bytes)
{
	t->device_bytes = device_bytes / ARENA_ALIGN * ARENA_ALIGN;
	t->n = 0;
}

/* Puts r at index i, keeping the table sorted (the caller checked there is room). The last
 * range is copied up before the count grows, so a crash at any point leaves every range in
 * the table (one perhaps twice). */
static void insert_at(struct arena_table *t, unsigned i, struct arena_range r)
{
	if (i == t->n) {
		t->range[i] = r;
		__atomic_store_n(&t->n, t->n + 1, __ATOMIC_RELEASE);
		return;
	}
	t->range[t->n] = t->range[t->n - 1];
	__atomic_store_n(&t->n, t->n + 1, __ATOMIC_RELEASE);
	if (i + 2 < t->n)
		memmove(&t->range[i + 1], &t->range[i], (t->n - 2 - i) * sizeof(t->range[0]));
	t->range[i] = r;
}

/* Removes index i: the others move down first, so a crash leaves one range twice at most. */
static void remove_at(struct arena_table *t, unsigned i)
{
	memmove(&t->range[i], &t->range[i + 1], (t->n - i - 1) * sizeof(t->range[0]));
	__atomic_store_n(&t->n, t->n - 1, __ATOMIC_RELEASE);
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

void arena_freeze(struct arena_table *t, uint32_t owner)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->range[i].state == ARENA_GRANTED && t->range[i].owner == owner)
			t->range[i].frozen = true;
}

bool arena_discard_begin(struct arena_table *t, uint64_t offset)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->range[i].offset == offset && t->range[i].state == ARENA_RELEASED) {
			t->range[i].state = ARENA_DISCARDING;
			return true;
		}
	return false;
}

void arena_discard_end(struct arena_table *t, uint64_t offset, bool discarded)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->range[i].offset == offset && t->range[i].state == ARENA_DISCARDING) {
			if (discarded)
				remove_at(t, i);
			else
				t->range[i].state = ARENA_RELEASED;
			return;
		}
}

bool arena_table_check(struct arena_table *t, uint64_t device_bytes)
{
	if (t->n > ARENA_MAX_RANGES || t->device_bytes != device_bytes / ARENA_ALIGN * ARENA_ALIGN)
		return false;
	for (unsigned i = 0; i < t->n; i++) {
		const struct arena_range *r = &t->range[i];

		if (r->bytes == 0 || r->offset % ARENA_ALIGN || r->bytes % ARENA_ALIGN ||
		    r->offset > t->device_bytes || r->bytes > t->device_bytes - r->offset ||
		    r->state > ARENA_DISCARDING)
			return false;
		if (i == 0)
			continue;
		const struct arena_range *p = &t->range[i - 1];

		if (p->offset == r->offset && p->bytes == r->bytes)
			remove_at(t, i--); /* a crash midway left it twice */
		else if (p->offset + p->bytes > r->offset)
			return false;
	}
	return true;
}
