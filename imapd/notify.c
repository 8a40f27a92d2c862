/* notify.c - NOTIFY (RFC 5465): NOTIFY SET/NONE, STATUS for other mailboxes that changed, LIST for mailbox names and subscriptions, the selected mailbox's updates as they happen. */
/*
 * Where events come from: the changes this daemon's sessions make (imapd_notify_folder, which
 * already tells the sessions that have the folder selected, and the mailbox commands), and for
 * the selected mailbox also the inotify watch that IDLE uses (so deliveries show at once).
 * Deliveries into a folder that is not selected are seen when a session of this daemon next
 * touches it, not at once: watching every folder of every account would cost a watch each.
 *
 * Threads: a session's notification set (cfg) is read and replaced only by the session's own
 * work (its command on the pool) or on the loop while it has no work. What waits for it (folders
 * to report, LIST lines) belongs to the loop; the events it raises itself are collected during
 * its work and handed to the other sessions after it (notify_after_work).
 */
#include "notify.h"
#include "client.h"
#include "commands.h"
#include "fetch_parse.h"
#include "log.h"
#include "mailbox.h"
#include "mailbox_index.h"
#include "mailbox_view.h"
#include "xalloc.h"

#include <uv.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NOTIFY_PENDING_MAX 32 /* folders waiting to be reported; more are dropped (logged) */
#define NOTIFY_WATCH_MAX   32 /* folders watched for other programs' changes; more are not (logged) */

struct notify_filter {
	enum notify_kind kind;
	unsigned events;
	char **names; /* store names (SUBTREE, MAILBOXES; the subscriptions for SUBSCRIBED) */
	size_t n;
};

struct notify_cfg {
	bool status;
	char **listed; /* the existing folders the set asked about at NOTIFY time (store names) */
	size_t nlisted;
	struct fetch_request *fetch_new; /* SELECTED's MessageNew (fetch-att), or NULL */
	struct notify_filter f[NOTIFY_MAX_FILTERS];
	size_t n;
};

struct notify_event_rec {
	unsigned event;
	char *name, *oldname;
	bool on; /* MailboxName: it exists now; SubscriptionChange: subscribed */
	struct notify_event_rec *next;
};

/* inotify on a folder the set asks about (not the selected one, which the view watches): its
 * new/ (deliveries by mtad and deliver) and its directory (the index another imapd process
 * rewrites). Loop; freed in its close callback, after the session may have gone: c is then NULL. */
struct notify_watch {
	uv_fs_event_t ev;
	struct imap_client *c;
	bool index_only; /* the Maildir directory: only the index file counts */
	char maildir[PATH_MAX];
};

/* The STATUS values last sent for a folder: a change seen twice (another session's, and the
 * watch) is reported once. */
struct notify_sent {
	char *name;
	uint32_t messages, uidnext, uidvalidity;
	uint64_t modseq;
};

struct notify_state {
	struct notify_cfg *cfg;                           /* NULL: no NOTIFY SET */
	struct notify_watch *watch[2 * NOTIFY_WATCH_MAX]; /* (loop) */
	size_t nwatch;
	bool told_full;                            /* (loop) logged: too many folders to watch */
	struct notify_sent sent[NOTIFY_WATCH_MAX]; /* (the session's work) */
	size_t nsent_next;
	char *pending[NOTIFY_PENDING_MAX]; /* maildirs to report (loop) */
	size_t npending;
	struct notify_event_rec *in;  /* other sessions' mailbox events (loop) */
	struct notify_event_rec *out; /* events this session raised (its work) */
};

/* ---- the parser ---- */

static const struct {
	const char *name;
	unsigned bit; /* 0: known to RFC 5465, not offered */
} notify_events[] = {
	{ "MessageNew", NOTIFY_MESSAGE_NEW },
	{ "MessageExpunge", NOTIFY_MESSAGE_EXPUNGE },
	{ "FlagChange", NOTIFY_FLAG_CHANGE },
	{ "MailboxName", NOTIFY_MAILBOX_NAME },
	{ "SubscriptionChange", NOTIFY_SUBSCRIPTION_CHANGE },
	{ "AnnotationChange", 0 },
	{ "MailboxMetadataChange", 0 },
	{ "ServerMetadataChange", 0 },
};

