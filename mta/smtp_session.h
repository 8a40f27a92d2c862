/* smtp_session.h - the inbound SMTP session shared by smtp_server.c (commands), smtp_data.c (DATA, BDAT), smtp_milter.c, smtp_policy.c and smtp_auth.c (AUTH). */
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
	SMTP_STATE_GREETING,  /* banner not yet sent (greeting delay) */
	SMTP_STATE_CONNECTED, /* banner sent, no HELO/EHLO yet */
	SMTP_STATE_HELO,      /* ready for MAIL */
	SMTP_STATE_MAIL,      /* sender given */
	SMTP_STATE_RCPT,      /* at least one recipient */
	SMTP_STATE_DATA,      /* reading DATA */
	SMTP_STATE_BDAT,      /* reading a BDAT chunk */
	SMTP_STATE_COMMIT,    /* waiting for the queue */
	SMTP_STATE_AUTH,      /* reading SASL responses, or verifying them */
	SMTP_STATE_QUIT,      /* closing */
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
	char local_warning[1200]; /* local socket: this transaction's X-Authentication-Warning line
				   * (local_sender.c), or "" */
	bool relay_client;        /* in relay_networks */
	unsigned errors;
	bool discard_line;  /* an over-long command line is being skipped */
	bool orphaned;      /* connection closed while a commit or an AUTH check was in flight */
	bool async_pending; /* a queue commit or password check is running for this session */
	/* AUTH in progress */
	int auth_mech; /* 1 PLAIN, 2 LOGIN */
	int auth_step;
	char auth_login_user[256];
	/* counters for the disconnect log line */
	unsigned n_helo, n_mail, n_rcpt, n_data, n_bdat, n_rset, n_quit, n_other, n_cmds;
	/* the transaction */
	struct queue_envelope env;
	bool smtputf8;
	bool requiretls; /* MAIL REQUIRETLS (RFC 8689) */
	enum smtp_body body;
	uint64_t declared_size; /* MAIL SIZE=, 0 when absent (the RCPT quota check) */
	struct buf msg;
	size_t msg_accounted;  /* msg.cap as counted in m->data_bytes */
	bool data_overload;    /* the daemon's message memory was full: 452 at the end */
	size_t msg_header_len; /* our Received: header at the start of msg */
	struct smtp_data_reader data;
	uint64_t bdat_remaining;
	bool bdat_last;
	bool bdat_failed;
	bool bdat_used;
	bool bdat_discard;           /* reading a refused chunk */
	enum smtp_state bdat_return; /* state after a refused chunk */
	uint64_t bdat_size;          /* octets of the BDAT chunks accepted, <= max_message_size */
	struct smtp_body_check bdat_check; /* the line rules over the chunks, as DATA applies */
	size_t rcpt_cap;
	/* milters (milter.h): the hook in flight pauses the session */
	struct milter_set *milters; /* NULL: no milters on this listener */
	int milter_hook;            /* the hook waiting for the milters (enum smtp_milter_hook) */
	uint64_t milter_started;    /* uv_hrtime() when it started: the metrics' latency */
	char *milter_ok;            /* the reply sent when the milters let the command pass */
	size_t milter_rcpt_mark;    /* recipients before the RCPT under check */
	bool milter_connected;      /* the connect stage ran */
	char milter_auth_type[32];  /* AUTH mechanism, for {auth_type} */
	/* the client's reverse DNS, looked up at connect (smtp_server.c) */
	struct smtp_ptr *ptr;  /* the lookup in flight, or NULL */
	bool ptr_done;         /* finished, failed or timed out: client_name is final */
	bool ptr_wait_milter;  /* the milters' connect stage waits for the lookup */
	char client_name[256]; /* forward-confirmed PTR name (FCrDNS), else "unknown" */
	char client_ptr[256];  /* the PTR name as published (not verified), else "unknown" */
	char listener_name[32];
};

