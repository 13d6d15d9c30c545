/* Unit tests: the swap-slot resolver (hints/slot_resolver.c) against page maps written to
 * files: which registered page a written slot holds, and so the mask its PUT may move. Guards
 * "The one invariant" (docs/design.md) on the resolver's side: a slot found at exactly one
 * page of a resolvable client takes that page's mask; a slot found at two pages, found at
 * none, or asked while a client cannot be resolved, moves whole. Rounds of growing and
 * shrinking size reuse the resolver's arrays (ASan checks their bounds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "hint_server.h"
#include "slot_resolver.h"

#define TYPE 2 /* the device's swap type in these page maps */

static uint64_t swapped(unsigned type, uint64_t slot)
{
	return PAGEMAP_SWAPPED | slot << 5 | type;
}

/* A client whose page map is a file: entry e[i] at virtual page vpage[i]; mask[i] in its view
 * (LINES_WHOLE: not in it). */
static struct hint_client_conn *client(const uint64_t *vpage, const uint64_t *e,
				       const uint64_t *mask, size_t n)
{
	struct hint_client_conn *c = calloc(1, sizeof(*c));
	char path[] = "/tmp/pagemap-XXXXXX";

	assert_non_null(c);
	c->pagemap_fd = mkstemp(path);
	assert_true(c->pagemap_fd >= 0);
	unlink(path);
	c->ring = (struct hint_ring *)c; /* registered: only its being set matters here */
	assert_int_equal(page_view_init(&c->view, 1 << 20, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(pwrite(c->pagemap_fd, &e[i], 8, (off_t)(vpage[i] * 8)), 8);
		page_view_set(&c->view, vpage[i], mask[i]);
	}
	return c;
}

static void free_client(struct hint_client_conn *c)
{
	close(c->pagemap_fd);
	page_view_free(&c->view);
	free(c);
}

static uint64_t far_deadline(void)
{
	return monotonic_ns() + 10 * 1000000000ull;
}

static void test_one_page_two_pages_none(void **state)
{
	/* Client 0: slot 10 at page 100 (mask A), slot 11 at page 101 (present: not swapped),
	 * slot 12 of another swap type at page 102, slot 13 at page 5000 (far away).
	 * Client 1: slot 13 again (a copy after fork, say), at page 7. */
	const uint64_t A = 0x00ff00ff00ff00f0ull, B = 0x0f0f0f0f0f0f0f00ull, C = 0xf0ull;
	uint64_t v0[] = { 100, 101, 102, 5000 }, v1[] = { 7 };
	uint64_t e0[] = { swapped(TYPE, 10), PAGEMAP_PRESENT | 11, swapped(TYPE + 1, 12),
			  swapped(TYPE, 13) };
	uint64_t e1[] = { swapped(TYPE, 13) };
	uint64_t m0[] = { A, B, B, C }, m1[] = { C };
	struct hint_server s = { .nclients = 2 };
	struct pagemap_reader *r;
	struct slot_resolve_stats st = { 0 };
	uint64_t slots[] = { 13, 10, 11, 12, 99 }, masks[5];
	int owner[5];

	(void)state;
	s.client[0] = client(v0, e0, m0, 4);
	s.client[1] = client(v1, e1, m1, 1);
	assert_int_equal(pagemap_reader_start(&r), 0);
	slot_resolve(&s, r, TYPE, slots, 5, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], LINES_WHOLE); /* 13: two pages hold it */
	assert_int_equal(owner[0], -1);
	assert_int_equal(masks[1], A); /* 10: page 100 of client 0 */
	assert_int_equal(owner[1], 0);
	assert_int_equal(masks[2], LINES_WHOLE); /* 11: its page is present, not swapped */
	assert_int_equal(masks[3], LINES_WHOLE); /* 12: another swap area's slot */
	assert_int_equal(masks[4], LINES_WHOLE); /* 99: nobody's */
	assert_int_equal(st.slots, 5);
	assert_int_equal(st.resolved, 1);
	assert_int_equal(st.shared, 1);
	assert_int_equal(st.late, 0);

	/* A client that cannot be resolved (it has children) is not read: slot 13 is then found
	 * once, at client 0's page. (Its pages are whole anyway: only resolved slots move
	 * reduced, and a parent and its children are unresolvable together.) */
	s.client[1]->nchildren = 1;
	slot_resolve(&s, r, TYPE, slots, 2, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], C);
	assert_int_equal(owner[0], 0);
	assert_int_equal(masks[1], A);

	/* Not a swap area: all whole, nothing read. */
	uint64_t scanned = st.scanned;

	slot_resolve(&s, r, -1, slots, 5, masks, owner, far_deadline(), &st);
	for (int i = 0; i < 5; i++)
		assert_int_equal(masks[i], LINES_WHOLE);
	assert_int_equal(st.scanned, scanned);
	pagemap_reader_stop(r);
	free_client(s.client[0]);
	free_client(s.client[1]);
}

