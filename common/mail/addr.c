/* addr.c - RFC 5321 4.1.2 path and mailbox parsing and formatting, with RFC 6531 UTF-8 (pure). */
#include "addr.h"
#include "str.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define ADDR_LABEL_MAX     63
#define ADDR_ULABEL_CP_MAX 59 /* "xn--" plus at least one octet per code point must fit 63 */

static bool addr_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* atext of RFC 5322 3.2.3 (ASCII part). */
static bool addr_is_atext(unsigned char c)
{
	return addr_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Returns the length of the well-formed UTF-8 sequence of one non-ASCII character at s[0..len),
 * or 0 when it is malformed, overlong, a surrogate, beyond U+10FFFF or a C1 control. */
static size_t addr_utf8_len(const unsigned char *s, size_t len)
{
	uint32_t cp;
	size_t n = str_utf8_decode((const char *)s, len, &cp);
	return n && cp >= 0xa0 ? n : 0;
}

static int addr_fail(const char **error_r, const char *error)
{
	*error_r = error;
	return -1;
}

/* Validates "[...]" of length len; rewrites an IPv6 tag to "IPv6:" and lower-cases hex digits. */
static int addr_check_literal(char *d, size_t len, const char **error_r)
{
	char tmp[64];
	unsigned char bin[16];
	size_t ilen;
	char *inner;

	if (len < 3 || d[len - 1] != ']')
		return addr_fail(error_r, "malformed address literal");
	inner = d + 1;
	ilen = len - 2;
	for (size_t i = 0; i < ilen; i++) {
		/* also keeps NUL away from inet_pton, which would stop there */
		if (!addr_is_alnum((unsigned char)inner[i]) && inner[i] != '.' && inner[i] != ':')
			return addr_fail(error_r, "malformed address literal");
	}
	if (ilen > 5 && strncasecmp(inner, "IPv6:", 5) == 0) {
		if (ilen - 5 >= sizeof(tmp))
			return addr_fail(error_r, "malformed IPv6 address literal");
		memcpy(tmp, inner + 5, ilen - 5);
		tmp[ilen - 5] = '\0';
		if (inet_pton(AF_INET6, tmp, bin) != 1)
			return addr_fail(error_r, "malformed IPv6 address literal");
		memcpy(inner, "IPv6:", 5);
		for (size_t i = 5; i < ilen; i++) {
			if (inner[i] >= 'A' && inner[i] <= 'F')
				inner[i] = (char)(inner[i] - 'A' + 'a');
		}
		return 0;
	}
	if (memchr(inner, ':', ilen) != NULL)
		return addr_fail(error_r, "general address literals are not supported");
	if (ilen >= sizeof(tmp))
		return addr_fail(error_r, "malformed IPv4 address literal");
	memcpy(tmp, inner, ilen);
	tmp[ilen] = '\0';
	if (inet_pton(AF_INET, tmp, bin) != 1)
		return addr_fail(error_r, "malformed IPv4 address literal");
	return 0;
}

/* Validates exactly d[0..len) as Domain or address-literal, lower-casing ASCII in place. */
static int addr_check_domain_n(char *d, size_t len, bool allow_utf8, bool *utf8_r,
			       const char **error_r)
{
	const unsigned char *u = (const unsigned char *)d;
	size_t p = 0;

	if (len == 0)
		return addr_fail(error_r, "empty domain");
	if (len > ADDR_DOMAIN_MAX)
		return addr_fail(error_r, "domain too long");
	if (d[0] == '[')
		return addr_check_literal(d, len, error_r);
	for (;;) {
		size_t start = p, cps = 0;
		bool non_ascii = false, last_hyphen = false;

		while (p < len && u[p] != '.') {
			if (u[p] >= 0x80) {
				size_t k;

				if (!allow_utf8)
					return addr_fail(error_r,
							 "non-ASCII domain without SMTPUTF8");
				k = addr_utf8_len(u + p, len - p);
				if (k == 0)
					return addr_fail(error_r, "invalid UTF-8 in domain");
				p += k;
				non_ascii = true;
				last_hyphen = false;
			} else if (addr_is_alnum(u[p])) {
				if (u[p] >= 'A' && u[p] <= 'Z')
					d[p] = (char)(u[p] - 'A' + 'a');
				p++;
				last_hyphen = false;
			} else if (u[p] == '-') {
				if (p == start)
					return addr_fail(error_r,
							 "domain label starts with a hyphen");
				p++;
				last_hyphen = true;
			} else {
				return addr_fail(error_r, "invalid character in domain");
			}
			cps++;
		}
		if (p == start)
			return addr_fail(error_r, "empty label in domain");
		if (last_hyphen)
			return addr_fail(error_r, "domain label ends with a hyphen");
		if (non_ascii ? cps > ADDR_ULABEL_CP_MAX : p - start > ADDR_LABEL_MAX)
			return addr_fail(error_r, "domain label too long");
		if (non_ascii)
			*utf8_r = true;
		if (p == len)
			return 0;
		p++; /* the dot */
		if (p == len)
			return addr_fail(error_r, "empty label in domain");
	}
}

int addr_check_domain(char *domain, bool allow_utf8, const char **error_r)
{
	bool utf8 = false;

	return addr_check_domain_n(domain, strlen(domain), allow_utf8, &utf8, error_r);
}

/* Appends n octets to the decoded local part. */
static int addr_local_add(struct addr *a, size_t *n, const unsigned char *p, size_t k,
			  const char **error_r)
{
	if (*n + k > ADDR_LOCAL_MAX)
		return addr_fail(error_r, "local part too long");
	memcpy(a->local + *n, p, k);
	*n += k;
	a->local[*n] = '\0';
	return 0;
}

/* Consumes one UTF-8 character of a local part at u[*p]. */
static int addr_local_utf8(struct addr *a, size_t *n, const unsigned char *u, size_t len, size_t *p,
			   unsigned flags, const char **error_r)
{
	size_t k;

	if (!(flags & ADDR_ALLOW_UTF8))
		return addr_fail(error_r, "non-ASCII local part without SMTPUTF8");
	k = addr_utf8_len(u + *p, len - *p);
	if (k == 0)
		return addr_fail(error_r, "invalid UTF-8 in local part");
	if (addr_local_add(a, n, u + *p, k, error_r) < 0)
		return -1;
	a->utf8 = true;
	*p += k;
	return 0;
}

/* Parses a Local-part (Dot-string or Quoted-string) at s[*pos..len) into a->local. */
static int addr_parse_local(const char *s, size_t len, size_t *pos, unsigned flags, struct addr *a,
			    const char **error_r)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t p = *pos, n = 0;

	if (p < len && u[p] == '"') {
		a->quoted = true;
		p++;
		for (;;) {
			if (p >= len)
				return addr_fail(error_r, "unterminated quoted string");
			if (u[p] == '"') {
				p++;
				break;
			}
			if (u[p] == '\\') {
				if (p + 1 >= len || u[p + 1] < 0x20 || u[p + 1] > 0x7e)
					return addr_fail(error_r,
							 "invalid quoted pair in local part");
				if (addr_local_add(a, &n, u + p + 1, 1, error_r) < 0)
					return -1;
				p += 2;
			} else if (u[p] >= 0x80) {
				if (addr_local_utf8(a, &n, u, len, &p, flags, error_r) < 0)
					return -1;
			} else if (u[p] < 0x20 || u[p] == 0x7f) {
				return addr_fail(error_r, "control character in local part");
			} else {
				if (addr_local_add(a, &n, u + p, 1, error_r) < 0)
					return -1;
				p++;
			}
		}
	} else {
		size_t start = p;
		bool after_atom = false;

		while (p < len) {
			if (u[p] == '.') {
				if (!after_atom)
					return addr_fail(
						error_r,
						p == start ? "local part starts with a dot"
							   : "consecutive dots in local part");
				after_atom = false;
			} else if (u[p] >= 0x80) {
				if (addr_local_utf8(a, &n, u, len, &p, flags, error_r) < 0)
					return -1;
				after_atom = true;
				continue;
			} else if (addr_is_atext(u[p])) {
				after_atom = true;
			} else {
				break;
			}
			if (addr_local_add(a, &n, u + p, 1, error_r) < 0)
				return -1;
			p++;
		}
		if (p == start)
			return addr_fail(error_r, "empty local part");
		if (!after_atom)
			return addr_fail(error_r, "local part ends with a dot");
	}
	*pos = p;
	return 0;
}

