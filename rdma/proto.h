/* proto.h — the memory node's wire format (TCP), shared by the node and its clients.
 *
 * All integers are little-endian (lineswap runs on little-endian hosts; see proto.c). A
 * connection starts with a hello from the client and the node's answer; then the client sends
 * requests and the node answers each one, in order.
 *
 * Memory is handed out as regions named by the client (16 bytes): a region outlives the
 * connections attached to it, so a restarted client (ublk-ctl recover) finds its pages again,
 * and several connections (one per queue) can share one. Only RELEASE frees it.
 *
 * The remote layout is the one RDMA imposes (docs/design.md, "The remote layout: one work
 * request per page"): a page's slot holds the page's moved bytes packed at its start. A PUT
 * carries `len` packed bytes for slot `page`; a GET asks for the first `len` bytes of slot
 * `page`. Which lines those bytes belong to is the client's business (its per-page entry), so
 * the node never sees a mask. */
#ifndef LINESWAP_PROTO_H
#define LINESWAP_PROTO_H

#include <stdint.h>

#define PROTO_MAGIC      0x5057534cu /* "LSWP" */
#define PROTO_VERSION    1
#define PROTO_SECRET_MAX 64
#define PROTO_PAGE_SIZE  4096u

#define PROTO_REGION_ID 16

enum proto_hello_flags {
	PROTO_CREATE = 1, /* make the region (fails if it exists) */
	PROTO_ATTACH = 2, /* use the existing region (fails if missing or of another size) */
	PROTO_TICKET = 4, /* also issue a ticket for an RDMA connection to the region */
	PROTO_PROBE = 8,  /* alone (bytes 0): authenticate, learn the node's free memory, hang up */
};

/* RDMA (rdma_cm) connections cannot carry the secret: rdma_connect's private data holds 56
 * bytes. A client authenticates on TCP first, asks for a ticket, and presents it when it
 * connects over RDMA; the node answers with the region's address and rkey. The ticket is
 * valid while its TCP connection stays open, and only once. */
#define PROTO_TICKET_LEN 16

struct proto_rdma_req {
	uint32_t magic;
	uint8_t ticket[PROTO_TICKET_LEN];
} __attribute__((packed));

struct proto_rdma_rep {
	uint64_t addr; /* the region's first byte, as registered */
	uint32_t rkey;
	uint32_t pad;
	uint64_t bytes;
} __attribute__((packed));

struct proto_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t secret_len;
	uint32_t flags; /* one of enum proto_hello_flags */
	uint32_t pad;
	uint64_t bytes; /* region size, a multiple of PROTO_PAGE_SIZE */
	uint8_t region[PROTO_REGION_ID];
	uint8_t secret[PROTO_SECRET_MAX];
} __attribute__((packed));

enum proto_status {
	PROTO_OK = 0,
	PROTO_EAUTH = 1,    /* wrong secret */
	PROTO_ENOSPC = 2,   /* not that much memory left */
	PROTO_EVERSION = 3, /* unknown magic or version */
	PROTO_EINVAL = 4,   /* malformed request */
	PROTO_ERANGE = 5,   /* page outside the client's region */
	PROTO_ETOOMANY = 6, /* too many clients or regions */
	PROTO_EEXIST = 7,   /* CREATE of a region that exists */
	PROTO_ENOENT = 8,   /* ATTACH to a region that does not exist, or of another size */
};

struct proto_welcome {
	uint32_t magic;
	uint16_t version;
	uint16_t status;                  /* enum proto_status */
	uint64_t bytes;                   /* the region granted (== asked) */
	uint64_t free;                    /* what the node has left after this grant */
	uint8_t ticket[PROTO_TICKET_LEN]; /* with PROTO_TICKET; zeros otherwise */
} __attribute__((packed));

enum proto_op {
	PROTO_PUT = 1,
	PROTO_GET = 2,
	PROTO_RELEASE = 3, /* free the region (len and page 0); the connection then ends */
};

struct proto_req {
	uint8_t op; /* enum proto_op */
	uint8_t pad[3];
	uint32_t len; /* PUT, GET: packed bytes, 1..PROTO_PAGE_SIZE */
	uint64_t page;
	uint64_t tag; /* echoed in the reply */
} __attribute__((packed));
/* A PUT request is followed by `len` bytes. */

struct proto_reply {
	uint64_t tag;
	uint16_t status; /* enum proto_status */
	uint8_t pad[2];
	uint32_t len; /* bytes following: a GET's data, 0 otherwise */
} __attribute__((packed));

const char *proto_status_name(unsigned status);

#endif
