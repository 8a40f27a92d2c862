/* rfc2047.h - header text to UTF-8 (pure): RFC 2047 encoded-words, RFC 2231 values, charsets, folded search. */
#ifndef MAIL_RFC2047_H
#define MAIL_RFC2047_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Appends the UTF-8 form of len bytes written in charset (a name as found in mail, e.g.
 * "UTF-8", "iso-8859-1", "windows-1252", "koi8-r"; any "*language" suffix is ignored).
 * UTF-8, US-ASCII and ISO-8859-1 are converted here, other charsets with iconv. Bytes that
 * cannot be converted (and every 8-bit byte of an unknown charset) become U+FFFD.
 * Returns 0 when everything converted, -1 when something was replaced. */
int rfc2047_to_utf8(struct buf *out, const char *charset, size_t charset_len, const char *s,
		    size_t len);

/* Appends s with invalid UTF-8 sequences replaced by U+FFFD. Returns 0, or -1 if replaced. */
int rfc2047_utf8_sanitize(struct buf *out, const char *s, size_t len);

/* Decodes unstructured header text (an unfolded Subject, a display name) to UTF-8:
 * "=?charset?Q?...?=" and "=?charset?B?...?=" words are decoded, white space between
 * adjacent encoded-words is dropped and their bytes are joined before charset conversion (so a
 * character split over two words survives); malformed words are left as they are; other 8-bit
 * bytes are kept when they are UTF-8, else replaced. Linear in len. */
void rfc2047_decode(struct buf *out, const char *s, size_t len);

/* Decodes an RFC 2231 extended parameter value "charset'language'%XX..." (continuations
 * already joined) to UTF-8. Without the two quotes the value is taken as %-encoded US-ASCII.
 * Returns 0, or -1 if something was replaced. */
int rfc2047_decode_2231(struct buf *out, const char *s, size_t len);

/* Appends s case-folded for comparisons: ASCII, Latin-1 Supplement, Latin Extended-A, basic
 * Greek and Cyrillic capitals map to lower case; other bytes are copied. */
void rfc2047_fold(struct buf *out, const char *s, size_t len);

/* Case-insensitive (rfc2047_fold) substring search over UTF-8 text. An empty needle matches. */
bool rfc2047_contains(const char *hay, size_t hay_len, const char *needle, size_t needle_len);

/* Same, with both already folded by rfc2047_fold (fold the needle once, many haystacks). */
bool rfc2047_contains_folded(const char *hay_folded, size_t hay_len, const char *needle_folded,
			     size_t needle_len);

#endif
