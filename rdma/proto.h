/* proto.h — the memory node's wire format (TCP), shared by the node and its clients.
 *
 * All integers are little-endian (lineswap runs on little-endian hosts; see proto.c). A
 * connection starts with a handshake (auth.h): the client's hello, the node's challenge, the
 * client's request (which proves the client knows a tenant's secret, and says what it wants),
 * and the node's welcome (which proves the node knows it too, and answers). Then the client
 * sends requests and the node answers each one, in order. The secret itself never travels.
 *
 * Memory is handed out as regions, each of one tenant (the secret proven) and named by the
 * client (16 bytes) within it: a region outlives the connections attached to it, so a restarted
 * client (ublk-ctl recover) finds its pages again, and several connections (one per queue) can
 * share one. Creating a region gives the node its public key; attaching to it or releasing it
 * needs a signature by that key (auth.h). Only RELEASE (or the node's operator, or an expired
 * lease) frees it.
 *
 * The remote layout is the one RDMA imposes (docs/design.md, "The remote layout: one work
 * request per page"): a page's slot (PROTO_SLOT_SIZE bytes) holds the page's moved bytes
 * packed at its start, sealed or not. A PUT carries `len` packed bytes for slot `page`; a GET
 * asks for the first `len` bytes of slot `page`. Which lines those bytes belong to is the client's
 * business (its per-page entry), so the node never sees a mask. */
#ifndef LINESWAP_PROTO_H
#define LINESWAP_PROTO_H

#include <stdint.h>

#include "auth.h"

#define PROTO_MAGIC      0x5057534cu /* "LSWP" */
#define PROTO_VERSION    2           /* 1: the secret in the hello; refused both ways */
#define PROTO_SECRET_MAX 64
#define PROTO_PAGE_SIZE  4096u
/* A page's slot on the node: its packed bytes and, sealed, a tag after them (page_seal.h). */
#define PROTO_SEAL_TAG  16u
#define PROTO_SLOT_SIZE (PROTO_PAGE_SIZE + PROTO_SEAL_TAG)

#define PROTO_REGION_ID 16

enum proto_hello_flags {
	PROTO_CREATE = 1, /* make the region (fails if it exists) */
	PROTO_ATTACH = 2, /* use the existing region (fails if missing or of another size) */
	PROTO_TICKET = 4, /* also issue a ticket for an RDMA connection to the region */
	PROTO_PROBE = 8,  /* alone (bytes 0): learn the node's free memory, hang up */
};

/* RDMA (rdma_cm) connections cannot carry a handshake: rdma_connect's private data holds 56
 * bytes. A client authenticates on TCP first, asks for a ticket (sent wrapped by the session
 * key, so only that client can read it), and presents it when it connects over RDMA; the node
 * answers with the region's address and rkey. The ticket is valid while its TCP connection
 * stays open, and only once. */
#define PROTO_TICKET_LEN 16

struct proto_rdma_req {
	uint32_t magic;
	uint8_t ticket[PROTO_TICKET_LEN];
} __attribute__((packed));

struct proto_rdma_rep {
	uint64_t addr; /* the region's first byte, as registered: slot i at i x PROTO_SLOT_SIZE */
	uint32_t rkey;
	uint32_t pad;
	uint64_t bytes; /* as asked: PROTO_PAGE_SIZE per slot */
} __attribute__((packed));

/* 1. Client to node. */
struct proto_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t pad;
	uint8_t nonce[AUTH_NONCE];
	uint8_t pub[AUTH_PUB]; /* the client's ephemeral X25519 key */
} __attribute__((packed));

/* 2. Node to client. Starts as a welcome does, so a client of another version reads a
 * refusal. The session key is auth_session over the Diffie-Hellman result and the transcript:
 * the hello, then this message's nonce and pub. */
