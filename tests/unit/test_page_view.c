/* The per-client page view against a plain model: random sets (including "whole", which
 * removes), lookups, the sorted page list, growth, and the bound on reduced pages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "page_view.h"
#include "xorshift.h"

#define SPACE 5000 /* pages the model covers */

static void test_matches_model(void **state)
{
	(void)state;
	static uint64_t model[SPACE];
	static uint64_t pages[SPACE];
	struct page_view v;
	uint64_t rng = 12345;
	size_t count = 0;

	assert_int_equal(page_view_init(&v, SPACE), 0);
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
		model[page] = mask;
		page_view_set(&v, page * 4096 + 7, mask); /* spread like real pages */
		uint64_t probe = xorshift64(&rng) % SPACE;
		assert_int_equal(page_view_get(&v, probe * 4096 + 7), model[probe]);
		assert_int_equal(v.count, count);
	}
	size_t n = page_view_pages(&v, pages), k = 0;
	assert_int_equal(n, count);
	for (size_t i = 0; i < SPACE; i++)
		if (model[i] != LINES_WHOLE)
			assert_int_equal(pages[k++], i * 4096 + 7); /* ascending, all of them */
	page_view_clear(&v);
	assert_int_equal(v.count, 0);
	assert_int_equal(page_view_get(&v, pages[0]), LINES_WHOLE);
	page_view_free(&v);
}

static void test_bounded(void **state)
{
	(void)state;
	struct page_view v;

	assert_int_equal(page_view_init(&v, 10), 0);
	for (uint64_t p = 0; p < 20; p++)
		page_view_set(&v, p, 1);
	assert_int_equal(v.count, 10);
	assert_int_equal(v.dropped, 10);
	assert_int_equal(page_view_get(&v, 15), LINES_WHOLE); /* not kept: whole, safe */
	page_view_set(&v, 3, 7);                              /* an update needs no room */
	assert_int_equal(page_view_get(&v, 3), 7);
	page_view_set(&v, 3, LINES_WHOLE);
	page_view_set(&v, 15, 5); /* room again */
	assert_int_equal(page_view_get(&v, 15), 5);
	page_view_free(&v);
}

/* A view that grew large and emptied again is cleared at the cost of a small table: its
 * capacity goes back to the first one (a client starting epoch after epoch cannot make each
 * clear a memset of its largest table). */
static void test_clear_costs_what_it_holds(void **state)
{
	(void)state;
	struct page_view v;
	size_t first;

	assert_int_equal(page_view_init(&v, 1 << 20), 0);
	first = v.capacity;
	for (uint64_t p = 0; p < 100000; p++)
		page_view_set(&v, p, 1);
	assert_true(v.capacity >= 100000);
	for (uint64_t p = 1; p < 100000; p++)
		page_view_set(&v, p, LINES_WHOLE);
	assert_int_equal(v.count, 1);
	page_view_clear(&v);
	assert_int_equal(v.count, 0);
	assert_int_equal(v.capacity, first);
	assert_int_equal(page_view_get(&v, 0), LINES_WHOLE);
	page_view_set(&v, 5, 3);
	assert_int_equal(page_view_get(&v, 5), 3);
	page_view_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_model),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_clear_costs_what_it_holds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
