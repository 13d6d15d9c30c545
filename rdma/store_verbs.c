/* store_verbs.c — the page store over RDMA verbs (rdma_cm, RC queue pair).
 *
 * Eviction is ONE RDMA WRITE per page whose local SG list gathers the plan's segments into the
 * page's remote slot, packed; a fetch is ONE RDMA READ whose SG list scatters the packed bytes
 * back; unmoved bytes are zero-filled locally. The SG lists point into a registered staging
 * area, one slot (PROTO_SLOT_SIZE) per request: the caller's page is copied in (PUT) or out
 * (GET), which keeps the caller free of memory registration. Sealed (page_seal.h), a PUT's
 * bytes are sealed into the staging slot, packed, and a GET's open from it into the caller's
 * page: one SG element each way.
 *
 * Set-up: a TCP link authenticates and yields a ticket (proto.h); rdma_connect presents it and
 * the node's accept carries the region's address and rkey. The TCP link stays open (the
 * ticket's lifetime, and RELEASE goes through it).
 *
 * Signalled completions are batched: put/get only queue a WR; flush (or reap, or a full batch)
 * posts the chain with just its last WR signalled. An RC queue pair completes in order, so that
 * completion finishes every request posted before it: `posted` keeps them in post order.
 * Completions arrive on a completion channel whose fd the caller polls. A failed completion
 * means the queue pair is in error: every request fails with -EIO and the store is down. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "node_link.h"
#include "page_seal.h"
#include "page_store.h"
#include "ps_slots.h"
#include "sg_plan.h"

struct verbs_store {
	struct page_store ps;
	int link_fd; /* the TCP control link */
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *staging; /* PROTO_SLOT_SIZE per slot, registered */
	uint64_t remote_addr;
	uint32_t rkey;
	struct ps_slots slots; /* a request's wr_id, WR, SG list and staging page are its slot */
	struct ibv_send_wr *wrs;
	struct ibv_sge *sges;       /* SG_MAX_SEGS per slot */
	int chain_head, chain_tail; /* queued, not posted; -1: none */
	unsigned chained;
	unsigned *posted; /* slots in post order, a ring of slots.n */
	unsigned posted_head, posted_count;
	uint64_t link_checked_ns; /* when the control link was last looked at */
	uint8_t release_proof[AUTH_SIG];
	bool sealed;
	struct page_seal seal;
	uint8_t scratch[PROTO_PAGE_SIZE]; /* a sealed GET's bytes, while they open */
};

#define VERBS_BATCH        16           /* post at least this often, whatever the caller flushes */
#define LINK_CHECK_NS      100000000ull /* how often reap looks at the control link */
#define ACCEPT_WAIT_MIN_MS 30000

static struct verbs_store *vs(struct page_store *ps)
{
	return (struct verbs_store *)ps;
}

static void verbs_flush(struct page_store *ps)
{
	struct verbs_store *v = vs(ps);
	struct ibv_send_wr *bad;

	if (v->chain_head < 0 || ps->down)
		return;
	v->wrs[v->chain_tail].send_flags = IBV_SEND_SIGNALED;
	v->wrs[v->chain_tail].next = NULL;
	for (struct ibv_send_wr *wr = &v->wrs[v->chain_head]; wr; wr = wr->next)
		v->posted[(v->posted_head + v->posted_count++) % v->slots.n] = (unsigned)wr->wr_id;
	if (ibv_post_send(v->id->qp, &v->wrs[v->chain_head], &bad))
		/* The queue pair is unusable: fail everything (reported by reap). */
		ps_slots_fail_all(ps, &v->slots);
	v->chain_head = v->chain_tail = -1;
	v->chained = 0;
}

static uint8_t *stage_of(struct verbs_store *v, unsigned index)
{
	return v->staging + (size_t)index * PROTO_SLOT_SIZE;
}

static int submit(struct page_store *ps, uint8_t op, uint64_t slot, uint64_t live,
		  struct ps_seal seal, uint8_t *buf, uint64_t cookie)
{
	struct verbs_store *v = vs(ps);
	struct sg_plan plan;
	unsigned nsge = 0, bytes;
	int index;

