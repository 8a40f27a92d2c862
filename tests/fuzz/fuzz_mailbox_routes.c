/* fuzz_mailbox_routes.c - libFuzzer target: mailbox_routes_parse on arbitrary text, then lookups and formatting of what it accepted. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox_routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const addrs[] = {
		"a@example.org", "B@EXAMPLE.ORG", "x@other.test", "nodomain", "@", "a@"
	};
	char err[512];
	struct mailbox_routes *r = mailbox_routes_parse("fuzz", (const char *)data, size, err,
							sizeof(err));
	if (!r) {
		if (!memchr(err, '\0', sizeof(err)) || strncmp(err, "fuzz:", 5) != 0)
			abort(); /* every refusal names the line */
		return 0;
	}
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		const struct mailbox_route *route = mailbox_routes_lookup(r, addrs[i]);
		char shown[512];
		mailbox_route_format(route, shown, sizeof(shown));
		if (route && route->kind == MAILBOX_ROUTE_LMTP_INET &&
		    (route->port == 0 || !route->host[0]))
			abort();
	}
	mailbox_routes_free(&r);
	return 0;
}
