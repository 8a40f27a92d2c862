/* imap_utf7.c - IMAP modified UTF-7 (RFC 3501 5.1.3) <-> UTF-8 for mailbox names: pure, strict both ways. */
#include "imap_utf7.h"
#include "str.h"

#include <stdint.h>
#include <string.h>

static const char imap_utf7_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Value of a modified-base64 character, -1 if none. */
static int imap_utf7_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Decodes one UTF-8 code point at in[*i] (not NUL). Returns it, or -1 when invalid. */
static int32_t imap_utf8_next(const unsigned char *in, size_t len, size_t *i)
{
	uint32_t cp;
	size_t n = in[*i] ? str_utf8_decode((const char *)in + *i, len - *i, &cp) : 0;
	if (!n)
		return -1;
	*i += n;
	return (int32_t)cp;
}

bool imap_utf8_is_valid(const char *in, size_t len)
{
	size_t i = 0;
	while (i < len) {
		if (imap_utf8_next((const unsigned char *)in, len, &i) < 0)
			return false;
	}
	return true;
}

/* Base64 state of an encoder inside a "&...-" run. */
struct imap_utf7_enc {
	bool in_b64;
	uint32_t bits;
	int nbits;
};

static void imap_utf7_unit(struct imap_utf7_enc *e, struct buf *out, uint16_t u)
{
	if (!e->in_b64) {
		buf_append(out, "&", 1);
		e->in_b64 = true;
	}
	e->bits = (e->bits << 16) | u;
	e->nbits += 16;
	while (e->nbits >= 6) {
		e->nbits -= 6;
		buf_append(out, &imap_utf7_b64[(e->bits >> e->nbits) & 0x3f], 1);
	}
	e->bits &= (1u << e->nbits) - 1;
}

static void imap_utf7_end(struct imap_utf7_enc *e, struct buf *out)
{
	if (!e->in_b64)
		return;
	if (e->nbits > 0)
		buf_append(out, &imap_utf7_b64[(e->bits << (6 - e->nbits)) & 0x3f], 1);
	buf_append(out, "-", 1);
	e->in_b64 = false;
	e->bits = 0;
	e->nbits = 0;
}

int imap_utf8_to_utf7(const char *in, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	struct imap_utf7_enc e = { false, 0, 0 };
	size_t i = 0;
	if (!imap_utf8_is_valid(in, len))
		return -1;
	while (i < len) {
		int32_t cp = imap_utf8_next(s, len, &i);
		if (cp >= 0x20 && cp <= 0x7e) {
			imap_utf7_end(&e, out);
			if (cp == '&')
				buf_append(out, "&-", 2);
			else
				buf_append(out, &(char){ (char)cp }, 1);
		} else if (cp >= 0x10000) {
			cp -= 0x10000;
			imap_utf7_unit(&e, out, (uint16_t)(0xd800 | (cp >> 10)));
			imap_utf7_unit(&e, out, (uint16_t)(0xdc00 | (cp & 0x3ff)));
		} else {
			imap_utf7_unit(&e, out, (uint16_t)cp);
		}
	}
	imap_utf7_end(&e, out);
	return 0;
}

/* Appends code point cp as UTF-8. */
static void imap_utf8_put(struct buf *out, uint32_t cp)
{
	char b[4];
	buf_append(out, b, str_utf8_encode(cp, b));
}

/* Decodes (or, with out NULL, only checks) modified UTF-7. Returns 0 or -1. */
static int imap_utf7_decode(const char *in, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;
	bool prev_b64 = false; /* the previous token was a base64 run */
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			if (out)
				buf_append(out, &s[i], 1);
			i++;
			prev_b64 = false;
			continue;
		}
		i++;
		if (i < len && s[i] == '-') {
			if (out)
				buf_append(out, "&", 1);
			i++;
			prev_b64 = false;
			continue;
		}
		if (prev_b64)
			return -1; /* "&..-&..-": one run would have done */
		uint32_t bits = 0, high = 0;
		int nbits = 0;
		size_t nunits = 0;
		while (i < len && s[i] != '-') {
			int v = imap_utf7_b64val(s[i]);
			if (v < 0)
				return -1;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			i++;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t u = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			nunits++;
			if (high) {
				if (u < 0xdc00 || u > 0xdfff)
					return -1;
				if (out)
					imap_utf8_put(out, 0x10000 + ((high - 0xd800) << 10) +
								   (u - 0xdc00));
				high = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				high = u;
			} else if ((u >= 0xdc00 && u <= 0xdfff) || (u >= 0x20 && u <= 0x7e) ||
				   u == 0) {
				return -1; /* lone low surrogate, or ASCII that needs no base64 */
			} else if (out) {
				imap_utf8_put(out, u);
			}
		}
		if (i == len || nunits == 0 || high || nbits >= 6 || bits != 0)
			return -1; /* unterminated, empty, split pair, or leftover bits */
		i++;               /* '-' */
		prev_b64 = true;
	}
	return 0;
}

int imap_utf7_to_utf8(const char *in, size_t len, struct buf *out)
{
	if (imap_utf7_decode(in, len, NULL) < 0)
		return -1;
	return imap_utf7_decode(in, len, out);
}

bool imap_utf7_is_valid(const char *in)
{
	return imap_utf7_decode(in, strlen(in), NULL) == 0;
}
