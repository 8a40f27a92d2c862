/* cmd_append.c - APPEND: messages with optional flags and date into a folder, all or nothing (MULTIAPPEND), built from literals or CATENATE parts, APPENDUID (UIDPLUS).
 * The command is parsed and every message built first (append_build), then checked, then
 * committed by one mailbox_append_many: a check that needs the total (quota) goes between. */
#include "buf.h"
#include "commands.h"
#include "fileutil.h"
#include "imap_date.h"
#include "fetch.h"
#include "imap_url.h"
#include "imap_utf7.h"
#include "log.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "mime.h"
#include "mime_binary.h"
#include "rfc5322.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define APPEND_USAGE        "Usage: APPEND mailbox [(flags)] [date-time] literal ..."
#define APPEND_MAX_MESSAGES 1000 /* messages of one MULTIAPPEND */

/* One message of the command as the client sent it, then as it will be stored. */
struct append_msg {
	unsigned flags;
	const char *kw[MAILBOX_MAX_KEYWORDS + 1];
	size_t nkw;
	time_t when;
	const struct imap_arg *data; /* a literal, or CATENATE's part list */
	bool catenate;
	struct buf body;   /* the bytes to store when they were built or rewritten */
	const char *bytes; /* the bytes to store: body's, or the literal's as sent */
	size_t len;
};

/* What went wrong while building a message: the tagged response. */
struct append_error {
	const char *status; /* "NO" or "BAD" */
	char text[400];
};

static void append_fail(struct append_error *e, const char *status, const char *fmt, const char *s)
{
	e->status = status;
	snprintf(e->text, sizeof(e->text), fmt, s);
}

/* Parses the message arguments from a[*i]: [flag-list] [date-time] append-data. */
static int append_parse_msg(struct imap_client *c, const struct imap_command *cmd,
			    const struct imap_arg *a, unsigned n, unsigned *i, struct append_msg *m)
{
	m->when = time(NULL);
	if (*i < n && a[*i].type == IMAP_ARG_LIST) {
		if (command_flags(c, cmd, &a[*i], &m->flags, m->kw, MAILBOX_MAX_KEYWORDS, &m->nkw) <
		    0)
			return -1;
		(*i)++;
	}
	if (*i < n && a[*i].type == IMAP_ARG_STRING) {
		int64_t t;
		int tz;
		if (imap_datetime_parse(a[*i].str, a[*i].len, &t, &tz) < 0) {
			client_tagged(c, cmd->tag, "BAD", "Invalid date-time");
			return -1;
		}
		m->when = (time_t)t;
		(*i)++;
	}
	/* append-data: literal / literal8 / CATENATE (parts) / UTF8 (literal8) (RFC 6855) */
	if (*i < n && a[*i].type == IMAP_ARG_LITERAL) {
		m->data = &a[(*i)++];
		return 0;
	}
	bool cat = *i + 1 < n && imap_arg_atom_equals(&a[*i], "CATENATE");
	bool utf8 = *i + 1 < n && imap_arg_atom_equals(&a[*i], "UTF8");
	if ((cat || utf8) && a[*i + 1].type == IMAP_ARG_LIST && a[*i + 1].count > 0) {
		const struct imap_arg *l = a[*i + 1].list;
		if (utf8 && (a[*i + 1].count != 1 || l[0].type != IMAP_ARG_LITERAL ||
			     !(c->enabled & IMAP_ENABLED_UTF8))) {
			client_tagged(c, cmd->tag, "BAD",
				      (c->enabled & IMAP_ENABLED_UTF8)
					      ? "Usage: APPEND mailbox UTF8 (~{n} literal)"
					      : "UTF8 APPEND needs ENABLE UTF8=ACCEPT");
			return -1;
		}
		m->data = utf8 ? &l[0] : &a[*i + 1];
		m->catenate = cat;
		*i += 2;
		return 0;
	}
	client_tagged(c, cmd->tag, "BAD", APPEND_USAGE);
	return -1;
}

/* The folder path of a mailbox named in a URL (UTF-8, RFC 5092). */
static int append_url_folder(struct imap_client *c, const char *name, char *path, size_t pathlen)
{
	struct buf b;
	buf_init(&b);
	int r = imap_utf8_to_utf7(name, strlen(name), &b);
	if (r == 0 && b.len > 0) {
		const char *n = strcasecmp(b.data, "INBOX") == 0 ? "INBOX" : b.data;
		r = client_folder_path(c, n, path, pathlen);
	} else {
		r = -1;
	}
	buf_free(&b);
	return r;
}

