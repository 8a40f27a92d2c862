/* search.c - SEARCH key evaluation over one message: flags, sets, sizes, dates, header and body text (RFC 3501 6.4.4, case-insensitive substrings).
 * Security: message bytes are untrusted; parsing goes through common/mime and common/rfc5322, recursion is bounded by the key tree depth. */
#include "search.h"
#include "imap_date.h"
#include "mailbox.h"
#include "mime.h"
#include "rfc2047.h"
#include "rfc5322.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool search_load(struct search_msg *m)
{
	if (m->data)
		return true;
	if (m->load_failed || !m->load)
		return false;
	if (m->load(m, m->load_arg) < 0 || !m->data) {
		m->load_failed = true;
		return false;
	}
	return true;
}

void search_msg_clear(struct search_msg *m)
{
	if (m->mime)
		mime_free(m->mime);
	m->mime = NULL;
	free(m->body_text);
	m->body_text = NULL;
	m->body_len = 0;
	m->have_text = false;
}

static bool search_contains(const char *hay, size_t hay_len, const char *needle, size_t needle_len)
{
	return rfc2047_contains(hay, hay_len, needle, needle_len);
}

static size_t search_header_len(const struct search_msg *m)
{
	return rfc5322_header_length(m->data, m->len);
}

/* The header block alone: from load_header when the message is not loaded, else from the
 * message. */
static bool search_load_header(struct search_msg *m, const char **hdr_r, size_t *len_r)
{
	if (!m->data && !m->header && !m->header_failed && m->load_header) {
		if (m->load_header(m, m->load_arg) < 0 || !m->header) {
			m->header = NULL;
			m->header_failed = true;
		}
	}
	if (!m->data && m->header) {
		*hdr_r = m->header;
		*len_r = m->header_len;
		return true;
	}
	if (!search_load(m))
		return false;
	*hdr_r = m->data;
	*len_r = search_header_len(m);
	return true;
}

/* Does a field named name contain s (decoded, unfolded)? s empty: does the field exist? */
static bool search_header(struct search_msg *m, const char *name, const char *s, size_t slen)
{
	const char *hdr;
	size_t hlen;
	if (!search_load_header(m, &hdr, &hlen))
		return false;
	struct rfc5322_iter it;
	struct rfc5322_field f;
	rfc5322_iter_init(&it, hdr, hlen);
	bool found = false;
	struct buf unfolded, decoded;
	buf_init(&unfolded);
	buf_init(&decoded);
	while (!found && rfc5322_iter_next_named(&it, name, &f) == 1) {
		if (slen == 0) {
			found = true;
			break;
		}
		buf_reset(&unfolded);
		buf_reset(&decoded);
		rfc5322_unfold(&unfolded, f.value, f.value_len, true);
		rfc2047_decode(&decoded, unfolded.data ? unfolded.data : "", unfolded.len);
		found = search_contains(decoded.data ? decoded.data : "", decoded.len, s, slen) ||
			search_contains(unfolded.data ? unfolded.data : "", unfolded.len, s, slen);
	}
	buf_free(&unfolded);
	buf_free(&decoded);
	return found;
}

static void search_collect_text(struct buf *out, const char *msg, const struct mime_part *p,
				unsigned depth)
{
	if (depth > MIME_MAX_DEPTH)
		return;
	if (p->message) {
		search_collect_text(out, msg, p->message, depth + 1);
		return;
	}
	if (p->multipart) {
		for (size_t i = 0; i < p->nchildren; i++)
			search_collect_text(out, msg, p->children[i], depth + 1);
		return;
	}
	if (strcmp(p->type, "text") != 0)
		return;
	mime_part_text(out, msg, p);
	buf_append_str(out, "\n");
}

static bool search_body(struct search_msg *m, const char *s, size_t slen)
{
	if (!search_load(m))
		return false;
	if (!m->have_text) {
		if (!m->mime)
			m->mime = mime_parse(m->data, m->len);
		struct buf text;
		buf_init(&text);
		search_collect_text(&text, m->data, m->mime, 0);
		m->body_len = text.len;
		m->body_text = buf_steal(&text, &m->body_len);
		if (!m->body_text)
			m->body_text = xstrdup("");
		m->have_text = true;
	}
	return search_contains(m->body_text, m->body_len, s, slen);
}

