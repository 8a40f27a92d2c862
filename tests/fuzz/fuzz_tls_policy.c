/* fuzz_tls_policy.c - libFuzzer target: relay_tls_policy_file parser and lookup over arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_policy_table t;
	char err[256];
	if (tls_policy_parse("fuzz", (const char *)data, size, &t, err, sizeof(err)) < 0) {
		if (t.n != 0 || strncmp(err, "fuzz:", 5) != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct tls_policy_entry *e = &t.entries[i];
		if (!e->dest[0] || strlen(e->dest) > 253 || (unsigned)e->level > TLS_LEVEL_SECURE)
			abort();
		struct tls_policy p = tls_policy_lookup(&t, e->host ? NULL : e->dest,
							e->host ? e->dest : NULL, TLS_LEVEL_MAY);
		if (!e->subdomains && p.source != TLS_SOURCE_FILE)
			abort();
		char d[64];
		tls_policy_describe(&p, d, sizeof(d));
	}
	tls_policy_table_free(&t);
	return 0;
}
