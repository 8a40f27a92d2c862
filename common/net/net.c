/* net.c - listeners and connections on libuv: accept with limits, buffered reads, batched writes, idle timers. */
#include "net.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NET_READ_CHUNK     (64 * 1024)
#define NET_MAX_IN_DEFAULT (256 * 1024)
#define NET_MAX_WRITING    (1024 * 1024)
#define NET_IP_BUCKETS     4096

struct net_write_req {
	uv_write_t req;
	struct net_conn *conn;
	size_t len;
	char data[];
};

struct net_ip_count {
	struct net_ip_count *next;
	unsigned count;
	char ip[64];
};

static struct net_ip_count *net_ip_table[NET_IP_BUCKETS];
static unsigned net_total_conns;
static uint64_t net_next_id = 1;
static struct net_conn *net_conns;
/* Connections with input left after their turn: served again on the next loop iteration,
 * after everyone else's I/O (fairness under pipelining floods). */
static struct net_conn *net_pending;
static uv_idle_t net_pending_idle;
static bool net_pending_idle_ready;
static char net_read_buffer[NET_READ_CHUNK];
static bool net_read_buffer_busy;

static void net_conn_do_write(struct net_conn *c);
static void net_conn_update_reading(struct net_conn *c);

static unsigned net_ip_hash(const char *ip)
{
	unsigned h = 2166136261u;
	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h % NET_IP_BUCKETS;
}

static struct net_ip_count **net_ip_find(const char *ip)
{
	struct net_ip_count **pp = &net_ip_table[net_ip_hash(ip)];
	while (*pp && strcmp((*pp)->ip, ip) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void net_ip_add(const char *ip, int delta)
{
	struct net_ip_count **pp = net_ip_find(ip);
	if (!*pp) {
		if (delta < 0)
			return;
		*pp = xcalloc(1, sizeof(**pp));
		str_format((*pp)->ip, sizeof((*pp)->ip), "%s", ip);
	}
	if (delta < 0 && (*pp)->count <= 1) {
		struct net_ip_count *gone = *pp;
		*pp = gone->next;
		free(gone);
		return;
	}
	(*pp)->count = (unsigned)((int)(*pp)->count + delta);
}

unsigned net_conn_count(void)
{
	return net_total_conns;
}

unsigned net_conn_count_ip(const char *ip)
{
	struct net_ip_count **pp = net_ip_find(ip);
	return *pp ? (*pp)->count : 0;
}

/* "a.b.c.d" of 4 octets (what inet_ntop writes, without its sprintf); out has room for 16. */
static void net_ipv4_text(const unsigned char *a, char *out)
{
	char *p = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
}

static void net_sockaddr_text(const struct sockaddr_storage *ss, char *out, size_t outlen,
			      uint16_t *port_r)
{
	out[0] = '\0';
	*port_r = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		if (outlen >= INET_ADDRSTRLEN)
			net_ipv4_text((const unsigned char *)&sin->sin_addr, out);
		*port_r = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			if (outlen >= INET_ADDRSTRLEN)
				net_ipv4_text(&sin6->sin6_addr.s6_addr[12], out);
		} else
			inet_ntop(AF_INET6, &sin6->sin6_addr, out, (socklen_t)outlen);
		*port_r = ntohs(sin6->sin6_port);
	}
}

static uint16_t net_sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static void net_pending_remove(struct net_conn *c)
{
	if (!c->pending)
		return;
	if (c->pend_prev)
		c->pend_prev->pend_next = c->pend_next;
	else
		net_pending = c->pend_next;
	if (c->pend_next)
		c->pend_next->pend_prev = c->pend_prev;
	c->pend_prev = c->pend_next = NULL;
	c->pending = false;
	if (!net_pending && net_pending_idle_ready)
		uv_idle_stop(&net_pending_idle);
}

static void net_conn_dispatch(struct net_conn *c);

