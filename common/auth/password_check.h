/* password_check.h - one login's password check on the libuv thread pool, and the delayed failure reply, for mtad's AUTH and imapd's LOGIN/AUTHENTICATE. */
#ifndef MAIL_PASSWORD_CHECK_H
#define MAIL_PASSWORD_CHECK_H

#include <stdbool.h>
#include <uv.h>

#include "accounts.h"
#include "sasl.h"

struct password_check;
typedef void (*password_check_cb)(struct password_check *pc);

/* Embed it in the caller's job and reach the job with container_of(). */
struct password_check {
	uv_work_t work;
	uv_timer_t delay;
	char user[SASL_AUTHCID_MAX + 1];    /* lower-cased */
	char password[SASL_PASSWD_MAX + 1]; /* wiped as soon as it was checked */
	char *hash; /* NULL: unknown user (a dummy check of the same cost) */
	bool ok;    /* the result, when on_done runs */
	password_check_cb on_done, on_delayed, on_closed;
};

/* Checks password for user (lower-cased copy) against *accounts on the thread pool; on_done runs
 * on the loop thread with pc->ok set (false also when the work could not run). An unknown user
 * makes it re-read the users file first when the file changed (*accounts may be replaced). */
void password_check_start(struct password_check *pc, uv_loop_t *loop, struct accounts **accounts,
			  const char *user, const char *password, password_check_cb on_done);

/* After a failure: on_delayed runs after seconds (the throttle's delay). */
void password_check_delay(struct password_check *pc, unsigned seconds,
			  password_check_cb on_delayed);

/* Ends the check: wipes it, closes its timer, then on_closed frees the caller's job. */
void password_check_close(struct password_check *pc, password_check_cb on_closed);

#endif
