/* lmtp_server.c - the LMTP (RFC 2033) server of lmtpd: sessions that deliver each message into the local Maildirs and answer per recipient. */
#include "lmtp_server.h"

#include "accounts.h"
#include "buf.h"
#include "config.h"
#include "deliver.h"
#include "log.h"
#include "net.h"
#include "rfc5322.h"
#include "smtp_proto.h"
#include "str.h"
#include "tls.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LMTP_ADDR_MAX (ADDR_LOCAL_MAX * 2 + ADDR_DOMAIN_MAX + 8)

enum lmtp_state {
	LMTP_STATE_GREETED, /* before LHLO */
	LMTP_STATE_READY,   /* after LHLO or RSET: MAIL expected */
	LMTP_STATE_MAIL,    /* after MAIL: RCPT expected */
	LMTP_STATE_RCPT,    /* at least one recipient accepted */
	LMTP_STATE_DATA,    /* reading the message */
	LMTP_STATE_DELIVER, /* the message is being written on the thread pool */
};

/* One accepted RCPT: the address as given (for the reply) and the mailboxes it resolved to. */
struct lmtp_rcpt {
	char given[LMTP_ADDR_MAX];
	struct addr *targets;
	size_t n_targets;
	int code; /* after delivery: the reply */
	char reply[LMTP_ADDR_MAX + 200];
};

struct lmtp_session {
	struct lmtp_server *srv;
	struct net_conn *conn; /* NULL once the client is gone (a delivery may still run) */
	enum lmtp_state state;
	uint64_t number;
	unsigned transactions;
	char id[64]; /* of the current transaction, for the log and the Maildir names */
	char lhlo[256];
	bool tls;
	bool skip_line; /* an over-long command line: discard through its LF */
	char *sender;   /* as on the wire, "" for <> */
	struct lmtp_rcpt *rcpts;
	size_t n_rcpts;
	struct smtp_data_reader data;
	struct buf msg;
	int64_t arrival;
	double started; /* of the transaction, for delay= */
	uv_work_t work;
};

/* ---- replies and the transaction ---- */

static void lmtp_reply(struct lmtp_session *s, const char *text)
{
	if (s->conn)
		net_conn_printf(s->conn, "%s\r\n", text);
}

static double lmtp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void lmtp_tx_reset(struct lmtp_session *s)
{
	for (size_t i = 0; i < s->n_rcpts; i++)
		free(s->rcpts[i].targets);
	free(s->rcpts);
	s->rcpts = NULL;
	s->n_rcpts = 0;
	free(s->sender);
	s->sender = NULL;
	buf_free(&s->msg);
	if (s->state != LMTP_STATE_GREETED)
		s->state = LMTP_STATE_READY;
}

static void lmtp_session_free(struct lmtp_session *s)
{
	lmtp_tx_reset(s);
	free(s);
}

/* ---- commands ---- */

