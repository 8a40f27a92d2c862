/* test_mime.c - MIME part tree, BODYSTRUCTURE, ENVELOPE and section ranges against a corpus of message shapes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "imap_render.h"
#include "mime.h"

static char *test_load(const char *name, size_t *len_r)
{
	const char *dir = getenv("TEST_DATA_DIR");
	char path[1024];
	snprintf(path, sizeof(path), "%s/mime/%s", dir ? dir : "tests/unit/data", name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *m = malloc((size_t)n + 1);
	cr_assert_eq(fread(m, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	m[n] = '\0';
	*len_r = (size_t)n;
	return m;
}

static char *test_bs(const char *msg, const struct mime_part *p, bool ext)
{
	struct buf b;
	buf_init(&b);
	imap_write_bodystructure(&b, msg, p, ext);
	return buf_steal(&b, NULL);
}

static char *test_env(const char *msg, const struct mime_part *p)
{
	struct buf b;
	buf_init(&b);
	imap_write_envelope(&b, msg + p->header_start, p->body_start - p->header_start);
	return buf_steal(&b, NULL);
}

/* Every offset of every part lies inside its parent and the message. */
static size_t test_check_offsets(const struct mime_part *p, size_t lo, size_t hi)
{
	size_t n = 1;
	cr_assert(lo <= p->header_start && p->header_start <= p->body_start &&
		  p->body_start <= p->body_end && p->body_end <= hi);
	cr_assert_eq(p->size, p->body_end - p->body_start);
	for (size_t i = 0; i < p->nchildren; i++) {
		cr_assert_eq(p->children[i]->parent, p);
		n += test_check_offsets(p->children[i], p->body_start, p->body_end);
	}
	if (p->message)
		n += test_check_offsets(p->message, p->body_start, p->body_end);
	return n;
}

struct golden {
	const char *file;
	const char *bodystructure;
	const char *body;
	const char *envelope;
};

