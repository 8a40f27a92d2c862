/* smtp_auth.c - SMTP AUTH (RFC 4954) PLAIN and LOGIN over TLS, password checks on the thread pool (common/password_check), failures slowed and throttled per client.
 * Security: SASL input is untrusted; decoding is done by common/sasl; passwords never reach a log. */
#include "addr.h"
#include "smtp_session.h"
#include "accounts.h"
#include "auth_throttle.h"
#include "log.h"
#include "metrics.h"
#include "password_check.h"
#include "sasl.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SMTP_AUTH_PLAIN = 1, SMTP_AUTH_LOGIN = 2 };

struct smtp_auth_job {
	struct password_check check;
	struct smtp_session *s;
};

static const char *smtp_auth_mech_name(int mech)
{
	return mech == SMTP_AUTH_PLAIN ? "PLAIN" : "LOGIN";
}

static void smtp_auth_throttle_key(struct smtp_session *s, char *key, size_t keylen)
{
	if (auth_throttle_key((const struct sockaddr *)&s->conn->peer, 64, key, keylen) < 0)
		snprintf(key, keylen, "%s", s->conn->peer_ip);
}

static void smtp_auth_end(struct smtp_session *s)
{
	s->auth_mech = 0;
	s->auth_step = 0;
	explicit_bzero(s->auth_login_user, sizeof(s->auth_login_user));
	smtp_enter_state(s, SMTP_STATE_HELO);
}

static void smtp_auth_job_free(struct password_check *pc)
{
	free(container_of(pc, struct smtp_auth_job, check));
}

/* After the (possibly delayed) answer: the session carries on, or is freed if it went. */
static void smtp_auth_finish(struct smtp_auth_job *job)
{
	struct smtp_session *s = job->s;
	s->async_pending = false;
	password_check_close(&job->check, smtp_auth_job_free);
	if (s->orphaned) {
		smtp_session_free(s);
		return;
	}
	net_conn_resume(s->conn);
}

static void smtp_auth_delay_done(struct password_check *pc)
{
	struct smtp_auth_job *job = container_of(pc, struct smtp_auth_job, check);
	struct smtp_session *s = job->s;
	if (!s->orphaned) {
		smtp_reply(s, "535 5.7.8 Error: authentication failed");
		smtp_auth_end(s);
	}
	smtp_auth_finish(job);
}

static void smtp_auth_verify_done(struct password_check *pc)
{
	struct smtp_auth_job *job = container_of(pc, struct smtp_auth_job, check);
	struct smtp_session *s = job->s;
	char key[AUTH_THROTTLE_KEY_SIZE];
	if (s->orphaned) {
		smtp_auth_finish(job);
		return;
	}
	smtp_auth_throttle_key(s, key, sizeof(key));
	if (pc->ok) {
		auth_throttle_success(s->m->auth_throttle, key);
		s->authenticated = true;
		snprintf(s->auth_user, sizeof(s->auth_user), "%s", pc->user);
		log_info("[%s]: sasl_method=%s, sasl_username=%s", s->conn->peer_ip,
			 smtp_auth_mech_name(s->auth_mech), pc->user);
		smtp_reply(s, "235 2.7.0 Authentication successful");
		smtp_auth_end(s);
		smtp_auth_finish(job);
		return;
	}
	unsigned delay = auth_throttle_failure(s->m->auth_throttle, key, time(NULL));
	metric_inc(MET_AUTH_FAILURES, "smtp", NULL);
	log_warn("[%s]: SASL %s authentication failed for %s (reply delayed %us)", s->conn->peer_ip,
		 smtp_auth_mech_name(s->auth_mech), pc->user, delay);
	s->errors++;
	password_check_delay(pc, delay, smtp_auth_delay_done);
}

static void smtp_auth_verify(struct smtp_session *s, const char *user, const char *password)
{
	struct smtp_auth_job *job = xcalloc(1, sizeof(*job));
	job->s = s;
	s->async_pending = true;
	net_conn_pause(s->conn);
	/* The account name as delivery knows it ("John"@d is john@d), as imapd's login. */
	char name[SASL_AUTHCID_MAX + 1];
	password_check_start(&job->check, s->m->loop, &s->m->accounts, s->m->auth_cache,
			     addr_login_name(user, name, sizeof(name)), password,
			     smtp_auth_verify_done);
}

