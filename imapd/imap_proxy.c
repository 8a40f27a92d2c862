/* imap_proxy.c - imap_proxy mode: a logged-in session handed to its back end (STARTTLS, ID with the client's address, LOGIN), then bytes relayed both ways. */
#include "imap_proxy.h"

#include "auth_throttle.h"
#include "buf.h"
#include "client.h"
#include "imapd.h"
#include "log.h"
#include "mailbox_routes.h"
#include "net.h"
#include "str.h"
#include "tls.h"
#include "tls_policy.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define PROXY_LOGIN_TIMEOUT_MS (30 * 1000)      /* connect, greeting, TLS, ID and LOGIN */
#define PROXY_LINE_MAX         (64 * 1024)      /* a back-end line before relaying */
#define PROXY_BACKLOG_MAX      (1024 * 1024)    /* output waiting before the other side pauses */
#define PROXY_CLIENT_IDLE_MS   (35 * 60 * 1000) /* IDLE is renewed within 29 minutes */

enum proxy_state {
	PROXY_RESOLVING,
	PROXY_CONNECTING,
	PROXY_GREETING,   /* waiting for "* OK" */
	PROXY_CAPABILITY, /* "P1 CAPABILITY" sent */
	PROXY_STARTTLS,   /* "P2 STARTTLS" sent */
	PROXY_TLS,        /* handshake running */
	PROXY_ID,         /* "P3 ID (...)" sent */
	PROXY_LOGIN,      /* "P4 LOGIN" sent */
	PROXY_RELAY,
};

struct imap_proxy {
	struct imap_client *c; /* NULL once the client is gone (a lookup may still be pending) */
	struct net_conn *be;   /* the back-end connection, NULL when closed */
	enum proxy_state state;
	char tag[128];
	char user[256];
	char password[1024];
	char target[300]; /* "[host]:port" for logs */
	char host[256];
	uint16_t port;
	bool unchecked;   /* imap_proxy_auth = backend: the back end checks the password */
	bool be_starttls; /* the back end offered STARTTLS */
	bool be_tls;
	bool be_verified;   /* its certificate verified for host */
	enum tls_level tls; /* relay_tls_policy_file's "[host]" line, else may */
	char tls_desc[64];  /* "verify/file:3" */
	uv_getaddrinfo_t gai;
};

static void proxy_be_connected(struct net_conn *be, int status);
static void proxy_send_id(struct imap_proxy *p);

static void proxy_wipe(struct imap_proxy *p)
{
	explicit_bzero(p->password, sizeof(p->password));
}

/* Before relaying: the login cannot go on. The client hears NO [UNAVAILABLE] and stays
 * unauthenticated here; the back end is closed. */
static void proxy_fail(struct imap_proxy *p, const char *why)
{
	struct imap_client *c = p->c;
	proxy_wipe(p);
	log_warn("imap: [%s]: proxy for user=%s to %s failed: %s", c ? c->peer_ip : "-", p->user,
		 p->target, why);
	if (p->be) {
		p->be->data = NULL;
		net_conn_close(p->be, why);
		p->be = NULL;
	}
	if (!c) {
		free(p);
		return;
	}
	c->proxy = NULL;
	client_tagged(c, p->tag, "NO", "[UNAVAILABLE] Back end not available, try again later");
	free(p);
	client_command_done(c);
}

