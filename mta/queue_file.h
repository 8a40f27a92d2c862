/* queue_file.h - the on-disk queue file format: typed, length-prefixed records (pure encode/decode).
 *
 * A queue file is a sequence of records, each "T<len>:<payload>\n" where T is one type byte,
 * <len> the payload length in decimal and the payload any bytes. The envelope comes first,
 * then the message, then the commit record E; the file is written into a pre-created spare
 * file and fdatasynced before the 250 reply (see queue.h). E seals the committed part:
 * "<length> <crc>" where length is the number of bytes before the E record and crc their
 * CRC-32 (IEEE, 8 lower-case hex digits). A file whose E is missing, torn or does not match
 * (a crash before the fdatasync finished can leave any mix of old and new blocks) is not
 * committed and never delivered. State changes are appended after E (O_APPEND +
 * fdatasync), so the file is a log: the last record for a recipient wins; a torn trailing
 * state record (crash while appending) is ignored.
 *
 *   V "MQ2"                         format version (first record); "MQ1" files (written by
 *                                   the earlier tmp + rename commit) have an empty E, accepted
 *   I queue id                      T arrival (unix seconds)
 *   S envelope sender ("" = <>)     B body flags ("8BITMIME", "SMTPUTF8", space separated)
 *   C client address                H HELO name        A authenticated user
 *   P protocol ("ESMTP", "ESMTPS", "ESMTPSA", "SMTP", "local")
 *   R recipient address (wire form) O original recipient of the preceding R (optional)
 *   N DSN NOTIFY of the preceding R ("NEVER", "SUCCESS,FAILURE,DELAY"; absent: default)
 *   K DSN ORCPT of the preceding R ("rfc822;addr", the address xtext-decoded)
 *   F DSN RET ("FULL" or "HDRS")    J DSN ENVID (xtext-decoded)
 *   (N, K, F and J are written only when the client gave them: files without them, and
 *   files written before they existed, load as "no DSN parameters".)
 *   M message bytes (CRLF line endings, our Received: header included)
 *   E "<length> <crc32>"            commit record (MQ1: empty payload)
 * After E:
 *   D "<index> <time> [<via>]"                 recipient delivered; via (optional): "l"
 *                                              local, "r" relayed to a hop without DSN,
 *                                              "d" relayed with DSN (the hop notifies)
 *   X "<index> <time> <code> <text>"           recipient failed permanently (bounce due)
 *   Q "<index> <attempts> <next-time> <text>"  recipient deferred
 *   h "1" or "0"                               message held / released
 *   b "<time>"                                 bounce for this message sent (DSN queued)
 *   w "<time>"                                 delay warning sent (DSN queued)
 */
#ifndef MAIL_QUEUE_FILE_H
#define MAIL_QUEUE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define QUEUE_ID_MAX 24

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,
	QUEUE_RCPT_DEFERRED,
	QUEUE_RCPT_DELIVERED,
	QUEUE_RCPT_FAILED,
};

struct queue_rcpt {
	char *addr; /* wire form "local@domain" */
	char *orig; /* original recipient (before alias expansion) or NULL */
	enum queue_rcpt_state state;
	unsigned attempts;
	int64_t next_attempt; /* unix seconds; 0 = now */
	int64_t done_time;
	int code;         /* last reply code, 0 if none */
	char *last_error; /* last error text or NULL */
	unsigned notify;  /* DSN NOTIFY: enum smtp_notify bits, 0 = not given */
	char *orcpt;      /* DSN ORCPT "addr-type;address" or NULL */
	char via;         /* delivered how: QUEUE_VIA_*, 0 unknown */
};

#define QUEUE_VIA_LOCAL   'l' /* into a mailbox here: Action: delivered */
#define QUEUE_VIA_RELAYED 'r' /* to a hop without DSN: Action: relayed */
#define QUEUE_VIA_DSN     'd' /* to a hop that took NOTIFY/ORCPT: it reports, not us */

struct queue_envelope {
	char id[QUEUE_ID_MAX + 1];
	int64_t arrival;
	char *sender;     /* "" for the null sender */
	char *body_flags; /* may be NULL */
	char *client;     /* may be NULL */
	char *helo;       /* may be NULL */
	char *auth;       /* may be NULL */
	char *proto;      /* may be NULL */
	char *envid;      /* DSN ENVID, may be NULL */
	int ret;          /* DSN RET: enum smtp_ret (0 = not given) */
	struct queue_rcpt *rcpts;
	size_t nrcpts;
	bool held;
	int64_t bounced; /* time a DSN was generated, 0 if none */
	int64_t warned;  /* time a delay warning was generated, 0 if none */
	/* Where the message bytes are in the decoded buffer/file. */
	size_t msg_offset;
	size_t msg_len;
};

/* Appends one record. */
void queue_record_put(struct buf *out, char type, const void *payload, size_t len);
void queue_record_putf(struct buf *out, char type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Encodes the committed part: envelope records, then the message header M<len>: (the caller
 * writes the message bytes right after *head and then *tail, so the message is not copied).
 * *tail ends with the commit record E, which seals head + message with their CRC. */
void queue_file_encode(const struct queue_envelope *env, const char *msg, size_t msg_len,
		       struct buf *head, struct buf *tail);

/* CRC-32 (IEEE) of data, continuing from crc (0 to start). Thread-safe. */
uint32_t queue_crc32(uint32_t crc, const void *data, size_t len);

/* Decodes a whole file image. Returns 0 with *env_r filled (caller frees with
 * queue_envelope_free), or -1 with *error_r when the file is not a complete queue file
 * (no END, bad first record, malformed envelope). State records after END are applied;
 * a torn or malformed trailing record stops the scan without error. */
int queue_file_decode(const char *data, size_t len, struct queue_envelope *env_r,
		      const char **error_r);

void queue_envelope_free(struct queue_envelope *env);

/* The message was received with MAIL ... REQUIRETLS (RFC 8689): the word in body_flags (files
 * written before it existed have no such word). */
bool queue_envelope_requiretls(const struct queue_envelope *env);

/* Encodes the state records (appended after END). */
void queue_state_delivered(struct buf *out, size_t index, int64_t when, char via);
void queue_state_failed(struct buf *out, size_t index, int64_t when, int code, const char *text);
void queue_state_deferred(struct buf *out, size_t index, unsigned attempts, int64_t next,
			  const char *text);
void queue_state_held(struct buf *out, bool held);
void queue_state_bounced(struct buf *out, int64_t when);
void queue_state_warned(struct buf *out, int64_t when);

/* A new unique queue id: 16 upper-case hex digits from the time in microseconds and a
 * counter. Thread-safe. */
void queue_id_new(char out[QUEUE_ID_MAX + 1]);

/* True when s is a syntactically valid queue id (safe as a file name). */
bool queue_id_valid(const char *s);

#endif
