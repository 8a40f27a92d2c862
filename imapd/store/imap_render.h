/* imap_render.h - IMAP wire forms of stored messages: nstring, BODYSTRUCTURE, ENVELOPE, flag lists. */
#ifndef MAIL_IMAP_RENDER_H
#define MAIL_IMAP_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mime.h"

/* Appends the parenthesised BODY (extended false) or BODYSTRUCTURE (extended true) of part as
 * RFC 3501 7.4.2 / RFC 9051 7.5.2 defines it, e.g. ("text" "plain" ("charset" "us-ascii")
 * NIL NIL "7bit" 12 1 NIL NIL NIL NIL). msg is the buffer the tree was parsed from. */
void imap_write_bodystructure(struct buf *out, const char *msg, const struct mime_part *part,
			      bool extended);

/* Appends the parenthesised ENVELOPE of the message whose header is hdr[0..header_len):
 * (date subject from sender reply-to to cc bcc in-reply-to message-id), raw values, the
 * sender and reply-to defaulting to from, addresses as (name adl mailbox host) with groups as
 * (NIL NIL "group" NIL) ... (NIL NIL NIL NIL). */
void imap_write_envelope(struct buf *out, const char *hdr, size_t header_len);

/* The one writer of IMAP strings (responses only; the parser reads them). astring: a bare
 * atom when possible, else a quoted string, else a literal (CR, LF, NUL, 8-bit, or long).
 * string: never an atom. nstring: s == NULL gives NIL. With IMAP_WRITE_UTF8 (the client
 * enabled UTF8=ACCEPT or IMAP4rev2) 8-bit text may go into quoted strings. A NUL octet goes
 * out only in a literal8 ~{n} and only with IMAP_WRITE_BINARY (FETCH BINARY, RFC 3516);
 * otherwise NULs are dropped: an ordinary {n} literal never carries one. */
enum imap_write_flag { IMAP_WRITE_UTF8 = 1 << 0, IMAP_WRITE_BINARY = 1 << 1 };
void imap_write_astring(struct buf *b, const char *s, size_t len);
void imap_write_string(struct buf *b, const char *s, size_t len);
void imap_write_nstring(struct buf *b, const char *s, size_t len);
void imap_write_string_flags(struct buf *b, const char *s, size_t len, unsigned flags,
			     bool atom_ok);

/* The system flags a client may set, with their MAILBOX_* bits (\\Recent is not one of them). */
#define IMAP_SYSTEM_FLAGS 5
struct imap_system_flag {
	const char *name;
	unsigned flag;
};
extern const struct imap_system_flag imap_system_flags[IMAP_SYSTEM_FLAGS];

/* Appends "(\\Seen \\Flagged kw)" for a message of mb: system flags, \\Recent, then keywords. */
struct mailbox;
void imap_write_flags(struct buf *b, const struct mailbox *mb, unsigned flags, uint32_t keywords);

#endif
