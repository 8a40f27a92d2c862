/* cmd_search.c - SEARCH and UID SEARCH (CHARSET, every key, RETURN/ESEARCH, MODSEQ) over the selected folder. */
#include "commands.h"
#include "fetch.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "search.h"
#include "seqset.h"
#include "sort.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct search_load_ctx {
	struct imap_client *c;
	size_t index;
	char *data;
};

static int search_load_message(struct search_msg *m, void *arg)
{
	struct search_load_ctx *x = arg;
	size_t len;
	if (command_read_message(x->c, x->index, &x->data, &len) < 0)
		return -1;
	m->data = x->data;
	m->len = len;
	return 0;
}

static int search_load_header(struct search_msg *m, void *arg)
{
	struct search_load_ctx *x = arg;
	return mailbox_msg_header(x->c->view->mb, x->index, &m->header, &m->header_len);
}

void command_search_error(struct imap_client *c, const struct imap_command *cmd,
			  const struct search_error *err)
{
	if (err->code == SEARCH_ERR_BADCHARSET)
		client_tagged(c, cmd->tag, "NO", "[BADCHARSET (US-ASCII UTF-8)] %s", err->text);
	else if (err->code == SEARCH_ERR_LIMIT)
		client_tagged(c, cmd->tag, "NO", "[LIMIT] %s (at most %d, of them %d text keys)",
			      err->text, SEARCH_MAX_KEYS, SEARCH_MAX_TEXT_KEYS);
	else
		client_tagged(c, cmd->tag, "BAD", "%s", err->text);
}

bool command_utf8_charset_bad(struct imap_client *c, const struct imap_command *cmd,
			      const struct search_program *prog, bool mandatory)
{
	if (!(c->enabled & IMAP_ENABLED_UTF8) || prog->charset == SEARCH_CHARSET_DEFAULT ||
	    (mandatory && prog->charset == SEARCH_CHARSET_UTF8))
		return false;
	client_tagged(c, cmd->tag, "BAD", "%s",
		      mandatory ? "Only UTF-8 is allowed after ENABLE UTF8=ACCEPT"
				: "No CHARSET is allowed after ENABLE UTF8=ACCEPT");
	return true;
}

int command_search_match(struct imap_client *c, const struct search_program *prog, size_t i,
			 bool needs_tz)
{
	const struct mailbox *mb = c->view->mb;
	const struct mailbox_msg *mm = &mb->msgs[i];
	struct search_load_ctx x = { .c = c, .index = i };
	struct search_msg m = {
		.seq = (uint32_t)(i + 1),
		.uid = mm->uid,
		.max_seq = (uint32_t)mb->count,
		.max_uid = mb->count ? mb->msgs[mb->count - 1].uid : 0,
		.flags = mm->flags,
		.keywords = mm->keywords,
		.keyword_names = (const char *const *)mb->keywords,
		.size = prog->uses_size ? mailbox_msg_size(mb, i) : mm->size,
		.modseq = mm->modseq,
		.internal_date = mm->internal_date,
		.tz_minutes = needs_tz ? fetch_local_tz(mm->internal_date) : 0,
		.load = search_load_message,
		.load_header = search_load_header,
		.load_arg = &x,
		.saved = &c->view->saved,
	};
	int hit = search_match(prog->root, &m);
	search_msg_clear(&m);
	free(x.data);
	return hit;
}

/* True when the command asks RETURN (... SAVE ...) (looked at without parsing the keys). */
static bool search_asks_save(const struct imap_command *cmd)
{
	for (unsigned i = 0; i + 1 < cmd->count && i < 3; i++) {
		const struct imap_arg *l;
		unsigned n;
		if (imap_arg_atom_equals(&cmd->args[i], "RETURN") &&
		    imap_arg_list(&cmd->args[i + 1], &l, &n))
			for (unsigned k = 0; k < n; k++)
				if (imap_arg_atom_equals(&l[k], "SAVE"))
					return true;
	}
	return false;
}