static void net_pending_run(uv_idle_t *h)
{
	(void)h;
	/* Detach the list: a connection that still has input queues itself again. */
	struct net_conn *list = net_pending;
	net_pending = NULL;
	uv_idle_stop(&net_pending_idle);
	for (struct net_conn *c = list; c; c = c->pend_next)
		c->pending = false;
	while (list) {
		struct net_conn *c = list;
		list = c->pend_next;
		if (list)
			list->pend_prev = NULL;
		c->pend_next = c->pend_prev = NULL;
		net_conn_dispatch(c);
	}
}

static void net_pending_add(struct net_conn *c)
{
	if (c->pending)
		return;
	if (!net_pending_idle_ready) {
		uv_idle_init(c->h.tcp.loop, &net_pending_idle);
		uv_unref((uv_handle_t *)&net_pending_idle);
		net_pending_idle_ready = true;
	}
	c->pending = true;
	c->pend_prev = NULL;
	c->pend_next = net_pending;
	if (net_pending)
		net_pending->pend_prev = c;
	net_pending = c;
	uv_idle_start(&net_pending_idle, net_pending_run);
}

static void net_conn_list_add(struct net_conn *c)
{
	c->next = net_conns;
	if (net_conns)
		net_conns->prev = c;
	net_conns = c;
	c->listed = true;
	net_total_conns++;
	net_ip_add(c->peer_ip, 1);
}

static void net_conn_handle_closed(uv_handle_t *h)
{
	struct net_conn *c = h->data;
	if (--c->handles_open > 0)
		return;
	buf_free(&c->in);
	buf_free(&c->out);
	tls_session_free(&c->tls);
	if (c->filter) {
		c->filter->free(c->filter->ctx);
		free(c->filter);
		c->filter = NULL;
	}
	free(c);
}

static void net_conn_really_close(struct net_conn *c)
{
	if (c->handles_open != 2 || uv_is_closing((uv_handle_t *)&c->h))
		return;
	if (c->in_callback) {
		/* Never free the protocol's session under its own feet: finish after it returns. */
		c->close_deferred = true;
		return;
	}
	if (c->connect_cb) {
		/* Never connected: the connect callback reports instead of on_close. */
		void (*cb)(struct net_conn *, int) = c->connect_cb;
		c->connect_cb = NULL;
		cb(c, -ECONNABORTED);
	} else if (c->ops && c->ops->on_close)
		c->ops->on_close(c, c->close_reason[0] ? c->close_reason : "closed");
	c->data = NULL;
	net_pending_remove(c);
	if (c->listed) {
		if (c->prev)
			c->prev->next = c->next;
		else
			net_conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->prev = c->next = NULL;
		net_total_conns--;
		net_ip_add(c->peer_ip, -1);
		c->listed = false;
	}
	uv_close((uv_handle_t *)&c->timer, net_conn_handle_closed);
	uv_close((uv_handle_t *)&c->h, net_conn_handle_closed);
}

void net_conn_close(struct net_conn *c, const char *reason)
{
	if (c->closing)
		return;
	c->closing = true;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	uv_read_stop((uv_stream_t *)&c->h);
	uv_timer_stop(&c->timer);
	net_conn_do_write(c); /* the last replies, encrypted, before close_notify */
	if (c->tls && c->tls_ready) {
		tls_session_shutdown(c->tls);
		net_conn_do_write(c);
	}
	if (c->writing == 0)
		net_conn_really_close(c);
	else
		c->close_after_write = true;
}

/* Abrupt close (peer gone, write error): pending output is dropped. */
static void net_conn_abort(struct net_conn *c, const char *reason)
{
	if (!c->closing) {
		c->closing = true;
		snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	}
	uv_read_stop((uv_stream_t *)&c->h);
	uv_timer_stop(&c->timer);
	buf_reset(&c->out);
	net_conn_really_close(c);
}

