/* config.c - the one configuration loader: key table, value parsers, defaults, file:line errors. */
#include "config.h"
#include "fileutil.h"
#include "log.h"
#include "table_file.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MAIL_PREFIX
#define MAIL_PREFIX "/usr/local"
#endif

#define CONFIG_FILE_MAX (1024 * 1024)		/* a larger file is refused */
#define CONFIG_PATH_MAX 4095
#define CONFIG_DURATION_MAX (3650ULL * 86400)	/* ten years: fits any timer in ms */
#define CONFIG_FQDN_WAIT_MS 1500		/* longest wait for the resolver at startup */

enum config_type {
	CONFIG_T_HOSTNAME,	/* char *: a domain name, lower-cased */
	CONFIG_T_DOMAINS,	/* struct config_strlist: domain names, lower-cased */
	CONFIG_T_PATH,		/* char *: any text up to CONFIG_PATH_MAX */
	CONFIG_T_WORD,		/* char *: one token (no blanks, no commas) */
	CONFIG_T_CHARS,		/* char *: a set of punctuation characters */
	CONFIG_T_LISTEN,	/* struct config_hostport_list: HOST:PORT each */
	CONFIG_T_RESOLVERS,	/* struct config_hostport_list: IP[:PORT] each, port 53 if omitted */
	CONFIG_T_SMARTHOST,	/* struct config_hostport: [host]:port, host:port, [host] */
	CONFIG_T_CIDRS,		/* struct config_cidr * with a size_t count */
	CONFIG_T_MILTERS,	/* struct config_strlist: normalised milter specs */
	CONFIG_T_ACTION,	/* enum milter_action */
	CONFIG_T_PORT,		/* uint16_t, 1-65535 */
	CONFIG_T_UINT,		/* unsigned within [min, max] */
	CONFIG_T_SIZE,		/* uint64_t bytes within [min, max] */
	CONFIG_T_DURATION,	/* uint64_t seconds within [min, max] */
	CONFIG_T_DURATIONS,	/* uint64_t * with a size_t count, each within [min, max] */
	CONFIG_T_MILLIS,	/* uint64_t milliseconds within [min, max] */
	CONFIG_T_BOOL,		/* bool: yes/no, true/false, on/off, 1/0 */
};

#define CONFIG_EMPTY_OK 1u	/* an empty value means "none" or the empty list */

struct config_key {
	const char *name;
	enum config_type type;
	size_t off;		/* the field in struct config */
	size_t off_n;		/* its element count, for CONFIG_T_CIDRS and CONFIG_T_DURATIONS */
	uint64_t min, max;	/* numeric types */
	unsigned flags;
	const char *def;	/* the default as written in a file; NULL: none, or derived */
};

