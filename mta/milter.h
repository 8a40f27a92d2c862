/* milter.h - the milter client of one SMTP session: a connection to each milter, the stages in order, timeouts, default action. */
#ifndef MAIL_MILTER_H
#define MAIL_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "queue_file.h"

struct mtad;
struct milter_set;

enum milter_verdict {
	MILTER_CONTINUE, /* go on: every milter let it pass (or accepted, or is skipped) */
	MILTER_REJECT,   /* 5xx: the reply is in milter_result.reply */
	MILTER_TEMPFAIL, /* 4xx: the reply is in milter_result.reply */
	MILTER_DISCARD,  /* accept, then drop the message (only for MAIL, RCPT, DATA, EOM) */
	MILTER_SHUTDOWN, /* 421: close the session; the reply is in milter_result.reply */
};

struct milter_result {
	enum milter_verdict verdict;
	struct buf reply; /* REJECT/TEMPFAIL/SHUTDOWN: SMTP reply lines, each ending in CRLF */
};

/* Called once per stage, always from the event loop (never from inside the call that
 * started the stage). r is valid only during the call. */
typedef void (*milter_done_cb)(void *arg, const struct milter_result *r);

/* A client for one SMTP session over the milters of specs (entries of a milters list, already
 * normalised by the config loader). name is a label for log lines (e.g. the client address).
 * Nothing is connected until milter_stage_connect. Returns NULL when specs is empty. */
struct milter_set *milter_set_new(struct mtad *m, const struct config_strlist *specs,
				  const char *name);

/* Sends QUIT to the connected milters and closes them. No callback runs after this, even for
 * a stage in flight. NULL is fine. */
void milter_set_free(struct milter_set *ms);

/* The stages, in SMTP order. Each takes a NULL-terminated name/value array of macros for the
 * stage (NULL values are skipped; a milter that asked for a macro list gets only those) and
 * calls cb when all milters answered, in order, each only if the previous let it pass. */

/* Connects to each milter, negotiates options (protocol version 6) and sends the client:
 * hostname ("[addr]" without reverse DNS), family '4', '6', 'L' (unix) or 'U', port, address. */
void milter_stage_connect(struct milter_set *ms, const char *hostname, char family, uint16_t port,
			  const char *addr, const char *const *macros, milter_done_cb cb,
			  void *arg);
void milter_stage_helo(struct milter_set *ms, const char *helo, const char *const *macros,
		       milter_done_cb cb, void *arg);
/* args[0] is "<address>", then the ESMTP parameters ("SIZE=123"). Starts a transaction. */
void milter_stage_mail(struct milter_set *ms, const char *const *args, size_t nargs,
		       const char *const *macros, milter_done_cb cb, void *arg);
void milter_stage_rcpt(struct milter_set *ms, const char *const *args, size_t nargs,
		       const char *const *macros, milter_done_cb cb, void *arg);
void milter_stage_data(struct milter_set *ms, const char *const *macros, milter_done_cb cb,
		       void *arg);

/* Sends DATA (if not sent yet, e.g. after BDAT), each header field of msg (the whole message,
 * header block first), end of headers, the body in chunks of at most 64 KiB, then end of
 * message, and applies each milter's modifications to msg and env before the next milter
 * sees the message: header edits, body replacement, recipients added (resolved like RCPT:
 * aliases, local accounts, max_recipients) or deleted, sender change, quarantine (env->held).
 * msg and env must stay valid until cb. Ends the transaction. */
void milter_stage_eom(struct milter_set *ms, struct buf *msg, struct queue_envelope *env,
		      const char *const *macros, milter_done_cb cb, void *arg);

/* The transaction ended without end of message (RSET, a rejected MAIL, a new EHLO): the
 * milters that saw MAIL get SMFIC_ABORT. Ignored while a stage is in flight. */
void milter_abort(struct milter_set *ms);

/* True when a milter said DISCARD for the current transaction. */
bool milter_discarding(const struct milter_set *ms);

#endif