void net_conns_close_all(const char *reason)
{
	while (net_conns)
		net_conn_abort(net_conns, reason);
}

static void net_write_done(uv_write_t *req, int status)
{
	struct net_write_req *w = container_of(req, struct net_write_req, req);
	struct net_conn *c = w->conn;
	c->writing -= w->len;
	free(w);
	if (status < 0) {
		net_conn_abort(c, "write error");
		return;
	}
	if (c->out.len)
		net_conn_do_write(c);
	if (c->close_after_write && c->writing == 0) {
		net_conn_really_close(c);
		return;
	}
	if (!c->closing && c->ops && c->ops->on_drain && c->writing + c->out.len <= NET_DRAIN_LOW) {
		c->in_callback = true;
		c->ops->on_drain(c);
		c->in_callback = false;
		net_conn_do_write(c);
	}
	net_conn_update_reading(c);
}

/* Hands bytes to the socket: written at once when nothing is queued before them and the
 * socket takes them (the usual case for a reply: no write request, no completion callback in
 * the next loop iteration, no epoll_ctl to drop POLLOUT again); what the socket does not take
 * is copied into a write request. A synchronous write stays at most NET_DRAIN_LOW, so a
 * protocol waiting for on_drain (backlog above it) always has a write request to wake it. */
static void net_timer_fired(uv_timer_t *t);

/* A write failed. Inside the protocol's callback the close is deferred until it returns;
 * outside one (a reply sent when a queue commit or a pool job finished) the caller still uses
 * its session after net_conn_write returns, so the close, and with it on_close, which may
 * free that session, comes on the next loop turn. */
static void net_conn_write_failed(struct net_conn *c)
{
	if (c->in_callback) {
		net_conn_abort(c, "write error");
		return;
	}
	if (!c->closing) {
		c->closing = true;
		snprintf(c->close_reason, sizeof(c->close_reason), "%s", "write error");
	}
	uv_read_stop((uv_stream_t *)&c->h);
	buf_reset(&c->out);
	c->abort_pending = true;
	uv_timer_start(&c->timer, net_timer_fired, 0, 0);
}

static void net_conn_send_raw(struct net_conn *c, const char *data, size_t len)
{
	if (c->writing == 0 && len <= NET_DRAIN_LOW) {
		uv_buf_t direct = uv_buf_init((char *)data, (unsigned)len);
		int n = uv_try_write((uv_stream_t *)&c->h, &direct, 1);
		if (n >= 0) {
			data += n;
			len -= (size_t)n;
			if (len == 0)
				return;
		} else if (n != UV_EAGAIN && n != UV_ENOSYS) {
			net_conn_write_failed(c);
			return;
		}
	}
	struct net_write_req *w = xmalloc(sizeof(*w) + len);
	memcpy(w->data, data, len);
	w->len = len;
	w->conn = c;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
	c->writing += w->len;
	int r = uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, net_write_done);
	if (r < 0) {
		c->writing -= w->len;
		free(w);
		net_conn_write_failed(c);
	}
}

static void net_conn_do_write(struct net_conn *c)
{
	if (uv_is_closing((uv_handle_t *)&c->h))
		return;
	if (c->abort_pending) {
		buf_reset(&c->out);
		return;
	}
	if (c->filter && c->out.len) {
		struct buf enc;
		buf_init(&enc);
		int r = c->filter->encode(c->filter->ctx, c->out.data, c->out.len, &enc);
		buf_free(&c->out);
		if (r < 0) {
			buf_free(&enc);
			net_conn_write_failed(c);
			return;
		}
		c->out = enc;
	}
	if (c->tls) {
		if (c->out.len) {
			tls_session_write(c->tls, c->out.data, c->out.len);
			buf_reset(&c->out);
		}
		struct buf cipher;
		buf_init(&cipher);
		tls_session_pending_output(c->tls, &cipher);
		if (cipher.len)
			net_conn_send_raw(c, cipher.data, cipher.len);
		buf_free(&cipher);
	} else if (c->out.len) {
		net_conn_send_raw(c, c->out.data, c->out.len);
		buf_reset(&c->out);
	}
	if (c->out.cap > 16 * 1024)
		buf_free(&c->out);
}

