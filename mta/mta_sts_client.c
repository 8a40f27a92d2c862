/* mta_sts_client.c - the sending side of MTA-STS: TXT lookup, HTTPS fetch of the policy with libcurl on the thread pool, memory and disk cache. */
#include "mta_sts_client.h"
#include "config.h"
#include "dns.h"
#include "dns_records.h"
#include "https_client.h"
#include "log.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A policy known in memory (from the disk cache or a fetch). */
struct sts_entry {
	char domain[256];
	char id[MTA_STS_ID_MAX + 1];
	time_t expires;
	struct mta_sts_policy policy;
	bool refreshing; /* a background refresh is on its way */
	struct sts_entry *next;
};

struct mta_sts_client {
	uv_loop_t *loop;
	struct dns *dns;
	const struct config *cfg;
	struct sts_entry *entries; /* most recently used first */
	size_t n_entries, max_entries;
	uv_timer_t refresh_timer;
	unsigned inflight; /* requests started and not called back */
	bool timer_open, freeing;
};

/* One mta_sts_client_get in flight. */
struct sts_req {
	struct mta_sts_client *c;
	char domain[256];
	char id[MTA_STS_ID_MAX + 1]; /* "" when there is no TXT record */
	char addr[INET6_ADDRSTRLEN];
	bool force; /* a refresh: fetched even when the cached policy is current */
	mta_sts_cb *cb;
	void *arg;
	uv_work_t work;
	/* the work's results */
	bool have;
	time_t expires;
	struct mta_sts_policy policy;
	char why[1024];
	enum tlsrpt_result fail; /* why there is no policy, for TLS-RPT */
	/* inputs of the work */
	char *cache_path;
	char *ca_file;
};

static void sts_refresh_fired(uv_timer_t *t);

struct mta_sts_client *mta_sts_client_new(uv_loop_t *loop, struct dns *dns,
					  const struct config *cfg)
{
	https_client_init();
	struct mta_sts_client *c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->dns = dns;
	c->cfg = cfg;
	c->max_entries = MTA_STS_CACHE_MAX;
	if (loop) {
		uv_timer_init(loop, &c->refresh_timer);
		c->refresh_timer.data = c;
		uv_unref((uv_handle_t *)&c->refresh_timer);
		uv_timer_start(&c->refresh_timer, sts_refresh_fired, MTA_STS_REFRESH_CHECK_MS,
			       MTA_STS_REFRESH_CHECK_MS);
		c->timer_open = true;
	}
	return c;
}

static void sts_entry_free(struct sts_entry *e)
{
	mta_sts_policy_free(&e->policy);
	free(e);
}

static void sts_maybe_free(struct mta_sts_client *c)
{
	if (!c->freeing || c->timer_open || c->inflight)
		return;
	while (c->entries) {
		struct sts_entry *e = c->entries;
		c->entries = e->next;
		sts_entry_free(e);
	}
	free(c);
}

static void sts_timer_closed(uv_handle_t *h)
{
	struct mta_sts_client *c = h->data;
	c->timer_open = false;
	sts_maybe_free(c);
}

void mta_sts_client_free(struct mta_sts_client **cp)
{
	struct mta_sts_client *c = *cp;
	if (!c)
		return;
	*cp = NULL;
	c->freeing = true;
	if (c->timer_open)
		uv_close((uv_handle_t *)&c->refresh_timer, sts_timer_closed);
	sts_maybe_free(c);
}

size_t mta_sts_client_count(const struct mta_sts_client *c)
{
	return c->n_entries;
}

void mta_sts_client_set_max(struct mta_sts_client *c, size_t max)
{
	c->max_entries = max ? max : 1;
}

/* Without moving it to the front. */
static struct sts_entry *sts_peek(struct mta_sts_client *c, const char *domain)
{
	for (struct sts_entry *e = c->entries; e; e = e->next)
		if (strcasecmp(e->domain, domain) == 0)
			return e;
	return NULL;
}

/* The entry of domain, made the most recently used. */
static struct sts_entry *sts_find(struct mta_sts_client *c, const char *domain)
{
	for (struct sts_entry **pp = &c->entries; *pp; pp = &(*pp)->next) {
		struct sts_entry *e = *pp;
		if (strcasecmp(e->domain, domain) == 0) {
			*pp = e->next;
			e->next = c->entries;
			c->entries = e;
			return e;
		}
	}
	return NULL;
}

