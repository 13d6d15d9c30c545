/* log.h — one line on stderr per event, with a UTC timestamp and the process id. */
#ifndef LINESWAP_LOG_H
#define LINESWAP_LOG_H

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
