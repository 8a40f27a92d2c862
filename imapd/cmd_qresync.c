/* cmd_qresync.c - QRESYNC (RFC 7162): SELECT/EXAMINE's QRESYNC parameter, VANISHED (EARLIER) for SELECT and UID FETCH, the VANISHED form of expunges. */
/*
 * The expunged UIDs come from the folder's bounded log (mailbox_vanished_since): exact for any
 * mod-sequence the log still covers, else every UID below UIDNEXT missing from the folder,
 * which RFC 7162 allows (3.2.5.2: the server may report more than vanished; known-uids lets
 * the client keep that short). seq-match data only helps a server that cannot tell what
 * vanished: it is checked for syntax and otherwise not needed.
 */
#include "cmd_qresync.h"
#include "client.h"
#include "imap_render.h"
#include "mailbox.h"
#include "mailbox_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qresync_select_free(struct qresync_select *q)
{
	seqset_free(&q->known);
}

static int qresync_set(const struct imap_arg *a, struct seqset *out)
{
	const char *error;
	if (!imap_arg_is_atom(a) || imap_arg_is_nil(a))
		return -1;
	return seqset_parse(a->str, a->len, 0, out, &error);
}

int qresync_select_parse(const struct imap_arg *a, struct qresync_select *q, const char **error_r)
{
	memset(q, 0, sizeof(*q));
	seqset_init(&q->known);
	const struct imap_arg *l;
	unsigned n;
	*error_r = "QRESYNC needs (uidvalidity modseq [known-uids [seq-match]])";
	if (!imap_arg_list(a, &l, &n) || n < 2 || n > 4)
		return -1;
	if (!imap_arg_number32(&l[0], &q->uidvalidity) || q->uidvalidity == 0 ||
	    !imap_arg_number64(&l[1], &q->modseq) || q->modseq == 0 ||
	    q->modseq > (uint64_t)INT64_MAX) {
		*error_r = "QRESYNC: invalid UIDVALIDITY or mod-sequence";
		return -1;
	}
	unsigned k = 2;
	if (k < n && l[k].type != IMAP_ARG_LIST) {
		if (qresync_set(&l[k], &q->known) < 0) {
			*error_r = "QRESYNC: invalid known-uids";
			return -1;
		}
		q->has_known = true;
		k++;
	}
	if (k < n) {
		const struct imap_arg *m;
		unsigned mn;
		struct seqset s1, s2;
		seqset_init(&s1);
		seqset_init(&s2);
		bool ok = imap_arg_list(&l[k], &m, &mn) && mn == 2 &&
			  qresync_set(&m[0], &s1) == 0 && qresync_set(&m[1], &s2) == 0 &&
			  seqset_count(&s1) == seqset_count(&s2);
		seqset_free(&s1);
		seqset_free(&s2);
		if (!ok) {
			*error_r = "QRESYNC: invalid seq-match data";
			return -1;
		}
		q->has_match = true;
		k++;
	}
	if (k != n)
		return -1;
	*error_r = NULL;
	return 0;
}

void qresync_write_vanished(struct buf *b, bool earlier, const struct mailbox_uid_range *r,
			    size_t n, const struct seqset *filter)
{
	struct seqset out;
	seqset_init(&out);
	size_t f = 0;
	for (size_t i = 0; i < n; i++) {
		if (!filter) {
			seqset_add_range(&out, r[i].lo, r[i].hi);
			continue;
		}
		/* Both ascend: walk the filter's ranges along. */
		while (f < filter->count && filter->ranges[f].hi < r[i].lo)
			f++;
		for (size_t g = f; g < filter->count && filter->ranges[g].lo <= r[i].hi; g++) {
			uint32_t lo = r[i].lo > filter->ranges[g].lo ? r[i].lo
								     : filter->ranges[g].lo;
			uint32_t hi = r[i].hi < filter->ranges[g].hi ? r[i].hi
								     : filter->ranges[g].hi;
			seqset_add_range(&out, lo, hi);
		}
	}
	if (out.count) {
		buf_append_str(b, earlier ? "* VANISHED (EARLIER) " : "* VANISHED ");
		seqset_write(b, &out);
		buf_append_str(b, "\r\n");
	}
	seqset_free(&out);
}

void qresync_select_send(struct imap_client *c, const struct qresync_select *q)
{
	const struct mailbox *mb = c->view->mb;
	if (q->uidvalidity != mb->uidvalidity)
		return; /* the client's cache is void: a full resync, as without QRESYNC */
	struct seqset known;
	seqset_init(&known);
	if (q->has_known)
		seqset_resolve(&q->known, mb->uidnext > 1 ? mb->uidnext - 1 : 1, &known);
	const struct seqset *filter = q->has_known ? &known : NULL;
	struct buf b;
	buf_init(&b);
	struct mailbox_uid_range *r;
	size_t n = mailbox_vanished_since(mb, q->modseq, &r);
	qresync_write_vanished(&b, true, r, n, filter);
	free(r);
	for (size_t i = 0; i < mb->count; i++) {
		const struct mailbox_msg *m = &mb->msgs[i];
		if (m->modseq <= q->modseq || (filter && !seqset_contains(filter, m->uid)))
			continue;
		buf_printf(&b, "* %zu FETCH (UID %u FLAGS ", i + 1, m->uid);
		imap_write_flags(&b, mb,
				 (c->enabled & IMAP_ENABLED_REV2)
					 ? m->flags & ~(unsigned)MAILBOX_RECENT
					 : m->flags,
				 m->keywords);
		buf_printf(&b, " MODSEQ (%llu))\r\n", (unsigned long long)m->modseq);
		if (b.len > 64 * 1024) {
			client_send_buf(c, &b);
			buf_reset(&b);
		}
	}
	client_send_buf(c, &b);
	buf_free(&b);
	seqset_free(&known);
}

void qresync_fetch_vanished(struct imap_client *c, const struct imap_arg *a, uint64_t since)
{
	const struct mailbox *mb = c->view->mb;
	struct seqset raw, set;
	seqset_init(&raw);
	seqset_init(&set);
	if (qresync_set(a, &raw) == 0) {
		seqset_resolve(&raw, mb->uidnext > 1 ? mb->uidnext - 1 : 1, &set);
		struct mailbox_uid_range *r;
		size_t n = mailbox_vanished_since(mb, since, &r);
		struct buf b;
		buf_init(&b);
		qresync_write_vanished(&b, true, r, n, &set);
		client_send_buf(c, &b);
		buf_free(&b);
		free(r);
	}
	seqset_free(&raw);
	seqset_free(&set);
}