/* One row per key: the key is the name of its field in struct config. */
#define KEY(field, type, flags, min, max, def) \
	{ #field, type, offsetof(struct config, field), 0, min, max, flags, def }
#define KEYN(field, nfield, type, flags, min, max, def) \
	{ #field, type, offsetof(struct config, field), offsetof(struct config, nfield), min, max, \
	  flags, def }
#define EMPTY CONFIG_EMPTY_OK
#define DMAX CONFIG_DURATION_MAX

static const struct config_key config_keys[] = {
	KEY(hostname, CONFIG_T_HOSTNAME, 0, 0, 0, NULL),
	KEY(domains, CONFIG_T_DOMAINS, EMPTY, 0, 0, "localhost"),
	KEY(state_dir, CONFIG_T_PATH, 0, 0, 0, "./var"),
	KEY(users_file, CONFIG_T_PATH, 0, 0, 0, NULL),
	KEY(aliases_file, CONFIG_T_PATH, EMPTY, 0, 0, NULL),
	KEY(smtp_listen, CONFIG_T_LISTEN, EMPTY, 0, 0, "127.0.0.1:2525"),
	KEY(submission_listen, CONFIG_T_LISTEN, EMPTY, 0, 0, "127.0.0.1:2587"),
	KEY(submissions_listen, CONFIG_T_LISTEN, EMPTY, 0, 0, "127.0.0.1:2465"),
	KEY(imap_listen, CONFIG_T_LISTEN, EMPTY, 0, 0, "127.0.0.1:1143"),
	KEY(imaps_listen, CONFIG_T_LISTEN, EMPTY, 0, 0, "127.0.0.1:1993"),
	KEY(tls_cert, CONFIG_T_PATH, EMPTY, 0, 0, NULL),
	KEY(tls_key, CONFIG_T_PATH, EMPTY, 0, 0, NULL),
	KEYN(relay_networks, n_relay_networks, CONFIG_T_CIDRS, EMPTY, 0, 0, ""),
	KEY(milters, CONFIG_T_MILTERS, EMPTY, 0, 0, ""),
	KEY(milter_default_action, CONFIG_T_ACTION, 0, 0, 0, "tempfail"),
	KEY(dns_servers, CONFIG_T_RESOLVERS, EMPTY, 0, 0, ""),
	KEY(relay_port, CONFIG_T_PORT, 0, 1, 65535, "25"),
	KEY(smarthost, CONFIG_T_SMARTHOST, EMPTY, 0, 0, NULL),
	KEY(max_message_size, CONFIG_T_SIZE, 0, 1, 1ULL << 40, "35M"),
	KEY(max_recipients, CONFIG_T_UINT, 0, 1, 1000000, "1000"),
	KEY(queue_lifetime, CONFIG_T_DURATION, 0, 0, DMAX, "5d"),
	KEYN(retry_schedule, n_retry_schedule, CONFIG_T_DURATIONS, 0, 1, DMAX, "1m 5m 15m 30m 1h 2h 4h"),
	KEY(run_user, CONFIG_T_WORD, 0, 0, 0, "mail"),
	KEY(smtp_timeout, CONFIG_T_DURATION, 0, 1, DMAX, "5m"),
	KEY(smtp_data_timeout, CONFIG_T_DURATION, 0, 1, DMAX, "3m"),
	KEY(max_connections, CONFIG_T_UINT, 0, 1, 1000000, "1000"),
	KEY(max_connections_per_ip, CONFIG_T_UINT, 0, 1, 1000000, "50"),
	KEY(smtp_greeting_delay, CONFIG_T_MILLIS, 0, 0, 300000, "0"),
	KEY(recipient_delimiter, CONFIG_T_CHARS, EMPTY, 0, 0, "+"),
	KEY(submission_sender_check, CONFIG_T_BOOL, 0, 0, 0, "yes"),
	KEY(relay_connect_timeout, CONFIG_T_DURATION, 0, 1, DMAX, "30s"),
	KEY(relay_command_timeout, CONFIG_T_DURATION, 0, 1, DMAX, "5m"),
	KEY(relay_data_timeout, CONFIG_T_DURATION, 0, 1, DMAX, "10m"),
	KEY(auth_failure_delay_max, CONFIG_T_DURATION, 0, 0, 300, "15s"),
	KEY(auth_block_failures, CONFIG_T_UINT, 0, 1, 1000, "10"),
	KEY(auth_block_time, CONFIG_T_DURATION, 0, 1, DMAX, "10m"),
	KEY(relay_max_connections, CONFIG_T_UINT, 0, 1, 100000, "100"),
	KEY(relay_max_per_destination, CONFIG_T_UINT, 0, 1, 10000, "10"),
	KEY(relay_idle_timeout, CONFIG_T_DURATION, 0, 0, 3600, "5s"),
	KEY(smarthost_auth_file, CONFIG_T_PATH, EMPTY, 0, 0, NULL),
	KEY(delay_warning_time, CONFIG_T_DURATION, 0, 0, DMAX, "4h"),
	KEY(imap_plaintext_auth, CONFIG_T_BOOL, 0, 0, 0, "no"),
	KEY(smtp_milters, CONFIG_T_MILTERS, EMPTY, 0, 0, NULL),
	KEY(submission_milters, CONFIG_T_MILTERS, EMPTY, 0, 0, NULL),
	KEY(local_milters, CONFIG_T_MILTERS, EMPTY, 0, 0, NULL),
	KEY(milter_connect_timeout, CONFIG_T_DURATION, 0, 1, DMAX, "10s"),
	KEY(milter_command_timeout, CONFIG_T_DURATION, 0, 1, DMAX, "30s"),
	KEY(milter_eom_timeout, CONFIG_T_DURATION, 0, 1, DMAX, "5m"),
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* ---- small helpers ---- */

static void *config_field(struct config *cfg, size_t off)
{
	return (char *)cfg + off;
}

static bool config_is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Copies s for an error message: non-printable bytes as '?', cut after 64 bytes. */
static void config_quote(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; s[i] && o + 4 < outlen; i++) {
		if (i == 64) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		out[o++] = isprint((unsigned char)s[i]) ? s[i] : '?';
	}
	out[o] = '\0';
}

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

static int config_size_parse(const char *s, uint64_t *out, const char **why)
{
	static const char *const suf[] = { "", "k", "K", "m", "M", "g", "G", NULL };
	static const uint64_t mul[] = { 1, 1ULL << 10, 1ULL << 10, 1ULL << 20, 1ULL << 20,
					1ULL << 30, 1ULL << 30 };

	return config_scaled(s, suf, mul, "unknown size suffix (use k, M or G)", out, why);
}

static int config_duration_parse(const char *s, uint64_t *out, const char **why)
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

static int config_millis_parse(const char *s, uint64_t *out, const char **why)
{
	static const char *const suf[] = { "", "ms", "s", "m", NULL };
	static const uint64_t mul[] = { 1, 1, 1000, 60000 };

	return config_scaled(s, suf, mul, "unknown suffix (use ms, s or m)", out, why);
}

int config_parse_size(const char *s, uint64_t *out)
{
	const char *why;
	return s ? config_size_parse(s, out, &why) : -1;
}

int config_parse_duration(const char *s, uint64_t *out)
{
	const char *why;
	return s ? config_duration_parse(s, out, &why) : -1;
}

int config_parse_millis(const char *s, uint64_t *out)
{
	const char *why;
	return s ? config_millis_parse(s, out, &why) : -1;
}

/* Validates a DNS name (letters, digits, hyphens; labels of 1-63; at most 253), strips one
 * trailing dot and lower-cases it in place. */
static int config_check_domain(char *d, const char **why)
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
	return config_check_domain(h, why);
}

