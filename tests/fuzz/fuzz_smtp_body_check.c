/* fuzz_smtp_body_check.c - libFuzzer target: the DATA/BDAT body checker against a byte-at-a-time reference, under random splits. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_proto.h"

/* The reference: one octet a step, the whole message at once. */
static unsigned fuzz_body_reference(const char *in, size_t len)
{
	unsigned flaws = 0;
	size_t line = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\0')
			flaws |= SMTP_DATA_FLAW_NUL;
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n') {
			line = 0;
			i++;
			continue;
		}
		if (in[i] == '\r')
			flaws |= SMTP_DATA_FLAW_BARE_CR;
		if (in[i] == '\n')
			flaws |= SMTP_DATA_FLAW_BARE_LF;
		if (++line > SMTP_TEXT_LINE_MAX - 2)
			flaws |= SMTP_DATA_FLAW_LONG_LINE;
	}
	return flaws;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_body_check one, split;
	uint32_t seed;
	const char *in;
	size_t off = 0;

	if (size < 1)
		return 0;
	seed = data[0] | 0x100u;
	in = (const char *)data + 1;
	size -= 1;

	smtp_body_check_init(&one, SMTP_BODY_CHECK_STRICT);
	smtp_body_check_feed(&one, in, size, NULL);
	assert(smtp_body_check_end(&one) == fuzz_body_reference(in, size));
	assert(!(one.flaws & SMTP_DATA_FLAW_TOO_BIG));

	/* The same octets as BDAT chunks of random sizes (0 included): the same verdict. */
	smtp_body_check_init(&split, SMTP_BODY_CHECK_STRICT);
	while (off < size) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % 9;
		if (n > size - off)
			n = size - off;
		smtp_body_check_feed(&split, in + off, n, NULL);
		off += n;
	}
	assert(smtp_body_check_end(&split) == one.flaws);
	return 0;
}