/* Appends the part a CATENATE URL names to out. Returns 0, or -1 with e set (NO [BADURL]). */
static int append_url(struct imap_client *c, const char *url, size_t urllen, struct buf *out,
		      struct append_error *e)
{
	struct imap_url u;
	char path[PATH_MAX], err[256];
	char shown[200];
	snprintf(shown, sizeof(shown), "%.*s", (int)(urllen < 150 ? urllen : 150), url);
	for (char *q = shown; *q; q++)
		if (*q == ']' || (unsigned char)*q < 0x20)
			*q = '?';
	if (imap_url_parse(url, urllen, &u) < 0) {
		append_fail(e, "NO", "[BADURL %s] Invalid or unsupported IMAP URL", shown);
		return -1;
	}
	struct mailbox *mb = NULL;
	bool own = false;
	if (u.mailbox[0] == '\0') {
		if (c->view)
			mb = c->view->mb;
	} else if (append_url_folder(c, u.mailbox, path, sizeof(path)) == 0) {
		if (c->view && strcmp(c->view->path, path) == 0)
			mb = c->view->mb;
		else if (mailbox_open(path, true, &mb, err, sizeof(err)) == 0)
			own = true;
	}
	long idx = mb ? mailbox_find_uid(mb, u.uid) : -1;
	int r = -1;
	if (idx >= 0 && (u.uidvalidity == 0 || u.uidvalidity == mb->uidvalidity)) {
		int fd = mailbox_msg_open(mb, (size_t)idx);
		char *data = NULL;
		size_t len = 0;
		if (fd >= 0) {
			r = read_fd_whole(fd, SIZE_MAX, &data, &len);
			close(fd);
		}
		/* The section as FETCH BODY[section] gives it (HEADER.FIELDS included). */
		struct buf part;
		buf_init(&part);
		if (r == 0)
			r = fetch_section_bytes(u.section, data, len, &part);
		if (r == 0) {
			uint64_t n = part.len, po = 0, pl = n;
			if (u.partial) {
				po = u.partial_off < n ? u.partial_off : n;
				pl = n - po < u.partial_len ? n - po : u.partial_len;
			}
			if (pl)
				buf_append(out, part.data + po, (size_t)pl);
		}
		buf_free(&part);
		free(data);
	}
	if (own)
		mailbox_close(&mb);
	if (r < 0)
		append_fail(e, "NO", "[BADURL %s] No such message or section", shown);
	return r;
}

/* Builds m->body: the literal, or CATENATE's parts in order; a literal8 has its binary parts
 * re-encoded (mime_binary_to_base64), bare LFs become CRLF. Returns 0, or -1 with e set. */
static int append_build(struct imap_client *c, struct append_msg *m, struct append_error *e)
{
	struct buf raw;
	buf_init(&raw);
	bool binary = false;
	int r = 0;
	const char *data = raw.data;
	size_t len = 0;
	if (!m->catenate) {
		data = m->data->str; /* used in place: no copy of a plain literal */
		len = m->data->len;
		binary = (m->data->flags & IMAP_ARG_FLAG_LITERAL8) != 0;
	} else {
		const struct imap_arg *l = m->data->list;
		for (unsigned k = 0; r == 0 && k < m->data->count; k += 2) {
			const char *url;
			size_t ulen;
			if (k + 1 >= m->data->count) {
				append_fail(e, "BAD", "%s",
					    "CATENATE parts are TEXT literal or URL url");
				r = -1;
			} else if (imap_arg_atom_equals(&l[k], "TEXT") &&
				   l[k + 1].type == IMAP_ARG_LITERAL) {
				buf_append(&raw, l[k + 1].str, l[k + 1].len);
				if (l[k + 1].flags & IMAP_ARG_FLAG_LITERAL8)
					binary = true;
			} else if (imap_arg_atom_equals(&l[k], "URL") &&
				   imap_arg_string(&l[k + 1], &url, &ulen)) {
				r = append_url(c, url, ulen, &raw, e);
			} else {
				append_fail(e, "BAD", "%s",
					    "CATENATE parts are TEXT literal or URL url");
				r = -1;
			}
			if (r == 0 && raw.len > c->d->cfg->max_message_size) {
				append_fail(e, "NO", "%s", "[TOOBIG] Message too large");
				r = -1;
			}
		}
		data = raw.data;
		len = raw.len;
	}
	if (r == 0 && len == 0) {
		append_fail(e, "NO", "%s", "Empty message");
		r = -1;
	}
	if (r == 0 && len > c->d->cfg->max_message_size) {
		append_fail(e, "NO", "%s", "[TOOBIG] Message too large");
		r = -1;
	}
	if (r < 0) {
		buf_free(&raw);
		return -1;
	}
	/* A NUL octet can only be served by BINARY: binary parts are stored as base64 (RFC
	 * 3516 4.2 lets the server do so), so BODY[] never carries one. */
	struct buf conv;
	buf_init(&conv);
	if ((binary || memchr(data, '\0', len)) && mime_binary_to_base64(&conv, data, len)) {
		data = conv.data;
		len = conv.len;
	}
	/* RFC 3501 messages are CRLF: a bare LF (what a script or an mbox import sends) is stored
	 * as CRLF, as Dovecot does; CRLF input is stored byte for byte. */
	if (mime_crlf_size(data, len) != len) {
		mime_append_crlf(&m->body, data, len);
		m->bytes = m->body.data;
		m->len = m->body.len;
		buf_free(&conv);
		buf_free(&raw);
	} else if (data == m->data->str) {
		m->bytes = data;
		m->len = len;
	} else {
		/* data is conv's or raw's: keep that buffer as the body. */
		m->body = data == conv.data ? conv : raw;
		buf_free(data == conv.data ? &raw : &conv);
		m->bytes = m->body.data;
		m->len = m->body.len;
	}
	return 0;
}

