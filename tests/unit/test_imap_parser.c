/* test_imap_parser.c - the IMAP command parser: results, every error, recovery, limits, byte-at-a-time equivalence, writers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "imap_parser.h"

/* Feeds in[0..len) in pieces of at most chunk bytes and records every event:
 *	"DONE tag NAME[ uid]: args"	"LIT n"	"ERR code skip tag text"	"FATAL ..." */
static void run(const struct imap_parser_limits *lim, const char *in, size_t len, size_t chunk,
		struct buf *out)
{
	struct imap_parser *p = imap_parser_new(lim);
	size_t off = 0;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t used = 99;
		enum imap_parse_result r = imap_parser_feed(p, in + off, n, &used);
		cr_assert(used <= n);
		off += used;
		if (r == IMAP_PARSE_MORE) {
			cr_assert_eq(used, n);
		} else if (r == IMAP_PARSE_LITERAL) {
			buf_printf(out, "LIT %llu\n",
				   (unsigned long long)imap_parser_literal_size(p));
		} else if (r == IMAP_PARSE_DONE) {
			const struct imap_command *c = imap_parser_command(p);
			cr_assert_not_null(c);
			cr_assert(imap_parser_idle(p));
			buf_printf(out, "DONE %s %s%s:", c->tag, c->name, c->uid ? " uid" : "");
			if (c->count > 0)
				buf_append(out, " ", 1);
			imap_args_dump(out, c->args, c->count);
			cr_assert_eq(c->args[c->count].type, IMAP_ARG_EOL);
			buf_append(out, "\n", 1);
		} else {
			const struct imap_parse_error *e = imap_parser_error(p);
			buf_printf(out, "%s %d %d %s %s\n", e->fatal ? "FATAL" : "ERR",
				   (int)e->code, (int)e->skip, e->tag ? e->tag : "-", e->text);
			if (e->fatal) {
				size_t u2 = 99;
				cr_assert_eq(imap_parser_feed(p, "x", 1, &u2), IMAP_PARSE_ERROR);
				cr_assert_eq(u2, 0);
				break;
			}
		}
	}
	imap_parser_free(&p);
	cr_assert_null(p);
}

/* Runs in with several chunk sizes, asserts identical event logs, returns the log. */
static char *events_lim(const struct imap_parser_limits *lim, const char *in, size_t len)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 64 };
	struct buf whole;
	buf_init(&whole);
	run(lim, in, len, len ? len : 1, &whole);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct buf b;
		buf_init(&b);
		run(lim, in, len, chunks[i], &b);
		cr_assert_str_eq(b.data ? b.data : "", whole.data ? whole.data : "",
				 "chunk %zu differs for input %s", chunks[i], in);
		buf_free(&b);
	}
	char *s = buf_steal(&whole, NULL);
	return s ? s : strdup("");
}

#define EV(s)       events_lim(NULL, s, sizeof(s) - 1)
#define EVL(lim, s) events_lim(lim, s, sizeof(s) - 1)
#define CHECK(in, expected)                                                      \
	do {                                                                     \
		char *got_ = EV(in);                                             \
		cr_assert_str_eq(got_, expected, "input: %s got: %s", in, got_); \
		free(got_);                                                      \
	} while (0)
#define CHECKL(lim, in, expected)                                                \
	do {                                                                     \
		char *got_ = EVL(lim, in);                                       \
		cr_assert_str_eq(got_, expected, "input: %s got: %s", in, got_); \
		free(got_);                                                      \
	} while (0)

Test(imap_parser, simple_commands)
{
	CHECK("a1 NOOP\r\n", "DONE a1 NOOP:\n");
	CHECK("a1 noop\n", "DONE a1 NOOP:\n");
	CHECK("A.1 CAPABILITY\r\nb2 LOGOUT\r\n", "DONE A.1 CAPABILITY:\nDONE b2 LOGOUT:\n");
	CHECK("\r\n\n\r\na NOOP\r\n", "DONE a NOOP:\n");
	CHECK("a NOOP \r\n", "DONE a NOOP:\n");
	CHECK("tag] NOOP\r\n", "DONE tag] NOOP:\n");
}