/* imap_proxy_auth = backend and the back end said NO to LOGIN: a failed login here too. */
static void proxy_refused(struct imap_proxy *p, const char *why)
{
	struct imap_client *c = p->c;
	proxy_wipe(p);
	if (p->be) {
		p->be->data = NULL;
		net_conn_close(p->be, "login refused");
		p->be = NULL;
	}
	char key[AUTH_THROTTLE_KEY_SIZE];
	if (auth_throttle_key((const struct sockaddr *)&c->conn->peer, 64, key, sizeof(key)) < 0)
		str_format(key, sizeof(key), "%s", c->conn->peer_ip);
	unsigned delay = auth_throttle_failure(c->d->auth_throttle, key, time(NULL));
	log_warn("imap: [%s]: proxy authentication failed for %s at %s (%s; throttle delay %us)",
		 c->peer_ip, p->user, p->target, why, delay);
	c->proxy = NULL;
	c->user[0] = '\0';
	client_tagged(c, p->tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
	free(p);
	client_command_done(c);
}

static void proxy_be_write(struct imap_proxy *p, const char *s)
{
	net_conn_write(p->be, s, strlen(s));
}

/* An IMAP quoted string for s, or -1 when s needs a literal (8-bit, CR, LF, NUL). */
static int proxy_quote(struct buf *b, const char *s)
{
	for (const unsigned char *q = (const unsigned char *)s; *q; q++)
		if (*q >= 0x80 || *q == '\r' || *q == '\n')
			return -1;
	buf_append(b, "\"", 1);
	for (const char *q = s; *q; q++) {
		if (*q == '"' || *q == '\\')
			buf_append(b, "\\", 1);
		buf_append(b, q, 1);
	}
	buf_append(b, "\"", 1);
	return 0;
}

static void proxy_send_login(struct imap_proxy *p)
{
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "P4 LOGIN ");
	int r = proxy_quote(&b, p->user);
	buf_append(&b, " ", 1);
	r |= proxy_quote(&b, p->password);
	buf_append(&b, "\r\n", 2);
	proxy_wipe(p);
	if (r < 0) {
		explicit_bzero(b.data, b.len);
		buf_free(&b);
		proxy_fail(p, "the credentials need an IMAP literal (8-bit characters)");
		return;
	}
	net_conn_write(p->be, b.data, b.len);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	p->state = PROXY_LOGIN;
}

/* Dovecot's convention (login_trusted_networks): the client's address and port, ours, and a
 * session id, so that the back end logs and throttles by the real client. */
static void proxy_send_id(struct imap_proxy *p)
{
	struct imap_client *c = p->c;
	char lip[INET6_ADDRSTRLEN] = "";
	const struct sockaddr_storage *local = net_conn_local(c->conn);
	if (local->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)local)->sin_addr, lip,
			  sizeof(lip));
	else if (local->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)local)->sin6_addr, lip,
			  sizeof(lip));
	char id[512];
	str_format(id, sizeof(id),
		   "P3 ID (\"x-originating-ip\" \"%s\" \"x-originating-port\" \"%u\" "
		   "\"x-connected-ip\" \"%s\" \"x-connected-port\" \"%u\" \"x-session-id\" "
		   "\"%llu\")\r\n",
		   c->conn->peer_ip, c->conn->peer_port, lip[0] ? lip : "127.0.0.1",
		   c->conn->local_port, (unsigned long long)c->conn->id);
	proxy_be_write(p, id);
	p->state = PROXY_ID;
}

/* Relaying starts: the client hears the back end's answer to LOGIN under its own tag, and
 * whatever either side sent meanwhile goes across. */
static void proxy_relay(struct imap_proxy *p, const char *rest, size_t rest_len)
{
	struct imap_client *c = p->c;
	log_info("imap: [%s]: login user=%s, method=proxy, backend=%s%s, tls_policy=%s", c->peer_ip,
		 p->user, p->target,
		 p->be_verified ? " (TLS, verified)"
		 : p->be_tls    ? " (TLS)"
				: "",
		 p->tls_desc);
	client_send(c, "%s OK", p->tag);
	client_send_raw(c, rest, rest_len);
	client_send_raw(c, "\r\n", 2);
	p->state = PROXY_RELAY;
	net_conn_set_timeout(p->be, 0);
	net_conn_set_timeout(c->conn, PROXY_CLIENT_IDLE_MS);
	if (p->be->in.len) {
		client_send_raw(c, p->be->in.data, p->be->in.len);
		buf_consume(&p->be->in, p->be->in.len);
	}
	/* The client's pipelined input is served by the resumed connection. */
	client_command_done(c);
}

