/* mime.c - MIME part tree of a stored message and its IMAP renderings (BODYSTRUCTURE, ENVELOPE, sections). */
#include "mime.h"
#include "base64.h"
#include "rfc2047.h"
#include "rfc5322.h"
#include "str.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIME_BOUNDARY_MAX      998
#define MIME_COMMENT_DEPTH_MAX 64

struct mime_ctx {
	const char *msg;
	size_t len;
	size_t nparts;
};

/* --- small helpers --- */

static bool mime_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* An unfolded, trimmed copy of a field value. */
static char *mime_field_value(const struct rfc5322_field *f)
{
	struct buf b;
	buf_init(&b);
	rfc5322_unfold(&b, f->value, f->value_len, true);
	buf_append(&b, "", 0); /* NUL-terminated even when empty */
	return buf_steal(&b, NULL);
}

/* Skips white space and (nested) comments. */
static void mime_skip_cfws(const char *s, size_t len, size_t *i)
{
	while (*i < len) {
		char c = s[*i];
		if (mime_is_wsp(c) || c == '\r' || c == '\n') {
			(*i)++;
		} else if (c == '(') {
			int depth = 0;
			while (*i < len) {
				c = s[(*i)++];
				if (c == '\\' && *i < len)
					(*i)++;
				else if (c == '(' && depth < MIME_COMMENT_DEPTH_MAX)
					depth++;
				else if (c == ')' && --depth == 0)
					break;
			}
		} else {
			break;
		}
	}
}

/* RFC 2045 token character. */
static bool mime_is_tchar(char c)
{
	unsigned char u = (unsigned char)c;
	return u > 32 && u < 127 && !strchr("()<>@,;:\\\"/[]?=", c);
}

static size_t mime_token(const char *s, size_t len, size_t *i)
{
	size_t start = *i;
	while (*i < len && mime_is_tchar(s[*i]))
		(*i)++;
	return *i - start;
}

/* --- parameters (RFC 2045 5.1, RFC 2231) --- */

struct mime_rawparam {
	char *attr;  /* lower-cased, as written (with any '*' suffixes) */
	char *value; /* unquoted */
};

static void mime_param_free_array(struct mime_param *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].raw);
		free(p[i].value);
	}
	free(p);
}

/* Reads "; attr=value" pairs from s[*i..len), leniently: garbage up to the next ';' is skipped,
 * unquoted values run to white space or ';'. */
static size_t mime_read_params(const char *s, size_t len, size_t i, struct mime_rawparam *out,
			       size_t max)
{
	size_t n = 0;
	while (i < len && n < max) {
		while (i < len && s[i] != ';') {
			if (s[i] == '"') { /* skip a stray quoted string whole */
				i++;
				while (i < len && s[i] != '"')
					i += (s[i] == '\\' && i + 1 < len) ? 2 : 1;
			}
			if (i < len)
				i++;
		}
		if (i >= len)
			break;
		i++;
		mime_skip_cfws(s, len, &i);
		size_t a = i;
		size_t alen = mime_token(s, len, &i);
		if (alen == 0)
			continue;
		mime_skip_cfws(s, len, &i);
		if (i >= len || s[i] != '=')
			continue;
		i++;
		mime_skip_cfws(s, len, &i);
		struct buf v;
		buf_init(&v);
		if (i < len && s[i] == '"') {
			i++;
			while (i < len && s[i] != '"') {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				buf_append(&v, s + i, 1);
				i++;
			}
			if (i < len)
				i++;
		} else {
			size_t st = i;
			while (i < len && s[i] != ';' && !mime_is_wsp(s[i]) && s[i] != '\r' &&
			       s[i] != '\n')
				i++;
			buf_append(&v, s + st, i - st);
		}
		buf_append(&v, "", 0); /* NUL-terminated even when empty */
		out[n].attr = str_lower(xstrndup(s + a, alen));
		out[n].value = buf_steal(&v, NULL);
		n++;
	}
	return n;
}

