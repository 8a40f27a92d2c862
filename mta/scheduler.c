/* scheduler.c - due-time heap over queued messages; runs local delivery jobs on the thread pool and records each outcome durably. */
#include "scheduler.h"
#include "buf.h"
#include "bounce.h"
#include "deliver.h"
#include "relay.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

/* Messages in delivery at once. Local work is bounded by the thread pool, remote work by the
 * relay connection limits, so this only caps memory (a job holds its message). */
#define SCHED_MAX_JOBS 256

/* Retries that fell due while mtad was down start at most this many per second after a
 * restart, instead of all at once (a large deferred queue would otherwise hit its next hops
 * and the thread pool in one burst, ahead of new mail). */
#define SCHED_RECOVER_RETRIES_PER_SEC 100

/* At start-up the queue files are read by this many thread-pool jobs at once, each over its
 * share of the listing (reading 100,000 files is mostly open/read system calls); the other
 * pool threads (16, main.c) stay free for commits and deliveries meanwhile. */
#define SCHED_RECOVER_SLICES 4

struct sched_entry {
	struct queue_envelope env;
	char *data;		/* owned block holding msg, or NULL when not cached */
	const char *msg;
	size_t msg_len;
	int64_t due;		/* unix seconds */
	size_t heap_idx;
	bool in_heap;
	bool busy;
	bool recovered;		/* loaded after a restart: check Maildirs before delivering */
	struct sched_entry *prev, *next;	/* every live entry, for lookups by id */
	double received;	/* arrival, for delay= in logs */
};

/* One delivery attempt of one message: local deliveries on the thread pool, remote ones on
 * the loop through relay/, then every outcome recorded durably on the thread pool. */
struct sched_job {
	uv_work_t work;
	struct scheduler *s;
	struct sched_entry *e;
	int64_t now;
	/* per recipient: -1 not attempted, else enum delivery_status */
	int *result;
	int *code;
	char **error;
	bool *remote_due;
	char **relay_host;
	/* a message just received (scheduler_accept): told when its commit is durable */
	scheduler_accept_cb accept_cb;
	void *accept_arg;
	/* remote phase */
	struct relay_delivery *relays;
	size_t n_relays;
	size_t relays_pending;
	/* record phase */
	bool recorded;		/* done in the same job as phase 1 (no remote recipient) */
	bool removed;
	bool need_bounce;
	int state_error;
	int load_error;
};

struct scheduler {
	struct mtad *m;
	uv_timer_t timer;
	struct sched_entry **heap;
	size_t heap_len, heap_cap;
	size_t count;		/* entries alive (heap + busy) */
	unsigned jobs;
	bool stopping;
	bool timer_closed;
	uint64_t delivered, deferred, failed;
	int64_t minute_stamp[60];	/* per-second delivery counts over the last minute */
	uint64_t minute_count[60];
	uv_work_t recover_work;
	char **recover_ids;
	struct queue_envelope *recover_envs;
	long recover_n;
	unsigned recover_pending;	/* slices still reading */
	atomic_bool recover_cancel;	/* set by scheduler_stop: slices skip the files left */
};

/* One share of the start-up read: queue files recover_ids[lo..hi) into recover_envs. */
struct sched_recover_slice {
	uv_work_t work;
	struct scheduler *s;
	long lo, hi;
};

static double sched_now_f(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* ---- heap ---- */

static void sched_heap_swap(struct scheduler *s, size_t a, size_t b)
{
	struct sched_entry *t = s->heap[a];
	s->heap[a] = s->heap[b];
	s->heap[b] = t;
	s->heap[a]->heap_idx = a;
	s->heap[b]->heap_idx = b;
}

static void sched_heap_up(struct scheduler *s, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (s->heap[p]->due <= s->heap[i]->due)
			break;
		sched_heap_swap(s, p, i);
		i = p;
	}
}

static void sched_heap_down(struct scheduler *s, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->heap_len && s->heap[l]->due < s->heap[m]->due)
			m = l;
		if (r < s->heap_len && s->heap[r]->due < s->heap[m]->due)
			m = r;
		if (m == i)
			break;
		sched_heap_swap(s, i, m);
		i = m;
	}
}