Test(imap_parser, strings_and_atoms)
{
	CHECK("a LOGIN user \"pa\\\"s\\\\s\"\r\n", "DONE a LOGIN: user \"pa\\\"s\\\\s\"\n");
	CHECK("a SELECT \"Entw\xc3\xbcrfe\"\r\n", "DONE a SELECT: \"Entw\xc3\xbcrfe\"\n");
	CHECK("a LIST \"\" *\r\n", "DONE a LIST: \"\" *\n");
	CHECK("a LIST \"\" %/foo]\r\n", "DONE a LIST: \"\" %/foo]\n");
	CHECK("a STORE 1:*,5 +FLAGS.SILENT (\\Seen \\Deleted $Junk)\r\n",
	      "DONE a STORE: 1:*,5 +FLAGS.SILENT (\\Seen \\Deleted $Junk)\n");
	CHECK("a X NIL nil (NIL ()) ((a) b)\r\n", "DONE a X: NIL nil (NIL ()) ((a) b)\n");
	CHECK("a X ~abc\r\n", "DONE a X: ~abc\n");
	CHECK("a X  a   b\r\n", "DONE a X: a b\n");
}

Test(imap_parser, special_atoms_kept_whole)
{
	CHECK("a1 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM \"To\" "
	      "\"a\\\"]\")]<0.100>)\r\n",
	      "DONE a1 FETCH uid: 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM \"To\" "
	      "\"a\\\"]\")]<0.100>)\n");
	CHECK("a FETCH 1 BODY[]\r\n", "DONE a FETCH: 1 BODY[]\n");
	CHECK("a FETCH 1 (BODY[1.2.MIME] BINARY[1]<0.5>)\r\n",
	      "DONE a FETCH: 1 (BODY[1.2.MIME] BINARY[1]<0.5>)\n");
	CHECK("a FETCH 1 (body.peek[header.fields (A)] Binary.Size[1])\r\n",
	      "DONE a FETCH: 1 (body.peek[header.fields (A)] Binary.Size[1])\n");
}

/* '[' is an ordinary atom byte (only ']' is special in an astring): a section only follows
 * BODY, BODY.PEEK, BINARY, BINARY.PEEK and BINARY.SIZE. */
Test(imap_parser, bracket_inside_atom_is_not_a_section)
{
	CHECK("a CREATE abc[\r\n", "DONE a CREATE: abc[\n");
	CHECK("a LIST \"\" foo[%\r\n", "DONE a LIST: \"\" foo[%\n");
	CHECK("a SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}\r\n",
	      "DONE a SELECT: !#$&'+,-.0123456789:;<=>?@^_`|[}\n");
	CHECK("a CREATE [x y]\r\n", "DONE a CREATE: [x y]\n");
	CHECK("a X BODYX[1 2]\r\n", "DONE a X: BODYX[1 2]\n");
	CHECK("a X BODY[1][ 2\r\n", "DONE a X: BODY[1][ 2\n");
}

