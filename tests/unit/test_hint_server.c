/* The hint server's registration and ring handling, with clients made of raw sockets: a good
 * hello gets a sealed ring that the server reads into the client's view; a bad hello, bytes
 * after the hello, a hang-up, one client too many, a uid that may not register, and a
 * corrupted ring each end that client's registration and nothing else. Epochs: after a resync
 * the view is forgotten and records of the old epoch are refused. Forks make a client
 * unresolvable until they finish. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "hint_proto.h"
#include "hint_server.h"

static char sock_path[108];

struct client {
	int sock;
	struct hint_welcome w;
	struct hint_ring *ring;
};

/* Lets the server act on whatever is pending (accepts, hellos, hang-ups). */
static void serve(struct hint_server *s)
{
	struct pollfd fds[HINT_SERVER_MAX_FDS];

	for (int i = 0; i < 3; i++) {
		unsigned n = hint_server_pollfds(s, fds);

		if (poll(fds, n, 50) <= 0)
			break;
		hint_server_handle(s, fds, n);
	}
}

static int connect_raw(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int sock = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(addr.sun_path, sock_path);
	assert_true(sock >= 0);
	assert_int_equal(connect(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return sock;
}

/* Receives the welcome (and its descriptor, mapped). */
static void receive(struct client *c)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = &c->w, .iov_len = sizeof(c->w) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	int fd = -1;

	assert_int_equal(recvmsg(c->sock, &msg, 0), sizeof(c->w));
	struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
	if (h && h->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(h), sizeof(fd));
	c->ring = NULL;
	if (c->w.status == 0) {
		assert_true(fd >= 0);
		/* sealed: the client can neither shrink nor grow it under the server */
		assert_int_equal(fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
		assert_true(ftruncate(fd, 4096) < 0);
		c->ring = mmap(NULL, c->w.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		assert_true(c->ring != MAP_FAILED);
		close(fd);
	} else {
		assert_int_equal(fd, -1);
	}
}

static void hello(struct hint_server *s, struct client *c, uint32_t magic, uint32_t records)
{
	struct hint_hello h = { .magic = magic,
				.version = HINT_PROTO_VERSION,
				.ring_records = records };

	c->sock = connect_raw();
	serve(s);
	send(c->sock, &h, sizeof(h), MSG_NOSIGNAL); /* a refused client may be closed already */
	serve(s);
	receive(c);
}

/* Whether the server has closed the connection. */
static bool closed(int sock)
{
	char b;

	return recv(sock, &b, 1, MSG_DONTWAIT) == 0;
}

/* A server on sock_path that lets `allow_uid` register besides root. */
static int open_server(void **state, long allow_uid)
{
	static struct hint_server s;
	struct hint_server_conf conf = {
		.socket_path = sock_path,
		.allow_uid = allow_uid,
		.max_clients = 2,
		.ring_records = 256,
		.max_ring_records = 1024,
		.max_pages = 100,
	};
	char err[256];

	snprintf(sock_path, sizeof(sock_path), "/tmp/lineswap-test-hints-%d.sock", (int)getpid());
	assert_int_equal(hint_server_open(&s, &conf, err, sizeof(err)), 0);
	*state = &s;
	return 0;
}

static int setup(void **state)
{
	return open_server(state, -1);
}

/* As setup, but any uid may register. */
static int setup_any_uid(void **state)
{
	return open_server(state, HINT_ALLOW_ANY_UID);
}

static int teardown(void **state)
{
	hint_server_close(*state);
	assert_true(access(sock_path, F_OK) < 0); /* the socket is removed */
	return 0;
}

static void test_good_client(void **state)
{
	struct hint_server *s = *state;
	struct client c;

	hello(s, &c, HINT_PROTO_MAGIC, 0);
	assert_int_equal(c.w.status, 0);
	assert_int_equal(c.w.ring_records, 256); /* the default */
	assert_int_equal(c.ring->magic, HINT_RING_MAGIC);
	assert_int_equal(s->nclients, 1);
	struct hint_client_conn *conn = s->client[0];
	assert_int_equal(conn->pid, getpid());
	assert_int_equal(conn->id, c.w.client_id);

	assert_true(hint_ring_publish(c.ring, HINT_KEY(0, HINT_PAGE, 0x12345), 0xff00ff));
	assert_true(hint_ring_publish(c.ring, HINT_KEY(0, HINT_PAGE, 0x777), 0x3));
	assert_true(hint_ring_publish(c.ring, HINT_KEY(0, HINT_PAGE, 0x777), UINT64_MAX));
	assert_true(hint_ring_publish(c.ring, HINT_KEY(0, 7, 1), 0)); /* no such kind */
	hint_server_drain(s, UINT64_MAX);
	assert_int_equal(page_view_get(&conn->view, 0x12345), 0xff00ff);
	assert_int_equal(page_view_get(&conn->view, 0x777), LINES_WHOLE); /* whole again */
	assert_int_equal(conn->stats.records, 3);
	assert_int_equal(conn->stats.rejected, 1);
	assert_true(hint_client_resolvable(s, conn) || s->events_fd < 0);

	/* Its memory, from its /proc/PID/status (this process): read once, then not again
	 * within a second. */
	uint64_t now = monotonic_ns();
	hint_server_read_memory(s, now);
	assert_true(conn->anon_bytes > 0);
	assert_true(conn->anon_bytes % 1024 == 0);
	conn->anon_bytes = 1;
	hint_server_read_memory(s, now + 500000000ull);
	assert_int_equal(conn->anon_bytes, 1);
	hint_server_read_memory(s, now + 1000000000ull);
	assert_true(conn->anon_bytes > 1);

	/* Hang-up: the registration ends. */
	close(c.sock);
	serve(s);
	assert_int_equal(s->nclients, 0);
	munmap(c.ring, c.w.ring_bytes);
}

static void test_bad_hello_and_breaches(void **state)
{
	struct hint_server *s = *state;
	struct client c, d;

	hello(s, &c, 0xdeadbeef, 0);
	assert_int_equal(c.w.status, -EPROTO);
	assert_true(closed(c.sock));
	assert_int_equal(s->nclients, 0);
	close(c.sock);

	/* A huge ring is capped; then anything after the hello ends the registration. */
	hello(s, &c, HINT_PROTO_MAGIC, 1u << 30);
	assert_int_equal(c.w.status, 0);
	assert_int_equal(c.w.ring_records, 1024);
	hello(s, &d, HINT_PROTO_MAGIC, 100);
	assert_int_equal(d.w.ring_records, 128); /* a power of two */
	assert_int_equal(s->nclients, 2);
	assert_int_equal(send(c.sock, "x", 1, MSG_NOSIGNAL), 1);
	serve(s);
	assert_int_equal(s->nclients, 1);
	assert_true(closed(c.sock));
	assert_false(closed(d.sock)); /* the other client is untouched */
	close(c.sock);
	close(d.sock);
	serve(s);
	munmap(c.ring, c.w.ring_bytes);
	munmap(d.ring, d.w.ring_bytes);
}

static void test_too_many_clients(void **state)
{
	struct hint_server *s = *state;
	struct client c[3];

	for (int i = 0; i < 3; i++)
		hello(s, &c[i], HINT_PROTO_MAGIC, 0);
	assert_int_equal(c[0].w.status, 0);
	assert_int_equal(c[1].w.status, 0);
	assert_int_equal(c[2].w.status, -EUSERS);
	assert_int_equal(s->nclients, 2);
	for (int i = 0; i < 3; i++) {
		close(c[i].sock);
		if (c[i].ring)
			munmap(c[i].ring, c[i].w.ring_bytes);
	}
	serve(s);
	assert_int_equal(s->nclients, 0);
}

/* A process of another uid is refused (as root: the child drops to nobody). */
static void test_other_uid_refused(void **state)
{
	struct hint_server *s = *state;
	int status;

	if (geteuid() != 0)
		skip(); /* CI runs as root, so this runs there */
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct hint_hello h = { .magic = HINT_PROTO_MAGIC, .version = HINT_PROTO_VERSION };
		struct hint_welcome w;

		if (setuid(65534) < 0)
			_exit(10);
		int sock = connect_raw();
		if (send(sock, &h, sizeof(h), 0) != sizeof(h) ||
		    recv(sock, &w, sizeof(w), 0) != sizeof(w))
			_exit(11);
		_exit(w.status == -EACCES ? 0 : 12);
	}
	for (int i = 0; i < 20 && waitpid(child, &status, WNOHANG) == 0; i++)
		serve(s);
	assert_int_equal(waitpid(child, &status, 0), -1); /* reaped above */
	assert_int_equal(s->nclients, 0);
	assert_true(s->refused >= 1);
}

/* A setuid-root copy of sleep, next to this test's binary (a file system that honours setuid
 * bits, unlike a nosuid /tmp); its path. */
static const char *setuid_sleep(void)
{
	static char path[1024];
	char cmd[3 * sizeof(path) + 64];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);

	assert_true(n > 0);
	path[n] = '\0';
	strcpy(strrchr(path, '/') + 1, "setuid-sleep");
	snprintf(cmd, sizeof(cmd), "cp /bin/sleep '%s' && chown 0:0 '%s' && chmod 4755 '%s'", path,
		 path, path);
	assert_int_equal(system(cmd), 0);
	return path;
}

/* Whether pid runs the setuid program (its name, and euid 0 with another real uid). */
static bool runs_setuid(pid_t pid)
{
	char path[64], line[256];
	unsigned real = 0, effective = 1;
	bool named = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		named |= !strcmp(line, "Name:\tsetuid-sleep\n");
		sscanf(line, "Uid: %u %u", &real, &effective);
	}
	if (f)
		fclose(f);
	return named && effective == 0 && real != 0;
}