static const struct golden goldens[] = {
	{ "plain.eml",
	  "(\"text\" \"plain\" (\"charset\" \"utf-8\" \"format\" \"flowed\") NIL NIL \"8bit\" 72 5 "
	  "NIL NIL NIL NIL)",
	  "(\"text\" \"plain\" (\"charset\" \"utf-8\" \"format\" \"flowed\") NIL NIL \"8bit\" 72 "
	  "5)",
	  "(\"Tue, 2 Jan 2024 10:00:00 +0100\" \"Lunch tomorrow?\" ((\"Alice Example\" NIL "
	  "\"alice\" \"example.org\")) ((\"Alice Example\" NIL \"alice\" \"example.org\")) "
	  "((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Bob\" NIL \"bob\" "
	  "\"example.com\")) NIL NIL NIL \"<20240102090000.1234@example.org>\")" },
	{ "alternative.eml",
	  "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 157 3 NIL NIL "
	  "NIL NIL)(\"text\" \"html\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 93 2 "
	  "NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"----=_Part_123_456.789\") NIL NIL NIL)",
	  "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 157 "
	  "3)(\"text\" \"html\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 93 2) "
	  "\"alternative\")",
	  "(\"Wed, 3 Jan 2024 08:15:30 -0500\" \"Your weekly deals\" ((\"Newsletter Team\" NIL "
	  "\"news\" \"shop.example\")) ((\"Newsletter Team\" NIL \"news\" \"shop.example\")) "
	  "((\"Newsletter Team\" NIL \"news\" \"shop.example\")) ((NIL NIL \"customer\" "
	  "\"example.net\")) NIL NIL NIL \"<deals-42@shop.example>\")" },
	{ "mixed_attach.eml",
	  "((((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 44 0 NIL NIL NIL "
	  "NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 85 0 NIL NIL NIL "
	  "NIL) \"alternative\" (\"boundary\" \"alt\") NIL NIL NIL)(\"image\" \"png\" (\"name\" "
	  "\"photo.png\") \"<photo1@example.com>\" NIL \"base64\" 98 NIL (\"inline\" (\"filename\" "
	  "\"photo.png\")) NIL NIL) \"related\" (\"boundary\" \"rel\" \"type\" "
	  "\"multipart/alternative\") NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"Q4 "
	  "report.pdf\") NIL \"Quarterly report\" \"base64\" 72 NIL (\"attachment\" (\"filename\" "
	  "\"Q4 report.pdf\" \"size\" \"42\")) NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL "
	  "NIL)",
	  "((((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 44 0)(\"text\" "
	  "\"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 85 0) \"alternative\")(\"image\" "
	  "\"png\" (\"name\" \"photo.png\") \"<photo1@example.com>\" NIL \"base64\" 98) "
	  "\"related\")(\"application\" \"pdf\" (\"name\" \"Q4 report.pdf\") NIL \"Quarterly "
	  "report\" \"base64\" 72) \"mixed\")",
	  "(\"Thu, 4 Jan 2024 16:20:00 +0000\" \"Report and photos\" ((\"Carol\" NIL \"carol\" "
	  "\"example.com\")) ((\"Carol\" NIL \"carol\" \"example.com\")) ((\"Carol\" NIL \"carol\" "
	  "\"example.com\")) ((\"Dave\" NIL \"dave\" \"example.com\")(\"Erin\" NIL \"erin\" "
	  "\"example.com\")) ((NIL NIL \"team\" \"example.com\")) NIL NIL "
	  "\"<report-7@example.com>\")" },
	{ "rfc822_attach.eml",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 28 1 NIL NIL NIL "
	  "NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 604 (\"Thu, 4 Jan 2024 18:30:00 "
	  "+0100\" \"Meeting notes\" ((\"Heidi\" NIL \"heidi\" \"example.net\")) ((\"Heidi\" NIL "
	  "\"heidi\" \"example.net\")) ((NIL NIL \"notes\" \"example.net\")) ((\"Frank\" NIL "
	  "\"frank\" \"example.org\")(\"Ivan, the Great\" NIL \"ivan\" \"example.net\")) ((NIL NIL "
	  "\"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL \"<agenda-1@example.net>\" "
	  "\"<notes-1@example.net>\") ((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL "
	  "\"quoted-printable\" 14 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" "
	  "\"iso-8859-1\") NIL NIL \"7bit\" 12 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" "
	  "\"inner\") NIL NIL NIL) 22 NIL (\"attachment\" (\"filename\" \"notes.eml\")) NIL NIL) "
	  "\"mixed\" (\"boundary\" \"fwd-boundary\") NIL NIL NIL)",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 28 1)(\"message\" "
	  "\"rfc822\" NIL NIL NIL \"7bit\" 604 (\"Thu, 4 Jan 2024 18:30:00 +0100\" \"Meeting "
	  "notes\" ((\"Heidi\" NIL \"heidi\" \"example.net\")) ((\"Heidi\" NIL \"heidi\" "
	  "\"example.net\")) ((NIL NIL \"notes\" \"example.net\")) ((\"Frank\" NIL \"frank\" "
	  "\"example.org\")(\"Ivan, the Great\" NIL \"ivan\" \"example.net\")) ((NIL NIL "
	  "\"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL \"<agenda-1@example.net>\" "
	  "\"<notes-1@example.net>\") ((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL "
	  "\"quoted-printable\" 14 0)(\"text\" \"html\" (\"charset\" \"iso-8859-1\") NIL NIL "
	  "\"7bit\" 12 0) \"alternative\") 22) \"mixed\")",
	  "(\"Fri, 5 Jan 2024 09:00:00 +0200\" \"Fwd: Meeting notes\" ((\"Frank\" NIL \"frank\" "
	  "\"example.org\")) ((\"Frank\" NIL \"frank\" \"example.org\")) ((\"Frank\" NIL \"frank\" "
	  "\"example.org\")) ((\"Grace\" NIL \"grace\" \"example.org\")) NIL NIL NIL NIL)" },
	{ "encoded_words.eml",
	  "(\"text\" \"plain\" (\"charset\" \"windows-1252\") NIL NIL \"quoted-printable\" 25 1 "
	  "NIL NIL NIL NIL)",
	  "(\"text\" \"plain\" (\"charset\" \"windows-1252\") NIL NIL \"quoted-printable\" 25 1)",
	  "(\"Sat, 6 Jan 2024 12:00:00 +0100\" \"=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus?= "
	  "=?UTF-8?Q?_M=C3=BCnchen?= =?ISO-8859-1?Q?_und_K=F6ln?=\" "
	  "((\"=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?=\" NIL \"joerg\" \"example.de\")) "
	  "((\"=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?=\" NIL \"joerg\" \"example.de\")) "
	  "((\"=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?=\" NIL \"joerg\" \"example.de\")) "
	  "((\"=?ISO-8859-1?Q?Fran=E7ois?=\" NIL \"francois\" "
	  "\"example.fr\")(\"=?KOI8-R?B?8NLJ18XU?=\" NIL \"privet\" \"example.ru\")) NIL NIL NIL "
	  "\"<ew-1@example.de>\")" },
	{ "rfc2231.eml",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 16 0 NIL NIL NIL "
	  "NIL)(\"application\" \"octet-stream\" (\"name*\" "
	  "\"utf-8''%E6%97%A5%E6%9C%AC%E8%AA%9E%E3%81%AE%E5%90%8D%E5%89%8D.txt\") NIL NIL "
	  "\"base64\" 8 NIL (\"attachment\" (\"filename\" \"a very long name.txt\")) NIL "
	  "NIL)(\"application\" \"octet-stream\" (\"name\" \"=?UTF-8?Q?r=C3=A9sum=C3=A9.txt?=\") "
	  "NIL NIL \"7bit\" 8 NIL (\"attachment\" (\"filename*\" "
	  "\"iso-8859-1'fr'r%E9sum%E9.txt\")) NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL "
	  "NIL)",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 16 0)(\"application\" "
	  "\"octet-stream\" (\"name*\" "
	  "\"utf-8''%E6%97%A5%E6%9C%AC%E8%AA%9E%E3%81%AE%E5%90%8D%E5%89%8D.txt\") NIL NIL "
	  "\"base64\" 8)(\"application\" \"octet-stream\" (\"name\" "
	  "\"=?UTF-8?Q?r=C3=A9sum=C3=A9.txt?=\") NIL NIL \"7bit\" 8) \"mixed\")",
	  "(\"Sun, 7 Jan 2024 10:00:00 +0000\" \"Files with long names\" ((\"Judy\" NIL \"judy\" "
	  "\"example.com\")) ((\"Judy\" NIL \"judy\" \"example.com\")) ((\"Judy\" NIL \"judy\" "
	  "\"example.com\")) ((\"Ken\" NIL \"ken\" \"example.com\")) NIL NIL NIL NIL)" },
	{ "no_content_type.eml",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 50 2 NIL NIL NIL NIL)",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 50 2)",
	  "(\"8 Jan 24 10:00 EST\" \"Old style mail\" ((NIL NIL \"legacy\" \"example.com\")) ((NIL "
	  "NIL \"legacy\" \"example.com\")) ((NIL NIL \"legacy\" \"example.com\")) ((NIL NIL "
	  "\"someone\" \"example.com\")) NIL NIL NIL NIL)" },
	{ "malformed_boundary.eml",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 113 2 NIL NIL NIL "
	  "NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 46 0 NIL NIL NIL "
	  "NIL) \"mixed\" (\"boundary\" \"xyz\") NIL NIL NIL)",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 113 2)(\"text\" "
	  "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 46 0) \"mixed\")",
	  "(NIL \"Malformed boundaries\" ((NIL NIL \"broken\" \"example.com\")) ((NIL NIL "
	  "\"broken\" \"example.com\")) ((NIL NIL \"broken\" \"example.com\")) NIL NIL NIL NIL "
	  "NIL)" },
	{ "unterminated.eml",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0 NIL NIL NIL "
	  "NIL)((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 9 0 NIL NIL NIL "
	  "NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 28 1 NIL NIL NIL "
	  "NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL) \"mixed\" (\"boundary\" "
	  "\"cut\") NIL NIL NIL)",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0)((\"text\" "
	  "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 9 0)(\"text\" \"html\" "
	  "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 28 1) \"alternative\") \"mixed\")",
	  "(NIL \"Cut off\" ((NIL NIL \"cut\" \"example.com\")) ((NIL NIL \"cut\" "
	  "\"example.com\")) ((NIL NIL \"cut\" \"example.com\")) NIL NIL NIL NIL NIL)" },
	{ "header_only.eml",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
	  "(\"Mon, 8 Jan 2024 10:00:00 +0000\" \"Header only\" ((NIL NIL \"hdr\" \"example.com\")) "
	  "((NIL NIL \"hdr\" \"example.com\")) ((NIL NIL \"hdr\" \"example.com\")) NIL NIL NIL NIL "
	  "NIL)" },
	{ "bare_lf.eml",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 18 1 NIL NIL NIL "
	  "NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL "
	  "(\"attachment\" (\"filename\" \"notes.txt\")) NIL NIL) \"mixed\" (\"boundary\" \"lf\") "
	  "NIL NIL NIL)",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 18 1)(\"text\" "
	  "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"mixed\")",
	  "(\"Tue, 9 Jan 2024 11:00:00 +0000\" \"Stored with bare LF\" ((\"Maildir Tool\" NIL "
	  "\"tool\" \"example.com\")) ((\"Maildir Tool\" NIL \"tool\" \"example.com\")) "
	  "((\"Maildir Tool\" NIL \"tool\" \"example.com\")) ((NIL NIL \"user\" \"example.com\")) "
	  "NIL NIL NIL NIL)" },
	{ "digest.eml",
	  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 42 (NIL \"first\" ((NIL NIL \"a\" "
	  "\"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) "
	  "NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 "
	  "0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 43 "
	  "(NIL \"second\" ((NIL NIL \"b\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) "
	  "((NIL NIL \"b\" \"example.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
	  "\"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) \"digest\" "
	  "(\"boundary\" \"dig\") NIL NIL NIL)",
	  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 42 (NIL \"first\" ((NIL NIL \"a\" "
	  "\"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) "
	  "NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 "
	  "0) 3)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 43 (NIL \"second\" ((NIL NIL \"b\" "
	  "\"example.org\")) ((NIL NIL \"b\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) "
	  "NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 "
	  "0) 3) \"digest\")",
	  "(NIL \"List digest, Vol 1, Issue 1\" ((NIL NIL \"list-request\" \"lists.example.org\")) "
	  "((NIL NIL \"list-request\" \"lists.example.org\")) ((NIL NIL \"list-request\" "
	  "\"lists.example.org\")) ((NIL NIL \"subscriber\" \"example.com\")) NIL NIL NIL NIL)" },
	{ "addresses.eml",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)",
	  "(\"Wed, 10 Jan 2024 10:00:00 -0800\" \"Addresses\" ((\"Doe, John \\\"JD\\\"\" NIL "
	  "\"john.doe\" \"example.com\")) ((NIL \"@relay1.example,@relay2.example\" \"bounce\" "
	  "\"example.com\")) ((\"Doe, John \\\"JD\\\"\" NIL \"john.doe\" \"example.com\")) ((NIL "
	  "NIL \"Project Team\" NIL)(NIL NIL \"anna\" \"example.com\")(\"Ben B.\" NIL \"ben\" "
	  "\"example.com\")(NIL NIL NIL NIL)(\"Mary Smith\" NIL \"mary\" \"x.test\")(\"John Doe\" "
	  "NIL \"jdoe\" \"one.test\")) ((NIL NIL \"empty-group\" NIL)(NIL NIL NIL NIL)) NIL NIL "
	  "\"<addr@example.com>\")" },
};

Test(mime, corpus_golden)
{
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		size_t len;
		char *msg = test_load(goldens[i].file, &len);
		struct mime_part *root = mime_parse(msg, len);
		test_check_offsets(root, 0, len);
		char *bs = test_bs(msg, root, true), *b = test_bs(msg, root, false),
		     *e = test_env(msg, root);
		cr_expect_str_eq(bs, goldens[i].bodystructure, "%s BODYSTRUCTURE", goldens[i].file);
		cr_expect_str_eq(b, goldens[i].body, "%s BODY", goldens[i].file);
		cr_expect_str_eq(e, goldens[i].envelope, "%s ENVELOPE", goldens[i].file);
		free(bs);
		free(b);
		free(e);
		mime_free(root);
		free(msg);
	}
}

