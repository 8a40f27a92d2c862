/* config.c - the one configuration loader: key table, one setter per value type, defaults, file:line errors. */
#include "config.h"
#include "fileutil.h"
#include "log.h"
#include "table_file.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MAIL_PREFIX
#define MAIL_PREFIX "/usr/local"
#endif
#ifndef MAIL_CONFIG_PATH /* a package sets it (CMake MAIL_CONFIG_PATH), e.g. /etc/mtad/mail.conf */
#define MAIL_CONFIG_PATH MAIL_PREFIX "/etc/mail.conf"
#endif

#define CONFIG_FILE_MAX     (1024 * 1024) /* a larger file is refused */
#define CONFIG_PATH_MAX     4095
#define CONFIG_WORD_MAX     255
#define CONFIG_CHARS_MAX    16
#define CONFIG_DURATION_MAX (3650ULL * 86400) /* ten years: fits any timer in ms */
#define CONFIG_FQDN_WAIT_MS 1500              /* longest wait for the resolver at startup */

/* What one element of a field is; a list-valued key (CONFIG_LIST) holds any number of them. */
enum config_type {
	CONFIG_T_PATH,      /* char *: the whole value, blanks and commas kept; "" is NULL */
	CONFIG_T_STRING,    /* char *: one word */
	CONFIG_T_CHARS,     /* char *: a set of punctuation characters, "" allowed */
	CONFIG_T_BOOL,      /* bool: yes/no, true/false, on/off, 1/0 */
	CONFIG_T_ACTION,    /* enum milter_action */
	CONFIG_T_TLS_LEVEL, /* enum tls_level */
	CONFIG_T_PORT,      /* uint16_t, 1-65535 */
	CONFIG_T_COUNT,     /* unsigned within [min, max] */
	CONFIG_T_SIZE,      /* uint64_t bytes within [min, max] */
	CONFIG_T_DURATION,  /* uint64_t seconds within [min, max] */
	CONFIG_T_MILLIS,    /* uint64_t milliseconds within [min, max] */
	CONFIG_T_ADDRESS,   /* struct config_hostport */
	CONFIG_T_CIDR,      /* struct config_cidr */
};

#define CONFIG_EMPTY_OK 1u /* an empty value means "none" or the empty list */
#define CONFIG_LIST     2u /* an items pointer at off, its size_t count at off_n */

struct config_key;

/* Parses one word of a value into one element (zeroed before) of the key's field. Returns 0,
 * or -1 with why set; it may rewrite the word in place. */
typedef int config_elem_fn(const struct config_key *k, char *word, void *elem, char *why,
			   size_t whylen);

struct config_key {
	const char *name;
	enum config_type type;
	unsigned flags;
	size_t off;            /* the field in struct config */
	size_t off_n;          /* a list's element count */
	uint64_t min, max;     /* numeric types */
	config_elem_fn *check; /* the key's own syntax for a word, in place of its type's */
	const char *def;       /* the default as written in a file; NULL: none, or derived */
};

/* Per-key syntax (below the table). */
static config_elem_fn config_check_domain, config_check_milter, config_check_resolver,
	config_check_smarthost, config_check_lmtp_listen, config_check_proxy_auth;

/* One row per key: the key is the name of its field in struct config. */
#define KEY(field, type, flags, min, max, check, def)                                        \
	{                                                                                    \
#field, type, flags, offsetof(struct config, field), 0, min, max, check, def \
	}
/* A list in a struct config_strlist or struct config_hostport_list. */
#define LIST(field, type, flags, check, def)                                               \
	{                                                                                  \
#field, type, (flags) | CONFIG_LIST, offsetof(struct config, field.items), \
			offsetof(struct config, field.n), 0, 0, check, def                 \
	}
/* A list as an items field with a count field beside it. */
#define LISTN(field, nfield, type, flags, min, max, def)                             \
	{                                                                            \
#field, type, (flags) | CONFIG_LIST, offsetof(struct config, field), \
			offsetof(struct config, nfield), min, max, NULL, def         \
	}
#define EMPTY CONFIG_EMPTY_OK
#define DMAX  CONFIG_DURATION_MAX