/* After decoding a SASL response: false (with the reply sent, AUTH over) when it was a
 * cancellation or undecodable. */
static bool smtp_auth_decoded(struct smtp_session *s, int r)
{
	if (r == SASL_CANCELLED) {
		smtp_reply(s, "501 5.0.0 Authentication cancelled");
		smtp_auth_end(s);
		return false;
	}
	if (r < 0) {
		smtp_auth_end(s);
		smtp_error_reply(s, 501, "5.5.2", "Error: cannot decode the AUTH response");
		return false;
	}
	return true;
}

static void smtp_auth_plain(struct smtp_session *s, const char *b64, size_t len)
{
	char authzid[SASL_AUTHZID_MAX + 1], authcid[SASL_AUTHCID_MAX + 1],
		passwd[SASL_PASSWD_MAX + 1];
	const char *error;
	int r = sasl_plain_decode(b64, len, authzid, sizeof(authzid), authcid, sizeof(authcid),
				  passwd, sizeof(passwd), &error);
	if (!smtp_auth_decoded(s, r))
		return;
	if (authzid[0] && strcasecmp(authzid, authcid) != 0) {
		explicit_bzero(passwd, sizeof(passwd));
		smtp_auth_end(s);
		smtp_error_reply(s, 535, "5.7.8", "Error: authorization identity not allowed");
		return;
	}
	smtp_auth_verify(s, authcid, passwd);
	explicit_bzero(passwd, sizeof(passwd));
}

static void smtp_auth_login_step(struct smtp_session *s, const char *b64, size_t len)
{
	char value[SASL_PASSWD_MAX + 1];
	const char *error;
	int r = sasl_login_decode_step(
		b64, len, s->auth_step == 0 ? SASL_LOGIN_USERNAME : SASL_LOGIN_PASSWORD, value,
		sizeof(value), &error);
	if (!smtp_auth_decoded(s, r))
		return;
	if (s->auth_step == 0) {
		snprintf(s->auth_login_user, sizeof(s->auth_login_user), "%.255s", value);
		s->auth_step = 1;
		smtp_reply(s, "334 %s", SASL_LOGIN_CHALLENGE_PASSWORD);
		return;
	}
	smtp_auth_verify(s, s->auth_login_user, value);
	explicit_bzero(value, sizeof(value));
}

void smtp_auth_command(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (s->state == SMTP_STATE_CONNECTED) {
		smtp_error_reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (s->state != SMTP_STATE_HELO) {
		smtp_error_reply(s, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	if (s->authenticated) {
		smtp_error_reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (!s->tls) {
		smtp_error_reply(s, 538, "5.7.11",
				 "Encryption required for requested authentication mechanism");
		return;
	}
	char key[AUTH_THROTTLE_KEY_SIZE];
	time_t remaining;
	smtp_auth_throttle_key(s, key, sizeof(key));
	if (auth_throttle_blocked(s->m->auth_throttle, key, time(NULL), &remaining)) {
		log_warn("[%s]: AUTH refused: too many failures (blocked for %lds)",
			 s->conn->peer_ip, (long)remaining);
		smtp_reply(s, "%s", AUTH_THROTTLE_SMTP_REPLY);
		return;
	}
	if (strcmp(cmd->mechanism, "PLAIN") == 0)
		s->auth_mech = SMTP_AUTH_PLAIN;
	else if (strcmp(cmd->mechanism, "LOGIN") == 0)
		s->auth_mech = SMTP_AUTH_LOGIN;
	else {
		smtp_error_reply(s, 504, "5.5.4", "Error: unsupported authentication mechanism");
		return;
	}
	s->auth_step = 0;
	smtp_enter_state(s, SMTP_STATE_AUTH);
	if (!cmd->initial) {
		smtp_reply(s, "334 %s",
			   s->auth_mech == SMTP_AUTH_PLAIN ? "" : SASL_LOGIN_CHALLENGE_USERNAME);
		return;
	}
	smtp_auth_response(s, cmd->initial, cmd->initial_len);
}

void smtp_auth_response(struct smtp_session *s, const char *line, size_t len)
{
	if (s->auth_mech == SMTP_AUTH_PLAIN)
		smtp_auth_plain(s, line, len);
	else
		smtp_auth_login_step(s, line, len);
}
