/* maildrop.c - state_dir/maildrop: messages the sendmail command kept while mtad was not running, picked up into the queue. */
#include "maildrop.h"

#include "addr.h"
#include "buf.h"
#include "config.h"
#include "fileutil.h"
#include "local_sender.h"
#include "log.h"
#include "metrics.h"
#include "mtad.h"
#include "privilege.h"
#include "rfc5322.h"
#include "scheduler.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int maildrop_parse(const char *data, size_t len, struct maildrop_msg *out, const char **error_r)
{
	memset(out, 0, sizeof(*out));
	static const char magic[] = "MAILDROP 1\n";
	if (len < sizeof(magic) - 1 || memcmp(data, magic, sizeof(magic) - 1) != 0) {
		*error_r = "not a maildrop file";
		return -1;
	}
	size_t pos = sizeof(magic) - 1;
	bool have_sender = false;
	for (;;) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		if (!nl) {
			*error_r = "envelope without end";
			return -1;
		}
		size_t l = (size_t)(nl - (data + pos));
		const char *line = data + pos;
		pos += l + 1;
		if (l == 0)
			break;
		if (l < 2 || line[1] != ' ' || l - 2 > 600) {
			*error_r = "bad envelope line";
			return -1;
		}
		if (line[0] == 'S' && !have_sender) {
			out->sender = line + 2;
			out->sender_len = l - 2;
			have_sender = true;
		} else if (line[0] == 'R' && l > 2) {
			if (out->nrcpts == sizeof(out->rcpts) / sizeof(out->rcpts[0])) {
				*error_r = "too many recipients";
				return -1;
			}
			out->rcpts[out->nrcpts] = line + 2;
			out->rcpt_lens[out->nrcpts++] = l - 2;
		} else {
			*error_r = "bad envelope line";
			return -1;
		}
	}
	if (!have_sender || out->nrcpts == 0) {
		*error_r = "no sender or no recipient";
		return -1;
	}
	out->msg = data + pos;
	out->msg_len = len - pos;
	return 0;
}

int maildrop_prepare(const struct config *cfg, char *err, size_t errlen)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (geteuid() == 0 && privilege_lookup(cfg->run_user, &uid, &gid, err, errlen) < 0)
		return -1;
	if (privilege_own_beneath(cfg->state_dir, "maildrop", S_IFDIR, 0700, uid, gid, err,
				  errlen) < 0)
		return -1;
	int pfd = open_beneath(cfg->state_dir, "maildrop", S_IFDIR, 0, NULL);
	int fd = pfd < 0 ? pfd : openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd >= 0)
		close(pfd);
	if (fd < 0 || fchmod(fd, 01733) < 0) {
		snprintf(err, errlen, "%s/maildrop: cannot set mode 1733: %s", cfg->state_dir,
			 strerror(fd < 0 ? errno : errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

struct maildrop {
	struct mtad *m;
	uv_timer_t timer;
	uv_work_t work;
	bool busy;
	/* The job's result: one file read (name, owner, content), or none left. */
	char name[256];
	uid_t owner;
	char *data;
	size_t len;
	char why[256]; /* a file refused: why (it is removed) */
};

static struct maildrop maildrop;

/* Thread pool: finds the next file, checks what it is, reads it. */
static void maildrop_scan(uv_work_t *w)
{
	struct maildrop *d = w->data;
	const struct config *cfg = d->m->cfg;
	d->name[0] = d->why[0] = '\0';
	d->data = NULL;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/maildrop", cfg->state_dir);
	DIR *dp = opendir(dir);
	if (!dp)
		return;
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (strncmp(de->d_name, "m.", 2) != 0 || strlen(de->d_name) >= sizeof(d->name))
			continue;
		snprintf(d->name, sizeof(d->name), "%s", de->d_name);
		break;
	}
	int dfd = dirfd(dp);
	if (!d->name[0]) {
		closedir(dp);
		return;
	}
	int fd = openat(dfd, d->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(d->why, sizeof(d->why), "cannot open: %s", strerror(errno));
	} else if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_mode & 07777) != 0644) {
		/* The owner is the submitter only for a file it made itself: sendmail writes 0644
		 * with one link, and such a file of another user cannot be hard-linked here
		 * (fs.protected_hardlinks: linking needs write access to it). */
		snprintf(d->why, sizeof(d->why), "not a regular 0644 file with one link");
	} else {
		d->owner = st.st_uid;
		int r = read_fd_whole(fd, cfg->max_message_size + 1024 * 1024, &d->data, &d->len);
		if (r < 0)
			snprintf(d->why, sizeof(d->why), "cannot read: %s", strerror(-r));
	}
	if (fd >= 0)
		close(fd);
	if (d->why[0])
		unlinkat(dfd, d->name, 0);
	closedir(dp);
}

static void maildrop_kick(struct maildrop *d);

static void maildrop_unlinked(uv_fs_t *req)
{
	struct maildrop *d = req->data;
	if (req->result < 0)
		log_error("maildrop/%s: cannot remove: %s", d->name, uv_strerror((int)req->result));
	uv_fs_req_cleanup(req);
	free(req);
	d->busy = false;
	if (!d->m->stopping)
		maildrop_kick(d);
}

