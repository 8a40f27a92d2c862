/* client.c - one IMAP connection: greeting, command reading through imap_parser, dispatch by state, output, timeouts, teardown.
 * Security: reads hostile network input; limits on lines, literals and pre-login commands come from the parser and this file. */
#include "client.h"
#include "accounts.h"
#include "commands.h"
#include "imap_proxy.h"
#include "imap_utf7.h"
#include "log.h"
#include "metrics.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "notify.h"
#include "tls.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CLIENT_PREAUTH_MAX_LINE    40960 /* RFC 2971's largest ID: 30 x (30 + 1024 octets) */
#define CLIENT_PREAUTH_MAX_LITERAL 8192
#define CLIENT_MAX_LINE            65536
#define CLIENT_CONT_LINE_MAX       8192 /* AUTHENTICATE response and IDLE's DONE */
#define CLIENT_COMMANDS_PER_TURN   64   /* pipelined commands served before others get a turn */
#define CLIENT_OUTPUT_HIGH         (512 * 1024) /* stop reading commands above this output backlog */
#define CLIENT_NOTIFY_MAX          4 /* folders one pool job tells other sessions about */
#define CLIENT_PREFETCH_BYTES      (1024 * 1024) /* message bytes a batch reads ahead */
#define CLIENT_PREFETCH_FILES      64            /* ... in at most this many files, */
#define CLIENT_PREFETCH_JOBS       15            /* ... on at most this many other pool threads, */
#define CLIENT_PREFETCH_PER_JOB    4             /* ... each opening at least this many (or all) */

/* Pipelined commands that run one after the other in one pool job (client_dispatch): the
 * first was parsed by c->parser, each further one by its own parser from the input still
 * buffered, which is consumed only for the commands that ran (client_work_done). */
struct client_batch {
	unsigned n;   /* commands in the batch, at least 1 */
	unsigned ran; /* commands that ran (set by the pool) */
	struct {
		const struct command *k;
		const struct imap_command *cmd;
		struct imap_parser *parser; /* NULL for the first (c->parser's) */
		size_t bytes;               /* its input bytes (0 for the first) */
	} e[CLIENT_COMMANDS_PER_TURN];
};

/* One piece of store work of a session on the thread pool (see client_run_on_pool). */
struct client_work {
	uv_work_t req;
	struct imap_client *c;
	void (*fn)(struct imap_client *c, void *arg);
	void *arg;
	struct buf out;      /* output staged by fn, written by the loop afterwards */
	size_t backlog_base; /* connection backlog when fn was queued */
	enum imap_mode mode_after;
	atomic_bool cancelled;           /* set by the loop when the connection goes */
	char close_reason[64];           /* client_close called by fn */
	char *notify[CLIENT_NOTIFY_MAX]; /* imapd_notify_folder called by fn */
	size_t nnotify;
	struct client_batch *batch;       /* the commands fn runs, when it is client_run_batch */
	bool heavy;                       /* runs a CMD_FLAG_HEAVY command (SEARCH) */
	struct client_work *next_waiting; /* imapd.pool_wait_head list */
};

static const char *const client_state_names[] = {
	[IMAP_STATE_NOAUTH] = "not-authenticated",
	[IMAP_STATE_AUTH] = "authenticated",
	[IMAP_STATE_SELECTED] = "selected",
	[IMAP_STATE_LOGOUT] = "logout",
};

void client_send_raw(struct imap_client *c, const void *p, size_t n)
{
	if (c->work)
		buf_append(&c->work->out, p, n);
	else if (c->conn)
		net_conn_write(c->conn, p, n);
}

void client_send_buf(struct imap_client *c, const struct buf *b)
{
	if (b->len)
		client_send_raw(c, b->data, b->len);
}

