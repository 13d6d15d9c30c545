/* memnode — the memory node: serves its memory to lineswap clients as named regions.
 *
 * One thread, one epoll loop over TCP clients. Every frame a client sends is checked before it
 * touches memory; a client that breaks the protocol (bad magic, unknown op, impossible length)
 * is logged and disconnected, and the others go on. A request for a page outside the client's
 * region is answered with an error and does not end the connection. A client that does not
 * read its replies stops being read (its replies wait in a bounded buffer), so it cannot make
 * the node buffer without limit. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "node_rdma.h"
#include "node_region.h"
#include "io_thread.h"
#include "log.h"
#include "parse.h"
#include "secret.h"
#include "proto.h"

#define MAX_CLIENTS_DEFAULT 64
#define IN_CAP              (256 * 1024) /* many frames per recv; at least one whole frame */
#define OUT_CAP             (64 * 1024)
#define REPLY_MAX           (sizeof(struct proto_reply) + PROTO_PAGE_SIZE)

enum client_state { HELLO, SERVING };

struct client {
	int fd;
	enum client_state state;
	struct node_region *region;
	size_t inlen, outlen, outoff;
	bool reading; /* EPOLLIN armed */
	bool dead;    /* dropped; freed after the current batch of events */
	bool ticket_valid;
	uint8_t ticket[PROTO_TICKET_LEN]; /* for one RDMA connection to c->region */
	char peer[64];
	uint8_t in[IN_CAP];
	uint8_t out[OUT_CAP];
};

_Static_assert(SECRET_MAX == PROTO_SECRET_MAX, "one secret length everywhere");

struct node {
	struct node_memory mem;
	uint8_t secret[PROTO_SECRET_MAX];
	size_t secret_len;
	int epfd, listen_fd, sig_fd;
	struct client **clients;
	struct client **graveyard; /* dropped during this batch of events */
	unsigned max_clients, nclients, ndead;
	uint64_t served_puts, served_gets, rejected;
	struct node_rdma *rdma; /* with --rdma */
	int rdma_fd;
};

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

static const char usage_text[] =
	"Usage: memnode --size SIZE [--listen tcp://ADDR:PORT] [--secret-file FILE] [OPTIONS]\n"
	"\n"
	"Serves SIZE bytes of this machine's memory to lineswap clients (ublk-ctl add -t remote)\n"
	"as named regions, one per device, over TCP. A region keeps its pages while its clients\n"
	"reconnect or recover, until the client releases it (ublk-ctl del). Hugepages are used "
	"when\n"
	"the kernel has enough reserved (vm.nr_hugepages) and SIZE is a multiple of 2 MiB.\n"
	"\n"
	"Clients authenticate with a shared secret (1-64 bytes): the first line of --secret-file,\n"
	"or the environment variable LINESWAP_SECRET. One of them is required.\n"
	"\n"
	"Options:\n"
	"  -s, --size SIZE        memory to serve: bytes or with K, M, G, T (binary); required\n"
	"  -l, --listen URL       where to listen (default tcp://127.0.0.1:7370; port 0 picks a\n"
	"                         free one, printed at start-up)\n"
	"      --secret-file F    read the secret from F\n"
	"      --rdma             also accept RDMA (rdma_cm) connections on the same address and\n"
	"                         port; clients then move pages with one-sided RDMA WRITE and\n"
	"                         READ (ublk-ctl add -t remote --node rdma://ADDR:PORT)\n"
	"      --max-clients N    connections at once (1-1024, default 64)\n"
	"      --lock             allocate and lock all SIZE bytes at start, lock the rest of the\n"
	"                         process, and serve as an I/O flusher at realtime priority\n"
	"                         (SCHED_FIFO 1): nothing is ever swapped out, and replies take\n"
	"                         the kernel's reserve rather than wait for this machine's\n"
	"                         reclaim (a node that has swap, or shares its machine with a\n"
	"                         lineswap device)\n"
	"      --json             print the start-up line as JSON\n"
	"  -h, --help             this text\n"
	"\n"
	"Signals: SIGTERM or SIGINT end it cleanly (all regions are lost); SIGUSR1 prints a JSON\n"
	"status line (memory, regions, clients, request counts) to stderr.\n"
	"Exit status: 0 after a clean shutdown, 1 on a start-up failure, 2 for bad arguments.\n";