/* The only writer of s->state; logs the transition at debug level. */
void smtp_enter_state(struct smtp_session *s, enum smtp_state st);
/* Writes one reply line (CRLF added). */
void smtp_reply(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error reply that counts towards the session's error limit (421 and close at the limit). */
void smtp_error_reply(struct smtp_session *s, int code, const char *enh, const char *text);
/* Frees a session whose connection is gone. */
void smtp_session_free(struct smtp_session *s);
/* Ends the transaction (envelope, message, the milters' view of it); back to HELO state. */
void smtp_tx_reset(struct smtp_session *s);
/* Time the reverse lookup of a client may take before its name counts as unknown. */
#define SMTP_PTR_TIMEOUT_MS 5000
/* The 220 greeting, once the milters (if any) have seen the connection. */
void smtp_send_banner(struct smtp_session *s);

/* smtp_data.c */
/* Keeps the daemon-wide count of message buffer bytes in step with s->msg. */
void smtp_msg_account(struct smtp_session *s);
void smtp_cmd_data(struct smtp_session *s, const struct smtp_command *cmd);
void smtp_cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd);
/* Input while s->state is SMTP_STATE_DATA or SMTP_STATE_BDAT. */
void smtp_read_data(struct smtp_session *s);
void smtp_read_bdat(struct smtp_session *s);
/* DATA passed the checks (and the milters): the message begins. */
void smtp_data_start(struct smtp_session *s);
/* The message is final: commit it to the queue (the 250 waits). */
void smtp_message_commit(struct smtp_session *s);

/* smtp_milter.c */
enum smtp_milter_hook {
	SMTP_MILTER_CONNECT = 1,
	SMTP_MILTER_HELO,
	SMTP_MILTER_MAIL,
	SMTP_MILTER_RCPT,
	SMTP_MILTER_DATA,
	SMTP_MILTER_EOM,
};

/* The listener's own milter list when set, else the global one. */
const struct config_strlist *smtp_milter_list(const struct config *cfg,
					      enum smtp_listener_kind kind);
const char *smtp_milter_daemon_name(const struct config *cfg, enum smtp_listener_kind kind);
/* A command passed our own checks: the milters decide, then ok (CRLF-ended) is the reply. */
void smtp_milter_hook(struct smtp_session *s, int hook, const struct smtp_command *cmd,
		      const char *ok);
/* These return true when the milters have the session (it resumes when they answer). */
bool smtp_milter_connect(struct smtp_session *s);
bool smtp_milter_data(struct smtp_session *s);
bool smtp_milter_eom(struct smtp_session *s);

/* smtp_policy.c */
/* May this session send to a domain that is not ours? */
bool smtp_relay_allowed(const struct smtp_session *s);
/* The body checker's mode (enum smtp_body_check_mode) for this session's DATA/BDAT: bare LF is a
 * line end only for relay_networks clients and the local socket. */
unsigned smtp_body_mode(const struct smtp_session *s);
/* True when address a belongs to the authenticated account. */
bool smtp_sender_owned(struct smtp_session *s, const struct addr *a);
/* The session is a SASL-authenticated account, on whatever listener (not the local socket). */
bool smtp_authenticated_account(const struct smtp_session *s);
/* The sender check (envelope sender and originator header fields) is on for this session:
 * every authenticated account, on every listener, unless submission_sender_check = no. */
bool smtp_sender_check_applies(const struct smtp_session *s);
/* Every address in the originator fields (From, Sender, Resent-From, Resent-Sender) of the
 * header block hdr belongs to the authenticated account (else "Field: address" of the first
 * that does not is copied to bad). */
bool smtp_originators_owned(struct smtp_session *s, const char *hdr, size_t hlen, char *bad,
			    size_t badlen);

/* smtp_server.c: a local or remote recipient passed every check: added to the envelope (one
 * entry per target), then the milters see it. Takes targets (malloc'd). */
struct delivery_target;
void smtp_rcpt_accept(struct smtp_session *s, const struct smtp_command *cmd, const char *rcpt,
		      struct delivery_target *targets, size_t ntargets);

/* smtp_quota.c */
/* RCPT of local targets: when one of them has a storage limit, checks on the thread pool that
 * the account is not full (usage plus MAIL SIZE=, or one byte, fits) and returns true: the
 * session pauses, then gets "452 4.2.2 Mailbox full" or goes on with smtp_rcpt_accept (which
 * takes targets either way). false: no limit applies, nothing done. */
bool smtp_quota_rcpt(struct smtp_session *s, const struct smtp_command *cmd, const char *rcpt,
		     struct delivery_target *targets, size_t ntargets);

/* smtp_auth.c */
void smtp_auth_command(struct smtp_session *s, const struct smtp_command *cmd);
/* A SASL response line while s->state == SMTP_STATE_AUTH. */
void smtp_auth_response(struct smtp_session *s, const char *line, size_t len);

#endif
