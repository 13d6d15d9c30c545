/* memnode — the memory node: serves its memory to lineswap clients as regions. This file is
 * the program: options, start-up, the epoll loop, signals and the control commands; the
 * clients are node_serve.c's. */
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
#include <sys/signalfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "io_thread.h"
#include "log.h"
#include "node_control.h"
#include "node_guard.h"
#include "node_rdma.h"
#include "node_region.h"
#include "node_serve.h"
#include "parse.h"
#include "proto.h"
#include "secret.h"

#define MAX_CLIENTS_DEFAULT  64
#define MAX_PENDING_DEFAULT  64
#define MAX_PER_ADDR_DEFAULT 16
#define HANDSHAKE_MS_DEFAULT 5000
#define ZERO_STEP            (16u << 20) /* released memory zeroed between looks at clients */

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

static const char usage_text[] =
	"Usage: memnode --size SIZE [--listen tcp://ADDR:PORT] [--secret-file FILE] [OPTIONS]\n"
	"       memnode regions --control PATH [--json]\n"
	"       memnode free-region --control PATH SERIAL\n"
	"\n"
	"Serves SIZE bytes of this machine's memory to lineswap clients (ublk-ctl add -t remote)\n"
	"as regions, one per device and node, over TCP (and RDMA with --rdma). A region keeps its\n"
	"pages while its clients reconnect or recover, until the client releases it (ublk-ctl\n"
	"del), the operator frees it, or its lease runs out. Hugepages are used when the kernel\n"
	"has enough reserved (vm.nr_hugepages) and SIZE is a multiple of 2 MiB.\n"
	"\n"
	"Trust: clients and node prove to each other that they know a shared secret without\n"
	"sending it (an HMAC challenge-response over fresh nonces and X25519 keys). Each line of\n"
	"--secret-file is one tenant's secret (1-64 bytes; 32 random bytes are best); without\n"
	"it, the environment variable LINESWAP_SECRET is the only one. A tenant sees only its own\n"
	"regions, and attaching to or releasing a region needs proof of that device's own key,\n"
	"which the node never learns. Pages are encrypted by the client before they leave it.\n"
	"\n"
	"Options:\n"
	"  -s, --size SIZE        memory to serve: bytes or with K, M, G, T (binary); required\n"
	"  -l, --listen URL       where to listen (default tcp://127.0.0.1:7370; port 0 picks a\n"
	"                         free one, printed at start-up)\n"
	"      --secret-file F    the tenants' secrets, one per line (at most 64)\n"
	"      --rdma             also accept RDMA (rdma_cm) connections on the same address and\n"
	"                         port; clients then move pages with one-sided RDMA WRITE and\n"
	"                         READ (ublk-ctl add -t remote --node rdma://ADDR:PORT); each\n"
	"                         region is registered in a protection domain of its own\n"
	"      --max-clients N    authenticated connections at once (1-1024, default 64)\n"
	"      --max-pending N    connections still shaking hands (1-1024, default 64); over\n"
	"                         it, a new connection pushes out the oldest such one\n"
	"      --max-pending-per-addr N\n"
	"                         of those, from one address (1-1024, default 16)\n"
	"      --handshake-timeout MS\n"
	"                         a connection not authenticated by then is dropped (100-60000,\n"
	"                         default 5000). After a failed authentication, the next\n"
	"                         handshake from that address waits 50 ms, doubling with each\n"
	"                         failure up to 1 s, until a minute passes without one\n"
	"      --lease SECONDS    free a region no client has been attached to for this long\n"
	"                         (default 0: never)\n"
	"      --tenant-quota SIZE\n"
	"                         memory one tenant's regions may hold (default: all of it)\n"
	"      --tenant-regions N regions one tenant may hold (default 1024)\n"
	"      --tenant-clients N authenticated connections one tenant may hold (1-1024,\n"
	"                         default: --max-clients)\n"
	"      --control PATH     listen for `memnode regions` and `memnode free-region` on a\n"
	"                         Unix socket at PATH (mode 0600; the node's uid or root only)\n"
	"      --lock             allocate and lock all SIZE bytes at start, lock the rest of the\n"
	"                         process, serve as an I/O flusher at realtime priority\n"
	"                         (SCHED_FIFO 1), and never be picked by the OOM killer: nothing\n"
	"                         is ever swapped out or lost to another process's demand, and\n"
	"                         replies take the kernel's reserve rather than wait for this\n"
	"                         machine's reclaim (a node that has swap, or shares its machine\n"
	"                         with a lineswap device)\n"
	"      --json             print the start-up line as JSON\n"
	"  -h, --help             this text\n"
	"\n"
	"Commands (to a running node, through its --control socket):\n"
	"  regions                list the regions: serial, tenant (its line in the secret file),\n"
	"                         name, size, attached connections, seconds idle\n"
	"  free-region SERIAL     free a region now: its clients are disconnected, its pages gone\n"
	"\n"
	"Signals: SIGTERM or SIGINT end it cleanly (all regions are lost); SIGUSR1 prints a JSON\n"
	"status line (memory, regions, clients, request counts) to stderr.\n"
	"Exit status: 0 after a clean shutdown, 1 on a start-up failure (or a refused command),\n"
	"2 for bad arguments.\n";

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

