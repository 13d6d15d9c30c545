/* The hint producer: the allocator's side of lineswap's hints. It registers the process with
 * the device's hint server (hints/hint_client.h) and publishes, through the hint ring, the
 * live lines of the 4 KiB pages of mimalloc's bitmap pages; the patched mimalloc calls it
 * (patch 0004, "Hints" in mimalloc-internal.h).
 *
 * What the server believes of a page is what the page's owner thread last published for it in
 * the current generation, or whole. A generation ends when a publish fails (the ring was full:
 * a new ring epoch makes the server forget everything this process told it) or when the
 * registration ends; the owner then treats all its masks as whole again. Only the owner thread
 * of a page publishes for it, so its records reach the server in its program order.
 *
 * No server: hints stay off (generation 0) and the allocator runs as stock; with
 * LINESWAP_HINTS_LOG set, one line on stderr says why. Once a second, from mimalloc's
 * deferred-free heartbeat, registration is retried (an app may start before its device) or
 * the server's liveness checked (a daemon recovered after a crash is a new server: the
 * process registers again, in a new generation) and the heap's size reported. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "hint_arena.h"
#include "hint_client.h"
#include "hint_lines.h"
#include "mimalloc-hint.h"

#define RETRY_NS          (1000000000ull) /* liveness checks and registration retries */
#define MAX_REGISTRATIONS 64              /* rings are never unmapped (threads may be using them) */
#define SWEEP_NS          (10 * 1000000ull) /* the server drains rings as often */

_Atomic(uint32_t) _mi_hint_generation;
_Atomic(int64_t) _mi_hint_whole_bytes;
uint32_t _mi_hint_flush_frees = MI_HINT_FLUSH_FREES; /* before any thread: see hint_arena.c */

static struct hint_client client = { .sock = -1 };
static struct hint_ring *_Atomic ring;
static _Atomic uint32_t registrations; /* before `ring` changes: see publish */
static _Atomic uint64_t retry_at_ns;
static atomic_flag registering = ATOMIC_FLAG_INIT;
static bool failure_logged;

static void log_line(const char *a, const char *b)
{
	if (!getenv("LINESWAP_HINTS_LOG"))
		return;
	/* write(2), not stdio: this may run inside malloc */
	(void)!write(2, "lineswap hints: ", 16);
	(void)!write(2, a, strlen(a));
	if (b) {
		(void)!write(2, b, strlen(b));
	}
	(void)!write(2, "\n", 1);
}

/* Tells the server how much the heap holds, and how much of it is in pages without a free
 * bitmap (it only shows them: ublk-ctl hints). */
static void report_heap(struct hint_ring *r)
{
	int64_t committed = mi_atomic_loadi64_relaxed(&_mi_stats_main.committed.current);
	int64_t whole = mi_atomic_load_relaxed(&_mi_hint_whole_bytes);

	atomic_store_explicit(&r->heap_bytes, committed > 0 ? (uint64_t)committed : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&r->whole_bytes, whole > 0 ? (uint64_t)whole : 0,
			      memory_order_relaxed);
}

static uint32_t generation_of(uint16_t epoch)
{
	return atomic_load_explicit(&registrations, memory_order_relaxed) << 16 | epoch;
}

/* Under `registering`: try once to register; on success hints are on in a new generation. */
static void try_register(void)
{
	char path[108], why[160];
	const char *env = getenv("LINESWAP_HINTS_RING");
	uint32_t records = env ? (uint32_t)strtoul(env, NULL, 0) : 0;
	struct hint_client c;

	if (registrations >= MAX_REGISTRATIONS || !hint_client_socket_path(path, sizeof(path)))
		return;
	const struct hint_arena_ask *ask = hint_arena_ask();

	if (hint_client_register(&c, path, records, ask, why, sizeof(why)) < 0 ||
	    (ask && hint_arena_attach(&c, why, sizeof(why)) < 0)) {
		if (c.sock >= 0)
			hint_client_unregister(&c);
		if (!failure_logged)
			log_line("running without hints: ", why);
		failure_logged = true; /* retries fail quietly */
		return;
	}
	if (client.sock >= 0)
		close(client.sock); /* the old ring stays mapped: see MAX_REGISTRATIONS */
	client = c;
	report_heap(c.ring);
	atomic_fetch_add_explicit(&registrations, 1, memory_order_release);
	atomic_store_explicit(&ring, c.ring, memory_order_release);
	atomic_store_explicit(&_mi_hint_generation, generation_of(hint_ring_epoch(c.ring)),
			      memory_order_release);
	failure_logged = false;
	log_line("registered with ", path);
}

