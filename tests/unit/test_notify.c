/* test_notify.c - the NOTIFY command parser (RFC 5465 5.1): filters, events, the rules between them, BADEVENT. */
#include <criterion/criterion.h>
#include <string.h>

#include "imap_parser.h"
#include "notify.h"

static struct imap_parser *p;

/* Parses "t NOTIFY <args>\r\n" and runs notify_parse. */
static enum notify_parse_result parse(const char *args, struct notify_spec *spec,
				      const char **error)
{
	struct buf line;
	buf_init(&line);
	buf_printf(&line, "t NOTIFY %s\r\n", args);
	imap_parser_free(&p);
	p = imap_parser_new(NULL);
	size_t used;
	cr_assert_eq(imap_parser_feed(p, line.data, line.len, &used), IMAP_PARSE_DONE, "%s", args);
	buf_free(&line);
	const struct imap_command *c = imap_parser_command(p);
	return notify_parse(c->args, c->count, spec, error);
}

static void fini(void)
{
	imap_parser_free(&p);
}

TestSuite(notify, .fini = fini);

Test(notify, rfc_examples)
{
	struct notify_spec s;
	const char *e;
	/* RFC 5465 6 (adapted: no metadata events) */
	cr_assert_eq(parse("SET STATUS (selected (MessageNew (uid body.peek[header.fields (from "
			   "to subject)]) MessageExpunge)) (subtree Lists (MessageNew "
			   "MessageExpunge))",
			   &s, &e),
		     NOTIFY_PARSE_OK, "%s", e);
	cr_assert(s.status);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.f[0].kind, NOTIFY_SELECTED);
	cr_assert_eq(s.f[0].events, NOTIFY_MESSAGE_NEW | NOTIFY_MESSAGE_EXPUNGE);
	/* MessageNew's fetch-att list is kept for the unsolicited FETCH */
	cr_assert_not_null(s.f[0].fetch_att);
	cr_assert_eq(s.f[0].fetch_att->type, IMAP_ARG_LIST);
	cr_assert_eq(s.f[0].fetch_att->count, 2);
	cr_assert_null(s.f[1].fetch_att);
	cr_assert_eq(s.f[1].kind, NOTIFY_SUBTREE);
	cr_assert_eq(s.f[1].nnames, 1);
	cr_assert_eq(parse("NONE", &s, &e), NOTIFY_PARSE_OK);
	cr_assert(s.none);
	cr_assert_eq(parse("SET (personal (MailboxName SubscriptionChange)) (mailboxes (a \"b c\") "
			   "(MessageNew MessageExpunge FlagChange)) (inboxes NONE)",
			   &s, &e),
		     NOTIFY_PARSE_OK, "%s", e);
	cr_assert_eq(s.f[0].events, NOTIFY_MAILBOX_NAME | NOTIFY_SUBSCRIPTION_CHANGE);
	cr_assert_eq(s.f[1].nnames, 2);
	cr_assert_eq(s.f[2].events, 0);
}

Test(notify, errors)
{
	struct notify_spec s;
	const char *e;
	static const char *const bad[] = {
		"",
		"SET",
		"SET STATUS",
		"FOO (selected NONE)",
		"SET (selected)",
		"SET (nosuch NONE)",
		"SET (subtree (MessageNew MessageExpunge))",
		"SET (personal (MessageNew))",
		"SET (personal (MessageExpunge FlagChange))",
		"SET (personal (FlagChange))",
		"SET (selected NONE) (selected-delayed NONE)",
		"SET (personal ())",
		"SET (personal (\"MessageNew\" MessageExpunge))",
		"NONE extra",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], &s, &e), NOTIFY_PARSE_BAD, "%s", bad[i]);
	cr_assert_eq(parse("SET (personal (AnnotationChange))", &s, &e), NOTIFY_PARSE_BADEVENT);
	cr_assert(strstr(e, "[BADEVENT (") == e, "%s", e);
	cr_assert_eq(parse("SET (personal (XFutureEvent MailboxName))", &s, &e),
		     NOTIFY_PARSE_BADEVENT);
}
