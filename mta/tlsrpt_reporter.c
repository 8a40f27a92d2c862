/* tlsrpt_reporter.c - TLS-RPT in mtad: the counts of each UTC day in memory and under state_dir/tlsrpt (written from the thread pool), and the report runs (TXT lookup, report, mail into the queue or HTTPS POST). */
#include "tlsrpt_reporter.h"
#include "addr.h"
#include "config.h"
#include "deliver.h"
#include "dns.h"
#include "dns_records.h"
#include "fileutil.h"
#include "https_client.h"
#include "log.h"
#include "metrics.h"
#include "mtad.h"
#include "queue_file.h"
#include "scheduler.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TLSRPT_PERIODS_MAX 8      /* the open day and unsent ones; older are dropped */
#define TLSRPT_FLUSH_MS    5000   /* counts reach the disk this often when they changed */
#define TLSRPT_TICK_MS     600000 /* the day's end is noticed within this */

struct tlsrpt_reporter {
	struct mtad *m;
	struct dns *dns;
	char *dir; /* state_dir/tlsrpt */
	char *contact;
	json_t *periods[TLSRPT_PERIODS_MAX]; /* oldest first; the last may be open (end 0) */
	bool dirty[TLSRPT_PERIODS_MAX];
	size_t n;
	uv_timer_t flush_timer, tick_timer;
	unsigned open_handles;
	unsigned jobs; /* write jobs on the pool, report jobs (DNS, queue, POST) */
	bool writing;  /* a flush job is on the pool */
	bool running;  /* a report run is in progress */
	bool freeing;
	unsigned seq; /* report ids */
	/* the run in progress */
	unsigned pending, reports, errors;
	tlsrpt_sent_cb *done;
	void *done_arg;
	json_t *sending[TLSRPT_PERIODS_MAX];
	size_t n_sending;
};

static int64_t tlsrpt_day_start(int64_t t)
{
	return t - t % 86400;
}

static char *tlsrpt_path(const struct tlsrpt_reporter *r, const json_t *period)
{
	return xasprintf("%s/%lld.json", r->dir, (long long)tlsrpt_period_start(period));
}

/* ---- writing the counts (thread pool) ---- */

struct tlsrpt_write {
	uv_work_t work;
	struct tlsrpt_reporter *r;
	bool counts; /* the flush job (r->writing), not an unlink job */
	size_t n;
	char *path[TLSRPT_PERIODS_MAX * 2];
	char *text[TLSRPT_PERIODS_MAX * 2]; /* NULL: unlink path */
};

static void tlsrpt_write_files(struct tlsrpt_write *w)
{
	for (size_t i = 0; i < w->n; i++) {
		if (!w->text[i]) {
			if (unlink(w->path[i]) < 0 && errno != ENOENT)
				log_warn("TLS-RPT: cannot remove %s: %s", w->path[i],
					 strerror(errno));
			continue;
		}
		char *tmp = xasprintf("%s.tmp", w->path[i]);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		size_t len = strlen(w->text[i]);
		if (fd < 0 || write(fd, w->text[i], len) != (ssize_t)len || fdatasync(fd) < 0 ||
		    close(fd) < 0 || rename(tmp, w->path[i]) < 0) {
			log_warn("TLS-RPT: cannot write %s: %s", w->path[i], strerror(errno));
			if (fd >= 0)
				close(fd);
			unlink(tmp);
		}
		free(tmp);
	}
}

static void tlsrpt_write_work(uv_work_t *work)
{
	tlsrpt_write_files(container_of(work, struct tlsrpt_write, work));
}

static void tlsrpt_write_free(struct tlsrpt_write *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->path[i]);
		free(w->text[i]);
	}
	free(w);
}

static void tlsrpt_maybe_free(struct tlsrpt_reporter *r)
{
	if (!r->freeing || r->open_handles || r->jobs || r->pending)
		return;
	free(r->dir);
	free(r->contact);
	free(r);
}

static void tlsrpt_write_done(uv_work_t *work, int status)
{
	(void)status;
	struct tlsrpt_write *w = container_of(work, struct tlsrpt_write, work);
	struct tlsrpt_reporter *r = w->r;
	if (w->counts)
		r->writing = false;
	tlsrpt_write_free(w);
	r->jobs--;
	tlsrpt_maybe_free(r);
}

