/* fetch.h - renders the FETCH response items of one message from its stored bytes (common/mime), as segments that refer to the bytes instead of copying them. */
#ifndef MAIL_IMAP_FETCH_H
#define MAIL_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "fetch_parse.h"

struct mailbox;

/* One piece of output: bytes of meta (the rendered text) or of the message itself. */
struct fetch_seg {
	bool from_msg;
	size_t off, len;
};

struct fetch_out {
	struct buf meta;
	struct fetch_seg *segs;
	size_t nsegs, cap;
	size_t mark;      /* meta bytes already covered by segments */
	bool unknown_cte; /* a BINARY item met a transfer encoding it cannot decode: the
			   * command answers NO [UNKNOWN-CTE] (RFC 3516) */
};

/* One message as FETCH sees it. data is NULL when the request needs no message bytes. */
struct fetch_msg {
	uint32_t seq, uid;
	uint64_t modseq;
	unsigned flags; /* enum mailbox_flag bits */
	uint32_t keywords;
	uint64_t size;
	time_t internal_date;
	const char *data;
	size_t len;
};

void fetch_out_init(struct fetch_out *o);
void fetch_out_reset(struct fetch_out *o);
void fetch_out_free(struct fetch_out *o);

/* True when an item of req needs the message's bytes. */
bool fetch_needs_data(const struct fetch_request *req);

/* Renders "* SEQ FETCH (...)\r\n" for m into o. mb gives the keyword names. add_flags adds
 * FLAGS when req lacks it (\Seen was just set); add_modseq adds MODSEQ (CONDSTORE). */
void fetch_render(struct fetch_out *o, const struct fetch_request *req, const struct mailbox *mb,
		  const struct fetch_msg *m, bool add_flags, bool add_modseq);

/* The bytes of BODY[section] of the message msg, section written as in FETCH ("", "1.2",
 * "HEADER.FIELDS (From Subject)", "2.MIME"): what CATENATE's URL parts take (RFC 4469, 5092).
 * Returns 0 with them appended to out, or -1 when the section is invalid or not in msg. */
int fetch_section_bytes(const char *section, const char *msg, size_t len, struct buf *out);

/* Offset east of UTC, in minutes, of this host's zone at t. */
int fetch_local_tz(time_t t);

#endif
