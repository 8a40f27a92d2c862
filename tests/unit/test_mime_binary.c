/* test_mime_binary.c - known transfer encodings and the base64 rewrite of binary parts (BINARY APPEND). */
#include <criterion/criterion.h>
#include <string.h>

#include "mime.h"
#include "mime_binary.h"

Test(mime_binary, known_encodings)
{
	cr_assert(mime_cte_known(NULL));
	cr_assert(mime_cte_known("7BIT") && mime_cte_known("8bit") && mime_cte_known("Binary"));
	cr_assert(mime_cte_known("base64") && mime_cte_known("Quoted-Printable"));
	cr_assert(!mime_cte_known("x-uuencode") && !mime_cte_known(""));
}

/* Part numbers of out decode to want. */
static void decodes_to(const struct buf *out, const char *numbers, const char *want, size_t len)
{
	struct mime_part *root = mime_parse(out->data, out->len);
	const struct mime_part *p = mime_find_section(root, numbers);
	cr_assert_not_null(p);
	struct buf d;
	buf_init(&d);
	cr_assert_eq(mime_part_decode(&d, out->data, p), 0);
	cr_assert_eq(d.len, len, "decoded %zu bytes, want %zu", d.len, len);
	cr_assert(memcmp(d.data, want, len) == 0);
	buf_free(&d);
	mime_free(root);
}

Test(mime_binary, binary_part_becomes_base64)
{
	static const char msg[] = "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
				  "--b\r\n\r\ntext\r\n--b\r\nContent-Type: application/x\r\n"
				  "Content-Transfer-Encoding: binary\r\n X-folded-on: it\r\n\r\n"
				  "\0\1\2\377zz\r\n--b--\r\n";
	struct buf out;
	buf_init(&out);
	cr_assert(mime_binary_to_base64(&out, msg, sizeof(msg) - 1));
	cr_assert_null(memchr(out.data, 0, out.len), "no NUL left");
	cr_assert_not_null(strstr(out.data,
				  "Content-Type: application/x\r\n"
				  "Content-Transfer-Encoding: base64\r\n\r\nAAEC/3p6\r\n--b--"));
	cr_assert_null(strstr(out.data, "binary"), "the old field (and its fold) is gone");
	cr_assert(strncmp(out.data, msg, 70) == 0, "the rest is copied byte for byte");
	decodes_to(&out, "1", "text", 4);
	decodes_to(&out, "2", "\0\1\2\377zz", 6);
	buf_free(&out);
}

Test(mime_binary, plain_message_with_nul_and_nothing_to_do)
{
	static const char msg[] = "Subject: x\r\n\r\na\0b";
	struct buf out;
	buf_init(&out);
	cr_assert(mime_binary_to_base64(&out, msg, sizeof(msg) - 1));
	cr_assert_str_eq(out.data,
			 "Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\nYQBi\r\n");
	decodes_to(&out, "1", "a\0b", 3);
	buf_reset(&out);
	cr_assert(!mime_binary_to_base64(&out, "Subject: y\r\n\r\nplain\r\n", 21));
	cr_assert_eq(out.len, 0);
	/* No blank line: the header gets the field and one. */
	cr_assert(mime_binary_to_base64(&out, "Content-Transfer-Encoding: binary", 33));
	cr_assert_str_eq(out.data, "\r\nContent-Transfer-Encoding: base64\r\n\r\n");
	buf_free(&out);
}
