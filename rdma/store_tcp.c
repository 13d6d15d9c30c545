/* store_tcp.c — the page store over TCP: the same plan and packing as the verbs transport,
 * moved with one sendmsg (PUT: header + the plan's segments gathered) and a reply whose data
 * is scattered back into the plan's segments.
 *
 * Sealed (page_seal.h), a PUT's bytes are sealed into one staging page and sent from there,
 * and a GET's reply is opened from the receive buffer into the caller's page, which nothing
 * touches unless it opens.
 *
 * Sends block at most timeout_ms (SO_SNDTIMEO); replies are read without blocking in reap().
 * A link that answers nothing for timeout_ms while requests are outstanding, or a broken
 * connection, fails every outstanding request with -EIO and the store stays down (-ENOTCONN)
 * until reopened. Everything a request needs is allocated at open: nothing is allocated per
 * request. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "node_link.h"
#include "page_seal.h"
#include "page_store.h"
#include "ps_slots.h"
#include "sg_plan.h"

struct tcp_store {
	struct page_store ps;
	int fd;
	struct ps_slots slots;   /* a request's tag is its slot */
	uint8_t rbuf[64 * 1024]; /* many replies per recv; at least one whole reply */
	size_t rlen;
	uint8_t release_proof[AUTH_SIG];
	bool sealed;
	struct page_seal seal;
	uint8_t stage[PROTO_SLOT_SIZE];   /* a sealed PUT's bytes, until sent */
	uint8_t scratch[PROTO_PAGE_SIZE]; /* a sealed GET's bytes, while they open */
};

static struct tcp_store *tcp(struct page_store *ps)
{
	return (struct tcp_store *)ps;
}

static int send_all(struct tcp_store *t, struct iovec *iov, int iovcnt)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };

	while (msg.msg_iovlen > 0) {
		ssize_t n = sendmsg(t->fd, &msg, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ps_slots_fail_all(&t->ps, &t->slots);
			return -EIO;
		}
		while (n > 0 && msg.msg_iovlen > 0) {
			size_t take =
				(size_t)n < msg.msg_iov->iov_len ? (size_t)n : msg.msg_iov->iov_len;

			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + take;
			msg.msg_iov->iov_len -= take;
			n -= (ssize_t)take;
			if (msg.msg_iov->iov_len == 0) {
				msg.msg_iov++;
				msg.msg_iovlen--;
			}
		}
	}
	return 0;
}

/* The bytes a request for `live` moves: the plan's, and the tag when sealed. */
static unsigned wire_bytes(const struct tcp_store *t, const struct sg_plan *plan)
{
	return plan->bytes + (t->sealed ? PROTO_SEAL_TAG : 0);
}

static int submit(struct page_store *ps, uint8_t op, uint64_t slot, uint64_t live,
		  struct ps_seal seal, uint8_t *buf, uint64_t cookie)
{
	struct tcp_store *t = tcp(ps);
	struct sg_plan plan;
	struct proto_req req = { .op = op, .page = slot };
	struct iovec iov[1 + SG_MAX_SEGS];
	int index;

	if (t->ps.down)
		return -ENOTCONN;
	if (slot >= ps->conf.bytes / PROTO_PAGE_SIZE)
		return -ERANGE;
	index = ps_slots_take(ps, &t->slots, op, buf, live, seal, cookie);
	if (index < 0)
		return -EAGAIN;
	sg_plan_page(live, ps->conf.max_segs, ps->conf.seg_cost, &plan);
	req.len = wire_bytes(t, &plan);
	req.tag = (uint64_t)index;
	iov[0] = (struct iovec){ &req, sizeof(req) };
	int iovcnt = 1;

	if (op == PROTO_PUT && t->sealed) {
		page_seal(&t->seal, seal.page, live, seal.version, &plan, buf, t->stage);
		iov[iovcnt++] = (struct iovec){ t->stage, req.len };
	} else if (op == PROTO_PUT) {
		for (unsigned i = 0; i < plan.nsegs; i++)
			iov[iovcnt++] = (struct iovec){ buf + plan.seg[i].off, plan.seg[i].len };
	}
	/* A failed send fails the request (and all others) through the next reap. */
	send_all(t, iov, iovcnt);
	return (int)req.len;
}

static int tcp_put(struct page_store *ps, uint64_t slot, uint64_t live, struct ps_seal seal,
		   const void *buf, uint64_t cookie)
{
	/* Only read through: a PUT never writes the page. */
	return submit(ps, PROTO_PUT, slot, live, seal, (uint8_t *)(uintptr_t)buf, cookie);
}

static int tcp_get(struct page_store *ps, uint64_t slot, uint64_t live, struct ps_seal seal,
		   void *buf, uint64_t cookie)
{
	return submit(ps, PROTO_GET, slot, live, seal, buf, cookie);
}

/* Puts a GET's packed bytes back to their lines and zeroes every other byte (opening them
 * first when sealed). Returns 0 or -EBADMSG. */
static int scatter(struct tcp_store *t, const struct ps_slot *s, const struct sg_plan *plan,
		   const uint8_t *data)
{
	if (t->sealed)
		return page_open(&t->seal, s->seal.page, s->live, s->seal.version, plan, data,
				 s->buf, t->scratch);
	sg_plan_unpack(plan, s->buf, data, true);
	return 0;
}

/* Handles one complete reply at the head of rbuf; returns its size, 0 if incomplete, or -1 for
 * a reply that makes no sense (the link is then dropped). */
