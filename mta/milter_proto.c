/* milter_proto.c - the milter protocol codec (pure): packet framing, replies, negotiation, header and body edits.
 * Security: every reply comes from a separate program and is checked for length and layout. */
#include "milter_proto.h"
#include "rfc5322.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void milter_put_u32(struct buf *out, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };
	buf_append(out, b, 4);
}

static uint32_t milter_get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

void milter_put_packet(struct buf *out, char cmd, const void *data, size_t len)
{
	milter_put_u32(out, (uint32_t)len + 1);
	buf_append(out, &cmd, 1);
	if (len)
		buf_append(out, data, len);
}

/* Writes the 5-byte packet header for len data bytes that the caller appends. */
static void milter_put_head(struct buf *out, char cmd, size_t len)
{
	milter_put_u32(out, (uint32_t)len + 1);
	buf_append(out, &cmd, 1);
}

void milter_put_optneg(struct buf *out, uint32_t version, uint32_t actions, uint32_t protocol)
{
	milter_put_head(out, MILTER_CMD_OPTNEG, 12);
	milter_put_u32(out, version);
	milter_put_u32(out, actions);
	milter_put_u32(out, protocol);
}

/* True when name appears in the space-separated list (braces optional on either side). */
static bool milter_symlist_has(const char *list, const char *name)
{
	size_t nl = strlen(name);
	if (nl >= 2 && name[0] == '{' && name[nl - 1] == '}') {
		name++;
		nl -= 2;
	}
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *w = p;
		while (*p && *p != ' ' && *p != ',')
			p++;
		size_t wl = (size_t)(p - w);
		if (wl >= 2 && w[0] == '{' && w[wl - 1] == '}') {
			w++;
			wl -= 2;
		}
		if (wl == nl && wl && memcmp(w, name, nl) == 0)
			return true;
	}
	return false;
}

void milter_put_macros(struct buf *out, char stage_cmd, const char *const *pairs, const char *only)
{
	size_t len = 1;
	for (size_t i = 0; pairs[i]; i += 2) {
		if (!pairs[i + 1] || (only && !milter_symlist_has(only, pairs[i])))
			continue;
		len += strlen(pairs[i]) + 1 + strlen(pairs[i + 1]) + 1;
	}
	if (len == 1)
		return;
	milter_put_head(out, MILTER_CMD_MACRO, len);
	buf_append(out, &stage_cmd, 1);
	for (size_t i = 0; pairs[i]; i += 2) {
		if (!pairs[i + 1] || (only && !milter_symlist_has(only, pairs[i])))
			continue;
		buf_append(out, pairs[i], strlen(pairs[i]) + 1);
		buf_append(out, pairs[i + 1], strlen(pairs[i + 1]) + 1);
	}
}

void milter_put_connect(struct buf *out, const char *hostname, char family, uint16_t port,
			const char *addr)
{
	size_t len = strlen(hostname) + 1 + 1;
	if (family != 'U')
		len += 2 + strlen(addr) + 1;
	milter_put_head(out, MILTER_CMD_CONNECT, len);
	buf_append(out, hostname, strlen(hostname) + 1);
	buf_append(out, &family, 1);
	if (family != 'U') {
		unsigned char p[2] = { (unsigned char)(port >> 8), (unsigned char)port };
		buf_append(out, p, 2);
		buf_append(out, addr, strlen(addr) + 1);
	}
}

void milter_put_strings(struct buf *out, char cmd, const char *const *strs, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += strlen(strs[i]) + 1;
	milter_put_head(out, cmd, len);
	for (size_t i = 0; i < n; i++)
		buf_append(out, strs[i], strlen(strs[i]) + 1);
}

void milter_put_header(struct buf *out, const char *name, size_t name_len, const char *value,
		       size_t value_len)
{
	milter_put_head(out, MILTER_CMD_HEADER, name_len + 1 + value_len + 1);
	buf_append(out, name, name_len);
	buf_append(out, "", 1);
	buf_append(out, value, value_len);
	buf_append(out, "", 1);
}

