/* test_base64.c - RFC 4648 vectors, strict rejection of everything non-canonical, lenient decoding of message text. */
#include <criterion/criterion.h>
#include <string.h>

#include "base64.h"

static const struct {
	const char *raw, *enc;
} vectors[] = {
	/* RFC 4648 section 10 */
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
	/* the LOGIN challenges */
	{ "Username:", "VXNlcm5hbWU6" },
	{ "Password:", "UGFzc3dvcmQ6" },
	/* both special characters */
	{ "\xfb\xff\xbf", "+/+/" },
};

Test(base64, rfc4648_vectors_encode)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char out[64];
		size_t l = strlen(vectors[i].raw);
		cr_expect_eq(base64_encode(vectors[i].raw, l, out, sizeof(out)),
			     (long)strlen(vectors[i].enc));
		cr_expect_str_eq(out, vectors[i].enc);
		cr_expect_eq(BASE64_ENCODED_LEN(l), strlen(vectors[i].enc));

		struct buf b;
		buf_init(&b);
		buf_append_str(&b, "x");
		base64_encode_buf(&b, vectors[i].raw, l);
		cr_expect_eq(b.len, 1 + strlen(vectors[i].enc));
		cr_expect(memcmp(b.data + 1, vectors[i].enc, b.len - 1) == 0);
		buf_free(&b);
	}
}

Test(base64, rfc4648_vectors_decode)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		unsigned char out[64];
		size_t n = 99;
		const char *error = NULL;
		const char *e = vectors[i].enc;
		cr_expect_eq(base64_decode(e, strlen(e), out, sizeof(out), &n, &error), 0, "%s: %s",
			     e, error);
		cr_expect_eq(n, strlen(vectors[i].raw));
		cr_expect(memcmp(out, vectors[i].raw, n) == 0);
	}
}

Test(base64, encode_buffer_too_small)
{
	char out[9];
	cr_expect_eq(base64_encode("foobar", 6, out, 8), -1); /* needs 8 + NUL */
	cr_expect_str_eq(out, "");
	cr_expect_eq(base64_encode("foobar", 6, out, 9), 8);
	cr_expect_eq(base64_encode("", 0, out, 1), 0);
	cr_expect_str_eq(out, "");
	cr_expect_eq(base64_encode("", 0, out, 0), -1);
}

Test(base64, binary_round_trip)
{
	unsigned char raw[256], back[256];
	char enc[BASE64_ENCODED_LEN(256) + 1];
	for (int i = 0; i < 256; i++)
		raw[i] = (unsigned char)(255 - i);
	for (size_t len = 0; len <= sizeof(raw); len++) {
		size_t n;
		const char *error;
		long el = base64_encode(raw, len, enc, sizeof(enc));
		cr_assert_eq(el, (long)BASE64_ENCODED_LEN(len));
		cr_assert_eq(base64_decode(enc, (size_t)el, back, sizeof(back), &n, &error), 0);
		cr_assert_eq(n, len);
		cr_assert(memcmp(raw, back, len) == 0);
	}
}

static const struct {
	const char *in;
	const char *why;
} bad[] = {
	{ "Zg=", "length is not a multiple of 4" },
	{ "Zg", "length is not a multiple of 4" },
	{ "Zm9vY", "length is not a multiple of 4" },
	{ "Zm9v\r\n", "length is not a multiple of 4" },
	{ "Zm 9", "invalid base64 character" },
	{ "Zm9v\r\nYg", "invalid base64 character" },
	{ "Zm-v", "invalid base64 character" }, /* base64url is not accepted */
	{ "Zm_v", "invalid base64 character" },
	{ "Zm9\x80", "invalid base64 character" },
	{ "Zg==Zg==", "padding in the wrong place" },
	{ "Z===", "padding in the wrong place" },
	{ "====", "padding in the wrong place" },
	{ "Zm=v", "padding in the wrong place" },
	{ "=Zm9", "padding in the wrong place" },
	{ "Zh==", "non-zero bits before the padding" }, /* canonical is Zg== */
	{ "Zm9=", "non-zero bits before the padding" }, /* canonical is Zm8= */
};

Test(base64, strict_rejections)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char out[64];
		size_t n = 7;
		const char *error = NULL;
		cr_expect_eq(
			base64_decode(bad[i].in, strlen(bad[i].in), out, sizeof(out), &n, &error),
			-1, "%s", bad[i].in);
		cr_expect(error && strstr(error, bad[i].why), "%s: %s", bad[i].in,
			  error ? error : "(none)");
		cr_expect_eq(n, 0);
	}
	/* An embedded NUL is a bad character too. */
	unsigned char out[8];
	size_t n;
	const char *error;
	cr_expect_eq(base64_decode("Zm\0v", 4, out, sizeof(out), &n, &error), -1);
}

Test(base64, decode_output_bound)
{
	unsigned char out[6];
	size_t n;
	const char *error = NULL;
	cr_expect_eq(base64_decode("Zm9vYmFy", 8, out, 5, &n, &error), -1);
	cr_expect_str_eq(error, "base64 data too long");
	cr_expect_eq(base64_decode("Zm9vYmFy", 8, out, 6, &n, &error), 0);
	cr_expect_eq(n, 6);
	cr_expect_eq(base64_decode("Zm9vYg==", 8, out, 4, &n, &error), 0);
	cr_expect_eq(n, 4);
}

/* Decodes in leniently and checks the output and the return value. */
static void lenient_check(const char *in, unsigned flags, const char *want, int want_ret)
{
	struct buf b;
	buf_init(&b);
	int ret = base64_decode_lenient(&b, in, strlen(in), flags);
	cr_assert_eq(ret, want_ret, "return of \"%s\"", in);
	cr_assert_eq(b.len, strlen(want), "length of \"%s\": %zu", in, b.len);
	cr_assert_eq(memcmp(b.data, want, b.len), 0, "output of \"%s\"", in);
	buf_free(&b);
}

Test(base64, lenient_message_text)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		lenient_check(vectors[i].enc, BASE64_PAD_ENDS_QUANTUM, vectors[i].raw, 0);
		lenient_check(vectors[i].enc, 0, vectors[i].raw, 0);
	}
	/* line breaks and white space are skipped silently, other junk is reported */
	lenient_check("Zm9v\r\nYmFy\r\n", BASE64_PAD_ENDS_QUANTUM, "foobar", 0);
	lenient_check("Zm 9v\tYm", BASE64_PAD_ENDS_QUANTUM, "foob", 0);
	lenient_check("Zm9v!YmFy", BASE64_PAD_ENDS_QUANTUM, "foobar", -1);
	/* a final partial quantum is dropped */
	lenient_check("Zm9vY", BASE64_PAD_ENDS_QUANTUM, "foo", 0);
	/* '=' ends a quantum only when asked (concatenated MIME parts) */
	lenient_check("Zg==Zm8=", BASE64_PAD_ENDS_QUANTUM, "ffo", 0);
	lenient_check("Zg==Zm8=", 0,
		      "f\x06"
		      "f",
		      0);
	/* more than one output chunk */
	char big[4001];
	memset(big, 'A', 4000);
	big[4000] = '\0';
	struct buf b;
	buf_init(&b);
	cr_assert_eq(base64_decode_lenient(&b, big, 4000, 0), 0);
	cr_assert_eq(b.len, 3000);
	for (size_t i = 0; i < b.len; i++)
		cr_assert_eq(b.data[i], 0);
	buf_free(&b);
}