Test(imap_parser, arg_tree_types)
{
	struct imap_parser *p = imap_parser_new(NULL);
	static const char lit[] =
		"t X atom \"q s\" {3+}\r\nl\0t ~{2}\r\n\0\1 NIL (a (b)) 42 4294967296\r\n";
	const char *in = lit;
	size_t len = sizeof(lit) - 1, used;
	cr_assert_eq(imap_parser_feed(p, in, len, &used), IMAP_PARSE_LITERAL);
	cr_assert_eq(imap_parser_literal_size(p), 2);
	cr_assert_eq(imap_parser_literal_remaining(p), 2);
	size_t off = used;
	cr_assert_eq(imap_parser_feed(p, in + off, len - off, &used), IMAP_PARSE_DONE);
	cr_assert_eq(off + used, len);
	const struct imap_command *c = imap_parser_command(p);
	cr_assert_eq(c->count, 8);
	const struct imap_arg *a = c->args;
	const char *s;
	size_t n;
	cr_assert(imap_arg_is_atom(&a[0]));
	cr_assert(imap_arg_atom_equals(&a[0], "ATOM"));
	cr_assert_str_eq(imap_arg_atom(&a[0]), "atom");
	cr_assert(imap_arg_string(&a[0], &s, &n));
	cr_assert(!imap_arg_nstring(&a[0], &s, &n));
	cr_assert_eq(a[1].type, IMAP_ARG_STRING);
	cr_assert(imap_arg_string(&a[1], &s, &n) && n == 3 && memcmp(s, "q s", 3) == 0);
	cr_assert_null(imap_arg_atom(&a[1]));
	cr_assert_eq(a[2].type, IMAP_ARG_LITERAL);
	cr_assert_eq(a[2].flags, IMAP_ARG_FLAG_NONSYNC);
	cr_assert(imap_arg_nstring(&a[2], &s, &n) && n == 3 && memcmp(s, "l\0t", 3) == 0);
	cr_assert_eq(a[3].flags, IMAP_ARG_FLAG_LITERAL8);
	cr_assert(a[3].len == 2 && a[3].str[0] == '\0' && a[3].str[1] == '\1');
	cr_assert(imap_arg_is_nil(&a[4]) && imap_arg_is_atom(&a[4]));
	cr_assert(imap_arg_nstring(&a[4], &s, &n) && s == NULL && n == 0);
	cr_assert(imap_arg_string(&a[4], &s, NULL) && strcmp(s, "NIL") == 0);
	const struct imap_arg *l;
	unsigned ln;
	cr_assert(imap_arg_list(&a[5], &l, &ln) && ln == 2);
	cr_assert(!imap_arg_string(&a[5], &s, &n));
	cr_assert(imap_arg_is_eol(&l[2]));
	cr_assert(imap_arg_list(&l[1], &l, &ln) && ln == 1 && imap_arg_atom_equals(&l[0], "b"));
	cr_assert(!imap_arg_list(&a[0], &l, &ln));
	uint32_t n32;
	uint64_t n64;
	cr_assert(imap_arg_number32(&a[6], &n32) && n32 == 42);
	cr_assert(!imap_arg_number32(&a[7], &n32));
	cr_assert(imap_arg_is_eol(&a[8]));
	imap_parser_free(&p);

	/* numbers */
	p = imap_parser_new(NULL);
	in = "t X 4294967295 4294967296 9223372036854775807 9223372036854775808 12a \"7\"\r\n";
	cr_assert_eq(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE);
	a = imap_parser_command(p)->args;
	cr_assert(imap_arg_number32(&a[0], &n32) && n32 == 4294967295u);
	cr_assert(!imap_arg_number32(&a[1], &n32));
	cr_assert(imap_arg_number64(&a[1], &n64) && n64 == 4294967296ull);
	cr_assert(imap_arg_number64(&a[2], &n64) && n64 == 9223372036854775807ull);
	cr_assert(!imap_arg_number64(&a[3], &n64));
	cr_assert(!imap_arg_number64(&a[4], &n64));
	cr_assert(!imap_arg_number32(&a[5], &n32), "a quoted string is not a number");
	imap_parser_free(&p);
}

Test(imap_parser, literals)
{
	CHECK("a LOGIN {4}\r\nuser {4}\r\npass\r\n",
	      "LIT 4\nLIT 4\nDONE a LOGIN: {4}user {4}pass\n");
	CHECK("a LOGIN {4+}\r\nuser {4+}\npass\r\n", "DONE a LOGIN: {4+}user {4+}pass\n");
	CHECK("a APPEND INBOX (\\Seen) ~{3}\r\na\0b\r\n",
	      "LIT 3\nDONE a APPEND: INBOX (\\Seen) ~{3}a\0b\n");
	CHECK("a X {0}\r\n\r\n", "LIT 0\nDONE a X: {0}\n");
	CHECK("a X ({2+}\r\nab)\r\n", "DONE a X: ({2+}ab)\n");
	CHECK("a X {3}\r\n\r\n)\r\n", "LIT 3\nDONE a X: {3}\r\n)\n");
}

