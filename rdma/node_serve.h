/* node_serve.h — the memory node's clients: the handshake, the frames, the limits.
 *
 * One thread, one epoll loop (memnode.c) over TCP clients. A connection first shakes hands
 * (proto.h, auth.h): until it has proven a tenant's secret it is pending, holds a few hundred
 * bytes, has a deadline, and is subject to the limits of node_guard.h; only then does it count
 * against --max-clients and get its buffers. Every frame a client sends is checked before it
 * touches memory; a client that breaks the protocol (bad magic, unknown op, impossible length)
 * is logged and disconnected, and the others go on. A request for a page outside the client's
 * region is answered with an error and does not end the connection. A client that does not
 * read its replies stops being read (its replies wait in a bounded buffer), so it cannot make
 * the node buffer without limit. */
#ifndef LINESWAP_NODE_SERVE_H
#define LINESWAP_NODE_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "node_guard.h"
#include "node_region.h"
#include "secret.h"

#define NODE_MAX_TENANTS 64
#define NODE_TICK_MS     20 /* how often pending handshakes are looked at (node_tick) */

struct client;
struct node_rdma;

/* The node: memnode.c fills the settings and opens the fds; the rest is node_serve.c's. */
struct node {
	struct node_memory mem;
	struct secret tenants[NODE_MAX_TENANTS];
	unsigned ntenants;
	int epfd, listen_fd, sig_fd, control_fd;
	struct client *first, *last;
	struct client *dead; /* dropped during this batch of events */
	struct node_guard guard;
	unsigned max_clients, nserving;
	unsigned tenant_clients;            /* authenticated connections one tenant may hold */
	unsigned serving[NODE_MAX_TENANTS]; /* of each tenant now */
	uint32_t handshake_ms;
	uint64_t lease_s;
	uint64_t served_puts, served_gets, rejected, auth_failures, evicted, expired;
	struct node_rdma *rdma; /* with --rdma */
	int rdma_fd;
};

/* Accepts the connections waiting on n->listen_fd. */
void node_accept(struct node *n);
/* A connected socket (non-blocking) from addr becomes a pending client, watched by n->epfd
 * with the client as its data; peer names it in the log. Returns it, or NULL (fd closed). */
struct client *node_add_client(struct node *n, int fd, const uint8_t addr[GUARD_ADDR],
			       const char *peer);
/* Serves client c's epoll events. */
void node_serve(struct node *n, struct client *c, uint32_t events);
/* Every NODE_TICK_MS while handshakes are pending (and every second with a lease): deadlines,
 * held handshakes, leases. */
void node_tick(struct node *n);
/* Frees the clients dropped since the last call (after each batch of events). */
void node_bury_dead(struct node *n);
/* Drops every client (shutdown). */
void node_drop_all(struct node *n);
/* node_rdma's ticket check (ctx: the node) and node_control's free (ctx: the node). */
struct node_region *node_spend_ticket(void *ctx, const uint8_t *ticket);
void node_operator_free(void *ctx, struct node_region *r);
/* SIGUSR1: one JSON line of counts to stderr. */
void node_print_status(const struct node *n);

#endif
