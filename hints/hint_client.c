/* Registration, client side (hint_client.h). Plain system calls and string copies only: this
 * runs inside the allocator, where calling malloc (or stdio, which may) would recurse. */
#include "hint_client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hint_proto.h"

#define REPLY_TIMEOUT_MS 2000

/* Appends src to buf (holding *at bytes); false when it does not fit with its NUL. */
static bool append(char *buf, size_t len, size_t *at, const char *src)
{
	size_t n = strlen(src);

	if (*at + n + 1 > len)
		return false;
	memcpy(buf + *at, src, n + 1);
	*at += n;
	return true;
}

static void set_why(char *why, size_t len, const char *a, const char *b)
{
	size_t at = 0;

	if (len == 0)
		return;
	why[0] = 0;
	if (append(why, len, &at, a) && b)
		append(why, len, &at, b);
}

bool hint_client_socket_path(char *buf, size_t len)
{
	const char *path = getenv("LINESWAP_HINTS_SOCKET");
	const char *dir = getenv("LINESWAP_RUN_DIR");
	const char *dev = getenv("LINESWAP_HINTS_DEVICE");
	size_t at = 0;

	if (path && *path)
		return append(buf, len, &at, path);
	if (!dir || !*dir)
		dir = "/run/lineswap";
	if (!dev || !*dev || strspn(dev, "0123456789") != strlen(dev) || strlen(dev) > 9)
		dev = "0";
	return append(buf, len, &at, dir) && append(buf, len, &at, "/ublk") &&
	       append(buf, len, &at, dev) && append(buf, len, &at, ".hints");
}

/* Receives the welcome and, with it, at most one descriptor (*fd, or -1). */
static int recv_welcome(int sock, struct hint_welcome *w, int *fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = w, .iov_len = sizeof(*w) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct pollfd p = { .fd = sock, .events = POLLIN };
	ssize_t n;

	*fd = -1;
	if (poll(&p, 1, REPLY_TIMEOUT_MS) != 1)
		return -ETIMEDOUT;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if ((size_t)n != sizeof(*w) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -EPROTO;
	return 0;
}

int hint_client_register(struct hint_client *c, const char *path, uint32_t records,
			 const struct hint_arena_ask *arena, char *why, size_t whylen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct hint_hello hello = { .magic = HINT_PROTO_MAGIC,
				    .version = HINT_PROTO_VERSION,
				    .flags = arena ? HINT_HELLO_ARENA : 0,
				    .ring_records = records,
				    .arena_bytes = arena ? arena->bytes : 0,
				    .arena_offset = arena ? arena->offset : 0 };
	struct hint_welcome w;
	int fd = -1, ret;

	*c = (struct hint_client){ .sock = -1 };
	if (strlen(path) >= sizeof(addr.sun_path)) {
		set_why(why, whylen, "socket path too long: ", path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0) {
		ret = -errno;
		set_why(why, whylen, "socket: ", strerror(errno));
		return ret;
	}
	if (connect(c->sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno;
		set_why(why, whylen, strerror(errno), NULL);
		goto fail;
	}
	if (send(c->sock, &hello, sizeof(hello), MSG_NOSIGNAL) != sizeof(hello)) {
		ret = -EPROTO;
		set_why(why, whylen, "cannot send the hello", NULL);
		goto fail;
	}
	ret = recv_welcome(c->sock, &w, &fd);
	if (ret < 0) {
		set_why(why, whylen, "no welcome from the server: ", strerror(-ret));
		goto fail;
	}
	w.reason[sizeof(w.reason) - 1] = 0;
	if (w.magic != HINT_PROTO_MAGIC || w.version != HINT_PROTO_VERSION) {
		ret = -EPROTO;
		set_why(why, whylen, "the server speaks another protocol version", NULL);
		goto fail;
	}
	if (w.status < 0) {
		ret = w.status;
		set_why(why, whylen, "refused: ", w.reason);
		goto fail;
	}
	if (fd < 0 || w.ring_bytes != hint_ring_bytes(w.ring_records)) {
		ret = -EPROTO;
		set_why(why, whylen, "the welcome carries no ring", NULL);
		goto fail;
	}
	c->ring = mmap(NULL, w.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	fd = -1;
	if (c->ring == MAP_FAILED) {
		c->ring = NULL;
		ret = -errno;
		set_why(why, whylen, "cannot map the ring: ", strerror(errno));
		goto fail;
	}
	/* A child must not publish into its parent's ring (its pages are not the parent's). */
	madvise(c->ring, w.ring_bytes, MADV_DONTFORK);
	c->ring_bytes = w.ring_bytes;
	c->client_id = w.client_id;
	c->arena_offset = w.arena_offset;
	c->arena_bytes = w.arena_bytes;
	c->dev_id = w.dev_id;
	if (arena && (w.arena_bytes < arena->bytes ||
		      (arena->offset != HINT_ARENA_ANY && w.arena_offset != arena->offset))) {
		ret = -EPROTO;
		set_why(why, whylen, "the welcome carries another range", NULL);
		goto fail;
	}
	if (c->ring->magic != HINT_RING_MAGIC || c->ring->capacity != w.ring_records) {
		ret = -EPROTO;
		set_why(why, whylen, "the ring is not initialised", NULL);
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	hint_client_unregister(c);
	return ret;
}

int hint_client_claim(struct hint_client *c, uint64_t base, char *why, size_t whylen)
{
	struct hint_claim m = { .magic = HINT_PROTO_MAGIC, .base = base };
	struct hint_claimed a;
	struct pollfd p = { .fd = c->sock, .events = POLLIN };
	ssize_t n;

	if (send(c->sock, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m)) {
		set_why(why, whylen, "cannot send the claim", NULL);
		return -EPROTO;
	}
	if (poll(&p, 1, REPLY_TIMEOUT_MS) != 1) {
		set_why(why, whylen, "no answer to the claim", NULL);
		return -ETIMEDOUT;
	}
	do
		n = recv(c->sock, &a, sizeof(a), 0);
	while (n < 0 && errno == EINTR);
	if (n != sizeof(a) || a.magic != HINT_PROTO_MAGIC) {
		set_why(why, whylen, "bad answer to the claim", NULL);
		return -EPROTO;
	}
	a.reason[sizeof(a.reason) - 1] = 0;
	if (a.status < 0) {
		set_why(why, whylen, "claim refused: ", a.reason);
		return a.status;
	}
	return 0;
}

bool hint_client_server_gone(const struct hint_client *c)
{
	char byte;
	ssize_t n;

	if (c->sock < 0)
		return true;
	n = recv(c->sock, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void hint_client_unregister(struct hint_client *c)
{
	if (c->ring)
		munmap(c->ring, c->ring_bytes);
	if (c->sock >= 0)
		close(c->sock);
	*c = (struct hint_client){ .sock = -1 };
}
