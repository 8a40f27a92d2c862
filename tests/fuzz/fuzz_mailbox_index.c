/* fuzz_mailbox_index.c - libFuzzer target: the mtad-uidlist parser and keyword list parser, with format/parse round-trip invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "mailbox_index.h"

static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailbox_index idx, again;
	char err[128];
	const char *p = (const char *)data;

	if (mailbox_index_parse(p, size, &idx, err, sizeof(err)) == 0) {
		/* Whatever parses obeys the invariants the folder code relies on. */
		uint32_t last = 0;
		for (size_t i = 0; i < idx.n; i++) {
			const struct mailbox_entry *e = &idx.e[i];
			fuzz_check(e->uid > last && e->uid < idx.uidnext);
			fuzz_check(e->modseq >= 1 && e->modseq <= idx.highest_modseq);
			fuzz_check(mailbox_index_name_ok(e->name, strlen(e->name)));
			fuzz_check(mailbox_index_base_len(e->name) > 0);
			fuzz_check(e->size <= MAILBOX_INDEX_MAX_SIZE ||
				   e->size == MAILBOX_SIZE_UNKNOWN);
			last = e->uid;
		}
		/* Formatting and parsing again gives the same index, byte for byte. */
		struct buf b;
		buf_init(&b);
		mailbox_index_format(&idx, &b);
		fuzz_check(mailbox_index_parse(b.data, b.len, &again, err, sizeof(err)) == 0);
		fuzz_check(again.n == idx.n && again.uidvalidity == idx.uidvalidity &&
			   again.uidnext == idx.uidnext &&
			   again.highest_modseq == idx.highest_modseq);
		for (size_t i = 0; i < idx.n; i++) {
			fuzz_check(again.e[i].uid == idx.e[i].uid);
			fuzz_check(again.e[i].size == idx.e[i].size);
			fuzz_check(again.e[i].idate == idx.e[i].idate);
			fuzz_check(again.e[i].in_new == idx.e[i].in_new);
			fuzz_check(strcmp(again.e[i].name, idx.e[i].name) == 0);
			/* Flag letters survive a rebuild of the info part. */
			unsigned fl;
			uint32_t kw;
			char info[64];
			mailbox_name_flags(idx.e[i].name, &fl, &kw);
			mailbox_info_build(idx.e[i].name, fl, kw, info, sizeof(info));
			unsigned fl2;
			uint32_t kw2;
			char *name2 = malloc(strlen(info) + 2);
			name2[0] = 'x';
			strcpy(name2 + 1, info);
			mailbox_name_flags(name2, &fl2, &kw2);
			fuzz_check(fl2 == fl && kw2 == kw);
			free(name2);
		}
		struct buf b2;
		buf_init(&b2);
		mailbox_index_format(&again, &b2);
		fuzz_check(b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0);
		buf_free(&b2);
		buf_free(&b);
		mailbox_index_free(&again);
	} else {
		fuzz_check(idx.n == 0 && idx.e == NULL);
		fuzz_check(err[0] != '\0');
	}
	mailbox_index_free(&idx);

	/* The keyword list parser is lenient but must yield only valid, distinct names. */
	char *names[MAILBOX_MAX_KEYWORDS];
	size_t n = mailbox_keywords_parse(p, size, names);
	fuzz_check(n <= MAILBOX_MAX_KEYWORDS);
	for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++) {
		if (!names[i])
			continue;
		fuzz_check(i < n && mailbox_keyword_name_ok(names[i]));
		for (size_t j = 0; j < i; j++)
			fuzz_check(!names[j] || strcasecmp(names[j], names[i]) != 0);
	}
	for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++)
		free(names[i]);
	return 0;
}
