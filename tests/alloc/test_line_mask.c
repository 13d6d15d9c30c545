/* The hint allocator's line liveness (mi_hint_page_mask) against a shadow model: random
 * multi-threaded traces record every live block, and at each pause, for every page blocks
 * were ever allocated in, the allocator's mask must cover every line a live block overlaps
 * (no false negative, ever) and, once every thread has collected its cross-thread frees,
 * nothing more (no false positive). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <cmocka.h>
#include <mimalloc.h>
#include <mimalloc-internal.h> /* a block's whole extent, padding and all */

#include "heap_world.h"
#include "mimalloc-hint.h"
#include "page_lines.h"

static int global_word;

/* Add the lines of the whole block holding p: its start may precede p (aligned allocation)
 * and, in the debug build, it ends with padding that mimalloc checks on free. */
static void add_block_lines(struct page_lines *shadow, void *p)
{
	mi_segment_t *segment = _mi_ptr_segment(p);
	mi_page_t *page = _mi_segment_page_of(segment, p);
	void *block = _mi_page_ptr_unalign(segment, page, p);

	page_lines_add_bytes(shadow, block, mi_page_block_size(page));
}

static void test_foreign_memory_is_all_live(void **state)
{
	(void)state;
	int local = 0;
	void *mapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *libc = malloc(100); /* not overridden in the tests: glibc's heap */

	assert_true(mapped != MAP_FAILED);
	assert_int_equal(mi_hint_page_mask(&local), LINES_WHOLE);
	assert_int_equal(mi_hint_page_mask(&global_word), LINES_WHOLE);
	assert_int_equal(mi_hint_page_mask(mapped), LINES_WHOLE);
	assert_int_equal(mi_hint_page_mask(libc), LINES_WHOLE);
	assert_int_equal(mi_hint_page_mask(NULL), LINES_WHOLE);
	munmap(mapped, 4096);
	free(libc);
}

/* Blocks above mimalloc's medium objects (128 KiB) keep its own handling (a page a block):
 * their pages are all live. */
static void test_other_sizes_are_all_live(void **state)
{
	(void)state;
	static const size_t sizes[] = { MI_MEDIUM_OBJ_SIZE_MAX + 1, 200000, 1 << 22 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = mi_malloc(sizes[i]);
		assert_non_null(p);
		assert_int_equal(mi_hint_page_mask(p), LINES_WHOLE);
		mi_free(p);
	}
}

/* Add the lines of a bitmap kept in its page's last bytes (pages of more than
 * MI_FREEMAP_MAX_BLOCKS blocks): allocator state, always live. */
static void add_freemap_lines(struct page_lines *shadow, void *p)
{
	mi_segment_t *segment = _mi_ptr_segment(p);
	mi_page_t *page = _mi_segment_page_of(segment, p);
	uint8_t *words = (uint8_t *)page->freemap;

	if (words == NULL || words == (uint8_t *)segment->freemaps[page - segment->slices])
		return;
	uint8_t *end = (uint8_t *)segment +
		       (size_t)(page - segment->slices + page->slice_count) * MI_SEGMENT_SLICE_SIZE;
	page_lines_add_bytes(shadow, words, (size_t)(end - words));
}

/* One fresh heap, one size class: every line of the live blocks at once (blocks taken out of
 * the bitmap for the next allocations may add more), exactly those after a collect, then none
 * when all are freed. */
static void check_one_class(size_t size)
{
	enum { MAX_N = 600 };
	/* enough blocks for several pages; fewer for medium blocks (a page is 512 KiB) */
	const int N = size <= 8192 ? MAX_N : 40;
	mi_heap_t *heap = mi_heap_new();
	void *p[MAX_N];
	struct page_lines shadow, bitmaps;

	page_lines_init(&shadow);
	page_lines_init(&bitmaps);
	for (int i = 0; i < N; i++)
		p[i] = mi_heap_malloc(heap, size);
	for (int i = 0; i < N; i += 3) { /* free a third, in a pattern that splits lines */
		mi_free(p[i]);
		p[i] = NULL;
	}
	for (int i = 0; i < N; i++)
		if (p[i] != NULL) {
			add_block_lines(&shadow, p[i]);
			add_freemap_lines(&shadow, p[i]);
			add_freemap_lines(&bitmaps, p[i]);
		}
	size_t bitmap_pages = 0;
	for (size_t j = 0; j < shadow.cap; j++) {
		if (shadow.page[j] == 0)
			continue;
		uint64_t mask = mi_hint_page_mask((void *)shadow.page[j]);
		assert_int_equal(shadow.lines[j] & ~mask, 0);
		bitmap_pages++;
	}
	mi_heap_collect(heap, false);
	for (size_t j = 0; j < shadow.cap; j++)
		if (shadow.page[j] != 0)
			assert_int_equal(mi_hint_page_mask((void *)shadow.page[j]),
					 shadow.lines[j]);
	assert_true(bitmap_pages >= N * size / 4096 / 2);
	for (int i = 0; i < N; i++)
		if (p[i] != NULL)
			mi_free(p[i]);
	for (size_t j = 0; j < shadow.cap; j++) {
		if (shadow.page[j] == 0)
			continue;
		uint64_t mask = mi_hint_page_mask((void *)shadow.page[j]);
		/* nothing live but a bitmap in the page, or the page went back to its segment
		 * (all live) */
		assert_true((mask & ~page_lines_get(&bitmaps, shadow.page[j])) == 0 ||
			    mask == LINES_WHOLE);
	}
	page_lines_free(&shadow);
	page_lines_free(&bitmaps);
	mi_heap_delete(heap);
}

