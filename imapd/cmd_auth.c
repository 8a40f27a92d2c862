/* cmd_auth.c - CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE PLAIN, ID, ENABLE, NAMESPACE.
 * Security: credentials are untrusted input; passwords are checked on the thread pool (common/password_check), never logged, and failures
 * are delayed and throttled per client address (common/auth_throttle). */
#include "accounts.h"
#include "addr.h"
#include "auth_throttle.h"
#include "commands.h"
#include "imap_proxy.h"
#include "log.h"
#include "metrics.h"
#include "mailbox.h"
#include "mailbox_routes.h"
#include "mailbox_view.h"
#include "password_check.h"
#include "sasl.h"
#include "store.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct auth_job {
	struct password_check check;
	struct imap_client *c;
	char tag[128];
	const char *mech;
	uv_work_t open_work; /* the account's directories, after the password check
					 * (counted in imapd->pool_jobs) */
	int open_result;
	char state_dir[PATH_MAX];
	char account_dir[PATH_MAX];
	char proxy_password[SASL_PASSWD_MAX + 1]; /* imap_proxy: for the back end's LOGIN */
};

void cmd_capability(struct imap_client *c, const struct imap_command *cmd)
{
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "* CAPABILITY ");
	client_capabilities(c, &b);
	buf_append_str(&b, "\r\n");
	client_send_buf(c, &b);
	buf_free(&b);
	client_tagged(c, cmd->tag, "OK", "CAPABILITY completed");
}

void cmd_noop(struct imap_client *c, const struct imap_command *cmd)
{
	client_tagged(c, cmd->tag, "OK", "NOOP completed");
}

void cmd_logout(struct imap_client *c, const struct imap_command *cmd)
{
	client_send(c, "* BYE Logging out\r\n");
	client_tagged(c, cmd->tag, "OK", "LOGOUT completed");
	client_close(c, "logout");
}

void cmd_starttls(struct imap_client *c, const struct imap_command *cmd)
{
	if (cmd->count) {
		client_tagged(c, cmd->tag, "BAD", "STARTTLS takes no arguments");
		return;
	}
	if (c->tls || !c->d->tls) {
		client_tagged(c, cmd->tag, "BAD", "TLS is already active");
		return;
	}
	client_tagged(c, cmd->tag, "OK", "Begin TLS negotiation now");
	if (net_conn_start_tls(c->conn, c->d->tls) < 0) {
		client_close(c, "TLS setup failed");
		return;
	}
	/* Anything pipelined after STARTTLS was dropped with the plaintext input. */
	imap_parser_reset(c->parser);
}

static void auth_throttle_key_of(struct imap_client *c, char *key, size_t keylen)
{
	if (auth_throttle_key((const struct sockaddr *)&c->conn->peer, 64, key, keylen) < 0)
		snprintf(key, keylen, "%s", c->conn->peer_ip);
}

static void auth_job_free(struct password_check *pc)
{
	struct auth_job *job = container_of(pc, struct auth_job, check);
	explicit_bzero(job->proxy_password, sizeof(job->proxy_password));
	free(job);
}

static void auth_finish(struct auth_job *job)
{
	struct imap_client *c = job->c;
	password_check_close(&job->check, auth_job_free);
	client_command_done(c);
}

