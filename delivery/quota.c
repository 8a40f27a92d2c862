/* quota.c - the storage limit of a local recipient and the check before a delivery writes into its Maildir. */
#include "deliver.h"
#include "quota.h"
#include "buf.h"

#include <inttypes.h>
#include <stdio.h>

uint64_t delivery_quota_limit(const struct config *cfg, const struct accounts *acc,
			      const struct addr *a)
{
	char name[ADDR_LOCAL_MAX * 2 + ADDR_DOMAIN_MAX + 8];
	const struct account *ac = NULL;
	struct addr copy = *a; /* addr_account_name may normalise it */
	if (addr_account_name(&copy, name, sizeof(name)) < sizeof(name))
		ac = accounts_find(acc, name);
	return accounts_quota(ac, cfg->default_quota);
}

enum delivery_status delivery_quota_check(const char *maildir, const char *rcpt, uint64_t limit,
					  uint64_t size, char *err, size_t errlen)
{
	struct maildir_quota_usage u;
	if (limit == 0)
		return DELIVERY_OK;
	/* RFC 3463: X.2.2 mailbox full; permanent when the message could never fit. */
	if (size > limit) {
		str_format(err, errlen,
			   "5.2.2 message of %" PRIu64 " bytes exceeds the mailbox quota of <%s> "
			   "(%" PRIu64 " bytes)",
			   size, rcpt, limit);
		return DELIVERY_PERMFAIL;
	}
	int r = maildir_quota_check(maildir, limit, size, &u);
	if (r == 1) {
		str_format(err, errlen,
			   "4.2.2 mailbox full: <%s> uses %" PRId64 " of %" PRIu64
			   " bytes, message is %" PRIu64 " bytes",
			   rcpt, u.bytes, limit, size);
		return DELIVERY_TEMPFAIL;
	}
	/* r < 0: the usage cannot be read; the write itself will say whether there is room. */
	return DELIVERY_OK;
}