void mta_sts_client_remember(struct mta_sts_client *c, const char *domain, const char *id,
			     time_t expires, const struct mta_sts_policy *p)
{
	struct sts_entry *e = sts_find(c, domain);
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		snprintf(e->domain, sizeof(e->domain), "%s", domain);
		e->next = c->entries;
		c->entries = e;
		if (++c->n_entries > c->max_entries) {
			/* the least recently used goes (its disk cache stays) */
			struct sts_entry **pp = &c->entries;
			while ((*pp)->next)
				pp = &(*pp)->next;
			sts_entry_free(*pp);
			*pp = NULL;
			c->n_entries--;
		}
	} else {
		mta_sts_policy_free(&e->policy);
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->expires = expires;
	mta_sts_policy_copy(&e->policy, p);
}

static void sts_req_free(struct sts_req *q)
{
	mta_sts_policy_free(&q->policy);
	free(q->cache_path);
	free(q->ca_file);
	free(q);
}

static void sts_done(struct sts_req *q, const struct mta_sts_policy *p, const char *why)
{
	struct mta_sts_client *c = q->c;
	if (q->force) {
		struct sts_entry *e = sts_peek(c, q->domain);
		if (e)
			e->refreshing = false;
	}
	c->inflight--;
	q->cb(q->arg, p, why, p ? TLSRPT_NOT_COUNTED : q->fail);
	sts_req_free(q);
	sts_maybe_free(c);
}

/* --- the thread pool: disk cache and HTTPS fetch --- */

/* The cache file: "ID\nEXPIRES\n" then the policy text. 1: read and parsed, 0: none. */
static int sts_cache_read(struct sts_req *q, char *cached_id, time_t *expires)
{
	char *text = NULL;
	FILE *f = fopen(q->cache_path, "r");
	if (!f)
		return 0;
	size_t size = MTA_STS_POLICY_MAX + 200;
	char *buf = xmalloc(size);
	size_t n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *nl1 = strchr(buf, '\n');
	char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	if (!nl2 || nl1 - buf > MTA_STS_ID_MAX) {
		free(buf);
		return 0;
	}
	memcpy(cached_id, buf, (size_t)(nl1 - buf));
	cached_id[nl1 - buf] = '\0';
	*expires = (time_t)strtoll(nl1 + 1, NULL, 10);
	text = nl2 + 1;
	char err[200];
	int rc = mta_sts_policy_parse(text, n - (size_t)(text - buf), &q->policy, err,
				      sizeof(err)) < 0
			 ? 0
			 : 1;
	free(buf);
	return rc;
}

static void sts_cache_write(struct sts_req *q, const char *text, size_t len)
{
	char *dir = xstrdup(q->cache_path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	mkdir(dir, 0700);
	free(dir);
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", q->cache_path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%s\n%lld\n", q->id, (long long)q->expires);
	fwrite(text, 1, len, f);
	if (fclose(f) == 0)
		rename(tmp, q->cache_path);
	else
		unlink(tmp);
}

static void sts_fetch(struct sts_req *q)
{
	char url[400], host[300];
	snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt", q->domain);
	snprintf(host, sizeof(host), "mta-sts.%s", q->domain);
	struct https_request r = {
		.url = url,
		.host = host,
		.port = 443,
		.addr = q->addr,
		.ca_file = q->ca_file,
		.max_response = MTA_STS_POLICY_MAX,
		.timeout = 30,
	};
	q->fail = TLSRPT_STS_POLICY_FETCH_ERROR;
	if (https_request_run(&r) < 0) {
		/* RFC 8461 3.3: no redirects; larger than 64 KiB: refused */
		snprintf(q->why, sizeof(q->why), "fetching %s: %s", url, r.why);
		if (r.cert_failed)
			q->fail = TLSRPT_STS_WEBPKI_INVALID;
	} else if (r.status != 200) {
		snprintf(q->why, sizeof(q->why), "fetching %s: HTTP status %ld", url, r.status);
	} else if (!r.ctype || strncasecmp(r.ctype, "text/plain", 10) != 0 ||
		   (r.ctype[10] && r.ctype[10] != ';' && r.ctype[10] != ' ')) {
		snprintf(q->why, sizeof(q->why), "fetching %s: content type %.60s, not text/plain",
			 url, r.ctype ? r.ctype : "(none)");
		q->fail = TLSRPT_STS_POLICY_INVALID;
	} else {
		char err[200];
		if (mta_sts_policy_parse(r.data ? r.data : "", r.len, &q->policy, err,
					 sizeof(err)) < 0) {
			snprintf(q->why, sizeof(q->why), "invalid policy at %s: %s", url, err);
			q->fail = TLSRPT_STS_POLICY_INVALID;
		} else {
			q->have = true;
			q->expires = time(NULL) + q->policy.max_age;
			sts_cache_write(q, r.data ? r.data : "", r.len);
		}
	}
	https_request_free(&r);
}

