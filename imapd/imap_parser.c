/* imap_parser.c - incremental IMAP command parser: a byte-driven state machine building an argument tree. */
#include "imap_parser.h"
#include "log.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMAP_PARSER_DEPTH_CAP 64
#define IMAP_LITERAL_SIZE_CAP (UINT64_MAX / 16)

enum parser_state {
	S_IDLE,    /* between commands; blank lines skipped */
	S_IDLE_CR, /* CR of a blank line */
	S_TAG,
	S_NAME_START, /* after "tag " or "tag UID " */
	S_NAME,
	S_ARG_START, /* expecting an argument, ')' or the end of the line */
	S_AFTER_ARG, /* after an argument: SP, ')' or end of line */
	S_TILDE,     /* '~' read: literal8 or an atom */
	S_ATOM,
	S_BRACKET, /* inside [...] of an atom */
	S_BRACKET_QUOTED,
	S_BRACKET_ESC,
	S_QUOTED,
	S_QUOTED_ESC,
	S_LIT_LEN,   /* digits of {n} */
	S_LIT_PLUS,  /* '+' of {n+} read */
	S_LIT_CLOSE, /* '}' read: CRLF next */
	S_LIT_LF,    /* CR after '}' read */
	S_LIT_DATA,
	S_CR,    /* CR at the end of the command line */
	S_DONE,  /* command complete, waiting for the caller */
	S_ENDED, /* an error ended the command; cleared at the next feed */
	S_SKIP_LINE,
	S_SKIP_LITERAL,
	S_DEAD,
};

/* How the discarding of a bad line tracks literal announcements "{n}" / "{n+}". */
enum skip_lit {
	SKIP_LIT_NONE,
	SKIP_LIT_DIGITS,
	SKIP_LIT_PLUS,
	SKIP_LIT_CLOSE,
	SKIP_LIT_CR,
};

struct parser_frame {
	struct imap_arg *v;
	unsigned n, cap;
};

struct imap_parser {
	struct imap_parser_limits lim;
	enum parser_state state;
	size_t line_len;
	unsigned nargs;
	unsigned depth;
	struct parser_frame frames[IMAP_PARSER_DEPTH_CAP + 1];
	struct buf tag, name, tok;
	bool tag_known, name_known, uid;
	/* literal in progress */
	uint64_t lit_size, lit_left, lit_total;
	bool lit_nonsync, lit8, lit_digits, lit_overflow;
	/* skipping */
	enum skip_lit skip_lit;
	uint64_t skip_n;
	bool skip_digits, skip_overflow, skip_nonsync;
	/* results */
	struct imap_command cmd;
	struct imap_arg *cmd_args;
	struct imap_parse_error err;
};

enum step {
	STEP_NEXT,       /* byte consumed */
	STEP_AGAIN,      /* byte not consumed, state changed: look at it again */
	STEP_DONE,       /* byte consumed, command complete */
	STEP_LITERAL,    /* byte consumed, synchronising literal accepted */
	STEP_ERROR,      /* byte not consumed, error set, now skipping */
	STEP_ERROR_USED, /* byte consumed, error set */
};

static void imap_parser_args_free(struct imap_arg *v, unsigned n)
{
	if (v == NULL)
		return;
	for (unsigned i = 0; i < n; i++) {
		free(v[i].str);
		imap_parser_args_free(v[i].list, v[i].count);
	}
	free(v);
}