int milter_packet_next(const char *in, size_t len, size_t max, char *cmd_r, const char **data_r,
		       size_t *len_r, size_t *used_r, const char **error_r)
{
	if (len < 4)
		return 0;
	uint32_t n = milter_get_u32(in);
	if (n == 0) {
		*error_r = "packet of length 0";
		return -1;
	}
	if (n > max) {
		*error_r = "packet too long";
		return -1;
	}
	if (len - 4 < n)
		return 0;
	*cmd_r = in[4];
	*data_r = in + 5;
	*len_r = n - 1;
	*used_r = (size_t)n + 4;
	return 1;
}

int milter_optneg_decode(const char *data, size_t len, uint32_t offered_actions,
			 uint32_t offered_protocol, struct milter_optneg *out, const char **error_r)
{
	memset(out, 0, sizeof(*out));
	if (len < 12) {
		*error_r = "option negotiation reply too short";
		return -1;
	}
	out->version = milter_get_u32(data);
	out->actions = milter_get_u32(data + 4);
	out->protocol = milter_get_u32(data + 8) & ~MILTER_P_INTERNAL;
	if (out->version < 2 || out->version > MILTER_VERSION) {
		*error_r = "unsupported milter protocol version";
		return -1;
	}
	if (out->actions & ~offered_actions) {
		*error_r = "milter wants actions we did not offer";
		return -1;
	}
	if (out->protocol & ~offered_protocol) {
		*error_r = "milter wants protocol steps we did not offer";
		return -1;
	}
	/* SMFIR_SETSYMLIST: (uint32 stage, NUL-terminated list) pairs. */
	size_t pos = 12;
	while (pos < len) {
		if (len - pos < 5) {
			*error_r = "truncated macro list";
			return -1;
		}
		uint32_t st = milter_get_u32(data + pos);
		pos += 4;
		const char *nul = memchr(data + pos, '\0', len - pos);
		if (!nul) {
			*error_r = "unterminated macro list";
			return -1;
		}
		if (st >= MILTER_M_NSTAGES) {
			*error_r = "macro list for an unknown stage";
			return -1;
		}
		out->symlist[st] = data + pos;
		pos = (size_t)(nul - data) + 1;
	}
	return 0;
}

/* Takes the next NUL-terminated string at *pos; NULL when there is none. */
static const char *milter_take_string(const char *data, size_t len, size_t *pos)
{
	if (*pos >= len)
		return NULL;
	const char *nul = memchr(data + *pos, '\0', len - *pos);
	if (!nul)
		return NULL;
	const char *s = data + *pos;
	*pos = (size_t)(nul - data) + 1;
	return s;
}

int milter_reply_decode(char cmd, const char *data, size_t len, struct milter_reply *out,
			const char **error_r)
{
	size_t pos = 0;
	memset(out, 0, sizeof(*out));
	out->cmd = cmd;
	switch (cmd) {
	case MILTER_R_ACCEPT:
	case MILTER_R_CONTINUE:
	case MILTER_R_DISCARD:
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
	case MILTER_R_SKIP:
	case MILTER_R_PROGRESS:
	case MILTER_R_CONN_FAIL:
	case MILTER_R_SHUTDOWN:
		if (len != 0) {
			*error_r = "unexpected data in a reply";
			return -1;
		}
		return 0;
	case MILTER_R_REPLBODY:
		out->body = data;
		out->body_len = len;
		return 0;
	case MILTER_R_REPLYCODE:
	case MILTER_R_ADDRCPT:
	case MILTER_R_DELRCPT:
	case MILTER_R_QUARANTINE:
		out->s1 = milter_take_string(data, len, &pos);
		if (!out->s1 || pos != len) {
			*error_r = "malformed string in a reply";
			return -1;
		}
		return 0;
	case MILTER_R_ADDRCPT_PAR:
	case MILTER_R_CHGFROM:
		out->s1 = milter_take_string(data, len, &pos);
		if (!out->s1) {
			*error_r = "malformed address in a reply";
			return -1;
		}
		if (pos < len) {
			out->s2 = milter_take_string(data, len, &pos);
			if (!out->s2 || pos != len) {
				*error_r = "malformed ESMTP arguments in a reply";
				return -1;
			}
		}
		return 0;
	case MILTER_R_INSHEADER:
	case MILTER_R_CHGHEADER:
		if (len < 4) {
			*error_r = "header action without an index";
			return -1;
		}
		out->index = milter_get_u32(data);
		pos = 4;
		/* fall through */
	case MILTER_R_ADDHEADER:
		out->s1 = milter_take_string(data, len, &pos);
		out->s2 = out->s1 ? milter_take_string(data, len, &pos) : NULL;
		if (!out->s2 || pos != len) {
			*error_r = "malformed header action";
			return -1;
		}
		return 0;
	default:
		*error_r = "unknown reply";
		return -1;
	}
}

