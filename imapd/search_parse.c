/* search_parse.c - SEARCH arguments to a search_key tree: keyword table, depth-bounded recursive descent. */
#include "search_parse.h"
#include "imap_date.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum search_arg_kind {
	KIND_NONE,    /* no argument */
	KIND_FLAG,    /* system flag, fixed */
	KIND_UNFLAG,  /* NOT of a system flag */
	KIND_ASTRING, /* a string argument */
	KIND_HEADER,  /* header name (fixed or read) and string */
	KIND_DATE,
	KIND_NUMBER,
	KIND_KEYWORD, /* flag-keyword atom */
	KIND_UNKEYWORD,
	KIND_SEQSET, /* UID */
	KIND_NOT,
	KIND_OR,
	KIND_NEW,
	KIND_OLD,
	KIND_MODSEQ,
};

struct search_keyword {
	const char *name;
	enum search_arg_kind kind;
	enum search_key_type type;
	const char *arg; /* flag name or header name */
};

static const struct search_keyword search_keywords[] = {
	{ "ALL", KIND_NONE, SEARCH_ALL, NULL },
	{ "ANSWERED", KIND_FLAG, SEARCH_FLAG, "\\Answered" },
	{ "BCC", KIND_HEADER, SEARCH_HEADER, "BCC" },
	{ "BEFORE", KIND_DATE, SEARCH_BEFORE, NULL },
	{ "BODY", KIND_ASTRING, SEARCH_BODY, NULL },
	{ "CC", KIND_HEADER, SEARCH_HEADER, "CC" },
	{ "DELETED", KIND_FLAG, SEARCH_FLAG, "\\Deleted" },
	{ "DRAFT", KIND_FLAG, SEARCH_FLAG, "\\Draft" },
	{ "FLAGGED", KIND_FLAG, SEARCH_FLAG, "\\Flagged" },
	{ "FROM", KIND_HEADER, SEARCH_HEADER, "FROM" },
	{ "HEADER", KIND_HEADER, SEARCH_HEADER, NULL },
	{ "KEYWORD", KIND_KEYWORD, SEARCH_FLAG, NULL },
	{ "LARGER", KIND_NUMBER, SEARCH_LARGER, NULL },
	{ "MODSEQ", KIND_MODSEQ, SEARCH_MODSEQ, NULL },
	{ "NEW", KIND_NEW, SEARCH_AND, NULL },
	{ "NOT", KIND_NOT, SEARCH_NOT, NULL },
	{ "OLD", KIND_OLD, SEARCH_NOT, NULL },
	{ "ON", KIND_DATE, SEARCH_ON, NULL },
	{ "OR", KIND_OR, SEARCH_OR, NULL },
	{ "RECENT", KIND_FLAG, SEARCH_FLAG, "\\Recent" },
	{ "SEEN", KIND_FLAG, SEARCH_FLAG, "\\Seen" },
	{ "SENTBEFORE", KIND_DATE, SEARCH_SENTBEFORE, NULL },
	{ "SENTON", KIND_DATE, SEARCH_SENTON, NULL },
	{ "SENTSINCE", KIND_DATE, SEARCH_SENTSINCE, NULL },
	{ "SINCE", KIND_DATE, SEARCH_SINCE, NULL },
	{ "SMALLER", KIND_NUMBER, SEARCH_SMALLER, NULL },
	{ "SUBJECT", KIND_HEADER, SEARCH_HEADER, "SUBJECT" },
	{ "TEXT", KIND_ASTRING, SEARCH_TEXT, NULL },
	{ "TO", KIND_HEADER, SEARCH_HEADER, "TO" },
	{ "UID", KIND_SEQSET, SEARCH_UIDSET, NULL },
	{ "UNANSWERED", KIND_UNFLAG, SEARCH_FLAG, "\\Answered" },
	{ "UNDELETED", KIND_UNFLAG, SEARCH_FLAG, "\\Deleted" },
	{ "UNDRAFT", KIND_UNFLAG, SEARCH_FLAG, "\\Draft" },
	{ "UNFLAGGED", KIND_UNFLAG, SEARCH_FLAG, "\\Flagged" },
	{ "UNKEYWORD", KIND_UNKEYWORD, SEARCH_FLAG, NULL },
	{ "UNSEEN", KIND_UNFLAG, SEARCH_FLAG, "\\Seen" },
};

