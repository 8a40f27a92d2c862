/* smtp_proto.h - SMTP command lines, ESMTP parameters, DATA unstuffing and replies (pure). */
#ifndef MAIL_SMTP_PROTO_H
#define MAIL_SMTP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define SMTP_COMMAND_LINE_MAX 512  /* RFC 5321 4.5.3.1.4, including CRLF */
#define SMTP_TEXT_LINE_MAX    1000 /* RFC 5321 4.5.3.1.6, including CRLF */

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
};

enum smtp_body { SMTP_BODY_DEFAULT = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };

/* DSN (RFC 3461): RCPT NOTIFY= bits (0 = absent: failure and delay notices, Postfix's
 * default) and MAIL RET=. */
enum smtp_notify {
	SMTP_NOTIFY_NEVER = 1 << 0,
	SMTP_NOTIFY_SUCCESS = 1 << 1,
	SMTP_NOTIFY_FAILURE = 1 << 2,
	SMTP_NOTIFY_DELAY = 1 << 3,
};
enum smtp_ret { SMTP_RET_DEFAULT = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_ENVID_MAX 100 /* RFC 3461 4.4, decoded */
#define SMTP_ORCPT_MAX 500 /* RFC 3461 4.2: "addr-type;address", decoded */

/* A parse failure: the reply to send. */
struct smtp_error {
	int code;             /* 500, 501, 504, 555 ... */
	const char *enhanced; /* "5.5.2" */
	const char *text;     /* static human text */
	const char
		*detail; /* static precise reason for the log (e.g. the address error), or NULL */
};

struct smtp_command {
	enum smtp_verb verb;
	const char *
		arg; /* points into the line: text after the verb and one space, NUL not guaranteed */
	size_t arg_len; /* without CRLF */
	/* MAIL FROM / RCPT TO */
	struct addr path;
	uint64_t size; /* MAIL SIZE=, 0 when absent */
	bool has_size;
	enum smtp_body body;            /* MAIL BODY= */
	bool smtputf8;                  /* MAIL SMTPUTF8 */
	bool requiretls;                /* MAIL REQUIRETLS (RFC 8689) */
	char auth[256];                 /* MAIL AUTH=, xtext-decoded, "" when absent */
	enum smtp_ret ret;              /* MAIL RET= */
	char envid[SMTP_ENVID_MAX + 1]; /* MAIL ENVID=, xtext-decoded, "" when absent */
	unsigned notify;                /* RCPT NOTIFY=, enum smtp_notify bits, 0 when absent */
	char orcpt[SMTP_ORCPT_MAX + 1]; /* RCPT ORCPT= as "addr-type;address" (the address
					 * xtext-decoded, addr-type as sent), "" when absent */
	/* HELO/EHLO: the domain or address literal given */
	char helo[256];
	/* BDAT */
	uint64_t chunk_size;
	bool last;
	/* AUTH: mechanism and optional initial response */
	char mechanism[32];
	const char *initial; /* into line; NULL when absent */
	size_t initial_len;
};

/* Finds the next command line in in[0..len). Returns 1 and sets *line_len_r (without the
 * line ending) and *consumed_r (with it) when a line ending in LF is complete; 0 when more
 * input is needed; -1 when SMTP_COMMAND_LINE_MAX bytes were seen without LF (the caller
 * replies 500 and discards through the next LF). A CR before LF is stripped. */
int smtp_line_next(const char *in, size_t len, size_t *line_len_r, size_t *consumed_r);

/* Parses one command line (without CRLF). flags: ADDR_ALLOW_UTF8 when SMTPUTF8 is
 * offered. Returns 0 with *cmd_r filled, or -1 with *err_r filled.
 * Verbs are case-insensitive; trailing spaces are ignored. cmd_r->arg is never NULL (empty
 * when there is no argument). MAIL: a UTF-8 sender needs ADDR_ALLOW_UTF8 and the SMTPUTF8
 * parameter (else 553 5.6.7); the SMTPUTF8 parameter itself is 555 without ADDR_ALLOW_UTF8.
 * RCPT: a UTF-8 recipient needs ADDR_ALLOW_UTF8 (else 553 5.6.7); the caller compares
 * cmd_r->path.utf8 with the transaction's SMTPUTF8. MAIL AUTH=<> is stored as "<>".
 * AUTH: initial response "=" gives initial != NULL with initial_len 0. */
int smtp_command_parse(const char *line, size_t len, unsigned flags, struct smtp_command *cmd_r,
		       struct smtp_error *err_r);

/* The line rules every message obeys however it arrived, DATA or BDAT (RFC 5321 2.3.8,
 * 4.5.3.1.6; RFC 5322 2.3): lines end in CRLF (a bare LF or bare CR is the SMTP smuggling
 * class), at most 998 octets before the CRLF, no NUL octet (RFC 2045 2.7, 2.8). */
enum smtp_data_flaw {
	SMTP_DATA_FLAW_NONE = 0,
	SMTP_DATA_FLAW_BARE_LF = 1 << 0,
	SMTP_DATA_FLAW_BARE_CR = 1 << 1,
	SMTP_DATA_FLAW_LONG_LINE = 1 << 2, /* a line over SMTP_TEXT_LINE_MAX */
	SMTP_DATA_FLAW_TOO_BIG = 1 << 3,   /* output would exceed max_size: stopped storing */
	SMTP_DATA_FLAW_NUL = 1 << 4,       /* a NUL octet */
};

/* The body checker and normaliser: pure and incremental over the message octets (after
 * dot-unstuffing for DATA; the chunks' octets for BDAT). State is carried across calls, so a
 * line, or a CRLF, may span chunks; the flaws found and the octets written do not depend on
 * how the input was split.
 * Modes: 0 is strict (the MX rules for everyone). SMTP_BODY_CHECK_BARE_LF_OK is for trusted clients
 * (relay_networks, the local socket; Postfix's smtpd_forbid_bare_newline_exclusions): a bare
 * LF ends the line like CRLF and is written out as CRLF. A bare CR stays a flaw in every mode
 * (nothing sends CR-only lines, and a stored bare CR is what smuggles through a relay). */
enum smtp_body_check_mode {
	SMTP_BODY_CHECK_STRICT = 0,
	SMTP_BODY_CHECK_BARE_LF_OK = 1 << 0,
};

struct smtp_body_check {
	bool cr;         /* private: the last octet fed was a CR whose LF is still to come */
	size_t line_len; /* private: content octets in the current line (saturates at 999) */
	unsigned mode;   /* enum smtp_body_check_mode, set by init */
	unsigned flaws;  /* enum smtp_data_flaw bits (never TOO_BIG) */
};

void smtp_body_check_init(struct smtp_body_check *c, unsigned mode);
/* Checks the next n octets of the message. When out is not NULL the message octets are also
 * written there (room for 2 * n; exactly p[0..n) in strict mode, bare LF as CRLF with
 * SMTP_BODY_CHECK_BARE_LF_OK). Returns the octets written (0 when out is NULL). */
size_t smtp_body_check_feed(struct smtp_body_check *c, const char *p, size_t n, char *out);
/* The message ends here: a CR still waiting for its LF is bare. Returns c->flaws. */
unsigned smtp_body_check_end(struct smtp_body_check *c);

/* DATA receiver: turns the dot-stuffed stream into message bytes (CRLF kept), detecting
 * the end "CRLF.CRLF" and nothing else: a bare LF or bare CR anywhere marks the message
 * bad (SMTP smuggling) but never ends it. The message bytes go through the body checker.
 * With SMTP_BODY_CHECK_BARE_LF_OK (trusted clients only) a bare LF is a line end everywhere, as
 * Postfix treats such clients: "\n.\n", "\r\n.\n" and "\n.\r\n" end the data too, a dot
 * after a bare LF is unstuffed, and the bare LFs are stored as CRLF. */
enum smtp_data_status {
	SMTP_DATA_MORE = 0, /* all input consumed, need more */
	SMTP_DATA_END = 1,  /* end-of-data seen; *consumed_r tells where the next command begins */
};

struct smtp_data_reader {
	int state;                    /* private */
	struct smtp_body_check check; /* private: the line rules over the message bytes */
	uint64_t size;     /* message bytes produced so far (counted even after TOO_BIG) */
	uint64_t max_size; /* 0 = unlimited */
	unsigned flaws;    /* enum smtp_data_flaw bits */
};

/* mode: enum smtp_body_check_mode. */
void smtp_data_reader_init(struct smtp_data_reader *r, uint64_t max_size, unsigned mode);

/* The room smtp_data_feed() needs in out for len input octets: len in strict mode, 2 * len
 * when bare LFs become CRLF. */
size_t smtp_data_out_room(const struct smtp_data_reader *r, size_t len);

/* Feeds in[0..len). Appends message bytes to out[]: the caller provides out with room for
 * at least smtp_data_out_room(r, len) bytes; *out_len_r receives how many were written (0
 * once TOO_BIG; max_size counts the octets written).
 * Returns SMTP_DATA_END with *consumed_r <= len, or SMTP_DATA_MORE with *consumed_r == len.
 * After END, further calls return END consuming nothing until smtp_data_reader_init().
 * Output is byte-exact for flawless messages in strict mode; in a flawed one (".\r" at a
 * line start not followed by LF) the dot and that bare CR are both dropped. */
enum smtp_data_status smtp_data_feed(struct smtp_data_reader *r, const char *in, size_t len,
				     char *out, size_t *out_len_r, size_t *consumed_r);

/* Feeds in[0..len) like smtp_data_feed() but stores nothing (a message over its limit: the
 * end must still be found). Returns END or MORE with *consumed_r as smtp_data_feed(). */
enum smtp_data_status smtp_data_skip(struct smtp_data_reader *r, const char *in, size_t len,
				     size_t *consumed_r);

/* Reply parsing for the SMTP client side: one line "250-text" / "250 text".
 * Returns 1 for a final line, 0 for a continuation line, -1 for a malformed line;
 * *code_r gets the code (2xx-5xx), *text_r and *text_len_r the text after the separator.
 * A "NNN" line alone is final with empty text; one trailing CR is ignored. */
int smtp_reply_line_parse(const char *line, size_t len, int *code_r, const char **text_r,
			  size_t *text_len_r);

/* NOTIFY values: "NEVER", or a comma-separated list of SUCCESS, FAILURE, DELAY (any case,
 * each once). Returns 0 with the bits, or -1. */
int smtp_notify_parse(const char *s, size_t len, unsigned *notify_r);
/* Writes the canonical form ("NEVER", "SUCCESS,FAILURE,DELAY" in that order) into out
 * (at least 24 octets); "" for 0. */
void smtp_notify_format(unsigned notify, char *out, size_t outlen);

/* xtext (RFC 3461 4) encode: '+', '=' and octets outside 0x21-0x7e become "+HH". */
struct buf;
void smtp_xtext_encode(struct buf *out, const char *s, size_t len);

/* RFC 6533 utf-8-addr-xtext: printable ASCII other than '+', '=' and '\' as it is, every other
 * character as "\x{HEX}" of its code point (s is UTF-8). For ORCPT=utf-8; to any DSN server. */
void smtp_utf8_addr_xtext_encode(struct buf *out, const char *s, size_t len);

/* RFC 6533 EmbeddedUnicodeChar: replaces each "\x{HEX}" (2 to 6 hex digits, a Unicode scalar
 * value, not NUL) in the NUL-terminated s by its UTF-8, in place. Returns 0, or -1 on a
 * malformed escape (s is then unspecified). */
int smtp_utf8_addr_unescape(char *s);

/* xtext (RFC 3461) decode into out, NUL-terminated: "+HH" (hex, either case) or a printable
 * ASCII octet other than '+' and '='. Returns 0, or -1 on a bad escape, a bad octet, a decoded
 * NUL or when out (outlen including the NUL) is too small. */
int smtp_xtext_decode(const char *in, size_t len, char *out, size_t outlen);

#endif
