/* bounce.c - composes RFC 3464 delivery status notifications from a queue envelope (pure). */
#include "bounce.h"
#include "rfc5322.h"
#include "smtp_proto.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void bounce_date(char *out, size_t len, int64_t t)
{
	rfc5322_format_date((time_t)t, out, len);
}

void bounce_status_code(const char *text, int code, char out[16])
{
	for (const char *p = text; p && *p; p++) {
		if ((p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.' &&
		    (p == text || (!isalnum((unsigned char)p[-1]) && p[-1] != '.'))) {
			const char *q = p + 2;
			int d1 = 0, d2 = 0;
			while (isdigit((unsigned char)*q) && d1 < 3) {
				q++;
				d1++;
			}
			if (d1 == 0 || *q != '.')
				continue;
			q++;
			while (isdigit((unsigned char)*q) && d2 < 3) {
				q++;
				d2++;
			}
			if (d2 == 0 || isalnum((unsigned char)*q))
				continue;
			snprintf(out, 16, "%.*s", (int)(q - p), p);
			return;
		}
	}
	snprintf(out, 16, "%d.0.0", code >= 500 || code == 0 ? (code == 0 ? 4 : 5) : 4);
}

/* Remote-MTA: the "host[addr]:port" at the start of "host[addr]:port said: ...". */
static bool bounce_remote_mta(const char *text, char *out, size_t outlen)
{
	const char *said = text ? strstr(text, " said: ") : NULL;
	if (!said)
		return false;
	const char *br = memchr(text, '[', (size_t)(said - text));
	size_t n = br ? (size_t)(br - text) : (size_t)(said - text);
	if (n == 0 || n >= outlen)
		return false;
	memcpy(out, text, n);
	out[n] = '\0';
	return true;
}

/* Diagnostic-Code: the remote reply ("550 5.1.1 ...") after "said: ". */
static const char *bounce_diagnostic(const char *text)
{
	const char *said = text ? strstr(text, " said: ") : NULL;
	return said ? said + 7 : NULL;
}

static void bounce_clean_line(struct buf *out, const char *s)
{
	for (; s && *s; s++)
		buf_append(out, (*s == '\r' || *s == '\n') ? " " : s, 1);
}

static bool bounce_ascii(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

bool bounce_needs_utf8(const struct queue_envelope *env)
{
	if (env->body_flags && strstr(env->body_flags, "SMTPUTF8"))
		return true;
	if (!bounce_ascii(env->sender))
		return true;
	for (size_t i = 0; i < env->nrcpts; i++)
		if (!bounce_ascii(env->rcpts[i].addr) || !bounce_ascii(env->rcpts[i].orig) ||
		    !bounce_ascii(env->rcpts[i].orcpt))
			return true;
	return false;
}

/* An address field: "rfc822; addr", or "utf-8; addr" for a UTF-8 address (RFC 6533 3). */
static void bounce_addr_field(struct buf *out, const char *field, const char *addr)
{
	buf_printf(out, "%s: %s; ", field, bounce_ascii(addr) ? "rfc822" : "utf-8");
	bounce_clean_line(out, addr);
	buf_append_str(out, "\r\n");
}

/* What the report says of one recipient (RFC 3464 2.3.3). */
static const char *bounce_action(const struct queue_rcpt *r, enum bounce_kind kind)
{
	if (kind == BOUNCE_DELAYED)
		return "delayed";
	if (r->state == QUEUE_RCPT_DELIVERED)
		return r->via == QUEUE_VIA_LOCAL ? "delivered" : "relayed";
	return "failed";
}

/* "rfc822;addr" as a DSN field value "rfc822; addr". */
static void bounce_typed_addr(struct buf *out, const char *field, const char *typed)
{
	const char *semi = strchr(typed, ';');
	if (!semi)
		buf_printf(out, "%s: rfc822; ", field);
	else
		buf_printf(out, "%s: %.*s; ", field, (int)(semi - typed), typed);
	bounce_clean_line(out, semi ? semi + 1 : typed);
	buf_append_str(out, "\r\n");
}

void bounce_compose(struct buf *out, const char *hostname, const struct queue_envelope *env,
		    const char *msg, size_t msg_len, const size_t *idx, size_t n,
		    enum bounce_kind kind, int64_t now)
{
	char date[64], arrival[64], boundary[128];
	size_t nfailed = 0;
	for (size_t k = 0; k < n; k++)
		nfailed += kind == BOUNCE_FAILED &&
			   env->rcpts[idx[k]].state != QUEUE_RCPT_DELIVERED;
	bool success_only = kind == BOUNCE_FAILED && nfailed == 0;
	/* RET=FULL: the whole message comes back with a failure (success and delay notices,
	 * and RET=HDRS or no RET, carry the header only) */
	bool full = env->ret == SMTP_RET_FULL && nfailed > 0;
	/* RFC 6533: the notice of an internationalized message is itself one */
	bool utf8 = bounce_needs_utf8(env);
	bounce_date(date, sizeof(date), now);
	bounce_date(arrival, sizeof(arrival), env->arrival);
	snprintf(boundary, sizeof(boundary), "%s.%lld/%s", env->id, (long long)now, hostname);

	buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", hostname);
	buf_printf(out, "To: <%s>\r\n", env->sender);
	buf_printf(out, "Subject: %s\r\n",
		   kind == BOUNCE_DELAYED ? "Delayed Mail (still being retried)"
		   : success_only         ? "Successful Mail Delivery Report"
					  : "Undelivered Mail Returned to Sender");
	buf_printf(out, "Date: %s\r\n", date);
	buf_printf(out, "Message-ID: <%s.%s.%lld@%s>\r\n", env->id,
		   kind == BOUNCE_DELAYED ? "delay"
		   : success_only         ? "success"
					  : "bounce",
		   (long long)now, hostname);
	buf_append_str(out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	buf_printf(out,
		   "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		   "\tboundary=\"%s\"\r\n\r\n",
		   boundary);
	buf_append_str(out, "This is a MIME-encapsulated message.\r\n\r\n");

	/* 1. For the person. */
	buf_printf(out,
		   "--%s\r\nContent-Description: Notification\r\n"
		   "Content-Type: text/plain; charset=%s\r\n%s\r\n",
		   boundary, utf8 ? "utf-8" : "us-ascii",
		   utf8 ? "Content-Transfer-Encoding: 8bit\r\n" : "");
	buf_printf(out, "This is the mail system at host %s.\r\n\r\n", hostname);
	if (kind == BOUNCE_DELAYED)
		buf_append_str(out,
			       "Your message could not be delivered yet to one or more\r\n"
			       "recipients. The mail system will keep trying; you do not need\r\n"
			       "to send it again.\r\n\r\n");
	else if (success_only)
		buf_append_str(out,
			       "Your message was successfully delivered to the destination(s)\r\n"
			       "listed below. If the message was delivered to a mailbox you\r\n"
			       "will receive no further notifications. Otherwise you may\r\n"
			       "still receive notifications of mail delivery errors from\r\n"
			       "other systems.\r\n\r\n");
	else
		buf_append_str(
			out,
			"I'm sorry to have to inform you that your message could not\r\n"
			"be delivered to one or more recipients. It's attached below.\r\n\r\n");
	for (size_t k = 0; k < n; k++) {
		const struct queue_rcpt *r = &env->rcpts[idx[k]];
		buf_printf(out, "<%s>: ", r->orig ? r->orig : r->addr);
		if (kind == BOUNCE_FAILED && r->state == QUEUE_RCPT_DELIVERED)
			buf_append_str(out, r->via == QUEUE_VIA_LOCAL
						    ? "delivery successful"
						    : "relayed to a server that does not offer "
						      "delivery notifications (DSN)");
		else
			bounce_clean_line(out, r->last_error ? r->last_error : "delivery failed");
		buf_append_str(out, "\r\n");
	}
	buf_append_str(out, "\r\n");

	/* 2. For programs (RFC 3464). */
	buf_printf(out,
		   "--%s\r\nContent-Description: Delivery report\r\n"
		   "Content-Type: message/%sdelivery-status\r\n\r\n",
		   boundary, utf8 ? "global-" : "");
	buf_printf(out, "Reporting-MTA: dns; %s\r\nX-Queue-ID: %s\r\n", hostname, env->id);
	if (env->envid && env->envid[0]) {
		buf_append_str(out, "Original-Envelope-Id: ");
		bounce_clean_line(out, env->envid);
		buf_append_str(out, "\r\n");
	}
	if (env->sender[0])
		bounce_addr_field(out, "X-Original-Sender", env->sender);
	buf_printf(out, "Arrival-Date: %s\r\n", arrival);
	for (size_t k = 0; k < n; k++) {
		const struct queue_rcpt *r = &env->rcpts[idx[k]];
		const char *action = bounce_action(r, kind);
		bool success = kind == BOUNCE_FAILED && r->state == QUEUE_RCPT_DELIVERED;
		char status[16], mta[300];
		if (success)
			snprintf(status, sizeof(status), "2.0.0");
		else
			bounce_status_code(r->last_error,
					   r->code ? r->code : (kind == BOUNCE_FAILED ? 550 : 450),
					   status);
		if (kind == BOUNCE_FAILED && !success && status[0] != '5')
			status[0] = '5'; /* e.g. expired after temporary failures */
		buf_append_str(out, "\r\n");
		bounce_addr_field(out, "Final-Recipient", r->addr);
		if (r->orcpt)
			bounce_typed_addr(out, "Original-Recipient", r->orcpt);
		else if (r->orig)
			bounce_addr_field(out, "Original-Recipient", r->orig);
		buf_printf(out, "Action: %s\r\nStatus: %s\r\n", action, status);
		if (success)
			continue;
		if (bounce_remote_mta(r->last_error, mta, sizeof(mta)))
			buf_printf(out, "Remote-MTA: dns; %s\r\n", mta);
		const char *diag = bounce_diagnostic(r->last_error);
		buf_append_str(out, diag ? "Diagnostic-Code: smtp; " : "Diagnostic-Code: X-mtad; ");
		bounce_clean_line(out, diag ? diag
					    : (r->last_error ? r->last_error : "delivery failed"));
		buf_append_str(out, "\r\n");
	}
	buf_append_str(out, "\r\n");

	/* 3. The original message (RET=FULL, with a failure) or its header section. */
	size_t hlen = msg_len;
	for (size_t i = 0; i + 1 < msg_len; i++) {
		if (msg[i] == '\n' &&
		    (msg[i + 1] == '\n' ||
		     (msg[i + 1] == '\r' && i + 2 < msg_len && msg[i + 2] == '\n'))) {
			hlen = i + 1;
			break;
		}
	}
	if (full) {
		buf_printf(out,
			   "--%s\r\nContent-Description: Undelivered Message\r\n"
			   "Content-Type: message/%s\r\n\r\n",
			   boundary, utf8 ? "global" : "rfc822");
		hlen = msg_len;
	} else {
		buf_printf(out,
			   "--%s\r\nContent-Description: %s\r\n"
			   "Content-Type: %s\r\n\r\n",
			   boundary,
			   kind == BOUNCE_FAILED && nfailed ? "Undelivered Message Headers"
							    : "Message Headers",
			   utf8 ? "message/global-headers" : "text/rfc822-headers");
	}
	buf_append(out, msg, hlen);
	if (hlen && msg[hlen - 1] != '\n')
		buf_append_str(out, "\r\n");
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}
