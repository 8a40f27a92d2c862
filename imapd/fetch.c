/* fetch.c - FETCH item rendering: FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE, BODY(STRUCTURE), BODY[section]<partial>, BINARY, UID, MODSEQ.
 * Security: the message bytes are untrusted; all structure comes from common/mime, which is bounded. */
#include "fetch.h"
#include "imap_date.h"
#include "imap_render.h"
#include "mailbox.h"
#include "mime.h"
#include "mime_binary.h"
#include "rfc5322.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fetch_out_init(struct fetch_out *o)
{
	memset(o, 0, sizeof(*o));
	buf_init(&o->meta);
}

void fetch_out_reset(struct fetch_out *o)
{
	buf_reset(&o->meta);
	if (o->meta.cap > 64 * 1024)
		buf_free(&o->meta);
	o->nsegs = 0;
	o->mark = 0;
	o->unknown_cte = false;
}

void fetch_out_free(struct fetch_out *o)
{
	buf_free(&o->meta);
	free(o->segs);
	memset(o, 0, sizeof(*o));
}

static void fetch_seg_add(struct fetch_out *o, bool from_msg, size_t off, size_t len)
{
	if (len == 0)
		return;
	if (o->nsegs == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 16;
		o->segs = xrealloc(o->segs, o->cap * sizeof(*o->segs));
	}
	o->segs[o->nsegs++] = (struct fetch_seg){ from_msg, off, len };
}

static void fetch_flush_meta(struct fetch_out *o)
{
	if (o->meta.len > o->mark) {
		fetch_seg_add(o, false, o->mark, o->meta.len - o->mark);
		o->mark = o->meta.len;
	}
}

/* A literal of message bytes [off, off+len), by reference. */
static void fetch_literal_ref(struct fetch_out *o, size_t off, size_t len)
{
	buf_printf(&o->meta, "{%zu}\r\n", len);
	fetch_flush_meta(o);
	fetch_seg_add(o, true, off, len);
}

/* A literal of bytes already appended to meta at [start, meta.len): moves them behind a
 * "{n}\r\n" prefix. */
static void fetch_literal_meta(struct fetch_out *o, size_t start, bool binary)
{
	size_t len = o->meta.len - start;
	char prefix[40];
	int n = snprintf(prefix, sizeof(prefix), "%s{%zu}\r\n", binary ? "~" : "", len);
	buf_reserve(&o->meta, (size_t)n);
	memmove(o->meta.data + start + n, o->meta.data + start, len);
	memcpy(o->meta.data + start, prefix, (size_t)n);
	o->meta.len += (size_t)n;
	o->meta.data[o->meta.len] = '\0';
}

int fetch_local_tz(time_t t)
{
	struct tm tm;
	if (!localtime_r(&t, &tm))
		return 0;
	return (int)(tm.tm_gmtoff / 60);
}

/* An item that needs only the message's header block (served by the folder's header
 * cache, mailbox_msg_header, without reading the file). */
static bool fetch_item_header_only(const struct fetch_item *it)
{
	switch (it->type) {
	case FETCH_ENVELOPE:
	case FETCH_RFC822_HEADER:
		return true;
	case FETCH_BODY_SECTION:
		return it->section.part_count == 0 &&
		       (it->section.text == FETCH_SECTION_HEADER ||
			it->section.text == FETCH_SECTION_HEADER_FIELDS ||
			it->section.text == FETCH_SECTION_HEADER_FIELDS_NOT);
	default:
		return false;
	}
}

static bool fetch_item_needs_data(const struct fetch_item *it)
{
	switch (it->type) {
	case FETCH_FLAGS:
	case FETCH_INTERNALDATE:
	case FETCH_RFC822_SIZE:
	case FETCH_UID:
	case FETCH_MODSEQ:
		return false;
	default:
		return !fetch_item_header_only(it);
	}
}

bool fetch_needs_data(const struct fetch_request *req)
{
	for (unsigned i = 0; i < req->count; i++)
		if (fetch_item_needs_data(&req->items[i]))
			return true;
	return false;
}

