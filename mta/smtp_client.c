/* smtp_client.c - outbound SMTP session state machine: greeting, EHLO/HELO, PIPELINING, MAIL/RCPT/DATA, per-recipient results.
 * Security: replies from the remote server are untrusted; lines are bounded and parsed by common/smtp_proto. */
#include "smtp_client.h"
#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "mime_7bit.h"
#include "net.h"
#include "smtp_proto.h"
#include "sasl.h"
#include "tls.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#define SMTP_CLIENT_REPLY_MAX 16384

enum smtp_client_state {
	SC_GREETING,
	SC_EHLO,
	SC_STARTTLS,
	SC_TLS_HANDSHAKE,
	SC_HELO,
	SC_AUTH,
	SC_MAIL,
	SC_RCPT,
	SC_DATA,
	SC_BODY,
	SC_IDLE,
	SC_QUIT,
	SC_DONE,
};

struct smtp_client {
	struct net_conn *conn;
	struct smtp_client_job *job; /* NULL once reported (idle, or quitting) */
	char remote_name[300];
	void (*idle_closed)(struct smtp_client *sc, void *arg);
	void *idle_arg;
	void (*done)(struct smtp_client_job *, void *);
	void *arg;
	enum smtp_client_state state;
	/* server capabilities */
	bool pipelining, eightbit, smtputf8, starttls, auth_plain, dsn, requiretls;
	enum smtp_tls_outcome tls_outcome; /* of this connection */
	bool authenticated;
	uint64_t size_limit;
	bool size_offered; /* SIZE in the EHLO reply: only then MAIL FROM carries SIZE= */
	/* the reply being read */
	struct buf reply;
	int reply_code;
	/* transaction progress */
	size_t rcpt_next; /* index of the recipient whose reply comes next */
	size_t accepted;
	bool mail_failed;
	bool final_seen;      /* the reply to the end of the message arrived */
	size_t lmtp_answered; /* LMTP: accepted recipients whose reply to the data arrived */
	bool downgraded;      /* the message goes as body7 (converted to 7bit) */
	struct buf body7;
	bool finished;
};

