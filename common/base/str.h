/* str.h - the one home of small string helpers: hex digits, lower-casing, escaping for logs and terminals. */
#ifndef MAIL_STR_H
#define MAIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of a hexadecimal digit (either case), or -1. */
int hex_value(char c);

/* Lower-cases ASCII letters of s in place; returns s. */
char *str_lower(char *s);

/* The one UTF-8 decoder: the length (1..4) of the well-formed UTF-8 sequence at p (left > 0
 * bytes there) with its code point in *cp_r, or 0 when it is malformed, truncated, overlong, a
 * surrogate or above U+10FFFF. ASCII (NUL included) is a sequence of length 1. */
size_t str_utf8_decode(const char *p, size_t left, uint32_t *cp_r);

/* The one UTF-8 encoder: cp (a Unicode scalar value) into out[0..4); returns its length. */
size_t str_utf8_encode(uint32_t cp, char out[4]);

/* True when in[0..len) can go to a log line or a terminal as it is: printable ASCII and valid
 * UTF-8 of code points from U+00A0 on (no C0, DEL, C1 controls, or invalid sequences). */
bool str_is_printable(const char *in, size_t len);

/* The one escaping of untrusted text for logs and terminals: copies in[0..len) to out with
 * CR, LF, TAB as \r \n \t and every other byte of a C0 control, DEL, a C1 control (U+0080 to
 * U+009F) or an invalid UTF-8 sequence as \xNN; valid UTF-8 and printable ASCII (backslash
 * included) are kept. Writes at most outlen - 1 bytes and a NUL (outlen > 0), never cutting an
 * escape or a character in two. Returns the bytes written. */
size_t str_escape_printable(const char *in, size_t len, char *out, size_t outlen);

#endif
