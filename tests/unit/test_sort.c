/* test_sort.c - SORT and THREAD arguments (criteria, REVERSE, RETURN, charset, errors) and the SORT order (ties in folder order whatever REVERSE says). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parser.h"
#include "sort.h"

/* Parses "t SORT <args>" / "t THREAD <args>" and renders the program or "ERR code text". */
static char *parse(bool thread, const char *args)
{
	struct buf line, out;
	buf_init(&line);
	buf_init(&out);
	buf_printf(&line, "t %s %s\r\n", thread ? "THREAD" : "SORT", args);
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used;
	cr_assert_eq(imap_parser_feed(p, line.data, line.len, &used), IMAP_PARSE_DONE);
	const struct imap_command *c = imap_parser_command(p);
	struct sort_program prog;
	struct search_error err;
	int r = thread ? thread_parse(c->args, c->count, 0, &prog, &err)
		       : sort_parse(c->args, c->count, 0, &prog, &err);
	if (r < 0) {
		buf_printf(&out, "ERR %d %s", (int)err.code, err.text);
	} else {
		if (thread)
			buf_printf(&out, "ALG=%d ", (int)prog.alg);
		for (unsigned i = 0; i < prog.ncrit; i++)
			buf_printf(&out, "%s%d ", prog.crit[i].reverse ? "-" : "",
				   (int)prog.crit[i].key);
		if (prog.search.esearch)
			buf_printf(&out, "RETURN=%u ", prog.search.return_opts);
		buf_printf(&out, "KEYS=%d ", (int)prog.needs_keys);
		search_key_dump(&out, prog.search.root);
		sort_program_free(&prog);
	}
	imap_parser_free(&p);
	buf_free(&line);
	return buf_steal(&out, NULL);
}

#define P(thread, args, want)                           \
	do {                                            \
		char *s_ = parse(thread, args);         \
		cr_assert_str_eq(s_, want, "%s", args); \
		free(s_);                               \
	} while (0)

Test(sort, parse)
{
	P(false, "(ARRIVAL) US-ASCII ALL", "0 KEYS=0 AND(ALL)");
	P(false, "(reverse date subject) utf-8 SEEN", "-2 5 KEYS=1 AND(FLAG(\\Seen))");
	P(false, "(SIZE REVERSE DISPLAYFROM DISPLAYTO) UTF-8 1:3",
	  "4 -7 8 KEYS=1 AND(SEQSET(1:3))");
	P(false, "RETURN (MIN MAX) (ARRIVAL) US-ASCII ALL", "0 RETURN=3 KEYS=0 AND(ALL)");
	P(false, "RETURN () (ARRIVAL) US-ASCII ALL", "0 RETURN=4 KEYS=0 AND(ALL)");
	P(false, "RETURN (PARTIAL 4:2) (ARRIVAL) US-ASCII ALL", "0 RETURN=32 KEYS=0 AND(ALL)");
	P(false, "() US-ASCII ALL", "ERR 1 Sort criteria must be a non-empty list");
	P(false, "(REVERSE) US-ASCII ALL", "ERR 1 REVERSE without a criterion");
	P(false, "(REVERSE REVERSE DATE) US-ASCII ALL", "ERR 1 REVERSE twice");
	P(false, "(COLOUR) US-ASCII ALL", "ERR 1 Unknown sort criterion");
	P(false, "(DATE)", "ERR 1 Missing charset");
	P(false, "(DATE) KOI8-R ALL", "ERR 2 Unsupported charset");
	P(false, "(DATE) UTF-8", "ERR 1 Missing search keys");
	P(false, "RETURN (PARTIAL 1:*) (DATE) UTF-8 ALL", "ERR 1 PARTIAL needs a range lo:hi");
	P(false, "RETURN (PARTIAL 1) (DATE) UTF-8 ALL", "ERR 1 PARTIAL needs a range lo:hi");
	P(false, "RETURN (PARTIAL 0:3) (DATE) UTF-8 ALL", "ERR 1 PARTIAL needs a range lo:hi");
}

Test(sort, parse_thread)
{
	P(true, "REFERENCES UTF-8 ALL", "ALG=1 KEYS=1 AND(ALL)");
	P(true, "orderedsubject us-ascii unseen", "ALG=0 KEYS=1 AND(NOT(FLAG(\\Seen)))");
	P(true, "REFS UTF-8 ALL", "ERR 1 Unknown threading algorithm");
	P(true, "REFERENCES", "ERR 1 Missing charset");
	P(true, "REFERENCES BIG5 ALL", "ERR 2 Unsupported charset");
}

static void order(struct sort_msg *m, size_t n, const char *crit, const char *want)
{
	struct sort_criterion c[SORT_MAX_CRITERIA];
	unsigned nc = 0;
	for (const char *p = crit; *p; p++) {
		bool rev = *p == '-';
		if (rev)
			p++;
		c[nc++] = (struct sort_criterion){ *p == 'd'   ? SORT_DATE
						   : *p == 's' ? SORT_SUBJECT
						   : *p == 'z' ? SORT_SIZE
							       : SORT_ARRIVAL,
						   rev };
	}
	sort_order(m, n, c, nc);
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%u", i ? " " : "", m[i].seq);
	cr_assert_str_eq(b.data, want, "criteria %s", crit);
	buf_free(&b);
}

Test(sort, order_ties_stay_in_folder_order)
{
	/* imaptest sort-date: dates of seven messages. */
	static const int64_t dates[] = { 10, 40, 20, 40, 25, 40, 20 };
	static const uint64_t sizes[] = { 1, 9, 3, 8, 5, 7, 4 };
	struct sort_msg m[7];
	for (int round = 0; round < 3; round++) {
		for (uint32_t i = 0; i < 7; i++)
			m[i] = (struct sort_msg){
				.seq = i + 1, .date = dates[i], .size = sizes[i], .subject = ""
			};
		if (round == 0)
			order(m, 7, "d", "1 3 7 5 2 4 6");
		else if (round == 1)
			order(m, 7, "-d", "2 4 6 5 3 7 1");
		else
			order(m, 7, "d-z", "1 7 3 5 2 4 6");
	}
}