static void sched_heap_push(struct scheduler *s, struct sched_entry *e)
{
	if (s->heap_len == s->heap_cap) {
		s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 256;
		s->heap = xrealloc(s->heap, s->heap_cap * sizeof(*s->heap));
	}
	e->heap_idx = s->heap_len;
	e->in_heap = true;
	s->heap[s->heap_len++] = e;
	sched_heap_up(s, e->heap_idx);
}

static struct sched_entry *sched_heap_pop(struct scheduler *s)
{
	struct sched_entry *e = s->heap[0];
	s->heap_len--;
	if (s->heap_len) {
		s->heap[0] = s->heap[s->heap_len];
		s->heap[0]->heap_idx = 0;
		sched_heap_down(s, 0);
	}
	e->in_heap = false;
	return e;
}

/* ---- entries ---- */

static struct sched_entry *sched_all;	/* one scheduler per process */

static void sched_entry_link(struct sched_entry *e)
{
	e->prev = NULL;
	e->next = sched_all;
	if (sched_all)
		sched_all->prev = e;
	sched_all = e;
}

static void sched_entry_free(struct sched_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else if (sched_all == e)
		sched_all = e->next;
	if (e->next)
		e->next->prev = e->prev;
	queue_envelope_free(&e->env);
	free(e->data);
	free(e);
}

static bool sched_rcpt_open(const struct queue_rcpt *r)
{
	return r->state == QUEUE_RCPT_PENDING || r->state == QUEUE_RCPT_DEFERRED;
}

/* Earliest time any open recipient is due; INT64_MAX when none is open. */
static int64_t sched_entry_due(const struct sched_entry *e)
{
	int64_t due = INT64_MAX;
	if (e->env.held)
		return INT64_MAX;
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		const struct queue_rcpt *r = &e->env.rcpts[i];
		if (sched_rcpt_open(r) && r->next_attempt < due)
			due = r->next_attempt;
	}
	return due;
}

uint64_t scheduler_retry_delay(const uint64_t *schedule, size_t n, unsigned attempts)
{
	if (n == 0)
		return 300;
	if (attempts == 0)
		attempts = 1;
	size_t i = attempts - 1 < n ? attempts - 1 : n - 1;
	return schedule[i];
}

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

static void sched_arm(struct scheduler *s);
static void sched_free_if_idle(struct scheduler *s);

static void sched_enqueue(struct scheduler *s, struct sched_entry *e)
{
	e->due = sched_entry_due(e);
	if (e->due == INT64_MAX && !e->env.held) {
		/* Nothing open: the job already removed the file. */
		s->count--;
		sched_entry_free(e);
		return;
	}
	sched_heap_push(s, e);
}

/* ---- the delivery job ---- */

static void sched_job_record(struct sched_job *j);
static void sched_bounce(struct scheduler *s, struct sched_entry *e);
static void sched_maybe_warn(struct scheduler *s, struct sched_entry *e, int64_t now);

/* Phase 1, thread pool: read the message if not cached, deliver the local recipients. */
static void sched_job_deliver_local(struct sched_job *j)
{
	struct sched_entry *e = j->e;
	const struct config *cfg = j->s->m->cfg;
	const struct queue *q = j->s->m->queue;
	char err[512];

	if (!e->msg) {
		struct queue_envelope fresh;
		char *data;
		size_t len;
		int r = queue_load(q, e->env.id, &fresh, &data, &len);
		if (r != 0) {
			/* -1: undecodable and moved to corrupt/; else the errno */
			j->load_error = r == -1 ? -EBADMSG : r;
			return;
		}
		e->data = data;
		e->msg = data + fresh.msg_offset;
		e->msg_len = fresh.msg_len;
		queue_envelope_free(&fresh);
	}
	for (size_t i = 0; i < e->env.nrcpts; i++)
		j->result[i] = -1;
	if (e->env.held)
		return;	/* accepted on hold (a milter's quarantine): mailctl release lets it go */
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		struct queue_rcpt *r = &e->env.rcpts[i];
		if (!sched_rcpt_open(r) || r->next_attempt > j->now)
			continue;
		struct addr a;
		const char *aerr;
		if (addr_parse_mailbox(r->addr, strlen(r->addr), ADDR_ALLOW_UTF8, &a, &aerr) < 0) {
			j->result[i] = DELIVERY_PERMFAIL;
			j->code[i] = 550;
			j->error[i] = xasprintf("5.1.3 bad recipient address: %s", aerr);
			continue;
		}
		if (!config_is_local_domain(cfg, a.domain)) {
			j->remote_due[i] = true;
			continue;
		}
		char unique[64];
		str_format(unique, sizeof(unique), "Q%sR%zu", e->env.id, i);
		struct delivery_request req = {
			.cfg = cfg,
			.rcpt = &a,
			.sender = e->env.sender,
			.unique = unique,
			.check_existing = e->recovered,
			.msg = e->msg,
			.msg_len = e->msg_len,
			.arrival = e->env.arrival,
		};
		err[0] = '\0';
		enum delivery_status st = delivery_maildir(&req, err, sizeof(err));
		j->result[i] = (int)st;
		j->code[i] = st == DELIVERY_OK ? 250 : st == DELIVERY_TEMPFAIL ? 451 : 550;
		if (st != DELIVERY_OK)
			j->error[i] = xstrdup(err[0] ? err : "delivery failed");
	}
}

