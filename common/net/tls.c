/* tls.c - TLS engine over OpenSSL memory BIOs, contexts with certificate reload, self-signed generation. */
#include "tls.h"
#include "fileutil.h"
#include "xalloc.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* TLS 1.2 suites for servers: forward secrecy and AEAD only, strongest first. */
#define TLS_SERVER_CIPHERS                                           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
/* TLS 1.3 suites for servers, in our order of preference. */
#define TLS_SERVER_SUITES \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

#define TLS_READ_CHUNK       16384
#define TLS_READ_MAX         (1 << 30) /* plaintext returned by one tls_session_read() */
#define TLS_SELF_SIGNED_DAYS 3650
#define TLS_HOSTNAME_MAX     253
#define TLS_IDLE_KEEP        65536 /* buffer bytes an idle session may keep */

struct tls_ctx {
	SSL_CTX *ssl_ctx; /* the current one: each SSL holds its own reference */
	bool server;
};

struct tls_session {
	SSL *ssl;  /* owns rbio and wbio */
	BIO *rbio; /* ciphertext from the peer */
	BIO *wbio; /* ciphertext for the peer */
	bool server;
	bool done; /* handshake complete */
	bool failed;
	bool peer_closed;  /* close_notify received */
	bool shut;         /* tls_session_shutdown() called */
	bool chain_failed; /* client: a chain verification error was seen */
	bool name_failed;  /* client: the name did not match */
	bool has_name;     /* client: a name was given to check */
	bool dane;         /* client: TLSA records were given */
	int verify_error;  /* client: the first chain or name error seen, X509_V_OK if none */
	struct buf queued; /* plaintext written before the handshake completed */
	enum tls_peer_trust trust;
	char *peer_cn;
	char summary[192];
	char error[256];
};

/* The reason of the oldest error on OpenSSL's queue (the root cause), which it then clears. */
static void tls_err_reason(char *out, size_t outlen, const char *fallback)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	if (r)
		snprintf(out, outlen, "%s", r);
	else if (e)
		snprintf(out, outlen, "error %d", ERR_GET_REASON(e));
	else
		snprintf(out, outlen, "%s", fallback);
	ERR_clear_error();
}

static void tls_set_err(char *err, size_t errlen, const char *what, const char *arg)
{
	char reason[200];
	tls_err_reason(reason, sizeof(reason), "unknown error");
	if (arg)
		snprintf(err, errlen, "%s %s: %s", what, arg, reason);
	else
		snprintf(err, errlen, "%s: %s", what, reason);
}

/* Settings every context shares. */
static int tls_ctx_common(SSL_CTX *c)
{
	if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1)
		return -1;
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
	return 0;
}

