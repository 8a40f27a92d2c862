/* mailbox_store.c - STORE: flags and keywords changed by renaming the files, one index write per set. */
#include "mailbox_internal.h"
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int mailbox_store_many(struct mailbox *mb, const size_t *idxs, size_t n, char mode, unsigned flags,
		       const char *const *keywords, size_t nkeywords)
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
			unsigned nf = mode == '+'   ? cur | flags
				      : mode == '-' ? cur & ~flags
						    : flags;
			uint32_t nkw = mode == '+'   ? ckw | kwset
				       : mode == '-' ? ckw & ~kwset
						     : kwset;
			if (mode == '=')
				nkw |= ckw & ~mailbox_kw_mask(s->kw); /* unnamed letters stay */
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