static void maildrop_committed(void *arg, int status, const struct queue_envelope *env,
			       size_t msg_len)
{
	struct maildrop *d = arg;
	if (status < 0) {
		log_error("maildrop/%s: queue commit failed: %s (kept for the next try)", d->name,
			  strerror(-status));
		d->busy = false;
		return;
	}
	metric_inc(MET_MESSAGES_ACCEPTED, NULL, NULL);
	log_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queue active, from maildrop/%s)", env->id,
		 env->sender, msg_len, env->nrcpts, d->name);
	/* Durable in the queue: only now is the maildrop file removed. */
	uv_fs_t *req = xcalloc(1, sizeof(*req));
	req->data = d;
	char path[4096];
	snprintf(path, sizeof(path), "%s/maildrop/%s", d->m->cfg->state_dir, d->name);
	uv_fs_unlink(d->m->loop, req, path, maildrop_unlinked);
}

/* On the loop: one file read; into the queue through the scheduler. */
static bool maildrop_accept(struct maildrop *d)
{
	const struct config *cfg = d->m->cfg;
	struct maildrop_msg mm;
	const char *error;
	if (maildrop_parse(d->data, d->len, &mm, &error) < 0) {
		log_error("maildrop/%s (uid %ld): %s: removed", d->name, (long)d->owner, error);
		return false;
	}
	char asked[700], sender[700], warning[1200];
	snprintf(asked, sizeof(asked), "%.*s", (int)mm.sender_len, mm.sender);
	struct addr a;
	const char *why;
	if (asked[0] && addr_parse_mailbox(asked, strlen(asked), ADDR_ALLOW_UTF8, &a, &why) < 0)
		snprintf(asked, sizeof(asked), "invalid");
	if (local_sender_decide(cfg, (long)d->owner, asked, sender, sizeof(sender), warning,
				sizeof(warning)))
		log_info("maildrop/%s: uid %ld may not choose its sender: <%s> used instead",
			 d->name, (long)d->owner, sender);
	struct queue_envelope env;
	memset(&env, 0, sizeof(env));
	queue_id_new(env.id);
	env.arrival = (int64_t)time(NULL);
	env.sender = xstrdup(sender);
	env.proto = xstrdup("local");
	env.client = xstrdup("local");
	env.rcpts = xcalloc(mm.nrcpts, sizeof(*env.rcpts));
	for (size_t i = 0; i < mm.nrcpts; i++) {
		char r[700];
		snprintf(r, sizeof(r), "%.*s", (int)mm.rcpt_lens[i], mm.rcpts[i]);
		if (addr_parse_mailbox(r, strlen(r), ADDR_ALLOW_UTF8, &a, &why) < 0) {
			log_error("maildrop/%s: recipient <%s> skipped: %s", d->name, r, why);
			continue;
		}
		char f[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
		addr_format(&a, f, sizeof(f));
		bool dup = false;
		for (size_t k = 0; k < env.nrcpts; k++)
			dup |= strcmp(env.rcpts[k].addr, f) == 0;
		if (!dup)
			env.rcpts[env.nrcpts++].addr = xstrdup(f);
	}
	if (env.nrcpts == 0) {
		log_error("maildrop/%s: no valid recipient: removed", d->name);
		queue_envelope_free(&env);
		return false;
	}
	struct buf msg;
	buf_init(&msg);
	char date[64];
	rfc5322_format_date(time(NULL), date, sizeof(date));
	buf_printf(&msg, "Received: by %s (mtad, from userid %ld)\r\n\tid %s; %s\r\n",
		   cfg->hostname, (long)d->owner, env.id, date);
	buf_append_str(&msg, warning);
	/* as for mail the sendmail command hands mtad directly (RFC 6409 8.2, 8.3) */
	rfc5322_missing_origin_fields(mm.msg, mm.msg_len, date, env.id, cfg->hostname, &msg);
	buf_append(&msg, mm.msg, mm.msg_len);
	size_t len;
	char *data = buf_steal(&msg, &len);
	d->busy = true;
	scheduler_accept(d->m->sched, &env, data, data, len, maildrop_committed, d);
	return true;
}

static void maildrop_scanned(uv_work_t *w, int status)
{
	struct maildrop *d = w->data;
	(void)status;
	d->busy = false;
	if (d->why[0])
		log_error("maildrop/%s: %s: removed", d->name, d->why);
	bool more = d->why[0] != '\0';
	if (d->data && !d->m->stopping && d->m->sched) {
		more = false;
		if (!maildrop_accept(d)) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/maildrop/%s", d->m->cfg->state_dir,
				 d->name);
			uv_fs_t *req = xcalloc(1, sizeof(*req));
			req->data = d;
			d->busy = true;
			uv_fs_unlink(d->m->loop, req, path, maildrop_unlinked);
		}
	}
	free(d->data);
	d->data = NULL;
	if (more && !d->m->stopping)
		maildrop_kick(d);
}

static void maildrop_kick(struct maildrop *d)
{
	if (d->busy || d->m->stopping)
		return;
	d->busy = true;
	d->work.data = d;
	if (uv_queue_work(d->m->loop, &d->work, maildrop_scan, maildrop_scanned) < 0)
		d->busy = false;
}

static void maildrop_tick(uv_timer_t *t)
{
	maildrop_kick(t->data);
}

void maildrop_start(struct mtad *m)
{
	struct maildrop *d = &maildrop;
	memset(d, 0, sizeof(*d));
	d->m = m;
	uv_timer_init(m->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, maildrop_tick, 0, 2000);
}
