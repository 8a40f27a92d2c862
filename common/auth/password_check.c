/* password_check.c - one login's password check on the libuv thread pool, and the delayed failure reply. */
#include "password_check.h"

#include "log.h"
#include "password.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The cache's clock: the loop's monotonic time in seconds (a wall-clock step changes no ttl). */
static time_t password_check_now(uv_loop_t *loop)
{
	return (time_t)(uv_now(loop) / 1000);
}

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
	if (pc->ok && pc->cache_key_set)
		auth_cache_add(pc->cache, pc->cache_key, password_check_now(w->loop));
	pc->on_done(pc);
}

/* on_done on the next loop turn, with ok as it is: a cache hit, or work that could not queue. */
static void password_check_soon(uv_timer_t *t)
{
	struct password_check *pc = t->data;
	pc->on_done(pc);
}

void password_check_start(struct password_check *pc, uv_loop_t *loop, struct accounts **accounts,
			  struct auth_cache *cache, const char *user, const char *password,
			  password_check_cb on_done)
{
	char err[512];
	snprintf(pc->user, sizeof(pc->user), "%s", user);
	for (char *p = pc->user; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	snprintf(pc->password, sizeof(pc->password), "%s", password);
	/* A changed users file counts from this login on, not from the next timed re-read: an
	 * account added a moment ago (mailctl user add) is known, and a password changed a
	 * moment ago is the only one that works (the cache below must not outlive it). */
	int r = accounts_reload_if_changed(accounts, err, sizeof(err));
	if (r > 0)
		log_info("users_file reloaded: %zu account(s)", (*accounts)->n);
	else if (r < 0)
		log_error("users_file not reloaded: %s", err);
	const struct account *a = accounts_find(*accounts, pc->user);
	pc->hash = NULL;
	pc->ok = pc->cached = false;
	pc->on_done = on_done;
	pc->cache = cache;
	uv_timer_init(loop, &pc->delay);
	pc->delay.data = pc;
	pc->cache_key_set = false;
	if (cache && a && a->hash[0]) {
		auth_cache_stamp(cache, &(*accounts)->stamp);
		pc->cache_key_set = auth_cache_key(cache, pc->user, pc->password, a->hash,
						   pc->cache_key) == 0;
		if (pc->cache_key_set &&
		    auth_cache_lookup(cache, pc->cache_key, password_check_now(loop))) {
			explicit_bzero(pc->password, sizeof(pc->password));
			pc->ok = pc->cached = true;
			uv_timer_start(&pc->delay, password_check_soon, 0, 0);
			return;
		}
	}
	pc->hash = a && a->hash[0] ? xstrdup(a->hash) : NULL;
	if (uv_queue_work(loop, &pc->work, password_check_work, password_check_done) < 0) {
		explicit_bzero(pc->password, sizeof(pc->password));
		uv_timer_start(&pc->delay, password_check_soon, 0, 0);
	}
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
	explicit_bzero(pc->cache_key, sizeof(pc->cache_key));
	pc->on_closed(pc);
}

void password_check_close(struct password_check *pc, password_check_cb on_closed)
{
	pc->on_closed = on_closed;
	uv_close((uv_handle_t *)&pc->delay, password_check_closed);
}
