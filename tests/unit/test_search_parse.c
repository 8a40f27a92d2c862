/* test_search_parse.c - SEARCH programs from command text to key trees: every key, RETURN, CHARSET, errors, depth. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parser.h"
#include "search_parse.h"
#include "search_test_command.h"

/* Parses "t SEARCH <args>\r\n" (synchronising literals accepted), runs search_parse and
 * renders "[RETURN=bits ][CHARSET=n ][MODSEQ ][SAVED ]tree" or "ERR code text". */
static char *search(const char *args, unsigned flags)
{
	struct buf out;
	buf_init(&out);
	const struct imap_command *c;
	struct imap_parser *p = search_test_command(args, &c);
	struct search_program prog;
	struct search_error err;
	if (search_parse(c->args, c->count, flags, &prog, &err) < 0) {
		cr_assert_null(prog.root);
		buf_printf(&out, "ERR %d %s", (int)err.code, err.text);
	} else {
		if (prog.esearch)
			buf_printf(&out, "RETURN=%u ", prog.return_opts);
		if (prog.charset != SEARCH_CHARSET_DEFAULT)
			buf_printf(&out, "CHARSET=%d ", (int)prog.charset);
		if (prog.has_modseq)
			buf_append_str(&out, "MODSEQ ");
		if (prog.uses_saved)
			buf_append_str(&out, "SAVED ");
		search_key_dump(&out, prog.root);
		search_program_free(&prog);
		cr_assert_null(prog.root);
	}
	imap_parser_free(&p);
	return buf_steal(&out, NULL);
}

#define S(args, expected)                                                         \
	do {                                                                      \
		char *got_ = search(args, 0);                                     \
		cr_assert_str_eq(got_, expected, "args: %s got: %s", args, got_); \
		free(got_);                                                       \
	} while (0)
#define SF(flags, args, expected)                                                 \
	do {                                                                      \
		char *got_ = search(args, flags);                                 \
		cr_assert_str_eq(got_, expected, "args: %s got: %s", args, got_); \
		free(got_);                                                       \
	} while (0)

Test(search_parse, flags_and_their_negations)
{
	S("ALL", "AND(ALL)");
	S("answered deleted DRAFT flagged SEEN RECENT",
	  "AND(FLAG(\\Answered) FLAG(\\Deleted) FLAG(\\Draft) FLAG(\\Flagged) FLAG(\\Seen) "
	  "FLAG(\\Recent))");
	S("UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
	  "AND(NOT(FLAG(\\Answered)) NOT(FLAG(\\Deleted)) NOT(FLAG(\\Draft)) NOT(FLAG(\\Flagged)) "
	  "NOT(FLAG(\\Seen)))");
	S("NEW", "AND(AND(FLAG(\\Recent) NOT(FLAG(\\Seen))))");
	S("OLD", "AND(NOT(FLAG(\\Recent)))");
	S("KEYWORD $Junk UNKEYWORD work", "AND(FLAG($Junk) NOT(FLAG(work)))");
	S("KEYWORD NIL UNKEYWORD nil", "AND(FLAG(NIL) NOT(FLAG(nil)))"); /* NIL is a keyword atom */
}

Test(search_parse, strings_and_headers)
{
	S("FROM bob TO \"a b\" CC c BCC d SUBJECT {5}\r\nhel\"o",
	  "AND(HEADER(FROM,\"bob\") HEADER(TO,\"a b\") HEADER(CC,\"c\") HEADER(BCC,\"d\") "
	  "HEADER(SUBJECT,\"hel\\\"o\"))");
	S("HEADER X-Spam-Flag YES HEADER \"List-Id\" \"\"",
	  "AND(HEADER(X-Spam-Flag,\"YES\") HEADER(List-Id,\"\"))");
	S("BODY hello TEXT \"caf\xc3\xa9\"", "AND(BODY(\"hello\") TEXT({5}\r\ncaf\xc3\xa9))");
	S("SUBJECT NIL", "AND(HEADER(SUBJECT,\"NIL\"))");
}

