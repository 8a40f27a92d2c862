/* dnssec.c - validating DNS lookups with libunbound, its answers delivered on the libuv loop (uv_poll on ub_fd). */
#include "dnssec.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

struct dnssec_query {
	struct dnssec *d;
	int id;
	dnssec_cb cb;
	void *arg;
	struct dnssec_query *prev, *next;
};

struct dnssec {
	struct ub_ctx *ub;
	uv_poll_t *poll;
	struct dnssec_query *pending;
};

const char *dnssec_status_name(enum dnssec_status s)
{
	switch (s) {
	case DNSSEC_SECURE:
		return "secure";
	case DNSSEC_INSECURE:
		return "insecure";
	case DNSSEC_BOGUS:
		return "bogus";
	case DNSSEC_FAIL:
		return "failed";
	case DNSSEC_CANCELLED:
		break;
	}
	return "cancelled";
}

int dnssec_wire_name(const unsigned char *data, size_t len, size_t off, char *out, size_t outlen)
{
	size_t o = 0, start = off;
	if (outlen == 0)
		return -1;
	out[0] = '\0';
	while (off < len) {
		unsigned l = data[off++];
		if (l == 0) {
			out[o] = '\0';
			return (int)(off - start);
		}
		if (l > 63 || off + l > len || o + l + 2 > outlen || o + l + 1 > 253)
			return -1;
		if (o)
			out[o++] = '.';
		for (unsigned i = 0; i < l; i++) {
			unsigned char c = data[off + i];
			/* host names only: anything else cannot be an MX we connect to */
			if (c <= ' ' || c == '.' || c == '\\' || c >= 0x7f)
				return -1;
			out[o++] = (char)c;
		}
		off += l;
	}
	return -1;
}

static void dnssec_unlink(struct dnssec *d, struct dnssec_query *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		d->pending = q->next;
	if (q->next)
		q->next->prev = q->prev;
}

static void dnssec_answered(void *mydata, int err, struct ub_result *r)
{
	struct dnssec_query *q = mydata;
	struct dnssec_answer a = { .status = DNSSEC_FAIL, .why = "" };
	char why[300] = "";
	dnssec_unlink(q->d, q);
	if (err != 0 || !r) {
		snprintf(why, sizeof(why), "resolver error: %s", ub_strerror(err));
	} else {
		a.qname = r->qname;
		a.rrtype = r->qtype;
		if (r->bogus) {
			a.status = DNSSEC_BOGUS;
			snprintf(why, sizeof(why), "%s", r->why_bogus ? r->why_bogus : "bogus");
		} else if (r->rcode != 0 && r->rcode != 3) {
			snprintf(why, sizeof(why), "rcode %d", r->rcode);
		} else {
			a.status = r->secure ? DNSSEC_SECURE : DNSSEC_INSECURE;
			a.nxdomain = r->nxdomain;
			if (r->havedata && r->data) {
				while (r->data[a.n])
					a.n++;
				a.data = (const unsigned char *const *)r->data;
				a.len = r->len;
			}
		}
	}
	a.why = why;
	q->cb(&a, q->arg);
	if (r)
		ub_resolve_free(r);
	free(q);
}

static void dnssec_on_poll(uv_poll_t *h, int status, int events)
{
	(void)events;
	struct dnssec *d = h->data;
	if (status < 0 || !d)
		return;
	if (ub_process(d->ub) != 0)
		log_warn("dnssec: ub_process failed");
}

struct dnssec *dnssec_new(uv_loop_t *loop, const struct config_hostport_list *servers,
			  const char *trust_anchor, char *err, size_t errlen)
{
	struct dnssec *d = xcalloc(1, sizeof(*d));
	int r;
	d->ub = ub_ctx_create();
	if (!d->ub) {
		snprintf(err, errlen, "dnssec: cannot create the libunbound context");
		free(d);
		return NULL;
	}
	/* a thread, not a forked process, answers in the background */
	if ((r = ub_ctx_async(d->ub, 1)) != 0 ||
	    (r = ub_ctx_set_option(d->ub, "do-not-query-localhost:", "no")) != 0)
		goto fail;
	if (servers && servers->n) {
		for (size_t i = 0; i < servers->n; i++) {
			char addr[300];
			snprintf(addr, sizeof(addr), "%s@%u", servers->items[i].host,
				 servers->items[i].port ? servers->items[i].port : 53);
			if ((r = ub_ctx_set_fwd(d->ub, addr)) != 0)
				goto fail;
		}
	} else if ((r = ub_ctx_resolvconf(d->ub, NULL)) != 0) {
		goto fail;
	}
	/* libunbound reads the file at its first query: a missing one is reported now */
	FILE *ta = trust_anchor ? fopen(trust_anchor, "r") : NULL;
	if (trust_anchor && !ta) {
		snprintf(err, errlen, "dnssec_trust_anchor %s: %s", trust_anchor, strerror(errno));
		ub_ctx_delete(d->ub);
		free(d);
		return NULL;
	}
	if (ta)
		fclose(ta);
	if (trust_anchor && (r = ub_ctx_add_ta_file(d->ub, trust_anchor)) != 0) {
		snprintf(err, errlen, "dnssec_trust_anchor %s: %s", trust_anchor, ub_strerror(r));
		ub_ctx_delete(d->ub);
		free(d);
		return NULL;
	}
	d->poll = xcalloc(1, sizeof(*d->poll));
	if ((r = uv_poll_init(loop, d->poll, ub_fd(d->ub))) != 0) {
		snprintf(err, errlen, "dnssec: %s", uv_strerror(r));
		free(d->poll);
		ub_ctx_delete(d->ub);
		free(d);
		return NULL;
	}
	d->poll->data = d;
	uv_poll_start(d->poll, UV_READABLE, dnssec_on_poll);
	return d;
fail:
	snprintf(err, errlen, "dnssec: %s", ub_strerror(r));
	ub_ctx_delete(d->ub);
	free(d);
	return NULL;
}

static void dnssec_poll_closed(uv_handle_t *h)
{
	free(h);
}

void dnssec_free(struct dnssec **dp)
{
	struct dnssec *d = dp ? *dp : NULL;
	if (!d)
		return;
	*dp = NULL;
	while (d->pending) {
		struct dnssec_query *q = d->pending;
		dnssec_unlink(d, q);
		ub_cancel(d->ub, q->id);
		struct dnssec_answer a = { .status = DNSSEC_CANCELLED, .why = "cancelled" };
		q->cb(&a, q->arg);
		free(q);
	}
	d->poll->data = NULL;
	uv_poll_stop(d->poll);
	uv_close((uv_handle_t *)d->poll, dnssec_poll_closed);
	ub_ctx_delete(d->ub);
	free(d);
}

int dnssec_query(struct dnssec *d, const char *name, int rrtype, dnssec_cb cb, void *arg)
{
	if (!d)
		return -1;
	struct dnssec_query *q = xcalloc(1, sizeof(*q));
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	q->next = d->pending;
	if (q->next)
		q->next->prev = q;
	d->pending = q;
	int r = ub_resolve_async(d->ub, name, rrtype, 1, q, dnssec_answered, &q->id);
	if (r != 0) {
		log_warn("dnssec: cannot ask for %s: %s", name, ub_strerror(r));
		dnssec_unlink(d, q);
		free(q);
		return -1;
	}
	return 0;
}
