/* imap_utf7.h - IMAP modified UTF-7 (RFC 3501 5.1.3) <-> UTF-8 for mailbox names. */
#ifndef MAIL_IMAP_UTF7_H
#define MAIL_IMAP_UTF7_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Appends the modified UTF-7 form of the UTF-8 string in (len bytes) to out. Returns 0, or
 * -1 for invalid UTF-8 (overlong forms, surrogates, > U+10FFFF, NUL) with out unchanged. */
int imap_utf8_to_utf7(const char *in, size_t len, struct buf *out);

/* Appends the UTF-8 form of the modified UTF-7 string in (len bytes) to out. Returns 0, or
 * -1 when in is not canonical modified UTF-7 (8-bit or control bytes, unterminated or bad
 * base64, printable ASCII or unpaired surrogates inside base64, adjacent base64 runs), with
 * out unchanged. */
int imap_utf7_to_utf8(const char *in, size_t len, struct buf *out);

/* in (NUL-terminated) is canonical modified UTF-7. */
bool imap_utf7_is_valid(const char *in);

/* in (len bytes) is valid UTF-8 (as imap_utf8_to_utf7 accepts it). */
bool imap_utf8_is_valid(const char *in, size_t len);

#endif
