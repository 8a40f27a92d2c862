/* smtp_proto.c - SMTP command lines, ESMTP parameters, DATA unstuffing and reply lines (pure). */
#include "smtp_proto.h"
#include "buf.h"
#include "str.h"

#include <string.h>
#include <strings.h>

#define SMTP_PROTO_HELO_MAX    255
#define SMTP_PROTO_MECH_MAX    20 /* RFC 4422 3.1 */
#define SMTP_PROTO_DIGITS_MAX  20
#define SMTP_PROTO_TEXT_OCTETS (SMTP_TEXT_LINE_MAX - 2)

#define SMTP_PROTO_SYNTAX "Syntax error in parameters or arguments"

struct smtp_proto_verb {
	const char *name;
	enum smtp_verb verb;
};

static const struct smtp_proto_verb smtp_proto_verbs[] = {
	{ "HELO", SMTP_VERB_HELO },         { "EHLO", SMTP_VERB_EHLO }, { "MAIL", SMTP_VERB_MAIL },
	{ "RCPT", SMTP_VERB_RCPT },         { "DATA", SMTP_VERB_DATA }, { "BDAT", SMTP_VERB_BDAT },
	{ "RSET", SMTP_VERB_RSET },         { "NOOP", SMTP_VERB_NOOP }, { "QUIT", SMTP_VERB_QUIT },
	{ "VRFY", SMTP_VERB_VRFY },         { "EXPN", SMTP_VERB_EXPN }, { "HELP", SMTP_VERB_HELP },
	{ "STARTTLS", SMTP_VERB_STARTTLS }, { "AUTH", SMTP_VERB_AUTH },
};

enum smtp_proto_param {
	SMTP_PROTO_PARAM_SIZE = 1 << 0,
	SMTP_PROTO_PARAM_BODY = 1 << 1,
	SMTP_PROTO_PARAM_SMTPUTF8 = 1 << 2,
	SMTP_PROTO_PARAM_AUTH = 1 << 3,
	SMTP_PROTO_PARAM_RET = 1 << 4,
	SMTP_PROTO_PARAM_ENVID = 1 << 5,
	SMTP_PROTO_PARAM_NOTIFY = 1 << 6,
	SMTP_PROTO_PARAM_ORCPT = 1 << 7,
	SMTP_PROTO_PARAM_REQUIRETLS = 1 << 8,
};

int smtp_line_next(const char *in, size_t len, size_t *line_len_r, size_t *consumed_r)
{
	size_t scan = len < SMTP_COMMAND_LINE_MAX ? len : SMTP_COMMAND_LINE_MAX;
	const char *lf = len > 0 ? memchr(in, '\n', scan) : NULL;
	size_t n;

	if (lf == NULL)
		return len >= SMTP_COMMAND_LINE_MAX ? -1 : 0;
	n = (size_t)(lf - in);
	*consumed_r = n + 1;
	if (n > 0 && in[n - 1] == '\r')
		n--;
	*line_len_r = n;
	return 1;
}

static int smtp_proto_fail(struct smtp_error *err_r, int code, const char *enhanced,
			   const char *text, const char *detail)
{
	err_r->code = code;
	err_r->enhanced = enhanced;
	err_r->text = text;
	err_r->detail = detail;
	return -1;
}

static int smtp_proto_syntax(struct smtp_error *err_r, const char *detail)
{
	return smtp_proto_fail(err_r, 501, "5.5.4", SMTP_PROTO_SYNTAX, detail);
}

/* Next space-separated token of s[*pos..len), skipping leading spaces; 0 when none is left. */
static int smtp_proto_token(const char *s, size_t len, size_t *pos, const char **tok_r,
			    size_t *tok_len_r)
{
	size_t p = *pos, start;

	while (p < len && s[p] == ' ')
		p++;
	start = p;
	while (p < len && s[p] != ' ')
		p++;
	*pos = p;
	*tok_r = s + start;
	*tok_len_r = p - start;
	return p > start;
}

/* Decimal digits, 1 to 20 of them, without overflowing 64 bits. */
static int smtp_proto_number(const char *s, size_t len, uint64_t *value_r)
{
	uint64_t v = 0;

	if (len == 0 || len > SMTP_PROTO_DIGITS_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*value_r = v;
	return 0;
}

static bool smtp_proto_is_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

/* True when s has no control octet (C0 or DEL); when ascii, also no octet >= 0x80. */
static bool smtp_proto_is_clean(const char *s, size_t len, bool ascii)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || (ascii && c >= 0x80))
			return false;
	}
	return true;
}

