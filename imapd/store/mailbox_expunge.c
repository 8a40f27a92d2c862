/* mailbox_expunge.c - EXPUNGE: the \Deleted files removed, and forgotten by the index and the view. */
#include "mailbox_internal.h"
#include "quota.h"
#include "store.h"
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	uint64_t freed_bytes = 0, freed = 0;
	size_t ecap = 0;
	for (size_t i = 0; r == 0 && i < mb->count; i++) {
		uint32_t uid = mb->msgs[i].uid;
		if (sorted && !bsearch(&uid, sorted, nuids, sizeof(*sorted), mailbox_u32_cmp))
			continue;
		long j = mailbox_state_find(s, uid);
		if (j < 0)
			continue; /* expunged elsewhere: the next sync reports it */
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
		/* What the account's usage loses (common/maildir/quota.h). */
		uint64_t size = s->idx.e[j].size;
		struct store_name_info info;
		struct stat st;
		if (size == MAILBOX_SIZE_UNKNOWN)
			size = store_maildir_parse_name(s->idx.e[j].name, &info) == 0 &&
					       info.has_size
				       ? info.size
			       : lstat(path, &st) == 0 ? (uint64_t)st.st_size
						       : 0;
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
		freed_bytes += size;
		freed++;
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
		uint32_t *vanished = xmalloc((mb->count + 1) * sizeof(*vanished));
		size_t nv = 0;
		for (size_t i = 0; i < mb->count; i++)
			if (gone[i])
				vanished[nv++] = mb->msgs[i].uid;
		mailbox_vanished_note(s, vanished, nv);
		free(vanished);
		int wr = mailbox_state_write(s);
		if (r == 0)
			r = wr;
	}
	mailbox_state_unlock(s);
	if (freed)
		maildir_quota_update_folder(s->path, -(int64_t)freed_bytes, -(int64_t)freed);
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