/* An unprivileged process connects, forks, and execs a setuid-root program; its child sends the
 * hello. The masks would then be applied to the setuid program's pages (lines outside them
 * come back as zeros). Refused when the server accepts after the exec (the process is no
 * longer what it connected as); when it accepted before, the page map it holds is bound to the
 * address space that is gone: it reads nothing of the setuid program's. */
static void test_setuid_exec_gets_no_masks(void **state)
{
	struct hint_server *s = *state;
	const char *prog = setuid_sleep();

	for (int accept_first = 0; accept_first < 2; accept_first++) {
		int go[2], status;
		uint64_t entry;

		assert_int_equal(pipe(go), 0);
		pid_t child = fork();

		assert_true(child >= 0);
		if (child == 0) {
			char b;

			if (setuid(65534) < 0)
				_exit(10);
			int sock = connect_raw();

			if (read(go[0], &b, 1) != 1) /* the test has accepted, or not */
				_exit(11);
			if (fork() == 0) { /* the one that sends the hello, later */
				struct hint_hello h = { .magic = HINT_PROTO_MAGIC,
							.version = HINT_PROTO_VERSION };

				if (read(go[0], &b, 1) != 1)
					_exit(12);
				send(sock, &h, sizeof(h), MSG_NOSIGNAL);
				_exit(0);
			}
			execl(prog, prog, "30", (char *)NULL);
			_exit(13);
		}
		/* The child connects on its own time (slow under ASan on a busy machine): accept
		 * once it has, or the exec could come first. */
		for (int i = 0; accept_first && i < 200 && s->nclients == 0; i++)
			serve(s);
		assert_int_equal(s->nclients, accept_first);
		assert_int_equal(write(go[1], "x", 1), 1);
		for (int i = 0; i < 500 && !runs_setuid(child); i++)
			usleep(10000);
		assert_true(runs_setuid(child));
		assert_int_equal(write(go[1], "x", 1), 1);
		serve(s);
		serve(s);
		if (accept_first) {
			/* Registered before the exec: its page map reads nothing now. */
			assert_int_equal(s->nclients, 1);
			assert_true(pread(s->client[0]->pagemap_fd, &entry, sizeof(entry),
					  0x400000 / 4096 * 8) <= 0);
		} else {
			assert_int_equal(s->nclients, 0);
			assert_true(s->refused >= 1);
		}
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
		close(go[0]);
		close(go[1]);
		while (s->nclients)
			serve(s); /* its hang-up ends the registration */
	}
	unlink(prog);
}

