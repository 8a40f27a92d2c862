/* fuzz_tlsrpt.c - libFuzzer target: the TLS-RPT TXT record parser, the https rua splitter and the period file loader (with a report built from what loads). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsrpt_rua rua;
	if (tlsrpt_txt_parse((const char *)data, size, &rua) == 0) {
		if (rua.n > TLSRPT_RUA_MAX)
			abort();
		for (size_t i = 0; i < rua.n; i++) {
			size_t n = strlen(rua.uri[i]);
			if (n == 0 || n > TLSRPT_URI_MAX)
				abort();
			char host[256];
			int port = 0;
			if (tlsrpt_https_split(rua.uri[i], host, sizeof(host), &port) == 0 &&
			    (port < 1 || port > 65535 || !host[0]))
				abort();
		}
	} else if (rua.n != 0) {
		abort();
	}
	char err[256];
	json_t *p = tlsrpt_period_load((const char *)data, size, err, sizeof(err));
	if (!p)
		return 0;
	char **domains = NULL;
	size_t n = tlsrpt_period_domains(p, &domains);
	for (size_t i = 0; i < n; i++) {
		json_t *r = tlsrpt_report_build(p, domains[i], "o", "c", "i");
		if (!r)
			abort(); /* a listed domain has an entry */
		json_decref(r);
		free(domains[i]);
	}
	free(domains);
	struct tlsrpt_event ev = { .domain = "fuzz.example",
				   .type = TLSRPT_STS,
				   .result = TLSRPT_VALIDATION_FAILURE };
	tlsrpt_period_add(p, &ev);
	json_decref(p);
	return 0;
}