bool hint_producer_register(void)
{
	bool on;

	while (atomic_flag_test_and_set_explicit(&registering, memory_order_acquire))
		;
	if (atomic_load_explicit(&_mi_hint_generation, memory_order_acquire) == 0)
		try_register();
	on = atomic_load_explicit(&_mi_hint_generation, memory_order_acquire) != 0;
	atomic_flag_clear_explicit(&registering, memory_order_release);
	return on;
}

/* Hints off until a new registration (under `registering`): the server went away. */
static void server_gone(void)
{
	atomic_store_explicit(&_mi_hint_generation, 0, memory_order_release);
	atomic_store_explicit(&retry_at_ns, coarse_ns(), memory_order_relaxed);
	log_line("the hint server went away; registering again when it is back", NULL);
}

/* Publishes one page record on behalf of an owner whose masks are of `generation`: the record
 * carries that generation's epoch, so the server can never take a record made before a resync
 * for one made after it (the owner would believe the page whole while the server did not). A
 * record of an earlier registration is not published at all: that server is gone, and the new
 * one sees the page whole. On a full ring, starts a new epoch (so the server forgets all it
 * knew of this process) and a new generation (so every owner thread forgets its masks) before
 * returning false: either way the caller may go on. */
static bool publish(uint64_t vpage, uint64_t mask, uint32_t generation)
{
	struct hint_ring *r = atomic_load_explicit(&ring, memory_order_acquire);
	uint16_t epoch = (uint16_t)generation;

	if (r == NULL || generation == 0 ||
	    generation >> 16 != atomic_load_explicit(&registrations, memory_order_acquire))
		return false;
	if (hint_ring_publish(r, HINT_KEY(epoch, HINT_PAGE, vpage), mask))
		return true;
	if (atomic_load_explicit(&_mi_hint_generation, memory_order_acquire) == 0)
		return false; /* the server went away: nobody drains the ring any more */
	epoch = hint_ring_next_epoch(r, epoch);
	atomic_compare_exchange_strong_explicit(&_mi_hint_generation, &generation,
						generation_of(epoch), memory_order_acq_rel,
						memory_order_acquire);
	if (!atomic_flag_test_and_set_explicit(&registering, memory_order_acquire)) {
		if (r == client.ring && hint_client_server_gone(&client))
			server_gone();
		atomic_flag_clear_explicit(&registering, memory_order_release);
	}
	return false;
}

static uintptr_t page_area(const mi_segment_t *segment, const mi_page_t *page)
{
	return (uintptr_t)segment + (uintptr_t)(page - segment->slices) * MI_SEGMENT_SLICE_SIZE;
}

/* The 4 KiB pages of a bitmap page: 16 of a small page, 128 of a medium one. */
static size_t page_pages(const mi_page_t *page)
{
	return (size_t)page->slice_count * (MI_SEGMENT_SLICE_SIZE / MI_HINT_OS_PAGE_SIZE);
}

/* The owner takes up a page in the current generation: the server sees it whole. */
static void adopt(mi_page_t *page, mi_segment_t *segment, uint32_t generation)
{
	size_t first = (page_area(segment, page) - (uintptr_t)segment) >> MI_HINT_OS_PAGE_SHIFT;

	for (size_t i = 0; i < page_pages(page); i++)
		segment->hint_masks[first + i] = LINES_WHOLE;
	page->hint_generation = generation;
	page->hint_dirty = UINT16_MAX; /* its dead lines are yet to be published */
}

