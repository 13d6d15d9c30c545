/* hint_proto.h — registration: how a client process gets its hint ring from the server.
 *
 * The client connects to the device's unix stream socket (hint_client.h says where) and sends
 * a hint_hello. The server checks the peer's credentials (SO_PEERCRED: its own uid or root by
 * default), caps the ring size, and answers with a hint_welcome; when status is 0 the message
 * carries one file descriptor (SCM_RIGHTS): a memfd of welcome.ring_bytes bytes holding an
 * initialised hint ring, which the client maps shared. The connection then stays open and
 * silent: its end tells the server that the client has gone (and the client, that the server
 * has). Anything else the client sends ends the registration (in mmap mode: anything but
 * one hint_claim after the welcome). */
#ifndef LINESWAP_HINT_PROTO_H
#define LINESWAP_HINT_PROTO_H

#include <stdint.h>

#define HINT_PROTO_MAGIC   0x3148534cu /* "LSH1" */
#define HINT_PROTO_VERSION 2

/* hint_hello.flags */
#define HINT_HELLO_ARENA 1 /* mmap mode: also a range of the device, for the heap */
#define HINT_ARENA_ANY   UINT64_MAX

struct hint_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;        /* HINT_HELLO_* */
	uint32_t ring_records; /* wanted; the server may give fewer (0: its default) */
	uint32_t reserved;     /* 0 */
	uint64_t arena_bytes;  /* HINT_HELLO_ARENA: the range's size */
	uint64_t arena_offset; /* HINT_HELLO_ARENA: HINT_ARENA_ANY, or the range this process
				* already maps (it registered with an earlier daemon) */
};

struct hint_welcome {
	uint32_t magic;
	uint16_t version;
	int16_t status;        /* 0, or a negative errno: no ring, see reason */
	uint32_t ring_records; /* the ring's capacity */
	uint32_t client_id;    /* as `ublk-ctl hints` lists it */
	uint64_t ring_bytes;   /* the memfd's size */
	uint64_t arena_offset; /* HINT_HELLO_ARENA: the range granted, in /dev/ublkb<dev_id> */
	uint64_t arena_bytes;
	uint32_t dev_id;
	uint32_t reserved;
	char reason[64]; /* NUL-terminated, when status < 0 */
};

/* Mmap mode: once welcomed with a range, the client maps it shared and writable from
 * /dev/ublkb<dev_id> (opened with its own rights) at offset arena_offset, and says where. The
 * server checks that in the client's /proc/PID/maps and answers with a hint_claimed; until
 * then the client's records are refused. A refused claim ends the registration. The start of
 * every HINT_ARENA_UNIT bytes of the range, up to HINT_ARENA_HEADER_MAX, may be ordinary
 * memory instead (anonymous, private: the allocator's segment headers, which would otherwise
 * be written back at every cleaning); its device pages are then the client's unused ones. */
#define HINT_ARENA_UNIT       (32ull << 20) /* mimalloc 2.0.9's segment */
#define HINT_ARENA_HEADER_MAX (1ull << 20)
struct hint_claim {
	uint32_t magic;
	uint32_t reserved; /* 0 */
	uint64_t base;     /* the address the range's first byte is mapped at */
};

struct hint_claimed {
	uint32_t magic;
	int32_t status;  /* 0, or a negative errno */
	char reason[64]; /* NUL-terminated, when status < 0 */
};

#endif
