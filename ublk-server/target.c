/* target.c — the registry of targets. */
#include "target.h"

#include <string.h>

static const struct ublk_target_ops *const targets[] = {
	&ublk_target_mem,
	&ublk_target_remote,
};

const struct ublk_target_ops *ublk_target_find(const char *name)
{
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		if (!strcmp(targets[i]->name, name))
			return targets[i];
	return NULL;
}

const char *ublk_target_names(void)
{
	return "mem, remote";
}
