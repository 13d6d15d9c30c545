/* log.c — one line on stderr per event, written at once or deferred (log.h). */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool deferred;
static char pending[LOG_BUFFER]; /* lines not yet written, under lock */
static size_t pending_len;
static unsigned long dropped;
static char out[LOG_BUFFER]; /* what log_flush writes, outside the lock */

void log_msg(const char *fmt, ...)
{
	char line[1024], when[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	int n, m;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", gmtime_r(&now, &tm));
	n = snprintf(line, sizeof(line), "%s [%d] ", when, getpid());
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = m < 0 ? n : n + m < (int)sizeof(line) - 1 ? n + m : (int)sizeof(line) - 2;
	line[n++] = '\n';
	pthread_mutex_lock(&lock);
	if (!deferred) {
		pthread_mutex_unlock(&lock);
		(void)!write(STDERR_FILENO, line, (size_t)n);
		return;
	}
	if (pending_len + (size_t)n <= sizeof(pending)) {
		memcpy(pending + pending_len, line, (size_t)n);
		pending_len += (size_t)n;
	} else {
		dropped++;
	}
	pthread_mutex_unlock(&lock);
}

void log_defer(void)
{
	pthread_mutex_lock(&lock);
	deferred = true;
	pthread_mutex_unlock(&lock);
}

void log_flush(void)
{
	unsigned long lost;
	size_t len;

	pthread_mutex_lock(&lock);
	len = pending_len;
	memcpy(out, pending, len);
	pending_len = 0;
	lost = dropped;
	dropped = 0;
	pthread_mutex_unlock(&lock);
	for (size_t at = 0; at < len;) {
		ssize_t n = write(STDERR_FILENO, out + at, len - at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		at += (size_t)n;
	}
	if (lost) {
		char line[96];
		int n = snprintf(line, sizeof(line), "(%lu log lines dropped: the log was full)\n",
				 lost);

		(void)!write(STDERR_FILENO, line, (size_t)n);
	}
}