static const struct config_key config_keys[] = {
	KEY(hostname, CONFIG_T_STRING, 0, 0, 0, config_check_domain, NULL),
	LIST(domains, CONFIG_T_STRING, EMPTY, config_check_domain, "localhost"),
	KEY(state_dir, CONFIG_T_PATH, 0, 0, 0, NULL, "./var"),
	KEY(users_file, CONFIG_T_PATH, 0, 0, 0, NULL, NULL),
	KEY(aliases_file, CONFIG_T_PATH, EMPTY, 0, 0, NULL, NULL),
	LIST(smtp_listen, CONFIG_T_ADDRESS, EMPTY, NULL, "127.0.0.1:2525"),
	LIST(submission_listen, CONFIG_T_ADDRESS, EMPTY, NULL, "127.0.0.1:2587"),
	LIST(submissions_listen, CONFIG_T_ADDRESS, EMPTY, NULL, "127.0.0.1:2465"),
	LIST(imap_listen, CONFIG_T_ADDRESS, EMPTY, NULL, "127.0.0.1:1143"),
	LIST(imaps_listen, CONFIG_T_ADDRESS, EMPTY, NULL, "127.0.0.1:1993"),
	KEY(tls_cert, CONFIG_T_PATH, EMPTY, 0, 0, NULL, NULL),
	KEY(tls_key, CONFIG_T_PATH, EMPTY, 0, 0, NULL, NULL),
	KEY(acme, CONFIG_T_BOOL, 0, 0, 0, NULL, "no"),
	KEY(acme_directory, CONFIG_T_STRING, 0, 0, 0, NULL,
	    "https://acme-v02.api.letsencrypt.org/directory"),
	KEY(acme_ca_file, CONFIG_T_PATH, EMPTY, 0, 0, NULL, NULL),
	KEY(acme_email, CONFIG_T_STRING, EMPTY, 0, 0, NULL, NULL),
	LISTN(relay_networks, n_relay_networks, CONFIG_T_CIDR, EMPTY, 0, 0, ""),
	LIST(milters, CONFIG_T_STRING, EMPTY, config_check_milter, ""),
	KEY(milter_default_action, CONFIG_T_ACTION, 0, 0, 0, NULL, "tempfail"),
	LIST(dns_servers, CONFIG_T_ADDRESS, EMPTY, config_check_resolver, ""),
	KEY(relay_port, CONFIG_T_PORT, 0, 1, 65535, NULL, "25"),
	KEY(smarthost, CONFIG_T_ADDRESS, EMPTY, 0, 0, config_check_smarthost, NULL),
	KEY(max_message_size, CONFIG_T_SIZE, 0, 1, 1ULL << 40, NULL, "35M"),
	KEY(default_quota, CONFIG_T_SIZE, 0, 0, 1ULL << 50, NULL, "0"),
	KEY(max_recipients, CONFIG_T_COUNT, 0, 1, 1000000, NULL, "1000"),
	KEY(queue_lifetime, CONFIG_T_DURATION, 0, 0, DMAX, NULL, "5d"),
	LISTN(retry_schedule, n_retry_schedule, CONFIG_T_DURATION, 0, 1, DMAX,
	      "1m 5m 15m 30m 1h 2h 4h"),
	KEY(run_user, CONFIG_T_STRING, 0, 0, 0, NULL, "mail"),
	KEY(smtp_timeout, CONFIG_T_DURATION, 0, 1, DMAX, NULL, "5m"),
	KEY(smtp_data_timeout, CONFIG_T_DURATION, 0, 1, DMAX, NULL, "3m"),
	KEY(max_connections, CONFIG_T_COUNT, 0, 1, 1000000, NULL, "1000"),
	KEY(max_connections_per_ip, CONFIG_T_COUNT, 0, 1, 1000000, NULL, "50"),
	KEY(smtp_greeting_delay, CONFIG_T_MILLIS, 0, 0, 300000, NULL, "0"),
	KEY(recipient_delimiter, CONFIG_T_CHARS, EMPTY, 0, 0, NULL, "+"),
	KEY(submission_sender_check, CONFIG_T_BOOL, 0, 0, 0, NULL, "yes"),
	LIST(trusted_users, CONFIG_T_STRING, EMPTY, NULL, ""),
	KEY(relay_connect_timeout, CONFIG_T_DURATION, 0, 1, DMAX, NULL, "30s"),
	KEY(relay_command_timeout, CONFIG_T_DURATION, 0, 1, DMAX, NULL, "5m"),
	KEY(relay_data_timeout, CONFIG_T_DURATION, 0, 1, DMAX, NULL, "10m"),
	KEY(auth_failure_delay_max, CONFIG_T_DURATION, 0, 0, 300, NULL, "15s"),
	KEY(auth_block_failures, CONFIG_T_COUNT, 0, 1, 1000, NULL, "10"),
	KEY(auth_block_time, CONFIG_T_DURATION, 0, 1, DMAX, NULL, "10m"),
	KEY(auth_cache_ttl, CONFIG_T_DURATION, 0, 0, 7 * 86400, NULL, "1h"),
	KEY(auth_cache_size, CONFIG_T_COUNT, 0, 0, 10000000, NULL, "10000"),
	KEY(relay_max_connections, CONFIG_T_COUNT, 0, 1, 100000, NULL, "100"),
	KEY(relay_max_per_destination, CONFIG_T_COUNT, 0, 1, 10000, NULL, "10"),
	KEY(relay_idle_timeout, CONFIG_T_DURATION, 0, 0, 3600, NULL, "5s"),
	KEY(smarthost_auth_file, CONFIG_T_PATH, EMPTY, 0, 0, NULL, NULL),
	KEY(delay_warning_time, CONFIG_T_DURATION, 0, 0, DMAX, NULL, "4h"),
	KEY(imap_plaintext_auth, CONFIG_T_BOOL, 0, 0, 0, NULL, "no"),
	LIST(smtp_milters, CONFIG_T_STRING, EMPTY, config_check_milter, NULL),
	LIST(submission_milters, CONFIG_T_STRING, EMPTY, config_check_milter, NULL),
	LIST(local_milters, CONFIG_T_STRING, EMPTY, config_check_milter, NULL),
	KEY(milter_daemon_name, CONFIG_T_STRING, 0, 0, 0, NULL, NULL),
	KEY(smtp_milter_daemon_name, CONFIG_T_STRING, 0, 0, 0, NULL, NULL),
	KEY(submission_milter_daemon_name, CONFIG_T_STRING, 0, 0, 0, NULL, NULL),
	KEY(local_milter_daemon_name, CONFIG_T_STRING, 0, 0, 0, NULL, NULL),
	KEY(milter_connect_timeout, CONFIG_T_DURATION, 0, 1, DMAX, NULL, "10s"),
	KEY(milter_command_timeout, CONFIG_T_DURATION, 0, 1, DMAX, NULL, "30s"),
	KEY(milter_eom_timeout, CONFIG_T_DURATION, 0, 1, DMAX, NULL, "5m"),
	KEY(lmtp_listen, CONFIG_T_STRING, EMPTY, 0, 0, config_check_lmtp_listen, NULL),
	KEY(mailbox_routes, CONFIG_T_PATH, EMPTY, 0, 0, NULL, NULL),
	KEY(imap_proxy, CONFIG_T_BOOL, 0, 0, 0, NULL, "no"),
	KEY(imap_proxy_auth, CONFIG_T_STRING, 0, 0, 0, config_check_proxy_auth, "local"),
	KEY(metrics_listen, CONFIG_T_ADDRESS, EMPTY, 0, 0, NULL, NULL),
	KEY(http_listen, CONFIG_T_ADDRESS, EMPTY, 0, 0, NULL, NULL),
	KEY(imap_metrics_listen, CONFIG_T_ADDRESS, EMPTY, 0, 0, NULL, NULL),
	KEY(opendkim_conf, CONFIG_T_PATH, EMPTY, 0, 0, NULL, "/etc/opendkim.conf"),
	KEY(relay_tls_security, CONFIG_T_TLS_LEVEL, 0, 0, 0, NULL, "may"),
	KEY(relay_tls_policy_file, CONFIG_T_PATH, EMPTY, 0, 0, NULL, NULL),
	KEY(relay_tls_ca_file, CONFIG_T_PATH, EMPTY, 0, 0, NULL, NULL),
	KEY(dnssec_trust_anchor, CONFIG_T_PATH, 0, 0, 0, NULL, "/usr/share/dns/root.key"),
	KEY(tlsrpt_reports, CONFIG_T_BOOL, 0, 0, 0, NULL, "yes"),
	KEY(tlsrpt_contact, CONFIG_T_STRING, EMPTY, 0, 0, NULL, NULL),
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

/* A static reason into why; returns -1. */
static int config_why(char *why, size_t whylen, const char *reason)
{
	snprintf(why, whylen, "%s", reason);
	return -1;
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

/* ---- one element of each type ---- */

static int config_elem_string(const struct config_key *k, char *word, void *elem, char *why,
			      size_t whylen)
{
	if (strlen(word) > CONFIG_WORD_MAX)
		return config_why(why, whylen, "too long");
	*(char **)elem = xstrdup(word);
	return 0;
}

static int config_elem_chars(const struct config_key *k, char *word, void *elem, char *why,
			     size_t whylen)
{
	if (strlen(word) > CONFIG_CHARS_MAX)
		return config_why(why, whylen, "at most 16 characters");
	for (size_t i = 0; word[i]; i++)
		if (!ispunct((unsigned char)word[i]) || strchr("@\"\\", word[i]))
			return config_why(
				why, whylen,
				"only punctuation characters other than @ \" \\ are allowed");
	*(char **)elem = xstrdup(word);
	return 0;
}

static int config_elem_bool(const struct config_key *k, char *word, void *elem, char *why,
			    size_t whylen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(word, yes[i]) == 0 || strcasecmp(word, no[i]) == 0) {
			*(bool *)elem = strcasecmp(word, yes[i]) == 0;
			return 0;
		}
	}
	return config_why(why, whylen, "expected yes or no");
}