static void imap_parser_clear(struct imap_parser *p)
{
	for (unsigned i = 0; i <= IMAP_PARSER_DEPTH_CAP; i++) {
		imap_parser_args_free(p->frames[i].v, p->frames[i].n);
		p->frames[i].v = NULL;
		p->frames[i].n = p->frames[i].cap = 0;
	}
	imap_parser_args_free(p->cmd_args, p->cmd.count);
	p->cmd_args = NULL;
	memset(&p->cmd, 0, sizeof(p->cmd));
	buf_reset(&p->tag);
	buf_reset(&p->name);
	buf_reset(&p->tok);
	p->tag_known = p->name_known = p->uid = false;
	p->line_len = 0;
	p->nargs = 0;
	p->depth = 0;
	p->lit_size = p->lit_left = p->lit_total = 0;
	p->state = S_IDLE;
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));
	if (limits != NULL)
		p->lim = *limits;
	if (p->lim.max_line == 0)
		p->lim.max_line = 65536;
	if (p->lim.max_literal == 0)
		p->lim.max_literal = 35 * 1024 * 1024;
	if (p->lim.max_nonsync_literal == 0)
		p->lim.max_nonsync_literal = p->lim.max_literal;
	if (p->lim.max_literal_total == 0)
		p->lim.max_literal_total = p->lim.max_literal * 4;
	if (p->lim.max_skip_literal == 0)
		p->lim.max_skip_literal = p->lim.max_literal;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = 16;
	if (p->lim.max_depth > IMAP_PARSER_DEPTH_CAP)
		p->lim.max_depth = IMAP_PARSER_DEPTH_CAP;
	if (p->lim.max_args == 0)
		p->lim.max_args = 10000;
	buf_init(&p->tag);
	buf_init(&p->name);
	buf_init(&p->tok);
	p->state = S_IDLE;
	return p;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;
	if (p == NULL)
		return;
	imap_parser_clear(p);
	buf_free(&p->tag);
	buf_free(&p->name);
	buf_free(&p->tok);
	free(p);
	*pp = NULL;
}

void imap_parser_reset(struct imap_parser *p)
{
	imap_parser_clear(p);
	memset(&p->err, 0, sizeof(p->err));
}

void imap_parser_set_max_literal(struct imap_parser *p, uint64_t max_literal)
{
	p->lim.max_literal = max_literal;
}

const struct imap_command *imap_parser_command(const struct imap_parser *p)
{
	return p->state == S_DONE ? &p->cmd : NULL;
}

const struct imap_parse_error *imap_parser_error(const struct imap_parser *p)
{
	return &p->err;
}

uint64_t imap_parser_literal_size(const struct imap_parser *p)
{
	return p->state == S_LIT_DATA ? p->lit_size : 0;
}

uint64_t imap_parser_literal_remaining(const struct imap_parser *p)
{
	return p->state == S_LIT_DATA ? p->lit_left : 0;
}

uint64_t imap_parser_literal_total(const struct imap_parser *p)
{
	return p->lit_total;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
	return p->tag_known ? p->tag.data : NULL;
}

const char *imap_parser_name(const struct imap_parser *p)
{
	return p->name_known ? p->name.data : NULL;
}

bool imap_parser_idle(const struct imap_parser *p)
{
	return p->state == S_IDLE || p->state == S_DONE || p->state == S_ENDED;
}

/* Character classes (RFC 3501 9 / RFC 9051 9). */
static bool imap_parser_is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

static bool imap_parser_is_tag_char(unsigned char c)
{
	return (imap_parser_is_atom_char(c) || c == ']') && c != '+';
}

/* Atom bytes accepted inside arguments: ATOM-CHAR plus resp-specials and list-wildcards
 * (astring, list-mailbox, sequence sets). */
static bool imap_parser_is_arg_char(unsigned char c)
{
	return imap_parser_is_atom_char(c) || c == ']' || c == '%' || c == '*';
}

static void imap_parser_skip_from_literal(struct imap_parser *p)
{
	p->skip_lit = SKIP_LIT_NONE;
	p->skip_n = p->lit_size;
	p->skip_digits = p->lit_digits;
	p->skip_overflow = p->lit_overflow;
	p->skip_nonsync = p->lit_nonsync;
	switch (p->state) {
	case S_LIT_LEN:
		p->skip_lit = SKIP_LIT_DIGITS;
		break;
	case S_LIT_PLUS:
		p->skip_lit = SKIP_LIT_PLUS;
		break;
	case S_LIT_CLOSE:
		p->skip_lit = SKIP_LIT_CLOSE;
		break;
	case S_LIT_LF:
		p->skip_lit = SKIP_LIT_CR;
		break;
	default:
		break;
	}
}

