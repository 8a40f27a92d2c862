/* milter_proto.h - the Sendmail milter protocol, version 6, MTA side (pure): packets, replies, option negotiation. */
#ifndef MAIL_MILTER_PROTO_H
#define MAIL_MILTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The values of libmilter's mfdef.h / mfapi.h (the wire protocol), under our names. */
#define MILTER_VERSION    6
#define MILTER_CHUNK_MAX  65535              /* body bytes per SMFIC_BODY packet */
#define MILTER_PACKET_MAX (1024 * 1024 + 64) /* largest reply accepted (SMFIP_MDS_1M data) */

/* Commands (MTA to milter), SMFIC_*. */
#define MILTER_CMD_ABORT   'A'
#define MILTER_CMD_BODY    'B'
#define MILTER_CMD_CONNECT 'C'
#define MILTER_CMD_MACRO   'D'
#define MILTER_CMD_BODYEOB 'E'
#define MILTER_CMD_HELO    'H'
#define MILTER_CMD_HEADER  'L'
#define MILTER_CMD_MAIL    'M'
#define MILTER_CMD_EOH     'N'
#define MILTER_CMD_OPTNEG  'O'
#define MILTER_CMD_QUIT    'Q'
#define MILTER_CMD_RCPT    'R'
#define MILTER_CMD_DATA    'T'

/* Replies and actions (milter to MTA), SMFIR_*. */
#define MILTER_R_ADDRCPT     '+'
#define MILTER_R_DELRCPT     '-'
#define MILTER_R_ADDRCPT_PAR '2'
#define MILTER_R_SHUTDOWN    '4'
#define MILTER_R_ACCEPT      'a'
#define MILTER_R_REPLBODY    'b'
#define MILTER_R_CONTINUE    'c'
#define MILTER_R_DISCARD     'd'
#define MILTER_R_CHGFROM     'e'
#define MILTER_R_CONN_FAIL   'f'
#define MILTER_R_ADDHEADER   'h'
#define MILTER_R_INSHEADER   'i'
#define MILTER_R_CHGHEADER   'm'
#define MILTER_R_PROGRESS    'p'
#define MILTER_R_QUARANTINE  'q'
#define MILTER_R_REJECT      'r'
#define MILTER_R_SKIP        's'
#define MILTER_R_TEMPFAIL    't'
#define MILTER_R_REPLYCODE   'y'
#define MILTER_R_OPTNEG      'O'

/* Actions a milter may take, SMFIF_*. */
#define MILTER_F_ADDHDRS     0x001u
#define MILTER_F_CHGBODY     0x002u
#define MILTER_F_ADDRCPT     0x004u
#define MILTER_F_DELRCPT     0x008u
#define MILTER_F_CHGHDRS     0x010u
#define MILTER_F_QUARANTINE  0x020u
#define MILTER_F_CHGFROM     0x040u
#define MILTER_F_ADDRCPT_PAR 0x080u
#define MILTER_F_SETSYMLIST  0x100u
#define MILTER_ACTIONS_ALL   0x1ffu

/* Protocol steps, SMFIP_*. */
#define MILTER_P_NOCONNECT   0x00000001u
#define MILTER_P_NOHELO      0x00000002u
#define MILTER_P_NOMAIL      0x00000004u
#define MILTER_P_NORCPT      0x00000008u
#define MILTER_P_NOBODY      0x00000010u
#define MILTER_P_NOHDRS      0x00000020u
#define MILTER_P_NOEOH       0x00000040u
#define MILTER_P_NR_HDR      0x00000080u
#define MILTER_P_NOUNKNOWN   0x00000100u
#define MILTER_P_NODATA      0x00000200u
#define MILTER_P_SKIP        0x00000400u
#define MILTER_P_RCPT_REJ    0x00000800u
#define MILTER_P_NR_CONN     0x00001000u
#define MILTER_P_NR_HELO     0x00002000u
#define MILTER_P_NR_MAIL     0x00004000u
#define MILTER_P_NR_RCPT     0x00008000u
#define MILTER_P_NR_DATA     0x00010000u
#define MILTER_P_NR_UNKN     0x00020000u
#define MILTER_P_NR_EOH      0x00040000u
#define MILTER_P_NR_BODY     0x00080000u
#define MILTER_P_HDR_LEADSPC 0x00100000u
#define MILTER_P_MDS_256K    0x10000000u
#define MILTER_P_MDS_1M      0x20000000u
#define MILTER_P_INTERNAL    0x70000000u /* between libmilter and its MTA; ignored */
/* What we offer: every step a milter may leave out or not answer (we never send SMFIC_UNKNOWN,
 * and never send rejected recipients, so NOUNKNOWN/NR_UNKN are trivially honoured and
 * RCPT_REJ is not offered). */
#define MILTER_P_OFFERED     (0x001fffffu & ~MILTER_P_RCPT_REJ)

/* Macro stages of SMFIR_SETSYMLIST, SMFIM_*. */
enum milter_macro_stage {
	MILTER_M_CONNECT = 0,
	MILTER_M_HELO,
	MILTER_M_ENVFROM,
	MILTER_M_ENVRCPT,
	MILTER_M_DATA,
	MILTER_M_EOM,
	MILTER_M_EOH,
	MILTER_M_NSTAGES,
};

/* ---- encoding (appends one packet to out) ---- */

