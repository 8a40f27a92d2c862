/* fuzz_sort_parse.c - libFuzzer target: "t SORT <input>" and "t THREAD <input>" through the IMAP parser, then sort_parse/thread_parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parser.h"
#include "sort.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int thread = 0; thread < 2; thread++) {
		struct buf line;
		buf_init(&line);
		buf_append_str(&line, thread ? "t THREAD " : "t SORT ");
		buf_append(&line, data, size);
		buf_append_str(&line, "\r\n");
		struct imap_parser *p = imap_parser_new(NULL);
		size_t off = 0, used;
		enum imap_parse_result r;
		while ((r = imap_parser_feed(p, line.data + off, line.len - off, &used)) ==
		       IMAP_PARSE_LITERAL)
			off += used;
		if (r == IMAP_PARSE_DONE) {
			const struct imap_command *c = imap_parser_command(p);
			struct sort_program prog;
			struct search_error err;
			int ok = thread ? thread_parse(c->args, c->count, 0, &prog, &err)
					: sort_parse(c->args, c->count, 0, &prog, &err);
			if (ok == 0) {
				if (!prog.search.root || prog.ncrit > SORT_MAX_CRITERIA ||
				    (!thread && prog.ncrit == 0))
					abort();
				sort_program_free(&prog);
			} else if (err.text == NULL || prog.search.root != NULL) {
				abort();
			}
		}
		imap_parser_free(&p);
		buf_free(&line);
	}
	return 0;
}
