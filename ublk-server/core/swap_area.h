/* swap_area.h — whether a ublk device is an active swap area. */
#ifndef LINESWAP_UBLK_SWAP_AREA_H
#define LINESWAP_UBLK_SWAP_AREA_H

#include <stdbool.h>
#include <stdint.h>

/* Whether /dev/ublkb<dev_id> is listed in /proc/swaps (swapon by any name of it: the kernel
 * lists the path it resolved). False when /proc/swaps cannot be read. */
bool ublk_swap_area_active(uint32_t dev_id);

#endif
