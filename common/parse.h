/* parse.h — strict parsing of command-line numbers. */
#ifndef LINESWAP_PARSE_H
#define LINESWAP_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* A size: digits with an optional binary suffix K, M, G or T, optionally followed by "iB" or
 * "B", any case: 4096, 64K, 2G, 1GiB, 3mb. Returns false for anything else, or on overflow. */
bool parse_size(const char *s, uint64_t *bytes);

/* A decimal integer in [min, max]. */
bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *value);

#endif
