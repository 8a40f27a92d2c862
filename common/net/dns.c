/* dns.c - c-ares driven by libuv (one uv_poll per resolver socket, one timer): MX then A+AAAA, PTR then A+AAAA. */
#include "dns.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/*
 * Life of a request: it sits on d->active while c-ares queries run for it (req->pending
 * counts them, plus a guard while queries are being started, because c-ares may call back
 * from inside ares_query). When the count drops to zero its result is computed and it moves
 * to d->done; an idle handle reports done requests to their callbacks on the next loop
 * iteration. So no callback ever runs inside dns_lookup_*, and no user code ever runs inside
 * c-ares, which makes dns_free safe from a user callback.
 */

enum dns_kind { DNS_KIND_MX, DNS_KIND_HOST, DNS_KIND_PTR, DNS_KIND_RAW };

/* Outcome of one A or AAAA query. */
enum dns_addr_state {
	DNS_ADDR_PENDING,  /* not answered (yet) */
	DNS_ADDR_OK,       /* at least one address */
	DNS_ADDR_NODATA,   /* the name exists without addresses of this family */
	DNS_ADDR_NXDOMAIN, /* no such name (or an invalid one) */
	DNS_ADDR_TEMP,     /* timeout, SERVFAIL, REFUSED, bad answer */
};

/* Raw addresses of one host, per family, before they are interleaved into its dns_host. */
struct dns_addrs {
	struct in_addr v4[DNS_MAX_ADDRS];
	size_t n4;
	struct in6_addr v6[DNS_MAX_ADDRS];
	size_t n6;
	enum dns_addr_state s4, s6;
	const char *e4, *e6; /* ares_strerror() text (static) when not OK */
};

struct dns_req {
	struct dns *dns;
	enum dns_kind kind;
	char name[MX_NAME_MAX + 1];
	dns_mx_cb cb; /* dns_host_cb has the same type */
	void *arg;
	unsigned pending; /* outstanding c-ares queries, plus a guard while starting them */
	bool decided;     /* status and error are final (no address computation needed) */
	enum dns_status status;
	char error[768];
	bool implicit_mx;
	struct dns_host *hosts;
	struct dns_addrs *addrs; /* parallel to hosts */
	size_t n_hosts;
	struct dns_req *prev, *next; /* on d->active, or (next only) on d->done */
	/* DNS_KIND_PTR */
	dns_ptr_cb ptr_cb;
	struct sockaddr_storage ptr_addr; /* normalized: IPv4-mapped IPv6 as AF_INET */
	char ptr_name[MX_NAME_MAX + 1];
	bool confirmed;
	/* DNS_KIND_RAW */
	dns_raw_cb raw_cb;
	int raw_type;
	unsigned char *raw_answer;
	size_t raw_len;
};

/* The argument of one c-ares query. */
struct dns_query {
	struct dns_req *req;
	size_t host; /* index into req->hosts (address queries) */
	int family;  /* AF_INET or AF_INET6 (address queries) */
};

struct dns_poll {
	uv_poll_t handle;
	struct dns *dns;
	ares_socket_t fd;
	struct dns_poll *next;
};

struct dns {
	uv_loop_t *loop;
	ares_channel channel;
	uv_timer_t timer; /* c-ares timeouts, re-armed from ares_timeout after every event */
	uv_idle_t idle;   /* reports finished requests */
	struct dns_poll *polls;
	struct dns_req *active;
	struct dns_req *done, *done_tail;
	mx_random_fn random;
	void *random_arg;
	uint64_t prng;
	int handles; /* uv handles not yet closed; d is freed when it reaches 0 */
	bool closing;
};

static void dns_req_put(struct dns_req *req);
static void dns_timer_update(struct dns *d);

