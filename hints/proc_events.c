/* The netlink process connector (linux/cn_proc.h), reduced to process forks, execs and
 * exits. */
#include "proc_events.h"

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int proc_events_open(void)
{
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
	enum proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
	char req[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(op))]
		__attribute__((aligned(NLMSG_ALIGNTO))) = { 0 };
	struct nlmsghdr *nl = (struct nlmsghdr *)req;
	struct cn_msg *cn = NLMSG_DATA(nl);
	int size = 4 << 20;
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);

	if (fd < 0)
		return -errno;
	nl->nlmsg_len = NLMSG_LENGTH(sizeof(*cn) + sizeof(op));
	nl->nlmsg_type = NLMSG_DONE;
	cn->id.idx = CN_IDX_PROC;
	cn->id.val = CN_VAL_PROC;
	cn->len = sizeof(op);
	memcpy(cn->data, &op, sizeof(op));
	/* Forks in bursts must not overflow it: a lost event costs every client its savings. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    send(fd, req, nl->nlmsg_len, 0) != (ssize_t)nl->nlmsg_len) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int proc_events_read(int fd,
		     void (*fn)(void *arg, enum proc_event_kind kind, pid_t pid, pid_t parent),
		     void *arg)
{
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0
			       : errno == EINTR ? proc_events_read(fd, fn, arg)
						: -errno;
		for (struct nlmsghdr *nl = (struct nlmsghdr *)buf; NLMSG_OK(nl, (size_t)n);
		     nl = NLMSG_NEXT(nl, n)) {
			struct cn_msg *cn = NLMSG_DATA(nl);
			struct proc_event ev;

			if (nl->nlmsg_len < NLMSG_LENGTH(sizeof(*cn) + sizeof(ev)) ||
			    cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC)
				continue;
			/* the event follows a 20-byte header: copy it out to align it */
			memcpy(&ev, cn->data, sizeof(ev));
			switch (ev.what) {
			case PROC_EVENT_FORK:
				if (ev.event_data.fork.child_pid == ev.event_data.fork.child_tgid)
					fn(arg, PROC_EV_FORK, ev.event_data.fork.child_tgid,
					   ev.event_data.fork.parent_tgid);
				break;
			case PROC_EVENT_EXEC:
				fn(arg, PROC_EV_EXEC, ev.event_data.exec.process_tgid, 0);
				break;
			case PROC_EVENT_EXIT:
				if (ev.event_data.exit.process_pid ==
				    ev.event_data.exit.process_tgid)
					fn(arg, PROC_EV_EXIT, ev.event_data.exit.process_tgid, 0);
				break;
			default:
				break;
			}
		}
	}
}