static enum notify_parse_result notify_parse_events(const struct imap_arg *a, unsigned *events,
						    const struct imap_arg **fetch_att,
						    const char **error_r)
{
	*events = 0;
	*fetch_att = NULL;
	if (imap_arg_atom_equals(a, "NONE"))
		return NOTIFY_PARSE_OK;
	const struct imap_arg *l;
	unsigned n;
	if (!imap_arg_list(a, &l, &n) || n == 0) {
		*error_r = "Events must be a list or NONE";
		return NOTIFY_PARSE_BAD;
	}
	bool badevent = false;
	for (unsigned i = 0; i < n; i++) {
		size_t k;
		for (k = 0; k < sizeof(notify_events) / sizeof(notify_events[0]); k++)
			if (imap_arg_atom_equals(&l[i], notify_events[k].name))
				break;
		if (k == sizeof(notify_events) / sizeof(notify_events[0])) {
			if (!imap_arg_is_atom(&l[i])) {
				*error_r = "Invalid event";
				return NOTIFY_PARSE_BAD;
			}
			badevent = true; /* an extension's event we do not know */
			continue;
		}
		if (!notify_events[k].bit) {
			badevent = true;
			continue;
		}
		*events |= notify_events[k].bit;
		/* MessageNew may name the FETCH items to send with each new message. */
		if (notify_events[k].bit == NOTIFY_MESSAGE_NEW && i + 1 < n &&
		    l[i + 1].type == IMAP_ARG_LIST)
			*fetch_att = &l[++i];
	}
	/* RFC 5465 5.1: MessageNew and MessageExpunge go together; FlagChange needs both. */
	unsigned msg = *events & NOTIFY_MESSAGE_EVENTS;
	if (msg && (msg & (NOTIFY_MESSAGE_NEW | NOTIFY_MESSAGE_EXPUNGE)) !=
			   (NOTIFY_MESSAGE_NEW | NOTIFY_MESSAGE_EXPUNGE)) {
		*error_r = "MessageNew and MessageExpunge must be given together (and with "
			   "FlagChange)";
		return NOTIFY_PARSE_BAD;
	}
	if (badevent) {
		*error_r = "[BADEVENT (MessageNew MessageExpunge FlagChange MailboxName "
			   "SubscriptionChange)] Event not supported";
		return NOTIFY_PARSE_BADEVENT;
	}
	return NOTIFY_PARSE_OK;
}

enum notify_parse_result notify_parse(const struct imap_arg *args, unsigned count,
				      struct notify_spec *spec, const char **error_r)
{
	memset(spec, 0, sizeof(*spec));
	*error_r = "Usage: NOTIFY SET [STATUS] (filter events) ... or NOTIFY NONE";
	if (count == 1 && imap_arg_atom_equals(&args[0], "NONE")) {
		spec->none = true;
		return NOTIFY_PARSE_OK;
	}
	if (count < 2 || !imap_arg_atom_equals(&args[0], "SET"))
		return NOTIFY_PARSE_BAD;
	unsigned i = 1;
	if (imap_arg_atom_equals(&args[i], "STATUS")) {
		spec->status = true;
		i++;
	}
	if (i == count)
		return NOTIFY_PARSE_BAD;
	static const char *const kinds[] = {
		[NOTIFY_SELECTED] = "SELECTED",     [NOTIFY_SELECTED_DELAYED] = "SELECTED-DELAYED",
		[NOTIFY_INBOXES] = "INBOXES",       [NOTIFY_PERSONAL] = "PERSONAL",
		[NOTIFY_SUBSCRIBED] = "SUBSCRIBED", [NOTIFY_SUBTREE] = "SUBTREE",
		[NOTIFY_MAILBOXES] = "MAILBOXES",
	};
	enum notify_parse_result worst = NOTIFY_PARSE_OK;
	const char *worst_text = NULL;
	bool selected = false;
	for (; i < count; i++) {
		const struct imap_arg *l;
		unsigned n;
		if (!imap_arg_list(&args[i], &l, &n) || n < 2 || spec->n == NOTIFY_MAX_FILTERS)
			return NOTIFY_PARSE_BAD;
		struct notify_spec_filter *f = &spec->f[spec->n++];
		size_t k;
		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (imap_arg_atom_equals(&l[0], kinds[k]))
				break;
		if (k == sizeof(kinds) / sizeof(kinds[0])) {
			*error_r = "Unknown mailbox filter";
			return NOTIFY_PARSE_BAD;
		}
		f->kind = (enum notify_kind)k;
		unsigned ev = 1;
		if (f->kind == NOTIFY_SUBTREE || f->kind == NOTIFY_MAILBOXES) {
			if (n != 3) {
				*error_r = "SUBTREE and MAILBOXES need mailbox names";
				return NOTIFY_PARSE_BAD;
			}
			const struct imap_arg *names = &l[1];
			unsigned nn = 1;
			if (l[1].type == IMAP_ARG_LIST)
				imap_arg_list(&l[1], &names, &nn);
			if (nn == 0 || nn > NOTIFY_MAX_NAMES) {
				*error_r = "Too few or too many mailbox names";
				return NOTIFY_PARSE_BAD;
			}
			for (unsigned j = 0; j < nn; j++) {
				const char *s;
				size_t len;
				if (!imap_arg_string(&names[j], &s, &len) || len == 0) {
					*error_r = "Invalid mailbox name";
					return NOTIFY_PARSE_BAD;
				}
				f->names[f->nnames++] = &names[j];
			}
			ev = 2;
		} else if (n != 2) {
			return NOTIFY_PARSE_BAD;
		}
		if (f->kind == NOTIFY_SELECTED || f->kind == NOTIFY_SELECTED_DELAYED) {
			if (selected) {
				*error_r = "SELECTED given twice";
				return NOTIFY_PARSE_BAD;
			}
			selected = true;
		}
		const char *text = NULL;
		enum notify_parse_result r = notify_parse_events(&l[ev], &f->events, &f->fetch_att,
								 &text);
		if (r == NOTIFY_PARSE_BAD) {
			*error_r = text;
			return r;
		}
		if (r == NOTIFY_PARSE_BADEVENT && worst == NOTIFY_PARSE_OK) {
			worst = r;
			worst_text = text;
		}
	}
	*error_r = worst_text;
	return worst;
}

