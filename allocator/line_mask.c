/* Line liveness of a 4 KiB page, read from the free bitmaps of mimalloc's pages: in the
 * segment header, or (pages of 8..24-byte blocks) in the page's own last lines; never the
 * blocks' memory. */
#include "mimalloc-hint.h"

#include <mimalloc.h>
#include "hint_lines.h"

#define LINE_SHIFT 6

/* Lines [first, last] (0 <= first <= last <= 63) as a mask. */
static inline uint64_t line_range(size_t first, size_t last)
{
	uint64_t upto = last == 63 ? UINT64_MAX : ((uint64_t)1 << (last + 1)) - 1;
	return upto & ~(((uint64_t)1 << first) - 1);
}

/* The end of the memory of page (its slices). */
static uintptr_t area_end(const mi_segment_t *segment, const mi_page_t *page)
{
	size_t first = (size_t)(page - segment->slices);
	size_t count = __atomic_load_n(&page->slice_count, __ATOMIC_RELAXED);

	return (uintptr_t)segment + (first + count) * MI_SEGMENT_SLICE_SIZE;
}

/* How many blocks the storage of page's bitmap, words, can count: its slot in the segment
 * header, or its page's last bytes (a page of more than MI_FREEMAP_MAX_BLOCKS blocks, patch
 * 0007: at most 1 KiB, ending at the page's end). 0 if words is neither: then it is not a
 * bitmap page's (the owner may be changing it under us). */
static size_t freemap_bits(const mi_segment_t *segment, const mi_page_t *page, uintptr_t words)
{
	uintptr_t end = area_end(segment, page);

	if (words == (uintptr_t)segment->freemaps[page - segment->slices])
		return MI_FREEMAP_MAX_BLOCKS;
	if (words % LINE_SIZE != 0 || words >= end || end - words > MI_FREEMAP_IN_PAGE_MAX)
		return 0;
	return (end - words) * 8;
}

/* The page of a normal segment whose free bitmap covers slice idx, or NULL. Fields are read
 * with relaxed atomics: the owner may be changing them, so every value is checked before it
 * is used to index anything. */
static const mi_page_t *bitmap_page_of(const mi_segment_t *segment, size_t idx)
{
	if (__atomic_load_n(&segment->kind, __ATOMIC_RELAXED) != MI_SEGMENT_NORMAL)
		return NULL;
	if (idx < __atomic_load_n(&segment->segment_info_slices, __ATOMIC_RELAXED) ||
	    idx >= __atomic_load_n(&segment->slice_entries, __ATOMIC_RELAXED))
		return NULL;
	size_t back = __atomic_load_n(&segment->slices[idx].slice_offset, __ATOMIC_RELAXED) /
		      sizeof(mi_slice_t);
	if (back > idx)
		return NULL;
	size_t first = idx - back;
	const mi_page_t *page = &segment->slices[first];
	size_t count = __atomic_load_n(&page->slice_count, __ATOMIC_RELAXED);
	if (first + count <= idx || first + count > MI_SLICES_PER_SEGMENT ||
	    count * MI_SEGMENT_SLICE_SIZE > MI_MEDIUM_PAGE_SIZE)
		return NULL;
	if (__atomic_load_n(&page->xblock_size, __ATOMIC_RELAXED) == 0 ||
	    freemap_bits(segment, page,
			 (uintptr_t)__atomic_load_n(&page->freemap, __ATOMIC_RELAXED)) == 0)
		return NULL;
	return page;
}

/* The lines of [from, to) inside the page at base (clamped to it). */
static inline uint64_t bytes_lines(uintptr_t base, uintptr_t from, uintptr_t to)
{
	if (from < base)
		from = base;
	if (to > base + MI_HINT_PAGE_SIZE)
		to = base + MI_HINT_PAGE_SIZE;
	return line_range((from - base) >> LINE_SHIFT, (to - 1 - base) >> LINE_SHIFT);
}

/* The invariant (docs/design.md, "The one invariant"): every line an allocated block touches is
 * live, and so is every line of a bitmap kept in the page; a block freed by another thread
 * stays allocated in the bitmap until collected. */
uint64_t _mi_hint_lines(const mi_page_t *page, uintptr_t base, size_t blocks)
{
	const mi_segment_t *segment = _mi_page_segment(page);
	_Atomic(uintptr_t) *words = __atomic_load_n(&page->freemap, __ATOMIC_RELAXED);
	uintptr_t start = (uintptr_t)__atomic_load_n(&page->freemap_start, __ATOMIC_RELAXED);
	size_t bsize = __atomic_load_n(&page->xblock_size, __ATOMIC_RELAXED);
	size_t bits = freemap_bits(segment, page, (uintptr_t)words);
	uintptr_t end = area_end(segment, page);

	if (bsize == 0 || blocks > bits || start < (uintptr_t)segment || start >= end ||
	    blocks * bsize > end - start)
		return LINES_WHOLE;
	uint64_t mask = 0;
	bool in_page = words != segment->freemaps[page - segment->slices];
	if (in_page && (uintptr_t)words < base + MI_HINT_PAGE_SIZE && end > base)
		mask = bytes_lines(base, (uintptr_t)words, end);
	uintptr_t lo = base > start ? base : start;
	uintptr_t hi = start + blocks * bsize;
	if (hi > base + MI_HINT_PAGE_SIZE)
		hi = base + MI_HINT_PAGE_SIZE;
	if (lo >= hi)
		return mask; /* only the unused head or tail of the page's block area */

	/* Walk runs of allocated blocks (clear bits) over the blocks that overlap the page. */
	size_t last = _mi_freemap_block_index(page, hi - 1 - start);
	if (last >= blocks) /* only if the page changed under us: never index past it */
		last = blocks - 1;
	for (size_t i = _mi_freemap_block_index(page, lo - start); i <= last;) {
		size_t bit = i % MI_INTPTR_BITS;
		uint64_t used = ~mi_atomic_load_relaxed(&words[i / MI_INTPTR_BITS]) >> bit;
		if (used & 1) {
			size_t run = mi_ctz(~used); /* the zeros shifted in end the run */
			size_t end_block = i + run - 1 < last ? i + run - 1 : last;
			mask |= bytes_lines(base, start + i * bsize,
					    start + (end_block + 1) * bsize);
			i = end_block + 1;
		} else {
			i += used == 0 ? MI_INTPTR_BITS - bit : mi_ctz(used);
		}
	}
	return mask;
}

/* Unsure (not a bitmap page, not mimalloc's) is LINES_WHOLE (docs/design.md, "The one
 * invariant"). */
uint64_t mi_hint_page_mask(const void *addr)
{
	uintptr_t base = (uintptr_t)addr & ~(uintptr_t)(MI_HINT_PAGE_SIZE - 1);
	/* not _mi_ptr_segment: it maps a segment's first byte to the segment before */
	mi_segment_t *segment = (mi_segment_t *)(base & ~(uintptr_t)MI_SEGMENT_MASK);
	if (!_mi_segment_map_is_segment(segment))
		return LINES_WHOLE;
	size_t idx = (base - (uintptr_t)segment) >> MI_SEGMENT_SLICE_SHIFT;
	const mi_page_t *page = bitmap_page_of(segment, idx);
	if (page == NULL)
		return LINES_WHOLE;
	/* Blocks up to `reserved`: another thread may be extending the capacity meanwhile. */
	return _mi_hint_lines(page, base, __atomic_load_n(&page->reserved, __ATOMIC_RELAXED));
}