static bool smtp_proto_eq(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

int smtp_xtext_decode(const char *in, size_t len, char *out, size_t outlen)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '+') {
			unsigned v = 0;

			if (len - i < 3)
				return -1;
			for (size_t k = 1; k <= 2; k++) {
				unsigned char h = (unsigned char)in[i + k];

				v <<= 4;
				if (h >= '0' && h <= '9')
					v |= (unsigned)(h - '0');
				else if (h >= 'A' && h <= 'F')
					v |= (unsigned)(h - 'A' + 10);
				else if (h >= 'a' && h <= 'f')
					v |= (unsigned)(h - 'a' + 10);
				else
					return -1;
			}
			if (v == 0)
				return -1;
			c = (unsigned char)v;
			i += 2;
		} else if (c < 0x21 || c > 0x7e || c == '=') {
			return -1;
		}
		if (n + 1 >= outlen)
			return -1;
		out[n++] = (char)c;
	}
	if (outlen == 0)
		return -1;
	out[n] = '\0';
	return 0;
}

int smtp_notify_parse(const char *s, size_t len, unsigned *notify_r)
{
	static const char *const names[] = { "NEVER", "SUCCESS", "FAILURE", "DELAY" };
	unsigned v = 0;
	size_t p = 0;

	if (len == 0)
		return -1;
	while (p <= len) {
		const char *comma = memchr(s + p, ',', len - p);
		size_t end = comma ? (size_t)(comma - s) : len;
		unsigned bit = 0;

		for (unsigned k = 0; k < 4; k++)
			if (smtp_proto_eq(s + p, end - p, names[k]))
				bit = 1u << k;
		if (bit == 0 || (v & bit))
			return -1;
		v |= bit;
		if (!comma)
			break;
		p = end + 1;
	}
	if ((v & SMTP_NOTIFY_NEVER) && v != SMTP_NOTIFY_NEVER)
		return -1; /* RFC 3461 4.1: NEVER stands alone */
	*notify_r = v;
	return 0;
}

void smtp_notify_format(unsigned notify, char *out, size_t outlen)
{
	static const char *const names[] = { "NEVER", "SUCCESS", "FAILURE", "DELAY" };
	size_t n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (unsigned k = 0; k < 4; k++) {
		size_t l = strlen(names[k]);
		if (!(notify & (1u << k)) || n + l + 2 > outlen)
			continue;
		if (n)
			out[n++] = ',';
		memcpy(out + n, names[k], l + 1);
		n += l;
	}
}

void smtp_xtext_encode(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == '+' || c == '=') {
			char e[3] = { '+', hex[c >> 4], hex[c & 15] };
			buf_append(out, e, 3);
		} else {
			buf_append(out, (const char *)&c, 1);
		}
	}
}

int smtp_utf8_addr_unescape(char *s)
{
	size_t o = 0;
	for (size_t i = 0; s[i];) {
		if (s[i] != '\\' || s[i + 1] != 'x' || s[i + 2] != '{') {
			s[o++] = s[i++];
			continue;
		}
		size_t k = i + 3;
		uint32_t cp = 0;
		while (k < i + 3 + 6 && hex_value(s[k]) >= 0)
			cp = cp << 4 | (uint32_t)hex_value(s[k++]);
		/* 2 to 6 hex digits, a Unicode scalar value other than NUL (RFC 6533 HEXPOINT) */
		if (s[k] != '}' || k - (i + 3) < 2 || cp == 0 || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		char u[4];
		size_t n = str_utf8_encode(cp, u);
		/* the escape is 6 octets at least, its UTF-8 4 at most: the copy never overtakes */
		memcpy(s + o, u, n);
		o += n;
		i = k + 1;
	}
	s[o] = '\0';
	return 0;
}

void smtp_utf8_addr_xtext_encode(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x21 && c <= 0x7e && c != '+' && c != '=' && c != '\\') {
			buf_append(out, s + i, 1);
			i++;
			continue;
		}
		uint32_t cp;
		size_t n = str_utf8_decode(s + i, len - i, &cp);
		if (!n) {
			cp = 0xfffd; /* not UTF-8: never stored, but never sent raw either */
			n = 1;
		}
		buf_printf(out, cp < 0x100 ? "\\x{%02X}" : "\\x{%X}", (unsigned)cp);
		i += n;
	}
}

