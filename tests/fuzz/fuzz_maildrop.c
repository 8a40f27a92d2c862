/* fuzz_maildrop.c - libFuzzer target: maildrop_parse over any file image; what parses points inside it. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maildrop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data, *err = NULL;
	struct maildrop_msg m;
	if (maildrop_parse(d, size, &m, &err) < 0) {
		assert(err != NULL);
		return 0;
	}
	assert(m.nrcpts > 0 && m.sender >= d && m.sender + m.sender_len <= d + size);
	assert(!memchr(m.sender, '\n', m.sender_len));
	for (size_t i = 0; i < m.nrcpts; i++) {
		assert(m.rcpt_lens[i] > 0 && m.rcpts[i] >= d &&
		       m.rcpts[i] + m.rcpt_lens[i] <= d + size);
		assert(!memchr(m.rcpts[i], '\n', m.rcpt_lens[i]));
	}
	assert(m.msg >= d && m.msg + m.msg_len == d + size);
	return 0;
}
