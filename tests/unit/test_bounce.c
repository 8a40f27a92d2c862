/* test_bounce.c - DSN composition (RFC 3464 structure) and the retry schedule arithmetic. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "scheduler.h"
#include "xalloc.h"

static void env_fill(struct queue_envelope *env)
{
	memset(env, 0, sizeof(*env));
	strcpy(env->id, "0123456789ABCDEF");
	env->arrival = 1700000000;
	env->sender = xstrdup("alice@example.org");
	env->nrcpts = 2;
	env->rcpts = xcalloc(2, sizeof(*env->rcpts));
	env->rcpts[0].addr = xstrdup("bob@remote.example");
	env->rcpts[0].orig = xstrdup("bobby@example.org");
	env->rcpts[0].code = 550;
	env->rcpts[0].last_error = xstrdup(
		"mx1.remote.example[192.0.2.7]:25 said: 550 5.1.1 <bob@remote.example>: no such "
		"user (in reply to RCPT TO)");
	env->rcpts[1].addr = xstrdup("carol@null.example");
	env->rcpts[1].code = 556;
	env->rcpts[1].last_error = xstrdup("5.1.10 domain null.example accepts no mail (null MX)");
}

static const char MSG[] = "From: Alice <alice@example.org>\r\nSubject: hi\r\nMessage-ID: "
			  "<orig@x>\r\n\r\nsecret body\r\n";

Test(bounce, structure)
{
	struct queue_envelope env;
	struct buf out;
	size_t idx[] = { 0, 1 };
	env_fill(&env);
	buf_init(&out);
	bounce_compose(&out, "mx.test", &env, MSG, sizeof(MSG) - 1, idx, 2, BOUNCE_FAILED,
		       1700000100);
	const char *s = out.data;
	cr_assert(strstr(s, "From: Mail Delivery System <MAILER-DAEMON@mx.test>\r\n"));
	cr_assert(strstr(s, "To: <alice@example.org>\r\n"));
	cr_assert(strstr(s, "Content-Type: multipart/report; report-type=delivery-status;"));
	cr_assert(strstr(s, "Content-Type: message/delivery-status\r\n"));
	cr_assert(strstr(s, "Reporting-MTA: dns; mx.test\r\n"));
	cr_assert(strstr(s, "Final-Recipient: rfc822; bob@remote.example\r\n"));
	cr_assert(strstr(s, "Original-Recipient: rfc822; bobby@example.org\r\n"));
	cr_assert(strstr(s, "Action: failed\r\nStatus: 5.1.1\r\n"));
	cr_assert(strstr(s, "Remote-MTA: dns; mx1.remote.example\r\n"));
	cr_assert(strstr(s, "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.example>: no such user"));
	cr_assert(strstr(s, "Final-Recipient: rfc822; carol@null.example\r\nAction: "
			    "failed\r\nStatus: 5.1.10\r\n"));
	cr_assert(strstr(s, "Content-Type: text/rfc822-headers\r\n\r\nFrom: Alice "
			    "<alice@example.org>\r\nSubject: hi\r\nMessage-ID: <orig@x>\r\n"));
	cr_assert_null(strstr(s, "secret body"), "the body is not returned");
	cr_assert(strstr(s, "Auto-Submitted: auto-replied\r\n"));
	/* every line ends in CRLF and no bare LF */
	for (size_t i = 0; i < out.len; i++)
		if (s[i] == '\n')
			cr_assert(i > 0 && s[i - 1] == '\r', "bare LF at %zu", i);
	/* the closing boundary is there */
	cr_assert(strstr(s, "--\r\n") != NULL);
	buf_free(&out);
	queue_envelope_free(&env);
}

Test(bounce, delayed)
{
	struct queue_envelope env;
	struct buf out;
	size_t idx[] = { 0 };
	env_fill(&env);
	buf_init(&out);
	bounce_compose(&out, "mx.test", &env, MSG, sizeof(MSG) - 1, idx, 1, BOUNCE_DELAYED,
		       1700014400);
	cr_assert(strstr(out.data, "Action: delayed\r\n"));
	cr_assert(strstr(out.data, "Subject: Delayed Mail"));
	cr_assert_null(strstr(out.data, "carol@null.example"));
	buf_free(&out);
	queue_envelope_free(&env);
}

Test(bounce, status_codes)
{
	char st[16];
	bounce_status_code("x said: 550 5.7.1 relay denied", 550, st);
	cr_assert_str_eq(st, "5.7.1");
	bounce_status_code("4.4.1 connect to mx: refused", 0, st);
	cr_assert_str_eq(st, "4.4.1");
	bounce_status_code("no code here", 550, st);
	cr_assert_str_eq(st, "5.0.0");
	bounce_status_code("no code here", 451, st);
	cr_assert_str_eq(st, "4.0.0");
	bounce_status_code("version 1.2.3.4 is not a code", 554, st);
	cr_assert_str_eq(st, "5.0.0");
	bounce_status_code(NULL, 0, st);
	cr_assert_str_eq(st, "4.0.0");
}

Test(scheduler, retry_delay)
{
	uint64_t sched[] = { 60, 300, 900 };
	cr_assert_eq(scheduler_retry_delay(sched, 3, 1), 60);
	cr_assert_eq(scheduler_retry_delay(sched, 3, 2), 300);
	cr_assert_eq(scheduler_retry_delay(sched, 3, 3), 900);
	cr_assert_eq(scheduler_retry_delay(sched, 3, 4), 900, "the last delay repeats");
	cr_assert_eq(scheduler_retry_delay(sched, 3, 1000), 900);
	cr_assert_eq(scheduler_retry_delay(sched, 3, 0), 60);
	cr_assert_eq(scheduler_retry_delay(NULL, 0, 5), 300);
}

/* RFC 6533: the notice about an SMTPUTF8 message is internationalized. */
Test(bounce, smtputf8_message_gets_global_types)
{
	struct queue_envelope env;
	struct buf out;
	size_t idx[] = { 0 };
	env_fill(&env);
	env.body_flags = xstrdup("8BITMIME SMTPUTF8");
	free(env.rcpts[0].addr);
	env.rcpts[0].addr = xstrdup("j\xc3\xbcrgen@remote.example");
	buf_init(&out);
	cr_assert(bounce_needs_utf8(&env));
	bounce_compose(&out, "mx.test", &env, MSG, sizeof(MSG) - 1, idx, 1, BOUNCE_FAILED,
		       1700000100);
	const char *s = out.data;
	cr_assert(strstr(s, "Content-Type: text/plain; charset=utf-8\r\n"));
	cr_assert_null(strstr(s, "us-ascii"));
	cr_assert(strstr(s, "Content-Type: message/global-delivery-status\r\n"));
	cr_assert(strstr(s, "Final-Recipient: utf-8; j\xc3\xbcrgen@remote.example\r\n"));
	cr_assert(strstr(s, "X-Original-Sender: rfc822; alice@example.org\r\n"));
	cr_assert(strstr(s, "Content-Type: message/global-headers\r\n"));
	queue_envelope_free(&env);
	buf_free(&out);
}

Test(bounce, ascii_message_keeps_classic_types)
{
	struct queue_envelope env;
	env_fill(&env);
	cr_assert(!bounce_needs_utf8(&env));
	queue_envelope_free(&env);
}
