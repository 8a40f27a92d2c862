/* relay.c - outbound delivery: resolve the destination (MX per RFC 5321 5.1, or the smarthost), then try each address until one answers for the recipients. */
#include "relay.h"
#include "dns.h"
#include "log.h"
#include "tls.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct relay {
	struct mtad *m;
	struct dns *dns;
	struct tls_ctx *tls;
};

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
	if (!r->tls) {
		dns_free(&r->dns);
		free(r);
		return NULL;
	}
	return r;
}

void relay_free(struct relay **rp)
{
	struct relay *r = *rp;
	if (!r)
		return;
	dns_free(&r->dns);
	tls_ctx_free(&r->tls);
	free(r);
	*rp = NULL;
}

static void relay_set_all(struct relay_delivery *d, enum relay_outcome_kind kind, int code,
			  const char *text)
{
	for (size_t i = 0; i < d->n; i++) {
		d->out[i].kind = kind;
		d->out[i].code = code;
		snprintf(d->out[i].text, sizeof(d->out[i].text), "%s", text);
	}
}

static void relay_finish(struct relay_delivery *d)
{
	free(d->hosts);
	d->hosts = NULL;
	free(d->rcpt_ptrs);
	d->rcpt_ptrs = NULL;
	free(d->job.results);
	d->job.results = NULL;
	d->done(d, d->arg);
}

static void relay_try_next(struct relay_delivery *d);

static void relay_client_done(struct smtp_client_job *job, void *arg)
{
	struct relay_delivery *d = arg;
	snprintf(d->remote, sizeof(d->remote), "%s", job->remote_name);
	if (job->host_failed) {
		d->last_host_error = job->host_result;
		log_info("relay %s: %s", d->domain, job->host_result.text);
		d->addr_i++;
		relay_try_next(d);
		return;
	}
	for (size_t i = 0; i < d->n; i++) {
		const struct smtp_client_result *res = &job->results[i];
		struct relay_outcome *o = &d->out[i];
		o->code = res->code;
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
	const struct config *cfg = d->r->m->cfg;
	while (d->host_i < d->n_hosts) {
		struct dns_host *h = &d->hosts[d->host_i];
		if (d->addr_i >= h->n_addrs) {
			d->host_i++;
			d->addr_i = 0;
			continue;
		}
		struct sockaddr_storage ss = h->addrs[d->addr_i];
		if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(d->port);
		else
			((struct sockaddr_in *)&ss)->sin_port = htons(d->port);
		struct smtp_client_job *job = &d->job;
		job->helo_name = cfg->hostname;
		job->sender = d->env->sender;
		job->rcpts = d->rcpt_ptrs;
		job->nrcpts = d->n;
		job->msg = d->msg;
		job->msg_len = d->msg_len;
		job->need_8bitmime = d->env->body_flags && strstr(d->env->body_flags, "8BITMIME");
		job->need_smtputf8 = d->env->body_flags && strstr(d->env->body_flags, "SMTPUTF8");
		job->tls = d->r->tls;
		job->tls_sni = h->name;
		job->connect_timeout_ms = cfg->relay_connect_timeout * 1000;
		job->command_timeout_ms = cfg->relay_command_timeout * 1000;
		job->data_timeout_ms = cfg->relay_data_timeout * 1000;
		smtp_client_run(d->r->m->loop, (struct sockaddr *)&ss, h->name, job, relay_client_done, d);
		return;
	}
	const char *why = d->last_host_error.text[0] ? d->last_host_error.text
						      : "4.4.1 no mail exchanger could be reached";
	relay_set_all(d, RELAY_TEMP, d->last_host_error.code / 100 == 5 ? 0 : d->last_host_error.code,
		      why);
	relay_finish(d);
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
		snprintf(t, sizeof(t), "5.1.2 domain %s not found (%s)", res->query, res->error);
		relay_set_all(d, RELAY_PERM, 550, t);
		relay_finish(d);
		return;
	case DNS_NOHOST:
		snprintf(t, sizeof(t), "5.4.4 no address for the mail exchangers of %s (%s)", d->domain,
			 res->error);
		relay_set_all(d, RELAY_PERM, 550, t);
		relay_finish(d);
		return;
	case DNS_TEMPFAIL:
	case DNS_CANCELLED:
	default:
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

void relay_deliver(struct relay *r, struct relay_delivery *d)
{
	const struct config *cfg = r->m->cfg;
	d->r = r;
	d->rcpt_ptrs = xcalloc(d->n, sizeof(*d->rcpt_ptrs));
	for (size_t i = 0; i < d->n; i++)
		d->rcpt_ptrs[i] = d->env->rcpts[d->idx[i]].addr;
	d->job.results = xcalloc(d->n, sizeof(*d->job.results));
	memset(&d->last_host_error, 0, sizeof(d->last_host_error));
	d->remote[0] = '\0';
	int rc;
	if (cfg->smarthost.host[0]) {
		d->port = cfg->smarthost.port;
		rc = dns_lookup_host(r->dns, cfg->smarthost.host, relay_resolved, d);
	} else {
		d->port = cfg->relay_port;
		rc = dns_lookup_mx(r->dns, d->domain, relay_resolved, d);
	}
	if (rc < 0) {
		relay_set_all(d, RELAY_TEMP, 451, "4.3.0 resolver unavailable (shutting down)");
		relay_finish(d);
	}
}
