/* targets.h — the targets this server offers. Adding one: a file in targets/ defining its
 * struct ublk_target_ops, and an entry in the table (targets.c). */
#ifndef LINESWAP_UBLK_TARGETS_H
#define LINESWAP_UBLK_TARGETS_H

#include "target.h"

/* Every target, NULL-terminated, in the order `ublk-ctl add --help` lists them. */
extern const struct ublk_target_ops *const ublk_targets[];

extern const struct ublk_target_ops ublk_target_mem;
extern const struct ublk_target_ops ublk_target_remote;
extern const struct ublk_target_ops ublk_target_fault;

#endif
