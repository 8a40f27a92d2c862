/* sort.h - SORT and THREAD command arguments (RFC 5256, RFC 5957 DISPLAY, RFC 5267 RETURN) and the SORT ordering of messages by their keys (pure). */
#ifndef MAIL_IMAP_SORT_H
#define MAIL_IMAP_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_parser.h"
#include "search_parse.h"
#include "thread.h"

#define SORT_MAX_CRITERIA 16

enum sort_key {
	SORT_ARRIVAL,
	SORT_CC,
	SORT_DATE,
	SORT_FROM,
	SORT_SIZE,
	SORT_SUBJECT,
	SORT_TO,
	SORT_DISPLAYFROM,
	SORT_DISPLAYTO,
};

struct sort_criterion {
	enum sort_key key;
	bool reverse;
};

struct sort_program {
	struct sort_criterion crit[SORT_MAX_CRITERIA];
	unsigned ncrit;
	bool needs_keys;              /* a criterion reads the header keys (not ARRIVAL, SIZE) */
	enum thread_algorithm alg;    /* THREAD */
	struct search_program search; /* esearch/return_opts: SORT RETURN (...) (ESORT) */
};

/* "SORT [RETURN (opts)] (criteria) charset keys..." without the command name. Returns 0 with
 * *p filled (free with sort_program_free), or -1 with *err_r set (as search_parse). */
int sort_parse(const struct imap_arg *args, unsigned count, unsigned flags, struct sort_program *p,
	       struct search_error *err_r);
/* "THREAD algorithm charset keys...". The same rules. */
int thread_parse(const struct imap_arg *args, unsigned count, unsigned flags,
		 struct sort_program *p, struct search_error *err_r);
void sort_program_free(struct sort_program *p);

/* One message to sort. Strings as sort_keys.h makes them ("" when not loaded). */
struct sort_msg {
	uint32_t seq, uid;
	int64_t arrival; /* internal date */
	int64_t date;    /* sent date, else the internal date */
	uint64_t size;
	const char *subject, *from, *to, *cc, *display_from, *display_to;
};

/* Orders msgs by the criteria; messages equal by all of them stay in sequence order
 * (RFC 5256: REVERSE does not reverse that). */
void sort_order(struct sort_msg *msgs, size_t n, const struct sort_criterion *crit, unsigned ncrit);

#endif
