/* imap_proxy.h - imap_proxy mode: a logged-in session handed to its back end (STARTTLS, ID with the client's address, LOGIN), then bytes relayed both ways. */
#ifndef MAIL_IMAP_PROXY_H
#define MAIL_IMAP_PROXY_H

#include <stdbool.h>
#include <stddef.h>

struct imap_client;
struct imapd;
struct tls_ctx;
struct mailbox_route;
struct imap_proxy;

/* The client TLS context toward back ends (relay_tls_ca_file's CAs when set, else the
 * system's), made at start while the files can still be read. NULL with err on failure. */
struct tls_ctx *imap_proxy_tls_ctx(const struct imapd *d, char *err, size_t errlen);

/* Starts the hand-over of c (paused, BUSY) to route's IMAP back end for the login of user
 * with password (both copied; the copy is wiped once sent). The reply to tag comes from the
 * back end's LOGIN answer; the session then relays until either side closes. Failing to reach
 * the back end answers "TAG NO [UNAVAILABLE]" and leaves c not logged in. */
void imap_proxy_start(struct imap_client *c, const char *tag, const char *user,
		      const char *password, const struct mailbox_route *route);
/* The same, for imap_proxy_auth = backend: the password was not checked here, so the back
 * end's refusal is "NO [AUTHENTICATIONFAILED]" and counts in the failed-login throttle. */
void imap_proxy_start_unchecked(struct imap_client *c, const char *tag, const char *user,
				const char *password, const struct mailbox_route *route);

/* For client.c: input from the client while c->proxy is set (forwarded once relaying). */
void imap_proxy_client_input(struct imap_client *c);
/* For client.c: the client's output drained (the back end may be read again). */
void imap_proxy_client_drained(struct imap_client *c);
/* For client.c: the client connection is gone; closes the back end and frees the proxy. */
void imap_proxy_client_closed(struct imap_client *c);

#endif
