/* watchdog.c — see watchdog.h. */
#include "watchdog.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

void ublk_watchdog_init(struct ublk_watchdog *w, uint32_t dev_id)
{
	*w = (struct ublk_watchdog){ .dev_id = dev_id };
	w->kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
}

void ublk_watchdog_close(struct ublk_watchdog *w)
{
	if (w->kmsg_fd >= 0)
		close(w->kmsg_fd);
	w->kmsg_fd = -1;
}

/* One record to the kernel log at `level` (4 warning, 6 info), then the same to the log. The
 * record ends with a newline: the kernel keeps one without it open, unseen by dmesg, waiting
 * for a continuation. */
static void say(struct ublk_watchdog *w, int level, const char *fmt, ...)
{
	char line[400];
	va_list ap;
	int n = snprintf(line, sizeof(line), "<%d>lineswap: /dev/ublkb%u: ", level, w->dev_id);

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - 1 - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strnlen(line, sizeof(line) - 1);

	line[len] = '\n';
	if (w->kmsg_fd >= 0)
		(void)!write(w->kmsg_fd, line, len + 1);
	line[len] = '\0';
	log_msg("%s", line + 3); /* without the level */
}

bool ublk_watchdog_check(struct ublk_watchdog *w, struct ublk_stats_shm *s, uint64_t now_ns)
{
	uint64_t longest = 0, inflight_then = 0;
	uint32_t which = 0;

	for (uint32_t i = 0; i < s->nr_queues; i++) {
		/* inflight is stored after progress_ns (release): a busy spell's start is seen. */
		uint64_t inflight = __atomic_load_n(&s->q[i].inflight, __ATOMIC_ACQUIRE);
		uint64_t progress = __atomic_load_n(&s->q[i].progress_ns, __ATOMIC_RELAXED);

		if (inflight > 0 && now_ns > progress && now_ns - progress > longest) {
			longest = now_ns - progress;
			which = i;
			inflight_then = inflight;
		}
	}
	if (longest < UBLK_STALL_NS)
		longest = 0;
	if (longest && !w->stalled) {
		w->stalled = true;
		w->since_ns = now_ns - longest;
		__atomic_store_n(&s->stalls, s->stalls + 1, __ATOMIC_RELAXED);
		say(w, 4,
		    "queue %u has finished no request for %llu s with %llu in flight: stalled (if "
		    "the machine is short of memory and the device is swap over TCP, see README, "
		    "\"Swap under memory pressure\")",
		    which, (unsigned long long)(longest / 1000000000u),
		    (unsigned long long)inflight_then);
	} else if (!longest && w->stalled) {
		w->stalled = false;
		say(w, 6, "moving again after a stall of %llu s",
		    (unsigned long long)((now_ns - w->since_ns) / 1000000000u));
	}
	__atomic_store_n(&s->stalled_queue, which, __ATOMIC_RELAXED);
	__atomic_store_n(&s->stalled_inflight, (uint32_t)inflight_then, __ATOMIC_RELAXED);
	__atomic_store_n(&s->stalled_ns, longest, __ATOMIC_RELAXED);
	return w->stalled;
}