	if (ps->down)
		return -ENOTCONN;
	if (slot >= ps->conf.bytes / PROTO_PAGE_SIZE)
		return -ERANGE;
	index = ps_slots_take(ps, &v->slots, op, buf, live, seal, cookie);
	if (index < 0)
		return -EAGAIN;
	uint8_t *stage = stage_of(v, (unsigned)index);
	struct ibv_sge *sge = v->sges + (size_t)index * SG_MAX_SEGS;
	struct ibv_send_wr *wr = &v->wrs[index];

	sg_plan_page(live, ps->conf.max_segs, ps->conf.seg_cost, &plan);
	bytes = plan.bytes;
	if (v->sealed) {
		bytes += PROTO_SEAL_TAG;
		if (op == PROTO_PUT)
			page_seal(&v->seal, seal.page, live, seal.version, &plan, buf, stage);
		sge[nsge++] = (struct ibv_sge){ (uint64_t)(uintptr_t)stage, bytes, v->mr->lkey };
	} else {
		for (unsigned i = 0; i < plan.nsegs; i++) {
			if (op == PROTO_PUT)
				memcpy(stage + plan.seg[i].off, buf + plan.seg[i].off,
				       plan.seg[i].len);
			sge[nsge++] =
				(struct ibv_sge){ (uint64_t)(uintptr_t)(stage + plan.seg[i].off),
						  plan.seg[i].len, v->mr->lkey };
		}
	}
	*wr = (struct ibv_send_wr){
		.wr_id = (uint64_t)index,
		.opcode = op == PROTO_PUT ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ,
		.sg_list = sge,
		.num_sge = (int)nsge,
		.wr.rdma = { .remote_addr = v->remote_addr + slot * PROTO_SLOT_SIZE,
			     .rkey = v->rkey },
	};
	if (v->chain_head < 0)
		v->chain_head = index;
	else
		v->wrs[v->chain_tail].next = wr;
	v->chain_tail = index;
	if (++v->chained >= VERBS_BATCH)
		verbs_flush(ps);
	return (int)bytes;
}

static int verbs_put(struct page_store *ps, uint64_t slot, uint64_t live, struct ps_seal seal,
		     const void *buf, uint64_t cookie)
{
	return submit(ps, PROTO_PUT, slot, live, seal, (uint8_t *)(uintptr_t)buf, cookie);
}

static int verbs_get(struct page_store *ps, uint64_t slot, uint64_t live, struct ps_seal seal,
		     void *buf, uint64_t cookie)
{
	return submit(ps, PROTO_GET, slot, live, seal, buf, cookie);
}

/* Copies a finished GET's lines from the staging slot to the caller's page, zeroing the rest
 * (opening them first when sealed). Returns 0 or -EBADMSG. */
static int scatter(struct verbs_store *v, unsigned index)
{
	const struct ps_slot *s = &v->slots.slot[index];
	const uint8_t *stage = stage_of(v, index);
	struct sg_plan plan;

	sg_plan_page(s->live, v->ps.conf.max_segs, v->ps.conf.seg_cost, &plan);
	if (v->sealed)
		return page_open(&v->seal, s->seal.page, s->live, s->seal.version, &plan, stage,
				 s->buf, v->scratch);
	sg_plan_unpack(&plan, s->buf, stage, false);
	return 0;
}

