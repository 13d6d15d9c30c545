/* node_guard.c — pending-connection limits and failure penalties per address. */
#include "node_guard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int node_guard_init(struct node_guard *g, unsigned max_pending, unsigned max_per_addr)
{
	memset(g, 0, sizeof(*g));
	g->max_pending = max_pending;
	g->max_per_addr = max_per_addr;
	g->cap = 16;
	g->addrs = calloc(g->cap, sizeof(*g->addrs));
	return g->addrs ? 0 : -ENOMEM;
}

void node_guard_free(struct node_guard *g)
{
	free(g->addrs);
	g->addrs = NULL;
}

static struct guard_addr *find(const struct node_guard *g, const uint8_t addr[GUARD_ADDR])
{
	for (unsigned i = 0; i < g->naddrs; i++)
		if (!memcmp(g->addrs[i].addr, addr, GUARD_ADDR))
			return &g->addrs[i];
	return NULL;
}

/* Entries with nothing pending and no failure to remember go; the table holds at most the
 * pending connections' addresses plus those that failed in the last minute. */
static void forget_quiet(struct node_guard *g, uint64_t now_ns)
{
	for (unsigned i = 0; i < g->naddrs;) {
		struct guard_addr *a = &g->addrs[i];

		if (a->failures && now_ns - a->last_failure_ns >= GUARD_FAILURE_MEMORY_NS)
			a->failures = 0;
		if (a->pending == 0 && a->failures == 0)
			*a = g->addrs[--g->naddrs];
		else
			i++;
	}
}

/* The table is full of addresses that failed lately: the one that failed longest ago goes
 * (never one with a connection pending). */
static void forget_oldest_failure(struct node_guard *g)
{
	struct guard_addr *oldest = NULL;

	for (unsigned i = 0; i < g->naddrs; i++)
		if (g->addrs[i].pending == 0 &&
		    (!oldest || g->addrs[i].last_failure_ns < oldest->last_failure_ns))
			oldest = &g->addrs[i];
	if (oldest)
		*oldest = g->addrs[--g->naddrs];
}

static struct guard_addr *find_or_add(struct node_guard *g, const uint8_t addr[GUARD_ADDR],
				      uint64_t now_ns)
{
	struct guard_addr *a = find(g, addr);

	if (a)
		return a;
	forget_quiet(g, now_ns);
	if (g->naddrs >= GUARD_MAX_ADDRS)
		forget_oldest_failure(g);
	if (g->naddrs == g->cap) {
		struct guard_addr *grown = realloc(g->addrs, 2 * g->cap * sizeof(*grown));

		if (!grown)
			return NULL;
		g->addrs = grown;
		g->cap *= 2;
	}
	a = &g->addrs[g->naddrs++];
	memset(a, 0, sizeof(*a));
	memcpy(a->addr, addr, GUARD_ADDR);
	return a;
}

struct guard_addr *node_guard_accept(struct node_guard *g, const uint8_t addr[GUARD_ADDR],
				     uint64_t now_ns)
{
	struct guard_addr *a = find_or_add(g, addr, now_ns);

	if (a) {
		a->pending++;
		g->pending++;
	}
	return a;
}

void node_guard_leave(struct node_guard *g, const uint8_t addr[GUARD_ADDR])
{
	struct guard_addr *a = find(g, addr);

	if (a && a->pending > 0) {
		a->pending--;
		g->pending--;
	}
}

bool node_guard_victim(const struct node_guard *g, const uint8_t newest[GUARD_ADDR],
		       uint8_t victim[GUARD_ADDR])
{
	const struct guard_addr *a = find(g, newest), *most = NULL;

	if (a && a->pending > g->max_per_addr) {
		memcpy(victim, a->addr, GUARD_ADDR);
		return true;
	}
	if (g->pending <= g->max_pending)
		return false;
	for (unsigned i = 0; i < g->naddrs; i++)
		if (!most || g->addrs[i].pending > most->pending)
			most = &g->addrs[i];
	memcpy(victim, most->addr, GUARD_ADDR);
	return true;
}

void node_guard_failed(struct node_guard *g, const uint8_t addr[GUARD_ADDR], uint64_t now_ns)
{
	struct guard_addr *a = find_or_add(g, addr, now_ns);
	uint64_t penalty = GUARD_PENALTY_FIRST_NS;

	if (!a)
		return;
	if (a->failures && now_ns - a->last_failure_ns >= GUARD_FAILURE_MEMORY_NS)
		a->failures = 0;
	a->failures++;
	a->last_failure_ns = now_ns;
	for (unsigned i = 1; i < a->failures && penalty < GUARD_PENALTY_MAX_NS; i++)
		penalty *= 2;
	if (penalty > GUARD_PENALTY_MAX_NS)
		penalty = GUARD_PENALTY_MAX_NS;
	a->penalty_ns = penalty;
	a->next_ns = now_ns + penalty;
}

bool node_guard_penalized(const struct node_guard *g, const uint8_t addr[GUARD_ADDR],
			  uint64_t now_ns)
{
	const struct guard_addr *a = find(g, addr);

	return a && a->failures && now_ns - a->last_failure_ns < GUARD_FAILURE_MEMORY_NS;
}

uint64_t node_guard_answer_at(const struct node_guard *g, const uint8_t addr[GUARD_ADDR],
			      uint64_t now_ns)
{
	const struct guard_addr *a = find(g, addr);

	if (!a || !a->failures || now_ns - a->last_failure_ns >= GUARD_FAILURE_MEMORY_NS)
		return now_ns;
	return a->next_ns > now_ns ? a->next_ns : now_ns;
}

void node_guard_answered(struct node_guard *g, const uint8_t addr[GUARD_ADDR], uint64_t now_ns)
{
	struct guard_addr *a = find(g, addr);

	/* One handshake per penalty: the next one waits a whole penalty after this one. */
	if (a && a->failures && now_ns - a->last_failure_ns < GUARD_FAILURE_MEMORY_NS)
		a->next_ns = now_ns + a->penalty_ns;
}