static void fetch_numbers(const struct fetch_section *s, char *out, size_t outlen)
{
	size_t pos = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < s->part_count && pos < outlen; i++)
		pos += (size_t)snprintf(out + pos, outlen - pos, "%s%u", i ? "." : "", s->parts[i]);
}

/* Applies <origin.count>. */
static void fetch_partial(const struct fetch_item *it, size_t *off, size_t *len)
{
	if (!it->partial)
		return;
	if (it->origin >= *len) {
		*off += *len;
		*len = 0;
		return;
	}
	*off += it->origin;
	*len -= it->origin;
	if (*len > it->count)
		*len = it->count;
}

struct fetch_ctx {
	const struct fetch_msg *m;
	struct mime_part *root; /* parsed on first use */
	size_t header_len;
	const char *hdr; /* the header block: m->data, or from the cache */
	int hdr_state;   /* 0 not looked up, 1 have it, -1 unavailable */
};

/* The header block: from the message bytes when read, else from the folder's cache. */
static bool fetch_header(struct fetch_ctx *x, const struct mailbox *mb)
{
	if (x->hdr_state == 0) {
		x->hdr_state = -1;
		if (x->m->data) {
			x->hdr = x->m->data;
			x->hdr_state = 1;
		} else if (mb && mb->priv && x->m->seq >= 1 && x->m->seq <= mb->count &&
			   mb->msgs[x->m->seq - 1].uid == x->m->uid &&
			   mailbox_msg_header(mb, x->m->seq - 1, &x->hdr, &x->header_len) == 0) {
			x->hdr_state = 1;
		}
	}
	return x->hdr_state == 1;
}

/* A literal holding a copy of bytes [off, off+len) of the header block. */
static void fetch_literal_header(struct fetch_out *o, const struct fetch_ctx *x, size_t off,
				 size_t len)
{
	if (x->m->data) {
		fetch_literal_ref(o, off, len);
		return;
	}
	size_t start = o->meta.len;
	buf_append(&o->meta, x->hdr + off, len);
	fetch_literal_meta(o, start, false);
}

static const struct mime_part *fetch_root(struct fetch_ctx *x)
{
	if (!x->root)
		x->root = mime_parse(x->m->data, x->m->len);
	return x->root;
}

/* Where section s is in the message (for HEADER.FIELDS: the header it picks from). False when
 * the message has no such part. */
static bool fetch_section_range(struct fetch_ctx *x, const struct fetch_section *s, size_t *off_r,
				size_t *len_r)
{
	const struct fetch_msg *m = x->m;
	char numbers[FETCH_MAX_PARTS * 11 + 1];
	fetch_numbers(s, numbers, sizeof(numbers));
	size_t off = 0, len = 0;
	bool found = true;
	switch (s->text) {
	case FETCH_SECTION_WHOLE:
		if (s->part_count == 0) {
			off = 0;
			len = m->len;
		} else {
			found = mime_section_range(fetch_root(x), numbers, MIME_SECTION_BODY, &off,
						   &len) == 0;
		}
		break;
	case FETCH_SECTION_HEADER:
	case FETCH_SECTION_HEADER_FIELDS:
	case FETCH_SECTION_HEADER_FIELDS_NOT:
		if (s->part_count == 0) {
			off = 0;
			len = x->header_len;
		} else {
			found = mime_section_range(fetch_root(x), numbers, MIME_SECTION_HEADER,
						   &off, &len) == 0;
		}
		break;
	case FETCH_SECTION_TEXT:
		if (s->part_count == 0) {
			off = x->header_len;
			len = m->len - x->header_len;
		} else {
			found = mime_section_range(fetch_root(x), numbers, MIME_SECTION_TEXT, &off,
						   &len) == 0;
		}
		break;
	case FETCH_SECTION_MIME:
		found = mime_section_range(fetch_root(x), numbers, MIME_SECTION_MIME, &off, &len) ==
			0;
		break;
	}
	*off_r = found ? off : 0;
	*len_r = found ? len : 0;
	return found;
}

