/* net.h - listeners and connections on libuv: read buffer, batched writes, idle timer, limits, TLS. */
#ifndef MAIL_NET_H
#define MAIL_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "config.h"

struct net_conn;
struct net_listener;
struct tls_ctx;
struct tls_session;

struct net_conn_ops {
	/* New bytes are in c->in (plaintext); consume what was used with buf_consume. */
	void (*on_read)(struct net_conn *c);
	/* The idle timer fired. */
	void (*on_timeout)(struct net_conn *c);
	/* The peer closed or an error happened: the connection will be freed after this
	 * returns; free c->data here. Called exactly once. */
	void (*on_close)(struct net_conn *c, const char *reason);
	/* TLS handshake finished (after net_conn_start_tls or on an implicit-TLS listener). */
	void (*on_tls_ready)(struct net_conn *c);
	/* Optional: a write completed and the output backlog (bytes being written plus c->out) is
	 * at most NET_DRAIN_LOW; lets a protocol produce large output in bounded pieces. */
	void (*on_drain)(struct net_conn *c);
};

/* Output backlog below which on_drain is called. */
#define NET_DRAIN_LOW (256 * 1024)

/* Called for each accepted connection; set c->ops and c->data, and write a greeting. */
typedef void (*net_accept_cb)(struct net_listener *l, struct net_conn *c);

struct net_listener {
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	bool is_unix; /* a unix-domain socket (peer_ip "local") */
	uv_loop_t *loop;
	net_accept_cb accept_cb;
	void *data;          /* owner's */
	const char *name;    /* "smtp", "submission", ... for logs */
	char addr_text[300]; /* "127.0.0.1:2525" */
	struct tls_ctx *tls; /* implicit TLS when non-NULL */
	unsigned max_connections;
	unsigned max_per_ip;
	struct net_listener *next;
};

/* A byte-stream layer between the protocol and the socket or TLS (IMAP COMPRESS=DEFLATE):
 * decode turns bytes received into plaintext appended to out; encode turns plaintext into bytes
 * for the peer, flushed so that the peer can decode all of it at once. Each returns 0, or -1 on
 * bad input or a limit (the connection then closes). free releases ctx. */
struct net_filter {
	int (*decode)(void *ctx, const void *in, size_t n, struct buf *out);
	int (*encode)(void *ctx, const void *in, size_t n, struct buf *out);
	void (*free)(void *ctx);
	void *ctx;
};

struct net_conn {
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	bool is_unix;
	uv_timer_t timer;
	struct net_listener *listener;
	const struct net_conn_ops *ops;
	void *data; /* the protocol session */
	uint64_t id;
	struct buf in;  /* plaintext received and not yet consumed */
	struct buf out; /* plaintext written and not yet handed to the socket/TLS */
	struct sockaddr_storage peer;
	char peer_ip[64]; /* printable address, IPv4-mapped IPv6 shown as IPv4 */
	uint16_t peer_port;
	struct sockaddr_storage local; /* our end: read through net_conn_local() */
	uint16_t local_port;           /* valid after net_conn_local() */
	bool local_known; /* local/local_port filled (getsockname only when asked for) */
	long peer_uid;    /* unix sockets: the client's uid (SO_PEERCRED), else -1 */
	struct tls_session *tls;
	struct net_filter *filter; /* net_conn_set_filter, or NULL */
	uint64_t timeout_ms;
	size_t writing;   /* bytes handed to uv_write and not yet completed */
	size_t max_in;    /* pause reading when c->in grows beyond this (default 256 KiB) */
	bool in_callback; /* inside on_read: writes are flushed when it returns */
	bool closing;
	bool close_after_write;
	bool read_paused; /* by the protocol (e.g. waiting for a queue commit) */
	bool over_limit;  /* accepted beyond max_connections or max_per_ip: say 421 and close */
	int handles_open;
	char close_reason[64];
	struct net_conn *prev, *next; /* every live connection */
	/* outbound connections */
	uv_connect_t connect_req;
	void (*connect_cb)(struct net_conn *c, int status);
	bool outbound;
	int connect_error;
	bool listed;         /* counted in the connection list and limits */
	bool tls_ready;      /* handshake done and on_tls_ready called */
	bool close_deferred; /* closed from inside a callback: finished when it returns */
	bool abort_pending;  /* a write failed outside a callback: closed on the next loop turn */
	bool pending;        /* input left over: served again next loop iteration */
	struct net_conn *pend_prev, *pend_next;
};