static void sched_job_record_work(uv_work_t *w);
static void sched_job_done(uv_work_t *w, int status);

/* Phases 1 and, when no recipient is remote, 3 in the same thread-pool job: between them the
 * loop would have nothing to do, so the outcomes are recorded without a second trip. */
static void sched_job_work(uv_work_t *w)
{
	struct sched_job *j = container_of(w, struct sched_job, work);
	sched_job_deliver_local(j);
	bool any_remote = false;
	for (size_t i = 0; i < j->e->env.nrcpts && !j->load_error; i++)
		any_remote |= j->remote_due[i];
	if (!any_remote) {
		sched_job_record_work(w);
		j->recorded = true;
	}
}

/* The sent recipients of one destination, recorded while the message's other destinations
 * are still in progress: a remote server cannot be asked whether it already has the
 * message, so a crash must repeat a remote delivery only within the fsync of its record. */
struct sched_sent_record {
	uv_work_t work;
	struct sched_job *j;
	struct buf records;
};

static void sched_sent_record_work(uv_work_t *w)
{
	struct sched_sent_record *rec = container_of(w, struct sched_sent_record, work);
	/* On failure the job's final record (phase 3) writes the same outcomes again. */
	(void)queue_append_state(rec->j->s->m->queue, rec->j->e->env.id, &rec->records);
}

static void sched_sent_record_done(uv_work_t *w, int status)
{
	struct sched_sent_record *rec = container_of(w, struct sched_sent_record, work);
	struct sched_job *j = rec->j;
	(void)status;
	buf_free(&rec->records);
	free(rec);
	if (--j->relays_pending == 0)
		sched_job_record(j);
}

static void sched_relay_done(struct relay_delivery *d, void *arg)
{
	struct sched_job *j = arg;
	struct sched_sent_record *rec = NULL;
	for (size_t k = 0; k < d->n; k++) {
		size_t i = d->idx[k];
		const struct relay_outcome *o = &d->out[k];
		j->code[i] = o->code;
		free(j->error[i]);
		j->error[i] = NULL;
		switch (o->kind) {
		case RELAY_SENT:
			j->result[i] = DELIVERY_OK;
			j->relay_host[i] = xstrdup(o->text);
			if (j->relays_pending > 1) {
				if (!rec) {
					rec = xcalloc(1, sizeof(*rec));
					rec->j = j;
					buf_init(&rec->records);
				}
				queue_state_delivered(&rec->records, i, j->now);
			}
			break;
		case RELAY_PERM:
			j->result[i] = DELIVERY_PERMFAIL;
			j->error[i] = xstrdup(o->text);
			break;
		default:
			j->result[i] = DELIVERY_TEMPFAIL;
			j->error[i] = xstrdup(o->text);
			break;
		}
	}
	if (rec) {
		uv_queue_work(j->s->m->loop, &rec->work, sched_sent_record_work, sched_sent_record_done);
		return;
	}
	if (--j->relays_pending == 0)
		sched_job_record(j);
}

