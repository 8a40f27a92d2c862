/* test_password.c - verification against known hashes of every scheme; hash round trips. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "password.h"

/* Fixtures: SHA-crypt vectors from Drepper's specification (also what `openssl passwd -6/-5
 * -salt saltstring` prints), bcrypt vectors from Openwall's crypt_blowfish tests, MD5-crypt from
 * `openssl passwd -1`, yescrypt and the rest from python3's crypt module (libxcrypt). */
struct fixture {
	const char *stored;
	const char *password;
};

static const struct fixture good[] = {
	{ "{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
	  "O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	  "Hello world!" },
	{ "{SHA256-CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
	  "Hello world!" },
	{ "{BLF-CRYPT}$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U" },
	{ "{BLF-CRYPT}$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U" },
	{ "{BLF-CRYPT}$2y$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", "U*U*U" },
	{ "{MD5-CRYPT}$1$saltsalt$p8o/DENURnsaTWtr6WGJ70", "tr0ub4dor&3" },
	{ "{CRYPT}$y$j9T$F5Jx5fExrKuPp53xLKQ..1$y8e1eitiNDaQsFFW6d.9KbSTlk5zV3R3coZQtfcNAO5",
	  "correct horse battery staple" },
	{ "{CRYPT}$gy$j9T$abcdefghijklmnop$5YKvdc32siU4n.XP3ZELEbILTxBDSvxwXIexuo6T5qD", "U*U" },
	{ "{CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
	  "O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	  "Hello world!" },
	{ "{CRYPT}$1$saltsalt$p8o/DENURnsaTWtr6WGJ70", "tr0ub4dor&3" },
	{ "$y$j9T$abcdefghijklmnopqrstu.$BtI1C85gEUrt1rdmxUp3jEfe9z/jo0SzRdBMGm351nA",
	  "p\xc3\xa4ssw\xc3\xb6rd" },
	{ "$6$longpw$2r9L6cd5H.bn/glqJVHy/C4JlU8T7Vqq66pLnEcflIM2C8CuaRGSTtcBjCrzVVgZxlHvfqwz/"
	  "bYoWU5c1dVTV/",
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
	{ "{PLAIN}secret", "secret" },
	{ "{plain}secret", "secret" },
	{ "{CLEARTEXT}with:colon and space", "with:colon and space" },
	{ "{sha512-crypt}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
	  "O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	  "Hello world!" },
};

Test(password, known_hashes_verify)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *error = NULL;
		cr_expect(password_check_stored(good[i].stored, &error) == 0, "%s: %s",
			  good[i].stored, error);
		cr_expect(password_verify(good[i].stored, good[i].password), "%s", good[i].stored);
	}
}

Test(password, wrong_passwords_fail)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char wrong[PASSWORD_MAX + 1];
		size_t l = strlen(good[i].password);
		memcpy(wrong, good[i].password, l + 1);
		wrong[l - 1] ^= 1; /* last byte off by one bit */
		cr_expect(!password_verify(good[i].stored, wrong), "%s", good[i].stored);
		memcpy(wrong, good[i].password, l);
		wrong[l] = 'x'; /* one byte more */
		wrong[l + 1] = '\0';
		cr_expect(!password_verify(good[i].stored, wrong), "%s", good[i].stored);
		cr_expect(!password_verify(good[i].stored, ""), "%s", good[i].stored);
	}
	cr_expect(!password_verify("{PLAIN}secret", "secre"));
	cr_expect(!password_verify("{PLAIN}secret", "Secret"));
}

Test(password, bcrypt_truncation_is_bcrypts_own)
{
	/* bcrypt itself ignores bytes after 72: a stored bcrypt hash still verifies that way. */
	char pw72[80], pw73[80];
	char out[PASSWORD_HASH_SIZE], err[128];
	memset(pw72, 'a', 72);
	pw72[72] = '\0';
	memcpy(pw73, pw72, 72);
	pw73[72] = 'b';
	pw73[73] = '\0';
	cr_assert_eq(password_hash_with(pw72, "$2b$", out, sizeof(out), err, sizeof(err)), 0, "%s",
		     err);
	cr_expect(password_verify(out, pw72));
	/* but we never make a bcrypt hash of a longer password. */
	cr_expect_eq(password_hash_with(pw73, "$2b$", out, sizeof(out), err, sizeof(err)), -1);
	cr_expect_str_eq(out, "");
}