/* Records an error found at byte c (not consumed) and starts discarding the line. */
static enum step imap_parser_fail(struct imap_parser *p, unsigned char c,
				  enum imap_parse_error_code code, const char *text)
{
	memset(&p->err, 0, sizeof(p->err));
	p->err.code = code;
	p->err.text = text;
	p->err.tag = p->tag_known ? p->tag.data : NULL;
	p->err.name = p->name_known ? p->name.data : NULL;
	p->err.skip = c == '\n' ? IMAP_SKIP_NONE : IMAP_SKIP_LINE;
	imap_parser_skip_from_literal(p);
	p->state = S_SKIP_LINE;
	return STEP_ERROR;
}

static bool imap_parser_count_arg(struct imap_parser *p)
{
	if (p->nargs >= p->lim.max_args)
		return false;
	p->nargs++;
	return true;
}

static struct imap_arg *imap_parser_push(struct imap_parser *p, enum imap_arg_type type)
{
	struct parser_frame *f = &p->frames[p->depth];
	if (f->n + 2 > f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	struct imap_arg *a = &f->v[f->n++];
	memset(a, 0, sizeof(*a));
	memset(&f->v[f->n], 0, sizeof(*a)); /* EOL sentinel */
	a->type = type;
	return a;
}

static char *imap_parser_take(struct buf *b, size_t *len_r)
{
	char *s = buf_steal(b, len_r);
	if (s == NULL) {
		s = xstrdup("");
		*len_r = 0;
	}
	return s;
}

static void imap_parser_end_token(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg *a = imap_parser_push(p, type);
	a->str = imap_parser_take(&p->tok, &a->len);
	if (type == IMAP_ARG_ATOM && a->len == 3 && strcasecmp(a->str, "NIL") == 0)
		a->type = IMAP_ARG_NIL;
}

static void imap_parser_close_list(struct imap_parser *p)
{
	struct parser_frame *f = &p->frames[p->depth];
	struct imap_arg *v = f->v;
	unsigned n = f->n;
	if (v == NULL)
		v = xcalloc(1, sizeof(*v));
	f->v = NULL;
	f->n = f->cap = 0;
	p->depth--;
	struct imap_arg *a = imap_parser_push(p, IMAP_ARG_LIST);
	a->list = v;
	a->count = n;
}

/* LF at the end of the command line. */
static enum step imap_parser_end_line(struct imap_parser *p, unsigned char c)
{
	if (p->depth > 0)
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Missing ')'");
	struct parser_frame *f = &p->frames[0];
	p->cmd_args = f->v != NULL ? f->v : xcalloc(1, sizeof(*f->v));
	p->cmd.count = f->n;
	f->v = NULL;
	f->n = f->cap = 0;
	p->cmd.tag = p->tag.data;
	p->cmd.name = p->name.data;
	p->cmd.uid = p->uid;
	p->cmd.args = p->cmd_args;
	p->state = S_DONE;
	return STEP_DONE;
}

static enum step imap_parser_name_end(struct imap_parser *p, unsigned char c)
{
	if (p->name.len == 0)
		return imap_parser_fail(p, c, IMAP_PERR_COMMAND, "Missing command name");
	for (size_t i = 0; i < p->name.len; i++)
		p->name.data[i] = (char)toupper((unsigned char)p->name.data[i]);
	if (!p->uid && strcmp(p->name.data, "UID") == 0) {
		if (c != ' ')
			return imap_parser_fail(p, c, IMAP_PERR_COMMAND, "UID needs a command");
		p->uid = true;
		buf_reset(&p->name);
		p->state = S_NAME_START;
		return STEP_NEXT;
	}
	p->name_known = true;
	if (c == ' ') {
		p->state = S_ARG_START;
		return STEP_NEXT;
	}
	if (c == '\r') {
		p->state = S_CR;
		return STEP_NEXT;
	}
	return imap_parser_end_line(p, c);
}

/* The LF after "{n}" / "{n+}": check the limits and start receiving the data. */
static enum step imap_parser_literal_announced(struct imap_parser *p)
{
	uint64_t max = p->lit_nonsync ? p->lim.max_nonsync_literal : p->lim.max_literal;
	bool too_big = p->lit_overflow || p->lit_size > max ||
		       p->lit_size > p->lim.max_literal_total - p->lit_total;
	if (too_big) {
		memset(&p->err, 0, sizeof(p->err));
		p->err.code = IMAP_PERR_LITERAL_TOO_BIG;
		p->err.text = "Literal too big";
		p->err.tag = p->tag_known ? p->tag.data : NULL;
		p->err.name = p->name_known ? p->name.data : NULL;
		p->err.literal_size = p->lit_overflow ? UINT64_MAX : p->lit_size;
		if (!p->lit_nonsync) {
			/* The client waits for "+": the BAD ends the command. */
			p->err.skip = IMAP_SKIP_NONE;
			p->state = S_ENDED;
			return STEP_ERROR_USED;
		}
		if (p->lit_overflow || p->lit_size > p->lim.max_skip_literal) {
			p->err.fatal = true;
			p->state = S_DEAD;
			return STEP_ERROR_USED;
		}
		p->err.skip = IMAP_SKIP_LITERAL;
		p->skip_n = p->lit_size;
		p->state = S_SKIP_LITERAL;
		return STEP_ERROR_USED;
	}
	p->lit_total += p->lit_size;
	p->lit_left = p->lit_size;
	buf_reset(&p->tok);
	buf_reserve(&p->tok, p->lit_size < 65536 ? (size_t)p->lit_size : 65536);
	p->state = S_LIT_DATA;
	return p->lit_nonsync ? STEP_NEXT : STEP_LITERAL;
}

static void imap_parser_literal_end(struct imap_parser *p)
{
	struct imap_arg *a = imap_parser_push(p, IMAP_ARG_LITERAL);
	a->str = imap_parser_take(&p->tok, &a->len);
	a->flags = (p->lit_nonsync ? IMAP_ARG_FLAG_NONSYNC : 0) |
		   (p->lit8 ? IMAP_ARG_FLAG_LITERAL8 : 0);
	p->state = S_AFTER_ARG;
}

static enum step imap_parser_arg_start(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case ' ':
		return STEP_NEXT;
	case '\r':
		if (p->depth > 0)
			return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Missing ')'");
		p->state = S_CR;
		return STEP_NEXT;
	case '\n':
		return imap_parser_end_line(p, c);
	case ')':
		if (p->depth == 0)
			return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Unexpected ')'");
		imap_parser_close_list(p);
		p->state = S_AFTER_ARG;
		return STEP_NEXT;
	default:
		break;
	}
	if (c == '(' || c == '"' || c == '{' || c == '~' || c == '\\' || c == '[' ||
	    imap_parser_is_arg_char(c)) {
		if (!imap_parser_count_arg(p))
			return imap_parser_fail(p, c, IMAP_PERR_TOO_MANY_ARGS,
						"Too many arguments");
	} else if (c >= 0x80) {
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "8-bit data outside a string");
	} else {
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Invalid character");
	}
	buf_reset(&p->tok);
	switch (c) {
	case '(':
		if (p->depth >= p->lim.max_depth)
			return imap_parser_fail(p, c, IMAP_PERR_TOO_DEEP,
						"Lists nested too deeply");
		p->depth++;
		return STEP_NEXT;
	case '"':
		p->state = S_QUOTED;
		return STEP_NEXT;
	case '~':
		p->state = S_TILDE;
		return STEP_NEXT;
	case '{':
		p->lit8 = false;
		p->lit_size = 0;
		p->lit_digits = p->lit_overflow = p->lit_nonsync = false;
		p->state = S_LIT_LEN;
		return STEP_NEXT;
	case '\\':
		buf_append(&p->tok, "\\", 1);
		p->state = S_ATOM;
		return STEP_NEXT;
	default:
		p->state = S_ATOM;
		return STEP_AGAIN;
	}
}

