/* proc_events.h — the kernel's process events (the netlink process connector): forks, execs
 * and exits of every process, which the hint server uses to know when a client's pages stop
 * being shared copy-on-write with a child. Needs CAP_NET_ADMIN and CONFIG_PROC_EVENTS. */
#ifndef LINESWAP_PROC_EVENTS_H
#define LINESWAP_PROC_EVENTS_H

#include <sys/types.h>

enum proc_event_kind {
	PROC_EV_FORK, /* a new process (not a thread): pid is the child, parent its parent */
	PROC_EV_EXEC, /* pid replaced its address space */
	PROC_EV_EXIT, /* process pid ended (its last thread) */
};

/* Opens and subscribes; returns a non-blocking fd or -errno. */
int proc_events_open(void);

/* Reads every queued event, calling fn for each. Returns 0, or -ENOBUFS when events were lost
 * (the socket overflowed), or another -errno. */
int proc_events_read(int fd,
		     void (*fn)(void *arg, enum proc_event_kind kind, pid_t pid, pid_t parent),
		     void *arg);

#endif
