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

/* Bare LF (a LF-only line end) in DATA/BDAT: refused with 554 5.6.0 from everyone but the
 * trusted clients, as Postfix exempts $mynetworks (smtpd_forbid_bare_newline_exclusions):
 * clients in relay_networks (on any listener) and the local socket. Printers and scripts
 * there send LF-only mail; their bare LFs are stored as CRLF. */
unsigned smtp_body_mode(const struct smtp_session *s)
{
	return s->kind == SMTP_LISTENER_LOCAL || s->relay_client ? SMTP_BODY_CHECK_BARE_LF_OK
								 : SMTP_BODY_CHECK_STRICT;
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

/* Keyed on the session being authenticated by SASL, not on the listener: AUTH is offered on
 * the MX listener too (after STARTTLS), and an account must not send as another one there
 * either. The local socket's sessions are trusted by uid (sendmail), not by an account. */
bool smtp_authenticated_account(const struct smtp_session *s)
{
	return s->authenticated && s->kind != SMTP_LISTENER_LOCAL;
}

bool smtp_sender_check_applies(const struct smtp_session *s)
{
	return smtp_authenticated_account(s) && s->m->cfg->submission_sender_check;
}

/* Every address of every originator field (From, Sender, Resent-From, Resent-Sender) must
 * belong to the authenticated account: the first that does not goes to bad (as "Field: addr"). */
bool smtp_originators_owned(struct smtp_session *s, const char *hdr, size_t hlen, char *bad,
			    size_t badlen)
{
	struct rfc5322_iter it;
	struct rfc5322_field f;
	bool ok = true;
	rfc5322_iter_init(&it, hdr, hlen);
	while (ok && rfc5322_iter_next(&it, &f) == 1) {
		if (!rfc5322_is_originator(&f))
			continue;
		struct rfc5322_addr *list;
		size_t n = rfc5322_parse_addresses(f.value, f.value_len, &list);
		for (size_t i = 0; i < n && ok; i++) {
			if (list[i].kind != RFC5322_ADDR_MAILBOX)
				continue;
			char text[600];
			snprintf(text, sizeof(text), "%s@%s", list[i].mailbox, list[i].host);
			struct addr a;
			const char *err;
			ok = addr_parse_mailbox(text, strlen(text), ADDR_ALLOW_UTF8, &a, &err) ==
				     0 &&
			     smtp_sender_owned(s, &a);
			if (!ok)
				snprintf(bad, badlen, "%.*s: %s", (int)f.name_len, f.name, text);
		}
		rfc5322_addrs_free(list, n);
	}
	return ok;
}
