/* Unit tests: command-line number parsing (common/parse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse.h"

static void test_sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_true(parse_size("4096", &v));
	assert_int_equal(v, 4096);
	assert_true(parse_size("64K", &v));
	assert_int_equal(v, 65536);
	assert_true(parse_size("2G", &v));
	assert_int_equal(v, 2ull << 30);
	assert_true(parse_size("1GiB", &v));
	assert_int_equal(v, 1ull << 30);
	assert_true(parse_size("3mb", &v));
	assert_int_equal(v, 3ull << 20);
	assert_true(parse_size("1T", &v));
	assert_int_equal(v, 1ull << 40);
	assert_true(parse_size("0", &v));
	assert_int_equal(v, 0);
}

static void test_bad_sizes(void **state)
{
	static const char *const bad[] = {
		"",
		"G",
		"-1",
		" 1G",
		"1G ",
		"1.5G",
		"1X",
		"1GiBs",
		"1KK",
		"0x10",
		"18446744073709551616",
		"16777216T",
		"+4096",
	};
	uint64_t v = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(parse_size(bad[i], &v));
		assert_int_equal(v, 7); /* untouched on failure */
	}
	assert_false(parse_size(NULL, &v));
}

static void test_uint(void **state)
{
	uint64_t v;

	(void)state;
	assert_true(parse_uint("1", 1, 64, &v));
	assert_int_equal(v, 1);
	assert_true(parse_uint("64", 1, 64, &v));
	assert_false(parse_uint("65", 1, 64, &v));
	assert_false(parse_uint("0", 1, 64, &v));
	assert_false(parse_uint("-1", 0, 64, &v));
	assert_false(parse_uint("12a", 0, 64, &v));
	assert_false(parse_uint("", 0, 64, &v));
	assert_false(parse_uint("99999999999999999999", 0, UINT64_MAX, &v));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_uint),
	};
	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
