/* fuzz_base64.c - libFuzzer target: strict base64 decoding; what decodes re-encodes to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t max = BASE64_DECODED_MAX(size);
	unsigned char *out = malloc(max ? max : 1);
	size_t n = 0;
	const char *error = NULL;

	if (base64_decode(in, size, out, max, &n, &error) == 0) {
		/* strict means canonical: the only accepted text is the encoding itself */
		char *enc = malloc(BASE64_ENCODED_LEN(n) + 1);
		if (base64_encode(out, n, enc, BASE64_ENCODED_LEN(n) + 1) != (long)size ||
		    memcmp(enc, in, size) != 0)
			abort();
		free(enc);
		/* a one byte smaller output buffer must be refused when there was output */
		if (n > 0 && base64_decode(in, size, out, n - 1, &n, &error) != -1)
			abort();
	} else if (!error || !*error) {
		abort();
	}
	free(out);
	return 0;
}