void net_conn_write(struct net_conn *c, const void *p, size_t n)
{
	if (uv_is_closing((uv_handle_t *)&c->h))
		return;
	buf_append(&c->out, p, n);
	if (!c->in_callback)
		net_conn_do_write(c);
}

void net_conn_printf(struct net_conn *c, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = str_vformat(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	net_conn_write(c, tmp, (size_t)n);
}

void net_conn_flush(struct net_conn *c)
{
	net_conn_do_write(c);
}

static void net_connect_failed(struct net_conn *c, int status)
{
	void (*cb)(struct net_conn *, int) = c->connect_cb;
	c->connect_cb = NULL;
	c->closing = true;
	if (cb)
		cb(c, status);
	c->data = NULL;
	c->ops = NULL;
	net_conn_really_close(c);
}

static void net_timer_fired(uv_timer_t *t)
{
	struct net_conn *c = container_of(t, struct net_conn, timer);
	if (c->connect_cb) {
		net_connect_failed(c, c->connect_error ? c->connect_error : UV_ETIMEDOUT);
		return;
	}
	if (c->abort_pending) {
		net_conn_abort(c, "write error"); /* closing: the reason set then is kept */
		return;
	}
	if (c->closing)
		return;
	if (c->ops && c->ops->on_timeout)
		c->ops->on_timeout(c);
	else
		net_conn_close(c, "timeout");
}

void net_conn_set_timeout(struct net_conn *c, uint64_t ms)
{
	c->timeout_ms = ms;
	if (c->closing)
		return;
	if (ms)
		uv_timer_start(&c->timer, net_timer_fired, ms, 0);
	else
		uv_timer_stop(&c->timer);
}

static void net_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)h;
	(void)suggested;
	if (net_read_buffer_busy) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	net_read_buffer_busy = true;
	*b = uv_buf_init(net_read_buffer, sizeof(net_read_buffer));
}

/* Runs the protocol once on buffered input, then flushes what it wrote. Input left after a
 * turn in which the protocol made progress (it caps the commands it handles per turn) waits
 * for the next loop iteration, so one client's flood cannot hold the others up. */
static void net_conn_dispatch(struct net_conn *c)
{
	if (!c->closing && !c->read_paused && c->in.len > 0) {
		size_t before = c->in.len;
		c->in_callback = true;
		c->ops->on_read(c);
		c->in_callback = false;
		if (c->close_deferred) {
			net_conn_really_close(c);
			return;
		}
		if (c->in.len && c->in.len != before && !c->closing && !c->read_paused)
			net_pending_add(c);
	}
	net_conn_do_write(c);
	net_conn_update_reading(c);
}

