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
void scheduler_submit(struct scheduler *s, struct queue_envelope *env, char *data,
		      const char *msg, size_t msg_len);

/* Loads every message in queue/active on the thread pool (at start-up), marking local
 * recipients for the crash-recovery check. */
void scheduler_recover(struct scheduler *s);

/* Makes everything due now (mailctl flush). */
void scheduler_flush(struct scheduler *s);

/* Delay before attempt number `attempts` + 1, from the retry schedule (last entry repeats). */
uint64_t scheduler_retry_delay(const uint64_t *schedule, size_t n, unsigned attempts);

struct scheduler_stats {
	size_t messages;	/* in the queue */
	size_t busy;		/* being delivered */
	uint64_t delivered, deferred, failed;
};
void scheduler_get_stats(const struct scheduler *s, struct scheduler_stats *st);

#endif
