/* proto.c — the memory node's wire format. */
#include "proto.h"

#include <endian.h>
#include <string.h>

#include "page_seal.h"

_Static_assert(__BYTE_ORDER == __LITTLE_ENDIAN, "the wire format is the host's: little-endian");
_Static_assert(sizeof(struct proto_hello) == 72, "hello layout");
_Static_assert(sizeof(struct proto_challenge) == 72, "challenge layout");
_Static_assert(sizeof(struct proto_request) == 128, "request layout");
_Static_assert(sizeof(struct proto_welcome) == 72, "welcome layout");
_Static_assert(sizeof(struct proto_rdma_req) <= 56, "fits rdma_connect's private data");
_Static_assert(sizeof(struct proto_req) == 24, "request layout");
_Static_assert(sizeof(struct proto_reply) == 16, "reply layout");
_Static_assert(PROTO_SEAL_TAG == SEAL_TAG, "a slot has room for a seal's tag");

const char *proto_status_name(unsigned status)
{
	static const char *const names[] = {
		[PROTO_OK] = "ok",
		[PROTO_EAUTH] = "authentication failed (wrong secret, or not the region's key)",
		[PROTO_ENOSPC] = "the memory node has not that much memory left",
		[PROTO_EVERSION] = "protocol version mismatch",
		[PROTO_EINVAL] = "malformed request",
		[PROTO_ERANGE] = "page outside the region",
		[PROTO_ETOOMANY] = "too many clients or regions",
		[PROTO_EEXIST] = "the region already exists",
		[PROTO_ENOENT] = "no such region (or another size)",
		[PROTO_EQUOTA] = "the tenant's memory quota on the node is used up",
		[PROTO_EBUSY] = "the node is busy with other connections: try again",
	};
	return status < sizeof(names) / sizeof(names[0]) ? names[status] : "unknown status";
}

void proto_request_prove(const uint8_t session[AUTH_KEY], struct proto_request *req)
{
	auth_mac(session, AUTH_CLIENT_PROOF, (const uint8_t *)req + AUTH_KEY,
		 sizeof(*req) - AUTH_KEY, req->proof);
}

void proto_welcome_proof(const uint8_t session[AUTH_KEY], const struct proto_request *req,
			 const struct proto_welcome *w, uint8_t proof[AUTH_KEY])
{
	struct {
		struct proto_request req;
		struct proto_welcome w;
	} __attribute__((packed)) both = { *req, *w };

	memset(both.w.proof, 0, sizeof(both.w.proof));
	auth_mac(session, AUTH_NODE_PROOF, &both, sizeof(both), proof);
}
