/* targets.c — the table of targets. */
#include "targets.h"

const struct ublk_target_ops *const ublk_targets[] = {
	&ublk_target_mem,
	&ublk_target_remote,
	&ublk_target_fault,
	NULL,
};
