/* writeback.c — how many dirty page-cache pages a device may hold (`ublk-ctl add
 * --dirty-limit`).
 *
 * A mapping of the device (or buffered write(2) to it) dirties page-cache pages that only the
 * device can clean. The kernel's memory-cgroup writeback does not throttle a block device's
 * page cache: a program that maps a device in a memory cgroup smaller than what it writes
 * fills the cgroup with dirty pages and is OOM-killed (docs/design.md, "Mapping a device").
 * The device's own limit does hold everywhere: the bdi's strict_limit makes its share of the
 * dirty pages count from the first page, and max_bytes sets that share (6.2+). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static int write_bdi(uint32_t dev_id, const char *knob, unsigned long long value)
{
	char path[96];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/ublkb%u/bdi/%s", dev_id, knob);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	int n = fprintf(f, "%llu\n", value);
	int err = n < 0 || ferror(f) ? -EIO : 0;

	if (fclose(f) != 0 && !err)
		err = -errno;
	return err;
}

int ctl_limit_dirty(uint32_t dev_id, uint64_t bytes)
{
	/* max_bytes is kept as a share of the machine's dirty threshold as it is now (it floats
	 * with free memory), and refused when above it: then the strict limit holds the device
	 * to its share under the kernel's own max_ratio. */
	int ret = write_bdi(dev_id, "max_bytes", bytes);
	int strict = write_bdi(dev_id, "strict_limit", 1);

	ret = ret < 0 ? ret : strict;
	if (ret < 0)
		fprintf(stderr,
			"ublk-ctl: warning: cannot limit /dev/ublkb%u's dirty pages to %llu KiB "
			"(/sys/block/ublkb%u/bdi: %s; needs Linux 6.2): a mapping of it in a small "
			"memory cgroup can be OOM-killed\n",
			dev_id, (unsigned long long)bytes >> 10, dev_id, strerror(-ret));
	return ret;
}
