/* mailbox_view.c - the selected folder of one session: open/close, sync with the store, untagged updates, inotify watching. */
#include "mailbox_view.h"
#include "buf.h"
#include "imap_render.h"
#include "imapd.h"
#include "log.h"
#include "mailbox.h"
#include "seqset.h"
#include "xalloc.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIEW_DEBOUNCE_MS 20

/* The uv handles outlive the view until their close callbacks ran. */
struct view_watch {
	uv_fs_event_t ev[2]; /* new/ and cur/ */
	bool ev_started[2];
	uv_timer_t debounce;
	int handles_open;
	void (*changed)(void *ctx);      /* the session's (view_client) */
	void *ctx;                       /* NULL once stopped */
	struct view_watch *next_retired; /* the list view_close puts it on, inside pool work */
};

static void view_watch_closed(uv_handle_t *h)
{
	struct view_watch *w = h->data;
	if (--w->handles_open == 0)
		free(w);
}

static void view_debounce_fired(uv_timer_t *t)
{
	struct view_watch *w = t->data;
	if (w->ctx)
		w->changed(w->ctx);
}

static void view_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
	(void)filename;
	(void)events;
	struct view_watch *w = h->data;
	if (!w->ctx || status < 0)
		return;
	if (!uv_is_active((uv_handle_t *)&w->debounce))
		uv_timer_start(&w->debounce, view_debounce_fired, VIEW_DEBOUNCE_MS, 0);
}

static struct view_watch *view_watch_start(const struct view_client *cl, const char *path)
{
	static const char *const subdirs[2] = { "new", "cur" };
	struct view_watch *w = xcalloc(1, sizeof(*w));
	w->changed = cl->changed;
	w->ctx = cl->ctx;
	uv_timer_init(cl->d->loop, &w->debounce);
	w->debounce.data = w;
	w->handles_open = 1;
	for (int i = 0; i < 2; i++) {
		char dir[PATH_MAX + 8];
		snprintf(dir, sizeof(dir), "%s/%s", path, subdirs[i]);
		uv_fs_event_init(cl->d->loop, &w->ev[i]);
		w->ev[i].data = w;
		w->handles_open++;
		int r = uv_fs_event_start(&w->ev[i], view_fs_event, dir, 0);
		if (r < 0)
			log_warn("imap: cannot watch %s: %s (IDLE falls back to the keep-alive)",
				 dir, uv_strerror(r));
		else
			w->ev_started[i] = true;
	}
	return w;
}

static void view_watch_stop(struct view_watch **wp)
{
	struct view_watch *w = *wp;
	if (!w)
		return;
	*wp = NULL;
	w->ctx = NULL;
	uv_close((uv_handle_t *)&w->debounce, view_watch_closed);
	for (int i = 0; i < 2; i++)
		uv_close((uv_handle_t *)&w->ev[i], view_watch_closed);
}

static uint32_t view_keyword_mask(const struct mailbox *mb)
{
	uint32_t m = 0;
	for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++) {
		if (mb->keywords[i])
			m |= (uint32_t)1 << i;
	}
	return m;
}

/* "* FLAGS (...)" and/or "* OK [PERMANENTFLAGS (...)]" with the folder's keywords as they
 * are now; the session has been told them from here on. */
