/* imap_parser.h - incremental parser of one IMAP client command (RFC 3501/9051) into an argument tree (pure). */
#ifndef MAIL_IMAP_PARSER_H
#define MAIL_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imap_render.h" /* the string writers (imap_write_astring, ...) */

/*
 * Usage (the server owns the input buffer; the parser copies what it keeps):
 *
 *	r = imap_parser_feed(p, in, len, &used);   consume "used" bytes of in
 *	IMAP_PARSE_MORE      all of in consumed, feed more when it arrives
 *	IMAP_PARSE_LITERAL   a synchronising literal {n} was announced and accepted:
 *	                     send "+ Ready\r\n", then keep feeding. To refuse it instead
 *	                     (e.g. APPEND over quota: "NO [OVERQUOTA]"), answer the tag
 *	                     and call imap_parser_reset(): the client sends nothing more
 *	                     of that command.
 *	IMAP_PARSE_DONE      imap_parser_command(p) is valid until the next feed/reset;
 *	                     bytes after "used" belong to the next command
 *	IMAP_PARSE_ERROR     imap_parser_error(p) says what to answer ("<tag> BAD text",
 *	                     or "* BAD text" when the tag is NULL). Keep feeding: the
 *	                     parser itself discards the rest of the bad command (rest of
 *	                     the line, non-synchronising literals announced on it) and
 *	                     then parses the next command. When error->fatal is set,
 *	                     send "* BYE" and close: the parser accepts no more input.
 *
 * Each input byte is looked at once: literal data is copied in bulk, and feeding a
 * command one byte at a time gives exactly the same result as feeding it whole.
 * Empty lines between commands are ignored.
 */

enum imap_arg_type {
	IMAP_ARG_EOL = 0, /* sentinel after the last argument of every list */
	IMAP_ARG_ATOM,    /* atom, number, "*", "\Seen", sequence set, BODY[...]<..> kept whole */
	IMAP_ARG_NIL,     /* the atom NIL (any case); str holds it as sent */
	IMAP_ARG_STRING,  /* quoted string, unescaped */
	IMAP_ARG_LITERAL, /* {n}, {n+} or ~{n} literal; see flags */
	IMAP_ARG_LIST,    /* ( ... ) */
};

enum imap_arg_flag {
	IMAP_ARG_FLAG_NONSYNC = 1 << 0,  /* {n+} / ~{n+} (LITERAL+ / LITERAL-) */
	IMAP_ARG_FLAG_LITERAL8 = 1 << 1, /* ~{n}: binary literal (RFC 3516), may hold NUL */
};

struct imap_arg {
	enum imap_arg_type type;
	unsigned flags;        /* enum imap_arg_flag bits, literals only */
	char *str;             /* ATOM, NIL, STRING, LITERAL: owned, NUL-terminated */
	size_t len;            /* bytes in str (a literal may contain NUL) */
	struct imap_arg *list; /* LIST: count args, then an IMAP_ARG_EOL sentinel */
	unsigned count;
};

struct imap_command {
	const char *tag;
	const char *name;            /* upper-cased; "FETCH" for "UID FETCH" (see uid) */
	bool uid;                    /* the command was prefixed with UID */
	const struct imap_arg *args; /* count args, then an IMAP_ARG_EOL sentinel */
	unsigned count;
};

struct imap_parser_limits {
	size_t max_line;              /* bytes of a command, literal data excluded; default 65536 */
	uint64_t max_literal;         /* largest synchronising literal; default 35 MiB */
	uint64_t max_nonsync_literal; /* largest {n+}: 4096 for LITERAL-; default max_literal */
	uint64_t max_literal_total;   /* all literal data of one command; default 4 * max_literal */
	uint64_t max_skip_literal;    /* a too large {n+} up to this size is read and discarded,
					 * a larger one is fatal; default max_literal */
	unsigned max_depth;           /* list nesting; default 16, at most 64 */
	unsigned max_args;            /* arguments of one command, lists and their members included;
					 * default 10000 */
};

enum imap_parse_result {
	IMAP_PARSE_ERROR = -1,
	IMAP_PARSE_MORE = 0,
	IMAP_PARSE_DONE = 1,
	IMAP_PARSE_LITERAL = 2,
};

