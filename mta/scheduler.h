/* scheduler.h - due-time heap over queued messages: hands due recipients to delivery, retries, expiry. */
#ifndef MAIL_SCHEDULER_H
#define MAIL_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "mtad.h"
#include "queue_file.h"

struct scheduler;

struct scheduler *scheduler_new(struct mtad *m);
/* Stops the timer; in-flight jobs finish; calls done when the scheduler is freed. */
void scheduler_stop(struct scheduler **s);

/* Takes a freshly committed message. env is moved (the caller's copy is zeroed); data is
 * the malloc'd block holding the message (msg points into it) and is freed by the
 * scheduler; data may be NULL (then the message is read from the queue file). */
void scheduler_submit(struct scheduler *s, struct queue_envelope *env, char *data, const char *msg,
		      size_t msg_len);

/* status 0: the message is durable in the queue (send the 250); else -errno (nothing kept).
 * env and msg_len describe the message, valid during the call only. */
typedef void (*scheduler_accept_cb)(void *arg, int status, const struct queue_envelope *env,
				    size_t msg_len);

/* Takes a message just received: env is moved (the caller's copy is zeroed) and data (the
 * malloc'd block holding msg) is owned by the scheduler from now on. Commits it to the queue
 * and, in the same thread-pool job once it is durable, delivers its local recipients and
 * records the outcomes (remote ones go to the relay as usual). cb runs on the loop as soon as
 * the commit is durable or has failed, without waiting for the delivery; exactly once. */
void scheduler_accept(struct scheduler *s, struct queue_envelope *env, char *data, const char *msg,
		      size_t msg_len, scheduler_accept_cb cb, void *arg);

/* Loads every message in queue/active on the thread pool (at start-up), marking local
 * recipients for the crash-recovery check. */
void scheduler_recover(struct scheduler *s);

/* Makes everything due now (mailctl flush). */
void scheduler_flush(struct scheduler *s);

/* Delay before attempt number `attempts` + 1, from the retry schedule (last entry repeats). */
uint64_t scheduler_retry_delay(const uint64_t *schedule, size_t n, unsigned attempts);

/* Due time of the rank-th (from 0) retry that came due while mtad was down: after a restart
 * such retries start at most per_second per second, the first at now. */
int64_t scheduler_recover_spread(int64_t now, size_t rank, unsigned per_second);

enum scheduler_op { SCHEDULER_HOLD, SCHEDULER_RELEASE, SCHEDULER_DELETE };

/* status 0 done, -ENOENT no such message, -EBUSY being delivered right now, else -errno. */
typedef void (*scheduler_op_cb)(void *arg, int status);

/* Holds, releases or deletes queued message id, durably (the state record, or the file's
 * removal, is on disk before cb). cb runs later on the loop, exactly once. */
void scheduler_control(struct scheduler *s, enum scheduler_op op, const char *id,
		       scheduler_op_cb cb, void *arg);

struct scheduler_stats {
	size_t messages; /* in the queue */
	size_t busy;     /* being delivered */
	uint64_t delivered, deferred, failed;
	size_t held;
	uint64_t delivered_last_minute;
	/* For the metrics: messages by state (SCHED_AGE_STATES) and age class, the oldest's age. */
	size_t by_age[3][4]; /* [waiting, delivering, held][< 5m, < 1h, < 1d, older] */
	int64_t oldest[3];   /* seconds */
};
void scheduler_get_stats(const struct scheduler *s, struct scheduler_stats *st);

#endif
