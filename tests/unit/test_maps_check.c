/* Checking an mmap-mode client's claim against its /proc/PID/maps (hints/maps_check.c): real
 * mappings of this process, and hostile claims — another file at the address, a private or
 * read-only mapping, another offset, a hole, a range past the mapping, sizes that wrap; and
 * mmap mode's segment headers in anonymous memory, where they may be and nowhere else. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "maps_check.h"

#define PAGES 64
#define SIZE  (PAGES * 4096)

static char buf[4096];

static int temp_file(struct stat *st)
{
	char path[] = "/tmp/lineswap-maps-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 4 * SIZE), 0);
	assert_int_equal(fstat(fd, st), 0);
	return fd;
}

/* The claim checked against this process's maps. */
static int check_claim(const struct maps_claim *c)
{
	int maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	int ret;

	assert_true(maps >= 0);
	ret = maps_check(maps, c, buf, sizeof(buf));
	close(maps);
	return ret;
}

static int check(uint64_t base, uint64_t bytes, uint64_t offset, const struct stat *st)
{
	struct maps_claim c = {
		.base = base, .bytes = bytes, .offset = offset, .dev = st->st_dev, .ino = st->st_ino
	};

	return check_claim(&c);
}

static void test_parse(void **state)
{
	struct maps_line m;

	(void)state;
	assert_true(maps_line_parse("7f0000000000-7f0000040000 rw-s 00010000 fd:01 1234 "
				    "/dev/ublkb0",
				    &m));
	assert_int_equal(m.start, 0x7f0000000000ull);
	assert_int_equal(m.end, 0x7f0000040000ull);
	assert_int_equal(m.offset, 0x10000);
	assert_int_equal(m.major, 0xfd);
	assert_int_equal(m.minor, 1);
	assert_int_equal(m.ino, 1234);
	assert_true(m.shared && m.writable);
	assert_true(maps_line_parse("1000-2000 r--p 00000000 00:00 0", &m));
	assert_false(m.shared || m.writable);
	assert_false(maps_line_parse("2000-1000 rw-s 0 00:00 0", &m)); /* backwards */
	assert_false(maps_line_parse("1000-2000 rw-s 0 00:00", &m));
	assert_false(maps_line_parse("garbage", &m));
}

static void test_real_mappings(void **state)
{
	struct stat st, other_st;
	int fd = temp_file(&st), other = temp_file(&other_st);

	(void)state;
	/* A shared writable mapping of the file at offset 2 * SIZE. */
	char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * SIZE);
	uint64_t base = (uint64_t)(uintptr_t)p;

	assert_true(p != MAP_FAILED);
	assert_int_equal(check(base, SIZE, 2 * SIZE, &st), 1);
	assert_int_equal(check(base + 4096, SIZE - 8192, 2 * SIZE + 4096, &st), 1);
	/* Hostile claims: another offset, another file, past the end, wrapping around. */
	assert_int_equal(check(base, SIZE, SIZE, &st), 0);
	assert_int_equal(check(base, SIZE, 2 * SIZE, &other_st), 0);
	assert_int_equal(check(base, SIZE + 4096, 2 * SIZE, &st), 0);
	assert_int_equal(check(base - 4096, SIZE, 2 * SIZE - 4096, &st), 0);
	assert_int_equal(check(base, UINT64_MAX - base + 2, 2 * SIZE, &st), 0);
	assert_int_equal(check(base, 0, 2 * SIZE, &st), 0);
	/* Two mappings side by side, consecutive in the file: one claim covers both. */
	assert_true(mmap(p + SIZE / 2, SIZE / 2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
			 2 * SIZE + SIZE / 2) != MAP_FAILED);
	assert_int_equal(check(base, SIZE, 2 * SIZE, &st), 1);
	/* Its second half from another offset of the file, then from another file. */
	assert_true(mmap(p + SIZE / 2, SIZE / 2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
			 0) != MAP_FAILED);
	assert_int_equal(check(base, SIZE, 2 * SIZE, &st), 0);
	assert_int_equal(check(base, SIZE / 2, 2 * SIZE, &st), 1);
	assert_true(mmap(p + SIZE / 2, SIZE / 2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 other, 2 * SIZE + SIZE / 2) != MAP_FAILED);
	assert_int_equal(check(base, SIZE, 2 * SIZE, &st), 0);
	/* Private, read-only, or a hole. */
	assert_true(mmap(p + SIZE / 2, SIZE / 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
			 fd, 2 * SIZE + SIZE / 2) != MAP_FAILED);
	assert_int_equal(check(base, SIZE, 2 * SIZE, &st), 0);
	assert_true(mmap(p + SIZE / 2, SIZE / 2, PROT_READ, MAP_SHARED | MAP_FIXED, fd,
			 2 * SIZE + SIZE / 2) != MAP_FAILED);
	assert_int_equal(check(base, SIZE, 2 * SIZE, &st), 0);
	assert_int_equal(munmap(p + SIZE / 2, 4096), 0);
	assert_int_equal(check(base, SIZE, 2 * SIZE, &st), 0);
	assert_int_equal(check(base, SIZE / 2, 2 * SIZE, &st), 1);
	munmap(p, SIZE);
	assert_int_equal(check(base, SIZE / 2, 2 * SIZE, &st), 0);
	close(fd);
	close(other);
}

