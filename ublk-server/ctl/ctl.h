/* ctl.h — ublk-ctl's commands and the helpers they share. */
#ifndef LINESWAP_UBLK_CTL_H
#define LINESWAP_UBLK_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "control.h"
#include "state.h"

#define EXIT_USAGE      2
#define CTL_MAX_DEVICES 256 /* devices one command lists */

int cmd_features(int argc, char **argv);
int cmd_add(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_del(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_hints(int argc, char **argv);
int cmd_nodes(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_name(int argc, char **argv);

/* Prints "ublk-ctl: <message>" and returns EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "ublk-ctl: <message>" and returns EXIT_FAILURE. */
int ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens the control device, explaining a failure (and what to do) on stderr. */
int ctl_open(struct ublk_ctrl *ctrl);
/* Parses a device id argument. */
bool ctl_parse_id(const char *s, uint32_t *id);
/* The device named `name` (add --name): 0 with its id, -ENOENT if no device has that name, or
 * another -errno. */
int ctl_find_name(const char *name, uint32_t *id);
/* Parses a device argument of command cmd, an id or a name: 0 with its id, or the exit status
 * after saying what is wrong (EXIT_USAGE malformed, EXIT_FAILURE no such name). */
int ctl_parse_device(const char *cmd, const char *s, uint32_t *id);
/* The vm.min_free_kbytes a device whose I/O path needs reserve_bytes of the kernel's reserve
 * wants (pressure.c). */
uint64_t ctl_min_free_kbytes_for(uint64_t reserve_bytes);
/* Warns (stderr) when swap on device dev_id, served by daemon pid, could stall once the machine
 * runs out of memory: queue threads that are not realtime, too small a reserve. */
/* Bounds the dirty page-cache pages of /dev/ublkb<dev_id> to about `bytes` (writeback.c);
 * warns and returns -errno when the kernel cannot. */
int ctl_limit_dirty(uint32_t dev_id, uint64_t bytes);

void ctl_check_pressure(const struct ublk_dev_conf *conf, uint32_t dev_id, pid_t pid);
/* Whether process pid exists. */
bool ctl_pid_alive(int pid);
const char *ctl_state_name(uint16_t state);
/* The ids of all ublk devices (from /sys/class/ublk-char), sorted; returns how many (at most
 * max), or -errno. */
int ctl_device_ids(uint32_t *ids, int max);

/* Parses "-n ID" and "--json" for list, stats and hints; returns -1 to go on, else an exit
 * status (after --help, or a usage error). */
int ctl_parse_view_args(int argc, char **argv, const char *cmd, const char *usage, uint32_t *dev_id,
			bool *json);
struct ublk_stats_shm;
/* Maps a device's statistics read-only (explaining a failure, unless cmd is NULL); NULL on
 * failure. */
const struct ublk_stats_shm *ctl_map_stats(const char *cmd, uint32_t dev_id, size_t *size);
/* Parts of `ublk-ctl stats` (hints.c): with json, each adds `, "key": {...}`. */
void ctl_print_moved(const struct ublk_stats_shm *s, bool json);
void ctl_print_hint_totals(const struct ublk_stats_shm *s, bool json);
/* A remote device's redundancy (nodes.c): "full", "degraded" or "rebuilding"; NULL for a
 * device without a pool. print adds its line (or `, "pool": {...}`). */
const char *ctl_redundancy(const struct ublk_stats_shm *s);
/* Loads device dev_id's record, which must be a remote device's: 0, or -1 after saying why
 * ("<cmd>: ..."). */
int ctl_load_remote(const char *cmd, uint32_t dev_id, struct ublk_dev_conf *conf);
void ctl_print_redundancy(const struct ublk_stats_shm *s, bool json);

#endif