/* memnode regions|free-region: a request to a running node's control socket. */
static int run_command(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cmd = argv[1], *control = NULL;
	char request[64];
	uint64_t serial;
	int json = 0, c;

	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			control = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fprintf(stderr,
				"memnode %s: unknown or incomplete option '%s' (see --help)\n", cmd,
				argv[optind - 1]);
			return 2;
		}
	}
	if (!control) {
		fprintf(stderr, "memnode %s: no --control PATH (the node's --control socket)\n",
			cmd);
		return 2;
	}
	if (!strcmp(cmd, "regions")) {
		if (optind < argc) {
			fprintf(stderr, "memnode regions: unexpected argument '%s'\n",
				argv[optind]);
			return 2;
		}
		return node_control_run(control, "regions", json);
	}
	if (optind + 1 != argc || !parse_uint(argv[optind], 1, UINT64_MAX, &serial)) {
		fprintf(stderr,
			"memnode free-region: give one region SERIAL (see memnode regions)\n");
		return 2;
	}
	snprintf(request, sizeof(request), "free %llu", (unsigned long long)serial);
	c = node_control_run(control, request, json);
	if (c == 0)
		printf(json ? "{\"freed\": %llu}\n" : "region %llu freed\n",
		       (unsigned long long)serial);
	return c;
}

