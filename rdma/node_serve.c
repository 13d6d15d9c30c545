/* node_serve.c — the memory node's clients (node_serve.h). */
#include "node_serve.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "node_rdma.h"
#include "proto.h"

#define IN_CAP    (256 * 1024) /* many frames per recv; at least one whole frame */
#define OUT_CAP   (64 * 1024)
#define REPLY_MAX (sizeof(struct proto_reply) + PROTO_SLOT_SIZE)

/* HELLO: waiting for the hello; HELD: its answer waits out its address's penalty;
 * CHALLENGED: waiting for the request; SERVING: authenticated, attached to a region. */
enum client_state { HELLO, HELD, CHALLENGED, SERVING };

struct client {
	struct client *prev, *next; /* every connection, oldest first */
	struct client *next_dead;
	int fd;
	enum client_state state;
	unsigned tenant;
	struct node_region *region;
	uint64_t accepted_ns;
	uint8_t addr[GUARD_ADDR];
	bool reading; /* EPOLLIN armed */
	bool dead;    /* dropped; freed after the current batch of events */
	bool ticket_valid;
	uint8_t ticket[PROTO_TICKET_LEN]; /* for one RDMA connection to c->region */
	/* The handshake: what both sides sent (the hello, then the challenge's nonce and key),
	 * the Diffie-Hellman result, and then the session key of the tenant the client proved. */
	struct proto_transcript transcript;
	uint8_t shared[AUTH_KEY];
	uint8_t session[AUTH_KEY];
	bool proven; /* the request proved tenant c->tenant's secret: welcomes carry proofs */
	struct proto_request req;
	uint8_t hs[sizeof(struct proto_request)]; /* the bytes of the hello or request so far */
	size_t hslen;
	char peer[64];
	/* SERVING only (allocated then): frames in, replies out. */
	uint8_t *in, *out;
	size_t inlen, outlen, outoff;
};

_Static_assert(SECRET_MAX == PROTO_SECRET_MAX, "one secret length everywhere");

static void unlink_client(struct node *n, struct client *c)
{
	*(c->prev ? &c->prev->next : &n->first) = c->next;
	*(c->next ? &c->next->prev : &n->last) = c->prev;
	c->prev = c->next = NULL;
}