const char *dns_status_str(enum dns_status status)
{
	switch (status) {
	case DNS_OK:
		return "ok";
	case DNS_NULL_MX:
		return "null MX";
	case DNS_NXDOMAIN:
		return "no such domain";
	case DNS_NOHOST:
		return "no address";
	case DNS_TEMPFAIL:
		return "temporary failure";
	case DNS_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

/* xorshift64*: good enough to spread load over equal-preference exchangers. */
static uint32_t dns_prng(void *arg)
{
	struct dns *d = arg;
	d->prng ^= d->prng >> 12;
	d->prng ^= d->prng << 25;
	d->prng ^= d->prng >> 27;
	return (uint32_t)((d->prng * 0x2545F4914F6CDD1DULL) >> 32);
}

static void dns_prng_seed(struct dns *d)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
	}
	d->prng = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

/* ---- libuv glue ---- */

static void dns_handle_closed(uv_handle_t *h)
{
	struct dns *d = h->data;
	if (h->type == UV_POLL)
		free(container_of((uv_poll_t *)h, struct dns_poll, handle));
	if (--d->handles == 0) {
		free(d);
		ares_library_cleanup();
	}
}

static void dns_poll_cb(uv_poll_t *h, int status, int events)
{
	struct dns_poll *p = container_of(h, struct dns_poll, handle);
	struct dns *d = p->dns;
	ares_socket_t r = ARES_SOCKET_BAD, w = ARES_SOCKET_BAD;

	if (status < 0) {
		/* Let c-ares find the error itself by reading (and writing, for TCP). */
		r = w = p->fd;
	} else {
		if (events & UV_READABLE)
			r = p->fd;
		if (events & UV_WRITABLE)
			w = p->fd;
	}
	ares_process_fd(d->channel, r, w);
	dns_timer_update(d);
}

/* c-ares opens, changes or closes a socket. A closed socket's poll handle is closed right
 * here, before c-ares closes the descriptor, so a reused descriptor number never meets a
 * stale watcher. */
static void dns_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_poll **pp = &d->polls, *p;

	while ((p = *pp) != NULL && p->fd != fd)
		pp = &p->next;
	if (!readable && !writable) {
		if (p != NULL) {
			*pp = p->next;
			uv_close((uv_handle_t *)&p->handle, dns_handle_closed);
		}
		return;
	}
	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		int irc = uv_poll_init_socket(d->loop, &p->handle, fd);
		if (irc < 0) {
			/* The query on this socket will time out through the timer. */
			log_warn("dns: cannot watch resolver socket %d: %s", fd, uv_strerror(irc));
			free(p);
			return;
		}
		p->handle.data = d;
		p->dns = d;
		p->fd = fd;
		p->next = d->polls;
		d->polls = p;
		d->handles++;
	}
	int rc = uv_poll_start(&p->handle,
			       (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
			       dns_poll_cb);
	if (rc < 0)
		log_warn("dns: cannot watch resolver socket %d: %s", fd, uv_strerror(rc));
}

static void dns_timer_cb(uv_timer_t *t)
{
	struct dns *d = t->data;
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_update(d);
}

static void dns_timer_update(struct dns *d)
{
	struct timeval tv, *t;

	if (d->closing)
		return;
	t = ares_timeout(d->channel, NULL, &tv);
	if (t == NULL) {
		uv_timer_stop(&d->timer);
		return;
	}
	/* Round up: firing before c-ares' deadline would only re-arm for the rest. */
	uint64_t ms = (uint64_t)t->tv_sec * 1000 + ((uint64_t)t->tv_usec + 999) / 1000;
	uv_timer_start(&d->timer, dns_timer_cb, ms, 0);
}

/* ---- requests ---- */

