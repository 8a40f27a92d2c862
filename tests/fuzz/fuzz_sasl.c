/* fuzz_sasl.c - libFuzzer target: SASL PLAIN and LOGIN decoders on lines and encoded responses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "sasl.h"

/* Checks an output string of a successful decode. */
static void fuzz_sasl_check(const char *s, size_t max, int identity)
{
	size_t l = strnlen(s, max + 1);
	if (l == 0 || l > max)
		abort();
	for (size_t i = 0; identity && i < l; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

static void fuzz_sasl_line(const char *line, size_t len)
{
	char z[SASL_AUTHZID_MAX + 1], c[SASL_AUTHCID_MAX + 1], p[SASL_PASSWD_MAX + 1];
	char out[SASL_PASSWD_MAX + 1];
	const char *error = NULL;

	int r = sasl_plain_decode(line, len, z, sizeof(z), c, sizeof(c), p, sizeof(p), &error);
	if (r == 0) {
		if (strlen(z) > SASL_AUTHZID_MAX)
			abort();
		fuzz_sasl_check(c, SASL_AUTHCID_MAX, 1);
		fuzz_sasl_check(p, SASL_PASSWD_MAX, 0);
	} else if (r == -1 && (!error || z[0] || c[0] || p[0])) {
		abort();
	} else if (r == SASL_CANCELLED && !(len == 1 && line[0] == '*')) {
		abort();
	}
	for (int f = 0; f < 2; f++) {
		enum sasl_login_field field = f ? SASL_LOGIN_PASSWORD : SASL_LOGIN_USERNAME;
		r = sasl_login_decode_step(line, len, field, out, sizeof(out), &error);
		if (r == 0)
			fuzz_sasl_check(out, f ? SASL_PASSWD_MAX : SASL_AUTHCID_MAX, !f);
		else if (r == -1 && out[0])
			abort();
	}
	/* a small buffer must never be overrun (ASan watches) */
	char tiny[3];
	sasl_login_decode_step(line, len, SASL_LOGIN_PASSWORD, tiny, sizeof(tiny), &error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The input as the client's line, then as the decoded response (mostly valid base64). */
	fuzz_sasl_line((const char *)data, size);
	if (size <= 4096) {
		char *enc = malloc(BASE64_ENCODED_LEN(size) + 1);
		long n = base64_encode(data, size, enc, BASE64_ENCODED_LEN(size) + 1);
		fuzz_sasl_line(enc, (size_t)n);
		free(enc);
	}
	return 0;
}
