/* test_sasl.c - SASL PLAIN and LOGIN decoding: good responses, cancels, every rejection. */
#include <criterion/criterion.h>
#include <string.h>

#include "base64.h"
#include "sasl.h"

struct plain {
	char authzid[SASL_AUTHZID_MAX + 1];
	char authcid[SASL_AUTHCID_MAX + 1];
	char passwd[SASL_PASSWD_MAX + 1];
	const char *error;
};

/* Decodes base64 text s into p. */
static int plain_decode(const char *s, struct plain *p)
{
	p->error = NULL;
	return sasl_plain_decode(s, strlen(s), p->authzid, sizeof(p->authzid), p->authcid,
				 sizeof(p->authcid), p->passwd, sizeof(p->passwd), &p->error);
}

/* Encodes raw (with NULs) of length n and decodes it as PLAIN. */
static int plain_decode_raw(const char *raw, size_t n, struct plain *p)
{
	static char enc[BASE64_ENCODED_LEN(4096) + 1];
	cr_assert(base64_encode(raw, n, enc, sizeof(enc)) >= 0);
	return plain_decode(enc, p);
}

static void expect_wiped(const struct plain *p)
{
	cr_expect_str_eq(p->authzid, "");
	cr_expect_str_eq(p->authcid, "");
	cr_expect_str_eq(p->passwd, "");
}

Test(sasl_plain, rfc4616_examples)
{
	struct plain p;
	/* RFC 4616 section 4: "\0tim\0tanstaaftanstaaf" */
	cr_assert_eq(plain_decode("AHRpbQB0YW5zdGFhZnRhbnN0YWFm", &p), 0, "%s", p.error);
	cr_expect_str_eq(p.authzid, "");
	cr_expect_str_eq(p.authcid, "tim");
	cr_expect_str_eq(p.passwd, "tanstaaftanstaaf");
	/* "Ursel\0Kurt\0xipj3plmq" */
	cr_assert_eq(plain_decode("VXJzZWwAS3VydAB4aXBqM3BsbXE=", &p), 0, "%s", p.error);
	cr_expect_str_eq(p.authzid, "Ursel");
	cr_expect_str_eq(p.authcid, "Kurt");
	cr_expect_str_eq(p.passwd, "xipj3plmq");
}

Test(sasl_plain, utf8_and_spaces_pass_through)
{
	struct plain p;
	const char raw[] = "\0j\xc3\xb6rg@example.org\0pass word \xe2\x82\xac\x01";
	cr_assert_eq(plain_decode_raw(raw, sizeof(raw) - 1, &p), 0, "%s", p.error);
	cr_expect_str_eq(p.authcid, "j\xc3\xb6rg@example.org");
	cr_expect_str_eq(p.passwd, "pass word \xe2\x82\xac\x01");
}

Test(sasl_plain, encode_round_trip)
{
	struct buf b;
	struct plain p;
	buf_init(&b);
	sasl_plain_encode(&b, "", "user@example.com", "s3cret");
	cr_expect_str_eq(b.data, "AHVzZXJAZXhhbXBsZS5jb20AczNjcmV0");
	cr_assert_eq(plain_decode(b.data, &p), 0);
	cr_expect_str_eq(p.authcid, "user@example.com");
	cr_expect_str_eq(p.passwd, "s3cret");
	buf_free(&b);
}