/* Parses Mailbox at s[*pos..); the domain runs to the first '>' when in_path, else to len. */
static int addr_parse_mailbox_at(const char *s, size_t len, size_t *pos, unsigned flags,
				 bool in_path, struct addr *a, const char **error_r)
{
	size_t p = *pos, dstart, dend;
	const char *gt;
	bool utf8 = false;

	if (addr_parse_local(s, len, &p, flags, a, error_r) < 0)
		return -1;
	if (p >= len || s[p] != '@') {
		bool at_end = in_path ? (p < len && s[p] == '>') : p == len;

		if (!at_end)
			return addr_fail(error_r, p < len ? "invalid character in local part"
							  : "missing '>'");
		if ((flags & ADDR_ALLOW_NO_DOMAIN) && !a->quoted &&
		    strcasecmp(a->local, "postmaster") == 0) {
			a->domain[0] = '\0';
			*pos = p;
			return 0;
		}
		return addr_fail(error_r, "missing '@domain'");
	}
	dstart = p + 1;
	if (in_path) {
		gt = memchr(s + dstart, '>', len - dstart);
		if (gt == NULL)
			return addr_fail(error_r, "missing '>'");
		dend = (size_t)(gt - s);
	} else {
		dend = len;
	}
	if (dend == dstart)
		return addr_fail(error_r, "missing domain");
	if (dend - dstart > ADDR_DOMAIN_MAX)
		return addr_fail(error_r, "domain too long");
	memcpy(a->domain, s + dstart, dend - dstart);
	a->domain[dend - dstart] = '\0';
	if (addr_check_domain_n(a->domain, dend - dstart, (flags & ADDR_ALLOW_UTF8) != 0, &utf8,
				error_r) < 0)
		return -1;
	if (utf8)
		a->utf8 = true;
	*pos = dend;
	return 0;
}

