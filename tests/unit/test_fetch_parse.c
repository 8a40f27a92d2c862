/* test_fetch_parse.c - FETCH attributes and modifiers: items, canonical response names, sections, partials, errors. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_parse.h"
#include "imap_parser.h"

struct parsed {
	struct imap_parser *p;
	struct fetch_request req;
	struct fetch_error err;
	int rc;
};

/* Parses "t FETCH 1 <args>\r\n" and runs fetch_parse on the arguments after the set. */
static void parse(struct parsed *r, const char *args, unsigned flags)
{
	struct buf line;
	buf_init(&line);
	buf_printf(&line, "t FETCH 1 %s\r\n", args);
	r->p = imap_parser_new(NULL);
	size_t used;
	cr_assert_eq(imap_parser_feed(r->p, line.data, line.len, &used), IMAP_PARSE_DONE, "%s",
		     args);
	const struct imap_command *c = imap_parser_command(r->p);
	r->rc = fetch_parse(c->args + 1, c->count - 1, flags, &r->req, &r->err);
	buf_free(&line);
}

static void done(struct parsed *r)
{
	fetch_request_free(&r->req);
	cr_assert_null(r->req.items);
	imap_parser_free(&r->p);
}

/* "NAME NAME ..." of the items, or "ERR text". */
static char *names(const char *args, unsigned flags)
{
	struct parsed r;
	struct buf b;
	buf_init(&b);
	parse(&r, args, flags);
	if (r.rc < 0) {
		cr_assert_eq(r.req.count, 0);
		buf_printf(&b, "ERR %s", r.err.text);
	} else {
		for (unsigned i = 0; i < r.req.count; i++)
			buf_printf(&b, "%s%s", i ? " " : "", r.req.items[i].name);
	}
	done(&r);
	return buf_steal(&b, NULL);
}

#define N(args, expected)                                                         \
	do {                                                                      \
		char *got_ = names(args, 0);                                      \
		cr_assert_str_eq(got_, expected, "args: %s got: %s", args, got_); \
		free(got_);                                                       \
	} while (0)
#define NF(flags, args, expected)                                                 \
	do {                                                                      \
		char *got_ = names(args, flags);                                  \
		cr_assert_str_eq(got_, expected, "args: %s got: %s", args, got_); \
		free(got_);                                                       \
	} while (0)

Test(fetch_parse, simple_items_and_macros)
{
	N("FLAGS", "FLAGS");
	N("(flags internaldate rfc822.size envelope body bodystructure uid modseq)",
	  "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE UID MODSEQ");
	N("(RFC822 RFC822.HEADER RFC822.TEXT)", "RFC822 RFC822.HEADER RFC822.TEXT");
	N("FAST", "FLAGS INTERNALDATE RFC822.SIZE");
	N("all", "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE");
	N("FULL", "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY");
	N("(FLAGS UID FLAGS)", "FLAGS UID");
	NF(FETCH_PARSE_UID, "FLAGS", "UID FLAGS");
	NF(FETCH_PARSE_UID, "(FLAGS UID)", "FLAGS UID");
	NF(FETCH_PARSE_UID, "FAST", "UID FLAGS INTERNALDATE RFC822.SIZE");
}

Test(fetch_parse, canonical_section_names)
{
	N("BODY[]", "BODY[]");
	N("BODY.PEEK[]", "BODY[]");
	N("body.peek[header]", "BODY[HEADER]");
	N("BODY[TEXT]<0.2048>", "BODY[TEXT]<0>");
	N("BODY[1.2.3]", "BODY[1.2.3]");
	N("BODY[1.2.MIME]", "BODY[1.2.MIME]");
	N("BODY[4.2.HEADER]<10.20>", "BODY[4.2.HEADER]<10>");
	N("BODY[3.TEXT]", "BODY[3.TEXT]");
	N("BODY.PEEK[HEADER.FIELDS (From To \"cc\")]<0.100>",
	  "BODY[HEADER.FIELDS (FROM TO CC)]<0>");
	N("BODY[HEADER.FIELDS.NOT (x-spam)]", "BODY[HEADER.FIELDS.NOT (X-SPAM)]");
	N("BODY[1.HEADER.FIELDS (Subject)]", "BODY[1.HEADER.FIELDS (SUBJECT)]");
	N("BODY[HEADER.FIELDS (\"a\\\"b\" \"c(d)\")]", "BODY[HEADER.FIELDS (\"A\\\"B\" \"C(D)\")]");
	N("BINARY[]", "BINARY[]");
	N("BINARY.PEEK[1.2]<5.10>", "BINARY[1.2]<5>");
	N("BINARY.SIZE[3]", "BINARY.SIZE[3]");
	N("(BODY[] BODY.PEEK[] BODY[1])", "BODY[] BODY[1]");
}

