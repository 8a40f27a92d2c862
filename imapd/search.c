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
	free(m->header_text);
	m->header_text = NULL;
	m->have_header_text = false;
}

/* Does hay_folded (rfc2047_fold made it, once per message) contain needle once folded? The
 * text of a message is folded once per SEARCH however many keys test it: folding it per key
 * cost a pass over the whole message for each. */
static bool search_contains(const char *hay_folded, size_t hay_len, const char *needle,
			    size_t needle_len)
{
	struct buf n;
	buf_init(&n);
	rfc2047_fold(&n, needle, needle_len);
	bool r = rfc2047_contains_folded(hay_folded, hay_len, n.data ? n.data : "", n.len);
	buf_free(&n);
	return r;
}

/* text[0..len) folded, as a malloc'd string (never NULL). */
static char *search_fold(const char *text, size_t len, size_t *len_r)
{
	struct buf f;
	buf_init(&f);
	rfc2047_fold(&f, text ? text : "", len);
	char *out = buf_steal(&f, len_r);
	if (!out) {
		out = xstrdup("");
		*len_r = 0;
	}
	return out;
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

/* The longest run of s without blanks, when every byte of s is printable ASCII or a blank
 * and the run is short enough for a stack copy. */
#define SEARCH_TOKEN_MAX 256
static bool search_ascii_token(const char *s, size_t len, const char **tok_r, size_t *tok_len_r)
{
	size_t best = 0, best_len = 0, run = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && (unsigned char)s[i] > ' ' && (unsigned char)s[i] < 0x7f)
			continue;
		if (i < len && s[i] != ' ' && s[i] != '\t')
			return false; /* 8-bit or a control character: no shortcut */
		if (i - run > best_len) {
			best = run;
			best_len = i - run;
		}
		run = i + 1;
	}
	if (best_len == 0 || best_len > SEARCH_TOKEN_MAX)
		return false;
	*tok_r = s + best;
	*tok_len_r = best_len;
	return true;
}

static bool search_ascii_caseeq(const char *a, const char *lower, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c >= 'A' && c <= 'Z')
			c += 32;
		if (c != (unsigned char)lower[i])
			return false;
	}
	return true;
}

/* Does hay contain lower (lower-case ASCII) ignoring ASCII case? memchr finds the candidates. */
static bool search_ascii_casemem(const char *hay, size_t len, const char *lower, size_t n)
{
	if (n == 0 || n > len)
		return n == 0;
	const char *end = hay + len - n + 1; /* candidates start before end */
	char c0 = lower[0], c1 = (c0 >= 'a' && c0 <= 'z') ? (char)(c0 - 32) : c0;
	const char *p0 = memchr(hay, c0, (size_t)(end - hay));
	const char *p1 = c1 != c0 ? memchr(hay, c1, (size_t)(end - hay)) : NULL;
	while (p0 || p1) {
		const char *p = !p1 || (p0 && p0 < p1) ? p0 : p1;
		if (search_ascii_caseeq(p + 1, lower + 1, n - 1))
			return true;
		if (p == p0)
			p0 = memchr(p0 + 1, c0, (size_t)(end - p0 - 1));
		else
			p1 = memchr(p1 + 1, c1, (size_t)(end - p1 - 1));
	}
	return false;
}

/* Does s contain "=?" (the start of an encoded-word)? memchr for the rarer '?': glibc's
 * memmem has no fast path for a two-byte needle. */
static bool search_has_encoded_word(const char *s, size_t len)
{
	const char *p = len > 1 ? memchr(s + 1, '?', len - 1) : NULL;
	while (p) {
		if (p[-1] == '=')
			return true;
		size_t left = len - (size_t)(p + 1 - s);
		p = left ? memchr(p + 1, '?', left) : NULL;
	}
	return false;
}

/* The search text s as a lower-case ASCII token for search_ascii_casemem (see
 * search_header): false when s does not allow the shortcut. */
struct search_token {
	char lower[SEARCH_TOKEN_MAX];
	size_t len;
};

static bool search_token_make(struct search_token *t, const char *s, size_t slen)
{
	const char *tok;
	if (slen == 0 || !search_ascii_token(s, slen, &tok, &t->len))
		return false;
	for (size_t i = 0; i < t->len; i++)
		t->lower[i] = (char)((tok[i] >= 'A' && tok[i] <= 'Z') ? tok[i] + 32 : tok[i]);
	return true;
}

/* Could text (raw, unfolded or decoded) contain s after case folding? Unfolding only removes
 * CR and LF (a fold keeps its blank), decoding keeps every ASCII byte outside encoded-words
 * in place, and case folding maps no other byte to ASCII: so when a run of s without blanks,
 * all ASCII, is nowhere in the text (ignoring ASCII case), s is not in it either, and not in
 * its unfolded and decoded forms unless an encoded-word ("=?") hides it. */
static bool search_token_in(const struct search_token *t, const char *text, size_t len)
{
	return search_ascii_casemem(text, len, t->lower, t->len);
}

/* FROM, TO, CC, BCC also match the addresses as ENVELOPE shows them ("name <mailbox@host>",
 * comments and quoting gone): "user (c)@ (c) example.org" is found as user@example.org. */
static bool search_is_address_field(const char *name)
{
	return strcasecmp(name, "FROM") == 0 || strcasecmp(name, "TO") == 0 ||
	       strcasecmp(name, "CC") == 0 || strcasecmp(name, "BCC") == 0;
}

