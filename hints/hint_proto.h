/* hint_proto.h — registration: how a client process gets its hint ring from the server.
 *
 * The client connects to the device's unix stream socket (hint_client.h says where) and sends
 * a hint_hello. The server checks the peer's credentials (SO_PEERCRED: its own uid or root by
 * default), caps the ring size, and answers with a hint_welcome; when status is 0 the message
 * carries one file descriptor (SCM_RIGHTS): a memfd of welcome.ring_bytes bytes holding an
 * initialised hint ring, which the client maps shared. The connection then stays open and
 * silent: its end tells the server that the client has gone (and the client, that the server
 * has). Anything else the client sends ends the registration. */
#ifndef LINESWAP_HINT_PROTO_H
#define LINESWAP_HINT_PROTO_H

#include <stdint.h>

#define HINT_PROTO_MAGIC   0x3148534cu /* "LSH1" */
#define HINT_PROTO_VERSION 1

struct hint_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;        /* none defined: must be 0 */
	uint32_t ring_records; /* wanted; the server may give fewer (0: its default) */
	uint32_t reserved;     /* 0 */
};

struct hint_welcome {
	uint32_t magic;
	uint16_t version;
	int16_t status;        /* 0, or a negative errno: no ring, see reason */
	uint32_t ring_records; /* the ring's capacity */
	uint32_t client_id;    /* as `ublk-ctl hints` lists it */
	uint64_t ring_bytes;   /* the memfd's size */
	char reason[64];       /* NUL-terminated, when status < 0 */
};

#endif
