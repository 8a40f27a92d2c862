/* smtp_server.c - inbound SMTP session: state machine, command table, replies, DATA/BDAT, queue hand-off.
 * Owns struct smtp_session and its transaction; the queue owns the bytes once committed.
 * Security: reads hostile network input; all parsing goes through common/smtp_proto and addr. */
#include "smtp_server.h"
#include "smtp_session.h"
#include "deliver.h"
#include "log.h"
#include "milter.h"
#include "queue.h"
#include "rfc5322.h"
#include "scheduler.h"
#include "smtp_proto.h"
#include "tls.h"
#include "xalloc.h"

#include <ctype.h>
#include <pwd.h>
#include <errno.h>
#include <netdb.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SMTP_MAX_ERRORS 20
#define SMTP_MAX_RECEIVED 30
#define SMTP_AUTH_LINE_MAX 12288	/* RFC 4954 4 */
#define SMTP_COMMANDS_PER_TURN 64
#define SMTP_DATA_MEMORY_MAX ((size_t)1 << 30)	/* all sessions' message buffers together */

static const char *const smtp_state_names[] = {
	"greeting", "connected", "helo", "mail", "rcpt", "data", "bdat", "commit", "auth", "quit",
};

void smtp_enter_state(struct smtp_session *s, enum smtp_state st)
{
	log_debug("smtp %" PRIu64 ": %s -> %s", s->conn ? s->conn->id : 0, smtp_state_names[s->state],
		  smtp_state_names[st]);
	s->state = st;
}

/* Writes one reply line (CRLF added). */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char line[1024];
	int n;
	size_t fixed = strcspn(fmt, "%");
	if (fmt[fixed] == '\0' && fixed < sizeof(line) - 2) {	/* a fixed reply: no printf */
		memcpy(line, fmt, fixed);
		n = (int)fixed;
	} else {
		va_list ap;
		va_start(ap, fmt);
		n = str_vformat(line, sizeof(line) - 2, fmt, ap);
		va_end(ap);
	}
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	if (s->conn)
		net_conn_write(s->conn, line, (size_t)n);
}

/* An error reply that counts towards the session's error limit. */
void smtp_error_reply(struct smtp_session *s, int code, const char *enh, const char *text)
{
	smtp_reply(s, "%d %s %s", code, enh, text);
	if (++s->errors >= SMTP_MAX_ERRORS) {
		smtp_reply(s, "421 4.7.0 %s Error: too many errors", s->m->cfg->hostname);
		smtp_enter_state(s, SMTP_STATE_QUIT);
		net_conn_close(s->conn, "too many errors");
	}
}

/* Makes client text safe for logs and headers: printable ASCII, no parentheses. */
static void smtp_printable(char *dst, size_t dstlen, const char *src)
{
	size_t j = 0;
	for (size_t i = 0; src[i] && j + 1 < dstlen; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[j++] = (ch < 0x21 || ch > 0x7e || ch == '(' || ch == ')') ? '?' : (char)ch;
	}
	dst[j] = '\0';
}

/* Keeps the daemon-wide count of bytes held in message buffers in step with s->msg, so
 * many large concurrent messages cannot exhaust memory (SMTP_DATA_MEMORY_MAX). */
static void smtp_msg_account(struct smtp_session *s)
{
	s->m->data_bytes += s->msg.cap;
	s->m->data_bytes -= s->msg_accounted;
	s->msg_accounted = s->msg.cap;
}

static bool smtp_data_memory_full(const struct smtp_session *s, size_t more)
{
	return s->m->data_bytes + more > SMTP_DATA_MEMORY_MAX;
}

static void smtp_tx_reset(struct smtp_session *s)
{
	milter_abort(s->milters);
	queue_envelope_free(&s->env);
	buf_free(&s->msg);
	smtp_msg_account(s);
	s->data_overload = false;
	s->smtputf8 = false;
	s->body = SMTP_BODY_DEFAULT;
	s->msg_header_len = 0;
	s->bdat_remaining = 0;
	s->bdat_last = false;
	s->bdat_failed = false;
	s->bdat_used = false;
	s->bdat_discard = false;
	s->bdat_size = 0;
	s->rcpt_cap = 0;
	if (s->state != SMTP_STATE_GREETING && s->state != SMTP_STATE_CONNECTED &&
	    s->state != SMTP_STATE_QUIT)
		smtp_enter_state(s, SMTP_STATE_HELO);
}

void smtp_session_free(struct smtp_session *s)
{
	buf_free(&s->msg);
	smtp_msg_account(s);
	milter_set_free(s->milters);
	free(s->milter_ok);
	queue_envelope_free(&s->env);
	buf_free(&s->msg);
	free(s);
}

/* ---- milters (milter.h): a hook runs a stage and pauses the session until it is answered ---- */

enum smtp_milter_hook {
	SMTP_MILTER_CONNECT = 1,
	SMTP_MILTER_HELO,
	SMTP_MILTER_MAIL,
	SMTP_MILTER_RCPT,
	SMTP_MILTER_DATA,
	SMTP_MILTER_EOM,
};

static void smtp_send_banner(struct smtp_session *s);
static void smtp_data_start(struct smtp_session *s);
static void smtp_message_commit(struct smtp_session *s);

/* The listener's own list when set, else the global one. */
static const struct config_strlist *smtp_milter_list(const struct config *cfg,
						     enum smtp_listener_kind kind)
{
	const struct config_strlist *l = kind == SMTP_LISTENER_MX	  ? &cfg->smtp_milters
					 : kind == SMTP_LISTENER_LOCAL ? &cfg->local_milters
								       : &cfg->submission_milters;
	return l->items ? l : &cfg->milters;
}

struct smtp_milter_macros {
	const char *v[48];
	size_t n;
	char tmp[4][96];
};

static void smtp_milter_macro(struct smtp_milter_macros *mm, const char *name, const char *value)
{
	if (!value || mm->n + 3 > sizeof(mm->v) / sizeof(mm->v[0]))
		return;
	mm->v[mm->n++] = name;
	mm->v[mm->n++] = value;
	mm->v[mm->n] = NULL;
}

