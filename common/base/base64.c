/* base64.c - RFC 4648 base64 encoding, strict decoding, and lenient decoding of message text. */
#include "base64.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of an alphabet character, or -1 (also for '=' and NUL). */
static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Encodes one group of 1..3 bytes into 4 characters. */
static void base64_encode_group(const unsigned char *p, size_t n, char *o)
{
	uint32_t v = (uint32_t)p[0] << 16;
	if (n > 1)
		v |= (uint32_t)p[1] << 8;
	if (n > 2)
		v |= p[2];
	o[0] = base64_alphabet[(v >> 18) & 63];
	o[1] = base64_alphabet[(v >> 12) & 63];
	o[2] = n > 1 ? base64_alphabet[(v >> 6) & 63] : '=';
	o[3] = n > 2 ? base64_alphabet[v & 63] : '=';
}

long base64_encode(const void *in, size_t len, char *out, size_t outsize)
{
	const unsigned char *p = in;
	if (len > (SIZE_MAX / 4 - 3) || outsize < BASE64_ENCODED_LEN(len) + 1 ||
	    BASE64_ENCODED_LEN(len) > (size_t)LONG_MAX) {
		if (outsize > 0)
			out[0] = '\0';
		return -1;
	}
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		base64_encode_group(p + i, len - i < 3 ? len - i : 3, out + o);
		o += 4;
	}
	out[o] = '\0';
	return (long)o;
}

void base64_encode_buf(struct buf *b, const void *in, size_t len)
{
	const unsigned char *p = in;
	char group[4];
	buf_reserve(b, BASE64_ENCODED_LEN(len));
	for (size_t i = 0; i < len; i += 3) {
		base64_encode_group(p + i, len - i < 3 ? len - i : 3, group);
		buf_append(b, group, 4);
	}
}

int base64_decode(const char *in, size_t len, void *out, size_t outsize, size_t *outlen_r,
		  const char **error_r)
{
	unsigned char *o = out;
	size_t n = 0;

	*outlen_r = 0;
	if (len % 4 != 0) {
		*error_r = "base64 length is not a multiple of 4";
		return -1;
	}
	for (size_t i = 0; i < len; i += 4) {
		const unsigned char *g = (const unsigned char *)in + i;
		bool last = i + 4 == len;
		int pad = 0;
		if (last && g[3] == '=')
			pad = g[2] == '=' ? 2 : 1;
		int v[4] = { 0, 0, 0, 0 };
		for (int k = 0; k < 4 - pad; k++) {
			v[k] = base64_value(g[k]);
			if (v[k] < 0) {
				*error_r = g[k] == '=' ? "base64 padding in the wrong place"
						       : "invalid base64 character";
				return -1;
			}
		}
		if (pad == 2 && (v[1] & 0x0f) != 0) {
			*error_r = "base64 has non-zero bits before the padding";
			return -1;
		}
		if (pad == 1 && (v[2] & 0x03) != 0) {
			*error_r = "base64 has non-zero bits before the padding";
			return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		size_t bytes = 3 - (size_t)pad;
		if (outsize - n < bytes) {
			*error_r = "base64 data too long";
			return -1;
		}
		o[n++] = (unsigned char)(w >> 16);
		if (bytes > 1)
			o[n++] = (unsigned char)(w >> 8);
		if (bytes > 2)
			o[n++] = (unsigned char)w;
	}
	*outlen_r = n;
	return 0;
}

int base64_decode_lenient(struct buf *out, const char *in, size_t len, unsigned flags)
{
	int ret = 0;
	uint32_t acc = 0;
	int bits = 0;
	char chunk[512];
	size_t nchunk = 0;

	buf_reserve(out, len / 4 * 3 + 3);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v = base64_value(c);
		if (v < 0) {
			if (c == '=') {
				if (flags & BASE64_PAD_ENDS_QUANTUM) {
					acc = 0;
					bits = 0;
				}
			} else if (c != '\r' && c != '\n' && c != ' ' && c != '\t') {
				ret = -1;
			}
			continue;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			chunk[nchunk++] = (char)((acc >> bits) & 0xFF);
			if (nchunk == sizeof(chunk)) {
				buf_append(out, chunk, nchunk);
				nchunk = 0;
			}
		}
	}
	buf_append(out, chunk, nchunk);
	return ret;
}
