/* test_buf.c - the growable buffer: append/consume arithmetic, NUL termination, and storage given back once a big buffer is drained. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "buf.h"

Test(buf, append_consume_keeps_order_and_nul)
{
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "MAIL FROM:<a@b>\r\nRCPT");
	buf_consume(&b, 17);
	cr_assert(eq(sz, b.len, 4));
	cr_assert(eq(str, b.data, "RCPT"));
	buf_printf(&b, " TO:<%s>", "c@d");
	cr_assert(eq(str, b.data, "RCPT TO:<c@d>"));
	buf_free(&b);
	cr_assert(eq(ptr, b.data, NULL));
}

/* A connection's input buffer that held a whole 64 KiB read keeps a few bytes once drained. */
Test(buf, drained_big_buffer_gives_back_storage)
{
	static char chunk[65536];
	memset(chunk, 'x', sizeof(chunk));
	struct buf b;
	buf_init(&b);
	for (int round = 0; round < 3; round++) {
		buf_append(&b, chunk, sizeof(chunk));
		cr_assert(ge(sz, b.cap, sizeof(chunk)));
		buf_consume(&b, 1000);
		cr_assert(eq(sz, b.len, sizeof(chunk) - 1000), "partly consumed: kept");
		cr_assert(eq(chr, b.data[b.len - 1], 'x'));
		buf_consume(&b, b.len);
		cr_assert(eq(sz, b.len, 0));
		cr_assert(le(sz, b.cap, 4096), "drained: %zu bytes kept", b.cap);
		cr_assert(ne(ptr, b.data, NULL));
		cr_assert(eq(chr, b.data[0], '\0'));
	}
	/* A small buffer keeps its storage when drained (no churn for command lines). */
	buf_append_str(&b, "EHLO x\r\n");
	size_t cap = b.cap;
	buf_consume(&b, b.len);
	cr_assert(eq(sz, b.cap, cap));
	buf_free(&b);
}

/* Growing an empty buffer (a fresh block) and a non-empty one (contents kept). */
Test(buf, reserve_keeps_contents)
{
	struct buf b;
	buf_init(&b);
	buf_reserve(&b, 10);
	cr_assert(eq(sz, b.len, 0));
	buf_reserve(&b, 100000);
	cr_assert(ge(sz, b.cap, 100000));
	buf_append_str(&b, "abc");
	buf_reserve(&b, 1 << 20);
	cr_assert(eq(str, b.data, "abc"));
	char *p = buf_steal(&b, NULL);
	cr_assert(eq(str, p, "abc"));
	cr_assert(eq(ptr, b.data, NULL));
	free(p);
}

/* str_format gives what snprintf gives: same text, same return value, same cut, also for the
 * conversions it hands to vsnprintf. */
#define TEST_SAME(cap, ...)                                                        \
	do {                                                                       \
		char want[64], got[64];                                            \
		memset(want, 'x', sizeof(want));                                   \
		memset(got, 'x', sizeof(got));                                     \
		volatile size_t test_cap = (cap);                                  \
		int w = snprintf(want, test_cap, __VA_ARGS__);                     \
		int g = str_format(got, test_cap, __VA_ARGS__);                    \
		cr_assert(eq(int, g, w));                                          \
		cr_assert(eq(int, memcmp(got, want, sizeof(got)), 0), "%s", want); \
	} while (0)

Test(buf, str_format_matches_snprintf)
{
	TEST_SAME(64, "%s/mail/%s/%s", "/var", "example.org", "alice");
	TEST_SAME(64, "Q%sR%zu", "00066167009FA6D2", (size_t)3);
	TEST_SAME(64, "%d %u %ld %lu %lld %llu %zd %c %%", -5, 7u, -1234567890123L,
		  18446744073709551615UL, -9LL, 0ULL, (ssize_t)-3, 'z');
	TEST_SAME(64, "[%.*s] [%.*s]", 3, "abcdef", 10, "ab");
	TEST_SAME(64, "%016lX %08x %5d", 0xabcUL, 0x1fu, 42); /* handed to vsnprintf */
	TEST_SAME(8, "%s@%s", "alice", "example.org");        /* cut */
	TEST_SAME(6, "%d%d", 12345, 678);
	TEST_SAME(1, "%s", "abc");
	TEST_SAME(0, "%s", "abc");
	TEST_SAME(64, "no conversion");
}
