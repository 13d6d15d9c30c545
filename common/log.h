/* log.h — one line on stderr per event, with a UTC timestamp and the process id.
 *
 * A thread that serves a swap device must not write to a file: the file's page may itself be
 * swapped out to the very device it serves (seen: a queue thread stuck swapping in its log
 * file's tmpfs page). A daemon therefore defers: after log_defer(), log_msg only copies the
 * line into a buffer locked in memory, and a thread off the I/O path writes it out with
 * log_flush(). */
#ifndef LINESWAP_LOG_H
#define LINESWAP_LOG_H

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* From now on log_msg buffers (up to LOG_BUFFER bytes; beyond, lines are counted as dropped
 * and the count is written with the next flush). */
#define LOG_BUFFER (64 * 1024)
void log_defer(void);
/* Writes the buffered lines to stderr (may block: call it from a thread that serves no I/O). */
void log_flush(void);

#endif
