/* libFuzzer target: the memory node serving a client that sends whatever the fuzzer wrote (a
 * hostile peer), over a socket pair into the node's real code (rdma/node_serve.c). The first
 * byte picks the start: raw bytes from the first byte on (the handshake's parser), or a
 * proper handshake first, so the rest reaches the frame parser of an authenticated client
 * attached to a region. The node must never crash, touch memory outside the region, or
 * buffer without bound. Built with clang -fsanitize=fuzzer,address,undefined
 * (tests/meson.build) and run for a bounded time. */
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node_serve.h"
#include "proto.h"

#define SECRET "fuzzing secret"

static const uint8_t device_key[AUTH_KEY] = "the fuzzer's device key, 32 b..";

/* Lets the node handle what waits on its end, and reads (and drops) what it answered. */
static void pump(struct node *n, struct client *c, int peer, uint8_t *answer, size_t *len)
{
	struct epoll_event ev[4];
	uint8_t sink[8192];
	ssize_t got;

	for (int round = 0; round < 4; round++) {
		int k = epoll_wait(n->epfd, ev, 4, 0);

		for (int i = 0; i < k; i++)
			node_serve(n, ev[i].data.ptr, ev[i].events);
		node_bury_dead(n);
		if (k <= 0)
			break;
	}
	(void)c;
	while ((got = recv(peer, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		if (answer && *len + (size_t)got <= 512) {
			memcpy(answer + *len, sink, (size_t)got);
			*len += (size_t)got;
		}
}

/* The client's side of a proper handshake, creating region "fuzz" of 16 pages. */
static void shake_hands(struct node *n, struct client *c, int peer)
{
	struct proto_transcript transcript = { .hello = { .magic = PROTO_MAGIC,
							  .version = PROTO_VERSION } };
	struct proto_request req = { .flags = PROTO_CREATE, .bytes = 16 * PROTO_PAGE_SIZE };
	uint8_t answer[512], shared[AUTH_KEY], session[AUTH_KEY];
	struct proto_challenge ch;
	struct auth_ephemeral e;
	size_t len = 0;

	auth_random(transcript.hello.nonce, AUTH_NONCE);
	if (auth_ephemeral_new(&e) < 0)
		abort();
	memcpy(transcript.hello.pub, e.pub, AUTH_PUB);
	send(peer, &transcript.hello, sizeof(transcript.hello), MSG_NOSIGNAL);
	pump(n, c, peer, answer, &len);
	if (len != sizeof(ch))
		abort(); /* a proper hello is always challenged */
	memcpy(&ch, answer, sizeof(ch));
	memcpy(transcript.nonce, ch.nonce, AUTH_NONCE);
	memcpy(transcript.pub, ch.pub, AUTH_PUB);
	if (auth_shared(&e, ch.pub, shared) < 0)
		abort();
	auth_ephemeral_free(&e);
	auth_session((const uint8_t *)SECRET, strlen(SECRET), shared, &transcript,
		     sizeof(transcript), session);
	memcpy(req.region, "fuzz", 4);
	auth_region_public(device_key, req.region, PROTO_REGION_ID, req.region_proof);
	proto_request_prove(session, &req);
	send(peer, &req, sizeof(req), MSG_NOSIGNAL);
	len = 0;
	pump(n, c, peer, answer, &len);
	if (len < sizeof(struct proto_welcome) || ((struct proto_welcome *)answer)->status)
		abort(); /* and a proper request welcomed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct node n = { .max_clients = 4, .tenant_clients = 4, .handshake_ms = 5000 };
	uint8_t addr[GUARD_ADDR] = { 127, 0, 0, 1 };
	struct client *c;
	int sv[2];

	if (size < 1)
		return 0;
	memcpy(n.tenants[0].bytes, SECRET, strlen(SECRET));
	n.tenants[0].len = strlen(SECRET);
	n.ntenants = 1;
	n.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (n.epfd < 0 || node_memory_init(&n.mem, 1 << 20, false) < 0 ||
	    node_guard_init(&n.guard, 8, 8) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	c = node_add_client(&n, sv[0], addr, "fuzzer");
	if (!c)
		abort();
	if (data[0] & 1)
		shake_hands(&n, c, sv[1]);
	/* The rest, in pieces the size of the second byte (a frame may straddle them). */
	size_t piece = size > 1 ? data[1] % 200 + 1 : 1;

	for (size_t at = 2; at < size; at += piece) {
		size_t len = size - at < piece ? size - at : piece;

		send(sv[1], data + at, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		pump(&n, c, sv[1], NULL, NULL);
	}
	close(sv[1]);
	pump(&n, c, -1, NULL, NULL);
	node_tick(&n);
	node_drop_all(&n);
	node_bury_dead(&n);
	node_memory_free(&n.mem);
	node_guard_free(&n.guard);
	close(n.epfd);
	return 0;
}