/* ORCPT=addr-type;xtext (RFC 3461 4.2): addr-type an atom ("rfc822", "utf-8"), the address
 * non-empty after decoding, printable ASCII for rfc822 (UTF-8 allowed for utf-8, RFC 6533). */
static int smtp_proto_orcpt(const char *val, size_t val_len, struct smtp_command *cmd,
			    struct smtp_error *err_r)
{
	const char *semi = memchr(val, ';', val_len);
	size_t tlen = semi ? (size_t)(semi - val) : 0;
	char addr[SMTP_ORCPT_MAX + 1];

	if (tlen == 0 || tlen > 32)
		return smtp_proto_syntax(err_r, "ORCPT needs addr-type;address");
	for (size_t i = 0; i < tlen; i++) {
		char c = val[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '-'))
			return smtp_proto_syntax(err_r, "malformed ORCPT address type");
	}
	if (smtp_xtext_decode(semi + 1, val_len - tlen - 1, addr, sizeof(addr) - tlen - 1) < 0 ||
	    addr[0] == '\0')
		return smtp_proto_syntax(err_r, "ORCPT address is not valid xtext");
	bool utf8 = smtp_proto_eq(val, tlen, "utf-8");
	/* RFC 6533 3: a utf-8 address may carry its non-ASCII characters as \x{HEX} */
	if (utf8 && smtp_utf8_addr_unescape(addr) < 0)
		return smtp_proto_syntax(err_r, "malformed \\x{} escape in the ORCPT address");
	if (!smtp_proto_is_clean(addr, strlen(addr), !utf8) ||
	    (utf8 && !str_is_printable(addr, strlen(addr))))
		return smtp_proto_syntax(err_r, "invalid octet in the ORCPT address");
	memcpy(cmd->orcpt, val, tlen);
	cmd->orcpt[tlen] = ';';
	memcpy(cmd->orcpt + tlen + 1, addr, strlen(addr) + 1);
	return 0;
}

/* MAIL/RCPT parameters after the path: a[p..n). */
static int smtp_proto_params(const char *a, size_t n, size_t p, bool is_mail, unsigned flags,
			     struct smtp_command *cmd, struct smtp_error *err_r)
{
	unsigned seen = 0;

