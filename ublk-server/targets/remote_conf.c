/* remote_conf.c — the remote target's options, its keys in the device record, its secret file,
 * and the release of its region for a device whose daemon is gone. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena_keeper.h"
#include "node_link.h"
#include "page_seal.h"
#include "parse.h"
#include "pool_map.h"
#include "remote.h"
#include "remote_pool.h"

#define DEFAULT_TIMEOUT_MS   5000
#define DEFAULT_HINT_HOLD_MS 200
#define DEFAULT_HINT_MEMORY  (256ull << 20)
#define DEFAULT_GRACE_S      600
#define LINK_TIMEOUT_MIN_MS  500

const char remote_usage[] =
	"      --node URL       a memory node: rdma://HOST:PORT (RDMA verbs, e.g. over rxe;\n"
	"                       the node runs with --rdma) or tcp://HOST:PORT; required. Give it\n"
	"                       up to 16 times for a pool: the device is cut into slabs, each\n"
	"                       slab kept on --replicas distinct nodes, placed by the nodes' free\n"
	"                       memory, so a node may die without losing a page\n"
	"      --replicas R     copies of every page (1-3, at most the number of nodes); default\n"
	"                       2 with two or more nodes, 1 with one\n"
	"      --slab-size SIZE the unit of placement in a pool (1M-64G, a multiple of 1M;\n"
	"                       default 64M); one node holds the device as one slab\n"
	"      --grace S        a node unreachable for S seconds (default 600; 0: never) has its\n"
	"                       copies made anew on the other nodes, in spare room each node's\n"
	"                       region keeps for it, so the pool gets back to --replicas copies\n"
	"                       without it; if it comes back it holds fewer\n"
	"      --secret-file F  the node's shared secret (first line of F); default: the\n"
	"                       environment variable LINESWAP_SECRET\n"
	"      --io-timeout S   a page the node has not answered in S seconds fails with an I/O\n"
	"                       error (1-600, default 5); a link that answers nothing for half\n"
	"                       of it is made anew, and pages wait for the new one: a network\n"
	"                       out for less than S/2 costs a wait, not an error\n"
	"      --no-encrypt     store pages in clear: by default each page's moved bytes are\n"
	"                       encrypted and authenticated (AES-256-GCM, 16 bytes of tag) with\n"
	"                       a key of this device's that never leaves this machine, so a node\n"
	"                       or the network can neither read nor change them (a page that\n"
	"                       does not verify is an I/O error, never wrong data); for\n"
	"                       measurements only\n"
	"\n"
	"    Hints: processes running with the hint allocator preloaded\n"
	"    (LD_PRELOAD=libmimalloc-hint.so) register on the unix socket\n"
	"    /run/lineswap/ublk<ID>.hints and tell the daemon which 64-byte lines of their heap\n"
	"    pages are live; when such a page is swapped out to this device only those lines (and\n"
	"    the first 128 bytes) move to the node. Pages the daemon cannot attribute move whole.\n"
	"      --no-hints       do not serve the hint socket: every page moves whole\n"
	"      --hint-uid UID   let processes of UID register too ('any': every uid); by default\n"
	"                       only root and the daemon's own uid may\n"
	"      --hint-hold MS   longest a page write waits to be attributed to a registered\n"
	"                       process before it moves whole (1-60000, default 200); the\n"
	"                       daemon reads the processes' rings for at most half of it\n"
	"      --hint-read-all  find a written page by reading the page-map entry of every page\n"
	"                       the processes have reduced, at every write, as on kernels\n"
	"                       without PAGEMAP_SCAN (before 6.7); by default only the pages\n"
	"                       swapped out since they were last read are (for comparisons)\n"
	"      --hint-memory SIZE  the daemon's memory for hints: the processes' rings and what\n"
	"                       it knows of their pages (1M-64G, default 256M); one process may\n"
	"                       hold a quarter of it, the processes of one uid half. Past a cap\n"
	"                       a ring is made smaller (or refused) and more pages move whole\n";

enum {
	OPT_NODE = 1,
	OPT_REPLICAS,
	OPT_SLAB_SIZE,
	OPT_GRACE,
	OPT_SECRET_FILE,
	OPT_IO_TIMEOUT,
	OPT_NO_ENCRYPT,
	OPT_NO_HINTS,
	OPT_HINT_UID,
	OPT_HINT_HOLD,
	OPT_HINT_MEMORY,
	OPT_HINT_READ_ALL,
};

const struct option remote_options[] = {
	{ "node", required_argument, NULL, OPT_NODE },
	{ "replicas", required_argument, NULL, OPT_REPLICAS },
	{ "slab-size", required_argument, NULL, OPT_SLAB_SIZE },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
	{ "io-timeout", required_argument, NULL, OPT_IO_TIMEOUT },
	{ "no-encrypt", no_argument, NULL, OPT_NO_ENCRYPT },
	{ "no-hints", no_argument, NULL, OPT_NO_HINTS },
	{ "hint-uid", required_argument, NULL, OPT_HINT_UID },
	{ "hint-hold", required_argument, NULL, OPT_HINT_HOLD },
	{ "hint-memory", required_argument, NULL, OPT_HINT_MEMORY },
	{ "hint-read-all", no_argument, NULL, OPT_HINT_READ_ALL },
	{ 0 },
};

void remote_init_conf(struct ublk_dev_conf *c)
{
	*remote_conf(c) = (struct remote_conf){
		.timeout_ms = DEFAULT_TIMEOUT_MS,
		.hints = true,
		.hint_uid = -1,
		.hint_hold_ms = DEFAULT_HINT_HOLD_MS,
		.hint_memory = DEFAULT_HINT_MEMORY,
		.grace_s = DEFAULT_GRACE_S,
		.seal = true,
	};
}

static bool node_url_ok(const char *url)
{
	return (!strncmp(url, "tcp://", 6) || !strncmp(url, "rdma://", 7)) &&
	       strlen(url) < REMOTE_URL_MAX;
}

int remote_conf_add_node(struct remote_conf *rc, const char *url, char *err, size_t errlen)
{
	if (!node_url_ok(url)) {
		snprintf(err, errlen,
			 "bad --node '%.200s' (want rdma://HOST:PORT or tcp://HOST:PORT, shorter "
			 "than %d characters)",
			 url, REMOTE_URL_MAX);
		return -EINVAL;
	}
	for (unsigned n = 0; n < rc->nnodes; n++)
		if (!strcmp(rc->node[n], url)) {
			snprintf(err, errlen, "--node %s is given twice", url);
			return -EINVAL;
		}
	if (rc->nnodes == REMOTE_MAX_NODES) {
		snprintf(err, errlen, "too many --node (at most %d)", REMOTE_MAX_NODES);
		return -EINVAL;
	}
	strcpy(rc->node[rc->nnodes++], url);
	return 0;
}

int remote_parse_option(struct ublk_dev_conf *c, int val, const char *arg, char *err, size_t errlen)
{
	struct remote_conf *rc = remote_conf(c);
	uint64_t v;

	switch (val) {
	case OPT_NODE:
		return remote_conf_add_node(rc, arg, err, errlen);
	case OPT_REPLICAS:
		if (!parse_uint(arg, 1, POOL_MAX_REPLICAS, &v)) {
			snprintf(err, errlen, "bad --replicas '%s' (1-%u)", arg, POOL_MAX_REPLICAS);
			return -EINVAL;
		}
		rc->replicas = (uint32_t)v;
		return 0;
	case OPT_SLAB_SIZE:
		if (!parse_size(arg, &v) || v < (1u << 20) || v > (64ull << 30) || v % (1u << 20)) {
			snprintf(err, errlen, "bad --slab-size '%s' (1M-64G, a multiple of 1M)",
				 arg);
			return -EINVAL;
		}
		rc->slab_bytes = v;
		return 0;
	case OPT_GRACE:
		if (!parse_uint(arg, 0, 86400, &v)) {
			snprintf(err, errlen, "bad --grace '%s' (0-86400 seconds)", arg);
			return -EINVAL;
		}
		rc->grace_s = (uint32_t)v;
		return 0;
	case OPT_SECRET_FILE:
		rc->secret_file = arg;
		return 0;
	case OPT_IO_TIMEOUT:
		if (!parse_uint(arg, 1, 600, &v)) {
			snprintf(err, errlen, "bad --io-timeout '%s' (1-600 seconds)", arg);
			return -EINVAL;
		}
		rc->timeout_ms = (uint32_t)v * 1000;
		return 0;
	case OPT_NO_ENCRYPT:
		rc->seal = false;
		return 0;
	case OPT_NO_HINTS:
		rc->hints = false;
		return 0;
	case OPT_HINT_READ_ALL:
		rc->hint_read_all = true;
		return 0;
	case OPT_HINT_UID:
		if (!strcmp(arg, "any")) {
			rc->hint_uid = -2;
		} else if (parse_uint(arg, 0, UINT32_MAX - 1, &v)) {
			rc->hint_uid = (int64_t)v;
		} else {
			snprintf(err, errlen, "bad --hint-uid '%s' (a uid or 'any')", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_HINT_HOLD:
		if (!parse_uint(arg, 1, 60000, &v)) {
			snprintf(err, errlen, "bad --hint-hold '%s' (1-60000 ms)", arg);
			return -EINVAL;
		}
		rc->hint_hold_ms = (uint32_t)v;
		return 0;
	case OPT_HINT_MEMORY:
		if (!parse_size(arg, &v) || v < (1u << 20) || v > (64ull << 30)) {
			snprintf(err, errlen, "bad --hint-memory '%s' (1M-64G)", arg);
			return -EINVAL;
		}
		rc->hint_memory = v;
		return 0;
	}
	snprintf(err, errlen, "option %d is not the remote target's", val);
	return -EINVAL;
}

/* A fresh name for the device's region on the node: 16 random bytes in hex. */
static int new_region(char hex[33])
{
	uint8_t id[16];

	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return -errno;
	for (unsigned i = 0; i < sizeof(id); i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	return 0;
}

/* Over TCP each queue's link to each node holds up to its two socket buffers, which the kernel
 * sizes at twice what was set (node_link.h). Over RDMA the data moves without the daemon's
 * sockets (Soft-RoCE's packets are atomic allocations, which have a reserve of their own). */
uint64_t remote_reserve_bytes(const struct ublk_dev_conf *c)
{
	const struct remote_conf *rc = remote_conf(c);
	uint64_t tcp = 0;

	for (unsigned n = 0; n < rc->nnodes; n++)
		tcp += !strncmp(rc->node[n], "tcp://", 6);
	return tcp * c->nr_queues * 2 * (2 * NODE_LINK_SOCKBUF);
}

int remote_finish_conf(struct ublk_dev_conf *c, char *err, size_t errlen)
{
	struct remote_conf *rc = remote_conf(c);
	size_t len;
	int ret;

	if (!rc->nnodes) {
		snprintf(err, errlen,
			 "the remote target needs --node rdma://HOST:PORT or tcp://HOST:PORT");
		return -EINVAL;
	}
	if (!rc->replicas)
		rc->replicas = rc->nnodes >= 2 ? 2 : 1;
	if (rc->replicas > rc->nnodes) {
		snprintf(err, errlen, "--replicas %u needs at least %u nodes (%u given)",
			 rc->replicas, rc->replicas, rc->nnodes);
		return -EINVAL;
	}
	if (!rc->slab_bytes)
		rc->slab_bytes = rc->nnodes == 1 ? c->size : REMOTE_SLAB_DEFAULT;
	if (secret_read(rc->secret_file, rc->secret, &len, err, errlen) < 0)
		return rc->secret_file && strstr(err, "cannot read") ? -EIO : -EINVAL;
	rc->secret_len = (uint32_t)len;
	ret = new_region(rc->region);
	if (ret < 0)
		snprintf(err, errlen, "no randomness for the region name: %s", strerror(-ret));
	return ret;
}

int remote_conf_format(const struct ublk_dev_conf *c, char *buf, size_t len)
{
	const struct remote_conf *rc = remote_conf(c);
	size_t at = 0;

	for (unsigned n = 0; n < rc->nnodes && at < len; n++)
		at += (size_t)snprintf(buf + at, len - at, "node=%s\n", rc->node[n]);
	if (at >= len)
		return (int)at;
	return (int)at +
	       snprintf(buf + at, len - at,
			"replicas=%u\nslab_bytes=%llu\ngrace_s=%u\nregion=%s\ntimeout_ms=%u\n"
			"hints=%d\nhint_uid=%lld\nhint_hold_ms=%u\nhint_memory=%llu\n"
			"hint_read_all=%d\nseal=%d\n",
			rc->replicas, (unsigned long long)rc->slab_bytes, rc->grace_s, rc->region,
			rc->timeout_ms, rc->hints, (long long)rc->hint_uid, rc->hint_hold_ms,
			(unsigned long long)rc->hint_memory, rc->hint_read_all, rc->seal);
}

bool remote_conf_parse(struct ublk_dev_conf *c, const char *key, const char *val)
{
	struct remote_conf *rc = remote_conf(c);
	uint64_t v;
	char err[8];

	if (!strcmp(key, "node"))
		return remote_conf_add_node(rc, val, err, sizeof(err)) == 0;
	else if (!strcmp(key, "replicas") && parse_uint(val, 1, POOL_MAX_REPLICAS, &v))
		rc->replicas = (uint32_t)v;
	else if (!strcmp(key, "grace_s") && parse_uint(val, 0, 86400, &v))
		rc->grace_s = (uint32_t)v;
	else if (!strcmp(key, "slab_bytes") && parse_uint(val, 1, UINT64_MAX, &v) &&
		 v % UBLK_PAGE_SIZE == 0)
		rc->slab_bytes = v;
	else if (!strcmp(key, "region") && strlen(val) == 32 &&
		 strspn(val, "0123456789abcdef") == 32)
		strcpy(rc->region, val);
	else if (!strcmp(key, "timeout_ms") && parse_uint(val, 1, 3600000, &v))
		rc->timeout_ms = (uint32_t)v;
	else if (!strcmp(key, "hints") && parse_uint(val, 0, 1, &v))
		rc->hints = v;
	else if (!strcmp(key, "seal") && parse_uint(val, 0, 1, &v))
		rc->seal = v;
	else if (!strcmp(key, "hint_read_all") && parse_uint(val, 0, 1, &v))
		rc->hint_read_all = v;
	else if (!strcmp(key, "hint_uid") && (!strcmp(val, "-1") || !strcmp(val, "-2")))
		rc->hint_uid = -(val[1] - '0');
	else if (!strcmp(key, "hint_uid") && parse_uint(val, 0, UINT32_MAX - 1, &v))
		rc->hint_uid = (int64_t)v;
	else if (!strcmp(key, "hint_hold_ms") && parse_uint(val, 1, 60000, &v))
		rc->hint_hold_ms = (uint32_t)v;
	else if (!strcmp(key, "hint_memory") && parse_uint(val, 1u << 20, 64ull << 30, &v))
		rc->hint_memory = v;
	else
		return false;
	return true;
}

/* A file of the device's that only root may read: `what` is "secret" or "key". */
static int private_save(uint32_t dev_id, const char *what, const void *data, size_t len, char *err,
			size_t errlen)
{
	char path[PATH_MAX];
	int fd, ret = 0;

	if (!ublk_state_path(path, sizeof(path), dev_id, what)) {
		snprintf(err, errlen, "the %s file's path is too long", what);
		return -ENAMETOOLONG;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		ret = -errno;
	else if (fchmod(fd, 0600) < 0 || write(fd, data, len) != (ssize_t)len)
		ret = -EIO;
	if (fd >= 0 && close(fd) < 0 && !ret)
		ret = -errno;
	if (ret < 0)
		snprintf(err, errlen, "cannot save %.200s: %s", path, strerror(-ret));
	return ret;
}

/* Reads the device's `what` file: 1..max bytes, exactly max with `exact`. Returns its length
 * or -errno with a message in err. */
static ssize_t private_load(uint32_t dev_id, const char *what, void *data, size_t max, bool exact,
			    char *err, size_t errlen)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (!ublk_state_path(path, sizeof(path), dev_id, what)) {
		snprintf(err, errlen, "the %s file's path is too long", what);
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read %.200s: %s", path, strerror(errno));
		return -errno;
	}
	n = read(fd, data, max);
	close(fd);
	if (n <= 0 || (exact && (size_t)n != max)) {
		snprintf(err, errlen, "%.200s is %s", path, n <= 0 ? "empty" : "of the wrong size");
		return -EINVAL;
	}
	return n;
}

int remote_secret_save(uint32_t dev_id, struct remote_conf *rc, char *err, size_t errlen)
{
	int ret = auth_random(rc->device_key, AUTH_KEY);

	if (ret < 0) {
		snprintf(err, errlen, "cannot make the device's key: %s", strerror(-ret));
		return ret;
	}
	page_seal_key(rc->device_key, rc->seal_key);
	ret = private_save(dev_id, "key", rc->device_key, AUTH_KEY, err, errlen);
	return ret < 0 ? ret
		       : private_save(dev_id, "secret", rc->secret, rc->secret_len, err, errlen);
}

int remote_secret_load(uint32_t dev_id, struct remote_conf *rc, char *err, size_t errlen)
{
	ssize_t n =
		private_load(dev_id, "secret", rc->secret, sizeof(rc->secret), false, err, errlen);

	if (n < 0)
		return (int)n;
	rc->secret_len = (uint32_t)n;
	n = private_load(dev_id, "key", rc->device_key, AUTH_KEY, true, err, errlen);
	if (n < 0)
		return (int)n;
	page_seal_key(rc->device_key, rc->seal_key);
	return 0;
}

void remote_secret_remove(uint32_t dev_id)
{
	char path[PATH_MAX];

	if (ublk_state_path(path, sizeof(path), dev_id, "secret"))
		unlink(path);
	if (ublk_state_path(path, sizeof(path), dev_id, "key"))
		unlink(path);
}

static int hex_region(const char *hex, uint8_t out[PROTO_REGION_ID])
{
	for (unsigned i = 0; i < PROTO_REGION_ID; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

int remote_store_conf(const struct ublk_dev_conf *c, const struct remote_conf *rc, unsigned n,
		      uint64_t bytes, int create, struct page_store_conf *out)
{
	*out = (struct page_store_conf){
		.url = rc->node[n],
		.secret = rc->secret,
		.secret_len = rc->secret_len,
		.device_key = rc->device_key,
		.seal_key = rc->seal ? rc->seal_key : NULL,
		.bytes = bytes,
		.create = create,
		.max_inflight = c->depth * (c->max_io_bytes >> UBLK_PAGE_SHIFT),
		.max_segs = REMOTE_MAX_SEGS,
		.seg_cost = 0,
		/* A link silent for half the I/O timeout is made anew, while its pages wait: a
		 * network back within the timeout serves them on a fresh connection (TCP's own
		 * retransmissions back off to seconds). */
		.timeout_ms = rc->timeout_ms / 2 > LINK_TIMEOUT_MIN_MS ? rc->timeout_ms / 2
								       : LINK_TIMEOUT_MIN_MS,
	};
	if (hex_region(rc->region, out->region) < 0)
		return -EINVAL;
	out->region[PROTO_REGION_ID - 1] ^= (uint8_t)n;
	return 0;
}

void remote_conf_upgrade(const struct ublk_dev_conf *c, struct remote_conf *rc)
{
	if (rc->nnodes == 1 && !rc->replicas) {
		rc->replicas = 1;
		rc->slab_bytes = c->size;
	}
}

int remote_release(const struct ublk_dev_conf *c, char *err, size_t errlen)
{
	struct remote_conf rc = *remote_conf(c);
	int ret;

	remote_conf_upgrade(c, &rc);
	if (!rc.nnodes || !rc.replicas || !rc.slab_bytes) {
		snprintf(err, errlen, "the device record names no pool");
		return -EINVAL;
	}
	ret = remote_secret_load(c->dev_id, &rc, err, errlen);

	if (ret == 0)
		ret = remote_pool_release(c, &rc, err, errlen);
	remote_secret_remove(c->dev_id);
	arena_keeper_remove(c->dev_id);
	return ret;
}