/* Appends an RFC 2231 non-extended segment into an extended value, %-escaping '%'. */
static void mime_2231_escape(struct buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '%')
			buf_append_str(b, "%25");
		else
			buf_append(b, v, 1);
	}
}

static char *mime_param_decoded(const char *name, const char *raw, bool extended)
{
	struct buf b;
	buf_init(&b);
	if (extended)
		rfc2047_decode_2231(&b, raw, strlen(raw));
	else if (strcmp(name, "name") == 0 || strcmp(name, "filename") == 0)
		rfc2047_decode(&b, raw, strlen(raw));
	else
		buf_append_str(&b, raw);
	buf_append(&b, "", 0); /* NUL-terminated even when empty */
	return buf_steal(&b, NULL);
}

static void mime_param_push(struct mime_param *out, size_t *n, char *name, char *raw, bool extended)
{
	struct mime_param *p = &out[(*n)++];
	p->name = name;
	p->raw = raw;
	p->extended = extended;
	p->value = mime_param_decoded(name, raw, extended);
}

/* Splits "base*N*" into base length, section index and extended flag. Returns false for a
 * plain attribute. */
static bool mime_2231_split(const char *attr, size_t *base_len, long *idx, bool *ext)
{
	const char *star = strchr(attr, '*');
	if (!star || star == attr)
		return false;
	*base_len = (size_t)(star - attr);
	const char *p = star + 1;
	*idx = -1;
	*ext = false;
	if (*p >= '0' && *p <= '9') {
		long v = 0;
		while (*p >= '0' && *p <= '9' && v < 100000)
			v = v * 10 + (*p++ - '0');
		*idx = v;
		if (*p == '*') {
			*ext = true;
			p++;
		}
	} else if (*p == '\0') {
		*ext = true; /* "name*" */
	}
	return *p == '\0';
}

/* Parses the parameters after s[i] into *params_r, joining RFC 2231 continuations. Plain
 * parameters keep their order; joined ones follow in order of first appearance. */
