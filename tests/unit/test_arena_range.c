/* The ranges granted to mmap-mode clients (hints/arena_range.c): against a model of the
 * device's 32 MiB blocks under random grants, takes and releases, and with hostile requests
 * (overlaps, ranges outside the device or misaligned, sizes that overflow, a full table). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "arena_range.h"
#include "xorshift.h"

#define BLOCKS 96 /* a 3 GiB device */
#define FREE   UINT32_MAX

/* model[b]: the owner of block b, or FREE. Every block the table says holds a range must be
 * the model's, and every range must be one run of one owner. */
static void check(const struct arena_table *t, const uint32_t *model)
{
	unsigned covered = 0;

	for (unsigned i = 0; i < t->n; i++) {
		const struct arena_range *r = &t->range[i];

		assert_int_equal(r->offset % ARENA_ALIGN, 0);
		assert_int_equal(r->bytes % ARENA_ALIGN, 0);
		assert_true(r->bytes > 0 && r->offset + r->bytes <= t->device_bytes);
		if (i > 0)
			assert_true(t->range[i - 1].offset + t->range[i - 1].bytes <= r->offset);
		for (uint64_t b = r->offset / ARENA_ALIGN; b < (r->offset + r->bytes) / ARENA_ALIGN;
		     b++) {
			assert_int_equal(model[b], r->owner);
			covered++;
			const struct arena_range *f =
				arena_find(t, b * ARENA_ALIGN + 4096 * (b % 7));

			if (r->state == ARENA_GRANTED)
				assert_ptr_equal(f, r);
			else
				assert_null(f);
		}
	}
	unsigned held = 0;

	for (unsigned b = 0; b < BLOCKS; b++)
		held += model[b] != FREE;
	assert_int_equal(covered, held);
}

static bool model_fits(const uint32_t *model, unsigned first, unsigned n)
{
	for (unsigned b = first; b < first + n; b++)
		if (model[b] != FREE)
			return false;
	return true;
}

/* Whether the table holds exactly blocks [first, first + n) as one released range. */
static bool released_exactly(const struct arena_table *t, unsigned first, unsigned n)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->range[i].offset == first * ARENA_ALIGN)
			return t->range[i].bytes == n * ARENA_ALIGN &&
			       t->range[i].state == ARENA_RELEASED;
	return false;
}

static void test_matches_model(void **state)
{
	static struct arena_table t;
	static uint32_t model[BLOCKS];
	uint64_t rng = 99;
	uint32_t next_owner = 1;

	(void)state;
	arena_table_init(&t, BLOCKS * ARENA_ALIGN + 12345); /* a tail too short for a block */
	assert_int_equal(t.device_bytes, BLOCKS * ARENA_ALIGN);
	for (unsigned b = 0; b < BLOCKS; b++)
		model[b] = FREE;
	for (int op = 0; op < 20000; op++) {
		unsigned kind = (unsigned)(xorshift64(&rng) % 4);
		unsigned n = 1 + (unsigned)(xorshift64(&rng) % 6);
		uint64_t offset, granted;

		if (kind == 0) { /* grant: the lowest gap that fits, in the model too */
			uint64_t bytes = n * ARENA_ALIGN - xorshift64(&rng) % ARENA_ALIGN;
			unsigned first = 0;

			while (first + n <= BLOCKS && !model_fits(model, first, n))
				first++;
			int ret = arena_grant(&t, bytes, next_owner, &offset, &granted);

			if (first + n > BLOCKS) {
				assert_int_equal(ret, -ENOSPC);
				continue;
			}
			assert_int_equal(ret, 0);
			assert_int_equal(offset, first * ARENA_ALIGN);
			assert_int_equal(granted, n * ARENA_ALIGN);
			for (unsigned b = first; b < first + n; b++)
				model[b] = next_owner;
			next_owner++;
		} else if (kind == 1) { /* take an exact range back */
			unsigned first = (unsigned)(xorshift64(&rng) % BLOCKS);
			bool back = first + n <= BLOCKS && released_exactly(&t, first, n);
			int ret = arena_take(&t, first * ARENA_ALIGN, n * ARENA_ALIGN, next_owner);

			if (first + n > BLOCKS) {
				assert_int_equal(ret, -EINVAL);
			} else if (back) {
				assert_int_equal(ret, 0); /* its client came back */
				for (unsigned b = first; b < first + n; b++)
					model[b] = next_owner;
				next_owner++;
			} else if (!model_fits(model, first, n)) {
				assert_int_equal(ret, -EBUSY);
			} else {
				assert_int_equal(ret, 0);
				for (unsigned b = first; b < first + n; b++)
					model[b] = next_owner;
				next_owner++;
			}
		} else if (kind == 2 && t.n) { /* an owner leaves: released, still held */
			const struct arena_range *r = &t.range[xorshift64(&rng) % t.n];

			if (r->state == ARENA_GRANTED)
				assert_true(arena_release(&t, r->owner));
			else
				assert_false(arena_release(&t, r->owner));
		} else if (kind == 3 && t.n) { /* a released range: still mapped, or discarded */
			const struct arena_range r = t.range[xorshift64(&rng) % t.n];
			bool mapped = xorshift64(&rng) % 3 == 0;

			assert_int_equal(arena_discard_begin(&t, r.offset),
					 r.state == ARENA_RELEASED);
			if (r.state == ARENA_RELEASED) {
				/* while it is discarded no one takes it back */
				assert_int_equal(arena_take(&t, r.offset, r.bytes, next_owner),
						 -EBUSY);
				arena_discard_end(&t, r.offset, !mapped);
			}
			if (r.state == ARENA_RELEASED && !mapped)
				for (uint64_t b = r.offset / ARENA_ALIGN;
				     b < (r.offset + r.bytes) / ARENA_ALIGN; b++)
					model[b] = FREE;
		}
		check(&t, model);
	}
}

