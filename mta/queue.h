/* queue.h - the durable queue: commit (write, fsync, rename, group directory fsync), state log, scan. */
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

struct queue {
	uv_loop_t *loop;
	char *dir;		/* state_dir/queue */
	char *active_dir;	/* state_dir/queue/active: committed messages */
	char *tmp_dir;		/* state_dir/queue/tmp: being written */
	char *corrupt_dir;	/* state_dir/queue/corrupt: files that failed to decode */
	/* Group commit: commits whose file is written, fsynced and renamed, waiting for one
	 * shared fsync of active/. */
	struct queue_commit *dirsync_waiting;
	struct queue_commit *dirsync_batch;
	bool dirsync_running;
	uv_work_t dirsync_work;
	int dirsync_error;
	unsigned commits_in_flight;
	uint64_t dirsyncs, committed;	/* counters for stats */
};

/* Creates state_dir/queue/{active,tmp,corrupt} (mode 0700) and checks they are writable.
 * Returns NULL with err set. */
struct queue *queue_open(uv_loop_t *loop, const char *state_dir, char *err, size_t errlen);
void queue_close(struct queue **q);

/* Writes env + msg as a queue file and makes it durable: on the thread pool, write to
 * tmp/ID, fsync, rename to active/ID; then one fsync of active/ shared by every commit
 * renamed meanwhile. cb runs on the loop. env and msg must stay valid until cb. */
void queue_commit(struct queue *q, const struct queue_envelope *env, const char *msg,
		  size_t msg_len, queue_commit_cb cb, void *arg);

/* Blocking (thread pool only): appends state records to active/ID and fdatasyncs.
 * Returns 0 or -errno. */
int queue_append_state(const struct queue *q, const char *id, const struct buf *records);

/* Blocking (thread pool only): removes a finished queue file. Returns 0 or -errno. */
int queue_remove(const struct queue *q, const char *id);

/* Blocking: reads and decodes active/ID; *data_r holds the file image (message at
 * env->msg_offset). Returns 0, -1 (undecodable: moved to corrupt/) or -errno. */
int queue_load(const struct queue *q, const char *id, struct queue_envelope *env_r,
	       char **data_r, size_t *len_r);

/* Blocking: lists the ids in active/ (malloc'd array of malloc'd strings). Returns the
 * count or -errno. */
long queue_list(const struct queue *q, char ***ids_r);

/* Blocking, at daemon start only: removes files a crash left in tmp/ (their clients never
 * got a 250). */
void queue_clean_tmp(const struct queue *q);

#endif
