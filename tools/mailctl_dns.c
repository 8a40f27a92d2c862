/* mailctl_dns.c - "mailctl dns [--check] DOMAIN": print the records a domain needs, or query and judge them. */
#include "mailctl_dns.h"
#include "dns.h"
#include "dns_records.h"
#include "str.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define MAILCTL_DNS_UNKNOWN_DOMAIN 65

/* One query of --check: a record we expect, or the PTR of one of the host's addresses. */
struct mailctl_dns_check {
	const struct dns_record *rec; /* NULL for the host-address and PTR checks */
	char *verdict;                /* "ok ..." or "MISSING ..." / "WRONG ..." line, malloc'd */
	bool bad;
};

struct mailctl_dns_run {
	struct dns *dns;
	const struct config *cfg;
	struct mailctl_dns_check *checks;
	size_t n, pending;
	/* The host's addresses, then the PTR of each. */
	struct mailctl_dns_check host_check;
	struct mailctl_dns_check *ptr_checks;
	size_t n_ptr;
};

static char *mailctl_dns_printable(const char *s)
{
	size_t len = strlen(s);
	char *out = xmalloc(len * 4 + 1);
	str_escape_printable(s, len, out, len * 4 + 1);
	return out;
}

static void mailctl_dns_done(struct mailctl_dns_run *run)
{
	if (--run->pending == 0)
		dns_free(&run->dns);
}

static void mailctl_dns_record_cb(const struct dns_raw_result *res, void *arg)
{
	struct mailctl_dns_check *c = arg;
	const struct dns_record *r = c->rec;
	struct buf b;
	buf_init(&b);
	char **rdata = NULL;
	long n = 0;
	const char *error = res->error;
	if (res->status == DNS_OK) {
		n = dns_answer_parse(res->answer, res->len, r->type, &rdata, &error);
		if (n < 0)
			n = 0;
		else if (n == 0)
			error = "no record of this type";
	}
	bool ok = false;
	for (long i = 0; i < n && !ok; i++)
		ok = dns_record_matches(r, rdata[i]);
	if (ok) {
		buf_printf(&b, "ok       %-12s %s %s", r->what, r->name, dns_type_name(r->type));
	} else if (n > 0) {
		buf_printf(&b, "WRONG    %-12s %s %s: found", r->what, r->name,
			   dns_type_name(r->type));
		for (long i = 0; i < n; i++) {
			char *p = mailctl_dns_printable(rdata[i]);
			buf_printf(&b, "%s \"%s\"", i ? "," : "", p);
			free(p);
		}
		char *p = mailctl_dns_printable(r->rdata);
		buf_printf(&b, "; expected \"%s\"", p);
		free(p);
	} else {
		buf_printf(&b, "MISSING  %-12s %s %s (%s)", r->what, r->name,
			   dns_type_name(r->type),
			   res->status == DNS_CANCELLED ? "cancelled" : error);
	}
	c->bad = !ok;
	c->verdict = buf_steal(&b, NULL);
	dns_rdata_free(rdata, n);
}

/* A query's argument: its check and the run it counts in. */
struct mailctl_dns_ctx {
	struct mailctl_dns_run *run;
	struct mailctl_dns_check *check;
};

static void mailctl_dns_record_done(const struct dns_raw_result *res, void *arg)
{
	struct mailctl_dns_ctx *ctx = arg;
	mailctl_dns_record_cb(res, ctx->check);
	struct mailctl_dns_run *run = ctx->run;
	free(ctx);
	mailctl_dns_done(run);
}

struct mailctl_dns_ptr_ctx {
	struct mailctl_dns_run *run;
	struct mailctl_dns_check *check;
	char addr[INET6_ADDRSTRLEN];
};

static void mailctl_dns_ptr_cb(const struct dns_ptr_result *res, void *arg)
{
	struct mailctl_dns_ptr_ctx *ctx = arg;
	const char *host = ctx->run->cfg->hostname;
	struct mailctl_dns_check *c = ctx->check;
	if (res->status == DNS_OK && strcasecmp(res->ptr_name, host) == 0 && res->confirmed) {
		c->verdict = xasprintf("ok       %-12s %s PTR %s.", "PTR", ctx->addr, host);
	} else if (res->status == DNS_OK) {
		char *p = mailctl_dns_printable(res->ptr_name);
		c->verdict = xasprintf("WRONG    %-12s %s PTR: found \"%s.\"; expected \"%s.\" "
				       "(ask the provider of the address)",
				       "PTR", ctx->addr, p, host);
		free(p);
		c->bad = true;
	} else {
		c->verdict = xasprintf("MISSING  %-12s %s PTR (%s; ask the provider of the "
				       "address)",
				       "PTR", ctx->addr, res->error);
		c->bad = true;
	}
	struct mailctl_dns_run *run = ctx->run;
	free(ctx);
	mailctl_dns_done(run);
}

