/* imap_render.c - IMAP wire forms of stored messages: nstring, BODYSTRUCTURE, ENVELOPE, flag lists. */
#include "imap_render.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rfc5322.h"
#include "mailbox.h"
#include "xalloc.h"

/* Atom characters (RFC 3501 9 ATOM-CHAR) plus ']', allowed in an astring. */
static bool imap_astring_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\", c) == NULL;
}

#define IMAP_QUOTED_MAX 1024

/* The one IMAP string writer: every string a response carries goes through here. */
void imap_write_string_flags(struct buf *b, const char *s, size_t len, unsigned flags, bool atom_ok)
{
	bool atom = atom_ok && len > 0;
	bool quotable = len <= IMAP_QUOTED_MAX;
	size_t nul = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!imap_astring_char(c))
			atom = false;
		if (c == '\0')
			nul++;
		if (c == '\0' || c == '\r' || c == '\n' ||
		    (c >= 0x80 && !(flags & IMAP_WRITE_UTF8)))
			quotable = false;
	}
	if (atom && len == 3 && strncasecmp(s, "NIL", 3) == 0)
		atom = false;
	if (atom) {
		buf_append(b, s, len);
	} else if (quotable) {
		buf_reserve(b, len + 2);
		buf_append(b, "\"", 1);
		size_t start = 0;
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '"' || s[i] == '\\') {
				buf_append(b, s + start, i - start);
				buf_append(b, "\\", 1);
				start = i;
			}
		}
		buf_append(b, s + start, len - start);
		buf_append(b, "\"", 1);
	} else if (nul == 0 || (flags & IMAP_WRITE_BINARY)) {
		/* A NUL octet may only travel in a literal8 (RFC 3516). */
		buf_printf(b, "%s{%zu}\r\n", nul ? "~" : "", len);
		buf_append(b, s, len);
	} else {
		/* Never a NUL in a {n} literal (RFC 3501 CHAR8): NULs are dropped. */
		buf_printf(b, "{%zu}\r\n", len - nul);
		for (size_t i = 0; i < len;) {
			const char *z = memchr(s + i, '\0', len - i);
			size_t run = z ? (size_t)(z - s) : len;
			buf_append(b, s + i, run - i);
			i = run + 1;
		}
	}
}

void imap_write_astring(struct buf *b, const char *s, size_t len)
{
	imap_write_string_flags(b, s, len, 0, true);
}

void imap_write_string(struct buf *b, const char *s, size_t len)
{
	imap_write_string_flags(b, s, len, 0, false);
}

void imap_write_nstring(struct buf *b, const char *s, size_t len)
{
	if (s == NULL)
		buf_append_str(b, "NIL");
	else
		imap_write_string_flags(b, s, len, 0, false);
}

static void imap_write_cstr(struct buf *out, const char *s)
{
	imap_write_nstring(out, s, s ? strlen(s) : 0);
}

static void imap_write_params(struct buf *out, const struct mime_param *p, size_t n, bool text)
{
	bool charset = mime_param_find(p, n, "charset") != NULL;
	if (n == 0 && !text) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append(out, "(", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append(out, " ", 1);
		if (p[i].extended) {
			char *k = xasprintf("%s*", p[i].name);
			imap_write_cstr(out, k);
			free(k);
		} else {
			imap_write_cstr(out, p[i].name);
		}
		buf_append(out, " ", 1);
		imap_write_cstr(out, p[i].raw);
	}
	if (text && !charset)
		buf_append_str(out, n ? " \"charset\" \"us-ascii\"" : "\"charset\" \"us-ascii\"");
	buf_append(out, ")", 1);
}

/* body-ext-1part / body-ext-mpart tail shared by both: disposition, language, location. */
static void imap_write_ext_tail(struct buf *out, const struct mime_part *p)
{
	buf_append(out, " ", 1);
	if (!p->disposition) {
		buf_append_str(out, "NIL");
	} else {
		buf_append(out, "(", 1);
		imap_write_cstr(out, p->disposition);
		buf_append(out, " ", 1);
		imap_write_params(out, p->disp_params, p->ndisp_params, false);
		buf_append(out, ")", 1);
	}
	buf_append(out, " ", 1);
	if (!p->nlanguages) {
		buf_append_str(out, "NIL");
	} else {
		buf_append(out, "(", 1);
		for (size_t i = 0; i < p->nlanguages; i++) {
			if (i > 0)
				buf_append(out, " ", 1);
			imap_write_cstr(out, p->languages[i]);
		}
		buf_append(out, ")", 1);
	}
	buf_append(out, " ", 1);
	imap_write_cstr(out, p->location);
}

