/* test_smtp_proto.c - unit tests: SMTP line splitting, commands, DATA unstuffing, replies, xtext. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "smtp_proto.h"

/* ---- smtp_line_next ---- */

Test(line, byte_by_byte_until_lf)
{
	const char *s = "MAIL FROM:<a@b.example>\r\n";
	size_t n = strlen(s), line_len = 99, consumed = 99;

	for (size_t i = 0; i < n - 1; i++)
		cr_assert_eq(smtp_line_next(s, i, &line_len, &consumed), 0, "at %zu", i);
	cr_assert_eq(smtp_line_next(s, n, &line_len, &consumed), 1);
	cr_assert_eq(line_len, n - 2);
	cr_assert_eq(consumed, n);
}

Test(line, several_lines_and_bare_lf)
{
	const char *s = "EHLO x\r\nNOOP\nQUIT\r\n";
	size_t len = strlen(s), line_len, consumed, off = 0;

	cr_assert_eq(smtp_line_next(s, len, &line_len, &consumed), 1);
	cr_assert_eq(line_len, 6);
	cr_assert_eq(consumed, 8);
	off += consumed;
	cr_assert_eq(smtp_line_next(s + off, len - off, &line_len, &consumed), 1);
	cr_assert_eq(line_len, 4);
	cr_assert_eq(consumed, 5);
	off += consumed;
	cr_assert_eq(smtp_line_next(s + off, len - off, &line_len, &consumed), 1);
	cr_assert_eq(line_len, 4);
	off += consumed;
	cr_assert_eq(off, len);
	cr_assert_eq(smtp_line_next(s + off, 0, &line_len, &consumed), 0);
}

Test(line, only_one_cr_is_stripped)
{
	size_t line_len, consumed;

	cr_assert_eq(smtp_line_next("AB\r\r\n", 5, &line_len, &consumed), 1);
	cr_assert_eq(line_len, 3);
	cr_assert_eq(smtp_line_next("\n", 1, &line_len, &consumed), 1);
	cr_assert_eq(line_len, 0);
	cr_assert_eq(consumed, 1);
}

Test(line, length_limit)
{
	char buf[SMTP_COMMAND_LINE_MAX + 10];
	size_t line_len, consumed;

	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(smtp_line_next(buf, SMTP_COMMAND_LINE_MAX - 1, &line_len, &consumed), 0);
	cr_assert_eq(smtp_line_next(buf, SMTP_COMMAND_LINE_MAX, &line_len, &consumed), -1);
	cr_assert_eq(smtp_line_next(buf, sizeof(buf), &line_len, &consumed), -1);
	/* 510 octets + CRLF = 512: fits */
	buf[SMTP_COMMAND_LINE_MAX - 2] = '\r';
	buf[SMTP_COMMAND_LINE_MAX - 1] = '\n';
	cr_assert_eq(smtp_line_next(buf, sizeof(buf), &line_len, &consumed), 1);
	cr_assert_eq(line_len, SMTP_COMMAND_LINE_MAX - 2);
	cr_assert_eq(consumed, SMTP_COMMAND_LINE_MAX);
	/* LF one octet too late */
	buf[SMTP_COMMAND_LINE_MAX - 1] = 'x';
	buf[SMTP_COMMAND_LINE_MAX] = '\n';
	cr_assert_eq(smtp_line_next(buf, sizeof(buf), &line_len, &consumed), -1);
}

/* ---- smtp_command_parse ---- */

static int test_cmd_parse(const char *line, unsigned flags, struct smtp_command *cmd,
			  struct smtp_error *err)
{
	return smtp_command_parse(line, strlen(line), flags, cmd, err);
}

static void test_cmd_ok(const char *line, unsigned flags, enum smtp_verb verb)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse(line, flags, &cmd, &err), 0, "rejected \"%s\": %d %s %s", line,
		     err.code, err.enhanced, err.detail ? err.detail : "");
	cr_assert_eq(cmd.verb, verb, "verb of \"%s\"", line);
}

static void test_cmd_err(const char *line, unsigned flags, int code, const char *enhanced)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse(line, flags, &cmd, &err), -1, "accepted \"%s\"", line);
	cr_assert_eq(err.code, code, "code of \"%s\": %d", line, err.code);
	cr_assert_str_eq(err.enhanced, enhanced, "enhanced code of \"%s\"", line);
	cr_assert_not_null(err.text);
}

Test(command, verbs_case_insensitive)
{
	test_cmd_ok("HELO client.example", 0, SMTP_VERB_HELO);
	test_cmd_ok("ehlo client.example", 0, SMTP_VERB_EHLO);
	test_cmd_ok("MaIl FrOm:<a@b.example>", 0, SMTP_VERB_MAIL);
	test_cmd_ok("rcpt to:<a@b.example>", 0, SMTP_VERB_RCPT);
	test_cmd_ok("data", 0, SMTP_VERB_DATA);
	test_cmd_ok("BDAT 0 LAST", 0, SMTP_VERB_BDAT);
	test_cmd_ok("rset", 0, SMTP_VERB_RSET);
	test_cmd_ok("noop", 0, SMTP_VERB_NOOP);
	test_cmd_ok("NOOP anything at all", 0, SMTP_VERB_NOOP);
	test_cmd_ok("quit", 0, SMTP_VERB_QUIT);
	test_cmd_ok("QUIT ", 0, SMTP_VERB_QUIT); /* trailing space tolerated */
	test_cmd_ok("vrfy user", 0, SMTP_VERB_VRFY);
	test_cmd_ok("expn list", 0, SMTP_VERB_EXPN);
	test_cmd_ok("help", 0, SMTP_VERB_HELP);
	test_cmd_ok("HELP mail", 0, SMTP_VERB_HELP);
	test_cmd_ok("starttls", 0, SMTP_VERB_STARTTLS);
	test_cmd_ok("auth plain", 0, SMTP_VERB_AUTH);
}

Test(command, unknown_verb)
{
	test_cmd_err("", 0, 500, "5.5.2");
	test_cmd_err("FOO", 0, 500, "5.5.2");
	test_cmd_err("MAILFROM:<a@b>", 0, 500, "5.5.2");
	test_cmd_err("HEL", 0, 500, "5.5.2");
	test_cmd_err("HELOO x", 0, 500, "5.5.2");
	test_cmd_err(" HELO x", 0, 500, "5.5.2");
	test_cmd_err("HEL\xc3\x96 x", 0, 500, "5.5.2");
	test_cmd_err("GET / HTTP/1.1", 0, 500, "5.5.2");
	test_cmd_err("HELO\tx", 0, 500, "5.5.2");

	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(smtp_command_parse("QU\0T", 4, 0, &cmd, &err), -1);
	cr_assert_eq(err.code, 500);
	cr_assert_str_eq(err.text, "Command unrecognized");
}

Test(command, no_argument_verbs)
{
	test_cmd_err("DATA x", 0, 501, "5.5.4");
	test_cmd_err("RSET now", 0, 501, "5.5.4");
	test_cmd_err("QUIT please", 0, 501, "5.5.4");
	test_cmd_err("STARTTLS x", 0, 501, "5.5.4");
	test_cmd_err("VRFY", 0, 501, "5.5.4");
	test_cmd_err("EXPN", 0, 501, "5.5.4");
	test_cmd_err("NOOP a\x01", 0, 501, "5.5.4");
	test_cmd_err("VRFY j\xc3\xb6rg", 0, 501, "5.5.4");

	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(smtp_command_parse("NOOP a\0b", 8, 0, &cmd, &err), -1);
	cr_assert_eq(err.code, 501);
}

Test(command, arg_points_into_line)
{
	struct smtp_command cmd;
	struct smtp_error err;
	const char *line = "VRFY some user  ";

	cr_assert_eq(test_cmd_parse(line, 0, &cmd, &err), 0);
	cr_assert_eq(cmd.arg, line + 5);
	cr_assert_eq(cmd.arg_len, 9);
	cr_assert_eq(test_cmd_parse("RSET", 0, &cmd, &err), 0);
	cr_assert_not_null(cmd.arg);
	cr_assert_eq(cmd.arg_len, 0);
}

