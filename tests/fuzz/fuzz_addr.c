/* fuzz_addr.c - libFuzzer target: path/mailbox parsing, domain checks, format/reparse round trip. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* A parsed address, formatted and wrapped in <>, parses back to the same thing. */
static void fuzz_addr_round_trip(const struct addr *a, unsigned flags)
{
	char out[2 * ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8], wire[sizeof(out) + 2];
	struct addr b;
	size_t n, used;
	const char *error;

	n = addr_format(a, out, sizeof(out));
	assert(n < sizeof(out));
	assert(strlen(out) == n);
	snprintf(wire, sizeof(wire), "<%s>", out);
	if (addr_parse_path(wire, n + 2, flags & ~ADDR_ALLOW_SOURCE_ROUTE, &b, &used, &error) !=
	    0) {
		fprintf(stderr, "reparse of %s failed: %s\n", wire, error);
		assert(0);
	}
	assert(used == n + 2);
	assert(strcmp(a->local, b.local) == 0);
	assert(strcmp(a->domain, b.domain) == 0);
	assert(a->is_null == b.is_null);
	assert(a->utf8 == b.utf8);
}

static void fuzz_addr_check(const struct addr *a, unsigned flags)
{
	assert(strlen(a->local) <= ADDR_LOCAL_MAX);
	assert(strlen(a->domain) <= ADDR_DOMAIN_MAX);
	if (!(flags & ADDR_ALLOW_UTF8))
		assert(!a->utf8);
	for (const char *p = a->domain; *p != '\0'; p++)
		assert(!(*p >= 'A' && *p <= 'Z') || a->domain[0] == '[');
	if (a->is_null)
		assert(flags & ADDR_ALLOW_NULL);
	if (!a->is_null && a->domain[0] == '\0')
		assert(flags & ADDR_ALLOW_NO_DOMAIN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr a;
	size_t used;
	const char *error;
	unsigned flags;
	char dom[ADDR_DOMAIN_MAX + 1];

	if (size < 1)
		return 0;
	flags = data[0] & 0x0f;
	data++;
	size--;

	if (addr_parse_path((const char *)data, size, flags, &a, &used, &error) == 0) {
		assert(used >= 2 && used <= size);
		assert(data[0] == '<' && data[used - 1] == '>');
		fuzz_addr_check(&a, flags);
		fuzz_addr_round_trip(&a, flags);
	} else {
		assert(error != NULL);
	}
	if (addr_parse_mailbox((const char *)data, size, flags, &a, &error) == 0) {
		fuzz_addr_check(&a, flags);
		fuzz_addr_round_trip(&a, flags);
	} else {
		assert(error != NULL);
	}
	if (size < sizeof(dom) && memchr(data, '\0', size) == NULL) {
		memcpy(dom, data, size);
		dom[size] = '\0';
		if (addr_check_domain(dom, (flags & ADDR_ALLOW_UTF8) != 0, &error) == 0)
			assert(strlen(dom) == size);
	}
	return 0;
}
