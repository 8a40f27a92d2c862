/* log.h - one line per event, Postfix-like: "ID: key=value, ..." to stderr (-f) or syslog. */
#ifndef MAIL_LOG_H
#define MAIL_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Opens the log. to_stderr: 1 writes "time prog[pid]: line" to stderr, 0 uses syslog(LOG_MAIL). */
void log_init(const char *prog, int to_stderr);
void log_set_level(enum log_level level);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Startup only: logs and exits with the given status (78 for configuration errors). */
_Noreturn void log_fatal(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Our own broken invariant: logs and aborts. */
_Noreturn void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