/* A section "[...]" (which may hold spaces, parentheses and quotes) only follows these FETCH
 * attribute names; anywhere else '[' is an ordinary atom byte (CREATE abc[, LIST "" foo[%). */
static bool imap_parser_section_name(const struct buf *tok)
{
	static const char *const names[] = { "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK",
					     "BINARY.SIZE" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (tok->len == strlen(names[i]) && strncasecmp(tok->data, names[i], tok->len) == 0)
			return true;
	}
	return false;
}

static enum step imap_parser_atom(struct imap_parser *p, unsigned char c)
{
	if (c == ' ' || c == ')' || c == '\r' || c == '\n') {
		imap_parser_end_token(p, IMAP_ARG_ATOM);
		p->state = S_AFTER_ARG;
		return STEP_AGAIN;
	}
	if (c == '[' && imap_parser_section_name(&p->tok)) {
		buf_append(&p->tok, &c, 1);
		p->state = S_BRACKET;
		return STEP_NEXT;
	}
	if (imap_parser_is_arg_char(c)) {
		buf_append(&p->tok, &c, 1);
		return STEP_NEXT;
	}
	if (c >= 0x80)
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "8-bit data outside a string");
	if (c == '(' || c == '"' || c == '{')
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Missing space after atom");
	return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Invalid character in atom");
}

