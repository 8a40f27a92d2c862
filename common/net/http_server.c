/* http_server.c - a small HTTP listener: libmicrohttpd parses and limits, the loop answers through a routing table. */
#include "http_server.h"

#include "config.h"
#include "log.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_CONNECTIONS_MAX 64 /* at once; more wait in the kernel's backlog */
#define HTTP_PER_IP_MAX      16
#define HTTP_TIMEOUT_S       15 /* an idle or slow connection is closed after this */

struct http_route {
	char *method;
	char *prefix;
	size_t prefix_len;
	http_handler_fn *fn;
	void *arg;
};

/* One request: libmicrohttpd's per-connection state (con_cls). The MHD thread fills it and
 * suspends the connection; the loop answers it (status, reply) and resumes it. */
enum http_job_state { HTTP_JOB_READING, HTTP_JOB_QUEUED, HTTP_JOB_ANSWERED };

struct http_job {
	enum http_job_state state;
	struct MHD_Connection *conn;
	char method[8];
	char *path;
	char *host;
	char peer[INET6_ADDRSTRLEN];
	struct buf body;
	bool too_large;
	int status;
	struct http_reply reply;
	struct http_job *next;
};

struct http_server {
	uv_loop_t *loop;
	uv_async_t async;
	struct MHD_Daemon *mhd;
	char name[32];
	char address[300];
	struct http_route *routes; /* loop thread only */
	size_t n_routes;
	pthread_mutex_t mu; /* guards queue and stopping */
	struct http_job *queue_head, **queue_tail;
	bool stopping;
};

static void http_logger(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("http %s: %s", s->name, msg);
}

static void http_job_free(struct http_job *j)
{
	free(j->path);
	free(j->host);
	buf_free(&j->body);
	buf_free(&j->reply.body);
	free(j);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	if (*con_cls)
		http_job_free(*con_cls);
	*con_cls = NULL;
}

static enum MHD_Result http_queue_text(struct MHD_Connection *conn, unsigned status,
				       const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result http_queue_reply(struct http_job *j)
{
	struct MHD_Response *r;
	size_t len = j->reply.body.len;

	if (len == 0) {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else {
		char *data = buf_steal(&j->reply.body, &len);
		r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
		if (!r)
			free(data);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				j->reply.content_type ? j->reply.content_type
						      : "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(j->conn, (unsigned)j->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The libmicrohttpd thread: collects the request, hands it to the loop, and sends the answer
 * once the loop resumed the connection. */
static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct http_job *j = *con_cls;
	(void)version;

	if (!j) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
		    strcmp(method, "POST") != 0)
			return http_queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					       "method not allowed\n");
		j = xcalloc(1, sizeof(*j));
		j->conn = conn;
		snprintf(j->method, sizeof(j->method), "%s", method);
		j->path = xstrdup(url);
		const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_HOST);
		j->host = xstrdup(host ? host : "");
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr) {
			const struct sockaddr *sa = ci->client_addr;
			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
					  j->peer, sizeof(j->peer));
			else if (sa->sa_family == AF_INET6)
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
					  j->peer, sizeof(j->peer));
		}
		buf_init(&j->body);
		*con_cls = j;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (j->body.len + *upload_data_size > HTTP_SERVER_BODY_MAX)
			j->too_large = true;
		else
			buf_append(&j->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (j->state == HTTP_JOB_ANSWERED)
		return http_queue_reply(j);
	if (j->state == HTTP_JOB_QUEUED)
		return MHD_YES; /* not expected: the connection is suspended until answered */
	if (j->too_large)
		return http_queue_text(conn, 413, "request body too large\n");

	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		return http_queue_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
	}
	j->state = HTTP_JOB_QUEUED;
	MHD_suspend_connection(conn);
	j->next = NULL;
	*s->queue_tail = j;
	s->queue_tail = &j->next;
	pthread_mutex_unlock(&s->mu);
	uv_async_send(&s->async);
	return MHD_YES;
}

/* ---- the loop side ---- */

static void http_answer(struct http_server *s, struct http_job *j)
{
	const char *m = strcmp(j->method, "HEAD") == 0 ? "GET" : j->method;
	const struct http_route *best = NULL;
	bool other_method = false;

	for (size_t i = 0; i < s->n_routes; i++) {
		const struct http_route *r = &s->routes[i];
		if (strncmp(j->path, r->prefix, r->prefix_len) != 0)
			continue;
		if (strcmp(r->method, m) != 0) {
			other_method = true;
			continue;
		}
		if (!best || r->prefix_len > best->prefix_len)
			best = r;
	}
	buf_init(&j->reply.body);
	j->reply.content_type = NULL;
	if (!best) {
		j->status = other_method ? 405 : 404;
		buf_append_str(&j->reply.body,
			       other_method ? "method not allowed\n" : "not found\n");
		return;
	}
	struct http_request req = {
		.method = j->method,
		.path = j->path,
		.host = j->host,
		.peer = j->peer,
		.body = j->body.data ? j->body.data : "",
		.body_len = j->body.len,
	};
	j->status = best->fn(best->arg, &req, &j->reply);
	if (j->status < 100 || j->status > 599)
		j->status = 500;
}