static void sts_work(uv_work_t *w)
{
	struct sts_req *q = container_of(w, struct sts_req, work);
	char cached_id[MTA_STS_ID_MAX + 1] = "";
	time_t expires = 0;
	struct mta_sts_policy stale = { 0 };
	bool have_stale = false;
	if (sts_cache_read(q, cached_id, &expires) == 1) {
		if (!q->force && expires > time(NULL) && strcmp(cached_id, q->id) == 0) {
			q->have = true;
			q->expires = expires;
			return;
		}
		stale = q->policy; /* a new id or expired: refetched, kept in case that fails */
		have_stale = true;
		memset(&q->policy, 0, sizeof(q->policy));
	}
	if (q->addr[0]) /* else no address for mta-sts.DOMAIN (q->why says why) */
		sts_fetch(q);
	if (!q->have && have_stale && expires > time(NULL)) {
		/* RFC 8461 5.1: a failed refresh keeps the cached policy until it expires */
		q->policy = stale;
		q->have = true;
		q->expires = expires;
		snprintf(q->id, sizeof(q->id), "%s", cached_id);
		return;
	}
	mta_sts_policy_free(&stale);
}

static void sts_after_work(uv_work_t *w, int status)
{
	struct sts_req *q = container_of(w, struct sts_req, work);
	(void)status;
	struct sts_entry *e = sts_find(q->c, q->domain);
	if (!q->have) {
		if (e && e->expires > time(NULL)) {
			/* RFC 8461 5.1: a failed refresh keeps the known policy until it expires */
			log_info("MTA-STS: keeping the policy of %s (mode %s): %s", q->domain,
				 mta_sts_mode_name(e->policy.mode), q->why);
			sts_done(q, &e->policy, "");
			return;
		}
		sts_done(q, NULL, q->why);
		return;
	}
	if (q->why[0]) /* a failed refresh, the cached policy kept */
		log_info("MTA-STS: keeping the policy of %s (mode %s): %s", q->domain,
			 mta_sts_mode_name(q->policy.mode), q->why);
	(void)e;
	mta_sts_client_remember(q->c, q->domain, q->id, q->expires, &q->policy);
	sts_done(q, &q->policy, "");
}

static void sts_start_work(struct sts_req *q)
{
	const struct config *cfg = q->c->cfg;
	q->cache_path = xasprintf("%s/mta-sts/%s", cfg->state_dir, q->domain);
	q->ca_file = cfg->relay_tls_ca_file ? xstrdup(cfg->relay_tls_ca_file) : NULL;
	uv_queue_work(q->c->loop, &q->work, sts_work, sts_after_work);
}

/* --- the loop: TXT record, then the policy host's address --- */

static void sts_host_resolved(const struct dns_result *res, void *arg)
{
	struct sts_req *q = arg;
	if (res->status == DNS_OK && res->n_hosts && res->hosts[0].n_addrs) {
		const struct sockaddr_storage *ss = &res->hosts[0].addrs[0];
		if (ss->ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, q->addr,
				  sizeof(q->addr));
		else
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, q->addr,
				  sizeof(q->addr));
	} else {
		snprintf(q->why, sizeof(q->why), "no address for mta-sts.%s (%s)", q->domain,
			 res->error);
		q->fail = TLSRPT_STS_POLICY_FETCH_ERROR;
	}
	sts_start_work(q);
}

