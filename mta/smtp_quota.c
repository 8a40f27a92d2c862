/* smtp_quota.c - RCPT of a local recipient whose mailbox is full: 452 4.2.2, checked on the thread pool. */
#include "smtp_session.h"
#include "deliver.h"
#include "log.h"
#include "quota.h"
#include "store.h"
#include "xalloc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct smtp_quota_job {
	uv_work_t work;
	struct smtp_session *s;
	struct smtp_command cmd; /* the RCPT (arg no longer valid) */
	char *rcpt;
	struct delivery_target *targets;
	size_t ntargets;
	uint64_t *limits; /* per target, 0 = none */
	uint64_t need;    /* bytes the message will take at least */
	const char *state_dir;
	long full;          /* the first target that is full, or -1 */
	int64_t full_usage; /* its usage */
};

static void smtp_quota_work(uv_work_t *w)
{
	struct smtp_quota_job *job = container_of(w, struct smtp_quota_job, work);
	for (size_t i = 0; i < job->ntargets && job->full < 0; i++) {
		char maildir[PATH_MAX];
		struct maildir_quota_usage u;
		if (job->limits[i] == 0 ||
		    store_mailbox_path_for_addr(job->state_dir, &job->targets[i].addr, maildir,
						sizeof(maildir)) < 0)
			continue;
		if (maildir_quota_check(maildir, job->limits[i], job->need, &u) == 1) {
			job->full = (long)i;
			job->full_usage = u.bytes;
		}
	}
}

static void smtp_quota_done(uv_work_t *w, int status)
{
	struct smtp_quota_job *job = container_of(w, struct smtp_quota_job, work);
	struct smtp_session *s = job->s;
	s->async_pending = false;
	if (s->orphaned) {
		free(job->targets);
	} else if (status == 0 && job->full >= 0) {
		log_info("reject: RCPT from [%s]: 452 4.2.2 <%s>: Mailbox full (%lld of %llu "
			 "bytes used); from=<%s>",
			 s->conn->peer_ip, job->rcpt, (long long)job->full_usage,
			 (unsigned long long)job->limits[job->full], s->env.sender);
		smtp_reply(s, "452 4.2.2 Mailbox full");
		free(job->targets);
		net_conn_resume(s->conn);
	} else {
		smtp_rcpt_accept(s, &job->cmd, job->rcpt, job->targets, job->ntargets);
		if (!s->async_pending) /* else the milters have it */
			net_conn_resume(s->conn);
	}
	free(job->rcpt);
	free(job->limits);
	bool orphaned = s->orphaned;
	free(job);
	if (orphaned)
		smtp_session_free(s);
}

bool smtp_quota_rcpt(struct smtp_session *s, const struct smtp_command *cmd, const char *rcpt,
		     struct delivery_target *targets, size_t ntargets)
{
	const struct config *cfg = s->m->cfg;
	if (cfg->default_quota == 0 && !(s->m->accounts && s->m->accounts->any_quota))
		return false;
	uint64_t *limits = xcalloc(ntargets + 1, sizeof(*limits));
	bool any = false;
	for (size_t i = 0; i < ntargets; i++) {
		if (targets[i].local)
			limits[i] = delivery_quota_limit(cfg, s->m->accounts, &targets[i].addr);
		any = any || limits[i] != 0;
	}
	if (!any) {
		free(limits);
		return false;
	}
	struct smtp_quota_job *job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->cmd = *cmd;
	job->cmd.arg = NULL;
	job->cmd.arg_len = 0;
	job->cmd.initial = NULL;
	job->rcpt = xstrdup(rcpt);
	job->targets = targets;
	job->ntargets = ntargets;
	job->limits = limits;
	job->need = s->declared_size ? s->declared_size : 1;
	job->state_dir = cfg->state_dir;
	job->full = -1;
	if (uv_queue_work(s->m->loop, &job->work, smtp_quota_work, smtp_quota_done) < 0) {
		/* Cannot check now: accepted, and delivery checks again. */
		free(job->rcpt);
		free(job->limits);
		free(job);
		return false;
	}
	s->async_pending = true;
	net_conn_pause(s->conn);
	return true;
}