static enum step imap_parser_bracket(struct imap_parser *p, unsigned char c)
{
	if (c == '\r' || c == '\n')
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Missing ']'");
	if (c >= 0x80)
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "8-bit data in section");
	if (c < 0x20 || c == 0x7f)
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Invalid character in section");
	if (p->state == S_BRACKET_ESC) {
		if (c != '"' && c != '\\')
			return imap_parser_fail(p, c, IMAP_PERR_SYNTAX,
						"Invalid escape in quoted string");
		p->state = S_BRACKET_QUOTED;
	} else if (p->state == S_BRACKET_QUOTED) {
		if (c == '\\')
			p->state = S_BRACKET_ESC;
		else if (c == '"')
			p->state = S_BRACKET;
	} else {
		if (c == '[')
			return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Nested '[' in section");
		if (c == '{')
			return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Literal inside section");
		if (c == '"')
			p->state = S_BRACKET_QUOTED;
		else if (c == ']')
			p->state = S_ATOM;
	}
	buf_append(&p->tok, &c, 1);
	return STEP_NEXT;
}

static enum step imap_parser_quoted(struct imap_parser *p, unsigned char c)
{
	if (p->state == S_QUOTED_ESC) {
		if (c != '"' && c != '\\')
			return imap_parser_fail(p, c, IMAP_PERR_SYNTAX,
						"Invalid escape in quoted string");
		buf_append(&p->tok, &c, 1);
		p->state = S_QUOTED;
		return STEP_NEXT;
	}
	if (c == '"') {
		imap_parser_end_token(p, IMAP_ARG_STRING);
		p->state = S_AFTER_ARG;
		return STEP_NEXT;
	}
	if (c == '\\') {
		p->state = S_QUOTED_ESC;
		return STEP_NEXT;
	}
	if (c == '\r' || c == '\n')
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Unterminated quoted string");
	if (c == '\0')
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "NUL in quoted string");
	buf_append(&p->tok, &c, 1);
	return STEP_NEXT;
}

static enum step imap_parser_literal_head(struct imap_parser *p, unsigned char c)
{
	switch (p->state) {
	case S_LIT_LEN:
		if (c >= '0' && c <= '9') {
			if (p->lit_size > IMAP_LITERAL_SIZE_CAP)
				p->lit_overflow = true;
			else
				p->lit_size = p->lit_size * 10 + (uint64_t)(c - '0');
			p->lit_digits = true;
			return STEP_NEXT;
		}
		if (!p->lit_digits)
			return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Missing literal size");
		if (c == '+') {
			p->lit_nonsync = true;
			p->state = S_LIT_PLUS;
			return STEP_NEXT;
		}
		if (c == '}') {
			p->state = S_LIT_CLOSE;
			return STEP_NEXT;
		}
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Invalid literal size");
	case S_LIT_PLUS:
		if (c != '}')
			return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Expected '}' after '+'");
		p->state = S_LIT_CLOSE;
		return STEP_NEXT;
	case S_LIT_CLOSE:
		if (c == '\r') {
			p->state = S_LIT_LF;
			return STEP_NEXT;
		}
		if (c == '\n')
			return imap_parser_literal_announced(p);
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Expected CRLF after literal size");
	default: /* S_LIT_LF */
		if (c != '\n')
			return imap_parser_fail(p, c, IMAP_PERR_SYNTAX,
						"Expected CRLF after literal size");
		return imap_parser_literal_announced(p);
	}
}

