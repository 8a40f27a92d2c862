/* smtp_client.h - one outbound SMTP or LMTP transaction with one server address (EHLO or LHLO, STARTTLS, MAIL/RCPT/DATA). */
#ifndef MAIL_SMTP_CLIENT_H
#define MAIL_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "tls.h"
#include "tls_level.h"
#include "tlsrpt.h"

struct tls_ctx;
struct smtp_client;

/* What the TLS policy of a delivery demands of one host (mta/tls_policy.h, relay.c). */
struct smtp_client_tls {
	/* NONE: no STARTTLS; MAY: when offered; ENCRYPT: required; VERIFY and SECURE: required
	 * with a certificate verified for check.names; DANE_ONLY: required, authenticated by
	 * check.tlsa. Other values act as MAY. */
	enum tls_level level;
	struct tls_client_check check;
	const char *policy; /* "verify/file:3": named in reasons */
	bool requiretls;    /* RFC 8689: MAIL FROM ... REQUIRETLS, the host must offer it */
};

/* How a message went (logged as tls=...). */
enum smtp_tls_outcome {
	SMTP_TLS_NONE,     /* plaintext */
	SMTP_TLS_MAY,      /* encrypted, the certificate not authenticated */
	SMTP_TLS_VERIFIED, /* a certificate verified by the CAs for the expected name */
	SMTP_TLS_DANE,     /* a certificate matched by DNSSEC-validated TLSA records */
};
/* "none", "may", "verified", "dane". */
const char *smtp_tls_outcome_name(enum smtp_tls_outcome o);

/* Result for one recipient: code 0 means no answer was obtained (treat as temporary). */
struct smtp_client_result {
	int code;       /* SMTP reply code, or 0 */
	char text[512]; /* "4.2.0 text" as the server said, or our own description */
};

struct smtp_client_job {
	/* input (borrowed; valid until done) */
	const char *helo_name;
	const char *sender; /* "" for <> */
	const char *const *rcpts;
	size_t nrcpts;
	const char *msg; /* CRLF line endings, not dot-stuffed */
	size_t msg_len;
	bool has_8bit;      /* octets >= 0x80: BODY=8BITMIME, or a 7bit downgrade (RFC 6152) */
	bool dkim_signed;   /* a DKIM-Signature: never downgraded (that would break it) */
	bool want_smtputf8; /* the client asked for SMTPUTF8: sent when the server offers it */
	bool need_smtputf8; /* UTF-8 envelope or headers: fails at a server without SMTPUTF8 */
	/* DSN (RFC 3461), passed on when the server offers DSN: per recipient NOTIFY bits
	 * (0 = none) and ORCPT ("type;addr" or NULL), and the message's RET and ENVID. */
	const unsigned *rcpt_notify;
	const char *const *rcpt_orcpt;
	int ret;               /* enum smtp_ret */
	const char *envid;     /* or NULL */
	struct tls_ctx *tls;   /* opportunistic STARTTLS when non-NULL */
	bool keep_open;        /* after a delivered message, keep the connection (reuse) */
	const char *auth_user; /* AUTH PLAIN (over TLS only) when non-NULL: the smarthost */
	const char *auth_password;
	const char *tls_sni;
	bool lmtp; /* LMTP (RFC 2033): LHLO, and one reply per accepted recipient after the data */
	const struct smtp_client_tls *tls_req; /* NULL: opportunistic (may) */
	uint64_t connect_timeout_ms;
	uint64_t command_timeout_ms;
	uint64_t data_timeout_ms;
	/* output */
	bool connected;   /* a TCP connection was made */
	bool host_failed; /* this host could not take the mail (try the next one) */
	bool dsn;         /* the server offered DSN: it took over the notices */
	struct smtp_client_result host_result; /* why, when host_failed */
	struct smtp_client_result *results;    /* nrcpts entries, allocated by the caller */
	char tls_info[160];                    /* "TLSv1.3 with cipher ..." or "" */
	enum smtp_tls_outcome tls_outcome;
	bool tls_policy_failed; /* host_failed because the TLS policy (or REQUIRETLS) was not met */
	/* TLS-RPT (RFC 8460): the new session's result (success or a failure's result type),
	 * TLSRPT_NOT_COUNTED when it did not get as far as EHLO or reused a connection */
	enum tlsrpt_result tls_rpt;
	char remote_name[300];      /* "host[addr]:port" for logs and DSNs */
	struct smtp_client *client; /* keep_open and delivered: the idle connection, which the
					 * caller must reuse, park or quit */
};

/* Runs the transaction against addr (port set). done is called exactly once, later. When
 * the host refuses before any recipient was tried (connection failure, 4xx/5xx greeting
 * or EHLO, timeout), host_failed is set and per-recipient results stay 0. */
void smtp_client_run(uv_loop_t *loop, const struct sockaddr *addr, const char *host_name,
		     struct smtp_client_job *job,
		     void (*done)(struct smtp_client_job *job, void *arg), void *arg);

/* Sends another message on an idle connection (job->client of an earlier job). */
void smtp_client_reuse(struct smtp_client *sc, struct smtp_client_job *job,
		       void (*done)(struct smtp_client_job *job, void *arg), void *arg);
/* Keeps an idle connection for up to idle_ms; idle_closed runs when it goes away (timeout,
 * server close) and after that sc is gone. */
void smtp_client_park(struct smtp_client *sc, uint64_t idle_ms,
		      void (*idle_closed)(struct smtp_client *sc, void *arg), void *arg);
/* Ends an idle connection (QUIT); a parked one's idle_closed runs. */
void smtp_client_quit(struct smtp_client *sc);
const char *smtp_client_name(const struct smtp_client *sc);

/* Dot-stuffs msg into out (CRLF.CRLF terminator appended). Every line ending goes out as CRLF:
 * RFC 5321 2.3.8 lets a client send CR and LF only as CRLF, so a bare CR or bare LF (in a
 * message queued before intake refused them, or put there by a milter) becomes CRLF and
 * "\r.\r" or "\n.\n" can never reach the next hop as an end of data (SMTP smuggling). */
struct buf;
void smtp_client_dot_stuff(const char *msg, size_t len, struct buf *out);

#endif