/* Copies src into dst of size bytes, truncating. */
static void dns_copy(char *dst, const char *src, size_t size)
{
	size_t len = strnlen(src, size - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void dns_req_free(struct dns_req *req)
{
	free(req->hosts);
	free(req->addrs);
	free(req->raw_answer);
	free(req);
}

static void dns_req_report(struct dns_req *req, bool cancelled)
{
	if (req->kind == DNS_KIND_RAW) {
		struct dns_raw_result rr = {
			.status = cancelled ? DNS_CANCELLED : req->status,
			.error = cancelled ? "lookup cancelled" : req->error,
			.query = req->name,
			.type = req->raw_type,
			.answer = cancelled ? NULL : req->raw_answer,
			.len = cancelled ? 0 : req->raw_len,
		};
		req->raw_cb(&rr, req->arg);
		return;
	}
	if (req->kind == DNS_KIND_PTR) {
		struct dns_ptr_result pr = {
			.status = cancelled ? DNS_CANCELLED : req->status,
			.error = cancelled ? "lookup cancelled" : req->error,
			.ptr_name = cancelled ? "" : req->ptr_name,
			.confirmed = !cancelled && req->confirmed,
		};
		req->ptr_cb(&pr, req->arg);
		return;
	}
	struct dns_result res = {
		.status = cancelled ? DNS_CANCELLED : req->status,
		.error = cancelled ? "lookup cancelled" : req->error,
		.query = req->name,
		.implicit_mx = req->implicit_mx,
		.hosts = cancelled ? NULL : req->hosts,
		.n_hosts = cancelled ? 0 : req->n_hosts,
	};
	req->cb(&res, req->arg);
}

static void dns_idle_cb(uv_idle_t *h)
{
	struct dns *d = h->data;
	/* Only what is done now: requests finished by these callbacks wait for the next turn. */
	struct dns_req *last = d->done_tail;

	while (!d->closing && d->done != NULL) {
		struct dns_req *req = d->done;
		d->done = req->next;
		if (d->done == NULL)
			d->done_tail = NULL;
		dns_req_report(req, false);
		dns_req_free(req);
		if (req == last)
			break;
	}
	if (!d->closing && d->done == NULL)
		uv_idle_stop(&d->idle);
}

static void dns_req_decide(struct dns_req *req, enum dns_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void dns_req_decide(struct dns_req *req, enum dns_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(req->error, sizeof(req->error), fmt, ap);
	va_end(ap);
	req->status = status;
	req->decided = true;
}

/* Interleaves a host's IPv6 and IPv4 addresses (IPv6 first) into its dns_host. */
static void dns_host_fill(struct dns_host *h, const struct dns_addrs *a)
{
	size_t i4 = 0, i6 = 0;

	h->n_addrs = 0;
	while (h->n_addrs < DNS_MAX_ADDRS && (i4 < a->n4 || i6 < a->n6)) {
		struct sockaddr_storage *ss = &h->addrs[h->n_addrs];
		memset(ss, 0, sizeof(*ss));
		if (i6 < a->n6 && (i6 <= i4 || i4 == a->n4)) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
			s6->sin6_family = AF_INET6;
			s6->sin6_addr = a->v6[i6++];
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
			s4->sin_family = AF_INET;
			s4->sin_addr = a->v4[i4++];
		}
		h->n_addrs++;
	}
	h->tempfail = a->s4 == DNS_ADDR_TEMP || a->s6 == DNS_ADDR_TEMP;
	h->error[0] = '\0';
	if (h->tempfail || h->n_addrs == 0)
		snprintf(h->error, sizeof(h->error), "A: %s; AAAA: %s",
			 a->s4 == DNS_ADDR_OK ? "ok"
			 : a->e4              ? a->e4
					      : "no answer",
			 a->s6 == DNS_ADDR_OK ? "ok"
			 : a->e6              ? a->e6
					      : "no answer");
}

/* All queries answered: fill the hosts and derive the status. */
static void dns_req_compute(struct dns_req *req)
{
	bool any_addr = false, any_temp = false;
	const struct dns_host *first_err = NULL;

	if (req->kind == DNS_KIND_PTR) {
		struct dns_host *h = &req->hosts[0];
		dns_host_fill(h, &req->addrs[0]);
		req->status = DNS_OK;
		req->confirmed = dns_host_has_addr(h, (const struct sockaddr *)&req->ptr_addr);
		if (req->confirmed)
			req->error[0] = '\0';
		else
			snprintf(req->error, sizeof(req->error), "%s does not resolve back (%s)",
				 h->name, h->n_addrs ? "other addresses" : h->error);
		return;
	}
	for (size_t i = 0; i < req->n_hosts; i++) {
		struct dns_host *h = &req->hosts[i];
		dns_host_fill(h, &req->addrs[i]);
		if (h->n_addrs > 0)
			any_addr = true;
		if (h->tempfail)
			any_temp = true;
		if (h->n_addrs == 0 && first_err == NULL)
			first_err = h;
	}
	if (any_addr) {
		req->status = DNS_OK;
		req->error[0] = '\0';
		return;
	}
	req->status = any_temp ? DNS_TEMPFAIL : DNS_NOHOST;
	if (req->kind == DNS_KIND_HOST)
		snprintf(req->error, sizeof(req->error), "%s: no address (%s)", req->name,
			 first_err ? first_err->error : "no host");
	else
		snprintf(req->error, sizeof(req->error),
			 "no mail exchanger of %s has an address (%s: %s)", req->name,
			 first_err ? first_err->name : "", first_err ? first_err->error : "");
}

/* The request's queries are all over: queue it for reporting. */
static void dns_req_finish(struct dns_req *req)
{
	struct dns *d = req->dns;

	if (!req->decided)
		dns_req_compute(req);
	if (req->prev)
		req->prev->next = req->next;
	else
		d->active = req->next;
	if (req->next)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
	if (d->done_tail)
		d->done_tail->next = req;
	else
		d->done = req;
	d->done_tail = req;
	uv_idle_start(&d->idle, dns_idle_cb);
}

static void dns_req_put(struct dns_req *req)
{
	if (--req->pending == 0 && !req->dns->closing)
		dns_req_finish(req);
}

static struct dns_req *dns_req_new(struct dns *d, enum dns_kind kind, const char *name,
				   dns_mx_cb cb, void *arg)
{
	struct dns_req *req = xcalloc(1, sizeof(*req));
	req->dns = d;
	req->kind = kind;
	req->cb = cb;
	req->arg = arg;
	req->pending = 1; /* the guard, dropped by dns_req_put at the end of the start */
	dns_copy(req->name, name, sizeof(req->name));
	req->next = d->active;
	if (d->active)
		d->active->prev = req;
	d->active = req;
	return req;
}

static void dns_req_set_hosts(struct dns_req *req, size_t n)
{
	req->n_hosts = n;
	req->hosts = xcalloc(n ? n : 1, sizeof(*req->hosts));
	req->addrs = xcalloc(n ? n : 1, sizeof(*req->addrs));
}

/* ---- address queries ---- */

static enum dns_addr_state dns_addr_parse(struct dns_addrs *a, int family,
					  const unsigned char *abuf, int alen, const char **err)
{
	int rc, n = DNS_MAX_ADDRS;

	if (family == AF_INET) {
		struct ares_addrttl ttl[DNS_MAX_ADDRS];
		rc = ares_parse_a_reply(abuf, alen, NULL, ttl, &n);
		if (rc == ARES_SUCCESS)
			for (int i = 0; i < n && a->n4 < DNS_MAX_ADDRS; i++)
				a->v4[a->n4++] = ttl[i].ipaddr;
	} else {
		struct ares_addr6ttl ttl[DNS_MAX_ADDRS];
		rc = ares_parse_aaaa_reply(abuf, alen, NULL, ttl, &n);
		if (rc == ARES_SUCCESS)
			for (int i = 0; i < n && a->n6 < DNS_MAX_ADDRS; i++)
				memcpy(&a->v6[a->n6++], &ttl[i].ip6addr, sizeof(struct in6_addr));
	}
	if (rc == ARES_SUCCESS && n > 0)
		return DNS_ADDR_OK;
	if (rc == ARES_SUCCESS || rc == ARES_ENODATA) {
		*err = ares_strerror(ARES_ENODATA);
		return DNS_ADDR_NODATA;
	}
	*err = ares_strerror(rc);
	return DNS_ADDR_TEMP;
}

/* The result label of a lookup for the metrics. */
static const char *dns_result_name(int status)
{
	return status == ARES_SUCCESS     ? "answer"
	       : status == ARES_ENODATA   ? "nodata"
	       : status == ARES_ENOTFOUND ? "nxdomain"
					  : "error";
}

static void dns_addr_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct dns_req *req = q->req;
	int family = q->family;
	size_t i = q->host;

	free(q);
	metric_inc(MET_DNS_LOOKUPS, family == AF_INET ? "A" : "AAAA", dns_result_name(status));
	if (req->dns->closing) {
		req->pending--;
		return;
	}
	struct dns_addrs *a = &req->addrs[i];
	enum dns_addr_state st;
	const char *err = NULL;
	switch (status) {
	case ARES_SUCCESS:
		st = dns_addr_parse(a, family, abuf, alen, &err);
		break;
	case ARES_ENODATA:
		st = DNS_ADDR_NODATA;
		break;
	case ARES_ENOTFOUND:
	case ARES_EBADNAME:
		st = DNS_ADDR_NXDOMAIN;
		break;
	default:
		st = DNS_ADDR_TEMP;
		break;
	}
	if (err == NULL)
		err = ares_strerror(status);
	if (family == AF_INET) {
		a->s4 = st;
		a->e4 = err;
	} else {
		a->s6 = st;
		a->e6 = err;
	}
	dns_req_put(req);
}

static void dns_addr_query(struct dns_req *req, size_t i, int family)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));
	q->req = req;
	q->host = i;
	q->family = family;
	req->pending++;
	ares_query(req->dns->channel, req->hosts[i].name, ns_c_in,
		   family == AF_INET ? ns_t_a : ns_t_aaaa, dns_addr_answer, q);
}