Test(command, helo_ehlo)
{
	struct smtp_command cmd;
	struct smtp_error err;
	char line[400];

	cr_assert_eq(test_cmd_parse("EHLO client.example", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.helo, "client.example");
	cr_assert_eq(test_cmd_parse("EHLO [192.0.2.1]", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.helo, "[192.0.2.1]");
	cr_assert_eq(test_cmd_parse("HELO my_host the best", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.helo, "my_host");
	test_cmd_err("EHLO a b", 0, 501, "5.5.4");
	test_cmd_err("EHLO", 0, 501, "5.5.4");
	test_cmd_err("HELO", 0, 501, "5.5.4");
	test_cmd_err("HELO ", 0, 501, "5.5.4");
	test_cmd_err("EHLO h\xc3\xb6st", 0, 501, "5.5.4");
	memset(line, 0, sizeof(line));
	memcpy(line, "EHLO ", 5);
	memset(line + 5, 'h', 255);
	cr_assert_eq(test_cmd_parse(line, 0, &cmd, &err), 0);
	cr_assert_eq(strlen(cmd.helo), 255);
	line[5 + 255] = 'h';
	test_cmd_err(line, 0, 501, "5.5.4");
}

Test(command, mail_from)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse("MAIL FROM:<Sender@Example.COM>", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.path.local, "Sender");
	cr_assert_str_eq(cmd.path.domain, "example.com");
	cr_assert(!cmd.has_size);
	cr_assert_eq(cmd.body, SMTP_BODY_DEFAULT);
	cr_assert_str_eq(cmd.auth, "");
	cr_assert_eq(test_cmd_parse("MAIL FROM: <a@b.example>", 0, &cmd, &err),
		     0); /* one space ok */
	cr_assert_eq(test_cmd_parse("MAIL FROM:<>", 0, &cmd, &err), 0);
	cr_assert(cmd.path.is_null);
	cr_assert_eq(test_cmd_parse("MAIL FROM:<@relay.example:a@b.example>", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.path.domain, "b.example");
	test_cmd_err("MAIL FROM:  <a@b.example>", 0, 501, "5.1.7"); /* two spaces */
	test_cmd_err("MAIL FROM:a@b.example", 0, 501, "5.1.7");     /* brackets required */
	test_cmd_err("MAIL FROM:<a@b.example", 0, 501, "5.1.7");
	test_cmd_err("MAIL FROM:<a..b@b.example>", 0, 501, "5.1.7");
	test_cmd_err("MAIL FROM:<@>", 0, 501, "5.1.7");
	test_cmd_err("MAIL FROM:<postmaster>", 0, 501, "5.1.7");
	test_cmd_err("MAIL FROM:<a@b\x01.example>", 0, 501, "5.1.7");
	test_cmd_err("MAIL FROM:<a@b.example>x", 0, 501, "5.5.4"); /* trailing garbage */
	test_cmd_err("MAIL FROM:", 0, 501, "5.5.4");
	test_cmd_err("MAIL", 0, 501, "5.5.4");
	test_cmd_err("MAIL TO:<a@b.example>", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM<a@b.example>", 0, 501, "5.5.4");

	cr_assert_eq(test_cmd_parse("MAIL FROM:<a@b.example>", 0, &cmd, &err), 0);
	cr_assert_eq(test_cmd_parse("MAIL FROM:<a@b.example>", 0, &cmd, &err), 0);
	cr_assert_eq(test_cmd_parse("MAIL FROM:<a@b>", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.path.domain, "b");
	cr_assert_eq(test_cmd_parse("MAIL FROM:<\"a b\"@b.example>", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.path.local, "a b");
}

Test(command, mail_error_texts)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse("MAIL FROM:<a..b@c>", 0, &cmd, &err), -1);
	cr_assert_str_eq(err.text, "Bad sender address syntax");
	cr_assert_not_null(err.detail);
	cr_assert_eq(test_cmd_parse("RCPT TO:<a..b@c>", 0, &cmd, &err), -1);
	cr_assert_str_eq(err.text, "Bad recipient address syntax");
	cr_assert_eq(test_cmd_parse("MAIL FROM:<a@c> FOO", 0, &cmd, &err), -1);
	cr_assert_str_eq(err.text, "Unsupported parameter");
	cr_assert_eq(test_cmd_parse("MAIL FROM:<\xc3\xa4@c> ", ADDR_ALLOW_UTF8, &cmd, &err), -1);
	cr_assert_str_eq(err.text, "SMTPUTF8 required");
}

Test(command, mail_parameters)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(
		test_cmd_parse("MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME", 0, &cmd, &err),
		0);
	cr_assert(cmd.has_size);
	cr_assert_eq(cmd.size, 12345);
	cr_assert_eq(cmd.body, SMTP_BODY_8BITMIME);
	cr_assert_eq(test_cmd_parse("MAIL FROM:<a@b.example> body=7bit size=0", 0, &cmd, &err), 0);
	cr_assert_eq(cmd.body, SMTP_BODY_7BIT);
	cr_assert(cmd.has_size);
	cr_assert_eq(cmd.size, 0);
	cr_assert_eq(test_cmd_parse("MAIL FROM:<a@b.example> BODY=BINARYMIME", 0, &cmd, &err), 0);
	cr_assert_eq(cmd.body, SMTP_BODY_BINARYMIME);
	cr_assert_eq(
		test_cmd_parse("MAIL FROM:<a@b.example> SIZE=18446744073709551615", 0, &cmd, &err),
		0);
	cr_assert_eq(cmd.size, UINT64_MAX);
	cr_assert_eq(test_cmd_parse("MAIL FROM:<a@b.example>  SIZE=1   BODY=7BIT  ", 0, &cmd, &err),
		     0);
	test_cmd_err("MAIL FROM:<a@b.example> SIZE=18446744073709551616", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> SIZE=000000000000000000001", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> SIZE=", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> SIZE", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> SIZE=-1", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> SIZE=1k", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> BODY=9BIT", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> BODY", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> =x", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> -X=1", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> X=a=b", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> X=\xc3\xa4", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> X=\x01", 0, 501, "5.5.4");
	/* unknown and duplicate parameters */
	test_cmd_err("MAIL FROM:<a@b.example> RET=HDRS RET=FULL", 0, 555, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> ENVID=x ENVID=y", 0, 555, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> X-FOO", 0, 555, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> SIZE=1 SIZE=2", 0, 555, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> BODY=7BIT body=8BITMIME", 0, 555, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> SMTPUTF8 SMTPUTF8", ADDR_ALLOW_UTF8, 555, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> AUTH=<> AUTH=<>", 0, 555, "5.5.4");
	/* SMTPUTF8 is only known when offered */
	test_cmd_err("MAIL FROM:<a@b.example> SMTPUTF8", 0, 555, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> SMTPUTF8=yes", ADDR_ALLOW_UTF8, 501, "5.5.4");
	/* REQUIRETLS (RFC 8689) takes no value, once */
	test_cmd_err("MAIL FROM:<a@b.example> REQUIRETLS=yes", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> REQUIRETLS REQUIRETLS", 0, 555, "5.5.4");
}

Test(command, mail_requiretls_param)
{
	struct smtp_command cmd;
	struct smtp_error err;
	const char *l = "MAIL FROM:<a@b.example> BODY=8BITMIME requiretls";
	cr_assert_eq(smtp_command_parse(l, strlen(l), 0, &cmd, &err), 0, "%s", err.text);
	cr_expect(cmd.requiretls);
	l = "MAIL FROM:<a@b.example>";
	cr_assert_eq(smtp_command_parse(l, strlen(l), 0, &cmd, &err), 0, "%s", err.text);
	cr_expect_not(cmd.requiretls);
}

Test(command, mail_auth_param)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse("MAIL FROM:<a@b.example> AUTH=<>", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.auth, "<>");
	cr_assert_eq(
		test_cmd_parse("MAIL FROM:<a@b.example> AUTH=e+3Dmc2@example.com", 0, &cmd, &err),
		0);
	cr_assert_str_eq(cmd.auth, "e=mc2@example.com");
	cr_assert_eq(test_cmd_parse("MAIL FROM:<a@b.example> AUTH=a+2Bb+20c", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.auth, "a+b c");
	test_cmd_err("MAIL FROM:<a@b.example> AUTH=a+2", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> AUTH=a+ZZ", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> AUTH=a+00", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> AUTH", 0, 501, "5.5.4");
}

Test(command, mail_smtputf8)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse("MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc"
				    "cher.example> SMTPUTF8",
				    ADDR_ALLOW_UTF8, &cmd, &err),
		     0);
	cr_assert(cmd.smtputf8);
	cr_assert(cmd.path.utf8);
	cr_assert_str_eq(cmd.path.local, "j\xc3\xb6rg");
	cr_assert_eq(
		test_cmd_parse("MAIL FROM:<a@b.example> smtputf8", ADDR_ALLOW_UTF8, &cmd, &err), 0);
	cr_assert(cmd.smtputf8);
	cr_assert(!cmd.path.utf8);
	/* UTF-8 sender without the parameter, or when SMTPUTF8 is not offered */
	test_cmd_err("MAIL FROM:<j\xc3\xb6rg@b.example>", ADDR_ALLOW_UTF8, 553, "5.6.7");
	test_cmd_err("MAIL FROM:<a@b\xc3\xbc"
		     "cher.example> BODY=8BITMIME",
		     ADDR_ALLOW_UTF8, 553, "5.6.7");
	test_cmd_err("MAIL FROM:<j\xc3\xb6rg@b.example>", 0, 553, "5.6.7");
	/* bad UTF-8 is a syntax error, not a missing extension */
	test_cmd_err("MAIL FROM:<j\xc0\xafrg@b.example> SMTPUTF8", ADDR_ALLOW_UTF8, 501, "5.1.7");
	test_cmd_err("MAIL FROM:<j\xed\xa0\x80rg@b.example> SMTPUTF8", ADDR_ALLOW_UTF8, 501,
		     "5.1.7");
}

Test(command, rcpt_to)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse("RCPT TO:<User@Example.COM>", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.path.local, "User");
	cr_assert_str_eq(cmd.path.domain, "example.com");
	cr_assert_eq(test_cmd_parse("RCPT TO: <a@b.example>", 0, &cmd, &err), 0);
	cr_assert_eq(test_cmd_parse("RCPT TO:<Postmaster>", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.path.domain, "");
	cr_assert_eq(test_cmd_parse("RCPT TO:<@hop.example:a@b.example>", 0, &cmd, &err), 0);
	cr_assert_eq(test_cmd_parse("RCPT TO:<a@[IPv6:2001:db8::1]>", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.path.domain, "[IPv6:2001:db8::1]");
	cr_assert_eq(test_cmd_parse("RCPT TO:<j\xc3\xb6rg@b.example>", ADDR_ALLOW_UTF8, &cmd, &err),
		     0);
	cr_assert(cmd.path.utf8);
	test_cmd_err("RCPT TO:<j\xc3\xb6rg@b.example>", 0, 553, "5.6.7");
	test_cmd_err("RCPT TO:<>", 0, 501, "5.1.3");
	test_cmd_err("RCPT TO:<a@b.example", 0, 501, "5.1.3");
	test_cmd_err("RCPT TO:a@b.example", 0, 501, "5.1.3");
	test_cmd_err("RCPT TO:<a@>", 0, 501, "5.1.3");
	test_cmd_err("RCPT TO:<@>", 0, 501, "5.1.3");
	test_cmd_err("RCPT TO:<.a@b.example>", 0, 501, "5.1.3");
	test_cmd_err("RCPT TO:<a@b.example>>", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:", 0, 501, "5.5.4");
	test_cmd_err("RCPT FROM:<a@b.example>", 0, 501, "5.5.4");
	test_cmd_err("RCPT", 0, 501, "5.5.4");
	/* RCPT takes only the DSN parameters */
	test_cmd_err("RCPT TO:<a@b.example> SIZE=1", 0, 555, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> NOTIFY=NEVER NOTIFY=NEVER", 0, 555, "5.5.4");
}

/* ---- DSN parameters (RFC 3461) ---- */

Test(dsn, mail_ret_and_envid)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(
		test_cmd_parse("MAIL FROM:<a@b.example> RET=hdrs ENVID=QQ+2B1+3Dx", 0, &cmd, &err),
		0);
	cr_assert_eq(cmd.ret, SMTP_RET_HDRS);
	cr_assert_str_eq(cmd.envid, "QQ+1=x");
	cr_assert_eq(test_cmd_parse("MAIL FROM:<> RET=FULL", 0, &cmd, &err), 0);
	cr_assert_eq(cmd.ret, SMTP_RET_FULL);
	cr_assert_str_eq(cmd.envid, "");
	test_cmd_err("MAIL FROM:<a@b.example> RET=BOTH", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> RET", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> ENVID", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> ENVID=a+2", 0, 501, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> ENVID=a+0A", 0, 501, "5.5.4"); /* control */
	char longid[200] = "MAIL FROM:<a@b.example> ENVID=";
	memset(longid + strlen(longid), 'x', 101);
	test_cmd_err(longid, 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> RET=FULL", 0, 555, "5.5.4");
	test_cmd_err("MAIL FROM:<a@b.example> NOTIFY=NEVER", 0, 555, "5.5.4");
}

Test(dsn, rcpt_notify)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse("RCPT TO:<a@b.example> NOTIFY=NEVER", 0, &cmd, &err), 0);
	cr_assert_eq(cmd.notify, SMTP_NOTIFY_NEVER);
	cr_assert_eq(test_cmd_parse("RCPT TO:<a@b.example> NOTIFY=delay,Success", 0, &cmd, &err),
		     0);
	cr_assert_eq(cmd.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY);
	cr_assert_eq(test_cmd_parse("RCPT TO:<a@b.example>", 0, &cmd, &err), 0);
	cr_assert_eq(cmd.notify, 0);
	test_cmd_err("RCPT TO:<a@b.example> NOTIFY=NEVER,SUCCESS", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> NOTIFY=SUCCESS,SUCCESS", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> NOTIFY=SUCCESS,", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> NOTIFY=,FAILURE", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> NOTIFY=ALWAYS", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> NOTIFY", 0, 501, "5.5.4");
	char out[32];
	smtp_notify_format(SMTP_NOTIFY_DELAY | SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, out,
			   sizeof(out));
	cr_assert_str_eq(out, "SUCCESS,FAILURE,DELAY");
	smtp_notify_format(SMTP_NOTIFY_NEVER, out, sizeof(out));
	cr_assert_str_eq(out, "NEVER");
	smtp_notify_format(0, out, sizeof(out));
	cr_assert_str_eq(out, "");
	unsigned v;
	cr_assert_eq(smtp_notify_parse("SUCCESS,FAILURE,DELAY", 21, &v), 0);
	cr_assert_eq(v, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
}

Test(dsn, rcpt_orcpt)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse("RCPT TO:<a@b.example> ORCPT=rfc822;Orig+2Bx@b.example "
				    "NOTIFY=FAILURE",
				    0, &cmd, &err),
		     0);
	cr_assert_str_eq(cmd.orcpt, "rfc822;Orig+x@b.example");
	cr_assert_eq(cmd.notify, SMTP_NOTIFY_FAILURE);
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=a@b.example", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=rfc822;", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=;a@b.example", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=rfc 822;a", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=rfc822;a+ZZ", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=rfc822;a+C3+A4", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT", 0, 501, "5.5.4");
}

/* RFC 6533 3: an ORCPT of type utf-8 carries non-ASCII as \x{HEX}; it is stored as UTF-8. */
Test(dsn, rcpt_orcpt_utf8_escapes)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(
		test_cmd_parse("RCPT TO:<a@b.example> ORCPT=utf-8;j\\x{E4}rg\\x{1F600}@b.example",
			       0, &cmd, &err),
		0);
	cr_assert_str_eq(cmd.orcpt, "utf-8;j\xC3\xA4rg\xF0\x9F\x98\x80@b.example");
	/* an escaped '+' and '=' are plain characters of the address */
	cr_assert_eq(test_cmd_parse("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{2B}b\\x{3D}c@b.example",
				    0, &cmd, &err),
		     0);
	cr_assert_str_eq(cmd.orcpt, "utf-8;a+b=c@b.example");
	/* rfc822 addresses keep a backslash as it is: the escape is utf-8's alone */
	cr_assert_eq(test_cmd_parse("RCPT TO:<a@b.example> ORCPT=rfc822;a\\x{E4}@b.example", 0,
				    &cmd, &err),
		     0);
	cr_assert_str_eq(cmd.orcpt, "rfc822;a\\x{E4}@b.example");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{}@b.example", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{E}@b.example", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{D800}@b.example", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{110000}@b.example", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{0000}@b.example", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{E4@b.example", 0, 501, "5.5.4");
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{1234567}@b.example", 0, 501, "5.5.4");
	/* an escape may not smuggle a control character in */
	test_cmd_err("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{0A}@b.example", 0, 501, "5.5.4");
}

Test(dsn, utf8_addr_xtext_encode)
{
	struct buf b;
	buf_init(&b);
	const char *in = "j\xC3\xA4rg+x=y\\z\xF0\x9F\x98\x80@b.example";
	smtp_utf8_addr_xtext_encode(&b, in, strlen(in));
	cr_assert_str_eq(b.data, "j\\x{E4}rg\\x{2B}x\\x{3D}y\\x{5C}z\\x{1F600}@b.example");
	/* and back: the server side decodes exactly what the client side encodes */
	char copy[200];
	snprintf(copy, sizeof(copy), "%s", b.data);
	cr_assert_eq(smtp_utf8_addr_unescape(copy), 0);
	cr_assert_str_eq(copy, in);
	buf_free(&b);
}

Test(dsn, xtext_round_trip)
{
	struct buf b;
	char out[64];

	buf_init(&b);
	smtp_xtext_encode(&b, "a+b=c d\xc3\xa4", 9);
	buf_append(&b, "", 1);
	cr_assert_str_eq(b.data, "a+2Bb+3Dc+20d+C3+A4");
	cr_assert_eq(smtp_xtext_decode(b.data, b.len - 1, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "a+b=c d\xc3\xa4");
	buf_free(&b);
}

Test(command, bdat)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse("BDAT 1000", 0, &cmd, &err), 0);
	cr_assert_eq(cmd.chunk_size, 1000);
	cr_assert(!cmd.last);
	cr_assert_eq(test_cmd_parse("bdat 0 last", 0, &cmd, &err), 0);
	cr_assert_eq(cmd.chunk_size, 0);
	cr_assert(cmd.last);
	cr_assert_eq(test_cmd_parse("BDAT 18446744073709551615 LAST", 0, &cmd, &err), 0);
	cr_assert_eq(cmd.chunk_size, UINT64_MAX);
	test_cmd_err("BDAT", 0, 501, "5.5.4");
	test_cmd_err("BDAT x", 0, 501, "5.5.4");
	test_cmd_err("BDAT -1", 0, 501, "5.5.4");
	test_cmd_err("BDAT 18446744073709551616", 0, 501, "5.5.4");
	test_cmd_err("BDAT 100 FIRST", 0, 501, "5.5.4");
	test_cmd_err("BDAT 100 LAST now", 0, 501, "5.5.4");
	test_cmd_err("BDAT LAST", 0, 501, "5.5.4");
}

Test(command, auth)
{
	struct smtp_command cmd;
	struct smtp_error err;

	cr_assert_eq(test_cmd_parse("AUTH plain", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.mechanism, "PLAIN");
	cr_assert_null(cmd.initial);
	cr_assert_eq(test_cmd_parse("AUTH PLAIN AHVzZXIAcGFzcw==", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.mechanism, "PLAIN");
	cr_assert_eq(cmd.initial_len, 16);
	cr_assert_eq(memcmp(cmd.initial, "AHVzZXIAcGFzcw==", 16), 0);
	cr_assert_eq(test_cmd_parse("AUTH EXTERNAL =", 0, &cmd, &err), 0);
	cr_assert_not_null(cmd.initial);
	cr_assert_eq(cmd.initial_len, 0);
	cr_assert_eq(test_cmd_parse("AUTH scram-sha-256", 0, &cmd, &err), 0);
	cr_assert_str_eq(cmd.mechanism, "SCRAM-SHA-256");
	test_cmd_err("AUTH", 0, 501, "5.5.4");
	test_cmd_err("AUTH PL@IN", 0, 501, "5.5.4");
	test_cmd_err("AUTH ABCDEFGHIJKLMNOPQRSTU", 0, 501, "5.5.4"); /* 21 characters */
	test_cmd_err("AUTH PLAIN abc!", 0, 501, "5.5.4");
	test_cmd_err("AUTH PLAIN abc def", 0, 501, "5.5.4");
}

/* ---- smtp_data_feed ---- */

struct data_result {
	enum smtp_data_status status;
	char out[4096];
	size_t out_len;
	size_t consumed;
	unsigned flaws;
	uint64_t size;
};

/* Feeds in[0..len) in the pieces given by cuts (ascending offsets), stopping at END. */
static void test_data_run(const char *in, size_t len, uint64_t max, const size_t *cuts,
			  size_t ncuts, struct data_result *res)
{
	struct smtp_data_reader r;
	size_t start = 0;

	memset(res, 0, sizeof(*res));
	smtp_data_reader_init(&r, max, SMTP_BODY_CHECK_STRICT);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		size_t n = end - start, out_len = 0, consumed = 0;
		char *out = malloc(n + 1); /* exactly the room the contract promises */
		enum smtp_data_status st;

		cr_assert_not_null(out);
		st = smtp_data_feed(&r, in + start, n, out, &out_len, &consumed);
		cr_assert_leq(out_len, n);
		cr_assert_leq(consumed, n);
		cr_assert_leq(res->out_len + out_len, sizeof(res->out));
		memcpy(res->out + res->out_len, out, out_len);
		free(out);
		res->out_len += out_len;
		res->consumed += consumed;
		if (st == SMTP_DATA_END) {
			res->status = st;
			break;
		}
		cr_assert_eq(consumed, n);
		start = end;
	}
	res->flaws = r.flaws;
	res->size = r.size;
}

static void test_data_same(const struct data_result *a, const struct data_result *b,
			   const char *how)
{
	cr_assert_eq(a->status, b->status, "status differs (%s)", how);
	cr_assert_eq(a->out_len, b->out_len, "output length differs (%s)", how);
	cr_assert_eq(memcmp(a->out, b->out, a->out_len), 0, "output differs (%s)", how);
	cr_assert_eq(a->consumed, b->consumed, "consumed differs (%s)", how);
	cr_assert_eq(a->flaws, b->flaws, "flaws differ (%s)", how);
	cr_assert_eq(a->size, b->size, "size differs (%s)", how);
}

/* Checks the one-shot result, then that every split (byte by byte, every 2-way) agrees. */
static void test_data_check(const char *in, size_t len, uint64_t max, enum smtp_data_status status,
			    const char *want, size_t want_len, size_t consumed, unsigned flaws)
{
	struct data_result one, other;
	size_t cuts[4096];

	cr_assert_lt(len, sizeof(cuts) / sizeof(cuts[0]));
	test_data_run(in, len, max, NULL, 0, &one);
	cr_assert_eq(one.status, status, "status of %.*s", (int)len, in);
	cr_assert_eq(one.out_len, want_len, "output length %zu, want %zu", one.out_len, want_len);
	cr_assert_eq(memcmp(one.out, want, want_len), 0, "output of \"%.*s\": \"%.*s\"", (int)len,
		     in, (int)one.out_len, one.out);
	cr_assert_eq(one.consumed, consumed, "consumed %zu, want %zu", one.consumed, consumed);
	cr_assert_eq(one.flaws, flaws, "flaws %#x, want %#x", one.flaws, flaws);
	for (size_t i = 1; i < len; i++)
		cuts[i - 1] = i;
	test_data_run(in, len, max, cuts, len > 0 ? len - 1 : 0, &other);
	test_data_same(&one, &other, "byte by byte");
	for (size_t i = 0; i <= len; i++) {
		cuts[0] = i;
		test_data_run(in, len, max, cuts, 1, &other);
		test_data_same(&one, &other, "2-way split");
	}
}

#define DATA(in, status, want, consumed, flaws) \
	test_data_check(in, sizeof(in) - 1, 0, status, want, sizeof(want) - 1, consumed, flaws)

Test(data, plain_end)
{
	DATA("Subject: x\r\n\r\nbody\r\n.\r\n", SMTP_DATA_END, "Subject: x\r\n\r\nbody\r\n", 23, 0);
	DATA(".\r\n", SMTP_DATA_END, "", 3, 0);
	DATA("\r\n.\r\n", SMTP_DATA_END, "\r\n", 5, 0);
	DATA("a\r\n.\r\nQUIT\r\n", SMTP_DATA_END, "a\r\n", 6, 0);
	DATA("a\r\n", SMTP_DATA_MORE, "a\r\n", 3, 0);
	DATA("a\r\n.", SMTP_DATA_MORE, "a\r\n", 4, 0);
	DATA("a\r\n.\r", SMTP_DATA_MORE, "a\r\n", 5, 0);
	DATA("", SMTP_DATA_MORE, "", 0, 0);
}

Test(data, dot_unstuffing)
{
	DATA("..\r\n.\r\n", SMTP_DATA_END, ".\r\n", 7, 0);
	DATA("..dot\r\n.\r\n", SMTP_DATA_END, ".dot\r\n", 10, 0);
	DATA("a\r\n...\r\n.\r\n", SMTP_DATA_END, "a\r\n..\r\n", 11, 0);
	DATA("a.\r\n.b\r\n.\r\n", SMTP_DATA_END, "a.\r\nb\r\n", 11, 0);
	DATA(". \r\n.\r\n", SMTP_DATA_END, " \r\n", 7, 0);
	DATA("x.\r\n.\r\n", SMTP_DATA_END, "x.\r\n", 7, 0); /* dot not at line start */
	DATA("a\r\n\r\n.\r\n", SMTP_DATA_END, "a\r\n\r\n", 8, 0);
}

Test(data, smuggling_bare_lf)
{
	/* "\n.\r\n", "\r\n.\n", "\n.\n" never end the message */
	DATA("a\n.\r\nMAIL FROM:<x@y>\r\n", SMTP_DATA_MORE, "a\n.\r\nMAIL FROM:<x@y>\r\n", 22,
	     SMTP_DATA_FLAW_BARE_LF);
	DATA("a\r\n.\nMAIL FROM:<x@y>\r\n", SMTP_DATA_MORE, "a\r\n\nMAIL FROM:<x@y>\r\n", 22,
	     SMTP_DATA_FLAW_BARE_LF);
	DATA("a\n.\nMAIL FROM:<x@y>\n", SMTP_DATA_MORE, "a\n.\nMAIL FROM:<x@y>\n", 20,
	     SMTP_DATA_FLAW_BARE_LF);
	DATA("\n.\r\n", SMTP_DATA_MORE, "\n.\r\n", 4, SMTP_DATA_FLAW_BARE_LF);
	DATA(".\n", SMTP_DATA_MORE, "\n", 2, SMTP_DATA_FLAW_BARE_LF);
	/* the real end still ends it, with the flaw remembered */
	DATA("a\n.\r\nb\r\n.\r\nc", SMTP_DATA_END, "a\n.\r\nb\r\n", 11, SMTP_DATA_FLAW_BARE_LF);
}

Test(data, smuggling_bare_cr)
{
	DATA("a\r.\r\nb", SMTP_DATA_MORE, "a\r.\r\nb", 6, SMTP_DATA_FLAW_BARE_CR);
	DATA("a\r\n.\r.\r\n", SMTP_DATA_MORE, "a\r\n.\r\n", 8, SMTP_DATA_FLAW_BARE_CR);
	DATA("a\r\n.\rMAIL\r\n.\r\n", SMTP_DATA_END, "a\r\nMAIL\r\n", 14, SMTP_DATA_FLAW_BARE_CR);
	DATA("a\r\r\n.\r\n", SMTP_DATA_END, "a\r\r\n", 7, SMTP_DATA_FLAW_BARE_CR);
	DATA(".\r\r\n.\r\n", SMTP_DATA_END, "\r\n", 7, SMTP_DATA_FLAW_BARE_CR);
	DATA("\r.\r\n", SMTP_DATA_MORE, "\r.\r\n", 4, SMTP_DATA_FLAW_BARE_CR);
	DATA("a\r\rb\n\r\n.\r\n", SMTP_DATA_END, "a\r\rb\n\r\n", 10,
	     SMTP_DATA_FLAW_BARE_CR | SMTP_DATA_FLAW_BARE_LF);
}

Test(data, long_lines)
{
	static char in[2100], want[2100];
	size_t n;

	/* 998 octets + CRLF is fine */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	test_data_check(in, 1003, 0, SMTP_DATA_END, in, 1000, 1003, 0);
	/* 999 is too long */
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\n.\r\n", 5);
	test_data_check(in, 1004, 0, SMTP_DATA_END, in, 1001, 1004, SMTP_DATA_FLAW_LONG_LINE);
	/* a stuffed dot does not count: "." + 998 octets */
	in[0] = '.';
	memset(in + 1, 'x', 998);
	memcpy(in + 999, "\r\n.\r\n", 5);
	test_data_check(in, 1004, 0, SMTP_DATA_END, in + 1, 1000, 1004, 0);
	/* the count restarts after each CRLF */
	memset(in, 'x', 2000);
	memcpy(in + 900, "\r\n", 2);
	memcpy(in + 1800, "\r\n", 2);
	memcpy(in + 1900, "\r\n.\r\n", 5);
	n = 1905;
	memcpy(want, in, 1902);
	test_data_check(in, n, 0, SMTP_DATA_END, want, 1902, n, 0);
}

Test(data, too_big)
{
	DATA("0123456789\r\n.\r\n", SMTP_DATA_END, "0123456789\r\n", 15, 0);
	test_data_check("0123456789\r\n.\r\n", 15, 5, SMTP_DATA_END, "01234", 5, 15,
			SMTP_DATA_FLAW_TOO_BIG);
	test_data_check("0123456789\r\n.\r\n", 15, 12, SMTP_DATA_END, "0123456789\r\n", 12, 15, 0);
	test_data_check("0123456789\r\n.\r\n", 15, 11, SMTP_DATA_END, "0123456789\r", 11, 15,
			SMTP_DATA_FLAW_TOO_BIG);

	struct smtp_data_reader r;
	char out[32];
	size_t out_len, consumed;

	smtp_data_reader_init(&r, 4, SMTP_BODY_CHECK_STRICT);
	cr_assert_eq(smtp_data_feed(&r, "abcdef", 6, out, &out_len, &consumed), SMTP_DATA_MORE);
	cr_assert_eq(out_len, 4);
	cr_assert_eq(smtp_data_feed(&r, "ghij\r\n", 6, out, &out_len, &consumed), SMTP_DATA_MORE);
	cr_assert_eq(out_len, 0);
	cr_assert_eq(smtp_data_feed(&r, ".\r\nNOOP", 7, out, &out_len, &consumed), SMTP_DATA_END);
	cr_assert_eq(out_len, 0);
	cr_assert_eq(consumed, 3);
	cr_assert_eq(r.size, 12);
	cr_assert(r.flaws & SMTP_DATA_FLAW_TOO_BIG);
}

Test(data, after_end)
{
	struct smtp_data_reader r;
	char out[32];
	size_t out_len = 9, consumed = 9;

	smtp_data_reader_init(&r, 0, SMTP_BODY_CHECK_STRICT);
	cr_assert_eq(smtp_data_feed(&r, "x\r\n.\r\n", 6, out, &out_len, &consumed), SMTP_DATA_END);
	cr_assert_eq(smtp_data_feed(&r, "more\r\n", 6, out, &out_len, &consumed), SMTP_DATA_END);
	cr_assert_eq(consumed, 0);
	cr_assert_eq(out_len, 0);
	cr_assert_eq(r.size, 3);
}

/* ---- smtp_data_feed against the byte-at-a-time reference it replaced ---- */

/* The reference: the DATA reader as it was before it worked on spans, one octet a step. Kept
 * here only, to check that the span version behaves the same on any input and any split. */
enum ref_data_state { REF_BOL, REF_TEXT, REF_CR, REF_DOT, REF_DOT_CR, REF_DONE };

struct ref_data_reader {
	int state;
	size_t line_len;
	uint64_t size;
	uint64_t max_size;
	unsigned flaws;
};

static void ref_data_emit(struct ref_data_reader *r, char c, char *out, size_t *n)
{
	r->size++;
	if (r->flaws & SMTP_DATA_FLAW_TOO_BIG)
		return;
	if (r->max_size != 0 && r->size > r->max_size) {
		r->flaws |= SMTP_DATA_FLAW_TOO_BIG;
		return;
	}
	out[(*n)++] = c;
}

static void ref_data_content(struct ref_data_reader *r)
{
	if (r->line_len <= SMTP_TEXT_LINE_MAX - 2)
		r->line_len++;
	if (r->line_len > SMTP_TEXT_LINE_MAX - 2)
		r->flaws |= SMTP_DATA_FLAW_LONG_LINE;
}

static enum smtp_data_status ref_data_feed(struct ref_data_reader *r, const char *in, size_t len,
					   char *out, size_t *out_len_r, size_t *consumed_r)
{
	size_t n = 0;

	*out_len_r = 0;
	*consumed_r = 0;
	if (r->state == REF_DONE)
		return SMTP_DATA_END;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		switch (r->state) {
		case REF_DOT:
			if (c == '\r') {
				r->state = REF_DOT_CR;
				continue;
			}
			break;
		case REF_DOT_CR:
			if (c == '\n') {
				r->state = REF_DONE;
				*out_len_r = n;
				*consumed_r = i + 1;
				return SMTP_DATA_END;
			}
			r->flaws |= SMTP_DATA_FLAW_BARE_CR;
			break;
		case REF_CR:
			if (c == '\n') {
				ref_data_emit(r, c, out, &n);
				r->line_len = 0;
				r->state = REF_BOL;
				continue;
			}
			r->flaws |= SMTP_DATA_FLAW_BARE_CR;
			ref_data_content(r);
			break;
		case REF_BOL:
			if (c == '.') {
				r->state = REF_DOT;
				continue;
			}
			break;
		default:
			break;
		}
		ref_data_emit(r, c, out, &n);
		if (c == '\r') {
			r->state = REF_CR;
			continue;
		}
		if (c == '\n')
			r->flaws |= SMTP_DATA_FLAW_BARE_LF;
		ref_data_content(r);
		r->state = REF_TEXT;
	}
	*out_len_r = n;
	*consumed_r = len;
	return SMTP_DATA_MORE;
}

/* xorshift32: a fixed sequence, so a failure repeats. */
static uint32_t test_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Random DATA text: mostly the octets that matter ('.', CR, LF) among letters, with an
 * occasional long run so that the 1000-octet limit is crossed. */
static size_t test_data_random(uint32_t *s, char *buf, size_t cap)
{
	static const char alphabet[] = "..\r\r\r\n\n\nab";
	size_t len = test_rand(s) % cap;

	for (size_t i = 0; i < len;) {
		uint32_t x = test_rand(s);

		if (x % 64 == 0) {
			size_t run = test_rand(s) % 1200;

			if (run > len - i)
				run = len - i;
			memset(buf + i, 'x', run);
			i += run;
		} else if (x % 4 == 0) {
			size_t k = i + 2 <= len ? 2 : 1;

			memcpy(buf + i, "\r\n", k);
			i += k;
		} else {
			buf[i++] = alphabet[(x >> 8) % (sizeof(alphabet) - 1)];
		}
	}
	return len;
}

Test(data, same_as_byte_at_a_time_reference)
{
	static char in[4000];
	uint32_t seed = 0x2545f491u;

	for (int round = 0; round < 20000; round++) {
		size_t len = test_data_random(&seed, in, round % 8 == 0 ? sizeof(in) : 64);
		uint64_t max = test_rand(&seed) % 3 == 0 ? test_rand(&seed) % (len + 4) : 0;
		struct smtp_data_reader got;
		struct ref_data_reader want = { .state = REF_BOL, .max_size = max };
		size_t off = 0;

		smtp_data_reader_init(&got, max, SMTP_BODY_CHECK_STRICT);
		while (off <= len) {
			size_t n = len - off, got_len = 7, want_len = 7, got_used = 7,
			       want_used = 7;
			char got_out[sizeof(in)], want_out[sizeof(in)];
			enum smtp_data_status got_st, want_st;

			if (test_rand(&seed) % 4 != 0)
				n = n == 0 ? 0 : test_rand(&seed) % (n + 1);
			got_st = smtp_data_feed(&got, in + off, n, got_out, &got_len, &got_used);
			want_st = ref_data_feed(&want, in + off, n, want_out, &want_len,
						&want_used);
			cr_assert_eq(got_st, want_st, "round %d: status at %zu+%zu", round, off, n);
			cr_assert_eq(got_used, want_used, "round %d: consumed at %zu+%zu", round,
				     off, n);
			cr_assert_eq(got_len, want_len, "round %d: out length at %zu+%zu", round,
				     off, n);
			cr_assert_eq(memcmp(got_out, want_out, got_len), 0,
				     "round %d: output at %zu", round, off);
			cr_assert_eq(got.flaws, want.flaws, "round %d: flaws at %zu+%zu", round,
				     off, n);
			cr_assert_eq(got.size, want.size, "round %d: size at %zu+%zu", round, off,
				     n);
			cr_assert_eq(got.check.line_len, want.line_len, "round %d: line length",
				     round);
			off += got_used;
			if (got_st == SMTP_DATA_END || (off == len && n == 0))
				break;
		}
	}
}

/* ---- smtp_body_check: the line rules shared by DATA and BDAT ---- */

/* Checks in[0..len) in one call, byte by byte and in every 2-way and 3-way split (a CRLF or a
 * line spanning BDAT chunks); all must give flaws. */
static void test_body_check(const char *in, size_t len, unsigned flaws)
{
	struct smtp_body_check c;

	smtp_body_check_init(&c, SMTP_BODY_CHECK_STRICT);
	smtp_body_check_feed(&c, in, len, NULL);
	cr_assert_eq(smtp_body_check_end(&c), flaws, "one shot: flaws %#x, want %#x", c.flaws,
		     flaws);
	smtp_body_check_init(&c, SMTP_BODY_CHECK_STRICT);
	for (size_t i = 0; i < len; i++)
		smtp_body_check_feed(&c, in + i, 1, NULL);
	cr_assert_eq(smtp_body_check_end(&c), flaws, "byte by byte: flaws %#x", c.flaws);
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len && len < 64; j++) {
			smtp_body_check_init(&c, SMTP_BODY_CHECK_STRICT);
			smtp_body_check_feed(&c, in, i, NULL);
			smtp_body_check_feed(&c, in + i, j - i, NULL);
			smtp_body_check_feed(&c, in + j, len - j, NULL);
			cr_assert_eq(smtp_body_check_end(&c), flaws, "split %zu/%zu: flaws %#x", i,
				     j, c.flaws);
		}
	}
}