static void view_write_flags(struct mailbox_view *v, struct buf *b, bool flags, bool permanent)
{
	const struct mailbox *mb = v->mb;
	if (flags) {
		buf_append_str(b, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
		for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++)
			if (mb->keywords[i])
				buf_printf(b, " %s", mb->keywords[i]);
		buf_append_str(b, ")\r\n");
	}
	if (permanent && v->readonly) {
		buf_append_str(b, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
	} else if (permanent) {
		buf_append_str(
			b, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
		for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++)
			if (mb->keywords[i])
				buf_printf(b, " %s", mb->keywords[i]);
		if (mb->nkeywords < MAILBOX_MAX_KEYWORDS)
			buf_append_str(b, " \\*");
		buf_append_str(b, ")] Flags permitted\r\n");
	}
	v->told_keywords = view_keyword_mask(mb);
}

void view_write_flags_update(struct mailbox_view *v, struct buf *b)
{
	if (v && view_keyword_mask(v->mb) != v->told_keywords)
		view_write_flags(v, b, true, true);
}

struct mailbox_view *view_open(const struct view_client *cl, const char *name, const char *path,
			       bool readonly, char *err, size_t errlen)
{
	struct mailbox *mb = NULL;
	if (mailbox_open(path, readonly, &mb, err, errlen) < 0)
		return NULL;
	struct mailbox_view *v = xcalloc(1, sizeof(*v));
	v->mb = mb;
	v->name = xstrdup(name);
	snprintf(v->path, sizeof(v->path), "%s", path);
	v->readonly = readonly;
	v->cl = *cl;
	unsigned enabled = cl->enabled(cl->ctx);
	/* No inotify watch yet: it starts at the first IDLE (view_want_watch). Adding the first
	 * watch on a directory makes the kernel visit every cached entry of it
	 * (fsnotify_set_children_dentry_flags): about 15 ms on the loop thread for a 100,000-file
	 * cur/, which was most of a warm SELECT. Outside IDLE every command syncs anyway. */

	struct buf b;
	buf_init(&b);
	view_write_flags(v, &b, true, false);
	buf_printf(&b, "* %zu EXISTS\r\n", mb->count);
	if (!(enabled & IMAP_ENABLED_REV2))
		buf_printf(&b, "* %zu RECENT\r\n", mailbox_recent_count(mb));
	size_t unseen = mailbox_first_unseen(mb);
	if (unseen < mb->count && !(enabled & IMAP_ENABLED_REV2))
		buf_printf(&b, "* OK [UNSEEN %zu] First unseen\r\n", unseen + 1);
	buf_printf(&b, "* OK [UIDVALIDITY %u] UIDs valid\r\n", mb->uidvalidity);
	buf_printf(&b, "* OK [UIDNEXT %u] Predicted next UID\r\n", mb->uidnext);
	view_write_flags(v, &b, false, true);
	buf_printf(&b, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		   (unsigned long long)(mb->highest_modseq ? mb->highest_modseq : 1));
	buf_printf(&b, "* LIST () \"/\" ");
	cl->write_mailbox(cl->ctx, &b, name);
	buf_append_str(&b, "\r\n");
	/* The LIST line is an IMAP4rev2 requirement (mailbox name as the server knows it). */
	if (!(enabled & IMAP_ENABLED_REV2)) {
		char *nl = strstr(b.data, "* LIST ");
		b.len = (size_t)(nl - b.data);
		b.data[b.len] = '\0';
	}
	cl->send_buf(cl->ctx, &b);
	buf_free(&b);
	return v;
}

/* A folder closed on the loop thread (the session ended): mailbox_close runs on the pool, as
 * it may flush the header cache to disk and free a large one (about 1.2 KB per message), which
 * would hold up the next connection. */
struct view_close_job {
	uv_work_t req;
	struct imapd *d;
	struct mailbox *mb;
};

/* A folder at least this large leaves many MiB of freed heap behind when its session closes
 * it (its view, state and index copies), spread over the pool threads' malloc arenas. */
#define VIEW_CLOSE_TRIM_MESSAGES 10000

static void view_close_run(uv_work_t *req)
{
	struct view_close_job *j = container_of(req, struct view_close_job, req);
	bool large = j->mb && j->mb->count >= VIEW_CLOSE_TRIM_MESSAGES;
	mailbox_close(&j->mb);
	/* glibc keeps freed memory in its arenas: after 10 sessions wrote to a 100,000-message
	 * folder imapd stayed at 340 MiB resident with no folder open. Give it back. */
	if (large)
		malloc_trim(0);
}

static void view_close_done(uv_work_t *req, int status)
{
	struct view_close_job *j = container_of(req, struct view_close_job, req);
	(void)status;
	j->d->pool_jobs--;
	mailbox_close(&j->mb); /* (not run: closed here) */
	free(j);
}

void view_close(struct mailbox_view *v, struct view_watch **retired)
{
	if (retired && v->watch) {
		/* uv handles are the loop's: view_watches_stop stops them. */
		v->watch->next_retired = *retired;
		*retired = v->watch;
		v->watch = NULL;
	}
	view_watch_stop(&v->watch);
	if (!retired && !v->cl.d->stopping) {
		struct view_close_job *j = xcalloc(1, sizeof(*j));
		j->d = v->cl.d;
		j->mb = v->mb;
		v->mb = NULL;
		j->d->pool_jobs++;
		if (uv_queue_work(j->d->loop, &j->req, view_close_run, view_close_done) < 0)
			view_close_done(&j->req, -1);
	}
	mailbox_close(&v->mb);
	seqset_free(&v->saved);
	free(v->name);
	free(v);
}

void view_send_changes(struct mailbox_view *v, const struct mailbox_changes *ch)
{
	if (!v)
		return;
	struct mailbox *mb = v->mb;
	unsigned enabled = v->cl.enabled(v->cl.ctx);
	if (ch->n_expunged && v->cl.expunging)
		v->cl.expunging(v->cl.ctx, ch);
	struct buf b;
	buf_init(&b);
	/* A keyword another session brought into use: FLAGS before the FETCH that shows it. */
	view_write_flags_update(v, &b);
	if (enabled & IMAP_ENABLED_QRESYNC) {
		/* RFC 7162 3.2.10: UIDs instead of sequence numbers. */
		struct seqset set;
		seqset_init(&set);
		for (size_t i = ch->n_expunged; i-- > 0;)
			seqset_add(&set, ch->expunged_uids[i]);
		if (set.count) {
			buf_append_str(&b, "* VANISHED ");
			seqset_write(&b, &set);
			buf_append_str(&b, "\r\n");
		}
		seqset_free(&set);
	} else {
		for (size_t i = 0; i < ch->n_expunged; i++)
			buf_printf(&b, "* %u EXPUNGE\r\n", ch->expunged_seqs[i]);
	}
	if (ch->n_new)
		buf_printf(&b, "* %zu EXISTS\r\n", mb->count);
	if (ch->n_new && !(enabled & IMAP_ENABLED_REV2))
		buf_printf(&b, "* %zu RECENT\r\n", mailbox_recent_count(mb));
	if (ch->n_new && v->cl.new_messages)
		v->cl.new_messages(v->cl.ctx, &b, ch->n_new);
	for (size_t i = 0; i < ch->n_flag_changed; i++) {
		long idx = mailbox_find_uid(mb, ch->flag_changed_uids[i]);
		if (idx < 0)
			continue;
		const struct mailbox_msg *m = &mb->msgs[idx];
		buf_printf(&b, "* %ld FETCH (UID %u FLAGS ", idx + 1, m->uid);
		imap_write_flags(&b, mb,
				 (enabled & IMAP_ENABLED_REV2)
					 ? m->flags & ~(unsigned)MAILBOX_RECENT
					 : m->flags,
				 m->keywords);
		if (enabled & IMAP_ENABLED_CONDSTORE)
			buf_printf(&b, " MODSEQ (%llu)", (unsigned long long)m->modseq);
		buf_append_str(&b, ")\r\n");
	}
	v->cl.send_buf(v->cl.ctx, &b);
	buf_free(&b);
}

static void view_sync_ex(struct mailbox_view *v, bool hold_expunges)
{
	if (!v)
		return;
	struct mailbox_changes ch;
	memset(&ch, 0, sizeof(ch));
	v->changed = false;
	int r = hold_expunges ? mailbox_sync_hold_expunges(v->mb, &ch) : mailbox_sync(v->mb, &ch);
	v->expunge_held = r == 1;
	if (r == 1) {
		v->changed = true; /* an expunge waits for a command that allows it */
		return;
	}
	if (r < 0) {
		log_warn("imap: user=%s, sync of %s failed: %s", v->cl.user, v->path, strerror(-r));
		mailbox_changes_free(&ch);
		return;
	}
	if (ch.uidvalidity_changed) {
		static const char bye[] =
			"* BYE The folder index was rebuilt, please reconnect\r\n";
		mailbox_changes_free(&ch);
		v->cl.send_raw(v->cl.ctx, bye, sizeof(bye) - 1);
		v->cl.close(v->cl.ctx, "uidvalidity changed");
		return;
	}
	view_send_changes(v, &ch);
	mailbox_changes_free(&ch);
}

void view_sync(struct mailbox_view *v)
{
	view_sync_ex(v, false);
}

void view_sync_hold_expunges(struct mailbox_view *v)
{
	view_sync_ex(v, true);
}

void view_want_watch(struct mailbox_view *v)
{
	if (v)
		v->want_watch = true;
}

void view_start_watch(struct mailbox_view *v)
{
	if (!v->want_watch || v->watch)
		return;
	v->watch = view_watch_start(&v->cl, v->path);
	/* A change between the IDLE's sync and the watch start: sync once more. */
	v->changed = true;
}

void view_watches_stop(struct view_watch **retired)
{
	while (*retired) {
		struct view_watch *w = *retired;
		*retired = w->next_retired;
		view_watch_stop(&w);
	}
}
