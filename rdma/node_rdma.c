/* node_rdma.c — the memory node's rdma_cm listener.
 *
 * A connection request carries a ticket the client got on its TCP link (proto.h). The node
 * registers the ticket's region on the request's device, in a protection domain of the
 * region's own (once per region and device: memory registration pins the region's pages),
 * makes an RC queue pair in that domain, and accepts with the region's address and rkey.
 * Clients then move pages with RDMA WRITE and READ, which the node's CPU never sees. A queue
 * pair can reach nothing but its region: an rkey of another region's domain is refused by the
 * device, however it was learned or guessed. A request without a valid ticket is rejected and
 * logged. */
#include "node_rdma.h"

#include <errno.h>
#include <fcntl.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define MAX_DEVICES 8
#define MAX_CONNS   1024

struct device {
	struct ibv_context *verbs;
	struct ibv_cq *cq; /* the queue pairs need one; nothing ever completes on it */
	int max_rd_atom;
};

/* A region on a device: its own protection domain, and the region registered in it. */
struct registration {
	const struct node_region *region;
	struct ibv_context *verbs;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
};

struct conn {
	struct rdma_cm_id *id;
	const struct node_region *region;
};

struct node_rdma {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *listen_id;
	struct node_memory *mem;
	node_ticket_fn ticket;
	void *ctx;
	struct device devices[MAX_DEVICES];
	struct registration *mrs; /* grows with the regions reached over RDMA */
	unsigned nmrs, mrs_cap;
	struct conn conns[MAX_CONNS];
};

static struct device *device_of(struct node_rdma *nr, struct ibv_context *verbs)
{
	for (unsigned i = 0; i < MAX_DEVICES; i++) {
		struct device *d = &nr->devices[i];

		if (d->verbs == verbs)
			return d;
		if (d->verbs)
			continue;
		struct ibv_device_attr attr;

		d->cq = ibv_create_cq(verbs, 4, NULL, NULL, 0);
		if (!d->cq || ibv_query_device(verbs, &attr)) {
			if (d->cq)
				ibv_destroy_cq(d->cq);
			memset(d, 0, sizeof(*d));
			return NULL;
		}
		d->verbs = verbs;
		d->max_rd_atom = attr.max_qp_rd_atom;
		return d;
	}
	return NULL;
}

