/* Unit tests: the swap-slot resolver (hints/slot_resolver.c) against page maps written to
 * files: which registered page a written slot holds, and so the mask its PUT may move. Guards
 * "The one invariant" (docs/design.md) on the resolver's side: a slot found at exactly one
 * page of a resolvable client takes that page's mask; a slot found at two pages, found at
 * none, or asked while a client cannot be resolved, moves whole. Rounds of growing and
 * shrinking size reuse the resolver's arrays (ASan checks their bounds).
 *
 * Each test runs twice: reading every reduced page (a kernel without PAGEMAP_SCAN) and through
 * PAGEMAP_SCAN, which for a page map in a file is emulated here (file_scan: the runs of entries
 * with the swapped bit, a few regions per call so that the walk is resumed). The incremental
 * tests pin down what the scan path reads, and that an entry it knew, once stale, never names
 * a page. The real ioctl is called on this process's own page map (nothing swapped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/utsname.h>

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

#define FILE_SCAN_REGIONS 3 /* at most, a call: walks resume */

static unsigned file_scans;

/* PAGEMAP_SCAN with category_mask PAGE_IS_SWAPPED over a page map in a file. */
static int file_scan(int fd, struct pm_scan_arg *a)
{
	struct page_region *vec = (struct page_region *)(uintptr_t)a->vec;
	uint64_t len = a->vec_len < FILE_SCAN_REGIONS ? a->vec_len : FILE_SCAN_REGIONS;
	int n = 0;

	file_scans++;
	assert_int_equal(a->size, sizeof(*a));
	assert_int_equal(a->category_mask, PAGE_IS_SWAPPED);
	assert_true(a->start < a->end && a->start % 4096 == 0 && a->end % 4096 == 0);
	a->walk_end = a->end;
	for (uint64_t at = a->start; at < a->end; at += 4096) {
		uint64_t e = 0;

		if (pread(fd, &e, 8, (off_t)(at / 4096 * 8)) < 0)
			return -1;
		if (!(e & PAGEMAP_SWAPPED))
			continue;
		if (n && vec[n - 1].end == at) {
			vec[n - 1].end += 4096;
			continue;
		}
		if ((uint64_t)n == len) {
			a->walk_end = at;
			break;
		}
		vec[n++] = (struct page_region){ at, at + 4096, PAGE_IS_SWAPPED };
	}
	return n;
}

enum mode { READ_ALL, SCAN };

static struct slot_resolver *start(void **state, uint64_t recent_ns)
{
	struct slot_resolver *sr;

	assert_int_equal(slot_resolver_start(&sr, recent_ns), 0);
	slot_resolver_set_scan(sr, *(enum mode *)*state == SCAN ? file_scan : NULL);
	return sr;
}

static void set_entry(struct hint_client_conn *c, uint64_t vpage, uint64_t e)
{
	assert_int_equal(pwrite(c->pagemap_fd, &e, 8, (off_t)(vpage * 8)), 8);
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
	struct slot_resolver *r;
	struct slot_resolve_stats st = { 0 };
	uint64_t slots[] = { 13, 10, 11, 12, 99 }, masks[5];
	int owner[5];

	s.client[0] = client(v0, e0, m0, 4);
	s.client[1] = client(v1, e1, m1, 1);
	r = start(state, 10000000000ull);
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
	slot_resolver_stop(r);
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
	struct slot_resolver *r;
	struct slot_resolve_stats st = { 0 };
	const size_t sizes[] = { 1, 64, 4096, 3, 4096, 700 };

	for (size_t i = 0; i < PAGES; i++) {
		v[i] = 1000 + 3 * i; /* gaps: some reads span them, some seek */
		e[i] = swapped(TYPE, 20000 + i);
		m[i] = (0x5555555555555555ull << (i % 7)) & ~LINES_ALWAYS;
	}
	s.client[0] = client(v, e, m, PAGES);
	r = start(state, 10000000000ull);
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
	slot_resolver_stop(r);
	free_client(s.client[0]);
}

/* A round whose deadline has passed moves whole (unless its read beat the clock); while that
 * read may still run, later rounds move whole too; once it is done they resolve again. */
static void test_deadline_passed(void **state)
{
	uint64_t v[] = { 40, 41 }, e[] = { swapped(TYPE, 1), swapped(TYPE, 2) },
		 m[] = { 0xf0, 0xf00 };
	struct hint_server s = { .nclients = 1 };
	struct slot_resolver *r;
	struct slot_resolve_stats st = { 0 };
	uint64_t slots[] = { 1, 2 }, masks[2];
	int owner[2], tries;

	s.client[0] = client(v, e, m, 2);
	r = start(state, 10000000000ull);
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
	slot_resolver_stop(r);
	free_client(s.client[0]);
}

