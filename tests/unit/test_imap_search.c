/* test_imap_search.c - SEARCH evaluation: every key kind against in-memory messages, lazy loading, charsets, dates, sets. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "imap_date.h"
#include "imap_parser.h"
#include "mailbox.h"
#include "search.h"
#include "search_parse.h"
#include "search_test_command.h"

static const char MSG_PLAIN[] = "From: Bob Example <bob@example.org>\r\n"
				"To: alice@localhost, \"Carol\" <carol@example.test>\r\n"
				"Subject: Lunch plans\r\n"
				"Date: Mon, 02 Feb 2026 23:30:00 -0500\r\n"
				"X-Spam-Flag: NO\r\n"
				"\r\n"
				"Shall we meet at noon?\r\n";

static const char MSG_MIME[] = "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>\r\n"
			       "Subject: =?UTF-8?B?UsOpc3Vtw6k=?=\r\n"
			       "MIME-Version: 1.0\r\n"
			       "Content-Type: multipart/alternative; boundary=b1\r\n"
			       "\r\n"
			       "--b1\r\n"
			       "Content-Type: text/plain; charset=iso-8859-1\r\n"
			       "Content-Transfer-Encoding: quoted-printable\r\n"
			       "\r\n"
			       "Caf=E9 au lait\r\n"
			       "--b1\r\n"
			       "Content-Type: image/png\r\n"
			       "Content-Transfer-Encoding: base64\r\n"
			       "\r\n"
			       "aGlkZGVud29yZA==\r\n"
			       "--b1--\r\n";

static const char *const keyword_names[MAILBOX_MAX_KEYWORDS] = { "$Work", "Important" };

static int loads;

static int test_load(struct search_msg *m, void *arg)
{
	loads++;
	m->data = arg;
	m->len = strlen(arg);
	return 0;
}

static int test_load_fail(struct search_msg *m, void *arg)
{
	(void)m;
	(void)arg;
	loads++;
	return -1;
}

static void msg_init(struct search_msg *m, const char *text, uint32_t seq, uint32_t uid)
{
	memset(m, 0, sizeof(*m));
	m->seq = seq;
	m->uid = uid;
	m->max_seq = 10;
	m->max_uid = 100;
	m->keyword_names = keyword_names;
	m->size = strlen(text);
	m->modseq = 7;
	m->internal_date = 1770076800; /* 03-Feb-2026 00:00:00 UTC */
	m->tz_minutes = 0;
	m->load = test_load;
	m->load_arg = (void *)text;
}

/* Evaluates "t SEARCH <args>" against m: 1, 0, or -1 when the program does not parse. */
static int eval(const char *args, struct search_msg *m)
{
	const struct imap_command *c;
	struct imap_parser *p = search_test_command(args, &c);
	struct search_program prog;
	struct search_error err;
	int result = -1;
	if (search_parse(c->args, c->count, 0, &prog, &err) == 0) {
		result = search_match(prog.root, m);
		search_program_free(&prog);
	}
	search_msg_clear(m);
	m->data = NULL;
	m->len = 0;
	imap_parser_free(&p);
	return result;
}

#define YES(m, args) cr_assert_eq(eval(args, m), 1, "expected a match: %s", args)
#define NO(m, args)  cr_assert_eq(eval(args, m), 0, "expected no match: %s", args)

Test(imap_search, flags_and_keywords_without_loading)
{
	struct search_msg m;
	msg_init(&m, MSG_PLAIN, 3, 30);
	m.flags = MAILBOX_SEEN | MAILBOX_FLAGGED;
	m.keywords = 1u << 1;
	loads = 0;
	YES(&m, "SEEN FLAGGED UNANSWERED UNDELETED UNDRAFT");
	NO(&m, "UNSEEN");
	YES(&m, "KEYWORD important");
	NO(&m, "KEYWORD $Work");
	YES(&m, "UNKEYWORD $work");
	NO(&m, "KEYWORD Unknown");
	YES(&m, "OLD");
	NO(&m, "NEW");
	m.flags |= MAILBOX_RECENT;
	YES(&m, "RECENT");
	cr_assert_eq(loads, 0, "flags must not read the message");
}

Test(imap_search, sets_sizes_modseq)
{
	struct search_msg m;
	msg_init(&m, MSG_PLAIN, 3, 30);
	YES(&m, "1:3");
	NO(&m, "4:*");
	YES(&m, "2,3,9");
	YES(&m, "UID 30");
	YES(&m, "UID 25:*");
	NO(&m, "UID 31:40");
	m.uid = 100;
	YES(&m, "UID *");
	YES(&m, "LARGER 10");
	NO(&m, "LARGER 1000");
	YES(&m, "SMALLER 1000");
	NO(&m, "SMALLER 10");
	YES(&m, "MODSEQ 7");
	NO(&m, "MODSEQ 8");
	YES(&m, "OR MODSEQ 8 UID 100");
	NO(&m, "NOT (UID 100 3)");
}