int milter_reply_format(const char *text, size_t len, struct buf *out, const char **error_r)
{
	int code = -1;
	size_t start = out->len;
	size_t pos = 0;
	bool last = false;
	if (len == 0) {
		*error_r = "empty reply text";
		return -1;
	}
	while (!last) {
		size_t e = pos;
		while (e < len && text[e] != '\r' && text[e] != '\n')
			e++;
		size_t next = e;
		if (next < len && text[next] == '\r')
			next++;
		if (next < len && text[next] == '\n')
			next++;
		last = next >= len;
		const char *l = text + pos;
		size_t ll = e - pos;
		if (ll < 3 || (l[0] != '4' && l[0] != '5') || l[1] < '0' || l[1] > '9' ||
		    l[2] < '0' || l[2] > '9' || (ll > 3 && l[3] != ' ' && l[3] != '-') ||
		    (ll > 3 && l[3] == '-' && last) || (ll > 3 && l[3] == ' ' && !last)) {
			*error_r = "bad reply code";
			out->len = start;
			return -1;
		}
		int c = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
		if (code >= 0 && c != code) {
			*error_r = "reply lines with different codes";
			out->len = start;
			return -1;
		}
		code = c;
		if (ll > 510)
			ll = 510;
		buf_append(out, l, 3);
		buf_append(out, last ? " " : "-", 1);
		for (size_t i = 4; i < ll; i++) {
			unsigned char ch = (unsigned char)l[i];
			char o = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
			buf_append(out, &o, 1);
		}
		buf_append(out, "\r\n", 2);
		pos = next;
	}
	return code;
}

void milter_value_to_wire(struct buf *out, const char *value, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (value[i] == '\r' && i + 1 < len && value[i + 1] == '\n')
			continue;
		buf_append(out, &value[i], 1);
	}
}

void milter_value_from_wire(struct buf *out, const char *value, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = value[i];
		if (ch != '\r' && ch != '\n') {
			if (ch != '\0')
				buf_append(out, &ch, 1);
			continue;
		}
		if (ch == '\r' && i + 1 < len && value[i + 1] == '\n')
			i++;
		if (i + 1 >= len)
			break; /* a trailing line ending: the field's own CRLF follows */
		buf_append(out, "\r\n", 2);
		if (value[i + 1] != ' ' && value[i + 1] != '\t')
			buf_append(out, "\t", 1);
	}
}

bool milter_header_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == ':')
			return false;
	}
	return true;
}

/* The offset of the blank line that ends the header block, or msg->len when there is none;
 * *body_r is where the body starts. */
size_t milter_header_block_end(const char *msg, size_t len, size_t *body_r)
{
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(msg + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - msg) + 1 : len;
		size_t ll = end - pos;
		if ((ll == 1 && msg[pos] == '\n') ||
		    (ll == 2 && msg[pos] == '\r' && msg[pos + 1] == '\n')) {
			*body_r = end;
			return pos;
		}
		pos = end;
	}
	*body_r = len;
	return len;
}

