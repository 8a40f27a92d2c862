/* fuzz_dns_records.c - libFuzzer target: DNS reply parsing for mailctl dns --check, OpenDKIM configuration and key table parsing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dns_records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { 1, 5, 12, 15, 16, 28, 33, 52, 99 };
	const char *error;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		char **rd;
		long n = dns_answer_parse(data, size, types[i], &rd, &error);
		if (n >= 0)
			dns_rdata_free(rd, n);
	}
	char *sel, *key, *table;
	if (dns_records_opendkim_conf((const char *)data, size, "example.org", &sel, &key,
				      &table)) {
		free(sel);
		free(key);
	}
	free(table);
	if (dns_records_opendkim_keytable((const char *)data, size, "example.org", &sel, &key)) {
		free(sel);
		free(key);
	}
	return 0;
}
