/* fuzz_imap_parser.c - libFuzzer target: the IMAP parser fed whole and in chunks must agree; commands go on to FETCH/SEARCH parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_parse.h"
#include "imap_parser.h"
#include "search_parse.h"

static void fuzz_imap_parser_use(const struct imap_command *c, struct buf *log)
{
	if (strcmp(c->name, "FETCH") == 0 && c->count >= 1) {
		struct fetch_request req;
		struct fetch_error err;
		if (fetch_parse(c->args + 1, c->count - 1, c->uid ? FETCH_PARSE_UID : 0, &req,
				&err) == 0) {
			for (unsigned i = 0; i < req.count; i++)
				buf_printf(log, " %s", req.items[i].name);
			fetch_request_free(&req);
		}
	} else if (strcmp(c->name, "SEARCH") == 0) {
		struct search_program prog;
		struct search_error err;
		if (search_parse(c->args, c->count, SEARCH_PARSE_SEARCHRES, &prog, &err) == 0) {
			search_key_dump(log, prog.root);
			search_program_free(&prog);
		}
	}
	for (unsigned i = 0; i < c->count; i++) {
		const char *s;
		size_t n;
		if (imap_arg_string(&c->args[i], &s, &n))
			imap_write_astring(log, s, n);
	}
}

static void fuzz_imap_parser_run(const struct imap_parser_limits *lim, const uint8_t *data,
				 size_t len, size_t chunk, struct buf *log)
{
	struct imap_parser *p = imap_parser_new(lim);
	size_t off = 0;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t used;
		enum imap_parse_result r = imap_parser_feed(p, (const char *)data + off, n, &used);
		if (used > n || (r == IMAP_PARSE_MORE && used != n))
			abort();
		off += used;
		if (r == IMAP_PARSE_LITERAL) {
			buf_printf(log, "L%llu\n", (unsigned long long)imap_parser_literal_size(p));
		} else if (r == IMAP_PARSE_DONE) {
			const struct imap_command *c = imap_parser_command(p);
			buf_printf(log, "D %s %s %d ", c->tag, c->name, c->uid);
			imap_args_dump(log, c->args, c->count);
			fuzz_imap_parser_use(c, log);
			buf_append(log, "\n", 1);
		} else if (r == IMAP_PARSE_ERROR) {
			const struct imap_parse_error *e = imap_parser_error(p);
			buf_printf(log, "E %d %d %s %s\n", (int)e->code, (int)e->skip,
				   e->tag ? e->tag : "-", e->text);
			if (e->fatal)
				break;
		}
	}
	imap_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* first byte: chunk size and limits */
	size_t chunk = 1 + (data[0] & 0x0f);
	struct imap_parser_limits small = { .max_line = 200,
					    .max_literal = 64,
					    .max_nonsync_literal = 16,
					    .max_literal_total = 100,
					    .max_skip_literal = 300,
					    .max_depth = 4,
					    .max_args = 40 };
	const struct imap_parser_limits *lim = (data[0] & 0x10) ? &small : NULL;
	data++;
	size--;
	struct buf whole, pieces;
	buf_init(&whole);
	buf_init(&pieces);
	fuzz_imap_parser_run(lim, data, size, size ? size : 1, &whole);
	fuzz_imap_parser_run(lim, data, size, chunk, &pieces);
	if (whole.len != pieces.len ||
	    (whole.len && memcmp(whole.data, pieces.data, whole.len) != 0))
		abort();
	buf_free(&whole);
	buf_free(&pieces);
	return 0;
}
