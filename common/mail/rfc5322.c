/* rfc5322.c - RFC 5322 header fields, address lists and dates over a byte buffer (pure, bounded). */
#include "rfc5322.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RFC5322_COMMENT_DEPTH_MAX 64

static bool rfc5322_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Offset just past the LF ending the line at pos (or len). */
static size_t rfc5322_line_end(const char *s, size_t len, size_t pos)
{
	const char *lf = memchr(s + pos, '\n', len - pos);
	return lf ? (size_t)(lf - s) + 1 : len;
}

static bool rfc5322_is_blank_line(const char *s, size_t len, size_t pos)
{
	if (pos < len && s[pos] == '\n')
		return true;
	return pos + 1 < len && s[pos] == '\r' && s[pos + 1] == '\n';
}

void rfc5322_iter_init(struct rfc5322_iter *it, const char *hdr, size_t len)
{
	it->hdr = hdr;
	it->len = len;
	it->pos = 0;
}

int rfc5322_iter_next(struct rfc5322_iter *it, struct rfc5322_field *field_r)
{
	const char *s = it->hdr;
	size_t len = it->len;

	while (it->pos < len) {
		size_t start = it->pos;
		if (rfc5322_is_blank_line(s, len, start)) {
			it->pos = len;
			return 0;
		}
		size_t eol = rfc5322_line_end(s, len, start);
		it->pos = eol;
		if (rfc5322_is_wsp(s[start]))
			continue; /* continuation without a field */
		size_t i = start;
		while (i < eol && (unsigned char)s[i] > 32 && (unsigned char)s[i] < 127 &&
		       s[i] != ':')
			i++;
		size_t name_end = i;
		while (i < eol && rfc5322_is_wsp(s[i]))
			i++;
		if (name_end == start || i >= eol || s[i] != ':')
			continue; /* not a field */
		size_t end = eol;
		while (end < len && rfc5322_is_wsp(s[end]))
			end = rfc5322_line_end(s, len, end);
		it->pos = end;
		size_t vend = end;
		if (vend > i + 1 && s[vend - 1] == '\n') {
			vend--;
			if (vend > i + 1 && s[vend - 1] == '\r')
				vend--;
		}
		field_r->name = s + start;
		field_r->name_len = name_end - start;
		field_r->value = s + i + 1;
		field_r->value_len = vend - (i + 1);
		field_r->start = start;
		field_r->end = end;
		return 1;
	}
	return 0;
}

bool rfc5322_name_is(const struct rfc5322_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

int rfc5322_iter_next_named(struct rfc5322_iter *it, const char *name,
			    struct rfc5322_field *field_r)
{
	while (rfc5322_iter_next(it, field_r) == 1) {
		if (rfc5322_name_is(field_r, name))
			return 1;
	}
	return 0;
}

int rfc5322_find(const char *hdr, size_t len, const char *name, struct rfc5322_field *field_r)
{
	struct rfc5322_iter it;
	rfc5322_iter_init(&it, hdr, len);
	return rfc5322_iter_next_named(&it, name, field_r);
}

bool rfc5322_is_originator(const struct rfc5322_field *f)
{
	return rfc5322_name_is(f, "From") || rfc5322_name_is(f, "Sender") ||
	       rfc5322_name_is(f, "Resent-From") || rfc5322_name_is(f, "Resent-Sender");
}

/* RFC 5322 3.6: the fields a message has at most one of. */
static const char *const rfc5322_single_fields[] = {
	"Date", "From",       "Sender",      "Reply-To",   "To",      "Cc",
	"Bcc",  "Message-ID", "In-Reply-To", "References", "Subject",
};

enum rfc5322_header_flaw rfc5322_header_check(const char *hdr, size_t len,
					      struct rfc5322_field *field_r)
{
	const size_t nsingle = sizeof(rfc5322_single_fields) / sizeof(rfc5322_single_fields[0]);
	bool seen[sizeof(rfc5322_single_fields) / sizeof(rfc5322_single_fields[0])] = { false };
	struct rfc5322_iter it;

	if (len > 0 && memchr(hdr, '\0', len) != NULL)
		return RFC5322_HEADER_NUL;
	rfc5322_iter_init(&it, hdr, len);
	while (rfc5322_iter_next(&it, field_r) == 1) {
		for (size_t i = 0; i < nsingle; i++) {
			if (!rfc5322_name_is(field_r, rfc5322_single_fields[i]))
				continue;
			if (seen[i])
				return RFC5322_HEADER_DUPLICATE;
			seen[i] = true;
			break;
		}
	}
	return RFC5322_HEADER_OK;
}

size_t rfc5322_header_length(const char *msg, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		if (rfc5322_is_blank_line(msg, len, pos))
			return msg[pos] == '\n' ? pos + 1 : pos + 2;
		pos = rfc5322_line_end(msg, len, pos);
	}
	return len;
}