static void fetch_section_item(struct fetch_out *o, struct fetch_ctx *x,
			       const struct fetch_item *it)
{
	const struct fetch_section *s = &it->section;
	const struct fetch_msg *m = x->m;
	size_t off, len;
	bool found = fetch_section_range(x, s, &off, &len);
	if (found && (s->text == FETCH_SECTION_HEADER_FIELDS ||
		      s->text == FETCH_SECTION_HEADER_FIELDS_NOT)) {
		size_t start = o->meta.len;
		mime_write_header_fields(&o->meta, (m->data ? m->data : x->hdr) + off, len,
					 (const char *const *)s->fields, s->field_count,
					 s->text == FETCH_SECTION_HEADER_FIELDS_NOT);
		/* The partial applies to the rendered fields. */
		size_t flen = o->meta.len - start, foff = 0;
		fetch_partial(it, &foff, &flen);
		if (foff)
			memmove(o->meta.data + start, o->meta.data + start + foff, flen);
		o->meta.len = start + flen;
		o->meta.data[o->meta.len] = '\0';
		fetch_literal_meta(o, start, false);
		return;
	}
	fetch_partial(it, &off, &len);
	if (!m->data)
		fetch_literal_header(o, x, off, len);
	else
		fetch_literal_ref(o, off, len);
}

static void fetch_binary_item(struct fetch_out *o, struct fetch_ctx *x, const struct fetch_item *it)
{
	const struct fetch_section *s = &it->section;
	const struct fetch_msg *m = x->m;
	char numbers[FETCH_MAX_PARTS * 11 + 1];
	fetch_numbers(s, numbers, sizeof(numbers));
	if (s->part_count == 0) {
		size_t off = 0, len = m->len;
		if (it->type == FETCH_BINARY_SIZE) {
			buf_printf(&o->meta, "%zu", len);
			return;
		}
		fetch_partial(it, &off, &len);
		fetch_literal_ref(o, off, len);
		return;
	}
	const struct mime_part *p = mime_find_section(fetch_root(x), numbers);
	if (p && !mime_cte_known(p->encoding))
		o->unknown_cte = true;
	size_t start = o->meta.len;
	if (p)
		mime_part_decode(&o->meta, m->data, p);
	size_t dlen = o->meta.len - start, doff = 0;
	if (it->type == FETCH_BINARY_SIZE) {
		o->meta.len = start;
		buf_printf(&o->meta, "%zu", dlen);
		return;
	}
	fetch_partial(it, &doff, &dlen);
	if (doff)
		memmove(o->meta.data + start, o->meta.data + start + doff, dlen);
	o->meta.len = start + dlen;
	o->meta.data[o->meta.len] = '\0';
	fetch_literal_meta(o, start, memchr(o->meta.data + start, 0, dlen) != NULL);
}

int fetch_section_bytes(const char *section, const char *msg, size_t len, struct buf *out)
{
	struct buf spec;
	buf_init(&spec);
	buf_printf(&spec, "BODY.PEEK[%s]", section);
	struct imap_arg a = { .type = IMAP_ARG_ATOM, .str = spec.data, .len = spec.len };
	struct fetch_request req;
	struct fetch_error err;
	int r = fetch_parse(&a, 1, 0, &req, &err);
	buf_free(&spec);
	if (r < 0)
		return -1;
	const struct fetch_section *s = &req.items[0].section;
	struct fetch_msg m = { .data = msg, .len = len };
	struct fetch_ctx x = { .m = &m, .hdr = msg };
	x.header_len = rfc5322_header_length(msg, len);
	size_t off, n;
	r = fetch_section_range(&x, s, &off, &n) ? 0 : -1;
	if (r == 0 &&
	    (s->text == FETCH_SECTION_HEADER_FIELDS || s->text == FETCH_SECTION_HEADER_FIELDS_NOT))
		mime_write_header_fields(out, msg + off, n, (const char *const *)s->fields,
					 s->field_count,
					 s->text == FETCH_SECTION_HEADER_FIELDS_NOT);
	else if (r == 0)
		buf_append(out, msg + off, n);
	if (x.root)
		mime_free(x.root);
	fetch_request_free(&req);
	return r;
}