struct search_ctx {
	const struct imap_arg *args;
	unsigned count;
	unsigned pos;
	unsigned flags;
	struct search_program *prog;
	struct search_error *err;
};

static int search_parse_fail(struct search_ctx *c, enum search_error_code code, const char *text)
{
	c->err->code = code;
	c->err->text = text;
	return -1;
}

static void search_key_free(struct search_key *k)
{
	for (unsigned i = 0; i < k->count; i++)
		search_key_free(&k->children[i]);
	free(k->children);
	seqset_free(&k->set);
	free(k->str);
	free(k->header);
}

void search_program_free(struct search_program *prog)
{
	if (prog->root != NULL) {
		search_key_free(prog->root);
		free(prog->root);
	}
	memset(prog, 0, sizeof(*prog));
}

static const struct imap_arg *search_parse_next(struct search_ctx *c)
{
	if (c->pos >= c->count)
		return NULL;
	return &c->args[c->pos++];
}

static void search_key_set_str(struct search_key *k, const char *s, size_t len)
{
	k->str = xmalloc(len + 1);
	memcpy(k->str, s, len);
	k->str[len] = '\0';
	k->str_len = len;
}

/* Appends a zeroed child to parent and returns it (valid until the next append). */
static struct search_key *search_key_add_child(struct search_key *parent)
{
	unsigned n = parent->count;
	if ((n & (n - 1)) == 0) /* 0, 1, 2, 4, ...: capacity doubles */
		parent->children = xrealloc(parent->children,
					    (n ? n * 2 : 1) * sizeof(*parent->children));
	struct search_key *k = &parent->children[parent->count++];
	memset(k, 0, sizeof(*k));
	return k;
}

static void search_key_make_flag(struct search_key *k, const char *flag, bool negate)
{
	if (negate) {
		k->type = SEARCH_NOT;
		k = search_key_add_child(k);
	}
	k->type = SEARCH_FLAG;
	search_key_set_str(k, flag, strlen(flag));
}

static int search_parse_seqset(struct search_ctx *c, const struct imap_arg *a, struct search_key *k)
{
	const char *error;
	unsigned f = (c->flags & SEARCH_PARSE_SEARCHRES) ? SEQSET_ALLOW_SAVED : 0;
	if (a == NULL || a->type != IMAP_ARG_ATOM)
		return search_parse_fail(c, SEARCH_ERR_SYNTAX, "UID needs a sequence set");
	if (seqset_parse(a->str, a->len, f, &k->set, &error) < 0)
		return search_parse_fail(c, SEARCH_ERR_SYNTAX, error);
	if (k->set.saved)
		c->prog->uses_saved = true;
	return 0;
}

static bool search_is_field_name(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == ':')
			return false;
	}
	return true;
}

static int search_parse_key(struct search_ctx *c, struct search_key *k, unsigned depth);

/* A parenthesised group or the top level: keys until the end of args[0..count). */
static int search_parse_keys(struct search_ctx *c, const struct imap_arg *args, unsigned count,
			     struct search_key *k, unsigned depth)
{
	struct search_ctx sub = *c;
	sub.args = args;
	sub.count = count;
	sub.pos = 0;
	k->type = SEARCH_AND;
	if (count == 0)
		return search_parse_fail(c, SEARCH_ERR_SYNTAX, "Empty search key list");
	while (sub.pos < sub.count) {
		struct search_key child;
		memset(&child, 0, sizeof(child));
		if (search_parse_key(&sub, &child, depth) < 0) {
			search_key_free(&child);
			return -1;
		}
		*search_key_add_child(k) = child;
	}
	return 0;
}

static int search_parse_modseq(struct search_ctx *c, struct search_key *k)
{
	const struct imap_arg *a = search_parse_next(c);
	const char *s;
	size_t len;
	c->prog->has_modseq = true;
	if (a != NULL && a->type != IMAP_ARG_ATOM && imap_arg_string(a, &s, &len)) {
		/* entry-name entry-type-req */
		search_key_set_str(k, s, len);
		a = search_parse_next(c);
		if (a == NULL || !imap_arg_is_atom(a))
			return search_parse_fail(c, SEARCH_ERR_SYNTAX, "MODSEQ entry needs a type");
		if (strcasecmp(a->str, "priv") == 0)
			k->entry_type = SEARCH_MODSEQ_ENTRY_PRIV;
		else if (strcasecmp(a->str, "shared") == 0)
			k->entry_type = SEARCH_MODSEQ_ENTRY_SHARED;
		else if (strcasecmp(a->str, "all") == 0)
			k->entry_type = SEARCH_MODSEQ_ENTRY_ALL;
		else
			return search_parse_fail(c, SEARCH_ERR_SYNTAX, "Invalid MODSEQ entry type");
		a = search_parse_next(c);
	}
	if (a == NULL || !imap_arg_number64(a, &k->number))
		return search_parse_fail(c, SEARCH_ERR_SYNTAX, "MODSEQ needs a mod-sequence value");
	return 0;
}

