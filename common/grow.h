/* grow.h — arrays that grow by doubling, kept from one use to the next. New memory is touched
 * at once: in the daemon (under mlockall) it is then never faulted in on the I/O path. */
#ifndef LINESWAP_GROW_H
#define LINESWAP_GROW_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Makes *buf (capacity *cap elements of elem bytes) hold at least n, keeping its contents and
 * zeroing the rest. False, unchanged, when out of memory. */
static inline bool grow_array(void *buf, size_t *cap, size_t n, size_t elem)
{
	void **p = buf;

	if (n <= *cap)
		return true;
	size_t want = n > 2 * *cap ? n : 2 * *cap;
	void *q = realloc(*p, want * elem);

	if (!q)
		return false;
	memset((char *)q + *cap * elem, 0, (want - *cap) * elem);
	*p = q;
	*cap = want;
	return true;
}

#endif