static bool proxy_has_word(const char *line, size_t len, const char *word)
{
	size_t wl = strlen(word);
	for (size_t i = 0; i + wl <= len; i++)
		if ((i == 0 || line[i - 1] == ' ' || line[i - 1] == '[') &&
		    strncasecmp(line + i, word, wl) == 0 &&
		    (i + wl == len || line[i + wl] == ' ' || line[i + wl] == ']'))
			return true;
	return false;
}

struct tls_ctx *imap_proxy_tls_ctx(const struct imapd *d, char *err, size_t errlen)
{
	struct tls_ctx *ctx = tls_client_ctx_new(err, errlen);
	if (ctx && d->cfg->relay_tls_ca_file &&
	    tls_client_ctx_set_ca_file(ctx, d->cfg->relay_tls_ca_file, err, errlen) < 0)
		tls_ctx_free(&ctx);
	return ctx;
}

/* One line of the back end before relaying (without CRLF). Returns false once p is gone or
 * relaying started. */
static bool proxy_be_line(struct imap_proxy *p, const char *line, size_t len)
{
	switch (p->state) {
	case PROXY_GREETING:
		if (len < 4 || strncmp(line, "* OK", 4) != 0) {
			proxy_fail(p, len >= 5 && strncmp(line, "* BYE", 5) == 0
					      ? "the back end said BYE"
					      : "no * OK greeting");
			return false;
		}
		proxy_be_write(p, "P1 CAPABILITY\r\n");
		p->state = PROXY_CAPABILITY;
		return true;
	case PROXY_CAPABILITY:
		if (len > 13 && strncasecmp(line, "* CAPABILITY ", 13) == 0) {
			p->be_starttls = proxy_has_word(line, len, "STARTTLS");
			return true;
		}
		if (len >= 3 && strncmp(line, "P1 ", 3) == 0) {
			if (p->tls >= TLS_LEVEL_ENCRYPT && !p->be_starttls) {
				proxy_fail(p, "the back end does not offer STARTTLS");
				return false;
			}
			if (p->be_starttls && !p->be_tls && p->tls != TLS_LEVEL_NONE) {
				proxy_be_write(p, "P2 STARTTLS\r\n");
				p->state = PROXY_STARTTLS;
			} else
				proxy_send_id(p);
		}
		return true;
	case PROXY_STARTTLS:
		if (len >= 3 && strncmp(line, "P2 ", 3) == 0) {
			if (len < 5 || strncmp(line + 3, "OK", 2) != 0) {
				proxy_fail(p, "STARTTLS refused");
				return false;
			}
			struct imapd *d = p->c->d;
			char err[256];
			if (!d->proxy_tls &&
			    !(d->proxy_tls = imap_proxy_tls_ctx(d, err, sizeof(err)))) {
				proxy_fail(p, err);
				return false;
			}
			buf_reset(&p->be->in);
			/* the host name (or address) is what the certificate must name */
			if (net_conn_start_tls_client(p->be, d->proxy_tls, p->host) < 0) {
				proxy_fail(p, "TLS set-up failed");
				return false;
			}
			p->state = PROXY_TLS;
			return false; /* the rest of the input was plaintext before TLS: dropped */
		}
		return true;
	case PROXY_ID:
		if (len >= 3 && strncmp(line, "P3 ", 3) == 0)
			proxy_send_login(p);
		return p->state == PROXY_LOGIN;
	case PROXY_LOGIN:
		if (len >= 3 && strncmp(line, "P4 ", 3) == 0) {
			if (len >= 5 && strncmp(line + 3, "OK", 2) == 0) {
				proxy_relay(p, line + 5, len - 5);
				return false;
			}
			char shown[300];
			str_escape_printable(line + 3, len - 3, shown, sizeof(shown));
			if (p->unchecked && len >= 5 && strncmp(line + 3, "NO", 2) == 0) {
				proxy_refused(p, shown);
				return false;
			}
			proxy_fail(p, shown);
			return false;
		}
		return true;
	default:
		return true;
	}
}