#define BODY(in, flaws) test_body_check(in, sizeof(in) - 1, flaws)

Test(body_check, clean)
{
	BODY("", 0);
	BODY("Subject: x\r\n\r\nbody\r\n", 0);
	BODY("no final line ending", 0);
	BODY("\r\n\r\n.\r\n..\r\n", 0); /* BDAT carries dots as they are */
}

Test(body_check, smuggling)
{
	BODY("a\nb\r\n", SMTP_DATA_FLAW_BARE_LF);
	BODY("a\r\n\n.\r\n", SMTP_DATA_FLAW_BARE_LF);
	BODY("a\rb\r\n", SMTP_DATA_FLAW_BARE_CR);
	BODY("x\r\n\r.\r\nMAIL FROM:<a@b>\r\n", SMTP_DATA_FLAW_BARE_CR);
	BODY("ends in CR\r", SMTP_DATA_FLAW_BARE_CR);
	BODY("\r\r\n", SMTP_DATA_FLAW_BARE_CR);
	BODY("a\n\rb", SMTP_DATA_FLAW_BARE_LF | SMTP_DATA_FLAW_BARE_CR);
}

Test(body_check, nul)
{
	BODY("From: a@b\0c@d\r\n", SMTP_DATA_FLAW_NUL);
	BODY("\0", SMTP_DATA_FLAW_NUL);
}

