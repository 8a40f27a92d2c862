/* acme_proto.h - the ACME (RFC 8555) message layer: keys, JWK thumbprint, ES256 JWS, CSR, and the server's JSON objects. */
#ifndef MAIL_ACME_PROTO_H
#define MAIL_ACME_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"

#define ACME_MAX_NAMES 64
#define ACME_URL_MAX   1024

/* Appends base64url (RFC 4648 section 5, no padding) of len bytes to out. */
void acme_b64url(struct buf *out, const void *data, size_t len);

/* A fresh EC P-256 key (the account key, and the certificate key when there is none). */
EVP_PKEY *acme_key_new(void);

/* The public JWK of an EC P-256 key, members in RFC 7638 order:
 * {"crv":"P-256","kty":"EC","x":"...","y":"..."}. Returns 0, -1 for another key type. */
int acme_jwk(EVP_PKEY *key, struct buf *out);

/* RFC 7638 thumbprint of the key (base64url SHA-256 of its JWK). Returns 0 or -1. */
int acme_thumbprint(EVP_PKEY *key, struct buf *out);

/* A JWS in flattened JSON serialization (RFC 8555 6.2) signed with ES256. kid NULL: the
 * protected header carries the jwk (newAccount). payload NULL: POST-as-GET (empty payload).
 * Returns 0, or -1 when signing fails. */
int acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
	     const char *payload, struct buf *out);

/* A CSR (DER, base64url into out) for names[0..n): subject CN=names[0], every name in
 * subjectAltName, signed by key with SHA-256. Returns 0 or -1. */
int acme_csr(EVP_PKEY *key, const char *const *names, size_t n, struct buf *out);

/* ---- the server's objects (pure parsers over the JSON text) ---- */

struct acme_directory {
	char new_nonce[ACME_URL_MAX], new_account[ACME_URL_MAX], new_order[ACME_URL_MAX];
};

/* An order (RFC 8555 7.1.3) or the status of an authorization / challenge. */
struct acme_order {
	char status[16]; /* "pending", "ready", "processing", "valid", "invalid" */
	char finalize[ACME_URL_MAX];
	char certificate[ACME_URL_MAX]; /* once valid */
	char *authz[ACME_MAX_NAMES];    /* malloc'd URLs */
	size_t n_authz;
};

struct acme_authz {
	char status[16];
	char identifier[256];
	char http01_url[ACME_URL_MAX]; /* "" when the server offers no http-01 challenge */
	char http01_token[256];
	char error[512]; /* the challenge's or authorization's error detail, "" if none */
};

/* Each returns 0, or -1 with *error_r a static description (bad JSON, missing member). */
int acme_parse_directory(const char *json, size_t len, struct acme_directory *d,
			 const char **error_r);
int acme_parse_order(const char *json, size_t len, struct acme_order *o, const char **error_r);
void acme_order_free(struct acme_order *o);
int acme_parse_authz(const char *json, size_t len, struct acme_authz *a, const char **error_r);
/* A problem document (RFC 7807) as "type: detail" into out (out[0] == 0 when not one). */
void acme_parse_problem(const char *json, size_t len, char *out, size_t outlen);

/* When a certificate valid from not_before to not_after should be renewed: after two thirds
 * of its lifetime. */
time_t acme_renew_at(time_t not_before, time_t not_after);

#endif