static void proxy_be_on_read(struct net_conn *be)
{
	struct imap_proxy *p = be->data;
	if (!p)
		return;
	if (p->state == PROXY_RELAY) {
		struct imap_client *c = p->c;
		client_send_raw(c, be->in.data, be->in.len);
		buf_consume(&be->in, be->in.len);
		if (c->conn && client_backlog(c) > PROXY_BACKLOG_MAX)
			net_conn_pause(be);
		return;
	}
	for (;;) {
		const char *nl = memchr(be->in.data, '\n', be->in.len);
		if (!nl) {
			if (be->in.len > PROXY_LINE_MAX)
				proxy_fail(p, "back-end line too long");
			return;
		}
		size_t used = (size_t)(nl - be->in.data) + 1;
		size_t len = used - 1;
		if (len && be->in.data[len - 1] == '\r')
			len--;
		char *line = xstrndup(be->in.data, len);
		buf_consume(&be->in, used);
		bool go_on = proxy_be_line(p, line, len);
		free(line);
		if (!go_on)
			return;
	}
}

static void proxy_be_on_tls_ready(struct net_conn *be)
{
	struct imap_proxy *p = be->data;
	if (!p)
		return;
	p->be_tls = true;
	enum tls_peer_trust trust = tls_session_peer_trust(be->tls);
	p->be_verified = trust == TLS_PEER_VERIFIED;
	if (p->tls >= TLS_LEVEL_VERIFY && !p->be_verified) {
		/* before ID and LOGIN: the password never reaches an unverified peer */
		char why[300];
		const char *verr = tls_session_verify_error(be->tls);
		str_format(why, sizeof(why), "the back end's certificate is not verified: %s",
			   verr && verr[0] ? verr : tls_peer_trust_name(trust));
		proxy_fail(p, why);
		return;
	}
	proxy_send_id(p);
}

static void proxy_be_on_timeout(struct net_conn *be)
{
	struct imap_proxy *p = be->data;
	if (!p)
		return;
	if (p->state == PROXY_RELAY)
		return;
	proxy_fail(p, "timeout");
}

static void proxy_be_on_drain(struct net_conn *be)
{
	struct imap_proxy *p = be->data;
	if (p && p->state == PROXY_RELAY && p->c && p->c->conn)
		net_conn_resume(p->c->conn);
}

static void proxy_be_on_close(struct net_conn *be, const char *reason)
{
	struct imap_proxy *p = be->data;
	if (!p)
		return;
	be->data = NULL;
	p->be = NULL;
	if (p->state != PROXY_RELAY) {
		proxy_fail(p, reason ? reason : "closed");
		return;
	}
	struct imap_client *c = p->c;
	log_info("imap: [%s]: user=%s, back end %s closed (%s)", c->peer_ip, p->user, p->target,
		 reason ? reason : "closed");
	if (c->conn)
		client_close(c, "back end closed");
}

static const struct net_conn_ops proxy_be_ops = {
	.on_read = proxy_be_on_read,
	.on_timeout = proxy_be_on_timeout,
	.on_close = proxy_be_on_close,
	.on_tls_ready = proxy_be_on_tls_ready,
	.on_drain = proxy_be_on_drain,
};

static void proxy_be_connected(struct net_conn *be, int status)
{
	struct imap_proxy *p = be->data;
	if (!p) {
		if (status == 0)
			net_conn_close(be, "client gone");
		return;
	}
	if (status < 0) {
		p->be = NULL;
		proxy_fail(p, uv_strerror(status));
		return;
	}
	p->state = PROXY_GREETING;
	net_conn_set_timeout(be, PROXY_LOGIN_TIMEOUT_MS);
}

static void proxy_connect(struct imap_proxy *p, const struct sockaddr *sa)
{
	p->state = PROXY_CONNECTING;
	p->be = net_connect(p->c->d->loop, sa, PROXY_LOGIN_TIMEOUT_MS, &proxy_be_ops, p,
			    proxy_be_connected);
}

