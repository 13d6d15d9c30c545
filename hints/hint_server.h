/* hint_server.h — the server side of hints: registered clients, their rings, and what the
 * server knows of their pages (one page_view each).
 *
 * One thread (the daemon's hint service) owns a hint_server: it polls the descriptors
 * hint_server_pollfds gives, calls hint_server_handle with what was ready, and drains the
 * rings (hint_server_drain) whenever it needs current masks — always after the data of the
 * writes it resolves is in hand (docs/design.md, "The one invariant").
 *
 * A client is dropped — its ring unmapped, its view forgotten, its socket closed — when it
 * hangs up, sends anything after its hello, or corrupts its ring; other clients never notice.
 * While a client may share pages copy-on-write with a child (it announced a fork, or a child
 * of it has neither exited nor exec'd), or a ring read left some record unknown, the client is
 * not `resolvable`: its pages move whole. */
#ifndef LINESWAP_HINT_SERVER_H
#define LINESWAP_HINT_SERVER_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arena_range.h"
#include "hint_ring.h"
#include "page_view.h"

#define HINT_ALLOW_ANY_UID   (-2)
#define HINT_MAX_CHILDREN    64
#define HINT_SERVER_MAX_FDS  (2 + 2 * 256)
#define HINT_MAX_CLIENTS_CAP 256

struct hint_server_conf {
	const char *socket_path;
	long allow_uid;        /* a uid allowed besides root and the server's own; -1 none,
				* HINT_ALLOW_ANY_UID any */
	unsigned max_clients;  /* at most HINT_MAX_CLIENTS_CAP */
	uint32_t ring_records; /* a client that asks for 0 gets this */
	uint32_t max_ring_records;
	size_t max_pages; /* reduced pages kept per client */
	/* The memory for hints (rings and views) one client, all clients of one uid, and the
	 * whole server may hold: a ring is made smaller, or refused, and a view keeps no more
	 * reduced pages (they stay whole) rather than pass a cap. 0: no cap. */
	uint64_t client_bytes, uid_bytes, server_bytes;
	/* Mmap mode (hint_proto.h), when arenas is not NULL: the device clients map ranges of
	 * (its node, and its id for the welcome), and the table of ranges, which the server
	 * changes only under arenas_lock (another thread frees released ranges). */
	const char *device_path;
	uint32_t dev_id;
	struct arena_table *arenas;
	pthread_mutex_t *arenas_lock;
};

/* The memory the clients of one uid hold. */
struct hint_uid_budget {
	uid_t uid;
	unsigned clients; /* 0: the entry is free */
	struct page_view_budget mem;
};

struct hint_client_stats {
	uint64_t records;   /* page records applied */
	uint64_t rejected;  /* records refused (bad key, bad page, stale epoch) */
	uint64_t overflows; /* records the client dropped because its ring was full */
	uint64_t resyncs;   /* epochs started (each forgets the view) */
	uint64_t forks;
	uint64_t pages_resolved; /* written slots resolved to one of its pages */
	uint64_t lines_saved;    /* lines not moved on those writes */
};

/* A client's range of the device in mmap mode: granted at its welcome, claimed once the
 * server found it mapped at base; frozen for good once the client forks (its heap goes on
 * copy-on-write, so the range holds what it was at the fork: its masks no longer say). */
struct hint_arena {
	uint64_t offset, bytes, base;
	bool granted, claimed, frozen;
};

struct hint_client_conn {
	int sock;
	int pagemap_fd;      /* /proc/PID/pagemap, opened at accept: bound to that address space */
	int maps_fd;         /* /proc/PID/maps, likewise */
	int status_fd;       /* /proc/PID/status (of the pid: after an exec, the new program's), for
			      * its memory, shown only (-1: none) */
	uint64_t anon_bytes; /* its anonymous memory, resident or swapped, at the last look */
	uint64_t anon_read_ns;
	pid_t pid;
	uid_t uid;
	uint32_t id;
	char comm[16];
	struct hint_ring *ring;
	size_t ring_bytes;
	struct hint_consumer cons;
	struct page_view_budget mem;                        /* its ring and its view */
	struct page_view_budget *budget[PAGE_VIEW_BUDGETS]; /* mem, its uid's, the server's */
	struct hint_uid_budget *of_uid;
	uint16_t epoch;
	bool unsure;         /* the last drain left a record unread: masks may be stale */
	bool corrupt;        /* its ring was found corrupt: dropped after the drain */
	bool forking;        /* a fork is under way */
	uint32_t forks_done; /* last seen */
	unsigned nchildren;
	bool children_lost; /* more children than tracked: shared until the client leaves */
	struct {
		pid_t pid;
		int pidfd;
	} child[HINT_MAX_CHILDREN];
	struct page_view view;
	struct hint_arena arena;
	struct hint_client_stats stats;
};

struct hint_server {
	struct hint_server_conf conf;
	int listen_fd;
	int events_fd;    /* process events (fork, exec, exit), or -1 when the kernel gives none */
	bool events_lost; /* some were missed: every client counts as sharing */
	uid_t uid;
	uint32_t next_id;
	unsigned nclients;
	struct hint_client_conn *client[HINT_MAX_CLIENTS_CAP];
	struct page_view_budget mem; /* every client's ring and view */
	struct hint_uid_budget uid_mem[HINT_MAX_CLIENTS_CAP];
	unsigned drain_first;          /* drains start here, in turn, so no client is always last */
	struct hint_client_stats gone; /* the sums of the clients that left */
	uint64_t gone_not_kept;        /* their views' reductions not kept */
	uint64_t registrations;        /* clients welcomed */
	uint64_t refused;              /* registrations refused */
	uint64_t dropped;              /* clients dropped for misbehaving */
	char maps_buf[64 * 1024];      /* claims are checked through it */
};

/* Binds the socket (replacing a stale one) and listens. Returns 0 or -errno, with a message. */
int hint_server_open(struct hint_server *s, const struct hint_server_conf *conf, char *err,
		     size_t errlen);
void hint_server_close(struct hint_server *s);

/* Looks again, at most once a second per client and at most 16 clients a call, at how much
 * anonymous memory each client has (anon_bytes). */
void hint_server_read_memory(struct hint_server *s, uint64_t now_ns);

/* Fills fds (room for HINT_SERVER_MAX_FDS) with what to poll for; returns how many. With no
 * client registered there is nothing else to do (process events concern clients only; those
 * that piled up are dropped at the next connection): poll may wait without a timeout. */
unsigned hint_server_pollfds(const struct hint_server *s, struct pollfd *fds);
/* Acts on what poll reported in the fds hint_server_pollfds filled. */
void hint_server_handle(struct hint_server *s, const struct pollfd *fds, unsigned n);

/* Reads every client's ring into its view, then every process event, until deadline_ns
 * (CLOCK_MONOTONIC): each client in turn gets an equal share of the time left, and one not
 * read to the end in its share is unsure (its pages move whole) until a later drain is. */
void hint_server_drain(struct hint_server *s, uint64_t deadline_ns);

/* Whether a client's masks can be used right now. */
bool hint_client_resolvable(const struct hint_server *s, const struct hint_client_conn *c);

/* Mmap mode: the client whose claimed range holds device page `page` (its index in
 * s->client), with the page's live lines in *mask (all ones when the view does not know it),
 * or -1 when no claimed range holds it. A client that is not resolvable (or frozen) gives
 * whole. */
int hint_server_arena_mask(const struct hint_server *s, uint64_t page, uint64_t *mask);

#endif
