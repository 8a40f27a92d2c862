/* relay.c - outbound delivery: resolve the destination (MX per RFC 5321 5.1, or the smarthost), then try each address until one answers for the recipients. */
#include "relay.h"
#include "dane.h"
#include "dns.h"
#include "dnssec.h"
#include "log.h"
#include "mta_sts_client.h"
#include "rfc5322.h"
#include "tls.h"
#include "tlsrpt_reporter.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One destination (a domain, or the smarthost): its connections and what waits for one. */
struct relay_dest {
	char key[256];
	unsigned conns; /* open or being opened (in use + idle) */
	struct smtp_client *idle[RELAY_IDLE_MAX];
	size_t n_idle;
	struct relay_delivery *wait_head, *wait_tail;
	struct relay *r;
	struct relay_dest *next;
};

struct relay {
	struct mtad *m;
	struct dns *dns;
	struct tls_ctx *tls;
	char *auth_user; /* smarthost credentials (smarthost_auth_file) */
	char *auth_password;
	struct relay_dest *dests;
	struct tls_policy_file policy; /* relay_tls_policy_file */
	struct dnssec *dnssec;         /* validated lookups for DANE; NULL if it cannot start */
	struct mta_sts_client *sts;    /* MTA-STS policies of remote domains */
	struct tlsrpt_reporter *rpt;   /* TLS-RPT counts and reports */
	char dnssec_error[300];
	unsigned conns; /* all destinations */
	bool stopping;
};

static struct relay_dest *relay_dest_get(struct relay *r, const char *key)
{
	for (struct relay_dest *d = r->dests; d; d = d->next)
		if (strcasecmp(d->key, key) == 0)
			return d;
	struct relay_dest *d = xcalloc(1, sizeof(*d));
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->next = r->dests;
	r->dests = d;
	return d;
}

static void relay_dest_forget_if_unused(struct relay *r, struct relay_dest *dest)
{
	if (dest->conns || dest->n_idle || dest->wait_head)
		return;
	for (struct relay_dest **pp = &r->dests; *pp; pp = &(*pp)->next) {
		if (*pp == dest) {
			*pp = dest->next;
			free(dest);
			return;
		}
	}
}

/* smarthost_auth_file: one "username:password" line (comments with '#'), owner-only. */
static int relay_load_credentials(struct relay *r, const char *path, char *err, size_t errlen)
{
	if (!path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s:0: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		log_warn("%s is readable by other users: make it mode 0600", path);
	char line[1024];
	unsigned lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		char *colon = strchr(line, ':');
		if (!colon || colon == line || !colon[1]) {
			snprintf(err, errlen, "%s:%u: expected username:password", path, lineno);
			explicit_bzero(line, sizeof(line));
			fclose(f);
			return -1;
		}
		*colon = '\0';
		r->auth_user = xstrdup(line);
		r->auth_password = xstrdup(colon + 1);
		explicit_bzero(line, sizeof(line));
		break;
	}
	fclose(f);
	if (!r->auth_user) {
		snprintf(err, errlen, "%s:0: no username:password line", path);
		return -1;
	}
	return 0;
}

struct relay *relay_new(struct mtad *m, char *err, size_t errlen)
{
	struct relay *r = xcalloc(1, sizeof(*r));
	r->m = m;
	r->dns = dns_new(m->loop, &m->cfg->dns_servers, err, errlen);
	if (!r->dns) {
		free(r);
		return NULL;
	}
	r->tls = tls_client_ctx_new(err, errlen);
	if (!r->tls || relay_load_credentials(r, m->cfg->smarthost_auth_file, err, errlen) < 0 ||
	    (m->cfg->relay_tls_ca_file &&
	     tls_client_ctx_set_ca_file(r->tls, m->cfg->relay_tls_ca_file, err, errlen) < 0) ||
	    tls_policy_file_load(&r->policy, m->cfg->relay_tls_policy_file, err, errlen) < 0) {
		relay_free(&r);
		return NULL;
	}
	r->sts = mta_sts_client_new(m->loop, r->dns, m->cfg);
	r->rpt = tlsrpt_reporter_new(m, r->dns);
	r->dnssec = dnssec_new(m->loop, &m->cfg->dns_servers, m->cfg->dnssec_trust_anchor,
			       r->dnssec_error, sizeof(r->dnssec_error));
	if (!r->dnssec)
		log_warn("DANE unavailable (deliveries that need it defer): %s", r->dnssec_error);
	return r;
}

void relay_free(struct relay **rp)
{
	struct relay *r = *rp;
	if (!r)
		return;
	r->stopping = true;
	for (struct relay_dest *d = r->dests; d; d = d->next)
		while (d->n_idle)
			smtp_client_quit(d->idle[d->n_idle - 1]);
	while (r->dests) {
		struct relay_dest *d = r->dests;
		r->dests = d->next;
		free(d);
	}
	mta_sts_client_free(&r->sts);
	tlsrpt_reporter_free(&r->rpt);
	dns_free(&r->dns);
	dnssec_free(&r->dnssec);
	tls_policy_file_free(&r->policy);
	tls_ctx_free(&r->tls);
	if (r->auth_password)
		explicit_bzero(r->auth_password, strlen(r->auth_password));
	free(r->auth_user);
	free(r->auth_password);
	free(r);
	*rp = NULL;
}

