/* smtp_session.h - the inbound SMTP session shared by smtp_server.c (commands, DATA) and smtp_auth.c (AUTH). */
#ifndef MAIL_SMTP_SESSION_H
#define MAIL_SMTP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "milter.h"
#include "mtad.h"
#include "net.h"
#include "queue_file.h"
#include "smtp_proto.h"
#include "smtp_server.h"

enum smtp_state {
	SMTP_STATE_GREETING,	/* banner not yet sent (greeting delay) */
	SMTP_STATE_CONNECTED,	/* banner sent, no HELO/EHLO yet */
	SMTP_STATE_HELO,	/* ready for MAIL */
	SMTP_STATE_MAIL,	/* sender given */
	SMTP_STATE_RCPT,	/* at least one recipient */
	SMTP_STATE_DATA,	/* reading DATA */
	SMTP_STATE_BDAT,	/* reading a BDAT chunk */
	SMTP_STATE_COMMIT,	/* waiting for the queue */
	SMTP_STATE_AUTH,	/* reading SASL responses, or verifying them */
	SMTP_STATE_QUIT,	/* closing */
};

struct smtp_session {
	struct mtad *m;
	struct net_conn *conn;
	enum smtp_listener_kind kind;
	enum smtp_state state;
	char helo[256];
	bool esmtp;
	bool tls;
	bool authenticated;
	char auth_user[256];
	bool relay_client;	/* in relay_networks */
	unsigned errors;
	bool discard_line;	/* an over-long command line is being skipped */
	bool orphaned;		/* connection closed while a commit or an AUTH check was in flight */
	bool async_pending;	/* a queue commit or password check is running for this session */
	/* AUTH in progress */
	int auth_mech;		/* 1 PLAIN, 2 LOGIN */
	int auth_step;
	char auth_login_user[256];
	/* counters for the disconnect log line */
	unsigned n_helo, n_mail, n_rcpt, n_data, n_bdat, n_rset, n_quit, n_other, n_cmds;
	/* the transaction */
	struct queue_envelope env;
	bool smtputf8;
	enum smtp_body body;
	struct buf msg;
	size_t msg_accounted;	/* msg.cap as counted in m->data_bytes */
	bool data_overload;	/* the daemon's message memory was full: 452 at the end */
	size_t msg_header_len;	/* our Received: header at the start of msg */
	struct smtp_data_reader data;
	uint64_t bdat_remaining;
	bool bdat_last;
	bool bdat_failed;
	bool bdat_used;
	bool bdat_discard;		/* reading a refused chunk */
	enum smtp_state bdat_return;	/* state after a refused chunk */
	uint64_t bdat_size;
	size_t rcpt_cap;
	/* milters (milter.h): the hook in flight pauses the session */
	struct milter_set *milters;	/* NULL: no milters on this listener */
	int milter_hook;		/* the hook waiting for the milters (smtp_server.c) */
	char *milter_ok;		/* the reply sent when the milters let the command pass */
	size_t milter_rcpt_mark;	/* recipients before the RCPT under check */
	bool milter_connected;		/* the connect stage ran */
	char milter_auth_type[32];	/* AUTH mechanism, for {auth_type} */
};

/* The only writer of s->state; logs the transition at debug level. */
void smtp_enter_state(struct smtp_session *s, enum smtp_state st);
/* Writes one reply line (CRLF added). */
void smtp_reply(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error reply that counts towards the session's error limit (421 and close at the limit). */
void smtp_error_reply(struct smtp_session *s, int code, const char *enh, const char *text);
/* Frees a session whose connection is gone. */
void smtp_session_free(struct smtp_session *s);

/* smtp_auth.c */
void smtp_auth_command(struct smtp_session *s, const struct smtp_command *cmd);
/* A SASL response line while s->state == SMTP_STATE_AUTH. */
void smtp_auth_response(struct smtp_session *s, const char *line, size_t len);

#endif