/* Rounds of 1..4096 slots over a client of 5,000 pages, up and down: every slot resolves to
 * its own page's mask each time, through arrays that grow and are reused. */
static void test_rounds_grow_and_shrink(void **state)
{
	enum { PAGES = 5000 };
	static uint64_t v[PAGES], e[PAGES], m[PAGES], slots[4096], masks[4096];
	static int owner[4096];
	struct hint_server s = { .nclients = 1 };
	struct pagemap_reader *r;
	struct slot_resolve_stats st = { 0 };
	const size_t sizes[] = { 1, 64, 4096, 3, 4096, 700 };

	(void)state;
	for (size_t i = 0; i < PAGES; i++) {
		v[i] = 1000 + 3 * i; /* gaps: some reads span them, some seek */
		e[i] = swapped(TYPE, 20000 + i);
		m[i] = (0x5555555555555555ull << (i % 7)) & ~LINES_ALWAYS;
	}
	s.client[0] = client(v, e, m, PAGES);
	assert_int_equal(pagemap_reader_start(&r), 0);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];

		for (size_t i = 0; i < n; i++)
			slots[i] = 20000 + (i * 7919 + k) % PAGES;
		slot_resolve(&s, r, TYPE, slots, n, masks, owner, far_deadline(), &st);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(owner[i], 0);
			assert_int_equal(masks[i], m[slots[i] - 20000]);
		}
	}
	assert_int_equal(st.late, 0);
	pagemap_reader_stop(r);
	free_client(s.client[0]);
}

/* A round whose deadline has passed moves whole (unless its read beat the clock); while that
 * read may still run, later rounds move whole too; once it is done they resolve again. */
static void test_deadline_passed(void **state)
{
	uint64_t v[] = { 40, 41 }, e[] = { swapped(TYPE, 1), swapped(TYPE, 2) },
		 m[] = { 0xf0, 0xf00 };
	struct hint_server s = { .nclients = 1 };
	struct pagemap_reader *r;
	struct slot_resolve_stats st = { 0 };
	uint64_t slots[] = { 1, 2 }, masks[2];
	int owner[2], tries;

	(void)state;
	s.client[0] = client(v, e, m, 2);
	assert_int_equal(pagemap_reader_start(&r), 0);
	slot_resolve(&s, r, TYPE, slots, 2, masks, owner, monotonic_ns() - 1, &st);
	for (int i = 0; i < 2; i++)
		assert_true(masks[i] == LINES_WHOLE || masks[i] == m[i]);
	for (tries = 0; tries < 1000; tries++) {
		slot_resolve(&s, r, TYPE, slots, 2, masks, owner, far_deadline(), &st);
		if (masks[0] != LINES_WHOLE)
			break;
		usleep(1000);
	}
	assert_true(tries < 1000);
	assert_int_equal(masks[0], m[0]);
	assert_int_equal(masks[1], m[1]);
	pagemap_reader_stop(r);
	free_client(s.client[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_page_two_pages_none),
		cmocka_unit_test(test_rounds_grow_and_shrink),
		cmocka_unit_test(test_deadline_passed),
	};
	return cmocka_run_group_tests_name("slot_resolver", tests, NULL, NULL);
}