static void drop_client(struct node *n, struct client *c, const char *why)
{
	if (c->dead)
		return;
	if (why)
		log_msg("%s: disconnected: %s", c->peer, why);
	if (c->region)
		node_region_close(c->region, monotonic_ns() / 1000000000u);
	if (c->state == SERVING) {
		n->nserving--;
		n->serving[c->tenant]--;
	} else {
		node_guard_leave(&n->guard, c->addr);
	}
	epoll_ctl(n->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	unlink_client(n, c);
	auth_wipe(c->shared, sizeof(c->shared));
	auth_wipe(c->session, sizeof(c->session));
	/* Another event of this batch may still name it. */
	c->dead = true;
	c->region = NULL;
	c->next_dead = n->dead;
	n->dead = c;
}

void node_bury_dead(struct node *n)
{
	while (n->dead) {
		struct client *c = n->dead;

		n->dead = c->next_dead;
		free(c->in);
		free(c->out);
		free(c);
	}
}

static void arm(struct node *n, struct client *c)
{
	struct epoll_event ev = { .data.ptr = c };

	if (c->state == HELD)
		c->reading = false;
	else if (c->state != SERVING)
		c->reading = true;
	else
		c->reading = c->outlen - c->outoff + REPLY_MAX <= OUT_CAP || c->outlen == c->outoff;
	ev.events = (c->reading ? EPOLLIN : 0) | (c->outlen > c->outoff ? EPOLLOUT : 0);
	epoll_ctl(n->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Frees region r and disconnects everyone attached to it (except `keep`). */
static void free_region(struct node *n, struct node_region *r, struct client *keep, const char *why)
{
	for (struct client *c = n->first, *next; c; c = next) {
		next = c->next;
		if (c != keep && c->region == r)
			drop_client(n, c, why);
	}
	if (keep && keep->region == r)
		keep->region = NULL;
	if (n->rdma)
		node_rdma_forget_region(n->rdma, r);
	node_region_release(&n->mem, r);
}

void node_operator_free(void *ctx, struct node_region *r)
{
	log_msg("region %llu freed by the operator", (unsigned long long)r->serial);
	free_region(ctx, r, NULL, "its region was freed by the node's operator");
}

/* Queues a reply (and its data) in the client's out buffer; the caller made room. */
static void reply(struct client *c, uint64_t tag, unsigned status, const void *data, uint32_t len)
{
	struct proto_reply r = { .tag = tag, .status = (uint16_t)status, .len = len };

	if (c->outoff > 0 && c->outlen == c->outoff)
		c->outlen = c->outoff = 0;
	if (c->outlen + sizeof(r) + len > OUT_CAP) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	memcpy(c->out + c->outlen, &r, sizeof(r));
	if (len)
		memcpy(c->out + c->outlen + sizeof(r), data, len);
	c->outlen += sizeof(r) + len;
}

/* A handshake message on a fresh socket: its buffer is empty, so it goes at once or never. */
static bool send_small(struct client *c, const void *msg, size_t len)
{
	return send(c->fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len;
}

/* Refuses the handshake with `status` (in a challenge or a welcome, whichever comes next) and
 * returns false: the caller drops the client. Failed authentications slow its address down. */
static bool refuse(struct node *n, struct client *c, unsigned status, const char *why)
{
	if (c->state == HELLO || c->state == HELD) {
		struct proto_challenge ch = { .magic = PROTO_MAGIC,
					      .version = PROTO_VERSION,
					      .status = (uint16_t)status };

		send_small(c, &ch, sizeof(ch));
	} else {
		struct proto_welcome w = { .magic = PROTO_MAGIC,
					   .version = PROTO_VERSION,
					   .status = (uint16_t)status };

		/* Only a client that proved a tenant's secret learns anything of the node. */
		if (c->proven) {
			w.free = node_memory_unused(&n->mem);
			proto_welcome_proof(c->session, &c->req, &w, w.proof);
		}
		send_small(c, &w, sizeof(w));
	}
	if (status == PROTO_EAUTH) {
		n->auth_failures++;
		node_guard_failed(&n->guard, c->addr, monotonic_ns());
	}
	n->rejected++;
	log_msg("%s: refused: %s", c->peer, why);
	return false;
}

/* The challenge: the node's nonce and key; the Diffie-Hellman result is kept for the request. */
static bool challenge(struct node *n, struct client *c)
{
	struct proto_challenge ch = { .magic = PROTO_MAGIC, .version = PROTO_VERSION };
	struct auth_ephemeral e;
	int ret;

	if (auth_random(ch.nonce, AUTH_NONCE) < 0 || auth_ephemeral_new(&e) < 0)
		return refuse(n, c, PROTO_EBUSY, "cannot make a handshake key");
	memcpy(ch.pub, e.pub, AUTH_PUB);
	memcpy(c->transcript.nonce, ch.nonce, AUTH_NONCE);
	memcpy(c->transcript.pub, ch.pub, AUTH_PUB);
	ret = auth_shared(&e, c->transcript.hello.pub, c->shared);
	auth_ephemeral_free(&e);
	if (ret < 0)
		return refuse(n, c, PROTO_EINVAL, "unusable handshake key");
	c->state = CHALLENGED;
	c->hslen = 0;
	if (!send_small(c, &ch, sizeof(ch))) {
		log_msg("%s: disconnected during the handshake", c->peer);
		return false;
	}
	return true;
}

static bool on_hello(struct node *n, struct client *c)
{
	uint64_t now = monotonic_ns();

	memcpy(&c->transcript.hello, c->hs, sizeof(c->transcript.hello));
	c->hslen = 0;
	if (c->transcript.hello.magic != PROTO_MAGIC ||
	    c->transcript.hello.version != PROTO_VERSION)
		return refuse(n, c, PROTO_EVERSION, "protocol version mismatch");
	/* An address that failed lately is answered in turn, by the tick, oldest first. */
	if (node_guard_penalized(&n->guard, c->addr, now)) {
		c->state = HELD;
		return true;
	}
	return challenge(n, c);
}

/* Whether some tenant's secret makes c->req's proof: then c->tenant is that tenant and
 * c->session its session key. Every tenant is tried, whichever matches. */
static bool find_tenant(struct node *n, struct client *c)
{
	struct proto_request want = c->req;
	uint8_t session[AUTH_KEY];

	for (unsigned i = 0; i < n->ntenants; i++) {
		auth_session(n->tenants[i].bytes, n->tenants[i].len, c->shared, &c->transcript,
			     sizeof(c->transcript), session);
		proto_request_prove(session, &want);
		if (auth_equal(want.proof, c->req.proof, AUTH_KEY) && !c->proven) {
			c->proven = true;
			c->tenant = i;
			memcpy(c->session, session, AUTH_KEY);
		}
	}
	auth_wipe(session, sizeof(session));
	auth_wipe(c->shared, sizeof(c->shared));
	return c->proven;
}

/* ATTACH: the request signs the session with the region's key. */
static bool attach_ok(const uint8_t pub[AUTH_PUB], void *ctx)
{
	const struct client *c = ctx;

	return auth_region_verify(pub, AUTH_ATTACH, c->session, c->req.region_proof);
}

/* The request: the client's proof, then what it asks. Returns false to drop the client. */
static bool on_request(struct node *n, struct client *c)
{
	struct proto_request *req = &c->req;
	struct proto_welcome w = { .magic = PROTO_MAGIC, .version = PROTO_VERSION };
	uint8_t mac[AUTH_KEY];
	uint32_t how = 0;
	unsigned status;

	memcpy(req, c->hs, sizeof(*req));
	if (!find_tenant(n, c))
		return refuse(n, c, PROTO_EAUTH, "wrong secret");
	if (req->flags == PROTO_PROBE && req->bytes == 0) {
		w.free = node_memory_unused(&n->mem);
		proto_welcome_proof(c->session, req, &w, w.proof);
		send_small(c, &w, sizeof(w));
		log_msg("%s: probed (%llu KiB free)", c->peer, (unsigned long long)(w.free >> 10));
		return false;
	}
	how = req->flags & (PROTO_CREATE | PROTO_ATTACH);
	if ((req->flags & ~7u) || (how != PROTO_CREATE && how != PROTO_ATTACH) || req->bytes == 0 ||
	    req->bytes % PROTO_PAGE_SIZE)
		return refuse(n, c, PROTO_EINVAL, "malformed request");
	if ((req->flags & PROTO_TICKET) && !n->rdma)
		return refuse(n, c, PROTO_EINVAL, "RDMA asked of a node that serves TCP only");
	if (n->nserving >= n->max_clients)
		return refuse(n, c, PROTO_ETOOMANY, "too many clients");
	if (n->serving[c->tenant] >= n->tenant_clients)
		return refuse(n, c, PROTO_ETOOMANY, "too many clients of this tenant");
	c->in = malloc(IN_CAP);
	c->out = malloc(OUT_CAP);
	if (!c->in || !c->out)
		return refuse(n, c, PROTO_EBUSY, "out of memory");
	/* CREATE: the region's public key is the first AUTH_PUB bytes of the proof field. */
	status = node_region_open(&n->mem, c->tenant, req->region, req->region_proof, req->bytes,
				  how, attach_ok, c, &c->region);
	if (status != PROTO_OK) {
		c->region = NULL;
		return refuse(n, c, status,
			      status == PROTO_EAUTH ? "not the region's key"
						    : proto_status_name(status));
	}
	if (req->flags & PROTO_TICKET) {
		if (auth_random(c->ticket, sizeof(c->ticket)) == 0)
			c->ticket_valid = true;
		auth_mac(c->session, AUTH_TICKET_WRAP, NULL, 0, mac);
		for (unsigned i = 0; i < PROTO_TICKET_LEN; i++)
			w.ticket[i] = c->ticket[i] ^ mac[i];
	}
	w.bytes = req->bytes;
	w.free = node_memory_unused(&n->mem);
	proto_welcome_proof(c->session, req, &w, w.proof);
	node_guard_leave(&n->guard, c->addr);
	c->state = SERVING;
	n->nserving++;
	n->serving[c->tenant]++;
	log_msg("%s: tenant %u %s region %llu of %llu KiB (%llu KiB left)", c->peer, c->tenant + 1,
		how == PROTO_CREATE ? "created" : "attached to",
		(unsigned long long)c->region->serial, (unsigned long long)(req->bytes >> 10),
		(unsigned long long)(w.free >> 10));
	memcpy(c->out, &w, sizeof(w));
	c->outlen = sizeof(w);
	return true;
}

/* Reads what the handshake needs next, no more. Returns false to drop the client. */
static bool shake_hands(struct node *n, struct client *c)
{
	size_t want = c->state == HELLO ? sizeof(struct proto_hello) : sizeof(struct proto_request);
	ssize_t got = recv(c->fd, c->hs + c->hslen, want - c->hslen, MSG_DONTWAIT);

	if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
		return false;
	if (got > 0)
		c->hslen += (size_t)got;
	if (c->hslen < want)
		return true;
	return c->state == HELLO ? on_hello(n, c) : on_request(n, c);
}

/* RELEASE: the proof of the region's key, then everyone else on the region goes. Either way
 * the connection then ends. */
static void on_release(struct node *n, struct client *c, const struct proto_req *r,
		       const uint8_t *proof)
{
	if (!auth_region_verify(c->region->pub, AUTH_RELEASE, c->session, proof)) {
		n->auth_failures++;
		node_guard_failed(&n->guard, c->addr, monotonic_ns());
		reply(c, r->tag, PROTO_EAUTH, NULL, 0);
		log_msg("%s: refused a release: not the region's key", c->peer);
		return;
	}
	log_msg("%s: released region %llu", c->peer, (unsigned long long)c->region->serial);
	free_region(n, c->region, c, "its region was released");
	reply(c, r->tag, PROTO_OK, NULL, 0);
}

/* Handles complete frames in c->in. Returns false to drop the client; *why says why. */
static bool handle_frames(struct node *n, struct client *c, bool *released, const char **why)
{
	size_t used = 0;

	while (c->outlen - c->outoff + REPLY_MAX <= OUT_CAP || c->outlen == c->outoff) {
		const uint8_t *p = c->in + used;
		size_t have = c->inlen - used;

		if (have < sizeof(struct proto_req))
			break;
		struct proto_req r;

		memcpy(&r, p, sizeof(r));
		if (r.op == PROTO_RELEASE) {
			if (r.len != AUTH_SIG || r.page != 0) {
				*why = "malformed release";
				return false;
			}
			if (have < sizeof(r) + AUTH_SIG)
				break;
			used += sizeof(r) + AUTH_SIG;
			*released = true;
			on_release(n, c, &r, p + sizeof(r));
			break;
		}
		if ((r.op != PROTO_PUT && r.op != PROTO_GET) || r.len == 0 ||
		    r.len > PROTO_SLOT_SIZE) {
			*why = "malformed request";
			return false;
		}
		size_t frame = sizeof(r) + (r.op == PROTO_PUT ? r.len : 0);

		if (have < frame)
			break;
		used += frame;
		if (r.page >= c->region->bytes / PROTO_PAGE_SIZE) {
			n->rejected++;
			reply(c, r.tag, PROTO_ERANGE, NULL, 0);
			continue;
		}
		uint8_t *slot = n->mem.base + c->region->offset + r.page * PROTO_SLOT_SIZE;

		if (r.op == PROTO_PUT) {
			memcpy(slot, p + sizeof(r), r.len);
			n->served_puts++;
			reply(c, r.tag, PROTO_OK, NULL, 0);
		} else {
			n->served_gets++;
			reply(c, r.tag, PROTO_OK, slot, r.len);
		}
	}
	memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	return true;
}

static bool flush_out(struct client *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (w <= 0)
			return false;
		c->outoff += (size_t)w;
	}
	c->outoff = c->outlen = 0;
	return true;
}

void node_serve(struct node *n, struct client *c, uint32_t events)
{
	bool released = false;
	const char *why = "connection closed";

	if (c->dead)
		return;
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
		drop_client(n, c, NULL);
		return;
	}
	if (c->state != SERVING) {
		if ((events & EPOLLIN) && !shake_hands(n, c)) {
			drop_client(n, c, NULL);
			return;
		}
		if (c->state != SERVING) {
			arm(n, c);
			return;
		}
		/* The welcome waits in c->out. */
	} else if (events & EPOLLIN) {
		ssize_t got = recv(c->fd, c->in + c->inlen, IN_CAP - c->inlen, MSG_DONTWAIT);

		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
			drop_client(n, c, NULL);
			return;
		}
		if (got > 0)
			c->inlen += (size_t)got;
		if (!handle_frames(n, c, &released, &why)) {
			drop_client(n, c, why);
			return;
		}
	}
	if (!flush_out(c)) {
		drop_client(n, c, "send failed");
		return;
	}
	/* Frames left waiting for room in the out buffer get their turn now. */
	if (c->inlen > 0 && !released && c->outlen == 0 && !handle_frames(n, c, &released, &why)) {
		drop_client(n, c, why);
		return;
	}
	if (released) {
		flush_out(c);
		drop_client(n, c, NULL);
		return;
	}
	arm(n, c);
}

/* The oldest pending connection from addr goes, to make room for a newer one. */
static bool evict_oldest(struct node *n, const uint8_t addr[GUARD_ADDR])
{
	for (struct client *c = n->first; c; c = c->next)
		if (c->state != SERVING && !memcmp(c->addr, addr, GUARD_ADDR)) {
			n->evicted++;
			drop_client(n, c, "pushed out by newer connections before its handshake");
			return true;
		}
	return false;
}

static void address_of(const struct sockaddr_storage *sa, uint8_t addr[GUARD_ADDR])
{
	memset(addr, 0, GUARD_ADDR);
	if (sa->ss_family == AF_INET)
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->ss_family == AF_INET6)
		memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, GUARD_ADDR);
}

