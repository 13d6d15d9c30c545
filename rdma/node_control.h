/* node_control.h — the memory node's local control socket: its operator lists regions and
 * frees them (memnode regions, memnode free-region).
 *
 * A Unix stream socket at the path given by --control, mode 0600, answering only peers with the
 * node's own uid (or root), checked with SO_PEERCRED. A request is one line: "regions" (the
 * answer is one JSON object per region, one per line) or "free SERIAL" (the answer "ok" or
 * "error: WHY"). The node then closes the connection. */
#ifndef LINESWAP_NODE_CONTROL_H
#define LINESWAP_NODE_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "node_region.h"

/* Frees region r as the operator asked (the node disconnects its clients first). */
typedef void (*node_free_fn)(void *ctx, struct node_region *r);

/* Listens at path (replacing a stale socket there). Returns the listening fd or -errno with a
 * message in err. */
int node_control_listen(const char *path, char *err, size_t errlen);
/* Answers the connections waiting on listen_fd, each exchange bounded to a second in all (a
 * peer that sends or reads too slowly is cut off). */
void node_control_serve(int listen_fd, const struct node_memory *m, uint64_t now_s,
			node_free_fn free_region, void *ctx);

/* The client side: sends `request` to the node at path and copies the answer to stdout (as
 * JSON lines with json, else as a table for "regions"). Returns the exit status: 0, 1 when the
 * node refused or cannot be reached (a message on stderr). */
int node_control_run(const char *path, const char *request, int json);

#endif