/* Dovecot's own test vector (src/lib-imap/test-imap-bodystructure.c): bare LF, sizes counted
 * with CRLF, a folded boundary, an invalid transfer encoding, a nested message. */
static const char dovecot_msg[] =
	"From: user@domain.org\n"
	"Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
	"Mime-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=\"foo\n"
	" bar\"\n"
	"\n"
	"Root MIME prologue\n"
	"\n"
	"--foo bar\n"
	"Content-Type: text/x-myown; charset=us-ascii; foo=\"quoted\\\"string\"\n"
	"Content-ID: <foo@example.com>\n"
	"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
	"Content-Disposition: inline; foo=bar\n"
	"Content-Description: hellodescription\n"
	"Content-Language: en, fi, se\n"
	"Content-Location: http://example.com/test.txt\n"
	"\n"
	"hello\n"
	"\n"
	"--foo bar\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"From: sub@domain.org\n"
	"To: sub-to1@domain.org, sub-to2@domain.org\n"
	"Date: Sun, 12 Aug 2012 12:34:56 +0300\n"
	"Subject: submsg\n"
	"Content-Type: multipart/alternative; boundary=\"sub1\"\n"
	"\n"
	"Sub MIME prologue\n"
	"--sub1\n"
	"Content-Type: text/html\n"
	"Content-Transfer-Encoding: 8bit\n"
	"\n"
	"<p>Hello world</p>\n"
	"\n"
	"--sub1\n"
	"Content-Type: text/plain\n"
	"Content-Transfer-Encoding: ?invalid\n"
	"\n"
	"Hello another world\n"
	"\n"
	"--sub1--\n"
	"Sub MIME epilogue\n"
	"\n"
	"--foo bar--\n"
	"Root MIME epilogue\n";

