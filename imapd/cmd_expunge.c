/* cmd_expunge.c - EXPUNGE, UID EXPUNGE (UIDPLUS), CLOSE, UNSELECT, CHECK. */
#include "commands.h"
#include "log.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "seqset.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

void cmd_expunge(struct imap_client *c, const struct imap_command *cmd)
{
	struct mailbox_view *v = c->view;
	if ((cmd->uid && cmd->count != 1) || (!cmd->uid && cmd->count != 0)) {
		client_tagged(c, cmd->tag, "BAD",
			      cmd->uid ? "Usage: UID EXPUNGE uid-set" : "Usage: EXPUNGE");
		return;
	}
	if (v->readonly) {
		client_tagged(c, cmd->tag, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	struct mailbox *mb = v->mb;
	uint32_t *uids = NULL;
	size_t nuids = 0;
	if (cmd->uid) {
		struct seqset set;
		seqset_init(&set);
		if (command_seqset(c, cmd, &cmd->args[0], &set) < 0) {
			seqset_free(&set);
			return;
		}
		uids = xmalloc((mb->count + 1) * sizeof(*uids));
		for (size_t i = 0; i < mb->count; i++)
			if (seqset_contains(&set, mb->msgs[i].uid))
				uids[nuids++] = mb->msgs[i].uid;
		seqset_free(&set);
	}
	struct mailbox_changes ch;
	memset(&ch, 0, sizeof(ch));
	int r = 0;
	if (!cmd->uid || nuids)
		r = mailbox_expunge(mb, uids, nuids, &ch);
	free(uids);
	view_send_changes(c->view, &ch);
	bool any = ch.n_expunged > 0;
	mailbox_changes_free(&ch);
	if (any)
		imapd_notify_folder(c->d, c, v->path);
	if (r < 0) {
		log_warn("imap: user=%s, expunge in %s failed: %s", c->user, v->path, strerror(-r));
		client_tagged(c, cmd->tag, "NO", "[SERVERBUG] Expunge failed");
		return;
	}
	if (c->enabled & IMAP_ENABLED_QRESYNC) /* RFC 7162 3.2.7 */
		client_tagged(c, cmd->tag, "OK", "[HIGHESTMODSEQ %llu] %sEXPUNGE completed",
			      (unsigned long long)mb->highest_modseq, cmd->uid ? "UID " : "");
	else
		client_tagged(c, cmd->tag, "OK", "%sEXPUNGE completed", cmd->uid ? "UID " : "");
}

/* CLOSE expunges silently (read-write only); UNSELECT does not. */
void cmd_close(struct imap_client *c, const struct imap_command *cmd)
{
	struct mailbox_view *v = c->view;
	if (cmd->count) {
		client_tagged(c, cmd->tag, "BAD", "%s takes no arguments", cmd->name);
		return;
	}
	if (strcmp(cmd->name, "CLOSE") == 0 && !v->readonly) {
		struct mailbox_changes ch;
		memset(&ch, 0, sizeof(ch));
		int r = mailbox_expunge(v->mb, NULL, 0, &ch);
		if (r < 0)
			log_warn("imap: user=%s, expunge on CLOSE of %s failed: %s", c->user,
				 v->path, strerror(-r));
		if (ch.n_expunged)
			imapd_notify_folder(c->d, c, v->path);
		mailbox_changes_free(&ch);
	}
	client_view_close(c);
	client_enter_state(c, IMAP_STATE_AUTH);
	client_tagged(c, cmd->tag, "OK", "%s completed", cmd->name);
}

void cmd_check(struct imap_client *c, const struct imap_command *cmd)
{
	client_tagged(c, cmd->tag, "OK", "CHECK completed");
}
