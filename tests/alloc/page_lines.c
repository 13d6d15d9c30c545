/* A set of pages with line masks: open addressing, grown at half full. */
#include "page_lines.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_SIZE 4096

static size_t slot_of(const struct page_lines *m, uintptr_t page)
{
	size_t i = (size_t)((page >> 12) * 0x9e3779b97f4a7c15ull) & (m->cap - 1);

	while (m->page[i] != 0 && m->page[i] != page)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static void alloc_slots(struct page_lines *m, size_t cap)
{
	m->cap = cap;
	m->count = 0;
	m->page = calloc(cap, sizeof(*m->page));
	m->lines = calloc(cap, sizeof(*m->lines));
	if (m->page == NULL || m->lines == NULL)
		abort();
}

void page_lines_init(struct page_lines *m)
{
	alloc_slots(m, 1024);
}

void page_lines_free(struct page_lines *m)
{
	free(m->page);
	free(m->lines);
	memset(m, 0, sizeof(*m));
}

void page_lines_clear(struct page_lines *m)
{
	memset(m->page, 0, m->cap * sizeof(*m->page));
	memset(m->lines, 0, m->cap * sizeof(*m->lines));
	m->count = 0;
}

static void grow(struct page_lines *m)
{
	struct page_lines old = *m;

	alloc_slots(m, old.cap * 2);
	for (size_t i = 0; i < old.cap; i++)
		if (old.page[i] != 0)
			page_lines_add(m, old.page[i], old.lines[i]);
	page_lines_free(&old);
}

void page_lines_add(struct page_lines *m, uintptr_t page, uint64_t lines)
{
	if (2 * (m->count + 1) > m->cap)
		grow(m);
	size_t i = slot_of(m, page);
	if (m->page[i] == 0) {
		m->page[i] = page;
		m->count++;
	}
	m->lines[i] |= lines;
}

void page_lines_add_bytes(struct page_lines *m, const void *p, size_t n)
{
	uintptr_t first = (uintptr_t)p, last = first + n - 1;

	for (uintptr_t line = first >> 6; line <= last >> 6; line++) {
		uintptr_t addr = line << 6;
		page_lines_add(m, addr & ~(uintptr_t)(PAGE_SIZE - 1), 1ull << ((addr >> 6) & 63));
	}
}

uint64_t page_lines_get(const struct page_lines *m, uintptr_t page)
{
	size_t i = slot_of(m, page);

	return m->page[i] == page ? m->lines[i] : 0;
}
