/* Unit tests: the device record and its files (ublk-server/core/state.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "remote.h"
#include "state.h"
#include "targets.h"

static const struct ublk_dev_conf example = {
	.dev_id = 3,
	.target = "mem",
	.size = 2ull << 30,
	.nr_queues = 2,
	.depth = 64,
	.max_io_bytes = 131072,
	.user_copy = true,
	.store = "/dev/shm/lineswap-ublk3.pages",
	.ops = &ublk_target_mem,
};

static void test_round_trip(void **state)
{
	struct ublk_dev_conf back;
	char text[8192];

	(void)state;
	assert_true(ublk_conf_format(&example, text, sizeof(text)) > 0);
	assert_true(ublk_conf_parse(text, &back, ublk_targets));
	assert_memory_equal(&back, &example, sizeof(back));
}

/* A name is optional: a record without one is read as unnamed, one with one keeps it. */
static void test_name_round_trip(void **state)
{
	struct ublk_dev_conf c = example, back;
	char text[8192];

	(void)state;
	assert_true(ublk_conf_format(&c, text, sizeof(text)) > 0);
	assert_null(strstr(text, "name="));
	strcpy(c.name, "swap-0.a_b");
	assert_true(ublk_conf_format(&c, text, sizeof(text)) > 0);
	assert_non_null(strstr(text, "\nname=swap-0.a_b\n"));
	assert_true(ublk_conf_parse(text, &back, ublk_targets));
	assert_memory_equal(&back, &c, sizeof(back));
	/* What add --name and devices.conf accept; the record is held to the same. */
	assert_true(ublk_name_valid("a"));
	assert_true(ublk_name_valid("Swap0"));
	assert_true(ublk_name_valid("a234567890123456789012345678901")); /* 31 */
	assert_false(ublk_name_valid(""));
	assert_false(ublk_name_valid("a2345678901234567890123456789012")); /* 32 */
	assert_false(ublk_name_valid("0swap"));
	assert_false(ublk_name_valid("-swap"));
	assert_false(ublk_name_valid(".swap"));
	assert_false(ublk_name_valid("sw/ap"));
	assert_false(ublk_name_valid("sw ap"));
	assert_false(ublk_name_valid("sw\"ap"));
}

/* The target's part of the record goes through the target's own keys and comes back equal;
 * what is not in the record (the secret) comes back empty. */
static void test_target_part_round_trip(void **state)
{
	struct ublk_dev_conf c = example, back;
	struct remote_conf *rc = remote_conf(&c);
	char text[8192];

	(void)state;
	strcpy(c.target, "remote");
	c.ops = &ublk_target_remote;
	c.ops->init_conf(&c);
	strcpy(rc->node[0], "rdma://10.0.0.1:7370");
	strcpy(rc->node[1], "tcp://10.0.0.2:7370");
	strcpy(rc->node[2], "tcp://[fe80::1]:7371");
	rc->nnodes = 3;
	rc->replicas = 2;
	rc->slab_bytes = 32u << 20;
	strcpy(rc->region, "00112233445566778899aabbccddeeff");
	rc->timeout_ms = 7000;
	rc->hint_uid = 1000;
	rc->hint_hold_ms = 300;
	assert_true(ublk_conf_format(&c, text, sizeof(text)) > 0);
	/* A pool's nodes, in their order: the placement names them by index. */
	assert_non_null(strstr(text, "\nnode=rdma://10.0.0.1:7370\nnode=tcp://10.0.0.2:7370\n"
				     "node=tcp://[fe80::1]:7371\nreplicas=2\n"));
	assert_true(ublk_conf_parse(text, &back, ublk_targets));
	assert_ptr_equal(back.ops, &ublk_target_remote);
	assert_memory_equal(&back, &c, sizeof(back));

	rc->secret_len = 3;
	memcpy(rc->secret, "abc", 3);
	assert_true(ublk_conf_format(&c, text, sizeof(text)) > 0);
	assert_null(strstr(text, "abc"));
}

/* Each malformed record is refused as a whole. */
static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"dev_id=3\n", /* fields missing */
		"dev_id=3\ntarget=mem\nsize=4097\nqueues=1\ndepth=1\nmax_io=4096\nuser_copy=1\n"
		"store=/x\n", /* size not a page multiple */
		"dev_id=3\ntarget=mem\nsize=4096\nqueues=0\ndepth=1\nmax_io=4096\nuser_copy=1\n"
		"store=/x\n", /* no queues */
		"dev_id=3\ntarget=mem\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\nuser_copy=2\n"
		"store=/x\n", /* not a boolean */
		"dev_id=3\ntarget=mem\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\nuser_copy=1\n"
		"store=/x\ncolour=blue\n", /* unknown key */
		"dev_id=3\ntarget=mem\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\nuser_copy=1\n"
		"store\n", /* no '=' */
		"dev_id=3\ntarget=averyveryverylongname\nsize=4096\nqueues=1\ndepth=1\nmax_io="
		"4096\n"
		"user_copy=1\nstore=/x\n", /* target name too long */
		"dev_id=3\ntarget=floppy\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\nuser_copy=1\n"
		"store=/x\n", /* no such target */
		"dev_id=3\nnode=tcp://"
		"a:1\ntarget=remote\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\n"
		"user_copy=1\nstore=/x\n", /* a target's key before the target */
		"dev_id=3\ntarget=mem\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\nuser_copy=1\n"
		"store=/x\nnode=tcp://a:1\n", /* another target's key */
		"dev_id=3\ntarget=remote\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\nuser_copy=1\n"
		"store=/x\nregion=xyz\n", /* a bad value of the target's */
		"dev_id=3\ntarget=mem\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\nuser_copy=1\n"
		"store=/x\nname=9lives\n", /* a bad name */
		"dev_id=3\ntarget=mem\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\nuser_copy=1\n"
		"store=/x\nname=a\nname=b\n", /* a name twice */
		"dev_id=3\ndev_id=3\ntarget=mem\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\n"
		"user_copy=1\nstore=/x\n", /* a key twice */
	};
	struct ublk_dev_conf c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(ublk_conf_parse(bad[i], &c, ublk_targets));
}

static void test_save_load_remove(void **state)
{
	char dir[] = "/tmp/lineswap-state-XXXXXX", path[4096];
	struct ublk_dev_conf c = example, back;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	setenv("LINESWAP_RUN_DIR", dir, 1);
	snprintf(c.store, sizeof(c.store), "%s/pages", dir);
	assert_int_equal(ublk_conf_save(&c), 0);
	assert_int_equal(ublk_conf_load(3, &back, ublk_targets), 0);
	assert_memory_equal(&back, &c, sizeof(c));
	assert_int_equal(ublk_conf_load(4, &back, ublk_targets), -2 /* ENOENT */);

	/* A record under another device's name is refused. */
	assert_true(ublk_state_path(path, sizeof(path), 5, "conf"));
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "dev_id=3\ntarget=mem\nsize=4096\nqueues=1\ndepth=1\nmax_io=4096\n"
		   "user_copy=1\nstore=/x\n");
	fclose(f);
	assert_int_equal(ublk_conf_load(5, &back, ublk_targets), -22 /* EINVAL */);
	unlink(path);

	f = fopen(c.store, "w");
	assert_non_null(f);
	fclose(f);
	ublk_state_remove(&c);
	assert_int_equal(access(c.store, F_OK), -1);
	assert_true(ublk_state_path(path, sizeof(path), 3, "conf"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(rmdir(dir), 0); /* nothing else was left behind */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_name_round_trip),
		cmocka_unit_test(test_target_part_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_save_load_remove),
	};
	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