static void auth_delay_done(struct password_check *pc)
{
	struct auth_job *job = container_of(pc, struct auth_job, check);
	struct imap_client *c = job->c;
	if (c->conn)
		client_tagged(c, job->tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
	auth_finish(job);
}

/* Opens the account (on the thread pool: first login creates directories and fsyncs): its
 * Maildir and the special-use folders exist after the first login. */
static int auth_open_account(const char *state_dir, const char *user, char *account_dir,
			     size_t account_dir_len)
{
	if (store_mailbox_path_for_address(state_dir, user, account_dir, account_dir_len) < 0)
		return -1;
	int r = store_maildir_create(account_dir);
	if (r < 0) {
		log_error("imap: user=%s, cannot create %s: %s", user, account_dir, strerror(-r));
		return -1;
	}
	if (mailbox_create_special(account_dir) < 0)
		log_warn("imap: user=%s, cannot create the special-use folders", user);
	return 0;
}

static void auth_open_work(uv_work_t *w)
{
	struct auth_job *job = container_of(w, struct auth_job, open_work);
	job->open_result = auth_open_account(job->state_dir, job->check.user, job->account_dir,
					     sizeof(job->account_dir));
}

static void auth_failed(struct auth_job *job)
{
	struct imap_client *c = job->c;
	char key[AUTH_THROTTLE_KEY_SIZE];
	auth_throttle_key_of(c, key, sizeof(key));
	unsigned delay = auth_throttle_failure(c->d->auth_throttle, key, time(NULL));
	metric_inc(MET_AUTH_FAILURES, "imap", NULL);
	log_warn("imap: [%s]: %s authentication failed for %s (reply delayed %us)",
		 c->conn->peer_ip, job->mech, job->check.user, delay);
	password_check_delay(&job->check, delay, auth_delay_done);
}

static void auth_open_done(uv_work_t *w, int status)
{
	struct auth_job *job = container_of(w, struct auth_job, open_work);
	struct imap_client *c = job->c;
	c->d->pool_jobs--;
	if (!c->conn) {
		auth_finish(job);
		return;
	}
	if (status < 0 || job->open_result < 0) {
		auth_failed(job);
		return;
	}
	char key[AUTH_THROTTLE_KEY_SIZE];
	auth_throttle_key_of(c, key, sizeof(key));
	auth_throttle_success(c->d->auth_throttle, key);
	snprintf(c->account_dir, sizeof(c->account_dir), "%s", job->account_dir);
	snprintf(c->user, sizeof(c->user), "%s", job->check.user);
	c->quota_limit = accounts_quota(accounts_find(c->d->accounts, c->user),
					c->d->cfg->default_quota);
	log_info("imap: [%s]: login user=%s, method=%s", c->conn->peer_ip, c->user, job->mech);
	client_enter_state(c, IMAP_STATE_AUTH);
	client_login_done(c);
	struct buf b;
	buf_init(&b);
	client_capabilities(c, &b);
	client_tagged(c, job->tag, "OK", "[CAPABILITY %s] Logged in", b.data);
	buf_free(&b);
	auth_finish(job);
}

static void auth_verify_done(struct password_check *pc)
{
	struct auth_job *job = container_of(pc, struct auth_job, check);
	struct imap_client *c = job->c;
	if (!c->conn) {
		auth_finish(job);
		return;
	}
	if (!pc->ok) {
		auth_failed(job);
		return;
	}
	const struct mailbox_route *route = c->d->cfg->imap_proxy
						    ? mailbox_routes_lookup(c->d->routes, pc->user)
						    : NULL;
	if (route && route->kind != MAILBOX_ROUTE_LOCAL) {
		/* Served by its back end: the proxy answers the command from there. */
		char key[AUTH_THROTTLE_KEY_SIZE];
		auth_throttle_key_of(c, key, sizeof(key));
		auth_throttle_success(c->d->auth_throttle, key);
		snprintf(c->user, sizeof(c->user), "%s", pc->user);
		imap_proxy_start(c, job->tag, pc->user, job->proxy_password, route);
		password_check_close(&job->check, auth_job_free);
		return;
	}
	snprintf(job->state_dir, sizeof(job->state_dir), "%s", c->d->cfg->state_dir);
	if (uv_queue_work(c->d->loop, &job->open_work, auth_open_work, auth_open_done) < 0) {
		auth_failed(job);
		return;
	}
	c->d->pool_jobs++;
}

static void auth_verify(struct imap_client *c, const char *tag, const char *mech, const char *user,
			const char *password)
{
	struct auth_job *job = xcalloc(1, sizeof(*job));
	job->c = c;
	job->mech = mech;
	snprintf(job->tag, sizeof(job->tag), "%s", tag);
	c->mode = IMAP_MODE_BUSY;
	net_conn_pause(c->conn);
	/* The account name as delivery knows it ("John"@d is john@d). */
	char name[SASL_AUTHCID_MAX + 1];
	if (c->d->cfg->imap_proxy) {
		const char *login = addr_login_name(user, name, sizeof(name));
		const struct mailbox_route *route = mailbox_routes_lookup(c->d->routes, login);
		if (route && route->kind != MAILBOX_ROUTE_LOCAL &&
		    strcmp(c->d->cfg->imap_proxy_auth, "backend") == 0) {
			/* The back end alone checks the password (imap_proxy_auth = backend). */
			snprintf(c->user, sizeof(c->user), "%s", login);
			imap_proxy_start_unchecked(c, tag, login, password, route);
			free(job);
			return;
		}
		snprintf(job->proxy_password, sizeof(job->proxy_password), "%s", password);
	}
	password_check_start(&job->check, c->d->loop, &c->d->accounts, c->d->auth_cache,
			     addr_login_name(user, name, sizeof(name)), password, auth_verify_done);
}

/* Common checks before LOGIN and AUTHENTICATE. Returns 0 to go on. */
static int auth_allowed(struct imap_client *c, const struct imap_command *cmd)
{
	if (!c->tls && !c->d->cfg->imap_plaintext_auth) {
		client_tagged(c, cmd->tag, "NO", "[PRIVACYREQUIRED] Use STARTTLS first");
		return -1;
	}
	char key[AUTH_THROTTLE_KEY_SIZE];
	time_t remaining;
	auth_throttle_key_of(c, key, sizeof(key));
	if (auth_throttle_blocked(c->d->auth_throttle, key, time(NULL), &remaining)) {
		log_warn("imap: [%s]: login refused: too many failures (blocked for %lds)",
			 c->conn->peer_ip, (long)remaining);
		client_tagged(c, cmd->tag, "NO", "%s", &AUTH_THROTTLE_IMAP_REPLY[3]);
		return -1;
	}
	return 0;
}

void cmd_login(struct imap_client *c, const struct imap_command *cmd)
{
	const char *user, *pass;
	size_t ulen, plen;
	if (cmd->count != 2 || !imap_arg_string(&cmd->args[0], &user, &ulen) ||
	    !imap_arg_string(&cmd->args[1], &pass, &plen)) {
		client_tagged(c, cmd->tag, "BAD", "Usage: LOGIN user password");
		return;
	}
	if (auth_allowed(c, cmd) < 0)
		return;
	if (ulen == 0 || ulen > SASL_AUTHCID_MAX || plen > SASL_PASSWD_MAX ||
	    memchr(user, 0, ulen) || memchr(pass, 0, plen)) {
		client_tagged(c, cmd->tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
		return;
	}
	auth_verify(c, cmd->tag, "LOGIN", user, pass);
}

static void auth_plain(struct imap_client *c, const char *b64, size_t len)
{
	char authzid[SASL_AUTHZID_MAX + 1], authcid[SASL_AUTHCID_MAX + 1],
		passwd[SASL_PASSWD_MAX + 1];
	const char *error;
	int r = sasl_plain_decode(b64, len, authzid, sizeof(authzid), authcid, sizeof(authcid),
				  passwd, sizeof(passwd), &error);
	if (r == SASL_CANCELLED) {
		client_tagged(c, c->tag, "BAD", "Authentication cancelled");
		return;
	}
	if (r < 0) {
		client_tagged(c, c->tag, "BAD", "Cannot decode the response: %s", error);
		return;
	}
	if (authzid[0] && strcasecmp(authzid, authcid) != 0) {
		explicit_bzero(passwd, sizeof(passwd));
		client_tagged(c, c->tag, "NO",
			      "[AUTHORIZATIONFAILED] Authorization identity not allowed");
		return;
	}
	auth_verify(c, c->tag, "PLAIN", authcid, passwd);
	explicit_bzero(passwd, sizeof(passwd));
}

/* The client's response line to the AUTHENTICATE challenge. */
static void auth_response(struct imap_client *c, const char *line, size_t len)
{
	c->mode = IMAP_MODE_COMMAND;
	auth_plain(c, line, len);
}

void cmd_authenticate(struct imap_client *c, const struct imap_command *cmd)
{
	if (cmd->count < 1 || cmd->count > 2 || !imap_arg_is_atom(&cmd->args[0])) {
		client_tagged(c, cmd->tag, "BAD",
			      "Usage: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	if (auth_allowed(c, cmd) < 0)
		return;
	if (!imap_arg_atom_equals(&cmd->args[0], "PLAIN")) {
		client_tagged(c, cmd->tag, "NO", "Unsupported authentication mechanism");
		return;
	}
	if (cmd->count == 2) {
		const char *ir;
		size_t irlen;
		if (!imap_arg_string(&cmd->args[1], &ir, &irlen)) {
			client_tagged(c, cmd->tag, "BAD", "Invalid initial response");
			return;
		}
		auth_plain(c, ir, irlen);
		return;
	}
	client_wait_line(c, IMAP_MODE_AUTHENTICATE, auth_response, NULL);
	client_send(c, "+ \r\n");
}

void cmd_id(struct imap_client *c, const struct imap_command *cmd)
{
	if (cmd->count != 1 ||
	    (!imap_arg_is_nil(&cmd->args[0]) && cmd->args[0].type != IMAP_ARG_LIST)) {
		client_tagged(c, cmd->tag, "BAD", "Usage: ID (field value ...) or ID NIL");
		return;
	}
	client_send(c, "* ID (\"name\" \"imapd\" \"version\" \"%s\")\r\n", MAIL_VERSION);
	client_tagged(c, cmd->tag, "OK", "ID completed");
}

void cmd_enable(struct imap_client *c, const struct imap_command *cmd)
{
	if (cmd->count == 0) {
		client_tagged(c, cmd->tag, "BAD", "Usage: ENABLE capability ...");
		return;
	}
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "* ENABLED");
	for (unsigned i = 0; i < cmd->count; i++) {
		const struct imap_arg *a = &cmd->args[i];
		unsigned bit = 0;
		if (imap_arg_atom_equals(a, "CONDSTORE"))
			bit = IMAP_ENABLED_CONDSTORE;
		else if (imap_arg_atom_equals(a, "IMAP4rev2"))
			bit = IMAP_ENABLED_REV2;
		else if (imap_arg_atom_equals(a, "UTF8=ACCEPT"))
			bit = IMAP_ENABLED_UTF8;
		else if (imap_arg_atom_equals(a, "QRESYNC"))
			bit = IMAP_ENABLED_QRESYNC;
		if (!bit || (c->enabled & bit))
			continue;
		c->enabled |= bit;
		if (bit == IMAP_ENABLED_QRESYNC)
			c->enabled |= IMAP_ENABLED_CONDSTORE;
		buf_printf(&b, " %s", a->str);
	}
	buf_append_str(&b, "\r\n");
	client_send_buf(c, &b);
	buf_free(&b);
	client_tagged(c, cmd->tag, "OK", "ENABLE completed");
}

void cmd_namespace(struct imap_client *c, const struct imap_command *cmd)
{
	client_send(c, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	client_tagged(c, cmd->tag, "OK", "NAMESPACE completed");
}
