/* dane.c - the DANE lookups of one destination (RFC 7672 2.2): validated MX, then each host's A, AAAA and TLSA at once; the TLSA RDATA parser. */
#include "dane.h"
#include "log.h"
#include "mx.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RR_A    1
#define RR_MX   15
#define RR_AAAA 28
#define RR_TLSA 52

int dane_tlsa_parse(const unsigned char *rdata, size_t len, struct tls_tlsa *out)
{
	memset(out, 0, sizeof(*out));
	if (!rdata || len < 4)
		return -1;
	out->usage = rdata[0];
	out->selector = rdata[1];
	out->mtype = rdata[2];
	out->data = rdata + 3;
	out->len = len - 3;
	size_t want = out->mtype == 1 ? 32 : out->mtype == 2 ? 64 : 0;
	if (want && out->len != want)
		return -1;
	if (out->usage != 2 && out->usage != 3)
		return 0;
	if (out->selector > 1 || want == 0)
		return 0;
	return 1;
}

struct dane_job {
	struct dnssec *dnssec;
	dane_cb cb;
	void *arg;
	char domain[MX_NAME_MAX + 1];
	struct dns_host hosts[DNS_MAX_MX];
	struct dane_host dane[DNS_MAX_MX];
	/* per host: address lookups still secure (both A and AAAA) */
	bool addr_insecure[DNS_MAX_MX];
	bool addr_failed[DNS_MAX_MX][2];
	bool tlsa_insecure[DNS_MAX_MX];
	size_t n_hosts;
	unsigned outstanding;
	bool cancelled;
};

struct dane_sub {
	struct dane_job *j;
	size_t host;
	int rrtype;
};

static void dane_report(struct dane_job *j, enum dane_status st, const char *why)
{
	struct dane_result res = { .status = st,
				   .why = why ? why : "",
				   .hosts = j->hosts,
				   .dane = j->dane,
				   .n_hosts = j->n_hosts };
	j->cb(&res, j->arg);
	free(j);
}

static void dane_finish(struct dane_job *j)
{
	if (j->cancelled) {
		dane_report(j, DANE_CANCELLED, "cancelled");
		return;
	}
	bool any = false, temp = false;
	for (size_t i = 0; i < j->n_hosts; i++) {
		struct dane_host *h = &j->dane[i];
		/* RFC 7672 2.2.2: TLSA records count only for a host whose addresses are secure */
		if (j->addr_insecure[i] && h->state != DANE_TLSA_FAILED)
			h->state = DANE_TLSA_NONE;
		if (j->hosts[i].n_addrs)
			any = true;
		if (j->addr_failed[i][0] || j->addr_failed[i][1])
			temp = true;
	}
	if (!any) {
		dane_report(j, temp ? DANE_TEMPFAIL : DANE_NOHOST,
			    temp ? "address lookups failed" : "no address for any mail exchanger");
		return;
	}
	dane_report(j, DANE_OK, "");
}

static void dane_sub_done(struct dane_job *j)
{
	if (--j->outstanding == 0)
		dane_finish(j);
}

static void dane_addr_answer(const struct dnssec_answer *a, void *arg)
{
	struct dane_sub *s = arg;
	struct dane_job *j = s->j;
	struct dns_host *h = &j->hosts[s->host];
	int k = s->rrtype == RR_A ? 0 : 1;
	if (a->status == DNSSEC_CANCELLED)
		j->cancelled = true;
	if (a->status == DNSSEC_BOGUS || a->status == DNSSEC_FAIL ||
	    a->status == DNSSEC_CANCELLED) {
		j->addr_failed[s->host][k] = true;
		snprintf(h->error, sizeof(h->error), "%s: %s (%s)", k ? "AAAA" : "A",
			 dnssec_status_name(a->status), a->why);
		h->tempfail = true;
	} else {
		if (a->status == DNSSEC_INSECURE)
			j->addr_insecure[s->host] = true;
		for (size_t i = 0; i < a->n && h->n_addrs < DNS_MAX_ADDRS; i++) {
			struct sockaddr_storage *ss = &h->addrs[h->n_addrs];
			memset(ss, 0, sizeof(*ss));
			if (k == 0 && a->len[i] == 4) {
				struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
				s4->sin_family = AF_INET;
				memcpy(&s4->sin_addr, a->data[i], 4);
				h->n_addrs++;
			} else if (k == 1 && a->len[i] == 16) {
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
				s6->sin6_family = AF_INET6;
				memcpy(&s6->sin6_addr, a->data[i], 16);
				h->n_addrs++;
			}
		}
	}
	free(s);
	dane_sub_done(j);
}