/* Phase 2, loop: the remote recipients, one relay delivery per domain. */
static void sched_job_local_done(uv_work_t *w, int status)
{
	struct sched_job *j = container_of(w, struct sched_job, work);
	struct sched_entry *e = j->e;
	struct scheduler *s = j->s;
	if (j->recorded) {
		sched_job_done(w, status);
		return;
	}
	if (status < 0 && j->load_error == 0)
		j->load_error = status;
	size_t nremote = 0;
	for (size_t i = 0; i < e->env.nrcpts; i++)
		nremote += j->remote_due[i];
	if (j->load_error || nremote == 0) {
		sched_job_record(j);
		return;
	}
	if (!s->m->relay || s->stopping) {
		for (size_t i = 0; i < e->env.nrcpts; i++) {
			if (!j->remote_due[i])
				continue;
			j->result[i] = DELIVERY_TEMPFAIL;
			j->code[i] = 451;
			j->error[i] = xstrdup("4.3.2 outbound relay unavailable");
		}
		sched_job_record(j);
		return;
	}
	/* Group the recipients by domain (the smarthost, when set, takes them all at once). */
	j->relays = xcalloc(nremote, sizeof(*j->relays));
	bool smarthost = s->m->cfg->smarthost.host[0] != '\0';
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		if (!j->remote_due[i])
			continue;
		const char *at = strrchr(e->env.rcpts[i].addr, '@');
		const char *domain = smarthost ? "" : (at ? at + 1 : "");
		struct relay_delivery *d = NULL;
		for (size_t k = 0; k < j->n_relays; k++)
			if (strcasecmp(j->relays[k].domain, domain) == 0)
				d = &j->relays[k];
		if (!d) {
			d = &j->relays[j->n_relays++];
			snprintf(d->domain, sizeof(d->domain), "%s", domain);
			d->idx = xcalloc(nremote, sizeof(*d->idx));
			d->out = xcalloc(nremote, sizeof(*d->out));
			d->env = &e->env;
			d->msg = e->msg;
			d->msg_len = e->msg_len;
			d->done = sched_relay_done;
			d->arg = j;
		}
		d->idx[d->n++] = i;
	}
	j->relays_pending = j->n_relays;
	for (size_t k = 0; k < j->n_relays; k++)
		relay_deliver(s->m->relay, &j->relays[k]);
}

/* Phase 3, thread pool: every outcome appended to the queue file and flushed. */
static void sched_job_record_work(uv_work_t *w)
{
	struct sched_job *j = container_of(w, struct sched_job, work);
	struct sched_entry *e = j->e;
	const struct config *cfg = j->s->m->cfg;
	const struct queue *q = j->s->m->queue;
	struct buf records;

	if (j->load_error) {
		j->state_error = j->load_error;
		return;
	}
	buf_init(&records);
	bool open = false, failed = false;
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		struct queue_rcpt *r = &e->env.rcpts[i];
		switch (j->result[i]) {
		case -1:
			if (sched_rcpt_open(r))
				open = true;
			if (r->state == QUEUE_RCPT_FAILED)
				failed = true;
			break;
		case DELIVERY_OK:
			queue_state_delivered(&records, i, j->now);
			break;
		case DELIVERY_TEMPFAIL: {
			unsigned attempts = r->attempts + 1;
			bool expired = (uint64_t)(j->now - e->env.arrival) >= cfg->queue_lifetime;
			if (expired) {
				char *t = xasprintf("%s (gave up after %u attempts: message expired)",
						    j->error[i], attempts);
				free(j->error[i]);
				j->error[i] = t;
				queue_state_failed(&records, i, j->now, j->code[i] ? j->code[i] : 451, t);
				failed = true;
			} else {
				int64_t next = j->now + (int64_t)scheduler_retry_delay(
					cfg->retry_schedule, cfg->n_retry_schedule, attempts);
				queue_state_deferred(&records, i, attempts, next, j->error[i]);
				open = true;
			}
			break;
		}
		default:
			queue_state_failed(&records, i, j->now, j->code[i] ? j->code[i] : 550, j->error[i]);
			failed = true;
			break;
		}
	}
	j->need_bounce = !open && failed && e->env.sender && e->env.sender[0] && !e->env.bounced;
	/* Finished, and every recipient of this round was local: removing the file is the only
	 * record needed. Should the removal not survive a crash, the redelivery finds each
	 * Maildir copy by its name and writes no second one. Remote outcomes are always
	 * recorded first: a remote server cannot be asked whether it already has the message. */
	bool any_remote = false;
	for (size_t i = 0; i < e->env.nrcpts; i++)
		any_remote |= j->remote_due[i];
	bool skip_records = !open && !failed && !e->env.held && !any_remote;
	if (records.len && !skip_records)
		j->state_error = queue_append_state(q, e->env.id, &records);
	if (j->state_error == 0 && !open && !e->env.held && !j->need_bounce) {
		j->state_error = queue_finish(j->s->m->queue, e->env.id);
		j->removed = j->state_error == 0;
	}
	buf_free(&records);
}

