/* lmtp_server.h - the LMTP (RFC 2033) server of lmtpd: sessions that deliver each message into the local Maildirs and answer per recipient. */
#ifndef MAIL_LMTP_SERVER_H
#define MAIL_LMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct accounts;
struct aliases;
struct config;
struct net_listener;
struct tls_ctx;

struct lmtp_server {
	uv_loop_t *loop;
	const struct config *cfg;
	struct accounts *accounts; /* replaced by the reload tick; sessions copy what they need */
	struct aliases *aliases;
	struct tls_ctx *tls; /* STARTTLS on TCP listeners; NULL: not offered */
	struct net_listener *listeners;
	unsigned jobs;    /* deliveries on the thread pool */
	uint64_t next_id; /* session numbers for ids and logs */
};

/* Binds cfg->lmtp_listen ("HOST:PORT" or "unix:/PATH"). Returns 0, or -1 with err set. */
int lmtp_server_listen(struct lmtp_server *srv, char *err, size_t errlen);

#endif