struct client *node_add_client(struct node *n, int fd, const uint8_t addr[GUARD_ADDR],
			       const char *peer)
{
	struct client *c = calloc(1, sizeof(*c));
	uint8_t victim[GUARD_ADDR];

	if (!c || !node_guard_accept(&n->guard, addr, monotonic_ns())) {
		free(c);
		close(fd);
		return NULL;
	}
	memcpy(c->addr, addr, GUARD_ADDR);
	c->fd = fd;
	c->accepted_ns = monotonic_ns();
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->prev = n->last;
	*(n->last ? &n->last->next : &n->first) = c;
	n->last = c;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev);
	c->reading = true;
	while (node_guard_victim(&n->guard, c->addr, victim) && evict_oldest(n, victim))
		;
	return c->dead ? NULL : c;
}

void node_accept(struct node *n)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		int fd = accept4(n->listen_fd, (struct sockaddr *)&sa, &salen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		char host[48] = "?", port[8] = "?", peer[64];
		uint8_t addr[GUARD_ADDR];

		if (fd < 0)
			return;
		address_of(&sa, addr);
		getnameinfo((struct sockaddr *)&sa, salen, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(peer, sizeof(peer), "%s:%s", host, port);
		/* Replies are small and each one is awaited: never hold them back (Nagle). */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		node_add_client(n, fd, addr, peer);
	}
}