Test(sasl_plain, cancel_and_empty)
{
	struct plain p;
	memset(&p, 'x', sizeof(p));
	cr_expect_eq(plain_decode("*", &p), SASL_CANCELLED);
	expect_wiped(&p);
	cr_expect_eq(plain_decode("=", &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN response lacks its two NUL separators");
	cr_expect_eq(plain_decode("", &p), -1);
	cr_expect_eq(plain_decode("**", &p), -1);
	cr_expect_str_eq(p.error, "base64 length is not a multiple of 4");
}

Test(sasl_plain, bad_base64)
{
	struct plain p;
	cr_expect_eq(plain_decode("AHRpbQB0YW5zdGFhZnRhbnN0YWFm=", &p), -1);
	cr_expect_eq(plain_decode("AHRpbQB0YW5zdGFhZnRhbnN0YWF!", &p), -1);
	cr_expect_str_eq(p.error, "invalid base64 character");
	cr_expect_eq(plain_decode("AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n", &p), -1);
	expect_wiped(&p);
}

Test(sasl_plain, nul_separators)
{
	struct plain p;
	cr_expect_eq(plain_decode_raw("timtanstaaf", 11, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN response lacks its two NUL separators");
	cr_expect_eq(plain_decode_raw("tim\0tanstaaf", 12, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN response lacks its two NUL separators");
	cr_expect_eq(plain_decode_raw("\0tim\0tans\0taaf", 14, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN response has more than two NUL separators");
	cr_expect_eq(plain_decode_raw("\0tim\0tanstaaf\0", 14, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN response has more than two NUL separators");
	expect_wiped(&p);
}

Test(sasl_plain, empty_fields)
{
	struct plain p;
	cr_expect_eq(plain_decode_raw("\0tim\0", 5, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN password is empty");
	expect_wiped(&p);
	cr_expect_eq(plain_decode_raw("admin\0\0pw", 9, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN authentication identity is empty");
	cr_expect_eq(plain_decode_raw("\0\0", 2, &p), -1);
}

Test(sasl_plain, control_characters_in_identities)
{
	struct plain p;
	cr_expect_eq(plain_decode_raw("\0tim\r\nx\0pw", 10, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN authentication identity has control characters");
	cr_expect_eq(plain_decode_raw("a\x7f\0tim\0pw", 9, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN authorization identity has control characters");
}

Test(sasl_plain, length_bounds)
{
	static char raw[4096];
	struct plain p;
	size_t n;

	/* exactly at the limits: accepted */
	n = 0;
	memset(raw + n, 'z', SASL_AUTHZID_MAX);
	n += SASL_AUTHZID_MAX;
	raw[n++] = '\0';
	memset(raw + n, 'c', SASL_AUTHCID_MAX);
	n += SASL_AUTHCID_MAX;
	raw[n++] = '\0';
	memset(raw + n, 'p', SASL_PASSWD_MAX);
	n += SASL_PASSWD_MAX;
	cr_assert_eq(plain_decode_raw(raw, n, &p), 0, "%s", p.error);
	cr_expect_eq(strlen(p.authzid), SASL_AUTHZID_MAX);
	cr_expect_eq(strlen(p.authcid), SASL_AUTHCID_MAX);
	cr_expect_eq(strlen(p.passwd), SASL_PASSWD_MAX);

	/* one byte more than all three maxima: the line itself is too long */
	raw[n++] = 'p';
	cr_expect_eq(plain_decode_raw(raw, n, &p), -1);
	cr_expect_str_eq(p.error, "SASL response too long");
	expect_wiped(&p);

	/* password one byte over */
	n = 0;
	memcpy(raw, "\0c\0", 3);
	n += 3;
	memset(raw + n, 'p', SASL_PASSWD_MAX + 1);
	n += SASL_PASSWD_MAX + 1;
	cr_expect_eq(plain_decode_raw(raw, n, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN password too long");
	expect_wiped(&p);

	/* authcid one byte over */
	n = 0;
	raw[n++] = '\0';
	memset(raw + n, 'c', SASL_AUTHCID_MAX + 1);
	n += SASL_AUTHCID_MAX + 1;
	raw[n++] = '\0';
	raw[n++] = 'p';
	cr_expect_eq(plain_decode_raw(raw, n, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN authentication identity too long");

	/* authzid one byte over */
	n = 0;
	memset(raw + n, 'z', SASL_AUTHZID_MAX + 1);
	n += SASL_AUTHZID_MAX + 1;
	memcpy(raw + n, "\0c\0p", 4);
	n += 4;
	cr_expect_eq(plain_decode_raw(raw, n, &p), -1);
	cr_expect_str_eq(p.error, "SASL PLAIN authorization identity too long");

	/* a response line beyond SASL_RESPONSE_MAX is refused before decoding */
	memset(raw, 'A', SASL_RESPONSE_MAX + 4);
	raw[SASL_RESPONSE_MAX + 4] = '\0';
	cr_expect_eq(plain_decode(raw, &p), -1);
	cr_expect_str_eq(p.error, "SASL response too long");
}

Test(sasl_plain, small_caller_buffers)
{
	char z[4], c[4], pw[4];
	const char *error = NULL;
	/* "\0tim\0tan" fits; "\0timo\0tan" does not. */
	cr_expect_eq(sasl_plain_decode("AHRpbQB0YW4=", 12, z, sizeof(z), c, sizeof(c), pw,
				       sizeof(pw), &error),
		     0);
	cr_expect_str_eq(c, "tim");
	cr_expect_str_eq(pw, "tan");
	cr_expect_eq(sasl_plain_decode("AHRpbW8AdGFu", 12, z, sizeof(z), c, sizeof(c), pw,
				       sizeof(pw), &error),
		     -1);
	cr_expect_str_eq(error, "SASL PLAIN authentication identity too long");
	cr_expect_str_eq(c, "");
}

Test(sasl_login, challenges_are_base64_of_prompts)
{
	char out[32];
	const char *error;
	cr_expect_eq(sasl_login_decode_step(SASL_LOGIN_CHALLENGE_USERNAME,
					    strlen(SASL_LOGIN_CHALLENGE_USERNAME),
					    SASL_LOGIN_USERNAME, out, sizeof(out), &error),
		     0);
	cr_expect_str_eq(out, "Username:");
	cr_expect_eq(sasl_login_decode_step(SASL_LOGIN_CHALLENGE_PASSWORD,
					    strlen(SASL_LOGIN_CHALLENGE_PASSWORD),
					    SASL_LOGIN_PASSWORD, out, sizeof(out), &error),
		     0);
	cr_expect_str_eq(out, "Password:");
}

static int login_step(const char *raw, size_t n, enum sasl_login_field f, char *out, size_t outsize,
		      const char **error)
{
	static char enc[BASE64_ENCODED_LEN(4096) + 1];
	cr_assert(base64_encode(raw, n, enc, sizeof(enc)) >= 0);
	*error = NULL;
	return sasl_login_decode_step(enc, strlen(enc), f, out, outsize, error);
}

Test(sasl_login, good_steps)
{
	char user[SASL_AUTHCID_MAX + 1], pw[SASL_PASSWD_MAX + 1];
	const char *error;
	/* "dXNlckBleGFtcGxlLmNvbQ==" is what swaks sends for user@example.com */
	cr_assert_eq(sasl_login_decode_step("dXNlckBleGFtcGxlLmNvbQ==", 24, SASL_LOGIN_USERNAME,
					    user, sizeof(user), &error),
		     0);
	cr_expect_str_eq(user, "user@example.com");
	cr_assert_eq(login_step("p\x01 w\xff", 5, SASL_LOGIN_PASSWORD, pw, sizeof(pw), &error), 0);
	cr_expect_str_eq(pw, "p\x01 w\xff");
}

Test(sasl_login, rejections)
{
	static char raw[2048];
	char out[SASL_PASSWD_MAX + 1];
	const char *error;

	memset(out, 'x', sizeof(out));
	cr_expect_eq(sasl_login_decode_step("*", 1, SASL_LOGIN_USERNAME, out, sizeof(out), &error),
		     SASL_CANCELLED);
	cr_expect_str_eq(out, "");
	cr_expect_eq(sasl_login_decode_step("*", 1, SASL_LOGIN_PASSWORD, out, sizeof(out), &error),
		     SASL_CANCELLED);
	cr_expect_eq(sasl_login_decode_step("=", 1, SASL_LOGIN_PASSWORD, out, sizeof(out), &error),
		     -1);
	cr_expect_str_eq(error, "SASL LOGIN password is empty");
	cr_expect_eq(sasl_login_decode_step("", 0, SASL_LOGIN_USERNAME, out, sizeof(out), &error),
		     -1);
	cr_expect_str_eq(error, "SASL LOGIN username is empty");
	cr_expect_eq(
		sasl_login_decode_step("dXNlcg", 6, SASL_LOGIN_USERNAME, out, sizeof(out), &error),
		-1);
	cr_expect_str_eq(error, "base64 length is not a multiple of 4");
	cr_expect_eq(login_step("us\0er", 5, SASL_LOGIN_USERNAME, out, sizeof(out), &error), -1);
	cr_expect_str_eq(error, "SASL LOGIN username has NUL or control characters");
	cr_expect_eq(login_step("us\ter", 5, SASL_LOGIN_USERNAME, out, sizeof(out), &error), -1);
	cr_expect_eq(login_step("pa\0ss", 5, SASL_LOGIN_PASSWORD, out, sizeof(out), &error), -1);
	cr_expect_str_eq(error, "SASL LOGIN password has a NUL");
	cr_expect_str_eq(out, "");

	memset(raw, 'u', SASL_AUTHCID_MAX + 1);
	cr_expect_eq(
		login_step(raw, SASL_AUTHCID_MAX, SASL_LOGIN_USERNAME, out, sizeof(out), &error),
		0);
	cr_expect_eq(login_step(raw, SASL_AUTHCID_MAX + 1, SASL_LOGIN_USERNAME, out, sizeof(out),
				&error),
		     -1);
	cr_expect_str_eq(error, "SASL LOGIN username too long");
	memset(raw, 'p', SASL_PASSWD_MAX + 1);
	cr_expect_eq(
		login_step(raw, SASL_PASSWD_MAX, SASL_LOGIN_PASSWORD, out, sizeof(out), &error), 0);
	cr_expect_eq(
		login_step(raw, SASL_PASSWD_MAX + 1, SASL_LOGIN_PASSWORD, out, sizeof(out), &error),
		-1);
	cr_expect_str_eq(error, "SASL LOGIN password too long");
	cr_expect_eq(login_step(raw, 8, SASL_LOGIN_PASSWORD, out, 8, &error), -1);
	cr_expect_eq(login_step(raw, 7, SASL_LOGIN_PASSWORD, out, 8, &error), 0);
}