static enum step imap_parser_step(struct imap_parser *p, unsigned char c)
{
	switch (p->state) {
	case S_IDLE:
		if (c == '\n')
			return STEP_NEXT;
		if (c == '\r') {
			p->state = S_IDLE_CR;
			return STEP_NEXT;
		}
		if (!imap_parser_is_tag_char(c))
			return imap_parser_fail(p, c, IMAP_PERR_TAG, "Invalid tag");
		p->state = S_TAG;
		return STEP_AGAIN;
	case S_IDLE_CR:
		if (c != '\n')
			return imap_parser_fail(p, c, IMAP_PERR_TAG, "CR not followed by LF");
		p->state = S_IDLE;
		return STEP_NEXT;
	case S_TAG:
		if (imap_parser_is_tag_char(c)) {
			buf_append(&p->tag, &c, 1);
			return STEP_NEXT;
		}
		if (c == ' ') {
			p->tag_known = true;
			p->state = S_NAME_START;
			return STEP_NEXT;
		}
		if (c == '\r' || c == '\n') {
			p->tag_known = true;
			return imap_parser_fail(p, c, IMAP_PERR_COMMAND, "Missing command name");
		}
		return imap_parser_fail(p, c, IMAP_PERR_TAG, "Invalid tag");
	case S_NAME_START:
	case S_NAME:
		if (imap_parser_is_atom_char(c) && c != '[') {
			buf_append(&p->name, &c, 1);
			p->state = S_NAME;
			return STEP_NEXT;
		}
		if (c == ' ' || c == '\r' || c == '\n')
			return imap_parser_name_end(p, c);
		return imap_parser_fail(p, c, IMAP_PERR_COMMAND, "Invalid command name");
	case S_ARG_START:
		return imap_parser_arg_start(p, c);
	case S_AFTER_ARG:
		if (c == ' ') {
			p->state = S_ARG_START;
			return STEP_NEXT;
		}
		if (c == ')' || c == '\r' || c == '\n')
			return imap_parser_arg_start(p, c);
		return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "Missing space between arguments");
	case S_TILDE:
		if (c == '{') {
			p->lit8 = true;
			p->lit_size = 0;
			p->lit_digits = p->lit_overflow = p->lit_nonsync = false;
			p->state = S_LIT_LEN;
			return STEP_NEXT;
		}
		buf_append(&p->tok, "~", 1);
		p->state = S_ATOM;
		return STEP_AGAIN;
	case S_ATOM:
		return imap_parser_atom(p, c);
	case S_BRACKET:
	case S_BRACKET_QUOTED:
	case S_BRACKET_ESC:
		return imap_parser_bracket(p, c);
	case S_QUOTED:
	case S_QUOTED_ESC:
		return imap_parser_quoted(p, c);
	case S_LIT_LEN:
	case S_LIT_PLUS:
	case S_LIT_CLOSE:
	case S_LIT_LF:
		return imap_parser_literal_head(p, c);
	case S_CR:
		if (c != '\n')
			return imap_parser_fail(p, c, IMAP_PERR_SYNTAX, "CR not followed by LF");
		return imap_parser_end_line(p, c);
	default:
		log_panic("imap_parser: step in state %d", (int)p->state);
	}
}

/* One byte of a line being discarded. Returns 1 when the line (and thus the bad
 * command) ended, 0 to go on, -1 on a fatal error. */
