/* mime_binary.h - Content-Transfer-Encodings for IMAP BINARY (RFC 3516): which are known, and binary parts re-encoded as base64 (pure). */
#ifndef MAIL_MIME_BINARY_H
#define MAIL_MIME_BINARY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "mime.h"

/* True when FETCH BINARY can decode a body in this Content-Transfer-Encoding: absent (NULL),
 * 7bit, 8bit, binary, base64 or quoted-printable (any case). Others get NO [UNKNOWN-CTE]. */
bool mime_cte_known(const char *encoding);

/* For APPEND of a literal8 (RFC 3516 4.2), as Dovecot does: every leaf part of msg whose
 * Content-Transfer-Encoding is "binary" or whose body holds a NUL octet is rewritten as base64
 * (76-character lines), its Content-Transfer-Encoding field replaced by "base64"; the rest is
 * copied byte for byte, so BODY[] never carries a NUL and BINARY[n] gives the original bytes
 * back. Appends the rewritten message to out and returns true, or returns false (out untouched)
 * when no part needs it. */
bool mime_binary_to_base64(struct buf *out, const char *msg, size_t len);

#endif