static SSL_CTX *tls_server_ssl_ctx(const char *cert_file, const char *key_file, char *err,
				   size_t errlen)
{
	ERR_clear_error();
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());
	if (!c) {
		tls_set_err(err, errlen, "cannot create TLS context", NULL);
		return NULL;
	}
	if (tls_ctx_common(c) < 0 || SSL_CTX_set_cipher_list(c, TLS_SERVER_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(c, TLS_SERVER_SUITES) != 1 ||
	    SSL_CTX_set_session_id_context(c, (const unsigned char *)"mail", 4) != 1) {
		tls_set_err(err, errlen, "cannot configure TLS context", NULL);
		goto fail;
	}
	SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1) {
		tls_set_err(err, errlen, "cannot load certificate", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();
		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			goto mismatch;
		tls_set_err(err, errlen, "cannot load key", key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(c) != 1)
		goto mismatch;
	return c;
mismatch:
	ERR_clear_error();
	snprintf(err, errlen, "key %s does not match certificate %s", key_file, cert_file);
fail:
	SSL_CTX_free(c);
	return NULL;
}

struct tls_ctx *tls_server_ctx_new(const char *cert_file, const char *key_file, char *err,
				   size_t errlen)
{
	SSL_CTX *c = tls_server_ssl_ctx(cert_file, key_file, err, errlen);
	if (!c)
		return NULL;
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->ssl_ctx = c;
	ctx->server = true;
	return ctx;
}

/* Records what the chain check found; never fails the handshake (opportunistic TLS). */
static int tls_verify_cb(int ok, X509_STORE_CTX *xs)
{
	if (ok)
		return 1;
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_session *s = ssl ? SSL_get_app_data(ssl) : NULL;
	if (s) {
		int e = X509_STORE_CTX_get_error(xs);
		if (s->verify_error == X509_V_OK)
			s->verify_error = e;
		if (e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH)
			s->name_failed = true;
		else
			s->chain_failed = true;
	}
	return 1;
}

/* The system trust store, read on demand: OpenSSL's hashed certificate directory (SSL_CERT_DIR,
 * else OPENSSLDIR/certs) gives the one root a chain needs, when it needs it; the bundle file is
 * parsed only when SSL_CERT_FILE names one. (SSL_CTX_set_default_verify_paths() would parse the
 * whole default bundle at start: ~140 roots, 0.8 MiB of heap for the daemon's lifetime.) Like
 * that function, a missing file or directory is no error: the chain is then Untrusted. */
static int tls_client_trust(SSL_CTX *c)
{
	X509_STORE *store = SSL_CTX_get_cert_store(c);
	const char *file = secure_getenv(X509_get_default_cert_file_env());
	if (file && *file)
		X509_STORE_load_file(store, file);
	X509_LOOKUP *dir = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
	if (!dir)
		return -1;
	X509_LOOKUP_add_dir(dir, NULL, X509_FILETYPE_DEFAULT);
	ERR_clear_error();
	return 0;
}

struct tls_ctx *tls_client_ctx_new(char *err, size_t errlen)
{
	ERR_clear_error();
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (!c) {
		tls_set_err(err, errlen, "cannot create TLS context", NULL);
		return NULL;
	}
	if (tls_ctx_common(c) < 0) {
		tls_set_err(err, errlen, "cannot configure TLS context", NULL);
		SSL_CTX_free(c);
		return NULL;
	}
	if (tls_client_trust(c) < 0) {
		tls_set_err(err, errlen, "cannot load the system trust store", NULL);
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, tls_verify_cb);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_dane_enable(c) <= 0) {
		tls_set_err(err, errlen, "cannot enable DANE", NULL);
		SSL_CTX_free(c);
		return NULL;
	}
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->ssl_ctx = c;
	ctx->server = false;
	return ctx;
}

int tls_client_ctx_set_ca_file(struct tls_ctx *ctx, const char *ca_file, char *err, size_t errlen)
{
	ERR_clear_error();
	if (ctx->server) {
		snprintf(err, errlen, "not a client TLS context");
		return -1;
	}
	X509_STORE *store = X509_STORE_new();
	if (!store || X509_STORE_load_file(store, ca_file) != 1) {
		X509_STORE_free(store);
		tls_set_err(err, errlen, "cannot load CA file", ca_file);
		return -1;
	}
	SSL_CTX_set_cert_store(ctx->ssl_ctx, store); /* frees the old one */
	return 0;
}

int tls_ctx_reload(struct tls_ctx *ctx, const char *cert_file, const char *key_file, char *err,
		   size_t errlen)
{
	if (!ctx->server) {
		snprintf(err, errlen, "not a server TLS context");
		return -1;
	}
	SSL_CTX *c = tls_server_ssl_ctx(cert_file, key_file, err, errlen);
	if (!c)
		return -1;
	SSL_CTX_free(ctx->ssl_ctx); /* sessions hold their own references */
	ctx->ssl_ctx = c;
	return 0;
}

void tls_ctx_free(struct tls_ctx **ctx)
{
	if (!ctx || !*ctx)
		return;
	SSL_CTX_free((*ctx)->ssl_ctx);
	free(*ctx);
	*ctx = NULL;
}

/* A fresh, empty memory BIO: an empty one means "no data yet", never end of file. */
static BIO *tls_mem_bio(void)
{
	BIO *b = BIO_new(BIO_s_mem());
	if (b)
		BIO_set_mem_eof_return(b, -1);
	return b;
}

/* Memory BIOs keep their largest size; once drained, a big one is swapped for a new one. */
static void tls_session_trim(struct tls_session *s)
{
	BUF_MEM *bm = NULL;
	BIO *b;
	if (BIO_ctrl_pending(s->rbio) == 0 && BIO_get_mem_ptr(s->rbio, &bm) == 1 && bm &&
	    bm->max > TLS_IDLE_KEEP && (b = tls_mem_bio())) {
		SSL_set0_rbio(s->ssl, b); /* frees the old one */
		s->rbio = b;
	}
	bm = NULL;
	if (BIO_ctrl_pending(s->wbio) == 0 && BIO_get_mem_ptr(s->wbio, &bm) == 1 && bm &&
	    bm->max > TLS_IDLE_KEEP && (b = tls_mem_bio())) {
		SSL_set0_wbio(s->ssl, b); /* frees the old one */
		s->wbio = b;
	}
	if (s->queued.len == 0 && s->queued.cap > TLS_IDLE_KEEP)
		buf_free(&s->queued);
	ERR_clear_error();
}