Test(imap_parser, literal_progress_and_big_literal_bytewise)
{
	struct imap_parser_limits lim = { .max_literal = 2u << 20 };
	struct imap_parser *p = imap_parser_new(&lim);
	const char *head = "a APPEND INBOX {1048576}\r\n";
	size_t used;
	cr_assert_eq(imap_parser_feed(p, "a APP", 5, &used), IMAP_PARSE_MORE);
	cr_assert_str_eq(imap_parser_tag(p), "a");
	cr_assert_null(imap_parser_name(p));
	cr_assert_eq(imap_parser_feed(p, head + 5, strlen(head) - 5, &used), IMAP_PARSE_LITERAL);
	cr_assert_str_eq(imap_parser_name(p), "APPEND");
	cr_assert(!imap_parser_idle(p));
	cr_assert_eq(imap_parser_literal_remaining(p), 1048576);
	cr_assert_eq(imap_parser_feed(p, "abcd", 4, &used), IMAP_PARSE_MORE);
	cr_assert_eq(imap_parser_literal_remaining(p), 1048572);
	/* A big literal fed one byte at a time: each byte costs O(1), never a rescan. */
	for (size_t i = 4; i < 1048576; i++) {
		char c = (char)('a' + i % 26);
		cr_assert_eq(imap_parser_feed(p, &c, 1, &used), IMAP_PARSE_MORE);
		cr_assert_eq(used, 1);
	}
	cr_assert_eq(imap_parser_feed(p, "\r\nb NOOP\r\n", 10, &used), IMAP_PARSE_DONE);
	cr_assert_eq(used, 2, "the next command's bytes stay with the caller");
	const struct imap_command *c = imap_parser_command(p);
	cr_assert_eq(c->args[1].len, 1048576);
	cr_assert(memcmp(c->args[1].str, "abcd", 4) == 0 &&
		  c->args[1].str[1048575] == 'a' + 1048575 % 26);
	cr_assert_eq(imap_parser_feed(p, "b NOOP\r\n", 8, &used), IMAP_PARSE_DONE);
	cr_assert_str_eq(imap_parser_command(p)->tag, "b");
	imap_parser_free(&p);
}

Test(imap_parser, literal_total_counts_nonsync_literals)
{
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used;
	const char *in = "a APPEND x {3+}\r\nabc CATENATE (TEXT ~{5+}\r\nde";
	cr_assert_eq(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_MORE);
	cr_assert_eq(imap_parser_literal_total(p), 8, "what LITERAL+ announced is known at once");
	cr_assert_eq(imap_parser_feed(p, "fgh)\r\n", 6, &used), IMAP_PARSE_DONE);
	cr_assert(imap_parser_command(p)->args[3].list[1].flags & IMAP_ARG_FLAG_LITERAL8);
	imap_parser_reset(p);
	cr_assert_eq(imap_parser_literal_total(p), 0);
	imap_parser_free(&p);
}

Test(imap_parser, command_valid_until_next_feed_and_reset)
{
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used;
	cr_assert(imap_parser_idle(p));
	cr_assert_null(imap_parser_command(p));
	cr_assert_eq(imap_parser_feed(p, "a X (b", 6, &used), IMAP_PARSE_MORE);
	cr_assert(!imap_parser_idle(p));
	imap_parser_reset(p);
	cr_assert(imap_parser_idle(p));
	cr_assert_eq(imap_parser_feed(p, "c Y\r\n", 5, &used), IMAP_PARSE_DONE);
	cr_assert_str_eq(imap_parser_command(p)->name, "Y");
	cr_assert_eq(imap_parser_feed(p, "", 0, &used), IMAP_PARSE_MORE);
	cr_assert_null(imap_parser_command(p));
	imap_parser_free(&p);
	imap_parser_free(&p); /* NULL is fine */
}

