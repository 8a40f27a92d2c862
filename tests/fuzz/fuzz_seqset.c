/* fuzz_seqset.c - libFuzzer target: sequence-set parsing, normal form, print/parse round trip, '*' resolution. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seqset.h"

static void fuzz_seqset_check_normal(const struct seqset *set)
{
	for (size_t i = 0; i < set->count; i++) {
		if (set->ranges[i].lo == 0 || set->ranges[i].lo > set->ranges[i].hi)
			abort();
		if (i > 0 && (uint64_t)set->ranges[i - 1].hi + 1 >= set->ranges[i].lo)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seqset set, again, resolved;
	const char *error;
	if (seqset_parse((const char *)data, size, SEQSET_ALLOW_SAVED, &set, &error) < 0) {
		if (set.count != 0 || set.ranges != NULL || error == NULL)
			abort();
		return 0;
	}
	fuzz_seqset_check_normal(&set);

	struct buf b, b2;
	buf_init(&b);
	buf_init(&b2);
	seqset_write(&b, &set);
	if (seqset_parse(b.data, b.len, SEQSET_ALLOW_SAVED, &again, &error) < 0)
		abort();
	seqset_write(&b2, &again);
	if (b.len != b2.len || memcmp(b.data, b2.data, b.len) != 0)
		abort();

	uint32_t max = 0;
	for (size_t i = 0; i < size && i < 4; i++)
		max = max * 10 + (uint32_t)(data[i] % 10);
	seqset_init(&resolved);
	seqset_resolve(&set, max, &resolved);
	fuzz_seqset_check_normal(&resolved);
	if (resolved.star_count != 0)
		abort();
	uint32_t probes[] = { 1, 2, max, max + 1, max ? max - 1 : 0, 4294967295u };
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		if (probes[i] == 0)
			continue;
		if (seqset_contains(&resolved, probes[i]) !=
		    seqset_contains_max(&set, probes[i], max))
			abort();
	}
	struct seqset_iter it;
	uint32_t n, prev = 0;
	unsigned steps = 0;
	seqset_iter_init(&it, &resolved);
	while (steps++ < 1000 && seqset_iter_next(&it, &n)) {
		if (n <= prev || !seqset_contains(&resolved, n))
			abort();
		prev = n;
	}
	seqset_free(&set);
	seqset_free(&again);
	seqset_free(&resolved);
	buf_free(&b);
	buf_free(&b2);
	return 0;
}
