/* Unit tests: encoding of ublk control commands into io_uring SQEs (ublk-server/core/control.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "control.h"

/* The ioctl encoding of GET_FEATURES: _IOR('u', 0x13, 32-byte struct ublksrv_ctrl_cmd). */
static void test_get_features_opcode(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct ublksrv_ctrl_cmd), 32);
	assert_int_equal(UBLK_U_CMD_GET_FEATURES, 0x80207513u);
}

static void test_prep_fills_sqe128(void **state)
{
	struct io_uring_sqe sqe[2];
	uint64_t out;
	struct ublksrv_ctrl_cmd cmd = {
		.dev_id = UBLK_DEV_ID_NONE,
		.queue_id = UBLK_QUEUE_ID_NONE,
		.len = sizeof(out),
		.addr = (uint64_t)(uintptr_t)&out,
	};
	const uint8_t *tail;

	(void)state;
	memset(sqe, 0xa5, sizeof(sqe)); /* stale bytes from an earlier use of the slot */
	ublk_ctrl_prep(sqe, 42, UBLK_U_CMD_GET_FEATURES, &cmd);

	assert_int_equal(sqe->opcode, IORING_OP_URING_CMD);
	assert_int_equal(sqe->fd, 42);
	assert_int_equal(sqe->cmd_op, UBLK_U_CMD_GET_FEATURES);
	assert_int_equal(sqe->flags, 0);
	assert_int_equal(sqe->user_data, 0);
	assert_memory_equal(sqe->cmd, &cmd, sizeof(cmd));
	/* Everything after the command, to the end of the 128-byte SQE, is zero. */
	tail = (const uint8_t *)sqe->cmd + sizeof(cmd);
	for (const uint8_t *p = tail; p < (const uint8_t *)(sqe + 2); p++)
		assert_int_equal(*p, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_features_opcode),
		cmocka_unit_test(test_prep_fills_sqe128),
	};
	return cmocka_run_group_tests_name("ublk_ctrl", tests, NULL, NULL);
}
