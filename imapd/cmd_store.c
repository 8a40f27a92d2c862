/* cmd_store.c - STORE and UID STORE: FLAGS, +FLAGS, -FLAGS (.SILENT), CONDSTORE UNCHANGEDSINCE. */
#include "commands.h"
#include "imap_render.h"
#include "log.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "seqset.h"
#include "xalloc.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void cmd_store(struct imap_client *c, const struct imap_command *cmd)
{
	const struct imap_arg *a = cmd->args;
	unsigned n = cmd->count;
	if (n < 3) {
		client_tagged(c, cmd->tag, "BAD", "Usage: STORE sequence-set item flags");
		return;
	}
	bool unchangedsince = false;
	uint64_t since = 0;
	unsigned ai = 1;
	if (a[1].type == IMAP_ARG_LIST) {
		const struct imap_arg *l;
		unsigned ln;
		imap_arg_list(&a[1], &l, &ln);
		if (ln != 2 || !imap_arg_atom_equals(&l[0], "UNCHANGEDSINCE") ||
		    !imap_arg_number64(&l[1], &since)) {
			client_tagged(c, cmd->tag, "BAD", "Invalid STORE modifier");
			return;
		}
		unchangedsince = true;
		command_enable_condstore(c);
		ai = 2;
	}
	if (n != ai + 2 || !imap_arg_is_atom(&a[ai])) {
		client_tagged(c, cmd->tag, "BAD", "Usage: STORE sequence-set item flags");
		return;
	}
	const char *item = a[ai].str;
	char mode = '=';
	if (*item == '+' || *item == '-')
		mode = *item++;
	bool silent;
	if (strcasecmp(item, "FLAGS") == 0)
		silent = false;
	else if (strcasecmp(item, "FLAGS.SILENT") == 0)
		silent = true;
	else {
		client_tagged(c, cmd->tag, "BAD", "Invalid STORE item");
		return;
	}
	unsigned flags;
	const char *kw[MAILBOX_MAX_KEYWORDS + 1];
	size_t nkw;
	if (command_flags(c, cmd, &a[ai + 1], &flags, kw, MAILBOX_MAX_KEYWORDS, &nkw) < 0)
		return;
	struct mailbox_view *v = c->view;
	if (v->readonly) {
		client_tagged(c, cmd->tag, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	struct seqset set, modified;
	seqset_init(&set);
	seqset_init(&modified);
	if (command_seqset(c, cmd, &a[0], &set) < 0) {
		seqset_free(&set);
		return;
	}
	struct mailbox *mb = v->mb;
	bool condstore = (c->enabled & IMAP_ENABLED_CONDSTORE) != 0;
	unsigned failed = 0, changed = 0;
	size_t *idxs = xmalloc((mb->count + 1) * sizeof(*idxs));
	uint64_t *before = xmalloc((mb->count + 1) * sizeof(*before));
	size_t nidx = 0;
	for (size_t i = 0; i < mb->count; i++) {
		uint32_t key = cmd->uid ? mb->msgs[i].uid : (uint32_t)(i + 1);
		if (!seqset_contains(&set, key))
			continue;
		if (unchangedsince && mb->msgs[i].modseq > since) {
			seqset_add(&modified, key);
			continue;
		}
		before[nidx] = mb->msgs[i].modseq;
		idxs[nidx++] = i;
	}
	int r = nidx ? mailbox_store_many(mb, idxs, nidx, mode, flags, kw, nkw) : 0;
	if (r < 0) {
		log_warn("imap: user=%s, STORE in %s failed: %s", c->user, v->path, strerror(-r));
		failed++;
	}
	struct buf b;
	buf_init(&b);
	view_write_flags_update(v, &b); /* a new keyword: FLAGS before the FETCHes */
	for (size_t k = 0; k < nidx && r == 0; k++) {
		size_t i = idxs[k];
		const struct mailbox_msg *m = &mb->msgs[i];
		if (m->modseq != before[k])
			changed++;
		if (silent && !(condstore && unchangedsince))
			continue;
		buf_printf(&b, "* %zu FETCH (", i + 1);
		if (!silent) {
			buf_append_str(&b, "FLAGS ");
			imap_write_flags(&b, mb,
					 (c->enabled & IMAP_ENABLED_REV2)
						 ? m->flags & ~(unsigned)MAILBOX_RECENT
						 : m->flags,
					 m->keywords);
		}
		if (cmd->uid || (c->enabled & IMAP_ENABLED_QRESYNC)) /* RFC 7162 3.2.4 */
			buf_printf(&b, "%sUID %u", silent ? "" : " ", m->uid);
		if (condstore)
			buf_printf(&b, "%sMODSEQ (%llu)",
				   (silent && !cmd->uid && !(c->enabled & IMAP_ENABLED_QRESYNC))
					   ? ""
					   : " ",
				   (unsigned long long)m->modseq);
		buf_append_str(&b, ")\r\n");
		if (b.len > 64 * 1024) {
			client_send_buf(c, &b);
			buf_reset(&b);
		}
	}
	free(idxs);
	free(before);
	client_send_buf(c, &b);
	buf_free(&b);
	seqset_free(&set);
	if (changed)
		imapd_notify_folder(c->d, c, v->path);
	if (failed) {
		client_tagged(c, cmd->tag, "NO", "[SERVERBUG] Some flags could not be stored");
	} else if (modified.count) {
		struct buf m;
		buf_init(&m);
		seqset_write(&m, &modified);
		client_tagged(c, cmd->tag, "OK", "[MODIFIED %s] Conditional STORE failed for some",
			      m.data);
		buf_free(&m);
	} else {
		client_tagged(c, cmd->tag, "OK", "%sSTORE completed", cmd->uid ? "UID " : "");
	}
	seqset_free(&modified);
}