static int verbs_reap(struct page_store *ps, struct ps_completion *out, int max)
{
	struct verbs_store *v = vs(ps);
	struct ibv_wc wc[32];
	struct ibv_cq *cq;
	void *ctx;
	int n = 0;

	verbs_flush(ps);
	ps_slots_drain(&v->slots, out, &n, max);
	if (ps->down)
		return n;
	/* A node that dies closes the control link (its process's sockets), while the queue pair
	 * of an idle link would not notice until its next request: the link is down now. */
	uint64_t now = ps_now_ns();

	if (now - v->link_checked_ns > LINK_CHECK_NS) {
		char byte;

		v->link_checked_ns = now;
		if (recv(v->link_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
			log_msg("page store: the memory node closed the control link");
			ps_slots_fail_all(ps, &v->slots);
			ps_slots_drain(&v->slots, out, &n, max);
			return n;
		}
	}
	/* Consume the channel's event (if any) and re-arm before polling: nothing is lost. */
	if (ibv_get_cq_event(v->cc, &cq, &ctx) == 0)
		ibv_ack_cq_events(cq, 1);
	ibv_req_notify_cq(v->cq, 0);
	for (;;) {
		int k = ibv_poll_cq(v->cq, 32, wc);

		if (k <= 0)
			break;
		for (int i = 0; i < k && !ps->down; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				log_msg("page store: RDMA %s failed: %s",
					wc[i].opcode == IBV_WC_RDMA_READ ? "READ" : "WRITE",
					ibv_wc_status_str(wc[i].status));
				ps_slots_fail_all(ps, &v->slots);
				break;
			}
			/* In order: this completion finishes everything posted up to it. */
			while (v->posted_count > 0) {
				unsigned index = v->posted[v->posted_head];

				v->posted_head = (v->posted_head + 1) % v->slots.n;
				v->posted_count--;
				if (!v->slots.slot[index].busy)
					continue; /* already failed by a timeout */
				ps_slots_finish(ps, &v->slots, index,
						v->slots.slot[index].op == PROTO_GET
							? scatter(v, index)
							: 0);
				if (index == wc[i].wr_id)
					break;
			}
		}
		if (ps->down)
			break;
	}
	ps_slots_drain(&v->slots, out, &n, max);
	if (!ps->down && ps->inflight > 0 && ps_slots_expired(ps, &v->slots)) {
		log_msg("page store: no RDMA completion for %u ms", ps->conf.timeout_ms);
		ps_slots_fail_all(&v->ps, &v->slots);
	}
	ps_slots_drain(&v->slots, out, &n, max);
	return n;
}

static int verbs_fd(struct page_store *ps)
{
	return vs(ps)->cc->fd;
}

static void verbs_close(struct page_store *ps)
{
	struct verbs_store *v = vs(ps);

	page_seal_free(&v->seal);
	if (v->id && v->id->qp) {
		rdma_disconnect(v->id);
		rdma_destroy_qp(v->id);
	}
	if (v->mr)
		ibv_dereg_mr(v->mr);
	if (v->cq)
		ibv_destroy_cq(v->cq);
	if (v->cc)
		ibv_destroy_comp_channel(v->cc);
	if (v->pd)
		ibv_dealloc_pd(v->pd);
	if (v->id)
		rdma_destroy_id(v->id);
	if (v->ch)
		rdma_destroy_event_channel(v->ch);
	if (v->link_fd >= 0)
		close(v->link_fd);
	free(v->staging);
	free(v->wrs);
	free(v->sges);
	free(v->posted);
	ps_slots_free(&v->slots);
	free(v);
}

static int verbs_release(struct page_store *ps)
{
	struct verbs_store *v = vs(ps);
	int ret = ps->inflight ? -EIO : node_link_release(v->link_fd, v->release_proof);

	verbs_close(ps);
	return ret;
}

static void verbs_forget(struct page_store *ps, uint64_t cookie)
{
	ps_slots_forget(&vs(ps)->slots, cookie);
}

static const struct page_store_ops verbs_ops = {
	.put = verbs_put,
	.get = verbs_get,
	.forget = verbs_forget,
	.flush = verbs_flush,
	.reap = verbs_reap,
	.fd = verbs_fd,
	.release = verbs_release,
	.close = verbs_close,
};

/* How long to wait for the node to accept: before it does, it registers (pins) the region's
 * memory if it is new, which takes seconds for large regions (many under emulation). */
static unsigned accept_wait_ms(const struct page_store_conf *conf)
{
	if (conf->rdma_wait_ms)
		return conf->rdma_wait_ms;
	return conf->timeout_ms > ACCEPT_WAIT_MIN_MS ? conf->timeout_ms : ACCEPT_WAIT_MIN_MS;
}

