/* swap_area.c — see swap_area.h. */
#include "swap_area.h"

#include <stdio.h>
#include <string.h>

bool ublk_swap_area_active(uint32_t dev_id)
{
	char want[32], line[512];
	FILE *f = fopen("/proc/swaps", "re");
	bool found = false;

	if (!f)
		return false;
	snprintf(want, sizeof(want), "/dev/ublkb%u", dev_id);
	while (!found && fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, " \t");

		found = n == strlen(want) && !strncmp(line, want, n);
	}
	fclose(f);
	return found;
}