void fetch_render(struct fetch_out *o, const struct fetch_request *req, const struct mailbox *mb,
		  const struct fetch_msg *m, bool add_flags, bool add_modseq)
{
	struct fetch_ctx x = { .m = m };
	if (m->data)
		x.header_len = rfc5322_header_length(m->data, m->len);
	x.hdr = m->data;
	buf_printf(&o->meta, "* %u FETCH (", m->seq);
	bool first = true;
	bool has_flags = false, has_modseq = false;
	for (unsigned i = 0; i < req->count; i++) {
		const struct fetch_item *it = &req->items[i];
		const char *env = NULL;
		size_t env_len = 0;
		if (!m->data && it->type == FETCH_ENVELOPE) {
			/* The rendered ENVELOPE is cached itself; the header pointer may move. */
			if (!mb || !mb->priv || m->seq < 1 || m->seq > mb->count ||
			    mb->msgs[m->seq - 1].uid != m->uid ||
			    mailbox_msg_envelope(mb, m->seq - 1, &env, &env_len) < 0)
				continue;
			if (x.hdr_state == 1) {
				x.hdr_state = 0;
				x.hdr = NULL;
			}
		} else if (!m->data && (fetch_item_needs_data(it) ||
					(fetch_item_header_only(it) && !fetch_header(&x, mb)))) {
			continue;
		}
		if (!first)
			buf_append_str(&o->meta, " ");
		first = false;
		buf_append_str(&o->meta, it->name);
		buf_append_str(&o->meta, " ");
		switch (it->type) {
		case FETCH_FLAGS:
			has_flags = true;
			imap_write_flags(&o->meta, mb, m->flags, m->keywords);
			break;
		case FETCH_INTERNALDATE: {
			char d[IMAP_DATETIME_LEN];
			if (!imap_datetime_format(m->internal_date,
						  fetch_local_tz(m->internal_date), d))
				imap_datetime_format(0, 0, d);
			buf_printf(&o->meta, "\"%s\"", d);
			break;
		}
		case FETCH_RFC822_SIZE:
			buf_printf(&o->meta, "%llu",
				   (unsigned long long)(m->data ? m->len : m->size));
			break;
		case FETCH_ENVELOPE:
			if (env)
				buf_append(&o->meta, env, env_len);
			else
				imap_write_envelope(&o->meta, m->data, x.header_len);
			break;
		case FETCH_BODY:
		case FETCH_BODYSTRUCTURE:
			imap_write_bodystructure(&o->meta, m->data, fetch_root(&x),
						 it->type == FETCH_BODYSTRUCTURE);
			break;
		case FETCH_UID:
			buf_printf(&o->meta, "%u", m->uid);
			break;
		case FETCH_MODSEQ:
			has_modseq = true;
			buf_printf(&o->meta, "(%llu)", (unsigned long long)m->modseq);
			break;
		case FETCH_RFC822:
			fetch_literal_ref(o, 0, m->len);
			break;
		case FETCH_RFC822_HEADER:
			fetch_literal_header(o, &x, 0, x.header_len);
			break;
		case FETCH_RFC822_TEXT:
			fetch_literal_ref(o, x.header_len, m->len - x.header_len);
			break;
		case FETCH_BODY_SECTION:
			fetch_section_item(o, &x, it);
			break;
		case FETCH_BINARY:
		case FETCH_BINARY_SIZE:
			fetch_binary_item(o, &x, it);
			break;
		}
	}
	if (add_flags && !has_flags) {
		buf_append_str(&o->meta, first ? "FLAGS " : " FLAGS ");
		first = false;
		imap_write_flags(&o->meta, mb, m->flags, m->keywords);
	}
	if (add_modseq && !has_modseq)
		buf_printf(&o->meta, "%sMODSEQ (%llu)", first ? "" : " ",
			   (unsigned long long)m->modseq);
	buf_append_str(&o->meta, ")\r\n");
	fetch_flush_meta(o);
	if (x.root)
		mime_free(x.root);
}
