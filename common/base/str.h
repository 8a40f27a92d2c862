/* str.h - the one home of small string helpers: hex digits, lower-casing, escaping for logs and terminals. */
#ifndef MAIL_STR_H
#define MAIL_STR_H

#include <stdbool.h>
#include <stddef.h>

/* The value of a hexadecimal digit (either case), or -1. */
int hex_value(char c);

/* Lower-cases ASCII letters of s in place; returns s. */
char *str_lower(char *s);

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
