/* smtp_milter.c - the SMTP session's milter glue (milter.h): a hook runs a stage and pauses the session until it is answered. */
#include "smtp_session.h"
#include "log.h"
#include "metrics.h"
#include "milter.h"
#include "smtp_proto.h"
#include "tls.h"
#include "xalloc.h"

#include <netdb.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The listener's own list when set, else the global one. */
const struct config_strlist *smtp_milter_list(const struct config *cfg,
					      enum smtp_listener_kind kind)
{
	const struct config_strlist *l = kind == SMTP_LISTENER_MX      ? &cfg->smtp_milters
					 : kind == SMTP_LISTENER_LOCAL ? &cfg->local_milters
								       : &cfg->submission_milters;
	return l->items ? l : &cfg->milters;
}

/* {daemon_name}: the listener's own setting, else milter_daemon_name, else the hostname. */
const char *smtp_milter_daemon_name(const struct config *cfg, enum smtp_listener_kind kind)
{
	const char *n = kind == SMTP_LISTENER_MX      ? cfg->smtp_milter_daemon_name
			: kind == SMTP_LISTENER_LOCAL ? cfg->local_milter_daemon_name
						      : cfg->submission_milter_daemon_name;
	if (!n)
		n = cfg->milter_daemon_name;
	return n ? n : cfg->hostname;
}

struct smtp_milter_macros {
	const char *v[48];
	size_t n;
	char tmp[4][96];
	char client[336]; /* "_": "name [address]" */
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
	smtp_milter_macro(mm, "{daemon_name}", smtp_milter_daemon_name(cfg, s->kind));
	switch (hook) {
	case SMTP_MILTER_CONNECT:
		if (c->is_unix) {
			smtp_milter_macro(mm, "{client_name}", "localhost");
			break;
		}
		snprintf(mm->tmp[0], sizeof(mm->tmp[0]), "[%s]", c->peer_ip);
		snprintf(mm->tmp[1], sizeof(mm->tmp[1]), "%u", c->peer_port);
		if (getnameinfo((const struct sockaddr *)net_conn_local(c), sizeof(c->local),
				mm->tmp[2], sizeof(mm->tmp[2]), NULL, 0, NI_NUMERICHOST) == 0) {
			if (strncmp(mm->tmp[2], "::ffff:", 7) == 0 && strchr(mm->tmp[2], '.'))
				memmove(mm->tmp[2], mm->tmp[2] + 7, strlen(mm->tmp[2] + 7) + 1);
			smtp_milter_macro(mm, "{if_addr}", mm->tmp[2]);
		}
		snprintf(mm->tmp[3], sizeof(mm->tmp[3]), "%u", c->local_port);
		smtp_milter_macro(mm, "{daemon_port}", mm->tmp[3]);
		/* As Postfix: the verified name or "unknown", the PTR name as published. */
		snprintf(mm->client, sizeof(mm->client), "%s [%s]", s->client_name, c->peer_ip);
		smtp_milter_macro(mm, "{client_addr}", c->peer_ip);
		smtp_milter_macro(mm, "{client_name}", s->client_name);
		smtp_milter_macro(mm, "{client_ptr}", s->client_ptr);
		smtp_milter_macro(mm, "{client_port}", mm->tmp[1]);
		smtp_milter_macro(mm, "_", mm->client);
		break;
	case SMTP_MILTER_HELO:
	case SMTP_MILTER_MAIL:
		if (s->tls && c->tls) {
			snprintf(mm->tmp[0], sizeof(mm->tmp[0]), "%d",
				 tls_session_cipher_bits(c->tls, NULL));
			smtp_milter_macro(mm, "{tls_version}", tls_session_version(c->tls));
			smtp_milter_macro(mm, "{cipher}", tls_session_cipher(c->tls));
			smtp_milter_macro(mm, "{cipher_bits}", mm->tmp[0]);
		}
		if (hook == SMTP_MILTER_HELO)
			break;
		smtp_milter_macro(mm, "{mail_addr}", s->env.sender);
		if (s->authenticated) {
			smtp_milter_macro(mm, "{auth_authen}", s->auth_user);
			smtp_milter_macro(mm, "{auth_type}",
					  s->kind == SMTP_LISTENER_LOCAL ? "local"
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
	s->milter_started = uv_hrtime();
	free(s->milter_ok);
	s->milter_ok = ok ? xstrdup(ok) : NULL;
	s->async_pending = true;
	net_conn_pause(s->conn);
}

/* A command passed our own checks: the milters decide, then ok (CRLF-ended) is the reply. */
void smtp_milter_hook(struct smtp_session *s, int hook, const struct smtp_command *cmd,
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
bool smtp_milter_connect(struct smtp_session *s)
{
	if (!s->milters || s->milter_connected)
		return false;
	if (!s->ptr_done) {
		/* The milters see the client's name: wait for the lookup (bounded). */
		s->ptr_wait_milter = true;
		net_conn_pause(s->conn);
		return true;
	}
	s->milter_connected = true;
	struct smtp_milter_macros mm;
	smtp_milter_macros(s, SMTP_MILTER_CONNECT, &mm);
	smtp_milter_wait(s, SMTP_MILTER_CONNECT, NULL);
	struct net_conn *c = s->conn;
	if (c->is_unix) {
		milter_stage_connect(s->milters, "localhost", 'L', 0,
				     c->listener ? c->listener->addr_text : "", mm.v,
				     smtp_milter_done, s);
		return true;
	}
	/* The connect stage's host name: the verified name, else "[address]". */
	const char *host = strcmp(s->client_name, "unknown") != 0 ? s->client_name : mm.tmp[0];
	milter_stage_connect(s->milters, host, strchr(c->peer_ip, ':') ? '6' : '4', c->peer_port,
			     c->peer_ip, mm.v, smtp_milter_done, s);
	return true;
}

bool smtp_milter_data(struct smtp_session *s)
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
bool smtp_milter_eom(struct smtp_session *s)
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
	static const char *const names[] = { "",     "CONNECT", "HELO",          "MAIL",
					     "RCPT", "DATA",    "END-OF-MESSAGE" };
	struct smtp_session *s = arg;
	int hook = s->milter_hook;
	static const char *const verdicts[] = { "continue", "reject", "tempfail", "discard",
						"shutdown" };
	metric_inc(MET_MILTER_VERDICTS, verdicts[r->verdict], NULL);
	metric_observe(MET_MILTER_SECONDS, NULL, NULL,
		       (double)(uv_hrtime() - s->milter_started) / 1e9);
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
			metric_inc(MET_MESSAGES_REJECTED, "milter", NULL);
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
