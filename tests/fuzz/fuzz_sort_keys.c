/* fuzz_sort_keys.c - libFuzzer target: the SORT/THREAD keys of a header block (base subject, addresses, ids), their cache record round trip, and the record parser on raw input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sort_keys.h"

static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

static void fuzz_count(const char *id, size_t len, void *arg)
{
	fuzz_check(len > 0 && id[0] != ' ');
	(*(size_t *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	/* Raw input as a record. */
	struct sort_keys k;
	if (sort_keys_parse(&k, p, size) == 0)
		sort_keys_free(&k);
	/* Raw input as a subject: the base subject is never longer than the decoded text. */
	struct buf b;
	buf_init(&b);
	bool reply;
	sort_base_subject(&b, p, size, &reply);
	buf_free(&b);
	/* Raw input as a header block: keys, then their record, parse back equal. */
	sort_keys_from_header(&k, p, size);
	fuzz_check(strlen(k.subject) <= SORT_KEYS_MAX_FIELD);
	fuzz_check(strlen(k.references) <= SORT_KEYS_MAX_REFS_LEN);
	size_t nrefs = 0;
	sort_keys_each_ref(k.references, fuzz_count, &nrefs);
	struct buf rec;
	buf_init(&rec);
	sort_keys_format(&rec, &k);
	struct sort_keys back;
	fuzz_check(sort_keys_parse(&back, rec.data, rec.len) == 0);
	fuzz_check(back.has_date == k.has_date && back.date == k.date && back.reply == k.reply);
	fuzz_check(strcmp(back.subject, k.subject) == 0);
	fuzz_check(strcmp(back.display_to, k.display_to) == 0);
	fuzz_check(strcmp(back.references, k.references) == 0);
	sort_keys_free(&back);
	buf_free(&rec);
	sort_keys_free(&k);
	return 0;
}
