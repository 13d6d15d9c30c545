/* The hint server: registration, ring draining, and fork tracking (hint_server.h). */
#include "hint_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "hint_proto.h"
#include "log.h"
#include "maps_check.h"
#include "proc_events.h"

/* User-space addresses end below 2^47 (2^56 with 5-level paging). */
#define MAX_VPAGE (1ull << (56 - 12))
/* Records a drain reads between looks at the clock. */
#define DRAIN_STEP 256
/* Hellos answered in one hint_server_handle call. */
#define HELLOS_PER_CALL 4

/* What a ring of `bytes` costs the server: whole pages of its memfd. */
static uint64_t ring_cost(size_t bytes)
{
	return (bytes + 4095) & ~(uint64_t)4095;
}

static void drop_child(struct hint_client_conn *c, unsigned i)
{
	close(c->child[i].pidfd);
	c->child[i] = c->child[--c->nchildren];
}

static void add_child(struct hint_client_conn *c, pid_t pid)
{
	int pidfd;

	for (unsigned i = 0; i < c->nchildren; i++)
		if (c->child[i].pid == pid)
			return;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		if (errno != ESRCH) /* gone already: nothing is shared with it */
			c->children_lost = true;
		return;
	}
	if (c->nchildren == HINT_MAX_CHILDREN) {
		close(pidfd);
		c->children_lost = true;
		return;
	}
	c->child[c->nchildren].pid = pid;
	c->child[c->nchildren].pidfd = pidfd;
	c->nchildren++;
}

static void close_proc_files(struct hint_client_conn *c)
{
	if (c->pagemap_fd >= 0)
		close(c->pagemap_fd);
	if (c->maps_fd >= 0)
		close(c->maps_fd);
	if (c->status_fd >= 0)
		close(c->status_fd);
}

static void free_client(struct hint_client_conn *c)
{
	while (c->nchildren)
		drop_child(c, 0);
	if (c->ring) {
		munmap(c->ring, c->ring_bytes);
		page_view_budget_give(c->budget, ring_cost(c->ring_bytes));
	}
	close_proc_files(c);
	close(c->sock);
	page_view_free(&c->view);
	if (c->of_uid && --c->of_uid->clients == 0)
		c->of_uid->uid = (uid_t)-1;
	free(c);
}

static void remove_client(struct hint_server *s, unsigned i)
{
	const struct hint_client_stats *c = &s->client[i]->stats;

	s->gone.records += c->records;
	s->gone.rejected += c->rejected;
	s->gone.overflows += c->overflows;
	s->gone.resyncs += c->resyncs;
	s->gone.forks += c->forks;
	s->gone.pages_resolved += c->pages_resolved;
	s->gone.lines_saved += c->lines_saved;
	s->gone_not_kept += s->client[i]->view.dropped;
	/* Its range stays held, released: whatever still maps it (a child) keeps its pages until
	 * nothing does, and only then is it discarded and free (by the table's other user). */
	if (s->client[i]->arena.granted) {
		pthread_mutex_lock(s->conf.arenas_lock);
		arena_release(s->conf.arenas, s->client[i]->id);
		pthread_mutex_unlock(s->conf.arenas_lock);
	}
	free_client(s->client[i]);
	s->client[i] = s->client[--s->nclients];
}