void cmd_search(struct imap_client *c, const struct imap_command *cmd)
{
	struct search_program prog;
	struct search_error err;
	if (search_parse(cmd->args, cmd->count, SEARCH_PARSE_SEARCHRES, &prog, &err) < 0) {
		/* RFC 5182 2.1: a failed SEARCH that would have saved leaves "$" empty. */
		if (search_asks_save(cmd)) {
			seqset_free(&c->view->saved);
			seqset_init(&c->view->saved);
		}
		command_search_error(c, cmd, &err);
		return;
	}
	if (command_utf8_charset_bad(c, cmd, &prog, false)) {
		search_program_free(&prog);
		return;
	}
	if (prog.has_modseq)
		command_enable_condstore(c);
	const struct mailbox *mb = c->view->mb;
	struct seqset result, saved;
	seqset_init(&result);
	seqset_init(&saved);
	uint32_t min_uid = 0, max_uid_hit = 0;
	uint64_t count = 0, max_modseq = 0, min_modseq = 0, last_modseq = 0;
	uint32_t min = 0, max = 0;
	struct buf plain;
	buf_init(&plain);
	buf_append_str(&plain, "* SEARCH");
	bool needs_tz = search_needs_tz(prog.root); /* localtime per message costs */
	/* The result in order, for PARTIAL and for a result kept up to date (RFC 5267). */
	bool keep = (prog.return_opts & (SEARCH_RETURN_PARTIAL | SEARCH_RETURN_UPDATE)) != 0;
	size_t nkept = 0, *kept_idx = keep ? xmalloc((mb->count + 1) * sizeof(size_t)) : NULL;
	uint32_t *kept = keep ? xmalloc((mb->count + 1) * sizeof(uint32_t)) : NULL;
	for (size_t i = 0; i < mb->count; i++) {
		/* A client that left stops its search at the next message. */
		if (client_cancelled(c)) {
			free(kept);
			free(kept_idx);
			buf_free(&plain);
			seqset_free(&result);
			seqset_free(&saved);
			search_program_free(&prog);
			return;
		}
		const struct mailbox_msg *mm = &mb->msgs[i];
		int hit = command_search_match(c, &prog, i, needs_tz);
		if (!hit)
			continue;
		uint32_t n = cmd->uid ? mm->uid : (uint32_t)(i + 1);
		if (!count) {
			min = n;
			min_modseq = mm->modseq;
			min_uid = mm->uid;
		}
		max = n;
		if (keep) {
			kept_idx[nkept] = i;
			kept[nkept++] = n;
		}
		max_uid_hit = mm->uid;
		if (prog.return_opts & SEARCH_RETURN_SAVE)
			seqset_add(&saved, mm->uid);
		last_modseq = mm->modseq;
		count++;
		if (mm->modseq > max_modseq)
			max_modseq = mm->modseq;
		seqset_add(&result, n);
		buf_printf(&plain, " %u", n);
	}
	struct buf b;
	buf_init(&b);
	unsigned ropts = prog.esearch ? prog.return_opts : 0;
	if (ropts & SEARCH_RETURN_SAVE) {
		/* RFC 5182 2.4: with MIN and/or MAX alone, only those messages are saved. */
		if ((ropts & (SEARCH_RETURN_MIN | SEARCH_RETURN_MAX)) &&
		    !(ropts & (SEARCH_RETURN_ALL | SEARCH_RETURN_COUNT))) {
			seqset_free(&saved);
			seqset_init(&saved);
			if (count && (ropts & SEARCH_RETURN_MIN))
				seqset_add(&saved, min_uid);
			if (count && (ropts & SEARCH_RETURN_MAX) && max_uid_hit != min_uid)
				seqset_add(&saved, max_uid_hit);
		}
		seqset_free(&c->view->saved);
		c->view->saved = saved;
		seqset_init(&saved);
	}
	if (ropts == SEARCH_RETURN_SAVE) {
		/* RETURN (SAVE) alone: no ESEARCH response (RFC 5182 2.1). */
	} else if (prog.esearch || (c->enabled & IMAP_ENABLED_REV2)) {
		unsigned opts = prog.esearch ? prog.return_opts : SEARCH_RETURN_ALL;
		buf_printf(&b, "* ESEARCH (TAG \"%s\")%s", cmd->tag, cmd->uid ? " UID" : "");
		if ((opts & SEARCH_RETURN_MIN) && count)
			buf_printf(&b, " MIN %u", min);
		if ((opts & SEARCH_RETURN_MAX) && count)
			buf_printf(&b, " MAX %u", max);
		if (opts & SEARCH_RETURN_COUNT)
			buf_printf(&b, " COUNT %llu", (unsigned long long)count);
		if ((opts & SEARCH_RETURN_ALL) && count) {
			buf_append_str(&b, " ALL ");
			seqset_write(&b, &result);
		}
		if (opts & SEARCH_RETURN_PARTIAL)
			command_write_partial(&b, &prog, kept, nkept);
		/* RFC 7162 3.1.5: with only MIN and/or MAX, the highest modseq of the
		 * messages returned, not of every match. */
		if (!(opts & (SEARCH_RETURN_ALL | SEARCH_RETURN_COUNT))) {
			uint64_t mm_min = (opts & SEARCH_RETURN_MIN) ? min_modseq : 0;
			uint64_t mm_max = (opts & SEARCH_RETURN_MAX) ? last_modseq : 0;
			max_modseq = mm_min > mm_max ? mm_min : mm_max;
		}
		if (prog.has_modseq && count && max_modseq)
			buf_printf(&b, " MODSEQ %llu", (unsigned long long)max_modseq);
		buf_append_str(&b, "\r\n");
	} else {
		buf_append(&b, plain.data, plain.len);
		if (prog.has_modseq && count)
			buf_printf(&b, " (MODSEQ %llu)", (unsigned long long)max_modseq);
		buf_append_str(&b, "\r\n");
	}
	client_send_buf(c, &b);
	buf_free(&b);
	buf_free(&plain);
	seqset_free(&result);
	seqset_free(&saved);
	if (prog.return_opts & SEARCH_RETURN_UPDATE) {
		struct sort_program sp = { .search = prog }; /* no criteria: folder order */
		memset(&prog, 0, sizeof(prog));
		command_context_add(c, cmd, &sp, kept_idx, nkept);
		sort_program_free(&sp);
	}
	free(kept);
	free(kept_idx);
	search_program_free(&prog);
	client_tagged(c, cmd->tag, "OK", "%sSEARCH completed", cmd->uid ? "UID " : "");
}
