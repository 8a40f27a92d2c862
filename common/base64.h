/* base64.h - RFC 4648 base64 (standard alphabet, padded), strict decoding (pure). */
#ifndef MAIL_BASE64_H
#define MAIL_BASE64_H

#include <stddef.h>

#include "buf.h"

/* Characters needed to encode n bytes, without the terminating NUL. */
#define BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)
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

#endif