/* Starts A and AAAA for every host (the caller holds a guard reference). */
static void dns_addr_start(struct dns_req *req)
{
	for (size_t i = 0; i < req->n_hosts; i++) {
		const char *why;
		if (mx_check_name(req->hosts[i].name, &why) < 0) {
			req->addrs[i].s4 = req->addrs[i].s6 = DNS_ADDR_NXDOMAIN;
			req->addrs[i].e4 = req->addrs[i].e6 = why;
			continue;
		}
		dns_addr_query(req, i, AF_INET6);
		dns_addr_query(req, i, AF_INET);
	}
}

/* ---- MX ---- */

static void dns_mx_list(struct dns_req *req, struct ares_mx_reply *mx)
{
	struct dns *d = req->dns;
	size_t n = 0;

	for (struct ares_mx_reply *m = mx; m != NULL; m = m->next)
		n++;
	struct mx_entry *e = xcalloc(n ? n : 1, sizeof(*e));
	n = 0;
	for (struct ares_mx_reply *m = mx; m != NULL; m = m->next) {
		e[n].name = m->host;
		e[n].preference = m->priority;
		n++;
	}
	if (n == 0) {
		req->implicit_mx = true;
	} else if (mx_is_null(e, n)) {
		dns_req_decide(req, DNS_NULL_MX, "%s does not accept mail (null MX, RFC 7505)",
			       req->name);
	} else {
		size_t k = mx_select(e, n, DNS_MAX_MX, d->random, d->random_arg);
		dns_req_set_hosts(req, k);
		for (size_t i = 0; i < k; i++) {
			dns_copy(req->hosts[i].name, e[i].name, sizeof(req->hosts[i].name));
			req->hosts[i].preference = e[i].preference;
		}
	}
	free(e);
}

