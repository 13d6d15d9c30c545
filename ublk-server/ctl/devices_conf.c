/* devices_conf.c — `ublk-ctl up`, `down` and `name`: the devices of /etc/lineswap/devices.conf,
 * by name, as lineswap@NAME.service and udev's /dev/lineswap/NAME use them.
 *
 * devices.conf has one device a line: its name, then the options of `ublk-ctl add` for it, as
 * words separated by blanks (no quoting); '#' starts a comment. --mkswap (up's own, not add's)
 * writes a swap signature on a device just made: a new device is all zeros, and swapon from
 * /etc/fstab at boot needs one. A device is found by its name (the record's name=), never by
 * its id, which depends on the order devices were made in. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "swap_area.h"
#include "targets.h"

#ifndef LINESWAP_SYSCONFDIR
#define LINESWAP_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG LINESWAP_SYSCONFDIR "/lineswap/devices.conf"
#define MAX_LINE       4096
#define MAX_WORDS      128
#define MAX_ENTRIES    CTL_MAX_DEVICES

static const char up_usage[] =
	"Usage: ublk-ctl up [--config FILE] NAME...\n"
	"       ublk-ctl up [--config FILE] --all\n"
	"\n"
	"Brings up the named devices of devices.conf (default " DEFAULT_CONFIG "): a\n"
	"device that does not exist is added (ublk-ctl add --name NAME and the options its line\n"
	"gives), one whose daemon died is recovered, one that is live is left as it is. This is\n"
	"what lineswap@NAME.service runs.\n"
	"\n"
	"devices.conf: one device a line, its name (1-31 of A-Z a-z 0-9 . _ -, starting with a\n"
	"letter) and then the options of 'ublk-ctl add' for it, as words separated by blanks (no\n"
	"quoting); '#' starts a comment. One more option, up's own: --mkswap writes a swap\n"
	"signature (mkswap) on a device just added (never on one recovered or up\n"
	"already): every device starts empty, and swapon needs one. For example:\n"
	"  swap0  -t remote --size 8G --node rdma://10.0.0.2:7370 --secret-file "
	"/etc/lineswap/secret\n"
	"         --mkswap   (all on one line)\n"
	"udev names each device /dev/lineswap/NAME, for /etc/fstab (nofail: boot does not wait\n"
	"for the network; lineswap@NAME.service swaps it on once the device is up):\n"
	"  /dev/lineswap/swap0  none  swap  sw,nofail  0  0\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE  the devices file (default " DEFAULT_CONFIG ")\n"
	"  -a, --all          every device of the file, in its order\n"
	"  -h, --help         this text\n"
	"\n"
	"Exit status: 0 every device is up, 1 one could not be brought up (the others are still\n"
	"tried; an option of add that add refuses shows only then), 2 bad arguments or a\n"
	"malformed devices file (then nothing is done, for any device).\n";

static const char down_usage[] =
	"Usage: ublk-ctl down [--config FILE] NAME...\n"
	"       ublk-ctl down [--config FILE] --all\n"
	"\n"
	"Takes the named devices down: a device that is an active swap area is swapped off first\n"
	"(the kernel reads every page swapped out to it back into memory), then deleted as by\n"
	"'ublk-ctl del'. A device whose daemon died is recovered first (swapoff would wait for it\n"
	"for good). If swapoff fails (most often: there is not enough memory for the pages\n"
	"coming back) the device is left as it is, still swap, and the command fails: nothing is\n"
	"lost. A name no device has is already down. This is what stopping lineswap@NAME.service\n"
	"runs.\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE  with --all: the devices file (default " DEFAULT_CONFIG ")\n"
	"  -a, --all          every device of the file, in reverse order\n"
	"  -h, --help         this text\n"
	"\n"
	"Exit status: 0 every device is down, 1 one could not be taken down (the others are\n"
	"still tried), 2 bad arguments or a malformed devices file.\n";

static const char name_usage[] =
	"Usage: ublk-ctl name DEVICE\n"
	"\n"
	"Prints the name of DEVICE (ublkbN, /dev/ublkbN or its id) given by add --name; the udev\n"
	"rule that makes /dev/lineswap/NAME runs it.\n"
	"\n"
	"Exit status: 0 printed, 1 the device has no name (or no record), 2 bad arguments.\n";

struct conf_entry {
	char name[UBLK_NAME_MAX];
	int line;
	bool mkswap;
	int nwords;
	char *words[MAX_WORDS]; /* the options of add, pointing into text */
};