/* ---- the session's set ---- */

static void notify_cfg_free(struct notify_cfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nlisted; i++)
		free(cfg->listed[i]);
	free(cfg->listed);
	if (cfg->fetch_new) {
		fetch_request_free(cfg->fetch_new);
		free(cfg->fetch_new);
	}
	for (size_t i = 0; i < cfg->n; i++) {
		for (size_t j = 0; j < cfg->f[i].n; j++)
			free(cfg->f[i].names[j]);
		free(cfg->f[i].names);
	}
	free(cfg);
}

void notify_init(struct imap_client *c)
{
	c->notify = xcalloc(1, sizeof(*c->notify));
}

static void notify_events_free(struct notify_event_rec *e)
{
	while (e) {
		struct notify_event_rec *next = e->next;
		free(e->name);
		free(e->oldname);
		free(e);
		e = next;
	}
}

static void notify_watch_closed(uv_handle_t *h)
{
	free(h->data);
}

static void notify_watch_stop(struct notify_state *st)
{
	for (size_t i = 0; i < st->nwatch; i++) {
		st->watch[i]->c = NULL;
		uv_close((uv_handle_t *)&st->watch[i]->ev, notify_watch_closed);
	}
	st->nwatch = 0;
}

void notify_free(struct imap_client *c)
{
	struct notify_state *st = c->notify;
	if (!st)
		return;
	notify_watch_stop(st);
	notify_cfg_free(st->cfg);
	for (size_t i = 0; i < st->npending; i++)
		free(st->pending[i]);
	notify_events_free(st->in);
	notify_events_free(st->out);
	for (size_t i = 0; i < NOTIFY_WATCH_MAX; i++)
		free(st->sent[i].name);
	free(st);
	c->notify = NULL;
}

bool notify_wants_selected(const struct imap_client *c)
{
	const struct notify_cfg *cfg = c->notify ? c->notify->cfg : NULL;
	for (size_t i = 0; cfg && i < cfg->n; i++)
		if ((cfg->f[i].kind == NOTIFY_SELECTED ||
		     cfg->f[i].kind == NOTIFY_SELECTED_DELAYED) &&
		    cfg->f[i].events)
			return true;
	return false;
}

bool notify_selected_delayed(const struct imap_client *c)
{
	const struct notify_cfg *cfg = c->notify ? c->notify->cfg : NULL;
	for (size_t i = 0; cfg && i < cfg->n; i++)
		if (cfg->f[i].kind == NOTIFY_SELECTED_DELAYED && cfg->f[i].events)
			return true;
	return false;
}

