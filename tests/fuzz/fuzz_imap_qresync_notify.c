/* fuzz_imap_qresync_notify.c - libFuzzer target: NOTIFY's and SELECT (QRESYNC ...)'s argument parsers over parsed command lines, and the mtad-vanished log parser with format/parse round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_qresync.h"
#include "imap_parser.h"
#include "mailbox_index.h"
#include "notify.h"

static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

static const struct imap_command *fuzz_command(struct imap_parser *p, const char *prefix,
					       const char *args, size_t len, struct buf *line)
{
	buf_reset(line);
	buf_append_str(line, prefix);
	buf_append(line, args, len);
	buf_append_str(line, "\r\n");
	size_t off = 0, used;
	enum imap_parse_result r;
	while ((r = imap_parser_feed(p, line->data + off, line->len - off, &used)) ==
	       IMAP_PARSE_LITERAL)
		off += used;
	return r == IMAP_PARSE_DONE ? imap_parser_command(p) : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf line;
	buf_init(&line);

	struct imap_parser *p = imap_parser_new(NULL);
	const struct imap_command *c = fuzz_command(p, "t NOTIFY ", in, size, &line);
	if (c) {
		struct notify_spec spec;
		const char *error = NULL;
		enum notify_parse_result r = notify_parse(c->args, c->count, &spec, &error);
		fuzz_check(r == NOTIFY_PARSE_OK || error != NULL);
		fuzz_check(spec.n <= NOTIFY_MAX_FILTERS);
	}
	imap_parser_free(&p);

	p = imap_parser_new(NULL);
	c = fuzz_command(p, "t SELECT INBOX (QRESYNC ", in, size, &line);
	const struct imap_arg *l;
	unsigned n;
	if (c && c->count == 2 && imap_arg_list(&c->args[1], &l, &n) && n >= 2) {
		struct qresync_select q;
		const char *error = NULL;
		if (qresync_select_parse(&l[1], &q, &error) == 0)
			fuzz_check(q.uidvalidity > 0 && q.modseq > 0);
		else
			fuzz_check(error != NULL);
		qresync_select_free(&q);
	}
	imap_parser_free(&p);
	buf_free(&line);

	struct mailbox_vanished v, again;
	if (mailbox_vanished_parse(in, size, &v, NULL, 0) == 0) {
		fuzz_check(v.n <= MAILBOX_VANISHED_MAX);
		for (size_t i = 0; i < v.n; i++)
			fuzz_check(v.rec[i].lo >= 1 && v.rec[i].lo <= v.rec[i].hi &&
				   v.rec[i].modseq > v.floor);
		struct buf b;
		buf_init(&b);
		mailbox_vanished_format(&v, &b);
		fuzz_check(mailbox_vanished_parse(b.data, b.len, &again, NULL, 0) == 0);
		fuzz_check(again.n == v.n && again.floor == v.floor);
		mailbox_vanished_free(&again);
		buf_free(&b);
		mailbox_vanished_free(&v);
	}
	return 0;
}
