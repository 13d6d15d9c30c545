/* memnode — the memory node: serves its memory to lineswap clients as regions.
 *
 * One thread, one epoll loop over TCP clients. A connection first shakes hands (proto.h,
 * auth.h): until it has proven a tenant's secret it is pending, holds a few hundred bytes, has
 * a deadline, and is subject to the limits of node_guard.h; only then does it count against
 * --max-clients and get its buffers. Every frame a client sends is checked before it touches
 * memory; a client that breaks the protocol (bad magic, unknown op, impossible length) is
 * logged and disconnected, and the others go on. A request for a page outside the client's
 * region is answered with an error and does not end the connection. A client that does not
 * read its replies stops being read (its replies wait in a bounded buffer), so it cannot make
 * the node buffer without limit. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "io_thread.h"
#include "log.h"
#include "node_control.h"
#include "node_guard.h"
#include "node_rdma.h"
#include "node_region.h"
#include "parse.h"
#include "proto.h"
#include "secret.h"

#define MAX_CLIENTS_DEFAULT  64
#define MAX_PENDING_DEFAULT  64
#define MAX_PER_ADDR_DEFAULT 16
#define HANDSHAKE_MS_DEFAULT 5000
#define MAX_TENANTS          64
#define TICK_MS              20           /* how often pending handshakes are looked at */
#define IN_CAP               (256 * 1024) /* many frames per recv; at least one whole frame */
#define OUT_CAP              (64 * 1024)
#define REPLY_MAX            (sizeof(struct proto_reply) + PROTO_SLOT_SIZE)

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
	struct {
		struct proto_hello hello;
		uint8_t nonce[AUTH_NONCE];
		uint8_t pub[AUTH_PUB];
	} __attribute__((packed)) transcript;
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

struct node {
	struct node_memory mem;
	struct secret tenants[MAX_TENANTS];
	unsigned ntenants;
	int epfd, listen_fd, sig_fd, control_fd;
	struct client *first, *last;
	struct client *dead; /* dropped during this batch of events */
	struct node_guard guard;
	unsigned max_clients, nserving;
	unsigned tenant_clients;       /* authenticated connections one tenant may hold */
	unsigned serving[MAX_TENANTS]; /* of each tenant now */
	uint32_t handshake_ms;
	uint64_t lease_s;
	uint64_t served_puts, served_gets, rejected, auth_failures, evicted, expired;
	struct node_rdma *rdma; /* with --rdma */
	int rdma_fd;
};

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