static void test_epochs_and_forks(void **state)
{
	struct hint_server *s = *state;
	struct client c;

	hello(s, &c, HINT_PROTO_MAGIC, 0);
	struct hint_client_conn *conn = s->client[0];
	assert_true(hint_ring_publish(c.ring, HINT_KEY(0, HINT_PAGE, 10), 0xf0));
	hint_server_drain(s, UINT64_MAX);
	assert_int_equal(page_view_get(&conn->view, 10), 0xf0);

	/* The ring overflowed: a new epoch forgets the view and refuses older records. */
	assert_int_equal(hint_ring_next_epoch(c.ring, 0), 1);
	assert_true(hint_ring_publish(c.ring, HINT_KEY(0, HINT_PAGE, 11), 0x1));
	assert_true(hint_ring_publish(c.ring, HINT_KEY(1, HINT_PAGE, 12), 0x2));
	hint_server_drain(s, UINT64_MAX);
	assert_int_equal(page_view_get(&conn->view, 10), LINES_WHOLE);
	assert_int_equal(page_view_get(&conn->view, 11), LINES_WHOLE);
	assert_int_equal(page_view_get(&conn->view, 12), 0x2);
	assert_int_equal(conn->stats.resyncs, 1);
	assert_int_equal(conn->stats.rejected, 1);

	/* A fork under way: unresolvable; done: resolvable again if process events are there. */
	atomic_fetch_add(&c.ring->forks_begun, 1);
	hint_server_drain(s, UINT64_MAX);
	assert_false(hint_client_resolvable(s, conn));
	atomic_fetch_add(&c.ring->forks_done, 1);
	hint_server_drain(s, UINT64_MAX);
	assert_int_equal(conn->stats.forks, 1);
	assert_int_equal(hint_client_resolvable(s, conn), s->events_fd >= 0);

	close(c.sock);
	serve(s);
	munmap(c.ring, c.w.ring_bytes);
}