static void dns_mx_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct dns_req *req = q->req;

	free(q);
	metric_inc(MET_DNS_LOOKUPS, "MX", dns_result_name(status));
	if (req->dns->closing) {
		req->pending--;
		return;
	}
	/* This query's reference guards the request while the address queries start. */
	if (status == ARES_SUCCESS) {
		struct ares_mx_reply *mx = NULL;
		int rc = ares_parse_mx_reply(abuf, alen, &mx);
		if (rc == ARES_SUCCESS)
			dns_mx_list(req, mx);
		else if (rc == ARES_ENODATA)
			req->implicit_mx = true; /* e.g. only a CNAME without MX */
		else
			dns_req_decide(req, DNS_TEMPFAIL, "MX lookup for %s: bad answer: %s",
				       req->name, ares_strerror(rc));
		if (mx)
			ares_free_data(mx);
	} else if (status == ARES_ENODATA) {
		req->implicit_mx = true;
	} else if (status == ARES_ENOTFOUND) {
		dns_req_decide(req, DNS_NXDOMAIN, "domain %s not found", req->name);
	} else if (status == ARES_EBADNAME) {
		dns_req_decide(req, DNS_NXDOMAIN, "invalid domain name %s", req->name);
	} else {
		dns_req_decide(req, DNS_TEMPFAIL, "MX lookup for %s: %s", req->name,
			       ares_strerror(status));
	}
	if (req->implicit_mx) {
		dns_req_set_hosts(req, 1);
		dns_copy(req->hosts[0].name, req->name, sizeof(req->hosts[0].name));
	}
	if (!req->decided)
		dns_addr_start(req);
	dns_req_put(req);
}

/* ---- literals ---- */

/* Parses "1.2.3.4", "2001:db8::1", "[...]" and "[IPv6:...]" into ss. Returns 0 or -1. */
static int dns_parse_literal(const char *s, struct sockaddr_storage *ss)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	size_t len = strlen(s);

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
		if (len > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
			s += 5;
			len -= 5;
		}
	}
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, tmp, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* Resolves a literal (or rejects a bad one) without DNS; reported on the next iteration. */
static void dns_req_literal(struct dns_req *req, const char *s, enum dns_status bad)
{
	struct sockaddr_storage ss;

	if (dns_parse_literal(s, &ss) < 0) {
		dns_req_decide(req, bad, "invalid address literal %s", req->name);
		return;
	}
	dns_req_set_hosts(req, 1);
	dns_copy(req->hosts[0].name, s, sizeof(req->hosts[0].name));
	req->hosts[0].addrs[0] = ss;
	req->hosts[0].n_addrs = 1;
	dns_req_decide(req, DNS_OK, "%s", "");
}

/* Copies name without one trailing dot; names too long for the buffer are left for
 * mx_check_name to reject. */
