/* mailbox_routes.c - the mailbox_routes table: which back end holds each address's mailbox (LMTP for mtad, IMAP for imapd's proxy). */
#include "mailbox_routes.h"

#include "fileutil.h"
#include "str.h"
#include "table_file.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct route_entry {
	char *key; /* lower-cased address or domain */
	size_t line;
	size_t target; /* index into targets */
};

#define ROUTE_HASH_SIZE 1024 /* distinct targets hashed while parsing */

struct mailbox_routes {
	struct route_entry *items; /* sorted by key */
	size_t n;
	/* Distinct targets: a map of many users names few back ends, each stored once. */
	struct mailbox_route *targets;
	size_t n_targets;
	char *path;
	struct file_stamp stamp;
	unsigned refs;
};

static int route_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct route_entry *)a)->key, ((const struct route_entry *)b)->key);
}

static void route_trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t' || **s == '\r')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
		(*len)--;
}

/* "[host]:port", "host:port" or "[v6]:port" into host and port. Returns 0, or -1 with *why. */
static int route_hostport(const char *s, size_t len, char *host, size_t hostlen, uint16_t *port,
			  const char **why)
{
	const char *h = s, *colon;
	size_t hl;
	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close) {
			*why = "missing ']'";
			return -1;
		}
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
		if (colon >= s + len || *colon != ':') {
			*why = "expected :PORT after the host";
			return -1;
		}
	} else {
		colon = NULL;
		for (size_t i = len; i > 0; i--)
			if (s[i - 1] == ':') {
				colon = s + i - 1;
				break;
			}
		if (!colon) {
			*why = "expected HOST:PORT";
			return -1;
		}
		hl = (size_t)(colon - s);
		if (memchr(s, ':', hl)) {
			*why = "an IPv6 address needs brackets: [ADDRESS]:PORT";
			return -1;
		}
	}
	if (hl == 0 || hl >= hostlen) {
		*why = hl ? "host name too long" : "empty host";
		return -1;
	}
	for (size_t i = 0; i < hl; i++) {
		unsigned char ch = (unsigned char)h[i];
		if (!(ch == '.' || ch == '-' || ch == ':' || ch == '_' ||
		      (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z'))) {
			*why = "bad character in the host";
			return -1;
		}
	}
	const char *p = colon + 1, *end = s + len;
	unsigned long v = 0;
	if (p == end) {
		*why = "missing port";
		return -1;
	}
	for (; p < end; p++) {
		if (*p < '0' || *p > '9' || (v = v * 10 + (unsigned long)(*p - '0')) > 65535) {
			*why = "bad port (use 1-65535)";
			return -1;
		}
	}
	if (v == 0) {
		*why = "bad port (use 1-65535)";
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	return 0;
}

/* One target word into route. Returns 0, or -1 with *why. */
static int route_target(const char *w, size_t wl, struct mailbox_route *route, const char **why)
{
	if (wl == 5 && strncasecmp(w, "local", 5) == 0) {
		route->kind = MAILBOX_ROUTE_LOCAL;
		return 0;
	}
	if (wl > 10 && strncasecmp(w, "lmtp:unix:", 10) == 0) {
		size_t pl = wl - 10;
		if (w[10] != '/') {
			*why = "lmtp:unix: needs an absolute path";
			return -1;
		}
		if (pl >= sizeof(route->path)) {
			*why = "socket path too long";
			return -1;
		}
		route->kind = MAILBOX_ROUTE_LMTP_UNIX;
		memcpy(route->path, w + 10, pl);
		route->path[pl] = '\0';
		return 0;
	}
	if (wl > 5 && strncasecmp(w, "lmtp:", 5) == 0) {
		if (route_hostport(w + 5, wl - 5, route->host, sizeof(route->host), &route->port,
				   why) < 0)
			return -1;
		route->kind = MAILBOX_ROUTE_LMTP_INET;
		return 0;
	}
	*why = "target must be local, lmtp:[HOST]:PORT or lmtp:unix:/PATH";
	return -1;
}

/* A key: an address local@domain or a domain, checked loosely (no blanks, one '@' at most,
 * something on each side), lower-cased. */
static char *route_key(const char *k, size_t kl, const char **why)
{
	if (kl == 0) {
		*why = "empty key";
		return NULL;
	}
	const char *at = memchr(k, '@', kl);
	if (at && (at == k || at == k + kl - 1 || memchr(at + 1, '@', (size_t)(k + kl - at - 1)))) {
		*why = "a key is local@domain or a domain";
		return NULL;
	}
	for (size_t i = 0; i < kl; i++)
		if ((unsigned char)k[i] <= ' ' || k[i] == ',' || (unsigned char)k[i] == 0x7f) {
			*why = "a key is local@domain or a domain";
			return NULL;
		}
	return str_lower(xstrndup(k, kl));
}

/* The index of route among r's distinct targets, added when new (route is zeroed beyond its
 * strings, so whole structs compare). Open addressing while the table is small, then a
 * linear probe continues into a scan: maps have few distinct back ends. */
static size_t route_intern(struct mailbox_routes *r, size_t *hash, size_t *tcap,
			   const struct mailbox_route *route)
{
	uint32_t h = 2166136261u;
	const unsigned char *b = (const unsigned char *)route;
	for (size_t i = 0; i < sizeof(*route); i++)
		h = (h ^ b[i]) * 16777619u;
	for (size_t probe = 0; probe < ROUTE_HASH_SIZE; probe++) {
		size_t *slot = &hash[(h + probe) % ROUTE_HASH_SIZE];
		if (*slot == 0) {
			if (r->n_targets == *tcap) {
				*tcap = *tcap ? *tcap * 2 : 8;
				r->targets = xrealloc(r->targets, *tcap * sizeof(*r->targets));
			}
			memcpy(&r->targets[r->n_targets], route, sizeof(*route));
			*slot = ++r->n_targets;
			return r->n_targets - 1;
		}
		if (memcmp(&r->targets[*slot - 1], route, sizeof(*route)) == 0)
			return *slot - 1;
	}
	for (size_t i = 0; i < r->n_targets; i++) /* the hash is full: many distinct targets */
		if (memcmp(&r->targets[i], route, sizeof(*route)) == 0)
			return i;
	if (r->n_targets == *tcap) {
		*tcap = *tcap ? *tcap * 2 : 8;
		r->targets = xrealloc(r->targets, *tcap * sizeof(*r->targets));
	}
	memcpy(&r->targets[r->n_targets], route, sizeof(*route));
	return r->n_targets++;
}

struct mailbox_routes *mailbox_routes_parse(const char *name, const char *text, size_t len,
					    char *err, size_t errlen)
{
	struct mailbox_routes *r = xcalloc(1, sizeof(*r));
	r->refs = 1;
	size_t cap = 0, tcap = 0, pos = 0, lineno = 0;
	size_t *hash = xcalloc(ROUTE_HASH_SIZE, sizeof(*hash)); /* target index + 1, 0: empty */
	const char *line;
	size_t ll;
	while (table_next_line(text, len, &pos, &line, &ll)) {
		lineno++;
		const char *s = line;
		size_t sl = ll;
		route_trim(&s, &sl);
		if (sl == 0 || s[0] == '#')
			continue;
		if (memchr(s, '\0', sl)) {
			snprintf(err, errlen, "%s:%zu: NUL byte in line", name, lineno);
			goto fail;
		}
		const char *colon = NULL;
		for (size_t i = 0; i < sl; i++)
			if (s[i] == ':') {
				colon = s + i;
				break;
			}
		if (!colon) {
			snprintf(err, errlen, "%s:%zu: expected \"address-or-domain: target\"",
				 name, lineno);
			goto fail;
		}
		const char *k = s, *why = "";
		size_t kl = (size_t)(colon - s);
		route_trim(&k, &kl);
		char *key = route_key(k, kl, &why);
		if (!key) {
			snprintf(err, errlen, "%s:%zu: bad key \"%.*s\": %s", name, lineno,
				 (int)(kl > 200 ? 200 : kl), k, why);
			goto fail;
		}
		struct mailbox_route route;
		memset(&route, 0, sizeof(route));
		const char *v = colon + 1, *end = s + sl;
		int words = 0;
		while (v < end) {
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			if (v == end)
				break;
			const char *w = v;
			while (v < end && *v != ' ' && *v != '\t')
				v++;
			size_t wl = (size_t)(v - w);
			int rc;
			if (words == 0)
				rc = route_target(w, wl, &route, &why);
			else if (words == 1 && wl > 5 && strncasecmp(w, "imap:", 5) == 0 &&
				 route.kind != MAILBOX_ROUTE_LOCAL)
				rc = route_hostport(w + 5, wl - 5, route.imap_host,
						    sizeof(route.imap_host), &route.imap_port,
						    &why);
			else {
				why = words == 1
					      ? "after the target only imap:[HOST]:PORT may follow"
					      : "too many words";
				rc = -1;
			}
			if (rc < 0) {
				snprintf(err, errlen, "%s:%zu: %s: %s", name, lineno, key, why);
				free(key);
				goto fail;
			}
			words++;
		}
		if (words == 0) {
			snprintf(err, errlen, "%s:%zu: %s: missing target", name, lineno, key);
			free(key);
			goto fail;
		}
		if (route.kind == MAILBOX_ROUTE_LMTP_INET && route.imap_port == 0) {
			memcpy(route.imap_host, route.host, sizeof(route.imap_host));
			route.imap_port = 143;
		}
		if (r->n == cap) {
			cap = cap ? cap * 2 : 16;
			r->items = xrealloc(r->items, cap * sizeof(*r->items));
		}
		r->items[r->n].key = key;
		r->items[r->n].line = lineno;
		r->items[r->n].target = route_intern(r, hash, &tcap, &route);
		r->n++;
	}
	free(hash);
	hash = NULL;
	if (r->n)
		qsort(r->items, r->n, sizeof(*r->items), route_entry_cmp);
	for (size_t i = 1; i < r->n; i++)
		if (strcmp(r->items[i - 1].key, r->items[i].key) == 0) {
			snprintf(err, errlen, "%s:%zu: \"%s\" given twice (first at line %zu)",
				 name,
				 r->items[i].line > r->items[i - 1].line ? r->items[i].line
									 : r->items[i - 1].line,
				 r->items[i].key,
				 r->items[i].line > r->items[i - 1].line ? r->items[i - 1].line
									 : r->items[i].line);
			goto fail;
		}
	return r;
fail:
	free(hash);
	mailbox_routes_free(&r);
	return NULL;
}

struct mailbox_routes *mailbox_routes_load(const char *path, char *err, size_t errlen)
{
	struct stat st;
	size_t n;
	char *text = table_file_read(path, MAILBOX_ROUTES_MAX_FILE, true,
				     "not a regular file of at most 64 MiB", &n, &st, err, errlen);
	if (!text)
		return NULL;
	struct mailbox_routes *r = mailbox_routes_parse(path, text, n, err, errlen);
	free(text);
	if (!r)
		return NULL;
	r->path = xstrdup(path);
	file_stamp_set(&r->stamp, &st);
	return r;
}

int mailbox_routes_reload_if_changed(struct mailbox_routes **rp, char *err, size_t errlen)
{
	struct mailbox_routes *r = *rp;
	if (!r || !r->path) {
		snprintf(err, errlen, "mailbox_routes: not loaded from a file");
		return -1;
	}
	if (!file_stamp_changed(&r->stamp, r->path))
		return 0;
	struct mailbox_routes *fresh = mailbox_routes_load(r->path, err, errlen);
	if (!fresh)
		return -1;
	mailbox_routes_free(rp);
	*rp = fresh;
	return 1;
}

static const struct mailbox_route *route_find(const struct mailbox_routes *r, const char *key)
{
	struct route_entry k = { .key = (char *)key };
	const struct route_entry *e = bsearch(&k, r->items, r->n, sizeof(*r->items),
					      route_entry_cmp);
	return e ? &r->targets[e->target] : NULL;
}

const struct mailbox_route *mailbox_routes_lookup(const struct mailbox_routes *r,
						  const char *address)
{
	if (!r || r->n == 0 || !address)
		return NULL;
	char key[1024];
	size_t len = strlen(address);
	if (len >= sizeof(key))
		return NULL;
	memcpy(key, address, len + 1);
	str_lower(key);
	const struct mailbox_route *route = route_find(r, key);
	if (route)
		return route;
	const char *at = strrchr(key, '@');
	return at && at[1] ? route_find(r, at + 1) : NULL;
}

size_t mailbox_routes_count(const struct mailbox_routes *r)
{
	return r ? r->n : 0;
}

void mailbox_route_format(const struct mailbox_route *route, char *out, size_t outlen)
{
	if (!route || route->kind == MAILBOX_ROUTE_LOCAL)
		snprintf(out, outlen, "local");
	else if (route->kind == MAILBOX_ROUTE_LMTP_UNIX)
		snprintf(out, outlen, "lmtp:unix:%s", route->path);
	else
		snprintf(out, outlen, "lmtp:[%s]:%u", route->host, route->port);
}

struct mailbox_routes *mailbox_routes_ref(struct mailbox_routes *r)
{
	if (r)
		r->refs++;
	return r;
}

void mailbox_routes_free(struct mailbox_routes **rp)
{
	struct mailbox_routes *r = *rp;
	if (!r)
		return;
	*rp = NULL;
	if (--r->refs > 0)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->items[i].key);
	free(r->items);
	free(r->targets);
	free(r->path);
	free(r);
}