static void sc_finish(struct smtp_client *sc, const char *why);
static void sc_send(struct smtp_client *sc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

const char *smtp_tls_outcome_name(enum smtp_tls_outcome o)
{
	switch (o) {
	case SMTP_TLS_MAY:
		return "may";
	case SMTP_TLS_VERIFIED:
		return "verified";
	case SMTP_TLS_DANE:
		return "dane";
	case SMTP_TLS_NONE:
		break;
	}
	return "none";
}

static enum tls_level sc_tls_level(const struct smtp_client_job *job)
{
	return job->tls_req ? job->tls_req->level : TLS_LEVEL_MAY;
}

/* Hands the job's results to the caller, once. */
static void sc_report(struct smtp_client *sc)
{
	struct smtp_client_job *job = sc->job;
	if (!job)
		return;
	sc->job = NULL;
	sc->done(job, sc->arg);
}

static void sc_set(struct smtp_client_result *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void sc_set(struct smtp_client_result *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	r->code = code;
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* The host failed before recipients were tried: next MX. */
static void sc_host_fail(struct smtp_client *sc, int code, const char *text)
{
	sc->job->host_failed = true;
	sc_set(&sc->job->host_result, code, "%s", text);
	sc_finish(sc, "host failed");
}

/* The host does not meet the TLS policy: next MX, never plaintext. A REQUIRETLS message
 * fails with 5.7.10 once no host is left (relay.c); others defer with 4.7.5. */
static void sc_tls_fail(struct smtp_client *sc, enum tlsrpt_result rpt, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void sc_tls_fail(struct smtp_client *sc, enum tlsrpt_result rpt, const char *fmt, ...)
{
	char why[300], t[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	const struct smtp_client_tls *req = sc->job->tls_req;
	snprintf(t, sizeof(t), "%s %.300s: %s (TLS policy %.60s)",
		 req && req->requiretls ? "5.7.10" : "4.7.5", sc->job->remote_name, why,
		 req && req->policy ? req->policy : "may");
	log_warn("%s", t);
	sc->job->tls_policy_failed = true;
	sc->job->tls_rpt = rpt;
	if (sc->conn && sc->state != SC_TLS_HANDSHAKE)
		sc_send(sc, "QUIT");
	sc_host_fail(sc, 0, t);
}

/* Every recipient without a result gets this one. */
static void sc_fail_open(struct smtp_client *sc, int code, const char *text)
{
	size_t accepted_seen = 0;
	for (size_t i = 0; i < sc->job->nrcpts; i++) {
		struct smtp_client_result *r = &sc->job->results[i];
		/* accepted at RCPT but no final answer to the message: not delivered (LMTP: the
		 * first lmtp_answered accepted recipients had theirs) */
		bool tentative = r->code / 100 == 2 && !sc->final_seen;
		if (sc->job->lmtp && r->code / 100 == 2 && sc->state == SC_BODY)
			tentative = accepted_seen++ >= sc->lmtp_answered;
		if (r->code == 0 || tentative)
			sc_set(r, code, "%s", text);
	}
}

static void sc_send(struct smtp_client *sc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sc_send(struct smtp_client *sc, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	net_conn_write(sc->conn, line, (size_t)n);
}

void smtp_client_dot_stuff(const char *msg, size_t len, struct buf *out)
{
	size_t pos = 0;
	bool line_start = true;
	buf_reserve(out, len + len / 64 + 8);
	while (pos < len) {
		if (line_start && msg[pos] == '.')
			buf_append(out, ".", 1);
		const char *cr = memchr(msg + pos, '\r', len - pos);
		size_t k = cr ? (size_t)(cr - (msg + pos)) : len - pos;
		const char *lf = memchr(msg + pos, '\n', k);
		if (lf)
			k = (size_t)(lf - (msg + pos));
		buf_append(out, msg + pos, k);
		pos += k;
		if (pos == len) {
			line_start = false;
			break;
		}
		/* CRLF, a bare CR or a bare LF: each goes out as one CRLF */
		buf_append(out, "\r\n", 2);
		pos += msg[pos] == '\r' && pos + 1 < len && msg[pos + 1] == '\n' ? 2 : 1;
		line_start = true;
	}
	if (len > 0 && !line_start)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
}

/* RCPT TO for recipient i, with NOTIFY and ORCPT (xtext) when the server offers DSN. */
static void sc_send_rcpt(struct smtp_client *sc, size_t i)
{
	struct smtp_client_job *job = sc->job;
	struct buf params;
	buf_init(&params);
	buf_append_str(&params, "");
	if (sc->dsn && job->rcpt_notify && job->rcpt_notify[i]) {
		char notify[32];
		smtp_notify_format(job->rcpt_notify[i], notify, sizeof(notify));
		buf_printf(&params, " NOTIFY=%s", notify);
	}
	const char *orcpt = sc->dsn && job->rcpt_orcpt ? job->rcpt_orcpt[i] : NULL;
	const char *semi = orcpt ? strchr(orcpt, ';') : NULL;
	if (semi) {
		struct buf v;
		buf_init(&v);
		buf_printf(&v, "%.*s;", (int)(semi - orcpt), orcpt);
		if (semi - orcpt == 5 && strncasecmp(orcpt, "utf-8", 5) == 0)
			smtp_utf8_addr_xtext_encode(&v, semi + 1, strlen(semi + 1));
		else
			smtp_xtext_encode(&v, semi + 1, strlen(semi + 1));
		/* RFC 3461 4.2: at most 500 characters; a longer one is left out, not cut */
		if (v.len <= 500)
			buf_printf(&params, " ORCPT=%s", v.data);
		buf_free(&v);
	}
	sc_send(sc, "RCPT TO:<%s>%s", job->rcpts[i], params.data);
	buf_free(&params);
}

static void sc_send_mail(struct smtp_client *sc)
{
	struct smtp_client_job *job = sc->job;
	char params[400] = "";
	job->dsn = sc->dsn;
	if (sc->dsn) {
		struct buf b;
		buf_init(&b);
		buf_append_str(&b, "");
		if (job->ret)
			buf_printf(&b, " RET=%s", job->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
		if (job->envid && job->envid[0]) {
			buf_append_str(&b, " ENVID=");
			smtp_xtext_encode(&b, job->envid, strlen(job->envid));
		}
		snprintf(params, sizeof(params), "%s", b.data);
		buf_free(&b);
	}
	if (sc->size_offered || sc->eightbit || sc->smtputf8) {
		size_t n = strlen(params);
		/* RFC 1870: SIZE= only to a server that offers SIZE (Dovecot's LMTP refuses it). */
		if (sc->state != SC_HELO && sc->size_offered)
			n += (size_t)snprintf(params + n, sizeof(params) - n, " SIZE=%zu",
					      sc->downgraded ? sc->body7.len : job->msg_len);
		if (job->has_8bit && sc->eightbit)
			n += (size_t)snprintf(params + n, sizeof(params) - n, " BODY=8BITMIME");
		if (job->want_smtputf8 && sc->smtputf8)
			snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
	}
	if (job->tls_req && job->tls_req->requiretls) {
		size_t n = strlen(params);
		snprintf(params + n, sizeof(params) - n, " REQUIRETLS");
	}
	sc->state = SC_MAIL;
	sc_send(sc, "MAIL FROM:<%s>%s", job->sender, params);
	if (sc->pipelining) {
		for (size_t i = 0; i < job->nrcpts; i++)
			sc_send_rcpt(sc, i);
		sc_send(sc, "DATA");
	}
}

static void sc_after_ehlo(struct smtp_client *sc)
{
	struct smtp_client_job *job = sc->job;
	job->tls_outcome = sc->tls_outcome;
	/* Every way here (EHLO, a HELO after EHLO was refused, AUTH, a reused connection) meets
	 * the policy: no TLS where it is required means no mail, never plaintext. */
	enum tls_level level = sc_tls_level(job);
	if (!sc->conn->tls && level >= TLS_LEVEL_ENCRYPT && level != TLS_LEVEL_DANE) {
		sc_tls_fail(sc, TLSRPT_STARTTLS_NOT_SUPPORTED,
			    "TLS is required and the host does not offer STARTTLS");
		return;
	}
	if (job->tls_req && job->tls_req->requiretls && !sc->requiretls) {
		sc_tls_fail(sc, job->tls_rpt,
			    "the message requires TLS (REQUIRETLS) and the host does not "
			    "offer REQUIRETLS");
		return;
	}
	if (job->auth_user && !sc->authenticated) {
		/* Credentials only ever go over TLS. */
		if (!sc->conn->tls || !sc->auth_plain) {
			char t[600];
			snprintf(t, sizeof(t), "4.7.0 %s: %s", job->remote_name,
				 !sc->conn->tls ? "no TLS: refusing to send credentials"
						: "AUTH PLAIN is not offered");
			sc_host_fail(sc, 0, t);
			return;
		}
		struct buf b;
		buf_init(&b);
		sasl_plain_encode(&b, "", job->auth_user, job->auth_password);
		sc->state = SC_AUTH;
		buf_append_str(&b, "");
		sc_send(sc, "AUTH PLAIN %s", b.data);
		explicit_bzero(b.data, b.len);
		buf_free(&b);
		return;
	}
	if (job->need_smtputf8 && !sc->smtputf8) {
		for (size_t i = 0; i < job->nrcpts; i++)
			sc_set(&job->results[i], 553,
			       "5.6.7 the message needs SMTPUTF8 and %s does not support it",
			       job->remote_name);
		sc->state = SC_QUIT;
		sc_send(sc, "QUIT");
		return;
	}
	sc->downgraded = false;
	if (job->has_8bit && !sc->eightbit) {
		/* RFC 6152 3: convert to 7bit (quoted-printable) where that is possible without
		 * breaking a signature; else the message cannot go this way. */
		const char *why = NULL;
		buf_reset(&sc->body7);
		if (job->dkim_signed)
			why = "message has 8-bit content and a DKIM signature";
		else if (mime_downgrade_7bit(job->msg, job->msg_len, &sc->body7, &why) == 0)
			sc->downgraded = true;
		if (!sc->downgraded) {
			for (size_t i = 0; i < job->nrcpts; i++)
				sc_set(&job->results[i], 554,
				       "5.6.3 %s; the next hop does not support 8BITMIME (%s)", why,
				       job->remote_name);
			sc->state = SC_QUIT;
			sc_send(sc, "QUIT");
			return;
		}
		log_info("%s: 8-bit message converted to 7bit (quoted-printable) for a server "
			 "without 8BITMIME",
			 job->remote_name);
	}
	if (sc->size_limit && (sc->downgraded ? sc->body7.len : job->msg_len) > sc->size_limit) {
		for (size_t i = 0; i < job->nrcpts; i++)
			sc_set(&job->results[i], 552,
			       "5.3.4 message too big for %s (limit %" PRIu64 ")", job->remote_name,
			       sc->size_limit);
		sc->state = SC_QUIT;
		sc_send(sc, "QUIT");
		return;
	}
	sc_send_mail(sc);
}

static void sc_parse_ehlo(struct smtp_client *sc, const char *text)
{
	/* text holds the reply lines separated by '\n', each without its code. */
	const char *p = text;
	bool first = true;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (!first) {
			if (l >= 10 && strncasecmp(p, "PIPELINING", 10) == 0)
				sc->pipelining = true;
			else if (l >= 8 && strncasecmp(p, "8BITMIME", 8) == 0)
				sc->eightbit = true;
			else if (l >= 8 && strncasecmp(p, "SMTPUTF8", 8) == 0)
				sc->smtputf8 = true;
			else if (l == 3 && strncasecmp(p, "DSN", 3) == 0)
				sc->dsn = true;
			else if (l == 10 && strncasecmp(p, "REQUIRETLS", 10) == 0)
				sc->requiretls = true;
			else if (l >= 8 && strncasecmp(p, "STARTTLS", 8) == 0)
				sc->starttls = true;
			else if (l >= 5 && strncasecmp(p, "AUTH", 4) == 0 &&
				 (p[4] == ' ' || p[4] == '=')) {
				for (size_t k = 5; k + 5 <= l; k++)
					if (strncasecmp(p + k, "PLAIN", 5) == 0 &&
					    (k + 5 == l || p[k + 5] == ' ') && p[k - 1] == ' ')
						sc->auth_plain = true;
			} else if (l >= 4 && strncasecmp(p, "SIZE", 4) == 0 &&
				   (l == 4 || p[4] == ' ')) {
				sc->size_offered = true;
				sc->size_limit = l > 5 ? strtoull(p + 5, NULL, 10) : 0;
			}
		}
		first = false;
		p += l + (nl ? 1 : 0);
	}
}

/* LMTP (RFC 2033 4.2): after the data, one reply per recipient accepted at RCPT, in order. */
static void sc_lmtp_reply(struct smtp_client *sc, int code, const char *first)
{
	struct smtp_client_job *job = sc->job;
	size_t k = 0;
	for (size_t i = 0; i < job->nrcpts; i++) {
		if (job->results[i].code / 100 != 2)
			continue;
		if (k++ < sc->lmtp_answered)
			continue;
		if (code / 100 == 2)
			sc_set(&job->results[i], code, "%s said: %d %s", job->remote_name, code,
			       first);
		else
			sc_set(&job->results[i], code, "%s said: %d %s (in reply to end of DATA)",
			       job->remote_name, code, first);
		break;
	}
	if (++sc->lmtp_answered < sc->accepted)
		return;
	sc->final_seen = true;
	if (job->keep_open) {
		/* The session is intact whatever each recipient's answer: reuse it. */
		sc->state = SC_IDLE;
		job->client = sc;
		sc_report(sc);
		return;
	}
	sc->state = SC_QUIT;
	net_conn_set_timeout(sc->conn, job->command_timeout_ms);
	sc_send(sc, "QUIT");
}

static void sc_handle_reply(struct smtp_client *sc, int code, const char *text)
{
	struct smtp_client_job *job = sc->job;
	char first[512];
	size_t fl = strcspn(text, "\n");
	snprintf(first, sizeof(first), "%.*s", (int)(fl < 500 ? fl : 500), text);

	switch (sc->state) {
	case SC_GREETING:
		if (code != 220) {
			char t[900];
			snprintf(t, sizeof(t), "%s said: %d %.250s", job->remote_name, code, first);
			sc_host_fail(sc, code, t);
			return;
		}
		sc->state = SC_EHLO;
		sc_send(sc, "%s %s", job->lmtp ? "LHLO" : "EHLO", job->helo_name);
		return;
	case SC_EHLO:
		if (code / 100 == 2) {
			sc->pipelining = sc->eightbit = sc->smtputf8 = sc->starttls =
				sc->auth_plain = sc->dsn = sc->requiretls = false;
			sc->size_limit = 0;
			sc->size_offered = false;
			sc_parse_ehlo(sc, text);
			if (!sc->conn->tls && sc_tls_level(job) != TLS_LEVEL_NONE && sc->starttls &&
			    job->tls) {
				/* plaintext only when STARTTLS is not offered, and the policy
				 * allows it (sc_after_ehlo) */
				sc->state = SC_STARTTLS;
				sc_send(sc, "STARTTLS");
				return;
			}
			if (!sc->conn->tls) {
				metric_inc(MET_RELAY_TLS, "plaintext", NULL);
				if (sc_tls_level(job) != TLS_LEVEL_NONE)
					job->tls_rpt = TLSRPT_STARTTLS_NOT_SUPPORTED;
			}
			sc_after_ehlo(sc);
		} else if (code / 100 == 5 && !job->lmtp) {
			sc->state = SC_HELO;
			sc_send(sc, "HELO %s", job->helo_name);
		} else {
			char t[900];
			snprintf(t, sizeof(t), "%s said: %d %.250s (in reply to %s)",
				 job->remote_name, code, first, job->lmtp ? "LHLO" : "EHLO");
			sc_host_fail(sc, code, t);
		}
		return;
	case SC_STARTTLS:
		if (code != 220) {
			char t[900];
			snprintf(t, sizeof(t), "%s offered STARTTLS but said: %d %.250s",
				 job->remote_name, code, first);
			sc_host_fail(sc, code / 100 == 5 ? 0 : code, t);
			return;
		}
		sc->state = SC_TLS_HANDSHAKE;
		if (net_conn_start_tls_client_checked(sc->conn, job->tls, job->tls_sni,
						      job->tls_req ? &job->tls_req->check : NULL) <
		    0)
			sc_tls_fail(sc, TLSRPT_VALIDATION_FAILURE, "cannot start TLS");
		return;
	case SC_TLS_HANDSHAKE:
		return; /* nothing may arrive in plaintext after our STARTTLS */
	case SC_AUTH:
		if (code != 235) {
			char t[900];
			snprintf(t, sizeof(t), "%s said: %d %.250s (in reply to AUTH)",
				 job->remote_name, code, first);
			sc_host_fail(sc, code / 100 == 5 ? 0 : code, t);
			return;
		}
		sc->authenticated = true;
		sc_after_ehlo(sc);
		return;
	case SC_HELO:
		if (code / 100 != 2) {
			char t[900];
			snprintf(t, sizeof(t), "%s said: %d %.250s (in reply to HELO)",
				 job->remote_name, code, first);
			sc_host_fail(sc, code, t);
			return;
		}
		sc_after_ehlo(sc);
		return;
	case SC_MAIL:
		if (code / 100 != 2) {
			sc->mail_failed = true;
			for (size_t i = 0; i < job->nrcpts; i++)
				sc_set(&job->results[i], code,
				       "%s said: %d %s (in reply to MAIL FROM)", job->remote_name,
				       code, first);
			if (!sc->pipelining) {
				sc->state = SC_QUIT;
				sc_send(sc, "QUIT");
				return;
			}
		}
		sc->state = SC_RCPT;
		sc->rcpt_next = 0;
		if (!sc->pipelining)
			sc_send_rcpt(sc, 0);
		return;
	case SC_RCPT: {
		size_t i = sc->rcpt_next++;
		if (!sc->mail_failed) {
			if (code / 100 == 2) {
				sc->accepted++;
				sc_set(&job->results[i], code, "accepted");
			} else {
				sc_set(&job->results[i], code,
				       "%s said: %d %s (in reply to RCPT TO)", job->remote_name,
				       code, first);
			}
		}
		if (sc->rcpt_next < job->nrcpts) {
			if (!sc->pipelining)
				sc_send_rcpt(sc, sc->rcpt_next);
			return;
		}
		sc->state = SC_DATA;
		if (!sc->pipelining) {
			if (sc->accepted == 0) {
				sc->state = SC_QUIT;
				sc_send(sc, "QUIT");
				return;
			}
			sc_send(sc, "DATA");
		}
		return;
	}
	case SC_DATA:
		if (code == 354) {
			if (sc->accepted == 0) {
				/* RFC 2920: all recipients failed but DATA was accepted: empty body. */
				sc->state = SC_BODY;
				sc->accepted = 0;
				net_conn_write(sc->conn, ".\r\n", 3);
				return;
			}
			struct buf body;
			buf_init(&body);
			if (sc->downgraded)
				smtp_client_dot_stuff(sc->body7.data, sc->body7.len, &body);
			else
				smtp_client_dot_stuff(job->msg, job->msg_len, &body);
			net_conn_write(sc->conn, body.data, body.len);
			buf_free(&body);
			sc->state = SC_BODY;
			net_conn_set_timeout(sc->conn, job->data_timeout_ms);
			return;
		}
		if (sc->accepted > 0) {
			for (size_t i = 0; i < job->nrcpts; i++)
				if (job->results[i].code / 100 == 2)
					sc_set(&job->results[i], code,
					       "%s said: %d %s (in reply to DATA)",
					       job->remote_name, code, first);
		}
		sc->state = SC_QUIT;
		sc_send(sc, "QUIT");
		return;
	case SC_BODY:
		if (job->lmtp) {
			sc_lmtp_reply(sc, code, first);
			return;
		}
		sc->final_seen = true;
		for (size_t i = 0; i < job->nrcpts; i++) {
			if (job->results[i].code / 100 != 2)
				continue;
			if (code / 100 == 2)
				sc_set(&job->results[i], code, "%s said: %d %s", job->remote_name,
				       code, first);
			else
				sc_set(&job->results[i], code,
				       "%s said: %d %s (in reply to end of DATA)", job->remote_name,
				       code, first);
		}
		if (job->keep_open && code / 100 == 2) {
			/* The caller may send another message on this connection. */
			sc->state = SC_IDLE;
			job->client = sc;
			sc_report(sc);
			return;
		}
		sc->state = SC_QUIT;
		net_conn_set_timeout(sc->conn, job->command_timeout_ms);
		sc_send(sc, "QUIT");
		return;
	case SC_IDLE:
		return; /* unsolicited (e.g. 421 before closing): the close follows */
	case SC_QUIT:
		sc_finish(sc, "quit");
		return;
	case SC_DONE:
		return;
	}
}

static void sc_on_read(struct net_conn *c)
{
	struct smtp_client *sc = c->data;
	while (c->in.len && sc->state != SC_DONE) {
		if (!sc->job && sc->state != SC_QUIT && sc->state != SC_IDLE) {
			sc_finish(sc, "unexpected input");
			return;
		}
		const char *nl = memchr(c->in.data, '\n', c->in.len);
		if (!nl) {
			if (c->in.len > 2048 || sc->reply.len > SMTP_CLIENT_REPLY_MAX) {
				if (!sc->job) {
					sc_finish(sc, "reply too long");
					return;
				}
				sc_fail_open(sc, 451,
					     "4.5.0 reply line too long from remote server");
				sc_host_fail(sc, 451,
					     "4.5.0 reply line too long from remote server");
			}
			return;
		}
		size_t len = (size_t)(nl - c->in.data);
		size_t l = len && c->in.data[len - 1] == '\r' ? len - 1 : len;
		int code;
		const char *text;
		size_t tlen;
		int r = smtp_reply_line_parse(c->in.data, l, &code, &text, &tlen);
		if (r < 0) {
			buf_consume(&c->in, len + 1);
			if (!sc->job)
				sc_finish(sc, "malformed reply");
			else
				sc_host_fail(sc, 451, "4.5.0 malformed reply from remote server");
			return;
		}
		if (sc->reply.len)
			buf_append(&sc->reply, "\n", 1);
		buf_append(&sc->reply, text, tlen);
		buf_consume(&c->in, len + 1);
		if (sc->reply.len > SMTP_CLIENT_REPLY_MAX) {
			if (!sc->job)
				sc_finish(sc, "reply too long");
			else
				sc_host_fail(sc, 451, "4.5.0 reply too long from remote server");
			return;
		}
		if (r == 0)
			continue; /* continuation line */
		char *copy = buf_steal(&sc->reply, NULL);
		sc_handle_reply(sc, code, copy ? copy : "");
		free(copy);
		if (sc->state != SC_DONE && sc->state != SC_IDLE && sc->job)
			net_conn_set_timeout(c, sc->state == SC_BODY ? sc->job->data_timeout_ms
								     : sc->job->command_timeout_ms);
	}
}

static void sc_on_timeout(struct net_conn *c)
{
	struct smtp_client *sc = c->data;
	char t[400];
	if (sc->state == SC_IDLE) {
		smtp_client_quit(sc);
		return;
	}
	if (!sc->job) {
		sc_finish(sc, "timeout");
		return;
	}
	snprintf(t, sizeof(t), "4.4.2 conversation with %s timed out", sc->job->remote_name);
	if (sc->state <= SC_AUTH) {
		sc_host_fail(sc, 0, t);
		return;
	}
	sc_fail_open(sc, 0, t);
	sc_finish(sc, "timeout");
}

static void sc_on_close(struct net_conn *c, const char *reason)
{
	struct smtp_client *sc = c->data;
	if (!sc)
		return;
	sc->conn = NULL;
	if (sc->state == SC_IDLE && sc->idle_closed) {
		sc->state = SC_DONE;
		sc->idle_closed(sc, sc->idle_arg);
	} else if (sc->state != SC_DONE && !sc->job) {
		sc->state = SC_DONE;
	}
	if (sc->state != SC_DONE) {
		char t[400];
		snprintf(t, sizeof(t), "4.4.2 lost connection with %s (%s)", sc->job->remote_name,
			 reason);
		if (sc->state == SC_TLS_HANDSHAKE) {
			metric_inc(MET_RELAY_TLS, "failed", NULL);
			sc->job->tls_rpt = TLSRPT_VALIDATION_FAILURE;
		}
		if (sc->state <= SC_AUTH) {
			sc->job->host_failed = true;
			sc_set(&sc->job->host_result, 0, "%s", t);
		} else if (sc->state != SC_QUIT) {
			sc_fail_open(sc, 0, t);
		}
		sc_finish(sc, reason);
	}
	buf_free(&sc->reply);
	buf_free(&sc->body7);
	free(sc);
}

static void sc_on_tls_ready(struct net_conn *c)
{
	struct smtp_client *sc = c->data;
	snprintf(sc->job->tls_info, sizeof(sc->job->tls_info), "%s", tls_session_summary(c->tls));
	metric_inc(MET_RELAY_TLS, "tls", NULL);
	enum tls_peer_trust trust = tls_session_peer_trust(c->tls);
	bool dane = tls_session_dane_verified(c->tls);
	log_info("%s: TLS established: %s (%s)", sc->job->remote_name, sc->job->tls_info,
		 dane ? "DANE" : tls_peer_trust_name(trust));
	sc->tls_outcome = dane                         ? SMTP_TLS_DANE
			  : trust == TLS_PEER_VERIFIED ? SMTP_TLS_VERIFIED
						       : SMTP_TLS_MAY;
	sc->job->tls_outcome = sc->tls_outcome;
	enum tls_level level = sc_tls_level(sc->job);
	const char *verr = tls_session_verify_error(c->tls);
	/* TLS-RPT (RFC 8460 4.3.1): how the certificate fared, whatever the policy required */
	sc->job->tls_rpt = dane || trust == TLS_PEER_VERIFIED ? TLSRPT_SUCCESS
			   : level == TLS_LEVEL_DANE_ONLY     ? TLSRPT_VALIDATION_FAILURE
			   : trust == TLS_PEER_TRUSTED        ? TLSRPT_CERTIFICATE_HOST_MISMATCH
			   : tls_session_cert_expired(c->tls) ? TLSRPT_CERTIFICATE_EXPIRED
							      : TLSRPT_CERTIFICATE_NOT_TRUSTED;
	if (level == TLS_LEVEL_DANE_ONLY && !dane) {
		sc_tls_fail(sc, sc->job->tls_rpt,
			    "the certificate does not match the TLSA records of _25._tcp.%s (%s)",
			    sc->job->tls_req->check.dane_base ? sc->job->tls_req->check.dane_base
							      : "?",
			    verr[0] ? verr : "no match");
		return;
	}
	if ((level == TLS_LEVEL_VERIFY || level == TLS_LEVEL_SECURE) &&
	    trust != TLS_PEER_VERIFIED) {
		const struct tls_client_check *chk = &sc->job->tls_req->check;
		sc_tls_fail(sc, sc->job->tls_rpt, "the certificate is not verified for %s (%s: %s)",
			    chk->n_names ? chk->names[0] : sc->job->tls_sni,
			    tls_peer_trust_name(trust), verr[0] ? verr : "no name given");
		return;
	}
	/* RFC 3207 4.2: start over with EHLO (LHLO). */
	sc->state = SC_EHLO;
	sc_send(sc, "%s %s", sc->job->lmtp ? "LHLO" : "EHLO", sc->job->helo_name);
}

static const struct net_conn_ops sc_ops = {
	.on_read = sc_on_read,
	.on_timeout = sc_on_timeout,
	.on_close = sc_on_close,
	.on_tls_ready = sc_on_tls_ready,
};

/* Reports the result once; the connection is closed (and sc freed in on_close). */
static void sc_finish(struct smtp_client *sc, const char *why)
{
	if (sc->state == SC_DONE)
		return;
	sc->state = SC_DONE;
	sc->finished = true;
	log_debug("smtp client %s: done (%s)", sc->remote_name, why);
	sc_report(sc);
	if (sc->conn)
		net_conn_close(sc->conn, why);
}

static void sc_connected(struct net_conn *c, int status)
{
	struct smtp_client *sc = c->data;
	if (status < 0) {
		char t[400];
		snprintf(t, sizeof(t), "4.4.1 connect to %s: %s", sc->job->remote_name,
			 uv_strerror(status));
		sc->conn = NULL;
		sc->job->host_failed = true;
		sc_set(&sc->job->host_result, 0, "%s", t);
		sc->state = SC_DONE;
		sc->done(sc->job, sc->arg);
		buf_free(&sc->reply);
		buf_free(&sc->body7);
		free(sc);
		return;
	}
	sc->job->connected = true;
	net_conn_set_timeout(c, sc->job->command_timeout_ms);
}

void smtp_client_reuse(struct smtp_client *sc, struct smtp_client_job *job,
		       void (*done)(struct smtp_client_job *job, void *arg), void *arg)
{
	sc->job = job;
	sc->done = done;
	sc->arg = arg;
	sc->idle_closed = NULL;
	sc->rcpt_next = 0;
	sc->accepted = 0;
	sc->mail_failed = false;
	sc->final_seen = false;
	sc->lmtp_answered = 0;
	job->host_failed = false;
	job->connected = true;
	job->client = NULL;
	memset(&job->host_result, 0, sizeof(job->host_result));
	for (size_t i = 0; i < job->nrcpts; i++)
		memset(&job->results[i], 0, sizeof(job->results[i]));
	snprintf(job->remote_name, sizeof(job->remote_name), "%s", sc->remote_name);
	if (sc->conn && sc->conn->tls)
		snprintf(job->tls_info, sizeof(job->tls_info), "%s",
			 tls_session_summary(sc->conn->tls));
	job->tls_outcome = sc->tls_outcome;
	job->tls_policy_failed = false;
	job->tls_rpt = TLSRPT_NOT_COUNTED; /* the session was counted with its first message */
	net_conn_set_timeout(sc->conn, job->command_timeout_ms);
	sc->state = SC_EHLO; /* capabilities are known: straight to MAIL */
	sc_after_ehlo(sc);
	net_conn_flush(sc->conn);
}

void smtp_client_park(struct smtp_client *sc, uint64_t idle_ms,
		      void (*idle_closed)(struct smtp_client *sc, void *arg), void *arg)
{
	sc->idle_closed = idle_closed;
	sc->idle_arg = arg;
	net_conn_set_timeout(sc->conn, idle_ms);
}

void smtp_client_quit(struct smtp_client *sc)
{
	void (*idle_closed)(struct smtp_client *, void *) = sc->idle_closed;
	sc->idle_closed = NULL;
	sc->state = SC_QUIT;
	if (sc->conn) {
		net_conn_set_timeout(sc->conn, 10000);
		sc_send(sc, "QUIT");
		net_conn_flush(sc->conn);
	}
	if (idle_closed)
		idle_closed(sc, sc->idle_arg);
}

const char *smtp_client_name(const struct smtp_client *sc)
{
	return sc->remote_name;
}

void smtp_client_run(uv_loop_t *loop, const struct sockaddr *addr, const char *host_name,
		     struct smtp_client_job *job,
		     void (*done)(struct smtp_client_job *job, void *arg), void *arg)
{
	struct smtp_client *sc = xcalloc(1, sizeof(*sc));
	sc->job = job;
	sc->done = done;
	sc->arg = arg;
	sc->state = SC_GREETING;
	buf_init(&sc->reply);
	buf_init(&sc->body7);
	job->host_failed = false;
	job->connected = false;
	job->tls_outcome = SMTP_TLS_NONE;
	job->tls_policy_failed = false;
	job->tls_rpt = TLSRPT_NOT_COUNTED;
	job->tls_info[0] = '\0';
	memset(&job->host_result, 0, sizeof(job->host_result));
	for (size_t i = 0; i < job->nrcpts; i++)
		memset(&job->results[i], 0, sizeof(job->results[i]));
	char ip[64] = "";
	uint16_t port = 0;
	if (addr->sa_family == AF_UNIX) {
		/* LMTP to a unix socket: named by its path. */
		snprintf(job->remote_name, sizeof(job->remote_name), "unix:%s",
			 ((const struct sockaddr_un *)addr)->sun_path);
		snprintf(sc->remote_name, sizeof(sc->remote_name), "%s", job->remote_name);
		sc->conn = net_connect(loop, addr, job->connect_timeout_ms, &sc_ops, sc,
				       sc_connected);
		return;
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)addr;
		uv_ip6_name(s6, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)addr;
		uv_ip4_name(s4, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
	}
	snprintf(job->remote_name, sizeof(job->remote_name), "%s[%s]:%u", host_name, ip, port);
	snprintf(sc->remote_name, sizeof(sc->remote_name), "%s", job->remote_name);
	sc->conn = net_connect(loop, addr, job->connect_timeout_ms, &sc_ops, sc, sc_connected);
}
