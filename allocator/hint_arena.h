/* hint_arena.h — mmap mode: the process's heap is one range of a lineswap device, mapped
 * shared, so a heap page's place on the device is its address minus the range's base and the
 * server masks its writes by offset (docs/design.md, "How hints reach the table").
 *
 * LINESWAP_ARENA=SIZE (bytes, or with K, M, G, T) asks for it (LINESWAP_ARENA_DEVICE: the
 * device node to map, if not /dev/ublkb<ID>). At mimalloc's process start,
 * before any segment exists, the producer registers asking for a range of SIZE; this file
 * maps the range the server granted at a 32 MiB-aligned base, claims it, and makes it
 * mimalloc's only arena (limit_os_alloc): the heap then never grows past it (malloc fails
 * with ENOMEM). Without a server, or when anything fails, one line on stderr says why and
 * the heap is ordinary memory.
 *
 * A fork freezes the range: the parent and the child both go on copy-on-write over it (each
 * sees the heap as it was at the fork, and neither changes the other's); the server moves
 * its pages whole from then on. posix_spawn and vfork do not fork the heap and freeze
 * nothing. */
#ifndef LINESWAP_HINT_ARENA_H
#define LINESWAP_HINT_ARENA_H

#include <stdbool.h>

#include "hint_client.h"

/* What a registration asks for: NULL when the process is not in mmap mode (not asked for,
 * failed, frozen, or a child). */
const struct hint_arena_ask *hint_arena_ask(void);

/* After a registration that asked for a range (c): maps it the first time, then claims it
 * with the server; a later registration (a recovered daemon) claims the same mapping again.
 * Returns 0, or -errno with why (the registration must then end). */
int hint_arena_attach(struct hint_client *c, char *why, size_t whylen);

/* Fork handlers: the parent freezes the range before the fork; a child is not in mmap mode. */
void hint_arena_freeze(void);
void hint_arena_child(void);

#endif
