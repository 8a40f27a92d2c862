/* autoconfig.h - client autoconfiguration on http_listen: Thunderbird autoconfig and Outlook autodiscover. */
#ifndef MAIL_AUTOCONFIG_H
#define MAIL_AUTOCONFIG_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

struct config;
struct http_server;

/* What a client is told: the server name and the first port of each listener (0: off). */
struct autoconfig_info {
	const char *hostname;
	const char *domain; /* the address's domain when local, else the first of domains */
	uint16_t imaps, imap, submissions, submission;
};

/* Fills ai from cfg for an address (may be NULL). */
void autoconfig_info(const struct config *cfg, const char *email, struct autoconfig_info *ai);

/* The EMailAddress of an Outlook autodiscover request body (pure): the text of the first
 * element whose local name is EMailAddress, blanks trimmed, the five XML entities decoded.
 * Returns 0 with out set, or -1 (no such element, empty, longer than outlen - 1, or a
 * control character or '<' in it). */
int autodiscover_email(const char *body, size_t len, char *out, size_t outlen);

/* The documents (pure): every value echoed is XML-escaped. email may be NULL. */
void autoconfig_thunderbird_xml(const struct autoconfig_info *ai, struct buf *out);
void autoconfig_outlook_xml(const struct autoconfig_info *ai, const char *email, struct buf *out);

/* Adds the routes: GET /mail/config-v1.1.xml and /.well-known/autoconfig/mail/config-v1.1.xml,
 * POST /autodiscover/autodiscover.xml (and /Autodiscover/Autodiscover.xml). */
void autoconfig_routes(struct http_server *s, const struct config *cfg);

#endif
