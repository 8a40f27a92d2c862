/* fuzz_aliases.c - libFuzzer target: aliases_parse on arbitrary text, then resolution of fixed recipients through the result. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"

static char *fuzz_domains[] = { "localhost", "example.org" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char users[] = "a@localhost:x\nb@localhost:x\nc@example.org:x\n";
	static const char *const rcpts[] = { "a@localhost",    "b+x@localhost", "c@example.org",
					     "d@localhost",    "postmaster",    "e@remote.test",
					     "A+B-C@LOCALHOST" };
	char err[512];
	struct aliases *al = aliases_parse("fuzz", (const char *)data, size, err, sizeof(err));
	if (!al)
		return 0;
	struct accounts *acc = accounts_parse("users", users, sizeof(users) - 1, err, sizeof(err));
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "fuzz.test";
	cfg.domains.items = fuzz_domains;
	cfg.domains.n = 2;
	cfg.state_dir = "/nonexistent";
	cfg.recipient_delimiter = "+-";
	for (size_t i = 0; i < sizeof(rcpts) / sizeof(rcpts[0]); i++) {
		struct addr a;
		const char *why;
		struct delivery_target *t;
		size_t n;
		if (delivery_parse_address(rcpts[i], strlen(rcpts[i]), &a, &why) < 0)
			abort();
		if (delivery_resolve(&cfg, acc, al, &a, &t, &n, err, sizeof(err)) == DELIVERY_OK) {
			if (n == 0)
				abort(); /* OK always names at least one target */
			free(t);
		}
	}
	accounts_free(&acc);
	aliases_free(&al);
	return 0;
}