struct proto_challenge {
	uint32_t magic;
	uint16_t version;
	uint16_t status; /* PROTO_OK, or why the node hangs up */
	uint8_t nonce[AUTH_NONCE];
	uint8_t pub[AUTH_PUB];
} __attribute__((packed));

/* What the session key covers (auth_session): the hello, then the challenge's nonce and key. */
struct proto_transcript {
	struct proto_hello hello;
	uint8_t nonce[AUTH_NONCE];
	uint8_t pub[AUTH_PUB];
} __attribute__((packed));

/* 3. Client to node. The node finds the tenant whose secret makes this proof, which covers
 * everything after it: no one on the path can change what the client asks. */
struct proto_request {
	uint8_t proof[AUTH_KEY]; /* auth_mac(session, AUTH_CLIENT_PROOF | the rest of this) */
	uint32_t flags;          /* one of enum proto_hello_flags */
	uint32_t pad;
	uint64_t bytes; /* region size: PROTO_PAGE_SIZE per slot */
	uint8_t region[PROTO_REGION_ID];
	/* CREATE: the region's public key, then zeros; ATTACH: auth_region_sign(AUTH_ATTACH,
	 * session); PROBE: zeros. */
	uint8_t region_proof[AUTH_SIG];
} __attribute__((packed));

enum proto_status {
	PROTO_OK = 0,
	PROTO_EAUTH = 1,    /* the secret, or the region's key, was not proven */
	PROTO_ENOSPC = 2,   /* not that much memory left */
	PROTO_EVERSION = 3, /* unknown magic or version */
	PROTO_EINVAL = 4,   /* malformed request */
	PROTO_ERANGE = 5,   /* page outside the client's region */
	PROTO_ETOOMANY = 6, /* too many clients or regions */
	PROTO_EEXIST = 7,   /* CREATE of a region that exists */
	PROTO_ENOENT = 8,   /* ATTACH to a region that does not exist, or of another size */
	PROTO_EQUOTA = 9,   /* the tenant's memory quota is used up */
	PROTO_EBUSY = 10,   /* the node is shedding unauthenticated connections: try again */
};

/* 4. Node to client: the request's outcome. Once the client has proven a tenant's secret, the
 * node proves it too, over the request and the whole welcome; a client acts on a status (or a
 * grant) only with that proof. Refusals before it (a challenge's, or a welcome of a wrong
 * secret) carry none: anyone could have sent them, and the client takes them for no more than
 * a failure. */
struct proto_welcome {
	uint32_t magic;
	uint16_t version;
	uint16_t status; /* enum proto_status */
	/* proto_welcome_proof: auth_mac(session, AUTH_NODE_PROOF | request | this, zeros here) */
	uint8_t proof[AUTH_KEY];
	uint64_t bytes;                   /* the region granted (== asked) */
	uint64_t free;                    /* what the node has left after this grant */
	uint8_t ticket[PROTO_TICKET_LEN]; /* PROTO_TICKET: xor auth_mac(session,
					     AUTH_TICKET_WRAP); zeros otherwise */
} __attribute__((packed));

enum proto_op {
	PROTO_PUT = 1,
	PROTO_GET = 2,
	/* Free the region: page 0, len AUTH_SIG, followed by auth_region_sign(AUTH_RELEASE,
	 * session). The connection then ends. */
	PROTO_RELEASE = 3,
};

struct proto_req {
	uint8_t op; /* enum proto_op */
	uint8_t pad[3];
	uint32_t len; /* PUT, GET: packed bytes, 1..PROTO_SLOT_SIZE */
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

/* The request's proof (its `proof` field) under session: over the rest of the request. */
void proto_request_prove(const uint8_t session[AUTH_KEY], struct proto_request *req);
/* The welcome's proof under session: over the request and the welcome (its proof field
 * ignored). */
void proto_welcome_proof(const uint8_t session[AUTH_KEY], const struct proto_request *req,
			 const struct proto_welcome *w, uint8_t proof[AUTH_KEY]);

#endif
