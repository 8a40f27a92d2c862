/* fuzz_quota.c - libFuzzer target: the quota parsers (a Dovecot quota rule, a maildirsize file, a users file line). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "accounts.h"
#include "quota.h"
#include "quota_rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t bytes;
	const char *why = NULL;
	int r = quota_rule_parse((const char *)data, size, &bytes, &why);
	if (r < 0 && !why)
		abort();
	if (r == 0 && bytes != 0)
		abort();
	struct maildir_quota_usage u;
	(void)maildir_quota_parse((const char *)data, size, &u);
	char err[256];
	struct accounts *acc = accounts_parse("fuzz", (const char *)data, size, err, sizeof(err));
	accounts_free(&acc);
	return 0;
}
