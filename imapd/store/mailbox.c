/* mailbox.c - one Maildir folder's state (its UID index as this process last read or wrote it): open, close, lock, load, refresh, write, sync. */
/*
 * Every operation that reads and changes the index does so under the folder's flock (see
 * mailbox_index.c for the file format and docs/imap-store.md for the whole scheme). A
 * "state" is the index as this process last read or wrote it; a "view" (struct mailbox's
 * msgs) is what the IMAP client was last told, and only mailbox_sync/mailbox_expunge move
 * the view forward, reporting the differences. The rest of a folder, one concern a file:
 * mailbox_scan.c (new/ and cur/ reconciled with the index), mailbox_shared.c (the parsed
 * indexes shared by this process's sessions), mailbox_views.c (what the client was told),
 * mailbox_store.c, mailbox_expunge.c, mailbox_append.c (APPEND, COPY, STATUS); their shared
 * declarations are in mailbox_internal.h.
 */
#include "fileutil.h"
#include "mailbox_internal.h"
#include "mailbox_cache.h"
#include "store.h"
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAILBOX_SCAN_RETRIES    8
#define MAILBOX_INDEX_MAX_BYTES ((size_t)2 << 30)

/* ---- small helpers ---- */

int mailbox_path2(char *out, size_t outlen, const char *dir, const char *sub, const char *name)
{
	int n = name ? snprintf(out, outlen, "%s/%s/%s", dir, sub, name)
		     : snprintf(out, outlen, "%s/%s", dir, sub);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static void mailbox_fileid_get(const char *path, struct mailbox_fileid *id)
{
	struct stat st;
	memset(id, 0, sizeof(*id));
	if (stat(path, &st) < 0)
		return;
	id->exists = true;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtim = st.st_mtim;
}

bool mailbox_fileid_eq(const struct mailbox_fileid *a, const struct mailbox_fileid *b)
{
	if (a->exists != b->exists)
		return false;
	if (!a->exists)
		return true;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec;
}

/* The current mtime stamp of MAILDIR/sub; 0/0 when the directory changed so recently that a
 * later change could carry the same mtime (coarse file system clocks): then it is not
 * trusted and the next sync scans again. Returns 0 or -errno; on an error *st_r is 0/0 and
 * *racy_r true (nothing to trust), so the outputs are defined on every path. */
int mailbox_dir_stamp(const char *maildir, const char *sub, struct mailbox_stamp *st_r,
		      bool *racy_r)
{
	char path[PATH_MAX];
	struct stat st;
	*st_r = (struct mailbox_stamp){ 0, 0 };
	if (racy_r)
		*racy_r = true;
	int r = mailbox_path2(path, sizeof(path), maildir, sub, NULL);
	if (r < 0)
		return r;
	if (stat(path, &st) < 0)
		return -errno;
	st_r->sec = st.st_mtim.tv_sec;
	st_r->nsec = st.st_mtim.tv_nsec;
	if (racy_r)
		*racy_r = st.st_mtim.tv_sec >= time(NULL) - 1;
	return 0;
}

bool mailbox_stamp_eq(const struct mailbox_stamp *a, const struct mailbox_stamp *b)
{
	return a->sec == b->sec && a->nsec == b->nsec;
}

static uint32_t mailbox_new_uidvalidity(uint32_t known)
{
	time_t now = time(NULL);
	uint32_t v = now > 0 && (uint64_t)now < UINT32_MAX ? (uint32_t)now : 1;
	if (known != 0 && known < UINT32_MAX && v <= known)
		v = known + 1;
	return v;
}

/* The account directory of a folder path: INBOX is the account directory itself, folder
 * "A/B" is ACCOUNT/.A.B (Maildir++). */
static void mailbox_account_dir(const char *folder, char *out, size_t outlen)
{
	const char *slash = strrchr(folder, '/');
	if (slash && slash[1] == '.' && slash > folder)
		snprintf(out, outlen, "%.*s", (int)(slash - folder), folder);
	else
		snprintf(out, outlen, "%s", folder);
}

/* A new UIDVALIDITY for a folder of the account that holds folder: strictly greater than
 * every value handed out in the account before (MAILBOX_UIDVALIDITY_FILE, flocked, synced
 * before the value is used), so a folder deleted and created again under the same name,
 * even within one second, never gets its old value back (RFC 3501 2.3.1.1). */
static uint32_t mailbox_account_uidvalidity(const char *folder, uint32_t v)
{
	char acct[PATH_MAX], path[PATH_MAX];
	mailbox_account_dir(folder, acct, sizeof(acct));
	if (snprintf(path, sizeof(path), "%s/" MAILBOX_UIDVALIDITY_FILE, acct) >= (int)sizeof(path))
		return v;
	struct stat st;
	bool existed = stat(path, &st) == 0;
	int fd = mailbox_lock_path(path);
	if (fd < 0)
		return v; /* the folder's own hints still keep v above its previous value */
	uint32_t high = mailbox_lock_hint_read(fd);
	if (high != 0 && high < UINT32_MAX && v <= high)
		v = high + 1;
	mailbox_lock_hint_write(fd, v);
	if (fsync(fd) == 0 && !existed)
		fsync_dir(acct);
	mailbox_unlock(fd);
	return v;
}

uint32_t mailbox_kw_mask(char *const kw[MAILBOX_MAX_KEYWORDS])
{
	uint32_t m = 0;
	for (unsigned i = 0; i < MAILBOX_MAX_KEYWORDS; i++) {
		if (kw[i])
			m |= (uint32_t)1 << i;
	}
	return m;
}

/* ---- state: load, refresh, write (the scan is in mailbox_scan.c) ---- */

struct mailbox_state *mailbox_state_new(const char *path, bool readonly)
{
	struct mailbox_state *s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	s->lockfd = -1;
	s->readonly = readonly;
	mailbox_index_init(&s->idx);
	return s;
}

void mailbox_state_free(struct mailbox_state *s)
{
	if (!s)
		return;
	mailbox_unlock(s->lockfd);
	mailbox_cache_free(s->cache);
	mailbox_index_free(&s->idx);
	mailbox_names_unref(s->view_names);
	mailbox_frozen_unref(s->view_frozen);
	free(s->learnt);
	for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++)
		free(s->kw[i]);
	free(s->path);
	free(s);
}

