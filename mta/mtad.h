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
struct tls_ctx;
struct auth_throttle;
struct http_server;

struct mtad {
	uv_loop_t *loop;
	struct config *cfg;
	struct accounts *accounts;
	struct aliases *aliases;
	struct queue *queue;
	struct scheduler *sched;
	struct relay *relay;
	struct dns *dns; /* inbound clients' reverse lookups (smtp_server.c) */
	struct net_listener *listeners;
	struct tls_ctx *tls; /* server side: STARTTLS and implicit TLS */
	struct auth_throttle *auth_throttle;
	struct http_server *http; /* http_listen (NULL when off): modules add routes to it */
	char *tls_cert, *tls_key; /* paths, for SIGHUP reload */
	bool stopping;
	uint64_t sessions_total, messages_accepted, messages_rejected;
	size_t data_bytes; /* bytes held in sessions' message buffers */
};

#endif
