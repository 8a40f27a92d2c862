/* scheduler_bounce.c - deciding and queueing the scheduler's notifications to senders: non-delivery (bounces) and delay warnings; bounce.c writes them. */
#include "scheduler_internal.h"
#include "bounce.h"
#include "buf.h"
#include "deliver.h"
#include "log.h"
#include "smtp_proto.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- bounces ---- */

bool sched_dsn_wanted(const struct queue_rcpt *r, enum queue_rcpt_state st)
{
	if (r->notify & SMTP_NOTIFY_NEVER)
		return false;
	if (st == QUEUE_RCPT_FAILED)
		return r->notify == 0 || (r->notify & SMTP_NOTIFY_FAILURE);
	if (st == QUEUE_RCPT_DELIVERED)
		return (r->notify & SMTP_NOTIFY_SUCCESS) && r->via != QUEUE_VIA_DSN;
	return false;
}

struct sched_bounce {
	uv_work_t work;
	struct scheduler *s;
	struct sched_entry *orig;
	struct queue_envelope env;
	struct buf msg;
	int status;
};

static void sched_bounce_work(uv_work_t *w)
{
	struct sched_bounce *b = container_of(w, struct sched_bounce, work);
	const struct queue *q = b->s->m->queue;
	struct buf rec;
	buf_init(&rec);
	queue_state_bounced(&rec, (int64_t)time(NULL));
	b->status = queue_append_state(q, b->orig->env.id, &rec);
	buf_free(&rec);
	if (b->status == 0 && !b->orig->env.held)
		b->status = queue_remove(q, b->orig->env.id);
}

static void sched_bounce_done(uv_work_t *w, int status)
{
	struct sched_bounce *b = container_of(w, struct sched_bounce, work);
	struct scheduler *s = b->s;
	struct sched_entry *e = b->orig;
	s->jobs--;
	e->busy = false;
	if (status < 0 && b->status == 0)
		b->status = status;
	if (b->status == 0 && !e->env.held) {
		log_info("%s: removed", e->env.id);
		s->count--;
		sched_entry_free(e);
	} else {
		e->env.bounced = b->status == 0 ? (int64_t)time(NULL) : 0;
		free(e->data);
		e->data = NULL;
		e->msg = NULL;
		if (s->stopping) {
			s->count--;
			sched_entry_free(e);
		} else {
			sched_enqueue(s, e);
		}
	}
	queue_envelope_free(&b->env);
	buf_free(&b->msg);
	free(b);
	if (s->stopping)
		sched_free_if_idle(s);
	else
		sched_arm(s);
}

static void sched_bounce_committed(void *arg, int status)
{
	struct sched_bounce *b = arg;
	struct scheduler *s = b->s;
	struct sched_entry *e = b->orig;
	if (status != 0) {
		log_error("%s: cannot queue the non-delivery notification: %s (will retry)",
			  e->env.id, strerror(-status));
		s->jobs--;
		e->busy = false;
		for (size_t i = 0; i < e->env.nrcpts; i++)
			e->env.rcpts[i].next_attempt = (int64_t)time(NULL) + 60;
		queue_envelope_free(&b->env);
		buf_free(&b->msg);
		free(b);
		if (s->stopping) {
			s->count--;
			sched_entry_free(e);
			sched_free_if_idle(s);
		} else {
			/* No open recipient keeps it due: push it back with a due time. */
			e->due = (int64_t)time(NULL) + 60;
			sched_heap_push(s, e);
			sched_arm(s);
		}
		return;
	}
	log_info("%s: sender non-delivery notification: %s", e->env.id, b->env.id);
	log_info("%s: from=<>, size=%zu, nrcpt=%zu (queue active)", b->env.id, b->msg.len,
		 b->env.nrcpts);
	if (!s->stopping) {
		size_t len;
		char *data = buf_steal(&b->msg, &len);
		scheduler_submit(s, &b->env, data, data, len);
	}
	e->env.bounced = (int64_t)time(NULL);
	uv_queue_work(s->m->loop, &b->work, sched_bounce_work, sched_bounce_done);
}

