/* libFuzzer target: the server reading a hint ring whose shared memory holds whatever the
 * fuzzer writes there (a hostile client). hint_server_drain must never crash, never read
 * outside the ring, and keep the client's view within its bound (above the view's starting
 * capacity, so it grows). The first byte picks how the input arrives: copied over the ring in
 * two rounds, or published record by record (keys and masks from the input) by a producer
 * thread while the server drains, as a real client's threads would, with raw bytes scribbled
 * over the ring meanwhile. Built with clang -fsanitize=fuzzer,address,undefined
 * (tests/meson.build) and run for a bounded time, from a seed corpus of honest rings
 * (tests/fuzz/hint_seeds.c). */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hint_server.h"

#define RECORDS  64
#define VIEW_MAX 4096 /* pages; the memory budget (about 16 leaves) may end it first */

struct producer {
	struct hint_ring *ring;
	size_t ring_bytes;
	const uint8_t *data;
	size_t size;
};

/* Publishes the input's (key, mask) pairs, each for a run of RUN pages (so the view grows
 * past its first capacity); every eighth pair is written raw over the ring's records instead,
 * wherever its key says (not over its header: this producer needs the capacity there; the
 * two-round mode scribbles over headers). The producer has a mapping of its own: the server
 * may drop the client, and unmap its ring, while the producer still writes. */
#define RUN 8
static void *produce(void *arg)
{
	struct producer *p = arg;

	for (size_t at = 0; at + 16 <= p->size; at += 16) {
		uint64_t key, mask;

		memcpy(&key, p->data + at, 8);
		memcpy(&mask, p->data + at + 8, 8);
		if (at / 16 % 8 == 7) {
			memcpy((uint8_t *)p->ring->record +
				       key % (p->ring_bytes - sizeof(struct hint_ring) - 8),
			       &mask, 8);
			continue;
		}
		for (uint64_t i = 0; i < RUN; i++)
			if (!hint_ring_publish(p->ring, key + i, mask))
				hint_ring_next_epoch(p->ring, hint_ring_epoch(p->ring));
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hint_server s;
	struct hint_client_conn *c = calloc(1, sizeof(*c));
	size_t bytes = hint_ring_bytes(RECORDS);

	if (size < 1) {
		free(c);
		return 0;
	}
	int fd = memfd_create("fuzz-ring", MFD_CLOEXEC);
	void *mine;

	s = (struct hint_server){ .listen_fd = -1, .events_fd = -1 };
	c->sock = -1;
	c->pagemap_fd = -1;
	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0)
		abort();
	c->ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	mine = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	c->ring_bytes = bytes;
	/* Its ring (whole pages of it) and a view of at most 16 leaves, charged as the server
	 * charges them. */
	uint64_t ring_cost = (bytes + 4095) & ~(uint64_t)4095;
	struct page_view_budget mem = { .cap = ring_cost + (68 << 10) };

	c->budget[0] = &mem;
	if (c->ring == MAP_FAILED || mine == MAP_FAILED ||
	    !page_view_budget_take(c->budget, ring_cost) ||
	    page_view_init(&c->view, VIEW_MAX, c->budget) < 0)
		abort();
	hint_ring_init(c->ring, RECORDS, &c->cons);
	s.client[s.nclients++] = c;
	data++, size--;
	if (data[-1] & 1) {
		struct producer p = { mine, bytes, data, size };
		pthread_t t;

		pthread_create(&t, NULL, produce, &p);
		for (int i = 0; i < 64 && s.nclients; i++)
			hint_server_drain(&s, UINT64_MAX);
		pthread_join(t, NULL);
		if (s.nclients)
			hint_server_drain(&s, UINT64_MAX);
	} else {
		/* What the client wrote, from the start of the ring, in two rounds (so the
		 * server's private tail has moved when the second lands). */
		size_t half = size / 2;

		memcpy(c->ring, data, half < bytes ? half : bytes);
		hint_server_drain(&s, UINT64_MAX);
		if (s.nclients) {
			memcpy(c->ring, data + half, size - half < bytes ? size - half : bytes);
			hint_server_drain(&s, UINT64_MAX);
		}
	}
	if ((s.nclients && c->view.count > VIEW_MAX) || mem.used > mem.cap)
		abort();
	hint_server_close(&s); /* frees the client (its socket is -1) */
	if (mem.used != 0)     /* everything given back */
		abort();
	munmap(mine, bytes);
	return 0;
}