Test(imap_parser, tag_and_name_errors)
{
	/* code skip tag text; then the next command parses normally */
	CHECK(" NOOP\r\nb NOOP\r\n", "ERR 2 1 - Invalid tag\nDONE b NOOP:\n");
	CHECK("+ x\r\n", "ERR 2 1 - Invalid tag\n");
	CHECK("* NOOP\r\n", "ERR 2 1 - Invalid tag\n");
	CHECK("a*b NOOP\r\n", "ERR 2 1 - Invalid tag\n");
	CHECK("\rx\n", "ERR 2 1 - CR not followed by LF\n");
	CHECK("a\r\nb NOOP\r\n", "ERR 3 1 a Missing command name\nDONE b NOOP:\n");
	CHECK("a\nb NOOP\n", "ERR 3 0 a Missing command name\nDONE b NOOP:\n");
	CHECK("a \r\n", "ERR 3 1 a Missing command name\n");
	CHECK("a FE(TCH\r\n", "ERR 3 1 a Invalid command name\n");
	CHECK("a UID\r\n", "ERR 3 1 a UID needs a command\n");
	CHECK("a UID  FETCH\r\n", "ERR 3 1 a Missing command name\n");
}

Test(imap_parser, syntax_errors)
{
	CHECK("a NOOP (\r\nb NOOP\r\n", "ERR 1 1 a Missing ')'\nDONE b NOOP:\n");
	CHECK("a NOOP (\nb NOOP\n", "ERR 1 0 a Missing ')'\nDONE b NOOP:\n");
	CHECK("a NOOP x)\r\n", "ERR 1 1 a Unexpected ')'\n");
	CHECK("a X \"abc\r\n", "ERR 1 1 a Unterminated quoted string\n");
	CHECK("a X \"a\\b\"\r\n", "ERR 1 1 a Invalid escape in quoted string\n");
	CHECK("a X \"a\0\"\r\n", "ERR 1 1 a NUL in quoted string\n");
	CHECK("a X {x}\r\n", "ERR 1 1 a Missing literal size\n");
	CHECK("a X {5x}\r\n", "ERR 1 1 a Invalid literal size\n");
	CHECK("a X {5+x}\r\n", "ERR 1 1 a Expected '}' after '+'\n");
	CHECK("a X {5}x\r\n", "ERR 1 1 a Expected CRLF after literal size\n");
	CHECK("a X {5}\rx\r\n", "ERR 1 1 a Expected CRLF after literal size\n");
	CHECK("a X ab\x80\r\n", "ERR 1 1 a 8-bit data outside a string\n");
	CHECK("a X \x80\r\n", "ERR 1 1 a 8-bit data outside a string\n");
	CHECK("a X \x01\r\n", "ERR 1 1 a Invalid character\n");
	CHECK("a X abc\"d\"\r\n", "ERR 1 1 a Missing space after atom\n");
	CHECK("a X abc(d)\r\n", "ERR 1 1 a Missing space after atom\n");
	CHECK("a X ab\\c\r\n", "ERR 1 1 a Invalid character in atom\n");
	CHECK("a X \"a\"b\r\n", "ERR 1 1 a Missing space between arguments\n");
	CHECK("a X BODY[1\r\n", "ERR 1 1 a Missing ']'\n");
	CHECK("a X BODY[\x80]\r\n", "ERR 1 1 a 8-bit data in section\n");
	CHECK("a X BODY[\x01]\r\n", "ERR 1 1 a Invalid character in section\n");
	CHECK("a X BODY[[]]\r\n", "ERR 1 1 a Nested '[' in section\n");
	CHECK("a X BODY[{5}\r\n", "ERR 1 1 a Literal inside section\n");
	CHECK("a X BODY[\"a\\x\"]\r\n", "ERR 1 1 a Invalid escape in quoted string\n");
	CHECK("a X\rb\r\n", "ERR 1 1 a CR not followed by LF\n");
}