static int read_tenants(struct node *n, const char *file, char *err, size_t errlen)
{
	if (secret_read_all(file, n->tenants, NODE_MAX_TENANTS, &n->ntenants, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < n->ntenants; i++) {
		for (unsigned j = 0; j < i; j++)
			if (n->tenants[i].len == n->tenants[j].len &&
			    !memcmp(n->tenants[i].bytes, n->tenants[j].bytes, n->tenants[i].len)) {
				snprintf(err, errlen, "%s: lines %u and %u hold the same secret",
					 file, j + 1, i + 1);
				return -1;
			}
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_SECRET_FILE = 256,
		OPT_MAX_CLIENTS,
		OPT_MAX_PENDING,
		OPT_MAX_PER_ADDR,
		OPT_HANDSHAKE,
		OPT_LEASE,
		OPT_TENANT_QUOTA,
		OPT_TENANT_REGIONS,
		OPT_TENANT_CLIENTS,
		OPT_CONTROL,
		OPT_RDMA,
		OPT_LOCK,
		OPT_JSON,
	};
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
		{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
		{ "max-pending", required_argument, NULL, OPT_MAX_PENDING },
		{ "max-pending-per-addr", required_argument, NULL, OPT_MAX_PER_ADDR },
		{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE },
		{ "lease", required_argument, NULL, OPT_LEASE },
		{ "tenant-quota", required_argument, NULL, OPT_TENANT_QUOTA },
		{ "tenant-regions", required_argument, NULL, OPT_TENANT_REGIONS },
		{ "tenant-clients", required_argument, NULL, OPT_TENANT_CLIENTS },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "rdma", no_argument, NULL, OPT_RDMA },
		{ "lock", no_argument, NULL, OPT_LOCK },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct node n = { .max_clients = MAX_CLIENTS_DEFAULT,
			  .handshake_ms = HANDSHAKE_MS_DEFAULT,
			  .control_fd = -1 };
	const char *listen_url = "tcp://127.0.0.1:7370", *secret_file = NULL, *control = NULL;
	unsigned max_pending = MAX_PENDING_DEFAULT, max_per_addr = MAX_PER_ADDR_DEFAULT;
	struct node_quota quota = { .regions = 1024 };
	uint64_t size = 0, v;
	bool json = false;
	char bound[300];
	struct sockaddr_storage bound_addr;
	bool rdma = false, lock = false;
	int c, ret;

	if (argc > 1 && (!strcmp(argv[1], "regions") || !strcmp(argv[1], "free-region")))
		return run_command(argc, argv);
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
		case OPT_SECRET_FILE:
			secret_file = optarg;
			break;
		case OPT_MAX_CLIENTS:
		case OPT_MAX_PENDING:
		case OPT_MAX_PER_ADDR:
		case OPT_TENANT_REGIONS:
		case OPT_TENANT_CLIENTS:
			if (!parse_uint(optarg, 1, 1024, &v)) {
				fprintf(stderr, "memnode: bad --%s '%s' (1-1024)\n",
					opts[c - OPT_SECRET_FILE + 2].name, optarg);
				return 2;
			}
			if (c == OPT_MAX_CLIENTS)
				n.max_clients = (unsigned)v;
			else if (c == OPT_MAX_PENDING)
				max_pending = (unsigned)v;
			else if (c == OPT_MAX_PER_ADDR)
				max_per_addr = (unsigned)v;
			else if (c == OPT_TENANT_REGIONS)
				quota.regions = (unsigned)v;
			else
				n.tenant_clients = (unsigned)v;
			break;
		case OPT_HANDSHAKE:
			if (!parse_uint(optarg, 100, 60000, &v)) {
				fprintf(stderr,
					"memnode: bad --handshake-timeout '%s' (100-60000 ms)\n",
					optarg);
				return 2;
			}
			n.handshake_ms = (uint32_t)v;
			break;
		case OPT_LEASE:
			if (!parse_uint(optarg, 0, 100ull * 365 * 86400, &n.lease_s)) {
				fprintf(stderr, "memnode: bad --lease '%s' (seconds, 0: never)\n",
					optarg);
				return 2;
			}
			break;
		case OPT_TENANT_QUOTA:
			if (!parse_size(optarg, &quota.bytes) || quota.bytes == 0) {
				fprintf(stderr,
					"memnode: bad --tenant-quota '%s' (a size, e.g. 8G)\n",
					optarg);
				return 2;
			}
			break;
		case OPT_CONTROL:
			control = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_RDMA:
			rdma = true;
			break;
		case OPT_LOCK:
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
	/* A reply's socket buffers must not wait for reclaim that may wait for this very node,
	 * nor may the OOM killer take the node and every page it serves (io_thread.h); what is
	 * refused is logged, and serving goes on. */
	if (lock) {
		io_thread_init("memnode", true);
		io_process_protect("memnode");
	}
	if (read_tenants(&n, secret_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "memnode: %s\n", err);
		return 2;
	}
	ret = node_memory_init(&n.mem, size, lock);
	if (ret < 0 || node_guard_init(&n.guard, max_pending, max_per_addr) < 0) {
		fprintf(stderr, "memnode: cannot map %llu bytes: %s\n", (unsigned long long)size,
			strerror(ret < 0 ? -ret : ENOMEM));
		ret = 1;
		goto out;
	}
	n.mem.quota = quota;
	if (!n.tenant_clients || n.tenant_clients > n.max_clients)
		n.tenant_clients = n.max_clients;
	n.listen_fd = listen_on(listen_url, bound, sizeof(bound), &bound_addr);
	if (n.listen_fd < 0) {
		fprintf(stderr, "memnode: cannot listen on '%s': %s (want tcp://ADDR:PORT)\n",
			listen_url, strerror(-n.listen_fd));
		ret = n.listen_fd == -EINVAL ? 2 : 1;
		goto out;
	}
	if (control && (n.control_fd = node_control_listen(control, err, sizeof(err))) < 0) {
		fprintf(stderr, "memnode: %s\n", err);
		ret = 1;
		goto out;
	}
	if (rdma) {
		n.rdma_fd = node_rdma_listen(&n.rdma, &n.mem, (struct sockaddr *)&bound_addr,
					     node_spend_ticket, &n, err, sizeof(err));
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
	struct epoll_event cev = { .events = EPOLLIN, .data.ptr = &n.control_fd };
	struct epoll_event rev = { .events = EPOLLIN, .data.ptr = &n.rdma_fd };

	epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.listen_fd, &lev);
	epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.sig_fd, &sev);
	if (n.control_fd >= 0)
		epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.control_fd, &cev);
	if (n.rdma)
		epoll_ctl(n.epfd, EPOLL_CTL_ADD, n.rdma_fd, &rev);
	if (json)
		printf("{\"listening\": \"%s\", \"rdma\": %s, \"bytes\": %llu, \"hugepages\": %s, "
		       "\"tenants\": %u, \"pid\": %d}\n",
		       bound, n.rdma ? "true" : "false", (unsigned long long)size,
		       n.mem.hugepages ? "true" : "false", n.ntenants, getpid());
	else
		printf("memnode: serving %llu MiB (%s) on %s%s to %u tenant%s, pid %d\n",
		       (unsigned long long)(size >> 20),
		       n.mem.hugepages ? "hugepages" : "4 KiB pages", bound,
		       n.rdma ? " and RDMA" : "", n.ntenants, n.ntenants == 1 ? "" : "s", getpid());
	fflush(stdout);

	uint64_t last_tick = 0;

	for (;;) {
		struct epoll_event evs[64];
		/* Released memory is zeroed a step between looks at the clients; pending
		 * handshakes are looked at every tick; leases every second. */
		int timeout = n.mem.zeroing     ? 0
			      : n.guard.pending ? NODE_TICK_MS
			      : n.lease_s       ? 1000
						: -1;
		int k = epoll_wait(n.epfd, evs, 64, timeout);

		for (int i = 0; i < k; i++) {
			if (evs[i].data.ptr == &n.listen_fd) {
				node_accept(&n);
			} else if (evs[i].data.ptr == &n.rdma_fd) {
				node_rdma_handle(n.rdma);
			} else if (evs[i].data.ptr == &n.control_fd) {
				node_control_serve(n.control_fd, &n.mem,
						   monotonic_ns() / 1000000000u, node_operator_free,
						   &n);
			} else if (evs[i].data.ptr == &n.sig_fd) {
				struct signalfd_siginfo si;

				if (read(n.sig_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
					continue;
				if (si.ssi_signo == SIGUSR1) {
					node_print_status(&n);
					continue;
				}
				log_msg("signal %u: shutting down (%u clients, %u pending)",
					si.ssi_signo, n.nserving, n.guard.pending);
				node_drop_all(&n);
				node_bury_dead(&n);
				ret = 0;
				goto out;
			} else {
				node_serve(&n, evs[i].data.ptr, evs[i].events);
			}
		}
		uint64_t now = monotonic_ns();

		if (now - last_tick >= NODE_TICK_MS * 1000000ull) {
			node_tick(&n);
			last_tick = now;
		}
		node_bury_dead(&n);
		node_memory_zero_step(&n.mem, ZERO_STEP);
	}
out:
	node_rdma_close(n.rdma);
	node_memory_free(&n.mem);
	node_guard_free(&n.guard);
	if (n.control_fd >= 0)
		unlink(control);
	for (unsigned i = 0; i < n.ntenants; i++)
		auth_wipe(&n.tenants[i], sizeof(n.tenants[i]));
	return ret;
}