/* The RDMA connection was not accepted: serve over the authenticated TCP link instead, which
 * the node serves like any TCP client's (its ticket is simply never spent). */
static int fall_back(struct verbs_store *v, const struct page_store_conf *conf,
		     const struct node_session *s, const char *why, struct page_store **out,
		     char *err, size_t errlen)
{
	int fd = v->link_fd, ret;

	v->link_fd = -1;
	verbs_close(&v->ps);
	log_msg("%s: %s; serving over TCP on the same link instead", conf->url, why);
	ret = ps_tcp_attach(conf, fd, s, out, err, errlen);
	if (ret == 0)
		(*out)->fallback = true;
	return ret;
}

/* Waits (bounded) for the next rdma_cm event; returns its type, or -1. */
static int next_event(struct verbs_store *v, unsigned timeout_ms, struct rdma_cm_event **ev)
{
	struct pollfd p = { .fd = v->ch->fd, .events = POLLIN };

	if (poll(&p, 1, (int)timeout_ms) != 1 || rdma_get_cm_event(v->ch, ev))
		return -1;
	return (int)(*ev)->event;
}

static int expect_event(struct verbs_store *v, unsigned timeout_ms, enum rdma_cm_event_type want,
			struct proto_rdma_rep *rep)
{
	struct rdma_cm_event *ev;
	int type = next_event(v, timeout_ms, &ev);

	if (type < 0)
		return -ETIMEDOUT;
	if (type == RDMA_CM_EVENT_ESTABLISHED && rep) {
		if (ev->param.conn.private_data_len < sizeof(*rep)) {
			rdma_ack_cm_event(ev);
			return -EPROTO;
		}
		memcpy(rep, ev->param.conn.private_data, sizeof(*rep));
	}
	rdma_ack_cm_event(ev);
	if (type == (int)want)
		return 0;
	return type == RDMA_CM_EVENT_REJECTED ? -ECONNREFUSED : -EHOSTUNREACH;
}

