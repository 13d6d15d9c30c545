/* node_link.c — a client's TCP control connection to a memory node: connect, hello, release. */
#include "node_link.h"

#include <errno.h>
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

static int status_errno(unsigned status)
{
	switch (status) {
	case PROTO_EAUTH:
		return -EACCES;
	case PROTO_ENOSPC:
		return -ENOSPC;
	case PROTO_EEXIST:
		return -EEXIST;
	case PROTO_ENOENT:
		return -ENOENT;
	case PROTO_ETOOMANY:
		return -EUSERS;
	default:
		return -EPROTO;
	}
}

/* Sends hello, reads the welcome. Returns fd, or -errno (fd closed) with a message in err. */
static int greet(int fd, const struct proto_hello *hello, struct proto_welcome *w, const char *host,
		 const char *port, char *err, size_t errlen)
{
	if (send(fd, hello, sizeof(*hello), MSG_NOSIGNAL) != (ssize_t)sizeof(*hello) ||
	    recv(fd, w, sizeof(*w), MSG_WAITALL) != (ssize_t)sizeof(*w)) {
		snprintf(err, errlen,
			 "the memory node at %s:%s closed the connection during the "
			 "handshake",
			 host, port);
		close(fd);
		return -EPROTO;
	}
	if (w->magic != PROTO_MAGIC || w->status != PROTO_OK) {
		snprintf(err, errlen, "the memory node at %s:%s refused: %s", host, port,
			 w->magic == PROTO_MAGIC ? proto_status_name(w->status)
						 : "not a memory node");
		close(fd);
		return w->magic == PROTO_MAGIC ? status_errno(w->status) : -EPROTO;
	}
	return fd;
}

int node_link_probe(const struct page_store_conf *conf, const char *host, const char *port,
		    uint64_t *free_bytes, char *err, size_t errlen)
{
	struct proto_hello hello = {
		.magic = PROTO_MAGIC,
		.version = PROTO_VERSION,
		.secret_len = (uint16_t)conf->secret_len,
		.flags = PROTO_PROBE,
	};
	struct proto_welcome w;
	int fd;

	if (conf->secret_len > PROTO_SECRET_MAX) {
		snprintf(err, errlen, "bad page store configuration");
		return -EINVAL;
	}
	memcpy(hello.secret, conf->secret, conf->secret_len);
	fd = connect_to(host, port, conf->timeout_ms, err, errlen);
	if (fd >= 0)
		fd = greet(fd, &hello, &w, host, port, err, errlen);
	if (fd < 0)
		return fd;
	close(fd);
	*free_bytes = w.free;
	return 0;
}

int node_link_open(const struct page_store_conf *conf, const char *host, const char *port,
		   uint32_t extra_flags, struct proto_welcome *w, char *err, size_t errlen)
{
	struct proto_hello hello = {
		.magic = PROTO_MAGIC,
		.version = PROTO_VERSION,
		.secret_len = (uint16_t)conf->secret_len,
		.flags = (conf->create ? PROTO_CREATE : PROTO_ATTACH) | extra_flags,
		.bytes = conf->bytes,
	};
	int fd;

	if (conf->secret_len > PROTO_SECRET_MAX || conf->bytes == 0 ||
	    conf->bytes % PROTO_PAGE_SIZE || conf->max_inflight == 0 || conf->max_segs == 0) {
		snprintf(err, errlen, "bad page store configuration");
		return -EINVAL;
	}
	memcpy(hello.region, conf->region, sizeof(hello.region));
	memcpy(hello.secret, conf->secret, conf->secret_len);
	fd = connect_to(host, port, conf->timeout_ms, err, errlen);
	return fd < 0 ? fd : greet(fd, &hello, w, host, port, err, errlen);
}

int node_link_release(int fd)
{
	struct proto_req req = { .op = PROTO_RELEASE };
	struct proto_reply r;

	if (send(fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req) ||
	    recv(fd, &r, sizeof(r), MSG_WAITALL) != (ssize_t)sizeof(r))
		return -EIO;
	return r.status == PROTO_OK ? 0 : -EIO;
}