static void relay_set_all(struct relay_delivery *d, enum relay_outcome_kind kind, int code,
			  const char *text)
{
	for (size_t i = 0; i < d->n; i++) {
		snprintf(d->out[i].tls, sizeof(d->out[i].tls), "tls=none, tls_policy=%s",
			 d->policy_desc);
		d->out[i].kind = kind;
		d->out[i].code = code;
		snprintf(d->out[i].text, sizeof(d->out[i].text), "%s", text);
	}
}

static void relay_start(struct relay *r, struct relay_delivery *d);
static void relay_fill_job(struct relay *r, struct relay_delivery *d);
static void relay_client_done(struct smtp_client_job *job, void *arg);
static void relay_begin_new(struct relay *r, struct relay_delivery *d);
static void relay_reuse(struct relay *r, struct relay_delivery *d, struct smtp_client *sc);

static struct relay_delivery *relay_dest_pop_waiting(struct relay_dest *dest)
{
	struct relay_delivery *d = dest->wait_head;
	if (d) {
		dest->wait_head = d->wait_next;
		if (!dest->wait_head)
			dest->wait_tail = NULL;
		d->wait_next = NULL;
	}
	return d;
}

/* A connection slot was given back: whoever waits longest for one (this destination
 * first) gets it. */
static void relay_slot_freed(struct relay *r, struct relay_dest *dest)
{
	const struct config *cfg = r->m->cfg;
	if (r->stopping)
		return;
	struct relay_delivery *next = dest->wait_head ? relay_dest_pop_waiting(dest) : NULL;
	if (!next) {
		for (struct relay_dest *o = r->dests; o && !next; o = o->next)
			if (o->wait_head && o->conns < cfg->relay_max_per_destination)
				next = relay_dest_pop_waiting(o);
	}
	if (next)
		relay_start(r, next);
}

static void relay_idle_closed(struct smtp_client *sc, void *arg)
{
	struct relay_dest *dest = arg;
	struct relay *r = dest->r;
	for (size_t i = 0; i < dest->n_idle; i++) {
		if (dest->idle[i] == sc) {
			dest->idle[i] = dest->idle[--dest->n_idle];
			break;
		}
	}
	dest->conns--;
	r->conns--;
	if (!r->stopping) {
		relay_slot_freed(r, dest);
		relay_dest_forget_if_unused(r, dest);
	}
}

static void relay_finish(struct relay_delivery *d)
{
	struct relay *r = d->r;
	struct relay_dest *dest = d->dest;
	struct smtp_client *sc = d->job.client;
	d->job.client = NULL;
	free(d->hosts);
	d->hosts = NULL;
	free(d->dane);
	d->dane = NULL;
	mta_sts_policy_free(&d->sts);
	free(d->rcpt_ptrs);
	d->rcpt_ptrs = NULL;
	free(d->rcpt_notify);
	d->rcpt_notify = NULL;
	free(d->rcpt_orcpt);
	d->rcpt_orcpt = NULL;
	free(d->job.results);
	d->job.results = NULL;
	d->done(d, d->arg); /* d may be freed from here on */
	if (!dest)
		return;
	if (sc && !r->stopping) {
		/* The connection is open and idle: the next message for this destination takes
		 * it, else it waits a little for one. */
		struct relay_delivery *next = relay_dest_pop_waiting(dest);
		if (next) {
			relay_reuse(r, next, sc);
			return;
		}
		if (dest->n_idle < RELAY_IDLE_MAX) {
			dest->idle[dest->n_idle++] = sc;
			smtp_client_park(sc, r->m->cfg->relay_idle_timeout * 1000,
					 relay_idle_closed, dest);
			return;
		}
		smtp_client_quit(sc);
	} else if (sc) {
		smtp_client_quit(sc);
	}
	dest->conns--;
	r->conns--;
	relay_slot_freed(r, dest);
	relay_dest_forget_if_unused(r, dest);
}

static void relay_try_next(struct relay_delivery *d);
static int relay_host_tls(struct relay_delivery *d, size_t i);
static void relay_policy(struct relay *r, struct relay_delivery *d);

struct tlsrpt_reporter *relay_tlsrpt(struct relay *r)
{
	return r->rpt;
}

struct mta_sts_client *relay_mta_sts(struct relay *r)
{
	return r->sts;
}

/* TLS-RPT (RFC 8460): counts a session with MX host i (SIZE_MAX: a failure of the domain's
 * policy before any host), ip its address or NULL. Mail to MX hosts only: the smarthost and
 * LMTP back ends publish no policy. */
