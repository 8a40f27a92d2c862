/* imap_url.h - parses the IMAP URLs (RFC 5092) that CATENATE (RFC 4469) names message parts by (pure). */
#ifndef MAIL_IMAP_URL_H
#define MAIL_IMAP_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_URL_MAILBOX_MAX 600
#define IMAP_URL_SECTION_MAX 128

/* "imap://host/Mailbox;UIDVALIDITY=n/;UID=n/;SECTION=s/;PARTIAL=o.l", the same without
 * "imap://host", or relative to the selected mailbox (";UID=n/..."). */
struct imap_url {
	char mailbox[IMAP_URL_MAILBOX_MAX]; /* %-decoded (UTF-8); "" for the selected mailbox */
	uint32_t uidvalidity;               /* 0 when absent */
	uint32_t uid;
	char section[IMAP_URL_SECTION_MAX]; /* %-decoded, upper-cased; "" for the whole message */
	bool partial;
	uint64_t partial_off, partial_len; /* partial_len UINT64_MAX: to the end */
};

/* Returns 0, or -1 when s is not such a URL (URLAUTH and search-query URLs included: not
 * offered). */
int imap_url_parse(const char *s, size_t len, struct imap_url *u);

#endif
