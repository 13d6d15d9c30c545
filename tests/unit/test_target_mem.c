/* Unit tests: the mem target (ublk-server/targets/mem.c), driven the way a queue drives it, with
 * per-tag buffers standing in for the kernel's request data. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue.h"
#include "targets.h"

#define PAGES  256
#define MAX_IO (32 * UBLK_PAGE_SIZE)

struct fixture {
	char path[64];
	struct ublk_target t;
	struct ublk_queue q;
	struct ublk_req req;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->path, sizeof(f->path), "/tmp/lineswap-mem-%d", getpid());
	unlink(f->path);
	f->t = (struct ublk_target){ .ops = &ublk_target_mem,
				     .nr_pages = PAGES,
				     .store_path = f->path };
	f->q = (struct ublk_queue){ .depth = 1, .max_io_bytes = MAX_IO, .user_copy = false };
	f->q.bufs = aligned_alloc(UBLK_PAGE_SIZE, MAX_IO);
	f->req = (struct ublk_req){ .q = &f->q, .tag = 0 };
	*state = f;
	return f->t.ops->open(&f->t, false);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->t.priv)
		f->t.ops->close(&f->t, false);
	assert_int_equal(access(f->path, F_OK), -1); /* closing without keep frees the store */
	free(f->q.bufs);
	free(f);
	return 0;
}

/* Content that depends on the device page and the offset in it, so any run can be checked. */
static void fill(uint8_t *buf, uint64_t page, uint32_t n, uint8_t salt)
{
	for (uint32_t p = 0; p < n; p++)
		for (size_t i = 0; i < UBLK_PAGE_SIZE; i++)
			buf[p * UBLK_PAGE_SIZE + i] = (uint8_t)((page + p) * 131 + i * 7 + salt);
}

static int io(struct fixture *f, uint8_t op, uint64_t page, uint32_t n)
{
	f->req.op = op;
	f->req.page = page;
	f->req.nr_pages = n;
	switch (op) {
	case UBLK_IO_OP_READ:
		return f->t.ops->read_pages(&f->t, &f->req);
	case UBLK_IO_OP_WRITE:
		return f->t.ops->write_pages(&f->t, &f->req);
	default:
		return f->t.ops->discard_pages(&f->t, &f->req);
	}
}

static void expect_pages(struct fixture *f, uint64_t page, uint32_t n, int salt /* -1: zeros */)
{
	uint8_t *want = malloc((size_t)n * UBLK_PAGE_SIZE);

	memset(f->q.bufs, 0xee, MAX_IO);
	assert_int_equal(io(f, UBLK_IO_OP_READ, page, n), 0);
	if (salt < 0)
		memset(want, 0, (size_t)n * UBLK_PAGE_SIZE);
	else
		fill(want, page, n, (uint8_t)salt);
	assert_memory_equal(f->q.bufs, want, (size_t)n * UBLK_PAGE_SIZE);
	free(want);
}

static void test_unwritten_reads_zero_without_memory(void **state)
{
	struct fixture *f = *state;

	expect_pages(f, 0, 32, -1);
	expect_pages(f, PAGES - 32, 32, -1);
	assert_int_equal(f->t.ops->resident_bytes(&f->t), 0);
}

static void test_write_read_discard(void **state)
{
	struct fixture *f = *state;

	fill(f->q.bufs, 10, 5, 1);
	assert_int_equal(io(f, UBLK_IO_OP_WRITE, 10, 5), 0);
	assert_int_equal(f->t.ops->resident_bytes(&f->t), 5 * UBLK_PAGE_SIZE);
	expect_pages(f, 10, 5, 1);
	/* A read across written and unwritten pages: zeros around the data. */
	memset(f->q.bufs, 0xee, MAX_IO);
	assert_int_equal(io(f, UBLK_IO_OP_READ, 8, 9), 0);
	for (size_t i = 0; i < 2 * UBLK_PAGE_SIZE; i++)
		assert_int_equal(f->q.bufs[i], 0);
	for (size_t i = 7 * UBLK_PAGE_SIZE; i < 9 * UBLK_PAGE_SIZE; i++)
		assert_int_equal(f->q.bufs[i], 0);
	/* Discard the middle page: it reads as zeros, its neighbours keep their data. */
	assert_int_equal(io(f, UBLK_IO_OP_DISCARD, 12, 1), 0);
	expect_pages(f, 12, 1, -1);
	expect_pages(f, 10, 2, 1);
	expect_pages(f, 13, 2, 1);
	assert_int_equal(f->t.ops->resident_bytes(&f->t), 4 * UBLK_PAGE_SIZE);
	assert_int_equal(f->t.ops->flush(&f->t, &f->req), 0);
}

/* A new daemon reopening the store finds every written page, and only those. */
static void test_recovery_keeps_pages(void **state)
{
	struct fixture *f = *state;

	fill(f->q.bufs, 100, 3, 9);
	assert_int_equal(io(f, UBLK_IO_OP_WRITE, 100, 3), 0);
	fill(f->q.bufs, PAGES - 1, 1, 4);
	assert_int_equal(io(f, UBLK_IO_OP_WRITE, PAGES - 1, 1), 0);
	f->t.ops->close(&f->t, true);
	assert_int_equal(access(f->path, F_OK), 0);

	assert_int_equal(f->t.ops->open(&f->t, true), 0);
	assert_int_equal(f->t.ops->resident_bytes(&f->t), 4 * UBLK_PAGE_SIZE);
	expect_pages(f, 100, 3, 9);
	expect_pages(f, PAGES - 1, 1, 4);
	expect_pages(f, 0, 32, -1);
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct ublk_target other = { .ops = &ublk_target_mem,
				     .nr_pages = PAGES,
				     .store_path = f->path };

	/* A store that already exists is not taken over by a new device, and is kept. */
	assert_int_equal(other.ops->open(&other, false), -EEXIST);
	assert_non_null(strstr(other.error, f->path));
	assert_int_equal(access(f->path, F_OK), 0);
	/* Recovery with another size is refused, and the store is kept. */
	other.nr_pages = PAGES * 2;
	assert_int_equal(other.ops->open(&other, true), -EINVAL);
	assert_int_equal(access(f->path, F_OK), 0);
	/* Recovery of a missing store fails. */
	other.store_path = "/tmp/lineswap-mem-does-not-exist";
	assert_int_equal(other.ops->open(&other, true), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unwritten_reads_zero_without_memory, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_read_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_keeps_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};
	return cmocka_run_group_tests_name("target_mem", tests, NULL, NULL);
}
