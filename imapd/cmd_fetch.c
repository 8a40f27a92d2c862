/* cmd_fetch.c - FETCH and UID FETCH: a job that renders one message at a time and writes it in bounded pieces as the connection drains.
 * Runs on the thread pool: each piece of at most FETCH_HIGH_WATER output is one pool job (client.c), resumed through c->cont. */
#include "cmd_qresync.h"
#include "commands.h"
#include "fetch.h"
#include "log.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "seqset.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FETCH_CHUNK      (64 * 1024)  /* bytes handed to the connection at a time */
#define FETCH_HIGH_WATER (512 * 1024) /* stop producing above this backlog */

struct fetch_job {
	char tag[128];
	bool uid;
	struct fetch_request req;
	struct seqset set; /* resolved sequence numbers or UIDs */
	size_t next;       /* index of the next message to look at */
	bool needs_data;
	bool condstore;
	bool seen_changed; /* \Seen set on some message: tell other sessions */
	unsigned missing;  /* messages whose file vanished */
	bool unknown_cte;  /* BINARY of a part in an unknown transfer encoding */
	/* the message being written */
	struct fetch_out out;
	char *data;
	size_t seg, seg_off;
	bool writing;
};

/* The job is the session's continuation (c->cont) from cmd_fetch until it finished. */
static void fetch_job_free(struct imap_client *c)
{
	struct fetch_job *job = c->cont.ctx;
	if (!job)
		return;
	memset(&c->cont, 0, sizeof(c->cont));
	fetch_request_free(&job->req);
	seqset_free(&job->set);
	fetch_out_free(&job->out);
	free(job->data);
	free(job);
}

/* Renders message index i into job->out. Returns false when it was skipped. */
static bool fetch_prepare(struct imap_client *c, struct fetch_job *job, size_t i)
{
	struct mailbox_view *v = c->view;
	struct mailbox *mb = v->mb;
	struct mailbox_msg *mm = &mb->msgs[i];
	if (job->req.has_changedsince && mm->modseq <= job->req.changedsince)
		return false;
	struct fetch_msg m = {
		.seq = (uint32_t)(i + 1),
		.uid = mm->uid,
		.modseq = mm->modseq,
		.flags = (c->enabled & IMAP_ENABLED_REV2) ? mm->flags & ~(unsigned)MAILBOX_RECENT
							  : mm->flags,
		.keywords = mm->keywords,
		.size = job->req.wants_size ? mailbox_msg_size(mb, i) : mm->size,
		.internal_date = mm->internal_date,
	};
	if (job->needs_data) {
		size_t len = 0;
		if (command_read_message(c, i, &job->data, &len) < 0) {
			job->missing++;
			return false;
		}
		m.data = job->data;
		m.len = len;
	}
	bool add_flags = false;
	if (job->req.sets_seen && !v->readonly && !(mm->flags & MAILBOX_SEEN)) {
		bool sets = false;
		for (unsigned k = 0; k < job->req.count; k++) {
			const struct fetch_item *it = &job->req.items[k];
			if (!it->peek &&
			    (it->type == FETCH_RFC822 || it->type == FETCH_RFC822_TEXT ||
			     it->type == FETCH_BODY_SECTION || it->type == FETCH_BINARY))
				sets = true;
		}
		if (sets && mailbox_store(mb, i, '+', MAILBOX_SEEN, NULL, 0) == 0) {
			mm = &mb->msgs[i];
			m.flags = (c->enabled & IMAP_ENABLED_REV2)
					  ? mm->flags & ~(unsigned)MAILBOX_RECENT
					  : mm->flags;
			m.modseq = mm->modseq;
			add_flags = true;
			job->seen_changed = true;
		}
	}
	fetch_out_reset(&job->out);
	fetch_render(&job->out, &job->req, mb, &m, add_flags, job->condstore);
	if (job->out.unknown_cte) {
		job->unknown_cte = true;
		return false;
	}
	job->seg = 0;
	job->seg_off = 0;
	job->writing = true;
	return true;
}

