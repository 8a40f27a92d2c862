/* mailbox.c - one Maildir folder as IMAP sees it: sync of the directories with the UID index, views, STORE, EXPUNGE, APPEND, COPY, STATUS.
 *
 * Every operation that reads and changes the index does so under the folder's flock (see
 * mailbox_index.c for the file format and docs/imap-store.md for the whole scheme). A
 * "state" is the index as this process last read or wrote it; a "view" (struct mailbox's
 * msgs) is what the IMAP client was last told, and only mailbox_sync/mailbox_expunge move
 * the view forward, reporting the differences.
 */
#include "mailbox.h"
#include "mailbox_cache.h"
#include "mailbox_index.h"
#include "store.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* Identity of a file as of our last read/write: any rename, write or replacement shows. */
struct mailbox_fileid {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
};

/* The index state of one folder as this process last saw it on disk. */
struct mailbox_state {
	char *path;
	int lockfd;		/* >= 0 while locked */
	bool readonly;		/* no moves new/ -> cur/ */
	bool loaded;
	bool rebuild;		/* index missing or corrupt: rebuild on the next refresh */
	bool view_stale;	/* the state learnt something the open view has not seen */
	uint32_t known_uidvalidity;	/* highest UIDVALIDITY ever seen for this folder */
	struct mailbox_index idx;
	struct mailbox_fileid index_id, kw_id;
	char *kw[MAILBOX_MAX_KEYWORDS];
	size_t nkw;
	bool claims_recent;	/* a read-write view: claims new UIDs as \Recent */
	uint32_t claim_lo, claim_hi;	/* UIDs claimed as \Recent, not yet in the view */
	struct mailbox_cache *cache;	/* header cache, made on first use */
	struct mailbox_names *view_names;	/* the names block the view's file names may
						 * point into (a reference) */
	struct mailbox_frozen *view_frozen;	/* non-NULL: the view's messages are this
						 * frozen index's published ones (read-only,
						 * shared; a reference) */
	struct mailbox_learnt *learnt;	/* sizes learnt by mailbox_msg_size, for the index */
	size_t nlearnt, learnt_cap;
};

/* A size the index did not know, learnt from the file. */
struct mailbox_learnt {
	uint32_t uid;
	uint64_t size;
};

/* An entry found in cur/ or new/. */
struct mailbox_dirent {
	char *name;
	bool in_new;
	int64_t secs;	/* leading digits of the name (arrival time), -1 if none */
};

#define MAILBOX_SCAN_RETRIES 8
#define MAILBOX_INDEX_MAX_BYTES ((size_t)2 << 30)

/* ---- small helpers ---- */

static int mailbox_path2(char *out, size_t outlen, const char *dir, const char *sub,
			 const char *name)
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

static bool mailbox_fileid_eq(const struct mailbox_fileid *a, const struct mailbox_fileid *b)
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
static int mailbox_dir_stamp(const char *maildir, const char *sub, struct mailbox_stamp *st_r,
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

static bool mailbox_stamp_eq(const struct mailbox_stamp *a, const struct mailbox_stamp *b)
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

/* Leading decimal digits followed by '.', as arrival time; -1 when absent. */
static int64_t mailbox_name_secs(const char *name)
{
	int64_t v = 0;
	const char *p = name;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > MAILBOX_INDEX_MAX_DATE)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return p == name || *p != '.' ? -1 : v;
}

static uint32_t mailbox_kw_mask(char *const kw[MAILBOX_MAX_KEYWORDS])
{
	uint32_t m = 0;
	for (unsigned i = 0; i < MAILBOX_MAX_KEYWORDS; i++) {
		if (kw[i])
			m |= (uint32_t)1 << i;
	}
	return m;
}

static int mailbox_find_base(const char *maildir, const char *name, char *out, size_t outlen);

/* ---- the parsed indexes this process last read or wrote, shared by its sessions ----
 *
 * imapd is one process serving every session, so a SELECT of a folder another session read a
 * moment ago would parse the same index file again. Instead the parsed index is kept here,
 * keyed by folder path and valid while the index file's identity (device, inode, size,
 * mtime) is the one it was read from or written as: every writer replaces the file
 * (write-then-rename under the folder lock), so any change by any process shows as a new
 * identity, and the directory stamps in the index still catch deliveries. The file's header
 * line (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, COUNT, stamps, RECENTUID) must match as well,
 * so even a reused inode with the same size and a coarse mtime in the same clock tick is
 * not taken for the old file. The snapshot's entries are frozen: a state shares them and
 * copies them only before it changes one (mailbox_index_own), and a view of them may be
 * published for every session to share (mailbox_view_update). */

#define MAILBOX_SNAPSHOT_HEAD 192	/* room for the index's header line */

struct mailbox_snapshot {
	char *path;
	struct mailbox_fileid id;
	char head[MAILBOX_SNAPSHOT_HEAD];	/* the file's first line, '\n' included */
	size_t headlen;
	struct mailbox_index idx;	/* frozen (every name inside idx.names) */
	uint64_t used;			/* last use, for replacing the least recent */
};

#define MAILBOX_SNAPSHOTS 8		/* folders remembered at once */
#define MAILBOX_SNAPSHOT_MIN 256	/* smaller folders parse fast enough */

static pthread_mutex_t mailbox_snapshots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mailbox_snapshot mailbox_snapshots[MAILBOX_SNAPSHOTS];
static uint64_t mailbox_snapshots_clock;

/* Length of the first line of an index image (with its '\n'), 0 if it does not fit. */
static size_t mailbox_snapshot_head_len(const char *data, size_t len)
{
	const char *nl = memchr(data, '\n', len < MAILBOX_SNAPSHOT_HEAD ? len : MAILBOX_SNAPSHOT_HEAD);
	return nl ? (size_t)(nl - data) + 1 : 0;
}

/* The snapshot of path with file identity id and header line head, or NULL (lock held). */
static struct mailbox_snapshot *mailbox_snapshot_find(const char *path,
						      const struct mailbox_fileid *id,
						      const char *head, size_t headlen)
{
	for (size_t i = 0; i < MAILBOX_SNAPSHOTS; i++) {
		struct mailbox_snapshot *sn = &mailbox_snapshots[i];
		if (sn->path && strcmp(sn->path, path) == 0 && mailbox_fileid_eq(&sn->id, id) &&
		    (!head || (sn->headlen == headlen && memcmp(sn->head, head, headlen) == 0)))
			return sn;
	}
	return NULL;
}