static int search_parse_keyword(struct search_ctx *c, const struct search_keyword *kw,
				struct search_key *k, unsigned depth)
{
	const struct imap_arg *a;
	const char *s;
	size_t len;
	struct imap_date date;

	k->type = kw->type;
	switch (kw->kind) {
	case KIND_NONE:
		return 0;
	case KIND_FLAG:
	case KIND_UNFLAG:
		search_key_make_flag(k, kw->arg, kw->kind == KIND_UNFLAG);
		return 0;
	case KIND_NEW:
		k->type = SEARCH_AND;
		search_key_make_flag(search_key_add_child(k), "\\Recent", false);
		search_key_make_flag(search_key_add_child(k), "\\Seen", true);
		return 0;
	case KIND_OLD:
		search_key_make_flag(k, "\\Recent", true);
		return 0;
	case KIND_KEYWORD:
	case KIND_UNKEYWORD:
		a = search_parse_next(c);
		if (a == NULL || !imap_arg_is_atom(a) || a->str[0] == '\\' ||
		    strpbrk(a->str, "[]%*") != NULL)
			return search_parse_fail(c, SEARCH_ERR_SYNTAX,
						 "KEYWORD needs a flag keyword");
		search_key_make_flag(k, a->str, kw->kind == KIND_UNKEYWORD);
		return 0;
	case KIND_HEADER:
	case KIND_ASTRING:
		/* Each string key scans a message's text: bounded per command (SEARCH with
		 * thousands of NOT TEXT keys rescanned every message once per key). */
		if (++c->prog->text_keys > SEARCH_MAX_TEXT_KEYS)
			return search_parse_fail(c, SEARCH_ERR_LIMIT, "Too many text search keys");
		if (kw->kind == KIND_HEADER && kw->arg != NULL) {
			k->header = xstrdup(kw->arg);
			k->address = strcmp(kw->arg, "SUBJECT") != 0;
		} else if (kw->kind == KIND_HEADER) {
			a = search_parse_next(c);
			if (a == NULL || !imap_arg_string(a, &s, &len) ||
			    !search_is_field_name(s, len))
				return search_parse_fail(c, SEARCH_ERR_SYNTAX,
							 "HEADER needs a field name");
			k->header = xstrdup(s);
		}
		/* the string to look for */
		a = search_parse_next(c);
		if (a == NULL || !imap_arg_string(a, &s, &len))
			return search_parse_fail(c, SEARCH_ERR_SYNTAX, "Search key needs a string");
		search_key_set_str(k, s, len);
		return 0;
	case KIND_DATE:
		a = search_parse_next(c);
		if (a == NULL || !imap_arg_string(a, &s, &len) ||
		    imap_date_parse(s, len, &date) < 0)
			return search_parse_fail(c, SEARCH_ERR_SYNTAX,
						 "Invalid date (want 1-Feb-1994)");
		k->day = imap_date_days(&date);
		return 0;
	case KIND_NUMBER:
		c->prog->uses_size = true; /* LARGER, SMALLER */
		a = search_parse_next(c);
		if (a == NULL || !imap_arg_number64(a, &k->number))
			return search_parse_fail(c, SEARCH_ERR_SYNTAX, "Search key needs a number");
		return 0;
	case KIND_SEQSET:
		return search_parse_seqset(c, search_parse_next(c), k);
	case KIND_NOT:
		if (c->pos >= c->count)
			return search_parse_fail(c, SEARCH_ERR_SYNTAX, "NOT needs a search key");
		return search_parse_key(c, search_key_add_child(k), depth + 1);
	case KIND_OR:
		for (int i = 0; i < 2; i++) {
			if (c->pos >= c->count)
				return search_parse_fail(c, SEARCH_ERR_SYNTAX,
							 "OR needs two search keys");
			if (search_parse_key(c, search_key_add_child(k), depth + 1) < 0)
				return -1;
		}
		return 0;
	case KIND_MODSEQ:
		return search_parse_modseq(c, k);
	}
	return search_parse_fail(c, SEARCH_ERR_SYNTAX, "Unknown search key");
}

