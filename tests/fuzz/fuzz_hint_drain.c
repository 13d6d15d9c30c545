/* libFuzzer target: the server reading a hint ring whose shared memory holds whatever the
 * fuzzer writes there (a hostile client). hint_server_drain must never crash, never read
 * outside the ring, and keep the client's view within its bound. Built with clang
 * -fsanitize=fuzzer,address,undefined (tests/meson.build) and run for a bounded time. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hint_server.h"

#define RECORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hint_server s;
	struct hint_client_conn *c = calloc(1, sizeof(*c));
	size_t bytes = hint_ring_bytes(RECORDS);

	s = (struct hint_server){ .listen_fd = -1, .events_fd = -1 };
	c->sock = -1;
	c->pagemap_fd = -1;
	c->ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	c->ring_bytes = bytes;
	if (c->ring == MAP_FAILED || page_view_init(&c->view, 32) < 0)
		abort();
	hint_ring_init(c->ring, RECORDS, &c->cons);
	s.client[s.nclients++] = c;
	/* The input is what the client wrote, from the start of the ring, in two rounds (so the
	 * server's private tail has moved when the second lands). */
	size_t half = size / 2;
	memcpy(c->ring, data, half < bytes ? half : bytes);
	hint_server_drain(&s);
	if (s.nclients) {
		memcpy(c->ring, data + half, size - half < bytes ? size - half : bytes);
		hint_server_drain(&s);
	}
	if (s.nclients && c->view.count > 32)
		abort();
	hint_server_close(&s); /* frees the client (its socket is -1) */
	return 0;
}