/* The job that brings the disk up to date (NULL when nothing changed). */
static struct tlsrpt_write *tlsrpt_write_job(struct tlsrpt_reporter *r)
{
	struct tlsrpt_write *w = NULL;
	for (size_t i = 0; i < r->n; i++) {
		if (!r->dirty[i])
			continue;
		if (!w) {
			w = xcalloc(1, sizeof(*w));
			w->r = r;
		}
		w->path[w->n] = tlsrpt_path(r, r->periods[i]);
		w->text[w->n] = json_dumps(r->periods[i], JSON_COMPACT | JSON_SORT_KEYS);
		w->n++;
		r->dirty[i] = false;
	}
	return w;
}

static void tlsrpt_flush(struct tlsrpt_reporter *r)
{
	if (r->writing || !r->m->cfg->tlsrpt_reports)
		return;
	struct tlsrpt_write *w = tlsrpt_write_job(r);
	if (!w)
		return;
	r->writing = true;
	w->counts = true;
	r->jobs++;
	uv_queue_work(r->m->loop, &w->work, tlsrpt_write_work, tlsrpt_write_done);
}

static void tlsrpt_unlink_later(struct tlsrpt_reporter *r, json_t **v, size_t n)
{
	if (n == 0)
		return;
	struct tlsrpt_write *w = xcalloc(1, sizeof(*w));
	w->r = r;
	for (size_t i = 0; i < n; i++)
		w->path[w->n++] = tlsrpt_path(r, v[i]);
	r->jobs++;
	uv_queue_work(r->m->loop, &w->work, tlsrpt_write_work, tlsrpt_write_done);
}

/* ---- periods ---- */

/* Closes an open period whose day is over. */
static void tlsrpt_roll(struct tlsrpt_reporter *r, int64_t now)
{
	if (r->n == 0)
		return;
	json_t *last = r->periods[r->n - 1];
	if (tlsrpt_period_end(last) == 0 &&
	    tlsrpt_day_start(tlsrpt_period_start(last)) < tlsrpt_day_start(now)) {
		tlsrpt_period_close(last, tlsrpt_day_start(tlsrpt_period_start(last)) + 86400);
		r->dirty[r->n - 1] = true;
	}
}

static void tlsrpt_drop_oldest(struct tlsrpt_reporter *r)
{
	log_warn("TLS-RPT: dropping the unsent counts from %lld (more than %d periods kept)",
		 (long long)tlsrpt_period_start(r->periods[0]), TLSRPT_PERIODS_MAX);
	tlsrpt_unlink_later(r, r->periods, 1);
	json_decref(r->periods[0]);
	memmove(r->periods, r->periods + 1, (r->n - 1) * sizeof(r->periods[0]));
	memmove(r->dirty, r->dirty + 1, (r->n - 1) * sizeof(r->dirty[0]));
	r->n--;
}

static json_t *tlsrpt_open_period(struct tlsrpt_reporter *r, int64_t now)
{
	tlsrpt_roll(r, now);
	if (r->n && tlsrpt_period_end(r->periods[r->n - 1]) == 0)
		return r->periods[r->n - 1];
	if (r->n == TLSRPT_PERIODS_MAX)
		tlsrpt_drop_oldest(r);
	/* a period starts no earlier than the previous one ended (mailctl tlsrpt send) */
	int64_t start = now;
	if (r->n && tlsrpt_period_end(r->periods[r->n - 1]) > start)
		start = tlsrpt_period_end(r->periods[r->n - 1]);
	r->periods[r->n] = tlsrpt_period_new(start);
	r->dirty[r->n] = true;
	return r->periods[r->n++];
}

void tlsrpt_reporter_count(struct tlsrpt_reporter *r, const struct tlsrpt_event *ev)
{
	if (ev->result < 0)
		return;
	metric_inc(MET_RELAY_TLS_RESULTS, tlsrpt_policy_type_name(ev->type),
		   tlsrpt_result_name(ev->result));
	if (!r || !r->m->cfg->tlsrpt_reports)
		return;
	json_t *p = tlsrpt_open_period(r, (int64_t)time(NULL));
	if (tlsrpt_period_add(p, ev) < 0) {
		log_debug("TLS-RPT: %s not counted: %d policy domains counted today", ev->domain,
			  TLSRPT_POLICIES_MAX);
		return;
	}
	r->dirty[r->n - 1] = true;
}

static int tlsrpt_cmp_start(const void *a, const void *b)
{
	int64_t x = tlsrpt_period_start(*(json_t *const *)a);
	int64_t y = tlsrpt_period_start(*(json_t *const *)b);
	return x < y ? -1 : x > y;
}