static void dane_tlsa_answer(const struct dnssec_answer *a, void *arg)
{
	struct dane_sub *s = arg;
	struct dane_job *j = s->j;
	struct dane_host *h = &j->dane[s->host];
	switch (a->status) {
	case DNSSEC_CANCELLED:
		j->cancelled = true;
		/* fall through */
	case DNSSEC_BOGUS:
	case DNSSEC_FAIL: {
		char why[sizeof(h->why)];
		snprintf(why, sizeof(why), "TLSA lookup of _25._tcp.%s %s: %s",
			 j->hosts[s->host].name, dnssec_status_name(a->status), a->why);
		h->state = DANE_TLSA_FAILED;
		memcpy(h->why, why, sizeof(why));
		break;
	}
	case DNSSEC_INSECURE:
		h->state = DANE_TLSA_NONE;
		break;
	case DNSSEC_SECURE:
		h->state = a->n ? DANE_TLSA_UNUSABLE : DANE_TLSA_NONE;
		for (size_t i = 0; i < a->n && h->n_tlsa < DANE_TLSA_MAX; i++) {
			struct tls_tlsa t;
			if (dane_tlsa_parse(a->data[i], (size_t)a->len[i], &t) != 1)
				continue;
			memcpy(h->data[h->n_tlsa], t.data, t.len);
			t.data = h->data[h->n_tlsa];
			h->tlsa[h->n_tlsa++] = t;
			h->state = DANE_TLSA_USABLE;
		}
		break;
	}
	free(s);
	dane_sub_done(j);
}

static void dane_ask(struct dane_job *j, size_t host, const char *name, int rrtype)
{
	struct dane_sub *s = xcalloc(1, sizeof(*s));
	s->j = j;
	s->host = host;
	s->rrtype = rrtype;
	j->outstanding++;
	if (dnssec_query(j->dnssec, name, rrtype,
			 rrtype == RR_TLSA ? dane_tlsa_answer : dane_addr_answer, s) < 0) {
		struct dnssec_answer a = { .status = DNSSEC_FAIL, .why = "cannot start the query" };
		(rrtype == RR_TLSA ? dane_tlsa_answer : dane_addr_answer)(&a, s);
	}
}

static uint32_t dane_random(void *arg)
{
	(void)arg;
	uint32_t x = 0;
	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
		x = (uint32_t)rand();
	return x;
}

static void dane_mx_answer(const struct dnssec_answer *a, void *arg)
{
	struct dane_job *j = arg;
	char why[400];
	switch (a->status) {
	case DNSSEC_CANCELLED:
		dane_report(j, DANE_CANCELLED, "cancelled");
		return;
	case DNSSEC_BOGUS:
		snprintf(why, sizeof(why), "MX lookup of %s is bogus: %s", j->domain, a->why);
		dane_report(j, DANE_BOGUS, why);
		return;
	case DNSSEC_FAIL:
		snprintf(why, sizeof(why), "MX lookup of %s failed: %s", j->domain, a->why);
		dane_report(j, DANE_TEMPFAIL, why);
		return;
	case DNSSEC_INSECURE:
		if (a->nxdomain)
			break;
		snprintf(why, sizeof(why), "MX records of %s are not DNSSEC-signed", j->domain);
		dane_report(j, DANE_MX_INSECURE, why);
		return;
	case DNSSEC_SECURE:
		break;
	}
	if (a->nxdomain) {
		snprintf(why, sizeof(why), "domain %s not found", j->domain);
		dane_report(j, DANE_NXDOMAIN, why);
		return;
	}
	char names[DNS_MAX_MX * 4][MX_NAME_MAX + 1];
	struct mx_entry e[DNS_MAX_MX * 4];
	size_t n = 0;
	for (size_t i = 0; i < a->n && n < DNS_MAX_MX * 4; i++) {
		if (a->len[i] < 3)
			continue;
		if (dnssec_wire_name(a->data[i], (size_t)a->len[i], 2, names[n], sizeof(names[n])) <
		    0)
			continue;
		e[n].name = names[n];
		e[n].preference = (unsigned)(a->data[i][0] << 8 | a->data[i][1]);
		n++;
	}
	if (a->n == 0) {
		e[0] = mx_implicit(j->domain);
		n = 1;
	} else if (mx_is_null(e, n)) {
		snprintf(why, sizeof(why), "domain %s accepts no mail (null MX)", j->domain);
		dane_report(j, DANE_NULL_MX, why);
		return;
	}
	n = mx_select(e, n, DNS_MAX_MX, dane_random, NULL);
	if (n == 0) {
		dane_report(j, DANE_NOHOST, "no usable MX record");
		return;
	}
	j->n_hosts = n;
	for (size_t i = 0; i < n; i++) {
		snprintf(j->hosts[i].name, sizeof(j->hosts[i].name), "%s", e[i].name);
		j->hosts[i].preference = e[i].preference;
	}
	j->outstanding = 1; /* held until every query is asked */
	for (size_t i = 0; i < n; i++) {
		char tlsa[MX_NAME_MAX + 16];
		snprintf(tlsa, sizeof(tlsa), "_25._tcp.%s", j->hosts[i].name);
		dane_ask(j, i, j->hosts[i].name, RR_AAAA);
		dane_ask(j, i, j->hosts[i].name, RR_A);
		dane_ask(j, i, tlsa, RR_TLSA);
	}
	dane_sub_done(j);
}

int dane_resolve(struct dnssec *dnssec, const char *domain, dane_cb cb, void *arg)
{
	struct dane_job *j = xcalloc(1, sizeof(*j));
	j->dnssec = dnssec;
	j->cb = cb;
	j->arg = arg;
	snprintf(j->domain, sizeof(j->domain), "%s", domain);
	if (dnssec_query(dnssec, domain, RR_MX, dane_mx_answer, j) < 0) {
		free(j);
		return -1;
	}
	return 0;
}