Test(fetch_parse, item_fields)
{
	struct parsed r;
	parse(&r,
	      "(BODY.PEEK[2.1.HEADER.FIELDS.NOT (A B)]<4294967295.4294967295> BINARY[7] "
	      "RFC822.SIZE)",
	      0);
	cr_assert_eq(r.rc, 0);
	cr_assert_eq(r.req.count, 3);
	const struct fetch_item *it = &r.req.items[0];
	cr_assert_eq(it->type, FETCH_BODY_SECTION);
	cr_assert(it->peek);
	cr_assert_eq(it->section.part_count, 2);
	cr_assert(it->section.parts[0] == 2 && it->section.parts[1] == 1);
	cr_assert_eq(it->section.text, FETCH_SECTION_HEADER_FIELDS_NOT);
	cr_assert_eq(it->section.field_count, 2);
	cr_assert_str_eq(it->section.fields[1], "B");
	cr_assert(it->partial && it->origin == 4294967295u && it->count == 4294967295u);
	it = &r.req.items[1];
	cr_assert_eq(it->type, FETCH_BINARY);
	cr_assert(!it->peek && !it->partial);
	cr_assert_eq(it->section.parts[0], 7);
	cr_assert_eq(r.req.items[2].type, FETCH_RFC822_SIZE);
	cr_assert(r.req.sets_seen, "BINARY[] without PEEK sets \\Seen");
	done(&r);
}

