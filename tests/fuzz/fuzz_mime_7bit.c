/* fuzz_mime_7bit.c - libFuzzer target: 8-bit scan and the 7bit downgrade give 7-bit output or a reason. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "mime_7bit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *msg = malloc(size ? size : 1); /* exact size: ASan catches reads past the end */
	memcpy(msg, data, size);
	struct mime_8bit_info info;
	mime_8bit_scan(msg, size, &info);
	struct buf out;
	buf_init(&out);
	buf_append_str(&out, "x");
	const char *err = NULL;
	if (mime_downgrade_7bit(msg, size, &out, &err) == 0) {
		assert(mime_is_ascii(out.data, out.len));
		if (mime_is_ascii(msg, size)) /* nothing to convert: byte for byte */
			assert(out.len == size + 1 && memcmp(out.data + 1, msg, size) == 0);
	} else {
		assert(err && *err && out.len == 1); /* the caller's bytes kept, nothing added */
		assert(!mime_is_ascii(msg, size));
	}
	buf_free(&out);
	struct buf qp, back;
	buf_init(&qp);
	buf_init(&back);
	mime_qp_encode(&qp, msg, size);
	assert(mime_is_ascii(qp.data, qp.len));
	buf_free(&qp);
	buf_free(&back);
	free(msg);
	return 0;
}