	if (p < n && a[p] != ' ')
		return smtp_proto_syntax(err_r, "garbage after the address");
	for (;;) {
		const char *kw, *val = NULL;
		size_t kw_len, val_len = 0, tok_len;
		const char *tok;
		const char *eq;
		unsigned bit;

		if (!smtp_proto_token(a, n, &p, &tok, &tok_len))
			return 0;
		if (!smtp_proto_is_clean(tok, tok_len, true))
			return smtp_proto_syntax(err_r, "invalid octet in parameter");
		kw = tok;
		eq = memchr(tok, '=', tok_len);
		kw_len = eq != NULL ? (size_t)(eq - tok) : tok_len;
		if (eq != NULL) {
			val = eq + 1;
			val_len = tok_len - kw_len - 1;
		}
		if (kw_len == 0)
			return smtp_proto_syntax(err_r, "malformed parameter keyword");
		for (size_t i = 0; i < kw_len; i++) {
			char c = kw[i];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') || (c == '-' && i > 0)))
				return smtp_proto_syntax(err_r, "malformed parameter keyword");
		}
		if (eq != NULL && (val_len == 0 || memchr(val, '=', val_len) != NULL))
			return smtp_proto_syntax(err_r, "malformed parameter value");
		if (!is_mail) {
			if (smtp_proto_eq(kw, kw_len, "NOTIFY"))
				bit = SMTP_PROTO_PARAM_NOTIFY;
			else if (smtp_proto_eq(kw, kw_len, "ORCPT"))
				bit = SMTP_PROTO_PARAM_ORCPT;
			else
				return smtp_proto_fail(err_r, 555, "5.5.4", "Unsupported parameter",
						       NULL);
		} else if (smtp_proto_eq(kw, kw_len, "SIZE"))
			bit = SMTP_PROTO_PARAM_SIZE;
		else if (smtp_proto_eq(kw, kw_len, "BODY"))
			bit = SMTP_PROTO_PARAM_BODY;
		else if (smtp_proto_eq(kw, kw_len, "SMTPUTF8") && (flags & ADDR_ALLOW_UTF8))
			bit = SMTP_PROTO_PARAM_SMTPUTF8;
		else if (smtp_proto_eq(kw, kw_len, "AUTH"))
			bit = SMTP_PROTO_PARAM_AUTH;
		else if (smtp_proto_eq(kw, kw_len, "RET"))
			bit = SMTP_PROTO_PARAM_RET;
		else if (smtp_proto_eq(kw, kw_len, "ENVID"))
			bit = SMTP_PROTO_PARAM_ENVID;
		else if (smtp_proto_eq(kw, kw_len, "REQUIRETLS"))
			bit = SMTP_PROTO_PARAM_REQUIRETLS;
		else
			return smtp_proto_fail(err_r, 555, "5.5.4", "Unsupported parameter", NULL);
		if (seen & bit)
			return smtp_proto_fail(err_r, 555, "5.5.4", "Unsupported parameter",
					       "duplicate parameter");
		seen |= bit;
		switch (bit) {
		case SMTP_PROTO_PARAM_SIZE:
			if (val == NULL || smtp_proto_number(val, val_len, &cmd->size) < 0)
				return smtp_proto_syntax(err_r, "SIZE needs a decimal number");
			cmd->has_size = true;
			break;
		case SMTP_PROTO_PARAM_BODY:
			if (val != NULL && smtp_proto_eq(val, val_len, "7BIT"))
				cmd->body = SMTP_BODY_7BIT;
			else if (val != NULL && smtp_proto_eq(val, val_len, "8BITMIME"))
				cmd->body = SMTP_BODY_8BITMIME;
			else if (val != NULL && smtp_proto_eq(val, val_len, "BINARYMIME"))
				cmd->body = SMTP_BODY_BINARYMIME;
			else
				return smtp_proto_syntax(
					err_r, "BODY must be 7BIT, 8BITMIME or BINARYMIME");
			break;
		case SMTP_PROTO_PARAM_SMTPUTF8:
			if (val != NULL)
				return smtp_proto_syntax(err_r, "SMTPUTF8 takes no value");
			cmd->smtputf8 = true;
			break;
		case SMTP_PROTO_PARAM_REQUIRETLS:
			if (val != NULL)
				return smtp_proto_syntax(err_r, "REQUIRETLS takes no value");
			cmd->requiretls = true;
			break;
		case SMTP_PROTO_PARAM_AUTH:
			if (val == NULL)
				return smtp_proto_syntax(err_r, "AUTH needs a value");
			if (smtp_proto_eq(val, val_len, "<>"))
				memcpy(cmd->auth, "<>", 3);
			else if (smtp_xtext_decode(val, val_len, cmd->auth, sizeof(cmd->auth)) < 0)
				return smtp_proto_syntax(err_r, "AUTH value is not valid xtext");
			break;
		case SMTP_PROTO_PARAM_RET:
			if (val != NULL && smtp_proto_eq(val, val_len, "FULL"))
				cmd->ret = SMTP_RET_FULL;
			else if (val != NULL && smtp_proto_eq(val, val_len, "HDRS"))
				cmd->ret = SMTP_RET_HDRS;
			else
				return smtp_proto_syntax(err_r, "RET must be FULL or HDRS");
			break;
		case SMTP_PROTO_PARAM_ENVID:
			if (val == NULL ||
			    smtp_xtext_decode(val, val_len, cmd->envid, sizeof(cmd->envid)) < 0 ||
			    !smtp_proto_is_clean(cmd->envid, strlen(cmd->envid), true))
				return smtp_proto_syntax(err_r, "ENVID is not valid xtext");
			break;
		case SMTP_PROTO_PARAM_NOTIFY:
			if (val == NULL || smtp_notify_parse(val, val_len, &cmd->notify) < 0)
				return smtp_proto_syntax(err_r, "NOTIFY must be NEVER or a list of "
								"SUCCESS, FAILURE, DELAY");
			break;
		case SMTP_PROTO_PARAM_ORCPT:
			if (val == NULL)
				return smtp_proto_syntax(err_r, "ORCPT needs addr-type;address");
			if (smtp_proto_orcpt(val, val_len, cmd, err_r) < 0)
				return -1;
			break;
		}
	}
}