static int tls_session_fail(struct tls_session *s, const char *what, int sslerr)
{
	char reason[200];
	tls_err_reason(reason, sizeof(reason),
		       sslerr == SSL_ERROR_SYSCALL ? "unexpected end of input" : "protocol error");
	snprintf(s->error, sizeof(s->error), "%s: %s", what, reason);
	s->failed = true;
	return TLS_ERROR;
}

/* The certificate subject's CN as printable text, or NULL. */
static char *tls_cert_cn(X509 *cert)
{
	X509_NAME *name = X509_get_subject_name(cert);
	int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
	if (i < 0)
		return NULL;
	ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, data);
	if (n < 0) {
		ERR_clear_error();
		return NULL;
	}
	char *cn = xstrndup((const char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	for (char *p = cn; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return cn;
}

static void tls_session_established(struct tls_session *s)
{
	s->done = true;
	int alg_bits = 0;
	int bits = SSL_get_cipher_bits(s->ssl, &alg_bits);
	snprintf(s->summary, sizeof(s->summary), "%s with cipher %s (%d/%d bits)",
		 SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl), bits, alg_bits);
	X509 *peer = SSL_get0_peer_certificate(s->ssl);
	if (peer)
		s->peer_cn = tls_cert_cn(peer);
	if (s->server || !peer)
		s->trust = TLS_PEER_ANONYMOUS;
	else if (s->chain_failed || (!s->name_failed && SSL_get_verify_result(s->ssl) != X509_V_OK))
		s->trust = TLS_PEER_UNTRUSTED;
	else if (s->name_failed || !s->has_name)
		s->trust = TLS_PEER_TRUSTED;
	else
		s->trust = TLS_PEER_VERIFIED;
}

/* Encrypts up to len bytes into the output BIO; *done_r tells how many were taken. */
static int tls_session_encrypt(struct tls_session *s, const char *p, size_t len, size_t *done_r)
{
	*done_r = 0;
	while (*done_r < len) {
		size_t n = len - *done_r < TLS_READ_MAX ? len - *done_r : TLS_READ_MAX;
		size_t done = 0;
		ERR_clear_error();
		int r = SSL_write_ex(s->ssl, p + *done_r, n, &done);
		if (r != 1) {
			int e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return 0;
			return tls_session_fail(s, "write failed", e);
		}
		*done_r += done;
	}
	return 0;
}

/* Encrypts the plaintext queued while the handshake ran. */
static int tls_session_flush(struct tls_session *s)
{
	if (s->queued.len == 0)
		return 0;
	size_t done;
	int r = tls_session_encrypt(s, s->queued.data, s->queued.len, &done);
	buf_consume(&s->queued, done);
	return r;
}

static struct tls_session *tls_session_create(struct tls_ctx *ctx, bool server,
					      const char *sni_or_null,
					      const struct tls_client_check *chk);

/* Moves the handshake on with what was fed; flushes queued plaintext once done. */
static int tls_session_advance(struct tls_session *s)
{
	if (s->failed)
		return TLS_ERROR;
	if (!s->done) {
		ERR_clear_error();
		int r = SSL_do_handshake(s->ssl);
		if (r != 1) {
			int e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return 0;
			return tls_session_fail(s, "handshake failed", e);
		}
		tls_session_established(s);
	}
	return tls_session_flush(s);
}

struct tls_session *tls_session_new(struct tls_ctx *ctx, bool server, const char *sni_or_null)
{
	return server ? tls_session_create(ctx, true, NULL, NULL)
		      : tls_client_session_new(ctx, sni_or_null, NULL);
}

/* Adds the checks of chk to a client SSL before its ClientHello. */
static int tls_client_checks(struct tls_session *s, const char *sni,
			     const struct tls_client_check *chk)
{
	SSL *ssl = s->ssl;
	if (chk->n_tlsa > 0) {
		const char *base = chk->dane_base ? chk->dane_base : sni;
		if (!base || SSL_dane_enable(ssl, base) <= 0)
			return -1;
		SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
		size_t usable = 0;
		for (size_t i = 0; i < chk->n_tlsa; i++) {
			const struct tls_tlsa *t = &chk->tlsa[i];
			/* 0: unusable (unsupported parameters); -1: malformed data */
			if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype, t->data,
					      t->len) > 0)
				usable++;
			ERR_clear_error();
		}
		if (usable == 0)
			return -1;
		s->dane = true;
		s->has_name = true;
	}
	for (size_t i = 0; i < chk->n_names; i++) {
		if (SSL_add1_host(ssl, chk->names[i]) != 1)
			return -1;
		s->has_name = true;
	}
	return 0;
}

