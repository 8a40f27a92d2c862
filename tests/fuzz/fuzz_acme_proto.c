/* fuzz_acme_proto.c - libFuzzer target: the ACME server's JSON objects (directory, order, authorization, problem). */
#include <stddef.h>
#include <stdint.h>

#include "acme_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data, *error;
	struct acme_directory d;
	struct acme_order o;
	struct acme_authz a;
	char problem[256];
	acme_parse_directory(json, size, &d, &error);
	if (acme_parse_order(json, size, &o, &error) == 0)
		acme_order_free(&o);
	acme_parse_authz(json, size, &a, &error);
	acme_parse_problem(json, size, problem, sizeof(problem));
	return 0;
}
