/* mime_binary.c - Content-Transfer-Encodings for IMAP BINARY (RFC 3516): which are known, and binary parts re-encoded as base64 (pure). */
#include "mime_binary.h"
#include "base64.h"

#include <string.h>
#include <strings.h>

bool mime_cte_known(const char *encoding)
{
	static const char *const known[] = { "7bit", "8bit", "binary", "base64",
					     "quoted-printable" };
	if (!encoding)
		return true;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcasecmp(encoding, known[i]) == 0)
			return true;
	return false;
}

static bool mime_binary_leaf_needs(const char *msg, const struct mime_part *p)
{
	if (p->encoding && strcasecmp(p->encoding, "binary") == 0)
		return true;
	return memchr(msg + p->body_start, '\0', p->body_end - p->body_start) != NULL;
}

/* True when p or a part inside it needs re-encoding. */
static bool mime_binary_needed(const char *msg, const struct mime_part *p)
{
	if (p->message)
		return mime_binary_needed(msg, p->message);
	if (p->multipart || p->opaque) {
		for (size_t i = 0; i < p->nchildren; i++)
			if (mime_binary_needed(msg, p->children[i]))
				return true;
		return false;
	}
	return mime_binary_leaf_needs(msg, p);
}

/* The header [start, end) without its Content-Transfer-Encoding field(s), with
 * "Content-Transfer-Encoding: base64" before the blank line. */
static void mime_binary_header(struct buf *out, const char *msg, size_t start, size_t end)
{
	static const char cte[] = "Content-Transfer-Encoding:";
	size_t i = start;
	bool skipping = false;
	while (i < end) {
		const char *lf = memchr(msg + i, '\n', end - i);
		size_t next = lf ? (size_t)(lf - msg) + 1 : end;
		size_t n = next - i;
		bool blank = (n == 1 && msg[i] == '\n') || (n == 2 && msg[i] == '\r');
		if (blank) {
			buf_append_str(out, "Content-Transfer-Encoding: base64\r\n");
			buf_append(out, msg + i, end - i);
			return;
		}
		bool cont = msg[i] == ' ' || msg[i] == '\t';
		if (!cont)
			skipping = n >= sizeof(cte) - 1 &&
				   strncasecmp(msg + i, cte, sizeof(cte) - 1) == 0;
		if (!skipping)
			buf_append(out, msg + i, n);
		i = next;
	}
	/* No blank line: the header ran to the end of the part. */
	if (end > start && msg[end - 1] != '\n')
		buf_append_str(out, "\r\n");
	buf_append_str(out, "Content-Transfer-Encoding: base64\r\n\r\n");
}

static void mime_binary_body(struct buf *out, const char *s, size_t len, bool final_crlf)
{
	for (size_t i = 0; i < len; i += 57) {
		size_t n = len - i < 57 ? len - i : 57;
		base64_encode_buf(out, s + i, n);
		if (i + n < len || final_crlf)
			buf_append_str(out, "\r\n");
	}
}

/* Copies msg[*pos, ...) up to the end of p, re-encoding the leaves that need it. */
static void mime_binary_walk(struct buf *out, const char *msg, size_t len,
			     const struct mime_part *p, size_t *pos)
{
	if (p->message) {
		mime_binary_walk(out, msg, len, p->message, pos);
		return;
	}
	if (p->multipart || p->opaque) {
		for (size_t i = 0; i < p->nchildren; i++)
			mime_binary_walk(out, msg, len, p->children[i], pos);
		return;
	}
	if (!mime_binary_leaf_needs(msg, p) || p->header_start < *pos)
		return;
	buf_append(out, msg + *pos, p->header_start - *pos);
	mime_binary_header(out, msg, p->header_start, p->body_start);
	mime_binary_body(out, msg + p->body_start, p->body_end - p->body_start, p->body_end == len);
	*pos = p->body_end;
}

bool mime_binary_to_base64(struct buf *out, const char *msg, size_t len)
{
	struct mime_part *root = mime_parse(msg, len);
	bool needed = mime_binary_needed(msg, root);
	if (needed) {
		size_t pos = 0;
		mime_binary_walk(out, msg, len, root, &pos);
		buf_append(out, msg + pos, len - pos);
	}
	mime_free(root);
	return needed;
}
