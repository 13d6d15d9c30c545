/* raw_client.h — the client side of the memory node's handshake, spelled out step by step, so
 * that tests can send what a real client never would: a replayed request, a half hello, a
 * wrong proof, junk after a good handshake. Header-only; for tests against a real memnode. */
#ifndef LINESWAP_TEST_RAW_CLIENT_H
#define LINESWAP_TEST_RAW_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "proto.h"

struct raw_client {
	int fd;
	struct proto_transcript transcript;
	struct proto_challenge ch;
	struct proto_request req;
	struct proto_welcome w;
	uint8_t session[AUTH_KEY];
	bool node_proven; /* the welcome's proof checked out */
};

/* A TCP connection to host:port from address `from` (NULL: any) with a receive timeout of 5 s;
 * -1 if it fails. */
static inline int raw_connect_from(const char *host, int port, const char *from)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, host, &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (from && (inet_pton(AF_INET, from, &src.sin_addr) != 1 ||
		     bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)) {
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static inline int raw_connect(const char *host, int port)
{
	return raw_connect_from(host, port, NULL);
}

/* Sends a hello (a fresh nonce and key; or `replay`'s hello bytes) and reads the challenge.
 * Returns its status, or -1 when the node hung up first. With an OK challenge (and no
 * replay), c->session is the session key of `secret`. */
static inline int raw_hello(struct raw_client *c, const char *secret,
			    const struct proto_hello *replay)
{
	struct auth_ephemeral e = { 0 };

	memset(&c->transcript, 0, sizeof(c->transcript));
	if (replay) {
		c->transcript.hello = *replay;
	} else {
		c->transcript.hello.magic = PROTO_MAGIC;
		c->transcript.hello.version = PROTO_VERSION;
		auth_random(c->transcript.hello.nonce, AUTH_NONCE);
		auth_ephemeral_new(&e);
		memcpy(c->transcript.hello.pub, e.pub, AUTH_PUB);
	}
	if (send(c->fd, &c->transcript.hello, sizeof(c->transcript.hello), MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(c->transcript.hello) ||
	    recv(c->fd, &c->ch, sizeof(c->ch), MSG_WAITALL) < 8) {
		auth_ephemeral_free(&e);
		return -1;
	}
	if (c->ch.status == PROTO_OK && e.key) {
		uint8_t shared[AUTH_KEY];

		memcpy(c->transcript.nonce, c->ch.nonce, AUTH_NONCE);
		memcpy(c->transcript.pub, c->ch.pub, AUTH_PUB);
		auth_shared(&e, c->ch.pub, shared);
		auth_session((const uint8_t *)secret, strlen(secret), shared, &c->transcript,
			     sizeof(c->transcript), c->session);
	}
	auth_ephemeral_free(&e);
	return c->ch.status;
}

/* Fills c->req for `flags` on region `id` (PROTO_REGION_ID bytes) of `bytes`, with the region
 * key of `device_key`, proven with c->session. */
static inline void raw_request_fill_id(struct raw_client *c, uint32_t flags, uint64_t bytes,
				       const uint8_t *id, const uint8_t device_key[AUTH_KEY])
{
	memset(&c->req, 0, sizeof(c->req));
	c->req.flags = flags;
	c->req.bytes = bytes;
	if (flags != PROTO_PROBE) {
		memcpy(c->req.region, id, PROTO_REGION_ID);
		if (flags & PROTO_CREATE)
			auth_region_public(device_key, id, PROTO_REGION_ID, c->req.region_proof);
		else
			auth_region_sign(device_key, id, PROTO_REGION_ID, AUTH_ATTACH, c->session,
					 c->req.region_proof);
	}
	proto_request_prove(c->session, &c->req);
}

/* The same for a region named by a short string (zero-padded). */
static inline void raw_request_fill(struct raw_client *c, uint32_t flags, uint64_t bytes,
				    const char *name, const uint8_t device_key[AUTH_KEY])
{
	uint8_t id[PROTO_REGION_ID] = { 0 };

	memcpy(id, name, strnlen(name, PROTO_REGION_ID));
	raw_request_fill_id(c, flags, bytes, id, device_key);
}

/* Sends c->req and reads the welcome: its status, or -1 when the node hung up first;
 * c->node_proven says whether the welcome proves the session key. */
static inline int raw_request_send(struct raw_client *c)
{
	uint8_t proof[AUTH_KEY];

	if (send(c->fd, &c->req, sizeof(c->req), MSG_NOSIGNAL) != (ssize_t)sizeof(c->req) ||
	    recv(c->fd, &c->w, sizeof(c->w), MSG_WAITALL) != (ssize_t)sizeof(c->w))
		return -1;
	proto_welcome_proof(c->session, &c->req, &c->w, proof);
	c->node_proven = auth_equal(proof, c->w.proof, AUTH_KEY);
	return c->w.status;
}

/* A whole handshake: connect, hello, request for region `id`. Returns the welcome's status
 * (-1: hung up); the connection stays open in c->fd (-1 if it could not connect). */
static inline int raw_open_id(struct raw_client *c, const char *host, int port, const char *secret,
			      uint32_t flags, uint64_t bytes, const uint8_t *id,
			      const uint8_t device_key[AUTH_KEY])
{
	int st;

	c->fd = raw_connect(host, port);
	if (c->fd < 0)
		return -1;
	st = raw_hello(c, secret, NULL);
	if (st != PROTO_OK)
		return st;
	raw_request_fill_id(c, flags, bytes, id, device_key);
	return raw_request_send(c);
}

/* The same for a region named by a short string. */
static inline int raw_open(struct raw_client *c, const char *host, int port, const char *secret,
			   uint32_t flags, uint64_t bytes, const char *name,
			   const uint8_t device_key[AUTH_KEY])
{
	uint8_t id[PROTO_REGION_ID] = { 0 };

	memcpy(id, name, strnlen(name, PROTO_REGION_ID));
	return raw_open_id(c, host, port, secret, flags, bytes, id, device_key);
}

/* One GET (PUT) of `len` bytes of slot `page` on an open connection, into (from) buf. Returns
 * the reply's status, or -1. */
static inline int raw_get(struct raw_client *c, uint64_t page, uint32_t len, uint8_t *buf)
{
	struct proto_req r = { .op = PROTO_GET, .len = len, .page = page };
	struct proto_reply rep;

	if (send(c->fd, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r) ||
	    recv(c->fd, &rep, sizeof(rep), MSG_WAITALL) != (ssize_t)sizeof(rep) ||
	    (rep.len && recv(c->fd, buf, rep.len, MSG_WAITALL) != (ssize_t)rep.len))
		return -1;
	return rep.status;
}

static inline int raw_put(struct raw_client *c, uint64_t page, uint32_t len, const uint8_t *buf)
{
	struct proto_req r = { .op = PROTO_PUT, .len = len, .page = page };
	struct proto_reply rep;

	/* One send for the frame: two would wait for an ACK between them (Nagle). */
	if (send(c->fd, &r, sizeof(r), MSG_NOSIGNAL | MSG_MORE) != (ssize_t)sizeof(r) ||
	    send(c->fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len ||
	    recv(c->fd, &rep, sizeof(rep), MSG_WAITALL) != (ssize_t)sizeof(rep))
		return -1;
	return rep.status;
}

/* RELEASE on an open connection, signed with `device_key`'s key of region `name`. Returns the
 * reply's status, or -1. */
static inline int raw_release(struct raw_client *c, const char *name,
			      const uint8_t device_key[AUTH_KEY])
{
	struct {
		struct proto_req req;
		uint8_t proof[AUTH_SIG];
	} __attribute__((packed)) msg = { .req = { .op = PROTO_RELEASE, .len = AUTH_SIG } };
	uint8_t region[PROTO_REGION_ID] = { 0 };
	struct proto_reply r;

	memcpy(region, name, strnlen(name, PROTO_REGION_ID));
	auth_region_sign(device_key, region, PROTO_REGION_ID, AUTH_RELEASE, c->session, msg.proof);
	if (send(c->fd, &msg, sizeof(msg), MSG_NOSIGNAL) != (ssize_t)sizeof(msg) ||
	    recv(c->fd, &r, sizeof(r), MSG_WAITALL) != (ssize_t)sizeof(r))
		return -1;
	return r.status;
}

#endif