static bool search_text(struct search_msg *m, const char *s, size_t slen)
{
	if (!search_load(m))
		return false;
	size_t hlen = search_header_len(m);
	struct buf unfolded, decoded;
	buf_init(&unfolded);
	buf_init(&decoded);
	rfc5322_unfold(&unfolded, m->data, hlen, false);
	rfc2047_decode(&decoded, unfolded.data ? unfolded.data : "", unfolded.len);
	bool found = search_contains(decoded.data ? decoded.data : "", decoded.len, s, slen);
	buf_free(&unfolded);
	buf_free(&decoded);
	return found || search_body(m, s, slen);
}

static bool search_flag(const struct search_msg *m, const char *name)
{
	static const struct {
		const char *name;
		unsigned flag;
	} sys[] = {
		{ "\\Seen", MAILBOX_SEEN },	  { "\\Answered", MAILBOX_ANSWERED },
		{ "\\Flagged", MAILBOX_FLAGGED }, { "\\Deleted", MAILBOX_DELETED },
		{ "\\Draft", MAILBOX_DRAFT },	  { "\\Recent", MAILBOX_RECENT },
	};
	if (name[0] == '\\') {
		for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
			if (strcasecmp(name, sys[i].name) == 0)
				return (m->flags & sys[i].flag) != 0;
		return false;
	}
	if (!m->keyword_names)
		return false;
	for (unsigned i = 0; i < MAILBOX_MAX_KEYWORDS; i++)
		if ((m->keywords & (1u << i)) && m->keyword_names[i] &&
		    strcasecmp(m->keyword_names[i], name) == 0)
			return true;
	return false;
}

/* Day of the Date: header in its own zone; the internal date when it has none. */
static int64_t search_sent_day(struct search_msg *m)
{
	const char *hdr;
	size_t hlen;
	if (search_load_header(m, &hdr, &hlen)) {
		struct rfc5322_field f;
		if (rfc5322_find(hdr, hlen, "Date", &f) == 1) {
			struct buf v;
			buf_init(&v);
			rfc5322_unfold(&v, f.value, f.value_len, true);
			time_t t;
			int tz;
			int r = rfc5322_parse_date(v.data ? v.data : "", v.len, &t, &tz);
			buf_free(&v);
			if (r == 0)
				return imap_date_days_of_time(t, tz);
		}
	}
	return imap_date_days_of_time(m->internal_date, m->tz_minutes);
}

int search_match(const struct search_key *key, struct search_msg *m)
{
	switch (key->type) {
	case SEARCH_ALL:
		return 1;
	case SEARCH_AND:
		for (unsigned i = 0; i < key->count; i++)
			if (!search_match(&key->children[i], m))
				return 0;
		return 1;
	case SEARCH_OR:
		for (unsigned i = 0; i < key->count; i++)
			if (search_match(&key->children[i], m))
				return 1;
		return 0;
	case SEARCH_NOT:
		return !search_match(&key->children[0], m);
	case SEARCH_SEQSET:
		return seqset_contains_max(&key->set, m->seq, m->max_seq);
	case SEARCH_UIDSET:
		return seqset_contains_max(&key->set, m->uid, m->max_uid);
	case SEARCH_FLAG:
		return search_flag(m, key->str);
	case SEARCH_HEADER:
		return search_header(m, key->header, key->str, key->str_len);
	case SEARCH_BODY:
		return search_body(m, key->str, key->str_len);
	case SEARCH_TEXT:
		return search_text(m, key->str, key->str_len);
	case SEARCH_BEFORE:
		return imap_date_days_of_time(m->internal_date, m->tz_minutes) < key->day;
	case SEARCH_ON:
		return imap_date_days_of_time(m->internal_date, m->tz_minutes) == key->day;
	case SEARCH_SINCE:
		return imap_date_days_of_time(m->internal_date, m->tz_minutes) >= key->day;
	case SEARCH_SENTBEFORE:
		return search_sent_day(m) < key->day;
	case SEARCH_SENTON:
		return search_sent_day(m) == key->day;
	case SEARCH_SENTSINCE:
		return search_sent_day(m) >= key->day;
	case SEARCH_LARGER:
		return m->size > key->number;
	case SEARCH_SMALLER:
		return m->size < key->number;
	case SEARCH_MODSEQ:
		return m->modseq >= key->number;
	}
	return 0;
}