Test(search_parse, address_flag_and_string_copy)
{
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used;
	const char *in = "t SEARCH FROM \"x\" SUBJECT y\r\n";
	cr_assert_eq(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE);
	const struct imap_command *c = imap_parser_command(p);
	struct search_program prog;
	struct search_error err;
	cr_assert_eq(search_parse(c->args, c->count, 0, &prog, &err), 0);
	imap_parser_free(&p); /* the program owns copies */
	cr_assert_eq(prog.root->count, 2);
	cr_assert(prog.root->children[0].address);
	cr_assert_str_eq(prog.root->children[0].str, "x");
	cr_assert_eq(prog.root->children[0].str_len, 1);
	cr_assert(!prog.root->children[1].address);
	cr_assert_str_eq(prog.root->children[1].header, "SUBJECT");
	search_program_free(&prog);
}

Test(search_parse, dates_and_sizes)
{
	S("ON 1-Jan-1970 SINCE 1-Feb-1994 BEFORE \"29-feb-2000\"",
	  "AND(ON(0) SINCE(8797) BEFORE(11016))");
	S("SENTBEFORE 31-Dec-1969 SENTON 01-Feb-1994 SENTSINCE 1-FEB-1994",
	  "AND(SENTBEFORE(-1) SENTON(8797) SENTSINCE(8797))");
	S("LARGER 1000 SMALLER 9223372036854775807",
	  "AND(LARGER(1000) SMALLER(9223372036854775807))");
}

Test(search_parse, sets_and_groups)
{
	S("1:3,5 UID 10:*", "AND(SEQSET(1:3,5) UIDSET(10:*))");
	S("*", "AND(SEQSET(*))");
	S("(SEEN FLAGGED) (ALL)", "AND(AND(FLAG(\\Seen) FLAG(\\Flagged)) AND(ALL))");
	S("OR SEEN (FROM a TO b)",
	  "AND(OR(FLAG(\\Seen) AND(HEADER(FROM,\"a\") HEADER(TO,\"b\"))))");
	S("OR OR 1 2 NOT 3", "AND(OR(OR(SEQSET(1) SEQSET(2)) NOT(SEQSET(3))))");
	S("NOT NOT DELETED", "AND(NOT(NOT(FLAG(\\Deleted))))");
	SF(SEARCH_PARSE_SEARCHRES, "$ UID $", "SAVED AND(SEQSET($) UIDSET($))");
	SF(SEARCH_PARSE_SEARCHRES, "NOT $", "SAVED AND(NOT(SEQSET($)))");
}

Test(search_parse, modseq)
{
	S("MODSEQ 720162338", "MODSEQ AND(MODSEQ(720162338))");
	S("MODSEQ \"/flags/\\\\draft\" all 620162338 SEEN",
	  "MODSEQ AND(MODSEQ(/flags/\\draft,3,620162338) FLAG(\\Seen))");
	S("MODSEQ \"/flags/\\\\Seen\" priv 1", "MODSEQ AND(MODSEQ(/flags/\\Seen,1,1))");
	S("MODSEQ \"/flags/\\\\Seen\" SHARED 1", "MODSEQ AND(MODSEQ(/flags/\\Seen,2,1))");
}

Test(search_parse, return_and_charset)
{
	S("RETURN (MIN MAX) ALL", "RETURN=3 AND(ALL)");
	S("RETURN (COUNT ALL) CHARSET UTF-8 ALL", "RETURN=12 CHARSET=2 AND(ALL)");
	S("RETURN () SEEN", "RETURN=4 AND(FLAG(\\Seen))");
	SF(SEARCH_PARSE_SEARCHRES, "RETURN (SAVE) SEEN", "RETURN=16 AND(FLAG(\\Seen))");
	S("CHARSET us-ascii ALL", "CHARSET=1 AND(ALL)");
	S("CHARSET \"UTF-8\" SUBJECT x", "CHARSET=2 AND(HEADER(SUBJECT,\"x\"))");
	S("CHARSET ISO-8859-1 ALL", "ERR 2 Unsupported charset");
	S("CHARSET KOI8-R", "ERR 2 Unsupported charset");
	S("CHARSET", "ERR 1 CHARSET needs a name");
	S("CHARSET (x) ALL", "ERR 1 CHARSET needs a name");
	S("RETURN (SAVE) ALL", "ERR 1 Unknown RETURN option");
	S("RETURN (MIN FOO) ALL", "ERR 1 Unknown RETURN option");
	S("RETURN ((MIN)) ALL", "ERR 1 Invalid RETURN option");
	S("RETURN MIN ALL", "ERR 1 RETURN needs a list of options");
	S("RETURN", "ERR 1 RETURN needs a list of options");
	S("RETURN (ALL)", "ERR 1 Missing search keys");
	S("CHARSET UTF-8 RETURN (ALL) ALL", "ERR 1 Unknown search key");
}