/* The macros milters rely on at each stage (libmilter keeps earlier stages' values). */
static void smtp_milter_macros(struct smtp_session *s, int hook, struct smtp_milter_macros *mm)
{
	const struct config *cfg = s->m->cfg;
	struct net_conn *c = s->conn;
	mm->n = 0;
	mm->v[0] = NULL;
	smtp_milter_macro(mm, "j", cfg->hostname);
	smtp_milter_macro(mm, "{daemon_name}", c->listener ? c->listener->name : "smtp");
	switch (hook) {
	case SMTP_MILTER_CONNECT:
		if (c->is_unix) {
			smtp_milter_macro(mm, "{client_name}", "localhost");
			break;
		}
		snprintf(mm->tmp[0], sizeof(mm->tmp[0]), "[%s]", c->peer_ip);
		snprintf(mm->tmp[1], sizeof(mm->tmp[1]), "%u", c->peer_port);
		if (getnameinfo((const struct sockaddr *)net_conn_local(c), sizeof(c->local), mm->tmp[2],
				sizeof(mm->tmp[2]), NULL, 0, NI_NUMERICHOST) == 0) {
			if (strncmp(mm->tmp[2], "::ffff:", 7) == 0 && strchr(mm->tmp[2], '.'))
				memmove(mm->tmp[2], mm->tmp[2] + 7, strlen(mm->tmp[2] + 7) + 1);
			smtp_milter_macro(mm, "{if_addr}", mm->tmp[2]);
		}
		snprintf(mm->tmp[3], sizeof(mm->tmp[3]), "%u", c->local_port);
		smtp_milter_macro(mm, "{daemon_port}", mm->tmp[3]);
		smtp_milter_macro(mm, "{client_addr}", c->peer_ip);
		smtp_milter_macro(mm, "{client_name}", mm->tmp[0]);
		smtp_milter_macro(mm, "{client_port}", mm->tmp[1]);
		smtp_milter_macro(mm, "_", mm->tmp[0]);
		break;
	case SMTP_MILTER_HELO:
	case SMTP_MILTER_MAIL:
		if (s->tls && c->tls) {
			snprintf(mm->tmp[0], sizeof(mm->tmp[0]), "%d", tls_session_cipher_bits(c->tls, NULL));
			smtp_milter_macro(mm, "{tls_version}", tls_session_version(c->tls));
			smtp_milter_macro(mm, "{cipher}", tls_session_cipher(c->tls));
			smtp_milter_macro(mm, "{cipher_bits}", mm->tmp[0]);
		}
		if (hook == SMTP_MILTER_HELO)
			break;
		smtp_milter_macro(mm, "{mail_addr}", s->env.sender);
		if (s->authenticated) {
			smtp_milter_macro(mm, "{auth_authen}", s->auth_user);
			smtp_milter_macro(mm, "{auth_type}", s->kind == SMTP_LISTENER_LOCAL ? "local"
							     : s->milter_auth_type);
		}
		break;
	case SMTP_MILTER_EOM:
		smtp_milter_macro(mm, "i", s->env.id);
		smtp_milter_macro(mm, "{mail_addr}", s->env.sender);
		break;
	default:
		break;
	}
}

static void smtp_milter_done(void *arg, const struct milter_result *r);

static void smtp_milter_wait(struct smtp_session *s, int hook, const char *ok)
{
	s->milter_hook = hook;
	free(s->milter_ok);
	s->milter_ok = ok ? xstrdup(ok) : NULL;
	s->async_pending = true;
	net_conn_pause(s->conn);
}

/* A command passed our own checks: the milters decide, then ok (CRLF-ended) is the reply. */
static void smtp_milter_hook(struct smtp_session *s, int hook, const struct smtp_command *cmd,
			     const char *ok)
{
	if (!s->milters) {
		net_conn_write(s->conn, ok, strlen(ok));
		return;
	}
	struct smtp_milter_macros mm;
	smtp_milter_macros(s, hook, &mm);
	smtp_milter_wait(s, hook, ok);
	if (hook == SMTP_MILTER_HELO) {
		milter_stage_helo(s->milters, s->helo, mm.v, smtp_milter_done, s);
		return;
	}
	char a[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8], path[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 16];
	char size[40];
	const char *args[4];
	size_t n = 0;
	addr_format(&cmd->path, a, sizeof(a));
	snprintf(path, sizeof(path), "<%s>", a);
	args[n++] = path;
	if (hook == SMTP_MILTER_RCPT)
		smtp_milter_macro(&mm, "{rcpt_addr}", a);
	if (hook == SMTP_MILTER_MAIL) {
		if (cmd->has_size) {
			snprintf(size, sizeof(size), "SIZE=%" PRIu64, cmd->size);
			args[n++] = size;
		}
		if (cmd->body == SMTP_BODY_8BITMIME)
			args[n++] = "BODY=8BITMIME";
		if (cmd->smtputf8)
			args[n++] = "SMTPUTF8";
		milter_stage_mail(s->milters, args, n, mm.v, smtp_milter_done, s);
	} else {
		milter_stage_rcpt(s->milters, args, n, mm.v, smtp_milter_done, s);
	}
}

/* The connection, before the banner. Returns true when the milters have it. */
static bool smtp_milter_connect(struct smtp_session *s)
{
	if (!s->milters || s->milter_connected)
		return false;
	s->milter_connected = true;
	struct smtp_milter_macros mm;
	smtp_milter_macros(s, SMTP_MILTER_CONNECT, &mm);
	smtp_milter_wait(s, SMTP_MILTER_CONNECT, NULL);
	struct net_conn *c = s->conn;
	if (c->is_unix) {
		milter_stage_connect(s->milters, "localhost", 'L', 0,
				     c->listener ? c->listener->addr_text : "", mm.v, smtp_milter_done, s);
		return true;
	}
	milter_stage_connect(s->milters, mm.tmp[0], strchr(c->peer_ip, ':') ? '6' : '4',
			     c->peer_port, c->peer_ip, mm.v, smtp_milter_done, s);
	return true;
}

static bool smtp_milter_data(struct smtp_session *s)
{
	if (!s->milters)
		return false;
	struct smtp_milter_macros mm;
	smtp_milter_macros(s, SMTP_MILTER_DATA, &mm);
	smtp_milter_wait(s, SMTP_MILTER_DATA, NULL);
	milter_stage_data(s->milters, mm.v, smtp_milter_done, s);
	return true;
}

/* The message passed our checks: the milters see it and change it before the commit. */
static bool smtp_milter_eom(struct smtp_session *s)
{
	if (!s->milters)
		return false;
	struct smtp_milter_macros mm;
	smtp_milter_macros(s, SMTP_MILTER_EOM, &mm);
	smtp_enter_state(s, SMTP_STATE_COMMIT);
	smtp_milter_wait(s, SMTP_MILTER_EOM, NULL);
	milter_stage_eom(s->milters, &s->msg, &s->env, mm.v, smtp_milter_done, s);
	return true;
}

