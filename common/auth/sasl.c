/* sasl.c - SASL PLAIN and LOGIN response decoding: base64, then field splitting and bounds. */
#include "sasl.h"
#include "base64.h"
#include "xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Decoded bytes of the longest accepted response. */
#define SASL_DECODED_MAX BASE64_DECODED_MAX(SASL_RESPONSE_MAX)

static void sasl_wipe(char *p, size_t size)
{
	if (size > 0)
		OPENSSL_cleanse(p, size);
}

/* Decodes one response line into dec. Returns 0, SASL_CANCELLED or -1. */
static int sasl_decode_line(const char *b64, size_t len, unsigned char *dec, size_t *declen_r,
			    const char **error_r)
{
	*declen_r = 0;
	if (len == 1 && b64[0] == '*')
		return SASL_CANCELLED;
	if (len == 1 && b64[0] == '=')
		return 0;
	if (len > SASL_RESPONSE_MAX) {
		*error_r = "SASL response too long";
		return -1;
	}
	if (base64_decode(b64, len, dec, SASL_DECODED_MAX, declen_r, error_r) < 0)
		return -1;
	return 0;
}

/* Copies the field p/n into out, checking bound, emptiness and characters. */
static int sasl_copy_field(const unsigned char *p, size_t n, size_t max, bool identity,
			   bool may_be_empty, char *out, size_t outsize, const char *what_empty,
			   const char *what_long, const char *what_bad, const char **error_r)
{
	if (n == 0 && !may_be_empty) {
		*error_r = what_empty;
		return -1;
	}
	if (n > max || n >= outsize) {
		*error_r = what_long;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\0' || (identity && (p[i] < 0x20 || p[i] == 0x7f))) {
			*error_r = what_bad;
			return -1;
		}
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int sasl_plain_decode(const char *b64, size_t len, char *authzid, size_t authzid_size,
		      char *authcid, size_t authcid_size, char *passwd, size_t passwd_size,
		      const char **error_r)
{
	unsigned char dec[SASL_DECODED_MAX];
	size_t n;
	int ret;

	sasl_wipe(authzid, authzid_size);
	sasl_wipe(authcid, authcid_size);
	sasl_wipe(passwd, passwd_size);
	ret = sasl_decode_line(b64, len, dec, &n, error_r);
	if (ret != 0)
		goto out;
	ret = -1;
	const unsigned char *nul1 = memchr(dec, '\0', n);
	const unsigned char *nul2 = nul1 ? memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - dec))
					 : NULL;
	if (!nul1 || !nul2) {
		*error_r = "SASL PLAIN response lacks its two NUL separators";
		goto out;
	}
	const unsigned char *pw = nul2 + 1;
	size_t pwlen = n - (size_t)(pw - dec);
	if (memchr(pw, '\0', pwlen)) {
		*error_r = "SASL PLAIN response has more than two NUL separators";
		goto out;
	}
	if (sasl_copy_field(dec, (size_t)(nul1 - dec), SASL_AUTHZID_MAX, true, true, authzid,
			    authzid_size, NULL, "SASL PLAIN authorization identity too long",
			    "SASL PLAIN authorization identity has control characters",
			    error_r) < 0 ||
	    sasl_copy_field(nul1 + 1, (size_t)(nul2 - nul1 - 1), SASL_AUTHCID_MAX, true, false,
			    authcid, authcid_size, "SASL PLAIN authentication identity is empty",
			    "SASL PLAIN authentication identity too long",
			    "SASL PLAIN authentication identity has control characters",
			    error_r) < 0 ||
	    sasl_copy_field(pw, pwlen, SASL_PASSWD_MAX, false, false, passwd, passwd_size,
			    "SASL PLAIN password is empty", "SASL PLAIN password too long", NULL,
			    error_r) < 0)
		goto out;
	ret = 0;
out:
	OPENSSL_cleanse(dec, sizeof(dec));
	if (ret != 0) {
		sasl_wipe(authzid, authzid_size);
		sasl_wipe(authcid, authcid_size);
		sasl_wipe(passwd, passwd_size);
	}
	return ret;
}

int sasl_login_decode_step(const char *b64, size_t len, enum sasl_login_field field, char *out,
			   size_t outsize, const char **error_r)
{
	unsigned char dec[SASL_DECODED_MAX];
	size_t n;
	int ret;
	bool user = field == SASL_LOGIN_USERNAME;

	sasl_wipe(out, outsize);
	ret = sasl_decode_line(b64, len, dec, &n, error_r);
	if (ret == 0)
		ret = sasl_copy_field(
			dec, n, user ? SASL_AUTHCID_MAX : SASL_PASSWD_MAX, user, false, out,
			outsize,
			user ? "SASL LOGIN username is empty" : "SASL LOGIN password is empty",
			user ? "SASL LOGIN username too long" : "SASL LOGIN password too long",
			user ? "SASL LOGIN username has NUL or control characters"
			     : "SASL LOGIN password has a NUL",
			error_r);
	OPENSSL_cleanse(dec, sizeof(dec));
	if (ret != 0)
		sasl_wipe(out, outsize);
	return ret;
}

void sasl_plain_encode(struct buf *b, const char *authzid, const char *authcid, const char *passwd)
{
	size_t zl = strlen(authzid), cl = strlen(authcid), pl = strlen(passwd);
	size_t n = zl + 1 + cl + 1 + pl;
	char *raw = xmalloc(n);
	memcpy(raw, authzid, zl);
	raw[zl] = '\0';
	memcpy(raw + zl + 1, authcid, cl);
	raw[zl + 1 + cl] = '\0';
	memcpy(raw + zl + 1 + cl + 1, passwd, pl);
	base64_encode_buf(b, raw, n);
	OPENSSL_cleanse(raw, n);
	free(raw);
}
