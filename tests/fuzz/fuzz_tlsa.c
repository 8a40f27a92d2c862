/* fuzz_tlsa.c - libFuzzer target: TLSA RDATA parser and the wire-name decoder of DNSSEC answers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dane.h"
#include "dnssec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_tlsa t;
	int r = dane_tlsa_parse(data, size, &t);
	if (r == 1) {
		if ((t.usage != 2 && t.usage != 3) || t.selector > 1 ||
		    t.len != (t.mtype == 1 ? 32u : 64u) || t.data != data + 3)
			abort();
	} else if (r != 0 && r != -1) {
		abort();
	}
	char name[300];
	int n = dnssec_wire_name(data, size, size > 2 ? 2 : 0, name, sizeof(name));
	if (n > 0 && (strlen(name) > 253 || (size_t)n > size))
		abort();
	return 0;
}