static size_t mime_parse_params(const char *s, size_t len, size_t i, struct mime_param **params_r)
{
	struct mime_rawparam raw[MIME_MAX_PARAMS];
	size_t nraw = mime_read_params(s, len, i, raw, MIME_MAX_PARAMS);
	struct mime_param *out = nraw ? xcalloc(nraw, sizeof(*out)) : NULL;
	size_t n = 0;
	bool used[MIME_MAX_PARAMS] = { false };

	for (size_t k = 0; k < nraw; k++) {
		size_t bl;
		long idx;
		bool ext;
		if (mime_2231_split(raw[k].attr, &bl, &idx, &ext))
			continue;
		used[k] = true;
		mime_param_push(out, &n, raw[k].attr, raw[k].value, false);
	}
	for (size_t k = 0; k < nraw; k++) {
		if (used[k])
			continue;
		size_t bl;
		long idx;
		bool ext;
		mime_2231_split(raw[k].attr, &bl, &idx, &ext);
		if (idx < 0) {
			/* "name*=charset'lang'value" */
			used[k] = true;
			char *name = xstrndup(raw[k].attr, bl);
			free(raw[k].attr);
			mime_param_push(out, &n, name, raw[k].value, true);
			continue;
		}
		/* Gather the sections of this base name, in index order. */
		size_t members[MIME_MAX_PARAMS];
		size_t nm = 0;
		bool any_ext = false, ok = true;
		for (size_t j = k; j < nraw; j++) {
			size_t bl2;
			long idx2;
			bool ext2;
			if (used[j] || !mime_2231_split(raw[j].attr, &bl2, &idx2, &ext2) ||
			    idx2 < 0 || bl2 != bl || strncmp(raw[j].attr, raw[k].attr, bl) != 0)
				continue;
			members[nm++] = j;
			any_ext |= ext2;
		}
		/* insertion sort by index (nm <= MIME_MAX_PARAMS) */
		long idxs[MIME_MAX_PARAMS];
		for (size_t a = 0; a < nm; a++) {
			bool e;
			size_t b2;
			mime_2231_split(raw[members[a]].attr, &b2, &idxs[a], &e);
		}
		for (size_t a = 1; a < nm; a++) {
			for (size_t b = a; b > 0 && idxs[b - 1] > idxs[b]; b--) {
				long ti = idxs[b];
				idxs[b] = idxs[b - 1];
				idxs[b - 1] = ti;
				size_t tm = members[b];
				members[b] = members[b - 1];
				members[b - 1] = tm;
			}
		}
		for (size_t a = 0; a < nm; a++)
			if (idxs[a] != (long)a)
				ok = false;
		if (!ok) {
			/* missing or duplicate sections: keep them as they are */
			for (size_t a = 0; a < nm; a++) {
				size_t j = members[a];
				used[j] = true;
				mime_param_push(out, &n, raw[j].attr, raw[j].value, false);
			}
			continue;
		}
		struct buf v;
		buf_init(&v);
		for (size_t a = 0; a < nm; a++) {
			size_t j = members[a];
			size_t b2;
			long i2;
			bool e2;
			mime_2231_split(raw[j].attr, &b2, &i2, &e2);
			if (a == 0 && any_ext && !e2)
				buf_append_str(&v, "''");
			if (any_ext && !e2)
				mime_2231_escape(&v, raw[j].value);
			else
				buf_append_str(&v, raw[j].value);
			used[j] = true;
		}
		buf_append(&v, "", 0); /* NUL-terminated even when empty */
		char *name = xstrndup(raw[k].attr, bl);
		for (size_t a = 0; a < nm; a++) {
			free(raw[members[a]].attr);
			free(raw[members[a]].value);
		}
		mime_param_push(out, &n, name, buf_steal(&v, NULL), any_ext);
	}
	if (n == 0) {
		free(out);
		out = NULL;
	}
	*params_r = out;
	return n;
}

const struct mime_param *mime_param_find(const struct mime_param *params, size_t n,
					 const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(params[i].name, name) == 0)
			return &params[i];
	return NULL;
}

/* --- Content-* fields --- */

static void mime_content_type(struct mime_part *p, const char *v)
{
	size_t len = strlen(v), i = 0;
	mime_skip_cfws(v, len, &i);
	size_t t = i, tlen = mime_token(v, len, &i);
	mime_skip_cfws(v, len, &i);
	size_t st = 0, stlen = 0;
	if (tlen > 0 && i < len && v[i] == '/') {
		i++;
		mime_skip_cfws(v, len, &i);
		st = i;
		stlen = mime_token(v, len, &i);
	}
	if (tlen > 0 && stlen > 0) {
		p->type = str_lower(xstrndup(v + t, tlen));
		p->subtype = str_lower(xstrndup(v + st, stlen));
	}
	/* RFC 2045 5.2: an invalid type defaults to text/plain; its parameters still count. */
	p->nparams = mime_parse_params(v, len, i, &p->params);
}

static void mime_content_disposition(struct mime_part *p, const char *v)
{
	size_t len = strlen(v), i = 0;
	mime_skip_cfws(v, len, &i);
	size_t t = i, tlen = mime_token(v, len, &i);
	if (tlen == 0)
		return;
	p->disposition = str_lower(xstrndup(v + t, tlen));
	p->ndisp_params = mime_parse_params(v, len, i, &p->disp_params);
}

