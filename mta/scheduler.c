/* scheduler.c - due-time heap over queued messages; runs local delivery jobs on the thread pool and records each outcome durably. */
#include "scheduler_internal.h"
#include "buf.h"
#include "deliver.h"
#include "relay.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

#include <errno.h>
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
	/* local recipients that mailbox_routes sends to an LMTP back end (into routes) */
	const struct mailbox_route **route;
	struct mailbox_routes *routes; /* a reference taken when the job started */
	uint64_t *quota; /* local recipients' storage limits, read on the loop (0 = none) */
	/* a message just received (scheduler_accept): told when its commit is durable */
	scheduler_accept_cb accept_cb;
	void *accept_arg;
	/* remote phase */
	struct relay_delivery *relays;
	size_t n_relays;
	size_t relays_pending;
	/* record phase */
	bool recorded; /* done in the same job as phase 1 (no remote recipient) */
	bool removed;
	bool need_bounce;
	int state_error;
	int load_error;
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

void sched_heap_down(struct scheduler *s, size_t i)
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

void sched_heap_push(struct scheduler *s, struct sched_entry *e)
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

void sched_heap_remove(struct scheduler *s, struct sched_entry *e)
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

/* ---- entries ---- */

struct sched_entry *sched_all; /* one scheduler per process */

void sched_entry_link(struct sched_entry *e)
{
	e->prev = NULL;
	e->next = sched_all;
	if (sched_all)
		sched_all->prev = e;
	sched_all = e;
}

void sched_entry_free(struct sched_entry *e)
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
int64_t sched_entry_due(const struct sched_entry *e)
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

