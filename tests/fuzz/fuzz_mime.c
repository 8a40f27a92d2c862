/* fuzz_mime.c - libFuzzer target: part tree, BODYSTRUCTURE, ENVELOPE, sections and decoders over one message. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "imap_render.h"
#include "mime.h"
#include "rfc2047.h"
#include "rfc5322.h"

static void fuzz_mime_check(const struct mime_part *p, size_t lo, size_t hi, size_t *n)
{
	assert(lo <= p->header_start && p->header_start <= p->body_start);
	assert(p->body_start <= p->body_end && p->body_end <= hi);
	assert(p->size == p->body_end - p->body_start && p->vsize >= p->size &&
	       p->lines <= p->size);
	assert(p->depth <= MIME_MAX_DEPTH && p->type && p->subtype);
	(*n)++;
	assert(*n <= MIME_MAX_PARTS);
	for (size_t i = 0; i < p->nchildren; i++) {
		assert(p->children[i]->parent == p);
		fuzz_mime_check(p->children[i], p->body_start, p->body_end, n);
	}
	if (p->message)
		fuzz_mime_check(p->message, p->body_start, p->body_end, n);
}

/* Balanced parentheses outside quoted strings and literals. */
static void fuzz_mime_balanced(const struct buf *b)
{
	long depth = 0;
	for (size_t i = 0; i < b->len; i++) {
		char c = b->data[i];
		if (c == '"') {
			for (i++; i < b->len && b->data[i] != '"'; i++)
				if (b->data[i] == '\\')
					i++;
		} else if (c == '{') {
			char *end;
			unsigned long n = strtoul(b->data + i + 1, &end, 10);
			assert(*end == '}' && end[1] == '\r' && end[2] == '\n');
			i = (size_t)(end + 2 - b->data) + n;
			assert(i < b->len);
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			depth--;
			assert(depth >= 0);
		}
	}
	assert(depth == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	struct mime_part *root = mime_parse(msg, size);
	size_t n = 0;
	fuzz_mime_check(root, 0, size, &n);

	struct buf out;
	buf_init(&out);
	imap_write_bodystructure(&out, msg, root, true);
	fuzz_mime_balanced(&out);
	buf_reset(&out);
	imap_write_bodystructure(&out, msg, root, false);
	fuzz_mime_balanced(&out);
	buf_reset(&out);
	imap_write_envelope(&out, msg, root->body_start);
	fuzz_mime_balanced(&out);

	static const char *sections[] = { "", "1", "2", "1.1", "1.2", "2.1", "1.1.1", "3.2.1" };
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		for (int w = MIME_SECTION_BODY; w <= MIME_SECTION_MIME; w++) {
			size_t s, l;
			if (mime_section_range(root, sections[i], (enum mime_section)w, &s, &l) ==
			    0)
				assert(s <= size && l <= size - s);
		}
		const struct mime_part *p = mime_find_section(root, sections[i]);
		if (p) {
			buf_reset(&out);
			mime_part_text(&out, msg, p);
		}
	}
	buf_reset(&out);
	static const char *const names[] = { "subject", "from" };
	mime_write_header_fields(&out, msg, root->body_start, names, 2, true);

	struct rfc5322_field f;
	if (rfc5322_find(msg, root->body_start, "Subject", &f) == 1) {
		buf_reset(&out);
		rfc2047_decode(&out, f.value, f.value_len);
		rfc2047_contains(out.data ? out.data : "", out.len, "caf\xc3\xa9", 5);
	}
	if (rfc5322_find(msg, root->body_start, "Date", &f) == 1) {
		time_t t;
		int tz;
		rfc5322_parse_date(f.value, f.value_len, &t, &tz);
	}
	buf_free(&out);
	mime_free(root);
	return 0;
}