struct devices_conf {
	const char *path;
	char *text;
	int n;
	struct conf_entry entries[MAX_ENTRIES + 1]; /* the last for a line past the limit */
};

/* Splits line number `line` (NUL-terminated, comment included) into e; 0 for a blank line, 1
 * for an entry, or EXIT_USAGE after saying what is wrong. */
static int parse_line(const char *path, int line, char *s, struct conf_entry *e)
{
	char *save = NULL, *w;

	s[strcspn(s, "#")] = '\0';
	w = strtok_r(s, " \t\r", &save);
	if (!w)
		return 0;
	if (!ublk_name_valid(w))
		return ctl_usage_error("%s:%d: bad device name '%s' (1-%d of A-Z a-z 0-9 . _ -, "
				       "starting with a letter)",
				       path, line, w, UBLK_NAME_MAX - 1);
	strcpy(e->name, w);
	e->line = line;
	e->mkswap = false;
	e->nwords = 0;
	while ((w = strtok_r(NULL, " \t\r", &save))) {
		if (!strcmp(w, "--mkswap")) {
			e->mkswap = true;
			continue;
		}
		/* (getopt takes a long option's unique prefix too: --he is --help) */
		size_t n = strcspn(w, "=");

		if (!strcmp(w, "-h") ||
		    (n >= 4 && (!strncmp(w, "--help", n) || !strncmp(w, "--json", n))))
			return ctl_usage_error("%s:%d: %s is not for a devices file", path, line,
					       w);
		if (e->nwords == MAX_WORDS)
			return ctl_usage_error("%s:%d: more than %d options", path, line,
					       MAX_WORDS);
		e->words[e->nwords++] = w;
	}
	if (!e->nwords)
		return ctl_usage_error("%s:%d: no options for device '%s' (at least -t TARGET "
				       "--size SIZE)",
				       path, line, e->name);
	return 1;
}

/* Reads and checks the whole file: 0, or an exit status after saying what is wrong; the caller
 * frees c->text either way. */
static int conf_read(const char *path, struct devices_conf *c)
{
	FILE *f = fopen(path, "r");
	size_t cap = 0, len = 0;
	int line = 0, ret = 0;
	char buf[MAX_LINE + 2];

	c->path = path;
	c->n = 0;
	c->text = NULL; /* the caller frees it, whatever this returns */
	if (!f)
		return ctl_error("cannot read %s: %s", path, strerror(errno));
	/* Lines are kept (the entries point into them): one buffer, lines NUL-separated. */
	while (fgets(buf, sizeof(buf), f)) {
		size_t n = strlen(buf);

		line++;
		if (n && buf[n - 1] == '\n')
			buf[--n] = '\0';
		else if (!feof(f)) {
			ret = ctl_usage_error("%s:%d: line longer than %d bytes", path, line,
					      MAX_LINE);
			break;
		}
		if (len + n + 1 > cap) {
			char *t = realloc(c->text, cap = (len + n + 1) * 2 + MAX_LINE);

			if (!t) {
				ret = ctl_error("out of memory reading %s", path);
				break;
			}
			c->text = t;
		}
		memcpy(c->text + len, buf, n + 1);
		len += n + 1;
	}
	if (!ret && ferror(f))
		ret = ctl_error("cannot read %s: %s", path, strerror(errno));
	fclose(f);
	if (ret)
		return ret;
	/* The buffer no longer moves: split it. */
	line = 0;
	for (size_t off = 0, next; off < len && !ret; off = next) {
		struct conf_entry *e = &c->entries[c->n];

		next = off + strlen(c->text + off) + 1; /* before parse_line cuts the line up */
		line++;
		ret = parse_line(path, line, c->text + off, e);
		if (ret != 1)
			continue;
		if (c->n == MAX_ENTRIES) {
			ret = ctl_usage_error("%s:%d: more than %d devices", path, line,
					      MAX_ENTRIES);
			break;
		}
		ret = 0;
		for (int i = 0; i < c->n && !ret; i++) {
			if (!strcmp(c->entries[i].name, e->name))
				ret = ctl_usage_error("%s:%d: device '%s' again (first on line %d)",
						      path, line, e->name, c->entries[i].line);
		}
		c->n++;
	}
	return ret;
}