Test(imap_search, headers_and_addresses)
{
	struct search_msg m;
	msg_init(&m, MSG_PLAIN, 1, 1);
	loads = 0;
	YES(&m, "FROM bob");
	YES(&m, "FROM \"bob example\"");
	YES(&m, "TO carol");
	YES(&m, "TO ALICE@LOCALHOST");
	NO(&m, "CC carol");
	YES(&m, "SUBJECT PLANS");
	NO(&m, "SUBJECT dinner");
	YES(&m, "HEADER X-Spam-Flag no");
	YES(&m, "HEADER x-spam-flag \"\"");
	NO(&m, "HEADER List-Id \"\"");
	cr_assert_gt(loads, 0);
}

/* Issue 17: FROM matches the address as ENVELOPE shows it, comments and quoting gone. */
Test(imap_search, address_keys_match_the_parsed_address)
{
	static const char msg[] = "From: <user-from (comment)@ (comment) domain.org>\r\n"
				  "To: \"user-to\"@domain.org (Real\r\n To)\r\n"
				  "Cc: =?UTF-8?Q?Andr=C3=A9?= <andre@example.fr>\r\n"
				  "Subject: user-subj (x)@domain.org\r\n"
				  "\r\n"
				  "body\r\n";
	struct search_msg m;
	msg_init(&m, msg, 1, 1);
	YES(&m, "FROM user-from@domain.org");
	YES(&m, "FROM USER-FROM@DOMAIN.ORG");
	YES(&m, "FROM comment");
	YES(&m, "TO user-to@domain.org");
	YES(&m, "TO \"Real To <user-to@\"");
	YES(&m, "CC \"andr\xc3\xa9 <andre@example.fr>\"");
	NO(&m, "FROM other@domain.org");
	NO(&m, "BCC user-from@domain.org");
	NO(&m, "SUBJECT user-subj@domain.org"); /* only the address fields are parsed */
}

Test(imap_search, encoded_words_and_charsets)
{
	struct search_msg m;
	msg_init(&m, MSG_MIME, 1, 1);
	YES(&m, "CHARSET UTF-8 SUBJECT {6}\r\nr\xc3\xa9sum");
	YES(&m, "CHARSET UTF-8 SUBJECT {8}\r\nR\xc3\x89SUM\xc3\x89");
	YES(&m, "CHARSET UTF-8 FROM {6}\r\nandr\xc3\xa9");
	YES(&m, "CHARSET UTF-8 BODY {5}\r\ncaf\xc3\xa9");
	YES(&m, "BODY \"au lait\"");
	/* Only text parts are searched: the base64 image holds "hiddenword". */
	NO(&m, "BODY hiddenword");
	NO(&m, "TEXT hiddenword");
	YES(&m, "TEXT multipart/alternative");
	YES(&m, "TEXT lait");
}

Test(imap_search, dates)
{
	struct search_msg m;
	msg_init(&m, MSG_PLAIN, 1, 1);
	/* Internal date 03-Feb-2026 00:00 UTC. */
	YES(&m, "ON 3-Feb-2026");
	YES(&m, "SINCE 3-Feb-2026");
	YES(&m, "BEFORE 4-Feb-2026");
	NO(&m, "BEFORE 3-Feb-2026");
	/* Seen from a zone west of UTC it is still 2 February. */
	m.tz_minutes = -60;
	YES(&m, "ON 2-Feb-2026");
	/* Date: header in its own zone (-0500): 2 February. */
	YES(&m, "SENTON 2-Feb-2026");
	YES(&m, "SENTBEFORE 3-Feb-2026");
	NO(&m, "SENTSINCE 3-Feb-2026");
	YES(&m, "SENTSINCE 1-Feb-2026");
}

Test(imap_search, missing_date_uses_internal_date)
{
	struct search_msg m;
	msg_init(&m, MSG_MIME, 1, 1);
	YES(&m, "SENTON 3-Feb-2026");
}

Test(imap_search, load_failure_matches_no_text)
{
	struct search_msg m;
	msg_init(&m, MSG_PLAIN, 1, 1);
	m.load = test_load_fail;
	loads = 0;
	NO(&m, "FROM bob");
	YES(&m, "NOT BODY noon");
	YES(&m, "ALL");
	cr_assert_eq(loads, 1, "a failed load is not retried");
}

Test(imap_search, deep_nesting_is_bounded)
{
	struct search_msg m;
	msg_init(&m, MSG_PLAIN, 1, 1);
	char args[1024] = "";
	for (int i = 0; i < SEARCH_MAX_DEPTH - 2; i++)
		strcat(args, "NOT ");
	strcat(args, "SEEN");
	cr_assert_eq(eval(args, &m), (SEARCH_MAX_DEPTH - 2) % 2 == 0 ? 0 : 1);
	char deep[2048] = "";
	for (int i = 0; i < SEARCH_MAX_DEPTH + 5; i++)
		strcat(deep, "NOT ");
	strcat(deep, "SEEN");
	cr_assert_eq(eval(deep, &m), -1);
}
