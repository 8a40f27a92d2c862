/* test_log.c - stderr log lines: the message text is what printf would make of it, for every conversion, cut at 2047 octets, one line whatever the arguments hold. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Runs fn with stderr sent to a temporary file; returns what it wrote (malloc'd). */
static char *captured(void (*fn)(void))
{
	char path[] = "/tmp/test_log_XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	off_t len = lseek(fd, 0, SEEK_END);
	char *text = calloc(1, (size_t)len + 1);
	cr_assert(text);
	cr_assert_eq(pread(fd, text, (size_t)len, 0), len);
	close(fd);
	return text;
}

/* The message of the only line: what follows "PROG[PID]: ", without the newline. */
static char *message_of(char *line)
{
	char *p = strstr(line, "]: ");
	cr_assert(p, "no prefix in %s", line);
	p += 3;
	size_t len = strlen(p);
	cr_assert(len > 0 && p[len - 1] == '\n', "no newline in %s", line);
	p[len - 1] = '\0';
	cr_assert_null(strchr(p, '\n'), "more than one line: %s", line);
	return p;
}

static void log_numbers(void)
{
	log_info("disconnect from [%s] reason=%s ehlo=%u mail=%u rcpt=%u n=%d m=%d", "127.0.0.1",
		 "quit", 1u, 0u, 4294967295u, -2147483647 - 1, 42);
}

Test(log, numbers_and_strings)
{
	char *text = captured(log_numbers);
	char expected[256];
	snprintf(expected, sizeof(expected),
		 "disconnect from [%s] reason=%s ehlo=%u mail=%u rcpt=%u n=%d m=%d", "127.0.0.1",
		 "quit", 1u, 0u, 4294967295u, -2147483647 - 1, 42);
	cr_assert_str_eq(message_of(text), expected);
	free(text);
}

/* NULL for %s, out of the compiler's sight (glibc prints "(null)"). */
static const char *no_string(void)
{
	return getenv("TEST_LOG_UNSET_VARIABLE");
}

static void log_long_types(void)
{
	log_warn("a=%ld b=%lu c=%lld d=%llu e=%zu f=%zd g=%" PRIu64 " h=%c%% i=%.*s j=%.*s k=%s",
		 -9223372036854775807L - 1, 18446744073709551615UL, -5LL, 7ULL, (size_t)123,
		 (ssize_t)-9, (uint64_t)UINT64_MAX, 'x', 3, "abcdef", 10, "ab", no_string());
}

Test(log, long_types_precision_and_null)
{
	char *text = captured(log_long_types);
	char expected[512];
	snprintf(expected, sizeof(expected),
		 "warning: a=%ld b=%lu c=%lld d=%llu e=%zu f=%zd g=%" PRIu64
		 " h=%c%% i=%.*s j=%.*s k=%s",
		 -9223372036854775807L - 1, 18446744073709551615UL, -5LL, 7ULL, (size_t)123,
		 (ssize_t)-9, (uint64_t)UINT64_MAX, 'x', 3, "abcdef", 10, "ab", "(null)");
	cr_assert_str_eq(message_of(text), expected);
	free(text);
}

static void log_widths(void)
{
	log_error("%05u|%-4s|%x|%.2f|%p", 42u, "ab", 255u, 1.5, (void *)0);
}

Test(log, other_conversions_as_printf)
{
	char *text = captured(log_widths);
	char expected[256];
	snprintf(expected, sizeof(expected), "error: %05u|%-4s|%x|%.2f|%p", 42u, "ab", 255u, 1.5,
		 (void *)0);
	cr_assert_str_eq(message_of(text), expected);
	free(text);
}

static void log_too_long(void)
{
	char big[5000];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("x%sz%u", big, 7u);
}

Test(log, long_message_cut_at_2047_octets)
{
	char *text = captured(log_too_long);
	char *msg = message_of(text);
	cr_assert_eq(strlen(msg), 2047);
	cr_assert_eq(msg[0], 'x');
	cr_assert_eq(msg[2046], 'y');
	free(text);
}

static void log_forged(void)
{
	log_warn("imap: [%s]: LOGIN authentication failed for %s", "127.0.0.1",
		 "a\r\nMay 01 00:00:00.000 imapd[1]: imap: login user=root\x1b[2K");
}

/* Text from the network cannot start a line of its own or reach the terminal as control
 * codes: the logger escapes it, whichever call site logged it. */
Test(log, control_bytes_in_a_message_are_escaped)
{
	char *text = captured(log_forged);
	cr_assert_str_eq(message_of(text),
			 "warning: imap: [127.0.0.1]: LOGIN authentication failed for "
			 "a\\r\\nMay 01 00:00:00.000 imapd[1]: imap: login user=root\\x1b[2K");
	free(text);
}

/* A user name with a newline (an IMAP literal can hold one) must not start a second line that a
 * log reader such as fail2ban would take for another client's failure. */
static void log_forged_user(void)
{
	log_warn("imap: [%s]: %s authentication failed for %s (reply delayed %us)", "127.0.0.1",
		 "LOGIN",
		 "x\nDec 06 05:00:00.000 imapd[1]: warning: imap: [6.6.6.6]: LOGIN "
		 "authentication failed for y\r\t\x7f",
		 0u);
}

Test(log, control_characters_do_not_start_a_line)
{
	char *text = captured(log_forged_user);
	char *msg = message_of(text);
	cr_assert_str_eq(msg,
			 "warning: imap: [127.0.0.1]: LOGIN authentication failed for x\\nDec 06 "
			 "05:00:00.000 imapd[1]: warning: imap: [6.6.6.6]: LOGIN "
			 "authentication failed for y\\r\\t\\x7f (reply delayed 0s)");
	free(text);
}