int ps_verbs_open(const struct page_store_conf *conf, const char *host, const char *port,
		  struct page_store **out, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct node_session s;
	struct verbs_store *v = calloc(1, sizeof(*v));
	struct ibv_device_attr attr;
	struct proto_rdma_rep rep;
	int ret;

	if (!v)
		return -ENOMEM;
	v->link_fd = node_link_open(conf, host, port, PROTO_TICKET, &s, err, errlen);
	if (v->link_fd < 0) {
		ret = v->link_fd;
		v->link_fd = -1;
		goto fail_quiet;
	}
	v->ps = (struct page_store){ .ops = &verbs_ops, .conf = *conf };
	v->ps.conf.secret = NULL;
	v->ps.conf.device_key = NULL;
	v->ps.conf.seal_key = NULL;
	memcpy(v->release_proof, s.release_proof, AUTH_SIG);
	v->sealed = conf->seal_key != NULL;
	/* aligned_alloc wants a multiple of the alignment. */
	v->staging = aligned_alloc(PROTO_PAGE_SIZE, ((size_t)conf->max_inflight * PROTO_SLOT_SIZE +
						     PROTO_PAGE_SIZE - 1) /
							    PROTO_PAGE_SIZE * PROTO_PAGE_SIZE);
	v->wrs = calloc(conf->max_inflight, sizeof(*v->wrs));
	v->sges = calloc((size_t)conf->max_inflight * SG_MAX_SEGS, sizeof(*v->sges));
	v->posted = calloc(conf->max_inflight, sizeof(*v->posted));
	v->chain_head = v->chain_tail = -1;
	if (ps_slots_init(&v->slots, conf->max_inflight) < 0 || !v->staging || !v->wrs ||
	    !v->sges || !v->posted || (v->sealed && page_seal_init(&v->seal, conf->seal_key) < 0)) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail_quiet;
	}
	ret = -EHOSTUNREACH;
	v->ch = rdma_create_event_channel();
	if (!v->ch || rdma_create_id(v->ch, &v->id, v, RDMA_PS_TCP) ||
	    getaddrinfo(host, port, &hints, &ai) ||
	    rdma_resolve_addr(v->id, NULL, ai->ai_addr, (int)conf->timeout_ms) ||
	    expect_event(v, conf->timeout_ms, RDMA_CM_EVENT_ADDR_RESOLVED, NULL) ||
	    rdma_resolve_route(v->id, (int)conf->timeout_ms) ||
	    expect_event(v, conf->timeout_ms, RDMA_CM_EVENT_ROUTE_RESOLVED, NULL)) {
		snprintf(err, errlen,
			 "no RDMA route to %s:%s (is there an RDMA device, e.g. rxe, "
			 "on this host?)",
			 host, port);
		goto fail;
	}
	if (ibv_query_device(v->id->verbs, &attr)) {
		snprintf(err, errlen, "cannot query the RDMA device");
		goto fail;
	}
	/* The packing needs max_segs elements in one work request, both ways. */
	if ((unsigned)attr.max_sge < conf->max_segs || (unsigned)attr.max_sge_rd < conf->max_segs) {
		snprintf(err, errlen,
			 "the RDMA device allows %d SG elements (%d for READ); "
			 "lineswap packs pages in up to %u",
			 attr.max_sge, attr.max_sge_rd, conf->max_segs);
		ret = -EOPNOTSUPP;
		goto fail;
	}
	struct ibv_qp_init_attr qpa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = v->slots.n,
			 .max_recv_wr = 1,
			 .max_send_sge = conf->max_segs,
			 .max_recv_sge = 1 },
	};
	struct proto_rdma_req req = { .magic = PROTO_MAGIC };
	struct rdma_conn_param param = {
		.private_data = &req,
		.private_data_len = sizeof(req),
		.initiator_depth =
			(uint8_t)(attr.max_qp_init_rd_atom < 16 ? attr.max_qp_init_rd_atom : 16),
		.retry_count = 3,
		.rnr_retry_count = 7,
	};

	memcpy(req.ticket, s.ticket, sizeof(req.ticket));
	v->pd = ibv_alloc_pd(v->id->verbs);
	v->cc = v->pd ? ibv_create_comp_channel(v->id->verbs) : NULL;
	v->cq = v->cc ? ibv_create_cq(v->id->verbs, (int)v->slots.n, NULL, v->cc, 0) : NULL;
	v->mr = v->cq ? ibv_reg_mr(v->pd, v->staging, (size_t)v->slots.n * PROTO_SLOT_SIZE,
				   IBV_ACCESS_LOCAL_WRITE)
		      : NULL;
	qpa.send_cq = qpa.recv_cq = v->cq;
	if (!v->mr || rdma_create_qp(v->id, v->pd, &qpa)) {
		snprintf(err, errlen, "cannot set up RDMA resources: %s", strerror(errno));
		goto fail;
	}
	fcntl(v->cc->fd, F_SETFL, fcntl(v->cc->fd, F_GETFL) | O_NONBLOCK);
	ibv_req_notify_cq(v->cq, 0);
	if (rdma_connect(v->id, &param) ||
	    (ret = expect_event(v, accept_wait_ms(conf), RDMA_CM_EVENT_ESTABLISHED, &rep)) < 0) {
		snprintf(err, errlen, "the memory node at %s:%s %s the RDMA connection", host, port,
			 ret == -ECONNREFUSED ? "refused" : "did not accept");
		ret = ret < 0 ? ret : -ECONNREFUSED;
		if (conf->tcp_fallback) {
			freeaddrinfo(ai);
			return fall_back(v, conf, &s, err, out, err, errlen);
		}
		goto fail;
	}
	if (rep.bytes != conf->bytes) {
		snprintf(err, errlen, "the memory node granted a region of another size");
		ret = -EPROTO;
		goto fail;
	}
	v->remote_addr = rep.addr;
	v->rkey = rep.rkey;
	freeaddrinfo(ai);
	*out = &v->ps;
	return 0;
fail:
	if (ai)
		freeaddrinfo(ai);
fail_quiet:
	verbs_close(&v->ps);
	return ret;
}