/* Publishes that the 4 KiB page `index` of the segment, whose owner page is of `generation`,
 * has live lines `mask`. A revival is published before its block is returned, so the server
 * never evicts by a mask older than a line in use (docs/design.md, "The one invariant"). */
static void publish_mask(mi_segment_t *segment, size_t index, uint64_t mask, uint32_t generation)
{
	uintptr_t addr = (uintptr_t)segment + (index << MI_HINT_OS_PAGE_SHIFT);

	if (publish(addr >> MI_HINT_OS_PAGE_SHIFT, mask, generation))
		segment->hint_masks[index] = mask;
}

void _mi_hint_revive(mi_page_t *page, const mi_block_t *block)
{
	uint32_t generation = atomic_load_explicit(&_mi_hint_generation, memory_order_acquire);
	mi_segment_t *segment = _mi_page_segment(page);

	if (generation == 0)
		return;
	if (page->hint_generation != generation) {
		adopt(page, segment, generation);
		return; /* whole covers the block */
	}
	size_t first = (size_t)((uintptr_t)block - (uintptr_t)segment);
	size_t last = first + page->xblock_size - 1;
	for (size_t at = first; at <= last; at = (at | (MI_HINT_OS_PAGE_SIZE - 1)) + 1) {
		size_t index = at >> MI_HINT_OS_PAGE_SHIFT;
		uint64_t need = _mi_hint_lines_from(at);

		if ((last >> MI_HINT_OS_PAGE_SHIFT) == index)
			need &= _mi_hint_lines_upto(last);
		if ((segment->hint_masks[index] & need) != need)
			publish_mask(segment, index, segment->hint_masks[index] | need,
				     page->hint_generation);
	}
}

/* Publishes the dead lines of a page's dirty 4 KiB pages (owner thread). */
static void flush_page(mi_page_t *page, uint32_t generation)
{
	mi_segment_t *segment = _mi_page_segment(page);

	if (page->hint_generation != generation)
		adopt(page, segment, generation);
	uintptr_t area = page_area(segment, page);
	size_t first = (area - (uintptr_t)segment) >> MI_HINT_OS_PAGE_SHIFT;
	/* The owner is the only one changing the bitmap and the capacity: exact. */
	for (size_t i = 0; i < page_pages(page); i++) {
		if (!(page->hint_dirty & (1u << (i >> page->hint_dirty_shift))))
			continue;
		uint64_t live =
			_mi_hint_lines(page, area + i * MI_HINT_OS_PAGE_SIZE, page->capacity);
		if (live != segment->hint_masks[first + i])
			publish_mask(segment, first + i, live, page->hint_generation);
	}
	page->hint_dirty = 0;
	page->hint_frees = 0;
}

/* Publishes the dead lines of every dirty page of a heap of this thread, at most once every
 * SWEEP_NS: pages with fewer than _mi_hint_flush_frees frees since they were last published
 * (say, the cold ones of a phase that only frees) are not left out for long. */
static void sweep(mi_heap_t *heap, uint32_t generation, uint64_t now)
{
	static __thread uint64_t last_ns;

	if (now - last_ns < SWEEP_NS)
		return;
	last_ns = now;
	for (size_t bin = 0; bin <= MI_BIN_FULL; bin++)
		for (mi_page_t *page = heap->pages[bin].first; page != NULL; page = page->next)
			if (page->hint_dirty && page->freemap != NULL)
				flush_page(page, generation);
}

void _mi_hint_flush(mi_page_t *page)
{
	uint32_t generation = atomic_load_explicit(&_mi_hint_generation, memory_order_acquire);

	if (generation == 0 || page->freemap == NULL)
		return;
	flush_page(page, generation);
	/* A page of an abandoned segment being reclaimed has no heap (yet). */
	if (mi_page_heap(page) != NULL)
		sweep(mi_page_heap(page), generation, coarse_ns());
}