static void smtp_milter_done(void *arg, const struct milter_result *r)
{
	static const char *const names[] = { "", "CONNECT", "HELO", "MAIL", "RCPT", "DATA",
					     "END-OF-MESSAGE" };
	struct smtp_session *s = arg;
	int hook = s->milter_hook;
	char *ok = s->milter_ok;
	s->milter_ok = NULL;
	s->milter_hook = 0;
	s->async_pending = false;
	if (s->orphaned) {
		free(ok);
		smtp_session_free(s);
		return;
	}
	bool pass = r->verdict == MILTER_CONTINUE || r->verdict == MILTER_DISCARD;
	if (!pass) {
		const char *cr = memchr(r->reply.data, '\r', r->reply.len);
		log_info("milter-reject: %s %s from [%s]: %.*s; from=<%s>", names[hook],
			 hook == SMTP_MILTER_EOM ? s->env.id : "", s->conn->peer_ip,
			 (int)(cr ? (size_t)(cr - r->reply.data) : r->reply.len), r->reply.data,
			 s->env.sender ? s->env.sender : "");
		net_conn_write(s->conn, r->reply.data, r->reply.len);
		if (hook == SMTP_MILTER_EOM)
			s->m->messages_rejected++;
	}
	if (r->verdict == MILTER_SHUTDOWN || (hook == SMTP_MILTER_CONNECT && !pass)) {
		free(ok);
		smtp_enter_state(s, SMTP_STATE_QUIT);
		net_conn_close(s->conn, "milter");
		return;
	}
	switch (hook) {
	case SMTP_MILTER_CONNECT:
		smtp_send_banner(s);
		break;
	case SMTP_MILTER_HELO:
		if (pass) {
			net_conn_write(s->conn, ok, strlen(ok));
		} else {
			s->helo[0] = '\0';
			s->esmtp = false;
			smtp_enter_state(s, SMTP_STATE_CONNECTED);
		}
		break;
	case SMTP_MILTER_MAIL:
		if (pass)
			net_conn_write(s->conn, ok, strlen(ok));
		else
			smtp_tx_reset(s);
		break;
	case SMTP_MILTER_RCPT:
		if (pass) {
			net_conn_write(s->conn, ok, strlen(ok));
			break;
		}
		/* Only this recipient is refused. */
		while (s->env.nrcpts > s->milter_rcpt_mark) {
			struct queue_rcpt *q = &s->env.rcpts[--s->env.nrcpts];
			free(q->addr);
			free(q->orig);
		}
		if (s->env.nrcpts == 0)
			smtp_enter_state(s, SMTP_STATE_MAIL);
		break;
	case SMTP_MILTER_DATA:
		if (pass)
			smtp_data_start(s);
		break;
	case SMTP_MILTER_EOM:
		if (r->verdict == MILTER_CONTINUE && s->env.nrcpts > 0) {
			s->rcpt_cap = s->env.nrcpts;
			free(ok);
			smtp_message_commit(s);
			return;
		}
		if (pass) {
			log_info("%s: from=<%s>: discarded by milter%s", s->env.id, s->env.sender,
				 s->env.nrcpts ? "" : " (no recipients left)");
			smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->env.id);
		}
		smtp_tx_reset(s);
		break;
	default:
		break;
	}
	free(ok);
	if (!s->conn->closing)
		net_conn_resume(s->conn);
}

/* ---- commands ---- */

static void smtp_cmd_helo(struct smtp_session *s, const struct smtp_command *cmd)
{
	smtp_tx_reset(s);
	smtp_printable(s->helo, sizeof(s->helo), cmd->helo);
	s->n_helo++;
	smtp_enter_state(s, SMTP_STATE_HELO);
	if (cmd->verb == SMTP_VERB_HELO) {
		s->esmtp = false;
		char ok[300];
		str_format(ok, sizeof(ok), "250 %s\r\n", s->m->cfg->hostname);
		smtp_milter_hook(s, SMTP_MILTER_HELO, cmd, ok);
		return;
	}
	s->esmtp = true;
	struct buf r;
	buf_init(&r);
	buf_printf(&r, "250-%s\r\n", s->m->cfg->hostname);
	buf_append_str(&r, "250-PIPELINING\r\n");
	buf_printf(&r, "250-SIZE %" PRIu64 "\r\n", s->m->cfg->max_message_size);
	buf_append_str(&r, "250-ENHANCEDSTATUSCODES\r\n");
	buf_append_str(&r, "250-8BITMIME\r\n");
	buf_append_str(&r, "250-SMTPUTF8\r\n");
	if (s->m->tls && !s->tls)
		buf_append_str(&r, "250-STARTTLS\r\n");
	if (s->tls && s->kind != SMTP_LISTENER_LOCAL)
		buf_append_str(&r, "250-AUTH PLAIN LOGIN\r\n");
	buf_append_str(&r, "250 CHUNKING\r\n");
	smtp_milter_hook(s, SMTP_MILTER_HELO, cmd, r.data);
	buf_free(&r);
}

static bool smtp_relay_allowed(const struct smtp_session *s)
{
	return s->authenticated || s->relay_client;
}

/* True when address belongs to the authenticated account: the account itself (any
 * +detail) or a local alias that expands to it. */
static bool smtp_sender_owned(struct smtp_session *s, const struct addr *a)
{
	const struct config *cfg = s->m->cfg;
	if (a->is_null)
		return true;
	if (!config_is_local_domain(cfg, a->domain))
		return false;
	struct delivery_target *t = NULL;
	size_t n = 0;
	char err[256];
	bool owned = false;
	if (delivery_resolve(cfg, s->m->accounts, s->m->aliases, a, &t, &n, err, sizeof(err)) ==
	    DELIVERY_OK) {
		for (size_t i = 0; i < n && !owned; i++) {
			char f[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
			addr_format(&t[i].addr, f, sizeof(f));
			owned = t[i].local && strcasecmp(f, s->auth_user) == 0;
		}
	}
	free(t);
	return owned;
}

static bool smtp_sender_check_applies(const struct smtp_session *s)
{
	return (s->kind == SMTP_LISTENER_SUBMISSION || s->kind == SMTP_LISTENER_SUBMISSIONS) &&
	       s->authenticated && s->m->cfg->submission_sender_check;
}

/* Submission: every From: address must belong to the authenticated account. */
static bool smtp_from_header_owned(struct smtp_session *s, char *bad, size_t badlen)
{
	const char *body = s->msg.data + s->msg_header_len;
	size_t blen = s->msg.len - s->msg_header_len;
	struct rfc5322_field f;
	if (!rfc5322_find(body, rfc5322_header_length(body, blen), "From", &f))
		return true;
	struct rfc5322_addr *list;
	size_t n = rfc5322_parse_addresses(f.value, f.value_len, &list);
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++) {
		if (list[i].kind != RFC5322_ADDR_MAILBOX)
			continue;
		char text[600];
		snprintf(text, sizeof(text), "%s@%s", list[i].mailbox, list[i].host);
		struct addr a;
		const char *err;
		ok = addr_parse_mailbox(text, strlen(text), ADDR_ALLOW_UTF8, &a, &err) == 0 &&
		     smtp_sender_owned(s, &a);
		if (!ok)
			snprintf(bad, badlen, "%s", text);
	}
	rfc5322_addrs_free(list, n);
	return ok;
}