/* Through PAGEMAP_SCAN, a round reads the pages swapped out since a round last read them and
 * the recent ones whose slots it asks for: not the whole heap again. */
static void test_reads_follow_evictions(void **state)
{
	enum { PAGES = 3000 };
	static uint64_t v[PAGES], e[PAGES], m[PAGES];
	struct hint_server s = { .nclients = 1 };
	struct slot_resolver *r;
	struct slot_resolve_stats st = { 0 };
	uint64_t slots[4], masks[4];
	int owner[4];

	for (size_t i = 0; i < PAGES; i++) {
		v[i] = 4096 + i;
		e[i] = i % 3 ? swapped(TYPE, 100 + i) : PAGEMAP_PRESENT;
		m[i] = (0x3333333333333333ull << (i % 5)) & ~LINES_ALWAYS;
	}
	s.client[0] = client(v, e, m, PAGES);
	r = start(state, 10000000000ull);
	slots[0] = 100 + 1, slots[1] = 100 + 2;
	slot_resolve(&s, r, TYPE, slots, 2, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], m[1]);
	assert_int_equal(masks[1], m[2]);
	uint64_t first = st.scanned;

	/* The first round reads every reduced page, or (scan) the swapped ones, reading
	 * through the one-page gaps between them. */
	if (*(enum mode *)*state == READ_ALL)
		assert_int_equal(first, PAGES);
	else
		assert_true(first >= 2000 && first < PAGES);

	/* Slots of pages an earlier round read: only those are read. */
	slots[0] = 100 + 1000 + 1, slots[1] = 100 + 2999, slots[2] = 100 + 3; /* 3: present */
	slot_resolve(&s, r, TYPE, slots, 3, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], m[1001]);
	assert_int_equal(masks[1], m[2999]);
	assert_int_equal(masks[2], LINES_WHOLE);
	if (*(enum mode *)*state == READ_ALL) {
		assert_int_equal(st.scanned, first + PAGES);
		assert_int_equal(st.walked, 0);
	} else {
		assert_int_equal(st.scanned, first + 2);
		assert_true(st.walked >= 2 * PAGES);
	}

	/* Evictions: pages 0 and 3 swapped out now (slots 50, 53), one of them asked. */
	set_entry(s.client[0], v[0], swapped(TYPE, 50));
	set_entry(s.client[0], v[3], swapped(TYPE, 53));
	uint64_t before = st.scanned;

	slots[0] = 53;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], m[3]);
	if (*(enum mode *)*state == SCAN)
		assert_int_equal(st.scanned, before + 4); /* pages 0 to 3 in one read */
	/* Page 0's write comes a round later: page 0 is recent. */
	before = st.scanned;
	slots[0] = 50;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], m[0]);
	assert_int_equal(owner[0], 0);
	if (*(enum mode *)*state == SCAN)
		assert_int_equal(st.scanned, before + 1);
	assert_int_equal(st.late, 0);
	slot_resolver_stop(r);
	free_client(s.client[0]);
}

/* What a round knew of a page never names it once stale: claims come from entries read in the
 * round. A page swapped in and out again between scans is missed (whole), never wrong. */
static void test_stale_entries_never_claim(void **state)
{
	uint64_t v[] = { 10, 11, 12 },
		 e[] = { swapped(TYPE, 7), PAGEMAP_PRESENT, swapped(TYPE, 8) };
	uint64_t m[] = { 0xf0, 0xf00, 0xf000 }, slots[2], masks[2];
	struct hint_server s = { .nclients = 1 };
	struct slot_resolver *r;
	struct slot_resolve_stats st = { 0 };
	int owner[2];

	s.client[0] = client(v, e, m, 3);
	r = start(state, 10000000000ull);
	slots[0] = 99; /* nobody's: the round reads what is swapped */
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], LINES_WHOLE);

	/* Page 10 came back; slot 7 went to page 11. */
	set_entry(s.client[0], 10, PAGEMAP_PRESENT);
	set_entry(s.client[0], 11, swapped(TYPE, 7));
	slots[0] = 7;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], m[1]);

	/* Page 12 swapped in and out again between two scans: slot 8 became 9. Asking for 9
	 * finds nobody through the scan (page 12 is known swapped: whole, never wrong); asking
	 * for 8 reads page 12 again (it held 8) and finds 9: not it. */
	set_entry(s.client[0], 12, swapped(TYPE, 9));
	slots[0] = 9;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	if (*(enum mode *)*state == SCAN) {
		assert_int_equal(masks[0], LINES_WHOLE);
		assert_int_equal(owner[0], -1);
	} else {
		assert_int_equal(masks[0], m[2]);
	}
	slots[0] = 8;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], LINES_WHOLE);
	assert_int_equal(owner[0], -1);

	/* A new mask (the client freed blocks in it): page 12 is read again and found. */
	page_view_set(&s.client[0]->view, 12, 0xff000);
	slots[0] = 9;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], 0xff000);

	/* A scan that finds page 10 present, then it goes out again: read, found. */
	set_entry(s.client[0], 10, swapped(TYPE, 70));
	slots[0] = 70;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], m[0]);
	slot_resolver_stop(r);
	free_client(s.client[0]);
}

