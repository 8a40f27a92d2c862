/* log.c - the one logging sink: stderr lines with a timestamp, or syslog(LOG_MAIL). */
#include "log.h"

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

/* Formats the conversions log lines use (%s %.*s %c %d %u %ld %lu %lld %llu %zd %zu %%, no
 * flags or widths) into dst[0..cap), cut at cap - 1 octets like vsnprintf; without stdio's
 * per-call set-up, which cost more than the rest of a log line. Returns the length, or -1
 * (nothing consumed from ap that matters: the caller formats with its own copy) for anything
 * else, which vsnprintf then does. */
static int log_format(char *dst, size_t cap, const char *fmt, va_list ap)
{
	size_t n = 0;
#define LOG_PUT(ch)                       \
	do {                              \
		char log_put_ch = (ch);   \
		if (n + 1 < cap)          \
			dst[n] = log_put_ch; \
		n++;                      \
	} while (0)
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			LOG_PUT(*f);
			continue;
		}
		f++;
		const char *str = NULL;
		size_t str_len = 0;
		bool neg = false;
		unsigned long long v = 0;
		bool number = true;
		if (*f == '%') {
			LOG_PUT('%');
			continue;
		} else if (*f == 's') {
			str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			str_len = strlen(str);
			number = false;
		} else if (f[0] == '.' && f[1] == '*' && f[2] == 's') {
			int prec = va_arg(ap, int);
			str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			str_len = prec < 0 ? strlen(str) : strnlen(str, (size_t)prec);
			f += 2;
			number = false;
		} else if (*f == 'c') {
			LOG_PUT((char)va_arg(ap, int));
			continue;
		} else if (*f == 'd' || *f == 'u') {
			if (*f == 'd') {
				long long x = va_arg(ap, int);
				neg = x < 0;
				v = neg ? 0ULL - (unsigned long long)x : (unsigned long long)x;
			} else {
				v = va_arg(ap, unsigned);
			}
		} else if ((f[0] == 'l' || f[0] == 'z') && (f[1] == 'd' || f[1] == 'u')) {
			bool is_long = f[0] == 'l';
			if (f[1] == 'd') {
				long long x = is_long ? va_arg(ap, long) : (long long)va_arg(ap, ssize_t);
				neg = x < 0;
				v = neg ? 0ULL - (unsigned long long)x : (unsigned long long)x;
			} else {
				v = is_long ? va_arg(ap, unsigned long) : va_arg(ap, size_t);
			}
			f++;
		} else if (f[0] == 'l' && f[1] == 'l' && (f[2] == 'd' || f[2] == 'u')) {
			if (f[2] == 'd') {
				long long x = va_arg(ap, long long);
				neg = x < 0;
				v = neg ? 0ULL - (unsigned long long)x : (unsigned long long)x;
			} else {
				v = va_arg(ap, unsigned long long);
			}
			f += 2;
		} else {
			return -1;
		}
		if (number) {
			char digits[24];
			size_t k = 0;
			do {
				digits[k++] = (char)('0' + v % 10);
				v /= 10;
			} while (v);
			if (neg)
				LOG_PUT('-');
			while (k)
				LOG_PUT(digits[--k]);
		} else {
			size_t room = n + 1 < cap ? cap - 1 - n : 0;
			if (room)
				memcpy(dst + n, str, str_len < room ? str_len : room);
			n += str_len;
		}
	}
#undef LOG_PUT
	if (cap)
		dst[n < cap ? n : cap - 1] = '\0';
	return n > INT32_MAX ? INT32_MAX : (int)n;
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
		log_who_len = n < 0 ? 0 : (size_t)n < sizeof(log_who) ? (size_t)n : sizeof(log_who) - 1;
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
	int m = log_format(out + n, sizeof(line), fmt, ap_fast);
	va_end(ap_fast);
	if (m < 0)
		m = vsnprintf(out + n, sizeof(line), fmt, ap);
	if (m < 0)
		m = 0;
	else if ((size_t)m >= sizeof(line))
		m = (int)sizeof(line) - 1;
	n += (size_t)m;
	out[n++] = '\n';
	log_write_all(out, n);
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