void client_send(struct imap_client *c, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		client_send_raw(c, tmp, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	client_send_raw(c, big, (size_t)n);
	free(big);
}

size_t client_backlog(const struct imap_client *c)
{
	if (c->work)
		return c->work->backlog_base + c->work->out.len;
	if (!c->conn)
		return 0;
	return c->conn->writing + c->conn->out.len;
}

void client_sync(struct imap_client *c, bool allow_expunge)
{
	if (c->state != IMAP_STATE_SELECTED || !c->view || !allow_expunge)
		return;
	view_sync(c->view);
}

void client_tagged(struct imap_client *c, const char *tag, const char *status, const char *fmt, ...)
{
	if (strcmp(status, "BAD") != 0 && !(c->cmd_flags & CMD_FLAG_NO_SYNC))
		client_sync(c, c->cmd_uid || !(c->cmd_flags & CMD_FLAG_NO_EXPUNGE));
	if (strcmp(status, "BAD") == 0)
		c->bad_in_row++;
	else
		c->bad_in_row = 0;
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (c->contexts && c->work && strcmp(status, "BAD") != 0)
		command_context_update(c); /* ADDTO/REMOVEFROM before the tagged reply */
	client_send(c, "%s %s %s\r\n", tag ? tag : "*", status, text);
	if (tag && c->metric_cmd) {
		metric_observe(MET_IMAP_COMMAND_SECONDS, c->metric_cmd, NULL,
			       (double)(uv_hrtime() - c->metric_started) / 1e9);
		c->metric_cmd = NULL;
	}
	if (c->bad_in_row >= IMAPD_MAX_BAD_COMMANDS && (c->work || c->conn)) {
		log_warn("imap: [%s]: too many bad commands", c->peer_ip);
		client_send(c, "* BYE Too many invalid commands\r\n");
		client_close(c, "too many bad commands");
	}
}

void client_enter_state(struct imap_client *c, enum imap_state state)
{
	log_debug("imap: %p: %s -> %s", (void *)c, client_state_names[c->state],
		  client_state_names[state]);
	c->state = state;
	/* On the pool the loop re-arms the timer after the work (client_work_done). */
	if (!c->work && c->conn && state != IMAP_STATE_LOGOUT)
		net_conn_set_timeout(c->conn, state == IMAP_STATE_NOAUTH ? IMAPD_PREAUTH_TIMEOUT_MS
									 : IMAPD_IDLE_TIMEOUT_MS);
}

void client_close(struct imap_client *c, const char *reason)
{
	if (c->state != IMAP_STATE_LOGOUT)
		c->state = IMAP_STATE_LOGOUT;
	if (c->work) {
		if (!c->work->close_reason[0])
			snprintf(c->work->close_reason, sizeof(c->work->close_reason), "%s",
				 reason);
		return;
	}
	if (c->conn) {
		/* Encrypt what is buffered before net_conn_close queues close_notify. */
		net_conn_flush(c->conn);
		net_conn_close(c->conn, reason);
	}
}

void client_capabilities(const struct imap_client *c, struct buf *b)
{
	/* LITERAL+ (RFC 7888) once logged in; before, LITERAL- (at most 4096 octets). */
	buf_append_str(b, c->state == IMAP_STATE_NOAUTH ? "IMAP4rev1 IMAP4rev2 LITERAL-"
							: "IMAP4rev1 IMAP4rev2 LITERAL+");
	buf_append_str(b, " ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN "
			  "SPECIAL-USE UIDPLUS MOVE CONDSTORE ESEARCH LIST-EXTENDED LIST-STATUS "
			  "STATUS=SIZE SASL-IR BINARY MULTIAPPEND CATENATE UTF8=ACCEPT SEARCHRES");
	buf_append_str(b, " SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES ESORT "
			  "CONTEXT=SEARCH CONTEXT=SORT");
	buf_append_str(b, " QRESYNC COMPRESS=DEFLATE NOTIFY");
	buf_append_str(b, " QUOTA QUOTA=RES-STORAGE");
	if (c->state == IMAP_STATE_NOAUTH) {
		if (c->tls)
			buf_append_str(b, " AUTH=PLAIN");
		else if (c->d->cfg->imap_plaintext_auth)
			buf_append_str(b, " STARTTLS AUTH=PLAIN");
		else
			buf_append_str(b, " STARTTLS LOGINDISABLED");
	}
}

int client_mailbox_name(const struct imap_client *c, const char *in, size_t len, char *out,
			size_t outlen)
{
	if (len == 0 || len >= outlen || memchr(in, 0, len))
		return -1;
	struct buf b;
	buf_init(&b);
	if (c->enabled & IMAP_ENABLED_UTF8_NAMES) {
		if (imap_utf8_to_utf7(in, len, &b) < 0) {
			buf_free(&b);
			return -1;
		}
	} else {
		buf_append(&b, in, len);
	}
	if (b.len > 1 && b.data[b.len - 1] == '/')
		b.data[--b.len] = '\0';
	if (b.len >= outlen) {
		buf_free(&b);
		return -1;
	}
	memcpy(out, b.data, b.len + 1);
	buf_free(&b);
	if (strcasecmp(out, "INBOX") == 0)
		memcpy(out, "INBOX", 6);
	else if (strncasecmp(out, "INBOX/", 6) == 0)
		memcpy(out, "INBOX", 5);
	return 0;
}

void client_write_mailbox(const struct imap_client *c, struct buf *b, const char *name)
{
	if (c->enabled & IMAP_ENABLED_UTF8_NAMES) {
		struct buf u;
		buf_init(&u);
		if (imap_utf7_to_utf8(name, strlen(name), &u) == 0) {
			imap_write_string_flags(b, u.data ? u.data : "", u.len, IMAP_WRITE_UTF8,
						true);
			buf_free(&u);
			return;
		}
		buf_free(&u);
	}
	imap_write_astring(b, name, strlen(name));
}

int client_folder_path(const struct imap_client *c, const char *name, char *out, size_t outlen)
{
	return mailbox_folder_path(c->account_dir, name, out, outlen);
}

/* The session's side of its selected folder (struct view_client). */
static void client_view_send_buf(void *ctx, const struct buf *b)
{
	client_send_buf(ctx, b);
}

static void client_view_send_raw(void *ctx, const void *p, size_t n)
{
	client_send_raw(ctx, p, n);
}

static void client_view_close_session(void *ctx, const char *reason)
{
	client_close(ctx, reason);
}

static void client_view_write_mailbox(void *ctx, struct buf *b, const char *name)
{
	client_write_mailbox(ctx, b, name);
}

static unsigned client_view_enabled(void *ctx)
{
	const struct imap_client *c = ctx;
	return c->enabled;
}

static void client_view_changed(void *ctx)
{
	client_folder_changed(ctx);
}

static void client_view_new_messages(void *ctx, struct buf *b, size_t n_new)
{
	notify_fetch_new(ctx, b, n_new);
}

static void client_view_expunging(void *ctx, const struct mailbox_changes *ch)
{
	struct imap_client *c = ctx;
	if (c->contexts)
		command_context_expunged(c, ch->expunged_uids, ch->expunged_seqs, ch->n_expunged);
}

int client_view_open(struct imap_client *c, const char *name, const char *path, bool readonly,
		     char *err, size_t errlen)
{
	const struct view_client cl = {
		.ctx = c,
		.d = c->d,
		.user = c->user,
		.send_buf = client_view_send_buf,
		.send_raw = client_view_send_raw,
		.close = client_view_close_session,
		.write_mailbox = client_view_write_mailbox,
		.enabled = client_view_enabled,
		.changed = client_view_changed,
		.expunging = client_view_expunging,
		.new_messages = client_view_new_messages,
	};
	struct mailbox_view *v = view_open(&cl, name, path, readonly, err, errlen);
	if (!v)
		return -1;
	c->view = v;
	if (notify_wants_selected(c))
		view_want_watch(v);
	return 0;
}

void client_view_close(struct imap_client *c)
{
	struct mailbox_view *v = c->view;
	if (!v)
		return;
	c->view = NULL;
	command_contexts_free(c); /* RFC 5267: updates end with the selection */
	view_close(v, c->work ? &c->retired_watches : NULL);
}

static void client_view_sync_work(struct imap_client *c, void *arg)
{
	/* NOTIFY SELECTED-DELAYED between commands: expunges wait (RFC 5465 5.2). */
	if (arg)
		view_sync_hold_expunges(c->view);
	else
		view_sync(c->view);
	if (c->contexts)
		command_context_update(c);
}

void client_folder_changed(struct imap_client *c)
{
	if (c->work) {
		c->changed_while_busy = true; /* the view is the pool's until the work is done */
		return;
	}
	if (!c->view)
		return;
	c->view->changed = true;
	/* NOTIFY (SELECTED): the updates go out at once, not only in IDLE. */
	bool now = c->mode == IMAP_MODE_IDLE ||
		   (c->mode == IMAP_MODE_COMMAND && !c->cont.resume && notify_wants_selected(c));
	void *hold = c->mode == IMAP_MODE_IDLE || !notify_selected_delayed(c) ? NULL : c;
	if (now && c->conn && !c->conn->closing)
		client_run_on_pool(c, client_view_sync_work, hold, c->mode);
}

/* Loop thread, after pool work of c (client_run_on_pool): stops the watchers of folders the work
 * closed, starts the one of the folder it opened, applies change notices that came meanwhile. */
static void client_view_after_work(struct imap_client *c)
{
	view_watches_stop(&c->retired_watches);
	if (c->view) {
		if (c->conn && !c->conn->closing)
			view_start_watch(c->view);
		if (c->changed_while_busy)
			c->view->changed = true;
	}
	c->changed_while_busy = false;
}

static void client_literal_release(struct imap_client *c);

static struct imap_parser *client_parser_new(const struct imap_client *c, bool authenticated)
{
	struct imap_parser_limits lim;
	memset(&lim, 0, sizeof(lim));
	if (authenticated) {
		uint64_t max = c->d->cfg->max_message_size;
		lim.max_line = CLIENT_MAX_LINE;
		lim.max_literal = max;
		lim.max_nonsync_literal = max; /* LITERAL+ */
		lim.max_literal_total = max + 65536;
		lim.max_skip_literal = max;
	} else {
		lim.max_line = CLIENT_PREAUTH_MAX_LINE;
		lim.max_literal = CLIENT_PREAUTH_MAX_LITERAL;
		lim.max_nonsync_literal = IMAPD_NONSYNC_LITERAL_MAX;
		lim.max_literal_total = 2 * CLIENT_PREAUTH_MAX_LITERAL;
		lim.max_skip_literal = CLIENT_PREAUTH_MAX_LITERAL;
	}
	return imap_parser_new(&lim);
}

void client_login_done(struct imap_client *c)
{
	/* Called between commands: nothing of the next command has been fed yet. */
	client_literal_release(c);
	imap_parser_free(&c->parser);
	c->parser = client_parser_new(c, true);
	c->authenticated_parser = true;
}

/* The paused command's state goes (the session ends or its connection went). */
static void client_cont_free(struct imap_client *c)
{
	if (c->cont.free)
		c->cont.free(c);
	memset(&c->cont, 0, sizeof(c->cont));
}

/* The literal memory of the command parsed so far goes back to the daemon. */
static void client_literal_release(struct imap_client *c)
{
	c->d->literal_bytes -= c->literal_reserved;
	c->literal_reserved = 0;
}

/* A synchronising literal was announced: reserve its size before "+" is sent, or refuse it
 * (NO [LIMIT]) when all sessions' literals would pass IMAPD_LITERAL_MEMORY_MAX. 0 go on. */
static int client_literal_reserve(struct imap_client *c)
{
	uint64_t size = imap_parser_literal_size(c->parser);
	struct imapd *d = c->d;
	if (d->literal_bytes + size > IMAPD_LITERAL_MEMORY_MAX) {
		const char *tag = imap_parser_tag(c->parser);
		log_warn("imap: [%s]: user=%s, literal of %llu bytes refused: sessions hold %llu "
			 "bytes of literals",
			 c->conn->peer_ip, c->user[0] ? c->user : "-", (unsigned long long)size,
			 (unsigned long long)d->literal_bytes);
		client_tagged(c, tag ? tag : "*", "NO",
			      "[LIMIT] Server busy: too much literal data in progress, try later");
		imap_parser_reset(c->parser);
		client_literal_release(c);
		return -1;
	}
	d->literal_bytes += size;
	c->literal_reserved += size;
	return 0;
}

/* Non-synchronising literals (LITERAL+) cannot be refused before they arrive: what the command
 * announced beyond what was reserved is counted all the same, so that while it is held, other
 * sessions' synchronising literals meet the limit. */
static void client_literal_account(struct imap_client *c)
{
	uint64_t total = imap_parser_literal_total(c->parser);
	if (total > c->literal_reserved) {
		c->d->literal_bytes += total - c->literal_reserved;
		c->literal_reserved = total;
	}
}

static void client_free(struct imap_client *c)
{
	struct imapd *d = c->d;
	client_literal_release(c);
	client_cont_free(c);
	notify_free(c);
	free(c->readahead);
	client_view_close(c);
	imap_parser_free(&c->parser);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/* Frees a session whose connection went, once nothing refers to it any more. */
static void client_maybe_free(struct imap_client *c)
{
	if (!c->conn && c->mode != IMAP_MODE_BUSY && c->refs == 0)
		client_free(c);
}

bool client_cancelled(const struct imap_client *c)
{
	if (c->work)
		return atomic_load(&c->work->cancelled);
	return !c->conn || c->conn->closing;
}

void client_wait_line(struct imap_client *c, enum imap_mode mode,
		      void (*on_line)(struct imap_client *c, const char *line, size_t len),
		      void (*on_timeout)(struct imap_client *c))
{
	c->cont.on_line = on_line;
	c->cont.on_timeout = on_timeout;
	if (c->work)
		c->work->mode_after = mode;
	else
		c->mode = mode;
}

static void client_work_run(uv_work_t *req)
{
	struct client_work *w = container_of(req, struct client_work, req);
	w->fn(w->c, w->arg);
}

static void client_resume_work(struct imap_client *c, void *arg)
{
	(void)arg;
	c->cont.resume(c);
}

static void client_batch_free(struct client_batch *b)
{
	for (unsigned i = 1; i < b->n; i++)
		imap_parser_free(&b->e[i].parser);
	free(b);
}

/* Loop thread, after a batch: the input of the further commands that ran is used up; the
 * rest is parsed again by c->parser later. */
static void client_batch_done(struct imap_client *c, struct client_batch *b)
{
	size_t used = 0;
	for (unsigned i = 1; i < b->ran; i++)
		used += b->e[i].bytes;
	if (b->ran > 1)
		c->commands += b->ran - 1;
	if (c->conn)
		buf_consume(&c->conn->in, used);
	client_batch_free(b);
}

void imapd_pool_setup(struct imapd *d, unsigned threads)
{
	if (threads == 0)
		threads = 1;
	unsigned reserve = threads >= 8 ? threads / 4 : 1;
	d->pool_cmd_max = threads > reserve ? threads - reserve : 1;
	d->pool_heavy_max = d->pool_cmd_max / 3 ? d->pool_cmd_max / 3 : 1;
}

static void client_work_run(uv_work_t *req);
static void client_work_done(uv_work_t *req, int status);
static void client_work_finish(struct client_work *w);

static void client_pool_start(struct imapd *d, struct client_work *w)
{
	d->pool_cmd_running++;
	if (w->heavy)
		d->pool_heavy_running++;
	int r = uv_queue_work(d->loop, &w->req, client_work_run, client_work_done);
	if (r < 0) {
		/* Cannot happen with a valid loop and callback; run it here rather than lose it. */
		log_error("imap: uv_queue_work: %s", uv_strerror(r));
		client_work_run(&w->req);
		client_work_done(&w->req, r);
	}
}

/* Starts the waiting command jobs that fit (oldest first; a heavy one waits while
 * pool_heavy_max of them run, without holding up the others behind it). */
static void client_pool_dispatch(struct imapd *d)
{
	struct client_work **pp = &d->pool_wait_head, *prev = NULL;
	while (*pp && d->pool_cmd_running < d->pool_cmd_max) {
		struct client_work *w = *pp;
		if (w->heavy && d->pool_heavy_running >= d->pool_heavy_max) {
			prev = w;
			pp = &w->next_waiting;
			continue;
		}
		*pp = w->next_waiting;
		if (d->pool_wait_tail == w)
			d->pool_wait_tail = prev;
		w->next_waiting = NULL;
		client_pool_start(d, w);
	}
}

/* Loop thread: apply what the pool work asked for, in the order a loop-side run would have. */
static void client_work_done(uv_work_t *req, int status)
{
	struct client_work *w = container_of(req, struct client_work, req);
	struct imap_client *c = w->c;
	struct imapd *d = c->d;
	(void)status;
	d->pool_cmd_running--;
	if (w->heavy)
		d->pool_heavy_running--;
	client_work_finish(w);
	client_pool_dispatch(d);
}

static void client_work_finish(struct client_work *w)
{
	struct imap_client *c = w->c;
	c->d->pool_jobs--;
	c->work = NULL;
	c->running = NULL;
	if (w->batch)
		client_batch_done(c, w->batch);
	client_ref(c);
	client_view_after_work(c);
	notify_after_work(c);
	for (size_t i = 0; i < w->nnotify; i++) {
		imapd_notify_folder(c->d, c, w->notify[i]);
		free(w->notify[i]);
	}
	bool live = c->conn && !c->conn->closing;
	if (live && w->out.len) {
		net_conn_write(c->conn, w->out.data, w->out.len);
		/* A write error marks the connection closing (net.c closes it on the next loop turn). */
		live = c->conn && !c->conn->closing;
	}
	if (live && w->close_reason[0]) {
		client_close(c, w->close_reason);
		live = false;
	}
	buf_free(&w->out);
	enum imap_mode mode_after = w->mode_after;
	free(w);
	if (!live) {
		client_cont_free(c);
		c->mode = IMAP_MODE_COMMAND;
		client_unref(c);
		return;
	}
	if (c->cont.resume) {
		/* A command with more to send (FETCH): the next piece runs once the output drained. */
		if (client_backlog(c) <= NET_DRAIN_LOW)
			client_run_on_pool(c, client_resume_work, NULL, IMAP_MODE_COMMAND);
		client_unref(c);
		return;
	}
	c->mode = mode_after;
	if (mode_after == IMAP_MODE_IDLE) {
		net_conn_set_timeout(c->conn, IMAPD_IDLE_KEEPALIVE_MS);
		if (c->view && c->view->changed)
			client_folder_changed(c); /* a change that arrived before IDLE began */
	} else {
		client_enter_state(c, c->state); /* the state's timeout */
		/* NOTIFY SELECTED: a change noticed while the command ran goes out now. */
		if (c->view && c->view->changed && !c->view->expunge_held &&
		    notify_wants_selected(c))
			client_folder_changed(c);
	}
	notify_session_ready(c);          /* may queue work of its own */
	if (c->mode != IMAP_MODE_BUSY)    /* (an IDLE sync may have been queued just now) */
		net_conn_resume(c->conn); /* reads on: buffered commands first */
	client_unref(c);
}

static void client_queue_work(struct imap_client *c, void (*fn)(struct imap_client *c, void *arg),
			      void *arg, enum imap_mode mode_after, struct client_batch *batch)
{
	struct client_work *w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->fn = fn;
	w->arg = arg;
	w->batch = batch;
	buf_init(&w->out);
	w->mode_after = mode_after;
	atomic_init(&w->cancelled, false);
	w->backlog_base = client_backlog(c);
	c->mode = IMAP_MODE_BUSY;
	if (c->conn)
		net_conn_pause(c->conn);
	c->work = w;
	c->d->pool_jobs++;
	w->heavy = c->running && (c->running->flags & CMD_FLAG_HEAVY);
	for (unsigned i = 0; batch && i < batch->n; i++)
		w->heavy |= (batch->e[i].k->flags & CMD_FLAG_HEAVY) != 0;
	struct imapd *d = c->d;
	if (d->pool_wait_tail)
		d->pool_wait_tail->next_waiting = w;
	else
		d->pool_wait_head = w;
	d->pool_wait_tail = w;
	client_pool_dispatch(d);
}

void client_run_on_pool(struct imap_client *c, void (*fn)(struct imap_client *c, void *arg),
			void *arg, enum imap_mode mode_after)
{
	client_queue_work(c, fn, arg, mode_after, NULL);
}

void client_ref(struct imap_client *c)
{
	c->refs++;
}

void client_unref(struct imap_client *c)
{
	c->refs--;
	client_maybe_free(c);
}

static void client_run_command(struct imap_client *c, void *arg)
{
	c->running->fn(c, arg);
}

/* May the next command of a batch start? What client_process asks (output backlog), and:
 * the commands before it left no output to produce (a FETCH's rest) and no close, and the folder
 * is still selected. */
static bool client_batch_may_go_on(const struct imap_client *c)
{
	const struct client_work *w = c->work;
	return !atomic_load(&w->cancelled) && !w->close_reason[0] && !c->cont.resume &&
	       w->mode_after == IMAP_MODE_COMMAND && c->state == IMAP_STATE_SELECTED && c->view &&
	       client_backlog(c) <= CLIENT_OUTPUT_HIGH;
}

/* Pool: the commands of a batch in order. */
static void client_run_batch(struct imap_client *c, void *arg)
{
	struct client_batch *b = arg;
	for (unsigned i = 0; i < b->n; i++) {
		if (i > 0) {
			if (!client_batch_may_go_on(c))
				break;
			c->cmd_flags = b->e[i].k->flags;
			c->cmd_uid = b->e[i].cmd->uid;
			snprintf(c->tag, sizeof(c->tag), "%s", b->e[i].cmd->tag);
			c->running = b->e[i].k;
		}
		b->e[i].k->fn(c, b->e[i].cmd);
		b->ran = i + 1;
	}
}

/* The complete line at in[off..] parsed by a parser of its own, when it is a command that
 * may join a batch now (CMD_FLAG_BATCH, valid in this state, UID only where allowed; a
 * literal, an incomplete line or a parse error is not): its parser (the command stays valid
 * until it is freed), its table entry and its length. NULL otherwise. */
static struct imap_parser *client_parse_batchable(const struct imap_client *c, const struct buf *in,
						  size_t off, const struct command **k_r,
						  size_t *len_r)
{
	if (off >= in->len)
		return NULL;
	const char *line = in->data + off;
	const char *nl = memchr(line, '\n', in->len - off);
	if (!nl)
		return NULL;
	size_t len = (size_t)(nl - line) + 1, used = 0;
	struct imap_parser *p = client_parser_new(c, c->authenticated_parser);
	enum imap_parse_result r = imap_parser_feed(p, line, len, &used);
	const struct imap_command *cmd = NULL;
	const struct command *k = NULL;
	if (r == IMAP_PARSE_DONE && used == len) {
		cmd = imap_parser_command(p);
		k = command_find(cmd->name);
	}
	if (!k || !(k->flags & CMD_FLAG_BATCH) || !(k->states & c->state) ||
	    (cmd->uid && !(k->flags & CMD_FLAG_UID))) {
		imap_parser_free(&p);
		return NULL;
	}
	*k_r = k;
	*len_r = len;
	return p;
}

/* Read-ahead of the message files a batch will read, on other pool threads: each file is
 * opened (the directory and inode blocks come in) and posix_fadvise(WILLNEED) starts reading
 * its bytes, so that the batch's reads, one after the other, mostly find the page cache warm
 * instead of waiting for the disk once per file. Only a hint: it touches nothing shared and
 * a file gone meanwhile is skipped. */
struct client_prefetch {
	uv_work_t req;
	struct imapd *d;
	struct buf paths; /* n NUL-terminated paths */
	size_t n;
};

static void client_prefetch_run(uv_work_t *req)
{
	struct client_prefetch *p = container_of(req, struct client_prefetch, req);
	const char *path = p->paths.data;
	for (size_t k = 0; k < p->n; k++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			(void)posix_fadvise(fd, 0, CLIENT_PREFETCH_FILE_MAX, POSIX_FADV_WILLNEED);
			close(fd);
		}
		path += strlen(path) + 1;
	}
}

static void client_prefetch_done(uv_work_t *req, int status)
{
	struct client_prefetch *p = container_of(req, struct client_prefetch, req);
	(void)status;
	p->d->pool_jobs--;
	buf_free(&p->paths);
	free(p);
}

/* The UIDs the session's last batches read ahead: a batch that stopped at the output limit
 * leaves commands whose files were read ahead already for the next batch. */
struct client_readahead {
	const struct mailbox *mb; /* of this folder (a view opened later starts afresh) */
	uint32_t uid[CLIENT_PREFETCH_FILES];
	unsigned next;
};

/* Drops from idx the messages read ahead recently and remembers the others. */
static size_t client_readahead_new(struct imap_client *c, size_t *idx, size_t n)
{
	const struct mailbox *mb = c->view->mb;
	struct client_readahead *ra = c->readahead;
	if (!ra)
		ra = c->readahead = xcalloc(1, sizeof(*ra));
	if (ra->mb != mb) {
		memset(ra, 0, sizeof(*ra));
		ra->mb = mb;
	}
	size_t w = 0;
	for (size_t k = 0; k < n; k++) {
		uint32_t uid = mb->msgs[idx[k]].uid;
		bool seen = false;
		for (unsigned r = 0; r < CLIENT_PREFETCH_FILES && !seen; r++)
			seen = ra->uid[r] == uid;
		if (seen)
			continue;
		ra->uid[ra->next] = uid;
		ra->next = (ra->next + 1) % CLIENT_PREFETCH_FILES;
		idx[w++] = idx[k];
	}
	return w;
}

/* Loop thread, before the batch's job is queued (the session's view is the loop's until
 * then): the files its FETCHes will read (struct command.files), at most
 * CLIENT_PREFETCH_FILES and CLIENT_PREFETCH_BYTES (a batch that stops at the output limit
 * leaves the rest read ahead for the next one), less those read ahead just before, for up to
 * CLIENT_PREFETCH_JOBS read-ahead jobs, interleaved so that the first files come first.
 * Returns how many jobs it made. (Reading ahead for the FETCHes buffered after the batch too
 * cost a quarter more CPU per warm FETCH for no cold gain measurable here.) */
static size_t client_prefetch_prepare(struct imap_client *c, const struct client_batch *b,
				      struct client_prefetch **jobs)
{
	size_t idx[CLIENT_PREFETCH_FILES], n = 0;
	uint64_t bytes_left = CLIENT_PREFETCH_BYTES;
	for (unsigned i = 0; i < b->n && n < CLIENT_PREFETCH_FILES; i++)
		if (b->e[i].k->files)
			n += b->e[i].k->files(c, b->e[i].cmd, &bytes_left, idx + n,
					      CLIENT_PREFETCH_FILES - n);
	if (n)
		n = client_readahead_new(c, idx, n);
	size_t njobs = (n + CLIENT_PREFETCH_PER_JOB - 1) / CLIENT_PREFETCH_PER_JOB;
	if (njobs > CLIENT_PREFETCH_JOBS)
		njobs = CLIENT_PREFETCH_JOBS;
	for (size_t j = 0; j < njobs; j++) {
		struct client_prefetch *p = xcalloc(1, sizeof(*p));
		p->d = c->d;
		buf_init(&p->paths);
		for (size_t k = j; k < n; k += njobs) {
			char path[PATH_MAX];
			if (mailbox_msg_path(c->view->mb, idx[k], path, sizeof(path)) < 0)
				continue;
			buf_append(&p->paths, path, strlen(path) + 1);
			p->n++;
		}
		jobs[j] = p;
	}
	return njobs;
}

/* Queued after the batch's own job: with one free pool thread, the batch goes first. */
static void client_prefetch_queue(struct client_prefetch **jobs, size_t njobs)
{
	for (size_t j = 0; j < njobs; j++) {
		struct client_prefetch *p = jobs[j];
		p->d->pool_jobs++;
		if (uv_queue_work(p->d->loop, &p->req, client_prefetch_run, client_prefetch_done) <
		    0)
			client_prefetch_done(&p->req, -1);
	}
}

/* Command k (cmd, from c->parser) and the complete pipelined commands buffered after it that
 * may share its pool job (client_parse_batchable), at most room in all. No input is consumed
 * here. */
static struct client_batch *client_batch_new(struct imap_client *c, const struct command *k,
					     const struct imap_command *cmd, unsigned room)
{
	struct client_batch *b = xcalloc(1, sizeof(*b));
	b->n = 1;
	b->e[0].k = k;
	b->e[0].cmd = cmd;
	size_t off = 0;
	while (b->n < room) {
		const struct command *nk;
		size_t len;
		struct imap_parser *p = client_parse_batchable(c, &c->conn->in, off, &nk, &len);
		if (!p)
			break;
		b->e[b->n].k = nk;
		b->e[b->n].cmd = imap_parser_command(p);
		b->e[b->n].parser = p;
		b->e[b->n].bytes = len;
		b->n++;
		off += len;
	}
	return b;
}

/* room: commands this turn may still serve, cmd included. */
static void client_dispatch(struct imap_client *c, const struct imap_command *cmd, unsigned room)
{
	c->commands++;
	if (c->state == IMAP_STATE_NOAUTH && c->commands > IMAPD_PREAUTH_MAX_COMMANDS) {
		log_warn("imap: [%s]: too many commands before authentication", c->conn->peer_ip);
		client_send(c, "* BYE Too many commands before authentication\r\n");
		client_close(c, "too many commands before login");
		return;
	}
	const struct command *k = command_find(cmd->name);
	c->metric_cmd = k ? k->name : "unknown"; /* never client text: no label per typo */
	c->metric_started = uv_hrtime();
	c->cmd_flags = k ? k->flags : 0;
	c->cmd_uid = cmd->uid;
	if (!k) {
		client_tagged(c, cmd->tag, "BAD", "Unknown command");
		return;
	}
	if (cmd->uid && !(k->flags & CMD_FLAG_UID)) {
		client_tagged(c, cmd->tag, "BAD", "UID is not valid with %s", k->name);
		return;
	}
	if (!(k->states & c->state)) {
		client_tagged(c, cmd->tag, "BAD", "%s not valid in the %s state", k->name,
			      client_state_names[c->state]);
		return;
	}
	snprintf(c->tag, sizeof(c->tag), "%s", cmd->tag);
	/* Commands that read or write the store run on the pool; so does every command whose
	 * tagged reply syncs the selected folder. The parsed command stays valid meanwhile:
	 * nothing is fed to the parser while the session is BUSY. Pipelined FETCH, STORE,
	 * SEARCH and NOOP in the selected state go as one batch. */
	if ((k->flags & CMD_FLAG_STORE) ||
	    (c->state == IMAP_STATE_SELECTED && !(k->flags & CMD_FLAG_NO_SYNC))) {
		c->running = k;
		if (c->state == IMAP_STATE_SELECTED && (k->flags & CMD_FLAG_BATCH)) {
			struct client_batch *b = client_batch_new(c, k, cmd, room);
			struct client_prefetch *jobs[CLIENT_PREFETCH_JOBS];
			size_t njobs = client_prefetch_prepare(c, b, jobs);
			client_queue_work(c, client_run_batch, b, IMAP_MODE_COMMAND, b);
			client_prefetch_queue(jobs, njobs);
			return;
		}
		client_run_on_pool(c, client_run_command, (void *)cmd, IMAP_MODE_COMMAND);
		return;
	}
	k->fn(c, cmd);
}

/* A complete line for the command waiting for one (AUTHENTICATE, IDLE: c->cont.on_line), at
 * most CLIENT_CONT_LINE_MAX. 1 done, 0 more. */
static int client_take_line(struct imap_client *c)
{
	struct net_conn *conn = c->conn;
	const char *nl = memchr(conn->in.data, '\n', conn->in.len);
	if (!nl) {
		if (conn->in.len > CLIENT_CONT_LINE_MAX) {
			client_send(c, "* BYE Line too long\r\n");
			client_close(c, "line too long");
		}
		return 0;
	}
	size_t l = (size_t)(nl - conn->in.data);
	size_t consumed = l + 1;
	if (l && conn->in.data[l - 1] == '\r')
		l--;
	if (l > CLIENT_CONT_LINE_MAX) {
		client_send(c, "* BYE Line too long\r\n");
		client_close(c, "line too long");
		return 0;
	}
	char *line = xstrndup(conn->in.data, l);
	buf_consume(&conn->in, consumed);
	void (*on_line)(struct imap_client *, const char *, size_t) = c->cont.on_line;
	c->cont.on_line = NULL;
	c->cont.on_timeout = NULL;
	on_line(c, line, l);
	explicit_bzero(line, l);
	free(line);
	return 1;
}

static void client_parse_error(struct imap_client *c)
{
	const struct imap_parse_error *e = imap_parser_error(c->parser);
	c->cmd_flags = CMD_FLAG_NO_SYNC;
	if (e->code == IMAP_PERR_LITERAL_TOO_BIG && e->tag && e->name &&
	    strcmp(e->name, "APPEND") == 0 && !e->fatal)
		client_tagged(c, e->tag, "NO", "[TOOBIG] Message too large");
	else
		client_tagged(c, e->tag, "BAD", "%s", e->text);
	if (e->fatal && c->conn && !c->conn->closing) {
		client_send(c, "* BYE %s\r\n", e->text);
		client_close(c, "fatal protocol error");
	}
}

/* Serves buffered input: at most CLIENT_COMMANDS_PER_TURN commands, and none while the output
 * backlog is above CLIENT_OUTPUT_HIGH (on_drain wakes us). Input left over is served in a later
 * loop iteration (net.c's fairness list), so a pipelining flood cannot starve other sessions
 * and what it makes us buffer stays bounded. */
static void client_process(struct imap_client *c)
{
	unsigned served = 0;
	while (c->conn && !c->conn->closing && c->conn->in.len > 0) {
		struct net_conn *conn = c->conn;
		if (c->mode == IMAP_MODE_BUSY || served >= CLIENT_COMMANDS_PER_TURN ||
		    client_backlog(c) > CLIENT_OUTPUT_HIGH)
			return;
		if (c->mode == IMAP_MODE_AUTHENTICATE || c->mode == IMAP_MODE_IDLE) {
			if (!client_take_line(c))
				return;
			continue;
		}
		/* The command before (and its literals) is done with: nothing is fed while busy. */
		if (c->literal_reserved && imap_parser_idle(c->parser))
			client_literal_release(c);
		size_t used = 0;
		enum imap_parse_result r = imap_parser_feed(c->parser, conn->in.data, conn->in.len,
							    &used);
		buf_consume(&conn->in, used);
		switch (r) {
		case IMAP_PARSE_MORE:
			client_literal_account(c);
			return;
		case IMAP_PARSE_LITERAL:
			if (client_literal_reserve(c) == 0)
				client_send(c, "+ Ready for literal data\r\n");
			break;
		case IMAP_PARSE_DONE:
			client_dispatch(c, imap_parser_command(c->parser),
					CLIENT_COMMANDS_PER_TURN - served);
			served++;
			break;
		case IMAP_PARSE_ERROR:
			client_literal_release(c);
			client_parse_error(c);
			break;
		}
	}
}

static void client_on_read(struct net_conn *conn)
{
	struct imap_client *c = conn->data;
	if (!c)
		return;
	if (c->proxy) {
		imap_proxy_client_input(c);
		return;
	}
	client_ref(c);
	client_process(c);
	client_unref(c);
}

void client_command_done(struct imap_client *c)
{
	if (c->mode == IMAP_MODE_BUSY)
		c->mode = IMAP_MODE_COMMAND;
	if (!c->conn) {
		client_maybe_free(c);
		return;
	}
	net_conn_resume(c->conn);
}

static void client_on_timeout(struct net_conn *conn)
{
	struct imap_client *c = conn->data;
	if (c->mode == IMAP_MODE_IDLE) {
		if (c->cont.on_timeout)
			c->cont.on_timeout(c);
		net_conn_set_timeout(conn, IMAPD_IDLE_KEEPALIVE_MS);
		return;
	}
	if (c->mode == IMAP_MODE_BUSY && !c->proxy) {
		net_conn_set_timeout(conn, IMAPD_IDLE_TIMEOUT_MS);
		return;
	}
	log_info("imap: [%s]: user=%s, autologout after inactivity", conn->peer_ip,
		 c->user[0] ? c->user : "-");
	client_send(c, "* BYE Autologout; idle for too long\r\n");
	client_close(c, "timeout");
}

static void client_on_close(struct net_conn *conn, const char *reason)
{
	struct imap_client *c = conn->data;
	if (!c)
		return;
	log_info("imap: disconnect from [%s] user=%s reason=%s commands=%u%s", conn->peer_ip,
		 c->user[0] ? c->user : "-", reason, c->commands,
		 c->work ? " (store work in progress)" : "");
	c->conn = NULL;
	conn->data = NULL;
	imap_proxy_client_closed(c);
	if (c->work) {
		/* The pool work finishes on its own; client_work_done frees what is left. */
		atomic_store(&c->work->cancelled, true);
		return;
	}
	if (c->cont.resume) {
		client_cont_free(c);
		c->mode = IMAP_MODE_COMMAND;
	}
	client_maybe_free(c);
}

static void client_on_tls_ready(struct net_conn *conn)
{
	struct imap_client *c = conn->data;
	if (!c)
		return;
	c->tls = true;
	log_info("imap: TLS connection established from [%s]: %s", conn->peer_ip,
		 tls_session_summary(conn->tls));
}

/* Serves input that waited for the output backlog to drain, through net.c so that leftovers go
 * on its fairness list. */
static void client_wake(struct imap_client *c)
{
	if (!c->conn || c->conn->closing || !c->conn->in.len)
		return;
	net_conn_pause(c->conn);
	net_conn_resume(c->conn);
}

static void client_on_drain(struct net_conn *conn)
{
	struct imap_client *c = conn->data;
	if (!c || c->work)
		return;
	if (c->proxy) {
		imap_proxy_client_drained(c);
		return;
	}
	if (c->cont.resume) {
		client_run_on_pool(c, client_resume_work, NULL, IMAP_MODE_COMMAND);
		return;
	}
	if (c->mode == IMAP_MODE_COMMAND)
		client_wake(c);
}

static const struct net_conn_ops client_conn_ops = {
	.on_read = client_on_read,
	.on_timeout = client_on_timeout,
	.on_close = client_on_close,
	.on_tls_ready = client_on_tls_ready,
	.on_drain = client_on_drain,
};

void client_accept(struct net_listener *l, struct net_conn *conn)
{
	struct imapd *d = l->data;
	struct imap_client *c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->conn = conn;
	c->state = IMAP_STATE_NOAUTH;
	c->mode = IMAP_MODE_COMMAND;
	c->tls = conn->tls != NULL;
	snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", conn->peer_ip);
	c->parser = client_parser_new(c, false);
	notify_init(c);
	c->next = d->clients;
	if (d->clients)
		d->clients->prev = c;
	d->clients = c;
	conn->data = c;
	conn->ops = &client_conn_ops;
	conn->max_in = 256 * 1024;
	metric_inc(MET_IMAP_SESSIONS, NULL, NULL);
	log_info("imap: connect from [%s]:%u to %s", conn->peer_ip, conn->peer_port, l->name);
	if (conn->over_limit) {
		log_warn("imap: reject: too many connections from [%s] (%u) or in total (%u)",
			 conn->peer_ip, net_conn_count_ip(conn->peer_ip), net_conn_count());
		client_send(c, "* BYE Too many connections\r\n");
		client_close(c, "too many connections");
		return;
	}
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "* OK [CAPABILITY ");
	client_capabilities(c, &b);
	buf_printf(&b, "] %s IMAP server ready\r\n", d->cfg->hostname);
	client_send_buf(c, &b);
	buf_free(&b);
	net_conn_set_timeout(conn, IMAPD_PREAUTH_TIMEOUT_MS);
}