static void test_each_class_exact(void **state)
{
	(void)state;
	for (size_t size = 1; size <= 1024; size += size < 128 ? 8 : 40)
		check_one_class(size);
	for (size_t size = 1024; size <= MI_MEDIUM_OBJ_SIZE_MAX; size = size * 5 / 4)
		check_one_class(size);
	check_one_class(MI_MEDIUM_OBJ_SIZE_MAX);
}

/* bitmap_max_size 0 turns the bitmap off for pages made from then on. */
static void test_option_turns_bitmap_off(void **state)
{
	(void)state;
	long max = mi_option_get(mi_option_bitmap_max_size);
	mi_heap_t *heap;
	void *p;

	mi_option_set(mi_option_bitmap_max_size, 0);
	heap = mi_heap_new();
	p = mi_heap_malloc(heap, 64);
	assert_int_equal(mi_hint_page_mask(p), LINES_WHOLE);
	mi_free(p);
	mi_heap_delete(heap);
	mi_option_set(mi_option_bitmap_max_size, max);
	heap = mi_heap_new();
	p = mi_heap_malloc(heap, 64);
	assert_int_not_equal(mi_hint_page_mask(p), LINES_WHOLE);
	mi_free(p);
	mi_heap_delete(heap);
}

struct tally {
	size_t pages, bitmap_pages, live_lines, false_negatives, false_positives;
};

static void add_block(const struct block *b, void *arg)
{
	add_block_lines(arg, b->p);
	add_freemap_lines(arg, b->p);
}

/* Compare every page ever used with the shadow of the blocks live now. */
static void compare(struct world *w, struct tally *t)
{
	struct page_lines shadow, pages;

	page_lines_init(&shadow);
	page_lines_init(&pages);
	world_for_each_block(w, add_block, &shadow);
	world_seen_pages(w, &pages);
	for (size_t j = 0; j < shadow.cap; j++)
		if (shadow.page[j] != 0)
			page_lines_add(&pages, shadow.page[j], 0);
	for (size_t j = 0; j < pages.cap; j++) {
		if (pages.page[j] == 0)
			continue;
		uint64_t want = page_lines_get(&shadow, pages.page[j]);
		uint64_t mask = mi_hint_page_mask((void *)pages.page[j]);
		t->pages++;
		t->live_lines += __builtin_popcountll(want);
		t->false_negatives += __builtin_popcountll(want & ~mask);
		if (mask != LINES_WHOLE) {
			t->bitmap_pages++;
			t->false_positives += __builtin_popcountll(mask & ~want);
		}
	}
	page_lines_free(&shadow);
	page_lines_free(&pages);
}

static struct tally run_world(bool aligned, bool exit_threads)
{
	struct world_config config = {
		.threads = 4, .slots = 3000, .steps = 20000, .aligned = aligned, .seed = 42
	};
	static struct world w;
	struct tally t = { 0 };

	world_start(&w, &config);
	for (int round = 0; round < 8; round++) {
		world_round(&w, exit_threads && round % 3 == 2);
		compare(&w, &t);
	}
	world_stop(&w);
	fprintf(stderr,
		"line_mask%s%s: %zu page checks (%zu with a bitmap), %zu live lines, "
		"%zu false negatives, %zu false positives, %lu allocations\n",
		aligned ? " aligned" : "", exit_threads ? " thread-exit" : "", t.pages,
		t.bitmap_pages, t.live_lines, t.false_negatives, t.false_positives,
		(unsigned long)atomic_load(&w.allocations));
	assert_int_equal(atomic_load(&w.mismatches), 0);
	assert_int_equal(atomic_load(&w.calloc_dirty), 0);
	assert_true(t.bitmap_pages > 1000);
	return t;
}

static void test_shadow_exact(void **state)
{
	(void)state;
	struct tally t = run_world(false, false);

	assert_int_equal(t.false_negatives, 0);
	assert_int_equal(t.false_positives, 0);
}

/* Threads that exit leave segments whose cross-thread frees nobody has collected yet: those
 * blocks are still live to the allocator (a counted false positive, never a negative). */
static void test_shadow_aligned_and_thread_exit(void **state)
{
	(void)state;
	struct tally t = run_world(true, true);

	assert_int_equal(t.false_negatives, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_foreign_memory_is_all_live),
		cmocka_unit_test(test_other_sizes_are_all_live),
		cmocka_unit_test(test_each_class_exact),
		cmocka_unit_test(test_option_turns_bitmap_off),
		cmocka_unit_test(test_shadow_exact),
		cmocka_unit_test(test_shadow_aligned_and_thread_exit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
