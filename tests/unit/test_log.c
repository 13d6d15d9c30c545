/* Unit tests: the log (common/log.c): lines written at once, or, once deferred, held in memory
 * until a flush (a daemon's I/O threads must not write to a file that may be swapped out). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char path[] = "/tmp/lineswap-log-XXXXXX";

/* What stderr (the file) holds now. */
static const char *logged(void)
{
	static char text[2 * LOG_BUFFER];
	int fd = open(path, O_RDONLY);
	ssize_t n = read(fd, text, sizeof(text) - 1);

	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return text;
}

static void test_direct_then_deferred(void **state)
{
	(void)state;
	log_msg("first %d", 1);
	assert_non_null(strstr(logged(), "] first 1\n"));

	log_defer();
	log_msg("second %s", "line");
	assert_null(strstr(logged(), "second")); /* held back */
	log_flush();
	assert_non_null(strstr(logged(), "] second line\n"));
	log_flush(); /* nothing twice */
	const char *first = strstr(logged(), "second line");

	assert_null(strstr(first + 1, "second line"));

	/* A full buffer drops lines, and says how many. */
	for (int i = 0; i < 2 * LOG_BUFFER / 40; i++)
		log_msg("filler line %05d to overflow the buffer", i);
	log_flush();
	assert_non_null(strstr(logged(), "log lines dropped: the log was full"));
	assert_non_null(strstr(logged(), "filler line 00000"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_then_deferred),
	};
	int fd = mkstemp(path), ret;

	dup2(fd, STDERR_FILENO);
	close(fd);
	ret = cmocka_run_group_tests_name("log", tests, NULL, NULL);
	unlink(path);
	return ret;
}
