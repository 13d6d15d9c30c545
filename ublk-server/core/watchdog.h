/* watchdog.h — the daemon's check that its queues move: a stall becomes a clear error, not a
 * silent hang.
 *
 * A queue that holds requests and has finished none for UBLK_STALL_NS is stalled: its thread
 * is stuck in the kernel (seen: a TCP send looping in reclaim for socket memory under
 * whole-machine pressure, README "Swap under memory pressure"), or its target's requests go
 * unanswered. A thread stuck with no request taken yet is not seen here. The daemon's main
 * thread checks every tick; each stall is said once when found and once when it ends, to the
 * kernel log first (/dev/kmsg: the daemon's own log file may be waiting on the very device)
 * and then to the daemon's log, and it is counted in the statistics (ublk-ctl stats). */
#ifndef LINESWAP_UBLK_WATCHDOG_H
#define LINESWAP_UBLK_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

#include "stats.h"

#define UBLK_STALL_NS (10 * 1000000000ull)

struct ublk_watchdog {
	uint32_t dev_id;
	int kmsg_fd; /* -1: the daemon's log only */
	bool stalled;
	uint64_t since_ns; /* the current stall's start */
};

/* Opens /dev/kmsg (kept open: nothing is opened while the machine may be short of memory). */
void ublk_watchdog_init(struct ublk_watchdog *w, uint32_t dev_id);
void ublk_watchdog_close(struct ublk_watchdog *w);

/* Looks at every queue's stats at now_ns; updates s's stall fields. Returns true while a queue
 * is stalled. */
bool ublk_watchdog_check(struct ublk_watchdog *w, struct ublk_stats_shm *s, uint64_t now_ns);

#endif
