/* acme.h - mtad's ACME client (RFC 8555): obtains and renews the certificate of hostname off the loop, answers http-01. */
#ifndef MAIL_ACME_H
#define MAIL_ACME_H

#include <stddef.h>

#include "buf.h"

struct mtad;
struct acme;

/* The default of acme_directory. */
#define ACME_DEFAULT_DIRECTORY "https://acme-v02.api.letsencrypt.org/directory"

/* Where http-01 challenges are asked for (RFC 8555 8.3). */
#define ACME_CHALLENGE_PREFIX "/.well-known/acme-challenge/"

/*
 * With acme = yes: checks the served pair (state_dir/tls/cert.pem and key.pem) at once and
 * then whenever renewal is due; a certificate that is self-signed, does not name every name
 * (hostname, and mta-sts. and autoconfig. of each domain) or has passed two thirds of its
 * lifetime is replaced. The protocol runs on the thread pool (libcurl); the certificate key
 * stays the same (TLSA 3 1 1 records stay valid), the new chain replaces cert.pem by an atomic
 * rename only once it is verified, and m->tls is reloaded on the loop, without a restart.
 * A failure keeps the current pair, logs why, and retries later. Returns NULL when acme is
 * off; exits 78 when the configuration cannot work (tls_cert set).
 */
struct acme *acme_start(struct mtad *m);

/* Stops the timer; a running job finishes first (its result is dropped). Loop thread. */
void acme_stop(struct acme **a);

/* The http-01 answer for token (the key authorization, RFC 8555 8.1) into out. Returns 200,
 * or 404 when no challenge with that token is pending. Any thread. */
int acme_http01_answer(struct acme *a, const char *token, struct buf *out);

/* The names the certificate must carry, into names (at most max; xstrdup'd, free each):
 * hostname first, then mta-sts.DOMAIN and autoconfig.DOMAIN of each domain other than
 * localhost. Returns the count. */
size_t acme_cert_names(const struct mtad *m, char **names, size_t max);

#endif