enum imap_parse_error_code {
	IMAP_PERR_NONE = 0,
	IMAP_PERR_SYNTAX,  /* malformed command: text says where */
	IMAP_PERR_TAG,     /* missing or invalid tag (tag is NULL) */
	IMAP_PERR_COMMAND, /* missing or invalid command name */
	IMAP_PERR_LINE_TOO_LONG,
	IMAP_PERR_LITERAL_TOO_BIG, /* for APPEND the server may answer "NO [TOOBIG]" instead */
	IMAP_PERR_TOO_DEEP,
	IMAP_PERR_TOO_MANY_ARGS,
};

enum imap_parse_skip {
	IMAP_SKIP_NONE = 0, /* the bad command ended where the error was found */
	IMAP_SKIP_LINE,     /* the parser discards input through the end of the line */
	IMAP_SKIP_LITERAL, /* ... first the n bytes of a non-synchronising literal, then the line */
};

struct imap_parse_error {
	enum imap_parse_error_code code;
	const char *text; /* static text for the BAD response */
	const char *tag;  /* NULL when no complete tag was read */
	const char *name; /* command name (upper-cased) or NULL when not read yet */
	enum imap_parse_skip skip;
	uint64_t literal_size; /* LITERAL_TOO_BIG: the announced size */
	bool fatal;            /* close the connection; the parser is dead */
};

struct imap_parser;

/* limits may be NULL; zero fields take their defaults. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits);
void imap_parser_free(struct imap_parser **pp);
/* Forgets any command in progress (e.g. after the server took the connection over). */
void imap_parser_reset(struct imap_parser *p);
/* Changes the synchronising-literal limit for the literals not yet announced (e.g.
 * after LOGIN); max_nonsync_literal and max_literal_total stay as they are. */
void imap_parser_set_max_literal(struct imap_parser *p, uint64_t max_literal);

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *in, size_t len,
					size_t *consumed_r);
/* After IMAP_PARSE_DONE; NULL otherwise. */
const struct imap_command *imap_parser_command(const struct imap_parser *p);
/* After IMAP_PARSE_ERROR; valid until the next feed or reset. */
const struct imap_parse_error *imap_parser_error(const struct imap_parser *p);
/* While a literal is being received: its announced size and the bytes still expected
 * (0 when no literal is in progress). */
uint64_t imap_parser_literal_size(const struct imap_parser *p);
uint64_t imap_parser_literal_remaining(const struct imap_parser *p);
/* Bytes of all literals ({n} and {n+}) announced and accepted in the command in progress. */
uint64_t imap_parser_literal_total(const struct imap_parser *p);
/* Tag and upper-cased command name of the command in progress, once read (NULL
 * before): lets the server decide about a literal announced by IMAP_PARSE_LITERAL. */
const char *imap_parser_tag(const struct imap_parser *p);
const char *imap_parser_name(const struct imap_parser *p);
/* True between commands (nothing of a next command consumed yet). */
bool imap_parser_idle(const struct imap_parser *p);

/* Argument accessors: false when the argument has another type. */
bool imap_arg_is_atom(const struct imap_arg *a); /* ATOM or NIL */
bool imap_arg_is_nil(const struct imap_arg *a);
bool imap_arg_is_eol(const struct imap_arg *a);
/* ATOM (or NIL) equal to word, ignoring ASCII case. */
bool imap_arg_atom_equals(const struct imap_arg *a, const char *word);
const char *imap_arg_atom(const struct imap_arg *a);
/* astring: atom, NIL (as its text), quoted string or literal. len_r may be NULL. */
bool imap_arg_string(const struct imap_arg *a, const char **s_r, size_t *len_r);
/* nstring: NIL gives *s_r = NULL; otherwise a quoted string or literal. */
bool imap_arg_nstring(const struct imap_arg *a, const char **s_r, size_t *len_r);
bool imap_arg_list(const struct imap_arg *a, const struct imap_arg **list_r, unsigned *count_r);
/* number (RFC 3501): atom of digits, at most 4294967295. */
bool imap_arg_number32(const struct imap_arg *a, uint32_t *n_r);
/* number64 (RFC 9051) / mod-sequence-value: digits, at most 2^63-1. */
bool imap_arg_number64(const struct imap_arg *a, uint64_t *n_r);

/* Debug rendering of an argument array (tests, logs): atoms verbatim, strings quoted,
 * literals as {n}DATA / {n+}DATA / ~{n}DATA, lists in parentheses, single spaces. */
void imap_args_dump(struct buf *b, const struct imap_arg *args, unsigned count);

#endif
