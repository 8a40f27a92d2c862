/* deliver.c - local delivery: resolve a recipient (plus-addressing, aliases, accounts), write one Maildir file. */
#include "deliver.h"
#include "buf.h"
#include "quota.h"
#include "store.h"
#include "str.h"
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DELIVERY_MAX_DEPTH   20     /* nested alias expansions */
#define DELIVERY_MAX_TARGETS 4096   /* final recipients of one envelope recipient */
#define DELIVERY_MAX_STEPS   100000 /* addresses looked at while expanding */

int delivery_parse_address(const char *s, size_t len, struct addr *addr_r, const char **error_r)
{
	bool q = false, at = false;
	for (size_t i = 0; i < len; i++) {
		if (q && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			q = !q;
		else if (!q && s[i] == '@')
			at = true;
	}
	if (at)
		return addr_parse_mailbox(s, len, ADDR_ALLOW_UTF8, addr_r, error_r);
	/* A bare local part: let the one address parser judge it with a placeholder domain. */
	if (len > ADDR_LOCAL_MAX + 2) {
		*error_r = "local part too long";
		return -1;
	}
	char tmp[ADDR_LOCAL_MAX + 16];
	memcpy(tmp, s, len);
	memcpy(tmp + len, "@invalid", 8);
	if (addr_parse_mailbox(tmp, len + 8, ADDR_ALLOW_UTF8, addr_r, error_r) < 0)
		return -1;
	addr_r->domain[0] = '\0';
	return 0;
}

struct delivery_frame {
	const struct alias_target *entry;
	char addr[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2]; /* "local@domain" looked up */
};

struct delivery_seen {
	const struct alias_target *entry;
	char *domain;
};

struct delivery_ctx {
	const struct config *cfg;
	const struct accounts *acc;
	const struct aliases *al;
	struct delivery_target *t;
	size_t n, cap;
	struct delivery_frame stack[DELIVERY_MAX_DEPTH + 1];
	size_t depth;
	struct delivery_seen *seen;
	size_t n_seen, cap_seen;
	size_t steps;
	char *err;
	size_t errlen;
};

/* dst = src lower-cased, cut to dstlen - 1 bytes. */
static void delivery_lower(char *dst, const char *src, size_t dstlen)
{
	snprintf(dst, dstlen, "%s", src);
	str_lower(dst);
}

static bool delivery_has_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

static enum delivery_status delivery_add(struct delivery_ctx *c, const char *local,
					 const char *domain, bool quoted, bool local_target)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->t[i].local == local_target && strcmp(c->t[i].addr.local, local) == 0 &&
		    strcasecmp(c->t[i].addr.domain, domain) == 0)
			return DELIVERY_OK;
	}
	if (c->n >= DELIVERY_MAX_TARGETS) {
		str_format(c->err, c->errlen, "alias expansion exceeds %d recipients",
			   DELIVERY_MAX_TARGETS);
		return DELIVERY_PERMFAIL;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 4;
		c->t = xrealloc(c->t, c->cap * sizeof(*c->t));
	}
	struct delivery_target *t = &c->t[c->n++];
	memset(t, 0, sizeof(*t));
	str_format(t->addr.local, sizeof(t->addr.local), "%s", local);
	delivery_lower(t->addr.domain, domain, sizeof(t->addr.domain));
	t->addr.quoted = quoted;
	t->addr.utf8 = delivery_has_8bit(local) || delivery_has_8bit(domain);
	t->local = local_target;
	return DELIVERY_OK;
}

/* The alias entry for local@domain: the full local part first, then without "+detail";
 * at each, the domain's own key before the bare key valid in every local domain. */