static const char usage_text[] =
	"Usage: memnode --size SIZE [--listen tcp://ADDR:PORT] [--secret-file FILE] [OPTIONS]\n"
	"       memnode regions --control PATH [--json]\n"
	"       memnode free-region --control PATH SERIAL\n"
	"\n"
	"Serves SIZE bytes of this machine's memory to lineswap clients (ublk-ctl add -t remote)\n"
	"as regions, one per device and node, over TCP (and RDMA with --rdma). A region keeps its\n"
	"pages while its clients reconnect or recover, until the client releases it (ublk-ctl\n"
	"del), the operator frees it, or its lease runs out. Hugepages are used when the kernel\n"
	"has enough reserved (vm.nr_hugepages) and SIZE is a multiple of 2 MiB.\n"
	"\n"
	"Trust: clients and node prove to each other that they know a shared secret without\n"
	"sending it (an HMAC challenge-response over fresh nonces and X25519 keys). Each line of\n"
	"--secret-file is one tenant's secret (1-64 bytes; 32 random bytes are best); without\n"
	"it, the environment variable LINESWAP_SECRET is the only one. A tenant sees only its own\n"
	"regions, and attaching to or releasing a region needs proof of that device's own key,\n"
	"which the node never learns. Pages are encrypted by the client before they leave it.\n"
	"\n"
	"Options:\n"
	"  -s, --size SIZE        memory to serve: bytes or with K, M, G, T (binary); required\n"
	"  -l, --listen URL       where to listen (default tcp://127.0.0.1:7370; port 0 picks a\n"
	"                         free one, printed at start-up)\n"
	"      --secret-file F    the tenants' secrets, one per line (at most 64)\n"
	"      --rdma             also accept RDMA (rdma_cm) connections on the same address and\n"
	"                         port; clients then move pages with one-sided RDMA WRITE and\n"
	"                         READ (ublk-ctl add -t remote --node rdma://ADDR:PORT); each\n"
	"                         region is registered in a protection domain of its own\n"
	"      --max-clients N    authenticated connections at once (1-1024, default 64)\n"
	"      --max-pending N    connections still shaking hands (1-1024, default 64); over\n"
	"                         it, a new connection pushes out the oldest such one\n"
	"      --max-pending-per-addr N\n"
	"                         of those, from one address (1-1024, default 16)\n"
	"      --handshake-timeout MS\n"
	"                         a connection not authenticated by then is dropped (100-60000,\n"
	"                         default 5000). After a failed authentication, the next\n"
	"                         handshake from that address waits 50 ms, doubling with each\n"
	"                         failure up to 1 s, until a minute passes without one\n"
	"      --lease SECONDS    free a region no client has been attached to for this long\n"
	"                         (default 0: never)\n"
	"      --tenant-quota SIZE\n"
	"                         memory one tenant's regions may hold (default: all of it)\n"
	"      --tenant-regions N regions one tenant may hold (default 1024)\n"
	"      --tenant-clients N authenticated connections one tenant may hold (1-1024,\n"
	"                         default: --max-clients)\n"
	"      --control PATH     listen for `memnode regions` and `memnode free-region` on a\n"
	"                         Unix socket at PATH (mode 0600; the node's uid or root only)\n"
	"      --lock             allocate and lock all SIZE bytes at start, lock the rest of the\n"
	"                         process, and serve as an I/O flusher at realtime priority\n"
	"                         (SCHED_FIFO 1): nothing is ever swapped out, and replies take\n"
	"                         the kernel's reserve rather than wait for this machine's\n"
	"                         reclaim (a node that has swap, or shares its machine with a\n"
	"                         lineswap device)\n"
	"      --json             print the start-up line as JSON\n"
	"  -h, --help             this text\n"
	"\n"
	"Commands (to a running node, through its --control socket):\n"
	"  regions                list the regions: serial, tenant (its line in the secret file),\n"
	"                         name, size, attached connections, seconds idle\n"
	"  free-region SERIAL     free a region now: its clients are disconnected, its pages gone\n"
	"\n"
	"Signals: SIGTERM or SIGINT end it cleanly (all regions are lost); SIGUSR1 prints a JSON\n"
	"status line (memory, regions, clients, request counts) to stderr.\n"
	"Exit status: 0 after a clean shutdown, 1 on a start-up failure (or a refused command),\n"
	"2 for bad arguments.\n";

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

static void bury_dead(struct node *n)
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

static void operator_free(void *ctx, struct node_region *r)
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

static void serve_client(struct node *n, struct client *c, uint32_t events)
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

static void accept_clients(struct node *n)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		int fd = accept4(n->listen_fd, (struct sockaddr *)&sa, &salen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		char host[48] = "?", port[8] = "?";
		uint8_t victim[GUARD_ADDR];

		if (fd < 0)
			return;
		struct client *c = calloc(1, sizeof(*c));

		if (c)
			address_of(&sa, c->addr);
		if (!c || !node_guard_accept(&n->guard, c->addr, monotonic_ns())) {
			free(c);
			close(fd);
			continue;
		}
		getnameinfo((struct sockaddr *)&sa, salen, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		c->fd = fd;
		c->accepted_ns = monotonic_ns();
		/* Replies are small and each one is awaited: never hold them back (Nagle). */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
		c->prev = n->last;
		*(n->last ? &n->last->next : &n->first) = c;
		n->last = c;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev);
		c->reading = true;
		while (node_guard_victim(&n->guard, c->addr, victim) && evict_oldest(n, victim))
			;
	}
}

/* Every tick: handshakes past their deadline go, held ones whose wait is over are answered,
 * and regions past their lease are freed. */
static void tick(struct node *n)
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
static struct node_region *spend_ticket(void *ctx, const uint8_t *ticket)
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

static void print_status(const struct node *n)
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

