/* seqset.h - IMAP sequence sets and UID sets ("1,3:5,7:*", "$"): parse, resolve '*', test, iterate, print (pure). */
#ifndef MAIL_SEQSET_H
#define MAIL_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* An inclusive range lo..hi, 1 <= lo <= hi <= 4294967295. */
struct seqset_range {
	uint32_t lo, hi;
};

/*
 * ranges: the numeric elements, sorted, merged (disjoint and not adjacent).
 * star: the elements naming '*', kept apart because '*' means "the largest number in
 * use", known only when the set is applied to a mailbox: each holds the other end of
 * "n:*" in lo (0 for "*" or "*:*"), hi unused. seqset_resolve() turns them into ranges:
 * "n:*" with largest number m is min(n,m)..max(n,m) (RFC 9051 6.4.8: "5:*" with
 * m = 3 means 3..5, which includes UID 3), and nothing at all when m = 0.
 * saved: the set was "$", the result saved by SEARCH RETURN (SAVE) (RFC 5182); ranges
 * and star are then empty and the server substitutes the saved set.
 */
struct seqset {
	struct seqset_range *ranges;
	size_t count, cap;
	uint32_t *star;
	size_t star_count;
	bool saved;
};

enum seqset_parse_flag {
	SEQSET_ALLOW_SAVED = 1 << 0, /* accept "$" (SEARCHRES enabled) */
	SEQSET_NO_STAR = 1 << 1,     /* reject '*' (e.g. APPENDUID/COPYUID parsing) */
};

void seqset_init(struct seqset *set);
void seqset_free(struct seqset *set);

/* Parses s[0..len). Returns 0, or -1 with a static *error_r ("Invalid sequence set: ...")
 * and set_r left empty. Rejects 0, numbers above 4294967295, empty elements and any
 * character outside digits ':' ',' '*' ('$' alone with SEQSET_ALLOW_SAVED). */
int seqset_parse(const char *s, size_t len, unsigned flags, struct seqset *set_r,
		 const char **error_r);

/* Adds lo..hi (either order, both >= 1) to the numeric ranges, keeping them normalised.
 * Appending ascending numbers is O(1) each: build COPYUID/APPENDUID sets this way. */
void seqset_add_range(struct seqset *set, uint32_t lo, uint32_t hi);
void seqset_add(struct seqset *set, uint32_t n);

/* Copies set into out (initialised by the caller, emptied first) with every '*' element
 * resolved against max, the highest sequence number or UID in the mailbox. out has no
 * star elements and saved is false (resolving "$" is the server's job). */
void seqset_resolve(const struct seqset *set, uint32_t max, struct seqset *out);

/* Membership in the numeric ranges (binary search). For a set with star elements,
 * seqset_contains_max() resolves them against max on the fly. */
bool seqset_contains(const struct seqset *set, uint32_t n);
bool seqset_contains_max(const struct seqset *set, uint32_t n, uint32_t max);
/* The smallest number >= n in the numeric ranges; false when there is none. */
bool seqset_next(const struct seqset *set, uint32_t n, uint32_t *next_r);

/* Count of numbers in the numeric ranges. */
uint64_t seqset_count(const struct seqset *set);
/* Smallest and largest number of the numeric ranges; false when empty. */
bool seqset_min(const struct seqset *set, uint32_t *n_r);
bool seqset_max(const struct seqset *set, uint32_t *n_r);

/* Ascending iteration over the numeric ranges:
 *	struct seqset_iter it; uint32_t n;
 *	seqset_iter_init(&it, &resolved);
 *	while (seqset_iter_next(&it, &n)) ... */
struct seqset_iter {
	const struct seqset *set;
	size_t i;
	uint64_t next;
};
void seqset_iter_init(struct seqset_iter *it, const struct seqset *set);
bool seqset_iter_next(struct seqset_iter *it, uint32_t *n_r);

/* Appends the compact form "1:3,5,7:9" (then "n:*" / "*" for star elements; "$" when
 * saved). An empty set appends nothing. */
void seqset_write(struct buf *b, const struct seqset *set);

#endif