/* Random bytes over the whole shared ring: the server drops the client or refuses records,
 * and never crashes or reads out of bounds (also fuzzed: tests/fuzz). */
static void test_hostile_ring(void **state)
{
	struct hint_server *s = *state;
	uint64_t x = 88172645463325252ull;

	for (int round = 0; round < 100; round++) {
		struct client c;

		hello(s, &c, HINT_PROTO_MAGIC, 64);
		assert_int_equal(s->nclients, 1);
		uint64_t *w = (uint64_t *)c.ring;
		for (size_t i = 0; i < c.w.ring_bytes / 8; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (round % 2 == 0 || i >= 8) /* half the rounds keep the header sane */
				w[i] = x;
		}
		hint_server_drain(s, UINT64_MAX);
		hint_server_drain(s, UINT64_MAX);
		if (s->nclients)
			assert_true(s->client[0]->view.count <= 100); /* bounded by max_pages */
		close(c.sock);
		serve(s);
		assert_int_equal(s->nclients, 0);
		munmap(c.ring, c.w.ring_bytes);
	}
}

/* Mmap mode: a file stands for the device (the claim check reads its inode in the maps). */
static struct arena_table arenas;
static pthread_mutex_t arenas_lock = PTHREAD_MUTEX_INITIALIZER;
static char dev_path[64];
static int dev_fd;

#define MIB (1ull << 20)