int mailbox_state_lock(struct mailbox_state *s)
{
	int fd = mailbox_lock(s->path);
	if (fd < 0)
		return fd;
	s->lockfd = fd;
	uint32_t hint = mailbox_lock_hint_read(fd);
	if (hint > s->known_uidvalidity)
		s->known_uidvalidity = hint;
	return 0;
}

void mailbox_state_unlock(struct mailbox_state *s)
{
	mailbox_unlock(s->lockfd);
	s->lockfd = -1;
}

/* Rereads the keyword list when it changed. */
static void mailbox_state_load_keywords(struct mailbox_state *s)
{
	char path[PATH_MAX];
	struct mailbox_fileid id;
	if (mailbox_path2(path, sizeof(path), s->path, MAILBOX_KEYWORDS_FILE, NULL) < 0)
		return;
	mailbox_fileid_get(path, &id);
	if (s->loaded && mailbox_fileid_eq(&id, &s->kw_id))
		return;
	char *data = NULL;
	size_t len = 0;
	char *names[MAILBOX_MAX_KEYWORDS];
	if (id.exists && read_file(path, 1 << 16, false, &data, &len) == 0) {
		size_t n = mailbox_keywords_parse(data, len, names);
		free(data);
		/* The list only grows: a name we know keeps its letter. */
		for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++) {
			if (names[i] && !s->kw[i]) {
				s->kw[i] = names[i];
			} else {
				free(names[i]);
			}
		}
		if (n > s->nkw)
			s->nkw = n;
	}
	s->kw_id = id;
}

/* Reads the index when it changed since we last read or wrote it (lock held). A missing or
 * corrupt index marks the state for rebuild. */
int mailbox_state_load(struct mailbox_state *s)
{
	char path[PATH_MAX];
	struct mailbox_fileid id;
	int r = mailbox_path2(path, sizeof(path), s->path, MAILBOX_INDEX_FILE, NULL);
	if (r < 0)
		return r;
	mailbox_state_load_keywords(s);
	mailbox_fileid_get(path, &id);
	if (s->loaded && !s->rebuild && mailbox_fileid_eq(&id, &s->index_id))
		return 0;
	if (s->idx.uidvalidity > s->known_uidvalidity)
		s->known_uidvalidity = s->idx.uidvalidity;
	mailbox_index_free(&s->idx);
	s->view_stale = true;
	s->loaded = true;
	s->rebuild = true;
	s->index_id = id;
	if (!id.exists)
		return 0;
	if (mailbox_snapshot_get(s->path, path, &id, &s->idx)) {
		s->rebuild = false;
		s->durable_uidvalidity = s->idx.uidvalidity;
		s->durable_uidnext = s->idx.uidnext;
		return 0;
	}
	char *data;
	size_t len;
	r = read_file(path, MAILBOX_INDEX_MAX_BYTES, false, &data, &len);
	if (r < 0)
		return r == -ENOENT || r == -EFBIG ? 0 : r;
	char err[128];
	r = mailbox_index_parse(data, len, &s->idx, err, sizeof(err));
	if (r == 0) {
		s->rebuild = false;
		s->durable_uidvalidity = s->idx.uidvalidity;
		s->durable_uidnext = s->idx.uidnext;
		mailbox_snapshot_put(s->path, &id, data, len, &s->idx);
	}
	free(data);
	if (r != 0) {
		if (s->idx.uidvalidity > s->known_uidvalidity)
			s->known_uidvalidity = s->idx.uidvalidity;
		mailbox_index_free(&s->idx);
	}
	return 0;
}