Test(imap_parser, error_skips_nonsync_literals_of_the_bad_line)
{
	/* The literal data "abc\r\n" must not be taken for a command. */
	CHECK("a X \"a\\q\" {3+}\r\nabc\r\nb NOOP\r\n",
	      "ERR 1 1 a Invalid escape in quoted string\nDONE b NOOP:\n");
	CHECK("a X \"a\\q\" ~{3+}\r\nab\n x {2+}\r\nzz\r\nb NOOP\r\n",
	      "ERR 1 1 a Invalid escape in quoted string\nDONE b NOOP:\n");
	/* A synchronising literal ends the bad command: the client waits for "+". */
	CHECK("a X \"a\\q\" {3}\r\nb NOOP\r\n",
	      "ERR 1 1 a Invalid escape in quoted string\nDONE b NOOP:\n");
	/* Error inside the announcement itself: the skipper continues it. */
	CHECK("a X {3+\r\nb NOOP\r\n", "ERR 1 1 a Expected '}' after '+'\nDONE b NOOP:\n");
	CHECK("a X {3+}x{2+}\r\nab\r\nb NOOP\r\n",
	      "ERR 1 1 a Expected CRLF after literal size\nDONE b NOOP:\n");
	/* A literal too big to skip on a bad line is fatal. */
	CHECK("a X \"a\\q\" {99999999999+}\r\n", "ERR 1 1 a Invalid escape in quoted string\n"
						 "FATAL 5 0 a Literal too big\n");
	CHECK("a X \"a\\q\" {999999999999999999999999+}\r\n",
	      "ERR 1 1 a Invalid escape in quoted string\n"
	      "FATAL 5 0 a Literal too big\n");
}

Test(imap_parser, line_too_long)
{
	struct imap_parser_limits lim = { .max_line = 16 };
	/* 16 bytes with the CRLF: fits; 17: too long */
	CHECKL(&lim, "a X 1234567890\r\nb NOOP\r\n", "DONE a X: 1234567890\nDONE b NOOP:\n");
	CHECKL(&lim, "a X 12345678901\r\nb NOOP\r\n",
	       "ERR 4 0 a Command line too long\nDONE b NOOP:\n");
	CHECKL(&lim, "a X 123456789012345678901234567890\r\nb NOOP\r\n",
	       "ERR 4 1 a Command line too long\nDONE b NOOP:\n");
	/* Literal data does not count; the announcement does. */
	CHECKL(&lim, "a X {20+}\r\n12345678901234567890\r\n",
	       "DONE a X: {20+}12345678901234567890\n");
	CHECKL(&lim, "a X {20+}\r\n12345678901234567890 abcdefg\r\n",
	       "ERR 4 1 a Command line too long\n");
	/* The limit hits inside "{2+}": the skipper still discards the literal. */
	CHECKL(&lim, "a X 1234567 {2+}\r\nzz\r\nb NOOP\r\n",
	       "ERR 4 1 a Command line too long\nDONE b NOOP:\n");
	/* Blank lines are free; a long tag is caught too. */
	CHECKL(&lim, "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\na NOOP\r\n", "DONE a NOOP:\n");
	CHECKL(&lim, "aaaaaaaaaaaaaaaaaaaa NOOP\r\n", "ERR 4 1 - Command line too long\n");
}

Test(imap_parser, literal_limits)
{
	struct imap_parser_limits lim = { .max_literal = 10,
					  .max_nonsync_literal = 4,
					  .max_literal_total = 15,
					  .max_skip_literal = 100 };
	CHECKL(&lim, "a APPEND INBOX {10}\r\n0123456789\r\n",
	       "LIT 10\nDONE a APPEND: INBOX {10}0123456789\n");
	/* too big, synchronising: the client sends nothing more for this command */
	CHECKL(&lim, "a APPEND INBOX {11}\r\nb NOOP\r\n",
	       "ERR 5 0 a Literal too big\nDONE b NOOP:\n");
	CHECKL(&lim, "a APPEND INBOX {99999999999999999999999}\r\nb NOOP\r\n",
	       "ERR 5 0 a Literal too big\nDONE b NOOP:\n");
	/* too big, non-synchronising (LITERAL- limit 4): data skipped */
	CHECKL(&lim, "a LOGIN {5+}\r\nabcde x\r\nb NOOP\r\n",
	       "ERR 5 2 a Literal too big\nDONE b NOOP:\n");
	CHECKL(&lim, "a LOGIN {4+}\r\nabcd x\r\n", "DONE a LOGIN: {4+}abcd x\n");
	/* beyond the skip limit, or not a number: fatal */
	CHECKL(&lim, "a LOGIN {101+}\r\nb NOOP\r\n", "FATAL 5 0 a Literal too big\n");
	CHECKL(&lim, "a LOGIN {99999999999999999999999+}\r\n", "FATAL 5 0 a Literal too big\n");
	/* total of one command */
	CHECKL(&lim, "a X {8}\r\n01234567 {8}\r\nb NOOP\r\n",
	       "LIT 8\nERR 5 0 a Literal too big\nDONE b NOOP:\n");

	struct imap_parser *p = imap_parser_new(&lim);
	size_t used;
	cr_assert_eq(imap_parser_feed(p, "a APPEND {11}\r\n", 15, &used), IMAP_PARSE_ERROR);
	const struct imap_parse_error *e = imap_parser_error(p);
	cr_assert_eq(e->literal_size, 11);
	cr_assert_str_eq(e->name, "APPEND");
	cr_assert(!e->fatal);
	imap_parser_set_max_literal(p, 11);
	cr_assert_eq(imap_parser_feed(p, "a APPEND {11}\r\n", 15, &used), IMAP_PARSE_LITERAL);
	/* the server refuses the literal itself: reset, the next command parses */
	imap_parser_reset(p);
	cr_assert_null(imap_parser_tag(p));
	cr_assert_eq(imap_parser_feed(p, "b NOOP\r\n", 8, &used), IMAP_PARSE_DONE);
	imap_parser_free(&p);
}

