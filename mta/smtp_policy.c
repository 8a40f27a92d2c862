/* smtp_policy.c - who may relay, and whose addresses an authenticated submission may send from. */
#include "smtp_session.h"
#include "deliver.h"
#include "rfc5322.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool smtp_relay_allowed(const struct smtp_session *s)
{
	return s->authenticated || s->relay_client;
}

/* True when address belongs to the authenticated account: the account itself (any
 * +detail) or a local alias that expands to it. */
bool smtp_sender_owned(struct smtp_session *s, const struct addr *a)
{
	const struct config *cfg = s->m->cfg;
	if (a->is_null)
		return true;
	if (!config_is_local_domain(cfg, a->domain))
		return false;
	struct delivery_target *t = NULL;
	size_t n = 0;
	char err[256];
	bool owned = false;
	if (delivery_resolve(cfg, s->m->accounts, s->m->aliases, a, &t, &n, err, sizeof(err)) ==
	    DELIVERY_OK) {
		for (size_t i = 0; i < n && !owned; i++) {
			char f[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
			addr_format(&t[i].addr, f, sizeof(f));
			owned = t[i].local && strcasecmp(f, s->auth_user) == 0;
		}
	}
	free(t);
	return owned;
}

bool smtp_sender_check_applies(const struct smtp_session *s)
{
	return (s->kind == SMTP_LISTENER_SUBMISSION || s->kind == SMTP_LISTENER_SUBMISSIONS) &&
	       s->authenticated && s->m->cfg->submission_sender_check;
}

/* Submission: every From: address must belong to the authenticated account. */
bool smtp_from_header_owned(struct smtp_session *s, char *bad, size_t badlen)
{
	const char *body = s->msg.data + s->msg_header_len;
	size_t blen = s->msg.len - s->msg_header_len;
	struct rfc5322_field f;
	if (!rfc5322_find(body, rfc5322_header_length(body, blen), "From", &f))
		return true;
	struct rfc5322_addr *list;
	size_t n = rfc5322_parse_addresses(f.value, f.value_len, &list);
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++) {
		if (list[i].kind != RFC5322_ADDR_MAILBOX)
			continue;
		char text[600];
		snprintf(text, sizeof(text), "%s@%s", list[i].mailbox, list[i].host);
		struct addr a;
		const char *err;
		ok = addr_parse_mailbox(text, strlen(text), ADDR_ALLOW_UTF8, &a, &err) == 0 &&
		     smtp_sender_owned(s, &a);
		if (!ok)
			snprintf(bad, badlen, "%s", text);
	}
	rfc5322_addrs_free(list, n);
	return ok;
}
