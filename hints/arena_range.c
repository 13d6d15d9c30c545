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

/* The index of the first range that ends after byte `at` (t->n if none). */
static unsigned first_after(const struct arena_table *t, uint64_t at)
{
	unsigned lo = 0, hi = t->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (t->range[mid].offset + t->range[mid].bytes <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The range granted to owner, or NULL. */
static struct arena_range *granted_to(struct arena_table *t, uint32_t owner)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->range[i].state == ARENA_GRANTED && t->range[i].owner == owner)
			return &t->range[i];
	return NULL;
}

/* The index of the range at offset in that state, or -1. */
static int index_at(const struct arena_table *t, uint64_t offset, enum arena_state state)
{
	unsigned i = first_after(t, offset);

	return i < t->n && t->range[i].offset == offset && t->range[i].state == state ? (int)i : -1;
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
	unsigned i;

	if (bytes == 0 || offset % ARENA_ALIGN || bytes % ARENA_ALIGN || offset > t->device_bytes ||
	    bytes > t->device_bytes - offset)
		return -EINVAL;
	i = first_after(t, offset);
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
	unsigned lo = first_after(t, at);

	if (lo < t->n && t->range[lo].offset <= at && t->range[lo].state == ARENA_GRANTED)
		return &t->range[lo];
	return NULL;
}

bool arena_release(struct arena_table *t, uint32_t owner)
{
	struct arena_range *r = granted_to(t, owner);

	if (r)
		r->state = ARENA_RELEASED;
	return r != NULL;
}

void arena_freeze(struct arena_table *t, uint32_t owner)
{
	struct arena_range *r = granted_to(t, owner);

	if (r)
		r->frozen = true;
}

bool arena_discard_begin(struct arena_table *t, uint64_t offset)
{
	int i = index_at(t, offset, ARENA_RELEASED);

	if (i >= 0)
		t->range[i].state = ARENA_DISCARDING;
	return i >= 0;
}

void arena_discard_end(struct arena_table *t, uint64_t offset, bool discarded)
{
	int i = index_at(t, offset, ARENA_DISCARDING);

	if (i >= 0 && discarded)
		remove_at(t, (unsigned)i);
	else if (i >= 0)
		t->range[i].state = ARENA_RELEASED;
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