Test(body_check, long_lines)
{
	static char in[3000];

	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n", 2);
	test_body_check(in, 1000, 0);
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\n", 2);
	test_body_check(in, 1001, SMTP_DATA_FLAW_LONG_LINE);
	/* 998 + CR LF, then 998 again: the count restarts at each CRLF, across chunks too */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n", 2);
	memset(in + 1000, 'y', 998);
	memcpy(in + 1998, "\r\n", 2);
	test_body_check(in, 2000, 0);
	/* a bare CR is content: 997 + CR + x makes 999 */
	memset(in, 'x', 997);
	in[997] = '\r';
	memcpy(in + 998, "xx", 2);
	test_body_check(in, 1000, SMTP_DATA_FLAW_BARE_CR | SMTP_DATA_FLAW_LONG_LINE);
}

/* The reference checker: one octet a step. */
static unsigned ref_body_check(const char *in, size_t len)
{
	unsigned flaws = 0;
	size_t line = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\0')
			flaws |= SMTP_DATA_FLAW_NUL;
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n') {
			line = 0;
			i++;
			continue;
		}
		if (in[i] == '\r')
			flaws |= SMTP_DATA_FLAW_BARE_CR;
		if (in[i] == '\n')
			flaws |= SMTP_DATA_FLAW_BARE_LF;
		if (++line > SMTP_TEXT_LINE_MAX - 2)
			flaws |= SMTP_DATA_FLAW_LONG_LINE;
	}
	return flaws;
}