void sched_enqueue(struct scheduler *s, struct sched_entry *e)
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
		return; /* accepted on hold (a milter's quarantine): mailctl release lets it go */
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
		const struct mailbox_route *route = mailbox_routes_lookup(j->routes, r->addr);
		if (route && route->kind != MAILBOX_ROUTE_LOCAL) {
			/* Its mailbox is on a back end: LMTP through relay/, like a remote hop. */
			j->route[i] = route;
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
			.quota = j->quota[i],
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

/* ", tls=verified, tls_policy=verify/file:3" of recipient i's remote delivery, else "". */
static const char *sched_tls_note(const struct sched_job *j, size_t i)
{
	static _Thread_local char note[112];
	for (size_t k = 0; k < j->n_relays; k++)
		for (size_t m = 0; m < j->relays[k].n; m++)
			if (j->relays[k].idx[m] == i && j->relays[k].out[m].tls[0]) {
				snprintf(note, sizeof(note), ", %s", j->relays[k].out[m].tls);
				return note;
			}
	return "";
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
			/* LMTP to a back end is final delivery: we send any success notice. */
			j->e->env.rcpts[i].via = o->dsn    ? QUEUE_VIA_DSN
						 : d->lmtp ? QUEUE_VIA_LOCAL
							   : QUEUE_VIA_RELAYED;
			if (j->relays_pending > 1) {
				if (!rec) {
					rec = xcalloc(1, sizeof(*rec));
					rec->j = j;
					buf_init(&rec->records);
				}
				queue_state_delivered(&rec->records, i, j->now,
						      j->e->env.rcpts[i].via);
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
		uv_queue_work(j->s->m->loop, &rec->work, sched_sent_record_work,
			      sched_sent_record_done);
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
		char lmtp[sizeof(((struct relay_delivery *)0)->domain)];
		if (j->route[i]) {
			/* One transaction per back end: grouped by the route, not the domain. */
			mailbox_route_format(j->route[i], lmtp, sizeof(lmtp));
			domain = lmtp;
		}
		struct relay_delivery *d = NULL;
		for (size_t k = 0; k < j->n_relays; k++)
			if (j->relays[k].lmtp == (j->route[i] != NULL) &&
			    strcasecmp(j->relays[k].domain, domain) == 0)
				d = &j->relays[k];
		if (!d) {
			d = &j->relays[j->n_relays++];
			snprintf(d->domain, sizeof(d->domain), "%s", domain);
			if (j->route[i]) {
				d->lmtp = true;
				d->route = *j->route[i];
			}
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
	bool open = false, failed = false, notice = false;
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		struct queue_rcpt *r = &e->env.rcpts[i];
		switch (j->result[i]) {
		case -1:
			if (sched_rcpt_open(r))
				open = true;
			if (r->state == QUEUE_RCPT_FAILED)
				failed = true;
			notice |= sched_dsn_wanted(r, r->state);
			break;
		case DELIVERY_OK:
			if (!j->remote_due[i] || (j->route[i] && r->via != QUEUE_VIA_DSN))
				r->via = QUEUE_VIA_LOCAL;
			queue_state_delivered(&records, i, j->now, r->via);
			notice |= sched_dsn_wanted(r, QUEUE_RCPT_DELIVERED);
			break;
		case DELIVERY_TEMPFAIL: {
			unsigned attempts = r->attempts + 1;
			bool expired = (uint64_t)(j->now - e->env.arrival) >= cfg->queue_lifetime;
			if (expired) {
				char *t = xasprintf(
					"%s (gave up after %u attempts: message expired)",
					j->error[i], attempts);
				free(j->error[i]);
				j->error[i] = t;
				queue_state_failed(&records, i, j->now,
						   j->code[i] ? j->code[i] : 451, t);
				failed = true;
				notice |= sched_dsn_wanted(r, QUEUE_RCPT_FAILED);
			} else {
				int64_t next = j->now + (int64_t)scheduler_retry_delay(
								cfg->retry_schedule,
								cfg->n_retry_schedule, attempts);
				queue_state_deferred(&records, i, attempts, next, j->error[i]);
				open = true;
			}
			break;
		}
		default:
			queue_state_failed(&records, i, j->now, j->code[i] ? j->code[i] : 550,
					   j->error[i]);
			failed = true;
			notice |= sched_dsn_wanted(r, QUEUE_RCPT_FAILED);
			break;
		}
	}
	/* A notice is due when every recipient is final and one of them asked for it (a
	 * failure unless NOTIFY excluded it; a success with NOTIFY=SUCCESS that no next hop
	 * took over). */
	j->need_bounce = !open && notice && e->env.sender && e->env.sender[0] && !e->env.bounced;
	/* Finished, and every recipient of this round was local: removing the file is the only
	 * record needed. Should the removal not survive a crash, the redelivery finds each
	 * Maildir copy by its name and writes no second one. Remote outcomes are always
	 * recorded first: a remote server cannot be asked whether it already has the message. */
	bool any_remote = false;
	for (size_t i = 0; i < e->env.nrcpts; i++)
		any_remote |= j->remote_due[i];
	bool skip_records = !open && !failed && !e->env.held && !any_remote && !j->need_bounce;
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
	mailbox_routes_free(&j->routes);
	free(j); /* with its arrays */
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
		const char *relay = j->route[i] ? "lmtp" : j->remote_due[i] ? "remote" : "local";
		if (j->state_error) {
			/* The outcome could not be recorded: keep the recipient open so a retry
			 * happens (for local mail the Maildir name makes a second copy impossible). */
			r->next_attempt = j->now + 60;
			log_warn("%s: to=<%s>%s, status=deferred (cannot record state: %s)",
				 e->env.id, r->addr, origbuf, strerror(-j->state_error));
			e->recovered = true;
			continue;
		}
		if (j->result[i] == DELIVERY_OK) {
			r->state = QUEUE_RCPT_DELIVERED;
			metric_inc(MET_DELIVERIES, "delivered", relay);
			int64_t sec = (int64_t)time(NULL);
			if (s->minute_stamp[sec % 60] != sec) {
				s->minute_stamp[sec % 60] = sec;
				s->minute_count[sec % 60] = 0;
			}
			s->minute_count[sec % 60]++;
			if (j->remote_due[i])
				log_info("%s: to=<%s>%s, relay=%s, delay=%s%s, status=sent (%s)",
					 e->env.id, r->addr, origbuf, relay, delay,
					 sched_tls_note(j, i),
					 j->relay_host[i] ? j->relay_host[i] : "");
			else
				log_info("%s: to=<%s>%s, relay=local, delay=%s, status=sent "
					 "(delivered to maildir)",
					 e->env.id, r->addr, origbuf, delay);
		} else if (j->result[i] == DELIVERY_TEMPFAIL &&
			   (uint64_t)(j->now - e->env.arrival) < cfg->queue_lifetime) {
			r->state = QUEUE_RCPT_DEFERRED;
			r->attempts++;
			r->code = j->code[i];
			r->next_attempt = j->now + (int64_t)scheduler_retry_delay(
							   cfg->retry_schedule,
							   cfg->n_retry_schedule, r->attempts);
			free(r->last_error);
			r->last_error = j->error[i];
			j->error[i] = NULL;
			metric_inc(MET_DELIVERIES, "deferred", relay);
			log_info("%s: to=<%s>%s, relay=%s, delay=%s%s, status=deferred (%s)",
				 e->env.id, r->addr, origbuf, relay, delay, sched_tls_note(j, i),
				 r->last_error);
		} else {
			r->state = QUEUE_RCPT_FAILED;
			r->code = j->code[i];
			free(r->last_error);
			r->last_error = j->error[i];
			j->error[i] = NULL;
			metric_inc(MET_DELIVERIES, "bounced", relay);
			log_info("%s: to=<%s>%s, relay=%s, delay=%s%s, status=bounced (%s)",
				 e->env.id, r->addr, origbuf, relay, delay, sched_tls_note(j, i),
				 r->last_error);
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

static void sched_job_record(struct sched_job *j)
{
	uv_queue_work(j->s->m->loop, &j->work, sched_job_record_work, sched_job_done);
}

/* The storage limits of the local recipients, from the accounts table (the loop's: it may be
 * reloaded meanwhile, so the pool job does not read it). Nothing to do without limits. */
static void sched_job_quotas(struct scheduler *s, struct sched_job *j)
{
	const struct config *cfg = s->m->cfg;
	if (cfg->default_quota == 0 && !(s->m->accounts && s->m->accounts->any_quota))
		return;
	for (size_t i = 0; i < j->e->env.nrcpts; i++) {
		const char *rcpt = j->e->env.rcpts[i].addr;
		struct addr a;
		const char *aerr;
		if (addr_parse_mailbox(rcpt, strlen(rcpt), ADDR_ALLOW_UTF8, &a, &aerr) == 0 &&
		    config_is_local_domain(cfg, a.domain))
			j->quota[i] = delivery_quota_limit(cfg, s->m->accounts, &a);
	}
}

static struct sched_job *sched_job_new(struct scheduler *s, struct sched_entry *e, int64_t now)
{
	/* One block: the job, then its per-recipient arrays (pointers, ints, bools: aligned). */
	size_t n = e->env.nrcpts;
	size_t size = sizeof(struct sched_job) +
		      n * (sizeof(uint64_t) + 3 * sizeof(char *) + 2 * sizeof(int) + sizeof(bool));
	struct sched_job *j = xcalloc(1, size);
	j->s = s;
	j->e = e;
	j->now = now;
	j->routes = mailbox_routes_ref(s->m->routes);
	j->quota = (uint64_t *)(j + 1);
	j->error = (char **)(j->quota + n);
	j->relay_host = j->error + n;
	j->route = (const struct mailbox_route **)(j->relay_host + n);
	j->result = (int *)(j->route + n);
	j->code = j->result + n;
	j->remote_due = (bool *)(j->code + n);
	sched_job_quotas(s, j);
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

void sched_arm(struct scheduler *s)
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

void sched_free_if_idle(struct scheduler *s)
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
static struct sched_entry *sched_entry_new(struct queue_envelope *env, char *data, const char *msg,
					   size_t msg_len)
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

void scheduler_submit(struct scheduler *s, struct queue_envelope *env, char *data, const char *msg,
		      size_t msg_len)
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

void scheduler_accept(struct scheduler *s, struct queue_envelope *env, char *data, const char *msg,
		      size_t msg_len, scheduler_accept_cb cb, void *arg)
{
	struct sched_entry *e = sched_entry_new(env, data, msg, msg_len);
	struct sched_job *j = sched_job_new(s, e, (int64_t)time(NULL));
	j->accept_cb = cb;
	j->accept_arg = arg;
	queue_commit_then(s->m->queue, &e->env, e->msg, e->msg_len, sched_accept_committed, j,
			  &j->work, sched_job_work, sched_job_local_done);
}
