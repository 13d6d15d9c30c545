/* The hint server's registration and ring handling, with clients made of raw sockets: a good
 * hello gets a sealed ring that the server reads into the client's view; a bad hello, bytes
 * after the hello, a hang-up, one client too many, a uid that may not register, and a
 * corrupted ring each end that client's registration and nothing else. Epochs: after a resync
 * the view is forgotten and records of the old epoch are refused. Forks make a client
 * unresolvable until they finish. */
#include <errno.h>
#include <fcntl.h>
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
		if (accept_first)
			serve(s);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