static const char dovecot_bodystructure[] =
	"((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" \"quoted\\\"string\") "
	"\"<foo@example.com>\" "
	"\"hellodescription\" \"7bit\" 7 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"inline\" (\"foo\" "
	"\"bar\")) "
	"(\"en\" \"fi\" \"se\") \"http://example.com/test.txt\")(\"message\" \"rfc822\" NIL NIL "
	"NIL \"7bit\" 412 "
	"(\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) ((NIL "
	"NIL \"sub\" "
	"\"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub-to1\" "
	"\"domain.org\")(NIL NIL "
	"\"sub-to2\" \"domain.org\")) NIL NIL NIL NIL) ((\"text\" \"html\" (\"charset\" "
	"\"us-ascii\") NIL NIL "
	"\"8bit\" 20 1 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	"\"7bit\" 21 1 NIL "
	"NIL NIL NIL) \"alternative\" (\"boundary\" \"sub1\") NIL NIL NIL) 21 NIL NIL NIL NIL) "
	"\"mixed\" "
	"(\"boundary\" \"foo bar\") NIL NIL NIL)";

static const char dovecot_body[] = "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" "
				   "\"quoted\\\"string\") \"<foo@example.com>\" "
				   "\"hellodescription\" \"7bit\" 7 1)(\"message\" \"rfc822\" NIL "
				   "NIL NIL \"7bit\" 412 (\"Sun, 12 Aug 2012 "
				   "12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) "
				   "((NIL NIL \"sub\" \"domain.org\")) ((NIL "
				   "NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub-to1\" "
				   "\"domain.org\")(NIL NIL \"sub-to2\" \"domain.org\")) "
				   "NIL NIL NIL NIL) ((\"text\" \"html\" (\"charset\" "
				   "\"us-ascii\") NIL NIL \"8bit\" 20 1)(\"text\" "
				   "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1) "
				   "\"alternative\") 21) \"mixed\")";

Test(mime, dovecot_vector)
{
	size_t len = strlen(dovecot_msg);
	struct mime_part *root = mime_parse(dovecot_msg, len);
	test_check_offsets(root, 0, len);
	char *bs = test_bs(dovecot_msg, root, true), *b = test_bs(dovecot_msg, root, false);
	cr_assert_str_eq(bs, dovecot_bodystructure);
	cr_assert_str_eq(b, dovecot_body);
	free(bs);
	free(b);
	mime_free(root);
}