void node_drop_all(struct node *n)
{
	while (n->first)
		drop_client(n, n->first, NULL);
}

/* Every tick: handshakes past their deadline go, held ones whose wait is over are answered,
 * and regions past their lease are freed. */
void node_tick(struct node *n)
{
	uint64_t now = monotonic_ns();

	for (struct client *c = n->first, *next; c; c = next) {
		next = c->next;
		if (c->state == SERVING)
			continue;
		if (now - c->accepted_ns >= (uint64_t)n->handshake_ms * 1000000) {
			drop_client(n, c, "no handshake in time");
		} else if (c->state == HELD &&
			   node_guard_answer_at(&n->guard, c->addr, now) <= now) {
			node_guard_answered(&n->guard, c->addr, now);
			if (challenge(n, c))
				arm(n, c);
			else
				drop_client(n, c, NULL);
		}
	}
	if (n->lease_s) {
		struct node_region *r;

		while ((r = node_region_expired(&n->mem, n->lease_s, now / 1000000000u))) {
			log_msg("region %llu freed: no client for %llu s (--lease)",
				(unsigned long long)r->serial, (unsigned long long)n->lease_s);
			n->expired++;
			free_region(n, r, NULL, NULL);
		}
	}
}

/* An RDMA connection presents the ticket a TCP client was given: its region, once. */
struct node_region *node_spend_ticket(void *ctx, const uint8_t *ticket)
{
	struct node *n = ctx;

