/* cmd_sort.c - SORT and UID SORT (RFC 5256, 5957 DISPLAY, 5267 ESORT RETURN), THREAD and UID THREAD (RFC 5256) over the selected folder, keys from the header cache. */
#include "commands.h"
#include "log.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "search.h"
#include "sort.h"
#include "sort_keys.h"
#include "thread.h"
#include "xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The messages that match, with their keys when the program needs them. */
struct sort_set {
	size_t *idx; /* indexes into the folder's messages, ascending */
	struct sort_keys *keys;
	size_t n;
};

static void sort_set_free(struct sort_set *s)
{
	if (s->keys)
		for (size_t i = 0; i < s->n; i++)
			sort_keys_free(&s->keys[i]);
	free(s->keys);
	free(s->idx);
	memset(s, 0, sizeof(*s));
}

/* Searches and loads keys. Returns 0, or -1 when the client went (nothing to send). */
static int sort_collect(struct imap_client *c, const struct sort_program *p, struct sort_set *s)
{
	const struct mailbox *mb = c->view->mb;
	memset(s, 0, sizeof(*s));
	s->idx = xmalloc((mb->count + 1) * sizeof(*s->idx));
	bool needs_tz = search_needs_tz(p->search.root);
	for (size_t i = 0; i < mb->count; i++) {
		if (client_cancelled(c)) {
			sort_set_free(s);
			return -1;
		}
		if (command_search_match(c, &p->search, i, needs_tz))
			s->idx[s->n++] = i;
	}
	if (!p->needs_keys)
		return 0;
	s->keys = xcalloc(s->n + 1, sizeof(*s->keys));
	for (size_t k = 0; k < s->n; k++) {
		if ((k & 1023) == 0 && client_cancelled(c)) {
			sort_set_free(s);
			return -1;
		}
		const char *rec;
		size_t len;
		int r = mailbox_msg_sortkeys(mb, s->idx[k], &rec, &len);
		if (r < 0 || sort_keys_parse(&s->keys[k], rec, len) < 0) {
			/* Gone meanwhile (the next sync reports it) or unreadable: sorts as empty. */
			if (r < 0 && r != -ENOENT)
				log_warn("imap: user=%s, no sort keys for message %zu of %s",
					 c->user, s->idx[k] + 1, mb->path);
			struct sort_keys empty;
			sort_keys_from_header(&empty, "", 0);
			s->keys[k] = empty;
		}
	}
	return 0;
}

static int64_t sort_date(const struct mailbox_msg *mm, const struct sort_keys *k)
{
	return k && k->has_date ? k->date : (int64_t)mm->internal_date;
}

/* Appends numbers in their order, runs of ascending consecutive ones as "a:b". */
static void sort_write_ordered_set(struct buf *b, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (i)
			buf_append(b, ",", 1);
		if (j > i)
			buf_printf(b, "%u:%u", v[i], v[j]);
		else
			buf_printf(b, "%u", v[i]);
		i = j + 1;
	}
}

int command_sort_run(struct imap_client *c, const struct sort_program *p, size_t **idx_r,
		     size_t *n_r)
{
	*idx_r = NULL;
	*n_r = 0;
	struct sort_set s;
	if (sort_collect(c, p, &s) < 0)
		return -1;
	const struct mailbox *mb = c->view->mb;
	struct sort_msg *m = xcalloc(s.n + 1, sizeof(*m));
	static const char empty[] = "";
	for (size_t k = 0; k < s.n; k++) {
		const struct mailbox_msg *mm = &mb->msgs[s.idx[k]];
		const struct sort_keys *sk = s.keys ? &s.keys[k] : NULL;
		bool size = false;
		for (unsigned i = 0; i < p->ncrit; i++)
			size = size || p->crit[i].key == SORT_SIZE;
		m[k] = (struct sort_msg){
			.seq = (uint32_t)(s.idx[k] + 1),
			.uid = mm->uid,
			.arrival = (int64_t)mm->internal_date,
			.date = sort_date(mm, sk),
			.size = size ? mailbox_msg_size(mb, s.idx[k]) : 0,
			.subject = sk ? sk->subject : empty,
			.from = sk ? sk->from : empty,
			.to = sk ? sk->to : empty,
			.cc = sk ? sk->cc : empty,
			.display_from = sk ? sk->display_from : empty,
			.display_to = sk ? sk->display_to : empty,
		};
	}
	if (p->ncrit)
		sort_order(m, s.n, p->crit, p->ncrit);
	for (size_t k = 0; k < s.n; k++)
		s.idx[k] = m[k].seq - 1;
	free(m);
	*idx_r = s.idx;
	*n_r = s.n;
	s.idx = NULL;
	sort_set_free(&s);
	return 0;
}

