/* config.h - the one configuration: CONTRACT key table, defaults, loader with file:line errors. */
#ifndef MAIL_CONFIG_H
#define MAIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "tls_level.h"

#define EX_CONFIG_STATUS 78

/* One "HOST:PORT" (IPv6 as "[::1]:25") listen or connect address. */
struct config_hostport {
	char host[256]; /* no brackets */
	uint16_t port;
};

struct config_hostport_list {
	struct config_hostport *items;
	size_t n;
};

struct config_strlist {
	char **items;
	size_t n;
};

/* A CIDR network: relay_networks entries. */
struct config_cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network address, host bits cleared */
	unsigned prefix;  /* prefix length */
};

enum milter_action { MILTER_ACTION_TEMPFAIL, MILTER_ACTION_REJECT, MILTER_ACTION_ACCEPT };

struct config {
	char *path;                              /* file loaded, or NULL for built-in defaults */
	char *hostname;                          /* default: the machine's FQDN */
	struct config_strlist domains;           /* lower-cased; default "localhost" */
	char *state_dir;                         /* default "./var" */
	char *users_file;                        /* default state_dir/users */
	char *aliases_file;                      /* default NULL */
	struct config_hostport_list smtp_listen; /* default 127.0.0.1:2525; empty list = disabled */
	struct config_hostport_list submission_listen;  /* 127.0.0.1:2587 */
	struct config_hostport_list submissions_listen; /* 127.0.0.1:2465 */
	struct config_hostport_list imap_listen;        /* 127.0.0.1:1143 */
	struct config_hostport_list imaps_listen;       /* 127.0.0.1:1993 */
	char *tls_cert;                                 /* default NULL: generated into state_dir */
	char *tls_key;
	struct config_cidr *relay_networks;
	size_t n_relay_networks;
	struct config_strlist milters;            /* "inet:HOST:PORT" or "unix:PATH", validated */
	enum milter_action milter_default_action; /* default tempfail */
	struct config_hostport_list dns_servers; /* port 53 when omitted; empty = system resolver */
	uint16_t relay_port;                     /* default 25 */
	struct config_hostport
		smarthost;         /* host[0] == 0 when unset; "[host]:port" or "host:port" */
	uint64_t max_message_size; /* bytes, default 35M */
	uint64_t default_quota;    /* storage limit of an account without its own, 0 = none */
	unsigned max_recipients;   /* default 1000 */
	uint64_t queue_lifetime;   /* seconds, default 5d */
	uint64_t *retry_schedule;  /* seconds, default 1m 5m 15m 30m 1h 2h 4h */
	size_t n_retry_schedule;
	char *run_user; /* default "mail" */