static void sched_job_free(struct sched_job *j)
{
	for (size_t i = 0; i < j->e->env.nrcpts; i++) {
		free(j->error[i]);
		free(j->relay_host[i]);
	}
	for (size_t k = 0; k < j->n_relays; k++) {
		free(j->relays[k].idx);
		free(j->relays[k].out);
	}
	free(j->relays);
	free(j);	/* with its arrays */
}

/* Phase 4, loop: the in-memory state follows what is now on disk. */
static void sched_job_done(uv_work_t *w, int status)
{
	struct sched_job *j = container_of(w, struct sched_job, work);
	struct scheduler *s = j->s;
	struct sched_entry *e = j->e;
	const struct config *cfg = s->m->cfg;
	/* delay= as "%.2f" would print it, without stdio's floating-point path (once per line) */
	double dsec = sched_now_f() - e->received;
	long cs = (long)(dsec * 100 + (dsec < 0 ? -0.5 : 0.5)), acs = cs < 0 ? -cs : cs;
	char delay[32];
	str_format(delay, sizeof(delay), "%s%ld.%c%c", cs < 0 ? "-" : "", acs / 100,
		   (char)('0' + acs % 100 / 10), (char)('0' + acs % 10));

	s->jobs--;
	e->busy = false;
	if (status < 0 && j->state_error == 0)
		j->state_error = status;
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		struct queue_rcpt *r = &e->env.rcpts[i];
		char origbuf[600] = "";
		if (r->orig && strcmp(r->orig, r->addr) != 0)
			snprintf(origbuf, sizeof(origbuf), ", orig_to=<%s>", r->orig);
		if (j->result[i] < 0)
			continue;
		const char *relay = j->remote_due[i] ? "remote" : "local";
		if (j->state_error) {
			/* The outcome could not be recorded: keep the recipient open so a retry
			 * happens (for local mail the Maildir name makes a second copy impossible). */
			r->next_attempt = j->now + 60;
			log_warn("%s: to=<%s>%s, status=deferred (cannot record state: %s)", e->env.id,
				 r->addr, origbuf, strerror(-j->state_error));
			e->recovered = true;
			continue;
		}
		if (j->result[i] == DELIVERY_OK) {
			r->state = QUEUE_RCPT_DELIVERED;
			s->delivered++;
			int64_t sec = (int64_t)time(NULL);
			if (s->minute_stamp[sec % 60] != sec) {
				s->minute_stamp[sec % 60] = sec;
				s->minute_count[sec % 60] = 0;
			}
			s->minute_count[sec % 60]++;
			if (j->remote_due[i])
				log_info("%s: to=<%s>%s, relay=%s, delay=%s, status=sent (%s)", e->env.id,
					 r->addr, origbuf, relay, delay,
					 j->relay_host[i] ? j->relay_host[i] : "");
			else
				log_info("%s: to=<%s>%s, relay=local, delay=%s, status=sent (delivered to maildir)",
					 e->env.id, r->addr, origbuf, delay);
		} else if (j->result[i] == DELIVERY_TEMPFAIL &&
			   (uint64_t)(j->now - e->env.arrival) < cfg->queue_lifetime) {
			r->state = QUEUE_RCPT_DEFERRED;
			r->attempts++;
			r->code = j->code[i];
			r->next_attempt = j->now + (int64_t)scheduler_retry_delay(
				cfg->retry_schedule, cfg->n_retry_schedule, r->attempts);
			free(r->last_error);
			r->last_error = j->error[i];
			j->error[i] = NULL;
			s->deferred++;
			log_info("%s: to=<%s>%s, relay=%s, delay=%s, status=deferred (%s)", e->env.id,
				 r->addr, origbuf, relay, delay, r->last_error);
		} else {
			r->state = QUEUE_RCPT_FAILED;
			r->code = j->code[i];
			free(r->last_error);
			r->last_error = j->error[i];
			j->error[i] = NULL;
			s->failed++;
			log_info("%s: to=<%s>%s, relay=%s, delay=%s, status=bounced (%s)", e->env.id,
				 r->addr, origbuf, relay, delay, r->last_error);
		}
	}
	if (j->load_error)
		log_error("%s: cannot read the queue file: %s", e->env.id,
			  j->load_error < 0 ? strerror(-j->load_error) : "undecodable");
	if (j->state_error == 0)
		e->recovered = false;
	bool removed = j->removed, bounce = j->need_bounce && j->state_error == 0;
	int load_error = j->load_error;
	sched_job_free(j);
	if (removed) {
		log_info("%s: removed", e->env.id);
		s->count--;
		sched_entry_free(e);
	} else if (bounce && !s->stopping) {
		sched_bounce(s, e);
	} else {
		if (!s->stopping && !load_error)
			sched_maybe_warn(s, e, (int64_t)time(NULL));
		/* Deferred: drop the cached copy; the next attempt reads the queue file. */
		free(e->data);
		e->data = NULL;
		e->msg = NULL;
		e->msg_len = 0;
		if (s->stopping || load_error == -EBADMSG || load_error == -ENOENT) {
			s->count--;
			sched_entry_free(e);
		} else {
			sched_enqueue(s, e);
		}
	}
	if (s->stopping)
		sched_free_if_idle(s);
	else
		sched_arm(s);
}