static void net_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct net_conn *c = s->data;
	if (b->base == net_read_buffer)
		net_read_buffer_busy = false;
	if (n == 0)
		return;
	if (n < 0) {
		net_conn_abort(c, n == UV_EOF ? "disconnected" : uv_strerror((int)n));
		return;
	}
	if (c->closing)
		return;
	if (c->tls) {
		struct buf plain;
		buf_init(&plain);
		int r = tls_session_feed(c->tls, b->base, (size_t)n);
		if (r == 0)
			r = tls_session_read(c->tls, c->filter ? &plain : &c->in);
		if (c->filter && plain.len &&
		    c->filter->decode(c->filter->ctx, plain.data, plain.len, &c->in) < 0) {
			buf_free(&plain);
			net_conn_close(c, "bad compressed data");
			return;
		}
		buf_free(&plain);
		net_conn_do_write(c); /* handshake records, alerts */
		if (r == TLS_ERROR) {
			log_info("%s: TLS error from [%s]: %s",
				 c->listener ? c->listener->name : "client", c->peer_ip,
				 tls_session_error(c->tls));
			net_conn_close(c, "TLS error");
			return;
		}
		if (r == TLS_CLOSED) {
			net_conn_close(c, "TLS closed");
			return;
		}
		if (!c->tls_ready && tls_session_handshake_done(c->tls)) {
			c->tls_ready = true;
			if (c->ops && c->ops->on_tls_ready) {
				c->in_callback = true;
				c->ops->on_tls_ready(c);
				c->in_callback = false;
				if (c->close_deferred) {
					net_conn_really_close(c);
					return;
				}
			}
		}
	} else if (c->filter) {
		if (c->filter->decode(c->filter->ctx, b->base, (size_t)n, &c->in) < 0) {
			net_conn_close(c, "bad compressed data");
			return;
		}
	} else {
		buf_append(&c->in, b->base, (size_t)n);
	}
	if (c->timeout_ms)
		uv_timer_start(&c->timer, net_timer_fired, c->timeout_ms, 0);
	net_conn_dispatch(c);
}

static void net_conn_update_reading(struct net_conn *c)
{
	if (c->closing)
		return;
	bool want = c->in.len < c->max_in && c->writing < NET_MAX_WRITING;
	if (want)
		uv_read_start((uv_stream_t *)&c->h, net_alloc, net_read);
	else
		uv_read_stop((uv_stream_t *)&c->h);
}

const struct sockaddr_storage *net_conn_local(struct net_conn *c)
{
	if (!c->local_known && !c->is_unix) {
		int len = sizeof(c->local);
		if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&c->local, &len) == 0)
			c->local_port = net_sockaddr_port(&c->local);
	}
	c->local_known = true;
	return &c->local;
}

void net_conn_pause(struct net_conn *c)
{
	c->read_paused = true;
}

void net_conn_resume(struct net_conn *c)
{
	if (!c->read_paused)
		return;
	c->read_paused = false;
	if (c->closing)
		return;
	net_conn_dispatch(c);
}

int net_conn_set_filter(struct net_conn *c, const struct net_filter *f)
{
	if (c->filter) {
		f->free(f->ctx);
		return -1;
	}
	net_conn_do_write(c); /* the reply that agreed goes out unfiltered */
	c->filter = xmalloc(sizeof(*c->filter));
	*c->filter = *f;
	if (c->in.len) {
		struct buf raw = c->in;
		buf_init(&c->in);
		int r = f->decode(f->ctx, raw.data, raw.len, &c->in);
		buf_free(&raw);
		if (r < 0)
			return -1;
	}
	return 0;
}

int net_conn_start_tls(struct net_conn *c, struct tls_ctx *ctx)
{
	if (c->tls || !ctx)
		return -1;
	/* Our plaintext reply (e.g. "220 Ready to start TLS") goes out first, in the clear. */
	net_conn_do_write(c);
	c->tls = tls_session_new(ctx, true, NULL);
	if (!c->tls)
		return -1;
	/* Anything the client pipelined after STARTTLS is discarded, never executed. */
	buf_reset(&c->in);
	return 0;
}

int net_conn_start_tls_client(struct net_conn *c, struct tls_ctx *ctx, const char *sni)
{
	return net_conn_start_tls_client_checked(c, ctx, sni, NULL);
}

int net_conn_start_tls_client_checked(struct net_conn *c, struct tls_ctx *ctx, const char *sni,
				      const struct tls_client_check *chk)
{
	if (c->tls || !ctx)
		return -1;
	net_conn_do_write(c);
	c->tls = tls_client_session_new(ctx, sni, chk);
	if (!c->tls)
		return -1;
	buf_reset(&c->in);
	net_conn_do_write(c); /* the ClientHello */
	return 0;
}

