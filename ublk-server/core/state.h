/* state.h — a device's files: its configuration record, statistics, log, and page store.
 *
 * Runtime files live in $LINESWAP_RUN_DIR (default /run/lineswap) as ublk<ID>.conf, .stats and
 * .log, beside any a target keeps there; a target's store in $LINESWAP_SHM_DIR (default
 * /dev/shm): lineswap-ublk<ID>.pages (what it holds is the target's business). The record is
 * what `ublk-ctl recover` needs to restart a daemon. */
#ifndef LINESWAP_UBLK_STATE_H
#define LINESWAP_UBLK_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target.h"

#define UBLK_TGT_CONF_SIZE 4096
#define UBLK_NAME_MAX      32 /* a device's name, with its terminating NUL */

struct ublk_dev_conf {
	uint32_t dev_id;
	char target[16];
	uint64_t size; /* bytes, a multiple of 4096 */
	uint16_t nr_queues;
	uint16_t depth;
	uint32_t max_io_bytes;
	bool user_copy; /* data via pread/pwrite on /dev/ublkcN (else per-tag buffers) */
	char store[PATH_MAX];
	char name[UBLK_NAME_MAX];          /* optional ("" for none): /dev/lineswap/<name> */
	const struct ublk_target_ops *ops; /* the target named above (not in the record) */
	/* The target's own part, read through ublk_tgt_conf(): its options, saved in the record
	 * by its conf_format and loaded by its conf_parse, and what it hands from `ublk-ctl add`
	 * to the new daemon. */
	union {
		uint8_t bytes[UBLK_TGT_CONF_SIZE];
		uint64_t align;
	} tgt;
};

/* The target part of conf c as the target's own struct type. */
#define ublk_tgt_conf(c, type)                                                             \
	({                                                                                 \
		_Static_assert(sizeof(type) <= UBLK_TGT_CONF_SIZE, #type " is too large"); \
		(type *)(c)->tgt.bytes;                                                    \
	})

const char *ublk_run_dir(void);
/* "<run dir>/ublk<ID>.<suffix>"; false if it does not fit. */
bool ublk_state_path(char *buf, size_t len, uint32_t dev_id, const char *suffix);
/* The default page store of device dev_id (what it holds is its target's business). */
bool ublk_store_path(char *buf, size_t len, uint32_t dev_id);

/* Whether s can name a device: 1-31 of [A-Za-z0-9._-], starting with a letter (so that it
 * is never a device id, an option, or a path). */
bool ublk_name_valid(const char *s);

/* The record as text ("key=value" lines: core's, then the target's), and back. parse looks the
 * target up in `targets` (NULL-terminated) and returns false on a malformed record (unknown
 * key or target, bad number, missing field). */
int ublk_conf_format(const struct ublk_dev_conf *c, char *buf, size_t len);
bool ublk_conf_parse(const char *text, struct ublk_dev_conf *c,
		     const struct ublk_target_ops *const *targets);

/* Writes (atomically: temp file and rename) or reads the record of c->dev_id / dev_id.
 * Return 0 or -errno (-EINVAL for a malformed record). */
int ublk_conf_save(const struct ublk_dev_conf *c);
int ublk_conf_load(uint32_t dev_id, struct ublk_dev_conf *c,
		   const struct ublk_target_ops *const *targets);
/* Removes core's files of the device (record, stats, log) and its page store. */
void ublk_state_remove(const struct ublk_dev_conf *c);

#endif