/* The events the set asks for about the store name name (not the selected mailbox). */
static unsigned notify_match(const struct notify_cfg *cfg, const char *name)
{
	for (size_t i = 0; cfg && i < cfg->n; i++) {
		const struct notify_filter *f = &cfg->f[i];
		bool hit = false;
		switch (f->kind) {
		case NOTIFY_SELECTED:
		case NOTIFY_SELECTED_DELAYED:
			break;
		case NOTIFY_INBOXES:
			hit = strcmp(name, "INBOX") == 0;
			break;
		case NOTIFY_PERSONAL:
			hit = true;
			break;
		case NOTIFY_SUBSCRIBED:
		case NOTIFY_MAILBOXES:
			for (size_t j = 0; j < f->n && !hit; j++)
				hit = strcmp(f->names[j], name) == 0;
			break;
		case NOTIFY_SUBTREE:
			for (size_t j = 0; j < f->n && !hit; j++) {
				size_t len = strlen(f->names[j]);
				hit = strncmp(f->names[j], name, len) == 0 &&
				      (name[len] == '\0' || name[len] == '/');
			}
			break;
		}
		if (hit)
			return f->events;
	}
	return 0;
}

/* The store name of the folder at maildir, when it is one of c's account; false otherwise. */
static bool notify_folder_name(const struct imap_client *c, const char *maildir, char *out,
			       size_t outlen)
{
	size_t alen = strlen(c->account_dir);
	if (!c->account_dir[0] || strncmp(maildir, c->account_dir, alen) != 0)
		return false;
	const char *rest = maildir + alen;
	if (!*rest) {
		snprintf(out, outlen, "INBOX");
		return true;
	}
	if (rest[0] != '/' || rest[1] != '.' || strchr(rest + 2, '/') || strlen(rest + 2) >= outlen)
		return false;
	snprintf(out, outlen, "%s", rest + 2);
	for (char *p = out; *p; p++)
		if (*p == '.')
			*p = '/';
	return true;
}

/* Appends "* STATUS name (...)" for the folder (pool: reads its index). */
static void notify_write_status(struct imap_client *c, struct buf *b, const char *name,
				unsigned events)
{
	char path[PATH_MAX];
	struct mailbox_status st;
	if (client_folder_path(c, name, path, sizeof(path)) < 0 ||
	    mailbox_status(path, false, &st) < 0)
		return;
	struct notify_state *ns = c->notify;
	struct notify_sent *sent = NULL;
	for (size_t i = 0; i < NOTIFY_WATCH_MAX && !sent; i++)
		if (ns->sent[i].name && strcmp(ns->sent[i].name, name) == 0)
			sent = &ns->sent[i];
	if (sent && sent->messages == st.messages && sent->uidnext == st.uidnext &&
	    sent->uidvalidity == st.uidvalidity && sent->modseq == st.highest_modseq)
		return; /* told already */
	if (!sent) {
		sent = &ns->sent[ns->nsent_next++ % NOTIFY_WATCH_MAX];
		free(sent->name);
		sent->name = xstrdup(name);
	}
	sent->messages = st.messages;
	sent->uidnext = st.uidnext;
	sent->uidvalidity = st.uidvalidity;
	sent->modseq = st.highest_modseq;
	buf_append_str(b, "* STATUS ");
	client_write_mailbox(c, b, name);
	buf_printf(b, " (MESSAGES %u UIDNEXT %u UIDVALIDITY %u", st.messages, st.uidnext,
		   st.uidvalidity);
	if (events & NOTIFY_FLAG_CHANGE)
		buf_printf(b, " HIGHESTMODSEQ %llu",
			   (unsigned long long)(st.highest_modseq ? st.highest_modseq : 1));
	buf_append_str(b, ")\r\n");
}

static bool notify_is_selected(const struct imap_client *c, const char *name)
{
	return c->view && c->view->name && strcmp(c->view->name, name) == 0;
}