static void smtp_cmd_mail(struct smtp_session *s, const struct smtp_command *cmd)
{
	const struct config *cfg = s->m->cfg;
	if (s->state == SMTP_STATE_CONNECTED) {
		smtp_error_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (s->state != SMTP_STATE_HELO) {
		smtp_error_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (s->kind != SMTP_LISTENER_MX && !s->authenticated) {
		smtp_error_reply(s, 530, "5.7.0", "Authentication required");
		return;
	}
	if (cmd->has_size && cmd->size > cfg->max_message_size) {
		smtp_error_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
	if (cmd->body == SMTP_BODY_BINARYMIME) {
		smtp_error_reply(s, 504, "5.5.4", "BINARYMIME is not supported");
		return;
	}
	char sender[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	addr_format(&cmd->path, sender, sizeof(sender));
	if (smtp_sender_check_applies(s) && !smtp_sender_owned(s, &cmd->path)) {
		log_info("reject: MAIL from [%s]: 553 5.7.1 <%s>: sender not owned by %s", s->conn->peer_ip,
			 sender, s->auth_user);
		smtp_error_reply(s, 553, "5.7.1", "Sender address rejected: not owned by the authenticated user");
		return;
	}
	queue_envelope_free(&s->env);
	s->env.sender = xstrdup(sender);
	s->smtputf8 = cmd->smtputf8;
	s->body = cmd->body;
	s->n_mail++;
	smtp_enter_state(s, SMTP_STATE_MAIL);
	smtp_milter_hook(s, SMTP_MILTER_MAIL, cmd, "250 2.1.0 Ok\r\n");
}

static bool smtp_rcpt_add(struct smtp_session *s, const char *addr, const char *orig)
{
	for (size_t i = 0; i < s->env.nrcpts; i++)
		if (strcmp(s->env.rcpts[i].addr, addr) == 0)
			return true;	/* the same mailbox twice gets one copy */
	if (s->env.nrcpts >= s->m->cfg->max_recipients)
		return false;
	if (s->env.nrcpts == s->rcpt_cap) {
		s->rcpt_cap = s->rcpt_cap ? s->rcpt_cap * 2 : 4;
		s->env.rcpts = xrealloc(s->env.rcpts, s->rcpt_cap * sizeof(*s->env.rcpts));
	}
	struct queue_rcpt *r = &s->env.rcpts[s->env.nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orig = orig && strcmp(orig, addr) != 0 ? xstrdup(orig) : NULL;
	return true;
}

static void smtp_cmd_rcpt(struct smtp_session *s, const struct smtp_command *cmd)
{
	const struct config *cfg = s->m->cfg;
	if (s->state != SMTP_STATE_MAIL && s->state != SMTP_STATE_RCPT) {
		smtp_error_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (s->env.nrcpts >= cfg->max_recipients) {
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	s->milter_rcpt_mark = s->env.nrcpts;
	struct addr a = cmd->path;
	if (a.domain[0] == '\0')	/* <postmaster> */
		snprintf(a.domain, sizeof(a.domain), "%s",
			 cfg->domains.n ? cfg->domains.items[0] : cfg->hostname);
	if (a.utf8 && !s->smtputf8) {
		smtp_error_reply(s, 553, "5.6.7", "SMTPUTF8 required for this address");
		return;
	}
	char rcpt[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	addr_format(&a, rcpt, sizeof(rcpt));
	if (!config_is_local_domain(cfg, a.domain)) {
		if (!smtp_relay_allowed(s)) {
			log_info("reject: RCPT from [%s]: 554 5.7.1 <%s>: Relay access denied; from=<%s> helo=<%s>",
				 s->conn->peer_ip, rcpt, s->env.sender, s->helo);
			smtp_error_reply(s, 554, "5.7.1", "Relay access denied");
			return;
		}
		if (!smtp_rcpt_add(s, rcpt, NULL)) {
			smtp_reply(s, "452 4.5.3 Error: too many recipients");
			return;
		}
		s->n_rcpt++;
		smtp_enter_state(s, SMTP_STATE_RCPT);
		smtp_milter_hook(s, SMTP_MILTER_RCPT, cmd, "250 2.1.5 Ok\r\n");
		return;
	}
	struct delivery_target *targets = NULL;
	size_t ntargets = 0;
	char err[256] = "";
	enum delivery_status st = delivery_resolve(cfg, s->m->accounts, s->m->aliases, &a, &targets,
						   &ntargets, err, sizeof(err));
	if (st == DELIVERY_UNKNOWN_USER) {
		log_info("reject: RCPT from [%s]: 550 5.1.1 <%s>: Recipient address rejected: User unknown; from=<%s>",
			 s->conn->peer_ip, rcpt, s->env.sender);
		smtp_error_reply(s, 550, "5.1.1", "Recipient address rejected: User unknown");
		return;
	}
	if (st != DELIVERY_OK) {
		log_warn("RCPT <%s> from [%s]: %s", rcpt, s->conn->peer_ip, err);
		if (st == DELIVERY_TEMPFAIL)
			smtp_reply(s, "451 4.3.0 Recipient lookup failed, try again later");
		else
			smtp_error_reply(s, 550, "5.4.6", "Recipient address rejected: alias loop");
		free(targets);
		return;
	}
	for (size_t i = 0; i < ntargets; i++) {
		char t[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
		addr_format(&targets[i].addr, t, sizeof(t));
		if (!smtp_rcpt_add(s, t, rcpt)) {
			free(targets);
			smtp_reply(s, "452 4.5.3 Error: too many recipients");
			return;
		}
	}
	free(targets);
	s->n_rcpt++;
	smtp_enter_state(s, SMTP_STATE_RCPT);
	smtp_milter_hook(s, SMTP_MILTER_RCPT, cmd, "250 2.1.5 Ok\r\n");
}

/* The RFC 5322 date-time of now, formatted again only when the second changes (the SMTP
 * server runs on the loop thread only). */
static const char *smtp_date_now(void)
{
	static time_t cached_sec = -1;
	static char cached[64];
	time_t now = time(NULL);
	if (now != cached_sec) {
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S %z", &tm);
		cached_sec = now;
	}
	return cached;
}

/* Starts the message with our trace header (RFC 5321 4.4); built from pieces, not printf. */
static void smtp_received_header(struct smtp_session *s)
{
	const struct config *cfg = s->m->cfg;
	const char *with = s->esmtp ? (s->authenticated ? (s->tls ? "ESMTPSA" : "ESMTPA")
							: (s->tls ? "ESMTPS" : "ESMTP"))
				    : "SMTP";
	if (s->smtputf8)
		with = s->authenticated ? "UTF8SMTPSA" : (s->tls ? "UTF8SMTPS" : "UTF8SMTP");
	buf_reset(&s->msg);
	if (s->kind == SMTP_LISTENER_LOCAL)
		buf_printf(&s->msg, "Received: by %s (mtad, from userid %ld)\r\n\tid %s",
			   cfg->hostname, s->conn->peer_uid, s->env.id);
	else
	{
		const char *helo = s->helo[0] ? s->helo : "unknown";
		buf_append_str(&s->msg, "Received: from ");
		buf_append_str(&s->msg, helo);
		buf_append_str(&s->msg, " (");
		buf_append_str(&s->msg, helo);
		buf_append_str(&s->msg, " [");
		buf_append_str(&s->msg, s->conn->peer_ip);
		buf_append_str(&s->msg, "])\r\n");
		if (s->tls && s->conn->tls)
			buf_printf(&s->msg, "\t(using %s)\r\n", tls_session_summary(s->conn->tls));
		if (s->authenticated)
			buf_printf(&s->msg, "\t(Authenticated sender: %s)\r\n", s->auth_user);
		buf_append_str(&s->msg, "\tby ");
		buf_append_str(&s->msg, cfg->hostname);
		buf_append_str(&s->msg, " (mtad) with ");
		buf_append_str(&s->msg, with);
		buf_append_str(&s->msg, " id ");
		buf_append_str(&s->msg, s->env.id);
	}
	if (s->env.nrcpts == 1) {
		buf_append_str(&s->msg, "\r\n\tfor <");
		buf_append_str(&s->msg, s->env.rcpts[0].addr);
		buf_append_str(&s->msg, ">");
	}
	buf_append_str(&s->msg, "; ");
	buf_append_str(&s->msg, smtp_date_now());
	buf_append_str(&s->msg, "\r\n");
	s->msg_header_len = s->msg.len;
}

static void smtp_tx_begin_message(struct smtp_session *s)
{
	queue_id_new(s->env.id);
	s->env.arrival = (int64_t)time(NULL);
	smtp_received_header(s);
}

static void smtp_cmd_data(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	if (s->state != SMTP_STATE_RCPT) {
		if (s->state == SMTP_STATE_MAIL)
			smtp_error_reply(s, 554, "5.5.1", "Error: no valid recipients");
		else
			smtp_error_reply(s, 503, "5.5.1", "Error: need RCPT command");
		return;
	}
	if (s->bdat_used) {
		smtp_error_reply(s, 503, "5.5.1", "Error: DATA after BDAT");
		return;
	}
	s->n_data++;
	if (!smtp_milter_data(s))
		smtp_data_start(s);
}

/* DATA passed the checks (and the milters): the message begins. */
static void smtp_data_start(struct smtp_session *s)
{
	smtp_tx_begin_message(s);
	smtp_data_reader_init(&s->data, s->m->cfg->max_message_size);
	smtp_enter_state(s, SMTP_STATE_DATA);
	net_conn_set_timeout(s->conn, s->m->cfg->smtp_data_timeout * 1000);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* Counts Received: header fields in the header section of msg (mail loop detection). */
static unsigned smtp_count_received(const char *msg, size_t len)
{
	struct rfc5322_iter it;
	struct rfc5322_field f;
	unsigned n = 0;
	rfc5322_iter_init(&it, msg, rfc5322_header_length(msg, len));
	while (rfc5322_iter_next_named(&it, "Received", &f))
		n++;
	return n;
}

/* RFC 6409 8.2, 8.3: submitted mail without Date: or Message-ID: gets them (after our
 * Received: header). Never on the MX listener. */
static void smtp_add_missing_headers(struct smtp_session *s)
{
	const char *body = s->msg.data + s->msg_header_len;
	size_t blen = s->msg.len - s->msg_header_len;
	struct buf add;
	buf_init(&add);
	size_t hlen = rfc5322_header_length(body, blen);
	struct rfc5322_field f;
	if (!rfc5322_find(body, hlen, "Date", &f)) {
		buf_append_str(&add, "Date: ");
		buf_append_str(&add, smtp_date_now());
		buf_append_str(&add, "\r\n");
	}
	if (!rfc5322_find(body, hlen, "Message-ID", &f))
		buf_printf(&add, "Message-ID: <%s@%s>\r\n", s->env.id, s->m->cfg->hostname);
	if (add.len) {
		buf_reserve(&s->msg, add.len);
		memmove(s->msg.data + s->msg_header_len + add.len, s->msg.data + s->msg_header_len,
			blen + 1);
		memcpy(s->msg.data + s->msg_header_len, add.data, add.len);
		s->msg.len += add.len;
		s->msg_header_len += add.len;
	}
	buf_free(&add);
}

/* The commit of the message env (msg_len bytes) is durable (status 0) or failed: the reply. */
static void smtp_commit_done(void *arg, int status, const struct queue_envelope *env,
			     size_t msg_len)
{
	struct smtp_session *s = arg;
	struct mtad *m = s->m;
	s->async_pending = false;
	if (status == 0) {
		m->messages_accepted++;
		log_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queue active)", env->id, env->sender,
			 msg_len, env->nrcpts);
		if (s->conn)
			smtp_reply(s, "250 2.0.0 Ok: queued as %s", env->id);
	} else {
		m->messages_rejected++;
		log_error("%s: queue commit failed: %s", env->id, strerror(-status));
		if (s->conn) {
			if (status == -ENOSPC || status == -EDQUOT)
				smtp_reply(s, "452 4.3.1 Insufficient system storage");
			else
				smtp_reply(s, "451 4.3.0 Error: queue file write error");
		}
	}
	if (s->orphaned) {
		smtp_session_free(s);
		return;
	}
	smtp_enter_state(s, SMTP_STATE_HELO);
	smtp_tx_reset(s);
	net_conn_set_timeout(s->conn, m->cfg->smtp_timeout * 1000);
	net_conn_resume(s->conn);
}

/* The message is complete: check it, then commit it to the queue (the 250 waits). */
static void smtp_message_complete(struct smtp_session *s, unsigned flaws)
{
	const struct config *cfg = s->m->cfg;
	net_conn_set_timeout(s->conn, cfg->smtp_timeout * 1000);
	const char *reject_enh = NULL, *reject_text = NULL;
	int reject_code = 0;
	if (flaws & SMTP_DATA_FLAW_TOO_BIG) {
		reject_code = 552;
		reject_enh = "5.3.4";
		reject_text = "Error: message size exceeds fixed maximum message size";
	} else if (flaws & (SMTP_DATA_FLAW_BARE_LF | SMTP_DATA_FLAW_BARE_CR)) {
		reject_code = 554;
		reject_enh = "5.6.0";
		reject_text = "Error: message contains bare CR or LF (line endings must be CRLF)";
	} else if (flaws & SMTP_DATA_FLAW_LONG_LINE) {
		reject_code = 554;
		reject_enh = "5.6.0";
		reject_text = "Error: message contains a line longer than 998 characters";
	} else if (smtp_count_received(s->msg.data + s->msg_header_len,
				       s->msg.len - s->msg_header_len) > SMTP_MAX_RECEIVED) {
		reject_code = 554;
		reject_enh = "5.4.6";
		reject_text = "Error: too many hops (mail loop?)";
	}
	char bad[600] = "";
	if (!reject_code && smtp_sender_check_applies(s) && !smtp_from_header_owned(s, bad, sizeof(bad))) {
		reject_code = 553;
		reject_enh = "5.7.1";
		reject_text = "From: header address not owned by the authenticated user";
	}
	if (reject_code) {
		s->m->messages_rejected++;
		log_info("reject: %s from [%s]: %d %s %s; from=<%s>", s->env.id, s->conn->peer_ip,
			 reject_code, reject_enh, reject_text, s->env.sender);
		smtp_reply(s, "%d %s %s", reject_code, reject_enh, reject_text);
		smtp_tx_reset(s);
		return;
	}
	if (s->kind != SMTP_LISTENER_MX)
		smtp_add_missing_headers(s);
	char flags[64] = "";
	if (s->body == SMTP_BODY_8BITMIME)
		strcat(flags, "8BITMIME");
	if (s->smtputf8)
		strcat(flags, flags[0] ? " SMTPUTF8" : "SMTPUTF8");
	free(s->env.body_flags);
	s->env.body_flags = flags[0] ? xstrdup(flags) : NULL;
	free(s->env.client);
	s->env.client = xstrdup(s->conn->peer_ip);
	free(s->env.helo);
	s->env.helo = s->helo[0] ? xstrdup(s->helo) : NULL;
	free(s->env.proto);
	s->env.proto = xstrdup(s->kind == SMTP_LISTENER_LOCAL ? "local" : s->esmtp ? "ESMTP" : "SMTP");
	if (s->authenticated) {
		free(s->env.auth);
		s->env.auth = xstrdup(s->auth_user);
	}
	if (!smtp_milter_eom(s))
		smtp_message_commit(s);
}

/* Shutting down (no scheduler): commit only; the next start recovers and delivers it. */
static void smtp_commit_done_queue_only(void *arg, int status)
{
	struct smtp_session *s = arg;
	smtp_commit_done(s, status, &s->env, s->msg.len);
}

/* The message is final: the scheduler commits it to the queue (the 250 waits for that, not
 * for the delivery that follows in the same thread-pool job). */
static void smtp_message_commit(struct smtp_session *s)
{
	smtp_enter_state(s, SMTP_STATE_COMMIT);
	net_conn_pause(s->conn);
	s->async_pending = true;
	if (!s->m->sched) {
		queue_commit(s->m->queue, &s->env, s->msg.data, s->msg.len,
			     smtp_commit_done_queue_only, s);
		return;
	}
	size_t len;
	char *data = buf_steal(&s->msg, &len);
	smtp_msg_account(s);	/* the scheduler owns it now */
	scheduler_accept(s->m->sched, &s->env, data, data, len, smtp_commit_done, s);
}

static void smtp_read_data(struct smtp_session *s)
{
	struct net_conn *c = s->conn;
	size_t out_len = 0, consumed = 0;
	if (!s->data_overload && !(s->data.flaws & SMTP_DATA_FLAW_TOO_BIG) &&
	    s->msg.len + c->in.len > s->msg.cap && smtp_data_memory_full(s, c->in.len)) {
		log_warn("%s: message buffers hold %zu bytes: refusing more from [%s]", s->env.id,
			 s->m->data_bytes, c->peer_ip);
		s->data_overload = true;
		buf_free(&s->msg);
		smtp_msg_account(s);
	}
	bool storing = !(s->data.flaws & SMTP_DATA_FLAW_TOO_BIG) && !s->data_overload;
	if (storing) {
		buf_reserve(&s->msg, c->in.len);
		smtp_msg_account(s);
	}
	char scratch[4096];
	enum smtp_data_status st;
	if (storing) {
		st = smtp_data_feed(&s->data, c->in.data, c->in.len, s->msg.data + s->msg.len,
				    &out_len, &consumed);
		s->msg.len += out_len;
		s->msg.data[s->msg.len] = '\0';
	} else {
		/* Over the limit: keep scanning for the end, storing nothing. */
		size_t off = 0;
		do {
			size_t chunk = c->in.len - off < sizeof(scratch) ? c->in.len - off : sizeof(scratch);
			size_t used = 0;
			st = smtp_data_feed(&s->data, c->in.data + off, chunk, scratch, &out_len, &used);
			off += used;
		} while (st == SMTP_DATA_MORE && off < c->in.len);
		consumed = off;
	}
	buf_consume(&c->in, consumed);
	if (st == SMTP_DATA_END) {
		if (s->data_overload) {
			smtp_reply(s, "452 4.3.1 Insufficient system resources, try again later");
			smtp_tx_reset(s);
			net_conn_set_timeout(c, s->m->cfg->smtp_timeout * 1000);
			return;
		}
		smtp_message_complete(s, s->data.flaws);
	}
}

/* A whole BDAT chunk has been read: answer it (one reply per BDAT command). */
static void smtp_bdat_chunk_done(struct smtp_session *s)
{
	if (s->bdat_discard) {
		s->bdat_discard = false;
		smtp_enter_state(s, s->bdat_return);
		return;
	}
	if (s->bdat_failed) {
		if (s->data_overload)
			smtp_reply(s, "452 4.3.1 Insufficient system resources, try again later");
		else
			smtp_reply(s, "552 5.3.4 Error: message size exceeds fixed maximum message size");
		if (s->bdat_last)
			smtp_tx_reset(s);
		else
			smtp_enter_state(s, SMTP_STATE_RCPT);
		return;
	}
	if (s->bdat_last) {
		smtp_message_complete(s, 0);
		return;
	}
	smtp_enter_state(s, SMTP_STATE_RCPT);
	smtp_reply(s, "250 2.0.0 %" PRIu64 " octets received", s->bdat_size);
}

static void smtp_read_bdat(struct smtp_session *s)
{
	struct net_conn *c = s->conn;
	size_t n = c->in.len < s->bdat_remaining ? c->in.len : (size_t)s->bdat_remaining;
	if (!s->bdat_discard && !s->bdat_failed && s->msg.len + n > s->msg.cap &&
	    smtp_data_memory_full(s, n)) {
		s->bdat_failed = true;
		s->data_overload = true;
		buf_free(&s->msg);
		smtp_msg_account(s);
	}
	if (!s->bdat_discard && !s->bdat_failed) {
		buf_append(&s->msg, c->in.data, n);
		smtp_msg_account(s);
	}
	buf_consume(&c->in, n);
	s->bdat_remaining -= n;
	if (s->bdat_remaining == 0)
		smtp_bdat_chunk_done(s);
}

static void smtp_cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd)
{
	s->n_bdat++;
	s->bdat_remaining = cmd->chunk_size;
	s->bdat_last = cmd->last;
	if (s->state != SMTP_STATE_RCPT) {
		/* Refused, but the chunk must still be read and thrown away. */
		smtp_error_reply(s, 503, "5.5.1",
				 s->state == SMTP_STATE_MAIL ? "Error: no valid recipients"
							     : "Error: need RCPT command");
		if (s->state == SMTP_STATE_QUIT || s->bdat_remaining == 0)
			return;
		s->bdat_discard = true;
		s->bdat_return = s->state;
		smtp_enter_state(s, SMTP_STATE_BDAT);
		return;
	}
	if (!s->bdat_used) {
		s->bdat_used = true;
		s->bdat_failed = false;
		smtp_tx_begin_message(s);
	}
	s->bdat_size += cmd->chunk_size;
	if (s->bdat_size > s->m->cfg->max_message_size && !s->bdat_failed) {
		s->bdat_failed = true;
		buf_free(&s->msg);
	}
	smtp_enter_state(s, SMTP_STATE_BDAT);
	net_conn_set_timeout(s->conn, s->m->cfg->smtp_data_timeout * 1000);
	if (s->bdat_remaining == 0)
		smtp_bdat_chunk_done(s);
}

static void smtp_cmd_rset(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	s->n_rset++;
	smtp_tx_reset(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void smtp_cmd_noop(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtp_reply(s, "250 2.0.0 Ok");
}

static void smtp_cmd_quit(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	s->n_quit++;
	smtp_reply(s, "221 2.0.0 Bye");
	smtp_enter_state(s, SMTP_STATE_QUIT);
	net_conn_close(s->conn, "quit");
}

static void smtp_cmd_vrfy(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
}

static void smtp_cmd_expn(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtp_error_reply(s, 502, "5.5.1", "Error: EXPN is disabled");
}

static void smtp_cmd_help(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
}

static void smtp_cmd_starttls(struct smtp_session *s, const struct smtp_command *cmd)
{
	(void)cmd;
	if (s->tls) {
		smtp_error_reply(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	if (!s->m->tls || s->kind == SMTP_LISTENER_LOCAL) {
		smtp_error_reply(s, 454, "4.7.0", "TLS not available");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	if (net_conn_start_tls(s->conn, s->m->tls) < 0) {
		smtp_enter_state(s, SMTP_STATE_QUIT);
		net_conn_close(s->conn, "TLS setup failed");
		return;
	}
	/* RFC 3207 4.2: forget everything learnt before the handshake. */
	smtp_tx_reset(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	smtp_enter_state(s, SMTP_STATE_CONNECTED);
}

static void smtp_cmd_auth(struct smtp_session *s, const struct smtp_command *cmd)
{
	snprintf(s->milter_auth_type, sizeof(s->milter_auth_type), "%s", cmd->mechanism);
	smtp_auth_command(s, cmd);
}

struct smtp_command_entry {
	enum smtp_verb verb;
	void (*proceed)(struct smtp_session *s, const struct smtp_command *cmd);
};

static const struct smtp_command_entry smtp_commands[] = {
	{ SMTP_VERB_HELO, smtp_cmd_helo },
	{ SMTP_VERB_EHLO, smtp_cmd_helo },
	{ SMTP_VERB_MAIL, smtp_cmd_mail },
	{ SMTP_VERB_RCPT, smtp_cmd_rcpt },
	{ SMTP_VERB_DATA, smtp_cmd_data },
	{ SMTP_VERB_BDAT, smtp_cmd_bdat },
	{ SMTP_VERB_RSET, smtp_cmd_rset },
	{ SMTP_VERB_NOOP, smtp_cmd_noop },
	{ SMTP_VERB_QUIT, smtp_cmd_quit },
	{ SMTP_VERB_VRFY, smtp_cmd_vrfy },
	{ SMTP_VERB_EXPN, smtp_cmd_expn },
	{ SMTP_VERB_HELP, smtp_cmd_help },
	{ SMTP_VERB_STARTTLS, smtp_cmd_starttls },
	{ SMTP_VERB_AUTH, smtp_cmd_auth },
};

static void smtp_handle_line(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_command cmd;
	struct smtp_error err;
	s->n_cmds++;
	if (smtp_command_parse(line, len, ADDR_ALLOW_UTF8, &cmd, &err) < 0) {
		s->n_other++;
		smtp_error_reply(s, err.code, err.enhanced, err.text);
		return;
	}
	for (size_t i = 0; i < sizeof(smtp_commands) / sizeof(smtp_commands[0]); i++) {
		if (smtp_commands[i].verb == cmd.verb) {
			smtp_commands[i].proceed(s, &cmd);
			return;
		}
	}
	s->n_other++;
	smtp_error_reply(s, 502, "5.5.1", "Error: command not implemented");
}

static void smtp_on_read(struct net_conn *c)
{
	struct smtp_session *s = c->data;
	unsigned turn = 0;
	/* At most SMTP_COMMANDS_PER_TURN commands, then the other clients get their turn. */
	while (c->in.len > 0 && !c->closing && !c->read_paused && turn++ < SMTP_COMMANDS_PER_TURN) {
		switch (s->state) {
		case SMTP_STATE_GREETING:
			log_info("reject: [%s] talked before the greeting", c->peer_ip);
			smtp_reply(s, "554 5.5.1 %s Error: talking before the greeting", s->m->cfg->hostname);
			smtp_enter_state(s, SMTP_STATE_QUIT);
			net_conn_close(c, "early talker");
			buf_reset(&c->in);
			return;
		case SMTP_STATE_DATA:
			smtp_read_data(s);
			continue;
		case SMTP_STATE_BDAT:
			smtp_read_bdat(s);
			continue;
		case SMTP_STATE_COMMIT:
		case SMTP_STATE_QUIT:
			return;
		case SMTP_STATE_AUTH: {
			if (s->async_pending)
				return;
			const char *nl = memchr(c->in.data, '\n', c->in.len);
			size_t avail = nl ? (size_t)(nl - c->in.data) : c->in.len;
			if (avail > SMTP_AUTH_LINE_MAX) {
				smtp_reply(s, "500 5.5.6 Error: authentication exchange line too long");
				smtp_enter_state(s, SMTP_STATE_HELO);
				s->discard_line = !nl;
				buf_consume(&c->in, nl ? avail + 1 : c->in.len);
				continue;
			}
			if (!nl)
				return;
			size_t l = avail && c->in.data[avail - 1] == '\r' ? avail - 1 : avail;
			char *line = xstrndup(c->in.data, l);
			buf_consume(&c->in, avail + 1);
			smtp_auth_response(s, line, l);
			explicit_bzero(line, l);
			free(line);
			continue;
		}
		default:
			break;
		}
		size_t line_len, consumed;
		if (s->discard_line) {
			const char *nl = memchr(c->in.data, '\n', c->in.len);
			if (!nl) {
				buf_reset(&c->in);
				return;
			}
			buf_consume(&c->in, (size_t)(nl - c->in.data) + 1);
			s->discard_line = false;
			continue;
		}
		int r = smtp_line_next(c->in.data, c->in.len, &line_len, &consumed);
		if (r == 0)
			return;
		if (r < 0 && c->in.len >= 5 && strncasecmp(c->in.data, "AUTH ", 5) == 0) {
			/* RFC 4954 4: an AUTH line with an initial response may be up to 12288 octets. */
			const char *nl = memchr(c->in.data, '\n', c->in.len);
			if (!nl && c->in.len <= SMTP_AUTH_LINE_MAX)
				return;
			if (nl && (size_t)(nl - c->in.data) <= SMTP_AUTH_LINE_MAX) {
				size_t l = (size_t)(nl - c->in.data);
				consumed = l + 1;
				if (l && c->in.data[l - 1] == '\r')
					l--;
				char *line = xstrndup(c->in.data, l);
				buf_consume(&c->in, consumed);
				smtp_handle_line(s, line, l);
				explicit_bzero(line, l);
				free(line);
				continue;
			}
		}
		if (r < 0) {
			s->discard_line = true;
			smtp_error_reply(s, 500, "5.5.2", "Error: line too long");
			continue;
		}
		/* Copy: a command may consume input (BDAT) or the buffer may move. */
		char line[SMTP_COMMAND_LINE_MAX + 1];
		memcpy(line, c->in.data, line_len);
		line[line_len] = '\0';
		buf_consume(&c->in, consumed);
		smtp_handle_line(s, line, line_len);
	}
}

static void smtp_send_banner(struct smtp_session *s)
{
	if (smtp_milter_connect(s))
		return;	/* the milters see the connection first; the banner waits */
	smtp_enter_state(s, SMTP_STATE_CONNECTED);
	smtp_reply(s, "220 %s ESMTP mtad", s->m->cfg->hostname);
	net_conn_set_timeout(s->conn, s->m->cfg->smtp_timeout * 1000);
}

static void smtp_on_timeout(struct net_conn *c)
{
	struct smtp_session *s = c->data;
	if (s->state == SMTP_STATE_GREETING) {
		smtp_send_banner(s);
		return;
	}
	log_info("timeout after %s from [%s]", smtp_state_names[s->state], c->peer_ip);
	smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->m->cfg->hostname);
	smtp_enter_state(s, SMTP_STATE_QUIT);
	net_conn_close(c, "timeout");
}

static void smtp_on_close(struct net_conn *c, const char *reason)
{
	struct smtp_session *s = c->data;
	if (!s)
		return;
	if (s->kind != SMTP_LISTENER_LOCAL)
		log_info("disconnect from [%s] reason=%s ehlo=%u mail=%u rcpt=%u data=%u bdat=%u rset=%u quit=%u commands=%u",
		 c->peer_ip, reason, s->n_helo, s->n_mail, s->n_rcpt, s->n_data, s->n_bdat, s->n_rset,
		 s->n_quit, s->n_cmds);
	s->conn = NULL;
	if (s->async_pending) {
		s->orphaned = true;	/* freed when the commit or password check completes */
		return;
	}
	smtp_session_free(s);
}

static void smtp_on_tls_ready(struct net_conn *c)
{
	struct smtp_session *s = c->data;
	s->tls = true;
	log_info("TLS connection established from [%s]: %s", c->peer_ip, tls_session_summary(c->tls));
}

static const struct net_conn_ops smtp_conn_ops = {
	.on_read = smtp_on_read,
	.on_timeout = smtp_on_timeout,
	.on_close = smtp_on_close,
	.on_tls_ready = smtp_on_tls_ready,
};

void smtp_server_accept(struct net_listener *l, struct net_conn *c)
{
	struct mtad *m = l->data;
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	s->m = m;
	s->conn = c;
	s->kind = strcmp(l->name, "submission") == 0    ? SMTP_LISTENER_SUBMISSION
		  : strcmp(l->name, "submissions") == 0 ? SMTP_LISTENER_SUBMISSIONS
		  : strcmp(l->name, "local") == 0	? SMTP_LISTENER_LOCAL
							: SMTP_LISTENER_MX;
	s->milters = milter_set_new(m, smtp_milter_list(m->cfg, s->kind), c->peer_ip);
	if (s->kind == SMTP_LISTENER_LOCAL) {
		/* A local user, identified by the kernel: trusted like an authenticated one. */
		struct passwd pw, *res = NULL;
		char tmp[2048];
		s->authenticated = true;
		if (getpwuid_r((uid_t)c->peer_uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
			snprintf(s->auth_user, sizeof(s->auth_user), "%s", pw.pw_name);
		else
			snprintf(s->auth_user, sizeof(s->auth_user), "uid%ld", c->peer_uid);
	}
	s->state = SMTP_STATE_GREETING;
	buf_init(&s->msg);
	c->data = s;
	c->ops = &smtp_conn_ops;
	c->max_in = 256 * 1024;
	m->sessions_total++;
	s->relay_client = config_in_relay_networks(m->cfg, (const struct sockaddr *)&c->peer);
	if (s->kind == SMTP_LISTENER_LOCAL)
		log_debug("connect from local uid %ld", c->peer_uid);
	else
		log_info("connect from [%s]:%u to %s", c->peer_ip, c->peer_port, l->name);
	if (c->over_limit) {
		log_warn("reject: too many connections from [%s] (%u) or in total (%u)", c->peer_ip,
			 net_conn_count_ip(c->peer_ip), net_conn_count());
		smtp_reply(s, "421 4.7.0 %s Error: too many connections", m->cfg->hostname);
		smtp_enter_state(s, SMTP_STATE_QUIT);
		net_conn_close(c, "too many connections");
		return;
	}
	if (m->cfg->smtp_greeting_delay)
		net_conn_set_timeout(c, m->cfg->smtp_greeting_delay);
	else
		smtp_send_banner(s);
}

int smtp_server_listen(struct mtad *m, char *err, size_t errlen)
{
	const struct config *cfg = m->cfg;
	struct net_listener *before = m->listeners;
	if (net_listen(m->loop, &cfg->smtp_listen, "smtp", smtp_server_accept, m, &m->listeners,
		       err, errlen) < 0 ||
	    net_listen(m->loop, &cfg->submission_listen, "submission", smtp_server_accept, m,
		       &m->listeners, err, errlen) < 0)
		return -1;
	struct net_listener *plain_end = m->listeners;
	if (net_listen(m->loop, &cfg->submissions_listen, "submissions", smtp_server_accept, m,
		       &m->listeners, err, errlen) < 0)
		return -1;
	/* Listeners are pushed at the head: the new implicit-TLS ones come first. */
	for (struct net_listener *l = m->listeners; l != plain_end; l = l->next)
		l->tls = m->tls;
	for (struct net_listener *l = m->listeners; l != before; l = l->next) {
		l->max_connections = cfg->max_connections;
		l->max_per_ip = cfg->max_connections_per_ip;
	}
	return 0;
}

int smtp_server_listen_local(struct mtad *m, const char *path, char *err, size_t errlen)
{
	return net_listen_unix(m->loop, path, 0666, "local", smtp_server_accept, m, &m->listeners,
			       err, errlen);
}