Test(fetch_parse, sets_seen)
{
	static const struct {
		const char *args;
		bool seen;
	} cases[] = {
		{ "RFC822", true },
		{ "RFC822.TEXT", true },
		{ "RFC822.HEADER", false },
		{ "BODY[]", true },
		{ "BODY.PEEK[]", false },
		{ "(BODY.PEEK[1] BODY[1])", true },
		{ "BINARY.PEEK[1]", false },
		{ "BINARY.SIZE[1]", false },
		{ "(FLAGS BODY ENVELOPE)", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct parsed r;
		parse(&r, cases[i].args, 0);
		cr_assert_eq(r.rc, 0);
		cr_assert_eq(r.req.sets_seen, cases[i].seen, "%s", cases[i].args);
		done(&r);
	}
	/* RFC822.SIZE, alone or in a macro, asks for the size (learnt on demand) */
	static const struct {
		const char *args;
		bool size;
	} sized[] = { { "RFC822.SIZE", true }, { "FAST", true },         { "ALL", true },
		      { "FULL", true },        { "(FLAGS UID)", false }, { "BODY.PEEK[]", false } };
	for (size_t i = 0; i < sizeof(sized) / sizeof(sized[0]); i++) {
		struct parsed r;
		parse(&r, sized[i].args, 0);
		cr_assert_eq(r.rc, 0);
		cr_assert_eq(r.req.wants_size, sized[i].size, "%s", sized[i].args);
		done(&r);
	}
	/* the kept duplicate loses its PEEK when a non-PEEK twin follows */
	struct parsed r;
	parse(&r, "(BODY.PEEK[1] BODY[1])", 0);
	cr_assert_eq(r.req.count, 1);
	cr_assert(!r.req.items[0].peek);
	done(&r);
}

Test(fetch_parse, modifiers)
{
	struct parsed r;
	parse(&r, "(FLAGS) (CHANGEDSINCE 12345)", 0);
	cr_assert_eq(r.rc, 0);
	cr_assert(r.req.has_changedsince && r.req.changedsince == 12345 && !r.req.vanished);
	cr_assert_eq(r.req.count, 2);
	cr_assert_str_eq(r.req.items[1].name, "MODSEQ");
	done(&r);
	parse(&r, "FLAGS (VANISHED CHANGEDSINCE 9)", FETCH_PARSE_UID);
	cr_assert_eq(r.rc, 0);
	cr_assert(r.req.vanished && r.req.changedsince == 9);
	cr_assert_str_eq(r.req.items[0].name, "UID");
	done(&r);
	N("(FLAGS MODSEQ) (CHANGEDSINCE 1)", "FLAGS MODSEQ");
	N("FLAGS (VANISHED CHANGEDSINCE 9)", "ERR VANISHED is allowed only in UID FETCH");
	NF(FETCH_PARSE_UID, "FLAGS (VANISHED)", "ERR VANISHED needs CHANGEDSINCE");
	NF(FETCH_PARSE_UID, "FLAGS (VANISHED VANISHED CHANGEDSINCE 1)", "ERR VANISHED given twice");
	N("FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", "ERR CHANGEDSINCE given twice");
	N("FLAGS (CHANGEDSINCE)", "ERR CHANGEDSINCE needs a mod-sequence value");
	N("FLAGS (CHANGEDSINCE 0)", "ERR CHANGEDSINCE needs a mod-sequence value");
	N("FLAGS (CHANGEDSINCE x)", "ERR CHANGEDSINCE needs a mod-sequence value");
	N("FLAGS (CHANGEDSINCE 9223372036854775808)",
	  "ERR CHANGEDSINCE needs a mod-sequence value");
	N("FLAGS (PARTIAL 1:5)", "ERR Unknown FETCH modifier");
	N("FLAGS ()", "ERR FETCH modifiers must be a non-empty list");
	N("FLAGS CHANGEDSINCE", "ERR FETCH modifiers must be a non-empty list");
	N("FLAGS (CHANGEDSINCE 1) x", "ERR Unexpected argument after FETCH modifiers");
}

Test(fetch_parse, errors)
{
	struct parsed r;
	struct imap_arg none = { .type = IMAP_ARG_EOL };
	cr_assert_eq(fetch_parse(&none, 0, 0, &r.req, &r.err), -1);
	cr_assert_str_eq(r.err.text, "Missing FETCH attributes");

	N("FOO", "ERR Unknown FETCH attribute");
	N("\"FLAGS\"", "ERR Invalid FETCH attribute");
	N("()", "ERR Empty FETCH attribute list");
	N("(FLAGS (UID))", "ERR Invalid FETCH attribute");
	N("(FLAGS ALL)", "ERR Unknown FETCH attribute");
	N("(FLAGS FOO)", "ERR Unknown FETCH attribute");
	N("BODY.PEEK", "ERR Unknown FETCH attribute");
	N("BINARY.SIZE", "ERR Unknown FETCH attribute");
	N("FOO[]", "ERR Unknown FETCH attribute");
	N("BODY[0]", "ERR Invalid section part number");
	N("BODY[1.0]", "ERR Invalid section part number");
	N("BODY[4294967296]", "ERR Invalid section part number");
	N("BODY[1.]", "ERR Invalid section");
	N("BODY[1;2]", "ERR Invalid section");
	N("BODY[HEADERS]", "ERR Invalid section");
	N("BODY[FOO]", "ERR Invalid section");
	N("BODY[TEXT.1]", "ERR Invalid section");
	N("BODY[MIME]", "ERR MIME needs a part number");
	N("BODY[HEADER.FIELDS]", "ERR HEADER.FIELDS needs a list of field names");
	N("BODY[HEADER.FIELDS ()]", "ERR Empty header field name");
	N("BODY[HEADER.FIELDS (A  B)]", "ERR Empty header field name");
	N("BODY[HEADER.FIELDS (A:B)]", "ERR Invalid header field name");
	N("BODY[HEADER.FIELDS (\"A B\")]", "ERR Invalid header field name");
	N("BODY[HEADER.FIELDS (A)x]", "ERR Invalid section");
	N("BODY[HEADER.FIELDS (A) ]", "ERR Invalid section");
	N("BODY[HEADER.FIELDS (A]", "ERR Invalid header field list");
	N("BINARY[HEADER]", "ERR BINARY takes part numbers only");
	N("BINARY[1.MIME]", "ERR BINARY takes part numbers only");
	N("BINARY.SIZE[1]<0.5>", "ERR BINARY.SIZE takes no partial range");
	N("BODY[]<0>", "ERR Invalid partial range (want <origin.count>)");
	N("BODY[]<0.0>", "ERR Invalid partial range (want <origin.count>)");
	N("BODY[]<a.1>", "ERR Invalid partial range (want <origin.count>)");
	N("BODY[]<0.1", "ERR Invalid partial range (want <origin.count>)");
	N("BODY[]<4294967296.1>", "ERR Invalid partial range (want <origin.count>)");
	N("BODY[]x", "ERR Unexpected text after section");
	N("BODY[1][2]", "ERR Unexpected text after section");
	N("BODY[]<0.1>x", "ERR Unexpected text after section");

	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "BODY[");
	for (int i = 0; i < FETCH_MAX_PARTS; i++)
		buf_printf(&b, "%s1", i ? "." : "");
	buf_append_str(&b, "]");
	char *got = names(b.data, 0);
	cr_assert_str_eq(got, b.data);
	free(got);
	b.len--;
	buf_append_str(&b, ".1]");
	got = names(b.data, 0);
	cr_assert_str_eq(got, "ERR Too many section part numbers");
	free(got);

	buf_reset(&b);
	buf_append_str(&b, "(");
	for (int i = 0; i <= FETCH_MAX_ITEMS; i++)
		buf_append_str(&b, "FLAGS ");
	buf_append_str(&b, ")");
	got = names(b.data, 0);
	cr_assert_str_eq(got, "ERR Too many FETCH attributes");
	free(got);
	buf_free(&b);
}