static int listen_on(const char *url, char *bound, size_t boundlen, struct sockaddr_storage *sa)
{
	char host[256], *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai;
	int fd, one = 1;

	if (strncmp(url, "tcp://", 6) || strlen(url + 6) >= sizeof(host))
		return -EINVAL;
	strcpy(host, url + 6);
	colon = strrchr(host, ':');
	if (!colon || !colon[1])
		return -EINVAL;
	*colon = '\0';
	if (host[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return err;
	}
	freeaddrinfo(ai);
	/* Port 0 picks a free port: report the one bound. */
	socklen_t salen = sizeof(*sa);
	char h[64] = "?", p[8] = "?";

	if (getsockname(fd, (struct sockaddr *)sa, &salen) == 0)
		getnameinfo((struct sockaddr *)sa, salen, h, sizeof(h), p, sizeof(p),
			    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(bound, boundlen, sa->ss_family == AF_INET6 ? "tcp://[%s]:%s" : "tcp://%s:%s", h,
		 p);
	return fd;
}

/* memnode regions|free-region: a request to a running node's control socket. */
static int run_command(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cmd = argv[1], *control = NULL;
	char request[64];
	uint64_t serial;
	int json = 0, c;

	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			control = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fprintf(stderr,
				"memnode %s: unknown or incomplete option '%s' (see --help)\n", cmd,
				argv[optind - 1]);
			return 2;
		}
	}
	if (!control) {
		fprintf(stderr, "memnode %s: no --control PATH (the node's --control socket)\n",
			cmd);
		return 2;
	}
	if (!strcmp(cmd, "regions")) {
		if (optind < argc) {
			fprintf(stderr, "memnode regions: unexpected argument '%s'\n",
				argv[optind]);
			return 2;
		}
		return node_control_run(control, "regions", json);
	}
	if (optind + 1 != argc || !parse_uint(argv[optind], 1, UINT64_MAX, &serial)) {
		fprintf(stderr,
			"memnode free-region: give one region SERIAL (see memnode regions)\n");
		return 2;
	}
	snprintf(request, sizeof(request), "free %llu", (unsigned long long)serial);
	c = node_control_run(control, request, json);
	if (c == 0)
		printf(json ? "{\"freed\": %llu}\n" : "region %llu freed\n",
		       (unsigned long long)serial);
	return c;
}

