/* sasl.h - SASL PLAIN (RFC 4616) and LOGIN decoding for SMTP AUTH and IMAP AUTHENTICATE. */
#ifndef MAIL_SASL_H
#define MAIL_SASL_H

#include <stddef.h>

#include "buf.h"

/* Longest accepted identities and password, in bytes (without the NUL). */
#define SASL_AUTHZID_MAX  255
#define SASL_AUTHCID_MAX  255
#define SASL_PASSWD_MAX   1024
/* Longest accepted base64 line for one response (enough for the three fields above). */
#define SASL_RESPONSE_MAX 2048

/* Return value of the decoders when the client sent "*": the exchange is cancelled
 * (SMTP: "501 5.0.0 Authentication cancelled"; IMAP: tagged BAD). */
#define SASL_CANCELLED 1

/* The LOGIN mechanism's server challenges, base64 of "Username:" and "Password:". */
#define SASL_LOGIN_CHALLENGE_USERNAME "VXNlcm5hbWU6"
#define SASL_LOGIN_CHALLENGE_PASSWORD "UGFzc3dvcmQ6"

enum sasl_login_field {
	SASL_LOGIN_USERNAME, /* checked like a PLAIN authcid */
	SASL_LOGIN_PASSWORD, /* checked like a PLAIN passwd */
};

/* Input conventions shared by the decoders: b64/len is one client response line without its
 * CRLF. "*" cancels (returns SASL_CANCELLED). "=" stands for an empty response (RFC 4954
 * initial response), which both mechanisms then reject. Anything else must be strict base64
 * (see base64.h) of at most SASL_RESPONSE_MAX characters.
 * Identities (authzid, authcid, LOGIN username) may hold any byte but NUL and the ASCII
 * control characters; passwords any byte but NUL. Each output buffer receives a NUL-terminated
 * string; a field longer than its *_MAX or than its buffer is an error. On error or cancel
 * every output buffer is wiped and left empty. Returns 0, SASL_CANCELLED, or -1 with *error_r
 * a static description suitable for a log line (never containing client data). */

/* PLAIN: base64 of "authzid NUL authcid NUL passwd". authzid may be empty (then the caller acts
 * as authcid); authcid and passwd must not be. */
int sasl_plain_decode(const char *b64, size_t len, char *authzid, size_t authzid_size,
		      char *authcid, size_t authcid_size, char *passwd, size_t passwd_size,
		      const char **error_r);

/* LOGIN: one step, the reply to SASL_LOGIN_CHALLENGE_USERNAME or _PASSWORD; field selects the
 * checks and the bound. The decoded string must not be empty. */
int sasl_login_decode_step(const char *b64, size_t len, enum sasl_login_field field, char *out,
			   size_t outsize, const char **error_r);

/* Client side: appends base64 of "authzid NUL authcid NUL passwd" to b (authzid may be ""). */
void sasl_plain_encode(struct buf *b, const char *authzid, const char *authcid, const char *passwd);

#endif