/* A page found swapped out is looked up only for the recent window: a write that comes later
 * is whole, and the round reads nothing for it. */
static void test_recent_window(void **state)
{
	uint64_t v[] = { 30 }, e[] = { swapped(TYPE, 5) }, m[] = { 0xf0 }, slots[1], masks[1];
	struct hint_server s = { .nclients = 1 };
	struct slot_resolver *r;
	struct slot_resolve_stats st = { 0 };
	int owner[1];

	s.client[0] = client(v, e, m, 1);
	r = start(state, 20000000ull); /* 20 ms */
	slots[0] = 6;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	usleep(60000);
	uint64_t before = st.scanned;

	slots[0] = 5;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	if (*(enum mode *)*state == SCAN) {
		assert_int_equal(masks[0], LINES_WHOLE);
		assert_int_equal(st.scanned, before);
		assert_int_equal(s.client[0]->view.nrecent, 0);
	} else {
		assert_int_equal(masks[0], m[0]);
	}
	slot_resolver_stop(r);
	free_client(s.client[0]);
}

static int slow_scans; /* the next scans that take 300 ms */

static int slow_file_scan(int fd, struct pm_scan_arg *a)
{
	if (slow_scans > 0) {
		slow_scans--;
		usleep(300 * 1000);
	}
	return file_scan(fd, a);
}

/* A scan still running past its round's deadline: that round is whole, the next ones are whole
 * at once (the reader is busy; nobody waits for it), and once it is done rounds resolve again. */
static void test_scan_outlives_its_round(void **state)
{
	uint64_t v[] = { 40 }, e[] = { swapped(TYPE, 1) }, m[] = { 0xf0 }, slots[] = { 1 },
		 masks[1];
	struct hint_server s = { .nclients = 1 };
	struct slot_resolver *r;
	struct slot_resolve_stats st = { 0 };
	int owner[1];

	(void)state;
	s.client[0] = client(v, e, m, 1);
	assert_int_equal(slot_resolver_start(&r, 10000000000ull), 0);
	slot_resolver_set_scan(r, slow_file_scan);
	slow_scans = 1;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, monotonic_ns() + 50000000ull, &st);
	assert_int_equal(masks[0], LINES_WHOLE);
	assert_int_equal(st.late, 1);
	uint64_t t0 = monotonic_ns();

	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], LINES_WHOLE); /* busy: whole, and at once */
	assert_int_equal(st.late, 2);
	assert_true(monotonic_ns() - t0 < 200000000ull);
	usleep(400 * 1000);
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], m[0]);
	assert_int_equal(st.late, 2);
	slot_resolver_stop(r);
	free_client(s.client[0]);
}

/* Leaves whose reduced pages were all read swapped out are walked only in turn, REFRESH_LEAVES
 * (32) a round: a page that came back is seen present by such a walk, and its next eviction
 * is found. */
static void test_known_leaves_walked_in_turn(void **state)
{
	enum { LEAVES = 40 };
	uint64_t v[LEAVES], e[LEAVES], m[LEAVES], slots[1], masks[1];
	struct hint_server s = { .nclients = 1 };
	struct slot_resolver *r;
	struct slot_resolve_stats st = { 0 };
	int owner[1];

	for (size_t k = 0; k < LEAVES; k++) {
		v[k] = k * PAGE_VIEW_LEAF_PAGES + 5;
		e[k] = swapped(TYPE, 1000 + k);
		m[k] = 0xf0ull << (k % 8);
	}
	s.client[0] = client(v, e, m, LEAVES);
	r = start(state, 10000000000ull);
	slots[0] = 1; /* nobody's */
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(st.walked, LEAVES * PAGE_VIEW_LEAF_PAGES); /* nothing known yet */
	uint64_t walked = st.walked;

	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(st.walked - walked, 32 * PAGE_VIEW_LEAF_PAGES); /* all known: in turn */

	/* Page 30 comes back; the next round's turn (leaves 24..39, 0..15) sees it present. */
	set_entry(s.client[0], v[30], PAGEMAP_PRESENT);
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	/* Evicted again to slot 77: its leaf has a page not known swapped, so it is walked. */
	set_entry(s.client[0], v[30], swapped(TYPE, 77));
	walked = st.walked;
	slots[0] = 77;
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], m[30]);
	assert_int_equal(owner[0], 0);
	assert_true(st.walked - walked >= PAGE_VIEW_LEAF_PAGES);
	slot_resolver_stop(r);
	free_client(s.client[0]);
}