static int setup_arena(void **state)
{
	static struct hint_server s;
	struct hint_server_conf conf = {
		.socket_path = sock_path,
		.allow_uid = -1,
		.max_clients = 8,
		.ring_records = 256,
		.max_ring_records = 1024,
		.max_pages = 100,
		.device_path = dev_path,
		.dev_id = 7,
		.arenas = &arenas,
		.arenas_lock = &arenas_lock,
	};
	char err[256];

	snprintf(dev_path, sizeof(dev_path), "/tmp/lineswap-test-arena-%d", (int)getpid());
	dev_fd = open(dev_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(dev_fd >= 0);
	assert_int_equal(ftruncate(dev_fd, 8 * ARENA_ALIGN), 0);
	arena_table_init(&arenas, 8 * ARENA_ALIGN);
	snprintf(sock_path, sizeof(sock_path), "/tmp/lineswap-test-hints-%d.sock", (int)getpid());
	assert_int_equal(hint_server_open(&s, &conf, err, sizeof(err)), 0);
	*state = &s;
	return 0;
}

static int teardown_arena(void **state)
{
	teardown(state);
	close(dev_fd);
	unlink(dev_path);
	return 0;
}

static void arena_hello(struct hint_server *s, struct client *c, uint64_t bytes, uint64_t offset)
{
	struct hint_hello h = { .magic = HINT_PROTO_MAGIC,
				.version = HINT_PROTO_VERSION,
				.flags = HINT_HELLO_ARENA,
				.arena_bytes = bytes,
				.arena_offset = offset };

	c->sock = connect_raw();
	serve(s);
	send(c->sock, &h, sizeof(h), MSG_NOSIGNAL);
	serve(s);
	receive(c);
}

/* The claim's answer (0, or the refusal's status). */
static int claim_at(struct hint_server *s, struct client *c, void *base)
{
	struct hint_claim m = { .magic = HINT_PROTO_MAGIC, .base = (uint64_t)(uintptr_t)base };
	struct hint_claimed a;

	assert_int_equal(send(c->sock, &m, sizeof(m), MSG_NOSIGNAL), sizeof(m));
	serve(s);
	assert_int_equal(recv(c->sock, &a, sizeof(a), 0), sizeof(a));
	assert_int_equal(a.magic, HINT_PROTO_MAGIC);
	return a.status;
}

static void *map_dev(uint64_t offset, uint64_t bytes, int flags)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, dev_fd, (off_t)offset);

	assert_true(p != MAP_FAILED);
	return p;
}

static struct hint_client_conn *conn_of(struct hint_server *s, const struct client *c)
{
	for (unsigned i = 0; i < s->nclients; i++)
		if (s->client[i]->id == c->w.client_id)
			return s->client[i];
	return NULL;
}

static enum arena_state state_at(uint64_t offset)
{
	for (unsigned i = 0; i < arenas.n; i++)
		if (arenas.range[i].offset == offset)
			return arenas.range[i].state;
	return (enum arena_state) - 1;
}

/* Ranges are granted without overlap, claimed only where the client really maps them, and a
 * client's records reach only its own range, whose device pages they mask by offset. */
