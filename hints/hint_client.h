/* hint_client.h — the client side of registration (hint_proto.h), used by the hint allocator
 * inside an application. It allocates nothing and takes no locks: it may run inside malloc.
 *
 * Where the server is: $LINESWAP_HINTS_SOCKET, else the socket of device $LINESWAP_HINTS_DEVICE
 * (default 0) in $LINESWAP_RUN_DIR (default /run/lineswap): <run dir>/ublk<ID>.hints. */
#ifndef LINESWAP_HINT_CLIENT_H
#define LINESWAP_HINT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hint_ring.h"

struct hint_client {
	int sock;               /* the registration, kept open; -1 when not registered */
	struct hint_ring *ring; /* mapped shared, not inherited by children (MADV_DONTFORK) */
	size_t ring_bytes;
	uint32_t client_id;
};

/* The server's socket path from the environment; false if it does not fit in len bytes. */
bool hint_client_socket_path(char *buf, size_t len);

/* Registers with the server at path, asking for a ring of `records` records (0: the server's
 * default). Returns 0, or -errno with the reason in why. */
int hint_client_register(struct hint_client *c, const char *path, uint32_t records, char *why,
			 size_t whylen);

/* Whether the server has closed the registration (it stopped or dropped this client). */
bool hint_client_server_gone(const struct hint_client *c);

/* Ends the registration and unmaps the ring. */
void hint_client_unregister(struct hint_client *c);

#endif
