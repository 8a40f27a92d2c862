/* sort_keys.h - what SORT and THREAD compare, taken once from a message's header block (RFC 5256, RFC 5957) and kept in the header cache as one record (pure). */
#ifndef MAIL_SORT_KEYS_H
#define MAIL_SORT_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A field longer than this is cut (a subject, a name); the reference list keeps its last
 * SORT_KEYS_MAX_REFS_LEN bytes (the parent is the last reference). */
#define SORT_KEYS_MAX_FIELD    1024
#define SORT_KEYS_MAX_REFS_LEN 8192

/*
 * Every string is NUL-terminated UTF-8 without CR, LF or NUL, "" when absent. The compared
 * forms (subject, from, to, cc, display_from, display_to) are upper-cased in ASCII, as the
 * i;ascii-casemap comparator of RFC 5256 compares them.
 */
struct sort_keys {
	bool has_date; /* a Date: header that parses; else SORT uses the internal date */
	int64_t date;  /* its instant, seconds since 1970 UTC */
	bool reply;    /* the base subject extraction removed a Re:, Fwd: or (fwd) */
	char *subject; /* the base subject (RFC 5256 2.1) */
	char *from;    /* addr-mailbox of the first From address (a group: its name) */
	char *to;
	char *cc;
	char *display_from; /* RFC 5957: the first From's display name, else its addr-spec */
	char *display_to;
	char *message_id; /* the first valid "<...>" of Message-ID */
	char *references; /* the parent chain, oldest first, space-separated "<...>" ids:
			   * References, else the first valid id of In-Reply-To */
	char *block;      /* private: sort_keys_parse puts every string in this one block */
};

/* The base subject of subject (raw header value, unfolded or not; encoded-words are decoded)
 * appended to out, not case-mapped. *reply_r: whether a reply/forward marker was removed. */
void sort_base_subject(struct buf *out, const char *subject, size_t len, bool *reply_r);

/* Fills k from a header block. Free with sort_keys_free. */
void sort_keys_from_header(struct sort_keys *k, const char *hdr, size_t len);
void sort_keys_free(struct sort_keys *k);

/* The cache record of k: one line per field, in a fixed order. */
void sort_keys_format(struct buf *out, const struct sort_keys *k);
/* Parses a record made by sort_keys_format. Returns 0 with k filled (free with
 * sort_keys_free), or -1 when it is malformed. */
int sort_keys_parse(struct sort_keys *k, const char *rec, size_t len);

/* Calls fn for each "<...>" id of a space-separated list (references), oldest first. */
void sort_keys_each_ref(const char *refs, void (*fn)(const char *id, size_t len, void *arg),
			void *arg);

#endif
