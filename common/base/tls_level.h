/* tls_level.h - the outbound TLS security levels (relay_tls_security, relay_tls_policy_file) and their words. */
#ifndef MAIL_TLS_LEVEL_H
#define MAIL_TLS_LEVEL_H

#include <stddef.h>

/* Postfix's smtp_tls_security_level words, weakest first. */
enum tls_level {
	TLS_LEVEL_NONE,      /* never STARTTLS */
	TLS_LEVEL_MAY,       /* STARTTLS when offered, any certificate; else plaintext */
	TLS_LEVEL_ENCRYPT,   /* TLS required, any certificate */
	TLS_LEVEL_DANE,      /* DANE when the TLSA records are DNSSEC-secure, else may */
	TLS_LEVEL_DANE_ONLY, /* DANE required */
	TLS_LEVEL_VERIFY,    /* TLS required, certificate verified for the MX host name */
	TLS_LEVEL_SECURE,    /* TLS required, certificate verified for the next-hop domain */
};

/* The level a word names ("none" ... "dane-only"), case-insensitive, over word[0..len).
 * Returns the level, or -1 for anything else. */
int tls_level_parse(const char *word, size_t len);
/* "none", "may", ...; "?" for a value out of range. */
const char *tls_level_name(enum tls_level level);

#endif
