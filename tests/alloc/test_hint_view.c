/* The hint producer against a real hint server in the same process: worker threads churn the
 * heap (heap_world), and at every pause the server drains the ring, and for every live block
 * each line it overlaps must be live in the server's view of its page — the one invariant, as
 * the server would apply it at eviction. The view must also hold real savings (dead lines).
 * Run twice by meson: with the default ring, and with a ring so small that it overflows all the
 * time (epochs, resynchronisation). The socket path comes from LINESWAP_HINTS_SOCKET. */
#include <setjmp.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mimalloc.h>
#include <mimalloc-internal.h>

#include "heap_world.h"
#include "mimalloc-hint.h"
#include "hint_server.h"
#include "page_lines.h"

static struct hint_server server;
static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stopping;

/* Registration needs the server to answer while the registering thread waits: a thread of
 * its own, as in the daemon, which also drains the rings all the time. */
static void *serve(void *arg)
{
	struct pollfd fds[HINT_SERVER_MAX_FDS];

	(void)arg;
	while (!atomic_load(&stopping)) {
		pthread_mutex_lock(&server_lock);
		unsigned n = hint_server_pollfds(&server, fds);
		pthread_mutex_unlock(&server_lock);
		int ready = poll(fds, n, 1);
		pthread_mutex_lock(&server_lock);
		if (ready > 0)
			hint_server_handle(&server, fds, n);
		hint_server_drain(&server,
				  UINT64_MAX); /* as the daemon does, so rings rarely fill */
		pthread_mutex_unlock(&server_lock);
	}
	return NULL;
}

static bool registered(void)
{
	pthread_mutex_lock(&server_lock);
	bool yes = server.nclients == 1 && server.client[0]->ring;
	pthread_mutex_unlock(&server_lock);
	return yes;
}

static void add_block(const struct block *b, void *arg)
{
	mi_segment_t *segment = _mi_ptr_segment(b->p);
	mi_page_t *page = _mi_segment_page_of(segment, b->p);

	page_lines_add_bytes(arg, _mi_page_ptr_unalign(segment, page, b->p),
			     mi_page_block_size(page));
}

struct tally {
	uint64_t checks, lost_lines, reduced_pages, dead_lines, dead_in_bitmap;
	uint64_t view_live, bitmap_live; /* over every page the view holds reduced */
};

/* The view's live-line count (what `ublk-ctl hints` reports) against its masks, and against
 * what the allocator's bitmaps say of the same pages. */
static void check_live_count(struct hint_client_conn *c, struct tally *t)
{
	uint64_t *pages = malloc((c->view.count + 1) * sizeof(*pages)), live = 0;
	size_t n = page_view_pages(&c->view, pages);

	assert_int_equal(n, c->view.count);
	for (size_t i = 0; i < n; i++) {
		live += (uint64_t)__builtin_popcountll(page_view_get(&c->view, pages[i]));
		t->bitmap_live +=
			(uint64_t)__builtin_popcountll(mi_hint_page_mask((void *)(pages[i] << 12)));
	}
	assert_int_equal(live, c->view.live);
	t->view_live += live;
	free(pages);
}

static void check_view(struct world *w, struct hint_client_conn *c, struct tally *t)
{
	struct page_lines live;

	page_lines_init(&live);
	world_for_each_block(w, add_block, &live);
	pthread_mutex_lock(&server_lock);
	hint_server_drain(&server, UINT64_MAX);
	pthread_mutex_unlock(&server_lock);
	assert_false(c->unsure); /* every producer is paused: nothing can be half-published */
	for (size_t j = 0; j < live.cap; j++) {
		if (live.page[j] == 0)
			continue;
		uint64_t view = page_view_get(&c->view, live.page[j] >> 12);
		t->checks++;
		t->lost_lines += __builtin_popcountll(live.lines[j] & ~view);
		if (view != LINES_WHOLE) {
			t->reduced_pages++;
			t->dead_lines += 64 - __builtin_popcountll(view);
		}
		t->dead_in_bitmap +=
			64 - __builtin_popcountll(mi_hint_page_mask((void *)live.page[j]));
	}
	page_lines_free(&live);
	check_live_count(c, t);
}

