/* queue.h - the durable queue: commit into a pre-created spare file (one fdatasync), state log, scan, recovery. */
#ifndef MAIL_QUEUE_H
#define MAIL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "queue_file.h"

struct queue_commit;

/* status: 0 when the message is on stable storage, else -errno. */
typedef void (*queue_commit_cb)(void *arg, int status);

/* Spare files: created QUEUE_SPARE_BATCH at a time (one fsync of spare/ per batch), a new
 * batch started when fewer than QUEUE_SPARE_LOW are ready. */
#define QUEUE_SPARE_BATCH 64
#define QUEUE_SPARE_LOW   32
/* Finished queue files kept (emptied) for reuse as spares at most; beyond, they are removed. */
#define QUEUE_RECYCLE_MAX 256

struct queue {
	uv_loop_t *loop;
	char *dir;         /* state_dir/queue */
	char *active_dir;  /* state_dir/queue/active: committed messages */
	char *tmp_dir;     /* state_dir/queue/tmp: unused since spare/ (old leftovers removed) */
	char *corrupt_dir; /* state_dir/queue/corrupt: files that failed to decode */
	char *spare_dir;   /* state_dir/queue/spare: empty files, durable, ready to commit into */
	/* Spare files of this process are spare/RUN.SEQ (RUN = spare_run). Loop thread only. */
	char spare_run[QUEUE_ID_MAX + 1];
	uint64_t spare_ready[QUEUE_SPARE_LOW + QUEUE_SPARE_BATCH]; /* SEQs ready to use */
	unsigned spare_nready;
	uint64_t spare_name_next; /* SEQ of the next batch's first file */
	bool spare_refill_running;
	uv_work_t spare_refill_work;
	uint64_t spare_refill_seqs[QUEUE_SPARE_BATCH]; /* made ready by the refill job */
	unsigned spare_refill_made;
	/* Finished queue files, emptied and renamed to spare/RUN.SEQ by queue_finish (thread
	 * pool), not durable yet: the next refill job flushes active/ and spare/ and hands them
	 * out. An inode reused instead of freed and allocated again: ext4 scans past recently
	 * freed inodes at every allocation in their group (recently_deleted). */
	uv_mutex_t recycle_lock;
	uint64_t recycled[QUEUE_RECYCLE_MAX];
	unsigned nrecycled;
	uint64_t recycle_seq;
	int spare_refill_error;
	struct queue_commit *spare_waiting, *spare_waiting_tail; /* commits waiting for a spare */
	/* Commits with follow-up work (queue_commit_then) tell the loop through this handle as
	 * soon as they are durable, before the follow-up runs. */
	uv_async_t durable_async;
	uv_mutex_t durable_lock;
	struct queue_commit *durable, *durable_tail; /* durable, loop not told yet */
	bool durable_async_open;
	unsigned commits_in_flight;
	uint64_t spare_refills, committed; /* counters for stats */
};

/* Creates state_dir/queue/{active,tmp,corrupt} (mode 0700) and checks they are writable.
 * Returns NULL with err set. */
struct queue *queue_open(uv_loop_t *loop, const char *state_dir, char *err, size_t errlen);
/* Closes the loop handle of a queue opened with a loop (before uv_loop_close; the daemon's
 * handle walk also does). */
void queue_close_handles(struct queue *q);
void queue_close(struct queue **q);

/* Writes env + msg as a queue file and makes it durable: on the thread pool, into a spare
 * file (empty, its directory entry already flushed), sealed by a commit record, one
 * fdatasync; then an unflushed rename to active/ID. cb runs on the loop. env and msg must
 * stay valid until cb. */
void queue_commit(struct queue *q, const struct queue_envelope *env, const char *msg,
		  size_t msg_len, queue_commit_cb cb, void *arg);

/* queue_commit, plus follow-up work in the same thread-pool job: once the file is durable
 * (and renamed), the loop is told at once (cb(arg, 0) runs without waiting for the follow-up)
 * and then_work(then_req) runs on that same pool thread; then_done(then_req, status) runs on
 * the loop after cb. A failed commit calls cb(arg, -errno) only (no follow-up). Saves the
 * thread-pool round trip a second job would cost. */
void queue_commit_then(struct queue *q, const struct queue_envelope *env, const char *msg,
		       size_t msg_len, queue_commit_cb cb, void *arg, uv_work_t *then_req,
		       uv_work_cb then_work, uv_after_work_cb then_done);

/* Blocking (thread pool only): appends state records to active/ID and fdatasyncs.
 * Returns 0 or -errno. */
int queue_append_state(const struct queue *q, const char *id, const struct buf *records);

/* Blocking (thread pool only): removes a finished queue file. Returns 0 or -errno. */
int queue_remove(const struct queue *q, const char *id);

/* Blocking (thread pool only): a queue file whose every recipient is done: emptied and kept
 * as a spare (spare/RUN.SEQ; used only after the refill job's flush of active/ and spare/),
 * or removed when QUEUE_RECYCLE_MAX wait already. Nothing is flushed here: after a crash the
 * file may come back under either name, full (its deliveries are found by name or in its
 * records) or empty (removed at start). Returns 0 or -errno. */
int queue_finish(struct queue *q, const char *id);

/* Blocking: reads and decodes active/ID; *data_r holds the file image (message at
 * env->msg_offset). Returns 0, -1 (undecodable: moved to corrupt/) or -errno. */
int queue_load(const struct queue *q, const char *id, struct queue_envelope *env_r, char **data_r,
	       size_t *len_r);

/* Blocking: lists the ids in active/ (malloc'd array of malloc'd strings). Returns the
 * count or -errno. */
long queue_list(const struct queue *q, char ***ids_r);

/* Blocking, at daemon start (before queue_list): finishes what a crash interrupted. A spare
 * of an earlier run holding a committed (sealed) message is renamed to active/ID; empty,
 * torn or unsealed ones are removed (their clients never got a 250), as are leftovers in
 * tmp/. Spares of this process are left alone. */
void queue_recover_spares(const struct queue *q);

#endif
