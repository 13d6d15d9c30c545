/* page_store.h — a client's view of remote memory: asynchronous put/get of pages by mask.
 *
 * put(slot, live, seal, buf) moves the bytes the SG plan of `live` selects from the 4 KiB page
 * at buf into remote slot `slot`, packed; get(slot, live, seal, buf) brings them back into the
 * same places and fills every byte the plan does not move with zeros. The caller must pass the
 * same `live` and `seal` to get as to the put that stored the page (lineswap's per-page entry),
 * and the plan parameters (max_segs, seg_cost) must stay the same for the life of the remote
 * data: they fix the packing. A whole page is the all-ones mask. Both return the page's bytes on
 * the wire, or -errno.
 *
 * With a seal key (page_seal.h) the packed bytes travel and rest encrypted and authenticated,
 * with a tag after them, bound to `seal`: the page they are (the same for every copy of it,
 * wherever stored: never the slot) and its version, which is the nonce. Never pass one version
 * for two different contents, or for one content as two different pages. A GET whose bytes do
 * not open completes with -EBADMSG and leaves the caller's page untouched. Without a seal key,
 * `seal` is ignored.
 *
 * Requests complete asynchronously: reap() returns finished ones (never blocks); fd() becomes
 * readable when there may be some. Call reap() also after submitting (a request can fail at
 * once) and at least every timeout_ms / 2 while requests are outstanding (it fails them all
 * when the node has answered none for timeout_ms: the link is presumed dead). At most max_inflight
 * may be outstanding (put/get return -EAGAIN beyond). One store is used by one thread. */
#ifndef LINESWAP_PAGE_STORE_H
#define LINESWAP_PAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct ps_completion {
	uint64_t cookie;
	/* 0, or -errno: -EIO the node failed it or the link is down; -EBADMSG a GET's bytes
	 * did not open (altered, replayed, or another page's) */
	int status;
};

struct page_store;

/* What a sealed page is bound to: the page it is and its version (see above). */
struct ps_seal {
	uint64_t page;
	uint64_t version;
};

struct page_store_ops {
	int (*put)(struct page_store *ps, uint64_t slot, uint64_t live, struct ps_seal seal,
		   const void *buf, uint64_t cookie);
	int (*get)(struct page_store *ps, uint64_t slot, uint64_t live, struct ps_seal seal,
		   void *buf, uint64_t cookie);
	/* The caller no longer wants the GET `cookie` (another copy answered): its data will not
	 * be written to the caller's buffer, which may be reused at once. It still completes. */
	void (*forget)(struct page_store *ps, uint64_t cookie);
	/* Sends what put/get queued (a transport may hold requests to batch them); reap does it
	 * too. Call it after the requests that belong together. */
	void (*flush)(struct page_store *ps);
	int (*reap)(struct page_store *ps, struct ps_completion *out, int max);
	int (*fd)(struct page_store *ps);
	/* Frees the region on the node (the data is gone), then closes. */
	int (*release)(struct page_store *ps);
	void (*close)(struct page_store *ps);
};

struct page_store_conf {
	const char *url;       /* tcp://HOST:PORT (rdma:// with the verbs transport) */
	const uint8_t *secret; /* the node's, proven (never sent) */
	size_t secret_len;
	/* AUTH_KEY bytes, the device's own key: the region's key is made from it (auth.h). */
	const uint8_t *device_key;
	/* AUTH_KEY bytes (page_seal_key), or NULL: pages travel and rest in clear. */
	const uint8_t *seal_key;
	uint8_t region[PROTO_REGION_ID];
	uint64_t bytes; /* region size */
	int create;     /* make the region (else attach to it) */
	unsigned max_inflight;
	unsigned max_segs;   /* SG plan limit: the packing depends on it */
	unsigned seg_cost;   /* SG plan cost of a segment, in bytes */
	unsigned timeout_ms; /* a link silent this long fails its requests with -EIO */
	/* rdma:// only. How long to wait for the node to accept the RDMA connection (0: 30 s,
	 * or timeout_ms if longer); and whether, when it does not, to serve over the TCP link
	 * the connection was authenticated on (same node, region and sealing; slower). A host
	 * whose RDMA connection manager stopped answering (rxe's GSI queue pair in error after
	 * a network outage) then keeps its pages reachable. */
	unsigned rdma_wait_ms;
	bool tcp_fallback;
};

struct page_store {
	const struct page_store_ops *ops;
	struct page_store_conf conf;
	unsigned inflight;
	bool down;     /* the link broke: every request fails; close and reopen */
	bool fallback; /* an rdma:// link served over TCP (conf.tcp_fallback) */
};

/* Connects as conf says. Returns 0, or -errno with a message in err: -ECONNREFUSED,
 * -ETIMEDOUT, -EACCES (a secret not proven either way, or not the region's key), -ENOSPC (no
 * room, or the tenant's quota), -EEXIST, -ENOENT, -EUSERS (the node has too many clients),
 * -EPROTO, -EINVAL (bad URL). */
int page_store_open(const struct page_store_conf *conf, struct page_store **out, char *err,
		    size_t errlen);

/* The bytes of pages conf->url's node has room for (authenticated by conf's secret): 0 with
 * *free_bytes, or -errno with a message in err. */
int page_store_probe(const struct page_store_conf *conf, uint64_t *free_bytes, char *err,
		     size_t errlen);

int ps_tcp_open(const struct page_store_conf *conf, const char *host, const char *port,
		struct page_store **out, char *err, size_t errlen);
int ps_verbs_open(const struct page_store_conf *conf, const char *host, const char *port,
		  struct page_store **out, char *err, size_t errlen);

#endif