Test(body_check, same_as_reference_any_split)
{
	static char in[4000];
	uint32_t seed = 0x9e3779b9u;

	for (int round = 0; round < 20000; round++) {
		size_t len = test_data_random(&seed, in, round % 8 == 0 ? sizeof(in) : 64);
		struct smtp_body_check c;
		size_t off = 0;

		if (len > 0 && test_rand(&seed) % 16 == 0)
			in[test_rand(&seed) % len] = '\0';
		smtp_body_check_init(&c, SMTP_BODY_CHECK_STRICT);
		while (off < len) {
			size_t n = test_rand(&seed) % (len - off + 1);

			smtp_body_check_feed(&c, in + off, n, NULL);
			off += n;
		}
		cr_assert_eq(smtp_body_check_end(&c), ref_body_check(in, len), "round %d", round);
	}
}

Test(data, nul_is_a_flaw)
{
	DATA("a\0b\r\n.\r\n", SMTP_DATA_END, "a\0b\r\n", 8, SMTP_DATA_FLAW_NUL);
}

/* ---- smtp_reply_line_parse ---- */

Test(reply, lines)
{
	int code = 0;
	const char *text;
	size_t text_len;

	cr_assert_eq(smtp_reply_line_parse("250-mx.example Hello", 20, &code, &text, &text_len), 0);
	cr_assert_eq(code, 250);
	cr_assert_eq(text_len, 16);
	cr_assert_eq(memcmp(text, "mx.example Hello", 16), 0);
	cr_assert_eq(smtp_reply_line_parse("250 OK", 6, &code, &text, &text_len), 1);
	cr_assert_eq(text_len, 2);
	cr_assert_eq(smtp_reply_line_parse("554 5.7.1 No\r", 13, &code, &text, &text_len), 1);
	cr_assert_eq(code, 554);
	cr_assert_eq(text_len, 12 - 4);
	cr_assert_eq(smtp_reply_line_parse("220", 3, &code, &text, &text_len), 1);
	cr_assert_eq(code, 220);
	cr_assert_eq(text_len, 0);
	cr_assert_eq(smtp_reply_line_parse("421 ", 4, &code, &text, &text_len), 1);
	cr_assert_eq(text_len, 0);
	cr_assert_eq(smtp_reply_line_parse("25", 2, &code, &text, &text_len), -1);
	cr_assert_eq(smtp_reply_line_parse("", 0, &code, &text, &text_len), -1);
	cr_assert_eq(smtp_reply_line_parse("2500 x", 6, &code, &text, &text_len), -1);
	cr_assert_eq(smtp_reply_line_parse("25a x", 5, &code, &text, &text_len), -1);
	cr_assert_eq(smtp_reply_line_parse("650 x", 5, &code, &text, &text_len), -1);
	cr_assert_eq(smtp_reply_line_parse("160 x", 5, &code, &text, &text_len), -1);
	cr_assert_eq(smtp_reply_line_parse("270 x", 5, &code, &text, &text_len), -1);
	cr_assert_eq(smtp_reply_line_parse("250_x", 5, &code, &text, &text_len), -1);
}