Test(search_parse, errors)
{
	S("", "ERR 1 Missing search keys");
	S("FOO", "ERR 1 Unknown search key");
	S("\"SEEN\"", "ERR 1 Search key expected, got a string");
	S("()", "ERR 1 Empty search key list");
	S("FROM", "ERR 1 Search key needs a string");
	S("FROM (a)", "ERR 1 Search key needs a string");
	S("HEADER", "ERR 1 HEADER needs a field name");
	S("HEADER \"a b\" x", "ERR 1 HEADER needs a field name");
	S("HEADER \"\" x", "ERR 1 HEADER needs a field name");
	S("HEADER Subject:", "ERR 1 HEADER needs a field name");
	S("HEADER X", "ERR 1 Search key needs a string");
	S("BEFORE 1994-02-01", "ERR 1 Invalid date (want 1-Feb-1994)");
	S("ON 30-Feb-1994", "ERR 1 Invalid date (want 1-Feb-1994)");
	S("ON 29-Feb-1900", "ERR 1 Invalid date (want 1-Feb-1994)");
	S("SINCE 1-Foo-1994", "ERR 1 Invalid date (want 1-Feb-1994)");
	S("SINCE", "ERR 1 Invalid date (want 1-Feb-1994)");
	S("LARGER", "ERR 1 Search key needs a number");
	S("LARGER -1", "ERR 1 Search key needs a number");
	S("SMALLER 9223372036854775808", "ERR 1 Search key needs a number");
	S("KEYWORD", "ERR 1 KEYWORD needs a flag keyword");
	S("KEYWORD \\Seen", "ERR 1 KEYWORD needs a flag keyword");
	S("KEYWORD \"x\"", "ERR 1 KEYWORD needs a flag keyword");
	S("UNKEYWORD a%b", "ERR 1 KEYWORD needs a flag keyword");
	S("UID", "ERR 1 UID needs a sequence set");
	S("UID \"1\"", "ERR 1 UID needs a sequence set");
	S("UID 0", "ERR 1 Invalid sequence set: 0 or leading zero");
	S("1,,2", "ERR 1 Invalid sequence set: empty element");
	S("$", "ERR 1 Invalid sequence set: '$' without SEARCHRES");
	S("NOT", "ERR 1 NOT needs a search key");
	S("OR SEEN", "ERR 1 OR needs two search keys");
	S("OR", "ERR 1 OR needs two search keys");
	S("MODSEQ", "ERR 1 MODSEQ needs a mod-sequence value");
	S("MODSEQ 0x1", "ERR 1 MODSEQ needs a mod-sequence value");
	S("MODSEQ \"/flags/\\\\Seen\" 5", "ERR 1 Invalid MODSEQ entry type");
	S("MODSEQ \"/flags/\\\\Seen\" mine 5", "ERR 1 Invalid MODSEQ entry type");
	S("MODSEQ \"/flags/\\\\Seen\"", "ERR 1 MODSEQ entry needs a type");
	S("MODSEQ \"/flags/\\\\Seen\" all", "ERR 1 MODSEQ needs a mod-sequence value");
	S("SEEN (DELETED FOO)", "ERR 1 Unknown search key");
}