static int imap_parser_skip_byte(struct imap_parser *p, unsigned char c)
{
	if (c == '\n') {
		bool lit = p->skip_nonsync &&
			   (p->skip_lit == SKIP_LIT_CLOSE || p->skip_lit == SKIP_LIT_CR);
		p->skip_lit = SKIP_LIT_NONE;
		if (!lit)
			return 1;
		if (p->skip_overflow || p->skip_n > p->lim.max_skip_literal) {
			memset(&p->err, 0, sizeof(p->err));
			p->err.code = IMAP_PERR_LITERAL_TOO_BIG;
			p->err.text = "Literal too big";
			p->err.literal_size = p->skip_overflow ? UINT64_MAX : p->skip_n;
			p->err.tag = p->tag_known ? p->tag.data : NULL;
			p->err.name = p->name_known ? p->name.data : NULL;
			p->err.fatal = true;
			return -1;
		}
		p->state = S_SKIP_LITERAL;
		return 0;
	}
	switch (p->skip_lit) {
	case SKIP_LIT_DIGITS:
		if (c >= '0' && c <= '9') {
			if (p->skip_n > IMAP_LITERAL_SIZE_CAP)
				p->skip_overflow = true;
			else
				p->skip_n = p->skip_n * 10 + (uint64_t)(c - '0');
			p->skip_digits = true;
			return 0;
		}
		if (p->skip_digits && c == '+') {
			p->skip_nonsync = true;
			p->skip_lit = SKIP_LIT_PLUS;
			return 0;
		}
		if (p->skip_digits && c == '}') {
			p->skip_lit = SKIP_LIT_CLOSE;
			return 0;
		}
		break;
	case SKIP_LIT_PLUS:
		if (c == '}') {
			p->skip_lit = SKIP_LIT_CLOSE;
			return 0;
		}
		break;
	case SKIP_LIT_CLOSE:
		if (c == '\r') {
			p->skip_lit = SKIP_LIT_CR;
			return 0;
		}
		break;
	default:
		break;
	}
	p->skip_lit = SKIP_LIT_NONE;
	if (c == '{') {
		p->skip_lit = SKIP_LIT_DIGITS;
		p->skip_n = 0;
		p->skip_digits = p->skip_overflow = p->skip_nonsync = false;
	}
	return 0;
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *in, size_t len,
					size_t *consumed_r)
{
	size_t i = 0;
	*consumed_r = 0;
	if (p->state == S_DEAD)
		return IMAP_PARSE_ERROR;
	if (p->state == S_DONE || p->state == S_ENDED)
		imap_parser_clear(p);

	while (i < len) {
		if (p->state == S_LIT_DATA || p->state == S_SKIP_LITERAL) {
			uint64_t *left = p->state == S_LIT_DATA ? &p->lit_left : &p->skip_n;
			size_t n = len - i;
			if ((uint64_t)n > *left)
				n = (size_t)*left;
			if (p->state == S_LIT_DATA)
				buf_append(&p->tok, in + i, n);
			i += n;
			*left -= n;
			if (*left == 0) {
				if (p->state == S_LIT_DATA) {
					imap_parser_literal_end(p);
				} else {
					p->state = S_SKIP_LINE;
					p->skip_lit = SKIP_LIT_NONE;
				}
			}
			continue;
		}
		unsigned char c = (unsigned char)in[i];
		if (p->state == S_SKIP_LINE) {
			int r = imap_parser_skip_byte(p, c);
			i++;
			if (r < 0) {
				p->state = S_DEAD;
				*consumed_r = i;
				return IMAP_PARSE_ERROR;
			}
			if (r > 0)
				imap_parser_clear(p);
			continue;
		}
		bool blank = (p->state == S_IDLE || p->state == S_IDLE_CR) &&
			     (c == '\r' || c == '\n');
		enum step st;
		if (!blank && ++p->line_len > p->lim.max_line)
			st = imap_parser_fail(p, c, IMAP_PERR_LINE_TOO_LONG,
					      "Command line too long");
		else
			while ((st = imap_parser_step(p, c)) == STEP_AGAIN)
				;
		switch (st) {
		case STEP_NEXT:
			i++;
			break;
		case STEP_AGAIN:
			break;
		case STEP_DONE:
			*consumed_r = i + 1;
			return IMAP_PARSE_DONE;
		case STEP_LITERAL:
			*consumed_r = i + 1;
			return IMAP_PARSE_LITERAL;
		case STEP_ERROR:
			*consumed_r = i;
			return IMAP_PARSE_ERROR;
		case STEP_ERROR_USED:
			*consumed_r = i + 1;
			return IMAP_PARSE_ERROR;
		}
	}
	*consumed_r = i;
	return IMAP_PARSE_MORE;
}