void rfc5322_unfold(struct buf *out, const char *value, size_t len, bool trim)
{
	size_t i = 0;
	while (i < len && (rfc5322_is_wsp(value[i]) || value[i] == '\r' || value[i] == '\n'))
		i++;
	size_t start = out->len;
	while (i < len) {
		size_t run = i;
		while (run < len && value[run] != '\n' && value[run] != '\r')
			run++;
		buf_append(out, value + i, run - i);
		i = run;
		if (i >= len)
			break;
		if (value[i] == '\r' && (i + 1 >= len || value[i + 1] == '\n')) {
			i++; /* CR of a line ending */
			continue;
		}
		if (value[i] == '\r')
			buf_append(out, "\r", 1); /* bare CR is kept */
		i++;
	}
	if (trim) {
		while (out->len > start && rfc5322_is_wsp(out->data[out->len - 1]))
			out->len--;
		buf_append(out, "", 0);
	}
}

/* --- address lists --- */

enum rfc5322_tok_kind {
	RFC5322_TOK_ATOM,    /* atom text, dots included (obs-phrase, dot-atom) */
	RFC5322_TOK_QSTR,    /* quoted string, unescaped */
	RFC5322_TOK_DLIT,    /* domain literal, brackets kept */
	RFC5322_TOK_COMMENT, /* comment text, unescaped, outer parentheses removed */
	RFC5322_TOK_SPECIAL, /* one of < > @ , ; : */
};

struct rfc5322_tok {
	enum rfc5322_tok_kind kind;
	size_t off, len;   /* into the token text buffer */
	char ch;           /* the special character */
	bool space_before; /* white space or a comment preceded the token */
};

struct rfc5322_toks {
	struct rfc5322_tok *v;
	size_t n, cap;
	struct buf text;
};

static void rfc5322_tok_add(struct rfc5322_toks *t, enum rfc5322_tok_kind kind, size_t off, char ch,
			    bool space)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	struct rfc5322_tok *k = &t->v[t->n++];
	k->kind = kind;
	k->off = off;
	k->len = t->text.len - off;
	k->ch = ch;
	k->space_before = space;
}

static bool rfc5322_is_special(char c)
{
	return strchr("()<>[]:;@\\,\"", c) != NULL && c != '\0';
}

/* Splits s into tokens. Linear in len; comments nest up to a bounded depth. */
static void rfc5322_tokenize(const char *s, size_t len, struct rfc5322_toks *t)
{
	size_t i = 0;
	bool space = false;
	while (i < len) {
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = true;
			i++;
		} else if (c == '(') {
			size_t off = t->text.len;
			int depth = 1;
			i++;
			while (i < len && depth > 0) {
				if (s[i] == '\\' && i + 1 < len) {
					buf_append(&t->text, s + i + 1, 1);
					i += 2;
					continue;
				}
				if (s[i] == '(' && depth < RFC5322_COMMENT_DEPTH_MAX)
					depth++;
				else if (s[i] == ')')
					depth--;
				if (depth > 0 && s[i] != '\r' && s[i] != '\n')
					buf_append(&t->text, s + i, 1);
				i++;
			}
			rfc5322_tok_add(t, RFC5322_TOK_COMMENT, off, 0, space);
			space = true;
		} else if (c == '"') {
			size_t off = t->text.len;
			i++;
			while (i < len && s[i] != '"') {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				if (s[i] != '\r' && s[i] != '\n')
					buf_append(&t->text, s + i, 1);
				i++;
			}
			if (i < len)
				i++;
			rfc5322_tok_add(t, RFC5322_TOK_QSTR, off, 0, space);
			space = false;
		} else if (c == '[') {
			size_t off = t->text.len;
			size_t j = i + 1;
			while (j < len && s[j] != ']')
				j++;
			if (j < len)
				j++;
			for (size_t k = i; k < j; k++) {
				if (s[k] != '\r' && s[k] != '\n' && s[k] != ' ' && s[k] != '\t')
					buf_append(&t->text, s + k, 1);
			}
			i = j;
			rfc5322_tok_add(t, RFC5322_TOK_DLIT, off, 0, space);
			space = false;
		} else if (c != '\0' && strchr("<>@,;:", c)) {
			rfc5322_tok_add(t, RFC5322_TOK_SPECIAL, t->text.len, c, space);
			space = false;
			i++;
		} else if (c == ')' || c == ']') {
			i++; /* stray closer */
		} else {
			size_t j = i;
			while (j < len && !rfc5322_is_special(s[j]) && s[j] != ' ' &&
			       s[j] != '\t' && s[j] != '\r' && s[j] != '\n')
				j++;
			if (j == i)
				j++; /* a lone backslash */
			size_t off = t->text.len;
			buf_append(&t->text, s + i, j - i);
			rfc5322_tok_add(t, RFC5322_TOK_ATOM, off, 0, space);
			space = false;
			i = j;
		}
	}
}