Test(search_parse, depth_is_bounded)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < SEARCH_MAX_DEPTH - 1; i++)
		buf_append_str(&b, "NOT ");
	buf_append_str(&b, "SEEN");
	char *got = search(b.data, 0);
	cr_assert(strncmp(got, "AND(NOT(NOT(", 12) == 0, "%s", got);
	free(got);
	buf_reset(&b);
	for (int i = 0; i < 5000; i++)
		buf_append_str(&b, "NOT ");
	buf_append_str(&b, "SEEN");
	got = search(b.data, 0);
	cr_assert_str_eq(got, "ERR 3 Search program nested too deeply");
	free(got);
	buf_reset(&b);
	for (int i = 0; i < 3000; i++)
		buf_append_str(&b, "OR SEEN ");
	buf_append_str(&b, "SEEN");
	got = search(b.data, 0);
	cr_assert_str_eq(got, "ERR 3 Search program nested too deeply");
	free(got);
	/* wide is fine, up to SEARCH_MAX_KEYS keys */
	buf_reset(&b);
	for (int i = 0; i < SEARCH_MAX_KEYS - 1; i++)
		buf_append_str(&b, "SEEN ");
	buf_append_str(&b, "SEEN");
	got = search(b.data, 0);
	cr_assert(strncmp(got, "AND(FLAG(\\Seen) FLAG(\\Seen)", 27) == 0);
	free(got);
	buf_free(&b);
}

/* F11: the work of one SEARCH is bounded: at most SEARCH_MAX_KEYS keys, of which at most
 * SEARCH_MAX_TEXT_KEYS read text (BODY, TEXT, header keys); more is NO [LIMIT]. */
Test(search_parse, key_count_is_bounded)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < SEARCH_MAX_KEYS + 1; i++)
		buf_append_str(&b, i ? " SEEN" : "SEEN");
	char *got = search(b.data, 0);
	cr_assert_str_eq(got, "ERR 4 Too many search keys");
	free(got);
	buf_reset(&b);
	for (int i = 0; i < 400; i++)
		buf_append_str(&b, "(SEEN (SEEN SEEN)) ");
	buf_append_str(&b, "ALL");
	got = search(b.data, 0);
	cr_assert_str_eq(got, "ERR 4 Too many search keys", "groups count too: %s", got);
	free(got);
	static const char *const kinds[] = { "NOT TEXT x", "BODY x", "SUBJECT x", "HEADER X-Y x",
					     "OR FROM x TO y" };
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		buf_reset(&b);
		for (int i = 0; i < SEARCH_MAX_TEXT_KEYS; i++)
			buf_printf(&b, "%s%s", i ? " " : "", kinds[k]);
		got = search(b.data, 0);
		bool pair = strncmp(kinds[k], "OR", 2) == 0;
		if (pair)
			cr_assert_str_eq(got, "ERR 4 Too many text search keys", "%s", kinds[k]);
		else
			cr_assert(strncmp(got, "AND(", 4) == 0, "%s: %s", kinds[k], got);
		free(got);
		buf_printf(&b, " %s", kinds[k]);
		got = search(b.data, 0);
		cr_assert_str_eq(got, "ERR 4 Too many text search keys", "%s", kinds[k]);
		free(got);
	}
	buf_free(&b);
}

/* Whether the program needs the messages' sizes (LARGER/SMALLER anywhere in the tree). */
static bool search_uses_size(const char *args)
{
	const struct imap_command *c;
	struct imap_parser *p = search_test_command(args, &c);
	struct search_program prog;
	struct search_error err;
	cr_assert_eq(search_parse(c->args, c->count, 0, &prog, &err), 0, "%s", args);
	bool uses = prog.uses_size;
	search_program_free(&prog);
	imap_parser_free(&p);
	return uses;
}

Test(search_parse, size_keys_are_noted)
{
	cr_assert(search_uses_size("LARGER 100"));
	cr_assert(search_uses_size("UNSEEN OR FLAGGED NOT SMALLER 5"));
	cr_assert(!search_uses_size("UNSEEN FROM bob"));
	cr_assert(!search_uses_size("ALL"));
}
