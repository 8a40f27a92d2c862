/* fuzz_smtp_data.c - libFuzzer target: the DATA reader against a reference, under random splits. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_proto.h"

struct fuzz_data_run {
	enum smtp_data_status status;
	char *out;
	size_t out_len;
	size_t consumed;
	unsigned flaws;
	uint64_t size;
};

/* Feeds in[] in chunks whose sizes come from seed (0: one shot); checks per-call invariants. */
static void fuzz_data_feed(const char *in, size_t len, uint64_t max, uint32_t seed, unsigned mode,
			   struct fuzz_data_run *run)
{
	struct smtp_data_reader r;
	size_t off = 0;

	memset(run, 0, sizeof(*run));
	run->out = malloc(2 * len + 1);
	assert(run->out != NULL);
	smtp_data_reader_init(&r, max, mode);
	run->status = SMTP_DATA_MORE;
	while (off < len || (off == 0 && len == 0)) {
		size_t n = len - off, out_len = (size_t)-1, consumed = (size_t)-1;
		char *out;

		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			n = (seed >> 16) % 17;
			if (n > len - off)
				n = len - off;
		}
		size_t room = smtp_data_out_room(&r, n);
		assert(room == (mode ? 2 * n : n));
		out = malloc(room + 1); /* exactly the room promised, so ASan sees overruns */
		assert(out != NULL);
		run->status = smtp_data_feed(&r, in + off, n, out, &out_len, &consumed);
		assert(out_len <= room);
		assert(consumed <= n);
		memcpy(run->out + run->out_len, out, out_len);
		free(out);
		run->out_len += out_len;
		off += consumed;
		if (run->status == SMTP_DATA_END)
			break;
		assert(run->status == SMTP_DATA_MORE && consumed == n);
		if (len == 0)
			break;
	}
	run->consumed = off;
	run->flaws = r.flaws;
	run->size = r.size;
	assert(run->out_len <= (mode ? 2 : 1) * run->consumed);
	if (!(run->flaws & SMTP_DATA_FLAW_TOO_BIG))
		assert(run->size == run->out_len);
	else
		assert(max != 0 && run->out_len == max && run->size > max);
}

/* Where the stream ends: after the first ".\r\n" that starts the stream or follows "\r\n". */
static size_t fuzz_data_end(const char *in, size_t len)
{
	if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
		return 3;
	for (size_t i = 0; i + 5 <= len; i++) {
		if (memcmp(in + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	}
	return 0;
}

/* Reference unstuffing of a flawless message in[0..len) made of CRLF lines. */
static size_t fuzz_data_unstuff(const char *in, size_t len, char *out)
{
	size_t n = 0;
	bool bol = true;

	for (size_t i = 0; i < len; i++) {
		if (bol && in[i] == '.') {
			bol = false;
			continue;
		}
		out[n++] = in[i];
		bol = i > 0 && in[i] == '\n' && in[i - 1] == '\r';
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_data_run one, split;
	const char *in;
	uint64_t max;
	uint32_t seed;
	size_t end;

	if (size < 2)
		return 0;
	max = data[0] < 128 ? 0 : (uint64_t)(data[0] - 127) * 3;
	seed = data[1] | 0x100u;
	in = (const char *)data + 2;
	size -= 2;

	fuzz_data_feed(in, size, max, 0, SMTP_BODY_CHECK_STRICT, &one);
	end = fuzz_data_end(in, size);
	if (end != 0) {
		assert(one.status == SMTP_DATA_END);
		assert(one.consumed == end);
	} else {
		assert(one.status == SMTP_DATA_MORE);
		assert(one.consumed == size);
	}
	if (memchr(in, '\n', one.consumed) == NULL && memchr(in, '\r', one.consumed) == NULL)
		assert(!(one.flaws & (SMTP_DATA_FLAW_BARE_LF | SMTP_DATA_FLAW_BARE_CR)));
	if (end != 0 && !(one.flaws & ~(SMTP_DATA_FLAW_LONG_LINE | SMTP_DATA_FLAW_NUL))) {
		char *ref = malloc(end + 1);
		size_t ref_len;

		assert(ref != NULL);
		ref_len = fuzz_data_unstuff(in, end - 3, ref);
		assert(ref_len == one.out_len);
		assert(memcmp(ref, one.out, ref_len) == 0);
		free(ref);
	}

	fuzz_data_feed(in, size, max, seed, SMTP_BODY_CHECK_STRICT, &split);
	assert(split.status == one.status);
	assert(split.consumed == one.consumed);
	assert(split.out_len == one.out_len);
	assert(memcmp(split.out, one.out, one.out_len) == 0);
	assert(split.flaws == one.flaws);
	assert(split.size == one.size);

	/* The trusted clients' mode: split-independent, never BARE_LF, no bare LF written; with
	 * no bare LF in the input it is the strict reader exactly. */
	struct fuzz_data_run lf_one, lf_split;
	bool has_bare_lf = false;
	for (size_t i = 0; i < size && !has_bare_lf; i++)
		has_bare_lf = in[i] == '\n' && (i == 0 || in[i - 1] != '\r');
	fuzz_data_feed(in, size, max, 0, SMTP_BODY_CHECK_BARE_LF_OK, &lf_one);
	fuzz_data_feed(in, size, max, seed, SMTP_BODY_CHECK_BARE_LF_OK, &lf_split);
	assert(lf_split.status == lf_one.status && lf_split.consumed == lf_one.consumed);
	assert(lf_split.out_len == lf_one.out_len && lf_split.flaws == lf_one.flaws);
	assert(memcmp(lf_split.out, lf_one.out, lf_one.out_len) == 0);
	assert(!(lf_one.flaws & SMTP_DATA_FLAW_BARE_LF));
	if (!(lf_one.flaws & SMTP_DATA_FLAW_TOO_BIG)) {
		for (size_t i = 0; i < lf_one.out_len; i++)
			assert(lf_one.out[i] != '\n' || (i > 0 && lf_one.out[i - 1] == '\r'));
	}
	if (!has_bare_lf) {
		assert(lf_one.status == one.status && lf_one.consumed == one.consumed);
		assert(lf_one.out_len == one.out_len && lf_one.flaws == one.flaws);
		assert(memcmp(lf_one.out, one.out, one.out_len) == 0);
	}
	free(lf_one.out);
	free(lf_split.out);
	free(one.out);
	free(split.out);
	return 0;
}
