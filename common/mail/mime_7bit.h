/* mime_7bit.h - 8-bit content detection and the RFC 6152 downgrade of a message to 7bit (pure). */
#ifndef MAIL_MIME_7BIT_H
#define MAIL_MIME_7BIT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* What one pass over a stored message (CRLF line endings) finds. */
struct mime_8bit_info {
	bool header_8bit; /* an octet >= 0x80 in the top-level header */
	bool body_8bit;   /* an octet >= 0x80 in the body */
	bool dkim_signed; /* a DKIM-Signature field in the top-level header */
};

void mime_8bit_scan(const char *msg, size_t len, struct mime_8bit_info *info_r);

/* True when s[0..len) has no octet >= 0x80. */
bool mime_is_ascii(const char *s, size_t len);

/* Converts msg to 7bit as RFC 6152 section 3 allows an MTA to (Postfix's choice): every leaf
 * part (the message itself when it is not multipart) whose body has 8-bit octets is
 * quoted-printable encoded and its Content-Transfer-Encoding set to quoted-printable; a
 * multipart or message/rfc822 container labelled 8bit or binary is relabelled 7bit and its
 * parts converted; the top-level header gets MIME-Version: 1.0 when it has none and a part was
 * converted. Parts without 8-bit octets are copied byte for byte. Returns 0 with the result
 * appended to out, or -1 with *error_r (static text) when the message cannot be converted:
 * 8-bit octets in a header (top-level or a part's), in a part already encoded base64 or
 * quoted-printable, in a container not parsed (too deep), or between parts. */
int mime_downgrade_7bit(const char *msg, size_t len, struct buf *out, const char **error_r);

/* Appends s[0..len) quoted-printable encoded (RFC 2045 6.7): CRLF (or a bare LF) is a hard
 * line break written as CRLF; lines are kept to 76 columns with soft breaks. */
void mime_qp_encode(struct buf *out, const char *s, size_t len);

#endif