static void drop_client(struct node *n, struct client *c, const char *why)
{
	if (why)
		log_msg("%s: disconnected: %s", c->peer, why);
	if (c->region)
		node_region_close(c->region);
	epoll_ctl(n->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	for (unsigned i = 0; i < n->max_clients; i++)
		if (n->clients[i] == c)
			n->clients[i] = NULL;
	n->nclients--;
	/* Another event of this batch may still name it. */
	c->dead = true;
	c->region = NULL;
	n->graveyard[n->ndead++] = c;
}

static void arm(struct node *n, struct client *c)
{
	struct epoll_event ev = { .data.ptr = c };

	c->reading = c->outlen - c->outoff + REPLY_MAX <= OUT_CAP || c->outlen == c->outoff;
	ev.events = (c->reading ? EPOLLIN : 0) | (c->outlen > c->outoff ? EPOLLOUT : 0);
	epoll_ctl(n->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Queues a reply (and its data) in the client's out buffer; the caller made room. */
static void reply(struct client *c, uint64_t tag, unsigned status, const void *data, uint32_t len)
{
	struct proto_reply r = { .tag = tag, .status = (uint16_t)status, .len = len };

	if (c->outoff > 0 && c->outlen == c->outoff)
		c->outlen = c->outoff = 0;
	if (c->outlen + sizeof(r) + len > OUT_CAP) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	memcpy(c->out + c->outlen, &r, sizeof(r));
	if (len)
		memcpy(c->out + c->outlen + sizeof(r), data, len);
	c->outlen += sizeof(r) + len;
}

static bool secret_ok(const struct node *n, const struct proto_hello *h)
{
	uint8_t diff = (uint8_t)(h->secret_len != n->secret_len);

	/* Constant time in the secret's bytes. */
	for (size_t i = 0; i < PROTO_SECRET_MAX; i++)
		diff |= (uint8_t)((i < n->secret_len ? n->secret[i] : 0) ^
				  (i < n->secret_len ? h->secret[i] : 0));
	return diff == 0;
}

/* The hello: returns false to drop the client (after queueing a refusal where possible). */
static bool handle_hello(struct node *n, struct client *c, const struct proto_hello *h)
{
	struct proto_welcome w = { .magic = PROTO_MAGIC, .version = PROTO_VERSION };
	const char *why = NULL;

	if (h->magic != PROTO_MAGIC || h->version != PROTO_VERSION)
		w.status = PROTO_EVERSION, why = "protocol version mismatch";
	else if (h->secret_len > PROTO_SECRET_MAX || !secret_ok(n, h))
		w.status = PROTO_EAUTH, why = "wrong secret";
	else if (h->flags == PROTO_PROBE && h->bytes == 0)
		w.status = PROTO_OK, why = "probed"; /* answered below, then dropped */
	else if ((h->flags & ~7u) ||
		 ((h->flags & 3) != PROTO_CREATE && (h->flags & 3) != PROTO_ATTACH) ||
		 h->bytes == 0 || h->bytes % PROTO_PAGE_SIZE)
		w.status = PROTO_EINVAL, why = "malformed hello";
	else if ((h->flags & PROTO_TICKET) && !n->rdma)
		w.status = PROTO_EINVAL, why = "RDMA asked of a node that serves TCP only";
	else
		w.status = (uint16_t)node_region_open(&n->mem, h->region, h->bytes, h->flags & 3,
						      &c->region);
	if (w.status == PROTO_OK && (h->flags & PROTO_TICKET) &&
	    getrandom(c->ticket, sizeof(c->ticket), 0) == (ssize_t)sizeof(c->ticket)) {
		c->ticket_valid = true;
		memcpy(w.ticket, c->ticket, sizeof(w.ticket));
	}
	if (w.status == PROTO_OK && h->flags == PROTO_PROBE) {
		w.free = node_memory_unused(&n->mem);
		memcpy(c->out + c->outlen, &w, sizeof(w));
		c->outlen += sizeof(w);
		(void)!send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		log_msg("%s: probed (%llu KiB free)", c->peer, (unsigned long long)(w.free >> 10));
		return false;
	}
	if (w.status == PROTO_OK) {
		w.bytes = h->bytes;
		w.free = node_memory_unused(&n->mem);
		log_msg("%s: %s region of %llu KiB (%llu KiB left)", c->peer,
			(h->flags & 3) == PROTO_CREATE ? "created" : "attached to",
			(unsigned long long)(h->bytes >> 10), (unsigned long long)(w.free >> 10));
	} else {
		c->region = NULL;
		w.free = node_memory_unused(&n->mem);
		if (!why)
			why = proto_status_name(w.status);
		n->rejected++;
	}
	memcpy(c->out + c->outlen, &w, sizeof(w));
	c->outlen += sizeof(w);
	c->state = SERVING;
	if (w.status != PROTO_OK) {
		/* Say why, then hang up. */
		(void)!send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		log_msg("%s: refused: %s", c->peer, why);
		return false;
	}
	return true;
}

/* Handles complete frames in c->in. Returns false to drop the client; *why says why. */
static bool handle_frames(struct node *n, struct client *c, bool *released, const char **why)
{
	size_t used = 0;

	while (c->outlen - c->outoff + REPLY_MAX <= OUT_CAP || c->outlen == c->outoff) {
		const uint8_t *p = c->in + used;
		size_t have = c->inlen - used;

		if (c->state == HELLO) {
			if (have < sizeof(struct proto_hello))
				break;
			struct proto_hello h;

			memcpy(&h, p, sizeof(h));
			used += sizeof(h);
			if (!handle_hello(n, c, &h)) {
				*why = NULL; /* logged */
				return false;
			}
			continue;
		}
		if (have < sizeof(struct proto_req))
			break;
		struct proto_req r;

		memcpy(&r, p, sizeof(r));
		if (r.op == PROTO_RELEASE) {
			struct node_region *region = c->region;

			/* Everyone else on the region goes: their pages are gone. */
			for (unsigned i = 0; i < n->max_clients; i++)
				if (n->clients[i] && n->clients[i] != c &&
				    n->clients[i]->region == region)
					drop_client(n, n->clients[i], "its region was released");
			if (n->rdma)
				node_rdma_forget_region(n->rdma, region);
			node_region_release(&n->mem, region);
			c->region = NULL;
			log_msg("%s: released its region", c->peer);
			reply(c, r.tag, PROTO_OK, NULL, 0);
			used += sizeof(r);
			*released = true;
			break;
		}
		if ((r.op != PROTO_PUT && r.op != PROTO_GET) || r.len == 0 ||
		    r.len > PROTO_PAGE_SIZE) {
			*why = "malformed request";
			return false;
		}
		size_t frame = sizeof(r) + (r.op == PROTO_PUT ? r.len : 0);

		if (have < frame)
			break;
		used += frame;
		if (r.page >= c->region->bytes / PROTO_PAGE_SIZE) {
			n->rejected++;
			reply(c, r.tag, PROTO_ERANGE, NULL, 0);
			continue;
		}
		uint8_t *slot = n->mem.base + c->region->offset + r.page * PROTO_PAGE_SIZE;

		if (r.op == PROTO_PUT) {
			memcpy(slot, p + sizeof(r), r.len);
			n->served_puts++;
			reply(c, r.tag, PROTO_OK, NULL, 0);
		} else {
			n->served_gets++;
			reply(c, r.tag, PROTO_OK, slot, r.len);
		}
	}
	memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	return true;
}

static bool flush_out(struct client *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (w <= 0)
			return false;
		c->outoff += (size_t)w;
	}
	c->outoff = c->outlen = 0;
	return true;
}

static void serve_client(struct node *n, struct client *c, uint32_t events)
{
	bool released = false;
	const char *why = "connection closed";

	if (c->dead)
		return;
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
		drop_client(n, c, NULL);
		return;
	}
	if (events & EPOLLIN) {
		ssize_t got = recv(c->fd, c->in + c->inlen, IN_CAP - c->inlen, MSG_DONTWAIT);

		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
			drop_client(n, c, NULL);
			return;
		}
		if (got > 0)
			c->inlen += (size_t)got;
		if (!handle_frames(n, c, &released, &why)) {
			drop_client(n, c, why);
			return;
		}
	}
	if (!flush_out(c)) {
		drop_client(n, c, "send failed");
		return;
	}
	/* Frames left waiting for room in the out buffer get their turn now. */
	if (c->inlen > 0 && !released && c->outlen == 0 && !handle_frames(n, c, &released, &why)) {
		drop_client(n, c, why);
		return;
	}
	if (released) {
		flush_out(c);
		drop_client(n, c, NULL);
		return;
	}
	arm(n, c);
}