/* Skips an A-d-l "@a,@b:" at s[*pos..), validating each domain. */
static int addr_skip_route(const char *s, size_t len, size_t *pos, unsigned flags,
			   const char **error_r)
{
	size_t p = *pos;

	for (;;) {
		char dom[ADDR_DOMAIN_MAX + 1];
		size_t start;
		bool utf8 = false;

		if (p >= len || s[p] != '@')
			return addr_fail(error_r, "malformed source route");
		start = ++p;
		if (p < len && s[p] == '[') {
			while (p < len && s[p] != ']' && s[p] != '>')
				p++;
			if (p < len && s[p] == ']')
				p++;
		} else {
			while (p < len && s[p] != ',' && s[p] != ':' && s[p] != '>')
				p++;
		}
		if (p - start > ADDR_DOMAIN_MAX)
			return addr_fail(error_r, "domain too long in source route");
		memcpy(dom, s + start, p - start);
		dom[p - start] = '\0';
		if (addr_check_domain_n(dom, p - start, (flags & ADDR_ALLOW_UTF8) != 0, &utf8,
					error_r) < 0)
			return -1;
		if (p < len && s[p] == ':') {
			*pos = p + 1;
			return 0;
		}
		if (p >= len || s[p] != ',')
			return addr_fail(error_r, "malformed source route");
		p++;
	}
}