static const char *const bad_stored[] = {
	"",
	"*",
	"!",
	"!$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
	"O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	"{CRYPT}!$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
	"O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	"!{CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
	"O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	"{CRYPT}*",
	"{CRYPT}",
	"{PLAIN}",
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaA",
	"{SSHA}abcdef",
	"{MD5}secret",
	"{PLAIN",
	"{}secret",
	"secret",                                      /* bare text is not a crypt string */
	"abJnggxhB/yWI",                               /* DES crypt, bare */
	"{CRYPT}abJnggxhB/yWI",                        /* DES crypt: legacy, refused */
	"{CRYPT}$3$$8846f7eaee8fb117ad06bdd830b7586c", /* NT hash: legacy, refused */
	"{CRYPT}$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	"{SHA512-CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", /* wrong scheme */
	"{BLF-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
	"O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	"$z$unknownmethod",
};

Test(password, unusable_stored_values_never_match)
{
	for (size_t i = 0; i < sizeof(bad_stored) / sizeof(bad_stored[0]); i++) {
		const char *error = NULL;
		cr_expect_eq(password_check_stored(bad_stored[i], &error), -1, "%s", bad_stored[i]);
		cr_expect(error != NULL && error[0] != '\0');
		/* Try the password that would match if the scheme were honoured. */
		cr_expect(!password_verify(bad_stored[i], "Hello world!"), "%s", bad_stored[i]);
		cr_expect(!password_verify(bad_stored[i], "secret"), "%s", bad_stored[i]);
		cr_expect(!password_verify(bad_stored[i], "password"), "%s", bad_stored[i]);
		cr_expect(!password_verify(bad_stored[i], "U*U"), "%s", bad_stored[i]);
	}
	cr_expect(!password_verify(NULL, "x"));
	cr_expect(!password_verify("{PLAIN}x", NULL));
}

Test(password, over_long_inputs)
{
	static char pw[PASSWORD_MAX + 2], stored[PASSWORD_MAX + 16];
	const char *error;
	memset(pw, 'p', PASSWORD_MAX + 1);
	pw[PASSWORD_MAX + 1] = '\0';
	snprintf(stored, sizeof(stored), "{PLAIN}%s", pw);
	cr_expect_eq(password_check_stored(stored, &error), -1);
	cr_expect(!password_verify(stored, pw));
	pw[PASSWORD_MAX] = '\0';
	snprintf(stored, sizeof(stored), "{PLAIN}%s", pw);
	cr_expect(password_verify(stored, pw));
}

Test(password, hash_default_is_yescrypt_and_verifies)
{
	char out[PASSWORD_HASH_SIZE], out2[PASSWORD_HASH_SIZE], err[128] = "";
	cr_assert_eq(password_hash("hunter2", out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_expect(strncmp(out, "{CRYPT}$y$", 10) == 0, "%s", out);
	cr_expect(password_verify(out, "hunter2"));
	cr_expect(!password_verify(out, "hunter3"));
	const char *error;
	cr_expect_eq(password_check_stored(out, &error), 0);
	/* A fresh salt each time. */
	cr_assert_eq(password_hash("hunter2", out2, sizeof(out2), err, sizeof(err)), 0);
	cr_expect_str_neq(out, out2);
	cr_expect(password_verify(out2, "hunter2"));
	/* Fits the accounts file: no ':' or newline in the hash. */
	cr_expect(strpbrk(out, ":\n\r") == NULL);
}

Test(password, hash_each_method_round_trip)
{
	static const struct {
		const char *prefix, *label;
	} m[] = {
		{ "$y$", "{CRYPT}$y$" },
		{ "$2b$", "{BLF-CRYPT}$2b$10$" },
		{ "$6$", "{SHA512-CRYPT}$6$rounds=100000$" },
		{ "$5$", "{SHA256-CRYPT}$5$rounds=100000$" },
	};
	const char *pw = "s\xc3\xa9same ouvre-toi";
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		char out[PASSWORD_HASH_SIZE], err[128] = "";
		cr_assert_eq(
			password_hash_with(pw, m[i].prefix, out, sizeof(out), err, sizeof(err)), 0,
			"%s: %s", m[i].prefix, err);
		cr_expect(strncmp(out, m[i].label, strlen(m[i].label)) == 0, "%s", out);
		cr_expect(password_verify(out, pw), "%s", out);
		cr_expect(!password_verify(out, "sesame ouvre-toi"), "%s", out);
	}
}

Test(password, hash_rejects_bad_input)
{
	char out[PASSWORD_HASH_SIZE], err[128];
	static char longpw[PASSWORD_MAX + 2];
	memset(longpw, 'a', PASSWORD_MAX + 1);

	err[0] = '\0';
	cr_expect_eq(password_hash("", out, sizeof(out), err, sizeof(err)), -1);
	cr_expect_str_eq(err, "empty password");
	cr_expect_eq(password_hash(longpw, out, sizeof(out), err, sizeof(err)), -1);
	cr_expect(strstr(err, "longer than") != NULL, "%s", err);
	cr_expect_eq(password_hash("ok", out, 20, err, sizeof(err)), -1);
	cr_expect_str_eq(out, "");
	cr_expect_str_eq(err, "hash output buffer too small");
	cr_expect_eq(password_hash_with("ok", "$1$", out, sizeof(out), err, sizeof(err)), -1);
	cr_expect_eq(password_hash_with("ok", NULL, out, sizeof(out), err, sizeof(err)), -1);
}

Test(password, long_password_skips_bcrypt_fallback)
{
	/* 100 bytes: allowed, and yescrypt takes all of it. */
	char pw[101], out[PASSWORD_HASH_SIZE], err[128];
	memset(pw, 'z', 100);
	pw[100] = '\0';
	cr_assert_eq(password_hash(pw, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_expect(password_verify(out, pw));
	pw[99] = 'y';
	cr_expect(!password_verify(out, pw));
}

Test(password, dummy_verify_costs_like_a_real_one)
{
	struct timespec a, b, c;
	const char *real = good[6].stored; /* the yescrypt fixture */
	clock_gettime(CLOCK_MONOTONIC, &a);
	password_verify_dummy("guess");
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_expect(!password_verify(real, "guess"));
	clock_gettime(CLOCK_MONOTONIC, &c);
	double dummy = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	double check = (double)(c.tv_sec - b.tv_sec) + (double)(c.tv_nsec - b.tv_nsec) / 1e9;
	/* the same work, within a generous factor for a noisy machine */
	cr_expect(dummy > check / 5 && dummy < check * 5, "dummy %f s, real %f s", dummy, check);
	password_verify_dummy(NULL);
	password_verify_dummy("");
}
