/* test_mime_7bit.c - unit tests: 8-bit detection, quoted-printable encoding and the 7bit downgrade. */
#include <criterion/criterion.h>
#include <string.h>

#include "mime.h"
#include "mime_7bit.h"

static char *downgrade(const char *msg, const char **err)
{
	struct buf out;
	buf_init(&out);
	*err = NULL;
	if (mime_downgrade_7bit(msg, strlen(msg), &out, err) < 0) {
		buf_free(&out);
		return NULL;
	}
	buf_append(&out, "", 1);
	return buf_steal(&out, NULL);
}

Test(scan, ascii_declared_8bitmime_is_ascii)
{
	const char *m = "Subject: hi\r\n\r\nplain\r\n";
	struct mime_8bit_info i;
	mime_8bit_scan(m, strlen(m), &i);
	cr_assert(!i.header_8bit && !i.body_8bit && !i.dkim_signed);
}

Test(scan, header_body_dkim)
{
	const char *m = "DKIM-Signature: v=1\r\nSubject: gr\xc3\xbc\xc3\x9f\x65\r\n\r\nok\r\n";
	struct mime_8bit_info i;
	mime_8bit_scan(m, strlen(m), &i);
	cr_assert(i.header_8bit && !i.body_8bit && i.dkim_signed);
	const char *b = "Subject: x\r\n\r\nk\xc3\xa4se\r\n";
	mime_8bit_scan(b, strlen(b), &i);
	cr_assert(!i.header_8bit && i.body_8bit && !i.dkim_signed);
}

Test(qp, escapes_and_trailing_space)
{
	struct buf b;
	buf_init(&b);
	const char *s = "k\xc3\xa4se = 1 \r\ntab\t\r\n";
	mime_qp_encode(&b, s, strlen(s));
	buf_append(&b, "", 1);
	cr_assert_str_eq(b.data, "k=C3=A4se =3D 1=20\r\ntab=09\r\n");
	buf_free(&b);
}

Test(qp, soft_breaks_keep_lines_short_and_decode_back)
{
	char line[400];
	for (size_t i = 0; i < sizeof(line) - 1; i++)
		line[i] = (char)(i % 3 ? 'a' : 0xe9);
	line[sizeof(line) - 1] = '\0';
	struct buf b, d;
	buf_init(&b);
	buf_init(&d);
	mime_qp_encode(&b, line, strlen(line));
	buf_append(&b, "", 1);
	for (char *p = b.data; *p;) {
		char *nl = strstr(p, "\r\n");
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		cr_assert_leq(l, 76);
		p += l + (nl ? 2 : 0);
	}
	cr_assert_eq(mime_decode_transfer(&d, b.data, b.len - 1, "quoted-printable"), 0);
	cr_assert_eq(d.len, strlen(line));
	cr_assert(memcmp(d.data, line, d.len) == 0);
	buf_free(&b);
	buf_free(&d);
}

Test(downgrade, single_part_becomes_quoted_printable)
{
	const char *err;
	char *r = downgrade("Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
			    "Content-Transfer-Encoding: 8bit\r\n\r\nk\xc3\xa4se\r\n",
			    &err);
	cr_assert_not_null(r, "%s", err);
	cr_assert_str_eq(r, "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
			    "Content-Transfer-Encoding: quoted-printable\r\nMIME-Version: 1.0\r\n"
			    "\r\nk=C3=A4se\r\n");
	free(r);
}

Test(downgrade, multipart_only_8bit_parts_change)
{
	const char *err;
	char *r = downgrade("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
			    "Content-Transfer-Encoding: 8bit\r\n\r\n"
			    "pre\r\n--b\r\nContent-Type: text/plain\r\n\r\nascii\r\n"
			    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
			    "Content-Transfer-Encoding: 8bit\r\n\r\n\xc3\xa9t\xc3\xa9\r\n--b--\r\n",
			    &err);
	cr_assert_not_null(r, "%s", err);
	cr_assert_str_eq(r, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
			    "Content-Transfer-Encoding: 7bit\r\n\r\n"
			    "pre\r\n--b\r\nContent-Type: text/plain\r\n\r\nascii\r\n"
			    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
			    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=A9t=C3=A9\r\n"
			    "--b--\r\n");
	free(r);
}

Test(downgrade, ascii_message_is_copied_unchanged)
{
	const char *err, *m = "Subject: x\r\n\r\nhello\r\n";
	char *r = downgrade(m, &err);
	cr_assert_not_null(r);
	cr_assert_str_eq(r, m);
	free(r);
}

Test(downgrade, cannot_convert)
{
	const char *err;
	cr_assert_null(downgrade("Subject: gr\xc3\xbc\xc3\x9f\x65\r\n\r\nk\xc3\xa4se\r\n", &err));
	cr_assert(strstr(err, "header"), "%s", err);
	cr_assert_null(
		downgrade("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
			  "\r\n--b\r\nContent-Type: text/plain; name=\"\xc3\xa9\"\r\n\r\n"
			  "\xc3\xa9\r\n--b--\r\n",
			  &err));
	cr_assert(strstr(err, "header"), "%s", err);
	cr_assert_null(downgrade("Content-Transfer-Encoding: base64\r\n\r\n\xc3\xa9\r\n", &err));
	cr_assert(strstr(err, "base64"), "%s", err);
}