/* Binds each address of list; the listener's accept_cb runs per connection. Returns 0 or -1
 * with err set. Listeners are chained through ->next into *head. */
int net_listen(uv_loop_t *loop, const struct config_hostport_list *list, const char *name,
	       net_accept_cb cb, void *data, struct net_listener **head, char *err, size_t errlen);
void net_listeners_close(struct net_listener **head);

/* Binds a unix-domain socket at path (an old socket file there is replaced) with the given
 * permissions. Connections report peer_ip "local" and peer_uid. Same returns as net_listen. */
int net_listen_unix(uv_loop_t *loop, const char *path, unsigned mode, const char *name,
		    net_accept_cb cb, void *data, struct net_listener **head, char *err,
		    size_t errlen);

/* Opens an outbound TCP connection to sa (port set), or a unix-domain one when sa is a
 * struct sockaddr_un (peer_ip "local"). cb(c, 0) runs once connected (then
 * reading starts and c->ops apply), or cb(c, -errno) once on failure or after timeout_ms,
 * after which the connection is closed and freed (on_close is not called for a connection
 * that never opened). Returns the connection (never NULL). */
struct net_conn *net_connect(uv_loop_t *loop, const struct sockaddr *sa, uint64_t timeout_ms,
			     const struct net_conn_ops *ops, void *data,
			     void (*cb)(struct net_conn *c, int status));

/* Queues bytes for the peer (copied). Flushed when the current read callback returns, or
 * at once when called from elsewhere. */
void net_conn_write(struct net_conn *c, const void *p, size_t n);
void net_conn_printf(struct net_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void net_conn_flush(struct net_conn *c);

/* Closes after pending output has been written. on_close is called once. */
void net_conn_close(struct net_conn *c, const char *reason);

/* (Re)arms the idle timer; 0 disables it. */
void net_conn_set_timeout(struct net_conn *c, uint64_t ms);

/* Our end of a TCP connection (address and c->local_port), asked of the kernel on first use;
 * zeroed for a unix-domain one. */
const struct sockaddr_storage *net_conn_local(struct net_conn *c);

/* Stops/starts delivering on_read callbacks (input keeps being buffered up to max_in). */
void net_conn_pause(struct net_conn *c);
void net_conn_resume(struct net_conn *c);

/* Starts a server-side TLS handshake (STARTTLS). Any plaintext still in c->in is discarded
 * (pipelined commands after STARTTLS must not be executed). Returns 0 or -1. */
int net_conn_start_tls(struct net_conn *c, struct tls_ctx *ctx);

/* Puts f (copied) between the protocol and the wire from now on: output queued so far goes out
 * as it is, input not consumed yet (c->in, e.g. pipelined after the command that asked for it)
 * is decoded. Returns 0; -1 when a filter is already in place (f->free is called), or when
 * that input does not decode (f stays in place: close the connection). */
int net_conn_set_filter(struct net_conn *c, const struct net_filter *f);

/* Closes every connection at once (shutdown): pending output is dropped. */
void net_conns_close_all(const char *reason);

/* Starts a client-side TLS handshake on an outbound connection (after "220" to STARTTLS). */
int net_conn_start_tls_client(struct net_conn *c, struct tls_ctx *ctx, const char *sni);
/* The same with the certificate checks of a TLS policy (verify, secure, DANE); chk may be NULL. */
struct tls_client_check;
int net_conn_start_tls_client_checked(struct net_conn *c, struct tls_ctx *ctx, const char *sni,
				      const struct tls_client_check *chk);

/* Connection counts, for limits and stats. */
unsigned net_conn_count(void);
unsigned net_conn_count_ip(const char *ip);

#endif
