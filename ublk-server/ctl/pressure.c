/* pressure.c — what `ublk-ctl add` and `recover` check once the daemon serves: whether swap on
 * the device can hold when the whole machine runs out of memory (README, "Swap under memory
 * pressure"). Warnings on stderr only: the device works either way. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "target.h"

/* Left in the reserve for the kernel's other users of it (atomic allocations: the network's
 * receive path, Soft-RoCE's packets). */
#define RESERVE_MARGIN (8ull << 20)

uint64_t ctl_min_free_kbytes_for(uint64_t reserve_bytes)
{
	/* Realtime threads may take the lower half of the min watermark (io_thread.h). */
	return 2 * (reserve_bytes + RESERVE_MARGIN) / 1024;
}

/* The daemon's queue threads, and how many of them are not SCHED_FIFO (stat field 41). */
static unsigned queues_not_realtime(pid_t pid, unsigned *queues)
{
	char path[64], line[1024];
	unsigned not_rt = 0;
	struct dirent *e;
	DIR *d;

	*queues = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/stat", (int)pid, e->d_name);
		FILE *f = fopen(path, "re");

		if (!f)
			continue;
		char *comm_end = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;

		fclose(f);
		/* "pid (comm) state ...": after the comm, field 3 is the first. */
		if (!comm_end || !strstr(line, "(ublk-queue"))
			continue;
		(*queues)++;
		char *field = comm_end + 2;

		for (int i = 3; i < 41 && field; i++) {
			field = strchr(field, ' ');
			if (field)
				field++;
		}
		if (!field || atoi(field) != 1)
			not_rt++;
	}
	closedir(d);
	return not_rt;
}

void ctl_check_pressure(const struct ublk_dev_conf *conf, uint32_t dev_id, pid_t pid)
{
	unsigned queues, not_rt = queues_not_realtime(pid, &queues);
	uint64_t reserve = conf->ops->reserve_bytes ? conf->ops->reserve_bytes(conf) : 0;
	unsigned long long have = 0;
	FILE *f;

	if (not_rt)
		fprintf(stderr,
			"ublk-ctl: warning: %u of the daemon's %u queue threads are not realtime "
			"(no CAP_SYS_NICE?): when the machine runs out of memory, swap on "
			"/dev/ublkb%u may stall\n",
			not_rt, queues, dev_id);
	if (!reserve)
		return;
	f = fopen("/proc/sys/vm/min_free_kbytes", "re");
	if (!f)
		return;
	if (fscanf(f, "%llu", &have) != 1)
		have = 0;
	fclose(f);
	uint64_t want = ctl_min_free_kbytes_for(reserve);

	if (have && have < want)
		fprintf(stderr,
			"ublk-ctl: warning: /dev/ublkb%u over TCP may need %llu KiB of the "
			"kernel's "
			"reserve when the machine runs out of memory, and vm.min_free_kbytes = "
			"%llu "
			"leaves its realtime threads %llu KiB: swap on it may stall. Raise it: "
			"sysctl vm.min_free_kbytes=%llu (README, \"Swap under memory pressure\")\n",
			dev_id, (unsigned long long)(reserve / 1024), have, have / 2,
			(unsigned long long)want);
}
