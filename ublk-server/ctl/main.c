/* main.c — ublk-ctl, managing lineswap's ublk devices: command dispatch.
 *
 * Exit status: 0 success, 1 the operation failed, 2 bad arguments. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char usage_text[] =
	"Usage: ublk-ctl COMMAND [OPTIONS]\n"
	"\n"
	"Manage lineswap's ublk block devices (remote memory for swap).\n"
	"\n"
	"Commands:\n"
	"  add         create a device and start its server daemon\n"
	"  list        show devices: state, target, size, queues, daemon\n"
	"  del         stop and remove a device (or all)\n"
	"  recover     restart the daemon of a device whose daemon died, keeping its data\n"
	"  stats       per-operation counts, bytes, in-flight requests, latency percentiles,\n"
	"              bytes moved to the memory node, hint totals\n"
	"  hints       the processes registered for hints, with their savings\n"
	"  nodes       a remote device's memory nodes: state, copies held, traffic, errors\n"
	"  node        add a memory node to a remote device's pool, or drain and remove one\n"
	"  run         run a program with the hint allocator, registered with a device\n"
	"  up          bring up devices by name, as /etc/lineswap/devices.conf describes them\n"
	"  down        swap off and delete devices by name\n"
	"  name        print a device's name (for udev's /dev/lineswap/NAME)\n"
	"  features    print the features of this kernel's ublk driver\n"
	"\n"
	"Run 'ublk-ctl COMMAND --help' for a command's options.\n"
	"\n"
	"Exit status: 0 on success, 1 when the operation fails, 2 for bad arguments.\n";

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "add", cmd_add },         { "list", cmd_list },   { "del", cmd_del },
	{ "recover", cmd_recover }, { "stats", cmd_stats }, { "features", cmd_features },
	{ "hints", cmd_hints },     { "nodes", cmd_nodes }, { "node", cmd_node },
	{ "run", cmd_run },         { "up", cmd_up },       { "down", cmd_down },
	{ "name", cmd_name },
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return ctl_usage_error("no command given (see 'ublk-ctl --help')");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	}
	return ctl_usage_error("unknown command '%s' (see 'ublk-ctl --help')", argv[1]);
}