/* Takes the waiting requests; with stopping, no more are queued afterwards. */
static struct http_job *http_take(struct http_server *s, bool stopping)
{
	pthread_mutex_lock(&s->mu);
	struct http_job *list = s->queue_head;
	s->queue_head = NULL;
	s->queue_tail = &s->queue_head;
	if (stopping)
		s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	return list;
}

static void http_async_cb(uv_async_t *a)
{
	struct http_server *s = a->data;
	struct http_job *j = http_take(s, false);
	while (j) {
		struct http_job *next = j->next;
		http_answer(s, j);
		j->state = HTTP_JOB_ANSWERED;
		MHD_resume_connection(j->conn); /* the MHD thread owns j again */
		j = next;
	}
}

/* ---- start and stop ---- */

/* A bound, listening socket for hp, or -1 with err set. */
static int http_bind(const struct config_hostport *hp, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%u", hp->port);
	int rc = getaddrinfo(hp->host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", hp->host, gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int saved = errno;
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (res->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
			saved = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on %s%s%s:%u: %s",
			 strchr(hp->host, ':') ? "[" : "", hp->host,
			 strchr(hp->host, ':') ? "]" : "", hp->port, strerror(saved));
	return fd;
}

static void http_server_closed(uv_handle_t *h);

struct http_server *http_server_start(uv_loop_t *loop, const struct config_hostport *hp,
				      const char *name, char *err, size_t errlen)
{
	int fd = http_bind(hp, err, errlen);
	if (fd < 0)
		return NULL;

	struct http_server *s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->address, sizeof(s->address), "%s%s%s:%u", strchr(hp->host, ':') ? "[" : "",
		 hp->host, strchr(hp->host, ':') ? "]" : "", hp->port);
	pthread_mutex_init(&s->mu, NULL);
	s->queue_tail = &s->queue_head;
	if (uv_async_init(loop, &s->async, http_async_cb) < 0) {
		snprintf(err, errlen, "%s: cannot create the loop's wake-up handle", s->address);
		close(fd);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	s->async.data = s;

	s->mhd = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
					  MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
				  0, NULL, NULL, http_access, s, MHD_OPTION_EXTERNAL_LOGGER,
				  http_logger, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_IP_MAX,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
				  MHD_OPTION_NOTIFY_COMPLETED, http_completed, s, MHD_OPTION_END);
	if (!s->mhd) {
		snprintf(err, errlen, "%s: cannot start the HTTP server", s->address);
		close(fd);
		s->stopping = true;
		uv_close((uv_handle_t *)&s->async, http_server_closed); /* frees s */
		return NULL;
	}
	return s;
}

struct http_server *http_server_start_or_exit(uv_loop_t *loop, const struct config *cfg,
					      const char *key, const struct config_hostport *hp)
{
	char err[512];
	struct http_server *s = http_server_start(loop, hp, key, err, sizeof(err));
	if (!s)
		log_fatal(EX_CONFIG_STATUS, "%s:%zu: %s: %s", cfg->path ? cfg->path : "(defaults)",
			  config_key_line(cfg, key), key, err);
	return s;
}

void http_server_route(struct http_server *s, const char *method, const char *prefix,
		       http_handler_fn *fn, void *arg)
{
	for (size_t i = 0; i < s->n_routes; i++) {
		struct http_route *r = &s->routes[i];
		if (strcmp(r->method, method) == 0 && strcmp(r->prefix, prefix) == 0) {
			r->fn = fn;
			r->arg = arg;
			return;
		}
	}
	s->routes = xrealloc(s->routes, (s->n_routes + 1) * sizeof(*s->routes));
	s->routes[s->n_routes++] = (struct http_route){ .method = xstrdup(method),
							.prefix = xstrdup(prefix),
							.prefix_len = strlen(prefix),
							.fn = fn,
							.arg = arg };
}

void http_server_unroute(struct http_server *s, const char *method, const char *prefix)
{
	for (size_t i = 0; i < s->n_routes; i++) {
		struct http_route *r = &s->routes[i];
		if (strcmp(r->method, method) == 0 && strcmp(r->prefix, prefix) == 0) {
			free(r->method);
			free(r->prefix);
			s->routes[i] = s->routes[--s->n_routes];
			return;
		}
	}
}

const char *http_server_address(const struct http_server *s)
{
	return s->address;
}

static void http_server_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;
	for (size_t i = 0; i < s->n_routes; i++) {
		free(s->routes[i].method);
		free(s->routes[i].prefix);
	}
	free(s->routes);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void http_server_stop(struct http_server **sp)
{
	struct http_server *s = *sp;
	if (!s)
		return;
	*sp = NULL;
	struct http_job *j = http_take(s, true);
	while (j) {
		struct http_job *next = j->next;
		buf_init(&j->reply.body);
		buf_append_str(&j->reply.body, "shutting down\n");
		j->reply.content_type = NULL;
		j->status = 503;
		j->state = HTTP_JOB_ANSWERED;
		MHD_resume_connection(j->conn);
		j = next;
	}
	MHD_stop_daemon(s->mhd); /* joins its thread, closes the socket and every connection */
	s->mhd = NULL;
	uv_close((uv_handle_t *)&s->async, http_server_closed);
}