static void test_arena_ranges(void **state)
{
	struct hint_server *s = *state;
	struct client a, b, c, d, e;
	uint64_t mask;

	arena_hello(s, &a, 40 * MIB, HINT_ARENA_ANY);
	assert_int_equal(a.w.status, 0);
	assert_int_equal(a.w.arena_offset, 0);
	assert_int_equal(a.w.arena_bytes, ARENA_ALIGN * 2);
	assert_int_equal(a.w.dev_id, 7);
	/* Before its claim the client's records are refused. */
	char *abase = map_dev(0, a.w.arena_bytes, MAP_SHARED);
	uint64_t avp = (uint64_t)(uintptr_t)abase >> 12;

	assert_true(hint_ring_publish(a.ring, HINT_KEY(0, HINT_PAGE, avp + 5), 0xf0f0));
	hint_server_drain(s, UINT64_MAX);
	assert_int_equal(conn_of(s, &a)->stats.rejected, 1);
	assert_int_equal(hint_server_arena_mask(s, 5, &mask), -1);
	assert_int_equal(claim_at(s, &a, abase), 0);
	/* Claimed: records of its range mask those device pages; others are refused. */
	assert_true(hint_ring_publish(a.ring, HINT_KEY(0, HINT_PAGE, avp + 5), 0xf0f0));
	assert_true(hint_ring_publish(a.ring, HINT_KEY(0, HINT_PAGE, avp - 1), 0x3));
	assert_true(hint_ring_publish(a.ring, HINT_KEY(0, HINT_PAGE, avp + 16384), 0x3));
	hint_server_drain(s, UINT64_MAX);
	assert_int_equal(conn_of(s, &a)->stats.rejected, 3);
	int ai = hint_server_arena_mask(s, 5, &mask);

	assert_ptr_equal(s->client[ai], conn_of(s, &a));
	assert_int_equal(mask, hint_client_resolvable(s, conn_of(s, &a)) ? 0xf0f0 : LINES_WHOLE);
	assert_int_equal(hint_server_arena_mask(s, 6, &mask), ai);
	assert_int_equal(mask, LINES_WHOLE);
	assert_int_equal(hint_server_arena_mask(s, 16384, &mask), -1);

	/* A second client gets the next range; a claim of the first's is refused. */
	arena_hello(s, &b, ARENA_ALIGN, HINT_ARENA_ANY);
	assert_int_equal(b.w.status, 0);
	assert_int_equal(b.w.arena_offset, 2 * ARENA_ALIGN);
	arena_hello(s, &c, 2 * ARENA_ALIGN, 0);
	assert_int_equal(c.w.status, -EBUSY);
	assert_true(closed(c.sock));
	arena_hello(s, &c, ARENA_ALIGN, 3 * MIB); /* misaligned */
	assert_int_equal(c.w.status, -EINVAL);
	arena_hello(s, &c, 100 * ARENA_ALIGN, HINT_ARENA_ANY); /* larger than the device */
	assert_int_equal(c.w.status, -ENOSPC);
	/* b claims where a's range is mapped (its own range is elsewhere): refused, dropped,
	 * and its range is released. */
	assert_int_equal(claim_at(s, &b, abase), -EPERM);
	serve(s);
	assert_true(closed(b.sock));
	assert_int_equal(state_at(2 * ARENA_ALIGN), ARENA_RELEASED);
	/* A private mapping, a read-only one, or nothing mapped: refused. */
	arena_hello(s, &d, ARENA_ALIGN, HINT_ARENA_ANY);
	assert_int_equal(d.w.arena_offset, 3 * ARENA_ALIGN);
	char *priv = map_dev(d.w.arena_offset, ARENA_ALIGN, MAP_PRIVATE);

	assert_int_equal(claim_at(s, &d, priv), -EPERM);
	arena_hello(s, &d, ARENA_ALIGN, HINT_ARENA_ANY);
	assert_int_equal(d.w.arena_offset, 4 * ARENA_ALIGN);
	munmap(priv, ARENA_ALIGN);
	char *ro = mmap(NULL, ARENA_ALIGN, PROT_READ, MAP_SHARED, dev_fd, 4 * ARENA_ALIGN);

	assert_true(ro != MAP_FAILED);
	assert_int_equal(claim_at(s, &d, ro), -EPERM);
	munmap(ro, ARENA_ALIGN);
	arena_hello(s, &d, ARENA_ALIGN, HINT_ARENA_ANY);
	assert_int_equal(claim_at(s, &d, ro), -EPERM);
	/* A claim that is not one, or a second claim: the registration ends. */
	arena_hello(s, &e, ARENA_ALIGN, HINT_ARENA_ANY);
	assert_int_equal(e.w.status, 0);
	struct hint_claim bad = { .magic = 0x1234 };
	struct hint_claimed answer;

	send(e.sock, &bad, sizeof(bad), MSG_NOSIGNAL);
	serve(s);
	assert_int_equal(recv(e.sock, &answer, sizeof(answer), 0), sizeof(answer));
	assert_int_equal(answer.status, -EPROTO);
	assert_true(closed(e.sock));
	struct hint_claim again = { .magic = HINT_PROTO_MAGIC, .base = (uintptr_t)abase };

	send(a.sock, &again, sizeof(again), MSG_NOSIGNAL);
	serve(s);
	assert_true(closed(a.sock));
	assert_null(conn_of(s, &a));
	/* Its range is released, not free: the test still maps it. Its owner comes back (under
	 * a new daemon, say) and takes exactly it again. */
	assert_int_equal(state_at(0), ARENA_RELEASED);
	arena_hello(s, &c, 2 * ARENA_ALIGN, HINT_ARENA_ANY); /* every range is held */
	assert_int_equal(c.w.status, -ENOSPC);
	arena_hello(s, &c, 2 * ARENA_ALIGN, 0);
	assert_int_equal(c.w.status, 0);
	assert_int_equal(c.w.arena_offset, 0);
	assert_int_equal(claim_at(s, &c, abase), 0);
	assert_true(hint_ring_publish(c.ring, HINT_KEY(0, HINT_PAGE, avp + 9), 0xff));
	hint_server_drain(s, UINT64_MAX);
	int ci = hint_server_arena_mask(s, 9, &mask);

	assert_ptr_equal(s->client[ci], conn_of(s, &c));
	assert_int_equal(mask, hint_client_resolvable(s, s->client[ci]) ? 0xff : LINES_WHOLE);
	/* A fork freezes the range for good: whole from then on, the fork done or not. */
	atomic_fetch_add(&c.ring->forks_begun, 1);
	atomic_fetch_add(&c.ring->forks_done, 1);
	hint_server_drain(s, UINT64_MAX);
	assert_true(conn_of(s, &c)->arena.frozen);
	assert_int_equal(hint_server_arena_mask(s, 9, &mask), ci);
	assert_int_equal(mask, LINES_WHOLE);
	/* The table remembers: the range's owner, back under a new daemon, is frozen at once. */
	assert_true(arena_find(&arenas, 0)->frozen);
	close(c.sock);
	serve(s);
	arena_hello(s, &c, 2 * ARENA_ALIGN, 0);
	assert_int_equal(c.w.status, 0);
	assert_true(conn_of(s, &c)->arena.frozen);
	munmap(abase, 2 * ARENA_ALIGN);
}