void cmd_append(struct imap_client *c, const struct imap_command *cmd)
{
	const struct imap_arg *a = cmd->args;
	unsigned n = cmd->count;
	const char *name;
	size_t nlen;
	if (n < 2 || !imap_arg_string(&a[0], &name, &nlen) || nlen == 0 || memchr(name, 0, nlen)) {
		client_tagged(c, cmd->tag, "BAD", APPEND_USAGE);
		return;
	}
	struct append_msg *msgs = NULL;
	size_t count = 0, cap = 0;
	struct append_error e = { 0 };
	bool done = false;
	for (unsigned i = 1; i < n;) {
		if (count == APPEND_MAX_MESSAGES) {
			client_tagged(c, cmd->tag, "NO", "[LIMIT] Too many messages in one APPEND");
			done = true;
			break;
		}
		if (count == cap) {
			cap = cap ? cap * 2 : 4;
			msgs = xrealloc(msgs, cap * sizeof(*msgs));
		}
		memset(&msgs[count], 0, sizeof(msgs[count]));
		buf_init(&msgs[count].body);
		count++;
		if (append_parse_msg(c, cmd, a, n, &i, &msgs[count - 1]) < 0) {
			done = true;
			break;
		}
	}
	char normal[600], path[PATH_MAX], cur[PATH_MAX + 8], err[256];
	if (!done && (client_mailbox_name(c, name, nlen, normal, sizeof(normal)) < 0 ||
		      client_folder_path(c, normal, path, sizeof(path)) < 0)) {
		client_tagged(c, cmd->tag, "NO", "[CANNOT] Invalid mailbox name");
		done = true;
	}
	struct stat st;
	if (!done)
		snprintf(cur, sizeof(cur), "%s/cur", path);
	if (!done && stat(cur, &st) < 0) {
		client_tagged(c, cmd->tag, "NO", "[TRYCREATE] No such mailbox");
		done = true;
	}
	uint64_t total = 0;
	for (size_t k = 0; !done && k < count; k++) {
		if (append_build(c, &msgs[k], &e) < 0) {
			client_tagged(c, cmd->tag, e.status, "%s", e.text);
			done = true;
		}
		total += msgs[k].len;
		/* The literals of one command are bounded by the parser; URL parts are not: the
		 * whole stays within what literals could bring. */
		if (!done && total > 2 * (uint64_t)c->d->cfg->max_message_size) {
			client_tagged(c, cmd->tag, "NO", "[TOOBIG] Messages too large together");
			done = true;
		}
	}
	/* Here every message is built and total is what they add to the folder: a check of the
	 * whole (quota) goes here, before the commit. */
	if (!done && cmd_quota_refuse(c, cmd->tag, total))
		done = true;
	if (!done) {
		struct mailbox_append_msg *am = xcalloc(count, sizeof(*am));
		uint32_t *uids = xcalloc(count, sizeof(*uids));
		for (size_t k = 0; k < count; k++)
			am[k] = (struct mailbox_append_msg){ msgs[k].bytes, msgs[k].len,
							     msgs[k].flags, msgs[k].kw,
							     msgs[k].nkw,   msgs[k].when };
		uint32_t uidvalidity = 0;
		int r = mailbox_append_many(path, am, count, &uidvalidity, uids, err, sizeof(err));
		if (r < 0) {
			log_warn("imap: user=%s, APPEND to %s failed: %s", c->user, path, err);
			client_tagged(c, cmd->tag, "NO", "%s",
				      r == -ENOSPC || r == -EDQUOT
					      ? "[OVERQUOTA] Not enough space"
					      : "[SERVERBUG] Cannot store the message");
		} else {
			log_info("imap: user=%s, appended uid %u%s (%llu bytes) to %s", c->user,
				 uids[0], count > 1 ? " and more" : "", (unsigned long long)total,
				 normal);
			imapd_notify_folder(c->d, c, path);
			if (c->view && strcmp(c->view->path, path) == 0)
				c->view->changed = true;
			/* APPENDUID's uid-set: the UIDs ascend by one (one lock, one index write). */
			if (count == 1)
				client_tagged(c, cmd->tag, "OK",
					      "[APPENDUID %u %u] APPEND completed", uidvalidity,
					      uids[0]);
			else
				client_tagged(c, cmd->tag, "OK",
					      "[APPENDUID %u %u:%u] APPEND completed", uidvalidity,
					      uids[0], uids[count - 1]);
		}
		free(am);
		free(uids);
	}
	for (size_t k = 0; k < count; k++)
		buf_free(&msgs[k].body);
	free(msgs);
}
