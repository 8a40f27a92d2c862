/* bounce.h - delivery status notifications (RFC 3464) for recipients that failed or are delayed (pure). */
#ifndef MAIL_BOUNCE_H
#define MAIL_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "queue_file.h"

enum bounce_kind { BOUNCE_FAILED, BOUNCE_DELAYED };

/* Composes the whole DSN message (CRLF line endings) addressed to env->sender, from the
 * null sender, covering the recipients listed in idx[0..n): a multipart/report with a
 * human-readable part, a message/delivery-status part (Reporting-MTA, Arrival-Date, and per
 * recipient Final-Recipient, Original-Recipient, Action, Status, Remote-MTA,
 * Diagnostic-Code) and the original message's header as text/rfc822-headers. */
void bounce_compose(struct buf *out, const char *hostname, const struct queue_envelope *env,
		    const char *msg, size_t msg_len, const size_t *idx, size_t n,
		    enum bounce_kind kind, int64_t now);

/* True when the notice about env must be internationalized (RFC 6533): the message was
 * sent with SMTPUTF8 or has a UTF-8 address. Then the notice uses charset=utf-8,
 * message/global-delivery-status, "utf-8;" address types and message/global(-headers) for
 * the returned content, and must be queued as SMTPUTF8 itself. */
bool bounce_needs_utf8(const struct queue_envelope *env);

/* The RFC 3463 status code ("5.1.1") found in an error text, or derived from the reply code
 * (5.0.0 / 4.0.0). */
void bounce_status_code(const char *text, int code, char out[16]);

#endif