static void accept_clients(struct node *n)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		int fd = accept4(n->listen_fd, (struct sockaddr *)&sa, &salen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		char host[48] = "?", port[8] = "?";

		if (fd < 0)
			return;
		getnameinfo((struct sockaddr *)&sa, salen, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		if (n->nclients >= n->max_clients) {
			struct proto_welcome w = { .magic = PROTO_MAGIC,
						   .version = PROTO_VERSION,
						   .status = PROTO_ETOOMANY };

			(void)!send(fd, &w, sizeof(w), MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			log_msg("%s:%s: refused: too many clients", host, port);
			continue;
		}
		struct client *c = calloc(1, sizeof(*c));
		unsigned i = 0;

		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		/* Replies are small and each one is awaited: never hold them back (Nagle). */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
		while (n->clients[i])
			i++;
		n->clients[i] = c;
		n->nclients++;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev);
		c->reading = true;
	}
}

/* An RDMA connection presents the ticket a TCP client was given: its region, once. */
static struct node_region *spend_ticket(void *ctx, const uint8_t *ticket)
{
	struct node *n = ctx;

	for (unsigned i = 0; i < n->max_clients; i++) {
		struct client *c = n->clients[i];

		if (c && c->ticket_valid && c->region &&
		    !memcmp(c->ticket, ticket, PROTO_TICKET_LEN)) {
			c->ticket_valid = false;
			return c->region;
		}
	}
	return NULL;
}

