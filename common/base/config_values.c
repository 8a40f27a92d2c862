/* config_values.c - the syntax of one value: numbers with units, domain names, HOST:PORT, CIDR, milters. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Leading decimal digits of s into *n; *used_r counts them. */
static int config_digits(const char *s, uint64_t *n, size_t *used_r, const char **why)
{
	uint64_t v = 0;
	size_t i = 0;

	if (s[0] == '\0') {
		*why = "empty value";
		return -1;
	}
	if (s[0] == '-') {
		*why = "negative values are not allowed";
		return -1;
	}
	if (!isdigit((unsigned char)s[0])) {
		*why = "not a number";
		return -1;
	}
	for (; isdigit((unsigned char)s[i]); i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10) {
			*why = "number too large";
			return -1;
		}
		v = v * 10 + d;
	}
	*n = v;
	*used_r = i;
	return 0;
}

int config_value_count(const char *s, uint64_t *out, const char **why)
{
	size_t used;

	if (config_digits(s, out, &used, why) < 0)
		return -1;
	if (s[used] != '\0') {
		*why = "not a number";
		return -1;
	}
	return 0;
}

static int config_scaled(const char *s, const char *const *suffixes, const uint64_t *mults,
			 const char *bad_suffix, uint64_t *out, const char **why)
{
	uint64_t n;
	size_t used;

	if (config_digits(s, &n, &used, why) < 0)
		return -1;
	for (size_t i = 0; suffixes[i]; i++) {
		if (strcmp(s + used, suffixes[i]) != 0)
			continue;
		if (n > UINT64_MAX / mults[i]) {
			*why = "number too large";
			return -1;
		}
		*out = n * mults[i];
		return 0;
	}
	*why = bad_suffix;
	return -1;
}

int config_value_size(const char *s, uint64_t *out, const char **why)
{
	static const char *const suf[] = { "", "k", "K", "m", "M", "g", "G", NULL };
	static const uint64_t mul[] = { 1,          1ULL << 10, 1ULL << 10, 1ULL << 20,
					1ULL << 20, 1ULL << 30, 1ULL << 30 };

	return config_scaled(s, suf, mul, "unknown size suffix (use k, M or G)", out, why);
}

int config_value_duration(const char *s, uint64_t *out, const char **why)
{
	static const char *const suf[] = { "", "s", "m", "h", "d", NULL };
	static const uint64_t mul[] = { 1, 1, 60, 3600, 86400 };
	size_t n = strspn(s, "0123456789");

	if (n > 0 && strcmp(s + n, "ms") == 0) {
		*why = "sub-second durations are not supported";
		return -1;
	}
	return config_scaled(s, suf, mul, "unknown duration suffix (use s, m, h or d)", out, why);
}

int config_value_millis(const char *s, uint64_t *out, const char **why)
{
	static const char *const suf[] = { "", "ms", "s", "m", NULL };
	static const uint64_t mul[] = { 1, 1, 1000, 60000 };

	return config_scaled(s, suf, mul, "unknown suffix (use ms, s or m)", out, why);
}

int config_parse_size(const char *s, uint64_t *out)
{
	const char *why;
	return s ? config_value_size(s, out, &why) : -1;
}

int config_parse_duration(const char *s, uint64_t *out)
{
	const char *why;
	return s ? config_value_duration(s, out, &why) : -1;
}

int config_parse_millis(const char *s, uint64_t *out)
{
	const char *why;
	return s ? config_value_millis(s, out, &why) : -1;
}

int config_value_domain(char *d, const char **why)
{
	size_t len = strlen(d), lab = 0, last = 0;

	if (len > 0 && d[len - 1] == '.')
		d[--len] = '\0';
	if (len == 0) {
		*why = "empty domain name";
		return -1;
	}
	if (len > 253) {
		*why = "domain name longer than 253 characters";
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.' || c == '\0') {
			if (lab == 0) {
				*why = "empty label in domain name";
				return -1;
			}
			if (lab > 63) {
				*why = "domain name label longer than 63 characters";
				return -1;
			}
			if (d[i - 1] == '-') {
				*why = "domain name label ends with '-'";
				return -1;
			}
			last = i - lab;
			lab = 0;
			continue;
		}
		if (c >= 0x80) {
			*why = "non-ASCII domain name (write it in the xn-- form)";
			return -1;
		}
		if (!isalnum(c) && c != '-') {
			*why = "invalid character in domain name";
			return -1;
		}
		if (lab == 0 && c == '-') {
			*why = "domain name label starts with '-'";
			return -1;
		}
		d[i] = (char)tolower(c);
		lab++;
	}
	if (strspn(d + last, "0123456789") == len - last) {
		*why = "not a valid IP address or domain name";
		return -1;
	}
	return 0;
}

/* Validates a host (IPv4, IPv6 or domain name); returns its family (AF_UNSPEC for a name). */
static int config_check_host(char *h, int *family_r, const char **why)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, h, a) == 1) {
		*family_r = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, h, a) == 1) {
		*family_r = AF_INET6;
		return 0;
	}
	if (strchr(h, ':')) {
		*why = "not a valid IPv6 address";
		return -1;
	}
	*family_r = AF_UNSPEC;
	return config_value_domain(h, why);
}

int config_value_port(const char *s, uint16_t *port, const char **why)
{
	uint64_t n;
	size_t used;

	if (config_digits(s, &n, &used, why) < 0 || s[used] != '\0' || n < 1 || n > 65535) {
		*why = "bad port (use 1-65535)";
		return -1;
	}
	*port = (uint16_t)n;
	return 0;
}

