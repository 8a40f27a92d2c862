/* test_cmd_qresync.c - SELECT's QRESYNC parameter parser and the VANISHED response writer (RFC 7162). */
#include <criterion/criterion.h>
#include <string.h>

#include "cmd_qresync.h"
#include "imap_parser.h"
#include "mailbox.h"

static struct imap_parser *p;

static int parse(const char *arg, struct qresync_select *q, const char **error)
{
	struct buf line;
	buf_init(&line);
	buf_printf(&line, "t SELECT INBOX (QRESYNC %s)\r\n", arg);
	imap_parser_free(&p);
	p = imap_parser_new(NULL);
	size_t used;
	cr_assert_eq(imap_parser_feed(p, line.data, line.len, &used), IMAP_PARSE_DONE, "%s", arg);
	buf_free(&line);
	const struct imap_command *c = imap_parser_command(p);
	const struct imap_arg *l;
	unsigned n;
	cr_assert(imap_arg_list(&c->args[1], &l, &n) && n == 2);
	return qresync_select_parse(&l[1], q, error);
}

static void fini(void)
{
	imap_parser_free(&p);
}

TestSuite(qresync, .fini = fini);

Test(qresync, rfc_examples)
{
	struct qresync_select q;
	const char *e;
	/* RFC 7162 3.2.5.2 */
	cr_assert_eq(parse("(67890007 20050715194045000 41,43:211,214:541)", &q, &e), 0, "%s", e);
	cr_assert_eq(q.uidvalidity, 67890007u);
	cr_assert_eq(q.modseq, 20050715194045000ull);
	cr_assert(q.has_known && !q.has_match);
	cr_assert_eq(seqset_count(&q.known), 1 + 169 + 328);
	qresync_select_free(&q);
	cr_assert_eq(parse("(67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 "
			   "15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,"
			   "29994,29997))",
			   &q, &e),
		     0, "%s", e);
	cr_assert(q.has_known && q.has_match);
	qresync_select_free(&q);
	cr_assert_eq(parse("(1 2)", &q, &e), 0);
	cr_assert(!q.has_known);
	qresync_select_free(&q);
}

Test(qresync, errors)
{
	static const char *const bad[] = {
		"()",
		"(1)",
		"(0 5)",
		"(1 0)",
		"(x 5)",
		"(1 5 0:3)",
		"(1 5 1:3 (1 2 3))",
		"(1 5 1:3 (1,2 3))",
		"(1 5 1 2 3 4)",
		"1",
		"(1 5 1:3 (1 2) x)",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct qresync_select q;
		const char *e = NULL;
		cr_assert_eq(parse(bad[i], &q, &e), -1, "%s", bad[i]);
		cr_assert_not_null(e);
		qresync_select_free(&q);
	}
}

Test(qresync, vanished_writer_filters)
{
	const struct mailbox_uid_range r[] = { { 2, 4 }, { 8, 8 }, { 10, 20 } };
	struct buf b;
	buf_init(&b);
	qresync_write_vanished(&b, true, r, 3, NULL);
	cr_assert_str_eq(b.data, "* VANISHED (EARLIER) 2:4,8,10:20\r\n");
	buf_reset(&b);
	struct seqset known;
	seqset_init(&known);
	seqset_add_range(&known, 3, 9);
	seqset_add_range(&known, 15, 15);
	qresync_write_vanished(&b, false, r, 3, &known);
	cr_assert_str_eq(b.data, "* VANISHED 3:4,8,15\r\n");
	buf_reset(&b);
	seqset_free(&known);
	seqset_init(&known);
	seqset_add(&known, 5);
	qresync_write_vanished(&b, true, r, 3, &known);
	cr_assert_eq(b.len, 0);
	seqset_free(&known);
	buf_free(&b);
}
