/* tls.h - the one TLS engine: OpenSSL over memory BIOs, ciphertext on one side, plaintext on the other. */
#ifndef MAIL_TLS_H
#define MAIL_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * The engine does no I/O and knows nothing of libuv. The connection layer drives it:
 *
 *	on bytes read from the socket:	tls_session_feed(s, bytes, n);
 *					r = tls_session_read(s, &plain);   (plaintext, if any)
 *	to send plaintext:		tls_session_write(s, text, n);
 *	after any of the above:		tls_session_pending_output(s, &cipher);
 *					write cipher to the socket
 *
 * A client session has its ClientHello ready in tls_session_pending_output() as soon as it
 * is created. Plaintext written before the handshake completes is kept and encrypted as soon
 * as it is done (by the tls_session_read() call that completes it).
 *
 * STARTTLS and pipelining (CVE-2011-0411 and its client-side twin): the engine only ever
 * decrypts bytes given to tls_session_feed(). When a server accepts STARTTLS, it must throw
 * away any plaintext already buffered after the STARTTLS line before creating the session
 * and feeding it the bytes read afterwards; a client must likewise throw away anything
 * buffered after the server's "220" reply. Plaintext received before the handshake never
 * reaches tls_session_read().
 *
 * Memory: the session holds what was fed and not yet read, and what was produced and not
 * yet drained; callers bound both by how much they read from the socket at a time and by
 * stopping reads while their own output is backed up. Once drained, a session gives back
 * its large buffers, so an idle session costs a few kilobytes whatever it carried before.
 */

#define TLS_ERROR \
	(-1) /* failure: see tls_session_error(); drain and send pending output, then close */
#define TLS_CLOSED (-2) /* the peer sent close_notify */

struct tls_ctx;
struct tls_session;

/* What a client learned of the server's certificate (Postfix's words in tls_peer_trust_name()). */
enum tls_peer_trust {
	TLS_PEER_ANONYMOUS, /* no certificate (server sessions, or no handshake yet) */
	TLS_PEER_UNTRUSTED, /* the chain does not verify against the system store */
	TLS_PEER_TRUSTED,   /* the chain verifies, the name does not match (or none was given) */
	TLS_PEER_VERIFIED,  /* chain and name verify */
};

/*
 * Server context: certificate chain and key from PEM files. TLS 1.2 minimum (1.3 preferred),
 * ECDHE with AES-GCM or ChaCha20-Poly1305 for 1.2, server cipher preference, no compression,
 * no renegotiation, session tickets on.
 * Returns NULL with err set ("cannot load certificate PATH: reason") on failure.
 */
struct tls_ctx *tls_server_ctx_new(const char *cert_file, const char *key_file, char *err,
				   size_t errlen);

/*
 * Client context for opportunistic outbound STARTTLS: TLS 1.2 minimum, the system trust store
 * tells Verified from Untrusted, but no verification result ever fails a handshake. The store
 * is OpenSSL's hashed certificate directory (SSL_CERT_DIR, else OPENSSLDIR/certs, which Debian's
 * update-ca-certificates keeps), whose roots are read when a chain first needs them (a stat()
 * and a small file read during that handshake), plus the bundle named by SSL_CERT_FILE, if set,
 * read here. Returns NULL with err set on failure.
 */
struct tls_ctx *tls_client_ctx_new(char *err, size_t errlen);

/*
 * Client context: trust the CAs of the PEM bundle ca_file (relay_tls_ca_file) instead of the
 * system's. Returns 0, or -1 with err set (the context is unchanged).
 */
int tls_client_ctx_set_ca_file(struct tls_ctx *ctx, const char *ca_file, char *err, size_t errlen);

/* A TLSA record (RFC 6698) as DANE authentication uses it; data is borrowed. */
struct tls_tlsa {
	unsigned char usage, selector, mtype;
	const unsigned char *data;
	size_t len;
};

/* What an outbound session must prove beyond opportunistic TLS. */
struct tls_client_check {
	/* Reference identifiers for the certificate name check (verify: the MX host; secure:
	 * the next-hop domain and ".domain" for its subdomains). NULL/0: the SNI name. */
	const char *const *names;
	size_t n_names;
	/* DANE (RFC 7672): the TLSA base domain (the MX host) and its usable records; with
	 * n_tlsa > 0 the session authenticates by them alone (DANE-EE(3) without name checks,
	 * DANE-TA(2) with the names above and the base domain). */
	const char *dane_base;
	const struct tls_tlsa *tlsa;
	size_t n_tlsa;
};

/* A client session like tls_session_new(ctx, false, sni) with the checks of chk (may be
 * NULL). Returns NULL when OpenSSL refuses a name or a record. */
struct tls_session *tls_client_session_new(struct tls_ctx *ctx, const char *sni,
					   const struct tls_client_check *chk);

/* Client sessions with TLSA records: a record matched and the chain (for DANE-TA) verified. */
bool tls_session_dane_verified(const struct tls_session *s);
/* Why the peer's certificate did not verify ("certificate has expired", "no matching DANE
 * TLSA records", "hostname mismatch"), "" when it did. */
const char *tls_session_verify_error(const struct tls_session *s);
/* Whether that first error was an expired certificate (TLS-RPT's certificate-expired). */
bool tls_session_cert_expired(const struct tls_session *s);