struct rfc5322_alist {
	struct rfc5322_addr *v;
	size_t n, cap;
};

static struct rfc5322_addr *rfc5322_alist_add(struct rfc5322_alist *l, enum rfc5322_addr_kind kind)
{
	if (l->n >= RFC5322_MAX_ADDRESSES)
		return NULL;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	struct rfc5322_addr *a = &l->v[l->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

static bool rfc5322_tok_is(const struct rfc5322_tok *k, char ch)
{
	return k->kind == RFC5322_TOK_SPECIAL && k->ch == ch;
}

/* Joins the word tokens of [from, to) into a string: a space where the input had one (phrase)
 * or nothing (local part, domain). Returns NULL when there are no words. */
static char *rfc5322_join(const struct rfc5322_toks *t, size_t from, size_t to, bool phrase)
{
	struct buf b;
	buf_init(&b);
	bool any = false;
	for (size_t i = from; i < to; i++) {
		const struct rfc5322_tok *k = &t->v[i];
		if (k->kind != RFC5322_TOK_ATOM && k->kind != RFC5322_TOK_QSTR &&
		    k->kind != RFC5322_TOK_DLIT)
			continue;
		if (any && phrase && k->space_before)
			buf_append(&b, " ", 1);
		if (k->len) /* an empty quoted string: text.data may still be NULL */
			buf_append(&b, t->text.data + k->off, k->len);
		any = true;
	}
	if (!any) {
		buf_free(&b);
		return NULL;
	}
	buf_append(&b, "", 0); /* NUL-terminated even when empty */
	return buf_steal(&b, NULL);
}

static char *rfc5322_last_comment(const struct rfc5322_toks *t, size_t from, size_t to)
{
	for (size_t i = to; i > from; i--) {
		const struct rfc5322_tok *k = &t->v[i - 1];
		if (k->kind == RFC5322_TOK_COMMENT && k->len > 0)
			return xstrndup(t->text.data + k->off, k->len);
	}
	return NULL;
}

/* addr-spec in tokens [from, to): local-part "@" domain. */
static void rfc5322_addr_spec(const struct rfc5322_toks *t, size_t from, size_t to,
			      struct rfc5322_addr *a)
{
	size_t at = to;
	for (size_t i = from; i < to; i++) {
		if (rfc5322_tok_is(&t->v[i], '@')) {
			at = i;
			break;
		}
	}
	a->mailbox = rfc5322_join(t, from, at, true);
	if (at < to)
		a->host = rfc5322_join(t, at + 1, to, false);
	if (!a->mailbox)
		a->mailbox = xstrdup("MISSING_MAILBOX");
	if (!a->host)
		a->host = xstrdup("MISSING_DOMAIN");
}

/* One mailbox in tokens [from, to). Returns false when it held nothing. */
static bool rfc5322_mailbox(const struct rfc5322_toks *t, size_t from, size_t to,
			    struct rfc5322_addr *a)
{
	size_t lt = to;
	for (size_t i = from; i < to; i++) {
		if (rfc5322_tok_is(&t->v[i], '<')) {
			lt = i;
			break;
		}
	}
	if (lt == to) {
		bool words = false;
		for (size_t i = from; i < to; i++)
			if (t->v[i].kind != RFC5322_TOK_COMMENT && !rfc5322_tok_is(&t->v[i], ':'))
				words = true;
		if (!words)
			return false;
		rfc5322_addr_spec(t, from, to, a);
		a->name = rfc5322_last_comment(t, from, to);
		return true;
	}
	size_t gt = to;
	for (size_t i = lt + 1; i < to; i++) {
		if (rfc5322_tok_is(&t->v[i], '>')) {
			gt = i;
			break;
		}
	}
	a->name = rfc5322_join(t, from, lt, true);
	size_t spec = lt + 1;
	if (spec < gt && rfc5322_tok_is(&t->v[spec], '@')) {
		/* obs-route: "@a,@b:" */
		size_t colon = gt;
		for (size_t i = spec; i < gt; i++) {
			if (rfc5322_tok_is(&t->v[i], ':')) {
				colon = i;
				break;
			}
		}
		if (colon < gt) {
			struct buf r;
			buf_init(&r);
			for (size_t i = spec; i < colon; i++) {
				const struct rfc5322_tok *k = &t->v[i];
				if (k->kind == RFC5322_TOK_SPECIAL &&
				    (k->ch == '@' || k->ch == ','))
					buf_append(&r, &k->ch, 1);
				else if (k->kind == RFC5322_TOK_ATOM || k->kind == RFC5322_TOK_DLIT)
					buf_append(&r, t->text.data + k->off, k->len);
			}
			a->route = buf_steal(&r, NULL);
			spec = colon + 1;
		}
	}
	bool words = false;
	for (size_t i = spec; i < gt; i++)
		if (t->v[i].kind != RFC5322_TOK_COMMENT)
			words = true;
	if (!words && !a->name) {
		free(a->route);
		a->route = NULL;
		return false;
	}
	rfc5322_addr_spec(t, spec, gt, a);
	if (!a->name)
		a->name = rfc5322_last_comment(t, gt, to);
	return true;
}

/* End of the mailbox starting at i: the next ',' (or ';' in a group) outside angle brackets;
 * commas of an obsolete route inside angle brackets do not end it. */
static size_t rfc5322_mailbox_end(const struct rfc5322_toks *t, size_t i, bool in_group)
{
	bool angle = false, route = false;
	for (; i < t->n; i++) {
		const struct rfc5322_tok *k = &t->v[i];
		if (k->kind != RFC5322_TOK_SPECIAL)
			continue;
		if (k->ch == '<') {
			angle = true;
			route = i + 1 < t->n && rfc5322_tok_is(&t->v[i + 1], '@');
		} else if (k->ch == '>') {
			angle = false;
		} else if (k->ch == ':' && angle) {
			route = false;
		} else if (k->ch == ',' && !(angle && route)) {
			return i;
		} else if (k->ch == ';' && in_group) {
			return i;
		}
	}
	return t->n;
}

static void rfc5322_addr_free_one(struct rfc5322_addr *a)
{
	free(a->name);
	free(a->route);
	free(a->mailbox);
	free(a->host);
}

size_t rfc5322_parse_addresses(const char *s, size_t len, struct rfc5322_addr **list_r)
{
	struct rfc5322_toks t = { 0 };
	struct rfc5322_alist l = { 0 };
	buf_init(&t.text);
	rfc5322_tokenize(s, len, &t);

	size_t i = 0;
	while (i < t.n && l.n < RFC5322_MAX_ADDRESSES) {
		if (rfc5322_tok_is(&t.v[i], ',') || rfc5322_tok_is(&t.v[i], ';') ||
		    rfc5322_tok_is(&t.v[i], '>')) {
			i++;
			continue;
		}
		/* A group when ':' comes before any '<', '@', ',' or ';'. */
		size_t j = i;
		bool group = false;
		for (; j < t.n; j++) {
			const struct rfc5322_tok *k = &t.v[j];
			if (k->kind != RFC5322_TOK_SPECIAL)
				continue;
			group = k->ch == ':';
			break;
		}
		if (group) {
			/* room for the start, at least one member and the end */
			if (l.n + 3 > RFC5322_MAX_ADDRESSES)
				break;
			struct rfc5322_addr *g = rfc5322_alist_add(&l, RFC5322_ADDR_GROUP_START);
			g->mailbox = rfc5322_join(&t, i, j, true);
			if (!g->mailbox)
				g->mailbox = xstrdup("");
			i = j + 1;
			while (i < t.n && !rfc5322_tok_is(&t.v[i], ';')) {
				if (rfc5322_tok_is(&t.v[i], ',')) {
					i++;
					continue;
				}
				size_t e = rfc5322_mailbox_end(&t, i, true);
				if (l.n + 2 > RFC5322_MAX_ADDRESSES)
					break; /* keep room for the group end */
				struct rfc5322_addr *a = rfc5322_alist_add(&l,
									   RFC5322_ADDR_MAILBOX);
				if (!rfc5322_mailbox(&t, i, e, a)) {
					rfc5322_addr_free_one(a);
					l.n--;
				}
				i = e;
			}
			if (i < t.n)
				i++; /* ';' */
			rfc5322_alist_add(&l, RFC5322_ADDR_GROUP_END);
			continue;
		}
		size_t e = rfc5322_mailbox_end(&t, i, false);
		struct rfc5322_addr *a = rfc5322_alist_add(&l, RFC5322_ADDR_MAILBOX);
		if (!a)
			break;
		if (!rfc5322_mailbox(&t, i, e, a)) {
			rfc5322_addr_free_one(a);
			l.n--;
		}
		i = e;
	}
	free(t.v);
	buf_free(&t.text);
	if (l.n == 0) {
		free(l.v);
		l.v = NULL;
	}
	*list_r = l.v;
	return l.n;
}

void rfc5322_addrs_free(struct rfc5322_addr *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rfc5322_addr_free_one(&list[i]);
	free(list);
}

/* --- dates --- */

struct rfc5322_dcur {
	const char *s;
	size_t len, i;
};

static void rfc5322_date_skip(struct rfc5322_dcur *c)
{
	while (c->i < c->len) {
		char ch = c->s[c->i];
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			c->i++;
		} else if (ch == '(') {
			int depth = 0;
			while (c->i < c->len) {
				ch = c->s[c->i++];
				if (ch == '\\' && c->i < c->len)
					c->i++;
				else if (ch == '(')
					depth++;
				else if (ch == ')' && --depth == 0)
					break;
			}
		} else {
			break;
		}
	}
}

/* Reads up to maxd digits; returns the digit count. */
static int rfc5322_date_num(struct rfc5322_dcur *c, int maxd, int *v_r)
{
	int n = 0, v = 0;
	while (c->i < c->len && n < maxd && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
		v = v * 10 + (c->s[c->i] - '0');
		c->i++;
		n++;
	}
	*v_r = v;
	return n;
}

static size_t rfc5322_date_alpha(struct rfc5322_dcur *c, const char **p_r)
{
	size_t start = c->i;
	while (c->i < c->len && ((c->s[c->i] >= 'a' && c->s[c->i] <= 'z') ||
				 (c->s[c->i] >= 'A' && c->s[c->i] <= 'Z')))
		c->i++;
	*p_r = c->s + start;
	return c->i - start;
}

static int rfc5322_date_month(const char *p, size_t n)
{
	static const char *months[] = { "jan", "feb", "mar", "apr", "may", "jun",
					"jul", "aug", "sep", "oct", "nov", "dec" };
	if (n < 3)
		return -1;
	for (int m = 0; m < 12; m++)
		if (strncasecmp(p, months[m], 3) == 0)
			return m + 1;
	return -1;
}

static bool rfc5322_date_is_day(const char *p, size_t n)
{
	static const char *days[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
	if (n < 3)
		return false;
	for (int d = 0; d < 7; d++)
		if (strncasecmp(p, days[d], 3) == 0)
			return true;
	return false;
}

static int rfc5322_date_time(struct rfc5322_dcur *c, int *h, int *m, int *sec)
{
	if (rfc5322_date_num(c, 2, h) == 0)
		return -1;
	rfc5322_date_skip(c);
	if (c->i >= c->len || c->s[c->i] != ':')
		return -1;
	c->i++;
	rfc5322_date_skip(c);
	if (rfc5322_date_num(c, 2, m) == 0)
		return -1;
	*sec = 0;
	size_t save = c->i;
	rfc5322_date_skip(c);
	if (c->i < c->len && c->s[c->i] == ':') {
		c->i++;
		rfc5322_date_skip(c);
		if (rfc5322_date_num(c, 2, sec) == 0)
			return -1;
	} else {
		c->i = save;
	}
	return (*h > 23 || *m > 59 || *sec > 60) ? -1 : 0;
}

/* Zone in minutes east of UTC; unknown or missing zones are +0000 (RFC 5322 4.3). */
static int rfc5322_date_zone(struct rfc5322_dcur *c)
{
	static const struct {
		const char *name;
		int minutes;
	} zones[] = { { "UT", 0 },        { "UTC", 0 },       { "GMT", 0 },
		      { "Z", 0 },         { "EST", -5 * 60 }, { "EDT", -4 * 60 },
		      { "CST", -6 * 60 }, { "CDT", -5 * 60 }, { "MST", -7 * 60 },
		      { "MDT", -6 * 60 }, { "PST", -8 * 60 }, { "PDT", -7 * 60 } };
	rfc5322_date_skip(c);
	if (c->i >= c->len)
		return 0;
	char sign = c->s[c->i];
	if (sign == '+' || sign == '-') {
		c->i++;
		int v;
		if (rfc5322_date_num(c, 4, &v) != 4)
			return 0;
		int minutes = (v / 100) * 60 + v % 100;
		if (v % 100 > 59 || v / 100 > 99)
			return 0;
		return sign == '-' ? -minutes : minutes;
	}
	const char *p;
	size_t n = rfc5322_date_alpha(c, &p);
	for (size_t k = 0; k < sizeof(zones) / sizeof(zones[0]); k++)
		if (strlen(zones[k].name) == n && strncasecmp(p, zones[k].name, n) == 0)
			return zones[k].minutes;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t rfc5322_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int rfc5322_days_in_month(int y, int m)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

static int rfc5322_date_year(int year, int digits)
{
	if (digits <= 2)
		return year < 50 ? 2000 + year : 1900 + year;
	if (digits == 3)
		return 1900 + year;
	return year;
}

int rfc5322_parse_date(const char *s, size_t len, time_t *t_r, int *tz_minutes_r)
{
	struct rfc5322_dcur c = { s, len, 0 };
	int day, month, year, yd, h, mi, sec, zone;
	const char *p;
	size_t n;

	rfc5322_date_skip(&c);
	size_t save = c.i;
	n = rfc5322_date_alpha(&c, &p);
	if (n > 0 && rfc5322_date_is_day(p, n)) {
		rfc5322_date_skip(&c);
		if (c.i < c.len && c.s[c.i] == ',')
			c.i++;
		rfc5322_date_skip(&c);
	} else {
		c.i = save;
	}
	if (c.i < c.len && c.s[c.i] >= '0' && c.s[c.i] <= '9') {
		/* day month year time zone */
		if (rfc5322_date_num(&c, 2, &day) == 0)
			return -1;
		rfc5322_date_skip(&c);
		if (c.i < c.len && c.s[c.i] == '-')
			c.i++;
		n = rfc5322_date_alpha(&c, &p);
		if ((month = rfc5322_date_month(p, n)) < 0)
			return -1;
		rfc5322_date_skip(&c);
		if (c.i < c.len && c.s[c.i] == '-')
			c.i++;
		if ((yd = rfc5322_date_num(&c, 4, &year)) < 2)
			return -1;
		year = rfc5322_date_year(year, yd);
		rfc5322_date_skip(&c);
		if (rfc5322_date_time(&c, &h, &mi, &sec) < 0)
			return -1;
		zone = rfc5322_date_zone(&c);
	} else {
		/* asctime: month day time year [zone] */
		n = rfc5322_date_alpha(&c, &p);
		if ((month = rfc5322_date_month(p, n)) < 0)
			return -1;
		rfc5322_date_skip(&c);
		if (rfc5322_date_num(&c, 2, &day) == 0)
			return -1;
		rfc5322_date_skip(&c);
		if (rfc5322_date_time(&c, &h, &mi, &sec) < 0)
			return -1;
		rfc5322_date_skip(&c);
		if ((yd = rfc5322_date_num(&c, 4, &year)) < 2)
			return -1;
		year = rfc5322_date_year(year, yd);
		zone = rfc5322_date_zone(&c);
	}
	if (day < 1 || day > rfc5322_days_in_month(year, month))
		return -1;
	int64_t t = rfc5322_days_from_civil(year, month, day) * 86400 + h * 3600 + mi * 60 + sec -
		    (int64_t)zone * 60;
	*t_r = (time_t)t;
	*tz_minutes_r = zone;
	return 0;
}

void rfc5322_format_date(time_t t, char *out, size_t outlen)
{
	struct tm tm;
	localtime_r(&t, &tm);
	if (strftime(out, outlen, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0 && outlen)
		out[0] = '\0';
}

void rfc5322_missing_origin_fields(const char *msg, size_t len, const char *date, const char *id,
				   const char *host, struct buf *add)
{
	size_t hlen = rfc5322_header_length(msg, len);
	struct rfc5322_field f;
	if (!rfc5322_find(msg, hlen, "Date", &f))
		buf_printf(add, "Date: %s\r\n", date);
	if (!rfc5322_find(msg, hlen, "Message-ID", &f))
		buf_printf(add, "Message-ID: <%s@%s>\r\n", id, host);
}
