/* node_guard.h — what keeps a memory node open to its clients while others try to lock it up.
 *
 * Connections that have not finished the handshake are "pending": they never count against
 * --max-clients, each has a deadline (--handshake-timeout), and there are at most max_pending
 * of them, max_per_addr from one address. A new connection over a limit pushes out the oldest
 * pending one (of its own address if that address is at its limit, else of the address that
 * holds the most), so a flood can delay a legitimate client's handshake but never refuse it
 * for good: a handshake takes one round trip.
 *
 * An address whose clients fail to authenticate waits before its next handshake is answered:
 * 50 ms after the first failure, doubling with each one up to 1 s, forgotten after a minute
 * without failures. The wait holds a pending slot of that address, and its handshakes are
 * answered one per penalty, oldest first, so an address cannot try faster by opening more
 * connections. (A legitimate client behind the same address waits too, in turn.) */
#ifndef LINESWAP_NODE_GUARD_H
#define LINESWAP_NODE_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#define GUARD_ADDR      16   /* an IPv6 address, or an IPv4 one in its first 4 bytes */
#define GUARD_MAX_ADDRS 4096 /* addresses remembered (pending ones, and recent failures) */

#define GUARD_PENALTY_FIRST_NS  (50ull * 1000000)
#define GUARD_PENALTY_MAX_NS    (1000ull * 1000000)
#define GUARD_FAILURE_MEMORY_NS (60ull * 1000000000)

struct guard_addr {
	uint8_t addr[GUARD_ADDR];
	unsigned pending;
	unsigned failures;
	uint64_t last_failure_ns;
	uint64_t penalty_ns; /* after its last failure */
	uint64_t next_ns;    /* its next handshake is answered no earlier */
};

struct node_guard {
	unsigned max_pending, max_per_addr;
	unsigned pending;
	struct guard_addr *addrs;
	unsigned naddrs, cap;
};

/* Returns 0 or -ENOMEM. */
int node_guard_init(struct node_guard *g, unsigned max_pending, unsigned max_per_addr);
void node_guard_free(struct node_guard *g);

/* A connection from addr is accepted (pending) at now_ns. Returns its address's entry (valid
 * until the next call that adds an entry: callers keep the address, not the pointer), or NULL
 * when out of memory. */
struct guard_addr *node_guard_accept(struct node_guard *g, const uint8_t addr[GUARD_ADDR],
				     uint64_t now_ns);
/* A pending connection from addr is gone (authenticated, refused or dropped). */
void node_guard_leave(struct node_guard *g, const uint8_t addr[GUARD_ADDR]);
/* The address whose oldest pending connection should go now: the new one's if it is over its
 * limit, else the one with the most, when the total is over; false when no one need go. */
bool node_guard_victim(const struct node_guard *g, const uint8_t newest[GUARD_ADDR],
		       uint8_t victim[GUARD_ADDR]);
/* A failed authentication from addr at now_ns. */
void node_guard_failed(struct node_guard *g, const uint8_t addr[GUARD_ADDR], uint64_t now_ns);
/* Whether addr failed lately: its handshakes wait their turn. */
bool node_guard_penalized(const struct node_guard *g, const uint8_t addr[GUARD_ADDR],
			  uint64_t now_ns);
/* When the next handshake from addr may be answered (<= now_ns: now). */
uint64_t node_guard_answer_at(const struct node_guard *g, const uint8_t addr[GUARD_ADDR],
			      uint64_t now_ns);
/* A handshake from addr was answered at now_ns: the next one waits its penalty. */
void node_guard_answered(struct node_guard *g, const uint8_t addr[GUARD_ADDR], uint64_t now_ns);

#endif