int hint_server_open(struct hint_server *s, const struct hint_server_conf *conf, char *err,
		     size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int ret;

	*s = (struct hint_server){
		.conf = *conf, .listen_fd = -1, .events_fd = -1, .uid = geteuid(), .next_id = 1
	};
	if (s->conf.max_clients > HINT_MAX_CLIENTS_CAP)
		s->conf.max_clients = HINT_MAX_CLIENTS_CAP;
	s->mem.cap = conf->server_bytes ? conf->server_bytes : UINT64_MAX;
	if (strlen(conf->socket_path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "hint socket path too long: %s", conf->socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, conf->socket_path);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		goto fail;
	/* A socket left by a daemon that died is replaced; a live one is not stolen. */
	if (connect(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		errno = EADDRINUSE;
		goto fail;
	}
	unlink(conf->socket_path);
	close(s->listen_fd);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    chmod(conf->socket_path, 0666) < 0 || listen(s->listen_fd, 64) < 0)
		goto fail;
	ret = proc_events_open();
	if (ret >= 0)
		s->events_fd = ret;
	else
		log_msg("hints: no process events (%s): a client's child is assumed to share "
			"its pages until it exits",
			strerror(-ret));
	return 0;
fail:
	ret = -errno;
	snprintf(err, errlen, "hint socket %s: %s", conf->socket_path, strerror(errno));
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	s->listen_fd = -1;
	return ret;
}

void hint_server_close(struct hint_server *s)
{
	while (s->nclients)
		remove_client(s, 0);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->conf.socket_path);
	}
	if (s->events_fd >= 0)
		close(s->events_fd);
	s->listen_fd = s->events_fd = -1;
}

/* RssAnon plus VmSwap of a /proc/PID/status text, in bytes; false when a line is missing or
 * cut short (a long Groups: line comes before them). */
static bool status_anon_bytes(const char *text, uint64_t *bytes)
{
	static const char *const keys[] = { "\nRssAnon:", "\nVmSwap:" };
	uint64_t kib = 0;

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const char *at = strstr(text, keys[k]);

		if (!at || !strchr(at + 1, '\n'))
			return false;
		kib += strtoull(at + strlen(keys[k]), NULL, 10);
	}
	*bytes = kib << 10;
	return true;
}

void hint_server_read_memory(struct hint_server *s, uint64_t now_ns)
{
	char text[16384];
	unsigned reads = 0;

	for (unsigned i = 0; i < s->nclients && reads < 16; i++) {
		struct hint_client_conn *c = s->client[i];
		ssize_t n;

		if (c->status_fd < 0 || now_ns - c->anon_read_ns < 1000000000ull)
			continue;
		c->anon_read_ns = now_ns;
		reads++;
		n = pread(c->status_fd, text, sizeof(text) - 1, 0);
		if (n > 0) {
			text[n] = 0;
			status_anon_bytes(text, &c->anon_bytes);
		}
	}
}

unsigned hint_server_pollfds(const struct hint_server *s, struct pollfd *fds)
{
	unsigned n = 0;

	fds[n++] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
	for (unsigned i = 0; i < s->nclients; i++)
		fds[n++] = (struct pollfd){ .fd = s->client[i]->sock, .events = POLLIN };
	return n;
}