static void mailctl_dns_host_cb(const struct dns_result *res, void *arg)
{
	struct mailctl_dns_run *run = arg;
	const char *host = run->cfg->hostname;
	if (res->status != DNS_OK || res->n_hosts == 0) {
		run->host_check.verdict = xasprintf(
			"MISSING  %-12s %s. A/AAAA (%s)", "address", host,
			res->status == DNS_CANCELLED ? "cancelled" : res->error);
		run->host_check.bad = true;
		mailctl_dns_done(run);
		return;
	}
	const struct dns_host *h = &res->hosts[0];
	run->host_check.verdict = xasprintf("ok       %-12s %s. A/AAAA (%zu address%s)", "address",
					    host, h->n_addrs, h->n_addrs == 1 ? "" : "es");
	run->ptr_checks = xcalloc(h->n_addrs ? h->n_addrs : 1, sizeof(*run->ptr_checks));
	for (size_t i = 0; i < h->n_addrs; i++) {
		struct mailctl_dns_ptr_ctx *ctx = xcalloc(1, sizeof(*ctx));
		const struct sockaddr *sa = (const struct sockaddr *)&h->addrs[i];
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ctx->addr,
				  sizeof(ctx->addr));
		else
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
				  ctx->addr, sizeof(ctx->addr));
		ctx->run = run;
		ctx->check = &run->ptr_checks[run->n_ptr++];
		run->pending++;
		if (dns_lookup_ptr(run->dns, sa, mailctl_dns_ptr_cb, ctx) < 0) {
			ctx->check->verdict = xasprintf("MISSING  %-12s %s PTR (cannot query)",
							"PTR", ctx->addr);
			ctx->check->bad = true;
			run->pending--;
			free(ctx);
		}
	}
	mailctl_dns_done(run);
}

/* Queries every record; prints one verdict line each. Returns the number of bad ones, or -1
 * when the resolver cannot be set up. */
static int mailctl_dns_check(const struct config *cfg, const struct dns_records *recs)
{
	uv_loop_t loop;
	char err[256];
	uv_loop_init(&loop);
	struct mailctl_dns_run run = { .cfg = cfg };
	run.dns = dns_new(&loop, &cfg->dns_servers, err, sizeof(err));
	if (!run.dns) {
		fprintf(stderr, "mailctl: %s\n", err);
		uv_loop_close(&loop);
		return -1;
	}
	run.checks = xcalloc(recs->n ? recs->n : 1, sizeof(*run.checks));
	run.pending = 1; /* the guard */
	for (size_t i = 0; i < recs->n; i++) {
		struct mailctl_dns_ctx *ctx = xcalloc(1, sizeof(*ctx));
		ctx->run = &run;
		ctx->check = &run.checks[i];
		run.checks[i].rec = &recs->items[i];
		run.pending++;
		if (dns_lookup_raw(run.dns, recs->items[i].name, recs->items[i].type,
				   mailctl_dns_record_done, ctx) < 0) {
			run.pending--;
			free(ctx);
		}
	}
	run.pending++;
	if (dns_lookup_host(run.dns, cfg->hostname, mailctl_dns_host_cb, &run) < 0)
		run.pending--;
	mailctl_dns_done(&run);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);

	int bad = 0;
	if (run.host_check.verdict) {
		printf("%s\n", run.host_check.verdict);
		bad += run.host_check.bad;
		free(run.host_check.verdict);
	}
	for (size_t i = 0; i < run.n_ptr; i++) {
		printf("%s\n", run.ptr_checks[i].verdict ? run.ptr_checks[i].verdict : "?");
		bad += run.ptr_checks[i].bad;
		free(run.ptr_checks[i].verdict);
	}
	for (size_t i = 0; i < recs->n; i++) {
		struct mailctl_dns_check *c = &run.checks[i];
		printf("%s\n", c->verdict ? c->verdict : "?");
		bad += c->bad || !c->verdict;
		free(c->verdict);
	}
	free(run.ptr_checks);
	free(run.checks);
	return bad;
}

int mailctl_dns(const struct config *cfg, int argc, char **argv)
{
	bool check = argc >= 1 && strcmp(argv[0], "--check") == 0;
	const char *domain = argc == 1 + check ? argv[check] : NULL;
	if (!domain || domain[0] == '-') {
		fprintf(stderr, "usage: mailctl dns [--check] DOMAIN\n");
		return 64;
	}
	char *d = xstrdup(domain);
	size_t dl = strlen(d);
	if (dl > 1 && d[dl - 1] == '.')
		d[dl - 1] = '\0';
	str_lower(d);
	if (!config_is_local_domain(cfg, d)) {
		char *p = mailctl_dns_printable(d);
		fprintf(stderr, "mailctl: %s is not one of the local domains (domains =", p);
		for (size_t i = 0; i < cfg->domains.n; i++)
			fprintf(stderr, " %s", cfg->domains.items[i]);
		fprintf(stderr, ")\n");
		free(p);
		free(d);
		return MAILCTL_DNS_UNKNOWN_DOMAIN;
	}
	struct dns_records_inputs in;
	struct dns_records recs;
	dns_records_load_inputs(cfg, d, &in);
	dns_records_build(cfg, d, &in, &recs);
	int ret = 0;
	if (check) {
		int bad = mailctl_dns_check(cfg, &recs);
		if (bad < 0)
			ret = 69;
		else if (bad > 0) {
			printf("-- %d record%s missing or wrong (mailctl dns %s prints them)\n",
			       bad, bad == 1 ? "" : "s", d);
			ret = 1;
		} else {
			printf("-- all %zu records of %s are published\n", recs.n, d);
		}
	} else {
		struct buf b;
		buf_init(&b);
		buf_printf(
			&b,
			"; DNS records of %s, served by %s (check them: mailctl dns --check %s)\n",
			d, cfg->hostname, d);
		for (size_t i = 0; i < recs.n; i++)
			dns_record_format(&recs.items[i], &b);
		buf_append_str(&b, recs.comments);
		fwrite(b.data, 1, b.len, stdout);
		buf_free(&b);
	}
	dns_records_free(&recs);
	dns_records_inputs_free(&in);
	free(d);
	return ret;
}