static void proxy_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct imap_proxy *p = req->data;
	if (!p->c) {
		uv_freeaddrinfo(res);
		proxy_wipe(p);
		free(p);
		return;
	}
	if (status < 0 || !res) {
		uv_freeaddrinfo(res);
		proxy_fail(p, status < 0 ? uv_strerror(status) : "no address");
		return;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, res->ai_addr, res->ai_addrlen);
	uv_freeaddrinfo(res);
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(p->port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(p->port);
	proxy_connect(p, (const struct sockaddr *)&ss);
}

static void proxy_start(struct imap_client *c, const char *tag, const char *user,
			const char *password, const struct mailbox_route *route, bool unchecked)
{
	struct imap_proxy *p = xcalloc(1, sizeof(*p));
	p->unchecked = unchecked;
	p->c = c;
	c->proxy = p;
	str_format(p->tag, sizeof(p->tag), "%s", tag);
	str_format(p->user, sizeof(p->user), "%s", user);
	str_format(p->password, sizeof(p->password), "%s", password);
	str_format(p->host, sizeof(p->host), "%s", route->imap_host);
	p->port = route->imap_port;
	str_format(p->target, sizeof(p->target), "[%s]:%u", p->host, p->port);
	if (p->port == 0) {
		proxy_fail(p, "no IMAP back end in mailbox_routes for this account");
		return;
	}
	/* As for LMTP to the same back ends: DANE is for MX hosts, and without a next-hop
	 * domain "secure" checks the host's name. */
	struct tls_policy pol = tls_policy_lookup(&c->d->proxy_policy.table, NULL, p->host,
						  TLS_LEVEL_MAY);
	if (pol.level == TLS_LEVEL_DANE || pol.level == TLS_LEVEL_DANE_ONLY)
		pol.level = TLS_LEVEL_MAY;
	if (pol.level == TLS_LEVEL_SECURE)
		pol.level = TLS_LEVEL_VERIFY;
	p->tls = pol.level;
	tls_policy_describe(&pol, p->tls_desc, sizeof(p->tls_desc));
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, p->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(p->port);
		proxy_connect(p, (const struct sockaddr *)&ss);
		return;
	}
	if (inet_pton(AF_INET6, p->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(p->port);
		proxy_connect(p, (const struct sockaddr *)&ss);
		return;
	}
	/* A host name: libuv resolves it on its thread pool. */
	p->state = PROXY_RESOLVING;
	p->gai.data = p;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int r = uv_getaddrinfo(c->d->loop, &p->gai, proxy_resolved, p->host, NULL, &hints);
	if (r < 0)
		proxy_fail(p, uv_strerror(r));
}

void imap_proxy_client_input(struct imap_client *c)
{
	struct imap_proxy *p = c->proxy;
	struct net_conn *conn = c->conn;
	if (!p || p->state != PROXY_RELAY || !p->be) {
		net_conn_pause(conn);
		return;
	}
	net_conn_write(p->be, conn->in.data, conn->in.len);
	buf_consume(&conn->in, conn->in.len);
	if (p->be->writing + p->be->out.len > PROXY_BACKLOG_MAX)
		net_conn_pause(conn);
}

void imap_proxy_client_drained(struct imap_client *c)
{
	struct imap_proxy *p = c->proxy;
	if (p && p->state == PROXY_RELAY && p->be)
		net_conn_resume(p->be);
}

void imap_proxy_client_closed(struct imap_client *c)
{
	struct imap_proxy *p = c->proxy;
	if (!p)
		return;
	c->proxy = NULL;
	p->c = NULL;
	proxy_wipe(p);
	if (p->be) {
		p->be->data = NULL;
		net_conn_close(p->be, "client closed");
		p->be = NULL;
	}
	if (p->state == PROXY_RESOLVING)
		return; /* proxy_resolved frees it */
	free(p);
}

void imap_proxy_start(struct imap_client *c, const char *tag, const char *user,
		      const char *password, const struct mailbox_route *route)
{
	proxy_start(c, tag, user, password, route, false);
}

void imap_proxy_start_unchecked(struct imap_client *c, const char *tag, const char *user,
				const char *password, const struct mailbox_route *route)
{
	proxy_start(c, tag, user, password, route, true);
}