static int check_headers(uint64_t base, uint64_t offset, const struct stat *st, uint64_t header)
{
	struct maps_claim c = { .base = base,
				.bytes = SIZE,
				.offset = offset,
				.dev = st->st_dev,
				.ino = st->st_ino,
				.unit = SIZE / 4,
				.header = header };

	return check_claim(&c);
}

/* Mmap mode's segment headers: anonymous memory at the start of a unit, up to the header's
 * size, and nowhere else. */
static void test_anonymous_headers(void **state)
{
	struct stat st;
	int fd = temp_file(&st);
	char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * SIZE);
	uint64_t base = (uint64_t)(uintptr_t)p;
	const int rw = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

	(void)state;
	assert_true(p != MAP_FAILED);
	/* Two pages at the start of the first unit and one at the third's. */
	assert_true(mmap(p, 8192, rw, anon, -1, 0) != MAP_FAILED);
	assert_true(mmap(p + SIZE / 2, 4096, rw, anon, -1, 0) != MAP_FAILED);
	assert_int_equal(check_headers(base, 2 * SIZE, &st, 8192), 1);
	assert_int_equal(check_headers(base, 2 * SIZE, &st, 0), 0);    /* none allowed */
	assert_int_equal(check_headers(base, 2 * SIZE, &st, 4096), 0); /* longer than allowed */
	assert_int_equal(check_headers(base, SIZE, &st, 8192), 0);     /* the rest elsewhere */
	/* Anonymous inside a unit, not at its start. */
	assert_true(mmap(p + SIZE / 4 + 4096, 4096, rw, anon, -1, 0) != MAP_FAILED);
	assert_int_equal(check_headers(base, 2 * SIZE, &st, 8192), 0);
	assert_true(mmap(p + SIZE / 4 + 4096, 4096, rw, MAP_SHARED | MAP_FIXED, fd,
			 2 * SIZE + SIZE / 4 + 4096) != MAP_FAILED);
	assert_int_equal(check_headers(base, 2 * SIZE, &st, 8192), 1);
	/* At a unit's start but read-only, or a private mapping of the file itself. */
	assert_true(mmap(p + SIZE / 2, 4096, PROT_READ, anon, -1, 0) != MAP_FAILED);
	assert_int_equal(check_headers(base, 2 * SIZE, &st, 8192), 0);
	assert_true(mmap(p + SIZE / 2, 4096, rw, MAP_PRIVATE | MAP_FIXED, fd,
			 2 * SIZE + SIZE / 2) != MAP_FAILED);
	assert_int_equal(check_headers(base, 2 * SIZE, &st, 8192), 0);
	/* A claim that is all anonymous memory does not hold. */
	assert_true(mmap(p, SIZE, rw, anon, -1, 0) != MAP_FAILED);
	assert_int_equal(check_headers(base, 2 * SIZE, &st, 8192), 0);
	munmap(p, SIZE);
	close(fd);
}

