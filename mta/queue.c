/* queue.c - the durable queue directory: commits into pre-created spare files, the state log, loading, start-up recovery. */
#include "queue.h"
#include "fileutil.h"
#include "log.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct queue_commit {
	uv_work_t work;
	struct queue *q;
	const struct queue_envelope *env;
	const char *msg;
	size_t msg_len;
	queue_commit_cb cb;
	void *arg;
	uint64_t spare; /* sequence number of the spare file written */
	int status;
	struct queue_commit *next; /* on q->spare_waiting, then on q->durable */
	/* queue_commit_then: follow-up work in the same job */
	uv_work_t *then_req;
	uv_work_cb then_work;
	uv_after_work_cb then_done;
	bool told; /* loop thread: cb has run */
};

static int queue_mkdir(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (access(path, W_OK | X_OK) < 0)
		return -errno;
	return 0;
}

/* spare/RUN.SEQ: RUN is this process's tag, so that the start-up scan leaves alone the
 * spares made meanwhile by the running daemon. */
static void queue_spare_path(const struct queue *q, uint64_t seq, char *out, size_t outlen)
{
	str_format(out, outlen, "%s/%s.%" PRIu64, q->spare_dir, q->spare_run, seq);
}

struct queue *queue_open(uv_loop_t *loop, const char *state_dir, char *err, size_t errlen)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	q->loop = loop;
	q->dir = xasprintf("%s/queue", state_dir);
	q->active_dir = xasprintf("%s/active", q->dir);
	q->tmp_dir = xasprintf("%s/tmp", q->dir);
	q->corrupt_dir = xasprintf("%s/corrupt", q->dir);
	q->spare_dir = xasprintf("%s/spare", q->dir);
	queue_id_new(q->spare_run);
	uv_mutex_init(&q->recycle_lock);
	q->recycle_seq = (uint64_t)1 << 48; /* apart from the refill job's SEQs */
	const char *dirs[] = { state_dir,  q->dir,         q->active_dir,
			       q->tmp_dir, q->corrupt_dir, q->spare_dir };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int r = queue_mkdir(dirs[i]);
		if (r < 0) {
			str_format(err, errlen, "queue directory %s: %s", dirs[i], strerror(-r));
			queue_close(&q);
			return NULL;
		}
	}
	/* Prove the queue is writable now rather than at the first message. */
	char probe[4096];
	str_format(probe, sizeof(probe), "%s/.probe.%ld", q->tmp_dir, (long)getpid());
	/* A name run_user could have planted: created afresh, never through a link. */
	unlink(probe);
	int fd = open(probe, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		str_format(err, errlen, "queue directory %s is not writable: %s", q->tmp_dir,
			   strerror(errno));
		queue_close(&q);
		return NULL;
	}
	close(fd);
	unlink(probe);
	return q;
}

void queue_close(struct queue **qp)
{
	struct queue *q = *qp;
	if (!q)
		return;
	free(q->dir);
	free(q->active_dir);
	free(q->tmp_dir);
	free(q->corrupt_dir);
	free(q->spare_dir);
	if (q->durable_async_open)
		uv_mutex_destroy(&q->durable_lock);
	uv_mutex_destroy(&q->recycle_lock);
	free(q);
	*qp = NULL;
}