void command_write_ordered_set(struct buf *b, const uint32_t *v, size_t n)
{
	sort_write_ordered_set(b, v, n);
}

void cmd_sort(struct imap_client *c, const struct imap_command *cmd)
{
	struct sort_program p;
	struct search_error err;
	if (sort_parse(cmd->args, cmd->count, 0, &p, &err) < 0) {
		command_search_error(c, cmd, &err);
		return;
	}
	if (command_utf8_charset_bad(c, cmd, &p.search, true)) {
		sort_program_free(&p);
		return;
	}
	if (p.search.has_modseq)
		command_enable_condstore(c);
	size_t *idx, n;
	if (command_sort_run(c, &p, &idx, &n) < 0) {
		sort_program_free(&p);
		return;
	}
	const struct mailbox *mb = c->view->mb;
	uint32_t *v = xmalloc((n + 1) * sizeof(*v));
	uint64_t max_modseq = 0;
	for (size_t k = 0; k < n; k++) {
		const struct mailbox_msg *mm = &mb->msgs[idx[k]];
		v[k] = cmd->uid ? mm->uid : (uint32_t)(idx[k] + 1);
		if (mm->modseq > max_modseq)
			max_modseq = mm->modseq;
	}
	struct buf b;
	buf_init(&b);
	if (p.search.esearch) {
		unsigned opts = p.search.return_opts;
		buf_printf(&b, "* ESEARCH (TAG \"%s\")%s", cmd->tag, cmd->uid ? " UID" : "");
		if ((opts & SEARCH_RETURN_MIN) && n)
			buf_printf(&b, " MIN %u", v[0]);
		if ((opts & SEARCH_RETURN_MAX) && n)
			buf_printf(&b, " MAX %u", v[n - 1]);
		if (opts & SEARCH_RETURN_COUNT)
			buf_printf(&b, " COUNT %zu", n);
		if ((opts & SEARCH_RETURN_ALL) && n) {
			buf_append_str(&b, " ALL ");
			sort_write_ordered_set(&b, v, n);
		}
		if (opts & SEARCH_RETURN_PARTIAL)
			command_write_partial(&b, &p.search, v, n);
		if (p.search.has_modseq && n && max_modseq)
			buf_printf(&b, " MODSEQ %llu", (unsigned long long)max_modseq);
	} else {
		buf_append_str(&b, "* SORT");
		for (size_t k = 0; k < n; k++)
			buf_printf(&b, " %u", v[k]);
		if (p.search.has_modseq && n)
			buf_printf(&b, " (MODSEQ %llu)", (unsigned long long)max_modseq);
	}
	buf_append_str(&b, "\r\n");
	client_send_buf(c, &b);
	buf_free(&b);
	free(v);
	if (p.search.return_opts & SEARCH_RETURN_UPDATE)
		command_context_add(c, cmd, &p, idx, n); /* takes p */
	free(idx);
	sort_program_free(&p);
	client_tagged(c, cmd->tag, "OK", "%sSORT completed", cmd->uid ? "UID " : "");
}

void cmd_thread(struct imap_client *c, const struct imap_command *cmd)
{
	struct sort_program p;
	struct search_error err;
	if (thread_parse(cmd->args, cmd->count, 0, &p, &err) < 0) {
		command_search_error(c, cmd, &err);
		return;
	}
	if (command_utf8_charset_bad(c, cmd, &p.search, true)) {
		sort_program_free(&p);
		return;
	}
	if (p.search.has_modseq)
		command_enable_condstore(c);
	struct sort_set s;
	if (sort_collect(c, &p, &s) < 0) {
		sort_program_free(&p);
		return;
	}
	const struct mailbox *mb = c->view->mb;
	struct thread_msg *m = xcalloc(s.n + 1, sizeof(*m));
	for (size_t k = 0; k < s.n; k++) {
		const struct mailbox_msg *mm = &mb->msgs[s.idx[k]];
		const struct sort_keys *sk = &s.keys[k];
		m[k] = (struct thread_msg){
			.number = cmd->uid ? mm->uid : (uint32_t)(s.idx[k] + 1),
			.date = sort_date(mm, sk),
			.subject = sk->subject,
			.reply = sk->reply,
			.msgid = sk->message_id,
			.refs = sk->references,
		};
	}
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "* THREAD ");
	thread_write(&b, p.alg, m, s.n);
	buf_append_str(&b, "\r\n");
	client_send_buf(c, &b);
	buf_free(&b);
	free(m);
	sort_set_free(&s);
	sort_program_free(&p);
	client_tagged(c, cmd->tag, "OK", "%sTHREAD completed", cmd->uid ? "UID " : "");
}