static void test_hostile_requests(void **state)
{
	static struct arena_table t;
	uint64_t offset, granted;

	(void)state;
	arena_table_init(&t, 8 * ARENA_ALIGN);
	assert_int_equal(arena_grant(&t, 0, 1, &offset, &granted), -EINVAL);
	assert_int_equal(arena_grant(&t, UINT64_MAX, 1, &offset, &granted), -EINVAL);
	assert_int_equal(arena_grant(&t, UINT64_MAX - ARENA_ALIGN + 2, 1, &offset, &granted),
			 -EINVAL);
	assert_int_equal(arena_grant(&t, 9 * ARENA_ALIGN, 1, &offset, &granted), -ENOSPC);
	assert_int_equal(arena_grant(&t, 1, 1, &offset, &granted), 0);
	assert_int_equal(offset, 0);
	assert_int_equal(granted, ARENA_ALIGN);
	/* Takes: misaligned, empty, past the end, wrapping around, overlapping. */
	assert_int_equal(arena_take(&t, ARENA_ALIGN + 4096, ARENA_ALIGN, 2), -EINVAL);
	assert_int_equal(arena_take(&t, ARENA_ALIGN, ARENA_ALIGN + 4096, 2), -EINVAL);
	assert_int_equal(arena_take(&t, ARENA_ALIGN, 0, 2), -EINVAL);
	assert_int_equal(arena_take(&t, 8 * ARENA_ALIGN, ARENA_ALIGN, 2), -EINVAL);
	assert_int_equal(arena_take(&t, 7 * ARENA_ALIGN, 2 * ARENA_ALIGN, 2), -EINVAL);
	assert_int_equal(arena_take(&t, 2 * ARENA_ALIGN, UINT64_MAX - ARENA_ALIGN + 1, 2), -EINVAL);
	assert_int_equal(arena_take(&t, 0, 2 * ARENA_ALIGN, 2), -EBUSY);
	assert_int_equal(arena_take(&t, 4 * ARENA_ALIGN, 4 * ARENA_ALIGN, 2), 0);
	assert_int_equal(arena_take(&t, 2 * ARENA_ALIGN, 3 * ARENA_ALIGN, 3), -EBUSY);
	/* Nothing outside a granted range is found, released ranges neither. */
	assert_null(arena_find(&t, ARENA_ALIGN));
	assert_null(arena_find(&t, UINT64_MAX));
	assert_non_null(arena_find(&t, 8 * ARENA_ALIGN - 1));
	assert_true(arena_release(&t, 2));
	assert_null(arena_find(&t, 8 * ARENA_ALIGN - 1));
	assert_false(arena_release(&t, 2));
	assert_false(arena_discard_begin(&t, 0)); /* granted, not released */
	assert_false(arena_discard_begin(&t, 5 * ARENA_ALIGN));
	/* Released is still held: no grant may reuse it until it is forgotten, and only its
	 * exact extent can be taken back. */
	assert_int_equal(arena_take(&t, 4 * ARENA_ALIGN, 2 * ARENA_ALIGN, 5), -EBUSY);
	assert_int_equal(arena_take(&t, 5 * ARENA_ALIGN, 3 * ARENA_ALIGN, 5), -EBUSY);
	assert_int_equal(arena_take(&t, 4 * ARENA_ALIGN, 4 * ARENA_ALIGN, 5), 0);
	assert_int_equal(arena_take(&t, 4 * ARENA_ALIGN, 4 * ARENA_ALIGN, 6), -EBUSY);
	assert_true(arena_release(&t, 5));
	assert_int_equal(arena_grant(&t, 5 * ARENA_ALIGN, 4, &offset, &granted), -ENOSPC);
	assert_true(arena_discard_begin(&t, 4 * ARENA_ALIGN));
	arena_discard_end(&t, 4 * ARENA_ALIGN, true);
	assert_int_equal(arena_grant(&t, 5 * ARENA_ALIGN, 4, &offset, &granted), 0);
	assert_int_equal(offset, ARENA_ALIGN);
}