static struct registration *registration(struct node_rdma *nr, struct device *d,
					 const struct node_region *r)
{
	struct registration reg = { .region = r, .verbs = d->verbs };

	for (unsigned i = 0; i < nr->nmrs; i++)
		if (nr->mrs[i].region == r && nr->mrs[i].verbs == d->verbs)
			return &nr->mrs[i];
	if (nr->nmrs == nr->mrs_cap) {
		unsigned cap = nr->mrs_cap ? 2 * nr->mrs_cap : 16;
		struct registration *grown = realloc(nr->mrs, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		nr->mrs = grown;
		nr->mrs_cap = cap;
	}
	reg.pd = ibv_alloc_pd(d->verbs);
	reg.mr = reg.pd ? ibv_reg_mr(reg.pd, nr->mem->base + r->offset, r->span,
				     IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
					     IBV_ACCESS_REMOTE_READ)
			: NULL;
	if (!reg.mr) {
		if (reg.pd)
			ibv_dealloc_pd(reg.pd);
		return NULL;
	}
	nr->mrs[nr->nmrs] = reg;
	return &nr->mrs[nr->nmrs++];
}

static void unregister(struct registration *reg)
{
	ibv_dereg_mr(reg->mr);
	ibv_dealloc_pd(reg->pd);
}

static void drop_conn(struct conn *c)
{
	if (!c->id)
		return;
	if (c->id->qp)
		rdma_destroy_qp(c->id);
	rdma_destroy_id(c->id);
	c->id = NULL;
	c->region = NULL;
}

static struct conn *conn_of(struct node_rdma *nr, struct rdma_cm_id *id)
{
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (nr->conns[i].id == id)
			return &nr->conns[i];
	return NULL;
}

static void on_request(struct node_rdma *nr, struct rdma_cm_event *ev)
{
	const struct proto_rdma_req *req = ev->param.conn.private_data;
	struct rdma_cm_id *id = ev->id;
	const struct node_region *r = NULL;
	const char *why = NULL;
	struct conn *slot = conn_of(nr, NULL);
	struct device *d;
	struct registration *reg = NULL;

	if (ev->param.conn.private_data_len < sizeof(*req) || req->magic != PROTO_MAGIC)
		why = "no lineswap ticket";
	else if (!(r = nr->ticket(nr->ctx, req->ticket)))
		why = "unknown or spent ticket";
	else if (!slot)
		why = "too many RDMA connections";
	else if (!(d = device_of(nr, id->verbs)))
		why = "cannot set up the RDMA device";
	else if (!(reg = registration(nr, d, r)))
		why = "cannot register the region's memory";
	if (!why) {
		struct ibv_qp_init_attr qpa = {
			.send_cq = d->cq,
			.recv_cq = d->cq,
			.qp_type = IBV_QPT_RC,
			.cap = { .max_send_wr = 1,
				 .max_recv_wr = 1,
				 .max_send_sge = 1,
				 .max_recv_sge = 1 },
		};
		struct proto_rdma_rep rep = {
			.addr = (uint64_t)(uintptr_t)(nr->mem->base + r->offset),
			.rkey = reg->mr->rkey,
			.bytes = r->bytes,
		};
		struct rdma_conn_param param = {
			.private_data = &rep,
			.private_data_len = sizeof(rep),
			/* Clients read: as many outstanding READs as the device allows. */
			.responder_resources = (uint8_t)(d->max_rd_atom < 16 ? d->max_rd_atom : 16),
			.initiator_depth = 0,
			.rnr_retry_count = 7,
		};

		if (rdma_create_qp(id, reg->pd, &qpa))
			why = "cannot create a queue pair";
		else if (rdma_accept(id, &param))
			why = "accept failed";
	}
	if (why) {
		fprintf(stderr, "memnode: RDMA connection refused: %s\n", why);
		if (id->qp)
			rdma_destroy_qp(id);
		rdma_reject(id, NULL, 0);
		/* The id goes with the ack of this event (destroyed by the caller). */
		return;
	}
	slot->id = id;
	slot->region = r;
	fprintf(stderr, "memnode: RDMA connection accepted (%llu KiB region)\n",
		(unsigned long long)(r->bytes >> 10));
}

void node_rdma_handle(struct node_rdma *nr)
{
	struct rdma_cm_event *ev;

	while (rdma_get_cm_event(nr->ch, &ev) == 0) {
		struct rdma_cm_id *id = ev->id;
		enum rdma_cm_event_type type = ev->event;
		struct conn *c;
		bool destroy = false;

		switch (type) {
		case RDMA_CM_EVENT_CONNECT_REQUEST:
			on_request(nr, ev);
			destroy = !conn_of(nr, id);
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_UNREACHABLE:
		case RDMA_CM_EVENT_REJECTED:
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			c = conn_of(nr, id);
			rdma_ack_cm_event(ev);
			if (c)
				drop_conn(c);
			continue;
		default:
			break;
		}
		rdma_ack_cm_event(ev);
		if (destroy)
			rdma_destroy_id(id);
	}
}

void node_rdma_forget_region(struct node_rdma *nr, const struct node_region *r)
{
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (nr->conns[i].id && nr->conns[i].region == r) {
			rdma_disconnect(nr->conns[i].id);
			drop_conn(&nr->conns[i]);
		}
	for (unsigned i = 0; i < nr->nmrs;)
		if (nr->mrs[i].region == r) {
			unregister(&nr->mrs[i]);
			nr->mrs[i] = nr->mrs[--nr->nmrs];
		} else {
			i++;
		}
}

unsigned node_rdma_connections(const struct node_rdma *nr)
{
	unsigned n = 0;

	for (unsigned i = 0; i < MAX_CONNS; i++)
		n += nr->conns[i].id != NULL;
	return n;
}

void node_rdma_close(struct node_rdma *nr)
{
	if (!nr)
		return;
	for (unsigned i = 0; i < MAX_CONNS; i++)
		drop_conn(&nr->conns[i]);
	for (unsigned i = 0; i < nr->nmrs; i++)
		unregister(&nr->mrs[i]);
	free(nr->mrs);
	if (nr->listen_id)
		rdma_destroy_id(nr->listen_id);
	for (unsigned i = 0; i < MAX_DEVICES; i++)
		if (nr->devices[i].cq)
			ibv_destroy_cq(nr->devices[i].cq);
	if (nr->ch)
		rdma_destroy_event_channel(nr->ch);
	free(nr);
}

int node_rdma_listen(struct node_rdma **out, struct node_memory *mem, const struct sockaddr *addr,
		     node_ticket_fn ticket, void *ctx, char *err, size_t errlen)
{
	struct node_rdma *nr = calloc(1, sizeof(*nr));
	int ret;

	if (!nr)
		return -ENOMEM;
	nr->mem = mem;
	nr->ticket = ticket;
	nr->ctx = ctx;
	nr->ch = rdma_create_event_channel();
	if (!nr->ch || rdma_create_id(nr->ch, &nr->listen_id, nr, RDMA_PS_TCP) ||
	    rdma_bind_addr(nr->listen_id, (struct sockaddr *)addr) ||
	    rdma_listen(nr->listen_id, 64)) {
		ret = -errno;
		snprintf(err, errlen,
			 "cannot listen for RDMA connections: %s (is there an RDMA "
			 "device on that address?)",
			 strerror(errno));
		node_rdma_close(nr);
		return ret;
	}
	fcntl(nr->ch->fd, F_SETFL, fcntl(nr->ch->fd, F_GETFL) | O_NONBLOCK);
	*out = nr;
	return nr->ch->fd;
}