struct tls_session *tls_client_session_new(struct tls_ctx *ctx, const char *sni_or_null,
					   const struct tls_client_check *chk)
{
	return tls_session_create(ctx, false, sni_or_null, chk);
}

static struct tls_session *tls_session_create(struct tls_ctx *ctx, bool server,
					      const char *sni_or_null,
					      const struct tls_client_check *chk)
{
	if (!ctx || server != ctx->server)
		return NULL;
	ERR_clear_error();
	SSL *ssl = SSL_new(ctx->ssl_ctx);
	BIO *rbio = tls_mem_bio();
	BIO *wbio = tls_mem_bio();
	if (!ssl || !rbio || !wbio) {
		SSL_free(ssl);
		BIO_free(rbio);
		BIO_free(wbio);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_bio(ssl, rbio, wbio);

	struct tls_session *s = xcalloc(1, sizeof(*s));
	s->ssl = ssl;
	s->rbio = rbio;
	s->wbio = wbio;
	s->server = server;
	buf_init(&s->queued);
	SSL_set_app_data(ssl, s);
	if (server) {
		SSL_set_accept_state(ssl);
		return s;
	}
	SSL_set_connect_state(ssl);
	if (sni_or_null && *sni_or_null) {
		/* An address literal is checked as such and not sent as SNI (RFC 6066 3). */
		unsigned char ip[16];
		bool is_ip = inet_pton(AF_INET, sni_or_null, ip) == 1 ||
			     inet_pton(AF_INET6, sni_or_null, ip) == 1;
		bool own_names = chk && (chk->n_names > 0 || chk->n_tlsa > 0);
		if (is_ip ? !own_names && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
									sni_or_null) != 1
			  : (SSL_set_tlsext_host_name(ssl, sni_or_null) != 1 ||
			     (!own_names && SSL_set1_host(ssl, sni_or_null) != 1))) {
			tls_session_free(&s);
			ERR_clear_error();
			return NULL;
		}
		s->has_name = true;
	}
	if (chk && tls_client_checks(s, sni_or_null, chk) < 0) {
		tls_session_free(&s);
		ERR_clear_error();
		return NULL;
	}
	tls_session_advance(s); /* the ClientHello */
	return s;
}

int tls_session_feed(struct tls_session *s, const void *cipher_in, size_t len)
{
	if (s->failed)
		return TLS_ERROR;
	const char *p = cipher_in;
	while (len > 0) {
		size_t n = len < INT_MAX ? len : INT_MAX;
		size_t done = 0;
		if (BIO_write_ex(s->rbio, p, n, &done) != 1) {
			snprintf(s->error, sizeof(s->error), "out of memory buffering input");
			s->failed = true;
			ERR_clear_error();
			return TLS_ERROR;
		}
		p += done;
		len -= done;
	}
	return 0;
}

int tls_session_read(struct tls_session *s, struct buf *plain_out)
{
	if (s->failed)
		return TLS_ERROR;
	if (s->peer_closed)
		return TLS_CLOSED;
	if (tls_session_advance(s) < 0)
		return TLS_ERROR;
	if (!s->done)
		return 0;
	size_t total = 0;
	while (total < TLS_READ_MAX) {
		buf_reserve(plain_out, TLS_READ_CHUNK);
		size_t got = 0;
		ERR_clear_error();
		int r = SSL_read_ex(s->ssl, plain_out->data + plain_out->len, TLS_READ_CHUNK, &got);
		if (r == 1) {
			plain_out->len += got;
			plain_out->data[plain_out->len] = '\0';
			total += got;
			continue;
		}
		int e = SSL_get_error(s->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			s->peer_closed = true;
			break;
		}
		return tls_session_fail(s, "read failed", e);
	}
	tls_session_trim(s);
	if (total > 0)
		return (int)total;
	return s->peer_closed ? TLS_CLOSED : 0;
}