static void dns_trim_name(const char *name, char *out, size_t outlen)
{
	size_t len = strlen(name);
	if (len > 1 && name[len - 1] == '.')
		len--;
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, name, len);
	out[len] = '\0';
}

int dns_lookup_mx(struct dns *d, const char *domain, dns_mx_cb cb, void *arg)
{
	char name[MX_NAME_MAX + 2];
	const char *why;

	if (d == NULL || d->closing || domain == NULL || cb == NULL)
		return -1;
	dns_trim_name(domain, name, sizeof(name));
	struct dns_req *req = dns_req_new(d, DNS_KIND_MX, name, cb, arg);
	if (domain[0] == '[') {
		dns_req_literal(req, domain, DNS_NXDOMAIN);
	} else if (mx_check_name(domain, &why) < 0) {
		dns_req_decide(req, DNS_NXDOMAIN, "invalid domain name: %s", why);
	} else {
		struct dns_query *q = xcalloc(1, sizeof(*q));
		q->req = req;
		req->pending++;
		ares_query(d->channel, req->name, ns_c_in, ns_t_mx, dns_mx_answer, q);
	}
	dns_req_put(req);
	dns_timer_update(d);
	return 0;
}

int dns_lookup_host(struct dns *d, const char *name, dns_host_cb cb, void *arg)
{
	char trimmed[MX_NAME_MAX + 2];
	struct sockaddr_storage ss;
	const char *why;

	if (d == NULL || d->closing || name == NULL || cb == NULL)
		return -1;
	dns_trim_name(name, trimmed, sizeof(trimmed));
	struct dns_req *req = dns_req_new(d, DNS_KIND_HOST, trimmed, cb, arg);
	if (name[0] == '[' || dns_parse_literal(name, &ss) == 0) {
		dns_req_literal(req, name, DNS_NOHOST);
	} else if (mx_check_name(name, &why) < 0) {
		dns_req_decide(req, DNS_NOHOST, "invalid host name: %s", why);
	} else {
		dns_req_set_hosts(req, 1);
		dns_copy(req->hosts[0].name, req->name, sizeof(req->hosts[0].name));
		dns_addr_start(req);
	}
	dns_req_put(req);
	dns_timer_update(d);
	return 0;
}

/* ---- PTR ---- */

/* Copies addr into out with an IPv4-mapped IPv6 address turned into AF_INET. Returns -1 for
 * another family. */
static int dns_addr_norm(const struct sockaddr *addr, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (addr->sa_family == AF_INET) {
		memcpy(out, addr, sizeof(struct sockaddr_in));
		return 0;
	}
	if (addr->sa_family != AF_INET6)
		return -1;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)addr;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)out;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		return 0;
	}
	memcpy(out, addr, sizeof(struct sockaddr_in6));
	return 0;
}

