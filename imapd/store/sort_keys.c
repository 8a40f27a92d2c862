/* sort_keys.c - SORT/THREAD keys of one message from its header block: base subject (RFC 5256 2.1), first addresses, display names (RFC 5957), sent date, message ids; and their cache record (pure). */
#include "sort_keys.h"
#include "rfc2047.h"
#include "rfc5322.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SORT_KEYS_FIELDS 11 /* lines of a record */

static bool sk_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- base subject (RFC 5256 2.1) ---- */

/* A subj-blob at s: "[" *BLOBCHAR "]" *WSP. Returns its length, or 0. */
static size_t sk_blob(const char *s, size_t len)
{
	if (len == 0 || s[0] != '[')
		return 0;
	size_t i = 1;
	while (i < len && s[i] != '[' && s[i] != ']')
		i++;
	if (i >= len || s[i] != ']')
		return 0;
	i++;
	while (i < len && sk_wsp(s[i]))
		i++;
	return i;
}

/* A subj-refwd at s: ("re" / ("fw" ["d"])) *WSP [subj-blob] ":". Returns its length, or 0. */
static size_t sk_refwd(const char *s, size_t len)
{
	size_t i;
	if (len >= 2 && strncasecmp(s, "re", 2) == 0)
		i = 2;
	else if (len >= 3 && strncasecmp(s, "fwd", 3) == 0)
		i = 3;
	else if (len >= 2 && strncasecmp(s, "fw", 2) == 0)
		i = 2;
	else
		return 0;
	while (i < len && sk_wsp(s[i]))
		i++;
	i += sk_blob(s + i, len - i);
	if (i >= len || s[i] != ':')
		return 0;
	return i + 1;
}

/* Step 3: removes subj-leader text ((*subj-blob subj-refwd) / WSP) from the front. */
static bool sk_strip_leaders(const char **s, size_t *len)
{
	bool reply = false;
	for (;;) {
		if (*len && sk_wsp(**s)) {
			(*s)++;
			(*len)--;
			continue;
		}
		size_t i = 0, b;
		while ((b = sk_blob(*s + i, *len - i)) > 0)
			i += b;
		size_t r = sk_refwd(*s + i, *len - i);
		if (r == 0)
			return reply;
		*s += i + r;
		*len -= i + r;
		reply = true;
	}
}

void sort_base_subject(struct buf *out, const char *subject, size_t len, bool *reply_r)
{
	*reply_r = false;
	/* (1) UTF-8, blanks and folds to single spaces. */
	struct buf unfolded, decoded;
	buf_init(&unfolded);
	buf_init(&decoded);
	rfc5322_unfold(&unfolded, subject, len, true);
	rfc2047_decode(&decoded, unfolded.data ? unfolded.data : "", unfolded.len);
	char *t = xmalloc(decoded.len + 1);
	size_t n = 0;
	for (size_t i = 0; i < decoded.len; i++) {
		char c = decoded.data[i];
		if (c == '\t' || c == '\r' || c == '\n' || c == '\0')
			c = ' ';
		if (c == ' ' && n && t[n - 1] == ' ')
			continue;
		t[n++] = c;
	}
	buf_free(&unfolded);
	buf_free(&decoded);

	const char *s = t;
	size_t sl = n;
	for (;;) {
		/* (2) trailers: "(fwd)" and blanks. */
		for (;;) {
			if (sl && sk_wsp(s[sl - 1])) {
				sl--;
				continue;
			}
			if (sl >= 5 && strncasecmp(s + sl - 5, "(fwd)", 5) == 0) {
				sl -= 5;
				*reply_r = true;
				continue;
			}
			break;
		}
		/* (3)-(5) leaders and blobs. */
		for (;;) {
			if (sk_strip_leaders(&s, &sl))
				*reply_r = true;
			size_t b = sk_blob(s, sl);
			if (b == 0 || b == sl)
				break;
			s += b;
			sl -= b;
		}
		/* (6) "[fwd:" ... "]" */
		if (sl >= 6 && strncasecmp(s, "[fwd:", 5) == 0 && s[sl - 1] == ']') {
			s += 5;
			sl -= 6;
			*reply_r = true;
			continue;
		}
		break;
	}
	buf_append(out, s, sl);
	free(t);
}

/* ---- the keys ---- */

/* Copies at most max bytes of s, CR/LF/NUL/TAB as spaces, upper-cased in ASCII when upper. */
static char *sk_clean(const char *s, size_t len, size_t max, bool upper)
{
	if (len > max) {
		size_t cut = max;
		/* Do not cut a UTF-8 sequence. */
		while (cut && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
		len = cut;
	}
	char *o = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\r' || c == '\n' || c == '\0' || c == '\t')
			c = ' ';
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		o[i] = c;
	}
	o[len] = '\0';
	return o;
}

static bool sk_host_missing(const char *host)
{
	return !host || !*host || strcmp(host, "MISSING_DOMAIN") == 0;
}