static int search_parse_key(struct search_ctx *c, struct search_key *k, unsigned depth)
{
	if (depth >= SEARCH_MAX_DEPTH)
		return search_parse_fail(c, SEARCH_ERR_TOO_DEEP,
					 "Search program nested too deeply");
	if (++c->prog->keys > SEARCH_MAX_KEYS)
		return search_parse_fail(c, SEARCH_ERR_LIMIT, "Too many search keys");
	const struct imap_arg *a = search_parse_next(c);
	if (a->type == IMAP_ARG_LIST)
		return search_parse_keys(c, a->list, a->count, k, depth + 1);
	if (a->type != IMAP_ARG_ATOM)
		return search_parse_fail(c, SEARCH_ERR_SYNTAX, "Search key expected, got a string");
	for (size_t i = 0; i < sizeof(search_keywords) / sizeof(search_keywords[0]); i++) {
		if (strcasecmp(a->str, search_keywords[i].name) == 0)
			return search_parse_keyword(c, &search_keywords[i], k, depth);
	}
	unsigned char ch = (unsigned char)a->str[0];
	if ((ch >= '0' && ch <= '9') || ch == '*' || ch == '$') {
		k->type = SEARCH_SEQSET;
		return search_parse_seqset(c, a, k);
	}
	return search_parse_fail(c, SEARCH_ERR_SYNTAX, "Unknown search key");
}

/* RFC 5267 partial-range "n:m" (two non-zero numbers, either order). */
static int search_parse_partial(const struct imap_arg *a, struct search_program *prog)
{
	const char *s = imap_arg_atom(a);
	if (!s)
		return -1;
	const char *colon = strchr(s, ':');
	if (!colon)
		return -1;
	uint64_t v[2] = { 0, 0 };
	const char *p = s;
	for (int k = 0; k < 2; k++) {
		const char *end = k == 0 ? colon : s + strlen(s);
		if (p == end || end - p > 10)
			return -1;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v[k] = v[k] * 10 + (uint64_t)(*p - '0');
		}
		if (v[k] == 0 || v[k] > UINT32_MAX)
			return -1;
		p = colon + 1;
	}
	prog->partial_lo = (uint32_t)(v[0] < v[1] ? v[0] : v[1]);
	prog->partial_hi = (uint32_t)(v[0] < v[1] ? v[1] : v[0]);
	return 0;
}

static int search_parse_return(struct search_ctx *c, const struct imap_arg *a)
{
	const struct imap_arg *opts;
	unsigned n;
	if (a == NULL || !imap_arg_list(a, &opts, &n))
		return search_parse_fail(c, SEARCH_ERR_SYNTAX, "RETURN needs a list of options");
	c->prog->esearch = true;
	for (unsigned i = 0; i < n; i++) {
		const char *o = imap_arg_atom(&opts[i]);
		unsigned bit;
		if (o == NULL)
			return search_parse_fail(c, SEARCH_ERR_SYNTAX, "Invalid RETURN option");
		if (strcasecmp(o, "MIN") == 0)
			bit = SEARCH_RETURN_MIN;
		else if (strcasecmp(o, "MAX") == 0)
			bit = SEARCH_RETURN_MAX;
		else if (strcasecmp(o, "ALL") == 0)
			bit = SEARCH_RETURN_ALL;
		else if (strcasecmp(o, "COUNT") == 0)
			bit = SEARCH_RETURN_COUNT;
		else if (strcasecmp(o, "SAVE") == 0 && (c->flags & SEARCH_PARSE_SEARCHRES))
			bit = SEARCH_RETURN_SAVE;
		else if (strcasecmp(o, "UPDATE") == 0)
			bit = SEARCH_RETURN_UPDATE;
		else if (strcasecmp(o, "CONTEXT") == 0)
			bit = SEARCH_RETURN_CONTEXT;
		else if (strcasecmp(o, "PARTIAL") == 0) {
			bit = SEARCH_RETURN_PARTIAL;
			if (i + 1 >= n || search_parse_partial(&opts[++i], c->prog) < 0)
				return search_parse_fail(c, SEARCH_ERR_SYNTAX,
							 "PARTIAL needs a range lo:hi");
		} else
			return search_parse_fail(c, SEARCH_ERR_SYNTAX, "Unknown RETURN option");
		c->prog->return_opts |= bit;
	}
	if (n == 0)
		c->prog->return_opts = SEARCH_RETURN_ALL;
	if ((c->prog->return_opts & SEARCH_RETURN_PARTIAL) &&
	    (c->prog->return_opts & SEARCH_RETURN_ALL))
		return search_parse_fail(c, SEARCH_ERR_SYNTAX,
					 "PARTIAL and ALL exclude each other");
	return 0;
}