/* The kernel's own PAGEMAP_SCAN, on this process's page map (6.7 and later): a resident range
 * has no swapped runs, and nothing is read; on a regular file the ioctl fails with ENOTTY and
 * the resolver reads every page instead. */
static void test_kernel_scan(void **state)
{
	enum { PAGES = 2 * PAGE_VIEW_LEAF_PAGES };
	struct hint_server s = { .nclients = 1 };
	struct slot_resolver *r;
	struct slot_resolve_stats st = { 0 };
	struct utsname u;
	unsigned major = 0, minor = 0;
	uint64_t slots[] = { 3 }, masks[1], v[] = { 8 }, e[] = { swapped(TYPE, 3) }, m[] = { 0xf0 };
	int owner[1];
	char *heap = aligned_alloc(PAGES * 4096ul, PAGES * 4096ul);

	(void)state;
	assert_non_null(heap);
	memset(heap, 1, PAGES * 4096ul);
	s.client[0] = client(v, e, m, 1); /* file-backed: ENOTTY */
	assert_int_equal(slot_resolver_start(&r, 10000000000ull), 0);
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], m[0]);
	assert_int_equal(st.walked, 0);
	assert_int_equal(st.scanned, 1);
	slot_resolver_stop(r);
	free_client(s.client[0]);

	assert_int_equal(uname(&u), 0);
	assert_int_equal(sscanf(u.release, "%u.%u", &major, &minor), 2);
	if (major < 6 || (major == 6 && minor < 7)) {
		free(heap);
		skip(); /* the kernel has no PAGEMAP_SCAN: the ENOTTY half above is what runs */
	}
	s.client[0] = client(v, e, m, 0);
	close(s.client[0]->pagemap_fd);
	s.client[0]->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	assert_true(s.client[0]->pagemap_fd >= 0);
	for (uint64_t p = 0; p < PAGES; p++)
		page_view_set(&s.client[0]->view, (uintptr_t)heap / 4096 + p, 0xf0);
	/* A client may name a page past the address space (here 2^56): the kernel refuses to
	 * walk there (EFAULT), and nothing is there. */
	page_view_set(&s.client[0]->view, 1ull << 44, 0xf0);
	assert_int_equal(slot_resolver_start(&r, 10000000000ull), 0);
	st = (struct slot_resolve_stats){ 0 };
	slot_resolve(&s, r, TYPE, slots, 1, masks, owner, far_deadline(), &st);
	assert_int_equal(masks[0], LINES_WHOLE);
	assert_int_equal(st.walked, PAGES);
	assert_int_equal(st.scanned, 0);
	assert_int_equal(st.late, 0);
	slot_resolver_stop(r);
	free_client(s.client[0]);
	free(heap);
}

int main(void)
{
	static enum mode read_all = READ_ALL, scan = SCAN;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_one_page_two_pages_none, &read_all),
		cmocka_unit_test_prestate(test_one_page_two_pages_none, &scan),
		cmocka_unit_test_prestate(test_rounds_grow_and_shrink, &read_all),
		cmocka_unit_test_prestate(test_rounds_grow_and_shrink, &scan),
		cmocka_unit_test_prestate(test_deadline_passed, &read_all),
		cmocka_unit_test_prestate(test_deadline_passed, &scan),
		cmocka_unit_test_prestate(test_reads_follow_evictions, &read_all),
		cmocka_unit_test_prestate(test_reads_follow_evictions, &scan),
		cmocka_unit_test_prestate(test_stale_entries_never_claim, &read_all),
		cmocka_unit_test_prestate(test_stale_entries_never_claim, &scan),
		cmocka_unit_test_prestate(test_recent_window, &read_all),
		cmocka_unit_test_prestate(test_recent_window, &scan),
		cmocka_unit_test_prestate(test_known_leaves_walked_in_turn, &scan),
		cmocka_unit_test(test_scan_outlives_its_round),
		cmocka_unit_test(test_kernel_scan),
	};
	return cmocka_run_group_tests_name("slot_resolver", tests, NULL, NULL);
}