static void test_full_table(void **state)
{
	static struct arena_table t;
	uint64_t offset, granted;

	(void)state;
	arena_table_init(&t, (ARENA_MAX_RANGES + 2) * ARENA_ALIGN);
	for (uint32_t i = 0; i < ARENA_MAX_RANGES; i++)
		assert_int_equal(arena_grant(&t, ARENA_ALIGN, i, &offset, &granted), 0);
	assert_int_equal(arena_grant(&t, ARENA_ALIGN, 9999, &offset, &granted), -ENOSPC);
	assert_int_equal(
		arena_take(&t, (uint64_t)ARENA_MAX_RANGES * ARENA_ALIGN, ARENA_ALIGN, 9999),
		-ENOSPC);
	assert_int_equal(t.n, ARENA_MAX_RANGES);
}

/* A table as a crash may leave it: a range twice is repaired; anything else refuses it. */
static void test_check(void **state)
{
	static struct arena_table t;
	uint64_t offset, granted;

	(void)state;
	arena_table_init(&t, 8 * ARENA_ALIGN);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(arena_grant(&t, ARENA_ALIGN, i, &offset, &granted), 0);
	assert_true(arena_table_check(&t, 8 * ARENA_ALIGN));
	assert_int_equal(t.n, 3);
	t.range[3] = t.range[2]; /* an insert cut short */
	t.n = 4;
	assert_true(arena_table_check(&t, 8 * ARENA_ALIGN));
	assert_int_equal(t.n, 3);
	assert_false(arena_table_check(&t, 16 * ARENA_ALIGN)); /* another device */
	t.range[1].offset += 4096;
	assert_false(arena_table_check(&t, 8 * ARENA_ALIGN));
	t.range[1].offset = 0; /* overlaps the first */
	t.range[1].bytes = 2 * ARENA_ALIGN;
	assert_false(arena_table_check(&t, 8 * ARENA_ALIGN));
	t.range[1].offset = ARENA_ALIGN;
	t.range[1].bytes = ARENA_ALIGN;
	t.range[1].state = 7;
	assert_false(arena_table_check(&t, 8 * ARENA_ALIGN));
	t.range[1].state = ARENA_GRANTED;
	t.n = ARENA_MAX_RANGES + 1;
	assert_false(arena_table_check(&t, 8 * ARENA_ALIGN));
	t.n = 3;
	/* A frozen range stays frozen when its owner takes it back. */
	arena_freeze(&t, 1);
	assert_true(arena_release(&t, 1));
	assert_int_equal(arena_take(&t, ARENA_ALIGN, ARENA_ALIGN, 9), 0);
	assert_true(arena_find(&t, ARENA_ALIGN)->frozen);
	assert_false(arena_find(&t, 0)->frozen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_model),
		cmocka_unit_test(test_hostile_requests),
		cmocka_unit_test(test_full_table),
		cmocka_unit_test(test_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