void imap_write_bodystructure(struct buf *out, const char *msg, const struct mime_part *p,
			      bool extended)
{
	buf_append(out, "(", 1);
	if (p->multipart) {
		if (p->nchildren == 0)
			buf_append_str(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
					    "NIL \"7bit\" 0 0)");
		for (size_t i = 0; i < p->nchildren; i++)
			imap_write_bodystructure(out, msg, p->children[i], extended);
		buf_append(out, " ", 1);
		imap_write_cstr(out, p->subtype);
		if (extended) {
			buf_append(out, " ", 1);
			imap_write_params(out, p->params, p->nparams, false);
			imap_write_ext_tail(out, p);
		}
		buf_append(out, ")", 1);
		return;
	}
	const char *type = p->opaque ? "text" : p->type;
	const char *subtype = p->opaque ? "plain" : p->subtype;
	bool text = strcmp(type, "text") == 0;
	imap_write_cstr(out, type);
	buf_append(out, " ", 1);
	imap_write_cstr(out, subtype);
	buf_append(out, " ", 1);
	imap_write_params(out, p->params, p->nparams, text);
	buf_append(out, " ", 1);
	imap_write_cstr(out, p->id);
	buf_append(out, " ", 1);
	imap_write_cstr(out, p->description);
	buf_append(out, " ", 1);
	imap_write_cstr(out, p->encoding ? p->encoding : "7bit");
	buf_printf(out, " %zu", p->vsize);
	if (p->message) {
		const struct mime_part *m = p->message;
		buf_append(out, " ", 1);
		imap_write_envelope(out, msg + m->header_start, m->body_start - m->header_start);
		buf_append(out, " ", 1);
		imap_write_bodystructure(out, msg, m, extended);
		buf_printf(out, " %zu", p->lines);
	} else if (text) {
		buf_printf(out, " %zu", p->lines);
	}
	if (extended) {
		buf_append(out, " ", 1);
		imap_write_cstr(out, p->md5);
		imap_write_ext_tail(out, p);
	}
	buf_append(out, ")", 1);
}

static void imap_write_addresses(struct buf *out, const char *value)
{
	struct rfc5322_addr *list;
	size_t n = value ? rfc5322_parse_addresses(value, strlen(value), &list) : 0;
	if (n == 0) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append(out, "(", 1);
	for (size_t i = 0; i < n; i++) {
		const struct rfc5322_addr *a = &list[i];
		buf_append(out, "(", 1);
		switch (a->kind) {
		case RFC5322_ADDR_MAILBOX:
			imap_write_cstr(out, a->name);
			buf_append(out, " ", 1);
			imap_write_cstr(out, a->route);
			buf_append(out, " ", 1);
			imap_write_cstr(out, a->mailbox);
			buf_append(out, " ", 1);
			imap_write_cstr(out, a->host);
			break;
		case RFC5322_ADDR_GROUP_START:
			buf_append_str(out, "NIL NIL ");
			imap_write_cstr(out, a->mailbox);
			buf_append_str(out, " NIL");
			break;
		case RFC5322_ADDR_GROUP_END:
			buf_append_str(out, "NIL NIL NIL NIL");
			break;
		}
		buf_append(out, ")", 1);
	}
	buf_append(out, ")", 1);
	rfc5322_addrs_free(list, n);
}

static bool imap_has_address(const char *value)
{
	if (!value)
		return false;
	struct rfc5322_addr *list;
	size_t n = rfc5322_parse_addresses(value, strlen(value), &list);
	rfc5322_addrs_free(list, n);
	return n > 0;
}

void imap_write_envelope(struct buf *out, const char *hdr, size_t header_len)
{
	static const char *names[] = { "Date", "Subject", "From", "Sender",      "Reply-To",
				       "To",   "Cc",      "Bcc",  "In-Reply-To", "Message-ID" };
	enum { N = sizeof(names) / sizeof(names[0]) };
	char *v[N] = { NULL };
	struct rfc5322_iter it;
	struct rfc5322_field f;

	rfc5322_iter_init(&it, hdr, header_len);
	while (rfc5322_iter_next(&it, &f) == 1) {
		for (size_t k = 0; k < N; k++) {
			if (!v[k] && rfc5322_name_is(&f, names[k])) {
				struct buf b;
				buf_init(&b);
				rfc5322_unfold(&b, f.value, f.value_len, false);
				buf_append(&b, "", 0); /* NUL-terminated even when empty */
				v[k] = buf_steal(&b, NULL);
				break;
			}
		}
	}
	buf_append(out, "(", 1);
	for (size_t k = 0; k < N; k++) {
		if (k > 0)
			buf_append(out, " ", 1);
		if (k >= 2 && k <= 7) {
			const char *a = v[k];
			if ((k == 3 || k == 4) && !imap_has_address(a))
				a = v[2];
			imap_write_addresses(out, a);
		} else {
			imap_write_cstr(out, v[k]);
		}
	}
	buf_append(out, ")", 1);
	for (size_t k = 0; k < N; k++)
		free(v[k]);
}

const struct imap_system_flag imap_system_flags[IMAP_SYSTEM_FLAGS] = {
	{ "\\Seen", MAILBOX_SEEN },       { "\\Answered", MAILBOX_ANSWERED },
	{ "\\Flagged", MAILBOX_FLAGGED }, { "\\Deleted", MAILBOX_DELETED },
	{ "\\Draft", MAILBOX_DRAFT },
};

void imap_write_flags(struct buf *b, const struct mailbox *mb, unsigned flags, uint32_t keywords)
{
	buf_append_str(b, "(");
	size_t start = b->len;
	for (size_t k = 0; k < IMAP_SYSTEM_FLAGS; k++)
		if (flags & imap_system_flags[k].flag)
			buf_printf(b, "%s%s", b->len > start ? " " : "", imap_system_flags[k].name);
	if (flags & MAILBOX_RECENT)
		buf_printf(b, "%s\\Recent", b->len > start ? " " : "");
	for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++)
		if ((keywords & (1u << i)) && mb->keywords[i])
			buf_printf(b, "%s%s", b->len > start ? " " : "", mb->keywords[i]);
	buf_append_str(b, ")");
}
