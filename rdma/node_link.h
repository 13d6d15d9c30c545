/* node_link.h — a client's TCP control connection to a memory node. */
#ifndef LINESWAP_NODE_LINK_H
#define LINESWAP_NODE_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "page_store.h"

/* Each direction of a link's socket is fixed at this size (the kernel doubles it for its own
 * bookkeeping), not left to autotuning: what a queue's connection can hold in socket memory
 * is known, and so is the reserve swap over TCP needs under whole-machine pressure
 * (io_thread.h; README, "Swap under memory pressure"). 512 KiB is several times a LAN's
 * bandwidth-delay product. */
#define NODE_LINK_SOCKBUF (512 * 1024)

/* What a handshake leaves the client. */
struct node_session {
	struct proto_welcome welcome;
	uint8_t ticket[PROTO_TICKET_LEN]; /* with PROTO_TICKET, unwrapped */
	uint8_t release_proof[AUTH_SIG];  /* what RELEASE on this connection presents */
};

/* Connects (bounded by conf->timeout_ms) and shakes hands (proto.h): the node proves conf's
 * secret, the client proves it and creates or attaches to conf's region, asking for
 * extra_flags (PROTO_TICKET). Returns the connected socket with *s filled, or -errno with a
 * message in err (see page_store_open for the values). */
int node_link_open(const struct page_store_conf *conf, const char *host, const char *port,
		   uint32_t extra_flags, struct node_session *s, char *err, size_t errlen);

/* Asks the node (authenticated by conf's secret) how many bytes of pages it has room for (its
 * memory left, less the slots' tags). Returns 0 with *free_bytes, or -errno with a message in
 * err. */
int node_link_probe(const struct page_store_conf *conf, const char *host, const char *port,
		    uint64_t *free_bytes, char *err, size_t errlen);

/* The TCP transport over socket fd, which has shaken hands (s): what ps_tcp_open does after
 * node_link_open, and how a test puts a store over a socket of its own. Takes fd (closed on
 * failure). Returns 0, or -ENOMEM with a message in err. */
int ps_tcp_attach(const struct page_store_conf *conf, int fd, const struct node_session *s,
		  struct page_store **out, char *err, size_t errlen);

/* Frees the link's region on the node, with the session's proof. Returns 0 or -EIO. */
int node_link_release(int fd, const uint8_t proof[AUTH_SIG]);

#endif
