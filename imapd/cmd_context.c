/* cmd_context.c - CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267): PARTIAL results, results kept up to date (UPDATE: ADDTO/REMOVEFROM), CANCELUPDATE.
 *
 * A kept result is recomputed after each command of the session that completes on the thread
 * pool (and after a sync while it idles) and compared with what the client was last told: a
 * session without kept results pays nothing. Messages that left the result are reported
 * (REMOVEFROM) with the number the client knew them by, an expunged one with its sequence
 * number from before the expunge; new ones (ADDTO) with their position in a SORT result (0 for
 * SEARCH, whose result has no order but the folder's).
 */
#include "commands.h"
#include "log.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "seqset.h"
#include "sort.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#define CONTEXT_MAX 8 /* kept results per session */

struct search_context {
	struct search_context *next;
	char tag[128];
	bool uid;
	struct sort_program p; /* ncrit 0: a SEARCH */
	uint32_t *uids;        /* the result as last told, in its order */
	uint32_t *seqs;        /* their sequence numbers then */
	size_t n;
};

void command_write_partial(struct buf *b, const struct search_program *prog, const uint32_t *v,
			   size_t n)
{
	buf_printf(b, " PARTIAL (%u:%u ", prog->partial_lo, prog->partial_hi);
	size_t lo = prog->partial_lo - 1, hi = prog->partial_hi;
	if (lo >= n) {
		buf_append_str(b, "NIL)");
		return;
	}
	if (hi > n)
		hi = n;
	command_write_ordered_set(b, v + lo, hi - lo);
	buf_append(b, ")", 1);
}

static void context_free(struct search_context *x)
{
	sort_program_free(&x->p);
	free(x->uids);
	free(x->seqs);
	free(x);
}

void command_contexts_free(struct imap_client *c)
{
	while (c->contexts) {
		struct search_context *x = c->contexts;
		c->contexts = x->next;
		context_free(x);
	}
}

static void context_snapshot(struct search_context *x, const struct mailbox *mb, const size_t *idx,
			     size_t n)
{
	free(x->uids);
	free(x->seqs);
	x->uids = xmalloc((n + 1) * sizeof(*x->uids));
	x->seqs = xmalloc((n + 1) * sizeof(*x->seqs));
	for (size_t k = 0; k < n; k++) {
		x->uids[k] = mb->msgs[idx[k]].uid;
		x->seqs[k] = (uint32_t)(idx[k] + 1);
	}
	x->n = n;
}

void command_context_add(struct imap_client *c, const struct imap_command *cmd,
			 struct sort_program *p, const size_t *idx, size_t n)
{
	size_t count = 0;
	for (struct search_context **pp = &c->contexts; *pp;) {
		/* A new result under the same tag replaces the old one. */
		if (strcmp((*pp)->tag, cmd->tag) == 0) {
			struct search_context *old = *pp;
			*pp = old->next;
			context_free(old);
			continue;
		}
		count++;
		pp = &(*pp)->next;
	}
	if (count >= CONTEXT_MAX || strlen(cmd->tag) >= sizeof(c->contexts->tag)) {
		client_send(c, "* NO [NOUPDATE \"%s\"] Too many kept results\r\n", cmd->tag);
		return;
	}
	struct search_context *x = xcalloc(1, sizeof(*x));
	snprintf(x->tag, sizeof(x->tag), "%s", cmd->tag);
	x->uid = cmd->uid;
	x->p = *p;
	memset(p, 0, sizeof(*p));
	context_snapshot(x, c->view->mb, idx, n);
	x->next = c->contexts;
	c->contexts = x;
}

static int context_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static bool context_has(const uint32_t *sorted, size_t n, uint32_t v)
{
	return bsearch(&v, sorted, n, sizeof(v), context_cmp_u32) != NULL;
}

