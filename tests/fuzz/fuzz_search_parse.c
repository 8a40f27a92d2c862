/* fuzz_search_parse.c - libFuzzer target: "t SEARCH <input>" through the IMAP parser, then search_parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parser.h"
#include "search_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf line;
	buf_init(&line);
	buf_append_str(&line, "t SEARCH ");
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
		for (unsigned flags = 0; flags < 2; flags++) {
			struct search_program prog;
			struct search_error err;
			if (search_parse(c->args, c->count, flags, &prog, &err) == 0) {
				struct buf dump;
				buf_init(&dump);
				search_key_dump(&dump, prog.root);
				buf_free(&dump);
				search_program_free(&prog);
			} else if (err.text == NULL || prog.root != NULL) {
				abort();
			}
		}
	}
	imap_parser_free(&p);
	buf_free(&line);
	return 0;
}
