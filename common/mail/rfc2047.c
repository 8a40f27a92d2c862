/* rfc2047.c - encoded-words, RFC 2231 values and charsets to UTF-8, and case-folded search (pure). */
#include "rfc2047.h"
#include "base64.h"
#include "str.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define RFC2047_CHARSET_MAX 64

static const char rfc2047_replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

static void rfc2047_put_cp(struct buf *out, uint32_t cp)
{
	char u[4];
	buf_append(out, u, str_utf8_encode(cp, u));
}

int rfc2047_utf8_sanitize(struct buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	int ret = 0;
	size_t i = 0;
	buf_reserve(out, len);
	while (i < len) {
		size_t run = i;
		while (run < len && u[run] < 0x80)
			run++;
		buf_append(out, s + i, run - i);
		i = run;
		if (i >= len)
			break;
		uint32_t cp;
		size_t n = str_utf8_decode((const char *)u + i, len - i, &cp);
		if (n == 0) {
			buf_append(out, rfc2047_replacement, 3);
			ret = -1;
			i++;
		} else {
			buf_append(out, s + i, n);
			i += n;
		}
	}
	return ret;
}

/* Charset names go to iconv_open only when they look like names. */
static bool rfc2047_charset_ok(const char *cs, size_t len)
{
	if (len == 0 || len > RFC2047_CHARSET_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = cs[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return false;
	}
	return true;
}

static bool rfc2047_cs_is(const char *cs, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(cs, name, len) == 0;
}

static int rfc2047_iconv(struct buf *out, const char *charset, const char *s, size_t len)
{
	iconv_t cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return 1;
	int ret = 0;
	char *in = (char *)s;
	size_t inleft = len;
	char tmp[1024];
	while (inleft > 0) {
		char *o = tmp;
		size_t oleft = sizeof(tmp);
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		buf_append(out, tmp, sizeof(tmp) - oleft);
		if (r != (size_t)-1)
			continue;
		if (errno == E2BIG)
			continue;
		buf_append(out, rfc2047_replacement, 3);
		ret = -1;
		if (errno == EILSEQ) {
			in++;
			inleft--;
			iconv(cd, NULL, NULL, NULL, NULL);
		} else {
			break; /* EINVAL: incomplete sequence at the end */
		}
	}
	char *o = tmp;
	size_t oleft = sizeof(tmp);
	iconv(cd, NULL, NULL, &o, &oleft);
	buf_append(out, tmp, sizeof(tmp) - oleft);
	iconv_close(cd);
	return ret;
}

int rfc2047_to_utf8(struct buf *out, const char *charset, size_t charset_len, const char *s,
		    size_t len)
{
	const char *star = memchr(charset, '*', charset_len);
	if (star)
		charset_len = (size_t)(star - charset);
	if (rfc2047_cs_is(charset, charset_len, "utf-8") ||
	    rfc2047_cs_is(charset, charset_len, "utf8") ||
	    rfc2047_cs_is(charset, charset_len, "us-ascii") ||
	    rfc2047_cs_is(charset, charset_len, "ascii"))
		return rfc2047_utf8_sanitize(out, s, len);
	if (rfc2047_cs_is(charset, charset_len, "iso-8859-1") ||
	    rfc2047_cs_is(charset, charset_len, "iso8859-1") ||
	    rfc2047_cs_is(charset, charset_len, "latin1")) {
		buf_reserve(out, len * 2);
		for (size_t i = 0; i < len; i++)
			rfc2047_put_cp(out, (unsigned char)s[i]);
		return 0;
	}
	if (rfc2047_charset_ok(charset, charset_len)) {
		char name[RFC2047_CHARSET_MAX + 1];
		memcpy(name, charset, charset_len);
		name[charset_len] = '\0';
		int r = rfc2047_iconv(out, name, s, len);
		if (r <= 0)
			return r;
	}
	/* Unknown charset: keep ASCII, replace the rest. */
	int ret = 0;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x80) {
			buf_append(out, s + i, 1);
		} else {
			buf_append(out, rfc2047_replacement, 3);
			ret = -1;
		}
	}
	return ret;
}

