/* password.c - password verification against users_file hashes and new hashes, on libxcrypt. */
#include "password.h"
#include "xalloc.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

enum password_kind {
	PASSWORD_KIND_CRYPT, /* a crypt(3) string, optionally with required prefixes */
	PASSWORD_KIND_PLAIN, /* clear text */
};

struct password_scheme {
	const char *name; /* between the braces */
	enum password_kind kind;
	const char *prefixes[4]; /* accepted crypt(3) prefixes; none: any */
};

static const struct password_scheme password_schemes[] = {
	{ "SHA512-CRYPT", PASSWORD_KIND_CRYPT, { "$6$", NULL } },
	{ "SHA256-CRYPT", PASSWORD_KIND_CRYPT, { "$5$", NULL } },
	{ "BLF-CRYPT", PASSWORD_KIND_CRYPT, { "$2y$", "$2b$", "$2a$", NULL } },
	{ "MD5-CRYPT", PASSWORD_KIND_CRYPT, { "$1$", NULL } },
	{ "CRYPT", PASSWORD_KIND_CRYPT, { NULL } },
	{ "PLAIN", PASSWORD_KIND_PLAIN, { NULL } },
	{ "CLEARTEXT", PASSWORD_KIND_PLAIN, { NULL } },
};

/* Longest scheme name we look for between braces. */
#define PASSWORD_SCHEME_NAME_MAX 32

/* Splits stored into its scheme and the hash after "{...}". Returns 0 or -1. */
static int password_parse(const char *stored, const struct password_scheme **scheme_r,
			  const char **hash_r, const char **error_r)
{
	static const struct password_scheme bare = { "CRYPT", PASSWORD_KIND_CRYPT, { NULL } };

	if (!stored || stored[0] == '\0') {
		*error_r = "no password set";
		return -1;
	}
	if (stored[0] == '$') {
		*scheme_r = &bare;
		*hash_r = stored;
		return 0;
	}
	if (stored[0] != '{') {
		*error_r = stored[0] == '*' || stored[0] == '!'
				   ? "account locked"
				   : "hash has neither a {SCHEME} prefix nor a crypt(3) '$' prefix";
		return -1;
	}
	const char *close = memchr(stored + 1, '}',
				   strnlen(stored + 1, PASSWORD_SCHEME_NAME_MAX + 1));
	if (!close) {
		*error_r = "unterminated {SCHEME} prefix";
		return -1;
	}
	size_t namelen = (size_t)(close - stored - 1);
	for (size_t i = 0; i < sizeof(password_schemes) / sizeof(password_schemes[0]); i++) {
		const struct password_scheme *s = &password_schemes[i];
		if (strlen(s->name) == namelen && strncasecmp(s->name, stored + 1, namelen) == 0) {
			*scheme_r = s;
			*hash_r = close + 1;
			return 0;
		}
	}
	*error_r = "unsupported password scheme";
	return -1;
}

/* Checks that hash is a crypt(3) string of the scheme that libxcrypt can compute. */
static int password_check_crypt(const struct password_scheme *s, const char *hash,
				const char **error_r)
{
	if (hash[0] == '*' || hash[0] == '!') {
		*error_r = "account locked";
		return -1;
	}
	if (hash[0] == '\0') {
		*error_r = "empty hash";
		return -1;
	}
	if (strlen(hash) >= CRYPT_OUTPUT_SIZE) {
		*error_r = "hash too long";
		return -1;
	}
	if (s->prefixes[0]) {
		bool ok = false;
		for (size_t i = 0; s->prefixes[i] && !ok; i++)
			ok = strncmp(hash, s->prefixes[i], strlen(s->prefixes[i])) == 0;
		if (!ok) {
			*error_r = "hash does not match its {SCHEME}";
			return -1;
		}
	}
	/* Of the methods libxcrypt calls legacy, SHA256-crypt and MD5-crypt (both common in
	 * Dovecot files) are accepted; DES (8-byte passwords), NT hash (unsalted) and the buggy
	 * $2x$ are not. */
	int rc = crypt_checksalt(hash);
	if (rc == CRYPT_SALT_METHOD_LEGACY && strncmp(hash, "$5$", 3) != 0 &&
	    strncmp(hash, "$1$", 3) != 0) {
		*error_r = "hash method too weak (legacy crypt(3) method)";
		return -1;
	}
	if (rc != CRYPT_SALT_OK && rc != CRYPT_SALT_METHOD_LEGACY) {
		*error_r = "hash method not supported by the system's crypt library";
		return -1;
	}
	return 0;
}

int password_check_stored(const char *stored, const char **error_r)
{
	const struct password_scheme *s;
	const char *hash;

	if (password_parse(stored, &s, &hash, error_r) < 0)
		return -1;
	if (s->kind == PASSWORD_KIND_PLAIN) {
		if (hash[0] == '\0') {
			*error_r = "empty clear-text password";
			return -1;
		}
		if (strlen(hash) > PASSWORD_MAX) {
			*error_r = "clear-text password too long";
			return -1;
		}
		return 0;
	}
	return password_check_crypt(s, hash, error_r);
}