static void mime_content_language(struct mime_part *p, const char *v)
{
	size_t len = strlen(v), i = 0;
	char *tags[MIME_MAX_LANGUAGES];
	size_t n = 0;
	while (i < len && n < MIME_MAX_LANGUAGES) {
		mime_skip_cfws(v, len, &i);
		size_t t = i, tlen = mime_token(v, len, &i);
		if (tlen > 0)
			tags[n++] = xstrndup(v + t, tlen);
		mime_skip_cfws(v, len, &i);
		if (i < len && v[i] != ',')
			break;
		i++;
	}
	if (n == 0)
		return;
	p->languages = xcalloc(n, sizeof(char *));
	memcpy(p->languages, tags, n * sizeof(char *));
	p->nlanguages = n;
}

static void mime_content_encoding(struct mime_part *p, const char *v)
{
	size_t len = strlen(v), i = 0;
	mime_skip_cfws(v, len, &i);
	size_t t = i, tlen = mime_token(v, len, &i);
	if (tlen > 0)
		p->encoding = str_lower(xstrndup(v + t, tlen));
}

static void mime_read_header(struct mime_part *p, const char *hdr, size_t len)
{
	struct rfc5322_iter it;
	struct rfc5322_field f;
	bool seen_type = false;
	rfc5322_iter_init(&it, hdr, len);
	while (rfc5322_iter_next(&it, &f) == 1) {
		if (f.name_len < 9 || strncasecmp(f.name, "Content-", 8) != 0)
			continue;
		char **slot = NULL;
		if (rfc5322_name_is(&f, "Content-Type")) {
			if (seen_type)
				continue;
			seen_type = true;
			char *v = mime_field_value(&f);
			mime_content_type(p, v);
			free(v);
		} else if (rfc5322_name_is(&f, "Content-Disposition")) {
			if (p->disposition)
				continue;
			char *v = mime_field_value(&f);
			mime_content_disposition(p, v);
			free(v);
		} else if (rfc5322_name_is(&f, "Content-Language")) {
			if (p->languages)
				continue;
			char *v = mime_field_value(&f);
			mime_content_language(p, v);
			free(v);
		} else if (rfc5322_name_is(&f, "Content-Transfer-Encoding")) {
			if (p->encoding)
				continue;
			char *v = mime_field_value(&f);
			mime_content_encoding(p, v);
			free(v);
		} else if (rfc5322_name_is(&f, "Content-ID")) {
			slot = &p->id;
		} else if (rfc5322_name_is(&f, "Content-Description")) {
			slot = &p->description;
		} else if (rfc5322_name_is(&f, "Content-MD5")) {
			slot = &p->md5;
		} else if (rfc5322_name_is(&f, "Content-Location")) {
			slot = &p->location;
		}
		if (slot && !*slot)
			*slot = mime_field_value(&f);
	}
}

/* --- the tree --- */