int tls_session_write(struct tls_session *s, const void *plain, size_t len)
{
	if (s->failed || s->shut)
		return TLS_ERROR;
	if (!s->done || s->queued.len > 0) {
		buf_append(&s->queued, plain, len);
		return s->done ? tls_session_flush(s) : 0;
	}
	size_t done;
	int r = tls_session_encrypt(s, plain, len, &done);
	if (r == 0 && done < len)
		buf_append(&s->queued, (const char *)plain + done, len - done);
	return r;
}

int tls_session_pending_output(struct tls_session *s, struct buf *cipher_out)
{
	size_t total = 0;
	size_t n;
	while (total < TLS_READ_MAX && (n = BIO_ctrl_pending(s->wbio)) > 0) {
		if (n > TLS_READ_MAX - total)
			n = TLS_READ_MAX - total;
		buf_reserve(cipher_out, n);
		size_t got = 0;
		if (BIO_read_ex(s->wbio, cipher_out->data + cipher_out->len, n, &got) != 1 ||
		    got == 0)
			break;
		cipher_out->len += got;
		cipher_out->data[cipher_out->len] = '\0';
		total += got;
	}
	tls_session_trim(s);
	return (int)total;
}

void tls_session_shutdown(struct tls_session *s)
{
	if (s->shut)
		return;
	s->shut = true;
	if (!s->done || s->failed)
		return;
	ERR_clear_error();
	SSL_shutdown(s->ssl);
	ERR_clear_error();
}

void tls_session_free(struct tls_session **sp)
{
	if (!sp || !*sp)
		return;
	struct tls_session *s = *sp;
	SSL_free(s->ssl);
	buf_free(&s->queued);
	free(s->peer_cn);
	free(s);
	*sp = NULL;
}

bool tls_session_handshake_done(const struct tls_session *s)
{
	return s->done;
}

const char *tls_session_error(const struct tls_session *s)
{
	return s->error;
}

const char *tls_session_version(const struct tls_session *s)
{
	return s->done ? SSL_get_version(s->ssl) : "";
}

const char *tls_session_cipher(const struct tls_session *s)
{
	return s->done ? SSL_get_cipher_name(s->ssl) : "";
}

int tls_session_cipher_bits(const struct tls_session *s, int *alg_bits_r)
{
	int alg_bits = 0;
	int bits = s->done ? SSL_get_cipher_bits(s->ssl, &alg_bits) : 0;
	if (alg_bits_r)
		*alg_bits_r = alg_bits;
	return bits;
}

const char *tls_session_summary(const struct tls_session *s)
{
	return s->summary;
}

enum tls_peer_trust tls_session_peer_trust(const struct tls_session *s)
{
	return s->trust;
}

const char *tls_peer_trust_name(enum tls_peer_trust trust)
{
	switch (trust) {
	case TLS_PEER_UNTRUSTED:
		return "Untrusted";
	case TLS_PEER_TRUSTED:
		return "Trusted";
	case TLS_PEER_VERIFIED:
		return "Verified";
	case TLS_PEER_ANONYMOUS:
		break;
	}
	return "Anonymous";
}

const char *tls_session_peer_cn(const struct tls_session *s)
{
	return s->peer_cn;
}

bool tls_session_dane_verified(const struct tls_session *s)
{
	return !s->server && s->done && s->dane && !s->chain_failed && !s->name_failed &&
	       SSL_get_verify_result(s->ssl) == X509_V_OK &&
	       SSL_get0_dane_authority(s->ssl, NULL, NULL) >= 0;
}

bool tls_session_cert_expired(const struct tls_session *s)
{
	if (s->server || !s->done)
		return false;
	int e = s->verify_error != X509_V_OK ? s->verify_error : (int)SSL_get_verify_result(s->ssl);
	return e == X509_V_ERR_CERT_HAS_EXPIRED;
}

const char *tls_session_verify_error(const struct tls_session *s)
{
	if (s->server || !s->done)
		return "";
	int e = s->verify_error != X509_V_OK ? s->verify_error : (int)SSL_get_verify_result(s->ssl);
	return e == X509_V_OK ? "" : X509_verify_cert_error_string(e);
}

const char *tls_session_sni(const struct tls_session *s)
{
	if (!s->server)
		return NULL;
	return SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name);
}