static void rfc2047_decode_q(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '_') {
			buf_append(out, " ", 1);
		} else if (c == '=' && i + 2 < len && hex_value(s[i + 1]) >= 0 &&
			   hex_value(s[i + 2]) >= 0) {
			char b = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
			buf_append(out, &b, 1);
			i += 2;
		} else {
			buf_append(out, &c, 1);
		}
	}
}

/* Finds the end of the encoded text starting at from: the first "?=" (returns its offset) or
 * white space (returns len). The cache makes repeated searches linear overall. */
struct rfc2047_scan {
	size_t from, hit;
	bool valid;
};

static size_t rfc2047_find_end(const char *s, size_t len, size_t from, struct rfc2047_scan *sc)
{
	if (sc->valid && from >= sc->from && from <= sc->hit)
		return sc->hit;
	size_t i = from;
	while (i < len) {
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			break;
		if (c == '?' && i + 1 < len && s[i + 1] == '=')
			break;
		i++;
	}
	sc->from = from;
	sc->hit = i;
	sc->valid = true;
	return i;
}

struct rfc2047_word {
	const char *charset;
	size_t charset_len;
	char enc;
	const char *text;
	size_t text_len;
	size_t end; /* offset just past "?=" */
};

/* Parses an encoded-word at s+i ("=?" already seen there). */
static bool rfc2047_word_parse(const char *s, size_t len, size_t i, struct rfc2047_word *w,
			       struct rfc2047_scan *sc)
{
	size_t p = i + 2;
	size_t cs = p;
	while (p < len && p - cs <= RFC2047_CHARSET_MAX && s[p] != '?' && s[p] != ' ' &&
	       s[p] != '\t' && s[p] != '\r' && s[p] != '\n' && s[p] != '=')
		p++;
	if (p == cs || p + 3 >= len || s[p] != '?')
		return false;
	char enc = s[p + 1];
	if (s[p + 2] != '?' || !(enc == 'Q' || enc == 'q' || enc == 'B' || enc == 'b'))
		return false;
	size_t t = p + 3;
	size_t e = rfc2047_find_end(s, len, t, sc);
	if (e + 1 >= len || s[e] != '?' || s[e + 1] != '=')
		return false;
	w->charset = s + cs;
	w->charset_len = p - cs;
	w->enc = enc;
	w->text = s + t;
	w->text_len = e - t;
	w->end = e + 2;
	return true;
}