static void lmtp_cmd_lhlo(struct lmtp_session *s, const char *arg, size_t len)
{
	const struct config *cfg = s->srv->cfg;
	while (len && arg[len - 1] == ' ')
		len--;
	if (len == 0 || len >= sizeof(s->lhlo)) {
		lmtp_reply(s, "501 5.5.4 Syntax: LHLO hostname");
		return;
	}
	memcpy(s->lhlo, arg, len);
	s->lhlo[len] = '\0';
	for (char *p = s->lhlo; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			*p = '?';
	lmtp_tx_reset(s);
	s->state = LMTP_STATE_READY;
	/* No DSN: the front end keeps the duty of success notices (a final delivery here). */
	net_conn_printf(s->conn, "250-%s\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n",
			cfg->hostname);
	if (s->srv->tls && !s->tls && !s->conn->is_unix)
		net_conn_printf(s->conn, "250-STARTTLS\r\n");
	net_conn_printf(s->conn, "250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE %llu\r\n",
			(unsigned long long)cfg->max_message_size);
}

static void lmtp_cmd_mail(struct lmtp_session *s, const struct smtp_command *cmd)
{
	if (s->state == LMTP_STATE_GREETED) {
		lmtp_reply(s, "503 5.5.1 Error: send LHLO first");
		return;
	}
	if (s->state != LMTP_STATE_READY) {
		lmtp_reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (cmd->has_size && cmd->size > s->srv->cfg->max_message_size) {
		lmtp_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	char sender[LMTP_ADDR_MAX];
	sender[0] = '\0';
	if (cmd->path.local[0] || cmd->path.domain[0])
		addr_format(&cmd->path, sender, sizeof(sender));
	s->sender = xstrdup(sender);
	/* Each transaction its own id: it names the Maildir files (unique per message). */
	str_format(s->id, sizeof(s->id), "L%llxS%lluT%u", (unsigned long long)time(NULL),
		   (unsigned long long)s->number, ++s->transactions);
	s->state = LMTP_STATE_MAIL;
	s->started = lmtp_now();
	lmtp_reply(s, "250 2.1.0 Ok");
}

/* Resolution happens here, on the loop, against the current tables; the delivery job only
 * gets the resolved mailboxes. A recipient that reaches a remote address is refused: this
 * host delivers to its own mailboxes and relays nothing (front ends expand such aliases). */
static void lmtp_cmd_rcpt(struct lmtp_session *s, const struct smtp_command *cmd)
{
	const struct config *cfg = s->srv->cfg;
	char given[LMTP_ADDR_MAX], err[512], line[LMTP_ADDR_MAX + 600];
	if (s->state != LMTP_STATE_MAIL && s->state != LMTP_STATE_RCPT) {
		lmtp_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->n_rcpts >= cfg->max_recipients) {
		lmtp_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	addr_format(&cmd->path, given, sizeof(given));
	char shown[LMTP_ADDR_MAX * 4];
	str_escape_printable(given, strlen(given), shown, sizeof(shown));
	struct delivery_target *t = NULL;
	size_t n = 0;
	err[0] = '\0';
	enum delivery_status st = delivery_resolve(cfg, s->srv->accounts, s->srv->aliases,
						   &cmd->path, &t, &n, err, sizeof(err));
	/* Never refuse for good from a stale table: re-read changed files and look again. */
	if (st == DELIVERY_UNKNOWN_USER &&
	    delivery_tables_reload(&s->srv->accounts, &s->srv->aliases) > 0) {
		free(t);
		t = NULL;
		err[0] = '\0';
		st = delivery_resolve(cfg, s->srv->accounts, s->srv->aliases, &cmd->path, &t, &n,
				      err, sizeof(err));
	}
	bool remote = false;
	if (st == DELIVERY_OK) {
		for (size_t i = 0; i < n; i++)
			if (!t[i].local) {
				remote = true;
				st = DELIVERY_UNKNOWN_USER;
				str_format(err, sizeof(err),
					   "alias to a remote address: this host relays nothing");
			}
	}
	if (st != DELIVERY_OK) {
		free(t);
		log_info("%s: reject: RCPT from %s[%s]: <%s>: %s", s->id, s->lhlo, s->conn->peer_ip,
			 shown, err[0] ? err : "unknown user");
		str_format(line, sizeof(line), "550 5.1.1 <%s>: Recipient address rejected: %s",
			   shown, st == DELIVERY_PERMFAIL || remote ? err : "User unknown here");
		lmtp_reply(s, line);
		return;
	}
	s->rcpts = xrealloc(s->rcpts, (s->n_rcpts + 1) * sizeof(*s->rcpts));
	struct lmtp_rcpt *r = &s->rcpts[s->n_rcpts++];
	memset(r, 0, sizeof(*r));
	memcpy(r->given, given, sizeof(given));
	r->targets = xcalloc(n, sizeof(*r->targets));
	for (size_t i = 0; i < n; i++)
		r->targets[i] = t[i].addr;
	r->n_targets = n;
	free(t);
	s->state = LMTP_STATE_RCPT;
	lmtp_reply(s, "250 2.1.5 Ok");
}

/* The trace header of this hop (RFC 5321 4.4, RFC 2033 4.4's "with LMTP"). */
static void lmtp_received_header(struct lmtp_session *s)
{
	char date[64];
	rfc5322_format_date(time(NULL), date, sizeof(date));
	buf_reset(&s->msg);
	buf_printf(&s->msg, "Received: from %s (%s)\r\n\tby %s (lmtpd) with LMTP%s id %s", s->lhlo,
		   s->conn->peer_ip, s->srv->cfg->hostname, s->tls ? "S" : "", s->id);
	if (s->n_rcpts == 1)
		buf_printf(&s->msg, "\r\n\tfor <%s>", s->rcpts[0].given);
	buf_printf(&s->msg, "; %s\r\n", date);
}

static void lmtp_cmd_data(struct lmtp_session *s)
{
	if (s->state != LMTP_STATE_RCPT) {
		lmtp_reply(s, s->state == LMTP_STATE_MAIL ? "554 5.5.1 Error: no valid recipients"
							  : "503 5.5.1 Error: need RCPT command");
		return;
	}
	s->arrival = (int64_t)time(NULL);
	lmtp_received_header(s);
	smtp_data_reader_init(&s->data, s->srv->cfg->max_message_size, SMTP_BODY_CHECK_STRICT);
	s->state = LMTP_STATE_DATA;
	net_conn_set_timeout(s->conn, s->srv->cfg->smtp_data_timeout * 1000);
	lmtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void lmtp_cmd_starttls(struct lmtp_session *s)
{
	if (!s->srv->tls || s->tls || s->conn->is_unix) {
		lmtp_reply(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (s->state != LMTP_STATE_GREETED && s->state != LMTP_STATE_READY) {
		lmtp_reply(s, "503 5.5.1 Error: STARTTLS inside a transaction");
		return;
	}
	lmtp_reply(s, "220 2.0.0 Ready to start TLS");
	net_conn_flush(s->conn);
	if (net_conn_start_tls(s->conn, s->srv->tls) < 0) {
		net_conn_close(s->conn, "TLS setup failed");
		return;
	}
	/* RFC 3207 4.2: forget everything learnt before TLS, LHLO too. */
	s->tls = true; /* the handshake itself runs before any further command is read */
	lmtp_tx_reset(s);
	s->state = LMTP_STATE_GREETED;
	s->lhlo[0] = '\0';
}

/* ---- delivery on the thread pool ---- */

static void lmtp_deliver_work(uv_work_t *w)
{
	struct lmtp_session *s = w->data;
	const struct config *cfg = s->srv->cfg;
	size_t unique_n = 0;
	for (size_t i = 0; i < s->n_rcpts; i++) {
		struct lmtp_rcpt *r = &s->rcpts[i];
		enum delivery_status worst = DELIVERY_OK;
		char err[512];
		err[0] = '\0';
		for (size_t k = 0; k < r->n_targets; k++) {
			char unique[64];
			str_format(unique, sizeof(unique), "%sR%zu", s->id, unique_n++);
			struct delivery_request req = {
				.cfg = cfg,
				.rcpt = &r->targets[k],
				.sender = s->sender,
				.unique = unique,
				.msg = s->msg.data,
				.msg_len = s->msg.len,
				.arrival = s->arrival,
			};
			char e[512];
			e[0] = '\0';
			enum delivery_status st = delivery_maildir(&req, e, sizeof(e));
			if (st != DELIVERY_OK &&
			    (worst == DELIVERY_OK || st == DELIVERY_TEMPFAIL)) {
				worst = st;
				memcpy(err, e, sizeof(err));
			}
		}
		if (worst == DELIVERY_OK) {
			r->code = 250;
			str_format(r->reply, sizeof(r->reply), "250 2.0.0 <%s> %s Saved", r->given,
				   s->id);
		} else if (worst == DELIVERY_TEMPFAIL) {
			r->code = 451;
			str_format(r->reply, sizeof(r->reply),
				   "451 4.3.0 <%s> Temporary failure: %s", r->given,
				   err[0] ? err : "cannot write the mailbox");
		} else {
			r->code = 554;
			str_format(r->reply, sizeof(r->reply), "554 5.3.0 <%s> Delivery failed: %s",
				   r->given, err[0] ? err : "cannot deliver");
		}
	}
}

static void lmtp_deliver_done(uv_work_t *w, int status)
{
	struct lmtp_session *s = w->data;
	s->srv->jobs--;
	double delay = lmtp_now() - s->started;
	for (size_t i = 0; i < s->n_rcpts; i++) {
		struct lmtp_rcpt *r = &s->rcpts[i];
		if (status < 0) {
			r->code = 451;
			str_format(r->reply, sizeof(r->reply), "451 4.3.0 <%s> Delivery cancelled",
				   r->given);
		}
		char why[sizeof(r->reply) * 4];
		str_escape_printable(r->reply + 4, strlen(r->reply + 4), why, sizeof(why));
		log_info("%s: to=<%s>, relay=local, delay=%.2f, status=%s (%s)", s->id, r->given,
			 delay,
			 r->code == 250   ? "sent"
			 : r->code == 451 ? "deferred"
					  : "bounced",
			 why);
		lmtp_reply(s, r->reply);
	}
	lmtp_tx_reset(s);
	if (!s->conn) {
		lmtp_session_free(s);
		return;
	}
	net_conn_set_timeout(s->conn, s->srv->cfg->smtp_timeout * 1000);
	/* Serves what the client pipelined after the data, as a read callback would. */
	net_conn_resume(s->conn);
}

/* The end of the data: one reply per accepted recipient, after its mailbox is on disk. A
 * flawed or too big message gets the same refusal for every recipient at once. */
static void lmtp_message_complete(struct lmtp_session *s)
{
	const char *refuse = NULL;
	if (s->data.flaws & SMTP_DATA_FLAW_TOO_BIG)
		refuse = "552 5.3.4 Message size exceeds fixed limit";
	else if (s->data.flaws & (SMTP_DATA_FLAW_BARE_LF | SMTP_DATA_FLAW_BARE_CR))
		refuse = "554 5.6.0 Message contains bare CR or LF; lines must end in CRLF";
	else if (s->data.flaws & SMTP_DATA_FLAW_NUL)
		refuse = "554 5.6.0 Message contains NUL octets";
	else if (s->data.flaws & SMTP_DATA_FLAW_LONG_LINE)
		refuse = "554 5.6.0 Message has a line over 998 octets";
	if (refuse) {
		log_info("%s: reject: message from %s[%s]: %s", s->id, s->lhlo, s->conn->peer_ip,
			 refuse);
		for (size_t i = 0; i < s->n_rcpts; i++)
			lmtp_reply(s, refuse);
		lmtp_tx_reset(s);
		net_conn_set_timeout(s->conn, s->srv->cfg->smtp_timeout * 1000);
		return;
	}
	log_info("%s: from=<%s>, size=%zu, nrcpt=%zu (LMTP from %s[%s])", s->id, s->sender,
		 s->msg.len, s->n_rcpts, s->lhlo, s->conn->peer_ip);
	s->state = LMTP_STATE_DELIVER;
	net_conn_pause(s->conn);
	s->work.data = s;
	s->srv->jobs++;
	if (uv_queue_work(s->srv->loop, &s->work, lmtp_deliver_work, lmtp_deliver_done) < 0) {
		lmtp_deliver_work(&s->work);
		lmtp_deliver_done(&s->work, 0);
	}
}

static void lmtp_read_data(struct lmtp_session *s)
{
	struct net_conn *c = s->conn;
	size_t out_len = 0, consumed = 0;
	size_t room = smtp_data_out_room(&s->data, c->in.len);
	enum smtp_data_status st;
	if (!(s->data.flaws & SMTP_DATA_FLAW_TOO_BIG)) {
		buf_reserve(&s->msg, room + 1);
		st = smtp_data_feed(&s->data, c->in.data, c->in.len, s->msg.data + s->msg.len,
				    &out_len, &consumed);
		s->msg.len += out_len;
	} else {
		/* Over the limit: keep looking for the end, storing nothing. */
		st = smtp_data_skip(&s->data, c->in.data, c->in.len, &consumed);
	}
	buf_consume(&c->in, consumed);
	if (st == SMTP_DATA_END)
		lmtp_message_complete(s);
}

static void lmtp_command(struct lmtp_session *s, const char *line, size_t len)
{
	if (len >= 4 && strncasecmp(line, "LHLO", 4) == 0 && (len == 4 || line[4] == ' ')) {
		lmtp_cmd_lhlo(s, len > 5 ? line + 5 : "", len > 5 ? len - 5 : 0);
		return;
	}
	struct smtp_command cmd;
	struct smtp_error e;
	if (smtp_command_parse(line, len, ADDR_ALLOW_UTF8, &cmd, &e) < 0) {
		char reply[300];
		str_format(reply, sizeof(reply), "%d %s %s", e.code, e.enhanced, e.text);
		lmtp_reply(s, reply);
		return;
	}
	switch (cmd.verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		/* RFC 2033 4.1: an LMTP server must not accept them. */
		lmtp_reply(s, "500 5.5.1 Error: this is LMTP: send LHLO");
		break;
	case SMTP_VERB_MAIL:
		lmtp_cmd_mail(s, &cmd);
		break;
	case SMTP_VERB_RCPT:
		lmtp_cmd_rcpt(s, &cmd);
		break;
	case SMTP_VERB_DATA:
		lmtp_cmd_data(s);
		break;
	case SMTP_VERB_RSET:
		lmtp_tx_reset(s);
		lmtp_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		lmtp_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_VRFY:
		lmtp_reply(s, "252 2.5.0 Send the message; delivery will tell");
		break;
	case SMTP_VERB_STARTTLS:
		lmtp_cmd_starttls(s);
		break;
	case SMTP_VERB_QUIT:
		lmtp_reply(s, "221 2.0.0 Bye");
		net_conn_close(s->conn, "QUIT");
		break;
	default:
		lmtp_reply(s, "502 5.5.1 Error: command not implemented");
		break;
	}
}

/* ---- connection callbacks ---- */

static void lmtp_on_read(struct net_conn *c)
{
	struct lmtp_session *s = c->data;
	while (s->conn && !c->closing && c->in.len && s->state != LMTP_STATE_DELIVER) {
		if (s->state == LMTP_STATE_DATA) {
			lmtp_read_data(s);
			if (s->state == LMTP_STATE_DATA)
				return; /* all input used; more to come */
			continue;
		}
		size_t line_len, consumed;
		int r = smtp_line_next(c->in.data, c->in.len, &line_len, &consumed);
		if (r == 0)
			return;
		if (r < 0) {
			/* Over-long: answer once, drop through the next LF. */
			if (!s->skip_line)
				lmtp_reply(s, "500 5.5.2 Error: line too long");
			s->skip_line = true;
			buf_consume(&c->in, c->in.len);
			return;
		}
		char line[SMTP_COMMAND_LINE_MAX + 1];
		bool skip = s->skip_line;
		s->skip_line = false;
		if (!skip)
			memcpy(line, c->in.data, line_len);
		buf_consume(&c->in, consumed);
		if (!skip)
			lmtp_command(s, line, line_len);
	}
}

static void lmtp_on_timeout(struct net_conn *c)
{
	struct lmtp_session *s = c->data;
	if (s->state == LMTP_STATE_DELIVER)
		return; /* our own work: the client waits for us */
	lmtp_reply(s, "421 4.4.2 Error: timeout exceeded");
	net_conn_close(c, "timeout");
}

static void lmtp_on_close(struct net_conn *c, const char *reason)
{
	struct lmtp_session *s = c->data;
	log_info("disconnect from [%s] (%s)", c->peer_ip, reason ? reason : "closed");
	s->conn = NULL;
	if (s->state == LMTP_STATE_DELIVER)
		return; /* lmtp_deliver_done frees it */
	lmtp_session_free(s);
}

static void lmtp_on_tls_ready(struct net_conn *c)
{
	log_info("TLS connection established from [%s]: %s", c->peer_ip,
		 tls_session_summary(c->tls));
}

static const struct net_conn_ops lmtp_ops = {
	.on_read = lmtp_on_read,
	.on_timeout = lmtp_on_timeout,
	.on_close = lmtp_on_close,
	.on_tls_ready = lmtp_on_tls_ready,
};

static void lmtp_accept(struct net_listener *l, struct net_conn *c)
{
	struct lmtp_server *srv = l->data;
	if (c->over_limit) {
		net_conn_printf(c, "421 4.7.0 %s Error: too many connections\r\n",
				srv->cfg->hostname);
		net_conn_close(c, "too many connections");
		return;
	}
	struct lmtp_session *s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->conn = c;
	s->number = ++srv->next_id;
	str_format(s->id, sizeof(s->id), "L%llx%llx", (unsigned long long)time(NULL),
		   (unsigned long long)s->number);
	buf_init(&s->msg);
	c->ops = &lmtp_ops;
	c->data = s;
	log_info("connect from [%s]", c->peer_ip);
	net_conn_set_timeout(c, srv->cfg->smtp_timeout * 1000);
	net_conn_printf(c, "220 %s LMTP server ready\r\n", srv->cfg->hostname);
}

int lmtp_server_listen(struct lmtp_server *srv, char *err, size_t errlen)
{
	const char *spec = srv->cfg->lmtp_listen;
	if (!spec || !spec[0]) {
		str_format(err, errlen, "lmtp_listen is not set: nothing to serve");
		return -1;
	}
	if (strncmp(spec, "unix:", 5) == 0)
		return net_listen_unix(srv->loop, spec + 5, 0660, "lmtp", lmtp_accept, srv,
				       &srv->listeners, err, errlen);
	struct config_hostport hp;
	const char *why;
	if (config_value_hostport(spec, 0, true, &hp, &why) < 0) {
		str_format(err, errlen, "lmtp_listen %s: %s", spec, why);
		return -1;
	}
	struct config_hostport_list list = { .items = &hp, .n = 1 };
	return net_listen(srv->loop, &list, "lmtp", lmtp_accept, srv, &srv->listeners, err, errlen);
}