/* The index is fsynced (file and directory) only when it gives out UIDs or a new UIDVALIDITY:
 * promises to clients that must survive an OS crash. A write that only records flags,
 * modseqs, expunges, \Recent claims or sizes is not (the Maildir's file names are their truth;
 * after a crash the previous index comes back and the next sync finds the renames again), as
 * Dovecot does not fsync its index for them. Under the stress of many sessions on one folder
 * the two fsyncs, made while the folder lock is held, were what limited throughput
 * (docs/imap-store.md, "Crash safety"). */
int mailbox_state_write(struct mailbox_state *s)
{
	struct buf b;
	char path[PATH_MAX];
	buf_init(&b);
	mailbox_index_format(&s->idx, &b);
	bool durable = s->idx.uidvalidity != s->durable_uidvalidity ||
		       s->idx.uidnext != s->durable_uidnext;
	int r = mailbox_file_replace_sync(s->path, MAILBOX_INDEX_TMP, MAILBOX_INDEX_FILE, b.data,
					  b.len, durable);
	if (r == 0 && durable) {
		s->durable_uidvalidity = s->idx.uidvalidity;
		s->durable_uidnext = s->idx.uidnext;
	}
	if (r == 0 && mailbox_path2(path, sizeof(path), s->path, MAILBOX_INDEX_FILE, NULL) == 0) {
		mailbox_fileid_get(path, &s->index_id);
		mailbox_snapshot_put(s->path, &s->index_id, b.data, b.len, &s->idx);
	}
	buf_free(&b);
	return r;
}

static int mailbox_state_write_keywords(struct mailbox_state *s)
{
	struct buf b;
	char path[PATH_MAX];
	buf_init(&b);
	mailbox_keywords_format(s->kw, s->nkw, &b);
	int r = mailbox_file_replace(s->path, MAILBOX_KEYWORDS_TMP, MAILBOX_KEYWORDS_FILE,
				     b.data ? b.data : "", b.len);
	buf_free(&b);
	if (r == 0 && mailbox_path2(path, sizeof(path), s->path, MAILBOX_KEYWORDS_FILE, NULL) == 0)
		mailbox_fileid_get(path, &s->kw_id);
	return r;
}

/* Keyword names -> bit mask, adding unknown names to the list (written at once). Returns 0,
 * or -ENOSPC when the 26 letters are used up, -EINVAL for a bad name. */
int mailbox_state_keywords(struct mailbox_state *s, const char *const *names, size_t n,
			   uint32_t *mask_r)
{
	bool added = false;
	*mask_r = 0;
	for (size_t i = 0; i < n; i++) {
		if (!mailbox_keyword_name_ok(names[i]))
			return -EINVAL;
		size_t j;
		for (j = 0; j < MAILBOX_MAX_KEYWORDS; j++) {
			if (s->kw[j] && strcasecmp(s->kw[j], names[i]) == 0)
				break;
		}
		if (j == MAILBOX_MAX_KEYWORDS) {
			for (j = 0; j < MAILBOX_MAX_KEYWORDS && s->kw[j]; j++)
				;
			if (j == MAILBOX_MAX_KEYWORDS)
				return -ENOSPC;
			s->kw[j] = xstrdup(names[i]);
			if (j + 1 > s->nkw)
				s->nkw = j + 1;
			added = true;
		}
		*mask_r |= (uint32_t)1 << j;
	}
	return added ? mailbox_state_write_keywords(s) : 0;
}

