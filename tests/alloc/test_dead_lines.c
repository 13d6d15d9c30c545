/* Dead-line poisoning: the test that proves partial transfer is safe. Between rounds of a
 * multi-threaded churn (heap_world.h), the main thread picks half of all pages of the 64 KiB
 * slices blocks were ever allocated in and overwrites every line outside mi_hint_page_mask with
 * garbage, or with zeros — exactly what evicting a page with only its live lines, then
 * fetching it back, does. The workers go on allocating, freeing, reallocating and verifying
 * every live block and every calloc: zero damaged bytes, zero non-zero calloc bytes, no crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <mimalloc.h>

#include "heap_world.h"
#include "mimalloc-hint.h"
#include "page_lines.h"
#include "xorshift.h"

struct poison {
	bool zeros;
	uint64_t rng;
	size_t pages, lines;
};

/* Overwrite one dead line. Its memory is free to mimalloc (and, in the sanitizer build,
 * poisoned for ASan): the writes are the pager's, not the program's. */
__attribute__((no_sanitize("address"))) static void poison_line(uint8_t *line, struct poison *z)
{
	for (size_t i = 0; i < LINE_SIZE; i += 8) {
		uint64_t v = z->zeros ? 0 : xorshift64(&z->rng);
		for (size_t b = 0; b < 8; b++)
			((volatile uint8_t *)line)[i + b] = (uint8_t)(v >> (8 * b));
	}
}

/* Every 4 KiB page of every 64 KiB slice a block was ever allocated in: so also the tails of
 * pages of 8..24-byte blocks, where their bitmaps lie, which the blocks rarely reach. */
static void seen_slices(struct world *w, struct page_lines *out)
{
	struct page_lines seen;

	page_lines_init(&seen);
	world_seen_pages(w, &seen);
	for (size_t j = 0; j < seen.cap; j++) {
		if (seen.page[j] == 0)
			continue;
		uintptr_t slice = seen.page[j] & ~(uintptr_t)(64 * 1024 - 1);
		for (uintptr_t pg = slice; pg < slice + 64 * 1024; pg += 4096)
			page_lines_add(out, pg, 0);
	}
	page_lines_free(&seen);
}

static void poison_pages(struct world *w, struct poison *z)
{
	struct page_lines pages;

	page_lines_init(&pages);
	seen_slices(w, &pages);
	for (size_t j = 0; j < pages.cap; j++) {
		if (pages.page[j] == 0 || xorshift64(&z->rng) % 2)
			continue;
		uint64_t mask = mi_hint_page_mask((void *)pages.page[j]);
		if (mask == LINES_WHOLE)
			continue;
		z->pages++;
		for (unsigned l = 0; l < 64; l++) {
			if (mask >> l & 1)
				continue;
			poison_line((uint8_t *)pages.page[j] + l * LINE_SIZE, z);
			z->lines++;
		}
	}
	page_lines_free(&pages);
}

static void run(bool zeros)
{
	struct world_config config = {
		.threads = 4, .slots = 3000, .steps = 20000, .aligned = true, .seed = 7
	};
	static struct world w;
	struct poison z = { .zeros = zeros, .rng = 0x243f6a8885a308d3ull };

	world_start(&w, &config);
	for (int round = 0; round < 12; round++) {
		world_round(&w, round % 4 == 3);
		poison_pages(&w, &z);
	}
	world_stop(&w);
	fprintf(stderr,
		"dead_lines (%s): %zu page evictions, %zu dead lines overwritten, %lu allocations, "
		"%lu damaged bytes, %lu non-zero calloc bytes\n",
		zeros ? "zeros" : "garbage", z.pages, z.lines,
		(unsigned long)atomic_load(&w.allocations),
		(unsigned long)atomic_load(&w.mismatches),
		(unsigned long)atomic_load(&w.calloc_dirty));
	assert_int_equal(atomic_load(&w.mismatches), 0);
	assert_int_equal(atomic_load(&w.calloc_dirty), 0);
	assert_true(z.pages > 1000);
	assert_true(z.lines > 20000);
}

static void test_garbage(void **state)
{
	(void)state;
	run(false);
}

static void test_zeros(void **state)
{
	(void)state;
	run(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_zeros),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