static void mime_body_stats(struct mime_part *p, const char *msg)
{
	size_t lines = 0, bare = 0;
	const char *s = msg + p->body_start;
	size_t len = p->body_end - p->body_start;
	const char *q = s, *end = s + len;
	while (q < end && (q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		lines++;
		if (q == s || q[-1] != '\r')
			bare++;
		q++;
	}
	p->size = len;
	p->vsize = len + bare;
	p->lines = lines;
}

static struct mime_part *mime_parse_part(struct mime_ctx *c, size_t start, size_t end,
					 unsigned depth, const struct mime_part *parent,
					 bool digest_child);

static void mime_add_child(struct mime_part *p, struct mime_part *child, size_t *cap)
{
	if (p->nchildren == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		p->children = xrealloc(p->children, *cap * sizeof(*p->children));
	}
	p->children[p->nchildren++] = child;
}

/* Splits p's body at its boundary lines (RFC 2046 5.1.1) into children. */
static void mime_split_multipart(struct mime_ctx *c, struct mime_part *p, const char *boundary)
{
	const char *s = c->msg;
	size_t blen = strlen(boundary);
	size_t b = p->body_start, e = p->body_end;
	size_t ls = b, cap = 0;
	bool have_part = false;
	size_t part_start = 0;
	bool digest = strcmp(p->subtype, "digest") == 0;

	while (ls < e) {
		if (e - ls >= 2 + blen && s[ls] == '-' && s[ls + 1] == '-' &&
		    memcmp(s + ls + 2, boundary, blen) == 0) {
			size_t q = ls + 2 + blen;
			bool close = false;
			if (q + 1 < e && s[q] == '-' && s[q + 1] == '-') {
				close = true;
				q += 2;
			}
			while (q < e && mime_is_wsp(s[q]))
				q++;
			bool ok = false;
			if (q >= e) {
				ok = true;
			} else if (s[q] == '\n') {
				ok = true;
				q++;
			} else if (s[q] == '\r' && (q + 1 >= e || s[q + 1] == '\n')) {
				ok = true;
				q = q + 1 >= e ? e : q + 2;
			}
			if (ok) {
				size_t dstart = ls;
				if (ls > b) {
					dstart = ls - 1; /* the LF before the line */
					if (dstart > b && s[dstart - 1] == '\r')
						dstart--;
				}
				if (have_part) {
					size_t pe = dstart < part_start ? part_start : dstart;
					if (c->nparts >= MIME_MAX_PARTS)
						return;
					mime_add_child(p,
						       mime_parse_part(c, part_start, pe,
								       p->depth + 1, p, digest),
						       &cap);
				}
				if (close)
					return;
				have_part = true;
				part_start = q;
				ls = q;
				continue;
			}
		}
		const char *lf = memchr(s + ls, '\n', e - ls);
		ls = lf ? (size_t)(lf - s) + 1 : e;
	}
	if (have_part && c->nparts < MIME_MAX_PARTS)
		mime_add_child(p, mime_parse_part(c, part_start, e, p->depth + 1, p, digest), &cap);
}

static bool mime_encoding_is_identity(const char *enc)
{
	return !enc || strcmp(enc, "7bit") == 0 || strcmp(enc, "8bit") == 0 ||
	       strcmp(enc, "binary") == 0;
}

/* Does the part begin with a header field or the blank line (as RFC 2046 requires)? */
static bool mime_starts_with_field(const char *s, size_t len)
{
	struct rfc5322_iter it;
	struct rfc5322_field f;
	if (len == 0 || s[0] == '\n' || (s[0] == '\r' && len > 1 && s[1] == '\n'))
		return true;
	rfc5322_iter_init(&it, s, len);
	return rfc5322_iter_next(&it, &f) == 1 && f.start == 0;
}

static struct mime_part *mime_parse_part(struct mime_ctx *c, size_t start, size_t end,
					 unsigned depth, const struct mime_part *parent,
					 bool digest_child)
{
	struct mime_part *p = xcalloc(1, sizeof(*p));
	c->nparts++;
	p->depth = depth;
	p->parent = parent;
	p->header_start = start;
	p->body_start = start + rfc5322_header_length(c->msg + start, end - start);
	if (parent && parent->multipart && !mime_starts_with_field(c->msg + start, end - start))
		p->body_start = start; /* a part that forgot its blank line: all body */
	p->body_end = end;
	mime_read_header(p, c->msg + start, p->body_start - start);
	if (!p->type) {
		p->type = xstrdup(digest_child ? "message" : "text");
		p->subtype = xstrdup(digest_child ? "rfc822" : "plain");
	}
	mime_body_stats(p, c->msg);

	bool room = depth < MIME_MAX_DEPTH && c->nparts < MIME_MAX_PARTS;
	if (strcmp(p->type, "multipart") == 0) {
		const struct mime_param *bp = mime_param_find(p->params, p->nparams, "boundary");
		size_t blen = bp ? strlen(bp->value) : 0;
		if (room && blen > 0 && blen <= MIME_BOUNDARY_MAX) {
			p->multipart = true;
			mime_split_multipart(c, p, bp->value);
		} else {
			p->opaque = true;
		}
	} else if (strcmp(p->type, "message") == 0 &&
		   (strcmp(p->subtype, "rfc822") == 0 || strcmp(p->subtype, "global") == 0)) {
		if (room && mime_encoding_is_identity(p->encoding))
			p->message = mime_parse_part(c, p->body_start, p->body_end, depth + 1, p,
						     false);
		else
			p->opaque = true;
	}
	return p;
}

struct mime_part *mime_parse(const char *msg, size_t len)
{
	struct mime_ctx c = { msg, len, 0 };
	return mime_parse_part(&c, 0, len, 0, NULL, false);
}

void mime_free(struct mime_part *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nchildren; i++)
		mime_free(p->children[i]);
	free(p->children);
	mime_free(p->message);
	free(p->type);
	free(p->subtype);
	mime_param_free_array(p->params, p->nparams);
	mime_param_free_array(p->disp_params, p->ndisp_params);
	free(p->id);
	free(p->description);
	free(p->md5);
	free(p->location);
	free(p->encoding);
	free(p->disposition);
	for (size_t i = 0; i < p->nlanguages; i++)
		free(p->languages[i]);
	free(p->languages);
	free(p);
}

