/* remote.h — the remote target's part of the device record, shared by its data path
 * (remote.c) and its options, record keys and release (remote_conf.c). */
#ifndef LINESWAP_UBLK_REMOTE_H
#define LINESWAP_UBLK_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "page_store.h"
#include "secret.h"
#include "state.h"

/* SG elements a page's work request may carry, fixed for the life of the data: fits rxe (32)
 * and mlx5's RDMA READ (30). */
#define REMOTE_MAX_SEGS 30

/* A page's entry (remote.c): stored on a node that lost it; reading it fails. */
#define REMOTE_ENTRY_LOST 0x2ull

/* The entry file (the device's store path): each page's entry, then each page's version (the
 * nonce its copies were sealed with, page_seal.h), then the device's version counter, which
 * only grows (a version is never used twice, not even across a daemon's crash). */
static inline uint64_t remote_entry_file_size(uint64_t nr_pages)
{
	return nr_pages * 2 * sizeof(uint64_t) + sizeof(uint64_t);
}

/* A device's pool: at most this many memory nodes (pool_map.h allows more; the record keeps
 * every URL) and URLs shorter than REMOTE_URL_MAX. */
#define REMOTE_MAX_NODES 16
#define REMOTE_URL_MAX   128
/* Slab size with two or more nodes; with one, the device is one slab (and the node's region
 * is the device's size, as before pools). */
#define REMOTE_SLAB_DEFAULT (64ull << 20)

struct remote_conf {
	char node[REMOTE_MAX_NODES][REMOTE_URL_MAX]; /* rdma://HOST:PORT or tcp://HOST:PORT */
	uint32_t nnodes;
	uint32_t replicas;   /* copies of every page, on distinct nodes */
	uint64_t slab_bytes; /* the unit of placement */
	uint32_t grace_s;    /* a node gone this long has its copies made anew elsewhere; 0 never */
	char region[33];     /* the device's regions' name, 32 hex digits (remote_region_id) */
	uint32_t timeout_ms; /* a page request unanswered this long fails with EIO */
	bool hints;          /* serve the hint socket ublk<ID>.hints */
	int64_t hint_uid;    /* may register besides root and the daemon's uid: -1 none, -2 any */
	uint32_t hint_hold_ms; /* longest a write waits for its page to be resolved */
	uint64_t hint_memory;  /* the hint service's cap on rings and views (hint_server.h) */
	bool hint_read_all;    /* the resolver reads every reduced page (no PAGEMAP_SCAN) */
	bool seal;             /* pages encrypted and authenticated (page_seal.h); default on */
	/* Not in the record: read by `ublk-ctl add`, saved by the new daemon in ublk<ID>.secret
	 * (mode 0600), where a recovering daemon and `del` find it. */
	const char *secret_file;
	uint8_t secret[SECRET_MAX];
	uint32_t secret_len;
	/* The device's own key (auth.h): made by the new daemon, kept in ublk<ID>.key (mode 0600)
	 * on this machine only; its regions' keys are made from it. */
	uint8_t device_key[AUTH_KEY];
	uint8_t seal_key[AUTH_KEY]; /* page_seal_key of device_key */
};

static inline struct remote_conf *remote_conf(const struct ublk_dev_conf *c)
{
	return ublk_tgt_conf((struct ublk_dev_conf *)c, struct remote_conf);
}

/* Adds a node to the pool: a well-formed URL, not given before, and room for it. Returns 0 or
 * -EINVAL with a message in err. */
int remote_conf_add_node(struct remote_conf *rc, const char *url, char *err, size_t errlen);

/* A record from before pools (one node, no replicas or slab size): the device as one slab on
 * its node, as it was. */
void remote_conf_upgrade(const struct ublk_dev_conf *c, struct remote_conf *rc);

/* Saves rc's secret, and a new device key (made here), in device dev_id's secret and key
 * files; or reads both into rc. Return 0 or -errno with a message in err. remove forgets
 * both. */
int remote_secret_save(uint32_t dev_id, struct remote_conf *rc, char *err, size_t errlen);
int remote_secret_load(uint32_t dev_id, struct remote_conf *rc, char *err, size_t errlen);
void remote_secret_remove(uint32_t dev_id);

/* The page-store settings of device c's region on node n, `bytes` long, with the secret of
 * rc; `create` makes the region on the node. Node n's region is named by the device's region
 * name with its last byte xor n (node 0's is the name itself). */
int remote_store_conf(const struct ublk_dev_conf *c, const struct remote_conf *rc, unsigned n,
		      uint64_t bytes, int create, struct page_store_conf *out);

/* The target-ops entries of remote_conf.c. */
extern const char remote_usage[];
extern const struct option remote_options[];
void remote_init_conf(struct ublk_dev_conf *c);
int remote_parse_option(struct ublk_dev_conf *c, int val, const char *arg, char *err,
			size_t errlen);
int remote_finish_conf(struct ublk_dev_conf *c, char *err, size_t errlen);
int remote_conf_format(const struct ublk_dev_conf *c, char *buf, size_t len);
bool remote_conf_parse(struct ublk_dev_conf *c, const char *key, const char *val);
int remote_release(const struct ublk_dev_conf *c, char *err, size_t errlen);
uint64_t remote_reserve_bytes(const struct ublk_dev_conf *c);

#endif
