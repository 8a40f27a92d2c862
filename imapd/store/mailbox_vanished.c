/* mailbox_vanished.c - the folder's log of expunged UIDs (mtad-vanished, see mailbox_index.h): recorded at each expunge, read for QRESYNC's VANISHED (EARLIER). */
/*
 * Every expunge (EXPUNGE, CLOSE, UID EXPUNGE, MOVE, and files a scan finds gone) takes one new
 * mod-sequence under the folder lock and appends its UIDs to the log before the index is
 * written. The log is a hint with a safe fallback, so it is replaced without fsync: a log lost
 * in a crash, unreadable, or of another UIDVALIDITY is started afresh with its FLOOR at the
 * mod-sequence before the expunge, and a question about anything older is answered with every
 * UID missing from the folder.
 */
#include "fileutil.h"
#include "mailbox_internal.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAILBOX_VANISHED_READ_MAX (64u * 1024 * 1024)

/* Reads the folder's log; false when it is missing, unreadable or not of uidvalidity. */
static bool mailbox_vanished_load(const char *maildir, uint32_t uidvalidity,
				  struct mailbox_vanished *v)
{
	char path[PATH_MAX];
	char *data = NULL;
	size_t len = 0;
	memset(v, 0, sizeof(*v));
	if (mailbox_path2(path, sizeof(path), maildir, MAILBOX_VANISHED_FILE, NULL) < 0 ||
	    read_file(path, MAILBOX_VANISHED_READ_MAX, true, &data, &len) < 0)
		return false;
	int r = mailbox_vanished_parse(data, len, v, NULL, 0);
	free(data);
	if (r < 0)
		return false;
	if (v->uidvalidity != uidvalidity) {
		mailbox_vanished_free(v);
		return false;
	}
	return true;
}

void mailbox_vanished_note(struct mailbox_state *s, const uint32_t *uids, size_t n)
{
	if (n == 0)
		return;
	uint64_t modseq = ++s->idx.highest_modseq;
	struct mailbox_vanished v;
	if (!mailbox_vanished_load(s->path, s->idx.uidvalidity, &v)) {
		v.uidvalidity = s->idx.uidvalidity;
		v.floor = modseq - 1;
	}
	mailbox_vanished_add(&v, modseq, uids, n);
	struct buf b;
	buf_init(&b);
	mailbox_vanished_format(&v, &b);
	mailbox_vanished_free(&v);
	char tmp[PATH_MAX], path[PATH_MAX];
	if (mailbox_path2(tmp, sizeof(tmp), s->path, MAILBOX_VANISHED_TMP, NULL) == 0 &&
	    mailbox_path2(path, sizeof(path), s->path, MAILBOX_VANISHED_FILE, NULL) == 0) {
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		bool ok = fd >= 0;
		for (size_t off = 0; ok && off < b.len;) {
			ssize_t w = write(fd, b.data + off, b.len - off);
			if (w < 0 && errno == EINTR)
				continue;
			ok = w > 0;
			off += w > 0 ? (size_t)w : 0;
		}
		if (fd >= 0 && close(fd) < 0)
			ok = false;
		if (!ok || rename(tmp, path) < 0)
			(void)unlink(tmp); /* the next expunge starts a new log: safe */
	}
	buf_free(&b);
}

static int mailbox_range_cmp(const void *a, const void *b)
{
	const struct mailbox_uid_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Appends lo..hi less the UIDs still in the view (msgs ascend by UID). */
static void mailbox_vanished_emit(const struct mailbox *mb, uint32_t lo, uint32_t hi,
				  struct mailbox_uid_range **out, size_t *n, size_t *cap)
{
	/* First message with uid >= lo. */
	size_t a = 0, b = mb->count;
	while (a < b) {
		size_t mid = (a + b) / 2;
		if (mb->msgs[mid].uid < lo)
			a = mid + 1;
		else
			b = mid;
	}
	uint64_t next = lo;
	for (size_t i = a; next <= hi; i++) {
		uint64_t stop = i < mb->count && mb->msgs[i].uid <= hi ? mb->msgs[i].uid
								       : hi + 1ull;
		if (stop > next) {
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 16;
				*out = xrealloc(*out, *cap * sizeof(**out));
			}
			(*out)[(*n)++] = (struct mailbox_uid_range){ (uint32_t)next,
								     (uint32_t)(stop - 1) };
		}
		next = stop + 1;
	}
}

size_t mailbox_vanished_since(const struct mailbox *mb, uint64_t modseq,
			      struct mailbox_uid_range **ranges_r)
{
	struct mailbox_uid_range *out = NULL;
	size_t n = 0, cap = 0;
	struct mailbox_vanished v;
	*ranges_r = NULL;
	if (mb->uidnext <= 1)
		return 0;
	if (!mailbox_vanished_load(mb->path, mb->uidvalidity, &v) || modseq < v.floor) {
		/* No record that old: whatever is missing may have vanished since. */
		if (v.rec || v.uidvalidity)
			mailbox_vanished_free(&v);
		mailbox_vanished_emit(mb, 1, mb->uidnext - 1, &out, &n, &cap);
		*ranges_r = out;
		return n;
	}
	struct mailbox_uid_range *want = xmalloc((v.n + 1) * sizeof(*want));
	size_t nw = 0;
	for (size_t i = 0; i < v.n; i++)
		if (v.rec[i].modseq > modseq)
			want[nw++] = (struct mailbox_uid_range){ v.rec[i].lo, v.rec[i].hi };
	mailbox_vanished_free(&v);
	qsort(want, nw, sizeof(*want), mailbox_range_cmp);
	/* Merge overlapping and adjacent ranges, then leave out what is still there. */
	size_t k = 0;
	for (size_t i = 0; i < nw; i++) {
		if (k && (uint64_t)want[i].lo <= (uint64_t)want[k - 1].hi + 1) {
			if (want[i].hi > want[k - 1].hi)
				want[k - 1].hi = want[i].hi;
		} else {
			want[k++] = want[i];
		}
	}
	for (size_t i = 0; i < k; i++)
		mailbox_vanished_emit(mb, want[i].lo, want[i].hi, &out, &n, &cap);
	free(want);
	*ranges_r = out;
	return n;
}