Test(imap_parser, depth_and_arg_count_limits)
{
	struct imap_parser_limits lim = { .max_depth = 2, .max_args = 5 };
	CHECKL(&lim, "a X ((a))\r\n", "DONE a X: ((a))\n");
	CHECKL(&lim, "a X (((a)))\r\nb NOOP\r\n",
	       "ERR 6 1 a Lists nested too deeply\nDONE b NOOP:\n");
	CHECKL(&lim, "a X 1 2 3 4 5\r\n", "DONE a X: 1 2 3 4 5\n");
	CHECKL(&lim, "a X 1 2 3 4 5 6\r\nb NOOP\r\n",
	       "ERR 7 1 a Too many arguments\nDONE b NOOP:\n");
	CHECKL(&lim, "a X (1 2) (3 4)\r\n", "ERR 7 1 a Too many arguments\n");
	CHECKL(&lim, "a X 1 2 3 4 5 {1+}\r\nz\r\nb NOOP\r\n",
	       "ERR 7 1 a Too many arguments\nDONE b NOOP:\n");

	/* defaults: 16 levels, 10000 arguments */
	char in[200];
	snprintf(in, sizeof(in), "a X %.*s%.*s\r\n", 16, "((((((((((((((((((((", 16,
		 "))))))))))))))))))))");
	char *got = events_lim(NULL, in, strlen(in));
	cr_assert(strncmp(got, "DONE", 4) == 0);
	free(got);
	snprintf(in, sizeof(in), "a X %.*s%.*s\r\n", 17, "((((((((((((((((((((", 17,
		 "))))))))))))))))))))");
	got = events_lim(NULL, in, strlen(in));
	cr_assert_str_eq(got, "ERR 6 1 a Lists nested too deeply\n");
	free(got);

	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "a UID FETCH");
	for (int i = 0; i < 10000; i++)
		buf_printf(&b, " %d", i + 1);
	buf_append_str(&b, "\r\n");
	struct imap_parser_limits big = { .max_line = 1 << 20 };
	struct imap_parser *p = imap_parser_new(&big);
	size_t used;
	cr_assert_eq(imap_parser_feed(p, b.data, b.len, &used), IMAP_PARSE_DONE);
	cr_assert_eq(imap_parser_command(p)->count, 10000);
	b.len -= 2;
	buf_append_str(&b, " 1\r\n");
	cr_assert_eq(imap_parser_feed(p, b.data, b.len, &used), IMAP_PARSE_ERROR);
	cr_assert_eq(imap_parser_error(p)->code, IMAP_PERR_TOO_MANY_ARGS);
	imap_parser_free(&p);
	buf_free(&b);
}

static char *write_with(void (*fn)(struct buf *, const char *, size_t), const char *s, size_t len)
{
	struct buf b;
	buf_init(&b);
	fn(&b, s, len);
	char *r = buf_steal(&b, NULL);
	return r ? r : strdup("");
}