void command_fetch_unsolicited(struct imap_client *c, const struct fetch_request *req, size_t i,
			       struct buf *b)
{
	struct fetch_job job;
	memset(&job, 0, sizeof(job));
	job.req = *req;
	job.req.sets_seen = false; /* nobody asked to read it: \Seen stays as it is */
	job.needs_data = fetch_needs_data(req);
	job.condstore = (c->enabled & IMAP_ENABLED_CONDSTORE) != 0;
	fetch_out_init(&job.out);
	if (fetch_prepare(c, &job, i)) {
		for (size_t k = 0; k < job.out.nsegs; k++) {
			const struct fetch_seg *sg = &job.out.segs[k];
			buf_append(b, (sg->from_msg ? job.data : job.out.meta.data) + sg->off,
				   sg->len);
		}
	}
	fetch_out_free(&job.out);
	free(job.data);
}

static void fetch_finish(struct imap_client *c, struct fetch_job *job)
{
	char tag[128];
	snprintf(tag, sizeof(tag), "%s", job->tag);
	unsigned missing = job->missing;
	bool seen_changed = job->seen_changed;
	bool uid = job->uid;
	bool unknown_cte = job->unknown_cte;
	fetch_job_free(c);
	if (seen_changed && c->view)
		imapd_notify_folder(c->d, c, c->view->path);
	if (unknown_cte)
		client_tagged(c, tag, "NO",
			      "[UNKNOWN-CTE] Cannot decode the part's transfer encoding");
	else if (missing)
		client_tagged(c, tag, "NO",
			      "[EXPUNGEISSUED] Some of the requested messages no longer exist");
	else
		client_tagged(c, tag, "OK", "%sFETCH completed", uid ? "UID " : "");
}

/* The index of the first message after i (whose number, sequence or UID, is key and not in
 * set) whose number is in set; mb->count when there is none. */
