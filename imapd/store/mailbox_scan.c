/* mailbox_scan.c - one scan of a folder's new/ and cur/, reconciled with its UID index by base name. */
#include "mailbox_internal.h"
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
#include <unistd.h>

/* An entry found in cur/ or new/. */
struct mailbox_dirent {
	char *name;
	bool in_new;
	int64_t secs; /* leading digits of the name (arrival time), -1 if none */
};

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

/* Open-addressing hash of base names -> slot numbers (entries of the index, then files).
 * key[] holds each slot's hash bits and base length, so a probe past another name compares
 * two integers instead of reading that name (a cache miss per probe in a large folder). */
struct mailbox_hash {
	size_t mask;
	long *slot;    /* -1 empty */
	uint64_t *key; /* (upper 32 bits of the hash) << 32 | base length */
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
	h->key = xmalloc(size * sizeof(*h->key));
	for (size_t i = 0; i < size; i++)
		h->slot[i] = -1;
}

static void mailbox_hash_free(struct mailbox_hash *h)
{
	free(h->slot);
	free(h->key);
}

/* Fills the slot a failed mailbox_hash_find returned. */
static void mailbox_hash_set(struct mailbox_hash *h, size_t pos, long v, uint64_t key)
{
	h->slot[pos] = v;
	h->key[pos] = key;
}

/* Finds the slot for base name (s, len); names(k) gives the name stored under value k.
 * Returns the value found, or -1 with *pos_r the empty position to insert at and *key_r
 * the key to store there (mailbox_hash_set). */
static long mailbox_hash_find(const struct mailbox_hash *h, const char *s, size_t len,
			      const struct mailbox_state *st, const struct mailbox_dirent *files,
			      size_t *pos_r, uint64_t *key_r)
{
	uint64_t hv = mailbox_hash_str(s, len);
	uint64_t key = (hv >> 32) << 32 | (uint32_t)len;
	size_t pos = (size_t)hv & h->mask;
	*key_r = key;
	for (;;) {
		long v = h->slot[pos];
		if (v < 0) {
			*pos_r = pos;
			return -1;
		}
		if (h->key[pos] == key) {
			const char *name = (size_t)v < st->idx.n
						   ? st->idx.e[v].name
						   : files[(size_t)v - st->idx.n].name;
			if (memcmp(name, s, len) == 0 && (name[len] == ':' || name[len] == '\0'))
				return v;
		}
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
		int r = mailbox_path2(path, sizeof(path), maildir, f->in_new ? "new" : "cur",
				      f->name);
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
int mailbox_state_scan_once(struct mailbox_state *s, bool *changed, bool *retry)
{
	struct mailbox_dirent *files = NULL;
	size_t nfiles = 0, cap = 0;
	struct mailbox_stamp ns, cs;
	bool nracy, cracy;
	int r;

	*retry = false;
	mailbox_index_own(&s->idx); /* the reconciliation changes entries in place */
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
	uint64_t key;
	/* The index's base names; a duplicate means a damaged index: rebuild. */
	for (size_t i = 0; i < s->idx.n; i++) {
		const char *name = s->idx.e[i].name;
		if (mailbox_hash_find(&h, name, mailbox_index_base_len(name), s, files, &pos,
				      &key) >= 0) {
			s->rebuild = true;
			mailbox_hash_free(&h);
			r = 0;
			*retry = true;
			goto out;
		}
		mailbox_hash_set(&h, pos, (long)i, key);
	}
	bool *seen = xcalloc(s->idx.n + 1, sizeof(*seen));
	size_t nnew = 0;
	/* cur/ entries come first, so a base name in both cur/ and new/ is taken from cur/. */
	for (size_t k = 0; k < nfiles; k++) {
		struct mailbox_dirent *f = &files[k];
		size_t blen = mailbox_index_base_len(f->name);
		long v = mailbox_hash_find(&h, f->name, blen, s, files, &pos, &key);
		if (v < 0) {
			/* Compact the unknown files to the front; the hash names their new slot. */
			mailbox_hash_set(&h, pos, (long)(s->idx.n + nnew), key);
			files[nnew] = *f;
			if (nnew != k)
				f->name = NULL;
			nnew++;
			continue;
		}
		if ((size_t)v >= s->idx.n || seen[v]) {
			free(f->name); /* a second file with a known base name: ignored */
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
	mailbox_hash_free(&h);
	/* Entries whose files are gone were expunged by someone else. */
	size_t w = 0, ngone = 0;
	uint32_t *gone = NULL;
	for (size_t i = 0; i < s->idx.n; i++) {
		if (seen[i]) {
			s->idx.e[w++] = s->idx.e[i];
		} else {
			if (!gone)
				gone = xmalloc(s->idx.n * sizeof(*gone));
			gone[ngone++] = s->idx.e[i].uid;
			mailbox_index_name_release(&s->idx, s->idx.e[i].name);
			*changed = true;
		}
	}
	s->idx.n = w;
	free(seen);
	mailbox_vanished_note(s, gone, ngone); /* QRESYNC's VANISHED */
	free(gone);
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
			*retry = true; /* renamed between readdir and now */
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