static int read_tenants(struct node *n, const char *file, char *err, size_t errlen)
{
	if (secret_read_all(file, n->tenants, MAX_TENANTS, &n->ntenants, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < n->ntenants; i++) {
		for (unsigned j = 0; j < i; j++)
			if (n->tenants[i].len == n->tenants[j].len &&
			    !memcmp(n->tenants[i].bytes, n->tenants[j].bytes, n->tenants[i].len)) {
				snprintf(err, errlen, "%s: lines %u and %u hold the same secret",
					 file, j + 1, i + 1);
				return -1;
			}
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_SECRET_FILE = 256,
		OPT_MAX_CLIENTS,
		OPT_MAX_PENDING,
		OPT_MAX_PER_ADDR,
		OPT_HANDSHAKE,
		OPT_LEASE,
		OPT_TENANT_QUOTA,
		OPT_TENANT_REGIONS,
		OPT_TENANT_CLIENTS,
		OPT_CONTROL,
		OPT_RDMA,
		OPT_LOCK,
		OPT_JSON,
	};
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
		{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
		{ "max-pending", required_argument, NULL, OPT_MAX_PENDING },
		{ "max-pending-per-addr", required_argument, NULL, OPT_MAX_PER_ADDR },
		{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE },
		{ "lease", required_argument, NULL, OPT_LEASE },
		{ "tenant-quota", required_argument, NULL, OPT_TENANT_QUOTA },
		{ "tenant-regions", required_argument, NULL, OPT_TENANT_REGIONS },
		{ "tenant-clients", required_argument, NULL, OPT_TENANT_CLIENTS },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "rdma", no_argument, NULL, OPT_RDMA },
		{ "lock", no_argument, NULL, OPT_LOCK },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct node n = { .max_clients = MAX_CLIENTS_DEFAULT,
			  .handshake_ms = HANDSHAKE_MS_DEFAULT,
			  .control_fd = -1 };
	const char *listen_url = "tcp://127.0.0.1:7370", *secret_file = NULL, *control = NULL;
	unsigned max_pending = MAX_PENDING_DEFAULT, max_per_addr = MAX_PER_ADDR_DEFAULT;
	struct node_quota quota = { .regions = 1024 };
	uint64_t size = 0, v;
	bool json = false;
	char bound[300];
	struct sockaddr_storage bound_addr;
	bool rdma = false, lock = false;
	int c, ret;

	if (argc > 1 && (!strcmp(argv[1], "regions") || !strcmp(argv[1], "free-region")))
		return run_command(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "s:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!parse_size(optarg, &size) || size == 0 || size % PROTO_PAGE_SIZE) {
				fprintf(stderr,
					"memnode: bad --size '%s': a positive multiple of "
					"4 KiB, e.g. 4G\n",
					optarg);
				return 2;
			}
			break;
		case 'l':
			listen_url = optarg;
			break;
		case OPT_SECRET_FILE:
			secret_file = optarg;
			break;
		case OPT_MAX_CLIENTS:
		case OPT_MAX_PENDING:
		case OPT_MAX_PER_ADDR:
		case OPT_TENANT_REGIONS:
		case OPT_TENANT_CLIENTS:
			if (!parse_uint(optarg, 1, 1024, &v)) {
				fprintf(stderr, "memnode: bad --%s '%s' (1-1024)\n",
					opts[c - OPT_SECRET_FILE + 2].name, optarg);
				return 2;
			}
			if (c == OPT_MAX_CLIENTS)
				n.max_clients = (unsigned)v;
			else if (c == OPT_MAX_PENDING)
				max_pending = (unsigned)v;
			else if (c == OPT_MAX_PER_ADDR)
				max_per_addr = (unsigned)v;
			else if (c == OPT_TENANT_REGIONS)
				quota.regions = (unsigned)v;
			else
				n.tenant_clients = (unsigned)v;
			break;
		case OPT_HANDSHAKE:
			if (!parse_uint(optarg, 100, 60000, &v)) {
				fprintf(stderr,
					"memnode: bad --handshake-timeout '%s' (100-60000 ms)\n",
					optarg);
				return 2;
			}
			n.handshake_ms = (uint32_t)v;
			break;
		case OPT_LEASE:
			if (!parse_uint(optarg, 0, 100ull * 365 * 86400, &n.lease_s)) {
				fprintf(stderr, "memnode: bad --lease '%s' (seconds, 0: never)\n",
					optarg);
				return 2;
			}
			break;
		case OPT_TENANT_QUOTA:
			if (!parse_size(optarg, &quota.bytes) || quota.bytes == 0) {
				fprintf(stderr,
					"memnode: bad --tenant-quota '%s' (a size, e.g. 8G)\n",
					optarg);
				return 2;
			}
			break;
		case OPT_CONTROL:
			control = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_RDMA:
			rdma = true;
			break;
		case OPT_LOCK:
			lock = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fprintf(stderr, "memnode: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "memnode: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!size) {
		fprintf(stderr, "memnode: no --size given (e.g. --size 4G)\n");
		return 2;
	}
	char err[256];

	/* The served memory is populated and locked at once (node_memory_init), the rest of the
	 * process as it is touched: never swapped out, not even to a device this very machine
	 * serves from it. */
	if (lock && mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0) {
		fprintf(stderr,
			"memnode: --lock: mlockall: %s (needs CAP_IPC_LOCK or a large "
			"RLIMIT_MEMLOCK)\n",
			strerror(errno));
		return 1;
	}
	/* A reply's socket buffers must not wait for reclaim that may wait for this very node
	 * (io_thread.h); what is refused is logged, and serving goes on. */
	if (lock)
		io_thread_init("memnode", true);
	if (read_tenants(&n, secret_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "memnode: %s\n", err);
		return 2;
	}
	ret = node_memory_init(&n.mem, size, lock);
	if (ret < 0 || node_guard_init(&n.guard, max_pending, max_per_addr) < 0) {
		fprintf(stderr, "memnode: cannot map %llu bytes: %s\n", (unsigned long long)size,
			strerror(ret < 0 ? -ret : ENOMEM));
		ret = 1;
		goto out;
	}
	n.mem.quota = quota;
	if (!n.tenant_clients || n.tenant_clients > n.max_clients)
		n.tenant_clients = n.max_clients;
	n.listen_fd = listen_on(listen_url, bound, sizeof(bound), &bound_addr);
	if (n.listen_fd < 0) {
		fprintf(stderr, "memnode: cannot listen on '%s': %s (want tcp://ADDR:PORT)\n",
			listen_url, strerror(-n.listen_fd));
		ret = n.listen_fd == -EINVAL ? 2 : 1;
		goto out;
	}
	if (control && (n.control_fd = node_control_listen(control, err, sizeof(err))) < 0) {
		fprintf(stderr, "memnode: %s\n", err);
		ret = 1;
		goto out;
	}
	if (rdma) {
		n.rdma_fd = node_rdma_listen(&n.rdma, &n.mem, (struct sockaddr *)&bound_addr,
					     spend_ticket, &n, err, sizeof(err));
		if (n.rdma_fd < 0) {
			fprintf(stderr, "memnode: %s\n", err);
			ret = 1;
			goto out;
		}
	}
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	n.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	n.epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &n.listen_fd };
	struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &n.sig_fd };
	struct epoll_event cev = { .events = EPOLLIN, .data.ptr = &n.control_fd };
	struct epoll_event rev = { .events = EPOLLIN, .data.ptr = &n.rdma_fd };

	epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.listen_fd, &lev);
	epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.sig_fd, &sev);
	if (n.control_fd >= 0)
		epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.control_fd, &cev);
	if (n.rdma)
		epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.rdma_fd, &rev);
	if (json)
		printf("{\"listening\": \"%s\", \"rdma\": %s, \"bytes\": %llu, \"hugepages\": %s, "
		       "\"tenants\": %u, \"pid\": %d}\n",
		       bound, n.rdma ? "true" : "false", (unsigned long long)size,
		       n.mem.hugepages ? "true" : "false", n.ntenants, getpid());
	else
		printf("memnode: serving %llu MiB (%s) on %s%s to %u tenant%s, pid %d\n",
		       (unsigned long long)(size >> 20),
		       n.mem.hugepages ? "hugepages" : "4 KiB pages", bound,
		       n.rdma ? " and RDMA" : "", n.ntenants, n.ntenants == 1 ? "" : "s", getpid());
	fflush(stdout);

	uint64_t last_tick = 0;

	for (;;) {
		struct epoll_event evs[64];
		/* Pending handshakes are looked at every tick; leases every second. */
		int timeout = n.guard.pending ? TICK_MS : n.lease_s ? 1000 : -1;
		int k = epoll_wait(n.epfd, evs, 64, timeout);

		for (int i = 0; i < k; i++) {
			if (evs[i].data.ptr == &n.listen_fd) {
				accept_clients(&n);
			} else if (evs[i].data.ptr == &n.rdma_fd) {
				node_rdma_handle(n.rdma);
			} else if (evs[i].data.ptr == &n.control_fd) {
				node_control_serve(n.control_fd, &n.mem,
						   monotonic_ns() / 1000000000u, operator_free, &n);
			} else if (evs[i].data.ptr == &n.sig_fd) {
				struct signalfd_siginfo si;

				if (read(n.sig_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
					continue;
				if (si.ssi_signo == SIGUSR1) {
					print_status(&n);
					continue;
				}
				log_msg("signal %u: shutting down (%u clients, %u pending)",
					si.ssi_signo, n.nserving, n.guard.pending);
				while (n.first)
					drop_client(&n, n.first, NULL);
				bury_dead(&n);
				ret = 0;
				goto out;
			} else {
				serve_client(&n, evs[i].data.ptr, evs[i].events);
			}
		}
		uint64_t now = monotonic_ns();

		if (now - last_tick >= TICK_MS * 1000000ull) {
			tick(&n);
			last_tick = now;
		}
		bury_dead(&n);
	}
out:
	node_rdma_close(n.rdma);
	node_memory_free(&n.mem);
	node_guard_free(&n.guard);
	if (n.control_fd >= 0)
		unlink(control);
	for (unsigned i = 0; i < n.ntenants; i++)
		auth_wipe(&n.tenants[i], sizeof(n.tenants[i]));
	return ret;
}