/* RFC 3501 7.4.2 example shape: a message without MIME headers. */
Test(mime, default_type_and_empty)
{
	struct mime_part *root = mime_parse("", 0);
	char *bs = test_bs("", root, false);
	cr_assert_str_eq(bs,
			 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
	cr_assert_eq(root->body_start, 0);
	free(bs);
	mime_free(root);

	const char *m = "Subject: x\r\nContent-Type: image\r\n\r\nabc"; /* invalid type */
	root = mime_parse(m, strlen(m));
	cr_assert_str_eq(root->type, "text");
	cr_assert_str_eq(root->subtype, "plain");
	mime_free(root);

	m = "Content-Type: TEXT/HTML; CHARSET=\"UTF-8\" (comment)\r\n\r\n<p>";
	root = mime_parse(m, strlen(m));
	bs = test_bs(m, root, false);
	cr_assert_str_eq(bs, "(\"text\" \"html\" (\"charset\" \"UTF-8\") NIL NIL \"7bit\" 3 0)");
	free(bs);
	mime_free(root);
}

Test(mime, multipart_without_children_or_boundary)
{
	const char *m =
		"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno boundary lines at all\r\n";
	struct mime_part *root = mime_parse(m, strlen(m));
	char *bs = test_bs(m, root, true);
	cr_assert_str_eq(
		bs,
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\" "
		"(\"boundary\" \"zz\") NIL NIL NIL)");
	cr_assert_null(mime_find_section(root, "1"));
	free(bs);
	mime_free(root);

	m = "Content-Type: multipart/mixed\r\n\r\nbody\r\n"; /* no boundary: an opaque leaf */
	root = mime_parse(m, strlen(m));
	cr_assert(root->opaque);
	bs = test_bs(m, root, false);
	cr_assert_str_eq(bs,
			 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)");
	free(bs);
	mime_free(root);

	m = "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: "
	    "base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n";
	root = mime_parse(m, strlen(m));
	cr_assert(root->opaque);
	cr_assert_null(root->message);
	bs = test_bs(m, root, false);
	cr_assert_str_eq(bs,
			 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"base64\" 22 1)");
	free(bs);
	mime_free(root);
}

Test(mime, strings_quoted_or_literal)
{
	struct buf b;
	buf_init(&b);
	imap_write_nstring(&b, NULL, 0);
	buf_append(&b, " ", 1);
	imap_write_nstring(&b, "a \"q\" \\", 7);
	buf_append(&b, " ", 1);
	imap_write_nstring(&b, "caf\xc3\xa9", 5);
	buf_append(&b, " ", 1);
	imap_write_nstring(&b, "a\r\nb", 4);
	cr_assert_str_eq(b.data, "NIL \"a \\\"q\\\" \\\\\" {5}\r\ncaf\xc3\xa9 {4}\r\na\r\nb");
	buf_free(&b);

	const char *m = "Subject: Gr\xc3\xbc\xc3\x9f"
			"e\r\nFrom: =?utf-8?q?x?= <a@b>\r\n\r\n";
	struct mime_part *root = mime_parse(m, strlen(m));
	char *e = test_env(m, root);
	cr_assert_str_eq(e, "(NIL {7}\r\nGr\xc3\xbc\xc3\x9f"
			    "e ((\"=?utf-8?q?x?=\" NIL \"a\" \"b\")) "
			    "((\"=?utf-8?q?x?=\" NIL \"a\" \"b\")) ((\"=?utf-8?q?x?=\" NIL \"a\" "
			    "\"b\")) NIL NIL NIL NIL NIL)");
	free(e);
	mime_free(root);
}

/* Dovecot's imaptest envelope cases (src/lib-imap/test-imap-envelope.c). */
Test(mime, envelope_dovecot_cases)
{
	static const struct {
		const char *msg, *env;
	} cases[] = {
		{ "Message-ID: <msg@id>\nIn-Reply-To: <reply@to.id>\nDate: Thu, 15 Feb 2007 "
		  "01:02:03 +0200\n"
		  "Subject: subject header\nFrom: From Real <fromuser@fromdomain.org>\n"
		  "To: To Real <touser@todomain.org>\nCc: Cc Real <ccuser@ccdomain.org>\n"
		  "Bcc: Bcc Real <bccuser@bccdomain.org>\nSender: Sender Real "
		  "<senderuser@senderdomain.org>\n"
		  "Reply-To: ReplyTo Real <replytouser@replytodomain.org>\n\nbody\n",
		  "(\"Thu, 15 Feb 2007 01:02:03 +0200\" \"subject header\" ((\"From Real\" NIL "
		  "\"fromuser\" "
		  "\"fromdomain.org\")) ((\"Sender Real\" NIL \"senderuser\" "
		  "\"senderdomain.org\")) ((\"ReplyTo Real\" "
		  "NIL \"replytouser\" \"replytodomain.org\")) ((\"To Real\" NIL \"touser\" "
		  "\"todomain.org\")) ((\"Cc "
		  "Real\" NIL \"ccuser\" \"ccdomain.org\")) ((\"Bcc Real\" NIL \"bccuser\" "
		  "\"bccdomain.org\")) "
		  "\"<reply@to.id>\" \"<msg@id>\")" },
		{ "Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: user@domain (Real Name)\n"
		  "To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\nCc: group:;, group2: "
		  "(foo) ;\n\nbody\n",
		  "(\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((\"Real Name\" NIL \"user\" "
		  "\"domain\")) ((\"Real Name\" "
		  "NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) ((NIL NIL "
		  "\"group\" NIL)(NIL NIL "
		  "\"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")(NIL NIL NIL NIL)(NIL NIL "
		  "\"group2\" NIL)(NIL NIL \"g3\" "
		  "\"d3.org\")(NIL NIL NIL NIL)) ((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL "
		  "\"group2\" NIL)(NIL "
		  "NIL NIL NIL)) NIL NIL NIL)" },
		{ "Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: user@domain (Real Name)\nSender: "
		  "\nReply-To: \n\nbody\n",
		  "(\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((\"Real Name\" NIL \"user\" "
		  "\"domain\")) ((\"Real Name\" "
		  "NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) NIL NIL NIL "
		  "NIL NIL)" },
		{ "Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: <@route:user@domain>\n\nbody\n",
		  "(\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((NIL \"@route\" \"user\" \"domain\")) "
		  "((NIL \"@route\" "
		  "\"user\" \"domain\")) ((NIL \"@route\" \"user\" \"domain\")) NIL NIL NIL NIL "
		  "NIL)" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mime_part *root = mime_parse(cases[i].msg, strlen(cases[i].msg));
		char *e = test_env(cases[i].msg, root);
		cr_expect_str_eq(e, cases[i].env, "case %zu", i);
		free(e);
		mime_free(root);
	}
}

static void test_section(const char *msg, const struct mime_part *root, const char *nums,
			 enum mime_section what, const char *expect)
{
	size_t start = 0, len = 0;
	int r = mime_section_range(root, nums, what, &start, &len);
	if (!expect) {
		cr_expect_eq(r, -1, "section %s/%d should not exist", nums, (int)what);
		return;
	}
	cr_assert_eq(r, 0, "section %s/%d", nums, (int)what);
	cr_expect(len == strlen(expect) && memcmp(msg + start, expect, len) == 0,
		  "section %s/%d: got [%.*s]", nums, (int)what, (int)len, msg + start);
}

Test(mime, sections_nested_message)
{
	size_t len;
	char *m = test_load("rfc822_attach.eml", &len);
	struct mime_part *root = mime_parse(m, len);

	test_section(m, root, "1", MIME_SECTION_BODY, "See the forwarded message.\r\n");
	test_section(m, root, "1", MIME_SECTION_MIME,
		     "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	test_section(m, root, "2.1", MIME_SECTION_BODY, "Notes: caf=E9.");
	test_section(m, root, "2.2", MIME_SECTION_BODY, "<p>Notes</p>");
	test_section(m, root, "2.2", MIME_SECTION_MIME,
		     "Content-Type: text/html; charset=iso-8859-1\r\n\r\n");
	test_section(m, root, "2.TEXT", MIME_SECTION_BODY, NULL); /* numbers must be numbers */
	test_section(m, root, "1", MIME_SECTION_HEADER, NULL);    /* not a message */
	test_section(m, root, "3", MIME_SECTION_BODY, NULL);
	test_section(m, root, "2.3", MIME_SECTION_BODY, NULL);
	test_section(m, root, "0", MIME_SECTION_BODY, NULL);
	test_section(m, root, "2.", MIME_SECTION_BODY, NULL);
	test_section(m, root, "", MIME_SECTION_MIME, NULL);

	size_t s, l;
	cr_assert_eq(mime_section_range(root, "", MIME_SECTION_BODY, &s, &l), 0);
	cr_assert(s == 0 && l == len);
	cr_assert_eq(mime_section_range(root, "2", MIME_SECTION_HEADER, &s, &l), 0);
	cr_assert(l > 20 && memcmp(m + s, "Return-Path: <heidi@example.net>\r\n", 34) == 0);
	cr_assert(memcmp(m + s + l - 5, "\"\r\n\r\n", 5) == 0);
	size_t ts, tl;
	cr_assert_eq(mime_section_range(root, "2", MIME_SECTION_TEXT, &ts, &tl), 0);
	cr_assert_eq(ts, s + l);
	cr_assert(memcmp(m + ts, "--inner\r\n", 9) == 0);
	size_t bs, bl;
	cr_assert_eq(mime_section_range(root, "2", MIME_SECTION_BODY, &bs, &bl), 0);
	cr_assert(bs == s && bl == l + tl);

	const struct mime_part *p = mime_find_section(root, "2.1");
	cr_assert_not_null(p);
	cr_assert_str_eq(p->subtype, "plain");
	cr_assert_str_eq(mime_param_find(p->params, p->nparams, "charset")->value, "iso-8859-1");
	struct buf t;
	buf_init(&t);
	mime_part_text(&t, m, p);
	cr_assert_str_eq(t.data, "Notes: caf\xc3\xa9.");
	buf_free(&t);

	mime_free(root);
	free(m);
}

Test(mime, sections_single_part)
{
	size_t len;
	char *m = test_load("plain.eml", &len);
	struct mime_part *root = mime_parse(m, len);
	cr_assert_eq(mime_find_section(root, "1"), root);
	cr_assert_null(mime_find_section(root, "2"));
	cr_assert_null(mime_find_section(root, "1.1"));
	test_section(m, root, "1", MIME_SECTION_BODY, m + root->body_start);
	test_section(m, root, "", MIME_SECTION_TEXT, m + root->body_start);
	size_t s, l;
	cr_assert_eq(mime_section_range(root, "", MIME_SECTION_HEADER, &s, &l), 0);
	cr_assert(s == 0 && l == root->body_start);
	cr_assert(memcmp(m + l - 4, "\r\n\r\n", 4) == 0);
	mime_free(root);
	free(m);
}

Test(mime, header_fields)
{
	size_t len;
	char *m = test_load("plain.eml", &len);
	struct mime_part *root = mime_parse(m, len);
	struct buf b;
	buf_init(&b);
	const char *names[] = { "SUBJECT", "from" };
	mime_write_header_fields(&b, m, root->body_start, names, 2, false);
	cr_assert_str_eq(
		b.data,
		"From: Alice Example <alice@example.org>\r\nSubject: Lunch\r\n tomorrow?\r\n\r\n");
	buf_reset(&b);
	const char *drop[] = { "Received", "Return-Path", "Date",      "From",
			       "To",       "Subject",     "Message-ID" };
	mime_write_header_fields(&b, m, root->body_start, drop, 7, true);
	cr_assert_str_eq(
		b.data,
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n"
		"Content-Transfer-Encoding: 8bit\r\n\r\n");
	buf_reset(&b);
	const char *none[] = { "X-Nothing" };
	mime_write_header_fields(&b, m, root->body_start, none, 1, false);
	cr_assert_str_eq(b.data, "\r\n");
	buf_free(&b);
	mime_free(root);
	free(m);

	/* header-only message: last field without a line ending gets one */
	m = test_load("header_only.eml", &len);
	buf_init(&b);
	const char *date[] = { "date" };
	mime_write_header_fields(&b, m, len, date, 1, false);
	cr_assert_str_eq(b.data, "Date: Mon, 8 Jan 2024 10:00:00 +0000\r\n\r\n");
	buf_free(&b);
	free(m);
}

Test(mime, transfer_decoding)
{
	size_t len;
	char *m = test_load("alternative.eml", &len);
	struct mime_part *root = mime_parse(m, len);
	struct buf b;
	buf_init(&b);
	cr_assert_eq(mime_part_decode(&b, m, mime_find_section(root, "1")), 0);
	cr_assert_str_eq(b.data,
			 "This week: 20% off everything \xe2\x80\x94 caf\xc3\xa9 mugs included.\r\n"
			 "A long line that was soft-wrapped by the encoder so that it does not "
			 "exceed the limit.\r\n");
	buf_reset(&b);
	mime_part_decode(&b, m, mime_find_section(root, "2"));
	cr_assert_str_eq(
		b.data,
		"<html><body><p>This week: 20% off everything \xe2\x80\x94 caf\xc3\xa9 mugs.</p>"
		"</body></html>\r\n");
	buf_free(&b);
	mime_free(root);
	free(m);

	m = test_load("mixed_attach.eml", &len);
	root = mime_parse(m, len);
	buf_init(&b);
	const struct mime_part *pdf = mime_find_section(root, "2");
	cr_assert_eq(mime_part_decode(&b, m, pdf), 0);
	cr_assert(b.len > 9 && memcmp(b.data, "%PDF-1.4\n", 9) == 0);
	buf_reset(&b);
	const struct mime_part *png = mime_find_section(root, "1.2");
	cr_assert_str_eq(png->id, "<photo1@example.com>");
	cr_assert_eq(mime_part_decode(&b, m, png), 0);
	cr_assert(b.len == 70 && memcmp(b.data, "\x89PNG\r\n\x1a\n", 8) == 0);
	buf_free(&b);
	mime_free(root);
	free(m);

	m = test_load("encoded_words.eml", &len);
	root = mime_parse(m, len);
	buf_init(&b);
	mime_part_text(&b, m, root);
	cr_assert_str_eq(b.data, "Gr\xc3\xbc\xc3\x9f"
				 "e \xe2\x80\x93 bis bald.\r\n"); /* windows-1252 0x96 */
	buf_free(&b);
	mime_free(root);
	free(m);

	buf_init(&b);
	cr_assert_eq(mime_decode_transfer(&b, "aGVs\r\nbG8=\r\nIQ==", 16, "BASE64"), 0);
	cr_assert_str_eq(b.data, "hello!");
	buf_reset(&b);
	cr_assert_eq(mime_decode_transfer(&b, "a*b", 3, "base64"), -1);
	buf_reset(&b);
	cr_assert_eq(mime_decode_transfer(&b, "a=3Db=\r\nc  \r\n=ZZ=4", 18, "quoted-printable"),
		     -1);
	cr_assert_str_eq(b.data, "a=bc\r\n=ZZ=4");
	buf_free(&b);
}

Test(mime, rfc2231_params)
{
	size_t len;
	char *m = test_load("rfc2231.eml", &len);
	struct mime_part *root = mime_parse(m, len);
	const struct mime_part *p = mime_find_section(root, "2");
	const struct mime_param *name = mime_param_find(p->params, p->nparams, "name");
	cr_assert(name->extended);
	cr_assert_str_eq(
		name->value,
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe5\x90\x8d\xe5\x89\x8d.txt");
	cr_assert_str_eq(mime_param_find(p->disp_params, p->ndisp_params, "filename")->value,
			 "a very long name.txt");
	p = mime_find_section(root, "3");
	cr_assert_str_eq(mime_param_find(p->params, p->nparams, "name")->value,
			 "r\xc3\xa9sum\xc3\xa9.txt");
	cr_assert_str_eq(mime_param_find(p->disp_params, p->ndisp_params, "filename")->value,
			 "r\xc3\xa9sum\xc3\xa9.txt");
	cr_assert_str_eq(p->disposition, "attachment");
	mime_free(root);
	free(m);

	/* mixed extended and plain sections; a gap keeps the pieces apart (as Dovecot) */
	const char *h = "Content-Type: text/plain; title*0*=us-ascii'en'This%20is%20;\r\n"
			" title*1=\"50% \"; title*2*=done; x*0=a; x*2=c\r\n\r\n";
	root = mime_parse(h, strlen(h));
	char *bs = test_bs(h, root, false);
	cr_assert_str_eq(bs, "(\"text\" \"plain\" (\"title*\" \"us-ascii'en'This%20is%20"
			     "50%25 done\" \"x*0\" \"a\" "
			     "\"x*2\" \"c\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
	cr_assert_str_eq(mime_param_find(root->params, root->nparams, "title")->value,
			 "This is 50% done");
	free(bs);
	mime_free(root);
}

Test(mime, bare_lf_sizes)
{
	size_t len;
	char *m = test_load("bare_lf.eml", &len);
	struct mime_part *root = mime_parse(m, len);
	const struct mime_part *p = mime_find_section(root, "1");
	cr_assert_eq(p->size, 17);
	cr_assert_eq(p->vsize, 18);
	cr_assert_eq(mime_crlf_size(m, len), len + 18); /* 18 lines */
	struct buf b;
	buf_init(&b);
	mime_append_crlf(&b, m + p->body_start, p->size);
	cr_assert_str_eq(b.data, "line one\r\nline two");
	buf_reset(&b);
	mime_append_crlf(&b, "a\r\nb\nc", 6);
	cr_assert_str_eq(b.data, "a\r\nb\r\nc");
	buf_free(&b);
	mime_free(root);
	free(m);
}

static size_t test_max_depth(const struct mime_part *p)
{
	size_t d = p->depth;
	for (size_t i = 0; i < p->nchildren; i++) {
		size_t c = test_max_depth(p->children[i]);
		d = c > d ? c : d;
	}
	if (p->message) {
		size_t c = test_max_depth(p->message);
		d = c > d ? c : d;
	}
	return d;
}

Test(mime, deep_nesting_is_bounded)
{
	size_t len;
	char *m = test_load("deep.eml", &len);
	struct mime_part *root = mime_parse(m, len);
	test_check_offsets(root, 0, len);
	cr_assert_eq(test_max_depth(root), MIME_MAX_DEPTH);
	char *bs = test_bs(m, root, true);
	/* 25 nested messages, then the opaque multipart at the depth limit as text/plain */
	size_t msgs = 0;
	for (const char *q = bs; (q = strstr(q, "\"message\" \"rfc822\"")) != NULL; q++)
		msgs++;
	cr_assert_eq(msgs, MIME_MAX_DEPTH / 2);
	cr_assert_not_null(strstr(bs, "(\"text\" \"plain\" (\"boundary\" \"b50\" \"charset\" "
				      "\"us-ascii\") NIL NIL \"7bit\" 568 35 NIL NIL NIL NIL)"));
	free(bs);
	mime_free(root);
	free(m);

	/* 5000 levels built in memory: still bounded, no stack exhaustion */
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 5000; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"d%d\"\r\n\r\n--d%d\r\n",
			   i, i);
	root = mime_parse(b.data, b.len);
	test_check_offsets(root, 0, b.len);
	cr_assert_eq(test_max_depth(root), MIME_MAX_DEPTH);
	mime_free(root);
	buf_free(&b);
}

Test(mime, part_count_is_bounded)
{
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (int i = 0; i < 30000; i++)
		buf_append_str(&b, "--p\r\n\r\nx\r\n");
	clock_t t0 = clock();
	struct mime_part *root = mime_parse(b.data, b.len);
	cr_assert_eq(root->nchildren, MIME_MAX_PARTS - 1);
	cr_assert_eq(test_check_offsets(root, 0, b.len), MIME_MAX_PARTS);
	struct buf out;
	buf_init(&out);
	imap_write_bodystructure(&out, b.data, root, true);
	cr_assert(out.len > 0 && out.data[out.len - 1] == ')');
	cr_assert((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
	buf_free(&out);
	mime_free(root);
	buf_free(&b);
}

Test(mime, many_near_boundaries_linear)
{
	/* 4 MB of lines that almost match at 50 levels of nesting: O(n * depth), not worse */
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 50; i++)
		buf_printf(&b,
			   "Content-Type: multipart/mixed; boundary=\"bnd%d\"\r\n\r\n--bnd%d\r\n",
			   i, i);
	while (b.len < 4 * 1024 * 1024)
		buf_append_str(&b, "--bnd1x\r\n--bnd\r\n=?a?q?=?=?\r\n");
	clock_t t0 = clock();
	struct mime_part *root = mime_parse(b.data, b.len);
	test_check_offsets(root, 0, b.len);
	cr_assert((double)(clock() - t0) / CLOCKS_PER_SEC < 3.0);
	mime_free(root);
	buf_free(&b);
}