static void send_welcome(int sock, struct hint_welcome *w, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl = { 0 };
	struct iovec iov = { .iov_base = w, .iov_len = sizeof(*w) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	w->magic = HINT_PROTO_MAGIC;
	w->version = HINT_PROTO_VERSION;
	if (fd >= 0) {
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	/* The socket is non-blocking and the welcome small: a client that does not read it
	 * finds its registration useless, which harms nobody else. */
	sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void refuse(struct hint_server *s, int sock, int status, const char *why)
{
	struct hint_welcome w = { .status = (int16_t)status };

	snprintf(w.reason, sizeof(w.reason), "%s", why);
	send_welcome(sock, &w, -1);
	s->refused++;
}

static bool uid_allowed(const struct hint_server *s, uid_t uid)
{
	return uid == 0 || uid == s->uid || s->conf.allow_uid == HINT_ALLOW_ANY_UID ||
	       (s->conf.allow_uid >= 0 && (uid_t)s->conf.allow_uid == uid);
}

static uint32_t ring_records(const struct hint_server *s, uint32_t asked)
{
	uint32_t want = asked ? asked : s->conf.ring_records;
	uint32_t n = HINT_RING_MIN_RECORDS;

	if (want > s->conf.max_ring_records)
		want = s->conf.max_ring_records;
	while (n < want && n < HINT_RING_MAX_RECORDS)
		n *= 2;
	return n;
}

/* The budgets c's memory is charged to: its own, its uid's (an entry found or taken), the
 * server's. False when no entry is free (cannot happen: one per client at most). */
static bool take_budgets(struct hint_server *s, struct hint_client_conn *c)
{
	struct hint_uid_budget *u = NULL;

	for (unsigned i = 0; i < HINT_MAX_CLIENTS_CAP && (!u || u->uid != c->uid); i++)
		if (s->uid_mem[i].clients ? s->uid_mem[i].uid == c->uid : !u)
			u = &s->uid_mem[i];
	if (!u)
		return false;
	if (!u->clients)
		*u = (struct hint_uid_budget){ .uid = c->uid,
					       .mem.cap = s->conf.uid_bytes ? s->conf.uid_bytes
									    : UINT64_MAX };
	u->clients++;
	c->of_uid = u;
	c->mem.cap = s->conf.client_bytes ? s->conf.client_bytes : UINT64_MAX;
	c->budget[0] = &c->mem;
	c->budget[1] = &u->mem;
	c->budget[2] = &s->mem;
	return true;
}

/* Mmap mode: grants the range a hello asks for (a new one, or the one the client already
 * maps), into w. False, with why, when it cannot. */
static bool grant_arena(struct hint_server *s, struct hint_client_conn *c,
			const struct hint_hello *h, struct hint_welcome *w, const char **why,
			int *status)
{
	uint64_t offset = h->arena_offset, bytes = h->arena_bytes;
	int ret;

	if (!s->conf.arenas) {
		*why = "this device has no mmap mode";
		*status = -EOPNOTSUPP;
		return false;
	}
	bool frozen = false;

	pthread_mutex_lock(s->conf.arenas_lock);
	if (offset == HINT_ARENA_ANY)
		ret = arena_grant(s->conf.arenas, bytes, c->id, &offset, &bytes);
	else
		ret = arena_take(s->conf.arenas, offset, bytes, c->id);
	/* A range its client froze (it forked) stays so, under any daemon: a child may read it. */
	if (ret == 0)
		frozen = arena_find(s->conf.arenas, offset)->frozen;
	pthread_mutex_unlock(s->conf.arenas_lock);
	if (ret == -EINVAL)
		*why = "bad range: not a multiple of 32 MiB inside the device";
	else if (ret == -EBUSY)
		*why = "that range of the device is another client's";
	else if (ret < 0)
		*why = "no room on the device for a range that large";
	if (ret < 0) {
		*status = ret;
		return false;
	}
	c->arena = (struct hint_arena){
		.offset = offset, .bytes = bytes, .granted = true, .frozen = frozen
	};
	w->arena_offset = offset;
	w->arena_bytes = bytes;
	w->dev_id = s->conf.dev_id;
	return true;
}

/* Sets up the ring and the view of a client whose hello is good (and its range, in mmap
 * mode); false (and refused) if not. The ring is as large as asked (within the server's
 * limits) or as the caps leave room for. */
static bool welcome(struct hint_server *s, struct hint_client_conn *c, const struct hint_hello *h)
{
	struct hint_welcome w = { 0 };
	uint32_t records = ring_records(s, h->ring_records);
	const char *why;
	int fd, status;

	if (!take_budgets(s, c)) {
		refuse(s, c->sock, -ENOMEM, "the server is out of memory");
		return false;
	}
	/* A ring may take half of the client's own budget, and must leave room for a view. */
	while (ring_cost(hint_ring_bytes(records)) > c->mem.cap / 2 ||
	       !page_view_budget_take(c->budget,
				      ring_cost(hint_ring_bytes(records)) + PAGE_VIEW_MIN_BYTES)) {
		if (records == HINT_RING_MIN_RECORDS) {
			refuse(s, c->sock, -ENOMEM,
			       "the memory for hints of your uid, or of the device, is used up");
			return false;
		}
		records /= 2;
	}
	c->ring_bytes = hint_ring_bytes(records);
	page_view_budget_give(c->budget, PAGE_VIEW_MIN_BYTES); /* the view takes it now */
	fd = memfd_create("lineswap-hints", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	/* Sealed to its size: the client cannot shrink it under the server's mapping. */
	if (fd < 0 || ftruncate(fd, (off_t)c->ring_bytes) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		refuse(s, c->sock, -ENOMEM, "the server cannot make a ring");
		page_view_budget_give(c->budget, ring_cost(c->ring_bytes));
		if (fd >= 0)
			close(fd);
		return false;
	}
	c->ring = mmap(NULL, c->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c->ring == MAP_FAILED) /* given back now: free_client gives back a mapped ring's */
		page_view_budget_give(c->budget, ring_cost(c->ring_bytes));
	/* Faulted in and locked here, the ring is the server's memory: it is charged to the
	 * daemon's cgroup rather than the client's, and never swapped out (perhaps through this
	 * very device). Without the privilege to lock it still works, only pageable. */
	if (c->ring != MAP_FAILED)
		(void)!mlock(c->ring, c->ring_bytes);
	if (c->ring == MAP_FAILED || page_view_init(&c->view, s->conf.max_pages, c->budget) < 0) {
		if (c->ring == MAP_FAILED)
			c->ring = NULL;
		refuse(s, c->sock, -ENOMEM, "the server is out of memory");
		close(fd);
		return false;
	}
	hint_ring_init(c->ring, records, &c->cons);
	c->id = s->next_id++;
	if ((h->flags & HINT_HELLO_ARENA) && !grant_arena(s, c, h, &w, &why, &status)) {
		refuse(s, c->sock, status, why);
		close(fd);
		return false;
	}
	s->registrations++;
	w.ring_records = records;
	w.ring_bytes = c->ring_bytes;
	w.client_id = c->id;
	send_welcome(c->sock, &w, fd);
	close(fd);
	return true;
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

/* A pidfd of the process that connected sock: the socket's own (SO_PEERPIDFD), or on kernels
 * before 6.5 (which do not know the option) one opened now for the pid it connected from
 * (then a pid reused meanwhile is caught only by bind_process's owner check). Any other
 * failure (the peer is gone) is -1: refused. */
static int peer_pidfd(int sock, pid_t pid)
{
	socklen_t len = sizeof(int);
	int fd = -1;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0)
		return fd;
	return errno == ENOPROTOOPT ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
}

/* Binds client c to the process that connected, now: its page map is opened at once (a file
 * bound to that process's address space: after an exec it reads nothing), and only if the
 * process is the one that connected (its pidfd shows it alive after /proc/PID was opened, so
 * the pid was not reused) and is still what it was (its /proc/PID is owned by the uid it
 * connected with: a setuid exec, or a process that is not dumpable, shows another owner).
 * Returns NULL, or why not. */
static const char *bind_process(struct hint_client_conn *c, int sock)
{
	int pidfd = peer_pidfd(sock, c->pid), dir, fd;
	const char *why = NULL;
	char path[32];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)c->pid);
	dir = pidfd < 0 ? -1 : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	c->pagemap_fd = dir < 0 ? -1 : openat(dir, "pagemap", O_RDONLY | O_CLOEXEC);
	c->maps_fd = dir < 0 ? -1 : openat(dir, "maps", O_RDONLY | O_CLOEXEC);
	c->status_fd = dir < 0 ? -1 : openat(dir, "status", O_RDONLY | O_CLOEXEC);
	if (c->pagemap_fd < 0 || c->maps_fd < 0)
		why = "the server cannot read your page map";
	else if (fstat(dir, &st) < 0 || st.st_uid != c->uid)
		why = "your process is not what it connected as (setuid, or not dumpable)";
	else if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		why = "the process that connected is gone";
	fd = dir < 0 ? -1 : openat(dir, "comm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, c->comm, sizeof(c->comm) - 1);

		c->comm[n > 0 ? n - (c->comm[n - 1] == '\n') : 0] = 0;
		close(fd);
	}
	if (dir >= 0)
		close(dir);
	if (pidfd >= 0)
		close(pidfd);
	return why;
}

static void on_event(void *arg, enum proc_event_kind kind, pid_t pid, pid_t parent);

static void accept_one(struct hint_server *s)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int sock = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	const char *why;

	if (sock < 0)
		return;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    !uid_allowed(s, cred.uid)) {
		refuse(s, sock, -EACCES, "your uid may not register with this device");
		close(sock);
		return;
	}
	/* With no client the caller may not have drained for long (hint_server_pollfds): what
	 * piled up, or was lost, concerned nobody. */
	for (int i = 0; s->nclients == 0 && s->events_fd >= 0 && i < 64; i++)
		if (proc_events_read(s->events_fd, on_event, s) != -ENOBUFS)
			break;
	if (s->nclients >= s->conf.max_clients) {
		refuse(s, sock, -EUSERS, "too many clients");
		close(sock);
		return;
	}
	struct hint_client_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(sock);
		return;
	}
	c->sock = sock;
	c->pid = cred.pid;
	c->uid = cred.uid;
	why = bind_process(c, sock);
	if (why) {
		refuse(s, sock, -EACCES, why);
		close_proc_files(c);
		free(c);
		close(sock);
		return;
	}
	s->client[s->nclients++] = c;
}