/* Accessors. */

bool imap_arg_is_atom(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NIL;
}

bool imap_arg_is_nil(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_NIL;
}

bool imap_arg_is_eol(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_EOL;
}

bool imap_arg_atom_equals(const struct imap_arg *a, const char *word)
{
	return imap_arg_is_atom(a) && strcasecmp(a->str, word) == 0;
}

const char *imap_arg_atom(const struct imap_arg *a)
{
	return imap_arg_is_atom(a) ? a->str : NULL;
}

bool imap_arg_string(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NIL:
	case IMAP_ARG_STRING:
	case IMAP_ARG_LITERAL:
		*s_r = a->str;
		if (len_r != NULL)
			*len_r = a->len;
		return true;
	default:
		return false;
	}
}

bool imap_arg_nstring(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a->type == IMAP_ARG_NIL) {
		*s_r = NULL;
		if (len_r != NULL)
			*len_r = 0;
		return true;
	}
	if (a->type != IMAP_ARG_STRING && a->type != IMAP_ARG_LITERAL)
		return false;
	*s_r = a->str;
	if (len_r != NULL)
		*len_r = a->len;
	return true;
}

bool imap_arg_list(const struct imap_arg *a, const struct imap_arg **list_r, unsigned *count_r)
{
	if (a->type != IMAP_ARG_LIST)
		return false;
	*list_r = a->list;
	*count_r = a->count;
	return true;
}

static bool imap_arg_digits(const struct imap_arg *a, uint64_t max, uint64_t *n_r)
{
	if (a->type != IMAP_ARG_ATOM || a->len == 0 || a->len > 20)
		return false;
	uint64_t n = 0;
	for (size_t i = 0; i < a->len; i++) {
		unsigned char c = (unsigned char)a->str[i];
		if (c < '0' || c > '9')
			return false;
		if (n > (max - (uint64_t)(c - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(c - '0');
	}
	*n_r = n;
	return true;
}

bool imap_arg_number32(const struct imap_arg *a, uint32_t *n_r)
{
	uint64_t n;
	if (!imap_arg_digits(a, UINT32_MAX, &n))
		return false;
	*n_r = (uint32_t)n;
	return true;
}

bool imap_arg_number64(const struct imap_arg *a, uint64_t *n_r)
{
	return imap_arg_digits(a, INT64_MAX, n_r);
}

void imap_args_dump(struct buf *b, const struct imap_arg *args, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];
		if (i > 0)
			buf_append(b, " ", 1);
		switch (a->type) {
		case IMAP_ARG_ATOM:
		case IMAP_ARG_NIL:
			buf_append(b, a->str, a->len);
			break;
		case IMAP_ARG_STRING:
			imap_write_string_flags(b, a->str, a->len, IMAP_WRITE_UTF8, false);
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(b, "%s{%zu%s}", (a->flags & IMAP_ARG_FLAG_LITERAL8) ? "~" : "",
				   a->len, (a->flags & IMAP_ARG_FLAG_NONSYNC) ? "+" : "");
			buf_append(b, a->str, a->len);
			break;
		case IMAP_ARG_LIST:
			buf_append(b, "(", 1);
			imap_args_dump(b, a->list, a->count);
			buf_append(b, ")", 1);
			break;
		case IMAP_ARG_EOL:
			buf_append(b, "<EOL>", 5);
			break;
		}
	}
}