void cmd_notify(struct imap_client *c, const struct imap_command *cmd)
{
	struct notify_spec spec;
	const char *error;
	enum notify_parse_result r = notify_parse(cmd->args, cmd->count, &spec, &error);
	if (r == NOTIFY_PARSE_BAD) {
		client_tagged(c, cmd->tag, "BAD", "%s", error);
		return;
	}
	if (r == NOTIFY_PARSE_BADEVENT) {
		client_tagged(c, cmd->tag, "NO", "%s", error);
		return;
	}
	struct notify_state *st = c->notify;
	if (spec.none) {
		notify_cfg_free(st->cfg);
		st->cfg = NULL;
		client_tagged(c, cmd->tag, "OK", "NOTIFY completed");
		return;
	}
	struct notify_cfg *cfg = xcalloc(1, sizeof(*cfg));
	cfg->status = spec.status;
	cfg->n = spec.n;
	struct mailbox_folder *folders = NULL;
	long nfolders = -1;
	for (size_t i = 0; i < spec.n; i++) {
		struct notify_filter *f = &cfg->f[i];
		f->kind = spec.f[i].kind;
		f->events = spec.f[i].events;
		if (spec.f[i].fetch_att &&
		    (f->kind == NOTIFY_SELECTED || f->kind == NOTIFY_SELECTED_DELAYED)) {
			struct fetch_error ferr;
			cfg->fetch_new = xcalloc(1, sizeof(*cfg->fetch_new));
			if (fetch_parse(spec.f[i].fetch_att, 1, FETCH_PARSE_UID, cfg->fetch_new,
					&ferr) < 0) {
				free(cfg->fetch_new);
				cfg->fetch_new = NULL;
				notify_cfg_free(cfg);
				if (nfolders > 0)
					mailbox_folders_free(folders, (size_t)nfolders);
				client_tagged(c, cmd->tag, "BAD", "MessageNew: %s", ferr.text);
				return;
			}
		}
		if (spec.f[i].nnames)
			f->names = xcalloc(spec.f[i].nnames, sizeof(*f->names));
		for (size_t j = 0; j < spec.f[i].nnames; j++) {
			const char *s;
			size_t len;
			char name[512];
			imap_arg_string(spec.f[i].names[j], &s, &len);
			if (client_mailbox_name(c, s, len, name, sizeof(name)) < 0) {
				notify_cfg_free(cfg);
				if (nfolders > 0)
					mailbox_folders_free(folders, (size_t)nfolders);
				client_tagged(c, cmd->tag, "BAD", "Invalid mailbox name");
				return;
			}
			f->names[f->n++] = xstrdup(name);
		}
		if (f->kind == NOTIFY_SUBSCRIBED) {
			if (nfolders < 0)
				nfolders = mailbox_folder_list(c->account_dir, &folders);
			for (long k = 0; k < nfolders; k++)
				if (folders[k].subscribed) {
					f->names = xrealloc(f->names,
							    (f->n + 1) * sizeof(*f->names));
					f->names[f->n++] = xstrdup(folders[k].name);
				}
		}
	}
	/* The folders to watch for other programs' changes (notify_watch_update). */
	if (nfolders < 0)
		nfolders = mailbox_folder_list(c->account_dir, &folders);
	for (long k = 0; k < nfolders; k++)
		if ((notify_match(cfg, folders[k].name) & NOTIFY_MESSAGE_EVENTS) &&
		    !folders[k].noselect && !folders[k].nonexistent) {
			cfg->listed = xrealloc(cfg->listed,
					       (cfg->nlisted + 1) * sizeof(*cfg->listed));
			cfg->listed[cfg->nlisted++] = xstrdup(folders[k].name);
		}
	notify_cfg_free(st->cfg);
	st->cfg = cfg;
	for (size_t i = 0; i < NOTIFY_WATCH_MAX; i++) { /* a new set: every STATUS is news */
		free(st->sent[i].name);
		st->sent[i].name = NULL;
	}
	if (notify_wants_selected(c))
		view_want_watch(c->view);
	if (cfg->status) {
		/* RFC 5465 5.1: the present STATUS of every mailbox the set names for message
		 * events (the selected one has its own responses). */
		if (nfolders < 0)
			nfolders = mailbox_folder_list(c->account_dir, &folders);
		struct buf b;
		buf_init(&b);
		for (long k = 0; k < nfolders; k++) {
			unsigned ev = notify_match(cfg, folders[k].name);
			if ((ev & NOTIFY_MESSAGE_EVENTS) && !folders[k].noselect &&
			    !folders[k].nonexistent && !notify_is_selected(c, folders[k].name))
				notify_write_status(c, &b, folders[k].name, ev);
		}
		client_send_buf(c, &b);
		buf_free(&b);
	}
	if (nfolders > 0)
		mailbox_folders_free(folders, (size_t)nfolders);
	client_tagged(c, cmd->tag, "OK", "NOTIFY completed");
}