static void test_view_covers_live_lines(void **state)
{
	(void)state;
	struct world_config config = { .threads = 4, .slots = 4000, .steps = 20000, .seed = 7 };
	static struct world w;
	struct tally t = { 0 };

	world_start(&w, &config);
	/* the producer retries from mimalloc's heartbeat, every 2 s */
	for (int i = 0; i < 100 && !registered(); i++)
		world_round(&w, false);
	assert_true(registered());
	struct hint_client_conn *c = server.client[0];
	assert_non_null(c->ring);
	for (int round = 0; round < 12; round++) {
		world_round(&w, round % 4 == 3);
		check_view(&w, c, &t);
	}
	world_stop(&w);
	fprintf(stderr,
		"hint_view (ring %u): %lu page checks, %lu lost lines, %lu reduced pages, "
		"%lu dead lines in view of %lu in the bitmaps; %lu records, %lu overflows, "
		"%lu resyncs; live lines of the reduced pages %lu (the bitmaps: %lu)\n",
		c->cons.capacity, (unsigned long)t.checks, (unsigned long)t.lost_lines,
		(unsigned long)t.reduced_pages, (unsigned long)t.dead_lines,
		(unsigned long)t.dead_in_bitmap, (unsigned long)c->stats.records,
		(unsigned long)c->stats.overflows, (unsigned long)c->stats.resyncs,
		(unsigned long)t.view_live, (unsigned long)t.bitmap_live);
	/* The heap's size the producer reports (once a second, and at registration) holds the
	 * pages it reduced: the heap (fixed slots) stopped growing in the first rounds, so the
	 * last report, at most a second old, is not smaller than it. */
	uint64_t heap = atomic_load(&c->ring->heap_bytes);
	fprintf(stderr, "hint_view: heap %lu KiB reported, %lu KiB reduced\n",
		(unsigned long)(heap >> 10), (unsigned long)(c->view.count * 4));
	assert_true(heap >= (uint64_t)c->view.count * 4096 && heap > 0);
	assert_int_equal(atomic_load(&w.mismatches), 0);
	assert_int_equal(t.lost_lines, 0);
	assert_true(t.checks > 1000);
	assert_true(c->stats.records > 0);
	if (c->cons.capacity <= 256) {
		assert_true(c->stats.overflows > 0 && c->stats.resyncs > 0);
	} else {
		/* real savings: most of what the bitmaps know is dead reached the server */
		assert_true(t.dead_lines * 2 > t.dead_in_bitmap);
		/* The live lines reported cover the bitmaps' over the same pages, and lag them by
		 * no more than lazily published frees (32 a page, or a 10 ms sweep): 1.09x
		 * measured. */
		assert_true(t.bitmap_live > 0 && t.bitmap_live <= t.view_live);
		assert_true(t.view_live * 4 <= t.bitmap_live * 5);
	}
}

/* Pages without a free bitmap (blocks over bitmap_max_size: mimalloc's large and huge pages)
 * always move whole: the allocator counts their bytes while they are in use, and the producer
 * reports the count with the heap's size (ublk-ctl hints: NO-BITMAP). */
static void test_whole_bytes_reported(void **state)
{
	(void)state;
	static const size_t sizes[] = { 200 << 10, 1 << 20, 20 << 20, 48 << 20 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	void *p[N];

	/* settle what the world left: abandoned segments reclaimed, retired pages freed (either
	 * would change the count while this test allocates) */
	mi_collect(true);
	int64_t before = atomic_load(&_mi_hint_whole_bytes), sum = 0, pages = 0;

	for (int i = 0; i < N; i++) {
		p[i] = mi_malloc(sizes[i]);
		assert_non_null(p[i]);
		((char *)p[i])[0] = 1;
		sum += (int64_t)sizes[i];
		size_t psize; /* the block's page: rounded up, padded in debug builds */
		_mi_segment_page_start(_mi_ptr_segment(p[i]), _mi_ptr_page(p[i]), &psize);
		pages += (int64_t)psize;
	}
	int64_t during = atomic_load(&_mi_hint_whole_bytes) - before;
	fprintf(stderr,
		"hint_view: %lld bytes in blocks over 128 KiB, in pages of %lld, %lld counted "
		"whole\n",
		(long long)sum, (long long)pages, (long long)during);
	assert_true(pages >= sum);
	assert_int_equal(during, pages);
	/* the producer reports from mimalloc's heartbeat, at most once a second (a collection
	 * beats it too) */
	for (int i = 0; i < 100 && !registered(); i++) {
		mi_collect(false);
		usleep(20000);
	}
	assert_true(registered());
	struct hint_client_conn *c = server.client[0];
	uint64_t reported = 0;
	for (int i = 0; i < 500 && reported < (uint64_t)(before + during); i++) {
		mi_collect(false);
		usleep(10000);
		reported = atomic_load(&c->ring->whole_bytes);
	}
	assert_true(reported >= (uint64_t)(before + during));
	assert_true(atomic_load(&c->ring->heap_bytes) >= reported);
	/* pages of blocks over mimalloc's retire size (128 KiB) are freed with their block */
	for (int i = 0; i < N; i++)
		mi_free(p[i]);
	assert_int_equal(atomic_load(&_mi_hint_whole_bytes), before);
}

int main(void)
{
	struct hint_server_conf conf = {
		.socket_path = getenv("LINESWAP_HINTS_SOCKET"),
		.allow_uid = -1,
		.max_clients = 4,
		.ring_records = 1 << 16,
		.max_ring_records = 1 << 20,
		.max_pages = 1 << 20,
	};
	char err[256];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_view_covers_live_lines),
		cmocka_unit_test(test_whole_bytes_reported),
	};

	if (!conf.socket_path) {
		fprintf(stderr, "LINESWAP_HINTS_SOCKET is not set\n");
		return 1;
	}
	if (hint_server_open(&server, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	pthread_t thread;
	pthread_create(&thread, NULL, serve, NULL);
	int ret = cmocka_run_group_tests(tests, NULL, NULL);
	atomic_store(&stopping, true);
	pthread_join(thread, NULL);
	hint_server_close(&server);
	return ret;
}