/* The first address of field name: its addr-mailbox (a group: the group's name) and its
 * display form (RFC 5957: display name decoded, else "mailbox@host"). */
static void sk_address(const char *hdr, size_t len, const char *name, char **mailbox_r,
		       char **display_r)
{
	*mailbox_r = NULL;
	*display_r = NULL;
	struct rfc5322_field f;
	if (rfc5322_find(hdr, len, name, &f) == 1) {
		struct buf v;
		buf_init(&v);
		rfc5322_unfold(&v, f.value, f.value_len, true);
		struct rfc5322_addr *list;
		size_t n = rfc5322_parse_addresses(v.data ? v.data : "", v.len, &list);
		if (n > 0 && list[0].kind != RFC5322_ADDR_GROUP_END) {
			const struct rfc5322_addr *a = &list[0];
			const char *mb = a->mailbox ? a->mailbox : "";
			*mailbox_r = sk_clean(mb, strlen(mb), SORT_KEYS_MAX_FIELD, true);
			struct buf d;
			buf_init(&d);
			if (a->kind == RFC5322_ADDR_MAILBOX && a->name && *a->name)
				rfc2047_decode(&d, a->name, strlen(a->name));
			if (d.len == 0) {
				buf_append_str(&d, mb);
				if (a->kind == RFC5322_ADDR_MAILBOX && !sk_host_missing(a->host))
					buf_printf(&d, "@%s", a->host);
			}
			*display_r = sk_clean(d.data ? d.data : "", d.len, SORT_KEYS_MAX_FIELD,
					      true);
			buf_free(&d);
		}
		rfc5322_addrs_free(list, n);
		buf_free(&v);
	}
	if (!*mailbox_r)
		*mailbox_r = xstrdup("");
	if (!*display_r)
		*display_r = xstrdup("");
}

/* The next valid "<id>" of s from *pos: comments and quoted text skipped, white space inside
 * removed; valid = a '@' with something on both sides. Returns false at the end. */
static bool sk_next_msgid(const char *s, size_t len, size_t *pos, struct buf *id)
{
	size_t i = *pos;
	while (i < len) {
		char c = s[i];
		if (c == '(') {
			int depth = 0;
			for (; i < len; i++) {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')' && --depth == 0)
					break;
			}
			i++;
			continue;
		}
		if (c != '<') {
			i++;
			continue;
		}
		size_t j = i + 1;
		buf_reset(id);
		buf_append(id, "<", 1);
		bool bad = false;
		size_t at = 0, nat = 0;
		while (j < len && s[j] != '>') {
			char d = s[j];
			if (d == '<') {
				bad = true;
				break;
			}
			if (d == '@') {
				at = id->len;
				nat++;
			}
			if (!sk_wsp(d) && d != '\r' && d != '\n' && (unsigned char)d > ' ')
				buf_append(id, &d, 1);
			j++;
		}
		if (bad || j >= len) {
			i = j;
			continue;
		}
		buf_append(id, ">", 1);
		*pos = j + 1;
		if (nat >= 1 && at > 1 && at + 2 < id->len && id->len <= SORT_KEYS_MAX_FIELD)
			return true;
		i = j + 1;
	}
	*pos = len;
	return false;
}

static char *sk_msgid(const char *hdr, size_t len, const char *name)
{
	struct rfc5322_field f;
	char *r = NULL;
	if (rfc5322_find(hdr, len, name, &f) == 1) {
		struct buf id;
		buf_init(&id);
		size_t pos = 0;
		if (sk_next_msgid(f.value, f.value_len, &pos, &id))
			r = xstrdup(id.data);
		buf_free(&id);
	}
	return r;
}

static char *sk_references(const char *hdr, size_t len)
{
	struct buf out, id;
	buf_init(&out);
	buf_init(&id);
	struct rfc5322_field f;
	if (rfc5322_find(hdr, len, "References", &f) == 1) {
		size_t pos = 0;
		while (sk_next_msgid(f.value, f.value_len, &pos, &id)) {
			if (out.len)
				buf_append(&out, " ", 1);
			buf_append(&out, id.data, id.len);
		}
	}
	if (out.len == 0) {
		char *irt = sk_msgid(hdr, len, "In-Reply-To");
		if (irt)
			buf_append_str(&out, irt);
		free(irt);
	}
	buf_free(&id);
	/* Keep the last references (the parent is the last one), whole ids only. */
	if (out.len > SORT_KEYS_MAX_REFS_LEN) {
		const char *p = out.data + out.len - SORT_KEYS_MAX_REFS_LEN;
		const char *sp = strchr(p, ' ');
		const char *keep = sp ? sp + 1 : out.data + out.len;
		char *r = xstrdup(keep);
		buf_free(&out);
		return r;
	}
	char *r = out.data ? buf_steal(&out, NULL) : xstrdup("");
	buf_free(&out);
	return r;
}

