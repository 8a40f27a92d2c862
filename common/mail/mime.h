/* mime.h - MIME structure of a stored message (pure): part tree, sections, transfer decoding. */
#ifndef MAIL_MIME_H
#define MAIL_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * The message is a byte buffer as stored (CRLF line endings, bare LF tolerated). Lines end in
 * LF; a CR right before it belongs to the line ending. Nothing here does I/O or keeps globals.
 *
 * Choices, where the RFCs leave room (Dovecot's answers unless said otherwise):
 * - Content-* fields are honoured with or without MIME-Version (Dovecot ignores them without).
 * - The first occurrence of each Content-* field counts.
 * - A boundary line is "--boundary" at a line start, optionally "--", then only SP/TAB before
 *   the line ending (RFC 2046 5.1.1); the line ending before it belongs to the boundary. A part
 *   without a close delimiter ends at its parent's end.
 * - Sizes written in BODYSTRUCTURE count each bare LF as CRLF (mime_part.vsize): IMAP sends
 *   CRLF, so a server serving a bare-LF message converts it (mime_append_crlf). For a CRLF
 *   message vsize equals the stored size.
 * - Type, subtype, disposition, encoding and parameter names are lower-cased.
 * - Parameters split by RFC 2231 are joined; an extended one is written as "name*" with its
 *   still %-encoded value, as Dovecot does (mime_param.value has the UTF-8 decoding).
 * - A part of type multipart without a boundary, or a multipart or message/rfc822 past the
 *   depth or part limits, or a message/rfc822 with a base64/quoted-printable encoding, is a leaf
 *   ("opaque") and written in BODYSTRUCTURE as "text" "plain" (with its own parameters).
 * - message/global is nested like message/rfc822 (RFC 9051 body-type-msg).
 */

#define MIME_MAX_DEPTH     50    /* nesting levels (multipart children and messages) */
#define MIME_MAX_PARTS     10000 /* parts in one message, nested messages included */
#define MIME_MAX_PARAMS    64    /* parameters kept per Content-Type / Content-Disposition */
#define MIME_MAX_LANGUAGES 32

struct mime_param {
	char *name;    /* attribute, lower-cased, without the RFC 2231 "*n*" suffix */
	char *raw;     /* value as sent in BODYSTRUCTURE: unquoted, continuations joined */
	char *value;   /* UTF-8: RFC 2231 decoded if extended; RFC 2047 words decoded in
			 * name/filename; else raw */
	bool extended; /* RFC 2231 charset'lang'%XX form: BODYSTRUCTURE writes "name*" */
};

struct mime_part {
	/* Offsets into the message. The MIME header (for the root and for the top of an
	 * encapsulated message: the RFC 5322 header) is [header_start, body_start), blank line
	 * included; the body is [body_start, body_end). */
	size_t header_start, body_start, body_end;

	char *type, *subtype;      /* never NULL: text/plain by default (message/rfc822 in
					 * a multipart/digest) */
	struct mime_param *params; /* Content-Type parameters */
	size_t nparams;
	char *id, *description, *md5, *location; /* unfolded values, NULL when absent */
	char *encoding;    /* Content-Transfer-Encoding token, NULL when absent */
	char *disposition; /* Content-Disposition type, NULL when absent */
	struct mime_param *disp_params;
	size_t ndisp_params;
	char **languages; /* Content-Language tags */
	size_t nlanguages;

	size_t size;    /* body octets as stored */
	size_t vsize;   /* body octets with each bare LF counted as CRLF */
	size_t lines;   /* LF count of the body */
	unsigned depth; /* 0 for the root */

	bool multipart; /* split into children (maybe zero when no boundary line was found) */
	bool opaque;    /* a container type not parsed (see above) */
	struct mime_part **children;
	size_t nchildren;
	struct mime_part *message; /* message/rfc822 and message/global: the encapsulated
					 * message (its own header and body) */
	const struct mime_part *parent;
};

/* Builds the part tree of msg. Never fails; malformed input gives a best-effort tree. Work is
 * O(len * MIME_MAX_DEPTH) at worst. Free with mime_free. */
struct mime_part *mime_parse(const char *msg, size_t len);
void mime_free(struct mime_part *root);

/* Looks up a parameter of the part's Content-Type (or of its disposition). NULL if absent. */
const struct mime_param *mime_param_find(const struct mime_param *params, size_t n,
					 const char *name);

/* Section lookup (RFC 3501 6.4.5). numbers is "" or "1", "1.2.3" (no trailing dot). */
enum mime_section {
	MIME_SECTION_BODY,   /* BODY[] / BODY[n]: whole message, or part n's body */
	MIME_SECTION_HEADER, /* BODY[HEADER] / BODY[n.HEADER] (part n must be a message) */
	MIME_SECTION_TEXT,   /* BODY[TEXT] / BODY[n.TEXT] (part n must be a message) */
	MIME_SECTION_MIME,   /* BODY[n.MIME]: part n's MIME header (n required) */
};

/* The part numbered by numbers ("" is the root; in a non-multipart message "1" is the root).
 * Returns NULL when there is no such part or numbers is malformed. */
const struct mime_part *mime_find_section(const struct mime_part *root, const char *numbers);

/* Byte range of a section. Returns 0 with *start_r and *len_r set, or -1 when the section does
 * not exist (the caller answers with an empty string, as RFC 3501 allows). */
int mime_section_range(const struct mime_part *root, const char *numbers, enum mime_section what,
		       size_t *start_r, size_t *len_r);

/* BODY[...HEADER.FIELDS (names)] and .NOT: appends the fields of hdr[0..len) whose names are
 * (exclude false) or are not (exclude true) in names (case-insensitive), as stored (folding
 * kept), then the blank line "\r\n". A field without a final line ending gets "\r\n". */
void mime_write_header_fields(struct buf *out, const char *hdr, size_t len,
			      const char *const *names, size_t nnames, bool exclude);

/* Appends s decoded from the transfer encoding ("base64", "quoted-printable"; NULL or anything
 * else is copied). Returns 0, or -1 when the input was malformed (best-effort output kept). */
int mime_decode_transfer(struct buf *out, const char *s, size_t len, const char *encoding);

/* Appends the part's body, transfer-decoded (BINARY[n]). Returns as mime_decode_transfer. */
int mime_part_decode(struct buf *out, const char *msg, const struct mime_part *part);

/* Appends the part's body as UTF-8 text for SEARCH BODY/TEXT: transfer-decoded and, for text
 * parts, converted from the charset parameter (default us-ascii, which accepts UTF-8). */
int mime_part_text(struct buf *out, const char *msg, const struct mime_part *part);

/* Size of s with each bare LF counted as CRLF. */
size_t mime_crlf_size(const char *s, size_t len);
/* Appends s with each bare LF turned into CRLF. */
void mime_append_crlf(struct buf *out, const char *s, size_t len);

#endif