/* ---- bounces ---- */

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
		log_error("%s: cannot queue the non-delivery notification: %s (will retry)", e->env.id,
			  strerror(-status));
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
static void sched_bounce(struct scheduler *s, struct sched_entry *e)
{
	const struct config *cfg = s->m->cfg;
	struct sched_bounce *b = xcalloc(1, sizeof(*b));
	b->s = s;
	b->orig = e;
	buf_init(&b->msg);
	size_t *idx = xcalloc(e->env.nrcpts, sizeof(*idx)), n = 0;
	for (size_t i = 0; i < e->env.nrcpts; i++)
		if (e->env.rcpts[i].state == QUEUE_RCPT_FAILED)
			idx[n++] = i;
	bounce_compose(&b->msg, cfg->hostname, &e->env, e->msg ? e->msg : "", e->msg ? e->msg_len : 0,
		       idx, n, BOUNCE_FAILED, (int64_t)time(NULL));
	free(idx);

	/* The notification goes to the envelope sender, resolved like any recipient. */
	struct addr a;
	const char *aerr;
	char rcpt[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	b->env.rcpts = xcalloc(1, sizeof(*b->env.rcpts));
	if (addr_parse_mailbox(e->env.sender, strlen(e->env.sender), ADDR_ALLOW_UTF8, &a, &aerr) == 0) {
		if (config_is_local_domain(cfg, a.domain)) {
			struct delivery_target *t = NULL;
			size_t nt = 0;
			char err[256];
			if (delivery_resolve(cfg, s->m->accounts, s->m->aliases, &a, &t, &nt, err,
					     sizeof(err)) == DELIVERY_OK && nt > 0) {
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
	e->busy = true;
	s->jobs++;
	if (b->env.nrcpts == 0) {
		log_warn("%s: sender <%s> cannot receive a non-delivery notification: none sent",
			 e->env.id, e->env.sender);
		uv_queue_work(s->m->loop, &b->work, sched_bounce_work, sched_bounce_done);
		return;
	}
	queue_id_new(b->env.id);
	b->env.arrival = (int64_t)time(NULL);
	b->env.sender = xstrdup("");
	b->env.proto = xstrdup("bounce");
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
	(void)queue_append_state(sw->s->m->queue, sw->orig_id, &rec);	/* gone meanwhile: fine */
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
static void sched_maybe_warn(struct scheduler *s, struct sched_entry *e, int64_t now)
{
	const struct config *cfg = s->m->cfg;
	if (!cfg->delay_warning_time || e->env.warned || !e->env.sender || !e->env.sender[0] ||
	    (uint64_t)(now - e->env.arrival) < cfg->delay_warning_time || !e->msg)
		return;
	size_t *idx = xcalloc(e->env.nrcpts, sizeof(*idx)), n = 0;
	for (size_t i = 0; i < e->env.nrcpts; i++)
		if (e->env.rcpts[i].state == QUEUE_RCPT_DEFERRED)
			idx[n++] = i;
	if (n == 0) {
		free(idx);
		return;
	}
	struct addr a;
	const char *aerr;
	if (addr_parse_mailbox(e->env.sender, strlen(e->env.sender), ADDR_ALLOW_UTF8, &a, &aerr) < 0) {
		free(idx);
		return;
	}
	e->env.warned = now;
	struct sched_warning *sw = xcalloc(1, sizeof(*sw));
	sw->s = s;
	sw->when = now;
	snprintf(sw->orig_id, sizeof(sw->orig_id), "%s", e->env.id);
	buf_init(&sw->msg);
	bounce_compose(&sw->msg, cfg->hostname, &e->env, e->msg, e->msg_len, idx, n, BOUNCE_DELAYED, now);
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
	s->jobs++;
	queue_commit(s->m->queue, &sw->env, sw->msg.data, sw->msg.len, sched_warning_committed, sw);
}

static void sched_job_record(struct sched_job *j)
{
	uv_queue_work(j->s->m->loop, &j->work, sched_job_record_work, sched_job_done);
}

static struct sched_job *sched_job_new(struct scheduler *s, struct sched_entry *e, int64_t now)
{
	/* One block: the job, then its per-recipient arrays (pointers, ints, bools: aligned). */
	size_t n = e->env.nrcpts;
	size_t size = sizeof(struct sched_job) + n * (2 * sizeof(char *) + 2 * sizeof(int) + sizeof(bool));
	struct sched_job *j = xcalloc(1, size);
	j->s = s;
	j->e = e;
	j->now = now;
	j->error = (char **)(j + 1);
	j->relay_host = j->error + n;
	j->result = (int *)(j->relay_host + n);
	j->code = j->result + n;
	j->remote_due = (bool *)(j->code + n);
	e->busy = true;
	s->jobs++;
	return j;
}

static void sched_start_job(struct scheduler *s, struct sched_entry *e, int64_t now)
{
	struct sched_job *j = sched_job_new(s, e, now);
	uv_queue_work(s->m->loop, &j->work, sched_job_work, sched_job_local_done);
}

static void sched_run(struct scheduler *s)
{
	int64_t now = (int64_t)time(NULL);
	while (s->heap_len && s->jobs < SCHED_MAX_JOBS && s->heap[0]->due <= now) {
		struct sched_entry *e = sched_heap_pop(s);
		sched_start_job(s, e, now);
	}
}

static void sched_timer_fired(uv_timer_t *t)
{
	struct scheduler *s = t->data;
	sched_run(s);
	sched_arm(s);
}

static void sched_arm(struct scheduler *s)
{
	if (s->stopping)
		return;
	if (s->heap_len == 0) {
		uv_timer_stop(&s->timer);
		return;
	}
	int64_t now = (int64_t)time(NULL);
	int64_t due = s->heap[0]->due;
	if (due == INT64_MAX) {
		uv_timer_stop(&s->timer);
		return;
	}
	if (due <= now) {
		if (s->jobs < SCHED_MAX_JOBS)
			sched_run(s);
		if (s->heap_len == 0 || s->heap[0]->due > now) {
			sched_arm(s);
			return;
		}
		/* Jobs are saturated: look again when one finishes (sched_job_done arms). */
		uv_timer_stop(&s->timer);
		return;
	}
	uint64_t ms = (uint64_t)(due - now) * 1000;
	uv_timer_start(&s->timer, sched_timer_fired, ms, 0);
}

struct scheduler *scheduler_new(struct mtad *m)
{
	struct scheduler *s = xcalloc(1, sizeof(*s));
	s->m = m;
	uv_timer_init(m->loop, &s->timer);
	s->timer.data = s;
	return s;
}

static void sched_free_if_idle(struct scheduler *s)
{
	if (!s->timer_closed || s->jobs > 0)
		return;
	free(s->heap);
	free(s);
}

static void sched_timer_closed(uv_handle_t *h)
{
	struct scheduler *s = h->data;
	s->timer_closed = true;
	sched_free_if_idle(s);
}

void scheduler_stop(struct scheduler **sp)
{
	struct scheduler *s = *sp;
	if (!s)
		return;
	s->stopping = true;
	atomic_store_explicit(&s->recover_cancel, true, memory_order_relaxed);
	uv_timer_stop(&s->timer);
	/* Freed in place: popping each would reorder the heap n times for nothing. */
	for (size_t i = 0; i < s->heap_len; i++) {
		s->count--;
		sched_entry_free(s->heap[i]);
	}
	s->heap_len = 0;
	uv_close((uv_handle_t *)&s->timer, sched_timer_closed);
	*sp = NULL;
}

/* A queued message's entry; it takes over env (left zeroed) and data. */
static struct sched_entry *sched_entry_new(struct queue_envelope *env, char *data,
					   const char *msg, size_t msg_len)
{
	struct sched_entry *e = xcalloc(1, sizeof(*e));
	e->env = *env;
	memset(env, 0, sizeof(*env));
	e->data = data;
	e->msg = msg;
	e->msg_len = msg_len;
	e->received = sched_now_f();
	return e;
}

void scheduler_submit(struct scheduler *s, struct queue_envelope *env, char *data,
		      const char *msg, size_t msg_len)
{
	struct sched_entry *e = sched_entry_new(env, data, msg, msg_len);
	s->count++;
	sched_entry_link(e);
	sched_enqueue(s, e);
	sched_arm(s);
}

/* Loop: the commit of an accepted message is durable (status 0: its delivery job goes on
 * on the pool thread) or failed (the message is dropped; its client gets a 4xx). */
static void sched_accept_committed(void *arg, int status)
{
	struct sched_job *j = arg;
	struct scheduler *s = j->s;
	struct sched_entry *e = j->e;
	j->accept_cb(j->accept_arg, status, &e->env, e->msg_len);
	if (status == 0) {
		s->count++;
		sched_entry_link(e);
		return;
	}
	s->jobs--;
	sched_job_free(j);
	sched_entry_free(e);
	if (s->stopping)
		sched_free_if_idle(s);
}

void scheduler_accept(struct scheduler *s, struct queue_envelope *env, char *data,
		      const char *msg, size_t msg_len, scheduler_accept_cb cb, void *arg)
{
	struct sched_entry *e = sched_entry_new(env, data, msg, msg_len);
	struct sched_job *j = sched_job_new(s, e, (int64_t)time(NULL));
	j->accept_cb = cb;
	j->accept_arg = arg;
	queue_commit_then(s->m->queue, &e->env, e->msg, e->msg_len, sched_accept_committed, j,
			  &j->work, sched_job_work, sched_job_local_done);
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
		    queue_load(s->m->queue, s->recover_ids[i], &s->recover_envs[i], &data, &len) == 0)
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
	(void)status;	/* never cancelled */
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
		s->jobs--;	/* the listing's hold; the slices keep the scheduler alive */
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
			e->due = 0;	/* finished before the crash but not yet removed: a job removes it */
		else if (sched_entry_overdue_retry(e, now))
			e->due = scheduler_recover_spread(now, spread++, SCHED_RECOVER_RETRIES_PER_SEC);
		sched_heap_push(s, e);
		loaded++;
	}
	free(s->recover_envs);
	s->recover_envs = NULL;
	if (loaded)
		log_info("queue: %zu message(s) recovered from %s", loaded, s->m->queue->active_dir);
	if (spread > 1)
		log_info("queue: %zu overdue retries spread over %" PRId64 " s (%d per second)", spread,
			 scheduler_recover_spread(0, spread - 1, SCHED_RECOVER_RETRIES_PER_SEC) + 1,
			 SCHED_RECOVER_RETRIES_PER_SEC);
	sched_arm(s);
}

void scheduler_recover(struct scheduler *s)
{
	s->jobs++;	/* keeps the scheduler alive until the scan is back */
	uv_queue_work(s->m->loop, &s->recover_work, sched_recover_work, sched_recover_listed);
}

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

static void sched_heap_remove(struct scheduler *s, struct sched_entry *e)
{
	size_t i = e->heap_idx;
	s->heap_len--;
	if (i != s->heap_len) {
		s->heap[i] = s->heap[s->heap_len];
		s->heap[i]->heap_idx = i;
		sched_heap_down(s, i);
		sched_heap_up(s, s->heap[i]->heap_idx);
	}
	e->in_heap = false;
}

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
	st->delivered = s->delivered;
	st->deferred = s->deferred;
	st->failed = s->failed;
}
