/* The per-client page view against a plain model: random sets (including "whole", which
 * removes), lookups, the sorted page list, growth, and the bound on reduced pages; the
 * resolver's bitmaps (a page's reduced bit is set exactly while it has a mask; its swapped bit
 * goes when its mask changes) and the recent pages, charged like the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "page_view.h"
#include "xorshift.h"

#define SPACE 5000 /* pages the model covers */

/* Pages `spread` apart: 4096 gives each its own leaf, 37 fills leaves side by side. */
static void matches_model(uint64_t spread)
{
	static uint64_t model[SPACE];
	static uint64_t pages[SPACE];
	struct page_view v;
	uint64_t rng = 12345;
	size_t count = 0;
	uint64_t live = 0; /* the reduced pages' live lines */

	assert_int_equal(page_view_init(&v, SPACE, NULL), 0);
	for (size_t i = 0; i < SPACE; i++)
		model[i] = LINES_WHOLE;
	for (int op = 0; op < 400000; op++) {
		uint64_t page = xorshift64(&rng) % SPACE;
		/* clustered keys too: neighbours collide in the table */
		uint64_t mask = xorshift64(&rng) % 3 == 0 ? LINES_WHOLE : xorshift64(&rng);

		if (mask == LINES_WHOLE && model[page] != LINES_WHOLE)
			count--;
		else if (mask != LINES_WHOLE && model[page] == LINES_WHOLE)
			count++;
		if (model[page] != LINES_WHOLE)
			live -= (uint64_t)__builtin_popcountll(model[page]);
		if (mask != LINES_WHOLE)
			live += (uint64_t)__builtin_popcountll(mask);
		model[page] = mask;
		page_view_set(&v, page * spread + 7, mask);
		uint64_t probe = xorshift64(&rng) % SPACE;
		assert_int_equal(page_view_get(&v, probe * spread + 7), model[probe]);
		assert_int_equal(v.count, count);
		assert_int_equal(v.live, live);
	}
	size_t n = page_view_pages(&v, pages), k = 0;
	assert_int_equal(n, count);
	for (size_t i = 0; i < SPACE; i++)
		if (model[i] != LINES_WHOLE)
			assert_int_equal(pages[k++], i * spread + 7); /* ascending, all of them */
	page_view_clear(&v);
	assert_int_equal(v.count, 0);
	assert_int_equal(v.live, 0);
	assert_int_equal(page_view_get(&v, pages[0]), LINES_WHOLE);
	page_view_free(&v);
}

static void test_matches_model(void **state)
{
	(void)state;
	matches_model(4096);
	matches_model(37);
}

static void test_bounded(void **state)
{
	(void)state;
	struct page_view v;

	assert_int_equal(page_view_init(&v, 10, NULL), 0);
	for (uint64_t p = 0; p < 20; p++)
		page_view_set(&v, p, 1);
	assert_int_equal(v.count, 10);
	assert_int_equal(v.dropped, 10);
	assert_int_equal(v.live, 10); /* the dropped ones count for nothing */
	assert_int_equal(page_view_get(&v, 15), LINES_WHOLE); /* not kept: whole, safe */
	page_view_set(&v, 3, 7);                              /* an update needs no room */
	assert_int_equal(page_view_get(&v, 3), 7);
	page_view_set(&v, 3, LINES_WHOLE);
	page_view_set(&v, 15, 5); /* room again */
	assert_int_equal(page_view_get(&v, 15), 5);
	assert_int_equal(v.live, 9 + 2);
	page_view_free(&v);
}

/* A view that grew large and emptied again is cleared at the cost of what it holds: its
 * directory goes back to the first size (a client starting epoch after epoch cannot make each
 * clear cost its largest table), and emptied leaves were freed as they emptied. */
static void test_clear_costs_what_it_holds(void **state)
{
	(void)state;
	struct page_view v;
	size_t first;
	uint64_t small;

	assert_int_equal(page_view_init(&v, 1 << 20, NULL), 0);
	first = v.capacity;
	small = v.bytes;
	for (uint64_t p = 0; p < 20000; p++) /* one page a leaf: the most leaves */
		page_view_set(&v, p * PAGE_VIEW_LEAF_PAGES, 1);
	assert_int_equal(v.leaves, 20000);
	assert_true(v.capacity >= 30000);
	for (uint64_t p = 1; p < 20000; p++)
		page_view_set(&v, p * PAGE_VIEW_LEAF_PAGES, LINES_WHOLE);
	assert_int_equal(v.count, 1);
	assert_int_equal(v.leaves, 1);
	page_view_clear(&v);
	assert_int_equal(v.count, 0);
	assert_int_equal(v.leaves, 0);
	assert_int_equal(v.capacity, first);
	assert_int_equal(v.bytes, small);
	assert_int_equal(page_view_get(&v, 0), LINES_WHOLE);
	page_view_set(&v, 5, 3);
	assert_int_equal(page_view_get(&v, 5), 3);
	page_view_free(&v);
}

/* Memory is charged to every budget before it is taken: views sharing a budget (one uid's
 * clients, a daemon's) together never hold more than its cap, a full budget leaves pages
 * whole, and freeing gives everything back. */