static void print_status(const struct node *n)
{
	unsigned regions = 0;

	for (unsigned i = 0; i < NODE_MAX_REGIONS; i++)
		regions += n->mem.regions[i].used;
	fprintf(stderr,
		"{\"bytes\": %llu, \"unused\": %llu, \"hugepages\": %s, \"regions\": %u, "
		"\"clients\": %u, \"rdma_connections\": %u, \"puts\": %llu, \"gets\": %llu, "
		"\"rejected\": %llu}\n",
		(unsigned long long)n->mem.bytes, (unsigned long long)node_memory_unused(&n->mem),
		n->mem.hugepages ? "true" : "false", regions, n->nclients,
		n->rdma ? node_rdma_connections(n->rdma) : 0, (unsigned long long)n->served_puts,
		(unsigned long long)n->served_gets, (unsigned long long)n->rejected);
}

static int listen_on(const char *url, char *bound, size_t boundlen, struct sockaddr_storage *sa)
{
	char host[256], *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai;
	int fd, one = 1;

	if (strncmp(url, "tcp://", 6) || strlen(url + 6) >= sizeof(host))
		return -EINVAL;
	strcpy(host, url + 6);
	colon = strrchr(host, ':');
	if (!colon || !colon[1])
		return -EINVAL;
	*colon = '\0';
	if (host[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return err;
	}
	freeaddrinfo(ai);
	/* Port 0 picks a free port: report the one bound. */
	socklen_t salen = sizeof(*sa);
	char h[64] = "?", p[8] = "?";

	if (getsockname(fd, (struct sockaddr *)sa, &salen) == 0)
		getnameinfo((struct sockaddr *)sa, salen, h, sizeof(h), p, sizeof(p),
			    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(bound, boundlen, sa->ss_family == AF_INET6 ? "tcp://[%s]:%s" : "tcp://%s:%s", h,
		 p);
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "secret-file", required_argument, NULL, 'f' },
		{ "max-clients", required_argument, NULL, 'c' },
		{ "rdma", no_argument, NULL, 'r' },
		{ "lock", no_argument, NULL, 'L' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct node n = { .max_clients = MAX_CLIENTS_DEFAULT };
	const char *listen_url = "tcp://127.0.0.1:7370", *secret_file = NULL;
	uint64_t size = 0, v;
	bool json = false;
	char bound[300];
	struct sockaddr_storage bound_addr;
	bool rdma = false, lock = false;
	int c, ret;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "s:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!parse_size(optarg, &size) || size == 0 || size % PROTO_PAGE_SIZE) {
				fprintf(stderr,
					"memnode: bad --size '%s': a positive multiple of "
					"4 KiB, e.g. 4G\n",
					optarg);
				return 2;
			}
			break;
		case 'l':
			listen_url = optarg;
			break;
		case 'f':
			secret_file = optarg;
			break;
		case 'c':
			if (!parse_uint(optarg, 1, 1024, &v)) {
				fprintf(stderr, "memnode: bad --max-clients '%s' (1-1024)\n",
					optarg);
				return 2;
			}
			n.max_clients = (unsigned)v;
			break;
		case 'j':
			json = true;
			break;
		case 'r':
			rdma = true;
			break;
		case 'L':
			lock = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fprintf(stderr, "memnode: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "memnode: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!size) {
		fprintf(stderr, "memnode: no --size given (e.g. --size 4G)\n");
		return 2;
	}
	char err[256];

	/* The served memory is populated and locked at once (node_memory_init), the rest of the
	 * process as it is touched: never swapped out, not even to a device this very machine
	 * serves from it. */
	if (lock && mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0) {
		fprintf(stderr,
			"memnode: --lock: mlockall: %s (needs CAP_IPC_LOCK or a large "
			"RLIMIT_MEMLOCK)\n",
			strerror(errno));
		return 1;
	}
	/* A reply's socket buffers must not wait for reclaim that may wait for this very node
	 * (io_thread.h); what is refused is logged, and serving goes on. */
	if (lock)
		io_thread_init("memnode", true);
	if (secret_read(secret_file, n.secret, &n.secret_len, err, sizeof(err)) < 0) {
		fprintf(stderr, "memnode: %s\n", err);
		return 2;
	}
	n.clients = calloc(n.max_clients, sizeof(*n.clients));
	n.graveyard = calloc(n.max_clients, sizeof(*n.graveyard));
	ret = node_memory_init(&n.mem, size, lock);
	if (!n.clients || !n.graveyard || ret < 0) {
		fprintf(stderr, "memnode: cannot map %llu bytes: %s\n", (unsigned long long)size,
			strerror(ret < 0 ? -ret : ENOMEM));
		ret = 1;
		goto out;
	}
	n.listen_fd = listen_on(listen_url, bound, sizeof(bound), &bound_addr);
	if (n.listen_fd < 0) {
		fprintf(stderr, "memnode: cannot listen on '%s': %s (want tcp://ADDR:PORT)\n",
			listen_url, strerror(-n.listen_fd));
		ret = n.listen_fd == -EINVAL ? 2 : 1;
		goto out;
	}
	if (rdma) {
		char err[256];

		n.rdma_fd = node_rdma_listen(&n.rdma, &n.mem, (struct sockaddr *)&bound_addr,
					     spend_ticket, &n, err, sizeof(err));
		if (n.rdma_fd < 0) {
			fprintf(stderr, "memnode: %s\n", err);
			ret = 1;
			goto out;
		}
	}
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	n.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	n.epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &n.listen_fd };
	struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &n.sig_fd };

	epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.listen_fd, &lev);
	epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.sig_fd, &sev);
	struct epoll_event rev = { .events = EPOLLIN, .data.ptr = &n.rdma_fd };

	if (n.rdma)
		epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.rdma_fd, &rev);
	if (json)
		printf("{\"listening\": \"%s\", \"rdma\": %s, \"bytes\": %llu, \"hugepages\": %s, "
		       "\"pid\": %d}\n",
		       bound, n.rdma ? "true" : "false", (unsigned long long)size,
		       n.mem.hugepages ? "true" : "false", getpid());
	else
		printf("memnode: serving %llu MiB (%s) on %s%s, pid %d\n",
		       (unsigned long long)(size >> 20),
		       n.mem.hugepages ? "hugepages" : "4 KiB pages", bound,
		       n.rdma ? " and RDMA" : "", getpid());
	fflush(stdout);

	for (;;) {
		struct epoll_event evs[64];
		int k = epoll_wait(n.epfd, evs, 64, -1);

		for (int i = 0; i < k; i++) {
			if (evs[i].data.ptr == &n.listen_fd) {
				accept_clients(&n);
			} else if (evs[i].data.ptr == &n.rdma_fd) {
				node_rdma_handle(n.rdma);
			} else if (evs[i].data.ptr == &n.sig_fd) {
				struct signalfd_siginfo si;

				if (read(n.sig_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
					continue;
				if (si.ssi_signo == SIGUSR1) {
					print_status(&n);
					continue;
				}
				log_msg("signal %u: shutting down (%u clients)", si.ssi_signo,
					n.nclients);
				for (unsigned j = 0; j < n.max_clients; j++)
					if (n.clients[j])
						drop_client(&n, n.clients[j], NULL);
				while (n.ndead > 0)
					free(n.graveyard[--n.ndead]);
				ret = 0;
				goto out;
			} else {
				serve_client(&n, evs[i].data.ptr, evs[i].events);
			}
		}
		while (n.ndead > 0)
			free(n.graveyard[--n.ndead]);
	}
out:
	node_rdma_close(n.rdma);
	node_memory_free(&n.mem);
	free(n.clients);
	free(n.graveyard);
	return ret;
}
