/* search.h - evaluates a SEARCH key tree (search_parse.h) against one message (pure, bytes loaded on demand). */
#ifndef MAIL_IMAP_SEARCH_H
#define MAIL_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "search_parse.h"

struct mime_part;

/* What a search key can look at. The caller fills the cheap fields; data is loaded only when
 * a key needs the header or body: by load(m), which sets data/len and returns 0 (or -1:
 * the message is treated as matching no text key). */
struct search_msg {
	uint32_t seq, uid;
	uint32_t max_seq, max_uid; /* '*' in sets already resolved by the caller is fine */
	unsigned flags;            /* enum mailbox_flag bits */
	uint32_t keywords;
	const char *const *keyword_names; /* MAILBOX_MAX_KEYWORDS entries, NULL when unused */
	uint64_t size;
	uint64_t modseq;
	time_t internal_date;
	int tz_minutes;             /* zone for BEFORE/ON/SINCE on the internal date */
	const struct seqset *saved; /* "$" (SEARCHRES): UIDs of the saved result, or NULL */

	const char *data;
	size_t len;
	int (*load)(struct search_msg *m, void *arg);
	void *load_arg;
	/* Optional: sets header/header_len to the header block alone (e.g. from the folder's
	 * header cache) and returns 0, or -1; header keys then do not load the whole message. */
	int (*load_header)(struct search_msg *m, void *arg);
	const char *header;
	size_t header_len;

	/* private: caches */
	bool load_failed;
	bool header_failed;
	struct mime_part *mime;
	bool have_text;
	char *body_text; /* UTF-8 text of every text part, case-folded (rfc2047_fold) once */
	size_t body_len;
	bool have_header_text;
	char *header_text; /* the header unfolded, decoded and folded, for TEXT: once per message,
			    * however many TEXT keys test it */
	size_t header_text_len;
};

/* 1 when m matches key, else 0. Cost bounded by SEARCH_MAX_DEPTH and the message size. */
int search_match(const struct search_key *key, struct search_msg *m);

/* Whether key looks at tz_minutes (date keys): the caller may leave it 0 otherwise. */
bool search_needs_tz(const struct search_key *key);

/* Frees the caches (not data). */
void search_msg_clear(struct search_msg *m);

#endif
