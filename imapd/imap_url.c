/* imap_url.c - parses the IMAP URLs (RFC 5092) that CATENATE (RFC 4469) names message parts by (pure). */
#include "imap_url.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int imap_url_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* %-decodes s[0..len) into out (NUL-terminated). -1 on a bad escape, NUL, or overflow. */
static int imap_url_decode(const char *s, size_t len, char *out, size_t outlen, bool upper)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			if (len - i < 3)
				return -1;
			int h = imap_url_hex(s[i + 1]), l = imap_url_hex(s[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = (char)(h * 16 + l);
			i += 2;
		}
		if (c == '\0' || o + 1 >= outlen)
			return -1;
		out[o++] = upper ? (char)toupper((unsigned char)c) : c;
	}
	out[o] = '\0';
	return 0;
}

/* Digits at s[*i..len) into *n (at most max); -1 when there are none or too many. */
static int imap_url_number(const char *s, size_t len, size_t *i, uint64_t max, uint64_t *n)
{
	size_t start = *i;
	uint64_t v = 0;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (uint64_t)(s[*i] - '0');
		if (v > max)
			return -1;
		(*i)++;
	}
	if (*i == start)
		return -1;
	*n = v;
	return 0;
}

/* Matches the case-insensitive keyword kw at s[*i]. */
static bool imap_url_key(const char *s, size_t len, size_t *i, const char *kw)
{
	size_t n = strlen(kw);
	if (len - *i < n || strncasecmp(s + *i, kw, n) != 0)
		return false;
	*i += n;
	return true;
}

int imap_url_parse(const char *s, size_t len, struct imap_url *u)
{
	memset(u, 0, sizeof(*u));
	size_t i = 0;
	uint64_t n;
	if (memchr(s, '\0', len) || memchr(s, '?', len))
		return -1;
	if (imap_url_key(s, len, &i, "imap://")) {
		const char *slash = memchr(s + i, '/', len - i);
		if (!slash)
			return -1;
		i = (size_t)(slash - s);
	}
	if (i < len && s[i] == '/') {
		i++;
		const char *semi = memchr(s + i, ';', len - i);
		if (!semi)
			return -1;
		size_t end = (size_t)(semi - s);
		size_t mend = end > i && s[end - 1] == '/' ? end - 1 : end;
		if (mend == i ||
		    imap_url_decode(s + i, mend - i, u->mailbox, sizeof(u->mailbox), false) < 0)
			return -1;
		i = end;
		if (mend == end) { /* "Mailbox;UIDVALIDITY=n/" */
			if (!imap_url_key(s, len, &i, ";UIDVALIDITY=") ||
			    imap_url_number(s, len, &i, UINT32_MAX, &n) < 0 || n == 0)
				return -1;
			u->uidvalidity = (uint32_t)n;
			if (!imap_url_key(s, len, &i, "/"))
				return -1;
		}
	}
	if (!imap_url_key(s, len, &i, ";UID=") || imap_url_number(s, len, &i, UINT32_MAX, &n) < 0 ||
	    n == 0)
		return -1;
	u->uid = (uint32_t)n;
	if (imap_url_key(s, len, &i, "/;SECTION=")) {
		size_t start = i;
		while (i < len && s[i] != '/')
			i++;
		if (i == start ||
		    imap_url_decode(s + start, i - start, u->section, sizeof(u->section), true) < 0)
			return -1;
	}
	if (imap_url_key(s, len, &i, "/;PARTIAL=")) {
		u->partial = true;
		u->partial_len = UINT64_MAX;
		if (imap_url_number(s, len, &i, UINT32_MAX, &u->partial_off) < 0)
			return -1;
		if (i < len && s[i] == '.' &&
		    (i++, imap_url_number(s, len, &i, UINT32_MAX, &u->partial_len) < 0 ||
				  u->partial_len == 0))
			return -1;
	}
	return i == len ? 0 : -1;
}
