/* smtp_data.c - the message of an SMTP transaction: DATA, BDAT, our Received: header, checks at the end, the hand-off to the queue. */
#include "smtp_session.h"
#include "log.h"
#include "metrics.h"
#include "milter.h"
#include "queue.h"
#include "rfc5322.h"
#include "scheduler.h"
#include "smtp_proto.h"
#include "tls.h"
#include "xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SMTP_MAX_RECEIVED    30
#define SMTP_DATA_MEMORY_MAX ((size_t)1 << 30) /* all sessions' message buffers together */

/* Keeps the daemon-wide count of bytes held in message buffers in step with s->msg, so
 * many large concurrent messages cannot exhaust memory (SMTP_DATA_MEMORY_MAX). */
void smtp_msg_account(struct smtp_session *s)
{
	s->m->data_bytes += s->msg.cap;
	s->m->data_bytes -= s->msg_accounted;
	s->msg_accounted = s->msg.cap;
}

static bool smtp_data_memory_full(const struct smtp_session *s, size_t more)
{
	return s->m->data_bytes + more > SMTP_DATA_MEMORY_MAX;
}

/* The RFC 5322 date-time of now, formatted again only when the second changes (the SMTP
 * server runs on the loop thread only). */
static const char *smtp_date_now(void)
{
	static time_t cached_sec = -1;
	static char cached[64];
	time_t now = time(NULL);
	if (now != cached_sec) {
		rfc5322_format_date(now, cached, sizeof(cached));
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
	else {
		const char *helo = s->helo[0] ? s->helo : "unknown";
		buf_append_str(&s->msg, "Received: from ");
		buf_append_str(&s->msg, helo);
		buf_append_str(&s->msg, " (");
		/* What we derived from the connection (RFC 5321 4.4): the forward-confirmed
		 * PTR name, else "unknown"; never the client's own claim. */
		buf_append_str(&s->msg, s->ptr_done ? s->client_name : "unknown");
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
	if (s->kind == SMTP_LISTENER_LOCAL)
		buf_append_str(&s->msg, s->local_warning);
	s->msg_header_len = s->msg.len;
}

static void smtp_tx_begin_message(struct smtp_session *s)
{
	queue_id_new(s->env.id);
	s->env.arrival = (int64_t)time(NULL);
	smtp_received_header(s);
}

void smtp_cmd_data(struct smtp_session *s, const struct smtp_command *cmd)
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
void smtp_data_start(struct smtp_session *s)
{
	smtp_tx_begin_message(s);
	smtp_data_reader_init(&s->data, s->m->cfg->max_message_size, smtp_body_mode(s));
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
	rfc5322_missing_origin_fields(body, blen, smtp_date_now(), s->env.id, s->m->cfg->hostname,
				      &add);
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
		metric_inc(MET_MESSAGES_ACCEPTED, NULL, NULL);
		log_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queue active)", env->id, env->sender,
			 msg_len, env->nrcpts);
		if (s->conn)
			smtp_reply(s, "250 2.0.0 Ok: queued as %s", env->id);
	} else {
		metric_inc(MET_MESSAGES_REJECTED, "queue_error", NULL);
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
	} else if (flaws & SMTP_DATA_FLAW_NUL) {
		reject_code = 554;
		reject_enh = "5.6.0";
		reject_text = "Error: message contains a NUL octet";
	} else if (smtp_count_received(s->msg.data + s->msg_header_len,
				       s->msg.len - s->msg_header_len) > SMTP_MAX_RECEIVED) {
		reject_code = 554;
		reject_enh = "5.4.6";
		reject_text = "Error: too many hops (mail loop?)";
	}
	char bad[700] = "", dup[160];
	const char *hdr = s->msg.data + s->msg_header_len;
	size_t hlen = rfc5322_header_length(hdr, s->msg.len - s->msg_header_len);
	struct rfc5322_field f;
	enum rfc5322_header_flaw hflaw;
	if (!reject_code && smtp_authenticated_account(s) &&
	    (hflaw = rfc5322_header_check(hdr, hlen, &f)) != RFC5322_HEADER_OK) {
		/* Submitted mail: the header a recipient's MUA shows must be unambiguous. */
		reject_code = 554;
		reject_enh = "5.6.0";
		if (hflaw == RFC5322_HEADER_NUL)
			reject_text = "Error: message header contains a NUL octet";
		else {
			snprintf(dup, sizeof(dup),
				 "Error: duplicate %.*s: header field (RFC 5322 3.6 allows one)",
				 (int)(f.name_len < 64 ? f.name_len : 64), f.name);
			reject_text = dup;
		}
	}
	if (!reject_code && smtp_sender_check_applies(s) &&
	    !smtp_originators_owned(s, hdr, hlen, bad, sizeof(bad))) {
		reject_code = 553;
		reject_enh = "5.7.1";
		reject_text = "From: header address not owned by the authenticated user";
		if (strncasecmp(bad, "From:", 5) != 0)
			reject_text = "Sender or Resent- header address not owned by the "
				      "authenticated user";
	}
	if (reject_code) {
		metric_inc(MET_MESSAGES_REJECTED,
			   reject_code == 553                 ? "sender_not_owned"
			   : reject_code == 552               ? "size"
			   : strcmp(reject_enh, "5.4.6") == 0 ? "loop"
							      : "content",
			   NULL);
		log_info("reject: %s from [%s]: %d %s %s%s%s; from=<%s>", s->env.id,
			 s->conn->peer_ip, reject_code, reject_enh, reject_text, bad[0] ? ": " : "",
			 bad, s->env.sender);
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
	if (s->requiretls)
		strcat(flags, flags[0] ? " REQUIRETLS" : "REQUIRETLS");
	free(s->env.body_flags);
	s->env.body_flags = flags[0] ? xstrdup(flags) : NULL;
	free(s->env.client);
	s->env.client = xstrdup(s->conn->peer_ip);
	free(s->env.helo);
	s->env.helo = s->helo[0] ? xstrdup(s->helo) : NULL;
	free(s->env.proto);
	s->env.proto = xstrdup(s->kind == SMTP_LISTENER_LOCAL ? "local"
			       : s->esmtp                     ? "ESMTP"
							      : "SMTP");
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
void smtp_message_commit(struct smtp_session *s)
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
	smtp_msg_account(s); /* the scheduler owns it now */
	scheduler_accept(s->m->sched, &s->env, data, data, len, smtp_commit_done, s);
}