static int config_port_parse(const char *s, uint16_t *port, const char **why)
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

/* "HOST:PORT", "[HOST]:PORT"; with defport != 0 also "HOST", "[HOST]" and a bare IPv6
 * address. ip_only refuses host names. */
static int config_hostport_parse(const char *tok, uint16_t defport, bool ip_only,
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
		if (config_copy_host(r.host, sizeof(r.host), tok + 1, (size_t)(rb - tok - 1), why) < 0)
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
			if (config_copy_host(r.host, sizeof(r.host), tok, (size_t)(c - tok), why) < 0)
				return -1;
			port = c + 1;
		} else if (config_copy_host(r.host, sizeof(r.host), tok, strlen(tok), why) < 0) {
			return -1;
		}
	}
	if (port) {
		if (config_port_parse(port, &r.port, why) < 0)
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

static int config_cidr_parse(const char *tok, struct config_cidr *c, const char **why)
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
			*why = max == 32 ? "bad prefix length (use 0-32)" : "bad prefix length (use 0-128)";
			return -1;
		}
		c->prefix = (unsigned)n;
	}
	for (unsigned bit = c->prefix; bit < max; bit++)
		c->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
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
		if (strlen(rest) >= sizeof(m->path)) {	/* sizeof(sun_path) */
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
		if (config_port_parse(port, &hp.port, error_r) < 0)
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
		if (config_copy_host(hp.host, sizeof(hp.host), rest, (size_t)(c - rest), error_r) < 0 ||
		    config_port_parse(c + 1, &hp.port, error_r) < 0)
			return -1;
	} else if (config_hostport_parse(rest, 0, false, &hp, error_r) < 0) {
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

/* ---- key table: free, set ---- */

static void config_strlist_free(struct config_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static void config_field_free(struct config *cfg, const struct config_key *k)
{
	void *f = config_field(cfg, k->off);

	switch (k->type) {
	case CONFIG_T_HOSTNAME:
	case CONFIG_T_PATH:
	case CONFIG_T_WORD:
	case CONFIG_T_CHARS:
		free(*(char **)f);
		*(char **)f = NULL;
		break;
	case CONFIG_T_DOMAINS:
	case CONFIG_T_MILTERS:
		config_strlist_free(f);
		break;
	case CONFIG_T_LISTEN:
	case CONFIG_T_RESOLVERS: {
		struct config_hostport_list *l = f;
		free(l->items);
		l->items = NULL;
		l->n = 0;
		break;
	}
	case CONFIG_T_SMARTHOST:
		memset(f, 0, sizeof(struct config_hostport));
		break;
	case CONFIG_T_CIDRS:
	case CONFIG_T_DURATIONS:
		free(*(void **)f);
		*(void **)f = NULL;
		*(size_t *)config_field(cfg, k->off_n) = 0;
		break;
	case CONFIG_T_ACTION:
	case CONFIG_T_PORT:
	case CONFIG_T_UINT:
	case CONFIG_T_SIZE:
	case CONFIG_T_DURATION:
	case CONFIG_T_MILLIS:
	case CONFIG_T_BOOL:
		break;
	}
}

/* Splits a list value in place at blanks and commas; returns the tokens (pointers into val). */
static char **config_tokens(char *val, size_t *n_r)
{
	char **t = xcalloc(strlen(val) / 2 + 1, sizeof(*t));
	size_t n = 0;
	char *p = val;

	for (;;) {
		while (*p == ',' || config_is_blank((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		t[n++] = p;
		while (*p && *p != ',' && !config_is_blank((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
	*n_r = n;
	return t;
}

static void config_fmt_duration(uint64_t s, char *out, size_t outlen)
{
	if (s >= 86400 && s % 86400 == 0)
		snprintf(out, outlen, "%llud", (unsigned long long)(s / 86400));
	else if (s >= 3600 && s % 3600 == 0)
		snprintf(out, outlen, "%lluh", (unsigned long long)(s / 3600));
	else if (s >= 60 && s % 60 == 0)
		snprintf(out, outlen, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(out, outlen, "%llus", (unsigned long long)s);
}

/* Parses one numeric token per the key's type and range. */
static int config_number_parse(const struct config_key *k, const char *tok, uint64_t *v, char *why,
			       size_t whylen)
{
	const char *e = NULL;
	char lo[32], hi[32];
	int r;

	if (k->type == CONFIG_T_SIZE)
		r = config_size_parse(tok, v, &e);
	else if (k->type == CONFIG_T_DURATION || k->type == CONFIG_T_DURATIONS)
		r = config_duration_parse(tok, v, &e);
	else if (k->type == CONFIG_T_MILLIS)
		r = config_millis_parse(tok, v, &e);
	else {
		size_t used;
		r = config_digits(tok, v, &used, &e);
		if (r == 0 && tok[used] != '\0') {
			e = "not a number";
			r = -1;
		}
	}
	if (r < 0) {
		snprintf(why, whylen, "%s", e);
		return -1;
	}
	if (*v >= k->min && *v <= k->max)
		return 0;
	if (k->type == CONFIG_T_DURATION || k->type == CONFIG_T_DURATIONS) {
		config_fmt_duration(k->min, lo, sizeof(lo));
		config_fmt_duration(k->max, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
	}
	snprintf(why, whylen, "must be between %s and %s%s", lo, hi,
		 k->type == CONFIG_T_SIZE ? " bytes" : k->type == CONFIG_T_MILLIS ? " ms" : "");
	return -1;
}

/* Sets key k from its trimmed value (modified in place). Returns 0, or -1 with msg set to
 * "KEY: 'TOKEN': reason" (or "KEY: reason"); on error the field is unchanged. */
static int config_set(struct config *cfg, const struct config_key *k, char *val, char *msg,
		      size_t msglen)
{
	void *f = config_field(cfg, k->off);
	char why[128], q[80];
	const char *e = NULL;
	const char *bad = NULL;	/* the offending token */
	char **toks;
	size_t n, i;
	int rc = -1;

	if (val[0] == '\0' && !(k->flags & CONFIG_EMPTY_OK)) {
		snprintf(msg, msglen, "%s: empty value", k->name);
		return -1;
	}
	if (k->type == CONFIG_T_PATH) {
		/* Taken whole: blanks and commas inside a path are kept. */
		if (strlen(val) > CONFIG_PATH_MAX) {
			snprintf(msg, msglen, "%s: path too long", k->name);
			return -1;
		}
		config_field_free(cfg, k);
		*(char **)f = val[0] ? xstrdup(val) : NULL;
		return 0;
	}
	why[0] = '\0';
	toks = config_tokens(val, &n);
	if (n == 0 && !(k->flags & CONFIG_EMPTY_OK)) {
		snprintf(why, sizeof(why), "empty value");
		goto out;
	}
	switch (k->type) {
	case CONFIG_T_HOSTNAME:
	case CONFIG_T_WORD:
	case CONFIG_T_ACTION:
	case CONFIG_T_PORT:
	case CONFIG_T_UINT:
	case CONFIG_T_SIZE:
	case CONFIG_T_DURATION:
	case CONFIG_T_MILLIS:
	case CONFIG_T_BOOL:
	case CONFIG_T_SMARTHOST:
		if (n > 1) {
			snprintf(why, sizeof(why), "expected one value, got %zu", n);
			goto out;
		}
		break;
	default:
		break;
	}

	switch (k->type) {
	case CONFIG_T_HOSTNAME:
		bad = toks[0];
		if (config_check_domain(toks[0], &e) < 0)
			break;
		config_field_free(cfg, k);
		*(char **)f = xstrdup(toks[0]);
		rc = 0;
		break;
	case CONFIG_T_PATH:
		break;	/* handled above */
	case CONFIG_T_WORD:
		bad = toks[0];
		if (strlen(toks[0]) > 255) {
			e = "too long";
			break;
		}
		config_field_free(cfg, k);
		*(char **)f = xstrdup(toks[0]);
		rc = 0;
		break;
	case CONFIG_T_CHARS:
		if (n > 1) {
			e = "expected one word of characters, as in \"+\" or \"+-\"";
			break;
		}
		bad = n ? toks[0] : "";
		if (strlen(bad) > 16) {
			e = "at most 16 characters";
			break;
		}
		for (i = 0; bad[i]; i++)
			if (!ispunct((unsigned char)bad[i]) || bad[i] == '@' || bad[i] == '"' ||
			    bad[i] == '\\')
				break;
		if (bad[i]) {
			e = "only punctuation characters other than @ \" \\ are allowed";
			break;
		}
		config_field_free(cfg, k);
		*(char **)f = xstrdup(bad);
		rc = 0;
		break;
	case CONFIG_T_DOMAINS: {
		struct config_strlist l = { xcalloc(n + 1, sizeof(char *)), 0 };
		for (i = 0; i < n; i++) {
			bad = toks[i];
			if (config_check_domain(toks[i], &e) < 0)
				break;
			l.items[l.n++] = xstrdup(toks[i]);
		}
		if (i < n) {
			config_strlist_free(&l);
			break;
		}
		config_field_free(cfg, k);
		*(struct config_strlist *)f = l;
		rc = 0;
		break;
	}
	case CONFIG_T_MILTERS: {
		struct config_strlist l = { xcalloc(n + 1, sizeof(char *)), 0 };
		struct config_milter m;
		for (i = 0; i < n; i++) {
			bad = toks[i];
			if (config_parse_milter(toks[i], &m, &e) < 0)
				break;
			if (m.family == AF_UNIX)
				l.items[l.n++] = xasprintf("unix:%s", m.path);
			else
				l.items[l.n++] = xasprintf("%s:%s:%u", m.family == AF_INET6 ? "inet6" : "inet",
							   m.host, m.port);
		}
		if (i < n) {
			config_strlist_free(&l);
			break;
		}
		config_field_free(cfg, k);
		*(struct config_strlist *)f = l;
		rc = 0;
		break;
	}
	case CONFIG_T_LISTEN:
	case CONFIG_T_RESOLVERS: {
		bool dns = k->type == CONFIG_T_RESOLVERS;
		struct config_hostport_list l = { xcalloc(n + 1, sizeof(struct config_hostport)), 0 };
		for (i = 0; i < n; i++) {
			bad = toks[i];
			if (config_hostport_parse(toks[i], dns ? 53 : 0, dns, &l.items[l.n], &e) < 0)
				break;
			l.n++;
		}
		if (i < n) {
			free(l.items);
			break;
		}
		config_field_free(cfg, k);
		*(struct config_hostport_list *)f = l;
		rc = 0;
		break;
	}
	case CONFIG_T_SMARTHOST: {
		struct config_hostport hp;
		memset(&hp, 0, sizeof(hp));
		bad = n ? toks[0] : "";
		if (n && config_hostport_parse(toks[0], 25, false, &hp, &e) < 0)
			break;
		*(struct config_hostport *)f = hp;
		rc = 0;
		break;
	}
	case CONFIG_T_CIDRS: {
		struct config_cidr *c = xcalloc(n + 1, sizeof(*c));
		for (i = 0; i < n; i++) {
			bad = toks[i];
			if (config_cidr_parse(toks[i], &c[i], &e) < 0)
				break;
		}
		if (i < n) {
			free(c);
			break;
		}
		config_field_free(cfg, k);
		*(struct config_cidr **)f = c;
		*(size_t *)config_field(cfg, k->off_n) = n;
		rc = 0;
		break;
	}
	case CONFIG_T_ACTION:
		bad = toks[0];
		if (strcmp(toks[0], "tempfail") == 0)
			*(enum milter_action *)f = MILTER_ACTION_TEMPFAIL;
		else if (strcmp(toks[0], "reject") == 0)
			*(enum milter_action *)f = MILTER_ACTION_REJECT;
		else if (strcmp(toks[0], "accept") == 0)
			*(enum milter_action *)f = MILTER_ACTION_ACCEPT;
		else {
			e = "expected tempfail, reject or accept";
			break;
		}
		rc = 0;
		break;
	case CONFIG_T_BOOL: {
		static const char *const yes[] = { "yes", "true", "on", "1" };
		static const char *const no[] = { "no", "false", "off", "0" };
		bad = toks[0];
		for (i = 0; i < 4; i++) {
			if (strcasecmp(toks[0], yes[i]) == 0 || strcasecmp(toks[0], no[i]) == 0) {
				*(bool *)f = strcasecmp(toks[0], yes[i]) == 0;
				rc = 0;
				break;
			}
		}
		if (rc != 0)
			e = "expected yes or no";
		break;
	}
	case CONFIG_T_PORT: {
		uint16_t p;
		bad = toks[0];
		if (config_port_parse(toks[0], &p, &e) < 0)
			break;
		*(uint16_t *)f = p;
		rc = 0;
		break;
	}
	case CONFIG_T_UINT:
	case CONFIG_T_SIZE:
	case CONFIG_T_DURATION:
	case CONFIG_T_MILLIS: {
		uint64_t v;
		bad = toks[0];
		if (config_number_parse(k, toks[0], &v, why, sizeof(why)) < 0)
			break;
		if (k->type == CONFIG_T_UINT)
			*(unsigned *)f = (unsigned)v;
		else
			*(uint64_t *)f = v;
		rc = 0;
		break;
	}
	case CONFIG_T_DURATIONS: {
		uint64_t *d = xcalloc(n + 1, sizeof(*d));
		for (i = 0; i < n; i++) {
			bad = toks[i];
			if (config_number_parse(k, toks[i], &d[i], why, sizeof(why)) < 0)
				break;
		}
		if (i < n) {
			free(d);
			break;
		}
		config_field_free(cfg, k);
		*(uint64_t **)f = d;
		*(size_t *)config_field(cfg, k->off_n) = n;
		rc = 0;
		break;
	}
	}
out:
	if (rc < 0) {
		if (e)
			snprintf(why, sizeof(why), "%s", e);
		if (bad) {
			config_quote(bad, q, sizeof(q));
			snprintf(msg, msglen, "%s: '%s': %s", k->name, q, why);
		} else {
			snprintf(msg, msglen, "%s: %s", k->name, why);
		}
	}
	free(toks);
	return rc;
}

static const struct config_key *config_key_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

const char *config_key(size_t i, const char **default_r)
{
	if (i >= CONFIG_NKEYS)
		return NULL;
	if (default_r)
		*default_r = config_keys[i].def;
	return config_keys[i].name;
}

/* ---- the file ---- */

void config_defaults(struct config *cfg)
{
	char msg[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		if (!k->def)
			continue;
		char *v = xstrdup(k->def);
		if (config_set(cfg, k, v, msg, sizeof(msg)) < 0)
			log_panic("config: built-in default: %s", msg);
		free(v);
	}
}

/* Parses one line (already a NUL-terminated copy). Returns 0, or -1 with msg set. */
static int config_parse_line(struct config *cfg, char *s, size_t lineno, size_t *seen, char *msg,
			     size_t msglen)
{
	const struct config_key *k;
	char q[80];
	char *eq, *key, *val, *end;

	while (config_is_blank((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	eq = strchr(s, '=');
	if (!eq) {
		end = s + strlen(s);
		while (end > s && config_is_blank((unsigned char)end[-1]))
			*--end = '\0';
		config_quote(s, q, sizeof(q));
		snprintf(msg, msglen, "missing '=' in '%s' (expected key = value)", q);
		return -1;
	}
	key = s;
	end = eq;
	while (end > key && config_is_blank((unsigned char)end[-1]))
		end--;
	*end = '\0';
	if (key[0] == '\0') {
		snprintf(msg, msglen, "missing key before '='");
		return -1;
	}
	k = config_key_find(key);
	if (!k) {
		config_quote(key, q, sizeof(q));
		snprintf(msg, msglen, "unknown key '%s'", q);
		return -1;
	}
	size_t idx = (size_t)(k - config_keys);
	if (seen[idx]) {
		snprintf(msg, msglen, "duplicate key '%s' (first set on line %zu)", k->name, seen[idx]);
		return -1;
	}
	seen[idx] = lineno;

	/* The value ends at a '#' that starts it or follows a blank. */
	val = eq + 1;
	while (config_is_blank((unsigned char)*val))
		val++;
	for (end = val; *end; end++)
		if (*end == '#' && (end == val || config_is_blank((unsigned char)end[-1])))
			break;
	*end = '\0';
	while (end > val && config_is_blank((unsigned char)end[-1]))
		*--end = '\0';
	return config_set(cfg, k, val, msg, msglen);
}

int config_parse(struct config *cfg, const char *name, const char *text, size_t len, char *err,
		 size_t errlen)
{
	size_t seen[CONFIG_NKEYS];
	size_t pos = 0, lineno = 0;
	char msg[512];

	memset(seen, 0, sizeof(seen));
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;	/* a UTF-8 byte order mark */
	const char *line;
	size_t l;
	while (table_next_line(text, len, &pos, &line, &l)) {
		lineno++;
		if (memchr(line, '\0', l)) {
			snprintf(err, errlen, "%s:%zu: NUL byte in line", name, lineno);
			return -1;
		}
		char *copy = xstrndup(line, l);
		int r = config_parse_line(cfg, copy, lineno, seen, msg, sizeof(msg));
		free(copy);
		if (r < 0) {
			snprintf(err, errlen, "%s:%zu: %s", name, lineno, msg);
			return -1;
		}
	}

	/* A certificate without its key (or the reverse) cannot work. */
	const struct config_key *cert = config_key_find("tls_cert");
	const struct config_key *key = config_key_find("tls_key");
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		const struct config_key *set = cfg->tls_cert ? cert : key;
		const struct config_key *unset = cfg->tls_cert ? key : cert;
		snprintf(err, errlen, "%s:%zu: %s is set but %s is not", name,
			 seen[set - config_keys], set->name, unset->name);
		return -1;
	}
	return 0;
}

static int config_read_file(const char *path, char **text_r, size_t *len_r)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return -1;
	}
	int r = read_fd_whole(fd, CONFIG_FILE_MAX, text_r, len_r);
	close(fd);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int r;

	config_defaults(cfg);
	if (config_read_file(path, &text, &len) < 0) {
		snprintf(err, errlen, "%s:0: %s", path, strerror(errno));
		config_free(cfg);
		return -1;
	}
	cfg->path = xstrdup(path);
	r = config_parse(cfg, path, text, len, err, errlen);
	free(text);
	if (r < 0) {
		config_free(cfg);
		return -1;
	}
	config_finish(cfg);
	return 0;
}

/* ---- derived defaults ---- */

/* A canonical-name lookup that may outlive its caller's patience: whoever finishes last
 * (the caller giving up, or the thread) frees it. */
struct config_fqdn_job {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	bool done;
	char name[256];
	char canon[256];
};

static void config_fqdn_unref(struct config_fqdn_job *j)
{
	pthread_mutex_lock(&j->mu);
	bool last = --j->refs == 0;
	pthread_mutex_unlock(&j->mu);
	if (last) {
		pthread_cond_destroy(&j->cv);
		pthread_mutex_destroy(&j->mu);
		free(j);
	}
}

static void *config_fqdn_thread(void *arg)
{
	struct config_fqdn_job *j = arg;
	struct addrinfo hints, *res = NULL;
	char canon[256] = "";

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(j->name, NULL, &hints, &res) == 0) {
		if (res && res->ai_canonname)
			snprintf(canon, sizeof(canon), "%s", res->ai_canonname);
		freeaddrinfo(res);
	}
	pthread_mutex_lock(&j->mu);
	memcpy(j->canon, canon, sizeof(canon));
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	config_fqdn_unref(j);
	return NULL;
}

/* The canonical name of name, or "" when the resolver does not answer within the wait. */
static void config_fqdn_lookup(const char *name, char *out, size_t outlen)
{
	struct config_fqdn_job *j = xcalloc(1, sizeof(*j));
	pthread_condattr_t ca;
	pthread_attr_t ta;
	pthread_t t;
	struct timespec deadline;

	out[0] = '\0';
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->refs = 2;
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &ta, config_fqdn_thread, j) != 0) {
		pthread_attr_destroy(&ta);
		j->refs = 1;
		config_fqdn_unref(j);
		return;
	}
	pthread_attr_destroy(&ta);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += CONFIG_FQDN_WAIT_MS / 1000;
	deadline.tv_nsec += (CONFIG_FQDN_WAIT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->mu);
	while (!j->done)
		if (pthread_cond_timedwait(&j->cv, &j->mu, &deadline) == ETIMEDOUT)
			break;
	if (j->done)
		snprintf(out, outlen, "%s", j->canon);
	pthread_mutex_unlock(&j->mu);
	config_fqdn_unref(j);
}

/* The machine's FQDN: gethostname(), completed by a bounded canonical-name lookup when it
 * has no dot; the bare name when that fails; "localhost" when even that is unusable. */
static char *config_machine_fqdn(void)
{
	char name[256], canon[256];
	const char *why;

	if (gethostname(name, sizeof(name)) != 0)
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	if (config_check_domain(name, &why) < 0)
		return xstrdup("localhost");
	if (strchr(name, '.'))
		return xstrdup(name);
	config_fqdn_lookup(name, canon, sizeof(canon));
	if (strchr(canon, '.') && config_check_domain(canon, &why) == 0)
		return xstrdup(canon);
	return xstrdup(name);
}

void config_finish(struct config *cfg)
{
	if (!cfg->users_file) {
		const char *sd = cfg->state_dir ? cfg->state_dir : "./var";
		size_t l = strlen(sd);
		cfg->users_file = xasprintf("%s%susers", sd, l > 0 && sd[l - 1] == '/' ? "" : "/");
	}
	if (!cfg->hostname)
		cfg->hostname = config_machine_fqdn();
}

const char *config_default_path(void)
{
	const char *env = getenv("MAIL_CONF");
	static const char installed[] = MAIL_PREFIX "/etc/mail.conf";

	if (env && env[0])
		return env;
	if (access(installed, F_OK) == 0)
		return installed;
	return NULL;
}

void config_load_or_exit(struct config *cfg, const char *path)
{
	char err[1024];

	if (!path)
		path = config_default_path();
	if (!path) {
		config_defaults(cfg);
		config_finish(cfg);
		return;
	}
	if (config_load(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", program_invocation_short_name, err);
		exit(EX_CONFIG_STATUS);
	}
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		config_field_free(cfg, &config_keys[i]);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- helpers every program uses ---- */

bool config_is_local_domain(const struct config *cfg, const char *domain)
{
	size_t n;

	if (!domain)
		return false;
	n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	for (size_t i = 0; i < cfg->domains.n; i++) {
		const char *d = cfg->domains.items[i];
		if (strlen(d) == n && strncasecmp(d, domain, n) == 0)
			return true;
	}
	return false;
}

static bool config_prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a[full] & mask) == (net[full] & mask);
}

bool config_in_relay_networks(const struct config *cfg, const struct sockaddr *sa)
{
	uint8_t v4[4], v6[16];
	bool has4 = false, has6 = false;

	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(&sin, sa, sizeof(sin));
		memcpy(v4, &sin.sin_addr, 4);
		has4 = true;
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(v6, &sin6.sin6_addr, 16);
		has6 = true;
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
			memcpy(v4, v6 + 12, 4);
			has4 = true;
		}
	}
	for (size_t i = 0; i < cfg->n_relay_networks; i++) {
		const struct config_cidr *c = &cfg->relay_networks[i];
		if (c->family == AF_INET && has4 && config_prefix_match(v4, c->addr, c->prefix))
			return true;
		if (c->family == AF_INET6 && has6 && config_prefix_match(v6, c->addr, c->prefix))
			return true;
	}
	return false;
}
