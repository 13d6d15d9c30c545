/* state.h — a device's files: its configuration record, statistics, log, and page store.
 *
 * Runtime files live in $LINESWAP_RUN_DIR (default /run/lineswap) as ublk<ID>.conf, .stats,
 * .log and (remote target) .secret and .hints (the hint socket); a target's store in
 * $LINESWAP_SHM_DIR (default /dev/shm): lineswap-ublk<ID>.pages (mem: the pages; remote: the
 * per-page entries). The record is what `ublk-ctl recover` needs to restart a daemon. */
#ifndef LINESWAP_UBLK_STATE_H
#define LINESWAP_UBLK_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"

struct ublk_dev_conf {
	uint32_t dev_id;
	char target[16];
	uint64_t size; /* bytes, a multiple of 4096 */
	uint16_t nr_queues;
	uint16_t depth;
	uint32_t max_io_bytes;
	bool user_copy; /* data via pread/pwrite on /dev/ublkcN (else per-tag buffers) */
	char store[PATH_MAX];
	/* remote target only (empty otherwise); the secret is in ublk<ID>.secret */
	char node[256];      /* tcp://HOST:PORT */
	char region[33];     /* the region's name on the node, 32 hex digits */
	uint32_t timeout_ms; /* a page request unanswered this long fails with EIO */
	/* hints (remote target): serve the hint socket ublk<ID>.hints */
	bool hints;
	int64_t hint_uid;      /* besides root and the daemon's uid: -1 none, -2 any */
	uint32_t hint_hold_ms; /* longest a write waits for its page to be resolved */
	/* Not in the record: handed from ublk-ctl add to the new daemon, which saves it. */
	uint8_t secret[SECRET_MAX];
	uint32_t secret_len;
};

/* Saves a remote device's secret as ublk<ID>.secret (mode 0600). Returns 0 or -errno. */
int ublk_secret_save(const struct ublk_dev_conf *c);

const char *ublk_run_dir(void);
/* "<run dir>/ublk<ID>.<suffix>"; false if it does not fit. */
bool ublk_state_path(char *buf, size_t len, uint32_t dev_id, const char *suffix);
/* The default page store of a mem device. */
bool ublk_store_path(char *buf, size_t len, uint32_t dev_id);

/* The record as text ("key=value" lines), and back. parse returns false on a malformed record
 * (unknown key, bad number, missing field). */
int ublk_conf_format(const struct ublk_dev_conf *c, char *buf, size_t len);
bool ublk_conf_parse(const char *text, struct ublk_dev_conf *c);

/* Writes (atomically: temp file and rename) or reads the record of c->dev_id / dev_id.
 * Return 0 or -errno (-EINVAL for a malformed record). */
int ublk_conf_save(const struct ublk_dev_conf *c);
int ublk_conf_load(uint32_t dev_id, struct ublk_dev_conf *c);
/* Removes every file of the device (record, stats, log, page store). */
void ublk_state_remove(const struct ublk_dev_conf *c);

#endif