void notify_fetch_new(struct imap_client *c, struct buf *b, size_t n_new)
{
	const struct notify_cfg *cfg = c->notify ? c->notify->cfg : NULL;
	if (!cfg || !cfg->fetch_new || !c->view || !n_new)
		return;
	size_t count = c->view->mb->count;
	for (size_t i = count - (n_new < count ? n_new : count); i < count; i++)
		command_fetch_unsolicited(c, cfg->fetch_new, i, b);
}

/* ---- events ---- */

/* Pool: STATUS for the folders handed over (names, NUL-separated, each with its events). */
struct notify_job {
	size_t n;
	char *names[NOTIFY_PENDING_MAX];
	unsigned events[NOTIFY_PENDING_MAX];
};

static void notify_status_work(struct imap_client *c, void *arg)
{
	struct notify_job *job = arg;
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < job->n; i++) {
		notify_write_status(c, &b, job->names[i], job->events[i]);
		free(job->names[i]);
	}
	client_send_buf(c, &b);
	buf_free(&b);
	free(job);
}

/* RFC 5465 6: "subscribed" follows the subscriptions as they change, whichever session of the
 * account changes them. Run by c's work or on the loop while c has none. */
static void notify_subscribed_update(struct notify_cfg *cfg, const char *name, bool on)
{
	for (size_t i = 0; cfg && i < cfg->n; i++) {
		struct notify_filter *f = &cfg->f[i];
		if (f->kind != NOTIFY_SUBSCRIBED)
			continue;
		size_t j = 0;
		while (j < f->n && strcmp(f->names[j], name) != 0)
			j++;
		if (on && j == f->n) {
			f->names = xrealloc(f->names, (f->n + 1) * sizeof(*f->names));
			f->names[f->n++] = xstrdup(name);
		} else if (!on && j < f->n) {
			free(f->names[j]);
			f->names[j] = f->names[--f->n];
		}
	}
}

/* A mailbox created, deleted or renamed after NOTIFY SET joins or leaves the folders watched
 * for other programs' changes (notify_watch_update). Same threads as above. */
static void notify_listed_update(struct notify_cfg *cfg, const char *name, const char *oldname,
				 bool on)
{
	if (!cfg)
		return;
	for (size_t j = 0; j < cfg->nlisted; j++)
		if (strcmp(cfg->listed[j], oldname ? oldname : name) == 0) {
			free(cfg->listed[j]);
			cfg->listed[j] = cfg->listed[--cfg->nlisted];
			break;
		}
	if (on && (notify_match(cfg, name) & NOTIFY_MESSAGE_EVENTS)) {
		cfg->listed = xrealloc(cfg->listed, (cfg->nlisted + 1) * sizeof(*cfg->listed));
		cfg->listed[cfg->nlisted++] = xstrdup(name);
	}
}

/* Loop: the LIST line of another session's event e, when c's set asks for it. */
static void notify_write_event(struct imap_client *c, struct buf *b,
			       const struct notify_event_rec *e)
{
	unsigned ev = notify_match(c->notify->cfg, e->name);
	if (e->oldname)
		ev |= notify_match(c->notify->cfg, e->oldname);
	if (!(ev & e->event))
		return;
	if (e->event == NOTIFY_SUBSCRIPTION_CHANGE)
		buf_append_str(b, e->on ? "* LIST (\\Subscribed) \"/\" " : "* LIST () \"/\" ");
	else
		buf_append_str(b, e->on ? "* LIST () \"/\" " : "* LIST (\\NonExistent) \"/\" ");
	client_write_mailbox(c, b, e->name);
	if (e->oldname) {
		buf_append_str(b, " (\"OLDNAME\" (");
		client_write_mailbox(c, b, e->oldname);
		buf_append_str(b, "))");
	}
	buf_append_str(b, "\r\n");
}

static void notify_watch_update(struct imap_client *c);

