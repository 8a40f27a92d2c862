/* rfc5322.h - RFC 5322 message headers (pure): field iteration and unfolding, address lists, dates. */
#ifndef MAIL_RFC5322_H
#define MAIL_RFC5322_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"

/* Upper bound on the addresses (and group markers) one address-list header yields. */
#define RFC5322_MAX_ADDRESSES 10000

/* One header field. Lines end in LF, optionally preceded by CR (bare-LF messages are tolerated). */
struct rfc5322_field {
	const char *name; /* field name, not NUL-terminated, trailing WSP excluded */
	size_t name_len;
	const char *value; /* raw value after the colon: folding kept, last line ending excluded */
	size_t value_len;
	size_t start; /* offset of the field's first byte in the header block */
	size_t end;   /* offset just past the field's last line ending */
};

/* Iterates the fields of a header block. Lines that are not fields (no "name:", stray
 * continuation lines, an mbox "From " line) are skipped; iteration stops at the blank line. */
struct rfc5322_iter {
	const char *hdr;
	size_t len;
	size_t pos;
};

void rfc5322_iter_init(struct rfc5322_iter *it, const char *hdr, size_t len);
/* Returns 1 with *field_r filled, or 0 at the end of the header block. */
int rfc5322_iter_next(struct rfc5322_iter *it, struct rfc5322_field *field_r);
/* Like rfc5322_iter_next, but only fields named name (case-insensitive). */
int rfc5322_iter_next_named(struct rfc5322_iter *it, const char *name,
			    struct rfc5322_field *field_r);

/* Finds the first field named name (case-insensitive) in hdr. Returns 1 found, 0 not. */
int rfc5322_find(const char *hdr, size_t len, const char *name, struct rfc5322_field *field_r);

/* Case-insensitive comparison of a field's name. */
bool rfc5322_name_is(const struct rfc5322_field *f, const char *name);

/* An originator field (RFC 5322 3.6.2, 3.6.6): From, Sender, Resent-From, Resent-Sender. */
bool rfc5322_is_originator(const struct rfc5322_field *f);

enum rfc5322_header_flaw {
	RFC5322_HEADER_OK = 0,
	RFC5322_HEADER_NUL,       /* a NUL octet in the header block */
	RFC5322_HEADER_DUPLICATE, /* a second field of one RFC 5322 3.6 allows once */
};

/* Checks a header block (as rfc5322_header_length gives it): no NUL octet, and at most one
 * each of From, Sender, Reply-To, To, Cc, Bcc, Message-ID, In-Reply-To, References, Subject
 * and Date (RFC 5322 3.6, the table's "max number" 1). Returns the first flaw; for DUPLICATE
 * *field_r is the second occurrence. */
enum rfc5322_header_flaw rfc5322_header_check(const char *hdr, size_t len,
					      struct rfc5322_field *field_r);

/* Length of the header block at the start of msg, including the blank line that ends it; the
 * body starts there. Without a blank line the whole buffer is header. */
size_t rfc5322_header_length(const char *msg, size_t len);

/* Appends the unfolded value (RFC 5322 2.2.3: every line ending removed, the folding white
 * space kept), with leading white space skipped. Trailing white space is removed when trim. */
void rfc5322_unfold(struct buf *out, const char *value, size_t len, bool trim);

enum rfc5322_addr_kind {
	RFC5322_ADDR_MAILBOX,
	RFC5322_ADDR_GROUP_START, /* mailbox holds the group's display name */
	RFC5322_ADDR_GROUP_END,   /* all strings NULL */
};

/* One entry of an address list, in the shape of an IMAP ENVELOPE address. Strings are raw
 * (encoded-words are not decoded), quoted strings unquoted, comments dropped. */
struct rfc5322_addr {
	enum rfc5322_addr_kind kind;
	char *name;    /* display name, or the last comment when there is none; NULL if absent */
	char *route;   /* obsolete source route "@a,@b", NULL if absent */
	char *mailbox; /* local part ("MISSING_MAILBOX" when absent, as Dovecot) */
	char *host;    /* domain ("MISSING_DOMAIN" when absent, as Dovecot) */
};

/* Parses an address-list header value (unfolded or not) leniently: display names, quoted
 * strings, comments, groups, obsolete routes and phrases. Never fails: garbage yields fewer
 * entries. Returns the number of entries stored in *list_r (NULL when 0), at most
 * RFC5322_MAX_ADDRESSES; free with rfc5322_addrs_free. */
size_t rfc5322_parse_addresses(const char *s, size_t len, struct rfc5322_addr **list_r);
void rfc5322_addrs_free(struct rfc5322_addr *list, size_t n);

/* Parses an RFC 5322 date-time, also the obsolete forms: missing day name or seconds,
 * two- and three-digit years, named zones (UT, GMT, EST...; military letters count as
 * +0000), missing zone (+0000), trailing comments, and asctime() "Tue Jan  2 10:00:00 2024".
 * Returns 0 with *t_r (UTC seconds) and *tz_minutes_r (offset east of UTC), or -1. */
int rfc5322_parse_date(const char *s, size_t len, time_t *t_r, int *tz_minutes_r);

/* The one formatter of RFC 5322 3.3 date-times: t in the local zone, "Sun, 06 Dec 2026 10:21:52
 * +0100", into out (outlen at least 40). */
void rfc5322_format_date(time_t t, char *out, size_t outlen);

/* RFC 6409 8.2, 8.3: appends to add the "Date: DATE" and "Message-ID: <ID@HOST>" lines that
 * the header section of msg[0..len) lacks (nothing when it has both). */
void rfc5322_missing_origin_fields(const char *msg, size_t len, const char *date, const char *id,
				   const char *host, struct buf *add);

#endif