static void net_on_connection(uv_stream_t *server, int status)
{
	struct net_listener *l = server->data;
	if (status < 0) {
		log_warn("%s: accept: %s", l->name, uv_strerror(status));
		return;
	}
	struct net_conn *c = xcalloc(1, sizeof(*c));
	c->is_unix = l->is_unix;
	c->peer_uid = -1;
	if (l->is_unix)
		uv_pipe_init(l->loop, &c->h.pipe, 0);
	else
		uv_tcp_init(l->loop, &c->h.tcp);
	uv_timer_init(l->loop, &c->timer);
	c->handles_open = 2;
	c->h.tcp.data = c;
	c->timer.data = c;
	c->listener = l;
	c->id = net_next_id++;
	c->max_in = NET_MAX_IN_DEFAULT;
	buf_init(&c->in);
	buf_init(&c->out);
	if (uv_accept(server, (uv_stream_t *)&c->h) < 0) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->timer, net_conn_handle_closed);
		uv_close((uv_handle_t *)&c->h, net_conn_handle_closed);
		return;
	}
	metric_inc(MET_CONNECTIONS, l->name, NULL);
	if (l->is_unix) {
		snprintf(c->peer_ip, sizeof(c->peer_ip), "local");
		uv_os_fd_t fd;
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		if (uv_fileno((uv_handle_t *)&c->h, &fd) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
			c->peer_uid = (long)cred.uid;
	} else {
		int len = sizeof(c->peer);
		uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&c->peer, &len);
		net_sockaddr_text(&c->peer, c->peer_ip, sizeof(c->peer_ip), &c->peer_port);
#ifndef __linux__
		/* Linux hands the listener's TCP_NODELAY to accepted sockets (one setsockopt less per
		 * connection); elsewhere it is set here. */
		uv_tcp_nodelay(&c->h.tcp, 1);
#endif
	}
	net_conn_list_add(c);
	if ((l->max_connections && net_total_conns > l->max_connections) ||
	    (l->max_per_ip && net_conn_count_ip(c->peer_ip) > l->max_per_ip))
		c->over_limit = true;
	if (l->tls && !c->over_limit)
		c->tls = tls_session_new(l->tls, true, NULL);
	l->accept_cb(l, c);
	if (!c->closing) {
		net_conn_do_write(c);
		net_conn_update_reading(c);
	}
}

static void net_connected(uv_connect_t *req, int status)
{
	struct net_conn *c = req->data;
	if (!c->connect_cb)
		return; /* timed out meanwhile: already reported and closing */
	if (status < 0) {
		net_connect_failed(c, status);
		return;
	}
	void (*cb)(struct net_conn *, int) = c->connect_cb;
	c->connect_cb = NULL;
	uv_timer_stop(&c->timer);
	net_conn_list_add(c);
	cb(c, 0);
	if (!c->closing) {
		net_conn_do_write(c);
		net_conn_update_reading(c);
	}
}

struct net_conn *net_connect(uv_loop_t *loop, const struct sockaddr *sa, uint64_t timeout_ms,
			     const struct net_conn_ops *ops, void *data,
			     void (*cb)(struct net_conn *c, int status))
{
	struct net_conn *c = xcalloc(1, sizeof(*c));
	c->is_unix = sa->sa_family == AF_UNIX;
	if (c->is_unix)
		uv_pipe_init(loop, &c->h.pipe, 0);
	else
		uv_tcp_init(loop, &c->h.tcp);
	uv_timer_init(loop, &c->timer);
	c->handles_open = 2;
	c->h.tcp.data = c;
	c->timer.data = c;
	c->id = net_next_id++;
	c->max_in = NET_MAX_IN_DEFAULT;
	c->peer_uid = -1;
	c->outbound = true;
	c->ops = ops;
	c->data = data;
	c->connect_cb = cb;
	c->connect_req.data = c;
	buf_init(&c->in);
	buf_init(&c->out);
	uv_timer_start(&c->timer, net_timer_fired, timeout_ms ? timeout_ms : 30000, 0);
	int r = 0;
	if (c->is_unix) {
		/* A unix-domain socket (sockaddr_un): peer_ip "local", as for accepted ones. */
		snprintf(c->peer_ip, sizeof(c->peer_ip), "local");
		uv_pipe_connect(&c->connect_req, &c->h.pipe,
				((const struct sockaddr_un *)sa)->sun_path, net_connected);
		return c;
	}
	size_t salen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						 : sizeof(struct sockaddr_in);
	memcpy(&c->peer, sa, salen);
	net_sockaddr_text(&c->peer, c->peer_ip, sizeof(c->peer_ip), &c->peer_port);
	uv_tcp_nodelay(&c->h.tcp, 1);
	r = uv_tcp_connect(&c->connect_req, &c->h.tcp, sa, net_connected);
	if (r < 0) {
		/* Report on the next loop turn, never from inside net_connect. */
		uv_timer_start(&c->timer, net_timer_fired, 0, 0);
		c->connect_error = r;
	}
	return c;
}