void sort_keys_from_header(struct sort_keys *k, const char *hdr, size_t len)
{
	memset(k, 0, sizeof(*k));
	struct rfc5322_field f;
	if (rfc5322_find(hdr, len, "Date", &f) == 1) {
		struct buf v;
		buf_init(&v);
		rfc5322_unfold(&v, f.value, f.value_len, true);
		time_t t;
		int tz;
		if (rfc5322_parse_date(v.data ? v.data : "", v.len, &t, &tz) == 0) {
			k->has_date = true;
			k->date = (int64_t)t;
		}
		buf_free(&v);
	}
	struct buf subj;
	buf_init(&subj);
	if (rfc5322_find(hdr, len, "Subject", &f) == 1)
		sort_base_subject(&subj, f.value, f.value_len, &k->reply);
	k->subject = sk_clean(subj.data ? subj.data : "", subj.len, SORT_KEYS_MAX_FIELD, true);
	buf_free(&subj);
	char *unused;
	sk_address(hdr, len, "From", &k->from, &k->display_from);
	sk_address(hdr, len, "To", &k->to, &k->display_to);
	sk_address(hdr, len, "Cc", &k->cc, &unused);
	free(unused);
	k->message_id = sk_msgid(hdr, len, "Message-ID");
	if (!k->message_id)
		k->message_id = xstrdup("");
	k->references = sk_references(hdr, len);
}

void sort_keys_free(struct sort_keys *k)
{
	if (k->block) {
		free(k->block);
		memset(k, 0, sizeof(*k));
		return;
	}
	free(k->subject);
	free(k->from);
	free(k->to);
	free(k->cc);
	free(k->display_from);
	free(k->display_to);
	free(k->message_id);
	free(k->references);
	memset(k, 0, sizeof(*k));
}

/* ---- the record ---- */

static void sk_line(struct buf *out, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++)
		buf_append(out, (*p == '\n' || *p == '\r') ? " " : p, 1);
	buf_append(out, "\n", 1);
}

void sort_keys_format(struct buf *out, const struct sort_keys *k)
{
	buf_append_str(out, "s1\n");
	if (k->has_date)
		buf_printf(out, "%" PRId64, k->date);
	buf_append(out, "\n", 1);
	buf_append_str(out, k->reply ? "1\n" : "0\n");
	sk_line(out, k->subject);
	sk_line(out, k->from);
	sk_line(out, k->to);
	sk_line(out, k->cc);
	sk_line(out, k->display_from);
	sk_line(out, k->display_to);
	sk_line(out, k->message_id);
	sk_line(out, k->references);
}

int sort_keys_parse(struct sort_keys *k, const char *rec, size_t len)
{
	memset(k, 0, sizeof(*k));
	const char *line[SORT_KEYS_FIELDS];
	size_t ll[SORT_KEYS_FIELDS];
	size_t pos = 0;
	for (int i = 0; i < SORT_KEYS_FIELDS; i++) {
		const char *nl = pos < len ? memchr(rec + pos, '\n', len - pos) : NULL;
		if (!nl)
			return -1;
		line[i] = rec + pos;
		ll[i] = (size_t)(nl - (rec + pos));
		if (memchr(line[i], '\0', ll[i]))
			return -1;
		pos = (size_t)(nl - rec) + 1;
	}
	if (pos != len || ll[0] != 2 || memcmp(line[0], "s1", 2) != 0)
		return -1;
	if (ll[1]) {
		char num[24];
		if (ll[1] >= sizeof(num))
			return -1;
		memcpy(num, line[1], ll[1]);
		num[ll[1]] = '\0';
		char *end;
		long long v = strtoll(num, &end, 10);
		if (*end || !(num[0] == '-' || (num[0] >= '0' && num[0] <= '9')))
			return -1;
		k->has_date = true;
		k->date = v;
	}
	if (ll[2] != 1 || (line[2][0] != '0' && line[2][0] != '1'))
		return -1;
	k->reply = line[2][0] == '1';
	char **dst[] = { &k->subject,      &k->from,       &k->to,         &k->cc,
			 &k->display_from, &k->display_to, &k->message_id, &k->references };
	/* One allocation for the eight strings: SORT parses a record per message. */
	size_t total = 0;
	for (int i = 0; i < 8; i++)
		total += ll[3 + i] + 1;
	char *s = k->block = xmalloc(total);
	for (int i = 0; i < 8; i++) {
		memcpy(s, line[3 + i], ll[3 + i]);
		s[ll[3 + i]] = '\0';
		*dst[i] = s;
		s += ll[3 + i] + 1;
	}
	return 0;
}

void sort_keys_each_ref(const char *refs, void (*fn)(const char *id, size_t len, void *arg),
			void *arg)
{
	const char *p = refs;
	while (p && *p) {
		while (*p == ' ')
			p++;
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n)
			fn(p, n, arg);
		p += n;
	}
}
