/* search_test_command.h - the search unit tests' shared step: "t SEARCH <args>" through the IMAP parser. */
#ifndef MAIL_SEARCH_TEST_COMMAND_H
#define MAIL_SEARCH_TEST_COMMAND_H

#include "buf.h"
#include "imap_parser.h"

#include <criterion/criterion.h>

/* Parses "t SEARCH <args>\r\n" (literals included); *cmd is the parsed command, owned by the
 * returned parser (imap_parser_free). */
static struct imap_parser *search_test_command(const char *args, const struct imap_command **cmd)
{
	struct buf line;
	buf_init(&line);
	buf_printf(&line, "t SEARCH %s\r\n", args);
	struct imap_parser *p = imap_parser_new(NULL);
	size_t off = 0, used;
	enum imap_parse_result r;
	while ((r = imap_parser_feed(p, line.data + off, line.len - off, &used)) ==
	       IMAP_PARSE_LITERAL)
		off += used;
	buf_free(&line);
	cr_assert_eq(r, IMAP_PARSE_DONE, "IMAP syntax: %s", args);
	*cmd = imap_parser_command(p);
	return p;
}

#endif