/* Self-signed certificates. */

static bool tls_hostname_ok(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > TLS_HOSTNAME_MAX)
		return false;
	for (const char *p = h; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static int tls_add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	if (!ext)
		return -1;
	int r = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return r == 1 ? 0 : -1;
}

static int tls_add_san(X509 *x, const char *hostname)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	int r = -1;
	if (!gens || !gn || !ia5 || ASN1_STRING_set(ia5, hostname, -1) != 1) {
		ASN1_IA5STRING_free(ia5);
		GENERAL_NAME_free(gn);
		goto out;
	}
	GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
	if (!sk_GENERAL_NAME_push(gens, gn)) {
		GENERAL_NAME_free(gn);
		goto out;
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1)
		r = 0;
out:
	GENERAL_NAMES_free(gens);
	return r;
}

/* Builds and signs the certificate; NULL with the OpenSSL error queue set on failure. */
static X509 *tls_make_cert(const char *hostname, EVP_PKEY *pkey)
{
	X509 *x = X509_new();
	BIGNUM *serial = BN_new();
	if (!x || !serial)
		goto fail;
	unsigned char rnd[16];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto fail;
	rnd[0] &= 0x7f; /* positive */
	rnd[0] |= 0x01; /* and of full length */
	if (!BN_bin2bn(rnd, sizeof(rnd), serial) ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)))
		goto fail;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), TLS_SELF_SIGNED_DAYS, 0, NULL))
		goto fail;
	X509_NAME *name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname,
				       -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, pkey) != 1)
		goto fail;
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (tls_add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    tls_add_ext(x, &v3, NID_subject_key_identifier, "hash") < 0 ||
	    tls_add_ext(x, &v3, NID_ext_key_usage, "serverAuth") < 0 ||
	    tls_add_san(x, hostname) < 0)
		goto fail;
	if (X509_sign(x, pkey, EVP_sha256()) <= 0)
		goto fail;
	BN_free(serial);
	return x;
fail:
	BN_free(serial);
	X509_free(x);
	return NULL;
}

static int tls_emit_key(BIO *b, void *arg)
{
	return PEM_write_bio_PrivateKey(b, arg, NULL, NULL, 0, NULL, NULL);
}

static int tls_emit_cert(BIO *b, void *arg)
{
	return PEM_write_bio_X509(b, arg);
}

/* Writes path (relative to dirfd, or AT_FDCWD) with the given mode through a fresh temporary
 * file (O_EXCL, never through a link) renamed into place; the directory is fsynced. */
static int tls_write_pem(int dirfd, const char *path, mode_t mode, int (*emit)(BIO *, void *),
			 void *arg, char *err, size_t errlen)
{
	static unsigned seq;
	char *tmp = NULL;
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 100; tries++) {
		free(tmp);
		tmp = xasprintf("%s.%ld.%u", path, (long)getpid(), seq++);
		fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	const char *what = "write";
	if (fchmod(fd, mode) < 0) {
		what = "chmod";
		goto fail;
	}
	errno = 0;
	BIO *b = BIO_new_fd(fd, BIO_NOCLOSE);
	int ok = b && emit(b, arg) == 1;
	BIO_free(b);
	ERR_clear_error();
	if (!ok) {
		errno = errno ? errno : EIO;
		goto fail;
	}
	if (fsync(fd) < 0) {
		what = "fsync";
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, path) < 0) {
		what = "rename";
		goto fail;
	}
	if (dirfd == AT_FDCWD) {
		(void)fsync_parent(path);
	} else {
		int d = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d >= 0) {
			(void)fsync(d);
			close(d);
		}
	}
	free(tmp);
	return 0;
fail:
	snprintf(err, errlen, "cannot %s %s: %s", what, tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	free(tmp);
	return -1;
}

/* tls_generate_self_signed, the two paths relative to dirfd. */
static int tls_generate_at(int dirfd, const char *hostname, const char *cert_path,
			   const char *key_path, char *err, size_t errlen)
{
	if (!hostname || !tls_hostname_ok(hostname)) {
		snprintf(err, errlen, "cannot make a certificate for host name \"%s\"",
			 hostname ? hostname : "");
		return -1;
	}
	ERR_clear_error();
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	if (!pkey) {
		tls_set_err(err, errlen, "cannot generate key", NULL);
		return -1;
	}
	X509 *x = tls_make_cert(hostname, pkey);
	int r = -1;
	if (!x)
		tls_set_err(err, errlen, "cannot make certificate for", hostname);
	else if (tls_write_pem(dirfd, key_path, 0600, tls_emit_key, pkey, err, errlen) == 0 &&
		 tls_write_pem(dirfd, cert_path, 0644, tls_emit_cert, x, err, errlen) == 0)
		r = 0;
	X509_free(x);
	EVP_PKEY_free(pkey);
	return r;
}