int addr_parse_path(const char *s, size_t len, unsigned flags, struct addr *addr_r,
		    size_t *consumed_r, const char **error_r)
{
	size_t p = 1;

	memset(addr_r, 0, sizeof(*addr_r));
	*consumed_r = 0;
	if (len == 0 || s[0] != '<')
		return addr_fail(error_r, "missing '<'");
	if (p < len && s[p] == '>') {
		if (!(flags & ADDR_ALLOW_NULL))
			return addr_fail(error_r, "null path not allowed here");
		addr_r->is_null = true;
		*consumed_r = 2;
		return 0;
	}
	if (p < len && s[p] == '@') {
		if (!(flags & ADDR_ALLOW_SOURCE_ROUTE))
			return addr_fail(error_r, "source route not allowed");
		if (addr_skip_route(s, len, &p, flags, error_r) < 0)
			return -1;
	}
	if (addr_parse_mailbox_at(s, len, &p, flags, true, addr_r, error_r) < 0)
		return -1;
	if (p >= len || s[p] != '>')
		return addr_fail(error_r, "missing '>'");
	*consumed_r = p + 1;
	return 0;
}

int addr_parse_mailbox(const char *s, size_t len, unsigned flags, struct addr *addr_r,
		       const char **error_r)
{
	size_t p = 0;

	memset(addr_r, 0, sizeof(*addr_r));
	if (len == 0) {
		if (!(flags & ADDR_ALLOW_NULL))
			return addr_fail(error_r, "empty address");
		addr_r->is_null = true;
		return 0;
	}
	if (addr_parse_mailbox_at(s, len, &p, flags, false, addr_r, error_r) < 0)
		return -1;
	if (p != len)
		return addr_fail(error_r, "trailing characters after address");
	return 0;
}

/* True when local can go on the wire unquoted (Dot-string, UTF-8 octets counting as atext). */
static bool addr_local_is_dot_string(const char *local)
{
	const unsigned char *u = (const unsigned char *)local;
	bool after_atom = false;

	if (*u == '\0')
		return false;
	for (; *u != '\0'; u++) {
		if (*u == '.') {
			if (!after_atom)
				return false;
			after_atom = false;
		} else if (*u >= 0x80 || addr_is_atext(*u)) {
			after_atom = true;
		} else {
			return false;
		}
	}
	return after_atom;
}

/* Appends one octet within outlen, always counting it. */
static void addr_out(char *out, size_t outlen, size_t *n, char c)
{
	if (*n + 1 < outlen)
		out[*n] = c;
	(*n)++;
}

size_t addr_format(const struct addr *a, char *out, size_t outlen)
{
	size_t n = 0;

	if (!a->is_null) {
		if (addr_local_is_dot_string(a->local)) {
			for (const char *p = a->local; *p != '\0'; p++)
				addr_out(out, outlen, &n, *p);
		} else {
			addr_out(out, outlen, &n, '"');
			for (const char *p = a->local; *p != '\0'; p++) {
				if (*p == '"' || *p == '\\')
					addr_out(out, outlen, &n, '\\');
				addr_out(out, outlen, &n, *p);
			}
			addr_out(out, outlen, &n, '"');
		}
		if (a->domain[0] != '\0') {
			addr_out(out, outlen, &n, '@');
			for (const char *p = a->domain; *p != '\0'; p++)
				addr_out(out, outlen, &n, *p);
		}
	}
	if (outlen > 0)
		out[n < outlen ? n : outlen - 1] = '\0';
	return n;
}

size_t addr_account_name(struct addr *a, char *out, size_t outlen)
{
	str_lower(a->local);
	return addr_format(a, out, outlen);
}

const char *addr_login_name(const char *login, char *out, size_t outlen)
{
	struct addr a;
	const char *error;
	if (addr_parse_mailbox(login, strlen(login), ADDR_ALLOW_UTF8, &a, &error) == 0 &&
	    addr_account_name(&a, out, outlen) < outlen)
		return out;
	return login;
}