void imapd_notify_folder(struct imapd *d, const struct imap_client *except, const char *maildir)
{
	if (except && except->work) {
		/* On the pool: other sessions are the loop's; told in client_work_done. */
		struct client_work *w = except->work;
		for (size_t i = 0; i < w->nnotify; i++)
			if (strcmp(w->notify[i], maildir) == 0)
				return;
		if (w->nnotify < CLIENT_NOTIFY_MAX)
			w->notify[w->nnotify++] = xstrdup(maildir);
		return;
	}
	struct imap_client *next;
	for (struct imap_client *c = d->clients; c; c = next) {
		next = c->next;
		if (c == except || !c->conn)
			continue;
		notify_folder_changed(c, maildir);
		if (c->work) {
			/* Its folder may be changing hands on the pool: it looks after the work. */
			c->changed_while_busy = true;
			continue;
		}
		if (c->view && strcmp(c->view->path, maildir) == 0)
			client_folder_changed(c);
	}
}

int imapd_listen(struct imapd *d, char *err, size_t errlen)
{
	const struct config *cfg = d->cfg;
	if (net_listen(d->loop, &cfg->imap_listen, "imap", client_accept, d, &d->listeners, err,
		       errlen) < 0)
		return -1;
	struct net_listener *plain_end = d->listeners;
	if (net_listen(d->loop, &cfg->imaps_listen, "imaps", client_accept, d, &d->listeners, err,
		       errlen) < 0)
		return -1;
	for (struct net_listener *l = d->listeners; l != plain_end; l = l->next)
		l->tls = d->tls;
	for (struct net_listener *l = d->listeners; l; l = l->next) {
		l->max_connections = cfg->max_connections;
		l->max_per_ip = cfg->max_connections_per_ip;
	}
	return 0;
}
