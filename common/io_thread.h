/* io_thread.h — what every thread that serves a device's I/O does first.
 *
 * Such a thread may be the one the kernel's reclaim waits for (swap on the device it serves),
 * so it must not wait for that device to get memory:
 * - PR_SET_IO_FLUSHER makes its allocations avoid I/O (PF_MEMALLOC_NOIO) and exempts it from
 *   dirty throttling (PF_LOCAL_THROTTLE);
 * - a realtime thread (SCHED_FIFO, the lowest priority) may take the pages the kernel keeps
 *   between the min watermark and half of it (mm/page_alloc.c, gfp_to_alloc_flags, since
 *   6.3): the one reserve a userspace thread can reach. Without it, a TCP send under
 *   whole-machine pressure loops in direct reclaim for its socket's pages while everything
 *   reclaim could free waits on this very thread (measured: docs/benchmarks.md, "Swap under
 *   whole-machine memory pressure"). vm.min_free_kbytes sets the reserve's size.
 * - its stack is faulted in now, under the daemon's mlockall, rather than page by page while
 *   memory is short.
 * The name shows in /proc/PID/task/TID/comm, where tests read the flags and policy back. */
#ifndef LINESWAP_IO_THREAD_H
#define LINESWAP_IO_THREAD_H

#include <stdbool.h>

#define IO_THREAD_STACK_TOUCH (256 * 1024) /* bytes of stack faulted in at start */

/* Names the calling thread (at most 15 characters), marks it an I/O flusher (needs
 * CAP_SYS_RESOURCE), makes it realtime if asked (needs CAP_SYS_NICE; with SCHED_RESET_ON_FORK:
 * nothing it starts inherits the policy), and faults in its stack. What is refused is logged:
 * the thread still works, but swap on its device may then stall (`ublk-ctl add` warns too). A
 * thread whose work a client can make long (the page-map reader) is not made realtime: the
 * write path waits for it only until its hold time. */
void io_thread_init(const char *name, bool realtime);

/* Tells the OOM killer never to pick the calling process (oom_score_adj -1000, needs
 * CAP_SYS_RESOURCE): a memory node's pages would be lost with it (each next swap-in of them a
 * SIGBUS), and a daemon's device would hold every swap-in until a recovery, while memory is
 * short. A refusal is logged under `name`. */
void io_process_protect(const char *name);

#endif