/* Any packet: 4-byte length (command byte included), command, data. */
void milter_put_packet(struct buf *out, char cmd, const void *data, size_t len);
/* SMFIC_OPTNEG: version, actions, protocol (network byte order). */
void milter_put_optneg(struct buf *out, uint32_t version, uint32_t actions, uint32_t protocol);
/* SMFIC_MACRO for the command stage_cmd: NULL-terminated name, value, name, value... array.
 * Names are sent as given ("j", "{daemon_name}"); a NULL value skips the pair. Nothing is
 * written when no pair remains. With only non-NULL, a pair is sent only if it is listed
 * (space-separated names, as SMFIR_SETSYMLIST gives them). */
void milter_put_macros(struct buf *out, char stage_cmd, const char *const *pairs, const char *only);
/* SMFIC_CONNECT: host name, family ('4', '6', 'L' or 'U'), port and address (not for 'U'). */
void milter_put_connect(struct buf *out, const char *hostname, char family, uint16_t port,
			const char *addr);
/* A command whose data is NUL-terminated strings: HELO (1), MAIL and RCPT (address, then the
 * ESMTP parameters one each). */
void milter_put_strings(struct buf *out, char cmd, const char *const *strs, size_t n);
/* SMFIC_HEADER: name\0value\0 (value as given). */
void milter_put_header(struct buf *out, const char *name, size_t name_len, const char *value,
		       size_t value_len);

/* ---- decoding ---- */

/* Takes one packet off the front of in. Returns 1 with *cmd_r, *data_r (into in), *len_r and
 * *used_r (bytes to consume); 0 when more bytes are needed; -1 with *error_r when the length
 * is 0 or above max. */
int milter_packet_next(const char *in, size_t len, size_t max, char *cmd_r, const char **data_r,
		       size_t *len_r, size_t *used_r, const char **error_r);

/* The milter's SMFIC_OPTNEG reply. */
struct milter_optneg {
	uint32_t version;
	uint32_t actions;  /* what it may do: a subset of what was offered */
	uint32_t protocol; /* the steps it wants left out or unanswered (internal bits cleared) */
	/* SMFIR_SETSYMLIST: the macros it wants per stage (pointers into the packet, NUL-ended),
	 * NULL where it did not say. */
	const char *symlist[MILTER_M_NSTAGES];
};

/* Decodes and checks an option negotiation reply against what we offered: version 2-6,
 * no action or step outside the offer. Returns 0, or -1 with *error_r. */
int milter_optneg_decode(const char *data, size_t len, uint32_t offered_actions,
			 uint32_t offered_protocol, struct milter_optneg *out,
			 const char **error_r);

/* One reply or modification action. String pointers go into the packet and are NUL-ended. */
struct milter_reply {
	char cmd;         /* MILTER_R_* */
	const char *s1;   /* REPLYCODE text, add/del rcpt, from, quarantine reason, header name */
	const char *s2;   /* header value, ESMTP arguments (NULL when absent) */
	uint32_t index;   /* INSHEADER, CHGHEADER */
	const char *body; /* REPLBODY bytes */
	size_t body_len;
};

/* Decodes a reply packet (any command but OPTNEG): checks the data layout of each kind
 * (strings NUL-terminated inside the packet, nothing extra for the simple replies). Returns
 * 0, or -1 with *error_r for an unknown command or a malformed packet. */
int milter_reply_decode(char cmd, const char *data, size_t len, struct milter_reply *out,
			const char **error_r);

/* Turns an SMFIR_REPLYCODE text ("550 5.7.1 text", or several lines separated by CRLF or LF,
 * each "550-..." but the last) into SMTP reply lines "CODE-TEXT\r\n"... "CODE TEXT\r\n" written
 * to out (control characters become '?'). The code must be 4xx or 5xx and the same on every
 * line. Returns the code, or -1 with *error_r (out unchanged). */
int milter_reply_format(const char *text, size_t len, struct buf *out, const char **error_r);

/* Header values on the wire use LF line endings inside (folded lines), as Sendmail and
 * Postfix send them; the message uses CRLF. Appends value with each CRLF turned into LF. */
void milter_value_to_wire(struct buf *out, const char *value, size_t len);
/* Appends a header value from a milter with every line ending (LF, CRLF or lone CR) made CRLF
 * and, when a line ending is not followed by a blank, a tab inserted (a value can never
 * start a new field). */
void milter_value_from_wire(struct buf *out, const char *value, size_t len);
/* True when name is a valid field name (RFC 5322 ftext, 1-255 bytes). */
bool milter_header_name_ok(const char *name);

/* ---- header edits on a message (the header block at the start of msg) ---- */

/* The offset of the blank line that ends the header block (msg's length when there is none);
 * *body_r is where the body starts. */
size_t milter_header_block_end(const char *msg, size_t len, size_t *body_r);

/* Appends "name:" value CRLF (value already from milter_value_from_wire; a space after the
 * colon unless leadspc) at the end of the header block, or before field number index
 * (0-based, counting every field) when index is not UINT32_MAX. */
void milter_header_insert(struct buf *msg, uint32_t index, const char *name, const char *value,
			  size_t value_len, bool leadspc);
/* Changes the index-th (1-based; 0 means 1) field named name: value_len 0 deletes it; when
 * there is no such field a non-empty value is appended. */
void milter_header_change(struct buf *msg, uint32_t index, const char *name, const char *value,
			  size_t value_len, bool leadspc);
/* Replaces the body (everything after the header block's blank line) with body, which gets
 * CRLF line endings (LF or lone CR become CRLF). A message without a blank line gets one. */
void milter_body_replace(struct buf *msg, const char *body, size_t len);

#endif