static void relay_rpt(struct relay_delivery *d, enum tlsrpt_result res, size_t i, const char *ip,
		      const char *info)
{
	if (res < 0 || d->lmtp || d->r->m->cfg->smarthost.host[0])
		return;
	char lines[TLSRPT_POLICY_STRINGS][300];
	const char *strs[TLSRPT_POLICY_STRINGS];
	size_t n = 0;
	struct tlsrpt_event ev = { .domain = d->domain, .result = res, .info = info };
	const struct dane_host *dh = d->dane && i < d->n_hosts ? &d->dane[i] : NULL;
	if (res == TLSRPT_STS_POLICY_FETCH_ERROR || res == TLSRPT_STS_POLICY_INVALID ||
	    res == TLSRPT_STS_WEBPKI_INVALID) {
		ev.type = TLSRPT_STS; /* no policy to quote */
	} else if (d->sts.mode != MTA_STS_NONE) {
		ev.type = TLSRPT_STS;
		snprintf(lines[n++], sizeof(lines[0]), "version: STSv1");
		snprintf(lines[n++], sizeof(lines[0]), "mode: %s", mta_sts_mode_name(d->sts.mode));
		for (size_t k = 0; k < d->sts.n_mx && n < TLSRPT_POLICY_STRINGS - 1; k++)
			snprintf(lines[n++], sizeof(lines[0]), "mx: %.250s", d->sts.mx[k]);
		snprintf(lines[n++], sizeof(lines[0]), "max_age: %ld", d->sts.max_age);
		ev.mx_hosts = (const char *const *)d->sts.mx;
		ev.n_mx_hosts = d->sts.n_mx;
	} else if ((dh && dh->state != DANE_TLSA_NONE) || res == TLSRPT_DANE_REQUIRED ||
		   (!dh && res == TLSRPT_DNSSEC_INVALID)) {
		ev.type = TLSRPT_TLSA;
		/* secure TLSA records of which none is usable (RFC 7672 2.2: TLS without
		 * authentication): the session counts as that failure */
		if (dh && dh->state == DANE_TLSA_UNUSABLE && res != TLSRPT_STARTTLS_NOT_SUPPORTED)
			ev.result = TLSRPT_TLSA_INVALID;
		for (size_t k = 0; dh && k < dh->n_tlsa && n < TLSRPT_POLICY_STRINGS; k++) {
			int o = snprintf(lines[n], sizeof(lines[0]), "%u %u %u ", dh->tlsa[k].usage,
					 dh->tlsa[k].selector, dh->tlsa[k].mtype);
			for (size_t b = 0; b < dh->tlsa[k].len && o + 3 < (int)sizeof(lines[0]);
			     b++)
				o += snprintf(lines[n] + o, sizeof(lines[0]) - (size_t)o, "%02X",
					      dh->data[k][b]);
			n++;
		}
	} else {
		ev.type = TLSRPT_NO_POLICY;
		/* opportunistic TLS: any certificate will do, an encrypted session succeeded
		 * (under verify or secure of relay_tls_policy_file it is a failure) */
		if (d->tls_req.level != TLS_LEVEL_VERIFY && d->tls_req.level != TLS_LEVEL_SECURE &&
		    (res == TLSRPT_CERTIFICATE_HOST_MISMATCH || res == TLSRPT_CERTIFICATE_EXPIRED ||
		     res == TLSRPT_CERTIFICATE_NOT_TRUSTED))
			ev.result = TLSRPT_SUCCESS;
	}
	for (size_t k = 0; k < n; k++)
		strs[k] = lines[k];
	ev.policy_strings = strs;
	ev.n_policy_strings = n;
	ev.receiving_mx_hostname = i < d->n_hosts ? d->hosts[i].name : NULL;
	ev.receiving_ip = ip;
	tlsrpt_reporter_count(d->r->rpt, &ev);
}

/* The address being tried, as text (for TLS-RPT's receiving-ip). */
static const char *relay_addr_text(const struct relay_delivery *d, char *out, size_t len)
{
	if (d->host_i >= d->n_hosts || d->addr_i >= d->hosts[d->host_i].n_addrs)
		return NULL;
	const struct sockaddr_storage *ss = &d->hosts[d->host_i].addrs[d->addr_i];
	if (ss->ss_family == AF_INET6)
		return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out,
				 (socklen_t)len);
	if (ss->ss_family == AF_INET)
		return inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out,
				 (socklen_t)len);
	return NULL;
}