void rfc2047_decode(struct buf *out, const char *s, size_t len)
{
	struct rfc2047_scan sc = { 0 };
	struct buf pending; /* decoded bytes of adjacent words in one charset */
	const char *pcs = NULL;
	size_t pcs_len = 0;
	size_t i = 0, lit = 0;          /* literal text pending from lit to i */
	size_t after_word = (size_t)-1; /* end of the last encoded-word */
	buf_init(&pending);

	while (i < len) {
		struct rfc2047_word w;
		if (s[i] == '=' && i + 1 < len && s[i + 1] == '?' &&
		    rfc2047_word_parse(s, len, i, &w, &sc)) {
			bool only_ws = after_word == lit;
			for (size_t k = lit; only_ws && k < i; k++)
				only_ws = s[k] == ' ' || s[k] == '\t' || s[k] == '\r' ||
					  s[k] == '\n';
			if (!only_ws || !pcs || w.charset_len != pcs_len ||
			    strncasecmp(w.charset, pcs, pcs_len) != 0) {
				if (pcs)
					rfc2047_to_utf8(out, pcs, pcs_len, pending.data,
							pending.len);
				buf_reset(&pending);
				if (!only_ws)
					rfc2047_utf8_sanitize(out, s + lit, i - lit);
				pcs = w.charset;
				pcs_len = w.charset_len;
			}
			if (w.enc == 'Q' || w.enc == 'q')
				rfc2047_decode_q(&pending, w.text, w.text_len);
			else
				(void)base64_decode_lenient(&pending, w.text, w.text_len, 0);
			i = lit = after_word = w.end;
			continue;
		}
		if (pcs && !(s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) {
			rfc2047_to_utf8(out, pcs, pcs_len, pending.data, pending.len);
			buf_reset(&pending);
			pcs = NULL;
		}
		i++;
	}
	if (pcs)
		rfc2047_to_utf8(out, pcs, pcs_len, pending.data, pending.len);
	rfc2047_utf8_sanitize(out, s + lit, len - lit);
	buf_free(&pending);
}

int rfc2047_decode_2231(struct buf *out, const char *s, size_t len)
{
	const char *q1 = memchr(s, '\'', len);
	const char *q2 = q1 ? memchr(q1 + 1, '\'', len - (size_t)(q1 + 1 - s)) : NULL;
	const char *cs = "us-ascii";
	size_t cs_len = 8;
	size_t i = 0;
	if (q2) {
		if (q1 > s) {
			cs = s;
			cs_len = (size_t)(q1 - s);
		}
		i = (size_t)(q2 + 1 - s);
	}
	struct buf raw;
	buf_init(&raw);
	for (; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hex_value(s[i + 1]) >= 0 &&
		    hex_value(s[i + 2]) >= 0) {
			char b = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
			buf_append(&raw, &b, 1);
			i += 2;
		} else {
			buf_append(&raw, s + i, 1);
		}
	}
	int ret = rfc2047_to_utf8(out, cs, cs_len, raw.data ? raw.data : "", raw.len);
	buf_free(&raw);
	return ret;
}

static uint32_t rfc2047_fold_cp(uint32_t cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if (cp < 0xC0)
		return cp;
	if (cp <= 0xDE)
		return cp == 0xD7 ? cp : cp + 32;
	if (cp >= 0x100 && cp <= 0x17F) {
		if ((cp <= 0x137 && cp != 0x130) || (cp >= 0x14A && cp <= 0x177))
			return cp | 1;
		if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
			return (cp & 1) ? cp + 1 : cp;
		if (cp == 0x178)
			return 0xFF;
		return cp;
	}
	if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
		return cp + 32;
	if (cp >= 0x410 && cp <= 0x42F)
		return cp + 32;
	if (cp >= 0x400 && cp <= 0x40F)
		return cp + 80;
	return cp;
}

void rfc2047_fold(struct buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	buf_reserve(out, len);
	while (i < len) {
		if (u[i] < 0x80) {
			char c = (char)rfc2047_fold_cp(u[i]);
			buf_append(out, &c, 1);
			i++;
			continue;
		}
		uint32_t cp;
		size_t n = str_utf8_decode((const char *)u + i, len - i, &cp);
		if (n == 0) {
			buf_append(out, s + i, 1);
			i++;
			continue;
		}
		rfc2047_put_cp(out, rfc2047_fold_cp(cp));
		i += n;
	}
}

bool rfc2047_contains_folded(const char *hay_folded, size_t hay_len, const char *needle_folded,
			     size_t needle_len)
{
	if (needle_len == 0)
		return true;
	return memmem(hay_folded, hay_len, needle_folded, needle_len) != NULL;
}

bool rfc2047_contains(const char *hay, size_t hay_len, const char *needle, size_t needle_len)
{
	struct buf h, n;
	buf_init(&h);
	buf_init(&n);
	rfc2047_fold(&h, hay, hay_len);
	rfc2047_fold(&n, needle, needle_len);
	bool r = rfc2047_contains_folded(h.data ? h.data : "", h.len, n.data ? n.data : "", n.len);
	buf_free(&h);
	buf_free(&n);
	return r;
}