static int config_copy_host(char *dst, size_t dstlen, const char *s, size_t n, const char **why)
{
	if (n == 0) {
		*why = "missing host";
		return -1;
	}
	if (n >= dstlen) {
		*why = "host name too long";
		return -1;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

int config_value_hostport(const char *tok, uint16_t defport, bool ip_only,
			  struct config_hostport *hp, const char **why)
{
	struct config_hostport r;
	const char *port = NULL;
	int family;

	memset(&r, 0, sizeof(r));
	if (tok[0] == '[') {
		const char *rb = strchr(tok, ']');
		if (!rb) {
			*why = "missing ']'";
			return -1;
		}
		if (config_copy_host(r.host, sizeof(r.host), tok + 1, (size_t)(rb - tok - 1), why) <
		    0)
			return -1;
		if (rb[1] == ':') {
			port = rb + 2;
		} else if (rb[1] != '\0') {
			*why = "unexpected text after ']'";
			return -1;
		}
	} else {
		const char *c = strchr(tok, ':');
		unsigned char a[16];
		if (c && c != strrchr(tok, ':')) {
			if (!defport || inet_pton(AF_INET6, tok, a) != 1) {
				*why = "an IPv6 address needs brackets, as in [::1]:25";
				return -1;
			}
			if (config_copy_host(r.host, sizeof(r.host), tok, strlen(tok), why) < 0)
				return -1;
		} else if (c) {
			if (config_copy_host(r.host, sizeof(r.host), tok, (size_t)(c - tok), why) <
			    0)
				return -1;
			port = c + 1;
		} else if (config_copy_host(r.host, sizeof(r.host), tok, strlen(tok), why) < 0) {
			return -1;
		}
	}
	if (port) {
		if (config_value_port(port, &r.port, why) < 0)
			return -1;
	} else if (defport) {
		r.port = defport;
	} else {
		*why = "missing port (use HOST:PORT)";
		return -1;
	}
	if (config_check_host(r.host, &family, why) < 0)
		return -1;
	if (ip_only && family == AF_UNSPEC) {
		*why = "not an IP address";
		return -1;
	}
	*hp = r;
	return 0;
}

int config_value_cidr(const char *tok, struct config_cidr *c, const char **why)
{
	const char *slash = strchr(tok, '/');
	size_t alen = slash ? (size_t)(slash - tok) : strlen(tok);
	char a[64];
	unsigned max;

	memset(c, 0, sizeof(*c));
	if (alen >= 2 && tok[0] == '[' && tok[alen - 1] == ']') {
		tok++;
		alen -= 2;
	}
	if (alen >= sizeof(a)) {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}
	memcpy(a, tok, alen);
	a[alen] = '\0';
	if (inet_pton(AF_INET, a, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, a, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}
	c->prefix = max;
	if (slash) {
		uint64_t n;
		size_t used;
		if (config_digits(slash + 1, &n, &used, why) < 0 || slash[1 + used] != '\0' ||
		    n > max) {
			*why = max == 32 ? "bad prefix length (use 0-32)"
					 : "bad prefix length (use 0-128)";
			return -1;
		}
		c->prefix = (unsigned)n;
	}
	for (unsigned bit = c->prefix; bit < max; bit++)
		c->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	return 0;
}

int config_parse_milter(const char *spec, struct config_milter *m, const char **error_r)
{
	static const char usage[] = "a milter is inet:HOST:PORT, inet6:HOST:PORT or unix:/PATH";
	struct config_hostport hp;
	const char *rest, *at;
	bool v6;
	int family;

	memset(m, 0, sizeof(*m));
	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
		rest = strchr(spec, ':') + 1;
		if (rest[0] != '/') {
			*error_r = "a unix milter socket needs an absolute path";
			return -1;
		}
		if (strlen(rest) >= sizeof(m->path)) { /* sizeof(sun_path) */
			*error_r = "unix socket path too long";
			return -1;
		}
		m->family = AF_UNIX;
		strcpy(m->path, rest);
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0) {
		v6 = false;
		rest = spec + 5;
	} else if (strncmp(spec, "inet6:", 6) == 0) {
		v6 = true;
		rest = spec + 6;
	} else {
		*error_r = usage;
		return -1;
	}
	memset(&hp, 0, sizeof(hp));
	if ((at = strchr(rest, '@')) != NULL) {
		/* Sendmail/Postfix "PORT@HOST". */
		char port[8];
		const char *h = at + 1;
		size_t hl = strlen(h);
		if ((size_t)(at - rest) >= sizeof(port)) {
			*error_r = "bad port (use 1-65535)";
			return -1;
		}
		memcpy(port, rest, (size_t)(at - rest));
		port[at - rest] = '\0';
		if (config_value_port(port, &hp.port, error_r) < 0)
			return -1;
		if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
			h++;
			hl -= 2;
		}
		if (config_copy_host(hp.host, sizeof(hp.host), h, hl, error_r) < 0)
			return -1;
	} else if (v6 && rest[0] != '[' && strchr(rest, ':') != strrchr(rest, ':')) {
		/* "inet6:ADDR:PORT" without brackets: the port follows the last colon. */
		const char *c = strrchr(rest, ':');
		if (config_copy_host(hp.host, sizeof(hp.host), rest, (size_t)(c - rest), error_r) <
			    0 ||
		    config_value_port(c + 1, &hp.port, error_r) < 0)
			return -1;
	} else if (config_value_hostport(rest, 0, false, &hp, error_r) < 0) {
		return -1;
	}
	if (config_check_host(hp.host, &family, error_r) < 0)
		return -1;
	if (v6 && family == AF_INET) {
		*error_r = "inet6 needs an IPv6 address or a host name";
		return -1;
	}
	m->family = v6 || family == AF_INET6 ? AF_INET6 : AF_INET;
	memcpy(m->host, hp.host, sizeof(m->host));
	m->port = hp.port;
	return 0;
}
