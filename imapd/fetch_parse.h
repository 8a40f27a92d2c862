/* fetch_parse.h - IMAP FETCH attributes and modifiers (RFC 3501/9051, RFC 3516 BINARY, RFC 7162) into an item list (pure). */
#ifndef MAIL_FETCH_PARSE_H
#define MAIL_FETCH_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_parser.h"

#define FETCH_MAX_ITEMS 1000 /* attributes in one FETCH */
#define FETCH_MAX_PARTS 32   /* section part numbers ("1.2.3" has 3) */

enum fetch_item_type {
	FETCH_FLAGS,
	FETCH_INTERNALDATE,
	FETCH_RFC822_SIZE,
	FETCH_ENVELOPE,
	FETCH_BODY, /* BODY without section: BODYSTRUCTURE without extension data */
	FETCH_BODYSTRUCTURE,
	FETCH_UID,
	FETCH_MODSEQ,
	FETCH_RFC822,        /* the whole message, like BODY[] (sets \Seen) */
	FETCH_RFC822_HEADER, /* like BODY.PEEK[HEADER] */
	FETCH_RFC822_TEXT,   /* like BODY[TEXT] (sets \Seen) */
	FETCH_BODY_SECTION,  /* BODY[section]<partial>, BODY.PEEK[...] */
	FETCH_BINARY,        /* BINARY[part]<partial>, BINARY.PEEK[...] (RFC 3516) */
	FETCH_BINARY_SIZE,   /* BINARY.SIZE[part] */
};

enum fetch_section_text {
	FETCH_SECTION_WHOLE = 0, /* "BODY[]", "BODY[1.2]": the whole message / part */
	FETCH_SECTION_HEADER,
	FETCH_SECTION_HEADER_FIELDS,
	FETCH_SECTION_HEADER_FIELDS_NOT,
	FETCH_SECTION_TEXT,
	FETCH_SECTION_MIME, /* only after part numbers */
};

struct fetch_section {
	uint32_t parts[FETCH_MAX_PARTS]; /* "1.2.3" -> {1, 2, 3} */
	unsigned part_count;             /* 0: the message itself */
	enum fetch_section_text text;
	char **fields; /* HEADER.FIELDS(.NOT): upper-cased names */
	unsigned field_count;
};

/*
 * One thing to put into each FETCH response, in request order (duplicates removed).
 * name is what the response must carry before the value, per RFC 3501 7.4.2: PEEK
 * dropped, section spec echoed, a partial reduced to its origin:
 *   BODY.PEEK[HEADER.FIELDS (from "To")]<0.100>  ->  BODY[HEADER.FIELDS (FROM TO)]<0>
 * For a partial the server sends at most count octets starting at origin.
 */
struct fetch_item {
	enum fetch_item_type type;
	bool peek;                    /* BODY.PEEK / BINARY.PEEK: do not set \Seen */
	struct fetch_section section; /* BODY_SECTION, BINARY, BINARY_SIZE */
	bool partial;
	uint32_t origin;
	uint32_t count; /* >= 1 when partial */
	char *name;
};

struct fetch_request {
	struct fetch_item *items;
	unsigned count;
	bool sets_seen;        /* an item sets \Seen (RFC822, RFC822.TEXT, BODY[..], BINARY[..]):
					 * in a read-write mailbox, also answer FLAGS when they change */
	bool has_changedsince; /* CHANGEDSINCE modifier (RFC 7162): MODSEQ item added */
	bool wants_size;       /* RFC822.SIZE asked (alone or in FAST/ALL/FULL) */
	uint64_t changedsince;
	bool vanished; /* VANISHED modifier (QRESYNC, UID FETCH only) */
};

enum fetch_parse_flag {
	FETCH_PARSE_UID = 1 << 0, /* UID FETCH: the UID item is added when missing */
};

struct fetch_error {
	const char *text; /* static; the server answers "BAD text" */
};

/* args: the arguments after the sequence set: the attribute (atom, macro or list), then
 * the optional modifier list. Returns 0 with *req_r filled (free with
 * fetch_request_free), or -1 with *err_r set. */
int fetch_parse(const struct imap_arg *args, unsigned count, unsigned flags,
		struct fetch_request *req_r, struct fetch_error *err_r);
void fetch_request_free(struct fetch_request *req);

#endif
