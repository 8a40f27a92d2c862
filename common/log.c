/* log.c - the one logging sink: stderr lines with a timestamp, or syslog(LOG_MAIL). */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/time.h>

static const char *log_prog = "mail";
static int log_to_stderr = 1;
static enum log_level log_min = LOG_LEVEL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(const char *prog, int to_stderr)
{
	log_prog = prog;
	log_to_stderr = to_stderr;
	if (!to_stderr)
		openlog(prog, LOG_PID | LOG_NDELAY, LOG_MAIL);
	if (getenv("MAIL_DEBUG"))
		log_min = LOG_LEVEL_DEBUG;
}

void log_set_level(enum log_level level)
{
	log_min = level;
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	static const char *const tag[] = { "debug: ", "", "warning: ", "error: " };
	char line[2048];

	if (level < log_min)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (!log_to_stderr) {
		syslog(prio[level], "%s%s", tag[level], line);
		return;
	}
	struct timeval tv;
	struct tm tm;
	char ts[32];
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%b %d %H:%M:%S", &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s.%03ld %s[%ld]: %s%s\n", ts, (long)tv.tv_usec / 1000, log_prog,
		(long)getpid(), tag[level], line);
	pthread_mutex_unlock(&log_lock);
}

#define LOG_FN(name, level)                          \
	void name(const char *fmt, ...)              \
	{                                            \
		va_list ap;                          \
		va_start(ap, fmt);                   \
		log_vwrite(level, fmt, ap);          \
		va_end(ap);                          \
	}
LOG_FN(log_debug, LOG_LEVEL_DEBUG)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_error, LOG_LEVEL_ERROR)

void log_fatal(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(status);
}

void log_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	abort();
}
