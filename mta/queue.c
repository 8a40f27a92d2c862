/* queue.c - the durable queue directory: commits with group directory fsync, the state log, loading. */
#include "queue.h"
#include "log.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
	int status;
	struct queue_commit *next;
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

static int queue_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

struct queue *queue_open(uv_loop_t *loop, const char *state_dir, char *err, size_t errlen)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	q->loop = loop;
	q->dir = xasprintf("%s/queue", state_dir);
	q->active_dir = xasprintf("%s/active", q->dir);
	q->tmp_dir = xasprintf("%s/tmp", q->dir);
	q->corrupt_dir = xasprintf("%s/corrupt", q->dir);
	const char *dirs[] = { state_dir, q->dir, q->active_dir, q->tmp_dir, q->corrupt_dir };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int r = queue_mkdir(dirs[i]);
		if (r < 0) {
			snprintf(err, errlen, "queue directory %s: %s", dirs[i], strerror(-r));
			queue_close(&q);
			return NULL;
		}
	}
	/* Prove the queue is writable now rather than at the first message. */
	char probe[4096];
	snprintf(probe, sizeof(probe), "%s/.probe.%ld", q->tmp_dir, (long)getpid());
	int fd = open(probe, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "queue directory %s is not writable: %s", q->tmp_dir,
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

/* Thread pool: write tmp/ID, fsync, rename to active/ID. */
static void queue_commit_work(uv_work_t *w)
{
	struct queue_commit *qc = container_of(w, struct queue_commit, work);
	struct buf head, tail;
	char tmp[4096], dst[4096];
	int fd, r;

	buf_init(&head);
	buf_init(&tail);
	queue_file_encode(qc->env, qc->msg_len, &head, &tail);
	snprintf(tmp, sizeof(tmp), "%s/%s", qc->q->tmp_dir, qc->env->id);
	snprintf(dst, sizeof(dst), "%s/%s", qc->q->active_dir, qc->env->id);
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
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
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	qc->status = r;
out:
	buf_free(&head);
	buf_free(&tail);
}

static void queue_dirsync_start(struct queue *q);

static void queue_dirsync_work(uv_work_t *w)
{
	struct queue *q = container_of(w, struct queue, dirsync_work);
	q->dirsync_error = queue_fsync_dir(q->active_dir);
}

static void queue_dirsync_done(uv_work_t *w, int status)
{
	struct queue *q = container_of(w, struct queue, dirsync_work);
	struct queue_commit *qc = q->dirsync_batch, *next;
	int err = status < 0 ? status : q->dirsync_error;
	q->dirsync_batch = NULL;
	q->dirsync_running = false;
	q->dirsyncs++;
	for (; qc; qc = next) {
		next = qc->next;
		q->commits_in_flight--;
		if (err == 0)
			q->committed++;
		qc->cb(qc->arg, err);
		free(qc);
	}
	if (q->dirsync_waiting)
		queue_dirsync_start(q);
}

static void queue_dirsync_start(struct queue *q)
{
	q->dirsync_batch = q->dirsync_waiting;
	q->dirsync_waiting = NULL;
	q->dirsync_running = true;
	uv_queue_work(q->loop, &q->dirsync_work, queue_dirsync_work, queue_dirsync_done);
}

static void queue_commit_done(uv_work_t *w, int status)
{
	struct queue_commit *qc = container_of(w, struct queue_commit, work);
	struct queue *q = qc->q;
	if (status < 0 && qc->status == 0)
		qc->status = status;
	if (qc->status < 0) {
		q->commits_in_flight--;
		qc->cb(qc->arg, qc->status);
		free(qc);
		return;
	}
	/* Written and renamed: wait for the next shared directory fsync. A directory fsync
	 * already running started before this rename, so it does not count. */
	qc->next = q->dirsync_waiting;
	q->dirsync_waiting = qc;
	if (!q->dirsync_running)
		queue_dirsync_start(q);
}

void queue_commit(struct queue *q, const struct queue_envelope *env, const char *msg,
		  size_t msg_len, queue_commit_cb cb, void *arg)
{
	struct queue_commit *qc = xcalloc(1, sizeof(*qc));
	qc->q = q;
	qc->env = env;
	qc->msg = msg;
	qc->msg_len = msg_len;
	qc->cb = cb;
	qc->arg = arg;
	q->commits_in_flight++;
	uv_queue_work(q->loop, &qc->work, queue_commit_work, queue_commit_done);
}

int queue_append_state(const struct queue *q, const char *id, const struct buf *records)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", q->active_dir, id);
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
	snprintf(path, sizeof(path), "%s/%s", q->active_dir, id);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int queue_load(const struct queue *q, const char *id, struct queue_envelope *env_r,
	       char **data_r, size_t *len_r)
{
	char path[4096];
	struct stat st;
	const char *error;

	snprintf(path, sizeof(path), "%s/%s", q->active_dir, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	char *data = xmalloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (queue_file_decode(data, got, env_r, &error) < 0 || strcmp(env_r->id, id) != 0) {
		if (env_r->id[0])
			queue_envelope_free(env_r);
		char dst[4096];
		snprintf(dst, sizeof(dst), "%s/%s", q->corrupt_dir, id);
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

void queue_clean_tmp(const struct queue *q)
{
	DIR *d = opendir(q->tmp_dir);
	struct dirent *de;
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			/* A commit that never reached rename: its client got no 250. */
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", q->tmp_dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
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