/* Loop: sends what waits for c when c is free to hear it. */
static void notify_kick(struct imap_client *c)
{
	struct notify_state *st = c->notify;
	if (!st || c->work || !c->conn || c->conn->closing || c->cont.resume ||
	    (c->mode != IMAP_MODE_COMMAND && c->mode != IMAP_MODE_IDLE))
		return;
	if (st->in) {
		struct buf b;
		buf_init(&b);
		for (struct notify_event_rec *e = st->in; e && st->cfg; e = e->next) {
			bool sub = e->event == NOTIFY_SUBSCRIPTION_CHANGE;
			if (sub && e->on) /* a new subscription is reported, and so is its end */
				notify_subscribed_update(st->cfg, e->name, true);
			notify_write_event(c, &b, e);
			if (sub && !e->on)
				notify_subscribed_update(st->cfg, e->name, false);
			if (e->event == NOTIFY_MAILBOX_NAME)
				notify_listed_update(st->cfg, e->name, e->oldname, e->on);
		}
		notify_events_free(st->in);
		st->in = NULL;
		client_send_buf(c, &b);
		buf_free(&b);
		notify_watch_update(c); /* the subscriptions or the mailboxes may have changed */
	}
	if (!st->npending)
		return;
	struct notify_job *job = xcalloc(1, sizeof(*job));
	for (size_t i = 0; i < st->npending; i++) {
		char name[512];
		unsigned ev = 0;
		if (st->cfg && notify_folder_name(c, st->pending[i], name, sizeof(name)) &&
		    !notify_is_selected(c, name))
			ev = notify_match(st->cfg, name) & NOTIFY_MESSAGE_EVENTS;
		if (ev) {
			job->names[job->n] = xstrdup(name);
			job->events[job->n++] = ev;
		}
		free(st->pending[i]);
	}
	st->npending = 0;
	if (!job->n) {
		free(job);
		return;
	}
	client_run_on_pool(c, notify_status_work, job, c->mode);
}

void notify_folder_changed(struct imap_client *c, const char *maildir)
{
	struct notify_state *st = c->notify;
	if (!st || (!c->work && !st->cfg))
		return; /* (busy: its set may be changing; decided when it is free) */
	for (size_t i = 0; i < st->npending; i++)
		if (strcmp(st->pending[i], maildir) == 0)
			return;
	if (st->npending == NOTIFY_PENDING_MAX) {
		log_info("imap: user=%s, NOTIFY: too many folders changed at once, %s not reported",
			 c->user, maildir);
		return;
	}
	st->pending[st->npending++] = xstrdup(maildir);
	notify_kick(c);
}

void notify_mailbox_event(struct imap_client *c, unsigned event, const char *name,
			  const char *oldname, bool on)
{
	struct notify_event_rec *e = xcalloc(1, sizeof(*e));
	e->event = event;
	e->name = xstrdup(name);
	e->oldname = oldname ? xstrdup(oldname) : NULL;
	e->on = on;
	if (event == NOTIFY_SUBSCRIPTION_CHANGE)
		notify_subscribed_update(c->notify->cfg, name, on);
	if (event == NOTIFY_MAILBOX_NAME)
		notify_listed_update(c->notify->cfg, name, oldname, on);
	struct notify_event_rec **pp = &c->notify->out;
	while (*pp)
		pp = &(*pp)->next;
	*pp = e;
}

static void notify_dir_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
	(void)events;
	struct notify_watch *w = h->data;
	/* In the Maildir directory only the index renamed into place counts (not its temporary
	 * file, written before the change is committed); in new/ every file does. */
	if (w->c && status == 0 &&
	    (!w->index_only || (filename && strcmp(filename, MAILBOX_INDEX_FILE) == 0)))
		notify_folder_changed(w->c, w->maildir);
}

static bool notify_watch_add(struct imap_client *c, const char *maildir, const char *dir,
			     bool index_only)
{
	struct notify_state *st = c->notify;
	if (st->nwatch == sizeof(st->watch) / sizeof(st->watch[0]))
		return false;
	struct notify_watch *w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->index_only = index_only;
	snprintf(w->maildir, sizeof(w->maildir), "%s", maildir);
	uv_fs_event_init(c->d->loop, &w->ev);
	w->ev.data = w;
	int r = uv_fs_event_start(&w->ev, notify_dir_event, dir, 0);
	if (r < 0)
		log_warn("imap: user=%s, NOTIFY: cannot watch %s: %s", c->user, dir,
			 uv_strerror(r));
	st->watch[st->nwatch++] = w;
	return true;
}

