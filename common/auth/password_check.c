/* password_check.c - one login's password check on the libuv thread pool, and the delayed failure reply. */
#include "password_check.h"

#include "log.h"
#include "password.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void password_check_work(uv_work_t *w)
{
	struct password_check *pc = container_of(w, struct password_check, work);
	if (pc->hash) {
		pc->ok = password_verify(pc->hash, pc->password);
	} else {
		password_verify_dummy(pc->password);
		pc->ok = false;
	}
	explicit_bzero(pc->password, sizeof(pc->password));
}

static void password_check_done(uv_work_t *w, int status)
{
	struct password_check *pc = container_of(w, struct password_check, work);
	if (status < 0)
		pc->ok = false;
	pc->on_done(pc);
}

void password_check_start(struct password_check *pc, uv_loop_t *loop, struct accounts **accounts,
			  const char *user, const char *password, password_check_cb on_done)
{
	char err[512];
	snprintf(pc->user, sizeof(pc->user), "%s", user);
	for (char *p = pc->user; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	snprintf(pc->password, sizeof(pc->password), "%s", password);
	const struct account *a = accounts_find(*accounts, pc->user);
	/* An account added a moment ago (mailctl user add) must not be refused until the next
	 * timed re-read: on a miss, re-read the file if it changed. */
	if (!a) {
		int r = accounts_reload_if_changed(accounts, err, sizeof(err));
		if (r > 0) {
			log_info("users_file reloaded: %zu account(s)", (*accounts)->n);
			a = accounts_find(*accounts, pc->user);
		} else if (r < 0) {
			log_error("users_file not reloaded: %s", err);
		}
	}
	pc->hash = a && a->hash[0] ? xstrdup(a->hash) : NULL;
	pc->ok = false;
	pc->on_done = on_done;
	uv_timer_init(loop, &pc->delay);
	pc->delay.data = pc;
	uv_queue_work(loop, &pc->work, password_check_work, password_check_done);
}

static void password_check_delay_done(uv_timer_t *t)
{
	struct password_check *pc = t->data;
	pc->on_delayed(pc);
}

void password_check_delay(struct password_check *pc, unsigned seconds, password_check_cb on_delayed)
{
	pc->on_delayed = on_delayed;
	uv_timer_start(&pc->delay, password_check_delay_done, (uint64_t)seconds * 1000, 0);
}

static void password_check_closed(uv_handle_t *h)
{
	struct password_check *pc = h->data;
	explicit_bzero(pc->password, sizeof(pc->password));
	free(pc->hash);
	pc->hash = NULL;
	pc->on_closed(pc);
}

void password_check_close(struct password_check *pc, password_check_cb on_closed)
{
	pc->on_closed = on_closed;
	uv_close((uv_handle_t *)&pc->delay, password_check_closed);
}