static const struct alias_target *delivery_find_alias(const struct delivery_ctx *c,
						      const char *full, const char *stripped,
						      const char *domain, size_t *n_r)
{
	char key[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	const char *locals[2] = { full, stripped };
	for (size_t i = 0; i < 2; i++) {
		if (!locals[i])
			continue;
		str_format(key, sizeof(key), "%s@%s", locals[i], domain);
		const struct alias_target *e = aliases_lookup(c->al, key, n_r);
		if (!e)
			e = aliases_lookup(c->al, locals[i], n_r);
		if (e)
			return e;
	}
	return NULL;
}

static enum delivery_status delivery_loop_error(struct delivery_ctx *c, size_t from,
						const char *addr)
{
	size_t n = (size_t)str_format(c->err, c->errlen, "alias loop:");
	for (size_t i = from; i < c->depth && n < c->errlen; i++)
		n += (size_t)str_format(c->err + n, c->errlen - n, " %s ->", c->stack[i].addr);
	if (n < c->errlen)
		str_format(c->err + n, c->errlen - n, " %s", addr);
	return DELIVERY_PERMFAIL;
}

static bool delivery_is_account(const struct delivery_ctx *c, const char *local, const char *domain)
{
	struct addr a;
	char name[ADDR_LOCAL_MAX * 2 + ADDR_DOMAIN_MAX + 8];
	memset(&a, 0, sizeof(a));
	str_format(a.local, sizeof(a.local), "%s", local);
	str_format(a.domain, sizeof(a.domain), "%s", domain);
	if (addr_account_name(&a, name, sizeof(name)) >= sizeof(name))
		return false;
	return accounts_find(c->acc, name) != NULL;
}

static enum delivery_status delivery_expand(struct delivery_ctx *c, const char *local_in,
					    const char *domain_in, bool quoted,
					    const struct alias_target *parent)
{
	char local[ADDR_LOCAL_MAX + 1], domain[ADDR_DOMAIN_MAX + 1], stripped[ADDR_LOCAL_MAX + 1];
	char full[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	const char *strip = NULL;

	if (++c->steps > DELIVERY_MAX_STEPS) {
		str_format(c->err, c->errlen, "alias expansion too large");
		return DELIVERY_PERMFAIL;
	}
	if (!config_is_local_domain(c->cfg, domain_in))
		return delivery_add(c, local_in, domain_in, quoted, false);

	delivery_lower(local, local_in, sizeof(local));
	delivery_lower(domain, domain_in, sizeof(domain));
	const char *delim = c->cfg->recipient_delimiter;
	if (delim && delim[0]) {
		size_t pos = strcspn(local, delim);
		if (pos > 0 && local[pos] != '\0') {
			memcpy(stripped, local, pos);
			stripped[pos] = '\0';
			strip = stripped;
		}
	}
	str_format(full, sizeof(full), "%s@%s", local, domain);

	size_t n = 0;
	const struct alias_target *e = delivery_find_alias(c, local, strip, domain, &n);
	/* "alice: alice, bob" names the account alice itself, as in sendmail. */
	if (e && !(e == parent && c->depth > 0 &&
		   strcmp(strchr(c->stack[c->depth - 1].addr, '@'), strchr(full, '@')) == 0)) {
		for (size_t i = 0; i < c->depth; i++) {
			if (c->stack[i].entry == e &&
			    strcmp(strchr(c->stack[i].addr, '@'), strchr(full, '@')) == 0)
				return delivery_loop_error(c, i, full);
		}
		if (c->depth >= DELIVERY_MAX_DEPTH) {
			str_format(c->err, c->errlen, "aliases nested deeper than %d at %s",
				   DELIVERY_MAX_DEPTH, full);
			return DELIVERY_PERMFAIL;
		}
		/* An alias reached again by another branch is already expanded. */
		for (size_t i = 0; i < c->n_seen; i++)
			if (c->seen[i].entry == e && strcmp(c->seen[i].domain, domain) == 0)
				return DELIVERY_OK;
		if (c->n_seen == c->cap_seen) {
			c->cap_seen = c->cap_seen ? c->cap_seen * 2 : 8;
			c->seen = xrealloc(c->seen, c->cap_seen * sizeof(*c->seen));
		}
		c->seen[c->n_seen].entry = e;
		c->seen[c->n_seen++].domain = xstrdup(domain);
		c->stack[c->depth].entry = e;
		str_format(c->stack[c->depth].addr, sizeof(c->stack[c->depth].addr), "%s", full);
		c->depth++;
		enum delivery_status st = DELIVERY_OK;
		for (size_t i = 0; i < n && st == DELIVERY_OK; i++)
			st = delivery_expand(c, e[i].local, e[i].domain[0] ? e[i].domain : domain,
					     e[i].quoted, e);
		c->depth--;
		return st;
	}

	/* Accounts by their account name (addr_account_name: quoted where needed), so that the
	 * account "john smith"@d is the recipient "john smith"@d and nobody else. */
	if (delivery_is_account(c, local, domain))
		return delivery_add(c, local, domain, quoted, true);
	if (strip && delivery_is_account(c, strip, domain))
		return delivery_add(c, strip, domain, quoted, true);
	if (c->depth > 0)
		str_format(c->err, c->errlen, "%s: no such user (alias target of %s)", full,
			   c->stack[0].addr);
	else
		str_format(c->err, c->errlen, "%s: no such user", full);
	return DELIVERY_UNKNOWN_USER;
}

enum delivery_status delivery_resolve(const struct config *cfg, const struct accounts *acc,
				      const struct aliases *al, const struct addr *rcpt,
				      struct delivery_target **targets_r, size_t *n_r, char *err,
				      size_t errlen)
{
	/* Field by field: the alias stack (11 KiB) is written before it is read, and zeroing it
	 * cost about a tenth of mtad's instructions per message (one resolution per RCPT). */
	struct delivery_ctx c;
	c.cfg = cfg;
	c.acc = acc;
	c.al = al;
	c.t = NULL;
	c.n = c.cap = 0;
	c.depth = 0;
	c.seen = NULL;
	c.n_seen = c.cap_seen = 0;
	c.steps = 0;
	c.err = err;
	c.errlen = errlen;
	const char *domain = rcpt->domain;

	*targets_r = NULL;
	*n_r = 0;
	if (rcpt->is_null || rcpt->local[0] == '\0') {
		str_format(err, errlen, "empty recipient");
		return DELIVERY_PERMFAIL;
	}
	if (domain[0] == '\0') {
		/* "postmaster" without a domain (RFC 5321 4.1.1.3): the first local domain. */
		if (cfg->domains.n == 0) {
			str_format(err, errlen, "%s: no local domain", rcpt->local);
			return DELIVERY_UNKNOWN_USER;
		}
		domain = cfg->domains.items[0];
	}
	enum delivery_status st = delivery_expand(&c, rcpt->local, domain, rcpt->quoted, NULL);
	for (size_t i = 0; i < c.n_seen; i++)
		free(c.seen[i].domain);
	free(c.seen);
	if (st != DELIVERY_OK) {
		free(c.t);
		return st;
	}
	*targets_r = c.t;
	*n_r = c.n;
	return DELIVERY_OK;
}

/* "M<usec>P<pid>Q<counter>": unique on this host within one second. */
static void delivery_gen_unique(char *out, size_t outlen)
{
	static atomic_uint counter;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	str_format(out, outlen, "M%06ldP%ldQ%u", (long)tv.tv_usec, (long)getpid(),
		   atomic_fetch_add(&counter, 1) + 1);
}

enum delivery_status delivery_maildir(const struct delivery_request *req, char *err, size_t errlen)
{
	const struct config *cfg = req->cfg;
	const char *sender = req->sender ? req->sender : "";
	char maildir[PATH_MAX], rcpt[ADDR_LOCAL_MAX * 2 + ADDR_DOMAIN_MAX + 8];
	char unique[64], name[NAME_MAX + 1];
	int r;

	if (store_mailbox_path_for_addr(cfg->state_dir, req->rcpt, maildir, sizeof(maildir)) < 0) {
		str_format(err, errlen, "invalid mailbox name for %s@%s: %s", req->rcpt->local,
			   req->rcpt->domain, strerror(errno));
		return DELIVERY_PERMFAIL;
	}
	if (strpbrk(sender, "\r\n")) {
		str_format(err, errlen, "sender contains a line break");
		return DELIVERY_PERMFAIL;
	}
	if (addr_format(req->rcpt, rcpt, sizeof(rcpt)) >= sizeof(rcpt)) {
		str_format(err, errlen, "recipient address too long");
		return DELIVERY_PERMFAIL;
	}
	if (req->unique && req->check_existing) {
		r = store_maildir_has_unique(maildir, req->unique);
		if (r == 1)
			return DELIVERY_OK;
		if (r < 0) {
			str_format(err, errlen, "cannot scan maildir %s: %s", maildir,
				   strerror(-r));
			return r == -EINVAL ? DELIVERY_PERMFAIL : DELIVERY_TEMPFAIL;
		}
	}
	if (req->unique)
		str_format(unique, sizeof(unique), "%s", req->unique);
	else
		delivery_gen_unique(unique, sizeof(unique));

	char *hdr = xasprintf("Return-Path: <%s>\r\nDelivered-To: %s\r\n", sender, rcpt);
	size_t hdr_len = strlen(hdr);
	uint64_t total = (uint64_t)hdr_len + req->msg_len;
	enum delivery_status qst = delivery_quota_check(maildir, rcpt, req->quota, total, err,
							errlen);
	if (qst != DELIVERY_OK) {
		free(hdr);
		return qst;
	}
	int64_t secs = req->arrival > 0 ? req->arrival : (int64_t)time(NULL);
	const char *host = cfg->hostname && cfg->hostname[0] ? cfg->hostname : "localhost";
	if (store_maildir_name(name, sizeof(name), secs, req->unique ? req->unique : unique, host,
			       total) >= sizeof(name)) {
		free(hdr);
		str_format(err, errlen, "maildir file name too long (hostname?)");
		return DELIVERY_TEMPFAIL;
	}
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = hdr_len },
		{ .iov_base = (void *)req->msg, .iov_len = req->msg_len },
	};
	r = store_maildir_deliver(maildir, name, iov, 2);
	if (r == -ENOENT) {
		/* First delivery to this mailbox (or a part of it was removed): the Maildir is
		 * made only then, instead of three stat calls per delivery to check it. */
		r = store_maildir_create(maildir);
		if (r < 0) {
			free(hdr);
			str_format(err, errlen, "cannot create maildir %s: %s", maildir,
				   strerror(-r));
			return DELIVERY_TEMPFAIL;
		}
		r = store_maildir_deliver(maildir, name, iov, 2);
	}
	free(hdr);
	if (r == 0)
		maildir_quota_update(maildir, (int64_t)total, 1);
	if (r >= 0)
		return DELIVERY_OK; /* 1: this very file is already in new/ */
	str_format(err, errlen, "cannot write into %s: %s", maildir, strerror(-r));
	return r == -EINVAL ? DELIVERY_PERMFAIL : DELIVERY_TEMPFAIL;
}