/* Whether the store name is one of the first i names of the set's folders to watch. */
static bool notify_watch_seen(char *const *names, size_t i, const char *name)
{
	for (size_t k = 0; k < i; k++)
		if (strcmp(names[k], name) == 0)
			return true;
	return false;
}

/* Loop: watches the folders the set asks about for message events (the ones that existed at
 * NOTIFY time or were created since, INBOX, the subscriptions and the mailboxes named), except the selected one,
 * which the view watches: changes by other programs and processes show at once. Checked after
 * each command of the session; the watches are made again only when the folders differ. */
static void notify_watch_update(struct imap_client *c)
{
	struct notify_state *st = c->notify;
	const struct notify_cfg *cfg = st->cfg;
	if (!cfg || !c->account_dir[0] || !c->conn || c->conn->closing) {
		notify_watch_stop(st);
		return;
	}
	char *names[NOTIFY_WATCH_MAX];
	size_t n = 0;
	bool full = false;
	const char *inbox = "INBOX";
	for (size_t i = 0; i <= cfg->nlisted; i++) {
		const char *name = i < cfg->nlisted ? cfg->listed[i] : inbox;
		if (!(notify_match(cfg, name) & NOTIFY_MESSAGE_EVENTS) ||
		    notify_is_selected(c, name) || notify_watch_seen(names, n, name))
			continue;
		if (n == NOTIFY_WATCH_MAX) {
			full = true;
			break;
		}
		names[n++] = (char *)name;
	}
	for (size_t i = 0; i < cfg->n && !full; i++) {
		const struct notify_filter *f = &cfg->f[i];
		if ((f->kind != NOTIFY_SUBSCRIBED && f->kind != NOTIFY_MAILBOXES) ||
		    !(f->events & NOTIFY_MESSAGE_EVENTS))
			continue;
		for (size_t j = 0; j < f->n && !full; j++) {
			if (notify_is_selected(c, f->names[j]) ||
			    notify_watch_seen(names, n, f->names[j]))
				continue;
			if (n == NOTIFY_WATCH_MAX)
				full = true;
			else
				names[n++] = f->names[j];
		}
	}
	if (full && !st->told_full)
		log_info("imap: user=%s, NOTIFY: more than %d folders asked about; the others are "
			 "reported when a session of this daemon changes them",
			 c->user, NOTIFY_WATCH_MAX);
	st->told_full = full;
	/* The same folders as now (the usual case after a command): the watches stay. */
	bool same = st->nwatch == 2 * n;
	for (size_t i = 0; i < n && same; i++) {
		char maildir[PATH_MAX];
		same = client_folder_path(c, names[i], maildir, sizeof(maildir)) == 0 &&
		       strcmp(st->watch[2 * i]->maildir, maildir) == 0;
	}
	if (same)
		return;
	notify_watch_stop(st);
	for (size_t i = 0; i < n; i++) {
		char maildir[PATH_MAX], dir[PATH_MAX + 8];
		if (client_folder_path(c, names[i], maildir, sizeof(maildir)) < 0)
			continue;
		snprintf(dir, sizeof(dir), "%s/new", maildir);
		if (!notify_watch_add(c, maildir, dir, false) ||
		    !notify_watch_add(c, maildir, maildir, true))
			break;
	}
}

void notify_after_work(struct imap_client *c)
{
	struct notify_state *st = c->notify;
	if (!st)
		return;
	notify_watch_update(c);
	struct notify_event_rec *events = st->out;
	st->out = NULL;
	for (struct notify_event_rec *e = events; e; e = e->next) {
		for (struct imap_client *o = c->d->clients; o; o = o->next)
			if (o != c && o->conn && o->notify &&
			    strcmp(o->account_dir, c->account_dir) == 0) {
				struct notify_event_rec *copy = xcalloc(1, sizeof(*copy));
				*copy = *e;
				copy->name = xstrdup(e->name);
				copy->oldname = e->oldname ? xstrdup(e->oldname) : NULL;
				copy->next = NULL;
				struct notify_event_rec **pp = &o->notify->in;
				while (*pp)
					pp = &(*pp)->next;
				*pp = copy;
				notify_kick(o);
			}
	}
	notify_events_free(events);
}

void notify_session_ready(struct imap_client *c)
{
	notify_kick(c);
}