#define WRITES(fn, s, expected)                              \
	do {                                                 \
		char *w_ = write_with(fn, s, sizeof(s) - 1); \
		cr_assert_str_eq(w_, expected);              \
		free(w_);                                    \
	} while (0)

Test(imap_parser, writers)
{
	WRITES(imap_write_astring, "INBOX", "INBOX");
	WRITES(imap_write_astring, "a]b", "a]b");
	WRITES(imap_write_astring, "", "\"\"");
	WRITES(imap_write_astring, "NIL", "\"NIL\"");
	WRITES(imap_write_astring, "nil", "\"nil\"");
	WRITES(imap_write_astring, "a b", "\"a b\"");
	WRITES(imap_write_astring, "a\"b\\c", "\"a\\\"b\\\\c\"");
	WRITES(imap_write_astring, "50%", "\"50%\"");
	WRITES(imap_write_astring, "a\r\nb", "{4}\r\na\r\nb");
	WRITES(imap_write_astring, "\xc3\xbc", "{2}\r\n\xc3\xbc");
	WRITES(imap_write_string, "INBOX", "\"INBOX\"");
	WRITES(imap_write_nstring, "x", "\"x\"");
	struct buf b;
	buf_init(&b);
	imap_write_nstring(&b, NULL, 0);
	cr_assert_str_eq(b.data, "NIL");
	buf_reset(&b);
	imap_write_string_flags(&b, "\xc3\xbc", 2, IMAP_WRITE_UTF8, true);
	cr_assert_str_eq(b.data, "\"\xc3\xbc\"");
	buf_reset(&b);
	imap_write_string(&b, "a\0b", 3);
	cr_assert_str_eq(b.data, "{2}\r\nab", "a {n} literal never carries NUL (bug 6)");
	buf_reset(&b);
	imap_write_string_flags(&b, "a\0b", 3, IMAP_WRITE_BINARY, false);
	cr_assert(b.len == 9 && memcmp(b.data, "~{3}\r\na\0b", 9) == 0, "literal8 under BINARY");
	buf_reset(&b);
	imap_write_string_flags(&b, "ab", 2, IMAP_WRITE_BINARY, false);
	cr_assert_str_eq(b.data, "\"ab\"");
	buf_reset(&b);
	char big[2000];
	memset(big, 'x', sizeof(big));
	imap_write_astring(&b, big, sizeof(big));
	cr_assert(strncmp(b.data, "x", 1) == 0, "an atom has no length limit");
	buf_reset(&b);
	big[0] = ' ';
	imap_write_astring(&b, big, sizeof(big));
	cr_assert(strncmp(b.data, "{2000}\r\n", 8) == 0, "long strings go as literals");
	buf_free(&b);
}

Test(imap_parser, writer_round_trip)
{
	static const char *const samples[] = {
		"INBOX", "",    "NIL", "a b", "\"", "\\", "a\r\nb", "\xc3\xa9t\xc3\xa9",
		"(x)",   "{3}", "*",   "%",   "]",  "a]", "~{1}",
	};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct buf b;
		buf_init(&b);
		buf_append_str(&b, "t X ");
		imap_write_astring(&b, samples[i], strlen(samples[i]));
		buf_append_str(&b, "\r\n");
		struct imap_parser *p = imap_parser_new(NULL);
		size_t off = 0, used;
		enum imap_parse_result r;
		while ((r = imap_parser_feed(p, b.data + off, b.len - off, &used)) ==
		       IMAP_PARSE_LITERAL)
			off += used;
		cr_assert_eq(r, IMAP_PARSE_DONE, "sample %zu: %s", i, b.data);
		const char *s;
		size_t n;
		const struct imap_command *c = imap_parser_command(p);
		cr_assert_eq(c->count, 1);
		cr_assert(imap_arg_string(&c->args[0], &s, &n));
		cr_assert(n == strlen(samples[i]) && memcmp(s, samples[i], n) == 0, "sample %zu",
			  i);
		cr_assert(!imap_arg_is_nil(&c->args[0]));
		imap_parser_free(&p);
		buf_free(&b);
	}
}
