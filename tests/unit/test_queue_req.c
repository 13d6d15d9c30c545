/* Unit tests: turning the driver's request descriptors into page runs (ublk-server/core/queue.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "queue.h"

#define PAGES  1024 /* a 4 MiB device */
#define MAX_IO (128 * 1024)

static int parse(uint32_t op_flags, uint64_t sector, uint32_t sectors, struct ublk_req *req)
{
	struct ublksrv_io_desc iod = {
		.op_flags = op_flags,
		.start_sector = sector,
		.nr_sectors = sectors,
	};
	return ublk_req_from_desc(req, &iod, PAGES, MAX_IO);
}

static void test_valid(void **state)
{
	struct ublk_req req;

	(void)state;
	assert_int_equal(parse(UBLK_IO_OP_READ, 8, 16, &req), 0);
	assert_int_equal(req.op, UBLK_IO_OP_READ);
	assert_int_equal(req.page, 1);
	assert_int_equal(req.nr_pages, 2);
	/* Flags ride above the op byte and keep their UBLK_IO_F_* values (the swap flag tells a
	 * swap-out from a page-cache writeback in the stats). */
	assert_int_equal(parse(UBLK_IO_OP_WRITE | UBLK_IO_F_FUA, 0, MAX_IO >> 9, &req), 0);
	assert_int_equal(req.op, UBLK_IO_OP_WRITE);
	assert_int_equal(req.flags, UBLK_IO_F_FUA);
	assert_int_equal(req.nr_pages, MAX_IO / 4096);
	assert_int_equal(parse(UBLK_IO_OP_WRITE | UBLK_IO_F_SWAP, 0, 8, &req), 0);
	assert_int_equal(req.op, UBLK_IO_OP_WRITE);
	assert_true(req.flags & UBLK_IO_F_SWAP);
	/* The last page of the device. */
	assert_int_equal(parse(UBLK_IO_OP_READ, (PAGES - 1) * 8, 8, &req), 0);
	assert_int_equal(req.page, PAGES - 1);
	/* Discard may exceed the largest read/write request. */
	assert_int_equal(parse(UBLK_IO_OP_DISCARD, 0, PAGES * 8, &req), 0);
	assert_int_equal(req.nr_pages, PAGES);
	assert_int_equal(parse(UBLK_IO_OP_WRITE_ZEROES, 16, 8, &req), 0);
	assert_int_equal(parse(UBLK_IO_OP_FLUSH, 0, 0, &req), 0);
	assert_int_equal(req.nr_pages, 0);
}

static void test_invalid(void **state)
{
	struct ublk_req req;

	(void)state;
	assert_int_equal(parse(UBLK_IO_OP_READ, 1, 8, &req), -EINVAL);  /* not page-aligned */
	assert_int_equal(parse(UBLK_IO_OP_WRITE, 8, 7, &req), -EINVAL); /* partial page */
	assert_int_equal(parse(UBLK_IO_OP_WRITE, 8, 0, &req), -EINVAL); /* empty */
	assert_int_equal(parse(UBLK_IO_OP_READ, 0, (MAX_IO >> 9) + 8, &req), -EINVAL);
	assert_int_equal(parse(UBLK_IO_OP_READ, PAGES * 8, 8, &req), -EIO); /* past the end */
	assert_int_equal(parse(UBLK_IO_OP_READ, (PAGES - 1) * 8, 16, &req), -EIO);
	assert_int_equal(parse(UBLK_IO_OP_DISCARD, 0, (PAGES + 1) * 8, &req), -EIO);
	assert_int_equal(parse(UBLK_IO_OP_READ, UINT64_MAX & ~7ull, 8, &req), -EIO);
	assert_int_equal(parse(UBLK_IO_OP_WRITE_SAME, 0, 8, &req), -EOPNOTSUPP);
	assert_int_equal(parse(0x7f, 0, 8, &req), -EOPNOTSUPP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
	};
	return cmocka_run_group_tests_name("queue_req", tests, NULL, NULL);
}
