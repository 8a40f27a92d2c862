/* scheduler_internal.h - what scheduler*.c share: the scheduler and entry structs, the heap, entry and timer helpers. */
#ifndef MAIL_SCHEDULER_INTERNAL_H
#define MAIL_SCHEDULER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "scheduler.h"

struct sched_entry {
	struct queue_envelope env;
	char *data; /* owned block holding msg, or NULL when not cached */
	const char *msg;
	size_t msg_len;
	int64_t due; /* unix seconds */
	size_t heap_idx;
	bool in_heap;
	bool busy;
	bool recovered; /* loaded after a restart: check Maildirs before delivering */
	struct sched_entry *prev, *next; /* every live entry, for lookups by id */
	double received;                 /* arrival, for delay= in logs */
};

struct scheduler {
	struct mtad *m;
	uv_timer_t timer;
	struct sched_entry **heap;
	size_t heap_len, heap_cap;
	size_t count; /* entries alive (heap + busy) */
	unsigned jobs;
	bool stopping;
	bool timer_closed;
	int64_t minute_stamp[60]; /* per-second delivery counts over the last minute */
	uint64_t minute_count[60];
	uv_work_t recover_work;
	char **recover_ids;
	struct queue_envelope *recover_envs;
	long recover_n;
	unsigned recover_pending;   /* slices still reading */
	atomic_bool recover_cancel; /* set by scheduler_stop: slices skip the files left */
};

/* scheduler.c: the heap */
void sched_heap_push(struct scheduler *s, struct sched_entry *e);
void sched_heap_down(struct scheduler *s, size_t i);
void sched_heap_remove(struct scheduler *s, struct sched_entry *e);

/* scheduler.c: entries */
extern struct sched_entry *sched_all; /* every live entry */
void sched_entry_link(struct sched_entry *e);
/* Unlinks and frees e (the caller keeps s->count right). */
void sched_entry_free(struct sched_entry *e);
/* Earliest time any open recipient is due; INT64_MAX when none is open. */
int64_t sched_entry_due(const struct sched_entry *e);
/* Back into the heap at its due time, or freed when nothing is open any more. */
void sched_enqueue(struct scheduler *s, struct sched_entry *e);

/* scheduler.c: the timer */
/* Starts what is due and sets the timer for the next due entry. */
void sched_arm(struct scheduler *s);
/* Once stopping: frees the scheduler when its timer is closed and no job is left. */
void sched_free_if_idle(struct scheduler *s);

/* scheduler_bounce.c */
/* Every recipient is final and some failed: one DSN to the sender, then the original goes. */
void sched_bounce(struct scheduler *s, struct sched_entry *e);
/* True when r, in state st, is reported to the sender (RFC 3461 NOTIFY): a failure unless
 * NOTIFY left FAILURE out (or is NEVER); a delivery with NOTIFY=SUCCESS unless it went to a
 * hop that took the DSN request over. */
bool sched_dsn_wanted(const struct queue_rcpt *r, enum queue_rcpt_state st);
/* A delay warning to the sender, once, when the message has waited delay_warning_time. */
void sched_maybe_warn(struct scheduler *s, struct sched_entry *e, int64_t now);

#endif
