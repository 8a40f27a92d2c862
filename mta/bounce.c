/* bounce.c - composes RFC 3464 delivery status notifications from a queue envelope (pure). */
#include "bounce.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void bounce_date(char *out, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
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

void bounce_compose(struct buf *out, const char *hostname, const struct queue_envelope *env,
		    const char *msg, size_t msg_len, const size_t *idx, size_t n,
		    enum bounce_kind kind, int64_t now)
{
	char date[64], arrival[64], boundary[128];
	bounce_date(date, sizeof(date), now);
	bounce_date(arrival, sizeof(arrival), env->arrival);
	snprintf(boundary, sizeof(boundary), "%s.%lld/%s", env->id, (long long)now, hostname);

	buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", hostname);
	buf_printf(out, "To: <%s>\r\n", env->sender);
	buf_printf(out, "Subject: %s\r\n",
		   kind == BOUNCE_FAILED ? "Undelivered Mail Returned to Sender"
					 : "Delayed Mail (still being retried)");
	buf_printf(out, "Date: %s\r\n", date);
	buf_printf(out, "Message-ID: <%s.%s.%lld@%s>\r\n", env->id,
		   kind == BOUNCE_FAILED ? "bounce" : "delay", (long long)now, hostname);
	buf_append_str(out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	buf_printf(out,
		   "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		   "\tboundary=\"%s\"\r\n\r\n",
		   boundary);
	buf_append_str(out, "This is a MIME-encapsulated message.\r\n\r\n");

	/* 1. For the person. */
	buf_printf(out,
		   "--%s\r\nContent-Description: Notification\r\n"
		   "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
		   boundary);
	buf_printf(out, "This is the mail system at host %s.\r\n\r\n", hostname);
	if (kind == BOUNCE_FAILED)
		buf_append_str(
			out,
			"I'm sorry to have to inform you that your message could not\r\n"
			"be delivered to one or more recipients. It's attached below.\r\n\r\n");
	else
		buf_append_str(out,
			       "Your message could not be delivered yet to one or more\r\n"
			       "recipients. The mail system will keep trying; you do not need\r\n"
			       "to send it again.\r\n\r\n");
	for (size_t k = 0; k < n; k++) {
		const struct queue_rcpt *r = &env->rcpts[idx[k]];
		buf_printf(out, "<%s>: ", r->orig ? r->orig : r->addr);
		bounce_clean_line(out, r->last_error ? r->last_error : "delivery failed");
		buf_append_str(out, "\r\n");
	}
	buf_append_str(out, "\r\n");

	/* 2. For programs (RFC 3464). */
	buf_printf(out,
		   "--%s\r\nContent-Description: Delivery report\r\n"
		   "Content-Type: message/delivery-status\r\n\r\n",
		   boundary);
	buf_printf(out, "Reporting-MTA: dns; %s\r\nX-Queue-ID: %s\r\n", hostname, env->id);
	if (env->sender[0])
		buf_printf(out, "X-Original-Sender: rfc822; %s\r\n", env->sender);
	buf_printf(out, "Arrival-Date: %s\r\n", arrival);
	for (size_t k = 0; k < n; k++) {
		const struct queue_rcpt *r = &env->rcpts[idx[k]];
		char status[16], mta[300];
		bounce_status_code(r->last_error,
				   r->code ? r->code : (kind == BOUNCE_FAILED ? 550 : 450), status);
		if (kind == BOUNCE_FAILED && status[0] != '5')
			status[0] = '5'; /* e.g. expired after temporary failures */
		buf_printf(out, "\r\nFinal-Recipient: rfc822; %s\r\n", r->addr);
		if (r->orig)
			buf_printf(out, "Original-Recipient: rfc822; %s\r\n", r->orig);
		buf_printf(out, "Action: %s\r\nStatus: %s\r\n",
			   kind == BOUNCE_FAILED ? "failed" : "delayed", status);
		if (bounce_remote_mta(r->last_error, mta, sizeof(mta)))
			buf_printf(out, "Remote-MTA: dns; %s\r\n", mta);
		const char *diag = bounce_diagnostic(r->last_error);
		buf_append_str(out, diag ? "Diagnostic-Code: smtp; " : "Diagnostic-Code: X-mtad; ");
		bounce_clean_line(out, diag ? diag
					    : (r->last_error ? r->last_error : "delivery failed"));
		buf_append_str(out, "\r\n");
	}
	buf_append_str(out, "\r\n");

	/* 3. The original header section. */
	buf_printf(out,
		   "--%s\r\nContent-Description: Undelivered Message Headers\r\n"
		   "Content-Type: text/rfc822-headers\r\n\r\n",
		   boundary);
	size_t hlen = msg_len;
	for (size_t i = 0; i + 1 < msg_len; i++) {
		if (msg[i] == '\n' &&
		    (msg[i + 1] == '\n' ||
		     (msg[i + 1] == '\r' && i + 2 < msg_len && msg[i + 2] == '\n'))) {
			hlen = i + 1;
			break;
		}
	}
	buf_append(out, msg, hlen);
	if (hlen && msg[hlen - 1] != '\n')
		buf_append_str(out, "\r\n");
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}