static void relay_client_done(struct smtp_client_job *job, void *arg)
{
	struct relay_delivery *d = arg;
	char ip[INET6_ADDRSTRLEN];
	relay_rpt(d, job->tls_rpt, d->host_i, relay_addr_text(d, ip, sizeof(ip)), NULL);
	snprintf(d->remote, sizeof(d->remote), "%s", job->remote_name);
	if (job->host_failed) {
		d->last_host_error = job->host_result;
		d->tls_failed = job->tls_policy_failed;
		log_info("relay %s: %s", d->domain, job->host_result.text);
		d->addr_i++;
		relay_try_next(d);
		return;
	}
	if (d->sts.mode == MTA_STS_TESTING && job->tls_outcome != SMTP_TLS_VERIFIED)
		log_warn("relay %s: MTA-STS policy (mode testing) not met by %s: tls=%s, the "
			 "certificate is not verified for it; delivering anyway",
			 d->domain, job->remote_name, smtp_tls_outcome_name(job->tls_outcome));
	for (size_t i = 0; i < d->n; i++) {
		const struct smtp_client_result *res = &job->results[i];
		struct relay_outcome *o = &d->out[i];
		o->code = res->code;
		o->dsn = job->dsn;
		snprintf(o->tls, sizeof(o->tls), "tls=%s, tls_policy=%s",
			 smtp_tls_outcome_name(job->tls_outcome), d->policy_desc);
		snprintf(o->text, sizeof(o->text), "%s", res->text);
		if (res->code / 100 == 2)
			o->kind = RELAY_SENT;
		else if (res->code / 100 == 5)
			o->kind = RELAY_PERM;
		else
			o->kind = RELAY_TEMP;
	}
	relay_finish(d);
}

/* Next address of the current host, else the next host; when all are used up every
 * recipient is deferred with the last error. */
static void relay_try_next(struct relay_delivery *d)
{
	while (d->host_i < d->n_hosts) {
		struct dns_host *h = &d->hosts[d->host_i];
		if (d->addr_i >= h->n_addrs) {
			d->host_i++;
			d->addr_i = 0;
			continue;
		}
		if (d->addr_i == 0 && relay_host_tls(d, d->host_i) < 0) {
			d->host_i++;
			continue;
		}
		struct sockaddr_storage ss = h->addrs[d->addr_i];
		if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(d->port);
		else if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = htons(d->port);
		relay_fill_job(d->r, d);
		d->job.tls_sni = h->name;
		smtp_client_run(d->r->m->loop, (struct sockaddr *)&ss, h->name, &d->job,
				relay_client_done, d);
		return;
	}
	const char *why = d->last_host_error.text[0] ? d->last_host_error.text
			  : d->lmtp ? "4.4.1 the mailbox back end could not be reached"
				    : "4.4.1 no mail exchanger could be reached";
	if (d->requiretls && d->tls_failed) {
		/* RFC 8689 4.2.1: no next hop could take it over TLS as required: return it */
		relay_set_all(d, RELAY_PERM, 550, why);
		relay_finish(d);
		return;
	}
	relay_set_all(d, RELAY_TEMP,
		      d->last_host_error.code / 100 == 5 ? 0 : d->last_host_error.code, why);
	relay_finish(d);
}

