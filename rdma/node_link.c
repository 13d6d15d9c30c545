/* node_link.c — a client's TCP control connection to a memory node: connect, hello, release. */
#include "node_link.h"

#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The FORCE options pass over net.core.[rw]mem_max (root, as the daemon runs); otherwise the
 * size is capped there. Set before connect, so the window is scaled for it. */
static void fix_buffers(int fd)
{
	int size = NODE_LINK_SOCKBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

static int connect_to(const char *host, const char *port, unsigned timeout_ms, char *err,
		      size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai, *a;
	int fd = -1, ret = getaddrinfo(host, port, &hints, &ai), last = ECONNREFUSED;

	if (ret) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	for (a = ai; a; a = a->ai_next) {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
		int one = 1;

		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		/* Bounded connect and sends: a dead node must not hang the caller. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		fix_buffers(fd);
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		last = errno == EINPROGRESS ? ETIMEDOUT : errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to the memory node at %s:%s: %s", host, port,
			 strerror(last));
		return -last;
	}
	return fd;
}

/* A status the node proved (its welcome's proof checks out). */
static int status_errno(unsigned status)
{
	switch (status) {
	case PROTO_EAUTH:
		return -EACCES;
	case PROTO_ENOSPC:
	case PROTO_EQUOTA:
		return -ENOSPC;
	case PROTO_EEXIST:
		return -EEXIST;
	case PROTO_ENOENT:
		return -ENOENT;
	case PROTO_ETOOMANY:
	case PROTO_EBUSY:
		return -EUSERS;
	default:
		return -EPROTO;
	}
}

/* A status no one proved: anyone on the path could have sent it, so it means no more than a
 * failure (never "no such region", which makes a client give pages up for lost). */
static int unproven_errno(unsigned status)
{
	switch (status) {
	case PROTO_EAUTH:
		return -EACCES;
	case PROTO_ETOOMANY:
	case PROTO_EBUSY:
		return -EUSERS;
	default:
		return -EPROTO;
	}
}

static int refused(int fd, uint32_t magic, unsigned status, bool proven, const char *host,
		   const char *port, char *err, size_t errlen)
{
	snprintf(err, errlen, "the memory node at %s:%s refused: %s", host, port,
		 magic == PROTO_MAGIC ? proto_status_name(status) : "not a memory node");
	close(fd);
	if (magic != PROTO_MAGIC)
		return -EPROTO;
	return proven ? status_errno(status) : unproven_errno(status);
}

static int cut_off(int fd, const char *host, const char *port, char *err, size_t errlen)
{
	snprintf(err, errlen, "the memory node at %s:%s closed the connection during the handshake",
		 host, port);
	close(fd);
	return -EPROTO;
}

/* The request's region part: CREATE gives the region's public key, ATTACH signs the session
 * with its private key; *release gets the signature RELEASE will present. */
static int region_proofs(const struct page_store_conf *conf, uint32_t flags,
			 const uint8_t session[AUTH_KEY], struct proto_request *req,
			 uint8_t release[AUTH_SIG])
{
	memcpy(req->region, conf->region, PROTO_REGION_ID);
	if ((flags & PROTO_CREATE) && auth_region_public(conf->device_key, conf->region,
							 PROTO_REGION_ID, req->region_proof) < 0)
		return -ENOMEM;
	if ((flags & PROTO_ATTACH) &&
	    auth_region_sign(conf->device_key, conf->region, PROTO_REGION_ID, AUTH_ATTACH, session,
			     req->region_proof) < 0)
		return -ENOMEM;
	return auth_region_sign(conf->device_key, conf->region, PROTO_REGION_ID, AUTH_RELEASE,
				session, release);
}

/* The handshake (proto.h, auth.h) on a connected fd: hello, the node's challenge, the request
 * (the client's proof, flags, and conf's region unless probing), the welcome with the node's
 * proof. Returns fd, or -errno (fd closed) with a message in err. */
static int greet(int fd, const struct page_store_conf *conf, uint32_t flags, struct node_session *s,
		 const char *host, const char *port, char *err, size_t errlen)
{
	struct proto_transcript transcript = { .hello = { .magic = PROTO_MAGIC,
							  .version = PROTO_VERSION } };
	struct proto_challenge ch;
	struct proto_request req = { .flags = flags, .bytes = conf->bytes };
	struct auth_ephemeral e;
	uint8_t shared[AUTH_KEY], session[AUTH_KEY], mac[AUTH_KEY];
	bool proven;
	ssize_t got;
	int ret;

	if (auth_random(transcript.hello.nonce, AUTH_NONCE) < 0 || auth_ephemeral_new(&e) < 0) {
		snprintf(err, errlen, "cannot make a handshake key");
		close(fd);
		return -ENOMEM;
	}
	memcpy(transcript.hello.pub, e.pub, AUTH_PUB);
	if (send(fd, &transcript.hello, sizeof(transcript.hello), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(transcript.hello)) {
		auth_ephemeral_free(&e);
		return cut_off(fd, host, port, err, errlen);
	}
	got = recv(fd, &ch, sizeof(ch), MSG_WAITALL);
	/* A refusal may be short: a node of another version answers with its own welcome. */
	if (got >= 8 && (ch.magic != PROTO_MAGIC || ch.status != PROTO_OK)) {
		auth_ephemeral_free(&e);
		return refused(fd, ch.magic, ch.status, false, host, port, err, errlen);
	}
	if (got != (ssize_t)sizeof(ch)) {
		auth_ephemeral_free(&e);
		return cut_off(fd, host, port, err, errlen);
	}
	memcpy(transcript.nonce, ch.nonce, AUTH_NONCE);
	memcpy(transcript.pub, ch.pub, AUTH_PUB);
	ret = auth_shared(&e, ch.pub, shared);
	auth_ephemeral_free(&e);
	if (ret < 0) {
		snprintf(err, errlen, "the memory node at %s:%s sent an unusable handshake key",
			 host, port);
		close(fd);
		return -EPROTO;
	}
	auth_session(conf->secret, conf->secret_len, shared, &transcript, sizeof(transcript),
		     session);
	auth_wipe(shared, sizeof(shared));
	if (!(flags & PROTO_PROBE) &&
	    region_proofs(conf, flags, session, &req, s->release_proof) < 0) {
		snprintf(err, errlen, "cannot make the region's key");
		auth_wipe(session, sizeof(session));
		close(fd);
		return -ENOMEM;
	}
	proto_request_prove(session, &req);
	if (send(fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req) ||
	    recv(fd, &s->welcome, sizeof(s->welcome), MSG_WAITALL) != (ssize_t)sizeof(s->welcome)) {
		auth_wipe(session, sizeof(session));
		return cut_off(fd, host, port, err, errlen);
	}
	proto_welcome_proof(session, &req, &s->welcome, mac);
	proven = s->welcome.magic == PROTO_MAGIC && auth_equal(mac, s->welcome.proof, AUTH_KEY);
	if (s->welcome.magic != PROTO_MAGIC || s->welcome.status != PROTO_OK) {
		auth_wipe(session, sizeof(session));
		return refused(fd, s->welcome.magic, s->welcome.status, proven, host, port, err,
			       errlen);
	}
	if (!proven) {
		snprintf(err, errlen,
			 "the memory node at %s:%s did not prove the secret: it is not a node "
			 "of this secret (or not a memory node at all)",
			 host, port);
		auth_wipe(session, sizeof(session));
		close(fd);
		return -EACCES;
	}
	auth_mac(session, AUTH_TICKET_WRAP, NULL, 0, mac);
	for (unsigned i = 0; i < PROTO_TICKET_LEN; i++)
		s->ticket[i] = s->welcome.ticket[i] ^ mac[i];
	auth_wipe(session, sizeof(session));
	auth_wipe(mac, sizeof(mac));
	return fd;
}

int node_link_probe(const struct page_store_conf *conf, const char *host, const char *port,
		    uint64_t *free_bytes, char *err, size_t errlen)
{
	struct page_store_conf probe = *conf;
	struct node_session s;
	int fd;

	if (conf->secret_len == 0 || conf->secret_len > PROTO_SECRET_MAX) {
		snprintf(err, errlen, "bad page store configuration");
		return -EINVAL;
	}
	probe.bytes = 0;
	fd = connect_to(host, port, conf->timeout_ms, err, errlen);
	if (fd >= 0)
		fd = greet(fd, &probe, PROTO_PROBE, &s, host, port, err, errlen);
	if (fd < 0)
		return fd;
	close(fd);
	/* Room for pages, not node memory: each page's slot holds a seal's tag too, and a region
	 * is rounded up to whole pages. */
	*free_bytes = s.welcome.free > PROTO_PAGE_SIZE ? s.welcome.free - PROTO_PAGE_SIZE : 0;
	*free_bytes = *free_bytes / PROTO_SLOT_SIZE * PROTO_PAGE_SIZE;
	return 0;
}

int node_link_open(const struct page_store_conf *conf, const char *host, const char *port,
		   uint32_t extra_flags, struct node_session *s, char *err, size_t errlen)
{
	int fd;

	if (conf->secret_len == 0 || conf->secret_len > PROTO_SECRET_MAX || !conf->device_key ||
	    conf->bytes == 0 || conf->bytes % PROTO_PAGE_SIZE || conf->max_inflight == 0 ||
	    conf->max_segs == 0) {
		snprintf(err, errlen, "bad page store configuration");
		return -EINVAL;
	}
	fd = connect_to(host, port, conf->timeout_ms, err, errlen);
	return fd < 0 ? fd
		      : greet(fd, conf, (conf->create ? PROTO_CREATE : PROTO_ATTACH) | extra_flags,
			      s, host, port, err, errlen);
}

int node_link_release(int fd, const uint8_t proof[AUTH_SIG])
{
	struct {
		struct proto_req req;
		uint8_t proof[AUTH_SIG];
	} __attribute__((packed)) msg = { .req = { .op = PROTO_RELEASE, .len = AUTH_SIG } };
	struct proto_reply r;

	memcpy(msg.proof, proof, AUTH_SIG);
	if (send(fd, &msg, sizeof(msg), MSG_NOSIGNAL) != (ssize_t)sizeof(msg) ||
	    recv(fd, &r, sizeof(r), MSG_WAITALL) != (ssize_t)sizeof(r))
		return -EIO;
	return r.status == PROTO_OK ? 0 : -EIO;
}