/* Lines are read across pieces of the buffer; a line longer than the buffer is an error. */
static void test_small_buffers(void **state)
{
	struct stat st;
	int fd = temp_file(&st), maps;
	char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct maps_claim c = {
		.base = (uint64_t)(uintptr_t)p, .bytes = SIZE, .dev = st.st_dev, .ino = st.st_ino
	};
	char small[160], tiny[16];

	(void)state;
	assert_true(p != MAP_FAILED);
	maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	assert_int_equal(maps_check(maps, &c, small, sizeof(small)), 1);
	assert_int_equal(maps_check(maps, &c, tiny, sizeof(tiny)), -ENAMETOOLONG);
	close(maps);
	munmap(p, SIZE);
	close(fd);
}

static int any(uint64_t offset, uint64_t bytes, const struct stat *st)
{
	struct maps_claim f[2] = {
		{ .offset = 100 * SIZE, .bytes = SIZE, .dev = st->st_dev, .ino = st->st_ino },
		{ .offset = offset, .bytes = bytes, .dev = st->st_dev, .ino = st->st_ino },
	};
	bool mapped[2];

	/* Processes this test may not inspect (a sandbox's own) are counted, not read. */
	assert_true(maps_find_mappers(f, 2, mapped, buf, sizeof(buf)) >= 0);
	assert_false(mapped[0]); /* beyond the file: never mapped */
	return mapped[1];
}

static int leader_fd, leader_ready, leader_done;

static void *mapping_thread(void *arg)
{
	void *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, leader_fd, SIZE);
	char c;

	(void)arg;
	(void)!write(leader_ready, p == MAP_FAILED ? "n" : "y", 1);
	(void)!read(leader_done, &c, 1);
	_exit(0);
}

/* Before a released range is discarded, every process's maps are searched for it: here a
 * child's mapping, private and read-only, keeps it held. */
static void test_any_process(void **state)
{
	struct stat st;
	int fd = temp_file(&st), ready[2], done[2];
	char c;

	(void)state;
	assert_int_equal(any(0, 4 * SIZE, &st), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(done), 0);
	pid_t pid = fork();

	if (pid == 0) {
		void *p = mmap(NULL, SIZE, PROT_READ, MAP_PRIVATE, fd, 2 * SIZE);

		(void)!write(ready[1], p == MAP_FAILED ? "n" : "y", 1);
		(void)!read(done[0], &c, 1);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_int_equal(any(2 * SIZE, SIZE, &st), 1);
	assert_int_equal(any(2 * SIZE + SIZE - 4096, 4096, &st), 1);
	assert_int_equal(any(3 * SIZE, SIZE, &st), 0);
	assert_int_equal(any(0, 2 * SIZE, &st), 0);
	assert_int_equal(any(0, 2 * SIZE + 1, &st), 1);
	(void)!write(done[1], "x", 1);
	waitpid(pid, NULL, 0);
	assert_int_equal(any(0, 4 * SIZE, &st), 0);

	/* A process whose first thread has exited: its maps are found through its threads. */
	leader_fd = fd;
	leader_ready = ready[1];
	leader_done = done[0];
	pid = fork();
	if (pid == 0) {
		pthread_t t;

		pthread_create(&t, NULL, mapping_thread, NULL);
		pthread_exit(NULL);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	usleep(100 * 1000); /* the leader is gone by now */
	assert_int_equal(any(SIZE, SIZE, &st), 1);
	(void)!write(done[1], "x", 1);
	waitpid(pid, NULL, 0);
	assert_int_equal(any(0, 4 * SIZE, &st), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_real_mappings),
		cmocka_unit_test(test_anonymous_headers),
		cmocka_unit_test(test_small_buffers),
		cmocka_unit_test(test_any_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