static size_t milter_header_end(const struct buf *msg, size_t *body_r)
{
	return milter_header_block_end(msg->data, msg->len, body_r);
}

/* Replaces msg[off, off + del) with ins. */
static void milter_splice(struct buf *msg, size_t off, size_t del, const char *ins, size_t ins_len)
{
	buf_reserve(msg, ins_len > del ? ins_len - del : 0);
	memmove(msg->data + off + ins_len, msg->data + off + del, msg->len - off - del);
	if (ins_len)
		memcpy(msg->data + off, ins, ins_len);
	msg->len = msg->len - del + ins_len;
	msg->data[msg->len] = '\0';
}

static void milter_field_text(struct buf *f, const char *name, const char *value, size_t value_len,
			      bool leadspc)
{
	buf_append_str(f, name);
	buf_append(f, leadspc ? ":" : ": ", leadspc ? 1 : 2);
	buf_append(f, value, value_len);
	buf_append(f, "\r\n", 2);
}

void milter_header_insert(struct buf *msg, uint32_t index, const char *name, const char *value,
			  size_t value_len, bool leadspc)
{
	size_t body;
	size_t hend = milter_header_end(msg, &body);
	size_t at = hend;
	bool need_crlf = hend == msg->len && msg->len > 0 && msg->data[msg->len - 1] != '\n';
	if (index != UINT32_MAX) {
		struct rfc5322_iter it;
		struct rfc5322_field f;
		uint32_t i = 0;
		rfc5322_iter_init(&it, msg->data, hend);
		while (rfc5322_iter_next(&it, &f)) {
			if (i++ == index) {
				at = f.start;
				need_crlf = false;
				break;
			}
		}
	}
	struct buf t;
	buf_init(&t);
	if (need_crlf)
		buf_append(&t, "\r\n", 2);
	milter_field_text(&t, name, value, value_len, leadspc);
	milter_splice(msg, at, 0, t.data, t.len);
	buf_free(&t);
}

void milter_header_change(struct buf *msg, uint32_t index, const char *name, const char *value,
			  size_t value_len, bool leadspc)
{
	size_t body;
	size_t hend = milter_header_end(msg, &body);
	struct rfc5322_iter it;
	struct rfc5322_field f;
	uint32_t want = index ? index : 1, i = 0;
	rfc5322_iter_init(&it, msg->data, hend);
	while (rfc5322_iter_next_named(&it, name, &f)) {
		if (++i < want)
			continue;
		struct buf t;
		buf_init(&t);
		if (value_len)
			milter_field_text(&t, name, value, value_len, leadspc);
		milter_splice(msg, f.start, f.end - f.start, t.data, t.len);
		buf_free(&t);
		return;
	}
	if (value_len)
		milter_header_insert(msg, UINT32_MAX, name, value, value_len, leadspc);
}

void milter_body_replace(struct buf *msg, const char *body, size_t len)
{
	size_t bstart;
	size_t hend = milter_header_end(msg, &bstart);
	if (hend == msg->len) {
		if (msg->len && msg->data[msg->len - 1] != '\n')
			buf_append(msg, "\r\n", 2);
		buf_append(msg, "\r\n", 2);
		bstart = msg->len;
	}
	msg->len = bstart;
	for (size_t i = 0; i < len; i++) {
		char ch = body[i];
		if (ch == '\r') {
			if (i + 1 < len && body[i + 1] == '\n')
				i++;
			buf_append(msg, "\r\n", 2);
		} else if (ch == '\n') {
			buf_append(msg, "\r\n", 2);
		} else {
			size_t run = 1;
			while (i + run < len && body[i + run] != '\r' && body[i + run] != '\n')
				run++;
			buf_append(msg, body + i, run);
			i += run - 1;
		}
	}
	if (msg->len > bstart && msg->data[msg->len - 1] != '\n')
		buf_append(msg, "\r\n", 2);
	buf_reserve(msg, 0);
	msg->data[msg->len] = '\0';
}
