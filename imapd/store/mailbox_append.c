/* mailbox_append.c - APPEND, COPY, STATUS: one-shot operations on a folder that need not be open. */
#include "fileutil.h"
#include "mailbox_internal.h"
#include "quota.h"
#include "store.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* "SECS.M<usec>P<pid>Q<n>.HOST,S=SIZE" for a file we create. */
static void mailbox_unique_name(char *out, size_t outlen, int64_t secs, uint64_t size)
{
	static unsigned counter;
	char host[256], unique[96];
	struct timeval tv;
	gettimeofday(&tv, NULL);
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
	snprintf(unique, sizeof(unique), "M%06ldP%ldQ%uT%ld", (long)tv.tv_usec, (long)getpid(), n,
		 (long)tv.tv_sec);
	store_maildir_name(out, outlen, secs, unique, host, size);
}

/* A folder at maildir exists when its cur/ does. */
static int mailbox_folder_exists(const char *maildir)
{
	char path[PATH_MAX];
	struct stat st;
	int r = mailbox_path2(path, sizeof(path), maildir, "cur", NULL);
	if (r < 0)
		return r;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int mailbox_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Writes data into MAILDIR/tmp/NAME (a fresh unique name), fsynced, mtime = secs. */
static int mailbox_write_tmp(const char *maildir, const char *data, size_t len, int64_t secs,
			     char *name, size_t namelen, char *tmp, size_t tmplen)
{
	int fd = -1, r = 0;
	for (int attempt = 0; attempt < 4; attempt++) {
		mailbox_unique_name(name, namelen, secs, len);
		if ((r = mailbox_path2(tmp, tmplen, maildir, "tmp", name)) < 0)
			return r;
		fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return -errno;
	r = mailbox_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0) {
		struct timespec ts[2] = { { .tv_sec = (time_t)secs }, { .tv_sec = (time_t)secs } };
		(void)futimens(fd, ts);
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Links tmp into cur/ under a fresh unique name + info (the lock is held). Returns 0 with
 * final name in out, or -errno. */
static int mailbox_link_new(const char *srcpath, const char *maildir, int64_t secs, uint64_t size,
			    const char *info, char *out, size_t outlen)
{
	char name[NAME_MAX + 1], dst[PATH_MAX];
	int r = -EEXIST;
	for (int attempt = 0; attempt < 4 && r == -EEXIST; attempt++) {
		mailbox_unique_name(name, sizeof(name), secs, size);
		if (snprintf(out, outlen, "%s%s", name, info) >= (int)outlen ||
		    strlen(out) > NAME_MAX)
			return -ENAMETOOLONG;
		if ((r = mailbox_path2(dst, sizeof(dst), maildir, "cur", out)) < 0)
			return r;
		r = link(srcpath, dst) < 0 ? -errno : 0;
	}
	return r;
}

/* Unlinks the first n of the files named in paths (a failed append takes back its files). */
static void mailbox_unlink_all(char (*paths)[PATH_MAX], size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (paths[k][0])
			unlink(paths[k]);
}

int mailbox_append_many(const char *maildir, const struct mailbox_append_msg *msgs, size_t n,
			uint32_t *uidvalidity_r, uint32_t *uids_r, char *err, size_t errlen)
{
	char name[NAME_MAX + 1], final[NAME_MAX + 1], dir[PATH_MAX];
	char info[64];
	int r = mailbox_folder_exists(maildir);
	if (r < 0) {
		snprintf(err, errlen, "no such folder");
		return r;
	}
	if (n == 0)
		return -EINVAL;
	/* Every message is on disk in tmp/ before the lock is taken; then all are linked and
	 * committed by one index write, or none is. */
	char(*tmp)[PATH_MAX] = xcalloc(n, sizeof(*tmp));
	char(*dst)[PATH_MAX] = xcalloc(n, sizeof(*dst));
	for (size_t k = 0; k < n && r == 0; k++) {
		const struct mailbox_append_msg *m = &msgs[k];
		int64_t secs = m->internal_date > 0 ? (int64_t)m->internal_date
						    : (int64_t)time(NULL);
		r = mailbox_write_tmp(maildir, m->data, m->len, secs, name, sizeof(name), tmp[k],
				      sizeof(tmp[k]));
		if (r < 0) {
			tmp[k][0] = '\0';
			snprintf(err, errlen, "cannot write message: %s", strerror(-r));
		}
	}
	struct mailbox_state *s = NULL;
	if (r == 0) {
		s = mailbox_state_new(maildir, false);
		r = mailbox_state_begin(s, false);
		if (r < 0) {
			snprintf(err, errlen, "cannot lock the folder index: %s", strerror(-r));
			mailbox_state_free(s);
			s = NULL;
		}
	}
	for (size_t k = 0; k < n && r == 0; k++) {
		const struct mailbox_append_msg *m = &msgs[k];
		int64_t secs = m->internal_date > 0 ? (int64_t)m->internal_date
						    : (int64_t)time(NULL);
		uint32_t kw = 0;
		r = mailbox_state_keywords(s, m->keywords, m->nkeywords, &kw);
		if (r < 0) {
			snprintf(err, errlen,
				 r == -ENOSPC ? "too many keywords in this folder" : "bad keyword");
			break;
		}
		unsigned flags = m->flags & (MAILBOX_SEEN | MAILBOX_ANSWERED | MAILBOX_FLAGGED |
					     MAILBOX_DELETED | MAILBOX_DRAFT);
		mailbox_info_build(NULL, flags, kw, info, sizeof(info));
		r = mailbox_link_new(tmp[k], maildir, secs, m->len, info, final, sizeof(final));
		if (r < 0) {
			snprintf(err, errlen, "cannot link message into cur/: %s", strerror(-r));
			break;
		}
		mailbox_path2(dst[k], sizeof(dst[k]), maildir, "cur", final);
		if (s->idx.uidnext == UINT32_MAX) {
			r = -EOVERFLOW;
			snprintf(err, errlen, "UID space exhausted");
			break;
		}
		struct mailbox_entry e = {
			.uid = s->idx.uidnext++,
			.modseq = ++s->idx.highest_modseq,
			.size = m->len,
			.idate = secs,
			.name = xstrdup(final),
		};
		mailbox_index_push(&s->idx, &e);
		uids_r[k] = e.uid;
	}
	mailbox_unlink_all(tmp, n);
	if (r == 0) {
		mailbox_path2(dir, sizeof(dir), maildir, "cur", NULL);
		r = mailbox_state_write(s);
		if (r < 0)
			snprintf(err, errlen, "cannot commit the messages: %s", strerror(-r));
	}
	if (s)
		mailbox_state_unlock(s);
	/* cur/ is fsynced after the lock is released (issue #18: the folder lock was held for
	 * three flushes per APPEND). The reply still waits for it. A crash before it ends loses
	 * messages nobody was told were appended; their UIDs, durable in the index, are never
	 * given again, and a session that saw them sees them expunged. */
	if (r == 0 && (r = fsync_dir(dir)) < 0)
		snprintf(err, errlen, "cannot commit the messages: %s", strerror(-r));
	if (r == 0) {
		*uidvalidity_r = s->idx.uidvalidity;
		int64_t added = 0;
		for (size_t k = 0; k < n; k++)
			added += (int64_t)msgs[k].len;
		maildir_quota_update_folder(maildir, added, (int64_t)n);
	}
	if (r < 0)
		mailbox_unlink_all(dst, n); /* not reported as appended: take them back */
	mailbox_state_free(s);
	free(tmp);
	free(dst);
	return r;
}

int mailbox_append(const char *maildir, const char *data, size_t len, unsigned flags,
		   const char *const *keywords, size_t nkeywords, time_t internal_date,
		   uint32_t *uidvalidity_r, uint32_t *uid_r, char *err, size_t errlen)
{
	struct mailbox_append_msg m = { data, len, flags, keywords, nkeywords, internal_date };
	return mailbox_append_many(maildir, &m, 1, uidvalidity_r, uid_r, err, errlen);
}

/* Finds the current name of the file with the given base name in cur/ or new/ (lock-free
 * lookup after a rename by someone else). Returns 0 with the path, or -ENOENT. */
int mailbox_find_base(const char *maildir, const char *name, char *out, size_t outlen)
{
	static const char *const sub[] = { "cur", "new" };
	size_t blen = mailbox_index_base_len(name);
	int r = -ENOENT;
	for (size_t i = 0; i < 2 && r == -ENOENT; i++) {
		char dir[PATH_MAX];
		if (mailbox_path2(dir, sizeof(dir), maildir, sub[i], NULL) < 0)
			return -ENAMETOOLONG;
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (mailbox_index_base_len(de->d_name) == blen &&
			    memcmp(de->d_name, name, blen) == 0) {
				r = mailbox_path2(out, outlen, maildir, sub[i], de->d_name);
				break;
			}
		}
		closedir(d);
	}
	return r;
}

/* Copies the bytes of src into a new tmp file of maildir (when a hard link is impossible). */
static int mailbox_copy_bytes(const char *src, const char *maildir, int64_t secs, char *tmp,
			      size_t tmplen)
{
	char *data;
	size_t len;
	char name[NAME_MAX + 1];
	int r = read_file(src, (size_t)MAILBOX_INDEX_MAX_SIZE, false, &data, &len);
	if (r < 0)
		return r;
	r = mailbox_write_tmp(maildir, data, len, secs, name, sizeof(name), tmp, tmplen);
	free(data);
	return r;
}

int mailbox_copy_many(struct mailbox *src, const size_t *idxs, size_t n, const char *dst_maildir,
		      uint32_t *uidvalidity_r, uint32_t *uids_r)
{
	char final[NAME_MAX + 1], dir[PATH_MAX];
	int r = mailbox_folder_exists(dst_maildir);
	if (r < 0)
		return r;
	for (size_t k = 0; k < n; k++) {
		if (idxs[k] >= src->count)
			return -EINVAL;
	}
	struct mailbox_state *d = mailbox_state_new(dst_maildir, false);
	r = mailbox_state_begin(d, false);
	if (r < 0) {
		mailbox_state_free(d);
		return r;
	}
	char **made = xcalloc(n + 1, sizeof(*made));
	size_t nmade = 0;
	uint64_t copied = 0;
	for (size_t k = 0; r == 0 && k < n; k++) {
		const struct mailbox_msg *m = &src->msgs[idxs[k]];
		uint64_t size = mailbox_msg_size(src, idxs[k]);
		char path[PATH_MAX], info[64], tmp[PATH_MAX] = "";
		const char *names[MAILBOX_MAX_KEYWORDS];
		size_t nnames = 0;
		for (unsigned b = 0; b < MAILBOX_MAX_KEYWORDS; b++) {
			if ((m->keywords >> b) & 1 && src->keywords[b])
				names[nnames++] = src->keywords[b];
		}
		uint32_t kw;
		if ((r = mailbox_state_keywords(d, names, nnames, &kw)) < 0)
			break;
		if ((r = mailbox_msg_path(src, idxs[k], path, sizeof(path))) < 0)
			break;
		for (int attempt = 0; attempt < 3; attempt++) {
			unsigned fl;
			uint32_t skw;
			const char *slash = strrchr(path, '/');
			mailbox_name_flags(slash ? slash + 1 : path, &fl, &skw);
			mailbox_info_build(NULL, fl, kw, info, sizeof(info));
			r = mailbox_link_new(path, dst_maildir, (int64_t)m->internal_date, size,
					     info, final, sizeof(final));
			if (r == -EXDEV || r == -EPERM || r == -EMLINK) {
				r = mailbox_copy_bytes(path, dst_maildir, (int64_t)m->internal_date,
						       tmp, sizeof(tmp));
				if (r == 0)
					r = mailbox_link_new(tmp, dst_maildir,
							     (int64_t)m->internal_date, size, info,
							     final, sizeof(final));
				if (tmp[0])
					unlink(tmp);
			}
			if (r != -ENOENT)
				break;
			/* Renamed (flags changed) by someone else: find its current name. */
			if (mailbox_find_base(src->path, m->filename, path, sizeof(path)) < 0)
				break;
		}
		if (r < 0)
			break;
		if (d->idx.uidnext == UINT32_MAX) {
			r = -EOVERFLOW;
			break;
		}
		mailbox_path2(path, sizeof(path), dst_maildir, "cur", final);
		made[nmade++] = xstrdup(path);
		copied += size;
		struct mailbox_entry e = {
			.uid = d->idx.uidnext++,
			.modseq = ++d->idx.highest_modseq,
			.size = size,
			.idate = (int64_t)m->internal_date,
			.name = xstrdup(final),
		};
		mailbox_index_push(&d->idx, &e);
		if (uids_r)
			uids_r[k] = e.uid;
	}
	if (r == 0 && n > 0) {
		mailbox_path2(dir, sizeof(dir), dst_maildir, "cur", NULL);
		r = fsync_dir(dir);
		if (r == 0)
			r = mailbox_state_write(d);
	}
	if (r < 0) {
		/* All or nothing: files not in the index are taken back. */
		for (size_t k = 0; k < nmade; k++)
			unlink(made[k]);
	} else {
		if (uidvalidity_r)
			*uidvalidity_r = d->idx.uidvalidity;
		maildir_quota_update_folder(dst_maildir, (int64_t)copied, (int64_t)nmade);
	}
	for (size_t k = 0; k < nmade; k++)
		free(made[k]);
	free(made);
	mailbox_state_unlock(d);
	mailbox_state_free(d);
	return r;
}

int mailbox_copy(struct mailbox *src, size_t i, const char *dst_maildir, uint32_t *uidvalidity_r,
		 uint32_t *uid_r)
{
	return mailbox_copy_many(src, &i, 1, dst_maildir, uidvalidity_r, uid_r);
}

int mailbox_status(const char *maildir, bool want_size, struct mailbox_status *st_r)
{
	memset(st_r, 0, sizeof(*st_r));
	int r = mailbox_folder_exists(maildir);
	if (r < 0)
		return r;
	struct mailbox_state *s = mailbox_state_new(maildir, false);
	r = mailbox_state_begin(s, true);
	if (r == 0) {
		bool learnt = false;
		st_r->messages = (uint32_t)s->idx.n;
		st_r->uidnext = s->idx.uidnext;
		st_r->uidvalidity = s->idx.uidvalidity;
		st_r->highest_modseq = s->idx.highest_modseq;
		for (size_t i = 0; i < s->idx.n; i++) {
			if (s->idx.recent_uid && s->idx.e[i].uid >= s->idx.recent_uid)
				st_r->recent++;
			unsigned fl;
			uint32_t kw;
			mailbox_name_flags(s->idx.e[i].name, &fl, &kw);
			if (!(fl & MAILBOX_SEEN))
				st_r->unseen++;
			if (!want_size)
				continue;
			if (s->idx.e[i].size == MAILBOX_SIZE_UNKNOWN)
				mailbox_index_own(&s->idx); /* about to learn it */
			struct mailbox_entry *e = &s->idx.e[i];
			if (e->size == MAILBOX_SIZE_UNKNOWN &&
			    mailbox_stat_size(s->path, e->in_new, e->name, &e->size) == 0)
				learnt = true;
			if (e->size != MAILBOX_SIZE_UNKNOWN)
				st_r->size += e->size;
		}
		/* Sizes learnt here are kept (the lock is still held). */
		if (learnt)
			r = mailbox_state_write(s);
		mailbox_state_unlock(s);
	}
	mailbox_state_free(s);
	return r;
}