static int smtp_proto_mail_rcpt(const char *a, size_t n, unsigned flags, bool is_mail,
				struct smtp_command *cmd, struct smtp_error *err_r)
{
	const char *prefix = is_mail ? "FROM:" : "TO:";
	size_t plen = strlen(prefix), p, used;
	unsigned aflags = ADDR_ALLOW_SOURCE_ROUTE | ADDR_ALLOW_UTF8;
	const char *error;

	if (n < plen || strncasecmp(a, prefix, plen) != 0)
		return smtp_proto_syntax(err_r, is_mail ? "expected MAIL FROM:<address>"
							: "expected RCPT TO:<address>");
	p = plen;
	if (p < n && a[p] == ' ')
		p++;
	if (p == n)
		return smtp_proto_syntax(err_r, "missing address");
	aflags |= is_mail ? ADDR_ALLOW_NULL : ADDR_ALLOW_NO_DOMAIN;
	if (addr_parse_path(a + p, n - p, aflags, &cmd->path, &used, &error) < 0) {
		if (is_mail)
			return smtp_proto_fail(err_r, 501, "5.1.7", "Bad sender address syntax",
					       error);
		return smtp_proto_fail(err_r, 501, "5.1.3", "Bad recipient address syntax", error);
	}
	if (smtp_proto_params(a, n, p + used, is_mail, flags, cmd, err_r) < 0)
		return -1;
	if (cmd->path.utf8 && (!(flags & ADDR_ALLOW_UTF8) || (is_mail && !cmd->smtputf8)))
		return smtp_proto_fail(err_r, 553, "5.6.7", "SMTPUTF8 required",
				       "non-ASCII address");
	return 0;
}

static int smtp_proto_helo(const char *a, size_t n, bool ehlo, struct smtp_command *cmd,
			   struct smtp_error *err_r)
{
	const char *tok, *rest;
	size_t tok_len, rest_len, p = 0;

	if (!smtp_proto_token(a, n, &p, &tok, &tok_len))
		return smtp_proto_syntax(err_r,
					 ehlo ? "EHLO needs a domain" : "HELO needs a domain");
	if (tok_len > SMTP_PROTO_HELO_MAX)
		return smtp_proto_syntax(err_r, "domain too long");
	if (!smtp_proto_is_printable(tok, tok_len))
		return smtp_proto_syntax(err_r, "invalid octet in domain");
	if (ehlo && smtp_proto_token(a, n, &p, &rest, &rest_len))
		return smtp_proto_syntax(err_r, "EHLO takes one argument");
	memcpy(cmd->helo, tok, tok_len);
	cmd->helo[tok_len] = '\0';
	return 0;
}

static int smtp_proto_bdat(const char *a, size_t n, struct smtp_command *cmd,
			   struct smtp_error *err_r)
{
	const char *tok;
	size_t tok_len, p = 0;

	if (!smtp_proto_token(a, n, &p, &tok, &tok_len) ||
	    smtp_proto_number(tok, tok_len, &cmd->chunk_size) < 0)
		return smtp_proto_syntax(err_r, "BDAT needs a chunk size");
	if (smtp_proto_token(a, n, &p, &tok, &tok_len)) {
		if (!smtp_proto_eq(tok, tok_len, "LAST"))
			return smtp_proto_syntax(err_r, "BDAT <size> [LAST]");
		cmd->last = true;
	}
	if (smtp_proto_token(a, n, &p, &tok, &tok_len))
		return smtp_proto_syntax(err_r, "BDAT <size> [LAST]");
	return 0;
}

static int smtp_proto_auth(const char *a, size_t n, struct smtp_command *cmd,
			   struct smtp_error *err_r)
{
	const char *tok;
	size_t tok_len, p = 0;