int dns_reverse_name(const struct sockaddr *addr, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	struct sockaddr_storage ss;

	if (addr == NULL || dns_addr_norm(addr, &ss) < 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		const unsigned char *b =
			(const unsigned char *)&((struct sockaddr_in *)&ss)->sin_addr;
		int n = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	const unsigned char *b = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
	if (outlen < 16 * 4 + sizeof("ip6.arpa"))
		return -1;
	char *p = out;
	for (int i = 15; i >= 0; i--) {
		*p++ = hex[b[i] & 0xf];
		*p++ = '.';
		*p++ = hex[b[i] >> 4];
		*p++ = '.';
	}
	memcpy(p, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}

bool dns_host_has_addr(const struct dns_host *h, const struct sockaddr *addr)
{
	struct sockaddr_storage want, have;

	if (h == NULL || addr == NULL || dns_addr_norm(addr, &want) < 0)
		return false;
	for (size_t i = 0; i < h->n_addrs; i++) {
		if (dns_addr_norm((const struct sockaddr *)&h->addrs[i], &have) < 0 ||
		    have.ss_family != want.ss_family)
			continue;
		if (want.ss_family == AF_INET &&
		    memcmp(&((struct sockaddr_in *)&have)->sin_addr,
			   &((struct sockaddr_in *)&want)->sin_addr, sizeof(struct in_addr)) == 0)
			return true;
		if (want.ss_family == AF_INET6 && memcmp(&((struct sockaddr_in6 *)&have)->sin6_addr,
							 &((struct sockaddr_in6 *)&want)->sin6_addr,
							 sizeof(struct in6_addr)) == 0)
			return true;
	}
	return false;
}

static void dns_ptr_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct dns_req *req = q->req;

	free(q);
	metric_inc(MET_DNS_LOOKUPS, "PTR", dns_result_name(status));
	if (req->dns->closing) {
		req->pending--;
		return;
	}
	/* This query's reference guards the request while the address queries start. */
	if (status == ARES_SUCCESS) {
		struct hostent *he = NULL;
		const struct sockaddr_storage *ss = &req->ptr_addr;
		const void *a =
			ss->ss_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		int alen2 = ss->ss_family == AF_INET ? 4 : 16;
		int rc = ares_parse_ptr_reply(abuf, alen, a, alen2, ss->ss_family, &he);
		const char *why = NULL;
		if (rc == ARES_SUCCESS && he != NULL && he->h_name != NULL) {
			char name[MX_NAME_MAX + 2];
			dns_trim_name(he->h_name, name, sizeof(name));
			if (strlen(he->h_name) > MX_NAME_MAX + 1 || mx_check_name(name, &why) < 0) {
				dns_req_decide(req, DNS_NOHOST, "invalid PTR name for %s: %s",
					       req->name, why ? why : "too long");
			} else {
				dns_copy(req->ptr_name, name, sizeof(req->ptr_name));
				dns_req_set_hosts(req, 1);
				dns_copy(req->hosts[0].name, name, sizeof(req->hosts[0].name));
				dns_addr_start(req);
			}
		} else if (rc == ARES_SUCCESS || rc == ARES_ENODATA) {
			dns_req_decide(req, DNS_NOHOST, "%s: no PTR record", req->name);
		} else {
			dns_req_decide(req, DNS_TEMPFAIL, "PTR lookup for %s: bad answer: %s",
				       req->name, ares_strerror(rc));
		}
		if (he)
			ares_free_hostent(he);
	} else if (status == ARES_ENODATA || status == ARES_ENOTFOUND) {
		dns_req_decide(req, DNS_NOHOST, "%s: no PTR record", req->name);
	} else {
		dns_req_decide(req, DNS_TEMPFAIL, "PTR lookup for %s: %s", req->name,
			       ares_strerror(status));
	}
	dns_req_put(req);
}

int dns_lookup_ptr(struct dns *d, const struct sockaddr *addr, dns_ptr_cb cb, void *arg)
{
	char rev[80];
	struct sockaddr_storage ss;

	if (d == NULL || d->closing || addr == NULL || cb == NULL || dns_addr_norm(addr, &ss) < 0 ||
	    dns_reverse_name(addr, rev, sizeof(rev)) < 0)
		return -1;
	struct dns_req *req = dns_req_new(d, DNS_KIND_PTR, rev, NULL, arg);
	req->ptr_cb = cb;
	req->ptr_addr = ss;
	struct dns_query *q = xcalloc(1, sizeof(*q));
	q->req = req;
	req->pending++;
	ares_query(d->channel, req->name, ns_c_in, ns_t_ptr, dns_ptr_answer, q);
	dns_req_put(req);
	dns_timer_update(d);
	return 0;
}

/* ---- any record type ---- */

static void dns_raw_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct dns_req *req = q->req;

	free(q);
	if (req->dns->closing) {
		req->pending--;
		return;
	}
	switch (status) {
	case ARES_SUCCESS:
		req->raw_answer = xmalloc(alen > 0 ? (size_t)alen : 1);
		memcpy(req->raw_answer, abuf, alen > 0 ? (size_t)alen : 0);
		req->raw_len = alen > 0 ? (size_t)alen : 0;
		dns_req_decide(req, DNS_OK, "%s", "");
		break;
	case ARES_ENODATA:
		dns_req_decide(req, DNS_NOHOST, "%s: no record of this type", req->name);
		break;
	case ARES_ENOTFOUND:
	case ARES_EBADNAME:
		dns_req_decide(req, DNS_NXDOMAIN, "%s: no such name", req->name);
		break;
	default:
		dns_req_decide(req, DNS_TEMPFAIL, "%s: %s", req->name, ares_strerror(status));
		break;
	}
	dns_req_put(req);
}

int dns_lookup_raw(struct dns *d, const char *name, int type, dns_raw_cb cb, void *arg)
{
	char trimmed[MX_NAME_MAX + 2];

	if (d == NULL || d->closing || name == NULL || cb == NULL)
		return -1;
	dns_trim_name(name, trimmed, sizeof(trimmed));
	struct dns_req *req = dns_req_new(d, DNS_KIND_RAW, trimmed, NULL, arg);
	req->raw_cb = cb;
	req->raw_type = type;
	struct dns_query *q = xcalloc(1, sizeof(*q));
	q->req = req;
	req->pending++;
	ares_query(d->channel, req->name, ns_c_in, type, dns_raw_answer, q);
	dns_req_put(req);
	dns_timer_update(d);
	return 0;
}

