/* test_search_header.c - SEARCH HEADER/SUBJECT on raw header blocks: the raw-byte shortcut decides exactly as decoding every field would (folds, encoded-words, case, 8-bit, blanks). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parser.h"
#include "search.h"
#include "search_parse.h"
#include "search_test_command.h"

/* The header block comes from load_header (as from the folder's header cache); the whole
 * message is never loaded for these keys. */
static int loads;

static int load_header(struct search_msg *m, void *arg)
{
	m->header = arg;
	m->header_len = strlen(arg);
	return 0;
}

static int load_message(struct search_msg *m, void *arg)
{
	loads++;
	m->data = arg;
	m->len = strlen(arg);
	return 0;
}

/* "t SEARCH <args>" against a message whose header block is hdr: 1 or 0. */
static int eval(const char *hdr, const char *args)
{
	struct search_msg m;
	memset(&m, 0, sizeof(m));
	m.seq = m.uid = m.max_seq = m.max_uid = 1;
	m.load = load_message;
	m.load_header = load_header;
	m.load_arg = (void *)hdr;
	const struct imap_command *c;
	struct imap_parser *p = search_test_command(args, &c);
	struct search_program prog;
	struct search_error err;
	cr_assert_eq(search_parse(c->args, c->count, 0, &prog, &err), 0, "%s", args);
	int result = search_match(prog.root, &m);
	search_program_free(&prog);
	search_msg_clear(&m);
	imap_parser_free(&p);
	return result;
}

#define YES(h, args) cr_assert_eq(eval(h, args), 1, "expected a match: %s", args)
#define NO(h, args)  cr_assert_eq(eval(h, args), 0, "expected no match: %s", args)

static const char PLAIN[] = "From: Bob <bob@example.org>\r\n"
			    "Subject: Re: Quarterly Report for Q3\r\n"
			    "X-Note: budget summary\r\n"
			    "\r\n";

static const char FOLDED[] = "From: Bob <bob@example.org>\r\n"
			     "Subject: the quarterly\r\n"
			     "\treport, folded\r\n"
			     "\r\n";

static const char ENCODED[] = "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\r\n"
			      "Subject: =?UTF-8?Q?Quarterly_report_f=C3=BCr_M=C3=A4rz?=\r\n"
			      "\r\n";

static const char ENCODED_ELSEWHERE[] = "From: =?UTF-8?Q?quarterly_report?= <j@example.de>\r\n"
					"Subject: nothing to see\r\n"
					"\r\n";

static const char EIGHT_BIT[] = "Subject: Caf\xc3\xa9 quarterly r\xc3\xa9sum\xc3\xa9\r\n"
				"\r\n";

Test(search_header, plain_ascii_any_case)
{
	YES(PLAIN, "HEADER Subject \"quarterly report\"");
	YES(PLAIN, "SUBJECT \"QUARTERLY REPORT\"");
	YES(PLAIN, "SUBJECT q3");
	NO(PLAIN, "SUBJECT \"quarterly  report\"");
	NO(PLAIN, "SUBJECT budget"); /* in another field only */
	YES(PLAIN, "HEADER X-Note budget");
	NO(PLAIN, "SUBJECT subject"); /* the field name is not its value */
	NO(PLAIN, "SUBJECT \"annual report\"");
	YES(PLAIN, "HEADER Subject \"\"");
	NO(PLAIN, "HEADER Cc \"\"");
	cr_assert_eq(loads, 0, "the whole message was loaded");
}

Test(search_header, a_fold_between_the_words)
{
	YES(FOLDED, "SUBJECT \"quarterly\treport\"");
	NO(FOLDED, "SUBJECT \"quarterly report\""); /* the fold keeps its tab */
	YES(FOLDED, "SUBJECT \"report, folded\"");
	YES(FOLDED, "SUBJECT folded");
	NO(FOLDED, "SUBJECT quarterlyreport");
}

Test(search_header, text_only_an_encoded_word_holds)
{
	YES(ENCODED, "SUBJECT \"quarterly report\"");
	YES(ENCODED, "SUBJECT REPORT");
	YES(ENCODED, "CHARSET UTF-8 SUBJECT {8}\r\nf\xc3\xbcr m\xc3\xa4");
	YES(ENCODED, "CHARSET UTF-8 SUBJECT {4}\r\nM\xc3\x84R");
	YES(ENCODED, "CHARSET UTF-8 FROM {7}\r\nJ\xc3\x9cRGEN");
	NO(ENCODED, "SUBJECT annual");
	/* An encoded-word in another field does not make the Subject match. */
	NO(ENCODED_ELSEWHERE, "SUBJECT \"quarterly report\"");
	YES(ENCODED_ELSEWHERE, "FROM \"quarterly report\"");
	/* The raw text of the encoded-word is searched too (as before the shortcut). */
	YES(ENCODED, "SUBJECT \"=?UTF-8?Q?Quarterly\"");
}

Test(search_header, eight_bit_needles_and_text)
{
	YES(EIGHT_BIT, "SUBJECT quarterly");
	YES(EIGHT_BIT, "CHARSET UTF-8 SUBJECT {8}\r\nR\xc3\x89SUM\xc3\x89");
	YES(EIGHT_BIT, "CHARSET UTF-8 SUBJECT {15}\r\nCAF\xc3\x89 QUARTERLY");
	NO(EIGHT_BIT, "CHARSET UTF-8 SUBJECT {6}\r\nna\xc3\xafve");
	NO(EIGHT_BIT, "SUBJECT cafe");
}

Test(search_header, needles_of_blanks_and_long_needles)
{
	YES(PLAIN, "SUBJECT \" \"");
	NO(FOLDED, "SUBJECT \"  \"");
	char args[700];
	char word[301];
	memset(word, 'x', 300);
	word[300] = '\0';
	snprintf(args, sizeof(args), "SUBJECT %s", word);
	NO(PLAIN, args);
	char hdr[400];
	snprintf(hdr, sizeof(hdr), "Subject: a %s b\r\n\r\n", word);
	YES(hdr, args);
}

Test(search_header, a_candidate_at_the_very_end)
{
	YES("Subject: report\r\n\r\n", "SUBJECT REPORT");
	YES("Subject: reportreport\r\n\r\n", "SUBJECT tr");
	NO("Subject: repor\r\n\r\n", "SUBJECT report");
	YES("Subject: R\r\n\r\n", "SUBJECT r");
	NO("Subject: \r\n\r\n", "SUBJECT r");
}