/*
 * Replaces the certificate and key of a server context (SIGHUP). Sessions created afterwards
 * use the new pair; existing sessions keep theirs until freed. On failure the context is
 * unchanged. Returns 0, or -1 with err set.
 */
int tls_ctx_reload(struct tls_ctx *ctx, const char *cert_file, const char *key_file, char *err,
		   size_t errlen);

/* Frees the context and sets *ctx to NULL. Sessions still alive stay valid. */
void tls_ctx_free(struct tls_ctx **ctx);

/*
 * A session over a context. server must match the kind of the context. sni_or_null, for a
 * client, is the name checked for TLS_PEER_VERIFIED and, unless an IP address literal, sent
 * as SNI; ignored for a server. Returns NULL when server does not match the context or OpenSSL
 * refuses (out of memory, a name over 255 bytes).
 */
struct tls_session *tls_session_new(struct tls_ctx *ctx, bool server, const char *sni_or_null);

/* Hands received ciphertext to the session. Returns 0, or TLS_ERROR after a failure. */
int tls_session_feed(struct tls_session *s, const void *cipher_in, size_t len);

/*
 * Advances the handshake as far as the fed bytes allow and appends all plaintext available to
 * plain_out. Returns the number of bytes appended (> 0), 0 when more input is needed,
 * TLS_CLOSED once the peer's close_notify has been read (plaintext before it is returned
 * first), or TLS_ERROR with tls_session_error() set, e.g.
 * "handshake failed: wrong version number". After any call, drain tls_session_pending_output().
 */
int tls_session_read(struct tls_session *s, struct buf *plain_out);

/*
 * Queues plaintext for the peer: encrypted at once after the handshake, kept until it
 * completes before. Returns 0, or TLS_ERROR after a failure or after tls_session_shutdown().
 */
int tls_session_write(struct tls_session *s, const void *plain, size_t len);

/*
 * Appends to cipher_out all ciphertext waiting for the socket (handshake records, alerts,
 * application data, close_notify). Returns the number of bytes appended (0 if none).
 */
int tls_session_pending_output(struct tls_session *s, struct buf *cipher_out);

/* Queues close_notify (if the handshake was done); later writes fail. Drain the output. */
void tls_session_shutdown(struct tls_session *s);

/* Frees the session and sets *s to NULL; NULL and *s == NULL are fine. */
void tls_session_free(struct tls_session **s);

bool tls_session_handshake_done(const struct tls_session *s);
/* Why the session failed, "" if it did not. */
const char *tls_session_error(const struct tls_session *s);
/* "TLSv1.3", "TLSv1.2"; "" before the handshake. */
const char *tls_session_version(const struct tls_session *s);
/* "TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"; "" before the handshake. */
const char *tls_session_cipher(const struct tls_session *s);
/* Secret bits of the cipher (256), 0 before the handshake; alg_bits_r (may be NULL) gets the algorithm's. */
int tls_session_cipher_bits(const struct tls_session *s, int *alg_bits_r);
/*
 * "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)", "" before the handshake: the text
 * of Postfix's log lines, and of Received: headers as "(using %s)".
 */
const char *tls_session_summary(const struct tls_session *s);
/* Client sessions: what the server's certificate proved. TLS_PEER_ANONYMOUS otherwise. */
enum tls_peer_trust tls_session_peer_trust(const struct tls_session *s);
/* "Anonymous", "Untrusted", "Trusted", "Verified". */
const char *tls_peer_trust_name(enum tls_peer_trust trust);
/* The common name of the peer's certificate subject, NULL if none. */
const char *tls_session_peer_cn(const struct tls_session *s);
/* Server sessions: the SNI the client sent, NULL if none. */
const char *tls_session_sni(const struct tls_session *s);

/*
 * Writes a self-signed certificate for hostname: EC P-256 key, subject CN=hostname,
 * subjectAltName DNS:hostname, valid 10 years, SHA-256. The key is written mode 0600 and the
 * certificate 0644, each through a temporary file renamed into place. hostname: 1-253 of
 * [A-Za-z0-9.-_]. Returns 0, or -1 with err set.
 */
int tls_generate_self_signed(const char *hostname, const char *cert_path, const char *key_path,
			     char *err, size_t errlen);

/* The certificate pair served: tls_cert and tls_key when set, else state_dir/tls/cert.pem and
 * key.pem (nothing is checked or generated). *cert_r and *key_r are allocated. */
void tls_cert_paths(const char *state_dir, const char *cfg_cert, const char *cfg_key, char **cert_r,
		    char **key_r);

/*
 * Decides the certificate pair to serve. With cfg_cert and cfg_key (tls_cert, tls_key) those,
 * unchecked (tls_server_ctx_new reports); one without the other is an error. With neither,
 * state_dir/tls/cert.pem and key.pem, generated (with the directories) when either is missing.
 * *cert_r and *key_r are allocated (free them). Returns 0, 1 when a pair was just generated,
 * or -1 with err set.
 */
int tls_ensure_cert(const char *state_dir, const char *hostname, const char *cfg_cert,
		    const char *cfg_key, char **cert_r, char **key_r, char *err, size_t errlen);

#endif
