/* password_check.h - one login's password check on the libuv thread pool, and the delayed failure reply, for mtad's AUTH and imapd's LOGIN/AUTHENTICATE. */
#ifndef MAIL_PASSWORD_CHECK_H
#define MAIL_PASSWORD_CHECK_H

#include <stdbool.h>
#include <uv.h>

#include "accounts.h"
#include "auth_cache.h"
#include "sasl.h"

struct password_check;
typedef void (*password_check_cb)(struct password_check *pc);

/* Embed it in the caller's job and reach the job with container_of(). */
struct password_check {
	uv_work_t work;
	uv_timer_t delay;
	char user[SASL_AUTHCID_MAX + 1];    /* lower-cased */
	char password[SASL_PASSWD_MAX + 1]; /* wiped as soon as it was checked */
	char *hash;  /* NULL: unknown user (a dummy check of the same cost) */
	bool ok;     /* the result, when on_done runs */
	bool cached; /* ok came from the cache: no hash was computed */
	struct auth_cache *cache;
	bool cache_key_set; /* cache_key is this check's credentials: added to the cache if ok */
	unsigned char cache_key[AUTH_CACHE_KEY_SIZE];
	password_check_cb on_done, on_delayed, on_closed;
};

/* Checks password for user (lower-cased copy) against *accounts on the thread pool; on_done runs
 * on the loop thread with pc->ok set (false also when the work could not run). The users file
 * is re-read first when it changed (*accounts may be replaced), so a changed password counts
 * from the next login on. With a cache (NULL: none), credentials verified less than its ttl ago
 * against the same users_file hash are accepted without hashing (on_done on the next loop
 * turn), and a successful check is added to it. */
void password_check_start(struct password_check *pc, uv_loop_t *loop, struct accounts **accounts,
			  struct auth_cache *cache, const char *user, const char *password,
			  password_check_cb on_done);

/* After a failure: on_delayed runs after seconds (the throttle's delay). */
void password_check_delay(struct password_check *pc, unsigned seconds,
			  password_check_cb on_delayed);

/* Ends the check: wipes it, closes its timer, then on_closed frees the caller's job. */
void password_check_close(struct password_check *pc, password_check_cb on_closed);

#endif