void _mi_hint_page_clear(mi_page_t *page)
{
	uint32_t generation = atomic_load_explicit(&_mi_hint_generation, memory_order_acquire);
	mi_segment_t *segment = _mi_page_segment(page);

	if (generation == 0 || page->hint_generation != generation)
		return; /* the server sees the page whole already */
	size_t first = (page_area(segment, page) - (uintptr_t)segment) >> MI_HINT_OS_PAGE_SHIFT;
	for (size_t i = first; i < first + page_pages(page); i++)
		if (segment->hint_masks[i] != LINES_WHOLE)
			publish_mask(segment, i, LINES_WHOLE, page->hint_generation);
	page->hint_generation = 0;
}

/* mimalloc's heartbeat (deferred free, on every allocation slow path): sweep the thread's
 * dirty pages now and then; every RETRY_NS, check that the server is still there (a recovered
 * daemon is a new server: register again) or retry registering. Paced by the clock, not by
 * beats: a thread may take the slow path rarely, and must still find a recovered server. */
static void heartbeat(bool force, unsigned long long beat, void *arg)
{
	uint32_t generation = atomic_load_explicit(&_mi_hint_generation, memory_order_relaxed);
	uint64_t now = coarse_ns();

	(void)force;
	(void)beat;
	(void)arg;
	if (generation != 0)
		sweep(mi_heap_get_default(), generation, now);
	if (now < atomic_load_explicit(&retry_at_ns, memory_order_relaxed))
		return;
	if (atomic_flag_test_and_set_explicit(&registering, memory_order_acquire))
		return;
	atomic_store_explicit(&retry_at_ns, now + RETRY_NS, memory_order_relaxed);
	if (generation == 0)
		try_register();
	else if (hint_client_server_gone(&client))
		server_gone();
	else
		report_heap(client.ring);
	atomic_flag_clear_explicit(&registering, memory_order_release);
}

/* Fork: the server must know that pages may be shared before they are (hint_ring.h); in mmap
 * mode the heap is frozen first (hint_arena.h). */
static void before_fork(void)
{
	struct hint_ring *r = atomic_load_explicit(&ring, memory_order_acquire);

	hint_arena_freeze();
	if (r && atomic_load_explicit(&_mi_hint_generation, memory_order_acquire))
		atomic_fetch_add_explicit(&r->forks_begun, 1, memory_order_acq_rel);
}

static void after_fork_parent(void)
{
	struct hint_ring *r = atomic_load_explicit(&ring, memory_order_acquire);

	if (r && atomic_load_explicit(&_mi_hint_generation, memory_order_acquire))
		atomic_fetch_add_explicit(&r->forks_done, 1, memory_order_acq_rel);
}

/* The child has no ring (MADV_DONTFORK) and no registration of its own yet. */
static void after_fork_child(void)
{
	hint_arena_child();
	atomic_store_explicit(&_mi_hint_generation, 0, memory_order_relaxed);
	atomic_store_explicit(&ring, NULL, memory_order_relaxed);
	if (client.sock >= 0)
		close(client.sock);
	client = (struct hint_client){ .sock = -1 };
	atomic_store_explicit(&retry_at_ns, 0, memory_order_relaxed);
	atomic_flag_clear(&registering);
}

__attribute__((constructor)) static void hint_producer_init(void)
{
	if (getenv("LINESWAP_HINTS_OFF"))
		return;
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	mi_register_deferred_free(heartbeat, NULL);
	atomic_flag_test_and_set(&registering);
	atomic_store_explicit(&retry_at_ns, coarse_ns() + RETRY_NS, memory_order_relaxed);
	if (atomic_load_explicit(&_mi_hint_generation, memory_order_acquire) == 0)
		try_register(); /* mmap mode registered already, at mimalloc's start */
	atomic_flag_clear(&registering);
}
