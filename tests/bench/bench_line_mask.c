/* The cost of mi_hint_page_mask: build a heap of mixed small blocks (25..1024 B, a third
 * freed), then ask for the mask of every page, many times over. Prints nanoseconds per page
 * and how many pages had a bitmap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <mimalloc.h>

#include "mimalloc-hint.h"
#include "xorshift.h"

#define BLOCKS 400000
#define PASSES 20

int main(void)
{
	static void *p[BLOCKS];
	static uintptr_t pages[BLOCKS];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	size_t npages = 0, bitmap = 0;
	volatile uint64_t sink = 0;
	struct timespec t0, t1;

	for (size_t i = 0; i < BLOCKS; i++)
		p[i] = mi_malloc(25 + xorshift64(&rng) % 1000);
	for (size_t i = 0; i < BLOCKS; i += 3)
		mi_free(p[i]);
	for (size_t i = 1; i < BLOCKS; i += 3) { /* distinct pages, in allocation order */
		uintptr_t pg = (uintptr_t)p[i] & ~(uintptr_t)4095;
		if (npages == 0 || pages[npages - 1] != pg)
			pages[npages++] = pg;
	}
	for (size_t i = 0; i < npages; i++)
		bitmap += mi_hint_page_mask((void *)pages[i]) != LINES_WHOLE;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int pass = 0; pass < PASSES; pass++)
		for (size_t i = 0; i < npages; i++)
			sink += mi_hint_page_mask((void *)pages[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("line mask: %.1f ns per page (%zu pages, %zu with a bitmap)\n",
	       ns / (double)(npages * PASSES), npages, bitmap);
	(void)sink;
	return 0;
}
