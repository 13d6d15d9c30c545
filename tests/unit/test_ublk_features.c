/* Unit tests: naming of ublk feature bits (ublk-server/core/ublk_features.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ublk_features.h"
#include "ublk_abi.h"

/* What the bookworm-backports 6.12 kernel reports (docs/test-vm.md, "Kernel"). */
static void test_format_6_12_kernel(void **state)
{
	char buf[512];
	size_t n;

	(void)state;
	n = ublk_features_format(0x1fe, ",", buf, sizeof(buf));
	assert_string_equal(buf, "URING_CMD_COMP_IN_TASK,NEED_GET_DATA,USER_RECOVERY,"
				 "USER_RECOVERY_REISSUE,UNPRIVILEGED_DEV,CMD_IOCTL_ENCODE,"
				 "USER_COPY,ZONED");
	assert_int_equal(n, strlen(buf));
}

/* What Debian's 7.3 kernel (trixie-backports) reports: every bit up to 20 has a name. */
static void test_format_7_3_kernel(void **state)
{
	char buf[512];

	(void)state;
	ublk_features_format(0x1fffff, ",", buf, sizeof(buf));
	assert_null(strstr(buf, "BIT"));
	assert_non_null(strstr(buf, ",BUF_REG_OFF_DAEMON,BATCH_IO,INTEGRITY,SAFE_STOP_DEV,"
				    "NO_AUTO_PART_SCAN,SHMEM_ZC,IO_DESC_SIZE"));
}

static void test_format_none(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(ublk_features_format(0, ",", buf, sizeof(buf)), 4);
	assert_string_equal(buf, "none");
}

static void test_format_unnamed_bits(void **state)
{
	char buf[64];

	(void)state;
	ublk_features_format(UBLK_F_USER_COPY | (1ULL << 40) | (1ULL << 63), " ", buf, sizeof(buf));
	assert_string_equal(buf, "USER_COPY BIT40 BIT63");
}

/* A short buffer is truncated, NUL-terminated, and the needed length is still reported. */
static void test_format_truncates(void **state)
{
	char full[512], small[10];
	size_t need;

	(void)state;
	need = ublk_features_format(0x1fe, ",", full, sizeof(full));
	memset(small, 'x', sizeof(small));
	assert_int_equal(ublk_features_format(0x1fe, ",", small, sizeof(small)), need);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, full, sizeof(small) - 1);
	assert_int_equal(ublk_features_format(0x1fe, ",", NULL, 0), need);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(ublk_feature_name(0), "ZERO_COPY");
	assert_string_equal(ublk_feature_name(7), "USER_COPY");
	assert_string_equal(ublk_feature_name(14), "BUF_REG_OFF_DAEMON");
	assert_string_equal(ublk_feature_name(18), "NO_AUTO_PART_SCAN");
	assert_string_equal(ublk_feature_name(20), "IO_DESC_SIZE");
	assert_null(ublk_feature_name(21));
	assert_null(ublk_feature_name(64));
	assert_null(ublk_feature_name(~0u));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_6_12_kernel),
		cmocka_unit_test(test_format_7_3_kernel),
		cmocka_unit_test(test_format_none),
		cmocka_unit_test(test_format_unnamed_bits),
		cmocka_unit_test(test_format_truncates),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("ublk_features", tests, NULL, NULL);
}