int search_parse(const struct imap_arg *args, unsigned count, unsigned flags,
		 struct search_program *prog_r, struct search_error *err_r)
{
	struct search_ctx c = {
		.args = args,
		.count = count,
		.pos = 0,
		.flags = flags,
		.prog = prog_r,
		.err = err_r,
	};
	const char *s;
	size_t len;

	memset(prog_r, 0, sizeof(*prog_r));
	if (c.pos < c.count && imap_arg_atom_equals(&args[c.pos], "RETURN")) {
		c.pos++;
		if (search_parse_return(&c, search_parse_next(&c)) < 0)
			goto fail;
	}
	if (c.pos < c.count && imap_arg_atom_equals(&args[c.pos], "CHARSET")) {
		c.pos++;
		const struct imap_arg *a = search_parse_next(&c);
		if (a == NULL || !imap_arg_string(a, &s, &len)) {
			search_parse_fail(&c, SEARCH_ERR_SYNTAX, "CHARSET needs a name");
			goto fail;
		}
		if (strcasecmp(s, "US-ASCII") == 0) {
			prog_r->charset = SEARCH_CHARSET_US_ASCII;
		} else if (strcasecmp(s, "UTF-8") == 0) {
			prog_r->charset = SEARCH_CHARSET_UTF8;
		} else {
			search_parse_fail(&c, SEARCH_ERR_BADCHARSET, "Unsupported charset");
			goto fail;
		}
	}
	prog_r->root = xcalloc(1, sizeof(*prog_r->root));
	if (search_parse_keys(&c, args + c.pos, count - c.pos, prog_r->root, 0) < 0) {
		if (c.pos == count)
			err_r->text = "Missing search keys";
		goto fail;
	}
	return 0;
fail:
	search_program_free(prog_r);
	return -1;
}

void search_key_dump(struct buf *b, const struct search_key *k)
{
	static const char *const names[] = {
		"ALL",    "AND",       "OR",     "NOT",     "SEQSET", "UIDSET", "FLAG",
		"HEADER", "BODY",      "TEXT",   "BEFORE",  "ON",     "SINCE",  "SENTBEFORE",
		"SENTON", "SENTSINCE", "LARGER", "SMALLER", "MODSEQ",
	};
	buf_append_str(b, names[k->type]);
	switch (k->type) {
	case SEARCH_ALL:
		return;
	case SEARCH_AND:
	case SEARCH_OR:
	case SEARCH_NOT:
		buf_append(b, "(", 1);
		for (unsigned i = 0; i < k->count; i++) {
			if (i > 0)
				buf_append(b, " ", 1);
			search_key_dump(b, &k->children[i]);
		}
		buf_append(b, ")", 1);
		return;
	case SEARCH_SEQSET:
	case SEARCH_UIDSET:
		buf_append(b, "(", 1);
		seqset_write(b, &k->set);
		buf_append(b, ")", 1);
		return;
	case SEARCH_FLAG:
		buf_printf(b, "(%s)", k->str);
		return;
	case SEARCH_HEADER:
		buf_printf(b, "(%s,", k->header);
		imap_write_string(b, k->str, k->str_len);
		buf_append(b, ")", 1);
		return;
	case SEARCH_BODY:
	case SEARCH_TEXT:
		buf_append(b, "(", 1);
		imap_write_string(b, k->str, k->str_len);
		buf_append(b, ")", 1);
		return;
	case SEARCH_MODSEQ:
		if (k->str != NULL)
			buf_printf(b, "(%s,%d,%llu)", k->str, (int)k->entry_type,
				   (unsigned long long)k->number);
		else
			buf_printf(b, "(%llu)", (unsigned long long)k->number);
		return;
	case SEARCH_LARGER:
	case SEARCH_SMALLER:
		buf_printf(b, "(%llu)", (unsigned long long)k->number);
		return;
	default:
		buf_printf(b, "(%lld)", (long long)k->day);
		return;
	}
}