/* Every recipient is final and some failed: queue one DSN to the sender, then drop the
 * original (its 'b' record first, so a crash never sends a second DSN after the first is
 * queued, except within one fsync). */
void sched_bounce(struct scheduler *s, struct sched_entry *e)
{
	const struct config *cfg = s->m->cfg;
	struct sched_bounce *b = xcalloc(1, sizeof(*b));
	b->s = s;
	b->orig = e;
	buf_init(&b->msg);
	size_t *idx = xcalloc(e->env.nrcpts, sizeof(*idx)), n = 0;
	for (size_t i = 0; i < e->env.nrcpts; i++)
		if (sched_dsn_wanted(&e->env.rcpts[i], e->env.rcpts[i].state))
			idx[n++] = i;
	bounce_compose(&b->msg, cfg->hostname, &e->env, e->msg ? e->msg : "",
		       e->msg ? e->msg_len : 0, idx, n, BOUNCE_FAILED, (int64_t)time(NULL));
	free(idx);
	if (n == 0) /* nobody asked (NOTIFY=NEVER): the original just goes */
		goto no_notice;

	/* The notification goes to the envelope sender, resolved like any recipient. */
	struct addr a;
	const char *aerr;
	char rcpt[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	b->env.rcpts = xcalloc(1, sizeof(*b->env.rcpts));
	if (addr_parse_mailbox(e->env.sender, strlen(e->env.sender), ADDR_ALLOW_UTF8, &a, &aerr) ==
	    0) {
		if (config_is_local_domain(cfg, a.domain)) {
			struct delivery_target *t = NULL;
			size_t nt = 0;
			char err[256];
			if (delivery_resolve(cfg, s->m->accounts, s->m->aliases, &a, &t, &nt, err,
					     sizeof(err)) == DELIVERY_OK &&
			    nt > 0) {
				b->env.rcpts = xrealloc(b->env.rcpts, nt * sizeof(*b->env.rcpts));
				for (size_t k = 0; k < nt; k++) {
					memset(&b->env.rcpts[k], 0, sizeof(b->env.rcpts[k]));
					addr_format(&t[k].addr, rcpt, sizeof(rcpt));
					b->env.rcpts[k].addr = xstrdup(rcpt);
				}
				b->env.nrcpts = nt;
			}
			free(t);
		} else {
			addr_format(&a, rcpt, sizeof(rcpt));
			b->env.rcpts[0].addr = xstrdup(rcpt);
			b->env.nrcpts = 1;
		}
	}
	if (b->env.nrcpts == 0)
		log_warn("%s: sender <%s> cannot receive a non-delivery notification: none sent",
			 e->env.id, e->env.sender);
no_notice:
	e->busy = true;
	s->jobs++;
	if (b->env.nrcpts == 0) {
		uv_queue_work(s->m->loop, &b->work, sched_bounce_work, sched_bounce_done);
		return;
	}
	queue_id_new(b->env.id);
	b->env.arrival = (int64_t)time(NULL);
	b->env.sender = xstrdup("");
	b->env.proto = xstrdup("bounce");
	if (bounce_needs_utf8(&e->env))
		b->env.body_flags = xstrdup("8BITMIME SMTPUTF8");
	queue_commit(s->m->queue, &b->env, b->msg.data, b->msg.len, sched_bounce_committed, b);
}

/* ---- delay warnings (RFC 3464 Action: delayed) ---- */

struct sched_warning {
	uv_work_t work;
	struct scheduler *s;
	char orig_id[QUEUE_ID_MAX + 1];
	struct queue_envelope env;
	struct buf msg;
	int64_t when;
};

static void sched_warning_work(uv_work_t *w)
{
	struct sched_warning *sw = container_of(w, struct sched_warning, work);
	struct buf rec;
	buf_init(&rec);
	queue_state_warned(&rec, sw->when);
	(void)queue_append_state(sw->s->m->queue, sw->orig_id, &rec); /* gone meanwhile: fine */
	buf_free(&rec);
}

static void sched_warning_done(uv_work_t *w, int status)
{
	struct sched_warning *sw = container_of(w, struct sched_warning, work);
	struct scheduler *s = sw->s;
	(void)status;
	s->jobs--;
	queue_envelope_free(&sw->env);
	buf_free(&sw->msg);
	free(sw);
	if (s->stopping)
		sched_free_if_idle(s);
}

static void sched_warning_committed(void *arg, int status)
{
	struct sched_warning *sw = arg;
	struct scheduler *s = sw->s;
	if (status != 0) {
		log_error("%s: cannot queue the delay warning: %s", sw->orig_id, strerror(-status));
		s->jobs--;
		queue_envelope_free(&sw->env);
		buf_free(&sw->msg);
		free(sw);
		if (s->stopping)
			sched_free_if_idle(s);
		return;
	}
	log_info("%s: sender delay notification: %s", sw->orig_id, sw->env.id);
	if (!s->stopping) {
		size_t len;
		char *data = buf_steal(&sw->msg, &len);
		scheduler_submit(s, &sw->env, data, data, len);
	}
	uv_queue_work(s->m->loop, &sw->work, sched_warning_work, sched_warning_done);
}

/* The first time a message has waited delay_warning_time with recipients still deferred,
 * its sender hears about it once (never for the null sender). */
void sched_maybe_warn(struct scheduler *s, struct sched_entry *e, int64_t now)
{
	const struct config *cfg = s->m->cfg;
	if (!cfg->delay_warning_time || e->env.warned || !e->env.sender || !e->env.sender[0] ||
	    (uint64_t)(now - e->env.arrival) < cfg->delay_warning_time || !e->msg)
		return;
	size_t *idx = xcalloc(e->env.nrcpts, sizeof(*idx)), n = 0;
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		const struct queue_rcpt *r = &e->env.rcpts[i];
		/* RFC 3461 4.1: a delay notice only when NOTIFY is absent or lists DELAY */
		if (r->state == QUEUE_RCPT_DEFERRED &&
		    (r->notify == 0 || (r->notify & SMTP_NOTIFY_DELAY)))
			idx[n++] = i;
	}
	if (n == 0) {
		free(idx);
		return;
	}
	struct addr a;
	const char *aerr;
	if (addr_parse_mailbox(e->env.sender, strlen(e->env.sender), ADDR_ALLOW_UTF8, &a, &aerr) <
	    0) {
		free(idx);
		return;
	}
	e->env.warned = now;
	struct sched_warning *sw = xcalloc(1, sizeof(*sw));
	sw->s = s;
	sw->when = now;
	snprintf(sw->orig_id, sizeof(sw->orig_id), "%s", e->env.id);
	buf_init(&sw->msg);
	bounce_compose(&sw->msg, cfg->hostname, &e->env, e->msg, e->msg_len, idx, n, BOUNCE_DELAYED,
		       now);
	free(idx);
	char rcpt[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	addr_format(&a, rcpt, sizeof(rcpt));
	sw->env.rcpts = xcalloc(1, sizeof(*sw->env.rcpts));
	sw->env.rcpts[0].addr = xstrdup(rcpt);
	sw->env.nrcpts = 1;
	queue_id_new(sw->env.id);
	sw->env.arrival = now;
	sw->env.sender = xstrdup("");
	sw->env.proto = xstrdup("bounce");
	if (bounce_needs_utf8(&e->env))
		sw->env.body_flags = xstrdup("8BITMIME SMTPUTF8");
	s->jobs++;
	queue_commit(s->m->queue, &sw->env, sw->msg.data, sw->msg.len, sched_warning_committed, sw);
}