/* A server without mmap mode refuses a hello that asks for a range; a hello without the flag
 * that carries a range is bad. */
static void test_no_arena(void **state)
{
	struct hint_server *s = *state;
	struct client c;
	struct hint_hello h = { .magic = HINT_PROTO_MAGIC,
				.version = HINT_PROTO_VERSION,
				.flags = HINT_HELLO_ARENA,
				.arena_bytes = ARENA_ALIGN,
				.arena_offset = HINT_ARENA_ANY };

	c.sock = connect_raw();
	serve(s);
	send(c.sock, &h, sizeof(h), MSG_NOSIGNAL);
	serve(s);
	receive(&c);
	assert_int_equal(c.w.status, -EOPNOTSUPP);
	assert_non_null(strstr(c.w.reason, "no mmap mode"));
	h.flags = 0;
	c.sock = connect_raw();
	serve(s);
	send(c.sock, &h, sizeof(h), MSG_NOSIGNAL);
	serve(s);
	receive(&c);
	assert_int_equal(c.w.status, -EPROTO);
	serve(s);
	assert_int_equal(s->nclients, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_hello_and_breaches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_uid_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setuid_exec_gets_no_masks, setup_any_uid,
						teardown),
		cmocka_unit_test_setup_teardown(test_epochs_and_forks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arena_ranges, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_no_arena, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
