/* fuzz_mx.c - libFuzzer target: mx_select/mx_is_null/mx_check_name invariants over arbitrary records. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mx.h"

/* Input: 8 bytes of random seed, then records "P name\n" where P is one byte of preference. */

#define FUZZ_MAX_RECORDS 64

static uint32_t fuzz_random(void *arg)
{
	uint64_t *x = arg;
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (uint32_t)(*x >> 32);
}

static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char names[FUZZ_MAX_RECORDS][MX_NAME_MAX + 2];
	struct mx_entry in[FUZZ_MAX_RECORDS], a[FUZZ_MAX_RECORDS], b[FUZZ_MAX_RECORDS];
	uint64_t seed = 0, sa, sb;
	size_t n = 0, pos = 8;
	const char *why;

	if (size < 8)
		return 0;
	memcpy(&seed, data, 8);
	seed |= 1;
	while (pos < size && n < FUZZ_MAX_RECORDS) {
		unsigned pref = data[pos++];
		size_t len = 0;
		while (pos < size && data[pos] != '\n' && len < MX_NAME_MAX + 1) {
			names[n][len++] = data[pos] ? (char)data[pos] : 'x';
			pos++;
		}
		while (pos < size && data[pos] != '\n')
			pos++;
		pos++;
		names[n][len] = '\0';
		(void)mx_check_name(names[n], &why);
		in[n].name = names[n];
		in[n].preference = pref % 4; /* many ties */
		n++;
	}

	bool null = mx_is_null(in, n);
	size_t max = 1 + (size_t)(seed % 12);

	memcpy(a, in, n * sizeof(in[0]));
	sa = seed;
	size_t ka = mx_select(a, n, max, fuzz_random, &sa);

	/* The same records in reverse order with the same random stream: the same result. */
	for (size_t i = 0; i < n; i++)
		b[i] = in[n - 1 - i];
	sb = seed;
	size_t kb = mx_select(b, n, max, fuzz_random, &sb);
	fuzz_check(ka == kb);

	fuzz_check(ka <= max && ka <= n);
	fuzz_check(null == (n > 0 && ka == 0));
	for (size_t i = 0; i < ka; i++) {
		fuzz_check(strcmp(a[i].name, b[i].name) == 0);
		fuzz_check(!mx_name_is_root(a[i].name));
		if (i > 0)
			fuzz_check(a[i - 1].preference <= a[i].preference);
		for (size_t j = 0; j < i; j++)
			fuzz_check(strcasecmp(a[i].name, a[j].name) != 0);
		/* Each kept record carries the lowest preference its name was published with. */
		unsigned best = 1000;
		for (size_t j = 0; j < n; j++)
			if (strcasecmp(in[j].name, a[i].name) == 0 && in[j].preference < best)
				best = in[j].preference;
		fuzz_check(a[i].preference == best);
	}
	return 0;
}
