/* fuzz_mailbox_cache.c - libFuzzer target: the mtad-cache head and record parser, with bounds, torn-prefix and format/parse round-trip invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mailbox_cache.h"

static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	uint32_t uv;
	size_t head = mailbox_cache_parse_head(p, size, &uv);
	fuzz_check(head <= size);
	fuzz_check(head == 0 || uv != 0);

	struct mailbox_cache_recs r = { 0 };
	size_t end = mailbox_cache_parse_records(p, size, head, true, &r);
	fuzz_check(end >= head && end <= size);
	struct buf b;
	buf_init(&b);
	mailbox_cache_format_head(&b, uv ? uv : 1);
	size_t bhead = b.len;
	for (size_t i = 0; i < r.n; i++) {
		/* Every record lies inside the good prefix and within the limits. */
		fuzz_check(r.r[i].uid != 0);
		fuzz_check(r.r[i].len <= MAILBOX_CACHE_MAX_HEADER);
		fuzz_check(r.r[i].off >= head && r.r[i].off + r.r[i].len < end);
		mailbox_cache_format_record(&b, r.r[i].kind, r.r[i].uid, p + r.r[i].off,
					    r.r[i].len);
	}
	/* Without verify: at least the verified records, the same ones first, each of those
	 * passing its check. */
	struct mailbox_cache_recs lazy = { 0 };
	fuzz_check(mailbox_cache_parse_records(p, size, head, false, &lazy) >= end);
	fuzz_check(lazy.n >= r.n);
	for (size_t i = 0; i < r.n; i++)
		fuzz_check(lazy.r[i].off == r.r[i].off && mailbox_cache_record_ok(p, &lazy.r[i]));
	mailbox_cache_recs_free(&lazy);
	/* The good prefix parses again to the same records; formatting reproduces it. */
	struct mailbox_cache_recs again = { 0 };
	fuzz_check(mailbox_cache_parse_records(p, end, head, true, &again) == end);
	fuzz_check(again.n == r.n);
	struct mailbox_cache_recs fmt = { 0 };
	fuzz_check(mailbox_cache_parse_records(b.data, b.len, bhead, true, &fmt) == b.len);
	fuzz_check(fmt.n == r.n);
	for (size_t i = 0; i < r.n; i++) {
		fuzz_check(fmt.r[i].uid == r.r[i].uid && fmt.r[i].len == r.r[i].len &&
			   fmt.r[i].kind == r.r[i].kind);
		fuzz_check(memcmp(b.data + fmt.r[i].off, p + r.r[i].off, r.r[i].len) == 0);
	}
	if (head)
		fuzz_check(b.len - bhead == end - head &&
			   memcmp(b.data + bhead, p + head, end - head) == 0);
	mailbox_cache_recs_free(&fmt);
	mailbox_cache_recs_free(&again);
	mailbox_cache_recs_free(&r);
	buf_free(&b);
	return 0;
}
