/* smtp_server.c - inbound SMTP session: states, replies, the command table and dispatch, connection set-up and teardown.
 * Owns struct smtp_session and its transaction; the queue owns the bytes once committed.
 * Security: reads hostile network input; all parsing goes through common/smtp_proto and addr. */
#include "smtp_server.h"
#include "client_names.h"
#include "local_sender.h"
#include "smtp_session.h"
#include "deliver.h"
#include "dns.h"
#include "log.h"
#include "metrics.h"
#include "milter.h"
#include "smtp_proto.h"
#include "tables.h"
#include "tls.h"
#include "xalloc.h"

#include <pwd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SMTP_MAX_ERRORS        20
#define SMTP_AUTH_LINE_MAX     12288 /* RFC 4954 4 */
#define SMTP_COMMANDS_PER_TURN 64

static const char *const smtp_state_names[] = {
	"greeting", "connected", "helo", "mail", "rcpt", "data", "bdat", "commit", "auth", "quit",
};

void smtp_enter_state(struct smtp_session *s, enum smtp_state st)
{
	log_debug("smtp %" PRIu64 ": %s -> %s", s->conn ? s->conn->id : 0,
		  smtp_state_names[s->state], smtp_state_names[st]);
	s->state = st;
}

/* Writes one reply line (CRLF added). */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char line[1024];
	int n;
	size_t fixed = strcspn(fmt, "%");
	if (fmt[fixed] == '\0' && fixed < sizeof(line) - 2) { /* a fixed reply: no printf */
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

void smtp_tx_reset(struct smtp_session *s)
{
	milter_abort(s->milters);
	queue_envelope_free(&s->env);
	buf_free(&s->msg);
	smtp_msg_account(s);
	s->data_overload = false;
	s->smtputf8 = false;
	s->requiretls = false;
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

static void smtp_ptr_detach(struct smtp_session *s);
static void smtp_ptr_log_connect(struct smtp_session *s);

void smtp_session_free(struct smtp_session *s)
{
	smtp_ptr_detach(s);
	buf_free(&s->msg);
	smtp_msg_account(s);
	milter_set_free(s->milters);
	free(s->milter_ok);
	queue_envelope_free(&s->env);
	buf_free(&s->msg);
	free(s);
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
	buf_append_str(&r, "250-DSN\r\n");
	if (s->m->tls && !s->tls)
		buf_append_str(&r, "250-STARTTLS\r\n");
	if (s->tls && s->kind != SMTP_LISTENER_LOCAL)
		buf_append_str(&r, "250-AUTH PLAIN LOGIN\r\n");
	if (s->tls)
		buf_append_str(&r, "250-REQUIRETLS\r\n"); /* RFC 8689 2: on TLS sessions only */
	buf_append_str(&r, "250 CHUNKING\r\n");
	smtp_milter_hook(s, SMTP_MILTER_HELO, cmd, r.data);
	buf_free(&r);
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
	if (cmd->requiretls && !s->tls) {
		smtp_error_reply(s, 530, "5.7.10", "REQUIRETLS needs a TLS session");
		return;
	}
	char sender[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	addr_format(&cmd->path, sender, sizeof(sender));
	s->local_warning[0] = '\0';
	if (s->kind == SMTP_LISTENER_LOCAL &&
	    local_sender_decide(cfg, s->conn->peer_uid, sender, sender, sizeof(sender),
				s->local_warning, sizeof(s->local_warning)))
		log_info("local uid %ld (%s) may not choose its sender: <%s> used instead",
			 s->conn->peer_uid, s->auth_user, sender);
	if (smtp_sender_check_applies(s) && !smtp_sender_owned(s, &cmd->path)) {
		log_info("reject: MAIL from [%s]: 553 5.7.1 <%s>: sender not owned by %s",
			 s->conn->peer_ip, sender, s->auth_user);
		smtp_error_reply(s, 553, "5.7.1",
				 "Sender address rejected: not owned by the authenticated user");
		return;
	}
	queue_envelope_free(&s->env);
	s->env.sender = xstrdup(sender);
	s->env.ret = cmd->ret; /* DSN (RFC 3461) */
	s->env.envid = cmd->envid[0] ? xstrdup(cmd->envid) : NULL;
	s->smtputf8 = cmd->smtputf8;
	s->requiretls = cmd->requiretls;
	s->body = cmd->body;
	s->declared_size = cmd->has_size ? cmd->size : 0;
	s->n_mail++;
	smtp_enter_state(s, SMTP_STATE_MAIL);
	smtp_milter_hook(s, SMTP_MILTER_MAIL, cmd, "250 2.1.0 Ok\r\n");
}

static bool smtp_rcpt_add(struct smtp_session *s, const char *addr, const char *orig,
			  const struct smtp_command *cmd)
{
	for (size_t i = 0; i < s->env.nrcpts; i++)
		if (strcmp(s->env.rcpts[i].addr, addr) == 0)
			return true; /* the same mailbox twice gets one copy */
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
	r->notify = cmd->notify; /* DSN (RFC 3461) */
	r->orcpt = cmd->orcpt[0] ? xstrdup(cmd->orcpt) : NULL;
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
	if (a.domain[0] == '\0') /* <postmaster> */
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
			log_info("reject: RCPT from [%s]: 554 5.7.1 <%s>: Relay access denied; "
				 "from=<%s> helo=<%s>",
				 s->conn->peer_ip, rcpt, s->env.sender, s->helo);
			smtp_error_reply(s, 554, "5.7.1", "Relay access denied");
			metric_inc(MET_RCPT_REJECTED, "relay_denied", NULL);
			return;
		}
		if (!smtp_rcpt_add(s, rcpt, NULL, cmd)) {
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
	/* A permanent refusal never comes from a stale table: re-read changed files and retry. */
	if (st == DELIVERY_UNKNOWN_USER && mtad_tables_reload(s->m) > 0) {
		free(targets);
		targets = NULL;
		ntargets = 0;
		st = delivery_resolve(cfg, s->m->accounts, s->m->aliases, &a, &targets, &ntargets,
				      err, sizeof(err));
	}
	if (st == DELIVERY_UNKNOWN_USER) {
		log_info("reject: RCPT from [%s]: 550 5.1.1 <%s>: Recipient address rejected: User "
			 "unknown; from=<%s>",
			 s->conn->peer_ip, rcpt, s->env.sender);
		smtp_error_reply(s, 550, "5.1.1", "Recipient address rejected: User unknown");
		metric_inc(MET_RCPT_REJECTED, "unknown_user", NULL);
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
	if (smtp_quota_rcpt(s, cmd, rcpt, targets, ntargets))
		return; /* the quota check on the thread pool goes on with smtp_rcpt_accept */
	smtp_rcpt_accept(s, cmd, rcpt, targets, ntargets);
}

void smtp_rcpt_accept(struct smtp_session *s, const struct smtp_command *cmd, const char *rcpt,
		      struct delivery_target *targets, size_t ntargets)
{
	for (size_t i = 0; i < ntargets; i++) {
		char t[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
		addr_format(&targets[i].addr, t, sizeof(t));
		if (!smtp_rcpt_add(s, t, rcpt, cmd)) {
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
	{ SMTP_VERB_HELO, smtp_cmd_helo },         { SMTP_VERB_EHLO, smtp_cmd_helo },
	{ SMTP_VERB_MAIL, smtp_cmd_mail },         { SMTP_VERB_RCPT, smtp_cmd_rcpt },
	{ SMTP_VERB_DATA, smtp_cmd_data },         { SMTP_VERB_BDAT, smtp_cmd_bdat },
	{ SMTP_VERB_RSET, smtp_cmd_rset },         { SMTP_VERB_NOOP, smtp_cmd_noop },
	{ SMTP_VERB_QUIT, smtp_cmd_quit },         { SMTP_VERB_VRFY, smtp_cmd_vrfy },
	{ SMTP_VERB_EXPN, smtp_cmd_expn },         { SMTP_VERB_HELP, smtp_cmd_help },
	{ SMTP_VERB_STARTTLS, smtp_cmd_starttls }, { SMTP_VERB_AUTH, smtp_cmd_auth },
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
			smtp_reply(s, "554 5.5.1 %s Error: talking before the greeting",
				   s->m->cfg->hostname);
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
				smtp_reply(
					s,
					"500 5.5.6 Error: authentication exchange line too long");
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

void smtp_send_banner(struct smtp_session *s)
{
	if (smtp_milter_connect(s))
		return; /* the milters see the connection first; the banner waits */
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
	if (s->kind != SMTP_LISTENER_LOCAL && !s->ptr_done) {
		smtp_ptr_detach(s); /* gone before its name was known */
		s->ptr_done = true;
		smtp_ptr_log_connect(s);
	}
	if (s->kind != SMTP_LISTENER_LOCAL)
		log_info("disconnect from [%s] reason=%s ehlo=%u mail=%u rcpt=%u data=%u bdat=%u "
			 "rset=%u quit=%u commands=%u",
			 c->peer_ip, reason, s->n_helo, s->n_mail, s->n_rcpt, s->n_data, s->n_bdat,
			 s->n_rset, s->n_quit, s->n_cmds);
	s->conn = NULL;
	if (s->async_pending) {
		s->orphaned = true; /* freed when the commit or password check completes */
		return;
	}
	smtp_session_free(s);
}

static void smtp_on_tls_ready(struct net_conn *c)
{
	struct smtp_session *s = c->data;
	s->tls = true;
	log_info("TLS connection established from [%s]: %s", c->peer_ip,
		 tls_session_summary(c->tls));
}

static const struct net_conn_ops smtp_conn_ops = {
	.on_read = smtp_on_read,
	.on_timeout = smtp_on_timeout,
	.on_close = smtp_on_close,
	.on_tls_ready = smtp_on_tls_ready,
};

/* ---- the client's name: PTR, forward-confirmed, at most SMTP_PTR_TIMEOUT_MS ---- */

/* The lookup outlives its session when the client leaves first: the answer then only frees
 * it. */
struct smtp_ptr {
	struct smtp_session *s; /* NULL once the session is gone or the lookup is over */
	uv_timer_t timer;
	bool dns_pending; /* the resolver still owes its callback */
	bool timer_open;  /* the timer handle is not closed yet */
};

static void smtp_ptr_release(struct smtp_ptr *p)
{
	if (!p->dns_pending && !p->timer_open)
		free(p);
}

static void smtp_ptr_timer_closed(uv_handle_t *h)
{
	struct smtp_ptr *p = h->data;
	p->timer_open = false;
	smtp_ptr_release(p);
}

/* Ends the session's interest in the lookup (the answer, if it still comes, is dropped). */
static void smtp_ptr_detach(struct smtp_session *s)
{
	struct smtp_ptr *p = s->ptr;
	if (!p)
		return;
	s->ptr = NULL;
	p->s = NULL;
	if (p->timer_open && !uv_is_closing((uv_handle_t *)&p->timer))
		uv_close((uv_handle_t *)&p->timer, smtp_ptr_timer_closed);
}

static void smtp_ptr_log_connect(struct smtp_session *s)
{
	struct net_conn *c = s->conn;
	log_info("connect from %s[%s]:%u to %s", s->client_name, c->peer_ip, c->peer_port,
		 s->listener_name);
}

/* The name is final (found, refused or timed out): log the connection, and let the milters'
 * connect stage run if it was waiting for it. */
static void smtp_ptr_finish(struct smtp_session *s, const char *why)
{
	smtp_ptr_detach(s);
	s->ptr_done = true;
	if (why && why[0])
		log_debug("client [%s]: name %s: %s", s->conn ? s->conn->peer_ip : "?",
			  s->client_name, why);
	if (!s->conn)
		return;
	smtp_ptr_log_connect(s);
	if (s->ptr_wait_milter) {
		s->ptr_wait_milter = false;
		net_conn_resume(s->conn);
		smtp_send_banner(s);
	}
}

static void smtp_ptr_answer(const struct dns_ptr_result *res, void *arg)
{
	struct smtp_ptr *p = arg;
	struct smtp_session *s = p->s;
	p->dns_pending = false;
	if (!s) {
		smtp_ptr_release(p);
		return;
	}
	if (res->ptr_name[0])
		snprintf(s->client_ptr, sizeof(s->client_ptr), "%s", res->ptr_name);
	if (res->confirmed)
		snprintf(s->client_name, sizeof(s->client_name), "%s", res->ptr_name);
	if (res->status == DNS_CANCELLED) { /* the daemon is stopping */
		smtp_ptr_detach(s);
		s->ptr_done = true;
		return;
	}
	smtp_ptr_finish(s, res->error);
}

static void smtp_ptr_timeout(uv_timer_t *t)
{
	struct smtp_ptr *p = t->data;
	if (p->s)
		smtp_ptr_finish(p->s, "lookup timed out");
}

static void smtp_ptr_start(struct smtp_session *s)
{
	struct mtad *m = s->m;
	if (!m->client_names && m->dns)
		m->client_names = client_names_new(m->loop, m->dns);
	struct smtp_ptr *p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->dns_pending = true;
	const struct dns_ptr_result *known = NULL;
	int r = client_names_lookup(m->client_names, (const struct sockaddr *)&s->conn->peer,
				    &known, smtp_ptr_answer, p);
	if (r != 0) {
		free(p);
		if (r < 0) {
			smtp_ptr_finish(s, "no resolver");
			return;
		}
		/* Known from a recent connection of the same address. */
		if (known->ptr_name[0])
			snprintf(s->client_ptr, sizeof(s->client_ptr), "%s", known->ptr_name);
		if (known->confirmed)
			snprintf(s->client_name, sizeof(s->client_name), "%s", known->ptr_name);
		smtp_ptr_finish(s, known->error);
		return;
	}
	if (!p->dns_pending) { /* answered before the call returned */
		free(p);
		return;
	}
	s->ptr = p;
	uv_timer_init(m->loop, &p->timer);
	p->timer.data = p;
	p->timer_open = true;
	uv_timer_start(&p->timer, smtp_ptr_timeout, SMTP_PTR_TIMEOUT_MS, 0);
}

void smtp_server_accept(struct net_listener *l, struct net_conn *c)
{
	struct mtad *m = l->data;
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	s->m = m;
	s->conn = c;
	s->kind = strcmp(l->name, "submission") == 0    ? SMTP_LISTENER_SUBMISSION
		  : strcmp(l->name, "submissions") == 0 ? SMTP_LISTENER_SUBMISSIONS
		  : strcmp(l->name, "local") == 0       ? SMTP_LISTENER_LOCAL
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
	metric_inc(MET_SMTP_SESSIONS, NULL, NULL);
	s->relay_client = config_in_relay_networks(m->cfg, (const struct sockaddr *)&c->peer);
	snprintf(s->listener_name, sizeof(s->listener_name), "%s", l->name);
	snprintf(s->client_name, sizeof(s->client_name), "%s",
		 c->is_unix ? "localhost" : "unknown");
	snprintf(s->client_ptr, sizeof(s->client_ptr), "%s", s->client_name);
	if (s->kind == SMTP_LISTENER_LOCAL || c->is_unix) {
		s->ptr_done = true;
		log_debug("connect from local uid %ld", c->peer_uid);
	} else if (c->over_limit) {
		s->ptr_done = true;
		smtp_ptr_log_connect(s);
	} else {
		smtp_ptr_start(s); /* logs the connection when the name is known */
	}
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
	if (!m->dns) {
		/* Clients' reverse lookups: short tries, SMTP_PTR_TIMEOUT_MS bounds them all. */
		struct dns_options opts = { .timeout_ms = 1500, .tries = 2 };
		m->dns = dns_new_opts(m->loop, &cfg->dns_servers, &opts, err, errlen);
		if (!m->dns)
			return -1;
	}
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