long mailbox_state_find(const struct mailbox_state *s, uint32_t uid)
{
	size_t lo = 0, hi = s->idx.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->idx.e[mid].uid == uid)
			return (long)mid;
		if (s->idx.e[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Starts a new index (new UIDVALIDITY) to be filled by a scan. */
static void mailbox_state_reset(struct mailbox_state *s)
{
	mailbox_index_free(&s->idx);
	s->idx.uidvalidity = mailbox_account_uidvalidity(
		s->path, mailbox_new_uidvalidity(s->known_uidvalidity));
	s->known_uidvalidity = s->idx.uidvalidity;
	s->idx.uidnext = 1;
	s->idx.recent_uid = 1;
	s->idx.highest_modseq = 1;
	s->rebuild = false;
	mailbox_lock_hint_write(s->lockfd, s->idx.uidvalidity);
}

/* A read-write view claims the messages no session has seen as \Recent yet (lock held), then
 * writes the index when anything changed. */
static int mailbox_state_claim_and_write(struct mailbox_state *s, bool changed)
{
	/* Sizes learnt since the last write go into the index (the file may have been
	 * reread meanwhile, so by UID). */
	for (size_t k = 0; k < s->nlearnt; k++) {
		long j = mailbox_state_find(s, s->learnt[k].uid);
		if (j >= 0 && s->idx.e[j].size == MAILBOX_SIZE_UNKNOWN) {
			mailbox_index_own(&s->idx);
			s->idx.e[j].size = s->learnt[k].size;
			changed = true;
		}
	}
	s->nlearnt = 0;
	if (s->claims_recent && s->idx.recent_uid && s->idx.recent_uid < s->idx.uidnext) {
		if (!s->claim_hi)
			s->claim_lo = s->idx.recent_uid;
		s->claim_hi = s->idx.uidnext;
		s->idx.recent_uid = s->idx.uidnext;
		s->view_stale = true;
		changed = true;
	}
	return changed ? mailbox_state_write(s) : 0;
}

/* Brings the state up to date with the disk (lock held): reads the index, scans the
 * directories when their mtimes differ from the index's stamps (or force), rebuilds a
 * missing or corrupt index, and writes the index when anything changed. */
int mailbox_state_refresh(struct mailbox_state *s, bool force)
{
	int r = mailbox_state_load(s);
	if (r < 0)
		return r;
	bool changed = false;
	if (!s->rebuild && !force) {
		struct mailbox_stamp ns, cs;
		if ((r = mailbox_dir_stamp(s->path, "new", &ns, NULL)) < 0 ||
		    (r = mailbox_dir_stamp(s->path, "cur", &cs, NULL)) < 0)
			return r;
		if (s->idx.new_stamp.sec != 0 && s->idx.cur_stamp.sec != 0 &&
		    mailbox_stamp_eq(&ns, &s->idx.new_stamp) &&
		    mailbox_stamp_eq(&cs, &s->idx.cur_stamp))
			return mailbox_state_claim_and_write(s, false);
	}
	s->view_stale = true;
	for (int attempt = 0; attempt < MAILBOX_SCAN_RETRIES; attempt++) {
		bool retry = false;
		if (s->rebuild) {
			mailbox_state_reset(s);
			changed = true;
		}
		r = mailbox_state_scan_once(s, &changed, &retry);
		if (r < 0)
			return r;
		if (!retry)
			break;
	}
	return mailbox_state_claim_and_write(s, changed);
}

/* Lock + refresh for the one-shot operations (append, copy, status) on a folder that may
 * not be open. Returns 0 (locked) or -errno (unlocked). */
int mailbox_state_begin(struct mailbox_state *s, bool scan)
{
	int r = mailbox_state_lock(s);
	if (r < 0)
		return r;
	r = scan ? mailbox_state_refresh(s, false) : mailbox_state_load(s);
	if (r == 0 && s->rebuild)
		r = mailbox_state_refresh(s, true);
	if (r < 0)
		mailbox_state_unlock(s);
	return r;
}

/* ---- open, close, sync ---- */

int mailbox_open(const char *maildir, bool readonly, struct mailbox **mb_r, char *err,
		 size_t errlen)
{
	struct stat st;
	*mb_r = NULL;
	if (!maildir || !*maildir) {
		snprintf(err, errlen, "empty folder path");
		return -EINVAL;
	}
	if (stat(maildir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		int r = errno ? -errno : -ENOTDIR;
		snprintf(err, errlen, "%s: %s", maildir, strerror(-r));
		return r;
	}
	int r = store_maildir_create(maildir);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot create cur/ new/ tmp/: %s", maildir,
			 strerror(-r));
		return r;
	}
	struct mailbox *mb = xcalloc(1, sizeof(*mb));
	mb->path = xstrdup(maildir);
	mb->readonly = readonly;
	struct mailbox_state *s = mailbox_state_new(maildir, readonly);
	s->claims_recent = !readonly;
	mb->priv = s;
	r = mailbox_state_lock(s);
	if (r == 0) {
		r = mailbox_state_refresh(s, false);
		if (r == 0)
			mailbox_view_update(mb, s, NULL);
		mailbox_state_unlock(s);
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", maildir, strerror(-r));
		mailbox_close(&mb);
		return r;
	}
	*mb_r = mb;
	return 0;
}

void mailbox_close(struct mailbox **mbp)
{
	struct mailbox *mb = *mbp;
	if (!mb)
		return;
	struct mailbox_state *s = mb->priv;
	if (s) {
		mailbox_view_release(mb->msgs, mb->count, s->view_names, s->view_frozen);
		s->view_frozen = NULL;
	} else {
		free(mailbox_msgs_of(mb->msgs));
	}
	mailbox_state_free(s);
	for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++)
		free(mb->keywords[i]);
	free(mb->path);
	free(mb);
	*mbp = NULL;
}