static const struct conf_entry *conf_find(const struct devices_conf *c, const char *name)
{
	for (int i = 0; i < c->n; i++) {
		if (!strcmp(c->entries[i].name, name))
			return &c->entries[i];
	}
	return NULL;
}

/* Runs command `run` as if from the command line (getopt starts afresh). */
static int run_command(int (*run)(int, char **), int argc, char **argv)
{
	optind = 0;
	return run(argc, argv);
}

/* `ublk-ctl CMD -n ID` (recover or del) for device id. */
static int run_on_device(int (*run)(int, char **), char *cmd, uint32_t id)
{
	char ids[16];

	snprintf(ids, sizeof(ids), "%u", id);
	return run_command(run, 3, (char *[]){ cmd, "-n", ids, NULL });
}

/* Device id (named `name`) with its daemon serving: 0 and *recovered = false if it was, 0 and
 * true after recovering it, else the exit status after saying why (`what`: up or down). */
static int recover_if_dead(const char *what, const char *name, uint32_t id, bool *recovered)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_ctrl ctrl;
	int ret;

	*recovered = false;
	if (ctl_open(&ctrl) < 0)
		return EXIT_FAILURE;
	ret = ublk_ctrl_get_dev_info(&ctrl, id, &info);
	ublk_ctrl_close(&ctrl);
	if (ret < 0)
		return ctl_error("%s: device %u (%s): %s", what, id, name, strerror(-ret));
	if (info.state == UBLK_S_DEV_LIVE && ctl_pid_alive(info.ublksrv_pid))
		return 0;
	fprintf(stderr, "ublk-ctl: %s: %s (/dev/ublkb%u) lost its daemon: recovering it\n", what,
		name, id);
	*recovered = true;
	return run_on_device(cmd_recover, "recover", id);
}

/* mkswap on the device just added as e. */
static int make_swap(const struct conf_entry *e)
{
	char dev[32];
	uint32_t id;
	int status;
	pid_t pid;

	if (ctl_find_name(e->name, &id) < 0)
		return ctl_error("up: %s was added but is not found", e->name);
	snprintf(dev, sizeof(dev), "/dev/ublkb%u", id);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execlp("mkswap", "mkswap", dev, (char *)NULL);
		fprintf(stderr, "ublk-ctl: up: cannot run mkswap: %s\n", strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return ctl_error("up: mkswap %s (%s) failed; the device stays, without swap on it",
				 dev, e->name);
	return 0;
}

static int up_one(const struct conf_entry *e)
{
	bool recovered;
	uint32_t id;
	int ret = ctl_find_name(e->name, &id);

	if (ret == -ENOENT) {
		char *argv[MAX_WORDS + 4] = { "add" };

		/* --name last: the line's own name wins over any --name (or prefix of it) there */
		memcpy(argv + 1, e->words, (size_t)e->nwords * sizeof(char *));
		argv[e->nwords + 1] = "--name";
		argv[e->nwords + 2] = (char *)e->name;
		ret = run_command(cmd_add, e->nwords + 3, argv);
		return ret || !e->mkswap ? ret : make_swap(e);
	}
	if (ret < 0)
		return ctl_error("up: cannot list devices: %s", strerror(-ret));
	ret = recover_if_dead("up", e->name, id, &recovered);
	if (!ret && !recovered)
		printf("%s: up already: /dev/ublkb%u\n", e->name, id);
	return ret;
}

static int down_one(const char *name)
{
	bool recovered;
	char dev[32];
	uint32_t id;
	int ret = ctl_find_name(name, &id);

	if (ret == -ENOENT) {
		printf("%s: down already\n", name);
		return 0;
	}
	if (ret < 0)
		return ctl_error("down: cannot list devices: %s", strerror(-ret));
	snprintf(dev, sizeof(dev), "/dev/ublkb%u", id);
	/* Without its daemon, the device holds every read until a recovery (USER_RECOVERY):
	 * swapoff would wait for good. Bring the daemon back first. */
	if (recover_if_dead("down", name, id, &recovered))
		return ctl_error("down: %s (%s) has no daemon and cannot be recovered: "
				 "swapoff would wait for it for good; left as it is",
				 name, dev);
	if (ublk_swap_area_active(id)) {
		printf("%s: swapoff %s\n", name, dev);
		fflush(stdout);
		/* EINTR: io_uring's task work (our control ring, just closed) can count as a
		 * pending signal until the next return to user space; swapoff undoes itself, so
		 * retry. */
		for (int i = 0; (ret = swapoff(dev)) < 0 && errno == EINTR && i < 10; i++)
			;
		if (ret < 0) {
			if (errno == ENOMEM)
				return ctl_error(
					"down: swapoff %s (%s) failed: there is not enough "
					"memory for the pages swapped out to it; the device "
					"stays up and stays swap (free memory, or raise the "
					"memory.max of the cgroups that own the pages, and "
					"try again)",
					dev, name);
			return ctl_error("down: swapoff %s (%s) failed: %s; the device stays up",
					 dev, name, strerror(errno));
		}
	}
	return run_on_device(cmd_del, "del", id);
}

/* Parses up's and down's arguments; -1 to go on, else an exit status. */
static int parse_up_down(int argc, char **argv, const char *cmd, const char *usage,
			 const char **config, bool *all)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:ah", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*config = optarg;
			break;
		case 'a':
			*all = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return ctl_usage_error("%s: unknown or incomplete option '%s' (see --help)",
					       cmd, argv[optind - 1]);
		}
	}
	if (*all == (optind < argc))
		return ctl_usage_error("%s: give device names or --all (see --help)", cmd);
	for (int i = optind; i < argc; i++) {
		if (!ublk_name_valid(argv[i]))
			return ctl_usage_error("%s: bad device name '%s'", cmd, argv[i]);
	}
	return -1;
}

