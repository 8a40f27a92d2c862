/* password.h - users_file password hashes: verify any supported scheme, make new ones. */
#ifndef MAIL_PASSWORD_H
#define MAIL_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* Longest password accepted for hashing or verification, in bytes. */
#define PASSWORD_MAX       1024
/* Room for any string password_hash() writes, with its NUL. */
#define PASSWORD_HASH_SIZE 512

/* All functions are thread-safe (no shared state).
 *
 * Supported stored forms (the users_file field after "address:"; scheme names are
 * case-insensitive as in Dovecot):
 *   {SHA512-CRYPT}$6$...   {SHA256-CRYPT}$5$...   {BLF-CRYPT}$2y$ / $2b$ / $2a$...
 *   {MD5-CRYPT}$1$...      (weak, accepted for migration)
 *   {CRYPT}<a crypt(3) string libxcrypt supports>, e.g. $y$ (yescrypt), $gy$, $7$, $6$, $1$;
 *          not its weak legacy methods (DES, NT hash $3$, $2x$, $sha1$, $md5$)
 *   $y$... / $6$... etc.   (a bare crypt(3) string, treated as {CRYPT})
 *   {PLAIN}secret, {CLEARTEXT}secret   (clear text: weak, for tests and migration only)
 * Never matching: "" (no password login), unknown schemes, locked hashes starting with '*' or
 * '!', a bare string not starting with '$'. */

/* Returns 0 when stored is a form that password_verify() can match, else -1 with *error_r a
 * static description (for "mailctl check" and load-time warnings). */
int password_check_stored(const char *stored, const char **error_r);

/* True when password matches stored. Comparison is constant-time; temporary buffers are
 * wiped. CPU- and memory-heavy by design (yescrypt, bcrypt): call it off the event loop. */
bool password_verify(const char *stored, const char *password);

/* Spends about the time of a yescrypt password_verify() and matches nothing: call it for an
 * unknown user so that response times do not tell which addresses have accounts. */
void password_verify_dummy(const char *password);

/* Hashes password with the strongest scheme available: yescrypt ("{CRYPT}$y$..."), else
 * bcrypt ("{BLF-CRYPT}$2b$...", only for passwords of at most 72 bytes, which bcrypt would
 * otherwise truncate), else SHA-512 crypt ("{SHA512-CRYPT}$6$..."), with a fresh salt from the
 * OS entropy source; cost: yescrypt's default, bcrypt 2^10, SHA-crypt 100000 rounds.
 * Returns 0 with the NUL-terminated result in out (PASSWORD_HASH_SIZE bytes suffice), or -1
 * with err set (empty or over-long password, no scheme available, out too small). */
int password_hash(const char *password, char *out, size_t outlen, char *err, size_t errlen);

/* The same with one fixed crypt(3) method prefix: "$y$", "$2b$", "$6$" or "$5$". */
int password_hash_with(const char *password, const char *prefix, char *out, size_t outlen,
		       char *err, size_t errlen);

#endif