/* Start-up: the periods on disk (a few small files, read before the loop runs). */
static void tlsrpt_load(struct tlsrpt_reporter *r)
{
	mkdir(r->dir, 0700);
	DIR *d = opendir(r->dir);
	if (!d) {
		log_warn("TLS-RPT: cannot read %s: %s", r->dir, strerror(errno));
		return;
	}
	struct dirent *de;
	json_t *v[64];
	size_t n = 0;
	while ((de = readdir(d)) && n < 64) {
		size_t len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 ||
		    strspn(de->d_name, "0123456789") != len - 5)
			continue;
		char *path = xasprintf("%s/%s", r->dir, de->d_name);
		char *text = NULL;
		size_t tlen = 0;
		char err[200] = "";
		int rc = read_file(path, 64 << 20, true, &text, &tlen);
		if (rc < 0) {
			text = NULL;
			snprintf(err, sizeof(err), "%s", strerror(-rc));
		}
		json_t *p = text ? tlsrpt_period_load(text, tlen, err, sizeof(err)) : NULL;
		if (p)
			v[n++] = p;
		else
			log_warn("TLS-RPT: ignoring %s: %s", path, err);
		free(text);
		free(path);
	}
	closedir(d);
	qsort(v, n, sizeof(v[0]), tlsrpt_cmp_start);
	for (size_t i = 0; i < n; i++) {
		if (r->n == TLSRPT_PERIODS_MAX)
			tlsrpt_drop_oldest(r);
		/* an open period that is not the last (a crash after a roll): closed at its day's end */
		if (i + 1 < n && tlsrpt_period_end(v[i]) == 0) {
			tlsrpt_period_close(v[i],
					    tlsrpt_day_start(tlsrpt_period_start(v[i])) + 86400);
			r->dirty[r->n] = true;
		}
		r->periods[r->n++] = v[i];
	}
	if (n)
		log_info("TLS-RPT: %zu period(s) of counts loaded from %s", n, r->dir);
}

/* ---- a report run ---- */

struct tlsrpt_job {
	struct tlsrpt_reporter *r;
	json_t *period;
	char domain[256];
	char report_id[400];
	/* an https rua */
	uv_work_t work;
	char url[TLSRPT_URI_MAX + 1];
	char host[256];
	int port;
	char addr[INET6_ADDRSTRLEN];
	char *ca_file;
	char *body;
	size_t body_len;
	struct https_request req;
	int rc;
};

static void tlsrpt_run_end(struct tlsrpt_reporter *r)
{
	tlsrpt_unlink_later(r, r->sending, r->n_sending);
	for (size_t i = 0; i < r->n_sending; i++)
		json_decref(r->sending[i]);
	r->n_sending = 0;
	r->running = false;
	log_info("TLS-RPT: report run done: %u report(s) sent, %u error(s)", r->reports, r->errors);
	if (r->done)
		r->done(r->done_arg, r->reports, r->errors, "");
	r->done = NULL;
}

static void tlsrpt_job_end(struct tlsrpt_job *j)
{
	struct tlsrpt_reporter *r = j->r;
	free(j->ca_file);
	free(j->body);
	https_request_free(&j->req);
	free(j);
	if (--r->pending == 0)
		tlsrpt_run_end(r);
	tlsrpt_maybe_free(r);
}

static void tlsrpt_mail_queued(void *arg, int status, const struct queue_envelope *env,
			       size_t msg_len)
{
	(void)msg_len;
	struct tlsrpt_job *j = arg;
	if (status == 0) {
		log_info("TLS-RPT: report %s for %s queued as %s to <%s>", j->report_id, j->domain,
			 env->id, env->nrcpts ? env->rcpts[0].addr : "?");
		j->r->reports++;
	} else {
		log_warn("TLS-RPT: report for %s not queued: %s", j->domain, strerror(-status));
		j->r->errors++;
	}
	tlsrpt_job_end(j);
}

