/* libFuzzer target: the client's TCP page store reading replies that hold whatever the fuzzer
 * wrote (a hostile node, or the network), over a socket pair into the real transport
 * (rdma/store_tcp.c). The first byte picks sealed or clear pages and the requests made (GETs
 * and PUTs of several masks); the rest arrives as the node's replies, in pieces. The store
 * must never crash, never write outside the caller's pages, complete each request once, and
 * never hand a sealed GET's caller bytes that did not open. Built with clang
 * -fsanitize=fuzzer,address,undefined (tests/meson.build) and run for a bounded time. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node_link.h"
#include "page_seal.h"
#include "page_store.h"

#define REQUESTS 8

static const uint64_t masks[4] = { ~0ull, 0x3ull, 0x00ff00ff00ff00ffull, 0x8000000000000001ull };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pages[REQUESTS][4096];
	uint8_t device_key[AUTH_KEY] = { 1 }, seal_key[AUTH_KEY];
	struct page_store_conf conf = {
		.bytes = 64 * 4096, .max_inflight = REQUESTS, .max_segs = 30, .timeout_ms = 1000
	};
	struct node_session s = { 0 };
	struct ps_completion done[REQUESTS * 2];
	unsigned completed[REQUESTS] = { 0 };
	bool get[REQUESTS];
	struct page_store *ps;
	char err[128];
	int sv[2];

	if (size < 2)
		return 0;
	page_seal_key(device_key, seal_key);
	conf.seal_key = data[0] & 1 ? seal_key : NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    ps_tcp_attach(&conf, sv[0], &s, &ps, err, sizeof(err)) < 0)
		abort();
	memset(pages, 0xee, sizeof(pages));
	for (unsigned i = 0; i < REQUESTS; i++) {
		struct ps_seal seal = { .page = i, .version = i + 1 };
		uint64_t live = masks[(data[0] >> (1 + i % 3)) & 3];

		get[i] = !((data[0] >> 4) & (1u << (i % 4)));
		if (get[i])
			ps->ops->get(ps, i, live, seal, pages[i], i);
		else
			ps->ops->put(ps, i, live, seal, pages[i], i);
	}
	/* The replies, in pieces the size of the second byte. */
	size_t piece = data[1] % 200 + 1;

	for (size_t at = 2; at <= size && !ps->down; at += piece) {
		size_t len = at < size ? (size - at < piece ? size - at : piece) : 0;
		int n;

		if (len)
			send(sv[1], data + at, len, MSG_NOSIGNAL);
		n = ps->ops->reap(ps, done, REQUESTS * 2);
		for (int i = 0; i < n; i++) {
			uint64_t k = done[i].cookie;

			if (k >= REQUESTS || completed[k]++)
				abort(); /* a request completed twice, or one never made */
			/* No one without the key makes a sealed page open; and one that does not
			 * open leaves the caller's page as it was. */
			if (conf.seal_key && get[k] &&
			    (done[i].status == 0 || pages[k][0] != 0xee ||
			     memcmp(pages[k], pages[k] + 1, sizeof(pages[k]) - 1)))
				abort();
		}
	}
	close(sv[1]);
	ps->ops->reap(ps, done, REQUESTS * 2);
	ps->ops->close(ps);
	return 0;
}