static int queue_write_all(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		ssize_t n = writev(fd, iov, iovcnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* Thread pool: write the message into its spare file, fdatasync (the one flush before the
 * 250: the directory entry is durable since the spare's batch), then give it its final name
 * active/ID. That rename is not flushed: after a crash the start-up scan finds a committed
 * file under either name. */
static void queue_commit_work(uv_work_t *w)
{
	struct queue_commit *qc = container_of(w, struct queue_commit, work);
	struct buf head, tail;
	char spare[4096], dst[4096];
	int fd, r;

	buf_init(&head);
	buf_init(&tail);
	queue_file_encode(qc->env, qc->msg, qc->msg_len, &head, &tail);
	queue_spare_path(qc->q, qc->spare, spare, sizeof(spare));
	str_format(dst, sizeof(dst), "%s/%s", qc->q->active_dir, qc->env->id);
	fd = open(spare, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		qc->status = -errno;
		goto out;
	}
	struct iovec iov[3] = {
		{ head.data, head.len },
		{ (void *)qc->msg, qc->msg_len },
		{ tail.data, tail.len },
	};
	r = queue_write_all(fd, iov, 3);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(spare, dst) < 0)
		r = -errno;
	qc->status = r;
	if (r == 0 && qc->then_work) {
		/* Durable: the loop sends its 250 now, while this thread goes on. */
		struct queue *q = qc->q;
		uv_mutex_lock(&q->durable_lock);
		qc->next = NULL;
		if (q->durable_tail)
			q->durable_tail->next = qc;
		else
			q->durable = qc;
		q->durable_tail = qc;
		uv_mutex_unlock(&q->durable_lock);
		uv_async_send(&q->durable_async);
		buf_free(&head);
		buf_free(&tail);
		qc->then_work(qc->then_req);
		return;
	}
out:
	/* Not committed: the spare is removed, never reused. (One whose write was whole but
	 * whose fdatasync or rename failed could still come back after a crash and be
	 * delivered although its client got a 4xx: a duplicate at worst, never a loss.) */
	if (qc->status < 0)
		unlink(spare);
	buf_free(&head);
	buf_free(&tail);
}

/* Loop: a commit with follow-up work is durable. */
static void queue_commit_tell(struct queue_commit *qc)
{
	qc->told = true;
	qc->q->committed++;
	qc->cb(qc->arg, 0);
}

static void queue_durable_cb(uv_async_t *a)
{
	struct queue *q = container_of(a, struct queue, durable_async);
	uv_mutex_lock(&q->durable_lock);
	struct queue_commit *qc = q->durable;
	q->durable = q->durable_tail = NULL;
	uv_mutex_unlock(&q->durable_lock);
	while (qc) {
		struct queue_commit *next = qc->next;
		queue_commit_tell(qc);
		qc = next;
	}
}

static void queue_commit_done(uv_work_t *w, int status)
{
	struct queue_commit *qc = container_of(w, struct queue_commit, work);
	struct queue *q = qc->q;
	if (status < 0 && qc->status == 0)
		qc->status = status;
	q->commits_in_flight--;
	if (qc->then_work && qc->status == 0) {
		if (!qc->told) {
			/* The job finished before the handle's callback ran (or after it was
			 * closed at shutdown): take it off the list, the 250 goes first. */
			uv_mutex_lock(&q->durable_lock);
			struct queue_commit **pp = &q->durable, *prev = NULL;
			while (*pp && *pp != qc) {
				prev = *pp;
				pp = &(*pp)->next;
			}
			if (*pp) {
				*pp = qc->next;
				if (q->durable_tail == qc)
					q->durable_tail = prev;
			}
			uv_mutex_unlock(&q->durable_lock);
			queue_commit_tell(qc);
		}
		qc->then_done(qc->then_req, status);
		free(qc);
		return;
	}
	if (qc->status == 0)
		q->committed++;
	qc->cb(qc->arg, qc->status);
	free(qc);
}

static void queue_commit_start(struct queue *q, struct queue_commit *qc)
{
	qc->spare = q->spare_ready[--q->spare_nready];
	uv_queue_work(q->loop, &qc->work, queue_commit_work, queue_commit_done);
}

static void queue_spare_refill_maybe(struct queue *q);

/* Thread pool: the next batch of empty spares: the finished queue files emptied since the
 * last batch, then new files for the rest; one fsync of active/ (the recycled files' old
 * names must not come back) and one of spare/. */
static void queue_spare_refill_work(uv_work_t *w)
{
	struct queue *q = container_of(w, struct queue, spare_refill_work);
	char path[4096];
	unsigned n = 0, recycled;
	int r = 0;

	uv_mutex_lock(&q->recycle_lock);
	recycled = q->nrecycled < QUEUE_SPARE_BATCH ? q->nrecycled : QUEUE_SPARE_BATCH;
	q->nrecycled -= recycled;
	memcpy(q->spare_refill_seqs, q->recycled + q->nrecycled, recycled * sizeof(uint64_t));
	uv_mutex_unlock(&q->recycle_lock);
	n = recycled;
	for (unsigned k = 0; n < QUEUE_SPARE_BATCH; n++, k++) {
		uint64_t seq = q->spare_name_next + k;
		queue_spare_path(q, seq, path, sizeof(path));
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			r = -errno;
			break;
		}
		close(fd);
		q->spare_refill_seqs[n] = seq;
	}
	if (recycled > 0) {
		int s = fsync_dir(q->active_dir);
		if (s < 0) {
			r = s;
			n = 0;
		}
	}
	if (n > 0) {
		int s = fsync_dir(q->spare_dir);
		if (s < 0) {
			r = s;
			n = 0; /* not durable: never used (removed at the next start) */
		}
	}
	q->spare_refill_made = n;
	q->spare_refill_error = r;
}

static void queue_spare_refill_done(uv_work_t *w, int status)
{
	struct queue *q = container_of(w, struct queue, spare_refill_work);
	int err = status < 0 ? status : q->spare_refill_error;
	unsigned made = status < 0 ? 0 : q->spare_refill_made;

	q->spare_refill_running = false;
	q->spare_refills++;
	for (unsigned i = made; i > 0; i--)
		q->spare_ready[q->spare_nready++] = q->spare_refill_seqs[i - 1];
	q->spare_name_next += QUEUE_SPARE_BATCH;
	if (err < 0)
		log_error("queue: cannot make spare files in %s: %s", q->spare_dir, strerror(-err));
	while (q->spare_waiting && q->spare_nready > 0) {
		struct queue_commit *qc = q->spare_waiting;
		q->spare_waiting = qc->next;
		queue_commit_start(q, qc);
	}
	if (q->spare_waiting && made == 0) {
		/* No spare to be had (no inode, no permission): these commits fail now. */
		struct queue_commit *qc, *next;
		for (qc = q->spare_waiting; qc; qc = next) {
			next = qc->next;
			q->commits_in_flight--;
			qc->cb(qc->arg, err < 0 ? err : -EIO);
			free(qc);
		}
		q->spare_waiting = NULL;
		q->spare_waiting_tail = NULL;
	}
	if (!q->spare_waiting)
		q->spare_waiting_tail = NULL;
	if (made > 0) /* after a failure the next commit tries again, not a loop here */
		queue_spare_refill_maybe(q);
}

static void queue_spare_refill_maybe(struct queue *q)
{
	if (q->spare_refill_running || (q->spare_nready >= QUEUE_SPARE_LOW && !q->spare_waiting))
		return;
	q->spare_refill_running = true;
	uv_queue_work(q->loop, &q->spare_refill_work, queue_spare_refill_work,
		      queue_spare_refill_done);
}

static void queue_commit_add(struct queue *q, struct queue_commit *qc);

void queue_commit(struct queue *q, const struct queue_envelope *env, const char *msg,
		  size_t msg_len, queue_commit_cb cb, void *arg)
{
	queue_commit_then(q, env, msg, msg_len, cb, arg, NULL, NULL, NULL);
}

void queue_commit_then(struct queue *q, const struct queue_envelope *env, const char *msg,
		       size_t msg_len, queue_commit_cb cb, void *arg, uv_work_t *then_req,
		       uv_work_cb then_work, uv_after_work_cb then_done)
{
	if (then_work && !q->durable_async_open) {
		/* Made at first use (a queue opened only to probe permissions has none). It
		 * lives in q until queue_close, after the loop is closed: the daemon's handle walk
		 * may close it while jobs are still draining, whose send then only wakes the
		 * loop, and queue_commit_done tells the loop instead. */
		uv_mutex_init(&q->durable_lock);
		uv_async_init(q->loop, &q->durable_async, queue_durable_cb);
		uv_unref((uv_handle_t *)&q->durable_async);
		q->durable_async_open = true;
	}
	struct queue_commit *qc = xcalloc(1, sizeof(*qc));
	qc->q = q;
	qc->env = env;
	qc->msg = msg;
	qc->msg_len = msg_len;
	qc->cb = cb;
	qc->arg = arg;
	qc->then_req = then_req;
	qc->then_work = then_work;
	qc->then_done = then_done;
	queue_commit_add(q, qc);
}

static void queue_commit_add(struct queue *q, struct queue_commit *qc)
{
	q->commits_in_flight++;
	if (q->spare_nready > 0 && !q->spare_waiting) {
		queue_commit_start(q, qc);
	} else {
		/* Out of spares (the first commit, or a burst): wait for the batch being made. */
		if (q->spare_waiting_tail)
			q->spare_waiting_tail->next = qc;
		else
			q->spare_waiting = qc;
		q->spare_waiting_tail = qc;
	}
	queue_spare_refill_maybe(q);
}

int queue_append_state(const struct queue *q, const char *id, const struct buf *records)
{
	char path[4096];
	str_format(path, sizeof(path), "%s/%s", q->active_dir, id);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct iovec iov = { records->data, records->len };
	int r = queue_write_all(fd, &iov, 1);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int queue_remove(const struct queue *q, const char *id)
{
	char path[4096];
	str_format(path, sizeof(path), "%s/%s", q->active_dir, id);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int queue_finish(struct queue *q, const char *id)
{
	char path[4096], spare[4096];
	str_format(path, sizeof(path), "%s/%s", q->active_dir, id);
	uv_mutex_lock(&q->recycle_lock);
	bool room = q->nrecycled < QUEUE_RECYCLE_MAX;
	uint64_t seq = q->recycle_seq++;
	uv_mutex_unlock(&q->recycle_lock);
	if (room && truncate(path, 0) == 0) {
		queue_spare_path(q, seq, spare, sizeof(spare));
		if (rename(path, spare) == 0) {
			uv_mutex_lock(&q->recycle_lock);
			room = q->nrecycled < QUEUE_RECYCLE_MAX;
			if (room)
				q->recycled[q->nrecycled++] = seq;
			uv_mutex_unlock(&q->recycle_lock);
			if (room || unlink(spare) == 0 || errno == ENOENT)
				return 0;
			return -errno;
		}
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int queue_load(const struct queue *q, const char *id, struct queue_envelope *env_r, char **data_r,
	       size_t *len_r)
{
	char path[4096];
	const char *error;
	char *data;
	size_t got;

	str_format(path, sizeof(path), "%s/%s", q->active_dir, id);
	int r = read_file(path, SIZE_MAX, true, &data, &got);
	if (r < 0)
		return r;
	if (got == 0) {
		/* Emptied by queue_finish (every recipient done) before a crash kept its rename
		 * to spare/ from reaching the disk. */
		log_info("%s: empty queue file (finished before a restart): removed", id);
		unlink(path);
		free(data);
		return -ENOENT;
	}
	if (queue_file_decode(data, got, env_r, &error) < 0 || strcmp(env_r->id, id) != 0) {
		if (env_r->id[0])
			queue_envelope_free(env_r);
		char dst[4096];
		str_format(dst, sizeof(dst), "%s/%s", q->corrupt_dir, id);
		log_error("%s: queue file unusable (%s): moved to %s", id,
			  env_r->id[0] ? "id mismatch" : error, dst);
		rename(path, dst);
		free(data);
		return -1;
	}
	*data_r = data;
	*len_r = got;
	return 0;
}

/* One file of spare/ left by an earlier run: committed (sealed) -> active/ID, else removed. */
static void queue_recover_spare(const struct queue *q, const char *name)
{
	char path[4096], dst[4096];
	struct queue_envelope env;
	const char *error = "empty spare";
	char *data = NULL;
	size_t len = 0;

	str_format(path, sizeof(path), "%s/%s", q->spare_dir, name);
	int r = read_file(path, SIZE_MAX, true, &data, &len);
	if (r < 0) {
		log_error("queue: cannot read %s: %s", path, strerror(-r));
		return;
	}
	if (len > 0 && queue_file_decode(data, len, &env, &error) == 0) {
		struct stat st;
		str_format(dst, sizeof(dst), "%s/%s", q->active_dir, env.id);
		if (lstat(dst, &st) == 0) {
			/* Cannot happen with an atomic rename; keep both rather than guess. */
			str_format(dst, sizeof(dst), "%s/%s.spare-%s", q->corrupt_dir, env.id,
				   name);
			log_error("%s: committed spare %s but active/%s exists: moved to %s",
				  env.id, path, env.id, dst);
		} else {
			log_info("%s: committed queue file recovered from %s", env.id, path);
		}
		if (rename(path, dst) < 0)
			log_error("%s: cannot rename %s to %s: %s", env.id, path, dst,
				  strerror(errno));
		queue_envelope_free(&env);
	} else {
		if (len > 0)
			log_info("queue: removed %s: not committed (%s); its client got no 250",
				 path, error);
		unlink(path);
	}
	free(data);
}

void queue_recover_spares(const struct queue *q)
{
	DIR *d = opendir(q->tmp_dir);
	struct dirent *de;
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			/* Left by an earlier version: a commit that never reached its rename. */
			char path[4096];
			str_format(path, sizeof(path), "%s/%s", q->tmp_dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	d = opendir(q->spare_dir);
	if (!d)
		return;
	size_t runlen = strlen(q->spare_run);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (strncmp(de->d_name, q->spare_run, runlen) == 0 && de->d_name[runlen] == '.')
			continue; /* this process's own */
		queue_recover_spare(q, de->d_name);
	}
	closedir(d);
}

long queue_list(const struct queue *q, char ***ids_r)
{
	struct dirent *de;
	DIR *d = opendir(q->active_dir);
	if (!d)
		return -errno;
	size_t n = 0, cap = 0;
	char **ids = NULL;
	while ((de = readdir(d))) {
		if (!queue_id_valid(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	*ids_r = ids;
	return (long)n;
}
