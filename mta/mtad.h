/* mtad.h - the state one mtad process shares between its parts (config, tables, queue, scheduler, listeners). */
#ifndef MAIL_MTAD_H
#define MAIL_MTAD_H

#include <stdbool.h>
#include <uv.h>

#include "accounts.h"
#include "config.h"
#include "deliver.h"
#include "net.h"
#include "queue.h"

struct scheduler;
struct relay;
struct dns;
struct client_names;
struct tls_ctx;
struct auth_throttle;
struct auth_cache;
struct http_server;

struct mtad {
	uv_loop_t *loop;
	struct config *cfg;
	struct accounts *accounts;
	struct aliases *aliases;
	struct mailbox_routes *routes; /* mailbox_routes: LMTP back ends (NULL: all local) */
	struct queue *queue;
	struct scheduler *sched;
	struct relay *relay;
	struct dns *dns;                   /* inbound clients' reverse lookups (smtp_server.c) */
	struct client_names *client_names; /* their answers by address (client_names.c) */
	struct net_listener *listeners;
	struct tls_ctx *tls; /* server side: STARTTLS and implicit TLS */
	struct auth_throttle *auth_throttle;
	/* verified logins (NULL: none) */
	struct auth_cache *auth_cache;
	struct http_server *http; /* http_listen (NULL when off): modules add routes to it */
	char *tls_cert, *tls_key; /* paths, for SIGHUP reload */
	bool stopping;
	size_t data_bytes; /* bytes held in sessions' message buffers */
};

#endif
