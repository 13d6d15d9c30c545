/* node_control.c — the memory node's control socket, both sides. */
#include "node_control.h"

#include <errno.h>
#include <poll.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "parse.h"

static bool fill_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return false;
	strcpy(sa->sun_path, path);
	return true;
}

int node_control_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd, ret;

	if (!fill_addr(path, &sa)) {
		snprintf(err, errlen, "--control path too long: %s", path);
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* A socket left by a node that died: nothing listens there any more. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		snprintf(err, errlen, "--control %s: another memnode answers there", path);
		return -EADDRINUSE;
	}
	unlink(path);
	mode_t old = umask(0077);

	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret == 0 && chmod(path, 0600) == 0 && listen(fd, 8) == 0)
		return fd;
fail:
	ret = -errno;
	if (fd >= 0)
		close(fd);
	snprintf(err, errlen, "cannot listen on --control %s: %s", path, strerror(-ret));
	return ret;
}

#define EXCHANGE_MS 1000 /* a whole request and answer: the node serves nothing else meanwhile */

static int ms_left(uint64_t deadline_ns)
{
	uint64_t now = monotonic_ns();

	return now >= deadline_ns ? 0 : (int)((deadline_ns - now) / 1000000 + 1);
}

/* Sends all of buf by the deadline; false if the peer does not take it in time. */
static bool send_by(int fd, const char *buf, size_t len, uint64_t deadline_ns)
{
	while (len > 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
			   poll(&p, 1, ms_left(deadline_ns)) <= 0) {
			return false;
		}
	}
	return true;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void answer(int fd, const struct node_memory *m, uint64_t now_s, const char *req,
		   node_free_fn free_region, void *ctx, uint64_t deadline_ns)
{
	char line[256];
	uint64_t serial;

	if (!strcmp(req, "regions")) {
		for (const struct node_region *r = m->regions; r; r = r->next) {
			char id[2 * PROTO_REGION_ID + 1];
			int len;

			if (r->zeroing)
				continue;
			hex(r->id, PROTO_REGION_ID, id);
			len = snprintf(line, sizeof(line),
				       "{\"serial\": %" PRIu64 ", \"tenant\": %u, \"id\": \"%s\", "
				       "\"bytes\": %" PRIu64 ", \"users\": %u, \"idle_s\": %" PRIu64
				       "}\n",
				       r->serial, r->tenant + 1, id, r->bytes, r->users,
				       r->users ? 0 : now_s - r->idle_since_s);
			if (!send_by(fd, line, (size_t)len, deadline_ns))
				return;
		}
		return;
	}
	if (!strncmp(req, "free ", 5) && parse_uint(req + 5, 1, UINT64_MAX, &serial)) {
		struct node_region *r = node_region_find(m, serial);

		if (r) {
			free_region(ctx, r);
			snprintf(line, sizeof(line), "ok\n");
		} else {
			snprintf(line, sizeof(line), "error: no region %" PRIu64 "\n", serial);
		}
	} else {
		snprintf(line, sizeof(line), "error: unknown request (regions, free SERIAL)\n");
	}
	send_by(fd, line, strlen(line), deadline_ns);
}

void node_control_serve(int listen_fd, const struct node_memory *m, uint64_t now_s,
			node_free_fn free_region, void *ctx)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		uint64_t deadline = monotonic_ns() + EXCHANGE_MS * 1000000ull;
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		char req[64];
		size_t len = 0;

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
		    (cred.uid != 0 && cred.uid != geteuid())) {
			close(fd);
			continue;
		}
		/* One line, all of it by the deadline. */
		while (len < sizeof(req) - 1 && !memchr(req, '\n', len)) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			ssize_t got;

			if (poll(&p, 1, ms_left(deadline)) <= 0)
				break;
			got = recv(fd, req + len, sizeof(req) - 1 - len, MSG_DONTWAIT);
			if (got <= 0 && !(got < 0 && (errno == EAGAIN || errno == EINTR)))
				break;
			len += got > 0 ? (size_t)got : 0;
		}
		req[len] = '\0';
		if (memchr(req, '\n', len)) {
			req[strcspn(req, "\n")] = '\0';
			answer(fd, m, now_s, req, free_region, ctx, deadline);
		}
		close(fd);
	}
}

/* "regions" as a table: the JSON lines' fields, parsed back. */
static void print_table(FILE *in)
{
	char line[512], id[40];
	unsigned long long serial, bytes, idle;
	unsigned tenant, users, rows = 0;

	while (fgets(line, sizeof(line), in)) {
		if (sscanf(line,
			   "{\"serial\": %llu, \"tenant\": %u, \"id\": \"%32[0-9a-f]\", \"bytes\": "
			   "%llu, \"users\": %u, \"idle_s\": %llu}",
			   &serial, &tenant, id, &bytes, &users, &idle) != 6)
			continue;
		if (rows++ == 0)
			printf("%-8s %-6s %-32s %12s %5s %8s\n", "SERIAL", "TENANT", "REGION",
			       "SIZE(KiB)", "USERS", "IDLE(s)");
		printf("%-8llu %-6u %-32s %12llu %5u %8llu\n", serial, tenant, id, bytes >> 10,
		       users, idle);
	}
	if (rows == 0)
		printf("no regions\n");
}

int node_control_run(const char *path, const char *request, int json)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char line[512];
	FILE *in;
	int status = 0;

	if (!fill_addr(path, &sa)) {
		fprintf(stderr, "memnode: --control path too long: %s\n", path);
		return 2;
	}
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, request, strlen(request), MSG_NOSIGNAL) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "memnode: cannot reach the node's control socket %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	shutdown(fd, SHUT_WR);
	in = fdopen(fd, "r");
	if (!in) {
		close(fd);
		return 1;
	}
	if (!strcmp(request, "regions") && !json) {
		print_table(in);
	} else {
		while (fgets(line, sizeof(line), in)) {
			if (!strncmp(line, "error: ", 7)) {
				fprintf(stderr, "memnode: %s", line + 7);
				status = 1;
			} else if (strcmp(line, "ok\n") || json) {
				fputs(line, stdout);
			}
		}
	}
	fclose(in);
	return status;
}