static int config_elem_action(const struct config_key *k, char *word, void *elem, char *why,
			      size_t whylen)
{
	static const char *const names[] = {
		[MILTER_ACTION_TEMPFAIL] = "tempfail",
		[MILTER_ACTION_REJECT] = "reject",
		[MILTER_ACTION_ACCEPT] = "accept",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(word, names[i]) == 0) {
			*(enum milter_action *)elem = (enum milter_action)i;
			return 0;
		}
	}
	return config_why(why, whylen, "expected tempfail, reject or accept");
}

static int config_elem_tls_level(const struct config_key *k, char *word, void *elem, char *why,
				 size_t whylen)
{
	int level = tls_level_parse(word, strlen(word));
	if (level < 0)
		return config_why(why, whylen,
				  "expected none, may, encrypt, dane, dane-only, verify or secure");
	*(enum tls_level *)elem = (enum tls_level)level;
	return 0;
}

static int config_elem_port(const struct config_key *k, char *word, void *elem, char *why,
			    size_t whylen)
{
	const char *e;

	return config_value_port(word, elem, &e) < 0 ? config_why(why, whylen, e) : 0;
}

/* Parses a number with parse and checks it against the key's [min, max]; the reason names the
 * range in the type's unit. */
static int config_number(const struct config_key *k, const char *word,
			 int (*parse)(const char *, uint64_t *, const char **), uint64_t *v,
			 char *why, size_t whylen)
{
	const char *e;
	char lo[32], hi[32];

	if (parse(word, v, &e) < 0)
		return config_why(why, whylen, e);
	if (*v >= k->min && *v <= k->max)
		return 0;
	if (k->type == CONFIG_T_DURATION) {
		config_fmt_duration(k->min, lo, sizeof(lo));
		config_fmt_duration(k->max, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
	}
	snprintf(why, whylen, "must be between %s and %s%s", lo, hi,
		 k->type == CONFIG_T_SIZE     ? " bytes"
		 : k->type == CONFIG_T_MILLIS ? " ms"
					      : "");
	return -1;
}

static int config_elem_count(const struct config_key *k, char *word, void *elem, char *why,
			     size_t whylen)
{
	uint64_t v;

	if (config_number(k, word, config_value_count, &v, why, whylen) < 0)
		return -1;
	*(unsigned *)elem = (unsigned)v;
	return 0;
}

static int config_elem_size(const struct config_key *k, char *word, void *elem, char *why,
			    size_t whylen)
{
	return config_number(k, word, config_value_size, elem, why, whylen);
}

static int config_elem_duration(const struct config_key *k, char *word, void *elem, char *why,
				size_t whylen)
{
	return config_number(k, word, config_value_duration, elem, why, whylen);
}

static int config_elem_millis(const struct config_key *k, char *word, void *elem, char *why,
			      size_t whylen)
{
	return config_number(k, word, config_value_millis, elem, why, whylen);
}

/* HOST:PORT, as listeners take it. */
static int config_elem_address(const struct config_key *k, char *word, void *elem, char *why,
			       size_t whylen)
{
	const char *e;

	return config_value_hostport(word, 0, false, elem, &e) < 0 ? config_why(why, whylen, e) : 0;
}

static int config_elem_cidr(const struct config_key *k, char *word, void *elem, char *why,
			    size_t whylen)
{
	const char *e;

	return config_value_cidr(word, elem, &e) < 0 ? config_why(why, whylen, e) : 0;
}

/* ---- per-key syntax ---- */

/* hostname, domains: a DNS name, lower-cased. */
static int config_check_domain(const struct config_key *k, char *word, void *elem, char *why,
			       size_t whylen)
{
	const char *e;

	if (config_value_domain(word, &e) < 0)
		return config_why(why, whylen, e);
	*(char **)elem = xstrdup(word);
	return 0;
}

/* milters: stored normalised ("inet:HOST:PORT", "inet6:HOST:PORT", "unix:PATH"). */
static int config_check_milter(const struct config_key *k, char *word, void *elem, char *why,
			       size_t whylen)
{
	struct config_milter m;
	const char *e;

	if (config_parse_milter(word, &m, &e) < 0)
		return config_why(why, whylen, e);
	if (m.family == AF_UNIX)
		*(char **)elem = xasprintf("unix:%s", m.path);
	else
		*(char **)elem = xasprintf("%s:%s:%u", m.family == AF_INET6 ? "inet6" : "inet",
					   m.host, m.port);
	return 0;
}

/* dns_servers: IP[:PORT], port 53 when omitted. */
static int config_check_resolver(const struct config_key *k, char *word, void *elem, char *why,
				 size_t whylen)
{
	const char *e;

	return config_value_hostport(word, 53, true, elem, &e) < 0 ? config_why(why, whylen, e) : 0;
}

/* smarthost: [host]:port, host:port or [host] (port 25); empty: none (the element stays zero). */
static int config_check_smarthost(const struct config_key *k, char *word, void *elem, char *why,
				  size_t whylen)
{
	const char *e;

	if (word[0] == '\0')
		return 0;
	return config_value_hostport(word, 25, false, elem, &e) < 0 ? config_why(why, whylen, e)
								    : 0;
}

/* lmtp_listen: "HOST:PORT", "[V6]:PORT" or "unix:/PATH", stored as written (a checked host
 * and port, or an absolute path that fits a socket address); empty: off. */
static int config_check_lmtp_listen(const struct config_key *k, char *word, void *elem, char *why,
				    size_t whylen)
{
	struct config_hostport hp;
	const char *e;

	(void)k;
	if (word[0] == '\0')
		return 0;
	if (strncmp(word, "unix:", 5) == 0) {
		const char *path = word + 5;
		if (path[0] != '/')
			return config_why(why, whylen, "unix: needs an absolute path");
		if (strlen(path) >= sizeof(((struct config_milter *)0)->path))
			return config_why(why, whylen, "socket path too long");
	} else if (config_value_hostport(word, 0, true, &hp, &e) < 0) {
		return config_why(why, whylen, e);
	}
	*(char **)elem = xstrdup(word);
	return 0;
}

/* imap_proxy_auth: "local" (check users_file first) or "backend" (the back end decides). */
static int config_check_proxy_auth(const struct config_key *k, char *word, void *elem, char *why,
				   size_t whylen)
{
	(void)k;
	if (strcmp(word, "local") != 0 && strcmp(word, "backend") != 0)
		return config_why(why, whylen, "use local or backend");
	*(char **)elem = xstrdup(word);
	return 0;
}

/* ---- key table: free, set ---- */

static void config_free_string(void *elem)
{
	free(*(char **)elem);
}

/* What the setters need to know of a type. */
struct config_type_ops {
	size_t size;              /* one element */
	config_elem_fn *parse;    /* one word into one element */
	void (*free)(void *elem); /* what an element owns, or NULL */
	const char *many;         /* the reason when a single value is several words, or NULL */
};

static const struct config_type_ops config_types[] = {
	[CONFIG_T_PATH] = { sizeof(char *), NULL, config_free_string, NULL },
	[CONFIG_T_STRING] = { sizeof(char *), config_elem_string, config_free_string, NULL },
	[CONFIG_T_CHARS] = { sizeof(char *), config_elem_chars, config_free_string,
			     "expected one word of characters, as in \"+\" or \"+-\"" },
	[CONFIG_T_BOOL] = { sizeof(bool), config_elem_bool, NULL, NULL },
	[CONFIG_T_ACTION] = { sizeof(enum milter_action), config_elem_action, NULL, NULL },
	[CONFIG_T_TLS_LEVEL] = { sizeof(enum tls_level), config_elem_tls_level, NULL, NULL },
	[CONFIG_T_PORT] = { sizeof(uint16_t), config_elem_port, NULL, NULL },
	[CONFIG_T_COUNT] = { sizeof(unsigned), config_elem_count, NULL, NULL },
	[CONFIG_T_SIZE] = { sizeof(uint64_t), config_elem_size, NULL, NULL },
	[CONFIG_T_DURATION] = { sizeof(uint64_t), config_elem_duration, NULL, NULL },
	[CONFIG_T_MILLIS] = { sizeof(uint64_t), config_elem_millis, NULL, NULL },
	[CONFIG_T_ADDRESS] = { sizeof(struct config_hostport), config_elem_address, NULL, NULL },
	[CONFIG_T_CIDR] = { sizeof(struct config_cidr), config_elem_cidr, NULL, NULL },
};

/* Room for one element of any type. */
union config_elem {
	char *s;
	bool b;
	enum milter_action action;
	enum tls_level tls_level;
	uint16_t port;
	unsigned count;
	uint64_t n;
	struct config_hostport hp;
	struct config_cidr cidr;
};

static int config_elem_parse(const struct config_key *k, char *word, void *elem, char *why,
			     size_t whylen)
{
	config_elem_fn *parse = k->check ? k->check : config_types[k->type].parse;

	return parse(k, word, elem, why, whylen);
}

static void config_items_free(const struct config_type_ops *t, char *items, size_t n)
{
	if (t->free)
		for (size_t i = 0; i < n; i++)
			t->free(items + i * t->size);
	free(items);
}

static void config_field_free(struct config *cfg, const struct config_key *k)
{
	const struct config_type_ops *t = &config_types[k->type];
	void *f = config_field(cfg, k->off);
	char *items;

	if (k->flags & CONFIG_LIST) {
		size_t *n = config_field(cfg, k->off_n);
		memcpy(&items, f, sizeof(items));
		config_items_free(t, items, *n);
		items = NULL;
		memcpy(f, &items, sizeof(items));
		*n = 0;
		return;
	}
	if (t->free)
		t->free(f);
	memset(f, 0, t->size);
}

/* Splits a list value in place at blanks and commas; returns the words (pointers into val). */
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

/* The one setter of a path: the value taken whole. */
static int config_set_path(struct config *cfg, const struct config_key *k, const char *val,
			   char *msg, size_t msglen)
{
	if (strlen(val) > CONFIG_PATH_MAX) {
		snprintf(msg, msglen, "%s: path too long", k->name);
		return -1;
	}
	config_field_free(cfg, k);
	*(char **)config_field(cfg, k->off) = val[0] ? xstrdup(val) : NULL;
	return 0;
}

/* The one setter of a single value of any type. */
static int config_set_one(struct config *cfg, const struct config_key *k, char *word, char *why,
			  size_t whylen)
{
	union config_elem e;

	memset(&e, 0, sizeof(e));
	if (config_elem_parse(k, word, &e, why, whylen) < 0)
		return -1;
	config_field_free(cfg, k);
	memcpy(config_field(cfg, k->off), &e, config_types[k->type].size);
	return 0;
}

/* The one list parser: every word into one element, or nothing changes; *bad_r is the word
 * that failed. */
static int config_set_list(struct config *cfg, const struct config_key *k, char **words, size_t n,
			   const char **bad_r, char *why, size_t whylen)
{
	const struct config_type_ops *t = &config_types[k->type];
	char *items = xcalloc(n + 1, t->size); /* never NULL: an empty list is set, not unset */

	for (size_t i = 0; i < n; i++) {
		if (config_elem_parse(k, words[i], items + i * t->size, why, whylen) < 0) {
			*bad_r = words[i];
			config_items_free(t, items, i);
			return -1;
		}
	}
	config_field_free(cfg, k);
	memcpy(config_field(cfg, k->off), &items, sizeof(items));
	*(size_t *)config_field(cfg, k->off_n) = n;
	return 0;
}

/* Sets key k from its trimmed value (modified in place). Returns 0, or -1 with msg set to
 * "KEY: 'WORD': reason" (or "KEY: reason"); on error the field is unchanged. */
static int config_set(struct config *cfg, const struct config_key *k, char *val, char *msg,
		      size_t msglen)
{
	char empty[1] = "";
	char why[128], q[80];
	const char *bad = NULL; /* the offending word */
	char **words;
	size_t n;
	int rc;

	if (val[0] == '\0' && !(k->flags & CONFIG_EMPTY_OK)) {
		snprintf(msg, msglen, "%s: empty value", k->name);
		return -1;
	}
	if (k->type == CONFIG_T_PATH)
		return config_set_path(cfg, k, val, msg, msglen);
	words = config_tokens(val, &n);
	if (n == 0 && !(k->flags & CONFIG_EMPTY_OK)) {
		rc = config_why(why, sizeof(why), "empty value");
	} else if (k->flags & CONFIG_LIST) {
		rc = config_set_list(cfg, k, words, n, &bad, why, sizeof(why));
	} else if (n > 1) {
		rc = -1;
		if (config_types[k->type].many)
			config_why(why, sizeof(why), config_types[k->type].many);
		else
			snprintf(why, sizeof(why), "expected one value, got %zu", n);
	} else {
		char *word = n ? words[0] : empty;
		bad = word;
		rc = config_set_one(cfg, k, word, why, sizeof(why));
	}
	if (rc < 0 && bad) {
		config_quote(bad, q, sizeof(q));
		snprintf(msg, msglen, "%s: '%s': %s", k->name, q, why);
	} else if (rc < 0) {
		snprintf(msg, msglen, "%s: %s", k->name, why);
	}
	free(words);
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
		snprintf(msg, msglen, "duplicate key '%s' (first set on line %zu)", k->name,
			 seen[idx]);
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
		pos = 3; /* a UTF-8 byte order mark */
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

	free(cfg->key_lines);
	cfg->key_lines = xcalloc(CONFIG_NKEYS, sizeof(size_t));
	memcpy(cfg->key_lines, seen, sizeof(seen));

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
	if (config_value_domain(name, &why) < 0)
		return xstrdup("localhost");
	if (strchr(name, '.'))
		return xstrdup(name);
	config_fqdn_lookup(name, canon, sizeof(canon));
	if (strchr(canon, '.') && config_value_domain(canon, &why) == 0)
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
	static const char installed[] = MAIL_CONFIG_PATH;

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
	free(cfg->key_lines);
	memset(cfg, 0, sizeof(*cfg));
}

size_t config_key_line(const struct config *cfg, const char *key)
{
	const struct config_key *k = config_key_find(key);
	return k && cfg->key_lines ? cfg->key_lines[k - config_keys] : 0;
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
