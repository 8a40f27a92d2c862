/* base64.h - RFC 4648 base64 (standard alphabet, padded): encoding, strict decoding, lenient decoding of message text (pure). */
#ifndef MAIL_BASE64_H
#define MAIL_BASE64_H

#include <stddef.h>

#include "buf.h"

/* Characters needed to encode n bytes, without the terminating NUL. */
#define BASE64_ENCODED_LEN(n)   ((((n) + 2) / 3) * 4)
/* Upper bound of the bytes that len characters of base64 decode to. */
#define BASE64_DECODED_MAX(len) (((len) / 4) * 3)

/* Encodes len bytes into out (outsize must be at least BASE64_ENCODED_LEN(len) + 1) and
 * NUL-terminates it. Returns the number of characters written, or -1 when out is too small
 * (out is then left as an empty string when outsize > 0). */
long base64_encode(const void *in, size_t len, char *out, size_t outsize);

/* Appends the encoding of len bytes to b. */
void base64_encode_buf(struct buf *b, const void *in, size_t len);

/* Decodes exactly len characters: the length must be a multiple of 4, every character from the
 * alphabet, '=' only as one or two final padding characters, and the unused bits before the
 * padding zero (the canonical encoding). Nothing is skipped: no whitespace, no line breaks.
 * Empty input decodes to zero bytes. Writes at most outsize bytes (BASE64_DECODED_MAX(len)
 * always suffices) and sets *outlen_r. Returns 0, or -1 with *error_r a static description. */
int base64_decode(const char *in, size_t len, void *out, size_t outsize, size_t *outlen_r,
		  const char **error_r);

/* Lenient decoding of base64 found in messages (MIME bodies, RFC 2047 encoded words): octets
 * outside the alphabet are skipped and the rest decoded; a final partial quantum is dropped.
 * With BASE64_PAD_ENDS_QUANTUM, '=' also discards the bits of the quantum so far (the next
 * group starts afresh, as in concatenated MIME parts); without it '=' is skipped like any
 * other stray octet. Appends to out. Returns 0, or -1 when an octet other than the alphabet,
 * '=', CR, LF, SP or TAB was skipped (the output is complete all the same). */
enum base64_lenient_flags {
	BASE64_PAD_ENDS_QUANTUM = 1 << 0,
};
int base64_decode_lenient(struct buf *out, const char *in, size_t len, unsigned flags);

#endif
