/* cmd_mailbox.c - SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (with LIST-EXTENDED options), LSUB, STATUS. */
#include "cmd_qresync.h"
#include "commands.h"
#include "imap_utf7.h"
#include "log.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "notify.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAILBOX_NAME_MAX 512

/* The mailbox name argument, "INBOX" in any case normalised, a trailing '/' dropped.
 * Returns 0, or -1 after a BAD response. */
static int mbox_name_arg(struct imap_client *c, const struct imap_command *cmd,
			 const struct imap_arg *a, char *out, size_t outlen)
{
	const char *s;
	size_t len;
	if (!imap_arg_string(a, &s, &len) || client_mailbox_name(c, s, len, out, outlen) < 0) {
		client_tagged(c, cmd->tag, "BAD", "Invalid mailbox name");
		return -1;
	}
	return 0;
}

static bool mbox_exists(const char *path)
{
	char cur[PATH_MAX + 8];
	struct stat st;
	snprintf(cur, sizeof(cur), "%s/cur", path);
	return stat(cur, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Resolves name to an existing folder's path. Returns 0, or -1 after a NO response. */
static int mbox_existing(struct imap_client *c, const struct imap_command *cmd, const char *name,
			 char *path, size_t pathlen)
{
	if (client_folder_path(c, name, path, pathlen) < 0) {
		client_tagged(c, cmd->tag, "NO", "[CANNOT] Invalid mailbox name");
		return -1;
	}
	if (!mbox_exists(path)) {
		client_tagged(c, cmd->tag, "NO", "[NONEXISTENT] No such mailbox");
		return -1;
	}
	return 0;
}

void cmd_select(struct imap_client *c, const struct imap_command *cmd)
{
	bool readonly = strcmp(cmd->name, "EXAMINE") == 0;
	char name[MAILBOX_NAME_MAX], path[PATH_MAX], err[256];
	if (cmd->count < 1 || cmd->count > 2) {
		client_tagged(c, cmd->tag, "BAD", "Usage: %s mailbox", cmd->name);
		return;
	}
	if (mbox_name_arg(c, cmd, &cmd->args[0], name, sizeof(name)) < 0)
		return;
	struct qresync_select qr;
	bool qresync = false;
	if (cmd->count == 2) {
		const struct imap_arg *params;
		unsigned n;
		if (!imap_arg_list(&cmd->args[1], &params, &n)) {
			client_tagged(c, cmd->tag, "BAD", "Invalid SELECT parameters");
			return;
		}
		for (unsigned i = 0; i < n; i++) {
			if (imap_arg_atom_equals(&params[i], "CONDSTORE")) {
				c->enabled |= IMAP_ENABLED_CONDSTORE;
			} else if (imap_arg_atom_equals(&params[i], "QRESYNC") && !qresync &&
				   i + 1 < n) {
				const char *error;
				int r = qresync_select_parse(&params[++i], &qr, &error);
				if (r == 0 && !(c->enabled & IMAP_ENABLED_QRESYNC))
					error = "QRESYNC parameter without ENABLE QRESYNC";
				if (r < 0 || !(c->enabled & IMAP_ENABLED_QRESYNC)) {
					qresync_select_free(&qr);
					client_tagged(c, cmd->tag, "BAD", "%s", error);
					return;
				}
				qresync = true;
			} else {
				if (qresync)
					qresync_select_free(&qr);
				client_tagged(c, cmd->tag, "BAD", "Unknown SELECT parameter");
				return;
			}
		}
	}
	if (c->view) {
		client_view_close(c);
		client_enter_state(c, IMAP_STATE_AUTH);
		client_send(c, "* OK [CLOSED] Previous mailbox closed\r\n");
	}
	int r = mbox_existing(c, cmd, name, path, sizeof(path));
	if (r == 0 && client_view_open(c, name, path, readonly, err, sizeof(err)) < 0) {
		log_warn("imap: user=%s, cannot open %s: %s", c->user, path, err);
		client_tagged(c, cmd->tag, "NO", "[SERVERBUG] Cannot open the mailbox");
		r = -1;
	}
	if (r < 0) {
		if (qresync)
			qresync_select_free(&qr);
		return;
	}
	if (qresync) {
		qresync_select_send(c, &qr);
		qresync_select_free(&qr);
	}
	client_enter_state(c, IMAP_STATE_SELECTED);
	client_tagged(c, cmd->tag, "OK", "[%s] %s completed", readonly ? "READ-ONLY" : "READ-WRITE",
		      cmd->name);
}

void cmd_create(struct imap_client *c, const struct imap_command *cmd)
{
	char name[MAILBOX_NAME_MAX], path[PATH_MAX], err[256];
	if (cmd->count < 1 || mbox_name_arg(c, cmd, &cmd->args[0], name, sizeof(name)) < 0) {
		if (cmd->count < 1)
			client_tagged(c, cmd->tag, "BAD", "Usage: CREATE mailbox");
		return;
	}
	if (client_folder_path(c, name, path, sizeof(path)) < 0) {
		client_tagged(c, cmd->tag, "NO", "[CANNOT] Invalid mailbox name");
		return;
	}
	if (mbox_exists(path)) {
		client_tagged(c, cmd->tag, "NO", "[ALREADYEXISTS] Mailbox exists");
		return;
	}
	if (mailbox_folder_create(c->account_dir, name, err, sizeof(err)) < 0) {
		client_tagged(c, cmd->tag, "NO", "[CANNOT] %s", err);
		return;
	}
	notify_mailbox_event(c, NOTIFY_MAILBOX_NAME, name, NULL, true);
	client_tagged(c, cmd->tag, "OK", "CREATE completed");
}

void cmd_delete(struct imap_client *c, const struct imap_command *cmd)
{
	char name[MAILBOX_NAME_MAX], path[PATH_MAX], err[256];
	if (cmd->count != 1) {
		client_tagged(c, cmd->tag, "BAD", "Usage: DELETE mailbox");
		return;
	}
	if (mbox_name_arg(c, cmd, &cmd->args[0], name, sizeof(name)) < 0)
		return;
	if (strcmp(name, "INBOX") == 0) {
		client_tagged(c, cmd->tag, "NO", "[CANNOT] INBOX cannot be deleted");
		return;
	}
	if (mbox_existing(c, cmd, name, path, sizeof(path)) < 0)
		return;
	if (c->view && strcmp(c->view->path, path) == 0) {
		client_view_close(c);
		client_enter_state(c, IMAP_STATE_AUTH);
	}
	if (mailbox_folder_delete(c->account_dir, name, err, sizeof(err)) < 0) {
		client_tagged(c, cmd->tag, "NO", "[CANNOT] %s", err);
		return;
	}
	notify_mailbox_event(c, NOTIFY_MAILBOX_NAME, name, NULL, false);
	client_tagged(c, cmd->tag, "OK", "DELETE completed");
}

void cmd_rename(struct imap_client *c, const struct imap_command *cmd)
{
	char from[MAILBOX_NAME_MAX], to[MAILBOX_NAME_MAX], path[PATH_MAX], err[256];
	if (cmd->count != 2) {
		client_tagged(c, cmd->tag, "BAD", "Usage: RENAME from to");
		return;
	}
	if (mbox_name_arg(c, cmd, &cmd->args[0], from, sizeof(from)) < 0 ||
	    mbox_name_arg(c, cmd, &cmd->args[1], to, sizeof(to)) < 0)
		return;
	if (mbox_existing(c, cmd, from, path, sizeof(path)) < 0)
		return;
	if (client_folder_path(c, to, path, sizeof(path)) < 0) {
		client_tagged(c, cmd->tag, "NO", "[CANNOT] Invalid mailbox name");
		return;
	}
	if (mbox_exists(path)) {
		client_tagged(c, cmd->tag, "NO", "[ALREADYEXISTS] Mailbox exists");
		return;
	}
	if (mailbox_folder_rename(c->account_dir, from, to, err, sizeof(err)) < 0) {
		client_tagged(c, cmd->tag, "NO", "[CANNOT] %s", err);
		return;
	}
	notify_mailbox_event(c, NOTIFY_MAILBOX_NAME, to, from, true);
	client_tagged(c, cmd->tag, "OK", "RENAME completed");
}

void cmd_subscribe(struct imap_client *c, const struct imap_command *cmd)
{
	bool sub = strcmp(cmd->name, "SUBSCRIBE") == 0;
	char name[MAILBOX_NAME_MAX], path[PATH_MAX];
	if (cmd->count != 1) {
		client_tagged(c, cmd->tag, "BAD", "Usage: %s mailbox", cmd->name);
		return;
	}
	if (mbox_name_arg(c, cmd, &cmd->args[0], name, sizeof(name)) < 0)
		return;
	if (sub && mbox_existing(c, cmd, name, path, sizeof(path)) < 0)
		return;
	if (mailbox_subscribe(c->account_dir, name, sub) < 0) {
		client_tagged(c, cmd->tag, "NO", "[SERVERBUG] Cannot update the subscriptions");
		return;
	}
	notify_mailbox_event(c, NOTIFY_SUBSCRIPTION_CHANGE, name, NULL, sub);
	client_tagged(c, cmd->tag, "OK", "%s completed", cmd->name);
}

/* LIST pattern match: '*' matches anything, '%' anything but the delimiter '/'. Bounded:
 * the pattern length is limited and the recursion is over the pattern's wildcards. */
static bool list_match(const char *pat, const char *name, unsigned depth)
{
	if (depth > 64)
		return false;
	for (;;) {
		if (*pat == '\0')
			return *name == '\0';
		if (*pat == '*' || *pat == '%') {
			bool star = *pat == '*';
			while (*pat == '*' || *pat == '%') {
				if (*pat == '*')
					star = true;
				pat++;
			}
			if (*pat == '\0')
				return star || strchr(name, '/') == NULL;
			for (const char *n = name; *n; n++) {
				if (list_match(pat, n, depth + 1))
					return true;
				if (!star && *n == '/')
					return false;
			}
			return false;
		}
		if (*pat != *name)
			return false;
		pat++;
		name++;
	}
}

static bool list_name_match(const char *pattern, const char *name)
{
	/* INBOX is case-insensitive: a pattern whose leading literal bytes spell a prefix
	 * of "INBOX" in any case ("inbox/%", "in*") matches it as if written in capitals. */
	char buf[MAILBOX_NAME_MAX * 2];
	snprintf(buf, sizeof(buf), "%s", pattern);
	if (strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/')) {
		size_t k = 0;
		while (k < 5 && buf[k] && toupper((unsigned char)buf[k]) == "INBOX"[k])
			k++;
		if (k == 5 || buf[k] == '*' || buf[k] == '%')
			memcpy(buf, "INBOX", k);
	}
	return list_match(buf, name, 0);
}

static bool list_patterns_match(char *const *pats, size_t npats, const char *name)
{
	for (size_t k = 0; k < npats; k++) {
		if (list_name_match(pats[k], name))
			return true;
	}
	return false;
}

enum list_opt {
	LIST_SEL_SUBSCRIBED = 1 << 0,
	LIST_SEL_SPECIAL = 1 << 1,
	LIST_RET_SUBSCRIBED = 1 << 2,
	LIST_RET_STATUS = 1 << 3,
	LIST_SEL_RECURSIVE = 1 << 4,
};

static void list_status_line(struct imap_client *c, struct buf *b, const char *name,
			     const struct imap_arg *items, unsigned nitems);

/* RFC 3501 6.3.8: the reference and the pattern are concatenated (the reference normally
 * ends with the delimiter: LIST "A/" %); a pattern starting with the delimiter ignores it. */
static void list_add_pattern(const struct imap_client *c, char ***pats, size_t *n, const char *ref,
			     const char *pat)
{
	struct buf r7, p7;
	buf_init(&r7);
	buf_init(&p7);
	if (c->enabled & IMAP_ENABLED_UTF8_NAMES) {
		/* UTF-8 patterns against modified UTF-7 names (wildcards are ASCII). */
		if (imap_utf8_to_utf7(ref, strlen(ref), &r7) == 0 &&
		    imap_utf8_to_utf7(pat, strlen(pat), &p7) == 0) {
			ref = r7.data ? r7.data : "";
			pat = p7.data ? p7.data : "";
		}
	}
	*pats = xrealloc(*pats, (*n + 1) * sizeof(**pats));
	if (pat[0] == '/')
		(*pats)[(*n)++] = xstrdup(pat);
	else
		(*pats)[(*n)++] = xasprintf("%s%s", ref, pat);
	buf_free(&r7);
	buf_free(&p7);
}

/* One LIST/LSUB reply line to send: a folder of the account, or (f == NULL) a parent name
 * that only RECURSIVEMATCH/LSUB brings in. */
struct list_item {
	char *name;
	const struct mailbox_folder *f;
	bool shown;     /* matched the pattern and the selection */
	bool child_sub; /* has a subscribed descendant (CHILDINFO, LSUB \Noselect) */
};

struct list_items {
	struct list_item *v;
	size_t n, cap;
};

/* The folder list is sorted (INBOX first, then by name); parents outside it are few. */
static struct list_item *list_item_get(struct list_items *it, size_t nfolders, const char *name)
{
	size_t lo = 0, hi = nfolders;
	bool inbox = strcmp(name, "INBOX") == 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *m = it->v[mid].name;
		bool mi = strcmp(m, "INBOX") == 0;
		int c = mi != inbox ? (mi ? -1 : 1) : strcmp(m, name);
		if (c == 0)
			return &it->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = nfolders; i < it->n; i++) {
		if (strcmp(it->v[i].name, name) == 0)
			return &it->v[i];
	}
	if (it->n - nfolders >= 10000)
		return NULL;
	if (it->n == it->cap) {
		it->cap = it->cap ? it->cap * 2 : 16;
		it->v = xrealloc(it->v, it->cap * sizeof(*it->v));
	}
	struct list_item *item = &it->v[it->n++];
	memset(item, 0, sizeof(*item));
	item->name = xstrdup(name);
	return item;
}

/* Selection by subscription (LIST (SUBSCRIBED), LSUB). With RECURSIVEMATCH (always for
 * LSUB, RFC 3501 6.3.9) a subscribed name that does not match the pattern brings in its
 * nearest ancestor that does, flagged child_sub; a matching ancestor of a name that
 * matched itself is only flagged (Dovecot's rule, RFC 5258 example 9). */
static void list_select_subscribed(struct list_items *it, size_t nfolders, char *const *pats,
				   size_t npats, bool recursive)
{
	for (size_t i = 0; i < nfolders; i++) {
		if (!it->v[i].f->subscribed)
			continue;
		char *name = xstrdup(it->v[i].name);
		bool add_matched = true, leaf = true;
		for (;;) {
			if (list_patterns_match(pats, npats, name)) {
				struct list_item *item = list_item_get(it, nfolders, name);
				if (item) {
					if (add_matched)
						item->shown = true;
					if (!leaf)
						item->child_sub = true;
				}
				add_matched = false;
			}
			char *slash = strrchr(name, '/');
			if (!recursive || !slash)
				break;
			*slash = '\0';
			leaf = false;
		}
		free(name);
	}
}

static void list_write_flags(struct buf *b, const struct list_item *item, bool lsub, unsigned opts)
{
	const struct mailbox_folder *f = item->f;
	size_t start = b->len;
#define LIST_FLAG(s) buf_printf(b, "%s%s", b->len > start ? " " : "", s)
	if (lsub) {
		/* LSUB: \Noselect for a parent that is only there for its subscribed children,
		 * and for a subscription that cannot be selected. */
		if (!f || !f->subscribed || f->noselect || f->nonexistent)
			LIST_FLAG("\\Noselect");
		else if (f->special_use)
			LIST_FLAG(f->special_use);
		return;
	}
	if (!f || f->nonexistent) {
		LIST_FLAG("\\NonExistent");
		if (item->child_sub)
			LIST_FLAG("\\HasChildren");
	} else {
		if (f->noselect)
			LIST_FLAG("\\Noselect");
		LIST_FLAG(f->has_children || item->child_sub ? "\\HasChildren" : "\\HasNoChildren");
		if (f->special_use)
			LIST_FLAG(f->special_use);
	}
	if ((opts & LIST_RET_SUBSCRIBED) && f && f->subscribed)
		LIST_FLAG("\\Subscribed");
#undef LIST_FLAG
}

void cmd_list(struct imap_client *c, const struct imap_command *cmd)
{
	bool lsub = strcmp(cmd->name, "LSUB") == 0;
	const struct imap_arg *a = cmd->args;
	unsigned n = cmd->count, opts = lsub ? LIST_SEL_SUBSCRIBED | LIST_SEL_RECURSIVE : 0;
	const struct imap_arg *status_items = NULL;
	unsigned n_status = 0;
	if (!lsub && n > 0 && a[0].type == IMAP_ARG_LIST) {
		const struct imap_arg *l;
		unsigned ln;
		imap_arg_list(&a[0], &l, &ln);
		for (unsigned i = 0; i < ln; i++) {
			if (imap_arg_atom_equals(&l[i], "SUBSCRIBED"))
				opts |= LIST_SEL_SUBSCRIBED | LIST_RET_SUBSCRIBED;
			else if (imap_arg_atom_equals(&l[i], "SPECIAL-USE"))
				opts |= LIST_SEL_SPECIAL;
			else if (imap_arg_atom_equals(&l[i], "RECURSIVEMATCH"))
				opts |= LIST_SEL_RECURSIVE;
			else if (!imap_arg_atom_equals(&l[i], "REMOTE")) {
				client_tagged(c, cmd->tag, "BAD", "Unknown LIST selection option");
				return;
			}
		}
		/* RFC 5258 3.1: RECURSIVEMATCH only modifies another selection option. */
		if ((opts & LIST_SEL_RECURSIVE) &&
		    !(opts & (LIST_SEL_SUBSCRIBED | LIST_SEL_SPECIAL))) {
			client_tagged(c, cmd->tag, "BAD",
				      "RECURSIVEMATCH needs another selection option");
			return;
		}
		a++;
		n--;
	}
	if (n < 2 || (lsub && n != 2)) {
		client_tagged(c, cmd->tag, "BAD", "Usage: %s reference pattern", cmd->name);
		return;
	}
	if (n > 2) {
		const struct imap_arg *l;
		unsigned ln;
		if (n != 4 || !imap_arg_atom_equals(&a[2], "RETURN") ||
		    !imap_arg_list(&a[3], &l, &ln)) {
			client_tagged(c, cmd->tag, "BAD",
				      "Usage: LIST reference pattern RETURN (...)");
			return;
		}
		for (unsigned i = 0; i < ln; i++) {
			if (imap_arg_atom_equals(&l[i], "SUBSCRIBED")) {
				opts |= LIST_RET_SUBSCRIBED;
			} else if (imap_arg_atom_equals(&l[i], "STATUS") && i + 1 < ln &&
				   l[i + 1].type == IMAP_ARG_LIST) {
				opts |= LIST_RET_STATUS;
				imap_arg_list(&l[i + 1], &status_items, &n_status);
				i++;
			} else if (!imap_arg_atom_equals(&l[i], "CHILDREN") &&
				   !imap_arg_atom_equals(&l[i], "SPECIAL-USE")) {
				client_tagged(c, cmd->tag, "BAD", "Unknown LIST return option");
				return;
			}
		}
	}
	const char *ref;
	if (!imap_arg_string(&a[0], &ref, NULL) || strlen(ref) > MAILBOX_NAME_MAX) {
		client_tagged(c, cmd->tag, "BAD", "Invalid reference");
		return;
	}
	char **pats = NULL;
	size_t npats = 0;
	bool empty_pattern = false;
	if (!lsub && a[1].type == IMAP_ARG_LIST) {
		const struct imap_arg *l;
		unsigned ln;
		imap_arg_list(&a[1], &l, &ln);
		for (unsigned i = 0; i < ln && i < 100; i++) {
			const char *p;
			if (imap_arg_string(&l[i], &p, NULL) && strlen(p) <= MAILBOX_NAME_MAX)
				list_add_pattern(c, &pats, &npats, ref, p);
		}
	} else {
		const char *p;
		if (!imap_arg_string(&a[1], &p, NULL) || strlen(p) > MAILBOX_NAME_MAX) {
			client_tagged(c, cmd->tag, "BAD", "Invalid pattern");
			return;
		}
		if (p[0] == '\0')
			empty_pattern = true;
		else
			list_add_pattern(c, &pats, &npats, ref, p);
	}

	struct buf b;
	buf_init(&b);
	if (empty_pattern)
		buf_printf(&b, "* %s (\\Noselect) \"/\" \"\"\r\n", cmd->name);
	struct mailbox_folder *folders = NULL;
	long nf = npats ? mailbox_folder_list(c->account_dir, &folders) : 0;
	if (nf < 0) {
		log_warn("imap: user=%s, cannot list folders: %s", c->user, strerror((int)-nf));
		nf = 0;
	}
	struct list_items it = { NULL, 0, 0 };
	it.cap = (size_t)nf + 1;
	it.v = xcalloc(it.cap, sizeof(*it.v));
	for (long i = 0; i < nf; i++) {
		it.v[i].name = folders[i].name;
		it.v[i].f = &folders[i];
	}
	it.n = (size_t)nf;
	if (opts & LIST_SEL_SUBSCRIBED) {
		list_select_subscribed(&it, (size_t)nf, pats, npats, opts & LIST_SEL_RECURSIVE);
	} else {
		for (long i = 0; i < nf; i++) {
			const struct mailbox_folder *f = &folders[i];
			it.v[i].shown = !f->nonexistent &&
					(!(opts & LIST_SEL_SPECIAL) || f->special_use) &&
					list_patterns_match(pats, npats, f->name);
		}
	}
	for (size_t i = 0; i < it.n; i++) {
		const struct list_item *item = &it.v[i];
		if (!item->shown)
			continue;
		buf_printf(&b, "* %s (", cmd->name);
		list_write_flags(&b, item, lsub, opts);
		buf_append_str(&b, ") \"/\" ");
		client_write_mailbox(c, &b, item->name);
		if (!lsub && (opts & LIST_SEL_RECURSIVE) && item->child_sub &&
		    !(item->f && item->f->subscribed))
			buf_append_str(&b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
		buf_append_str(&b, "\r\n");
		if ((opts & LIST_RET_STATUS) && item->f && !item->f->nonexistent &&
		    !item->f->noselect)
			list_status_line(c, &b, item->name, status_items, n_status);
	}
	client_send_buf(c, &b);
	buf_free(&b);
	for (size_t i = (size_t)nf; i < it.n; i++)
		free(it.v[i].name);
	free(it.v);
	if (folders)
		mailbox_folders_free(folders, (size_t)nf);
	for (size_t k = 0; k < npats; k++)
		free(pats[k]);
	free(pats);
	client_tagged(c, cmd->tag, "OK", "%s completed", cmd->name);
}

/* Appends "* STATUS name (...)" for items; returns 0, or -1 for an unknown item. */
static int status_write(struct imap_client *c, struct buf *b, const char *name, const char *path,
			const struct imap_arg *items, unsigned nitems)
{
	struct mailbox_status st;
	bool want_size = false;
	memset(&st, 0, sizeof(st));
	for (unsigned i = 0; i < nitems; i++)
		want_size = want_size || imap_arg_atom_equals(&items[i], "SIZE");
	int r = mailbox_status(path, want_size, &st);
	if (r < 0)
		return -2;
	uint32_t deleted = 0;
	uint64_t deleted_storage = 0; /* RFC 9208 DELETED-STORAGE: octets of \Deleted messages */
	for (unsigned i = 0; i < nitems; i++) {
		if (imap_arg_atom_equals(&items[i], "DELETED") ||
		    imap_arg_atom_equals(&items[i], "DELETED-STORAGE")) {
			struct mailbox *mb;
			char err[128];
			if (mailbox_open(path, true, &mb, err, sizeof(err)) == 0) {
				for (size_t k = 0; k < mb->count; k++)
					if (mb->msgs[k].flags & MAILBOX_DELETED) {
						deleted++;
						deleted_storage += mailbox_msg_size(mb, k);
					}
				mailbox_close(&mb);
			}
			break;
		}
	}
	buf_append_str(b, "* STATUS ");
	client_write_mailbox(c, b, name);
	buf_append_str(b, " (");
	for (unsigned i = 0; i < nitems; i++) {
		const struct imap_arg *a = &items[i];
		if (i)
			buf_append_str(b, " ");
		if (imap_arg_atom_equals(a, "MESSAGES"))
			buf_printf(b, "MESSAGES %u", st.messages);
		else if (imap_arg_atom_equals(a, "RECENT"))
			buf_printf(b, "RECENT %u", st.recent);
		else if (imap_arg_atom_equals(a, "UIDNEXT"))
			buf_printf(b, "UIDNEXT %u", st.uidnext);
		else if (imap_arg_atom_equals(a, "UIDVALIDITY"))
			buf_printf(b, "UIDVALIDITY %u", st.uidvalidity);
		else if (imap_arg_atom_equals(a, "UNSEEN"))
			buf_printf(b, "UNSEEN %u", st.unseen);
		else if (imap_arg_atom_equals(a, "HIGHESTMODSEQ"))
			buf_printf(b, "HIGHESTMODSEQ %llu",
				   (unsigned long long)(st.highest_modseq ? st.highest_modseq : 1));
		else if (imap_arg_atom_equals(a, "SIZE"))
			buf_printf(b, "SIZE %llu", (unsigned long long)st.size);
		else if (imap_arg_atom_equals(a, "DELETED"))
			buf_printf(b, "DELETED %u", deleted);
		else if (imap_arg_atom_equals(a, "DELETED-STORAGE"))
			buf_printf(b, "DELETED-STORAGE %llu",
				   (unsigned long long)(deleted_storage + 1023) / 1024);
		else
			return -1;
	}
	buf_append_str(b, ")\r\n");
	return 0;
}

static void list_status_line(struct imap_client *c, struct buf *b, const char *name,
			     const struct imap_arg *items, unsigned nitems)
{
	char path[PATH_MAX];
	size_t before = b->len;
	if (client_folder_path(c, name, path, sizeof(path)) < 0 ||
	    status_write(c, b, name, path, items, nitems) < 0)
		b->len = before;
}

void cmd_status(struct imap_client *c, const struct imap_command *cmd)
{
	char name[MAILBOX_NAME_MAX], path[PATH_MAX];
	const struct imap_arg *items;
	unsigned nitems;
	if (cmd->count != 2 || !imap_arg_list(&cmd->args[1], &items, &nitems) || nitems == 0) {
		client_tagged(c, cmd->tag, "BAD", "Usage: STATUS mailbox (items)");
		return;
	}
	if (mbox_name_arg(c, cmd, &cmd->args[0], name, sizeof(name)) < 0)
		return;
	if (mbox_existing(c, cmd, name, path, sizeof(path)) < 0)
		return;
	struct buf b;
	buf_init(&b);
	int r = status_write(c, &b, name, path, items, nitems);
	if (r == -1)
		client_tagged(c, cmd->tag, "BAD", "Unknown STATUS item");
	else if (r < 0)
		client_tagged(c, cmd->tag, "NO", "[SERVERBUG] Cannot read the mailbox status");
	else {
		client_send_buf(c, &b);
		client_tagged(c, cmd->tag, "OK", "STATUS completed");
	}
	buf_free(&b);
}
