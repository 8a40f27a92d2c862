/* cmd_copy.c - COPY, MOVE and their UID forms, with UIDPLUS COPYUID (RFC 4315) and MOVE (RFC 6851). */
#include "commands.h"
#include "log.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "seqset.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void cmd_copy(struct imap_client *c, const struct imap_command *cmd)
{
	bool move = strcmp(cmd->name, "MOVE") == 0;
	const char *name;
	size_t nlen;
	if (cmd->count != 2 || !imap_arg_string(&cmd->args[1], &name, &nlen) || nlen == 0 ||
	    memchr(name, 0, nlen)) {
		client_tagged(c, cmd->tag, "BAD", "Usage: %s sequence-set mailbox", cmd->name);
		return;
	}
	struct mailbox_view *v = c->view;
	if (move && v->readonly) {
		client_tagged(c, cmd->tag, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	char dst[PATH_MAX], cur[PATH_MAX + 8];
	char normal[600];
	if (client_mailbox_name(c, name, nlen, normal, sizeof(normal)) < 0 ||
	    client_folder_path(c, normal, dst, sizeof(dst)) < 0) {
		client_tagged(c, cmd->tag, "NO", "[CANNOT] Invalid mailbox name");
		return;
	}
	struct stat st;
	snprintf(cur, sizeof(cur), "%s/cur", dst);
	if (stat(cur, &st) < 0) {
		client_tagged(c, cmd->tag, "NO", "[TRYCREATE] No such mailbox");
		return;
	}
	struct seqset set;
	seqset_init(&set);
	if (command_seqset(c, cmd, &cmd->args[0], &set) < 0) {
		seqset_free(&set);
		return;
	}
	struct mailbox *mb = v->mb;
	struct seqset src_uids, dst_uids;
	seqset_init(&src_uids);
	seqset_init(&dst_uids);
	uint32_t *moved = NULL;
	size_t nmoved = 0;
	uint32_t uidvalidity = 0;
	int failed = 0;
	bool same = strcmp(dst, v->path) == 0;
	size_t *idxs = xmalloc((mb->count + 1) * sizeof(*idxs));
	size_t nidx = 0;
	for (size_t i = 0; i < mb->count; i++) {
		uint32_t key = cmd->uid ? mb->msgs[i].uid : (uint32_t)(i + 1);
		if (seqset_contains(&set, key))
			idxs[nidx++] = i;
	}
	/* A MOVE within the account changes no usage; a COPY adds the copies. */
	if (!move && nidx && cmd_quota_refuse_copy(c, cmd->tag, mb, idxs, nidx)) {
		free(idxs);
		seqset_free(&set);
		seqset_free(&src_uids);
		seqset_free(&dst_uids);
		return;
	}
	uint32_t *new_uids = xmalloc((nidx + 1) * sizeof(*new_uids));
	if (nidx) {
		int r = mailbox_copy_many(mb, idxs, nidx, dst, &uidvalidity, new_uids);
		if (r < 0) {
			log_warn("imap: user=%s, %s of %zu message(s) to %s failed: %s", c->user,
				 cmd->name, nidx, dst, strerror(-r));
			failed = r;
		}
	}
	for (size_t k = 0; k < nidx && !failed; k++) {
		seqset_add(&src_uids, mb->msgs[idxs[k]].uid);
		seqset_add(&dst_uids, new_uids[k]);
		if (move) {
			moved = xrealloc(moved, (nmoved + 1) * sizeof(*moved));
			moved[nmoved++] = mb->msgs[idxs[k]].uid;
		}
	}
	free(new_uids);
	seqset_free(&set);
	struct buf code;
	buf_init(&code);
	if (src_uids.count) {
		buf_printf(&code, "COPYUID %u ", uidvalidity);
		seqset_write(&code, &src_uids);
		buf_append_str(&code, " ");
		seqset_write(&code, &dst_uids);
	}
	if (failed) {
		/* Nothing is expunged when the copy did not complete (RFC 6851 3.3). */
		client_tagged(c, cmd->tag, "NO", "%s",
			      failed == -ENOSPC || failed == -EDQUOT
				      ? "[OVERQUOTA] Not enough space"
				      : "[SERVERBUG] Copy failed");
	} else if (move && nmoved) {
		if (code.len)
			client_send(c, "* OK [%s] Moved\r\n", code.data);
		mailbox_store_many(mb, idxs, nidx, '+', MAILBOX_DELETED, NULL, 0);
		struct mailbox_changes ch;
		memset(&ch, 0, sizeof(ch));
		int r = mailbox_expunge(mb, moved, nmoved, &ch);
		if (r < 0)
			log_warn("imap: user=%s, MOVE expunge in %s failed: %s", c->user, v->path,
				 strerror(-r));
		view_send_changes(c->view, &ch);
		mailbox_changes_free(&ch);
		imapd_notify_folder(c->d, c, v->path);
		client_tagged(c, cmd->tag, "OK", "%sMOVE completed", cmd->uid ? "UID " : "");
	} else if (code.len) {
		client_tagged(c, cmd->tag, "OK", "[%s] %sCOPY completed", code.data,
			      cmd->uid ? "UID " : "");
	} else {
		client_tagged(c, cmd->tag, "OK", "%s%s completed (no messages)",
			      cmd->uid ? "UID " : "", cmd->name);
	}
	if (!failed && src_uids.count) {
		imapd_notify_folder(c->d, c, dst);
		if (same)
			client_folder_changed(c);
	}
	buf_free(&code);
	free(idxs);
	free(moved);
	seqset_free(&src_uids);
	seqset_free(&dst_uids);
}
