/* scheduler_recover.c - start-up recovery: reads queue/active back into the scheduler, spreading retries that came due while mtad was down. */
#include "scheduler_internal.h"
#include "log.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Retries that fell due while mtad was down start at most this many per second after a
 * restart, instead of all at once (a large deferred queue would otherwise hit its next hops
 * and the thread pool in one burst, ahead of new mail). */
#define SCHED_RECOVER_RETRIES_PER_SEC 100

/* At start-up the queue files are read by this many thread-pool jobs at once, each over its
 * share of the listing (reading 100,000 files is mostly open/read system calls); the other
 * pool threads (16, main.c) stay free for commits and deliveries meanwhile. */
#define SCHED_RECOVER_SLICES 4

/* One share of the start-up read: queue files recover_ids[lo..hi) into recover_envs. */
struct sched_recover_slice {
	uv_work_t work;
	struct scheduler *s;
	long lo, hi;
};

int64_t scheduler_recover_spread(int64_t now, size_t rank, unsigned per_second)
{
	if (per_second == 0)
		per_second = 1;
	return now + (int64_t)(rank / per_second);
}

/* A recovered entry that is only waiting for retries which came due while mtad was down
 * (no first attempt pending): those are spread out after a restart. */
static bool sched_entry_overdue_retry(const struct sched_entry *e, int64_t now)
{
	if (e->env.held || e->due > now)
		return false;
	bool retry = false;
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		const struct queue_rcpt *r = &e->env.rcpts[i];
		if (r->state == QUEUE_RCPT_PENDING)
			return false;
		retry |= r->state == QUEUE_RCPT_DEFERRED;
	}
	return retry;
}

/* Thread pool: removes tmp/ leftovers and lists queue/active. */
static void sched_recover_work(uv_work_t *w)
{
	struct scheduler *s = container_of(w, struct scheduler, recover_work);
	queue_recover_spares(s->m->queue);
	s->recover_n = queue_list(s->m->queue, &s->recover_ids);
}

/* Thread pool: reads one slice of the queue files (the envelope and state records are kept,
 * the message bytes are read again at delivery time: keeps start-up memory small). */
static void sched_recover_slice_work(uv_work_t *w)
{
	struct sched_recover_slice *sl = container_of(w, struct sched_recover_slice, work);
	struct scheduler *s = sl->s;
	for (long i = sl->lo; i < sl->hi; i++) {
		char *data;
		size_t len;
		if (!atomic_load_explicit(&s->recover_cancel, memory_order_relaxed) &&
		    queue_load(s->m->queue, s->recover_ids[i], &s->recover_envs[i], &data, &len) ==
			    0)
			free(data);
		free(s->recover_ids[i]);
		s->recover_ids[i] = NULL;
	}
}

static void sched_recover_finish(struct scheduler *s);

static void sched_recover_slice_done(uv_work_t *w, int status)
{
	struct sched_recover_slice *sl = container_of(w, struct sched_recover_slice, work);
	struct scheduler *s = sl->s;
	(void)status; /* never cancelled */
	free(sl);
	s->jobs--;
	if (--s->recover_pending == 0)
		sched_recover_finish(s);
}

/* Loop: the listing is back; the files are read in SCHED_RECOVER_SLICES jobs at once. */
static void sched_recover_listed(uv_work_t *w, int status)
{
	struct scheduler *s = container_of(w, struct scheduler, recover_work);
	if (status < 0 || s->recover_n < 0) {
		log_error("queue: cannot list %s: %s", s->m->queue->active_dir,
			  strerror(status < 0 ? -status : (int)-s->recover_n));
		for (long i = 0; i < s->recover_n; i++)
			free(s->recover_ids[i]);
		s->recover_n = 0;
	}
	if (s->recover_n > 0 && !s->stopping) {
		s->recover_envs = xcalloc((size_t)s->recover_n, sizeof(*s->recover_envs));
		for (long k = 0; k < SCHED_RECOVER_SLICES; k++) {
			long lo = s->recover_n * k / SCHED_RECOVER_SLICES;
			long hi = s->recover_n * (k + 1) / SCHED_RECOVER_SLICES;
			if (lo == hi)
				continue;
			struct sched_recover_slice *sl = xcalloc(1, sizeof(*sl));
			sl->s = s;
			sl->lo = lo;
			sl->hi = hi;
			s->jobs++;
			s->recover_pending++;
			uv_queue_work(s->m->loop, &sl->work, sched_recover_slice_work,
				      sched_recover_slice_done);
		}
		s->jobs--; /* the listing's hold; the slices keep the scheduler alive */
		return;
	}
	for (long i = 0; i < s->recover_n; i++)
		free(s->recover_ids[i]);
	s->recover_n = 0;
	s->jobs--;
	sched_recover_finish(s);
}

/* Loop: every slice is read; the messages join the heap. */
static void sched_recover_finish(struct scheduler *s)
{
	free(s->recover_ids);
	s->recover_ids = NULL;
	if (s->stopping) {
		for (long i = 0; i < s->recover_n; i++)
			queue_envelope_free(&s->recover_envs[i]);
		free(s->recover_envs);
		s->recover_envs = NULL;
		sched_free_if_idle(s);
		return;
	}
	size_t loaded = 0, spread = 0;
	int64_t now = (int64_t)time(NULL);
	for (long i = 0; i < s->recover_n; i++) {
		struct queue_envelope *env = &s->recover_envs[i];
		if (!env->id[0])
			continue;
		struct sched_entry *e = xcalloc(1, sizeof(*e));
		e->env = *env;
		e->recovered = true;
		e->received = (double)env->arrival;
		s->count++;
		sched_entry_link(e);
		e->due = sched_entry_due(e);
		if (e->due == INT64_MAX && !e->env.held)
			e->due =
				0; /* finished before the crash but not yet removed: a job removes it */
		else if (sched_entry_overdue_retry(e, now))
			e->due = scheduler_recover_spread(now, spread++,
							  SCHED_RECOVER_RETRIES_PER_SEC);
		sched_heap_push(s, e);
		loaded++;
	}
	free(s->recover_envs);
	s->recover_envs = NULL;
	if (loaded)
		log_info("queue: %zu message(s) recovered from %s", loaded,
			 s->m->queue->active_dir);
	if (spread > 1)
		log_info("queue: %zu overdue retries spread over %" PRId64 " s (%d per second)",
			 spread,
			 scheduler_recover_spread(0, spread - 1, SCHED_RECOVER_RETRIES_PER_SEC) + 1,
			 SCHED_RECOVER_RETRIES_PER_SEC);
	sched_arm(s);
}

void scheduler_recover(struct scheduler *s)
{
	s->jobs++; /* keeps the scheduler alive until the scan is back */
	uv_queue_work(s->m->loop, &s->recover_work, sched_recover_work, sched_recover_listed);
}