static struct devices_conf conf; /* up's or down's (large: not on the stack) */

int cmd_up(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG;
	bool all = false;
	int ret = parse_up_down(argc, argv, "up", up_usage, &config, &all), failed = 0;
	int first = optind, n = argc - optind;

	if (ret >= 0)
		return ret;
	ret = conf_read(config, &conf);
	if (ret) {
		free(conf.text);
		return ret;
	}
	for (int i = 0; i < n; i++) {
		if (!conf_find(&conf, argv[first + i])) {
			free(conf.text);
			return ctl_usage_error("up: no device '%s' in %s", argv[first + i], config);
		}
	}
	if (all)
		n = conf.n;
	for (int i = 0; i < n; i++)
		failed |= up_one(all ? &conf.entries[i] : conf_find(&conf, argv[first + i])) != 0;
	free(conf.text);
	return failed ? EXIT_FAILURE : 0;
}

int cmd_down(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG;
	bool all = false;
	int ret = parse_up_down(argc, argv, "down", down_usage, &config, &all), failed = 0;

	if (ret >= 0)
		return ret;
	if (!all) {
		for (int i = optind; i < argc; i++)
			failed |= down_one(argv[i]) != 0;
		return failed ? EXIT_FAILURE : 0;
	}
	ret = conf_read(config, &conf);
	for (int i = conf.n - 1; !ret && i >= 0; i--) /* last brought up, first taken down */
		failed |= down_one(conf.entries[i].name) != 0;
	free(conf.text);
	return ret ? ret : failed ? EXIT_FAILURE : 0;
}

int cmd_name(int argc, char **argv)
{
	struct ublk_dev_conf conf;
	const char *s;
	uint32_t id;
	int ret;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(name_usage, stdout);
		return 0;
	}
	if (argc != 2)
		return ctl_usage_error("name: give one DEVICE (see --help)");
	s = argv[1];
	if (!strncmp(s, "/dev/", 5))
		s += 5;
	if (!strncmp(s, "ublkb", 5))
		s += 5;
	if (!ctl_parse_id(s, &id))
		return ctl_usage_error("name: bad device '%s' (ublkbN, /dev/ublkbN or an id)",
				       argv[1]);
	ret = ublk_conf_load(id, &conf, ublk_targets);
	if (ret < 0)
		return ctl_error("name: no record of device %u: %s", id, strerror(-ret));
	if (!conf.name[0])
		return ctl_error("name: device %u has no name", id);
	printf("%s\n", conf.name);
	return 0;
}