	/* Our own keys (documented in CONTRACT.md). */
	uint64_t smtp_timeout;           /* idle/command timeout, default 5m (RFC 5321 4.5.3.2) */
	uint64_t smtp_data_timeout;      /* per-read timeout inside DATA, default 3m */
	unsigned max_connections;        /* default 1000 */
	unsigned max_connections_per_ip; /* default 50 */
	uint64_t
		smtp_greeting_delay; /* milliseconds to wait before the banner (early talkers rejected), default 0 */
	char *recipient_delimiter; /* plus-addressing separator characters, default "+"; "" disables */
	bool submission_sender_check; /* submission: envelope sender and From: must belong to the
					 * authenticated account (or an alias of it), default yes */
	struct config_strlist trusted_users; /* local users whose sendmail -f is honoured, besides
					      * root and run_user (docs/security.md); default none */
	uint64_t relay_connect_timeout;      /* seconds, default 30s */
	uint64_t relay_command_timeout;      /* seconds, default 5m (RFC 5321 4.5.3.2) */
	uint64_t relay_data_timeout;         /* seconds, default 10m (end of DATA) */
	uint64_t auth_failure_delay_max; /* cap of the growing delay after a failed login, 15s */
	unsigned auth_block_failures;   /* more failures than this from one address in 10 min ... */
	uint64_t auth_block_time;       /* ... refuse its logins for this long, default 10m */
	unsigned relay_max_connections; /* outbound connections at once, default 100 */
	unsigned relay_max_per_destination; /* to one domain (or the smarthost), default 10 */
	uint64_t relay_idle_timeout; /* an idle outbound connection waits this long for the next
					 * message to the same destination, default 5s */
	char *smarthost_auth_file;   /* "username:password" for AUTH at the smarthost (over TLS) */
	bool imap_plaintext_auth; /* allow IMAP LOGIN without TLS (benchmarks, trusted LANs), no */
	uint64_t
		delay_warning_time; /* tell the sender once when a message waits this long, 0 = never; 4h */
	/* Per-listener milter lists: items == NULL when unset (the global milters apply); set
	 * but empty means no milters on that listener. */
	struct config_strlist smtp_milters;       /* the MX listener */
	struct config_strlist submission_milters; /* submission and submissions */
	struct config_strlist local_milters;      /* the sendmail command's local socket */
	/* The milter macro {daemon_name}: per listener, else milter_daemon_name, else hostname
	 * (Postfix's $myhostname: rspamd writes it as the authserv-id of Authentication-Results). */
	char *milter_daemon_name;
	char *smtp_milter_daemon_name;
	char *submission_milter_daemon_name; /* e.g. ORIGINATING for OpenDKIM's MTA setting */
	char *local_milter_daemon_name;
	/* A verified login is trusted again for auth_cache_ttl seconds (1h); at most
	 * auth_cache_size (10000) are kept; either 0: no cache. */
	uint64_t auth_cache_ttl;
	unsigned auth_cache_size;
	uint64_t milter_connect_timeout; /* seconds, default 10s */
	uint64_t milter_command_timeout; /* seconds, default 30s: each reply but end of message */
	uint64_t milter_eom_timeout;     /* seconds, default 5m: the reply to end of message */
	char *lmtp_listen;               /* lmtpd: "HOST:PORT" or "unix:/PATH"; NULL: off */
	char *mailbox_routes;  /* file of "address-or-domain: target" lines; NULL: all local */
	bool imap_proxy;       /* imapd forwards each login to its back end from mailbox_routes */
	char *imap_proxy_auth; /* "local" (default) or "backend": who checks proxied passwords */
	struct config_hostport metrics_listen; /* OpenMetrics at /metrics; host[0] == 0: off */
	struct config_hostport http_listen;    /* autoconfig, autodiscover ...; host[0] == 0: off */
	struct config_hostport imap_metrics_listen; /* imapd's, when both read one file */
	bool acme;            /* obtain and renew the certificate of hostname by ACME, no */
	char *acme_directory; /* the ACME server's directory URL (Let's Encrypt's) */
	char *acme_ca_file;   /* CAs trusted for the ACME server's HTTPS; NULL: the system's */
	char *acme_email;     /* account contact; NULL: postmaster@ the first domain */
	char *opendkim_conf;  /* where mailctl dns finds the DKIM key, /etc/opendkim.conf */
	size_t *key_lines;    /* per key of the table: the file line that set it, 0 unset */
	/* Outbound TLS (docs/outbound-tls.md). */
	enum tls_level relay_tls_security; /* default level, may */
	char *relay_tls_policy_file;       /* per-destination levels, NULL: none */
	char *relay_tls_ca_file;           /* CAs for verify/secure, NULL: the system's */
	char *dnssec_trust_anchor;         /* DS/DNSKEY lines, default Debian's root key */
	bool tlsrpt_reports;               /* send TLS-RPT reports (RFC 8460), yes */
	char *tlsrpt_contact; /* their sender and contact-info, NULL: postmaster@hostname */
};

/* Fills cfg with the built-in defaults of CONTRACT.md (cfg is overwritten, not freed). */
void config_defaults(struct config *cfg);

/* Parses a whole configuration text (pure: no I/O, except that "hostname" default and
 * derived paths are filled in by config_finish). name is used in error messages.
 * Returns 0, or -1 with err set to "NAME:LINE: message"; either way cfg stays valid (on error
 * some keys may already be applied) and is released with config_free. */