/* --- sections --- */

const struct mime_part *mime_find_section(const struct mime_part *root, const char *numbers)
{
	const struct mime_part *p = root;
	bool is_msg = true;
	const char *s = numbers;
	if (*s == '\0')
		return root;
	for (;;) {
		unsigned long k = 0;
		if (*s < '1' || *s > '9')
			return NULL;
		while (*s >= '0' && *s <= '9') {
			k = k * 10 + (unsigned long)(*s++ - '0');
			if (k > MIME_MAX_PARTS)
				return NULL;
		}
		if (!is_msg && p->message) {
			p = p->message;
			is_msg = true;
		}
		if (p->multipart) {
			if (k > p->nchildren)
				return NULL;
			p = p->children[k - 1];
		} else if (!(is_msg && k == 1)) {
			return NULL;
		}
		is_msg = false;
		if (*s == '\0')
			return p;
		if (*s != '.')
			return NULL;
		s++;
	}
}

int mime_section_range(const struct mime_part *root, const char *numbers, enum mime_section what,
		       size_t *start_r, size_t *len_r)
{
	const struct mime_part *p = mime_find_section(root, numbers);
	bool top = *numbers == '\0';
	if (!p)
		return -1;
	if (!top && (what == MIME_SECTION_HEADER || what == MIME_SECTION_TEXT)) {
		p = p->message;
		if (!p)
			return -1;
	}
	switch (what) {
	case MIME_SECTION_BODY:
		if (top) {
			*start_r = p->header_start;
			*len_r = p->body_end - p->header_start;
		} else {
			*start_r = p->body_start;
			*len_r = p->body_end - p->body_start;
		}
		return 0;
	case MIME_SECTION_HEADER:
	case MIME_SECTION_MIME:
		if (what == MIME_SECTION_MIME && top)
			return -1;
		*start_r = p->header_start;
		*len_r = p->body_start - p->header_start;
		return 0;
	case MIME_SECTION_TEXT:
		*start_r = p->body_start;
		*len_r = p->body_end - p->body_start;
		return 0;
	}
	return -1;
}

void mime_write_header_fields(struct buf *out, const char *hdr, size_t len,
			      const char *const *names, size_t nnames, bool exclude)
{
	struct rfc5322_iter it;
	struct rfc5322_field f;
	rfc5322_iter_init(&it, hdr, len);
	while (rfc5322_iter_next(&it, &f) == 1) {
		bool listed = false;
		for (size_t i = 0; i < nnames && !listed; i++)
			listed = rfc5322_name_is(&f, names[i]);
		if (listed == exclude)
			continue;
		buf_append(out, hdr + f.start, f.end - f.start);
		if (f.end == f.start || hdr[f.end - 1] != '\n')
			buf_append(out, "\r\n", 2);
	}
	buf_append(out, "\r\n", 2);
}