int tls_generate_self_signed(const char *hostname, const char *cert_path, const char *key_path,
			     char *err, size_t errlen)
{
	return tls_generate_at(AT_FDCWD, hostname, cert_path, key_path, err, errlen);
}

/* mkdir -p of state_dir itself (the administrator's path: followed). */
static void tls_mkdirs(const char *path)
{
	char *p = xstrdup(path);
	for (char *s = p + 1;; s++) {
		bool last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		(void)mkdir(p, 0755);
		if (last)
			break;
		*s = '/';
	}
	free(p);
}

/* name in dirfd: 1 a regular file with one link, 0 missing, -1 anything else (err set). */
static int tls_pem_present(int dirfd, const char *dir, const char *name, char *err, size_t errlen)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISREG(st.st_mode) && st.st_nlink == 1)
		return 1;
	snprintf(err, errlen, "%s/%s %s: refusing to use it as root", dir, name,
		 open_beneath_error(S_ISLNK(st.st_mode)   ? -ELOOP
				    : S_ISREG(st.st_mode) ? -EMLINK
							  : -EINVAL));
	return -1;
}

void tls_cert_paths(const char *state_dir, const char *cfg_cert, const char *cfg_key, char **cert_r,
		    char **key_r)
{
	*cert_r = cfg_cert ? xstrdup(cfg_cert) : xasprintf("%s/tls/cert.pem", state_dir);
	*key_r = cfg_key ? xstrdup(cfg_key) : xasprintf("%s/tls/key.pem", state_dir);
}

int tls_ensure_cert(const char *state_dir, const char *hostname, const char *cfg_cert,
		    const char *cfg_key, char **cert_r, char **key_r, char *err, size_t errlen)
{
	*cert_r = *key_r = NULL;
	if (cfg_cert || cfg_key) {
		if (!cfg_cert || !cfg_key) {
			snprintf(err, errlen, "tls_cert and tls_key must be set together");
			return -1;
		}
		*cert_r = xstrdup(cfg_cert);
		*key_r = xstrdup(cfg_key);
		return 0;
	}
	/* state_dir is run_user's: root walks to tls/ without following a link, and writes
	 * and checks inside it through that descriptor only (docs/security.md). */
	char *dir = xasprintf("%s/tls", state_dir);
	char *cert, *key;
	tls_cert_paths(state_dir, NULL, NULL, &cert, &key);
	int r, c, k;
	tls_mkdirs(state_dir);
	int dfd = open_beneath(state_dir, "tls", S_IFDIR, 0700, NULL);
	if (dfd < 0) {
		snprintf(err, errlen, "%s %s: refusing to use it as root", dir,
			 open_beneath_error(dfd));
		r = -1;
	} else if ((c = tls_pem_present(dfd, dir, "cert.pem", err, errlen)) < 0 ||
		   (k = tls_pem_present(dfd, dir, "key.pem", err, errlen)) < 0) {
		r = -1;
	} else if (c && k) {
		r = 0;
	} else {
		/* mtad and imapd may both start on a fresh state_dir: one generates, the other
		 * waits for the lock and then finds the pair. */
		int lock = open_lock_file_at(dfd, ".generate.lock", 0600);
		if (lock >= 0)
			(void)flock(lock, LOCK_EX);
		if ((c = tls_pem_present(dfd, dir, "cert.pem", err, errlen)) < 0 ||
		    (k = tls_pem_present(dfd, dir, "key.pem", err, errlen)) < 0)
			r = -1;
		else if (c && k)
			r = 0;
		else if (tls_generate_at(dfd, hostname, "cert.pem", "key.pem", err, errlen) < 0)
			r = -1;
		else
			r = 1;
		if (lock >= 0)
			close(lock);
	}
	if (dfd >= 0)
		close(dfd);
	free(dir);
	if (r < 0) {
		free(cert);
		free(key);
		return -1;
	}
	*cert_r = cert;
	*key_r = key;
	return r;
}
