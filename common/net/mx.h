/* mx.h - pure RFC 5321 5.1 / RFC 7505 mail exchanger selection: sort, shuffle, null MX, names. */
#ifndef MAIL_MX_H
#define MAIL_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MX_NAME_MAX 253 /* longest domain name in text form, without a trailing dot */

/* One MX record as published. name is borrowed, never freed here; "" or "." is the root. */
struct mx_entry {
	const char *name;
	unsigned preference;
};

/* A source of random numbers (uniform over uint32_t); injected so tests are deterministic. */
typedef uint32_t (*mx_random_fn)(void *arg);

/* True when name is the root domain ("" or "."), the exchange of a null MX. */
bool mx_name_is_root(const char *name);

/* True when the records say "this domain accepts no mail" (RFC 7505): at least one record and
 * every exchange is the root. The RFC's form is a single record of preference 0; several
 * root-only records (or another preference) are just as undeliverable and are treated alike. */
bool mx_is_null(const struct mx_entry *e, size_t n);

/* Puts the records in the order a client must try them (RFC 5321 5.1), in place:
 * drops root exchanges (a null MX mixed with real ones), keeps one entry per exchange name
 * (case-insensitive, the lowest preference), sorts by ascending preference, shuffles each run
 * of equal preferences uniformly with rnd (Fisher-Yates; every permutation is possible), and
 * keeps at most max entries. The result does not depend on the input order, only on rnd.
 * Returns the number of entries kept (0 when none is usable: see mx_is_null first). */
size_t mx_select(struct mx_entry *e, size_t n, size_t max, mx_random_fn rnd, void *arg);

/* The implicit MX of a domain without MX records: the domain itself, preference 0. */
struct mx_entry mx_implicit(const char *domain);

/* Checks a domain name in text form for lookup: 1..253 octets (plus one optional trailing
 * dot), labels of 1..63 octets, no control characters, spaces or backslashes. Returns 0,
 * or -1 with *error_r a static description. */
int mx_check_name(const char *name, const char **error_r);

#endif
