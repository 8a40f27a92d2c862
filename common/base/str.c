/* str.c - the one home of small string helpers: hex digits, lower-casing, escaping for logs and terminals. */
#include "str.h"

#include <string.h>

int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *str_lower(char *s)
{
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

size_t str_utf8_decode(const char *in, size_t left, uint32_t *cp_r)
{
	const unsigned char *p = (const unsigned char *)in;
	unsigned c = p[0];
	size_t n;
	uint32_t cp, min;
	if (c < 0x80) {
		*cp_r = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

size_t str_utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of the valid UTF-8 sequence of a code point from U+00A0 on at p (left bytes there),
 * or 0: invalid sequences and C1 controls give 0. */
static size_t str_utf8_char(const unsigned char *p, size_t left)
{
	uint32_t cp;
	size_t n = str_utf8_decode((const char *)p, left, &cp);
	return n && cp >= 0xa0 ? n : 0;
}

bool str_is_printable(const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;
	for (size_t i = 0; i < len;) {
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			i++;
			continue;
		}
		size_t n = p[i] >= 0x80 ? str_utf8_char(p + i, len - i) : 0;
		if (!n)
			return false;
		i += n;
	}
	return true;
}

size_t str_escape_printable(const char *in, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;
	if (outlen == 0)
		return 0;
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		char esc[4];
		const char *src = esc;
		size_t n = 0, take = 1;
		if (c >= 0x20 && c < 0x7f) {
			src = in + i;
			n = 1;
		} else if (c >= 0x80 && (take = str_utf8_char(p + i, len - i)) > 0) {
			src = in + i;
			n = take;
		} else {
			take = 1;
			esc[0] = '\\';
			if (c == '\r' || c == '\n' || c == '\t') {
				esc[1] = c == '\r' ? 'r' : c == '\n' ? 'n' : 't';
				n = 2;
			} else {
				esc[1] = 'x';
				esc[2] = hex[c >> 4];
				esc[3] = hex[c & 15];
				n = 4;
			}
		}
		if (o + n > outlen - 1)
			break;
		memcpy(out + o, src, n);
		o += n;
		i += take;
	}
	out[o] = '\0';
	return o;
}