	for (struct client *c = n->first; c; c = c->next)
		if (c->ticket_valid && c->region &&
		    auth_equal(c->ticket, ticket, PROTO_TICKET_LEN)) {
			c->ticket_valid = false;
			return c->region;
		}
	return NULL;
}

void node_print_status(const struct node *n)
{
	fprintf(stderr,
		"{\"bytes\": %llu, \"unused\": %llu, \"hugepages\": %s, \"regions\": %u, "
		"\"tenants\": %u, \"clients\": %u, \"pending\": %u, \"rdma_connections\": %u, "
		"\"puts\": %llu, \"gets\": %llu, \"rejected\": %llu, \"auth_failures\": %llu, "
		"\"evicted\": %llu, \"expired\": %llu}\n",
		(unsigned long long)n->mem.bytes, (unsigned long long)node_memory_unused(&n->mem),
		n->mem.hugepages ? "true" : "false", n->mem.nregions, n->ntenants, n->nserving,
		n->guard.pending, n->rdma ? node_rdma_connections(n->rdma) : 0,
		(unsigned long long)n->served_puts, (unsigned long long)n->served_gets,
		(unsigned long long)n->rejected, (unsigned long long)n->auth_failures,
		(unsigned long long)n->evicted, (unsigned long long)n->expired);
}
