/* http_server.h - a small HTTP listener (libmicrohttpd) whose routes are answered on the event loop. */
#ifndef MAIL_HTTP_SERVER_H
#define MAIL_HTTP_SERVER_H

#include "buf.h"

#include <stddef.h>
#include <uv.h>

struct config;
struct config_hostport;
struct http_server;

/* Largest request body taken (autodiscover POSTs are small); a larger one gets 413. */
#define HTTP_SERVER_BODY_MAX (64 * 1024)

/* One request as a handler sees it: copies, valid during the handler call only. */
struct http_request {
	const char *method; /* "GET", "HEAD" or "POST" (others get 405 before any route) */
	const char *path;   /* the URL path, percent-escapes decoded, without the query */
	const char *host;   /* the Host header, "" when absent */
	const char *peer;   /* the client's address */
	const char *body;   /* POST body (NUL-terminated), "" for none */
	size_t body_len;
};

/* What a handler answers: body and content_type (a static string) are filled by the handler;
 * the body is sent as is (HEAD: headers only). */
struct http_reply {
	const char *content_type; /* default "text/plain; charset=utf-8" */
	struct buf body;
};

/* A route's handler: runs on the loop thread (the libmicrohttpd thread only queues the
 * request), so it may read anything the loop owns. Returns the HTTP status (200, 404 ...). */
typedef int http_handler_fn(void *arg, const struct http_request *req, struct http_reply *reply);

/* Binds hp (a numeric address or a name resolved once) and starts serving on a
 * libmicrohttpd thread; requests are handed to the loop through a uv_async. Call before
 * dropping privileges when the port is below 1024. Returns NULL with err set
 * ("cannot listen on HOST:PORT: Address already in use"). */
struct http_server *http_server_start(uv_loop_t *loop, const struct config_hostport *hp,
				      const char *name, char *err, size_t errlen);

/* http_server_start for the address of config key `key` (e.g. "http_listen"): on failure
 * exits 78 (EX_CONFIG) with "FILE:LINE: KEY: cannot listen on ...". */
struct http_server *http_server_start_or_exit(uv_loop_t *loop, const struct config *cfg,
					      const char *key, const struct config_hostport *hp);

/* Adds a route: requests whose method is `method` ("GET" also takes HEAD) and whose path
 * starts with `prefix` go to fn(arg, ...); the longest matching prefix wins, and a route
 * added again for the same method and prefix replaces the old one. Paths without a route get
 * 404, a path with routes for other methods only 405. Loop thread only. */
void http_server_route(struct http_server *s, const char *method, const char *prefix,
		       http_handler_fn *fn, void *arg);

/* Removes the route of method and prefix (no-op when there is none). Loop thread only. */
void http_server_unroute(struct http_server *s, const char *method, const char *prefix);

/* The bound address as "HOST:PORT" (for the start-up log line). */
const char *http_server_address(const struct http_server *s);

/* Stops accepting, answers requests still waiting for the loop with 503, joins the
 * libmicrohttpd thread, closes the uv_async (freed in its close callback) and sets *s NULL.
 * Call from the daemon's stop path, before the loop ends. NULL is fine. */
void http_server_stop(struct http_server **s);

#endif