static bool search_address_match(const char *value, size_t len, const struct buf *needle)
{
	struct rfc5322_addr *list;
	size_t n = rfc5322_parse_addresses(value, len, &list);
	bool found = false;
	struct buf text, folded;
	buf_init(&text);
	buf_init(&folded);
	for (size_t i = 0; i < n && !found; i++) {
		const struct rfc5322_addr *a = &list[i];
		if (a->kind != RFC5322_ADDR_MAILBOX)
			continue;
		buf_reset(&text);
		if (a->name) {
			rfc2047_decode(&text, a->name, strlen(a->name));
			buf_append_str(&text, " <");
		}
		buf_printf(&text, "%s@%s%s", a->mailbox, a->host, a->name ? ">" : "");
		buf_reset(&folded);
		rfc2047_fold(&folded, text.data, text.len);
		found = rfc2047_contains_folded(folded.data ? folded.data : "", folded.len,
						needle->data ? needle->data : "", needle->len);
	}
	buf_free(&text);
	buf_free(&folded);
	rfc5322_addrs_free(list, n);
	return found;
}

/* Does a field named name contain s (decoded, unfolded)? s empty: does the field exist? */
static bool search_header(struct search_msg *m, const char *name, const char *s, size_t slen)
{
	const char *hdr;
	size_t hlen;
	if (!search_load_header(m, &hdr, &hlen))
		return false;
	/* On the raw block first: most messages are decided by one memchr-driven scan. */
	struct search_token tok;
	bool have_tok = search_token_make(&tok, s, slen);
	bool raw_has = !have_tok || search_token_in(&tok, hdr, hlen);
	bool addr = search_is_address_field(name);
	if (!raw_has && !search_has_encoded_word(hdr, hlen) && !addr)
		return false;
	struct rfc5322_iter it;
	struct rfc5322_field f;
	rfc5322_iter_init(&it, hdr, hlen);
	bool found = false;
	struct buf unfolded, decoded, folded, needle;
	buf_init(&unfolded);
	buf_init(&decoded);
	buf_init(&folded);
	buf_init(&needle);
	rfc2047_fold(&needle, s, slen);
	while (!found && rfc5322_iter_next_named(&it, name, &f) == 1) {
		if (slen == 0) {
			found = true;
			break;
		}
		/* Comments and quoting can split an address the raw scan looks for. */
		bool addr_parse = addr && (memchr(f.value, '(', f.value_len) ||
					   memchr(f.value, '"', f.value_len) ||
					   memchr(f.value, '\\', f.value_len));
		if (!raw_has && !search_has_encoded_word(f.value, f.value_len) && !addr_parse)
			continue;
		buf_reset(&unfolded);
		buf_reset(&decoded);
		rfc5322_unfold(&unfolded, f.value, f.value_len, true);
		rfc2047_decode(&decoded, unfolded.data ? unfolded.data : "", unfolded.len);
		const struct buf *forms[2] = { &decoded, &unfolded };
		for (int k = 0; k < 2 && !found; k++) {
			const char *text = forms[k]->data ? forms[k]->data : "";
			if (have_tok && !search_token_in(&tok, text, forms[k]->len))
				continue;
			buf_reset(&folded);
			rfc2047_fold(&folded, text, forms[k]->len);
			found = rfc2047_contains_folded(folded.data ? folded.data : "", folded.len,
							needle.data ? needle.data : "", needle.len);
		}
		if (!found && addr)
			found = search_address_match(unfolded.data ? unfolded.data : "",
						     unfolded.len, &needle);
	}
	buf_free(&unfolded);
	buf_free(&decoded);
	buf_free(&folded);
	buf_free(&needle);
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
		m->body_text = search_fold(text.data, text.len, &m->body_len);
		buf_free(&text);
		m->have_text = true;
	}
	return search_contains(m->body_text, m->body_len, s, slen);
}

static bool search_text(struct search_msg *m, const char *s, size_t slen)
{
	if (!search_load(m))
		return false;
	if (!m->have_header_text) {
		size_t hlen = search_header_len(m);
		struct buf unfolded, decoded;
		buf_init(&unfolded);
		buf_init(&decoded);
		rfc5322_unfold(&unfolded, m->data, hlen, false);
		rfc2047_decode(&decoded, unfolded.data ? unfolded.data : "", unfolded.len);
		m->header_text = search_fold(decoded.data, decoded.len, &m->header_text_len);
		buf_free(&unfolded);
		buf_free(&decoded);
		m->have_header_text = true;
	}
	bool found = search_contains(m->header_text, m->header_text_len, s, slen);
	return found || search_body(m, s, slen);
}

static bool search_flag(const struct search_msg *m, const char *name)
{
	static const struct {
		const char *name;
		unsigned flag;
	} sys[] = {
		{ "\\Seen", MAILBOX_SEEN },       { "\\Answered", MAILBOX_ANSWERED },
		{ "\\Flagged", MAILBOX_FLAGGED }, { "\\Deleted", MAILBOX_DELETED },
		{ "\\Draft", MAILBOX_DRAFT },     { "\\Recent", MAILBOX_RECENT },
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

bool search_needs_tz(const struct search_key *key)
{
	switch (key->type) {
	case SEARCH_AND:
	case SEARCH_OR:
	case SEARCH_NOT:
		for (unsigned i = 0; i < key->count; i++)
			if (search_needs_tz(&key->children[i]))
				return true;
		return false;
	case SEARCH_BEFORE:
	case SEARCH_ON:
	case SEARCH_SINCE:
	case SEARCH_SENTBEFORE:
	case SEARCH_SENTON:
	case SEARCH_SENTSINCE:
		return true;
	default:
		return false;
	}
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
	case SEARCH_UIDSET:
		if (key->set.saved)
			return m->saved && seqset_contains(m->saved, m->uid);
		if (key->type == SEARCH_SEQSET)
			return seqset_contains_max(&key->set, m->seq, m->max_seq);
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