static long one_reply(struct tcp_store *t, struct ps_completion *out)
{
	struct proto_reply r;

	if (t->rlen < sizeof(r))
		return 0;
	memcpy(&r, t->rbuf, sizeof(r));
	if (r.tag >= t->slots.n || !t->slots.slot[r.tag].busy || r.len > PROTO_SLOT_SIZE)
		return -1;
	struct ps_slot *s = &t->slots.slot[r.tag];
	struct sg_plan plan;
	int status = r.status == PROTO_OK ? 0 : -EIO;

	if (r.status == PROTO_OK && s->op == PROTO_GET) {
		sg_plan_page(s->live, t->ps.conf.max_segs, t->ps.conf.seg_cost, &plan);
		if (r.len != wire_bytes(t, &plan))
			return -1;
	} else if (r.len != 0) {
		return -1;
	}
	if (t->rlen < sizeof(r) + r.len)
		return 0;
	if (r.status == PROTO_OK && s->op == PROTO_GET)
		status = scatter(t, s, &plan, t->rbuf + sizeof(r));
	*out = (struct ps_completion){ s->cookie, status };
	ps_slots_done(&t->ps, &t->slots, (unsigned)r.tag);
	return (long)(sizeof(r) + r.len);
}

static int tcp_reap(struct page_store *ps, struct ps_completion *out, int max)
{
	struct tcp_store *t = tcp(ps);
	int n = 0;

	ps_slots_drain(&t->slots, out, &n, max);
	while (!t->ps.down && n < max) {
		long used = one_reply(t, &out[n]);

		if (used < 0) {
			log_msg("page store: malformed reply from the memory node");
			ps_slots_fail_all(&t->ps, &t->slots);
			break;
		}
		if (used > 0) {
			t->rlen -= (size_t)used;
			memmove(t->rbuf, t->rbuf + used, t->rlen);
			n++;
			continue;
		}
		ssize_t got =
			recv(t->fd, t->rbuf + t->rlen, sizeof(t->rbuf) - t->rlen, MSG_DONTWAIT);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (got <= 0) {
			ps_slots_fail_all(&t->ps, &t->slots);
			break;
		}
		t->rlen += (size_t)got;
	}
	/* Requests the node never answered in time: the link is presumed dead. */
	if (!t->ps.down && ps->inflight > 0 && ps_slots_expired(ps, &t->slots)) {
		log_msg("page store: no reply for %u ms", ps->conf.timeout_ms);
		shutdown(t->fd, SHUT_RDWR);
		ps_slots_fail_all(&t->ps, &t->slots);
	}
	ps_slots_drain(&t->slots, out, &n, max);
	return n;
}

static void tcp_flush(struct page_store *ps)
{
	(void)ps; /* every request is sent as it is made */
}

static int tcp_fd(struct page_store *ps)
{
	return tcp(ps)->fd;
}

static void tcp_close(struct page_store *ps)
{
	struct tcp_store *t = tcp(ps);

	auth_wipe(t->release_proof, AUTH_SIG);
	page_seal_free(&t->seal);
	/* An abortive close: whatever the socket still holds to send is thrown away, never
	 * delivered to the node later, over a newer link's writes (a silent link's requests are
	 * sent again on a new one). */
	if (t->fd >= 0)
		setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &(struct linger){ 1, 0 },
			   sizeof(struct linger));
	if (t->fd >= 0)
		close(t->fd);
	ps_slots_free(&t->slots);
	free(t);
}

static int tcp_release(struct page_store *ps)
{
	struct tcp_store *t = tcp(ps);
	int ret = t->ps.down || ps->inflight ? -EIO : node_link_release(t->fd, t->release_proof);

	tcp_close(ps);
	return ret;
}

static void tcp_forget(struct page_store *ps, uint64_t cookie)
{
	ps_slots_forget(&tcp(ps)->slots, cookie);
}

static const struct page_store_ops tcp_ops = {
	.put = tcp_put,
	.get = tcp_get,
	.forget = tcp_forget,
	.flush = tcp_flush,
	.reap = tcp_reap,
	.fd = tcp_fd,
	.release = tcp_release,
	.close = tcp_close,
};

int ps_tcp_open(const struct page_store_conf *conf, const char *host, const char *port,
		struct page_store **out, char *err, size_t errlen)
{
	struct node_session s;
	int fd = node_link_open(conf, host, port, 0, &s, err, errlen);

	return fd < 0 ? fd : ps_tcp_attach(conf, fd, &s, out, err, errlen);
}

int ps_tcp_attach(const struct page_store_conf *conf, int fd, const struct node_session *s,
		  struct page_store **out, char *err, size_t errlen)
{
	struct tcp_store *t = calloc(1, sizeof(*t));

	if (!t || ps_slots_init(&t->slots, conf->max_inflight) < 0) {
		free(t);
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Written once now, so a daemon's mlockall holds its pages before any request. */
	memset(t->rbuf, 0, sizeof(t->rbuf));
	t->ps = (struct page_store){ .ops = &tcp_ops, .conf = *conf };
	t->ps.conf.secret = NULL; /* not kept */
	t->ps.conf.device_key = NULL;
	t->ps.conf.seal_key = NULL;
	t->fd = fd;
	memcpy(t->release_proof, s->release_proof, AUTH_SIG);
	t->sealed = conf->seal_key != NULL;
	if (t->sealed && page_seal_init(&t->seal, conf->seal_key) < 0) {
		tcp_close(&t->ps);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*out = &t->ps;
	return 0;
}
