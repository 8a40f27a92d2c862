/* fuzz_mta_sts.c - libFuzzer target: the MTA-STS TXT record and policy file parsers and MX matching over arbitrary text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mta_sts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[MTA_STS_ID_MAX + 1], err[256];
	if (mta_sts_txt_parse((const char *)data, size, id) == 0) {
		size_t n = strlen(id);
		if (n < 1 || n > MTA_STS_ID_MAX)
			abort();
	}
	struct mta_sts_policy p;
	if (mta_sts_policy_parse((const char *)data, size, &p, err, sizeof(err)) < 0) {
		if (p.n_mx != 0 || p.mx != NULL || !err[0])
			abort();
		return 0;
	}
	if (p.max_age < 0 || p.max_age > MTA_STS_MAX_AGE_MAX ||
	    (p.mode != MTA_STS_NONE && p.n_mx == 0))
		abort();
	for (size_t i = 0; i < p.n_mx; i++) {
		const char *m = p.mx[i];
		/* a literal pattern matches itself; "*.x" matches "a.x" */
		if (m[0] == '*') {
			char h[300];
			snprintf(h, sizeof(h), "a%s", m + 1);
			if (!mta_sts_mx_match(m, h) || mta_sts_mx_match(m, m + 2))
				abort();
		} else if (!mta_sts_mx_match(m, m)) {
			abort();
		}
	}
	mta_sts_mode_name(p.mode);
	mta_sts_policy_free(&p);
	return 0;
}
