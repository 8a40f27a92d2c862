/* search_parse.h - IMAP SEARCH program (RFC 3501 6.4.4, RFC 9051, RFC 4731 RETURN, RFC 7162 MODSEQ) into a key tree (pure). */
#ifndef MAIL_SEARCH_PARSE_H
#define MAIL_SEARCH_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_parser.h"
#include "seqset.h"

#define SEARCH_MAX_DEPTH     32   /* nesting of NOT, OR and parentheses */
#define SEARCH_MAX_KEYS      1000 /* search keys of one command, all kinds */
#define SEARCH_MAX_TEXT_KEYS 100  /* of them BODY, TEXT and header keys: each reads text */

/*
 * The tree has few node kinds so that an evaluator is one switch; the search
 * keywords are folded into them:
 *
 *   ALL                           SEARCH_ALL
 *   (k1 k2 ...), the program      SEARCH_AND over children
 *   OR k1 k2                      SEARCH_OR over children[0], children[1]
 *   NOT k                         SEARCH_NOT of children[0]
 *   1:5,7 / $                     SEARCH_SEQSET  set (sequence numbers; set.saved for "$")
 *   UID 1:5 / UID $               SEARCH_UIDSET  set (UIDs)
 *   ANSWERED DELETED DRAFT FLAGGED SEEN RECENT, KEYWORD kw
 *                                 SEARCH_FLAG    str = "\Answered" ... "\Recent", or kw
 *   UNANSWERED ... UNSEEN, UNKEYWORD kw
 *                                 SEARCH_NOT of SEARCH_FLAG
 *   NEW                           SEARCH_AND of (FLAG \Recent, NOT FLAG \Seen)
 *   OLD                           SEARCH_NOT of FLAG \Recent
 *   BCC CC FROM TO SUBJECT s      SEARCH_HEADER  header = "BCC" ... "SUBJECT", str = s,
 *                                                address = true except for SUBJECT
 *   HEADER name s                 SEARCH_HEADER  header = name as sent, str = s ("" means:
 *                                                the message has that header field)
 *   BODY s / TEXT s               SEARCH_BODY / SEARCH_TEXT  str = s
 *   BEFORE ON SINCE date          SEARCH_BEFORE / SEARCH_ON / SEARCH_SINCE, day: the
 *                                 internal date's day (imap_date_days_of_time with the
 *                                 message's zone) <, ==, >= day
 *   SENTBEFORE SENTON SENTSINCE   SEARCH_SENTBEFORE ... : the same on the Date: header
 *   LARGER n / SMALLER n          SEARCH_LARGER / SEARCH_SMALLER: RFC822.SIZE > n / < n
 *   MODSEQ [name type] n          SEARCH_MODSEQ: mod-sequence >= number; str/entry_type
 *                                 hold the optional entry name ("/flags/\Seen") and type
 *
 * Strings are matched as substrings, case-insensitively (RFC 3501 6.4.4). str is
 * NUL-terminated and str_len long (a literal may contain NUL).
 */
enum search_key_type {
	SEARCH_ALL,
	SEARCH_AND,
	SEARCH_OR,
	SEARCH_NOT,
	SEARCH_SEQSET,
	SEARCH_UIDSET,
	SEARCH_FLAG,
	SEARCH_HEADER,
	SEARCH_BODY,
	SEARCH_TEXT,
	SEARCH_BEFORE,
	SEARCH_ON,
	SEARCH_SINCE,
	SEARCH_SENTBEFORE,
	SEARCH_SENTON,
	SEARCH_SENTSINCE,
	SEARCH_LARGER,
	SEARCH_SMALLER,
	SEARCH_MODSEQ,
};

enum search_modseq_entry {
	SEARCH_MODSEQ_ENTRY_NONE = 0,
	SEARCH_MODSEQ_ENTRY_PRIV,
	SEARCH_MODSEQ_ENTRY_SHARED,
	SEARCH_MODSEQ_ENTRY_ALL,
};

struct search_key {
	enum search_key_type type;
	struct search_key *children; /* AND: count >= 1, OR: 2, NOT: 1 */
	unsigned count;
	struct seqset set; /* SEQSET, UIDSET */
	char *str;         /* FLAG, HEADER, BODY, TEXT, MODSEQ entry name (or NULL) */
	size_t str_len;
	char *header;    /* HEADER: field name */
	bool address;    /* HEADER from BCC/CC/FROM/TO */
	int64_t day;     /* dates: days since 1970-01-01 */
	uint64_t number; /* LARGER, SMALLER, MODSEQ */
	enum search_modseq_entry entry_type;
};

enum search_return_opt {
	SEARCH_RETURN_MIN = 1 << 0,
	SEARCH_RETURN_MAX = 1 << 1,
	SEARCH_RETURN_ALL = 1 << 2,
	SEARCH_RETURN_COUNT = 1 << 3,
	SEARCH_RETURN_SAVE = 1 << 4,
	SEARCH_RETURN_PARTIAL = 1 << 5, /* RFC 5267: PARTIAL lo:hi (partial_lo/hi) */
	SEARCH_RETURN_UPDATE = 1 << 6, /* RFC 5267: keep the result up to date (ADDTO/REMOVEFROM) */
	SEARCH_RETURN_CONTEXT = 1 << 7, /* RFC 5267: a hint that UPDATE or PARTIAL will follow */
};

enum search_charset {
	SEARCH_CHARSET_DEFAULT = 0, /* no CHARSET given */
	SEARCH_CHARSET_US_ASCII,
	SEARCH_CHARSET_UTF8,
};

struct search_program {
	struct search_key *root;         /* SEARCH_AND of the top-level keys */
	bool esearch;                    /* RETURN (...) given: answer with ESEARCH (RFC 4731) */
	unsigned return_opts;            /* enum search_return_opt bits; "RETURN ()" gives ALL */
	uint32_t partial_lo, partial_hi; /* PARTIAL: positions (1-based), lo <= hi */
	enum search_charset charset;
	bool has_modseq;    /* a MODSEQ key: the response carries (MODSEQ n) */
	bool uses_size;     /* LARGER or SMALLER: the messages' sizes are needed */
	bool uses_saved;    /* "$" appears: the server substitutes the saved result */
	unsigned keys;      /* search keys parsed (SEARCH_MAX_KEYS) */
	unsigned text_keys; /* of them BODY, TEXT, header keys (SEARCH_MAX_TEXT_KEYS) */
};

enum search_error_code {
	SEARCH_ERR_SYNTAX = 1, /* "BAD text" */
	SEARCH_ERR_BADCHARSET, /* "NO [BADCHARSET (US-ASCII UTF-8)] text" */
	SEARCH_ERR_TOO_DEEP,   /* "BAD text" */
	SEARCH_ERR_LIMIT,      /* too many keys: "NO [LIMIT] text" (the work a command may cost) */
};

struct search_error {
	enum search_error_code code;
	const char *text; /* static */
};

enum search_parse_flag {
	SEARCH_PARSE_SEARCHRES = 1 << 0, /* SEARCHRES enabled: accept "$" and RETURN (SAVE) */
};

/* args: the arguments after SEARCH (or UID SEARCH). Returns 0 with *prog_r filled
 * (free with search_program_free), or -1 with *err_r set. */
int search_parse(const struct imap_arg *args, unsigned count, unsigned flags,
		 struct search_program *prog_r, struct search_error *err_r);
void search_program_free(struct search_program *prog);

/* Debug rendering of a key tree, e.g. "AND(FLAG(\Seen) NOT(HEADER(FROM,\"bob\")))". */
void search_key_dump(struct buf *b, const struct search_key *key);

#endif
