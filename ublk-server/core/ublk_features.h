/* ublk_features.h — names for ublk's feature bits (GET_FEATURES, ADD_DEV flags). */
#ifndef LINESWAP_UBLK_FEATURES_H
#define LINESWAP_UBLK_FEATURES_H

#include <stddef.h>
#include <stdint.h>

/* The short name of feature bit `bit` (e.g. "USER_COPY"), or NULL for a bit without a name. */
const char *ublk_feature_name(unsigned bit);

/* Writes the names of the bits set in `features`, joined by `sep`, into buf (always
 * NUL-terminated when len > 0); a bit without a name is written as "BIT<n>"; no bit at all as
 * "none". Returns the length the full text needs, like snprintf: truncated if >= len. */
size_t ublk_features_format(uint64_t features, const char *sep, char *buf, size_t len);

#endif