static size_t fetch_next_index(const struct mailbox *mb, const struct seqset *set, bool uid,
			       size_t i, uint32_t key)
{
	uint32_t want;
	if (key == UINT32_MAX || !seqset_next(set, key + 1, &want))
		return mb->count;
	if (!uid)
		return want - 1 < mb->count ? want - 1 : mb->count;
	size_t a = i + 1, b = mb->count; /* the first message with UID >= want */
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (mb->msgs[mid].uid < want)
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

/* Writes on until the backlog reaches FETCH_HIGH_WATER or the job is done (c->cont.resume: the
 * loop calls it again on the pool once the output drained). */
static void fetch_resume(struct imap_client *c)
{
	struct fetch_job *job = c->cont.ctx;
	while (job && !client_cancelled(c) && client_backlog(c) < FETCH_HIGH_WATER) {
		if (job->writing) {
			if (job->seg == job->out.nsegs) {
				job->writing = false;
				free(job->data);
				job->data = NULL;
				continue;
			}
			const struct fetch_seg *s = &job->out.segs[job->seg];
			const char *base = s->from_msg ? job->data : job->out.meta.data;
			size_t n = s->len - job->seg_off;
			if (n > FETCH_CHUNK)
				n = FETCH_CHUNK;
			client_send_raw(c, base + s->off + job->seg_off, n);
			job->seg_off += n;
			if (job->seg_off == s->len) {
				job->seg++;
				job->seg_off = 0;
			}
			continue;
		}
		const struct mailbox *mb = c->view->mb;
		while (job->next < mb->count) {
			size_t i = job->next;
			uint32_t key = job->uid ? mb->msgs[i].uid : (uint32_t)(i + 1);
			if (!seqset_contains(&job->set, key)) {
				/* Jump to the next member: "FETCH 5" costs the same in any folder size. */
				job->next = fetch_next_index(mb, &job->set, job->uid, i, key);
				continue;
			}
			job->next++;
			if (fetch_prepare(c, job, i))
				break;
		}
		if (!job->writing) {
			fetch_finish(c, job);
			return;
		}
	}
	if (client_cancelled(c))
		fetch_job_free(c);
}

size_t cmd_fetch_files(const struct imap_client *c, const struct imap_command *cmd,
		       uint64_t *bytes_left, size_t *idx, size_t max)
{
	size_t n = 0;
	if (cmd->count < 2 || !c->view)
		return 0;
	struct fetch_request req;
	struct fetch_error ferr;
	if (fetch_parse(&cmd->args[1], cmd->count - 1, cmd->uid ? FETCH_PARSE_UID : 0, &req,
			&ferr) < 0)
		return 0;
	bool needs_data = fetch_needs_data(&req);
	fetch_request_free(&req);
	struct seqset set;
	seqset_init(&set);
	const struct mailbox *mb = c->view->mb;
	if (!needs_data || command_seqset_resolve(mb, cmd->uid, &cmd->args[0], &set) < 0) {
		seqset_free(&set);
		return 0;
	}
	/* The members of the set in order, visited as fetch_resume visits them. */
	size_t i = 0;
	while (i<mb->count && * bytes_left> 0 && n < max) {
		const struct mailbox_msg *mm = &mb->msgs[i];
		uint32_t key = cmd->uid ? mm->uid : (uint32_t)(i + 1);
		if (!seqset_contains(&set, key)) {
			i = fetch_next_index(mb, &set, cmd->uid, i, key);
			continue;
		}
		/* A size not learnt yet (MAILBOX_SIZE_UNKNOWN: a name without ,S=) is read ahead
		 * too, counted as the most the read-ahead asks for (client_prefetch_run). */
		uint64_t sz = mm->size == MAILBOX_SIZE_UNKNOWN ? CLIENT_PREFETCH_FILE_MAX
							       : mm->size;
		if (sz <= CLIENT_PREFETCH_FILE_MAX) {
			idx[n++] = i;
			*bytes_left = sz < *bytes_left ? *bytes_left - sz : 0;
		}
		i++;
	}
	seqset_free(&set);
	return n;
}

void cmd_fetch(struct imap_client *c, const struct imap_command *cmd)
{
	struct fetch_error ferr;
	if (cmd->count < 2) {
		client_tagged(c, cmd->tag, "BAD", "Usage: FETCH sequence-set items");
		return;
	}
	struct fetch_job *job = xcalloc(1, sizeof(*job));
	seqset_init(&job->set);
	fetch_out_init(&job->out);
	c->cont.resume = fetch_resume;
	c->cont.free = fetch_job_free;
	c->cont.ctx = job;
	if (command_seqset(c, cmd, &cmd->args[0], &job->set) < 0) {
		fetch_job_free(c);
		return;
	}
	if (fetch_parse(&cmd->args[1], cmd->count - 1, cmd->uid ? FETCH_PARSE_UID : 0, &job->req,
			&ferr) < 0) {
		client_tagged(c, cmd->tag, "BAD", "%s", ferr.text);
		fetch_job_free(c);
		return;
	}
	for (unsigned i = 0; i < job->req.count; i++)
		if (job->req.items[i].type == FETCH_MODSEQ)
			command_enable_condstore(c);
	if (job->req.has_changedsince)
		command_enable_condstore(c);
	if (job->req.vanished) {
		if (!(c->enabled & IMAP_ENABLED_QRESYNC)) {
			client_tagged(c, cmd->tag, "BAD", "VANISHED needs ENABLE QRESYNC");
			fetch_job_free(c);
			return;
		}
		qresync_fetch_vanished(c, &cmd->args[0], job->req.changedsince);
	}
	snprintf(job->tag, sizeof(job->tag), "%s", cmd->tag);
	job->uid = cmd->uid;
	job->needs_data = fetch_needs_data(&job->req);
	job->condstore = (c->enabled & IMAP_ENABLED_CONDSTORE) != 0;
	/* What does not fit below FETCH_HIGH_WATER stays in c->cont: the loop runs the next piece
	 * on the pool once the connection drained (client_work_done, client_on_drain). */
	fetch_resume(c);
}