/* Copies the index remembered for folder path, index file file with identity id, into idx_r
 * (folder lock held, so the file cannot change meanwhile). Returns true on a hit. */
static bool mailbox_snapshot_get(const char *path, const char *file,
				 const struct mailbox_fileid *id, struct mailbox_index *idx_r)
{
	pthread_mutex_lock(&mailbox_snapshots_lock);
	bool candidate = mailbox_snapshot_find(path, id, NULL, 0) != NULL;
	pthread_mutex_unlock(&mailbox_snapshots_lock);
	if (!candidate)
		return false;
	char head[MAILBOX_SNAPSHOT_HEAD];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = pread(fd, head, sizeof(head), 0);
	close(fd);
	size_t headlen = n > 0 ? mailbox_snapshot_head_len(head, (size_t)n) : 0;
	if (headlen == 0)
		return false;
	pthread_mutex_lock(&mailbox_snapshots_lock);
	struct mailbox_snapshot *sn = mailbox_snapshot_find(path, id, head, headlen);
	if (sn) {
		mailbox_index_share(idx_r, &sn->idx);
		sn->used = ++mailbox_snapshots_clock;
	}
	pthread_mutex_unlock(&mailbox_snapshots_lock);
	return sn != NULL;
}

/* Remembers idx as the content of path's index file id whose image begins with data: idx's
 * entries are frozen (its names packed first when some lie outside the block), and the
 * snapshot shares them. */
static void mailbox_snapshot_put(const char *path, const struct mailbox_fileid *id,
				 const char *data, size_t len, struct mailbox_index *idx)
{
	size_t headlen = mailbox_snapshot_head_len(data, len);
	if (!id->exists || idx->n < MAILBOX_SNAPSHOT_MIN || headlen == 0)
		return;
	mailbox_index_freeze(idx);
	struct mailbox_index copy;
	mailbox_index_share(&copy, idx);
	pthread_mutex_lock(&mailbox_snapshots_lock);
	struct mailbox_snapshot *slot = NULL;
	for (size_t i = 0; i < MAILBOX_SNAPSHOTS; i++) {
		struct mailbox_snapshot *sn = &mailbox_snapshots[i];
		if (sn->path && strcmp(sn->path, path) == 0) {
			slot = sn;
			break;
		}
		if (!slot || (slot->path && (!sn->path || sn->used < slot->used)))
			slot = sn;
	}
	struct mailbox_index old = slot->idx;
	char *old_path = slot->path;
	slot->path = old_path && strcmp(old_path, path) == 0 ? old_path : xstrdup(path);
	if (slot->path != old_path)
		free(old_path);
	slot->id = *id;
	memcpy(slot->head, data, headlen);
	slot->headlen = headlen;
	slot->idx = copy;
	slot->used = ++mailbox_snapshots_clock;
	pthread_mutex_unlock(&mailbox_snapshots_lock);
	mailbox_index_free(&old);
}

/* ---- state: load, scan, write ---- */

static struct mailbox_state *mailbox_state_new(const char *path, bool readonly)
{
	struct mailbox_state *s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	s->lockfd = -1;
	s->readonly = readonly;
	mailbox_index_init(&s->idx);
	return s;
}

static void mailbox_state_free(struct mailbox_state *s)
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

static int mailbox_state_lock(struct mailbox_state *s)
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