/* A host that cannot be used under the policy: the reason, and on to the next one. */
static int relay_host_skip(struct relay_delivery *d, enum tlsrpt_result rpt, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int relay_host_skip(struct relay_delivery *d, enum tlsrpt_result rpt, const char *fmt, ...)
{
	char why[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	d->last_host_error.code = 0;
	snprintf(d->last_host_error.text, sizeof(d->last_host_error.text),
		 "%s %.200s: %.240s (TLS policy %s)", d->requiretls ? "5.7.10" : "4.7.5",
		 d->hosts[d->host_i].name, why, d->policy_desc);
	d->tls_failed = true;
	log_warn("relay %s: %s", d->domain, d->last_host_error.text);
	relay_rpt(d, rpt, d->host_i, NULL, why);
	return -1;
}

/* What host i must offer (d->tls_req), from the policy and its TLSA records. -1: the host
 * cannot be used (the reason is the last host error). */
static int relay_host_tls(struct relay_delivery *d, size_t i)
{
	struct smtp_client_tls *t = &d->tls_req;
	const struct dns_host *h = &d->hosts[i];
	enum tls_level level = d->policy.level;
	memset(t, 0, sizeof(*t));
	t->policy = d->policy_desc;
	t->requiretls = d->requiretls;
	if (d->sts.mode != MTA_STS_NONE && !mta_sts_policy_mx_ok(&d->sts, h->name)) {
		if (d->sts.mode == MTA_STS_ENFORCE)
			return relay_host_skip(d, TLSRPT_VALIDATION_FAILURE,
					       "not an MX host of the MTA-STS policy of %s",
					       d->domain);
		log_warn("relay %s: %s is not an MX host of the MTA-STS policy (mode testing); "
			 "using it anyway",
			 d->domain, h->name);
	}
	if (level == TLS_LEVEL_DANE || level == TLS_LEVEL_DANE_ONLY) {
		const struct dane_host *dh = d->dane ? &d->dane[i] : NULL;
		enum dane_tlsa_state st = dh ? dh->state : DANE_TLSA_NONE;
		if (st == DANE_TLSA_FAILED)
			return relay_host_skip(d, TLSRPT_DNSSEC_INVALID, "%s", dh->why);
		if (st == DANE_TLSA_USABLE) {
			t->level = TLS_LEVEL_DANE_ONLY;
			t->check.dane_base = h->name;
			t->check.tlsa = dh->tlsa;
			t->check.n_tlsa = dh->n_tlsa;
			d->tls_names[0] = d->domain;
			t->check.names = d->tls_names;
			t->check.n_names = 1;
			return 0;
		}
		if (st == DANE_TLSA_UNUSABLE) {
			t->level = TLS_LEVEL_ENCRYPT; /* RFC 7672 2.2: mandatory, unauthenticated */
		} else if (level == TLS_LEVEL_DANE_ONLY) {
			return relay_host_skip(d, TLSRPT_DANE_REQUIRED,
					       "no DNSSEC-validated TLSA records for "
					       "_25._tcp.%s",
					       h->name);
		} else {
			t->level = TLS_LEVEL_MAY;
		}
		if (!d->requiretls)
			return 0;
		level = TLS_LEVEL_VERIFY; /* REQUIRETLS without DANE: a verified certificate */
	}
	t->level = level;
	if (level == TLS_LEVEL_VERIFY || d->sts.mode == MTA_STS_TESTING) {
		/* testing: the name is checked to report the outcome (tls=verified or not) */
		d->tls_names[0] = h->name;
		t->check.names = d->tls_names;
		t->check.n_names = 1;
	} else if (level == TLS_LEVEL_SECURE) {
		/* the next hop: the recipient domain, or the smarthost's name */
		const char *nexthop = d->r->m->cfg->smarthost.host[0] ? d->r->m->cfg->smarthost.host
								      : d->domain;
		snprintf(d->tls_subdomains, sizeof(d->tls_subdomains), ".%.253s", nexthop);
		d->tls_names[0] = nexthop;
		d->tls_names[1] = d->tls_subdomains;
		t->check.names = d->tls_names;
		t->check.n_names = 2;
	}
	return 0;
}

static void relay_resolved(const struct dns_result *res, void *arg)
{
	struct relay_delivery *d = arg;
	char t[512];
	switch (res->status) {
	case DNS_OK:
		break;
	case DNS_NULL_MX:
		snprintf(t, sizeof(t), "5.1.10 domain %s accepts no mail (null MX)", d->domain);
		relay_set_all(d, RELAY_PERM, 556, t);
		relay_finish(d);
		return;
	case DNS_NXDOMAIN:
		if (d->lmtp)
			goto tempfail; /* a back end's name is the administrator's: retry */
		snprintf(t, sizeof(t), "5.1.2 domain %s not found (%s)", res->query, res->error);
		relay_set_all(d, RELAY_PERM, 550, t);
		relay_finish(d);
		return;
	case DNS_NOHOST:
		if (d->lmtp)
			goto tempfail;
		snprintf(t, sizeof(t), "5.4.4 no address for the mail exchangers of %s (%s)",
			 d->domain, res->error);
		relay_set_all(d, RELAY_PERM, 550, t);
		relay_finish(d);
		return;
	case DNS_TEMPFAIL:
	case DNS_CANCELLED:
	default:
	tempfail:
		snprintf(t, sizeof(t), "4.4.3 lookup of %s failed: %s", res->query, res->error);
		relay_set_all(d, RELAY_TEMP, 451, t);
		relay_finish(d);
		return;
	}
	d->hosts = xcalloc(res->n_hosts ? res->n_hosts : 1, sizeof(*d->hosts));
	memcpy(d->hosts, res->hosts, res->n_hosts * sizeof(*d->hosts));
	d->n_hosts = res->n_hosts;
	d->host_i = d->addr_i = 0;
	relay_try_next(d);
}

static void relay_prepare(struct relay *r, struct relay_delivery *d)
{
	d->r = r;
	d->rcpt_ptrs = xcalloc(d->n, sizeof(*d->rcpt_ptrs));
	d->rcpt_notify = xcalloc(d->n, sizeof(*d->rcpt_notify));
	d->rcpt_orcpt = xcalloc(d->n, sizeof(*d->rcpt_orcpt));
	for (size_t i = 0; i < d->n; i++) {
		d->rcpt_notify[i] = d->env->rcpts[d->idx[i]].notify;
		d->rcpt_orcpt[i] = d->env->rcpts[d->idx[i]].orcpt;
	}
	d->utf8_envelope = !mime_is_ascii(d->env->sender, strlen(d->env->sender));
	d->requiretls = queue_envelope_requiretls(d->env);
	d->tls_failed = false;
	memset(&d->sts, 0, sizeof(d->sts));
	memset(&d->tls_req, 0, sizeof(d->tls_req));
	d->tls_req.level = TLS_LEVEL_MAY;
	for (size_t i = 0; i < d->n; i++) {
		d->rcpt_ptrs[i] = d->env->rcpts[d->idx[i]].addr;
		if (!mime_is_ascii(d->rcpt_ptrs[i], strlen(d->rcpt_ptrs[i])))
			d->utf8_envelope = true;
	}
	/* What the message needs is decided from its bytes, not from what the client
	 * declared (BODY=8BITMIME and SMTPUTF8 are often sent for plain ASCII mail). */
	mime_8bit_scan(d->msg, d->msg_len, &d->content);
	d->job.results = xcalloc(d->n, sizeof(*d->job.results));
	memset(&d->last_host_error, 0, sizeof(d->last_host_error));
	d->remote[0] = '\0';
}

static void relay_fill_job(struct relay *r, struct relay_delivery *d)
{
	const struct config *cfg = r->m->cfg;
	struct smtp_client_job *job = &d->job;
	job->helo_name = cfg->hostname;
	job->sender = d->env->sender;
	job->rcpts = d->rcpt_ptrs;
	job->nrcpts = d->n;
	job->msg = d->msg;
	job->msg_len = d->msg_len;
	job->has_8bit = d->content.body_8bit || d->content.header_8bit;
	job->dkim_signed = d->content.dkim_signed;
	job->want_smtputf8 = d->env->body_flags && strstr(d->env->body_flags, "SMTPUTF8");
	/* RFC 6531 3.4: only a UTF-8 envelope or header really needs an SMTPUTF8 hop. */
	job->need_smtputf8 = job->want_smtputf8 && (d->utf8_envelope || d->content.header_8bit);
	job->rcpt_notify = d->rcpt_notify;
	job->rcpt_orcpt = d->rcpt_orcpt;
	job->ret = d->env->ret;
	job->envid = d->env->envid;
	job->tls = r->tls;
	job->tls_req = &d->tls_req;
	job->keep_open = true;
	job->lmtp = d->lmtp;
	job->auth_user = cfg->smarthost.host[0] && !d->lmtp ? r->auth_user : NULL;
	job->auth_password = r->auth_password;
	job->connect_timeout_ms = cfg->relay_connect_timeout * 1000;
	job->command_timeout_ms = cfg->relay_command_timeout * 1000;
	job->data_timeout_ms = cfg->relay_data_timeout * 1000;
}

/* Another message on a connection that just finished one. */
static void relay_sts_apply(struct relay_delivery *d, const struct mta_sts_policy *p);

static void relay_reuse(struct relay *r, struct relay_delivery *d, struct smtp_client *sc)
{
	relay_policy(r, d);
	if (!d->lmtp && !r->m->cfg->smarthost.host[0] && d->policy.source == TLS_SOURCE_DEFAULT &&
	    d->policy.level != TLS_LEVEL_DANE && d->policy.level != TLS_LEVEL_DANE_ONLY)
		relay_sts_apply(d, mta_sts_client_cached(r->sts, d->domain));
	memset(&d->tls_req, 0, sizeof(d->tls_req));
	d->tls_req.level = TLS_LEVEL_MAY; /* the connection met the policy when it was opened */
	d->tls_req.policy = d->policy_desc;
	d->tls_req.requiretls = d->requiretls;
	relay_fill_job(r, d);
	log_debug("relay %s: reusing the connection to %s", d->domain, smtp_client_name(sc));
	smtp_client_reuse(sc, &d->job, relay_client_done, d);
}

/* A unix-socket back end: one "host" with the socket's address, no lookup. */
static void relay_begin_lmtp_unix(struct relay_delivery *d)
{
	d->hosts = xcalloc(1, sizeof(*d->hosts));
	d->n_hosts = 1;
	d->host_i = d->addr_i = 0;
	struct dns_host *h = &d->hosts[0];
	snprintf(h->name, sizeof(h->name), "localhost");
	struct sockaddr_un *sun = (struct sockaddr_un *)&h->addrs[0];
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", d->route.path);
	h->n_addrs = 1;
	relay_try_next(d);
}

static void relay_dane_resolved(const struct dane_result *res, void *arg)
{
	struct relay_delivery *d = arg;
	char t[512];
	switch (res->status) {
	case DANE_OK:
		break;
	case DANE_MX_INSECURE:
		if (d->policy.level == TLS_LEVEL_DANE) {
			/* RFC 7672 2.2.1: no DANE for an unsigned MX; opportunistic TLS */
			log_info("relay %s: %s: DANE does not apply", d->domain, res->why);
			d->policy.level = TLS_LEVEL_MAY;
			if (dns_lookup_mx(d->r->dns, d->domain, relay_resolved, d) < 0) {
				relay_set_all(d, RELAY_TEMP, 451, "4.3.0 resolver unavailable");
				relay_finish(d);
			}
			return;
		}
		snprintf(t, sizeof(t), "4.7.5 %.400s (TLS policy %s)", res->why, d->policy_desc);
		relay_set_all(d, RELAY_TEMP, 0, t);
		relay_finish(d);
		return;
	case DANE_NULL_MX:
		snprintf(t, sizeof(t), "5.1.10 %s", res->why);
		relay_set_all(d, RELAY_PERM, 556, t);
		relay_finish(d);
		return;
	case DANE_NXDOMAIN:
		snprintf(t, sizeof(t), "5.1.2 %s", res->why);
		relay_set_all(d, RELAY_PERM, 550, t);
		relay_finish(d);
		return;
	case DANE_BOGUS:
		snprintf(t, sizeof(t), "4.7.5 DNSSEC validation failed: %s (TLS policy %s)",
			 res->why, d->policy_desc);
		log_warn("relay %s: %s", d->domain, t);
		relay_rpt(d, TLSRPT_DNSSEC_INVALID, SIZE_MAX, NULL, res->why);
		relay_set_all(d, RELAY_TEMP, 0, t);
		relay_finish(d);
		return;
	case DANE_NOHOST:
	case DANE_TEMPFAIL:
	case DANE_CANCELLED:
	default:
		snprintf(t, sizeof(t), "4.4.3 %s", res->why);
		relay_set_all(d, RELAY_TEMP, 451, t);
		relay_finish(d);
		return;
	}
	d->hosts = xcalloc(res->n_hosts ? res->n_hosts : 1, sizeof(*d->hosts));
	memcpy(d->hosts, res->hosts, res->n_hosts * sizeof(*d->hosts));
	d->dane = xcalloc(res->n_hosts ? res->n_hosts : 1, sizeof(*d->dane));
	memcpy(d->dane, res->dane, res->n_hosts * sizeof(*d->dane));
	for (size_t i = 0; i < res->n_hosts; i++)
		for (size_t k = 0; k < d->dane[i].n_tlsa; k++)
			d->dane[i].tlsa[k].data = d->dane[i].data[k];
	d->n_hosts = res->n_hosts;
	d->host_i = d->addr_i = 0;
	relay_try_next(d);
}

struct tls_policy relay_tls_policy_for(struct relay *r, const char *domain)
{
	const struct config *cfg = r->m->cfg;
	return tls_policy_lookup(&r->policy.table, cfg->smarthost.host[0] ? NULL : domain,
				 cfg->smarthost.host[0] ? cfg->smarthost.host : NULL,
				 cfg->relay_tls_security);
}

int relay_reload_tables(struct relay *r)
{
	char err[512];
	int rc = tls_policy_file_reload(&r->policy, err, sizeof(err));
	if (rc < 0)
		log_error("relay_tls_policy_file not reloaded: %s", err);
	else if (rc > 0)
		log_info("relay_tls_policy_file reloaded");
	return rc > 0;
}

/* RFC 8689 5: the sender's "TLS-Required: No" header field. */
static bool relay_tls_required_no(const struct relay_delivery *d)
{
	struct rfc5322_field f;
	size_t hlen = rfc5322_header_length(d->msg, d->msg_len);
	if (rfc5322_find(d->msg, hlen, "TLS-Required", &f) != 1)
		return false;
	const char *v = f.value;
	size_t n = f.value_len;
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
		n--;
	return n == 2 && strncasecmp(v, "no", 2) == 0;
}

/* The policy of this delivery: the table's, raised by REQUIRETLS to verify (or DANE). Without
 * REQUIRETLS, "TLS-Required: No" sets aside the recipient's published policy (DANE), not the
 * levels the administrator wrote (encrypt, verify, secure). */
static void relay_policy(struct relay *r, struct relay_delivery *d)
{
	d->policy = relay_tls_policy_for(r, d->domain);
	if (!d->requiretls &&
	    (d->policy.level == TLS_LEVEL_DANE || d->policy.level == TLS_LEVEL_DANE_ONLY) &&
	    relay_tls_required_no(d)) {
		d->policy.level = TLS_LEVEL_MAY;
		d->policy.source = TLS_SOURCE_TLS_REQUIRED_NO;
	}
	if (d->requiretls && d->policy.level != TLS_LEVEL_DANE &&
	    d->policy.level != TLS_LEVEL_DANE_ONLY && d->policy.level < TLS_LEVEL_VERIFY) {
		d->policy.level = TLS_LEVEL_VERIFY;
		d->policy.source = TLS_SOURCE_REQUIRETLS;
	}
	tls_policy_describe(&d->policy, d->policy_desc, sizeof(d->policy_desc));
}

/* The policy (RFC 8461) as the delivery applies it: enforce raises the level to verify and
 * limits the MX hosts; testing checks the same and logs; none (or NULL) is no policy. */
static void relay_sts_apply(struct relay_delivery *d, const struct mta_sts_policy *p)
{
	mta_sts_policy_free(&d->sts);
	if (!p || p->mode == MTA_STS_NONE)
		return;
	mta_sts_policy_copy(&d->sts, p);
	if (p->mode == MTA_STS_ENFORCE) {
		if (d->policy.level < TLS_LEVEL_VERIFY)
			d->policy.level = TLS_LEVEL_VERIFY;
		d->policy.source = TLS_SOURCE_MTA_STS;
	} else {
		d->policy.source = TLS_SOURCE_MTA_STS_TESTING;
	}
	tls_policy_describe(&d->policy, d->policy_desc, sizeof(d->policy_desc));
}

static void relay_lookup_mx(struct relay_delivery *d)
{
	d->port = d->r->m->cfg->relay_port;
	if (dns_lookup_mx(d->r->dns, d->domain, relay_resolved, d) < 0) {
		relay_set_all(d, RELAY_TEMP, 451, "4.3.0 resolver unavailable (shutting down)");
		relay_finish(d);
	}
}

static void relay_sts_done(void *arg, const struct mta_sts_policy *p, const char *why,
			   enum tlsrpt_result fail)
{
	struct relay_delivery *d = arg;
	if (!p && why[0])
		log_info("relay %s: no MTA-STS policy: %s", d->domain, why);
	if (!p && fail >= 0) /* the sts policy's failure (RFC 8460 4.3.2.2); mail goes on */
		relay_rpt(d, fail, SIZE_MAX, NULL, why);
	relay_sts_apply(d, p);
	relay_lookup_mx(d);
}

static void relay_begin_new(struct relay *r, struct relay_delivery *d)
{
	const struct config *cfg = r->m->cfg;
	int rc;
	if (d->lmtp) {
		/* A mailbox back end: its "[host]" line of relay_tls_policy_file, else
		 * opportunistic; DANE is for MX hosts and never applies here. */
		d->policy = tls_policy_lookup(&r->policy.table, NULL, d->route.host, TLS_LEVEL_MAY);
		if (d->policy.level == TLS_LEVEL_DANE || d->policy.level == TLS_LEVEL_DANE_ONLY)
			d->policy.level = TLS_LEVEL_MAY;
		if (d->policy.level == TLS_LEVEL_SECURE) /* no next-hop domain: the host's name */
			d->policy.level = TLS_LEVEL_VERIFY;
		tls_policy_describe(&d->policy, d->policy_desc, sizeof(d->policy_desc));
		if (d->route.kind == MAILBOX_ROUTE_LMTP_UNIX) {
			relay_begin_lmtp_unix(d);
			return;
		}
		d->port = d->route.port;
		if (dns_lookup_host(r->dns, d->route.host, relay_resolved, d) < 0) {
			relay_set_all(d, RELAY_TEMP, 451,
				      "4.3.0 resolver unavailable (shutting down)");
			relay_finish(d);
		}
		return;
	}
	relay_policy(r, d);
	if (!cfg->smarthost.host[0] &&
	    (d->policy.level == TLS_LEVEL_DANE || d->policy.level == TLS_LEVEL_DANE_ONLY)) {
		if (!r->dnssec) {
			char t[500];
			snprintf(t, sizeof(t),
				 "4.7.5 no DNSSEC resolver for DANE: %s (TLS policy %s)",
				 r->dnssec_error, d->policy_desc);
			relay_set_all(d, RELAY_TEMP, 0, t);
			relay_finish(d);
			return;
		}
		d->port = cfg->relay_port;
		if (dane_resolve(r->dnssec, d->domain, relay_dane_resolved, d) < 0) {
			relay_set_all(d, RELAY_TEMP, 451, "4.3.0 DNSSEC resolver unavailable");
			relay_finish(d);
		}
		return;
	}
	if (cfg->smarthost.host[0]) {
		d->port = cfg->smarthost.port;
		rc = dns_lookup_host(r->dns, cfg->smarthost.host, relay_resolved, d);
	} else if (d->policy.source == TLS_SOURCE_DEFAULT) {
		/* no policy of the administrator's and no DANE: the domain's MTA-STS policy */
		rc = mta_sts_client_get(r->sts, d->domain, relay_sts_done, d);
		if (rc < 0)
			relay_lookup_mx(d);
		return;
	} else {
		relay_lookup_mx(d);
		return;
	}
	if (rc < 0) {
		relay_set_all(d, RELAY_TEMP, 451, "4.3.0 resolver unavailable (shutting down)");
		relay_finish(d);
	}
}

/* Takes an idle connection of the destination, or opens one within the limits, or waits. */
static void relay_start(struct relay *r, struct relay_delivery *d)
{
	const struct config *cfg = r->m->cfg;
	struct relay_dest *dest = d->dest;
	if (dest->n_idle) {
		struct smtp_client *sc = dest->idle[--dest->n_idle];
		relay_reuse(r, d, sc);
		return;
	}
	if (dest->conns < cfg->relay_max_per_destination && r->conns < cfg->relay_max_connections) {
		dest->conns++;
		r->conns++;
		relay_begin_new(r, d);
		return;
	}
	d->wait_next = NULL;
	if (dest->wait_tail)
		dest->wait_tail->wait_next = d;
	else
		dest->wait_head = d;
	dest->wait_tail = d;
}

void relay_deliver(struct relay *r, struct relay_delivery *d)
{
	relay_prepare(r, d);
	/* REQUIRETLS mail never shares a connection opened for other mail */
	char key[256];
	snprintf(key, sizeof(key), "%.240s%s",
		 d->lmtp                        ? d->domain
		 : r->m->cfg->smarthost.host[0] ? "[smarthost]"
						: d->domain,
		 d->requiretls ? " requiretls" : "");
	d->dest = relay_dest_get(r, key);
	d->dest->r = r;
	relay_start(r, d);
}
