/* client_names.c - inbound clients' names (PTR, forward-confirmed) by address: one lookup per address at a time, answers kept for a while. */
#include "client_names.h"
#include "xalloc.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A caller waiting for a running lookup. */
struct client_names_waiter {
	dns_ptr_cb cb;
	void *arg;
	struct client_names_waiter *next;
};

/* One address: a running lookup (waiters) or a kept answer (until expires_ms). */
struct client_names_entry {
	struct client_names *cn;
	unsigned char key[17]; /* family (4 or 6), then 4 or 16 address bytes */
	bool pending;
	bool in_table; /* false: a lookup whose slot was busy, freed after its answer */
	uint64_t expires_ms;
	enum dns_status status;
	bool confirmed;
	char ptr_name[MX_NAME_MAX + 1];
	char error[200];
	struct client_names_waiter *waiters, *waiters_tail;
	struct client_names_entry *next_stray;
};

struct client_names {
	uv_loop_t *loop;
	struct dns *dns;
	struct client_names_entry *slots[CLIENT_NAMES_SLOTS];
	struct client_names_entry *stray; /* running lookups outside the table */
	uint64_t lookups;
	struct dns_ptr_result hit;
};

struct client_names *client_names_new(uv_loop_t *loop, struct dns *dns)
{
	struct client_names *cn = xcalloc(1, sizeof(*cn));
	cn->loop = loop;
	cn->dns = dns;
	return cn;
}

void client_names_free(struct client_names **cnp)
{
	struct client_names *cn = *cnp;
	if (!cn)
		return;
	for (size_t i = 0; i < CLIENT_NAMES_SLOTS; i++) {
		struct client_names_entry *e = cn->slots[i];
		if (!e)
			continue;
		if (e->pending) /* the resolver still owes its callback: it finds no table */
			e->cn = NULL;
		else
			free(e);
	}
	for (struct client_names_entry *e = cn->stray; e; e = e->next_stray)
		e->cn = NULL;
	free(cn);
	*cnp = NULL;
}

uint64_t client_names_lookups(const struct client_names *cn)
{
	return cn ? cn->lookups : 0;
}

/* The key of addr (IPv4-mapped IPv6 as IPv4); its length, 0 for another family. */
static size_t client_names_key(const struct sockaddr *addr, unsigned char *key)
{
	if (addr->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)addr)->sin_addr, 4);
		return 5;
	}
	if (addr->sa_family != AF_INET6)
		return 0;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		key[0] = 4;
		memcpy(key + 1, &a6->s6_addr[12], 4);
		return 5;
	}
	key[0] = 6;
	memcpy(key + 1, a6->s6_addr, 16);
	return 17;
}

static unsigned client_names_slot(const unsigned char *key, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % CLIENT_NAMES_SLOTS;
}

static void client_names_fill(const struct client_names_entry *e, struct dns_ptr_result *r)
{
	r->status = e->status;
	r->error = e->error;
	r->ptr_name = e->ptr_name;
	r->confirmed = e->confirmed;
}

static void client_names_answer(const struct dns_ptr_result *res, void *arg)
{
	struct client_names_entry *e = arg;
	struct client_names *cn = e->cn;
	e->pending = false;
	e->status = res->status;
	e->confirmed = res->confirmed;
	snprintf(e->ptr_name, sizeof(e->ptr_name), "%s", res->ptr_name ? res->ptr_name : "");
	snprintf(e->error, sizeof(e->error), "%s", res->error ? res->error : "");
	bool definite = res->status == DNS_OK || res->status == DNS_NOHOST;
	e->expires_ms = cn ? uv_now(cn->loop) +
					(definite ? CLIENT_NAMES_KEEP_MS : CLIENT_NAMES_RETRY_MS)
			   : 0;
	struct client_names_waiter *w = e->waiters;
	e->waiters = e->waiters_tail = NULL;
	struct dns_ptr_result r;
	client_names_fill(e, &r);
	/* The callbacks get the entry's copy: res may be the resolver's, freed after this. */
	bool keep = cn && e->in_table && res->status != DNS_CANCELLED;
	if (!keep && cn && e->in_table) {
		unsigned slot = client_names_slot(e->key, e->key[0] == 4 ? 5 : 17);
		if (cn->slots[slot] == e)
			cn->slots[slot] = NULL;
	} else if (cn && !e->in_table) {
		struct client_names_entry **pp = &cn->stray;
		while (*pp && *pp != e)
			pp = &(*pp)->next_stray;
		if (*pp)
			*pp = e->next_stray;
	}
	while (w) {
		struct client_names_waiter *next = w->next;
		w->cb(&r, w->arg);
		free(w);
		w = next;
	}
	if (!keep)
		free(e);
}

int client_names_lookup(struct client_names *cn, const struct sockaddr *addr,
			const struct dns_ptr_result **hit, dns_ptr_cb cb, void *arg)
{
	unsigned char key[17];
	size_t klen = addr ? client_names_key(addr, key) : 0;
	if (!cn || !cn->dns || klen == 0)
		return -1;
	uint64_t now_ms = uv_now(cn->loop);
	unsigned slot = client_names_slot(key, klen);
	struct client_names_entry *e = cn->slots[slot];
	if (e && memcmp(e->key, key, klen) == 0) {
		if (!e->pending && now_ms < e->expires_ms) {
			client_names_fill(e, &cn->hit);
			*hit = &cn->hit;
			return 1;
		}
		if (e->pending) {
			struct client_names_waiter *w = xcalloc(1, sizeof(*w));
			w->cb = cb;
			w->arg = arg;
			e->waiters_tail->next = w;
			e->waiters_tail = w;
			return 0;
		}
	}
	/* Ask the resolver: into the slot unless another address's lookup runs there. */
	bool in_table = !e || !e->pending;
	struct client_names_entry *n = xcalloc(1, sizeof(*n));
	n->cn = cn;
	memcpy(n->key, key, klen);
	n->pending = true;
	n->in_table = in_table;
	struct client_names_waiter *w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	n->waiters = n->waiters_tail = w;
	if (in_table) {
		free(e); /* an expired answer (or none) */
		cn->slots[slot] = n;
	}
	cn->lookups++;
	if (!in_table) { /* before the call: its callback may come before it returns */
		n->next_stray = cn->stray;
		cn->stray = n;
	}
	if (dns_lookup_ptr(cn->dns, addr, client_names_answer, n) < 0) {
		if (in_table)
			cn->slots[slot] = NULL;
		else
			cn->stray = n->next_stray;
		free(w);
		free(n);
		return -1;
	}
	return 0;
}
