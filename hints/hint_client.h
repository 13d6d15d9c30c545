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
	/* Mmap mode: the range granted, of /dev/ublkb<dev_id> */
	uint64_t arena_offset, arena_bytes;
	uint32_t dev_id;
};

/* Mmap mode: what to ask for besides the ring. */
struct hint_arena_ask {
	uint64_t bytes;  /* the range's size (rounded up to 32 MiB by the server) */
	uint64_t offset; /* HINT_ARENA_ANY (hint_proto.h), or the range this process maps */
};

/* The server's socket path from the environment; false if it does not fit in len bytes. */
bool hint_client_socket_path(char *buf, size_t len);

/* Registers with the server at path, asking for a ring of `records` records (0: the server's
 * default), and in mmap mode (arena not NULL) for a range of the device. Returns 0, or -errno
 * with the reason in why. */
int hint_client_register(struct hint_client *c, const char *path, uint32_t records,
			 const struct hint_arena_ask *arena, char *why, size_t whylen);

/* Mmap mode: tells the server the range is mapped at base, and waits for its check. Returns 0,
 * or -errno with the reason in why (the server then ends the registration). */
int hint_client_claim(struct hint_client *c, uint64_t base, char *why, size_t whylen);

/* Whether the server has closed the registration (it stopped or dropped this client). */
bool hint_client_server_gone(const struct hint_client *c);

/* Ends the registration and unmaps the ring. */
void hint_client_unregister(struct hint_client *c);

#endif
