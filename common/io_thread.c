/* io_thread.c — see io_thread.h. */
#include "io_thread.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

static void __attribute__((noinline)) touch_stack(void)
{
	volatile char probe[IO_THREAD_STACK_TOUCH];

	memset((char *)probe, 0, sizeof(probe));
}

int io_thread_init(const char *name)
{
	prctl(PR_SET_NAME, name, 0, 0, 0);
	touch_stack();
	return prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0 ? -errno : 0;
}