int net_listen(uv_loop_t *loop, const struct config_hostport_list *list, const char *name,
	       net_accept_cb cb, void *data, struct net_listener **head, char *err, size_t errlen)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct config_hostport *hp = &list->items[i];
		struct sockaddr_storage ss;
		int r;
		if (strchr(hp->host, ':'))
			r = uv_ip6_addr(hp->host, hp->port, (struct sockaddr_in6 *)&ss);
		else
			r = uv_ip4_addr(hp->host, hp->port, (struct sockaddr_in *)&ss);
		if (r < 0) {
			snprintf(err, errlen, "%s: bad listen address %s", name, hp->host);
			return -1;
		}
		struct net_listener *l = xcalloc(1, sizeof(*l));
		l->loop = loop;
		l->accept_cb = cb;
		l->data = data;
		l->name = name;
		snprintf(l->addr_text, sizeof(l->addr_text),
			 strchr(hp->host, ':') ? "[%s]:%u" : "%s:%u", hp->host, hp->port);
		uv_tcp_init(loop, &l->h.tcp);
		uv_tcp_nodelay(&l->h.tcp, 1); /* inherited by accepted sockets on Linux */
		l->h.tcp.data = l;
		l->next = *head;
		*head = l;
		r = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss,
				ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
		if (r == 0)
			r = uv_listen((uv_stream_t *)&l->h, 1024, net_on_connection);
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot listen on %s: %s", name, l->addr_text,
				 uv_strerror(r));
			return -1;
		}
	}
	return 0;
}

int net_listen_unix(uv_loop_t *loop, const char *path, unsigned mode, const char *name,
		    net_accept_cb cb, void *data, struct net_listener **head, char *err,
		    size_t errlen)
{
	struct net_listener *l = xcalloc(1, sizeof(*l));
	l->loop = loop;
	l->accept_cb = cb;
	l->data = data;
	l->name = name;
	l->is_unix = true;
	snprintf(l->addr_text, sizeof(l->addr_text), "%s", path);
	uv_pipe_init(loop, &l->h.pipe, 0);
	l->h.pipe.data = l;
	l->next = *head;
	*head = l;
	unlink(path);
	int r = uv_pipe_bind(&l->h.pipe, path);
	if (r == 0 && chmod(path, mode) < 0)
		r = -errno;
	if (r == 0)
		r = uv_listen((uv_stream_t *)&l->h, 128, net_on_connection);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot listen on %s: %s", name, path, uv_strerror(r));
		return -1;
	}
	return 0;
}

static void net_listener_closed(uv_handle_t *h)
{
	free(h->data);
}

void net_listeners_close(struct net_listener **head)
{
	struct net_listener *l = *head, *next;
	for (; l; l = next) {
		next = l->next;
		uv_close((uv_handle_t *)&l->h, net_listener_closed);
	}
	*head = NULL;
}