/* mailto:ADDR[?hfields]: the report mail into our own queue. Returns 0 when queued. */
static int tlsrpt_send_mail(struct tlsrpt_job *j, const char *uri, const void *gz, size_t gz_len)
{
	struct tlsrpt_reporter *r = j->r;
	const struct config *cfg = r->m->cfg;
	char to[TLSRPT_URI_MAX + 1];
	snprintf(to, sizeof(to), "%.*s", (int)strcspn(uri + 7, "?"), uri + 7);
	/* %40 for '@' is the one escape seen in the wild */
	char *pct = strstr(to, "%40");
	if (pct) {
		*pct = '@';
		memmove(pct + 1, pct + 3, strlen(pct + 3) + 1);
	}
	struct addr a;
	const char *aerr;
	if (addr_parse_mailbox(to, strlen(to), 0, &a, &aerr) < 0) {
		log_warn("TLS-RPT: %s: bad rua address %s: %s", j->domain, uri, aerr);
		return -1;
	}
	struct queue_envelope env;
	memset(&env, 0, sizeof(env));
	queue_id_new(env.id);
	env.arrival = (int64_t)time(NULL);
	env.sender = xstrdup(r->contact);
	env.proto = xstrdup("tlsrpt");
	char rcpt[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	if (config_is_local_domain(cfg, a.domain)) {
		struct delivery_target *t = NULL;
		size_t nt = 0;
		char err[256];
		if (delivery_resolve(cfg, r->m->accounts, r->m->aliases, &a, &t, &nt, err,
				     sizeof(err)) != DELIVERY_OK ||
		    nt == 0) {
			log_warn("TLS-RPT: %s: rua %s: %s", j->domain, uri, err);
			free(t);
			queue_envelope_free(&env);
			return -1;
		}
		env.rcpts = xcalloc(nt, sizeof(*env.rcpts));
		for (size_t k = 0; k < nt; k++) {
			addr_format(&t[k].addr, rcpt, sizeof(rcpt));
			env.rcpts[k].addr = xstrdup(rcpt);
		}
		env.nrcpts = nt;
		free(t);
	} else {
		addr_format(&a, rcpt, sizeof(rcpt));
		env.rcpts = xcalloc(1, sizeof(*env.rcpts));
		env.rcpts[0].addr = xstrdup(rcpt);
		env.nrcpts = 1;
	}
	struct buf msg;
	buf_init(&msg);
	tlsrpt_mail_compose(&msg, r->contact, rcpt, j->domain, cfg->hostname, j->report_id,
			    tlsrpt_period_start(j->period), tlsrpt_period_end(j->period),
			    (int64_t)time(NULL), gz, gz_len);
	size_t len = msg.len;
	char *data = buf_steal(&msg, NULL);
	scheduler_accept(r->m->sched, &env, data, data, len, tlsrpt_mail_queued, j);
	queue_envelope_free(&env);
	return 0;
}

static void tlsrpt_post_work(uv_work_t *w)
{
	struct tlsrpt_job *j = container_of(w, struct tlsrpt_job, work);
	j->req = (struct https_request){
		.url = j->url,
		.host = j->host,
		.port = j->port,
		.addr = j->addr,
		.ca_file = j->ca_file,
		.content_type = "application/tlsrpt+gzip",
		.body = j->body,
		.body_len = j->body_len,
		.max_response = 64 * 1024,
		.timeout = 60,
	};
	j->rc = https_request_run(&j->req);
}

static void tlsrpt_post_done(uv_work_t *w, int status)
{
	(void)status;
	struct tlsrpt_job *j = container_of(w, struct tlsrpt_job, work);
	if (j->rc == 0 && j->req.status / 100 == 2) {
		log_info("TLS-RPT: report %s for %s posted to %s (HTTP %ld)", j->report_id,
			 j->domain, j->url, j->req.status);
		j->r->reports++;
	} else {
		log_warn("TLS-RPT: report for %s not accepted by %s: %s%ld", j->domain, j->url,
			 j->rc ? j->req.why : "HTTP status ", j->rc ? 0L : j->req.status);
		j->r->errors++;
	}
	tlsrpt_job_end(j);
}

static void tlsrpt_post_resolved(const struct dns_result *res, void *arg)
{
	struct tlsrpt_job *j = arg;
	if (res->status != DNS_OK || !res->n_hosts || !res->hosts[0].n_addrs) {
		log_warn("TLS-RPT: report for %s not posted: no address for %s (%s)", j->domain,
			 j->host, res->error);
		j->r->errors++;
		tlsrpt_job_end(j);
		return;
	}
	const struct sockaddr_storage *ss = &res->hosts[0].addrs[0];
	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, j->addr,
			  sizeof(j->addr));
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, j->addr,
			  sizeof(j->addr));
	uv_queue_work(j->r->m->loop, &j->work, tlsrpt_post_work, tlsrpt_post_done);
}

