/* test_smtp_client.c - the relay's DATA body: dot-stuffing and CRLF-only line endings. */
#include <criterion/criterion.h>
#include <string.h>

#include "buf.h"
#include "smtp_client.h"

static void stuffed(const char *msg, size_t len, const char *want, size_t want_len)
{
	struct buf out;
	buf_init(&out);
	smtp_client_dot_stuff(msg, len, &out);
	cr_assert_eq(out.len, want_len, "\"%.*s\" gave \"%.*s\"", (int)len, msg, (int)out.len,
		     out.data);
	cr_assert_eq(memcmp(out.data, want, want_len), 0, "\"%.*s\" gave \"%.*s\"", (int)len, msg,
		     (int)out.len, out.data);
	buf_free(&out);
}

#define STUFF(msg, want) stuffed(msg, sizeof(msg) - 1, want, sizeof(want) - 1)

Test(dot_stuff, plain)
{
	STUFF("", ".\r\n");
	STUFF("a\r\nb\r\n", "a\r\nb\r\n.\r\n");
	STUFF("no ending", "no ending\r\n.\r\n");
	STUFF(".\r\n..x\r\n", "..\r\n...x\r\n.\r\n");
}

/* RFC 5321 2.3.8: what leaves us has CR and LF only as CRLF: no smuggled end of data. */
Test(dot_stuff, bare_line_endings_become_crlf)
{
	STUFF("x\r\n\r.\r\nMAIL FROM:<a@b>\r\n", "x\r\n\r\n..\r\nMAIL FROM:<a@b>\r\n.\r\n");
	STUFF("x\n.\nRCPT\r\n", "x\r\n..\r\nRCPT\r\n.\r\n");
	STUFF("x\r\n.\r", "x\r\n..\r\n.\r\n");
	STUFF("a\rb", "a\r\nb\r\n.\r\n");
	STUFF("\n\n", "\r\n\r\n.\r\n");
}