/* Constant-time equality of two strings of possibly different lengths: compares digests. */
static bool password_plain_equal(const char *a, const char *b)
{
	unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
	unsigned int la = 0, lb = 0;
	bool eq = false;

	if (EVP_Digest(a, strlen(a), da, &la, EVP_sha256(), NULL) == 1 &&
	    EVP_Digest(b, strlen(b), db, &lb, EVP_sha256(), NULL) == 1 && la == lb)
		eq = CRYPTO_memcmp(da, db, la) == 0;
	OPENSSL_cleanse(da, sizeof(da));
	OPENSSL_cleanse(db, sizeof(db));
	return eq;
}

bool password_verify(const char *stored, const char *password)
{
	const struct password_scheme *s;
	const char *hash, *error;

	if (!password || password[0] == '\0' || strlen(password) > PASSWORD_MAX)
		return false;
	if (password_check_stored(stored, &error) < 0)
		return false;
	password_parse(stored, &s, &hash, &error);
	if (s->kind == PASSWORD_KIND_PLAIN)
		return password_plain_equal(hash, password);

	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	bool eq = false;
	const char *out = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	if (out && out[0] != '*') {
		size_t hl = strlen(hash);
		eq = strlen(out) == hl && CRYPTO_memcmp(out, hash, hl) == 0;
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return eq;
}

/* Cost passed to crypt_gensalt_rn(): libxcrypt's default for yescrypt, but more than its
 * defaults for bcrypt (2^5) and SHA-crypt (5000 rounds), which are too cheap today. */
static unsigned long password_cost(const char *prefix)
{
	if (strcmp(prefix, "$2b$") == 0)
		return 10;
	if (strcmp(prefix, "$6$") == 0 || strcmp(prefix, "$5$") == 0)
		return 100000;
	return 0;
}

void password_verify_dummy(const char *password)
{
	/* yescrypt at libxcrypt's default cost; the result is thrown away */
	static const char dummy[] =
		"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$y8e1eitiNDaQsFFW6d.9KbSTlk5zV3R3coZQtfcNAO5";
	(void)password_verify(dummy, password && password[0] ? password : "-");
}

/* The users_file scheme label that goes with a crypt(3) method prefix. */
static const char *password_label(const char *prefix)
{
	if (strcmp(prefix, "$6$") == 0)
		return "{SHA512-CRYPT}";
	if (strcmp(prefix, "$5$") == 0)
		return "{SHA256-CRYPT}";
	if (strcmp(prefix, "$2b$") == 0)
		return "{BLF-CRYPT}";
	if (strcmp(prefix, "$y$") == 0)
		return "{CRYPT}";
	return NULL;
}

/* Hashes with one method. *unavailable_r tells whether a failure was the method's, so that
 * password_hash() may try the next. */
static int password_hash_method(const char *password, const char *prefix, char *out, size_t outlen,
				char *err, size_t errlen, bool *unavailable_r)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *label = prefix ? password_label(prefix) : NULL;
	int ret = -1;

	if (outlen > 0)
		out[0] = '\0';
	if (!label) {
		snprintf(err, errlen, "unsupported hash method %s", prefix ? prefix : "(null)");
		return -1;
	}
	if (!password || password[0] == '\0') {
		snprintf(err, errlen, "empty password");
		return -1;
	}
	size_t pl = strlen(password);
	if (pl > PASSWORD_MAX) {
		snprintf(err, errlen, "password longer than %d bytes", PASSWORD_MAX);
		return -1;
	}
	if (strcmp(prefix, "$2b$") == 0 && pl > 72) {
		snprintf(err, errlen, "bcrypt uses only the first 72 bytes of a password");
		return -1;
	}
	if (!crypt_gensalt_rn(prefix, password_cost(prefix), NULL, 0, setting,
			      (int)sizeof(setting))) {
		snprintf(err, errlen, "cannot make a %s salt (method unavailable?)", prefix);
		*unavailable_r = true;
		return -1;
	}
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h = crypt_rn(password, setting, cd, (int)sizeof(*cd));
	if (!h || h[0] == '*' || strncmp(h, prefix, strlen(prefix)) != 0) {
		snprintf(err, errlen, "crypt(3) failed for method %s", prefix);
		*unavailable_r = true;
	} else {
		int n = snprintf(out, outlen, "%s%s", label, h);
		if (n < 0 || (size_t)n >= outlen) {
			if (outlen > 0)
				out[0] = '\0';
			snprintf(err, errlen, "hash output buffer too small");
		} else {
			ret = 0;
		}
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ret;
}

int password_hash_with(const char *password, const char *prefix, char *out, size_t outlen,
		       char *err, size_t errlen)
{
	bool unavailable = false;
	return password_hash_method(password, prefix, out, outlen, err, errlen, &unavailable);
}

int password_hash(const char *password, char *out, size_t outlen, char *err, size_t errlen)
{
	static const char *const prefixes[] = { "$y$", "$2b$", "$6$" };
	size_t pl = password ? strlen(password) : 0;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		bool unavailable = false;
		if (strcmp(prefixes[i], "$2b$") == 0 && pl > 72)
			continue;
		if (password_hash_method(password, prefixes[i], out, outlen, err, errlen,
					 &unavailable) == 0)
			return 0;
		if (!unavailable)
			return -1;
	}
	return -1;
}