int config_parse(struct config *cfg, const char *name, const char *text, size_t len, char *err,
		 size_t errlen);

/* Loads path into cfg (defaults first, then the file, then config_finish).
 * Returns 0, or -1 with err set to "PATH:LINE: message" (LINE 0 for an unreadable file);
 * on error cfg is already freed (all zero). */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* Derives defaults that depend on other keys (users_file under state_dir, hostname). */
void config_finish(struct config *cfg);

/* The path a program uses when -c is not given: $MAIL_CONF, else PREFIX/etc/mail.conf if it
 * exists, else NULL (built-in defaults). */
const char *config_default_path(void);

/* Loads per the CONTRACT rules (explicit path, else the default path, else defaults);
 * on error prints the one line to stderr and exits 78. */
void config_load_or_exit(struct config *cfg, const char *path);

/* The line of cfg->path that set key (e.g. "http_listen"), 0 when it was not set there: for
 * a start-up error that belongs to a value (a port in use) as "FILE:LINE: ...". */
size_t config_key_line(const struct config *cfg, const char *key);

/* Frees everything cfg owns and zeroes it; safe to call twice. */
void config_free(struct config *cfg);

/* Helpers used by every program. */
bool config_is_local_domain(const struct config *cfg, const char *domain);
bool config_in_relay_networks(const struct config *cfg, const struct sockaddr *sa);
/* Parses "12k", "35M", "1G" (bytes) and "30s", "5m", "2h", "5d" (seconds; bare number = seconds). */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration(const char *s, uint64_t *out);
/* Parses "500ms", "2s", "1m" into milliseconds (bare number = milliseconds). Returns 0/-1. */
int config_parse_millis(const char *s, uint64_t *out);

/* One milters entry taken apart: what the milter client connects to. */
struct config_milter {
	int family;     /* AF_INET, AF_INET6 or AF_UNIX */
	char host[256]; /* inet/inet6: address or host name, no brackets */
	uint16_t port;  /* inet/inet6 */
	char path[108]; /* unix: absolute socket path */
};

/* Parses "inet:HOST:PORT", "inet:[V6]:PORT", "inet6:HOST:PORT", "inet:PORT@HOST" (Postfix/
 * Sendmail style) or "unix:/PATH" ("local:/PATH"). Entries of cfg->milters are stored
 * normalised as "inet:HOST:PORT", "inet6:HOST:PORT" or "unix:PATH" and always parse.
 * Returns 0, or -1 with *error_r a static description. */
int config_parse_milter(const char *spec, struct config_milter *m, const char **error_r);

/* The syntax of one value (config_values.c), as the keys use it: each returns 0, or -1 with
 * *error_r a static reason (the one the file:line message gives). */
int config_value_count(const char *s, uint64_t *out, const char **error_r); /* digits only */
int config_value_size(const char *s, uint64_t *out, const char **error_r);
int config_value_duration(const char *s, uint64_t *out, const char **error_r);
int config_value_millis(const char *s, uint64_t *out, const char **error_r);
int config_value_port(const char *s, uint16_t *port, const char **error_r); /* 1-65535 */
/* Validates a DNS name (letters, digits, hyphens; labels of 1-63; at most 253), strips one
 * trailing dot and lower-cases it in place. */
int config_value_domain(char *name, const char **error_r);
/* "HOST:PORT", "[HOST]:PORT"; with default_port != 0 also "HOST", "[HOST]" and a bare IPv6
 * address. ip_only refuses host names. */
int config_value_hostport(const char *s, uint16_t default_port, bool ip_only,
			  struct config_hostport *hp, const char **error_r);
/* "ADDR", "ADDR/PREFIX" ("[V6]" too), IPv4 or IPv6; host bits are cleared. */
int config_value_cidr(const char *s, struct config_cidr *c, const char **error_r);

/* The i-th key of the table (NULL past the end); *default_r is its default as written in the
 * file ("" for an empty list), or NULL when there is none or it is derived (hostname,
 * users_file). For documentation checks and "mailctl check". */
const char *config_key(size_t i, const char **default_r);

#endif