/* ---- smtp_xtext_decode ---- */

Test(xtext, decode)
{
	char out[16];

	cr_assert_eq(smtp_xtext_decode("abc", 3, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "abc");
	cr_assert_eq(smtp_xtext_decode("a+2Bb+3D", 8, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "a+b=");
	cr_assert_eq(smtp_xtext_decode("+e9", 3, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "\xe9");
	cr_assert_eq(smtp_xtext_decode("", 0, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(smtp_xtext_decode("a+", 2, out, sizeof(out)), -1);
	cr_assert_eq(smtp_xtext_decode("a+4", 3, out, sizeof(out)), -1);
	cr_assert_eq(smtp_xtext_decode("a+4G", 4, out, sizeof(out)), -1);
	cr_assert_eq(smtp_xtext_decode("a+00", 4, out, sizeof(out)), -1);
	cr_assert_eq(smtp_xtext_decode("a=b", 3, out, sizeof(out)), -1);
	cr_assert_eq(smtp_xtext_decode("a b", 3, out, sizeof(out)), -1);
	cr_assert_eq(smtp_xtext_decode("a\x80", 2, out, sizeof(out)), -1);
	cr_assert_eq(smtp_xtext_decode("abcd", 4, out, 5), 0);
	cr_assert_eq(smtp_xtext_decode("abcde", 5, out, 5), -1);
	cr_assert_eq(smtp_xtext_decode("", 0, out, 0), -1);
}

/* ---- bare LF from trusted clients (relay_networks, the local socket) ---- */

/* The checker in mode over in[0..len), one shot, byte by byte and in every 2-way and 3-way
 * split: the octets written must be want[0..want_len) and the flaws flaws every time. */
static void test_body_norm(unsigned mode, const char *in, size_t len, const char *want,
			   size_t want_len, unsigned flaws)
{
	char out[256];
	struct smtp_body_check c;

	cr_assert_lt(2 * len, sizeof(out));
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j++) {
			size_t w = 0;

			smtp_body_check_init(&c, mode);
			w += smtp_body_check_feed(&c, in, i, out + w);
			w += smtp_body_check_feed(&c, in + i, j - i, out + w);
			w += smtp_body_check_feed(&c, in + j, len - j, out + w);
			cr_assert_eq(smtp_body_check_end(&c), flaws, "split %zu/%zu: flaws %#x", i,
				     j, c.flaws);
			cr_assert_eq(w, want_len, "split %zu/%zu: wrote %zu, want %zu", i, j, w,
				     want_len);
			cr_assert_eq(memcmp(out, want, w), 0, "split %zu/%zu: output differs", i,
				     j);
		}
	}
	size_t w = 0;
	smtp_body_check_init(&c, mode);
	for (size_t i = 0; i < len; i++)
		w += smtp_body_check_feed(&c, in + i, 1, out + w);
	cr_assert_eq(smtp_body_check_end(&c), flaws, "byte by byte: flaws %#x", c.flaws);
	cr_assert_eq(w, want_len, "byte by byte: wrote %zu", w);
	cr_assert_eq(memcmp(out, want, w), 0, "byte by byte: output differs");
}

#define NORM(mode, in, want, flaws) \
	test_body_norm(mode, in, sizeof(in) - 1, want, sizeof(want) - 1, flaws)

Test(body_check, strict_writes_input_unchanged)
{
	NORM(SMTP_BODY_CHECK_STRICT, "a\r\nb\r\n", "a\r\nb\r\n", 0);
	NORM(SMTP_BODY_CHECK_STRICT, "a\nb\r\n", "a\nb\r\n", SMTP_DATA_FLAW_BARE_LF);
	NORM(SMTP_BODY_CHECK_STRICT, "a\rb", "a\rb", SMTP_DATA_FLAW_BARE_CR);
}

Test(body_check, bare_lf_ok_becomes_crlf)
{
	NORM(SMTP_BODY_CHECK_BARE_LF_OK, "a\nb\n", "a\r\nb\r\n", 0);
	NORM(SMTP_BODY_CHECK_BARE_LF_OK, "\n\n", "\r\n\r\n", 0);
	NORM(SMTP_BODY_CHECK_BARE_LF_OK, "mixed\r\nlf\ncrlf\r\n", "mixed\r\nlf\r\ncrlf\r\n", 0);
	NORM(SMTP_BODY_CHECK_BARE_LF_OK, "no end", "no end", 0);
	/* a bare CR stays refused in every mode, and is kept as it came */
	NORM(SMTP_BODY_CHECK_BARE_LF_OK, "a\rb\n", "a\rb\r\n", SMTP_DATA_FLAW_BARE_CR);
	NORM(SMTP_BODY_CHECK_BARE_LF_OK, "a\n\rb\n", "a\r\n\rb\r\n", SMTP_DATA_FLAW_BARE_CR);
	NORM(SMTP_BODY_CHECK_BARE_LF_OK, "ends in CR\r", "ends in CR\r", SMTP_DATA_FLAW_BARE_CR);
	NORM(SMTP_BODY_CHECK_BARE_LF_OK, "a\0\n", "a\0\r\n", SMTP_DATA_FLAW_NUL);
}

Test(body_check, bare_lf_ok_ends_lines_for_the_length_limit)
{
	char in[1300], want[1400];
	struct smtp_body_check c;
	size_t n = 0, w = 0;

	for (int k = 0; k < 2; k++) { /* two lines of 600: each fine, 1201 together is not */
		memset(in + n, 'x', 600);
		n += 600;
		in[n++] = '\n';
	}
	smtp_body_check_init(&c, SMTP_BODY_CHECK_BARE_LF_OK);
	w = smtp_body_check_feed(&c, in, n - 1, want);
	w += smtp_body_check_feed(&c, in + n - 1, 1, want + w);
	cr_assert_eq(smtp_body_check_end(&c), 0);
	cr_assert_eq(w, n + 2);
	smtp_body_check_init(&c, SMTP_BODY_CHECK_STRICT);
	smtp_body_check_feed(&c, in, n, NULL);
	cr_assert_eq(smtp_body_check_end(&c), SMTP_DATA_FLAW_BARE_LF | SMTP_DATA_FLAW_LONG_LINE);
}

/* The DATA reader in mode over in[0..len), one shot, byte by byte and in every 2-way split,
 * each piece given exactly smtp_data_out_room() of output. */
static void test_data_mode(unsigned mode, const char *in, size_t len, enum smtp_data_status st,
			   const char *want, size_t want_len, size_t want_consumed, unsigned flaws)
{
	for (size_t step = 0; step <= len + 1; step++) {
		for (size_t cut = 0; cut <= len; cut++) {
			struct smtp_data_reader r;
			char got[512];
			size_t got_len = 0, off = 0;
			enum smtp_data_status s = SMTP_DATA_MORE;

			if (step != 0 && cut != 0)
				break; /* step 1: byte by byte; step len+1: one shot; cut: 2-way */
			smtp_data_reader_init(&r, 0, mode);
			while (off < len) {
				size_t n = step != 0 ? step : (off < cut ? cut - off : len - off);
				if (n > len - off)
					n = len - off;
				size_t out_len = 0, consumed = 0;
				char *out = malloc(smtp_data_out_room(&r, n) + 1);

				cr_assert_not_null(out);
				s = smtp_data_feed(&r, in + off, n, out, &out_len, &consumed);
				cr_assert_leq(out_len, smtp_data_out_room(&r, n));
				cr_assert_lt(got_len + out_len, sizeof(got));
				memcpy(got + got_len, out, out_len);
				free(out);
				got_len += out_len;
				off += consumed;
				if (s == SMTP_DATA_END)
					break;
			}
			cr_assert_eq(s, st, "step %zu cut %zu: status", step, cut);
			cr_assert_eq(off, want_consumed, "step %zu cut %zu: consumed %zu", step,
				     cut, off);
			cr_assert_eq(r.flaws, flaws, "step %zu cut %zu: flaws %#x", step, cut,
				     r.flaws);
			cr_assert_eq(got_len, want_len, "step %zu cut %zu: out %zu, want %zu", step,
				     cut, got_len, want_len);
			cr_assert_eq(memcmp(got, want, got_len), 0, "step %zu cut %zu: output",
				     step, cut);
		}
	}
}

#define DATA_MODE(mode, in, st, want, consumed, flaws) \
	test_data_mode(mode, in, sizeof(in) - 1, st, want, sizeof(want) - 1, consumed, flaws)

Test(data_feed, bare_lf_ok_lf_only_message)
{
	static const char in[] = "Subject: lf\n\n..dot\nbody\n.\nQUIT\r\n";
	DATA_MODE(SMTP_BODY_CHECK_BARE_LF_OK, in, SMTP_DATA_END,
		  "Subject: lf\r\n\r\n.dot\r\nbody\r\n", sizeof(in) - 1 - 6, 0);
}

Test(data_feed, bare_lf_ok_every_end_form)
{
	DATA_MODE(SMTP_BODY_CHECK_BARE_LF_OK, "a\r\n.\nX", SMTP_DATA_END, "a\r\n", 5, 0);
	DATA_MODE(SMTP_BODY_CHECK_BARE_LF_OK, "a\n.\r\nX", SMTP_DATA_END, "a\r\n", 5, 0);
	DATA_MODE(SMTP_BODY_CHECK_BARE_LF_OK, "a\r\n.\r\nX", SMTP_DATA_END, "a\r\n", 6, 0);
	DATA_MODE(SMTP_BODY_CHECK_BARE_LF_OK, ".\nX", SMTP_DATA_END, "", 2, 0);
	/* a bare CR is still refused, and ".\r" + other still drops both */
	DATA_MODE(SMTP_BODY_CHECK_BARE_LF_OK, "a\rb\n.\n", SMTP_DATA_END, "a\rb\r\n", 6,
		  SMTP_DATA_FLAW_BARE_CR);
	DATA_MODE(SMTP_BODY_CHECK_BARE_LF_OK, "a\n.\rb\n.\n", SMTP_DATA_END, "a\r\nb\r\n", 8,
		  SMTP_DATA_FLAW_BARE_CR);
}

Test(data_feed, strict_keeps_smuggling_protection)
{
	/* the same bytes from anyone else: no end but CRLF.CRLF, and the message is flawed */
	DATA_MODE(SMTP_BODY_CHECK_STRICT, "a\n.\nb\r\n.\r\nX", SMTP_DATA_END, "a\n.\nb\r\n", 10,
		  SMTP_DATA_FLAW_BARE_LF);
	DATA_MODE(SMTP_BODY_CHECK_STRICT, "a\n.\r\nb\r\n.\r\nX", SMTP_DATA_END, "a\n.\r\nb\r\n", 11,
		  SMTP_DATA_FLAW_BARE_LF);
	DATA_MODE(SMTP_BODY_CHECK_STRICT, "a\n.\n", SMTP_DATA_MORE, "a\n.\n", 4,
		  SMTP_DATA_FLAW_BARE_LF);
}

/* A message over its limit is skipped to its end without storing: the end is found across
 * many scratch-sized pieces and the input after it is left alone. */
Test(data, skip_finds_the_end_of_a_long_message)
{
	struct smtp_data_reader r;
	smtp_data_reader_init(&r, 100, 0);
	struct buf in;
	buf_init(&in);
	for (int i = 0; i < 1000; i++)
		buf_append_str(&in, "a line of the message body, long enough\r\n");
	buf_append_str(&in, ".\r\nQUIT\r\n");
	size_t consumed = 0;
	cr_assert_eq(smtp_data_skip(&r, in.data, in.len, &consumed), SMTP_DATA_END);
	cr_assert_eq(consumed, in.len - strlen("QUIT\r\n"));
	cr_assert_gt(r.size, 100, "the size is still counted");
	smtp_data_reader_init(&r, 100, 0);
	cr_assert_eq(smtp_data_skip(&r, in.data, 5000, &consumed), SMTP_DATA_MORE);
	cr_assert_eq(consumed, 5000);
	buf_free(&in);
}