/* Mmap mode: the client says where it mapped its range; the server checks it in the maps of
 * the process that connected and answers. False (the client is dropped) when it is wrong. */
static bool claim(struct hint_server *s, struct hint_client_conn *c, const struct hint_claim *m)
{
	struct hint_claimed a = { .magic = HINT_PROTO_MAGIC };
	struct maps_claim want = { .base = m->base,
				   .bytes = c->arena.bytes,
				   .offset = c->arena.offset,
				   .unit = HINT_ARENA_UNIT,
				   .header = HINT_ARENA_HEADER_MAX };
	struct stat st;
	int ret = -EPROTO;

	if (m->magic == HINT_PROTO_MAGIC && !m->reserved && m->base % 4096 == 0) {
		ret = stat(s->conf.device_path, &st) < 0 ? -errno : 0;
		want.dev = st.st_dev;
		want.ino = st.st_ino;
	}
	if (ret == 0)
		ret = maps_check(c->maps_fd, &want, s->maps_buf, sizeof(s->maps_buf));
	if (ret == 1) {
		c->arena.base = m->base;
		c->arena.claimed = true;
	} else {
		a.status = ret < 0 ? ret : -EPERM;
		snprintf(a.reason, sizeof(a.reason), "%s",
			 ret == 0         ? "the range is not mapped there, shared and writable"
			 : ret == -EPROTO ? "bad claim"
					  : "the server cannot read your maps");
	}
	/* Non-blocking and small, as the welcome. */
	send(c->sock, &a, sizeof(a), MSG_NOSIGNAL | MSG_DONTWAIT);
	return ret == 1;
}