/* ---- setup and teardown ---- */

static int dns_set_servers(struct dns *d, const struct config_hostport_list *servers, char *err,
			   size_t errlen)
{
	struct ares_addr_port_node *nodes = xcalloc(servers->n, sizeof(*nodes));
	int rc;

	for (size_t i = 0; i < servers->n; i++) {
		const struct config_hostport *hp = &servers->items[i];
		struct ares_addr_port_node *n = &nodes[i];
		if (inet_pton(AF_INET, hp->host, &n->addr.addr4) == 1) {
			n->family = AF_INET;
		} else if (inet_pton(AF_INET6, hp->host, &n->addr.addr6) == 1) {
			n->family = AF_INET6;
		} else {
			snprintf(err, errlen, "dns_servers: %s is not an IP address", hp->host);
			free(nodes);
			return -1;
		}
		n->udp_port = n->tcp_port = hp->port ? hp->port : 53;
		n->next = i + 1 < servers->n ? &nodes[i + 1] : NULL;
	}
	rc = ares_set_servers_ports(d->channel, nodes);
	free(nodes);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "dns_servers: %s", ares_strerror(rc));
		return -1;
	}
	return 0;
}

struct dns *dns_new(uv_loop_t *loop, const struct config_hostport_list *servers, char *err,
		    size_t errlen)
{
	return dns_new_opts(loop, servers, NULL, err, errlen);
}

struct dns *dns_new_opts(uv_loop_t *loop, const struct config_hostport_list *servers,
			 const struct dns_options *opts, char *err, size_t errlen)
{
	struct ares_options ao;
	int mask = ARES_OPT_SOCK_STATE_CB, rc;

	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		return NULL;
	}
	struct dns *d = xcalloc(1, sizeof(*d));
	d->loop = loop;
	memset(&ao, 0, sizeof(ao));
	ao.sock_state_cb = dns_sock_state_cb;
	ao.sock_state_cb_data = d;
	if (opts != NULL && opts->timeout_ms > 0) {
		mask |= ARES_OPT_TIMEOUTMS;
		ao.timeout = (int)opts->timeout_ms;
	}
	if (opts != NULL && opts->tries > 0) {
		mask |= ARES_OPT_TRIES;
		ao.tries = (int)opts->tries;
	}
	rc = ares_init_options(&d->channel, &ao, mask);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		free(d);
		ares_library_cleanup();
		return NULL;
	}
	if (servers != NULL && servers->n > 0 && dns_set_servers(d, servers, err, errlen) < 0) {
		ares_destroy(d->channel);
		free(d);
		ares_library_cleanup();
		return NULL;
	}
	if (opts != NULL && opts->random != NULL) {
		d->random = opts->random;
		d->random_arg = opts->random_arg;
	} else {
		dns_prng_seed(d);
		d->random = dns_prng;
		d->random_arg = d;
	}
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	uv_idle_init(loop, &d->idle);
	d->idle.data = d;
	d->handles = 2;
	return d;
}

void dns_free(struct dns **dp)
{
	struct dns *d = dp ? *dp : NULL;
	struct dns_req *req;

	if (d == NULL)
		return;
	*dp = NULL;
	if (d->closing)
		return;
	d->closing = true;
	/* Ends every c-ares query (their callbacks only drop references now) and closes the
	 * resolver sockets, whose poll handles dns_sock_state_cb closes. */
	ares_destroy(d->channel);
	d->channel = NULL;
	while ((req = d->active) != NULL) {
		d->active = req->next;
		dns_req_report(req, true);
		dns_req_free(req);
	}
	while ((req = d->done) != NULL) {
		d->done = req->next;
		dns_req_report(req, true);
		dns_req_free(req);
	}
	d->done_tail = NULL;
	while (d->polls != NULL) {
		struct dns_poll *p = d->polls;
		d->polls = p->next;
		uv_close((uv_handle_t *)&p->handle, dns_handle_closed);
	}
	uv_close((uv_handle_t *)&d->timer, dns_handle_closed);
	uv_close((uv_handle_t *)&d->idle, dns_handle_closed);
}
