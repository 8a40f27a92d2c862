/* cmd_quota.c - QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT, SETQUOTA (refused) and the OVERQUOTA check of APPEND and COPY. */
#include "buf.h"
#include "commands.h"
#include "log.h"
#include "mailbox.h"
#include "quota.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The one quota root of an account: all its folders together. */
#define QUOTA_ROOT ""

/* "* QUOTA "" (STORAGE used limit)": RFC 9208 counts STORAGE in units of 1024 octets; the
 * usage is rounded up (a message of a few hundred bytes shows), the limit down. */
static int quota_write(struct imap_client *c, struct buf *b)
{
	struct maildir_quota_usage u;
	int r = maildir_quota_get(c->account_dir, c->quota_limit, &u);
	if (r < 0) {
		log_warn("imap: user=%s, cannot read the quota usage of %s: %s", c->user,
			 c->account_dir, strerror(-r));
		return r;
	}
	uint64_t used = u.bytes > 0 ? ((uint64_t)u.bytes + 1023) / 1024 : 0;
	buf_printf(b, "* QUOTA \"%s\" (STORAGE %llu %llu)\r\n", QUOTA_ROOT,
		   (unsigned long long)used, (unsigned long long)(c->quota_limit / 1024));
	return 0;
}

void cmd_getquota(struct imap_client *c, const struct imap_command *cmd)
{
	const char *root;
	size_t len;
	if (cmd->count != 1 || !imap_arg_string(&cmd->args[0], &root, &len)) {
		client_tagged(c, cmd->tag, "BAD", "Usage: GETQUOTA quota-root");
		return;
	}
	if (len != strlen(QUOTA_ROOT) || memcmp(root, QUOTA_ROOT, len) != 0 ||
	    c->quota_limit == 0) {
		client_tagged(c, cmd->tag, "NO", "[NONEXISTENT] No such quota root");
		return;
	}
	struct buf b;
	buf_init(&b);
	if (quota_write(c, &b) < 0)
		client_tagged(c, cmd->tag, "NO", "[SERVERBUG] Cannot read the quota usage");
	else {
		client_send_buf(c, &b);
		client_tagged(c, cmd->tag, "OK", "GETQUOTA completed");
	}
	buf_free(&b);
}

void cmd_getquotaroot(struct imap_client *c, const struct imap_command *cmd)
{
	const char *name;
	size_t nlen;
	char normal[600], path[PATH_MAX], cur[PATH_MAX + 8];
	if (cmd->count != 1 || !imap_arg_string(&cmd->args[0], &name, &nlen) || nlen == 0) {
		client_tagged(c, cmd->tag, "BAD", "Usage: GETQUOTAROOT mailbox");
		return;
	}
	struct stat st;
	if (client_mailbox_name(c, name, nlen, normal, sizeof(normal)) < 0 ||
	    client_folder_path(c, normal, path, sizeof(path)) < 0 ||
	    snprintf(cur, sizeof(cur), "%s/cur", path) >= (int)sizeof(cur) || stat(cur, &st) < 0) {
		client_tagged(c, cmd->tag, "NO", "[NONEXISTENT] No such mailbox");
		return;
	}
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "* QUOTAROOT ");
	client_write_mailbox(c, &b, normal);
	/* An account without a limit has no quota root (RFC 9208 4.3.2). */
	if (c->quota_limit)
		buf_append_str(&b, " \"" QUOTA_ROOT "\"");
	buf_append_str(&b, "\r\n");
	if (c->quota_limit && quota_write(c, &b) < 0) {
		client_tagged(c, cmd->tag, "NO", "[SERVERBUG] Cannot read the quota usage");
	} else {
		client_send_buf(c, &b);
		client_tagged(c, cmd->tag, "OK", "GETQUOTAROOT completed");
	}
	buf_free(&b);
}

void cmd_setquota(struct imap_client *c, const struct imap_command *cmd)
{
	if (cmd->count != 2 || cmd->args[1].type != IMAP_ARG_LIST) {
		client_tagged(c, cmd->tag, "BAD",
			      "Usage: SETQUOTA quota-root (resource limit ...)");
		return;
	}
	/* RFC 9208 4.1.3 lets the server refuse: limits live in the users file. */
	client_tagged(c, cmd->tag, "NO", "[NOPERM] Quota limits are set by the administrator");
}

bool cmd_quota_refuse(struct imap_client *c, const char *tag, uint64_t add)
{
	struct maildir_quota_usage u;
	if (c->quota_limit == 0 ||
	    maildir_quota_check(c->account_dir, c->quota_limit, add, &u) != 1)
		return false;
	log_info("imap: user=%s, over quota: %lld of %llu bytes used, %llu more refused", c->user,
		 (long long)u.bytes, (unsigned long long)c->quota_limit, (unsigned long long)add);
	client_tagged(c, tag, "NO", "[OVERQUOTA] Quota exceeded (mailbox full)");
	return true;
}

bool cmd_quota_refuse_copy(struct imap_client *c, const char *tag, struct mailbox *mb,
			   const size_t *idxs, size_t n)
{
	if (c->quota_limit == 0)
		return false;
	uint64_t add = 0;
	for (size_t k = 0; k < n; k++)
		add += mailbox_msg_size(mb, idxs[k]);
	return cmd_quota_refuse(c, tag, add);
}