void smtp_read_data(struct smtp_session *s)
{
	struct net_conn *c = s->conn;
	size_t out_len = 0, consumed = 0;
	size_t room = smtp_data_out_room(&s->data, c->in.len);
	if (!s->data_overload && !(s->data.flaws & SMTP_DATA_FLAW_TOO_BIG) &&
	    s->msg.len + room > s->msg.cap && smtp_data_memory_full(s, room)) {
		log_warn("%s: message buffers hold %zu bytes: refusing more from [%s]", s->env.id,
			 s->m->data_bytes, c->peer_ip);
		s->data_overload = true;
		buf_free(&s->msg);
		smtp_msg_account(s);
	}
	bool storing = !(s->data.flaws & SMTP_DATA_FLAW_TOO_BIG) && !s->data_overload;
	if (storing) {
		buf_reserve(&s->msg, room);
		smtp_msg_account(s);
	}
	enum smtp_data_status st;
	if (storing) {
		st = smtp_data_feed(&s->data, c->in.data, c->in.len, s->msg.data + s->msg.len,
				    &out_len, &consumed);
		s->msg.len += out_len;
		s->msg.data[s->msg.len] = '\0';
	} else {
		/* Over the limit: keep looking for the end, storing nothing. */
		st = smtp_data_skip(&s->data, c->in.data, c->in.len, &consumed);
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
	if (s->bdat_failed) { /* the daemon's message memory filled up during this chunk */
		smtp_reply(s, "452 4.3.1 Insufficient system resources, try again later");
		if (s->bdat_last)
			smtp_tx_reset(s);
		else
			smtp_enter_state(s, SMTP_STATE_RCPT);
		return;
	}
	if (s->bdat_last) {
		smtp_message_complete(s, smtp_body_check_end(&s->bdat_check));
		return;
	}
	smtp_enter_state(s, SMTP_STATE_RCPT);
	smtp_reply(s, "250 2.0.0 %" PRIu64 " octets received", s->bdat_size);
}

void smtp_read_bdat(struct smtp_session *s)
{
	struct net_conn *c = s->conn;
	size_t n = c->in.len < s->bdat_remaining ? c->in.len : (size_t)s->bdat_remaining;
	size_t room = (s->bdat_check.mode & SMTP_BODY_CHECK_BARE_LF_OK) ? 2 * n : n;
	if (!s->bdat_discard && !s->bdat_failed && s->msg.len + room > s->msg.cap &&
	    smtp_data_memory_full(s, room)) {
		s->bdat_failed = true;
		s->data_overload = true;
		buf_free(&s->msg);
		smtp_msg_account(s);
	}
	if (!s->bdat_discard && !s->bdat_failed) {
		buf_reserve(&s->msg, room);
		s->msg.len += smtp_body_check_feed(&s->bdat_check, c->in.data, n,
						   s->msg.data + s->msg.len);
		s->msg.data[s->msg.len] = '\0';
		smtp_msg_account(s);
	}
	buf_consume(&c->in, n);
	s->bdat_remaining -= n;
	if (s->bdat_remaining == 0)
		smtp_bdat_chunk_done(s);
}

/* A chunk refused before it is read (it would pass max_message_size, or an earlier chunk
 * failed): the reply now, then its octets are read and thrown away, never buffered. */
static void smtp_bdat_refuse(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (s->data_overload)
		smtp_reply(s, "452 4.3.1 Insufficient system resources, try again later");
	else {
		log_info("reject: BDAT from [%s]: 552 5.3.4 chunk of %" PRIu64
			 " octets after %" PRIu64 " passes max_message_size %" PRIu64 "; from=<%s>",
			 s->conn->peer_ip, cmd->chunk_size, s->bdat_size,
			 s->m->cfg->max_message_size, s->env.sender ? s->env.sender : "");
		smtp_reply(s, "552 5.3.4 Error: message size exceeds fixed maximum message size");
	}
	if (!s->bdat_failed) {
		metric_inc(MET_MESSAGES_REJECTED, "size", NULL);
		s->bdat_failed = true;
		buf_free(&s->msg);
		smtp_msg_account(s);
	}
	if (cmd->last)
		smtp_tx_reset(s); /* back to HELO state; the transaction is over */
	s->bdat_last = cmd->last;
	s->bdat_remaining = cmd->chunk_size;
	if (s->bdat_remaining == 0)
		return;
	s->bdat_discard = true;
	s->bdat_return = s->state;
	smtp_enter_state(s, SMTP_STATE_BDAT);
	net_conn_set_timeout(s->conn, s->m->cfg->smtp_data_timeout * 1000);
}

void smtp_cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd)
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
		smtp_body_check_init(&s->bdat_check, smtp_body_mode(s));
		smtp_tx_begin_message(s);
	}
	/* bdat_size <= max_message_size always, so the subtraction cannot wrap (the sum could:
	 * BDAT 100, then BDAT 18446744073709551516 LAST). */
	if (s->bdat_failed || cmd->chunk_size > s->m->cfg->max_message_size - s->bdat_size) {
		smtp_bdat_refuse(s, cmd);
		return;
	}
	s->bdat_size += cmd->chunk_size;
	smtp_enter_state(s, SMTP_STATE_BDAT);
	net_conn_set_timeout(s->conn, s->m->cfg->smtp_data_timeout * 1000);
	if (s->bdat_remaining == 0)
		smtp_bdat_chunk_done(s);
}