static void mailbox_state_unlock(struct mailbox_state *s)
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
	if (id.exists && mailbox_file_read(path, 1 << 16, &data, &len) == 0) {
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
static int mailbox_state_load(struct mailbox_state *s)
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
		return 0;
	}
	char *data;
	size_t len;
	r = mailbox_file_read(path, MAILBOX_INDEX_MAX_BYTES, &data, &len);
	if (r < 0)
		return r == -ENOENT || r == -EFBIG ? 0 : r;
	char err[128];
	r = mailbox_index_parse(data, len, &s->idx, err, sizeof(err));
	if (r == 0) {
		s->rebuild = false;
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

static int mailbox_state_write(struct mailbox_state *s)
{
	struct buf b;
	char path[PATH_MAX];
	buf_init(&b);
	mailbox_index_format(&s->idx, &b);
	int r = mailbox_file_replace(s->path, MAILBOX_INDEX_TMP, MAILBOX_INDEX_FILE, b.data, b.len);
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
static int mailbox_state_keywords(struct mailbox_state *s, const char *const *names, size_t n,
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

static long mailbox_state_find(const struct mailbox_state *s, uint32_t uid)
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

/* Reads the entries of MAILDIR/sub into *v. */
static int mailbox_readdir(const char *maildir, const char *sub, bool in_new,
			   struct mailbox_dirent **v, size_t *n, size_t *cap)
{
	char path[PATH_MAX];
	int r = mailbox_path2(path, sizeof(path), maildir, sub, NULL);
	if (r < 0)
		return r;
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (!mailbox_index_name_ok(de->d_name, len) ||
		    mailbox_index_base_len(de->d_name) == 0)
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*v = xrealloc(*v, *cap * sizeof(**v));
		}
		(*v)[*n].name = xstrdup(de->d_name);
		(*v)[*n].in_new = in_new;
		(*v)[*n].secs = mailbox_name_secs(de->d_name);
		(*n)++;
		errno = 0;
	}
	r = errno ? -errno : 0;
	closedir(d);
	return r;
}

static int mailbox_dirent_cmp(const void *a, const void *b)
{
	const struct mailbox_dirent *x = a, *y = b;
	if (x->secs != y->secs)
		return x->secs < y->secs ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Open-addressing hash of base names -> slot numbers (entries of the index, then files). */
struct mailbox_hash {
	size_t mask;
	long *slot;	/* -1 empty */
};

static uint64_t mailbox_hash_str(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void mailbox_hash_init(struct mailbox_hash *h, size_t n)
{
	size_t size = 64;
	while (size < n * 2)
		size *= 2;
	h->mask = size - 1;
	h->slot = xmalloc(size * sizeof(*h->slot));
	for (size_t i = 0; i < size; i++)
		h->slot[i] = -1;
}

/* Finds the slot for base name (s, len); names(k) gives the name stored under value k.
 * Returns the value found, or -1 with *pos_r the empty position to insert at. */
static long mailbox_hash_find(const struct mailbox_hash *h, const char *s, size_t len,
			      const struct mailbox_state *st, const struct mailbox_dirent *files,
			      size_t *pos_r)
{
	size_t pos = (size_t)mailbox_hash_str(s, len) & h->mask;
	for (;;) {
		long v = h->slot[pos];
		if (v < 0) {
			*pos_r = pos;
			return -1;
		}
		const char *name = (size_t)v < st->idx.n ? st->idx.e[v].name
							 : files[(size_t)v - st->idx.n].name;
		if (mailbox_index_base_len(name) == len && memcmp(name, s, len) == 0)
			return v;
		pos = (pos + 1) & h->mask;
	}
}

/* Size and internal date of a file not yet indexed: from the name when it says. A size the
 * name does not carry is left unknown (learnt on first use, as Dovecot does: a first open of
 * a large folder would otherwise read every inode); a name without a leading time costs one
 * stat for the date. Returns 0, or -ENOENT when the file vanished. */
static int mailbox_file_facts(const char *maildir, const int dirfd[2],
			      const struct mailbox_dirent *f, uint64_t *size_r, int64_t *idate_r)
{
	struct store_name_info info;
	bool have_size = store_maildir_parse_name(f->name, &info) == 0 && info.has_size;
	if (f->secs >= 0) {
		*size_r = have_size ? info.size : MAILBOX_SIZE_UNKNOWN;
		*idate_r = f->secs;
		return 0;
	}
	char path[PATH_MAX];
	struct stat st;
	int dfd = dirfd[f->in_new ? 1 : 0];
	if (dfd >= 0) {
		/* Relative to the open directory: no path walk per file. */
		if (fstatat(dfd, f->name, &st, 0) < 0)
			return -errno;
	} else {
		int r = mailbox_path2(path, sizeof(path), maildir, f->in_new ? "new" : "cur", f->name);
		if (r < 0)
			return r;
		if (stat(path, &st) < 0)
			return -errno;
	}
	*size_r = have_size ? info.size : (uint64_t)st.st_size;
	*idate_r = f->secs >= 0 ? f->secs : (int64_t)st.st_mtim.tv_sec;
	return 0;
}

/* Moves a file from new/ to cur/ (adding ":2," when it has no info). Returns 0, 1 when the
 * file was no longer there (someone else moved it), or -errno. */
static int mailbox_move_to_cur(struct mailbox_state *s, struct mailbox_entry *e)
{
	char from[PATH_MAX], to[PATH_MAX];
	char *newname = strchr(e->name, ':') ? xstrdup(e->name) : xasprintf("%s:2,", e->name);
	int r = mailbox_path2(from, sizeof(from), s->path, "new", e->name);
	if (r == 0)
		r = mailbox_path2(to, sizeof(to), s->path, "cur", newname);
	if (r == 0 && strlen(newname) > NAME_MAX)
		r = -ENAMETOOLONG;
	if (r == 0 && rename(from, to) < 0)
		r = errno == ENOENT ? 1 : -errno;
	if (r == 0) {
		mailbox_index_name_set(&s->idx, e, newname);
		e->in_new = false;
	} else {
		free(newname);
	}
	return r;
}

/* One scan of new/ and cur/ reconciled into s->idx by base name. Sets *changed when the
 * index content changed and *retry when a file moved under us. */
static int mailbox_state_scan_once(struct mailbox_state *s, bool *changed, bool *retry)
{
	struct mailbox_dirent *files = NULL;
	size_t nfiles = 0, cap = 0;
	struct mailbox_stamp ns, cs;
	bool nracy, cracy;
	int r;

	*retry = false;
	mailbox_index_own(&s->idx);	/* the reconciliation changes entries in place */
	/* Stamps first: a change after them shows as a different mtime next time. */
	if ((r = mailbox_dir_stamp(s->path, "new", &ns, &nracy)) < 0 ||
	    (r = mailbox_dir_stamp(s->path, "cur", &cs, &cracy)) < 0)
		return r;
	r = mailbox_readdir(s->path, "cur", false, &files, &nfiles, &cap);
	if (r == 0)
		r = mailbox_readdir(s->path, "new", true, &files, &nfiles, &cap);
	if (r < 0)
		goto out;

	struct mailbox_hash h;
	mailbox_hash_init(&h, s->idx.n + nfiles);
	size_t pos;
	/* The index's base names; a duplicate means a damaged index: rebuild. */
	for (size_t i = 0; i < s->idx.n; i++) {
		const char *name = s->idx.e[i].name;
		if (mailbox_hash_find(&h, name, mailbox_index_base_len(name), s, files, &pos) >= 0) {
			s->rebuild = true;
			free(h.slot);
			r = 0;
			*retry = true;
			goto out;
		}
		h.slot[pos] = (long)i;
	}
	bool *seen = xcalloc(s->idx.n + 1, sizeof(*seen));
	size_t nnew = 0;
	/* cur/ entries come first, so a base name in both cur/ and new/ is taken from cur/. */
	for (size_t k = 0; k < nfiles; k++) {
		struct mailbox_dirent *f = &files[k];
		size_t blen = mailbox_index_base_len(f->name);
		long v = mailbox_hash_find(&h, f->name, blen, s, files, &pos);
		if (v < 0) {
			/* Compact the unknown files to the front; the hash names their new slot. */
			h.slot[pos] = (long)(s->idx.n + nnew);
			files[nnew] = *f;
			if (nnew != k)
				f->name = NULL;
			nnew++;
			continue;
		}
		if ((size_t)v >= s->idx.n || seen[v]) {
			free(f->name);	/* a second file with a known base name: ignored */
			f->name = NULL;
			continue;
		}
		struct mailbox_entry *e = &s->idx.e[v];
		seen[v] = true;
		if (strcmp(e->name, f->name) != 0 || e->in_new != f->in_new) {
			unsigned f1, f2;
			uint32_t k1, k2;
			mailbox_name_flags(e->name, &f1, &k1);
			mailbox_name_flags(f->name, &f2, &k2);
			if (f1 != f2 || k1 != k2)
				e->modseq = ++s->idx.highest_modseq;
			mailbox_index_name_set(&s->idx, e, f->name);
			e->in_new = f->in_new;
			*changed = true;
		} else {
			free(f->name);
		}
		f->name = NULL;
	}
	free(h.slot);
	/* Entries whose files are gone were expunged by someone else. */
	size_t w = 0;
	for (size_t i = 0; i < s->idx.n; i++) {
		if (seen[i]) {
			s->idx.e[w++] = s->idx.e[i];
		} else {
			mailbox_index_name_release(&s->idx, s->idx.e[i].name);
			*changed = true;
		}
	}
	s->idx.n = w;
	free(seen);
	/* New files get the next UIDs in arrival order. */
	if (nnew > 1)
		qsort(files, nnew, sizeof(*files), mailbox_dirent_cmp);
	int dirfd[2] = { -1, -1 };
	for (int d = 0; d < 2 && nnew; d++) {
		char dpath[PATH_MAX];
		if (mailbox_path2(dpath, sizeof(dpath), s->path, d ? "new" : "cur", NULL) == 0)
			dirfd[d] = open(dpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	for (size_t k = 0; k < nnew; k++) {
		struct mailbox_entry e = { 0 };
		int fr = mailbox_file_facts(s->path, dirfd, &files[k], &e.size, &e.idate);
		if (fr == -ENOENT) {
			*retry = true;	/* renamed between readdir and now */
			continue;
		}
		if (fr < 0) {
			r = fr;
			break;
		}
		if (s->idx.uidnext == UINT32_MAX) {
			r = -EOVERFLOW;
			break;
		}
		e.uid = s->idx.uidnext++;
		e.modseq = ++s->idx.highest_modseq;
		e.name = files[k].name;
		files[k].name = NULL;
		e.in_new = files[k].in_new;
		mailbox_index_push(&s->idx, &e);
		*changed = true;
	}
	for (int d = 0; d < 2; d++)
		if (dirfd[d] >= 0)
			close(dirfd[d]);
	/* Delivered files move to cur/, as every Maildir reader does. */
	for (size_t i = 0; r == 0 && !s->readonly && i < s->idx.n; i++) {
		if (!s->idx.e[i].in_new)
			continue;
		int mr = mailbox_move_to_cur(s, &s->idx.e[i]);
		if (mr == 1)
			*retry = true;
		else if (mr < 0)
			r = mr;
		else
			*changed = true;
	}
	struct mailbox_stamp zero = { 0, 0 };
	if (nracy)
		ns = zero;
	if (cracy)
		cs = zero;
	if (!mailbox_stamp_eq(&ns, &s->idx.new_stamp) || !mailbox_stamp_eq(&cs, &s->idx.cur_stamp))
		*changed = true;
	s->idx.new_stamp = ns;
	s->idx.cur_stamp = cs;
out:
	for (size_t k = 0; k < nfiles; k++)
		free(files[k].name);
	free(files);
	return r;
}

/* Starts a new index (new UIDVALIDITY) to be filled by a scan. */
static void mailbox_state_reset(struct mailbox_state *s)
{
	mailbox_index_free(&s->idx);
	s->idx.uidvalidity = mailbox_new_uidvalidity(s->known_uidvalidity);
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
static int mailbox_state_refresh(struct mailbox_state *s, bool force)
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
static int mailbox_state_begin(struct mailbox_state *s, bool scan)
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

/* ---- views ---- */

void mailbox_changes_free(struct mailbox_changes *ch)
{
	if (!ch)
		return;
	free(ch->expunged_seqs);
	free(ch->expunged_uids);
	free(ch->flag_changed_uids);
	memset(ch, 0, sizeof(*ch));
}

/* Releases a file name of the view (it may lie in the view's names block). */
static void mailbox_view_name_release(const struct mailbox_state *s, char *name)
{
	if (!mailbox_names_holds(s->view_names, name))
		free(name);
}

/* The view's message m takes entry e (names in the view's block are shared, not copied). */
static void mailbox_msg_from_entry(const struct mailbox_state *s, struct mailbox_msg *m,
				   const struct mailbox_entry *e, uint32_t kwmask)
{
	/* A size this view learnt is kept until the state has it too. */
	bool keep_size = m->uid == e->uid && e->size == MAILBOX_SIZE_UNKNOWN;
	m->uid = e->uid;
	m->modseq = e->modseq;
	mailbox_name_flags(e->name, &m->flags, &m->keywords);
	m->keywords &= kwmask;
	if (!keep_size)
		m->size = e->size;
	m->internal_date = (time_t)e->idate;
	mailbox_view_name_release(s, m->filename);
	m->filename = mailbox_names_holds(s->view_names, e->name) ? e->name : xstrdup(e->name);
	m->in_new = e->in_new;
}

static void mailbox_view_keywords(struct mailbox *mb, const struct mailbox_state *s)
{
	for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++) {
		if (s->kw[i] && !mb->keywords[i])
			mb->keywords[i] = xstrdup(s->kw[i]);
	}
	mb->nkeywords = s->nkw;
}

static void mailbox_changes_add(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = x;
}

/* Records one expunged message (seq in the previous view, and its UID). */
static void mailbox_changes_expunged(struct mailbox_changes *ch, size_t *cap, uint32_t seq,
				     uint32_t uid)
{
	if (ch->n_expunged == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		ch->expunged_seqs = xrealloc(ch->expunged_seqs, *cap * sizeof(uint32_t));
		ch->expunged_uids = xrealloc(ch->expunged_uids, *cap * sizeof(uint32_t));
	}
	ch->expunged_seqs[ch->n_expunged] = seq;
	ch->expunged_uids[ch->n_expunged] = uid;
	ch->n_expunged++;
}

/* A view's messages (struct mailbox's msgs points at m): the view's own, or published in a
 * frozen index (mailbox_frozen.view) and then read-only, shared by every view of that index.
 * Only a view that is exactly the index's entries is published: every size known (so
 * mailbox_msg_size never writes one) and no \Recent (a per-session flag). */
struct mailbox_msgs {
	uint32_t kwmask;	/* the keyword letters the folder's list named */
	size_t first_unseen;	/* index of the first message without \Seen, or the count */
	struct mailbox_msg m[];
};

static struct mailbox_msgs *mailbox_msgs_new(size_t n)
{
	return xcalloc(1, sizeof(struct mailbox_msgs) + (n + 1) * sizeof(struct mailbox_msg));
}

static struct mailbox_msgs *mailbox_msgs_of(struct mailbox_msg *m)
{
	return m ? (struct mailbox_msgs *)(void *)((char *)m - offsetof(struct mailbox_msgs, m))
		 : NULL;
}

/* Releases a view's messages: the file names of its own (those outside names) and the block,
 * or its reference to the published ones (frozen). */
static void mailbox_view_release(struct mailbox_msg *msgs, size_t count,
				 const struct mailbox_names *names, struct mailbox_frozen *frozen)
{
	if (frozen) {
		mailbox_frozen_unref(frozen);
		return;
	}
	for (size_t k = 0; k < count; k++) {
		if (!mailbox_names_holds(names, msgs[k].filename))
			free(msgs[k].filename);
	}
	free(mailbox_msgs_of(msgs));
}

/* Makes a view that shares the published messages of its index their own copy, before one of
 * them changes (one memcpy; the file names stay in the shared names block, which
 * s->view_names holds). Message pointers taken before it are stale. */
static void mailbox_view_own(struct mailbox *mb, struct mailbox_state *s)
{
	struct mailbox_frozen *f = s->view_frozen;
	if (!f)
		return;
	struct mailbox_msgs *b = mailbox_msgs_new(mb->count);
	struct mailbox_msgs *pub = mailbox_msgs_of(mb->msgs);
	b->kwmask = pub->kwmask;
	b->first_unseen = pub->first_unseen;
	if (mb->count)
		memcpy(b->m, mb->msgs, mb->count * sizeof(*b->m));
	mb->msgs = b->m;
	s->view_frozen = NULL;
	mailbox_frozen_unref(f);
}

/* Replaces the view by the state, reporting the differences in ch (may be NULL). When the
 * state's entries are a frozen index whose view form another view already published (and this
 * view would be exactly that: same keyword list, no \Recent here), the view shares it instead
 * of building its own: a SELECT of a folder some session of this process already opened costs
 * no copy at all. A view built here that qualifies is published for the next. */
static void mailbox_view_update(struct mailbox *mb, struct mailbox_state *s,
				struct mailbox_changes *ch)
{
	struct mailbox_changes dummy;
	size_t ecap = 0, fcap = 0;
	if (!ch)
		ch = &dummy;
	memset(ch, 0, sizeof(*ch));
	mailbox_view_keywords(mb, s);
	uint32_t kwmask = mailbox_kw_mask(s->kw);
	struct mailbox_frozen *frozen = s->idx.frozen;
	struct mailbox_msgs *pub = frozen ? __atomic_load_n((struct mailbox_msgs **)&frozen->view,
							     __ATOMIC_ACQUIRE)
					  : NULL;
	if (pub && (pub->kwmask != kwmask || s->claim_hi || mailbox_recent_count(mb)))
		pub = NULL;
	struct mailbox_msgs *own = pub ? NULL : mailbox_msgs_new(s->idx.n);
	struct mailbox_msg *nv = pub ? pub->m : own->m;
	/* The new view shares the state's names block; the old one's stays alive until the old
	 * messages are released below. */
	struct mailbox_names *old_names = s->view_names;
	struct mailbox_frozen *old_frozen = s->view_frozen;
	s->view_names = mailbox_names_ref(s->idx.names);
	bool reset = mb->uidvalidity != 0 && mb->uidvalidity != s->idx.uidvalidity;
	bool publishable = frozen && own;
	size_t i = 0, j = 0, first_unseen = s->idx.n;

	ch->uidvalidity_changed = reset;
	if (pub && mb->count == 0) {
		ch->n_new = s->idx.n;	/* a first view (SELECT): nothing to compare */
		j = s->idx.n;
	}
	while (i < mb->count || j < s->idx.n) {
		const struct mailbox_msg *o = i < mb->count ? &mb->msgs[i] : NULL;
		const struct mailbox_entry *e = j < s->idx.n ? &s->idx.e[j] : NULL;
		if (o && (reset || !e || o->uid < e->uid)) {
			mailbox_changes_expunged(ch, &ecap, (uint32_t)(i + 1), o->uid);
			i++;
			continue;
		}
		struct mailbox_msg *m = &nv[j];
		bool same = o && o->uid == e->uid;
		if (own) {
			mailbox_msg_from_entry(s, m, e, kwmask);
			if (e->uid >= s->claim_lo && e->uid < s->claim_hi)
				m->flags |= MAILBOX_RECENT;
			if (same)
				m->flags |= o->flags & MAILBOX_RECENT;
			if ((m->flags & MAILBOX_RECENT) || m->size == MAILBOX_SIZE_UNKNOWN)
				publishable = false;
			if (first_unseen == s->idx.n && !(m->flags & MAILBOX_SEEN))
				first_unseen = j;
		}
		if (same) {
			if (o->modseq != m->modseq || (o->flags & ~MAILBOX_RECENT) !=
			    (m->flags & ~MAILBOX_RECENT) || o->keywords != m->keywords)
				mailbox_changes_add(&ch->flag_changed_uids, &ch->n_flag_changed,
						    &fcap, e->uid);
			i++;
		} else {
			ch->n_new++;
		}
		j++;
	}
	/* Decreasing sequence numbers: each EXPUNGE response leaves the rest valid. */
	for (size_t a = 0, b = ch->n_expunged; a + 1 < b; a++, b--) {
		uint32_t t = ch->expunged_seqs[a];
		ch->expunged_seqs[a] = ch->expunged_seqs[b - 1];
		ch->expunged_seqs[b - 1] = t;
		t = ch->expunged_uids[a];
		ch->expunged_uids[a] = ch->expunged_uids[b - 1];
		ch->expunged_uids[b - 1] = t;
	}
	mailbox_view_release(mb->msgs, mb->count, old_names, old_frozen);
	mailbox_names_unref(old_names);
	s->view_frozen = NULL;
	if (own) {
		own->kwmask = kwmask;
		own->first_unseen = first_unseen;
		mb->msgs = own->m;
		/* Published for the next view of the same index (unless one was meanwhile: then
		 * this one stays private). Read-only from here on. */
		void *expected = NULL;
		if (publishable && __atomic_compare_exchange_n(&frozen->view, &expected, own, false,
							       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			s->view_frozen = mailbox_frozen_ref(frozen);
	} else {
		mb->msgs = pub->m;
		s->view_frozen = mailbox_frozen_ref(frozen);
	}
	mb->count = s->idx.n;
	mb->uidvalidity = s->idx.uidvalidity;
	mb->uidnext = s->idx.uidnext;
	mb->highest_modseq = s->idx.highest_modseq;
	s->claim_lo = s->claim_hi = 0;
	s->view_stale = false;
	if (s->cache && mailbox_cache_uidvalidity(s->cache) != mb->uidvalidity) {
		mailbox_cache_free(s->cache);	/* another generation of the folder */
		s->cache = NULL;
	}
	if (ch == &dummy)
		mailbox_changes_free(ch);
}

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
		snprintf(err, errlen, "%s: cannot create cur/ new/ tmp/: %s", maildir, strerror(-r));
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
	    s->idx.cur_stamp.sec == 0 ||
	    mb->uidvalidity != s->idx.uidvalidity || mb->count != s->idx.n)
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

int mailbox_sync(struct mailbox *mb, struct mailbox_changes *ch_r)
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
	if (r == 0)
		mailbox_view_update(mb, s, ch_r);
	mailbox_state_unlock(s);
	return r;
}

long mailbox_find_uid(const struct mailbox *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mb->msgs[mid].uid == uid)
			return (long)mid;
		if (mb->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

size_t mailbox_first_unseen(const struct mailbox *mb)
{
	const struct mailbox_state *s = mb->priv;
	if (s && s->view_frozen)
		return mailbox_msgs_of(mb->msgs)->first_unseen;	/* read-only: still true */
	size_t i = 0;
	while (i < mb->count && (mb->msgs[i].flags & MAILBOX_SEEN))
		i++;
	return i;
}

int mailbox_msg_path(const struct mailbox *mb, size_t i, char *out, size_t outlen)
{
	if (i >= mb->count)
		return -EINVAL;
	return mailbox_path2(out, outlen, mb->path, mb->msgs[i].in_new ? "new" : "cur",
			     mb->msgs[i].filename);
}

/* Stats MAILDIR/{cur,new}/name for its size. Returns 0 or -errno. */
static int mailbox_stat_size(const char *maildir, bool in_new, const char *name, uint64_t *size_r)
{
	char path[PATH_MAX];
	struct stat st;
	int r = mailbox_path2(path, sizeof(path), maildir, in_new ? "new" : "cur", name);
	if (r < 0)
		return r;
	if (stat(path, &st) < 0)
		return -errno;
	*size_r = (uint64_t)st.st_size;
	return 0;
}

uint64_t mailbox_msg_size(const struct mailbox *mb, size_t i)
{
	struct mailbox_state *s = mb->priv;
	if (i >= mb->count)
		return 0;
	struct mailbox_msg *m = &mb->msgs[i];
	/* Always the case in a view that shares published messages (read-only): every size
	 * is known there. */
	if (m->size != MAILBOX_SIZE_UNKNOWN)
		return m->size;
	uint64_t size = 0;	/* set by whichever lookup below succeeds */
	if (mailbox_stat_size(mb->path, m->in_new, m->filename, &size) < 0) {
		/* Renamed by another program since the last sync? Look for its base name. */
		char path[PATH_MAX];
		struct stat st;
		if (mailbox_find_base(mb->path, m->filename, path, sizeof(path)) < 0 ||
		    stat(path, &st) < 0)
			return 0;
		size = (uint64_t)st.st_size;
	}
	m->size = size;
	if (s) {
		if (s->nlearnt == s->learnt_cap) {
			s->learnt_cap = s->learnt_cap ? s->learnt_cap * 2 : 64;
			s->learnt = xrealloc(s->learnt, s->learnt_cap * sizeof(*s->learnt));
		}
		s->learnt[s->nlearnt++] = (struct mailbox_learnt){ .uid = m->uid, .size = size };
	}
	return size;
}

size_t mailbox_recent_count(const struct mailbox *mb)
{
	const struct mailbox_state *s = mb->priv;
	if (s && s->view_frozen)
		return 0;	/* a shared view has no \Recent */
	size_t n = 0;
	for (size_t i = 0; i < mb->count; i++)
		n += (mb->msgs[i].flags & MAILBOX_RECENT) != 0;
	return n;
}

/* Message i's file path and the folder's header cache (opened on first use). */
static int mailbox_msg_cached(const struct mailbox *mb, size_t i, char *path, size_t pathlen,
			      struct mailbox_cache **cache_r)
{
	struct mailbox_state *s = mb->priv;
	if (!s)
		return -EINVAL;
	int r = mailbox_msg_path(mb, i, path, pathlen);
	if (r < 0)
		return r;
	if (!s->cache)
		s->cache = mailbox_cache_new(mb->path, mb->uidvalidity);
	*cache_r = s->cache;
	return 0;
}

int mailbox_msg_header(const struct mailbox *mb, size_t i, const char **hdr_r, size_t *len_r)
{
	char path[PATH_MAX];
	struct mailbox_cache *cache;
	int r = mailbox_msg_cached(mb, i, path, sizeof(path), &cache);
	if (r < 0)
		return r;
	return mailbox_cache_header(cache, mb->msgs[i].uid, path, hdr_r, len_r);
}

int mailbox_msg_envelope(const struct mailbox *mb, size_t i, const char **env_r, size_t *len_r)
{
	char path[PATH_MAX];
	struct mailbox_cache *cache;
	int r = mailbox_msg_cached(mb, i, path, sizeof(path), &cache);
	if (r < 0)
		return r;
	return mailbox_cache_envelope(cache, mb->msgs[i].uid, path, env_r, len_r);
}

void mailbox_msg_note(const struct mailbox *mb, size_t i, const char *data, size_t len)
{
	struct mailbox_state *s = mb->priv;
	if (!s || i >= mb->count)
		return;
	if (!s->cache)
		s->cache = mailbox_cache_new(mb->path, mb->uidvalidity);
	mailbox_cache_note(s->cache, mb->msgs[i].uid, data, len);
}

/* ---- STORE ---- */

/* Renames entry e to carry flags/kw. Returns 0, 1 when the file was not there, -errno. */
static int mailbox_entry_rename(struct mailbox_state *s, struct mailbox_entry *e, unsigned flags,
				uint32_t kw)
{
	char info[64], from[PATH_MAX], to[PATH_MAX];
	size_t blen = mailbox_index_base_len(e->name);
	mailbox_info_build(e->name, flags, kw, info, sizeof(info));
	char *newname = xasprintf("%.*s%s", (int)blen, e->name, info);
	int r = 0;
	if (strlen(newname) > NAME_MAX)
		r = -ENAMETOOLONG;
	if (r == 0)
		r = mailbox_path2(from, sizeof(from), s->path, e->in_new ? "new" : "cur", e->name);
	if (r == 0)
		r = mailbox_path2(to, sizeof(to), s->path, "cur", newname);
	if (r == 0 && strcmp(from, to) != 0 && rename(from, to) < 0)
		r = errno == ENOENT ? 1 : -errno;
	if (r == 0) {
		mailbox_index_name_set(&s->idx, e, newname);
		e->in_new = false;
		e->modseq = ++s->idx.highest_modseq;
	} else {
		free(newname);
	}
	return r;
}

int mailbox_store_many(struct mailbox *mb, const size_t *idxs, size_t n, char mode,
		       unsigned flags, const char *const *keywords, size_t nkeywords)
{
	struct mailbox_state *s = mb->priv;
	if (mb->readonly)
		return -EROFS;
	if (mode != '+' && mode != '-' && mode != '=')
		return -EINVAL;
	flags &= MAILBOX_SEEN | MAILBOX_ANSWERED | MAILBOX_FLAGGED | MAILBOX_DELETED |
		 MAILBOX_DRAFT;
	int r = mailbox_state_lock(s);
	if (r < 0)
		return r;
	r = mailbox_state_load(s);
	if (r == 0 && s->rebuild)
		r = mailbox_state_refresh(s, true);
	if (r == 0 && s->idx.uidvalidity != mb->uidvalidity)
		r = -ESTALE;
	uint32_t kwset = 0;
	if (r == 0)
		r = mailbox_state_keywords(s, keywords, nkeywords, &kwset);
	bool dirty = false, rescanned = false;
	for (size_t k = 0; r == 0 && k < n; k++) {
		if (idxs[k] >= mb->count) {
			r = -EINVAL;
			break;
		}
		struct mailbox_msg *m = &mb->msgs[idxs[k]];
		long j = mailbox_state_find(s, m->uid);
		int rr = 1;
		for (int attempt = 0; j >= 0 && attempt < 2; attempt++) {
			struct mailbox_entry *e = &s->idx.e[j];
			unsigned cur;
			uint32_t ckw;
			mailbox_name_flags(e->name, &cur, &ckw);
			unsigned nf = mode == '+' ? cur | flags : mode == '-' ? cur & ~flags : flags;
			uint32_t nkw = mode == '+' ? ckw | kwset : mode == '-' ? ckw & ~kwset : kwset;
			if (mode == '=')
				nkw |= ckw & ~mailbox_kw_mask(s->kw);	/* unnamed letters stay */
			if (nf == cur && nkw == ckw && !(e->in_new && !s->readonly)) {
				rr = 0;
				break;
			}
			mailbox_index_own(&s->idx);
			e = &s->idx.e[j];
			rr = mailbox_entry_rename(s, e, nf, nkw);
			if (rr == 0)
				dirty = true;
			if (rr != 1 || rescanned)
				break;
			/* Renamed by someone else meanwhile: look again. */
			rescanned = true;
			if ((r = mailbox_state_refresh(s, true)) < 0)
				break;
			j = mailbox_state_find(s, m->uid);
		}
		if (r < 0)
			break;
		if (rr < 0) {
			r = rr;
			break;
		}
		if (j >= 0 && rr == 0) {
			const struct mailbox_entry *e = &s->idx.e[j];
			uint32_t kwmask = mailbox_kw_mask(s->kw);
			/* A view sharing its index's published messages copies them only when
			 * this one differs from the entry. */
			if (s->view_frozen && (m->modseq != e->modseq || m->in_new != e->in_new ||
					       strcmp(m->filename, e->name) != 0 ||
					       mailbox_msgs_of(mb->msgs)->kwmask != kwmask)) {
				mailbox_view_own(mb, s);
				m = &mb->msgs[idxs[k]];
			}
			if (!s->view_frozen) {
				unsigned recent = m->flags & MAILBOX_RECENT;
				mailbox_msg_from_entry(s, m, e, kwmask);
				m->flags |= recent;
			}
		}
		/* A message gone from disk is reported as expunged by the next sync. */
	}
	if (dirty) {
		int wr = mailbox_state_write(s);
		if (r == 0)
			r = wr;
	}
	/* The view may claim the state's HIGHESTMODSEQ only when it has seen every change. */
	if (s->idx.highest_modseq > mb->highest_modseq && !s->view_stale)
		mb->highest_modseq = s->idx.highest_modseq;
	mailbox_view_keywords(mb, s);
	mailbox_state_unlock(s);
	return r;
}

int mailbox_store(struct mailbox *mb, size_t i, char mode, unsigned flags,
		  const char *const *keywords, size_t nkeywords)
{
	return mailbox_store_many(mb, &i, 1, mode, flags, keywords, nkeywords);
}

/* ---- EXPUNGE ---- */

static int mailbox_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t nuids,
		    struct mailbox_changes *ch_r)
{
	struct mailbox_state *s = mb->priv;
	struct mailbox_changes dummy;
	struct mailbox_changes *ch = ch_r ? ch_r : &dummy;
	memset(ch, 0, sizeof(*ch));
	if (mb->readonly)
		return -EROFS;
	uint32_t *sorted = NULL;
	if (uids) {
		sorted = xmalloc((nuids + 1) * sizeof(*sorted));
		if (nuids)
			memcpy(sorted, uids, nuids * sizeof(*sorted));
		qsort(sorted, nuids, sizeof(*sorted), mailbox_u32_cmp);
	}
	int r = mailbox_state_lock(s);
	if (r < 0) {
		free(sorted);
		return r;
	}
	r = mailbox_state_load(s);
	if (r == 0 && s->rebuild)
		r = mailbox_state_refresh(s, true);
	if (r == 0 && s->idx.uidvalidity != mb->uidvalidity)
		r = -ESTALE;
	bool *gone = xcalloc(mb->count + 1, sizeof(*gone));
	bool dirty = false, rescanned = false;
	size_t ecap = 0;
	for (size_t i = 0; r == 0 && i < mb->count; i++) {
		uint32_t uid = mb->msgs[i].uid;
		if (sorted && !bsearch(&uid, sorted, nuids, sizeof(*sorted), mailbox_u32_cmp))
			continue;
		long j = mailbox_state_find(s, uid);
		if (j < 0)
			continue;	/* expunged elsewhere: the next sync reports it */
		unsigned fl;
		uint32_t kw;
		mailbox_name_flags(s->idx.e[j].name, &fl, &kw);
		if (!(fl & MAILBOX_DELETED))
			continue;
		char path[PATH_MAX];
		r = mailbox_path2(path, sizeof(path), s->path, s->idx.e[j].in_new ? "new" : "cur",
				  s->idx.e[j].name);
		if (r < 0)
			break;
		if (unlink(path) < 0) {
			if (errno != ENOENT) {
				r = -errno;
				break;
			}
			if (!rescanned) {
				/* Renamed meanwhile (flags changed elsewhere?): look again. */
				rescanned = true;
				if ((r = mailbox_state_refresh(s, true)) < 0)
					break;
				i--;
				continue;
			}
		}
		/* Forgotten by the state below; by the view at the end. */
		gone[i] = true;
		dirty = true;
	}
	if (dirty) {
		/* Drop the state entries of the removed files (both lists ascend by UID). */
		mailbox_index_own(&s->idx);
		size_t w = 0, k = 0;
		for (size_t j = 0; j < s->idx.n; j++) {
			while (k < mb->count && (!gone[k] || mb->msgs[k].uid < s->idx.e[j].uid))
				k++;
			if (k < mb->count && mb->msgs[k].uid == s->idx.e[j].uid) {
				mailbox_index_name_release(&s->idx, s->idx.e[j].name);
				continue;
			}
			s->idx.e[w++] = s->idx.e[j];
		}
		s->idx.n = w;
		int wr = mailbox_state_write(s);
		if (r == 0)
			r = wr;
	}
	mailbox_state_unlock(s);
	/* Sequence numbers reported from the highest down, then the view loses them. */
	for (size_t i = mb->count; i-- > 0;) {
		if (gone[i])
			mailbox_changes_expunged(ch, &ecap, (uint32_t)(i + 1), mb->msgs[i].uid);
	}
	if (dirty)
		mailbox_view_own(mb, s);
	size_t w = 0;
	for (size_t i = 0; i < mb->count; i++) {
		if (!gone[i])
			mb->msgs[w++] = mb->msgs[i];
		else
			mailbox_view_name_release(s, mb->msgs[i].filename);
	}
	mb->count = w;
	if (s->idx.highest_modseq > mb->highest_modseq && !s->view_stale)
		mb->highest_modseq = s->idx.highest_modseq;
	free(gone);
	free(sorted);
	if (ch == &dummy)
		mailbox_changes_free(ch);
	return r;
}

/* ---- APPEND, COPY, STATUS ---- */

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
static int mailbox_link_new(const char *srcpath, const char *maildir, int64_t secs,
			    uint64_t size, const char *info, char *out, size_t outlen)
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

int mailbox_append(const char *maildir, const char *data, size_t len, unsigned flags,
		   const char *const *keywords, size_t nkeywords, time_t internal_date,
		   uint32_t *uidvalidity_r, uint32_t *uid_r, char *err, size_t errlen)
{
	char name[NAME_MAX + 1], final[NAME_MAX + 1], tmp[PATH_MAX], dst[PATH_MAX], dir[PATH_MAX];
	char info[64];
	int64_t secs = internal_date > 0 ? (int64_t)internal_date : (int64_t)time(NULL);
	int r = mailbox_folder_exists(maildir);
	if (r < 0) {
		snprintf(err, errlen, "no such folder");
		return r;
	}
	r = mailbox_write_tmp(maildir, data, len, secs, name, sizeof(name), tmp, sizeof(tmp));
	if (r < 0) {
		snprintf(err, errlen, "cannot write message: %s", strerror(-r));
		return r;
	}
	struct mailbox_state *s = mailbox_state_new(maildir, false);
	r = mailbox_state_begin(s, false);
	if (r < 0) {
		snprintf(err, errlen, "cannot lock the folder index: %s", strerror(-r));
		unlink(tmp);
		mailbox_state_free(s);
		return r;
	}
	uint32_t kw = 0;
	r = mailbox_state_keywords(s, keywords, nkeywords, &kw);
	if (r < 0)
		snprintf(err, errlen, r == -ENOSPC ? "too many keywords in this folder"
						   : "bad keyword");
	flags &= MAILBOX_SEEN | MAILBOX_ANSWERED | MAILBOX_FLAGGED | MAILBOX_DELETED |
		 MAILBOX_DRAFT;
	mailbox_info_build(NULL, flags, kw, info, sizeof(info));
	if (r == 0) {
		r = mailbox_link_new(tmp, maildir, secs, len, info, final, sizeof(final));
		if (r < 0)
			snprintf(err, errlen, "cannot link message into cur/: %s", strerror(-r));
	}
	unlink(tmp);
	if (r == 0 && s->idx.uidnext == UINT32_MAX) {
		r = -EOVERFLOW;
		snprintf(err, errlen, "UID space exhausted");
	}
	if (r == 0) {
		mailbox_path2(dst, sizeof(dst), maildir, "cur", final);
		mailbox_path2(dir, sizeof(dir), maildir, "cur", NULL);
		struct mailbox_entry e = {
			.uid = s->idx.uidnext++,
			.modseq = ++s->idx.highest_modseq,
			.size = len,
			.idate = secs,
			.name = xstrdup(final),
		};
		mailbox_index_push(&s->idx, &e);
		r = mailbox_fsync_dir(dir);
		if (r == 0)
			r = mailbox_state_write(s);
		if (r < 0) {
			snprintf(err, errlen, "cannot commit the message: %s", strerror(-r));
			unlink(dst);	/* not reported as appended: take it back */
		} else {
			*uid_r = e.uid;
			*uidvalidity_r = s->idx.uidvalidity;
		}
	}
	mailbox_state_unlock(s);
	mailbox_state_free(s);
	return r;
}

/* Finds the current name of the file with the given base name in cur/ or new/ (lock-free
 * lookup after a rename by someone else). Returns 0 with the path, or -ENOENT. */
static int mailbox_find_base(const char *maildir, const char *name, char *out, size_t outlen)
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
	int r = mailbox_file_read(src, (size_t)MAILBOX_INDEX_MAX_SIZE, &data, &len);
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
							     (int64_t)m->internal_date, size,
							     info, final, sizeof(final));
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
		r = mailbox_fsync_dir(dir);
		if (r == 0)
			r = mailbox_state_write(d);
	}
	if (r < 0) {
		/* All or nothing: files not in the index are taken back. */
		for (size_t k = 0; k < nmade; k++)
			unlink(made[k]);
	} else if (uidvalidity_r) {
		*uidvalidity_r = d->idx.uidvalidity;
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
				mailbox_index_own(&s->idx);	/* about to learn it */
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