/* Nothing changed since our last look: the index file is the one we last read or wrote, the
 * keyword list too, and the directories still carry the index's stamps. A few stat calls. */
static bool mailbox_unchanged(struct mailbox *mb, struct mailbox_state *s)
{
	char path[PATH_MAX];
	struct mailbox_fileid id;
	struct mailbox_stamp ns, cs;
	if (!s->loaded || s->rebuild || s->view_stale || s->nlearnt || s->idx.new_stamp.sec == 0 ||
	    s->idx.cur_stamp.sec == 0 || mb->uidvalidity != s->idx.uidvalidity ||
	    mb->count != s->idx.n)
		return false;
	if (mailbox_path2(path, sizeof(path), s->path, MAILBOX_INDEX_FILE, NULL) < 0)
		return false;
	mailbox_fileid_get(path, &id);
	if (!mailbox_fileid_eq(&id, &s->index_id))
		return false;
	if (mailbox_path2(path, sizeof(path), s->path, MAILBOX_KEYWORDS_FILE, NULL) < 0)
		return false;
	mailbox_fileid_get(path, &id);
	if (!mailbox_fileid_eq(&id, &s->kw_id))
		return false;
	if (mailbox_dir_stamp(s->path, "new", &ns, NULL) < 0 ||
	    mailbox_dir_stamp(s->path, "cur", &cs, NULL) < 0)
		return false;
	return mailbox_stamp_eq(&ns, &s->idx.new_stamp) && mailbox_stamp_eq(&cs, &s->idx.cur_stamp);
}

/* Whether a view update would report an expunge: a message of the view is not in the state. */
static bool mailbox_would_expunge(const struct mailbox *mb, const struct mailbox_state *s)
{
	if (mb->uidvalidity != s->idx.uidvalidity)
		return true;
	size_t j = 0;
	for (size_t i = 0; i < mb->count; i++) {
		while (j < s->idx.n && s->idx.e[j].uid < mb->msgs[i].uid)
			j++;
		if (j == s->idx.n || s->idx.e[j].uid != mb->msgs[i].uid)
			return true;
	}
	return false;
}

static int mailbox_sync_ex(struct mailbox *mb, struct mailbox_changes *ch_r, bool hold_expunges)
{
	struct mailbox_state *s = mb->priv;
	if (ch_r)
		memset(ch_r, 0, sizeof(*ch_r));
	mailbox_cache_flush(s->cache);
	if (mailbox_unchanged(mb, s))
		return 0;
	int r = mailbox_state_lock(s);
	if (r < 0)
		return r;
	r = mailbox_state_refresh(s, false);
	if (r == 0 && hold_expunges && mailbox_would_expunge(mb, s)) {
		s->view_stale = true; /* the next sync applies it */
		r = 1;
	} else if (r == 0) {
		mailbox_view_update(mb, s, ch_r);
	}
	mailbox_state_unlock(s);
	return r;
}

int mailbox_sync(struct mailbox *mb, struct mailbox_changes *ch_r)
{
	return mailbox_sync_ex(mb, ch_r, false);
}

int mailbox_sync_hold_expunges(struct mailbox *mb, struct mailbox_changes *ch_r)
{
	return mailbox_sync_ex(mb, ch_r, true);
}
