/* node_rdma.h — the memory node's RDMA side: rdma_cm connections that clients use for
 * one-sided RDMA WRITE and READ into their region. The node posts nothing itself. */
#ifndef LINESWAP_NODE_RDMA_H
#define LINESWAP_NODE_RDMA_H

#include <sys/socket.h>

#include "node_region.h"

struct node_rdma;

/* Returns the region a ticket grants (and spends the ticket), or NULL. */
typedef struct node_region *(*node_ticket_fn)(void *ctx, const uint8_t *ticket);

/* Listens for rdma_cm connections on `addr`. Returns an fd to poll (readable when
 * node_rdma_handle has events) or -errno with a message in err. */
int node_rdma_listen(struct node_rdma **out, struct node_memory *mem, const struct sockaddr *addr,
		     node_ticket_fn ticket, void *ctx, char *err, size_t errlen);
void node_rdma_handle(struct node_rdma *nr);
/* A region is about to be freed: disconnect its RDMA clients and drop its registration. */
void node_rdma_forget_region(struct node_rdma *nr, const struct node_region *r);
unsigned node_rdma_connections(const struct node_rdma *nr);
void node_rdma_close(struct node_rdma *nr);

#endif
