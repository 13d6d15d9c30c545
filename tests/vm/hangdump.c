/* hangdump — what a guest that hangs was doing, written out before the harness kills it.
 *
 * Started by the test VM (scripts/vm/run) beside every job, it sleeps until --after seconds
 * and then, if the job still runs, writes to stdout: the kernel's blocked tasks and memory
 * state (sysrq w and m, read back from /dev/kmsg), /proc/meminfo and /proc/vmstat, every
 * task's state, and the wchan and kernel stack of each thread that is blocked (D), running
 * (R), or belongs to one of the --watch programs.
 *
 * It must work when the machine has run out of memory and swap is stuck, so everything it
 * needs is in place before it sleeps: its memory is locked (mlockall), its buffers are static,
 * it reads directories with getdents64 into a static buffer (no malloc, no fork, no exec), and
 * as an I/O flusher its kernel allocations never wait for swap writes. The task list comes
 * last: reading /proc of a task stuck in reclaim may still block. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_WATCH 16

static char buf[256 * 1024];  /* one file's contents */
static char dents[64 * 1024]; /* one directory's entries */
static char line[8 * 1024];   /* formatted output */
static const char *watch[MAX_WATCH];
static int nwatch;

static void out(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void outf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		out(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Reads a whole (small) file into buf; its length, or -1. */
static ssize_t slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t len = 0, n;

	if (fd < 0)
		return -1;
	while (len < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	return len;
}

static void dump_file(const char *path)
{
	ssize_t n = slurp(path);

	outf("--- %s\n", path);
	if (n > 0)
		out(buf, (size_t)n);
}

/* Whether a task's command starts with one of the --watch names. */
static bool watched(const char *comm)
{
	for (int i = 0; i < nwatch; i++)
		if (!strncmp(comm, watch[i], strlen(watch[i])))
			return true;
	return false;
}

/* Copies the records the kernel wrote since kmsg's read position as text lines: all of them,
 * or (watched_only) from a task dump only the watched tasks, each from its "task:" line on. */
static void copy_kmsg(int kmsg, bool watched_only)
{
	bool keep = !watched_only;

	for (;;) {
		ssize_t n = read(kmsg, buf, sizeof(buf) - 1);

		if (n < 0 && errno == EPIPE)
			continue; /* overwritten records: go on with the next */
		if (n <= 0)
			return;
		char *text = memchr(buf, ';', (size_t)n);

		if (!text++)
			continue;
		if (watched_only && !strncmp(text, "task:", 5)) {
			char comm[64];

			snprintf(comm, sizeof(comm), "%.*s", (int)strcspn(text + 5, " \n"),
				 text + 5);
			keep = watched(comm);
		}
		if (keep)
			out(text, (size_t)(buf + n - text));
	}
}

/* Writes key to /proc/sysrq-trigger (opened at start: no path lookup now) and copies what the
 * kernel printed for it. */
static void sysrq(int trigger, char key, int kmsg, bool watched_only)
{
	/* Only what this key prints: the log may hold many hung-task reports by now. */
	lseek(kmsg, 0, SEEK_END);
	if (write(trigger, &key, 1) != 1)
		outf("(sysrq %c: %s)\n", key, strerror(errno));
	copy_kmsg(kmsg, watched_only);
}

/* The state letter and command of /proc/PID[/task/TID]/stat in buf. */
static bool parse_stat(char *state, char *comm, size_t commlen)
{
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');

	if (!open || !close || close[1] != ' ')
		return false;
	snprintf(comm, commlen, "%.*s", (int)(close - open - 1), open + 1);
	*state = close[2];
	return true;
}

static void dump_thread(const char *pid, const char *tid, const char *comm, char state)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/%s/task/%s/wchan", pid, tid);
	outf("thread %s/%s %s state %c wchan ", pid, tid, comm, state);
	if (slurp(path) > 0)
		out(buf, strlen(buf));
	out("\n", 1);
	snprintf(path, sizeof(path), "/proc/%s/task/%s/stack", pid, tid);
	if (slurp(path) > 0)
		out(buf, strlen(buf));
}

/* Calls fn(name) for each numeric entry of dir. */
static void each_number(const char *dir, void (*fn)(const char *dir, const char *name, void *),
			void *arg)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (fd < 0)
		return;
	while ((n = syscall(SYS_getdents64, fd, dents, sizeof(dents))) > 0) {
		for (long at = 0; at < n;) {
			struct {
				unsigned long long ino;
				long long off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(dents + at);

			if (d->name[0] >= '1' && d->name[0] <= '9')
				fn(dir, d->name, arg);
			at += d->reclen;
		}
	}
	close(fd);
}

struct proc {
	const char *pid;
	char comm[64];
	bool watched;
};

static void visit_thread(const char *dir, const char *tid, void *arg)
{
	struct proc *p = arg;
	char path[96], state, comm[64];

	snprintf(path, sizeof(path), "%s/%s/stat", dir, tid);
	if (slurp(path) <= 0 || !parse_stat(&state, comm, sizeof(comm)))
		return;
	if (p->watched || state == 'D' || state == 'R')
		dump_thread(p->pid, tid, comm, state);
}

/* arg points to true: only the watched programs (every thread); false: every process, with
 * its blocked and running threads. */
static void visit_process(const char *dir, const char *pid, void *arg)
{
	struct proc p = { .pid = pid };
	bool only_watched = *(bool *)arg;
	char path[64], state;

	snprintf(path, sizeof(path), "%s/%s/stat", dir, pid);
	if (slurp(path) <= 0 || !parse_stat(&state, p.comm, sizeof(p.comm)))
		return;
	p.watched = watched(p.comm);
	if (only_watched != p.watched)
		return;
	outf("process %s %s state %c\n", pid, p.comm, state);
	snprintf(path, sizeof(path), "%s/%s/task", dir, pid);
	each_number(path, visit_thread, &p);
}

/* Touches the stack this program will use, so that it is resident and locked before the
 * machine runs out of memory. */
static void __attribute__((noinline)) prefault_stack(void)
{
	volatile char probe[128 * 1024];

	memset((char *)probe, 0, sizeof(probe));
}

static int usage(FILE *f, int status)
{
	fputs("Usage: hangdump --after SECONDS [--watch COMM]...\n"
	      "\n"
	      "Sleeps SECONDS with its memory locked, then writes to stdout what every task of\n"
	      "the machine is doing (sysrq w and m, /proc/meminfo, /proc/vmstat, the wchan and\n"
	      "stack of blocked, running and watched threads), for the log of a test that hung.\n"
	      "--watch (up to 16) names the start of the commands of tasks whose every thread\n"
	      "is shown.\n",
	      f);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "after", required_argument, NULL, 'a' },
		{ "watch", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct timespec wake = { 0 };
	long after = 0;
	char *end;
	int c, kmsg, trigger;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			after = strtol(optarg, &end, 10);
			if (*end || after <= 0)
				return usage(stderr, 2);
			break;
		case 'w':
			if (nwatch == MAX_WATCH)
				return usage(stderr, 2);
			watch[nwatch++] = optarg;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (!after || optind < argc)
		return usage(stderr, 2);
	wake.tv_sec = after;
	/* Everything this process will touch, touched and locked now. */
	memset(buf, 0, sizeof(buf));
	memset(dents, 0, sizeof(dents));
	memset(line, 0, sizeof(line));
	prefault_stack();
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		fprintf(stderr, "hangdump: mlockall: %s (the dump may not come)\n",
			strerror(errno));
	/* What the kernel allocates for it (proc dentries, tty buffers) must not wait for swap
	 * writes: those may be what hangs. */
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		fprintf(stderr, "hangdump: PR_SET_IO_FLUSHER: %s\n", strerror(errno));
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	trigger = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
	if (trigger < 0)
		kmsg = -1; /* nothing to read back */
	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &wake, &wake) == EINTR)
		;
	outf("=== hangdump: the job still runs after %ld s: what the machine is doing\n", after);
	/* Most telling first, as a slow console may not take it all before the guest is killed,
	 * and from the kernel's own dumps (read back from its log: nothing to allocate), as
	 * reading /proc may itself wait on reclaim: the blocked tasks, every thread of the
	 * watched programs whatever its state, memory; then /proc. */
	if (kmsg >= 0) {
		sysrq(trigger, 'w', kmsg, false);
		sysrq(trigger, 't', kmsg, true);
		sysrq(trigger, 'm', kmsg, false);
	}
	dump_file("/proc/meminfo");
	dump_file("/proc/vmstat");
	each_number("/proc", visit_process, &(bool){ true });
	each_number("/proc", visit_process, &(bool){ false });
	outf("=== hangdump: end\n");
	return 0;
}