static void test_budgets(void **state)
{
	(void)state;
	struct page_view_budget client_a = { .cap = 256 << 10 }, client_b = { .cap = 256 << 10 };
	struct page_view_budget uid = { .cap = 384 << 10 }, daemon = { .cap = 1 << 20 };
	struct page_view_budget *const for_a[PAGE_VIEW_BUDGETS] = { &client_a, &uid, &daemon };
	struct page_view_budget *const for_b[PAGE_VIEW_BUDGETS] = { &client_b, &uid, &daemon };
	struct page_view a, b;
	uint64_t kept = 0;

	assert_int_equal(page_view_init(&a, 1 << 20, for_a), 0);
	assert_int_equal(page_view_init(&b, 1 << 20, for_b), 0);
	/* Sparse pages, a leaf each: the costliest a client can make them. */
	for (uint64_t p = 0; p < 1000; p++)
		page_view_set(&a, p * PAGE_VIEW_LEAF_PAGES, 1);
	assert_true(a.count > 0 && a.dropped > 0);
	assert_true(client_a.used <= client_a.cap && a.bytes == client_a.used);
	for (uint64_t p = 0; p < 1000; p++)
		page_view_set(&b, p * PAGE_VIEW_LEAF_PAGES, 1);
	assert_true(b.dropped > 0);
	assert_true(uid.used <= uid.cap && uid.used == a.bytes + b.bytes);
	assert_true(daemon.used == uid.used);
	for (uint64_t p = 0; p < 1000; p++)
		kept += page_view_get(&b, p * PAGE_VIEW_LEAF_PAGES) == 1;
	assert_int_equal(kept, b.count); /* what was not kept is whole */
	/* Pages beside one already kept need no more memory. */
	page_view_set(&a, 1, 3);
	assert_int_equal(page_view_get(&a, 1), 3);
	page_view_clear(&a);
	assert_true(uid.used == client_a.used + client_b.used);
	page_view_free(&a);
	page_view_free(&b);
	assert_int_equal(client_a.used, 0);
	assert_int_equal(client_b.used, 0);
	assert_int_equal(uid.used, 0);
	assert_int_equal(daemon.used, 0);
}

/* The leaves' bitmaps against the masks, after random sets and swapped marks. */
static void test_resolver_bits(void **state)
{
	static uint64_t model[SPACE];
	static bool swapped[SPACE];
	const struct page_view_leaf *leaves[SPACE];
	struct page_view_budget mine = { .cap = 1 << 30 };
	struct page_view_budget *budget[PAGE_VIEW_BUDGETS] = { &mine };
	struct page_view v;
	uint64_t rng = 777;

	(void)state;
	assert_int_equal(page_view_init(&v, SPACE, budget), 0);
	for (size_t i = 0; i < SPACE; i++)
		model[i] = LINES_WHOLE;
	for (int op = 0; op < 200000; op++) {
		uint64_t page = xorshift64(&rng) % SPACE, r = xorshift64(&rng) % 4;

		if (r == 0) { /* the resolver read it swapped out */
			bool was = page_view_mark_swapped(&v, page);

			/* a page not held counts as marked; a held one reports its bit */
			assert_true(model[page] == LINES_WHOLE ? was : was == swapped[page]);
			swapped[page] = model[page] != LINES_WHOLE;
			continue;
		}
		uint64_t mask = r == 1 ? LINES_WHOLE : r == 2 ? model[page] : xorshift64(&rng);

		if (mask != model[page])
			swapped[page] = false;
		if (mask == LINES_WHOLE)
			swapped[page] = false;
		model[page] = mask;
		page_view_set(&v, page, mask);
	}
	size_t n = page_view_leaves(&v, leaves);

	assert_int_equal(n, v.leaves);
	for (size_t k = 0; k < n; k++) {
		uint64_t base = (leaves[k]->key - 1) * PAGE_VIEW_LEAF_PAGES;

		assert_true(k == 0 || leaves[k]->key > leaves[k - 1]->key);
		for (unsigned p = 0; p < PAGE_VIEW_LEAF_PAGES && base + p < SPACE; p++) {
			bool reduced = leaves[k]->b->reduced[p / 64] >> p % 64 & 1;
			bool marked = leaves[k]->b->swapped[p / 64] >> p % 64 & 1;

			assert_int_equal(reduced, model[base + p] != LINES_WHOLE);
			assert_int_equal(marked, swapped[base + p]);
		}
	}
	/* Recent pages are charged, and given back with the view. */
	uint64_t before = mine.used;

	assert_true(page_view_recent_reserve(&v, 1000));
	assert_true(v.recent_cap >= 1000 && mine.used >= before + 1000 * sizeof(*v.recent));
	mine.cap = mine.used;
	assert_false(page_view_recent_reserve(&v, 100000)); /* past the budget: nothing changes */
	assert_true(v.recent_cap >= 1000 && v.recent_cap < 100000);
	page_view_free(&v);
	assert_int_equal(mine.used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolver_bits),
		cmocka_unit_test(test_matches_model),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_clear_costs_what_it_holds),
		cmocka_unit_test(test_budgets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