/* One report of one domain to one URI: a job of its own (r->pending counts it). */
static void tlsrpt_deliver(struct tlsrpt_job *base, const char *uri, const struct buf *gz)
{
	struct tlsrpt_reporter *r = base->r;
	struct tlsrpt_job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->period = base->period;
	snprintf(j->domain, sizeof(j->domain), "%s", base->domain);
	snprintf(j->report_id, sizeof(j->report_id), "%s", base->report_id);
	r->pending++;
	if (strncasecmp(uri, "mailto:", 7) == 0) {
		if (tlsrpt_send_mail(j, uri, gz->data, gz->len) < 0) {
			r->errors++;
			tlsrpt_job_end(j);
		}
		return;
	}
	snprintf(j->url, sizeof(j->url), "%s", uri);
	if (tlsrpt_https_split(uri, j->host, sizeof(j->host), &j->port) < 0) {
		log_warn("TLS-RPT: %s: unusable rua %s", j->domain, uri);
		r->errors++;
		tlsrpt_job_end(j);
		return;
	}
	j->ca_file = r->m->cfg->relay_tls_ca_file ? xstrdup(r->m->cfg->relay_tls_ca_file) : NULL;
	j->body = xmalloc(gz->len ? gz->len : 1);
	memcpy(j->body, gz->data, gz->len);
	j->body_len = gz->len;
	if (dns_lookup_host(r->dns, j->host, tlsrpt_post_resolved, j) < 0) {
		r->errors++;
		tlsrpt_job_end(j);
	}
}

static void tlsrpt_txt_resolved(const struct dns_raw_result *res, void *arg)
{
	struct tlsrpt_job *j = arg;
	struct tlsrpt_reporter *r = j->r;
	struct tlsrpt_rua rua = { 0 };
	int found = 0;
	if (res->status == DNS_OK) {
		char **rd = NULL;
		const char *perr = NULL;
		long n = dns_answer_parse(res->answer, res->len, ns_t_txt, &rd, &perr);
		if (n > 0) {
			char why[200];
			found = tlsrpt_txt_select(rd, (size_t)n, &rua, why, sizeof(why));
			if (found < 0)
				log_warn("TLS-RPT: _smtp._tls.%s: %s: no report", j->domain, why);
			dns_rdata_free(rd, n);
		}
	} else if (res->status == DNS_TEMPFAIL) {
		log_warn("TLS-RPT: _smtp._tls.%s: %s: no report", j->domain, res->error);
		r->errors++;
	}
	if (found == 1 && rua.n) {
		const struct config *cfg = r->m->cfg;
		json_t *rep = tlsrpt_report_build(j->period, j->domain, cfg->hostname, r->contact,
						  j->report_id);
		char *text = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
		struct buf gz;
		buf_init(&gz);
		if (text && tlsrpt_gzip(text, strlen(text), &gz) == 0)
			for (size_t i = 0; i < rua.n; i++)
				tlsrpt_deliver(j, rua.uri[i], &gz);
		buf_free(&gz);
		free(text);
		json_decref(rep);
	} else if (found == 1) {
		log_info("TLS-RPT: _smtp._tls.%s names no mailto: or https: URI", j->domain);
	}
	tlsrpt_job_end(j);
}

void tlsrpt_reporter_send(struct tlsrpt_reporter *r, tlsrpt_sent_cb *done, void *arg)
{
	if (!r || !r->m->cfg->tlsrpt_reports || r->running) {
		if (done)
			done(arg, 0, 0,
			     !r || !r->m->cfg->tlsrpt_reports ? "TLS-RPT reports are off "
								"(tlsrpt_reports = no)"
							      : "a report run is in progress");
		return;
	}
	int64_t now = (int64_t)time(NULL);
	tlsrpt_roll(r, now);
	if (done && r->n && tlsrpt_period_end(r->periods[r->n - 1]) == 0) {
		/* on demand: the open period ends now */
		tlsrpt_period_close(r->periods[r->n - 1], now);
		r->dirty[r->n - 1] = true;
	}
	/* the finished periods leave the list; their files go once the run is over */
	size_t keep = 0;
	r->n_sending = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (tlsrpt_period_end(r->periods[i]) != 0) {
			r->sending[r->n_sending++] = r->periods[i];
		} else {
			r->periods[keep] = r->periods[i];
			r->dirty[keep++] = r->dirty[i];
		}
	}
	r->n = keep;
	r->running = true;
	r->reports = r->errors = 0;
	r->done = done;
	r->done_arg = arg;
	r->pending = 1; /* held until every lookup is started */
	for (size_t i = 0; i < r->n_sending; i++) {
		char **domains = NULL;
		size_t nd = tlsrpt_period_domains(r->sending[i], &domains);
		for (size_t k = 0; k < nd; k++) {
			struct tlsrpt_job *j = xcalloc(1, sizeof(*j));
			j->r = r;
			j->period = r->sending[i];
			snprintf(j->domain, sizeof(j->domain), "%s", domains[k]);
			char stamp[32];
			time_t st = (time_t)tlsrpt_period_start(j->period);
			struct tm tm;
			gmtime_r(&st, &tm);
			strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
			snprintf(j->report_id, sizeof(j->report_id), "%s.%u.%u.%.200s@%.150s",
				 stamp, (unsigned)getpid(), ++r->seq, j->domain,
				 r->m->cfg->hostname);
			char name[300];
			snprintf(name, sizeof(name), "_smtp._tls.%s", j->domain);
			r->pending++;
			if (dns_lookup_raw(r->dns, name, ns_t_txt, tlsrpt_txt_resolved, j) < 0) {
				r->pending--;
				free(j);
			}
			free(domains[k]);
		}
		free(domains);
	}
	tlsrpt_flush(r);
	if (--r->pending == 0)
		tlsrpt_run_end(r);
}

