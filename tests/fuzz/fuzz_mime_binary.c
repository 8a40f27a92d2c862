/* fuzz_mime_binary.c - libFuzzer target: the base64 rewrite of binary parts, transfer decoders, IMAP URLs. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "imap_url.h"
#include "mime.h"
#include "mime_binary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct buf out;
	buf_init(&out);
	if (mime_binary_to_base64(&out, s, size)) {
		/* The rewritten message parses again. */
		struct mime_part *root = mime_parse(out.data, out.len);
		mime_free(root);
	}
	buf_reset(&out);
	mime_decode_transfer(&out, s, size, "base64");
	assert(out.len <= size);
	buf_reset(&out);
	mime_decode_transfer(&out, s, size, "quoted-printable");
	assert(out.len <= size + 1);
	char cte[32]; /* a Content-Transfer-Encoding token is a C string */
	size_t n = size < sizeof(cte) - 1 ? size : sizeof(cte) - 1;
	memcpy(cte, s, n);
	cte[n] = '\0';
	(void)mime_cte_known(size ? cte : NULL);
	buf_free(&out);
	struct imap_url u;
	if (imap_url_parse(s, size, &u) == 0) {
		assert(u.uid > 0 && strlen(u.mailbox) < sizeof(u.mailbox));
		assert(!u.partial || u.partial_len > 0);
	}
	return 0;
}
