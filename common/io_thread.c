/* io_thread.c — see io_thread.h. */
#include "io_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif
#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

static void __attribute__((noinline)) touch_stack(void)
{
	volatile char probe[IO_THREAD_STACK_TOUCH];

	memset((char *)probe, 0, sizeof(probe));
}

void io_thread_init(const char *name, bool realtime)
{
	const struct sched_param lowest_rt = { .sched_priority = 1 };

	prctl(PR_SET_NAME, name, 0, 0, 0);
	touch_stack();
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		log_msg("%s: PR_SET_IO_FLUSHER: %s (swap on this device may stall)", name,
			strerror(errno));
	/* sched_setscheduler(0, ...) sets the calling thread's policy, not the process's. */
	if (realtime && sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &lowest_rt) < 0)
		log_msg("%s: SCHED_FIFO: %s (under whole-machine memory pressure, swap on this "
			"device may stall)",
			name, strerror(errno));
}

void io_process_protect(const char *name)
{
	static const char never[] = "-1000";
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, never, sizeof(never) - 1) == sizeof(never) - 1;
	int e = errno;

	if (fd >= 0)
		close(fd);
	if (!ok)
		log_msg("%s: cannot set oom_score_adj: %s (the OOM killer may pick it)", name,
			strerror(e));
}