static void context_update_one(struct imap_client *c, struct search_context *x)
{
	const struct mailbox *mb = c->view->mb;
	size_t *idx, n;
	if (command_sort_run(c, &x->p, &idx, &n) < 0)
		return;
	uint32_t *now = xmalloc((n + 1) * sizeof(*now));
	for (size_t k = 0; k < n; k++)
		now[k] = mb->msgs[idx[k]].uid;
	qsort(now, n, sizeof(*now), context_cmp_u32);
	uint32_t *before = xmalloc((x->n + 1) * sizeof(*before));
	memcpy(before, x->uids, x->n * sizeof(*before));
	qsort(before, x->n, sizeof(*before), context_cmp_u32);

	struct buf b;
	buf_init(&b);
	const char *uidw = x->uid ? " UID" : "";
	/* REMOVEFROM: what left, by the number the client knows. */
	struct seqset gone;
	seqset_init(&gone);
	size_t ngone = 0;
	for (size_t k = 0; k < x->n; k++) {
		if (context_has(now, n, x->uids[k]))
			continue;
		uint32_t num = x->uids[k];
		if (!x->uid) {
			long i = mailbox_find_uid(mb, x->uids[k]);
			num = i >= 0 ? (uint32_t)(i + 1) : x->seqs[k];
		}
		seqset_add(&gone, num);
		ngone++;
	}
	if (ngone) {
		buf_printf(&b, "* ESEARCH (TAG \"%s\")%s REMOVEFROM (0 ", x->tag, uidw);
		seqset_write(&b, &gone);
		buf_append_str(&b, ")\r\n");
	}
	seqset_free(&gone);
	/* ADDTO: what came, with its position in a sorted result. */
	bool any = false;
	struct seqset added;
	seqset_init(&added);
	for (size_t k = 0; k < n; k++) {
		uint32_t uid = mb->msgs[idx[k]].uid;
		if (context_has(before, x->n, uid))
			continue;
		uint32_t num = x->uid ? uid : (uint32_t)(idx[k] + 1);
		if (x->p.ncrit) {
			if (!any)
				buf_printf(&b, "* ESEARCH (TAG \"%s\")%s ADDTO (", x->tag, uidw);
			buf_printf(&b, "%s%zu %u", any ? " " : "", k + 1, num);
		} else {
			seqset_add(&added, num);
		}
		any = true;
	}
	if (any && x->p.ncrit) {
		buf_append_str(&b, ")\r\n");
	} else if (any) {
		buf_printf(&b, "* ESEARCH (TAG \"%s\")%s ADDTO (0 ", x->tag, uidw);
		seqset_write(&b, &added);
		buf_append_str(&b, ")\r\n");
	}
	seqset_free(&added);
	if (b.len)
		client_send_buf(c, &b);
	buf_free(&b);
	context_snapshot(x, mb, idx, n);
	free(before);
	free(now);
	free(idx);
}

struct context_gone {
	uint32_t uid, seq;
};

static int context_cmp_gone(const void *a, const void *b)
{
	return context_cmp_u32(&((const struct context_gone *)a)->uid,
			       &((const struct context_gone *)b)->uid);
}

void command_context_expunged(struct imap_client *c, const uint32_t *uids, const uint32_t *seqs,
			      size_t n)
{
	struct context_gone *g = xmalloc((n + 1) * sizeof(*g));
	for (size_t k = 0; k < n; k++)
		g[k] = (struct context_gone){ uids[k], seqs[k] };
	qsort(g, n, sizeof(*g), context_cmp_gone);
	for (struct search_context *x = c->contexts; x; x = x->next) {
		struct seqset gone;
		seqset_init(&gone);
		size_t w = 0;
		for (size_t k = 0; k < x->n; k++) {
			struct context_gone key = { x->uids[k], 0 };
			const struct context_gone *hit = bsearch(&key, g, n, sizeof(*g),
								 context_cmp_gone);
			if (!hit) {
				x->uids[w] = x->uids[k];
				x->seqs[w++] = x->seqs[k];
				continue;
			}
			seqset_add(&gone, x->uid ? hit->uid : hit->seq);
		}
		if (w != x->n) {
			struct buf b;
			buf_init(&b);
			buf_printf(&b, "* ESEARCH (TAG \"%s\")%s REMOVEFROM (0 ", x->tag,
				   x->uid ? " UID" : "");
			seqset_write(&b, &gone);
			buf_append_str(&b, ")\r\n");
			client_send_buf(c, &b);
			buf_free(&b);
		}
		x->n = w;
		seqset_free(&gone);
	}
	free(g);
}

void command_context_update(struct imap_client *c)
{
	if (c->state != IMAP_STATE_SELECTED || !c->view)
		return;
	for (struct search_context *x = c->contexts; x; x = x->next)
		context_update_one(c, x);
}

void cmd_cancelupdate(struct imap_client *c, const struct imap_command *cmd)
{
	if (cmd->count == 0) {
		client_tagged(c, cmd->tag, "BAD", "CANCELUPDATE needs a tag");
		return;
	}
	for (unsigned i = 0; i < cmd->count; i++) {
		const char *s;
		size_t len;
		if (!imap_arg_string(&cmd->args[i], &s, &len) ||
		    cmd->args[i].type == IMAP_ARG_ATOM) {
			client_tagged(c, cmd->tag, "BAD", "CANCELUPDATE takes quoted tags");
			return;
		}
	}
	for (unsigned i = 0; i < cmd->count; i++) {
		for (struct search_context **pp = &c->contexts; *pp;) {
			if (strcmp((*pp)->tag, cmd->args[i].str) == 0) {
				struct search_context *x = *pp;
				*pp = x->next;
				context_free(x);
				continue;
			}
			pp = &(*pp)->next;
		}
	}
	client_tagged(c, cmd->tag, "OK", "CANCELUPDATE completed");
}
