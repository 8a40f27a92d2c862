/* cmd_append.c - APPEND: a literal message with optional flags and date into a folder, APPENDUID (UIDPLUS). */
#include "buf.h"
#include "commands.h"
#include "imap_date.h"
#include "log.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "mime.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

void cmd_append(struct imap_client *c, const struct imap_command *cmd)
{
	const struct imap_arg *a = cmd->args;
	unsigned n = cmd->count;
	const char *name;
	size_t nlen;
	if (n < 2 || !imap_arg_string(&a[0], &name, &nlen) || nlen == 0 || memchr(name, 0, nlen)) {
		client_tagged(c, cmd->tag, "BAD",
			      "Usage: APPEND mailbox [(flags)] [date-time] literal");
		return;
	}
	unsigned i = 1, flags = 0;
	const char *kw[MAILBOX_MAX_KEYWORDS + 1];
	size_t nkw = 0;
	time_t when = time(NULL);
	if (i < n && a[i].type == IMAP_ARG_LIST) {
		if (command_flags(c, cmd, &a[i], &flags, kw, MAILBOX_MAX_KEYWORDS, &nkw) < 0)
			return;
		i++;
	}
	if (i < n && a[i].type == IMAP_ARG_STRING) {
		int64_t t;
		int tz;
		if (imap_datetime_parse(a[i].str, a[i].len, &t, &tz) < 0) {
			client_tagged(c, cmd->tag, "BAD", "Invalid date-time");
			return;
		}
		when = (time_t)t;
		i++;
	}
	if (i + 1 != n || a[i].type != IMAP_ARG_LITERAL) {
		client_tagged(c, cmd->tag, "BAD",
			      "Usage: APPEND mailbox [(flags)] [date-time] literal");
		return;
	}
	if (a[i].len == 0) {
		client_tagged(c, cmd->tag, "NO", "Empty message");
		return;
	}
	if (a[i].len > c->d->cfg->max_message_size) {
		client_tagged(c, cmd->tag, "NO", "[TOOBIG] Message too large");
		return;
	}
	char normal[600], path[PATH_MAX], cur[PATH_MAX + 8], err[256];
	if (client_mailbox_name(c, name, nlen, normal, sizeof(normal)) < 0 ||
	    client_folder_path(c, normal, path, sizeof(path)) < 0) {
		client_tagged(c, cmd->tag, "NO", "[CANNOT] Invalid mailbox name");
		return;
	}
	struct stat st;
	snprintf(cur, sizeof(cur), "%s/cur", path);
	if (stat(cur, &st) < 0) {
		client_tagged(c, cmd->tag, "NO", "[TRYCREATE] No such mailbox");
		return;
	}
	/* RFC 3501 messages are CRLF: a bare LF (what a script or an mbox import sends) is stored
	 * as CRLF, as Dovecot does; CRLF input is stored byte for byte. */
	const char *data = a[i].str;
	size_t len = a[i].len;
	struct buf crlf;
	buf_init(&crlf);
	if (mime_crlf_size(data, len) != len) {
		mime_append_crlf(&crlf, data, len);
		data = crlf.data;
		len = crlf.len;
	}
	if (cmd_quota_refuse(c, cmd->tag, len)) {
		buf_free(&crlf);
		return;
	}
	uint32_t uidvalidity = 0, uid = 0;
	int r = mailbox_append(path, data, len, flags, kw, nkw, when, &uidvalidity, &uid, err,
			       sizeof(err));
	buf_free(&crlf);
	if (r < 0) {
		log_warn("imap: user=%s, APPEND to %s failed: %s", c->user, path, err);
		client_tagged(c, cmd->tag, "NO", "%s",
			      r == -ENOSPC || r == -EDQUOT
				      ? "[OVERQUOTA] Not enough space"
				      : "[SERVERBUG] Cannot store the message");
		return;
	}
	log_info("imap: user=%s, appended uid %u (%zu bytes) to %s", c->user, uid, len, normal);
	imapd_notify_folder(c->d, c, path);
	if (c->view && strcmp(c->view->path, path) == 0)
		c->view->changed = true;
	client_tagged(c, cmd->tag, "OK", "[APPENDUID %u %u] APPEND completed", uidvalidity, uid);
}