/* --- transfer encodings --- */

static int mime_decode_qp(struct buf *out, const char *s, size_t len)
{
	int ret = 0;
	size_t i = 0;
	buf_reserve(out, len);
	while (i < len) {
		/* one line: [i, eol) content, then the line ending */
		const char *lf = memchr(s + i, '\n', len - i);
		size_t eol = lf ? (size_t)(lf - s) : len;
		size_t next = lf ? eol + 1 : len;
		size_t cend = eol;
		if (cend > i && s[cend - 1] == '\r' && lf)
			cend--;
		while (cend > i && mime_is_wsp(s[cend - 1]))
			cend--; /* RFC 2045 6.7 (3): trailing white space is not data */
		bool soft = cend > i && s[cend - 1] == '=';
		if (soft)
			cend--;
		size_t j = i;
		while (j < cend) {
			const char *eq = memchr(s + j, '=', cend - j);
			size_t run = eq ? (size_t)(eq - s) : cend;
			buf_append(out, s + j, run - j);
			j = run;
			if (j >= cend)
				break;
			if (j + 2 < cend && hex_value(s[j + 1]) >= 0 && hex_value(s[j + 2]) >= 0) {
				char b = (char)(hex_value(s[j + 1]) * 16 + hex_value(s[j + 2]));
				buf_append(out, &b, 1);
				j += 3;
			} else {
				ret = -1;
				buf_append(out, "=", 1);
				j++;
			}
		}
		if (!soft && lf) {
			bool cr = eol > i && s[eol - 1] == '\r';
			buf_append(out, cr ? "\r\n" : "\n", cr ? 2 : 1);
		}
		i = next;
	}
	return ret;
}

int mime_decode_transfer(struct buf *out, const char *s, size_t len, const char *encoding)
{
	if (encoding && strcasecmp(encoding, "base64") == 0)
		return base64_decode_lenient(out, s, len, BASE64_PAD_ENDS_QUANTUM);
	if (encoding && strcasecmp(encoding, "quoted-printable") == 0)
		return mime_decode_qp(out, s, len);
	buf_append(out, s, len);
	return 0;
}

int mime_part_decode(struct buf *out, const char *msg, const struct mime_part *part)
{
	return mime_decode_transfer(out, msg + part->body_start, part->body_end - part->body_start,
				    part->encoding);
}

int mime_part_text(struct buf *out, const char *msg, const struct mime_part *part)
{
	struct buf raw;
	buf_init(&raw);
	int ret = mime_part_decode(&raw, msg, part);
	const struct mime_param *cs = mime_param_find(part->params, part->nparams, "charset");
	if (strcmp(part->type, "text") == 0 && cs)
		rfc2047_to_utf8(out, cs->value, strlen(cs->value), raw.data ? raw.data : "",
				raw.len);
	else
		rfc2047_utf8_sanitize(out, raw.data ? raw.data : "", raw.len);
	buf_free(&raw);
	return ret;
}

size_t mime_crlf_size(const char *s, size_t len)
{
	size_t n = len;
	const char *q = s, *end = s + len;
	while (q < end && (q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		if (q == s || q[-1] != '\r')
			n++;
		q++;
	}
	return n;
}

void mime_append_crlf(struct buf *out, const char *s, size_t len)
{
	size_t i = 0;
	buf_reserve(out, len);
	while (i < len) {
		const char *lf = memchr(s + i, '\n', len - i);
		if (!lf) {
			buf_append(out, s + i, len - i);
			return;
		}
		size_t at = (size_t)(lf - s);
		if (at > 0 && s[at - 1] == '\r') {
			buf_append(out, s + i, at + 1 - i);
		} else {
			buf_append(out, s + i, at - i);
			buf_append(out, "\r\n", 2);
		}
		i = at + 1;
	}
}
