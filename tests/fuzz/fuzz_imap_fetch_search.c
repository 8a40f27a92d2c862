/* fuzz_imap_fetch_search.c - libFuzzer target: hostile message bytes through SEARCH evaluation, FETCH rendering and CATENATE URL sections (first line: search keys and a section, the rest: the message). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "fetch_parse.h"
#include "imap_parser.h"
#include "mailbox.h"
#include "search.h"
#include "search_parse.h"

static const struct imap_command *fuzz_command(struct imap_parser *p, const char *prefix,
					       const char *args, size_t len, struct buf *line)
{
	buf_reset(line);
	buf_append_str(line, prefix);
	buf_append(line, args, len);
	buf_append_str(line, "\r\n");
	size_t off = 0, used;
	enum imap_parse_result r;
	while ((r = imap_parser_feed(p, line->data + off, line->len - off, &used)) ==
	       IMAP_PARSE_LITERAL)
		off += used;
	return r == IMAP_PARSE_DONE ? imap_parser_command(p) : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nl = memchr(in, '\n', size);
	size_t keys_len = nl ? (size_t)(nl - in) : size;
	const char *msg = nl ? nl + 1 : "";
	size_t msg_len = nl ? size - keys_len - 1 : 0;
	struct buf line;
	buf_init(&line);
	struct imap_parser *p = imap_parser_new(NULL);

	const struct imap_command *c = fuzz_command(p, "t SEARCH ", in, keys_len, &line);
	if (c) {
		struct search_program prog;
		struct search_error err;
		if (search_parse(c->args, c->count, 0, &prog, &err) == 0) {
			struct search_msg m = { .seq = 1,
						.uid = 5,
						.max_seq = 3,
						.max_uid = 9,
						.size = msg_len,
						.internal_date = 1770076800,
						.data = msg,
						.len = msg_len };
			int r = search_match(prog.root, &m);
			if (r != 0 && r != 1)
				abort();
			search_msg_clear(&m);
			search_program_free(&prog);
		}
	}

	/* Every FETCH item that reads the message. */
	imap_parser_reset(p);
	static const char items[] =
		"(ENVELOPE BODY BODYSTRUCTURE RFC822.HEADER BODY.PEEK[1.2.MIME] BODY.PEEK[2.HEADER]"
		" BODY.PEEK[1.TEXT]<2.5> BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]<1.9>"
		" BINARY.PEEK[1] BINARY.SIZE[2.1] BODY.PEEK[TEXT])";
	c = fuzz_command(p, "t FETCH 1 ", items, sizeof(items) - 1, &line);
	struct fetch_request req;
	struct fetch_error ferr;
	if (!c || fetch_parse(&c->args[1], c->count - 1, 0, &req, &ferr) < 0)
		abort();
	struct mailbox mb;
	memset(&mb, 0, sizeof(mb));
	struct fetch_msg fm = { .seq = 1, .uid = 5, .size = msg_len, .data = msg, .len = msg_len };
	struct fetch_out out;
	fetch_out_init(&out);
	fetch_render(&out, &req, &mb, &fm, true, true);
	for (size_t i = 0; i < out.nsegs; i++) {
		const struct fetch_seg *s = &out.segs[i];
		if (s->off + s->len > (s->from_msg ? msg_len : out.meta.len))
			abort();
	}
	fetch_out_free(&out);
	fetch_request_free(&req);
	/* The first line as a CATENATE URL's section of the message. */
	char section[256];
	size_t slen = keys_len < sizeof(section) - 1 ? keys_len : sizeof(section) - 1;
	memcpy(section, in, slen);
	section[slen] = '\0';
	buf_reset(&line);
	if (!memchr(section, '\0', slen) && fetch_section_bytes(section, msg, msg_len, &line) < 0 &&
	    line.len != 0)
		abort();
	imap_parser_free(&p);
	buf_free(&line);
	return 0;
}
