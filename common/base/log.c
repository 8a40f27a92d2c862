/* log.c - the one logging sink: stderr lines with a timestamp, or syslog(LOG_MAIL). */
#include "log.h"
#include "buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
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

/* getpid(2) is a system call on every line otherwise (glibc does not cache it): the pid is
 * kept here and forgotten in a forked child, whose first line asks again. */
static long log_cached_pid = -1;

static void log_forget_pid(void)
{
	log_cached_pid = -1;
}

static void log_register_atfork(void)
{
	pthread_atfork(NULL, NULL, log_forget_pid);
}

static long log_getpid(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	long pid = __atomic_load_n(&log_cached_pid, __ATOMIC_RELAXED);
	if (pid < 0) {
		pthread_once(&once, log_register_atfork);
		pid = (long)getpid();
		__atomic_store_n(&log_cached_pid, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

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

/* The start of stderr lines, "Mon DD HH:MM:SS" and " PROG[PID]: ", each formatted again only
 * when the second (or the process) changes; under log_lock. */
static time_t log_ts_sec = -1;
static char log_ts[32];
static size_t log_ts_len;
static long log_pid = -1;
static char log_who[128];
static size_t log_who_len;

/* Writes all of line[0..len) to stderr (one write(2) for a line, as fprintf did). */
static void log_write_all(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, line, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		line += n;
		len -= (size_t)n;
	}
}

/* A message is one line: a control character (a user name with a newline, say) becomes '?',
 * so that nothing a client sends can forge a line for a log reader such as fail2ban. */
static void log_one_line(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	static const char *const tag[] = { "debug: ", "", "warning: ", "error: " };
	char line[2048];

	if (level < log_min)
		return;
	if (!log_to_stderr) {
		vsnprintf(line, sizeof(line), fmt, ap);
		log_one_line(line, strlen(line));
		syslog(prio[level], "%s%s", tag[level], line);
		return;
	}
	/* "TIMESTAMP.mmm PROG[PID]: TAGMESSAGE\n", the message cut to 2047 octets as before */
	char out[sizeof(log_ts) + 5 + sizeof(log_who) + 16 + sizeof(line)];
	struct timeval tv;
	long pid = log_getpid();
	gettimeofday(&tv, NULL);
	pthread_mutex_lock(&log_lock);
	if (tv.tv_sec != log_ts_sec) {
		struct tm tm;
		localtime_r(&tv.tv_sec, &tm);
		log_ts_len = strftime(log_ts, sizeof(log_ts), "%b %d %H:%M:%S", &tm);
		log_ts_sec = tv.tv_sec;
	}
	if (pid != log_pid) {
		int n = snprintf(log_who, sizeof(log_who), " %s[%ld]: ", log_prog, pid);
		log_who_len = n < 0                         ? 0
			      : (size_t)n < sizeof(log_who) ? (size_t)n
							    : sizeof(log_who) - 1;
		log_pid = pid;
	}
	size_t n = 0;
	long ms = (long)tv.tv_usec / 1000;
	memcpy(out, log_ts, log_ts_len);
	n += log_ts_len;
	out[n++] = '.';
	out[n++] = (char)('0' + ms / 100 % 10);
	out[n++] = (char)('0' + ms / 10 % 10);
	out[n++] = (char)('0' + ms % 10);
	memcpy(out + n, log_who, log_who_len);
	n += log_who_len;
	size_t tag_len = strlen(tag[level]);
	memcpy(out + n, tag[level], tag_len);
	n += tag_len;
	va_list ap_fast;
	va_copy(ap_fast, ap);
	int m = str_format_fast(out + n, sizeof(line), fmt, ap_fast);
	va_end(ap_fast);
	if (m < 0)
		m = vsnprintf(out + n, sizeof(line), fmt, ap);
	if (m < 0)
		m = 0;
	else if ((size_t)m >= sizeof(line))
		m = (int)sizeof(line) - 1;
	log_one_line(out + n, (size_t)m);
	n += (size_t)m;
	out[n++] = '\n';
	log_write_all(out, n);
	pthread_mutex_unlock(&log_lock);
}

#define LOG_FN(name, level)                 \
	void name(const char *fmt, ...)     \
	{                                   \
		va_list ap;                 \
		va_start(ap, fmt);          \
		log_vwrite(level, fmt, ap); \
		va_end(ap);                 \
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
