/* mailbox_views.c - views: what the IMAP client was last told of a folder (struct mailbox's msgs), moved forward from the state with the changes reported; per-message lookups. */
#include "mailbox_internal.h"
#include "mailbox_cache.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
void mailbox_view_name_release(const struct mailbox_state *s, char *name)
{
	if (!mailbox_names_holds(s->view_names, name))
		free(name);
}

/* The view's message m takes entry e (names in the view's block are shared, not copied). */
void mailbox_msg_from_entry(const struct mailbox_state *s, struct mailbox_msg *m,
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

void mailbox_view_keywords(struct mailbox *mb, const struct mailbox_state *s)
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
void mailbox_changes_expunged(struct mailbox_changes *ch, size_t *cap, uint32_t seq, uint32_t uid)
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

static struct mailbox_msgs *mailbox_msgs_new(size_t n)
{
	return xcalloc(1, sizeof(struct mailbox_msgs) + (n + 1) * sizeof(struct mailbox_msg));
}

struct mailbox_msgs *mailbox_msgs_of(struct mailbox_msg *m)
{
	return m ? (struct mailbox_msgs *)(void *)((char *)m - offsetof(struct mailbox_msgs, m))
		 : NULL;
}

/* Releases a view's messages: the file names of its own (those outside names) and the block,
 * or its reference to the published ones (frozen). */
void mailbox_view_release(struct mailbox_msg *msgs, size_t count, const struct mailbox_names *names,
			  struct mailbox_frozen *frozen)
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
void mailbox_view_own(struct mailbox *mb, struct mailbox_state *s)
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
void mailbox_view_update(struct mailbox *mb, struct mailbox_state *s, struct mailbox_changes *ch)
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
	/* A read-only view (EXAMINE) claims nothing, but shows what no session claimed yet as
	 * \Recent, as STATUS counts it (RFC 3501 6.3.2: the same RECENT as SELECT would). */
	uint32_t ro_recent = !s->claims_recent && s->idx.recent_uid &&
					     s->idx.recent_uid < s->idx.uidnext
				     ? s->idx.recent_uid
				     : 0;
	if (pub && (pub->kwmask != kwmask || s->claim_hi || ro_recent || mailbox_recent_count(mb)))
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
		ch->n_new = s->idx.n; /* a first view (SELECT): nothing to compare */
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
			if ((e->uid >= s->claim_lo && e->uid < s->claim_hi) ||
			    (ro_recent && e->uid >= ro_recent))
				m->flags |= MAILBOX_RECENT;
			if (same)
				m->flags |= o->flags & MAILBOX_RECENT;
			if (m->flags & MAILBOX_RECENT)
				publishable = false;
			if (first_unseen == s->idx.n && !(m->flags & MAILBOX_SEEN))
				first_unseen = j;
		}
		if (same) {
			if (o->modseq != m->modseq ||
			    (o->flags & ~MAILBOX_RECENT) != (m->flags & ~MAILBOX_RECENT) ||
			    o->keywords != m->keywords)
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
		mailbox_cache_free(s->cache); /* another generation of the folder */
		s->cache = NULL;
	}
	if (ch == &dummy)
		mailbox_changes_free(ch);
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
		return mailbox_msgs_of(mb->msgs)->first_unseen; /* read-only: still true */
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

/* Looks in MAILDIR/sub for an entry whose base name (up to ':') is base[0..blen) and opens
 * it. Returns the descriptor or -ENOENT. */
static int mailbox_open_by_base(const char *maildir, const char *sub, const char *base, size_t blen)
{
	char dir[PATH_MAX], path[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/%s", maildir, sub) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	DIR *d = opendir(dir);
	if (!d)
		return -ENOENT;
	int fd = -ENOENT;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, base, blen) != 0 ||
		    (e->d_name[blen] != '\0' && e->d_name[blen] != ':'))
			continue;
		if (mailbox_path2(path, sizeof(path), maildir, sub, e->d_name) < 0)
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0 || errno != ENOENT)
			break; /* renamed again meanwhile: look on */
		fd = -ENOENT;
	}
	if (fd < 0 && fd != -ENOENT)
		fd = -errno;
	closedir(d);
	return fd;
}

int mailbox_msg_open(const struct mailbox *mb, size_t i)
{
	char path[PATH_MAX];
	int r = mailbox_msg_path(mb, i, path, sizeof(path));
	if (r < 0)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : -errno;
	/* Renamed by another session (flags, or new/ -> cur/) since this view was made. */
	const char *name = mb->msgs[i].filename;
	const char *colon = strchr(name, ':');
	size_t blen = colon ? (size_t)(colon - name) : strlen(name);
	fd = mailbox_open_by_base(mb->path, "cur", name, blen);
	if (fd == -ENOENT)
		fd = mailbox_open_by_base(mb->path, "new", name, blen);
	return fd;
}

/* Stats MAILDIR/{cur,new}/name for its size. Returns 0 or -errno. */
int mailbox_stat_size(const char *maildir, bool in_new, const char *name, uint64_t *size_r)
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
	if (m->size != MAILBOX_SIZE_UNKNOWN)
		return m->size;
	uint64_t size = 0; /* set by whichever lookup below succeeds */
	if (mailbox_stat_size(mb->path, m->in_new, m->filename, &size) < 0) {
		/* Renamed by another program since the last sync? Look for its base name. */
		char path[PATH_MAX];
		struct stat st;
		if (mailbox_find_base(mb->path, m->filename, path, sizeof(path)) < 0 ||
		    stat(path, &st) < 0)
			return 0;
		size = (uint64_t)st.st_size;
	}
	/* A view sharing published messages (other sessions read them) is not written: the size
	 * reaches the index at the next sync, and the view built from that has it. */
	if (!s || !s->view_frozen)
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
		return 0; /* a shared view has no \Recent */
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

int mailbox_msg_sortkeys(const struct mailbox *mb, size_t i, const char **rec_r, size_t *len_r)
{
	char path[PATH_MAX];
	struct mailbox_cache *cache;
	int r = mailbox_msg_cached(mb, i, path, sizeof(path), &cache);
	if (r < 0)
		return r;
	return mailbox_cache_sortkeys(cache, mb->msgs[i].uid, path, rec_r, len_r);
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