static void sts_txt_resolved(const struct dns_raw_result *res, void *arg)
{
	struct sts_req *q = arg;
	struct mta_sts_client *c = q->c;
	if (res->status == DNS_OK) {
		char **rd = NULL;
		const char *perr = NULL;
		long n = dns_answer_parse(res->answer, res->len, ns_t_txt, &rd, &perr);
		if (n > 0) {
			char why[200];
			if (mta_sts_txt_select(rd, (size_t)n, q->id, why, sizeof(why)) < 0)
				snprintf(q->why, sizeof(q->why), "_mta-sts.%s: %s", q->domain, why);
			dns_rdata_free(rd, n);
		}
	} else if (res->status == DNS_TEMPFAIL) {
		snprintf(q->why, sizeof(q->why), "_mta-sts.%s: %s", q->domain, res->error);
	}
	struct sts_entry *e = q->force ? sts_peek(c, q->domain) : sts_find(c, q->domain);
	if (e && e->expires > time(NULL) && (!q->id[0] || strcmp(e->id, q->id) == 0) &&
	    !(q->force && q->id[0])) {
		/* known and current (or the record is gone but the policy has not expired) */
		sts_done(q, &e->policy, "");
		return;
	}
	if (!q->id[0]) {
		sts_done(q, NULL, q->why);
		return;
	}
	char host[300];
	snprintf(host, sizeof(host), "mta-sts.%s", q->domain);
	if (dns_lookup_host(c->dns, host, sts_host_resolved, q) < 0)
		sts_done(q, NULL, "resolver unavailable");
}

const struct mta_sts_policy *mta_sts_client_cached(struct mta_sts_client *c, const char *domain)
{
	struct sts_entry *e = sts_find(c, domain);
	return e && e->expires > time(NULL) ? &e->policy : NULL;
}

static int sts_get(struct mta_sts_client *c, const char *domain, mta_sts_cb *cb, void *arg,
		   bool force)
{
	/* the domain names a cache file: a plain host name only */
	size_t len = strlen(domain);
	if (len == 0 || len > 240 || domain[0] == '.' ||
	    strspn(domain, "abcdefghijklmnopqrstuvwxyz"
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789.-_") != len)
		return -1;
	struct sts_req *q = xcalloc(1, sizeof(*q));
	q->c = c;
	for (size_t i = 0; i <= len; i++)
		q->domain[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] + 32
									   : domain[i]);
	q->cb = cb;
	q->arg = arg;
	q->fail = TLSRPT_NOT_COUNTED;
	q->force = force;
	char name[300];
	snprintf(name, sizeof(name), "_mta-sts.%s", q->domain);
	if (c->freeing || dns_lookup_raw(c->dns, name, ns_t_txt, sts_txt_resolved, q) < 0) {
		free(q);
		return -1;
	}
	c->inflight++;
	return 0;
}

int mta_sts_client_get(struct mta_sts_client *c, const char *domain, mta_sts_cb *cb, void *arg)
{
	return sts_get(c, domain, cb, arg, false);
}

/* ---- background refresh (RFC 8461 5.1, 10.2) ---- */

static void sts_refreshed(void *arg, const struct mta_sts_policy *p, const char *why,
			  enum tlsrpt_result fail)
{
	(void)arg;
	(void)p;
	(void)fail;
	if (why[0])
		log_info("MTA-STS: background refresh: %s", why);
}

unsigned mta_sts_client_refresh(struct mta_sts_client *c, bool all)
{
	time_t now = time(NULL);
	unsigned n = 0;
	for (struct sts_entry *e = c->entries; e; e = e->next) {
		if (e->refreshing || e->expires <= now)
			continue; /* expired ones are fetched when mail needs them */
		/* due once half its max_age is over, and at least daily */
		time_t fetched = e->expires - e->policy.max_age;
		long half = e->policy.max_age / 2;
		time_t due = fetched + (half < 86400 ? half : 86400);
		if (!all && now < due)
			continue;
		if (sts_get(c, e->domain, sts_refreshed, NULL, true) == 0) {
			e->refreshing = true;
			n++;
		}
	}
	if (n)
		log_info("MTA-STS: refreshing %u cached polic%s", n, n == 1 ? "y" : "ies");
	return n;
}

static void sts_refresh_fired(uv_timer_t *t)
{
	mta_sts_client_refresh(t->data, false);
}