/* ---- timers ---- */

static void tlsrpt_flush_fired(uv_timer_t *t)
{
	tlsrpt_flush(t->data);
}

static void tlsrpt_tick_fired(uv_timer_t *t)
{
	struct tlsrpt_reporter *r = t->data;
	int64_t now = (int64_t)time(NULL);
	tlsrpt_roll(r, now);
	bool finished = false;
	for (size_t i = 0; i < r->n; i++)
		if (tlsrpt_period_end(r->periods[i]) != 0)
			finished = true;
	if (finished && !r->running)
		tlsrpt_reporter_send(r, NULL, NULL);
}

struct tlsrpt_reporter *tlsrpt_reporter_new(struct mtad *m, struct dns *dns)
{
	struct tlsrpt_reporter *r = xcalloc(1, sizeof(*r));
	r->m = m;
	r->dns = dns;
	r->dir = xasprintf("%s/tlsrpt", m->cfg->state_dir);
	r->contact = m->cfg->tlsrpt_contact ? xstrdup(m->cfg->tlsrpt_contact)
					    : xasprintf("postmaster@%s", m->cfg->hostname);
	if (m->cfg->tlsrpt_reports)
		tlsrpt_load(r);
	uv_timer_init(m->loop, &r->flush_timer);
	uv_timer_init(m->loop, &r->tick_timer);
	r->flush_timer.data = r->tick_timer.data = r;
	uv_unref((uv_handle_t *)&r->flush_timer);
	uv_unref((uv_handle_t *)&r->tick_timer);
	uv_timer_start(&r->flush_timer, tlsrpt_flush_fired, TLSRPT_FLUSH_MS, TLSRPT_FLUSH_MS);
	uv_timer_start(&r->tick_timer, tlsrpt_tick_fired, 30000, TLSRPT_TICK_MS);
	r->open_handles = 2;
	return r;
}

static void tlsrpt_timer_closed(uv_handle_t *h)
{
	struct tlsrpt_reporter *r = h->data;
	r->open_handles--;
	tlsrpt_maybe_free(r);
}

void tlsrpt_reporter_free(struct tlsrpt_reporter **rp)
{
	struct tlsrpt_reporter *r = *rp;
	if (!r)
		return;
	*rp = NULL;
	/* the last counts, written here: the daemon is stopping */
	if (r->m->cfg->tlsrpt_reports) {
		for (size_t i = 0; i < r->n_sending; i++) {
			/* a run cut short: those periods are sent again next time */
			if (r->n < TLSRPT_PERIODS_MAX) {
				r->periods[r->n] = r->sending[i];
				r->dirty[r->n++] = true;
			} else {
				json_decref(r->sending[i]);
			}
		}
		r->n_sending = 0;
		struct tlsrpt_write *w = tlsrpt_write_job(r);
		if (w) {
			tlsrpt_write_files(w);
			tlsrpt_write_free(w);
		}
	}
	for (size_t i = 0; i < r->n; i++)
		json_decref(r->periods[i]);
	for (size_t i = 0; i < r->n_sending; i++)
		json_decref(r->sending[i]);
	r->n = r->n_sending = 0;
	r->freeing = true;
	uv_close((uv_handle_t *)&r->flush_timer, tlsrpt_timer_closed);
	uv_close((uv_handle_t *)&r->tick_timer, tlsrpt_timer_closed);
}
