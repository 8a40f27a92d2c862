/* scheduler_control.c - the scheduler's side of mailctl: flush, hold, release, delete, statistics. */
#include "scheduler_internal.h"
#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void scheduler_flush(struct scheduler *s)
{
	for (size_t i = 0; i < s->heap_len; i++) {
		struct sched_entry *e = s->heap[i];
		for (size_t k = 0; k < e->env.nrcpts; k++)
			e->env.rcpts[k].next_attempt = 0;
		e->due = sched_entry_due(e);
	}
	for (size_t i = s->heap_len; i-- > 0;)
		sched_heap_down(s, i);
	sched_arm(s);
}

struct sched_control {
	uv_work_t work;
	struct scheduler *s;
	struct sched_entry *e;
	enum scheduler_op op;
	scheduler_op_cb cb;
	void *arg;
	int status;
};

static void sched_control_work(uv_work_t *w)
{
	struct sched_control *sc = container_of(w, struct sched_control, work);
	const struct queue *q = sc->s->m->queue;
	if (sc->op == SCHEDULER_DELETE) {
		sc->status = queue_remove(q, sc->e->env.id);
		return;
	}
	struct buf rec;
	buf_init(&rec);
	queue_state_held(&rec, sc->op == SCHEDULER_HOLD);
	sc->status = queue_append_state(q, sc->e->env.id, &rec);
	buf_free(&rec);
}

static void sched_control_done(uv_work_t *w, int status)
{
	struct sched_control *sc = container_of(w, struct sched_control, work);
	struct scheduler *s = sc->s;
	struct sched_entry *e = sc->e;
	if (status < 0 && sc->status == 0)
		sc->status = status;
	s->jobs--;
	e->busy = false;
	if (sc->status == 0) {
		if (sc->op == SCHEDULER_DELETE) {
			log_info("%s: removed (deleted by the administrator)", e->env.id);
			s->count--;
			sched_entry_free(e);
			e = NULL;
		} else {
			e->env.held = sc->op == SCHEDULER_HOLD;
			log_info("%s: %s by the administrator", e->env.id,
				 e->env.held ? "held" : "released");
		}
	}
	if (e) {
		if (s->stopping) {
			s->count--;
			sched_entry_free(e);
		} else {
			sched_enqueue(s, e);
		}
	}
	sc->cb(sc->arg, sc->status);
	free(sc);
	if (s->stopping)
		sched_free_if_idle(s);
	else
		sched_arm(s);
}

static void sched_control_fail(uv_timer_t *t);

struct sched_control_error {
	uv_timer_t timer;
	scheduler_op_cb cb;
	void *arg;
	int status;
};

static void sched_control_error_closed(uv_handle_t *h)
{
	free(h->data);
}

static void sched_control_fail(uv_timer_t *t)
{
	struct sched_control_error *ce = t->data;
	ce->cb(ce->arg, ce->status);
	uv_close((uv_handle_t *)&ce->timer, sched_control_error_closed);
}

void scheduler_control(struct scheduler *s, enum scheduler_op op, const char *id,
		       scheduler_op_cb cb, void *arg)
{
	struct sched_entry *e = sched_all;
	while (e && strcmp(e->env.id, id) != 0)
		e = e->next;
	if (!e || e->busy || !e->in_heap) {
		/* Unknown, or being delivered right now. Answer on the next turn. */
		struct sched_control_error *ce = xcalloc(1, sizeof(*ce));
		ce->cb = cb;
		ce->arg = arg;
		ce->status = e ? -EBUSY : -ENOENT;
		uv_timer_init(s->m->loop, &ce->timer);
		ce->timer.data = ce;
		uv_timer_start(&ce->timer, sched_control_fail, 0, 0);
		return;
	}
	sched_heap_remove(s, e);
	e->busy = true;
	s->jobs++;
	struct sched_control *sc = xcalloc(1, sizeof(*sc));
	sc->s = s;
	sc->e = e;
	sc->op = op;
	sc->cb = cb;
	sc->arg = arg;
	uv_queue_work(s->m->loop, &sc->work, sched_control_work, sched_control_done);
}

void scheduler_get_stats(const struct scheduler *s, struct scheduler_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < s->heap_len; i++)
		st->held += s->heap[i]->env.held;
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < 60; i++)
		if (now - s->minute_stamp[i] < 60)
			st->delivered_last_minute += s->minute_count[i];
	st->messages = s->count;
	st->busy = s->jobs;
	st->delivered = metric_value(MET_DELIVERIES, "delivered", NULL);
	st->deferred = metric_value(MET_DELIVERIES, "deferred", NULL);
	st->failed = metric_value(MET_DELIVERIES, "bounced", NULL);
	for (const struct sched_entry *e = sched_all; e; e = e->next) {
		int state = e->busy ? 1 : e->env.held ? 2 : 0;
		int64_t age = now - (int64_t)e->env.arrival;
		st->by_age[state][age < 300 ? 0 : age < 3600 ? 1 : age < 86400 ? 2 : 3]++;
		if (age > st->oldest[state])
			st->oldest[state] = age;
	}
}
