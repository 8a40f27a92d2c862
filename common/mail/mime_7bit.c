/* mime_7bit.c - 8-bit content detection and the RFC 6152 downgrade of a message to 7bit (pure). */
#include "mime_7bit.h"
#include "mime.h"
#include "rfc5322.h"

#include <string.h>

bool mime_is_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

void mime_8bit_scan(const char *msg, size_t len, struct mime_8bit_info *info_r)
{
	struct rfc5322_field f;
	size_t hlen = rfc5322_header_length(msg, len);
	info_r->header_8bit = !mime_is_ascii(msg, hlen);
	info_r->body_8bit = !mime_is_ascii(msg + hlen, len - hlen);
	info_r->dkim_signed = rfc5322_find(msg, hlen, "DKIM-Signature", &f) == 1;
}

void mime_qp_encode(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	buf_reserve(out, len + len / 8 + 16);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n' || (c == '\r' && i + 1 < len && s[i + 1] == '\n')) {
			i += c == '\r';
			buf_append(out, "\r\n", 2);
			col = 0;
			continue;
		}
		bool line_end = i + 1 == len || s[i + 1] == '\n' ||
				(s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n');
		bool esc = c >= 0x7f || (c < 0x20 && c != '\t') || c == '=' ||
			   ((c == ' ' || c == '\t') && line_end);
		/* A soft break keeps encoded lines within 76 octets, "=" included. */
		if (col + (esc ? 3 : 1) > (line_end ? 76 : 75)) {
			buf_append(out, "=\r\n", 3);
			col = 0;
		}
		if (esc) {
			char e[3] = { '=', hex[c >> 4], hex[c & 15] };
			buf_append(out, e, 3);
			col += 3;
		} else {
			buf_append(out, (const char *)&c, 1);
			col++;
		}
	}
}

struct mime_7bit_ctx {
	const char *msg;
	struct buf *out;
	const char *error;
};

static bool mime_7bit_fail(struct mime_7bit_ctx *c, const char *why)
{
	if (!c->error)
		c->error = why;
	return false;
}

/* Copies msg[from..to), which must be 7-bit. */
static bool mime_7bit_copy(struct mime_7bit_ctx *c, size_t from, size_t to, const char *why)
{
	if (to <= from)
		return true;
	if (!mime_is_ascii(c->msg + from, to - from))
		return mime_7bit_fail(c, why);
	buf_append(c->out, c->msg + from, to - from);
	return true;
}

/* The part's header with Content-Transfer-Encoding set to cte (copied as is when NULL). */
static bool mime_7bit_header(struct mime_7bit_ctx *c, const struct mime_part *p, const char *cte)
{
	const char *h = c->msg + p->header_start;
	size_t hlen = p->body_start - p->header_start, pos = 0;
	if (!mime_is_ascii(h, hlen))
		return mime_7bit_fail(c, "a header has 8-bit octets (needs SMTPUTF8 or 8BITMIME)");
	if (!cte) {
		buf_append(c->out, h, hlen);
		return true;
	}
	struct rfc5322_iter it;
	struct rfc5322_field f;
	bool done = false, mime_version = false;
	rfc5322_iter_init(&it, h, hlen);
	while (rfc5322_iter_next(&it, &f) == 1) {
		buf_append(c->out, h + pos, f.start - pos);
		pos = f.end;
		if (rfc5322_name_is(&f, "MIME-Version"))
			mime_version = true;
		if (!rfc5322_name_is(&f, "Content-Transfer-Encoding")) {
			buf_append(c->out, h + f.start, f.end - f.start);
			continue;
		}
		if (!done)
			buf_printf(c->out, "Content-Transfer-Encoding: %s\r\n", cte);
		done = true;
	}
	if (!p->parent && !mime_version && p->depth == 0)
		buf_append_str(c->out, "MIME-Version: 1.0\r\n");
	if (!done)
		buf_printf(c->out, "Content-Transfer-Encoding: %s\r\n", cte);
	buf_append(c->out, h + pos, hlen - pos);
	return true;
}

static bool mime_7bit_part(struct mime_7bit_ctx *c, const struct mime_part *p)
{
	const char *body = c->msg + p->body_start;
	size_t blen = p->body_end - p->body_start;
	if (mime_is_ascii(body, blen))
		return mime_7bit_copy(c, p->header_start, p->body_end,
				      "a header has 8-bit octets (needs SMTPUTF8 or 8BITMIME)");
	const char *enc = p->encoding;
	if ((p->multipart || p->message) && !p->opaque) {
		const char *cte = enc && (strcmp(enc, "8bit") == 0 || strcmp(enc, "binary") == 0)
					  ? "7bit"
					  : NULL;
		if (!mime_7bit_header(c, p, cte))
			return false;
		size_t pos = p->body_start;
		const char *gap = "8-bit octets outside any MIME part";
		if (p->message) {
			if (!mime_7bit_copy(c, pos, p->message->header_start, gap) ||
			    !mime_7bit_part(c, p->message))
				return false;
			pos = p->message->body_end;
		}
		for (size_t i = 0; i < p->nchildren; i++) {
			const struct mime_part *ch = p->children[i];
			if (!mime_7bit_copy(c, pos, ch->header_start, gap) ||
			    !mime_7bit_part(c, ch))
				return false;
			pos = ch->body_end;
		}
		return mime_7bit_copy(c, pos, p->body_end, gap);
	}
	if (p->multipart || p->message || p->opaque)
		return mime_7bit_fail(c, "8-bit octets in a MIME part that cannot be converted");
	if (enc && strcmp(enc, "7bit") != 0 && strcmp(enc, "8bit") != 0 &&
	    strcmp(enc, "binary") != 0)
		return mime_7bit_fail(c,
				      "8-bit octets in a part encoded base64 or quoted-printable");
	if (!mime_7bit_header(c, p, "quoted-printable"))
		return false;
	mime_qp_encode(c->out, body, blen);
	return true;
}

int mime_downgrade_7bit(const char *msg, size_t len, struct buf *out, const char **error_r)
{
	struct mime_part *root = mime_parse(msg, len);
	struct mime_7bit_ctx c = { .msg = msg, .out = out, .error = NULL };
	size_t start = out->len;
	bool ok = mime_7bit_part(&c, root) &&
		  mime_7bit_copy(&c, root->body_end, len, "8-bit octets outside any MIME part");
	mime_free(root);
	if (!ok) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		*error_r = c.error;
		return -1;
	}
	return 0;
}