/* The client's socket is readable: its hello, its claim (mmap mode), or a hangup or a
 * protocol breach. */
static bool client_readable(struct hint_server *s, struct hint_client_conn *c)
{
	union {
		struct hint_hello hello;
		struct hint_claim claim;
	} m;
	bool claiming = c->ring && c->arena.granted && !c->arena.claimed;
	size_t want = claiming ? sizeof(m.claim) : sizeof(m.hello);
	ssize_t n = recv(c->sock, &m, want, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if ((c->ring && !claiming) || n != (ssize_t)want)
		return false;
	if (claiming)
		return claim(s, c, &m.claim);
	if (m.hello.magic != HINT_PROTO_MAGIC || m.hello.version != HINT_PROTO_VERSION ||
	    (m.hello.flags & ~HINT_HELLO_ARENA) || m.hello.reserved ||
	    (!(m.hello.flags & HINT_HELLO_ARENA) &&
	     (m.hello.arena_bytes || m.hello.arena_offset))) {
		refuse(s, c->sock, -EPROTO, "bad hello");
		return false;
	}
	return welcome(s, c, &m.hello);
}

void hint_server_handle(struct hint_server *s, const struct pollfd *fds, unsigned n)
{
	unsigned hellos = 0;

	/* Clients first, by descriptor (accepting may reorder the list). A welcome makes and
	 * locks a ring: a few a call, so a crowd registering at once cannot hold up the writes
	 * waiting for this thread (the others stay readable for the next call). */
	for (unsigned k = 1; k < n; k++) {
		if (!fds[k].revents)
			continue;
		for (unsigned i = 0; i < s->nclients; i++) {
			struct hint_client_conn *c = s->client[i];

			if (c->sock != fds[k].fd)
				continue;
			/* a claim reads the client's maps: as costly */
			if ((!c->ring || (c->arena.granted && !c->arena.claimed)) &&
			    hellos++ >= HELLOS_PER_CALL)
				break;
			if (!client_readable(s, c))
				remove_client(s, i);
			break;
		}
	}
	if (n > 0 && (fds[0].revents & POLLIN))
		for (unsigned i = 0; i < 16; i++)
			accept_one(s);
}

/* Drain callbacks: arg is the client. */
static void new_epoch(struct hint_client_conn *c, uint16_t epoch)
{
	c->epoch = epoch;
	page_view_clear(&c->view);
	c->stats.resyncs++;
}

static bool check_record(void *arg, uint64_t key)
{
	struct hint_client_conn *c = arg;
	uint16_t epoch = HINT_KEY_EPOCH(key);

	if (hint_epoch_newer(epoch, c->epoch))
		new_epoch(c, epoch);
	else if (epoch != c->epoch)
		return false; /* written before the client's last resync: outdated */
	if (HINT_KEY_KIND(key) != HINT_PAGE || HINT_KEY_VALUE(key) >= MAX_VPAGE)
		return false;
	/* Mmap mode: only pages of the claimed range, whose device pages they name. */
	return !c->arena.granted ||
	       (c->arena.claimed && HINT_KEY_VALUE(key) >= c->arena.base >> 12 &&
		HINT_KEY_VALUE(key) - (c->arena.base >> 12) < c->arena.bytes >> 12);
}

static void apply_record(void *arg, uint64_t key, uint64_t mask)
{
	struct hint_client_conn *c = arg;

	page_view_set(&c->view, HINT_KEY_VALUE(key), mask);
}

/* Process events: a fork by a client (or by a child still sharing with one) adds a child; an
 * exec ends the sharing. Exits are seen on the children's pidfds. */
static void on_event(void *arg, enum proc_event_kind kind, pid_t pid, pid_t parent)
{
	struct hint_server *s = arg;

	for (unsigned i = 0; i < s->nclients; i++) {
		struct hint_client_conn *c = s->client[i];

		if (kind == PROC_EV_FORK) {
			bool ours = parent == c->pid;

			for (unsigned k = 0; k < c->nchildren && !ours; k++)
				ours = c->child[k].pid == parent;
			if (ours && c->ring)
				add_child(c, pid);
		} else if (kind == PROC_EV_EXEC) {
			for (unsigned k = 0; k < c->nchildren; k++)
				if (c->child[k].pid == pid)
					drop_child(c, k--);
		}
	}
}

static void read_events(struct hint_server *s)
{
	if (s->events_fd >= 0 && proc_events_read(s->events_fd, on_event, s) == -ENOBUFS &&
	    !s->events_lost) {
		s->events_lost = true;
		log_msg("hints: process events were lost: every client's pages move whole from "
			"now on");
	}
}

static void reap_children(struct hint_client_conn *c)
{
	for (unsigned k = 0; k < c->nchildren; k++) {
		struct pollfd p = { .fd = c->child[k].pidfd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1)
			drop_child(c, k--);
	}
}

/* Reads c's ring until it is drained or deadline_ns: a busy client may publish as fast as it
 * is read, so a few rings' worth at most. */
static void drain_client(struct hint_server *s, struct hint_client_conn *c, uint64_t deadline_ns)
{
	struct hint_drain_stats st = { 0 };
	enum hint_drain_end end = HINT_LIMIT;
	uint16_t epoch = hint_ring_epoch(c->ring);

	if (hint_epoch_newer(epoch, c->epoch))
		new_epoch(c, epoch);
	for (uint64_t budget = 4ull * c->cons.capacity; budget && end == HINT_LIMIT;) {
		unsigned step = budget < DRAIN_STEP ? (unsigned)budget : DRAIN_STEP;

		end = hint_ring_drain(&c->cons, step, check_record, apply_record, c, &st);
		budget -= step;
		if (monotonic_ns() >= deadline_ns)
			break;
	}
	c->stats.records += st.records;
	c->stats.rejected += st.rejected;
	c->stats.overflows += st.overflows;
	if (end == HINT_CORRUPT) {
		log_msg("hints: client %u (pid %d) corrupted its ring: dropped", c->id,
			(int)c->pid);
		s->dropped++;
		c->corrupt = true;
		return;
	}
	c->unsure = end != HINT_DRAINED;
	/* after the records (see hint_ring.h) */
	uint32_t begun = atomic_load_explicit(&c->ring->forks_begun, memory_order_acquire);
	uint32_t done = atomic_load_explicit(&c->ring->forks_done, memory_order_acquire);
	c->stats.forks += done - c->forks_done;
	c->forks_done = done;
	/* Without process events the server cannot know when a child's sharing ends: a client
	 * that ever forked then counts as forking for good. */
	c->forking = begun != done || (s->events_fd < 0 && done != 0);
	/* A fork freezes a range for good: both sides go on copy-on-write over it. The table
	 * remembers it, for a recovered daemon. */
	if (c->arena.claimed && begun != 0 && !c->arena.frozen) {
		c->arena.frozen = true;
		pthread_mutex_lock(s->conf.arenas_lock);
		arena_freeze(s->conf.arenas, c->id);
		pthread_mutex_unlock(s->conf.arenas_lock);
	}
	reap_children(c);
}

void hint_server_drain(struct hint_server *s, uint64_t deadline_ns)
{
	unsigned n = s->nclients, first = n ? s->drain_first++ % n : 0;

	for (unsigned k = 0; k < n; k++) {
		struct hint_client_conn *c = s->client[(first + k) % n];
		uint64_t now = monotonic_ns();

		if (!c->ring)
			continue;
		if (now >= deadline_ns) {
			c->unsure = true; /* not read this time: its masks may be stale */
			continue;
		}
		drain_client(s, c, now + (deadline_ns - now) / (n - k));
	}
	for (unsigned i = 0; i < s->nclients; i++)
		if (s->client[i]->corrupt)
			remove_client(s, i--);
	read_events(s);
}

bool hint_client_resolvable(const struct hint_server *s, const struct hint_client_conn *c)
{
	return c->ring && !c->unsure && !c->forking && c->nchildren == 0 && !c->children_lost &&
	       !s->events_lost && !c->arena.frozen;
}

int hint_server_arena_mask(const struct hint_server *s, uint64_t page, uint64_t *mask)
{
	for (unsigned i = 0; i < s->nclients; i++) {
		const struct hint_client_conn *c = s->client[i];
		uint64_t first = c->arena.offset >> 12;

		if (!c->arena.claimed || page < first || page - first >= c->arena.bytes >> 12)
			continue;
		*mask = hint_client_resolvable(s, c)
				? page_view_get(&c->view, (c->arena.base >> 12) + (page - first))
				: LINES_WHOLE;
		return (int)i;
	}
	return -1;
}
