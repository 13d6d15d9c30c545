/* io_thread.h — what every thread that serves a device's I/O does first.
 *
 * Such a thread may be the one the kernel's reclaim waits for (swap on the device it serves),
 * so it must not wait for that device to get memory: PR_SET_IO_FLUSHER makes its allocations
 * avoid I/O (PF_MEMALLOC_NOIO) and exempts it from dirty throttling (PF_LOCAL_THROTTLE), and
 * its stack is faulted in now, under the daemon's mlockall, rather than page by page while
 * memory is short. The name shows in /proc/PID/task/TID/comm, where tests read the flags
 * back. */
#ifndef LINESWAP_IO_THREAD_H
#define LINESWAP_IO_THREAD_H

#define IO_THREAD_STACK_TOUCH (256 * 1024) /* bytes of stack faulted in at start */

/* Names the calling thread (at most 15 characters), marks it an I/O flusher, and faults in
 * its stack. Returns 0, or -errno when PR_SET_IO_FLUSHER is refused (no CAP_SYS_RESOURCE):
 * the thread still works, but swap on its device may then stall. */
int io_thread_init(const char *name);

#endif