	if (!smtp_proto_token(a, n, &p, &tok, &tok_len))
		return smtp_proto_syntax(err_r, "AUTH needs a mechanism");
	if (tok_len > SMTP_PROTO_MECH_MAX)
		return smtp_proto_syntax(err_r, "mechanism name too long");
	for (size_t i = 0; i < tok_len; i++) {
		char c = tok[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return smtp_proto_syntax(err_r, "malformed mechanism name");
		cmd->mechanism[i] = c;
	}
	cmd->mechanism[tok_len] = '\0';
	if (smtp_proto_token(a, n, &p, &tok, &tok_len)) {
		for (size_t i = 0; i < tok_len; i++) {
			char c = tok[i];

			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			      (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
				return smtp_proto_syntax(err_r, "initial response is not base64");
		}
		cmd->initial = tok;
		cmd->initial_len = smtp_proto_eq(tok, tok_len, "=") ? 0 : tok_len;
	}
	if (smtp_proto_token(a, n, &p, &tok, &tok_len))
		return smtp_proto_syntax(err_r, "AUTH <mechanism> [initial-response]");
	return 0;
}

int smtp_command_parse(const char *line, size_t len, unsigned flags, struct smtp_command *cmd_r,
		       struct smtp_error *err_r)
{
	size_t vlen = 0;
	const char *a;
	size_t n;

	memset(cmd_r, 0, sizeof(*cmd_r));
	memset(err_r, 0, sizeof(*err_r));
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	if (vlen <= 8) { /* the longest verb, STARTTLS; upper-cased once, then plain compares */
		char verb[9];
		for (size_t i = 0; i < vlen; i++) {
			char c = line[i];
			verb[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
		}
		verb[vlen] = '\0';
		for (size_t i = 0; i < sizeof(smtp_proto_verbs) / sizeof(smtp_proto_verbs[0]);
		     i++) {
			const char *name = smtp_proto_verbs[i].name;
			if (strlen(name) == vlen && memcmp(verb, name, vlen) == 0) {
				cmd_r->verb = smtp_proto_verbs[i].verb;
				break;
			}
		}
	}
	if (cmd_r->verb == SMTP_VERB_UNKNOWN)
		return smtp_proto_fail(err_r, 500, "5.5.2", "Command unrecognized", NULL);
	a = vlen < len ? line + vlen + 1 : line + len;
	n = vlen < len ? len - vlen - 1 : 0;
	cmd_r->arg = a;
	cmd_r->arg_len = n;

	if (cmd_r->verb == SMTP_VERB_MAIL || cmd_r->verb == SMTP_VERB_RCPT)
		return smtp_proto_mail_rcpt(a, n, flags, cmd_r->verb == SMTP_VERB_MAIL, cmd_r,
					    err_r);
	if (!smtp_proto_is_clean(a, n, true))
		return smtp_proto_syntax(err_r, "invalid octet in arguments");
	switch (cmd_r->verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		return smtp_proto_helo(a, n, cmd_r->verb == SMTP_VERB_EHLO, cmd_r, err_r);
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		if (n > 0)
			return smtp_proto_syntax(err_r, "no arguments allowed");
		return 0;
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
		if (n == 0)
			return smtp_proto_syntax(err_r, "argument required");
		return 0;
	case SMTP_VERB_BDAT:
		return smtp_proto_bdat(a, n, cmd_r, err_r);
	case SMTP_VERB_AUTH:
		return smtp_proto_auth(a, n, cmd_r, err_r);
	default:
		return 0; /* NOOP, HELP: optional free text */
	}
}

enum smtp_proto_data_state {
	SMTP_PROTO_DATA_BOL = 0, /* at the start of a line */
	SMTP_PROTO_DATA_TEXT,    /* inside a line */
	SMTP_PROTO_DATA_CR,      /* after a CR inside a line (already written) */
	SMTP_PROTO_DATA_DOT,     /* after a '.' at the start of a line (held back) */
	SMTP_PROTO_DATA_DOT_CR,  /* after ".\r" at the start of a line (held back) */
	SMTP_PROTO_DATA_DONE,    /* end-of-data seen */
};

void smtp_body_check_init(struct smtp_body_check *c, unsigned mode)
{
	memset(c, 0, sizeof(*c));
	c->mode = mode;
}

/* Counts k octets of line content (not the CRLF); the count saturates past the limit. */
static void smtp_body_check_content(struct smtp_body_check *c, size_t k)
{
	if (k == 0)
		return;
	c->line_len = k > SMTP_PROTO_TEXT_OCTETS ? SMTP_PROTO_TEXT_OCTETS + 1 : c->line_len + k;
	if (c->line_len > SMTP_PROTO_TEXT_OCTETS) {
		c->line_len = SMTP_PROTO_TEXT_OCTETS + 1;
		c->flaws |= SMTP_DATA_FLAW_LONG_LINE;
	}
}

/* Appends p[0..k) at out + w when there is an out; returns the new w. */
static size_t smtp_body_check_put(char *out, size_t w, const char *p, size_t k)
{
	if (out != NULL && k > 0)
		memcpy(out + w, p, k);
	return w + k;
}

size_t smtp_body_check_feed(struct smtp_body_check *c, const char *p, size_t n, char *out)
{
	bool lf_ok = (c->mode & SMTP_BODY_CHECK_BARE_LF_OK) != 0;
	size_t i = 0, w = 0;

	if (n > 0 && memchr(p, '\0', n) != NULL)
		c->flaws |= SMTP_DATA_FLAW_NUL;
	while (i < n) {
		if (c->cr) {
			c->cr = false;
			if (p[i] == '\n') { /* CRLF: the line ends (its CR is already out) */
				c->line_len = 0;
				w = smtp_body_check_put(out, w, p + i, 1);
				i++;
				continue;
			}
			c->flaws |= SMTP_DATA_FLAW_BARE_CR;
			smtp_body_check_content(c, 1); /* the CR was content after all */
		}
		const char *cr = memchr(p + i, '\r', n - i);
		size_t k = cr != NULL ? (size_t)(cr - (p + i)) : n - i;
		const char *lf = memchr(p + i, '\n', k);

		if (lf != NULL && lf_ok) { /* a bare LF ends the line, written as CRLF */
			k = (size_t)(lf - (p + i));
			smtp_body_check_content(c, k);
			w = smtp_body_check_put(out, w, p + i, k);
			w = smtp_body_check_put(out, w, "\r\n", 2);
			c->line_len = 0;
			i += k + 1;
			continue;
		}
		if (lf != NULL) { /* a bare LF is content: the line goes on */
			k = (size_t)(lf - (p + i)) + 1;
			smtp_body_check_content(c, k);
			c->flaws |= SMTP_DATA_FLAW_BARE_LF;
			w = smtp_body_check_put(out, w, p + i, k);
			i += k;
			continue;
		}
		smtp_body_check_content(c, k);
		w = smtp_body_check_put(out, w, p + i, k);
		i += k;
		if (cr != NULL) {
			c->cr = true;
			w = smtp_body_check_put(out, w, "\r", 1);
			i++;
		}
	}
	return out != NULL ? w : 0;
}

unsigned smtp_body_check_end(struct smtp_body_check *c)
{
	if (c->cr) {
		c->cr = false;
		c->flaws |= SMTP_DATA_FLAW_BARE_CR;
	}
	return c->flaws;
}

void smtp_data_reader_init(struct smtp_data_reader *r, uint64_t max_size, unsigned mode)
{
	memset(r, 0, sizeof(*r));
	r->state = SMTP_PROTO_DATA_BOL;
	smtp_body_check_init(&r->check, mode);
	r->max_size = max_size;
}

size_t smtp_data_out_room(const struct smtp_data_reader *r, size_t len)
{
	return (r->check.mode & SMTP_BODY_CHECK_BARE_LF_OK) ? 2 * len : len;
}

/* Message octets in[0..k): checked (and normalised) by the body checker straight into out,
 * counted always, kept while the total stays within max_size. */
static void smtp_proto_data_emit(struct smtp_data_reader *r, const char *in, size_t k, char *out,
				 size_t *n)
{
	uint64_t before = r->size;
	size_t w = smtp_body_check_feed(&r->check, in, k, out + *n);

	r->size += w;
	if (r->flaws & SMTP_DATA_FLAW_TOO_BIG)
		return;
	if (r->max_size != 0 && r->size > r->max_size) {
		w = (size_t)(r->max_size - before); /* before <= max_size until TOO_BIG */
		r->flaws |= SMTP_DATA_FLAW_TOO_BIG;
	}
	*n += w;
}

/* Ordinary text from in[0..len), len > 0: copies the run up to the first CR or LF and that
 * octet (with the LF of a CRLF); sets the state after it. Returns the octets taken. The line
 * rules are the body checker's (in emit); here only where lines begin matters. */
static size_t smtp_proto_data_text(struct smtp_data_reader *r, const char *in, size_t len,
				   char *out, size_t *n)
{
	const char *cr = memchr(in, '\r', len);
	size_t k = cr != NULL ? (size_t)(cr - in) : len;
	const char *lf = memchr(in, '\n', k);

	if (lf != NULL) { /* a bare LF: content, or a line end for a trusted client */
		k = (size_t)(lf - in) + 1;
		smtp_proto_data_emit(r, in, k, out, n);
		r->state = (r->check.mode & SMTP_BODY_CHECK_BARE_LF_OK) ? SMTP_PROTO_DATA_BOL
									: SMTP_PROTO_DATA_TEXT;
		return k;
	}
	if (cr == NULL) {
		smtp_proto_data_emit(r, in, k, out, n);
		r->state = SMTP_PROTO_DATA_TEXT;
		return k;
	}
	if (k + 1 < len && in[k + 1] == '\n') { /* CRLF: the line ends */
		smtp_proto_data_emit(r, in, k + 2, out, n);
		r->state = SMTP_PROTO_DATA_BOL;
		return k + 2;
	}
	smtp_proto_data_emit(r, in, k + 1, out, n);
	r->state = SMTP_PROTO_DATA_CR;
	return k + 1;
}

static enum smtp_data_status smtp_proto_data_return(struct smtp_data_reader *r,
						    enum smtp_data_status st, size_t n,
						    size_t consumed, size_t *out_len_r,
						    size_t *consumed_r)
{
	r->flaws |= r->check.flaws;
	*out_len_r = n;
	*consumed_r = consumed;
	return st;
}

enum smtp_data_status smtp_data_feed(struct smtp_data_reader *r, const char *in, size_t len,
				     char *out, size_t *out_len_r, size_t *consumed_r)
{
	size_t n = 0, i = 0;

	*out_len_r = 0;
	*consumed_r = 0;
	if (r->state == SMTP_PROTO_DATA_DONE)
		return SMTP_DATA_END;
	while (i < len) {
		char c = in[i];

		switch (r->state) {
		case SMTP_PROTO_DATA_DOT:
			if (c == '\r') {
				r->state = SMTP_PROTO_DATA_DOT_CR;
				i++;
				continue;
			}
			if (c == '\n' && (r->check.mode & SMTP_BODY_CHECK_BARE_LF_OK)) {
				r->state = SMTP_PROTO_DATA_DONE; /* "." ended by a bare LF */
				return smtp_proto_data_return(r, SMTP_DATA_END, n, i + 1, out_len_r,
							      consumed_r);
			}
			break; /* a stuffed dot: dropped, c is ordinary text */
		case SMTP_PROTO_DATA_DOT_CR:
			if (c == '\n') {
				r->state = SMTP_PROTO_DATA_DONE;
				return smtp_proto_data_return(r, SMTP_DATA_END, n, i + 1, out_len_r,
							      consumed_r);
			}
			r->check.flaws |= SMTP_DATA_FLAW_BARE_CR;
			break; /* the dot and the bare CR are dropped */
		case SMTP_PROTO_DATA_CR:
			if (c == '\n') {
				smtp_proto_data_emit(r, in + i, 1, out, &n);
				r->state = SMTP_PROTO_DATA_BOL;
				i++;
				continue;
			}
			break; /* the checker has seen the bare CR */
		case SMTP_PROTO_DATA_BOL:
			if (c == '.') {
				r->state = SMTP_PROTO_DATA_DOT;
				i++;
				continue;
			}
			break;
		default:
			break;
		}
		i += smtp_proto_data_text(r, in + i, len - i, out, &n);
	}
	return smtp_proto_data_return(r, SMTP_DATA_MORE, n, len, out_len_r, consumed_r);
}

int smtp_reply_line_parse(const char *line, size_t len, int *code_r, const char **text_r,
			  size_t *text_len_r)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
	    line[2] < '0' || line[2] > '9')
		return -1;
	*code_r = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3) {
		*text_r = line + 3;
		*text_len_r = 0;
		return 1;
	}
	if (line[3] != ' ' && line[3] != '-')
		return -1;
	*text_r = line + 4;
	*text_len_r = len - 4;
	return line[3] == ' ';
}

enum smtp_data_status smtp_data_skip(struct smtp_data_reader *r, const char *in, size_t len,
				     size_t *consumed_r)
{
	char scratch[4096]; /* output room for 2048 input octets in either mode */
	enum smtp_data_status st = SMTP_DATA_MORE;
	size_t off = 0;
	do {
		size_t chunk = len - off < sizeof(scratch) / 2 ? len - off : sizeof(scratch) / 2;
		size_t used = 0, out_len = 0;
		st = smtp_data_feed(r, in + off, chunk, scratch, &out_len, &used);
		off += used;
	} while (st == SMTP_DATA_MORE && off < len);
	*consumed_r = off;
	return st;
}
