/* test_tls.c - the TLS engine against itself, raw OpenSSL peers and the openssl s_client/s_server programs. */
#include "tls.h"
#include "buf.h"
#include "xalloc.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define HOST "mx.example.test"

static char tdir[64];
static char cert_path[128], key_path[128];

static char *tpath(const char *name)
{
	return xasprintf("%s/%s", tdir, name);
}

/* Runs argv to completion; returns its exit status. */
static int test_run(char *const argv[])
{
	pid_t pid = fork();
	cr_assert(eq(int, !!(pid >= 0), 1));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	cr_assert(eq(int, !!(waitpid(pid, &st, 0) == pid), 1));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_rmrf(const char *dir)
{
	char *argv[] = { "rm", "-rf", (char *)dir, NULL };
	test_run(argv);
}

static void setup_dir(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/test_tls.XXXXXX");
	cr_assert(eq(int, !!(mkdtemp(tdir)), 1));
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tdir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tdir);
	/* No trust anchor but the ones a test names. */
	char *empty = tpath("empty.pem");
	FILE *f = fopen(empty, "w");
	cr_assert(eq(int, !!(f), 1));
	fclose(f);
	setenv("SSL_CERT_FILE", empty, 1);
	setenv("SSL_CERT_DIR", tdir, 1);
	free(empty);
}

static void setup_cert(void)
{
	setup_dir();
	char err[256] = "";
	cr_assert(eq(int, tls_generate_self_signed(HOST, cert_path, key_path, err, sizeof(err)), 0),
		  "%s", err);
}

static void teardown_dir(void)
{
	test_rmrf(tdir);
}

/* The engine on both ends. */

struct pumped {
	int c_rc, s_rc; /* the last negative result of tls_session_read, 0 if none */
};

static void pump_read(struct tls_session *t, struct buf *plain, int *rc)
{
	int r = tls_session_read(t, plain);
	if (r < 0 && *rc == 0)
		*rc = r;
}

/* Moves bytes between a client and a server session until neither has anything to say. */
static struct pumped pump(struct tls_session *c, struct tls_session *s, struct buf *c_plain,
			  struct buf *s_plain)
{
	struct pumped p = { 0, 0 };
	struct buf wire;
	buf_init(&wire);
	for (int i = 0; i < 1000; i++) {
		bool moved = false;
		pump_read(c, c_plain, &p.c_rc);
		buf_reset(&wire);
		if (tls_session_pending_output(c, &wire) > 0) {
			moved = true;
			tls_session_feed(s, wire.data, wire.len);
		}
		pump_read(s, s_plain, &p.s_rc);
		buf_reset(&wire);
		if (tls_session_pending_output(s, &wire) > 0) {
			moved = true;
			tls_session_feed(c, wire.data, wire.len);
		}
		if (!moved)
			break;
	}
	buf_free(&wire);
	return p;
}

static struct tls_ctx *server_ctx(void)
{
	char err[256] = "";
	struct tls_ctx *ctx = tls_server_ctx_new(cert_path, key_path, err, sizeof(err));
	cr_assert(eq(int, !!(ctx), 1), "%s", err);
	return ctx;
}

static struct tls_ctx *client_ctx(void)
{
	char err[256] = "";
	struct tls_ctx *ctx = tls_client_ctx_new(err, sizeof(err));
	cr_assert(eq(int, !!(ctx), 1), "%s", err);
	return ctx;
}

static void fill_random(struct buf *b, size_t n, unsigned seed)
{
	buf_reserve(b, n);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b->data[b->len + i] = (char)(seed >> 16);
	}
	b->len += n;
	b->data[b->len] = '\0';
}

TestSuite(tls, .init = setup_cert, .fini = teardown_dir, .timeout = 30);

Test(tls, tls13_handshake_exchange_and_close)
{
	struct tls_ctx *sctx = server_ctx(), *cctx = client_ctx();
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct tls_session *c = tls_session_new(cctx, false, HOST);
	cr_assert(eq(int, !!(s && c), 1));
	struct buf cp, sp;
	buf_init(&cp);
	buf_init(&sp);

	struct pumped p = pump(c, s, &cp, &sp);
	cr_assert(eq(int, p.c_rc, 0), "%s", tls_session_error(c));
	cr_assert(eq(int, p.s_rc, 0), "%s", tls_session_error(s));
	cr_assert(eq(int, !!(tls_session_handshake_done(c) && tls_session_handshake_done(s)), 1));
	cr_assert(eq(str, (char *)tls_session_version(s), "TLSv1.3"));
	cr_assert(eq(str, (char *)tls_session_version(c), "TLSv1.3"));
	cr_assert(eq(str, (char *)tls_session_cipher(s), "TLS_AES_256_GCM_SHA384"));
	int alg = 0;
	cr_assert(eq(int, tls_session_cipher_bits(s, &alg), 256));
	cr_assert(eq(int, alg, 256));
	cr_assert(eq(str, (char *)tls_session_summary(s),
		     "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"));
	cr_assert(eq(str, (char *)tls_session_summary(c), (char *)tls_session_summary(s)));
	cr_assert(eq(str, (char *)tls_session_sni(s), HOST));
	cr_assert(eq(str, (char *)tls_session_peer_cn(c), HOST));
	cr_assert(eq(ptr, (void *)tls_session_peer_cn(s), NULL));
	cr_assert(eq(int, tls_session_peer_trust(c), TLS_PEER_UNTRUSTED));
	cr_assert(eq(str, (char *)tls_peer_trust_name(tls_session_peer_trust(c)), "Untrusted"));
	cr_assert(eq(int, tls_session_peer_trust(s), TLS_PEER_ANONYMOUS));
	cr_assert(eq(int, cp.len, 0));
	cr_assert(eq(int, sp.len, 0));

	/* A small exchange each way. */
	cr_assert(eq(int, tls_session_write(c, "EHLO client\r\n", 13), 0));
	pump(c, s, &cp, &sp);
	cr_assert(eq(str, sp.data, "EHLO client\r\n"));
	cr_assert(eq(int, tls_session_write(s, "250 ok\r\n", 8), 0));
	pump(c, s, &cp, &sp);
	cr_assert(eq(str, cp.data, "250 ok\r\n"));

	/* 1 MiB each way, at the same time. */
	struct buf big_c, big_s;
	buf_init(&big_c);
	buf_init(&big_s);
	fill_random(&big_c, 1 << 20, 1);
	fill_random(&big_s, 1 << 20, 2);
	buf_reset(&cp);
	buf_reset(&sp);
	cr_assert(eq(int, tls_session_write(c, big_c.data, big_c.len), 0));
	cr_assert(eq(int, tls_session_write(s, big_s.data, big_s.len), 0));
	p = pump(c, s, &cp, &sp);
	cr_assert(eq(int, p.c_rc + p.s_rc, 0));
	cr_assert(eq(sz, sp.len, big_c.len));
	cr_assert(eq(int, !!(memcmp(sp.data, big_c.data, big_c.len) == 0), 1));
	cr_assert(eq(sz, cp.len, big_s.len));
	cr_assert(eq(int, !!(memcmp(cp.data, big_s.data, big_s.len) == 0), 1));

	/* close_notify both ways; writing after shutdown fails. */
	tls_session_shutdown(c);
	cr_assert(eq(int, tls_session_write(c, "x", 1), TLS_ERROR));
	p = pump(c, s, &cp, &sp);
	cr_assert(eq(int, p.s_rc, TLS_CLOSED));
	cr_assert(eq(int, p.c_rc, 0));
	tls_session_shutdown(s);
	p = pump(c, s, &cp, &sp);
	cr_assert(eq(int, p.c_rc, TLS_CLOSED));
	cr_assert(eq(int, tls_session_read(c, &cp), TLS_CLOSED));

	buf_free(&big_c);
	buf_free(&big_s);
	buf_free(&cp);
	buf_free(&sp);
	tls_session_free(&c);
	tls_session_free(&s);
	cr_assert(eq(ptr, c, NULL));
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
	cr_assert(eq(ptr, sctx, NULL));
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

Test(tls, idle_session_gives_back_its_buffers)
{
	struct tls_ctx *sctx = server_ctx(), *cctx = client_ctx();
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct tls_session *c = tls_session_new(cctx, false, NULL);
	struct buf cp, sp, big;
	buf_init(&cp);
	buf_init(&sp);
	buf_init(&big);
	pump(c, s, &cp, &sp);
	cr_assert(eq(int, !!(tls_session_handshake_done(c)), 1));
	fill_random(&big, 4 << 20, 3);
	size_t before = heap_in_use();
	/* Written in pieces, as a connection layer would. */
	for (size_t off = 0; off < big.len; off += 65536) {
		tls_session_write(c, big.data + off, 65536);
		tls_session_write(s, big.data + off, 65536);
	}
	pump(c, s, &cp, &sp);
	cr_assert(eq(sz, cp.len, big.len));
	cr_assert(eq(sz, sp.len, big.len));
	buf_free(&cp);
	buf_free(&sp);
	size_t after = heap_in_use();
	cr_assert(lt(sz, after, before + 256 * 1024), "before %zu after %zu", before, after);
	buf_free(&big);
	tls_session_free(&c);
	tls_session_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

Test(tls, plaintext_written_before_handshake_is_sent_encrypted_after)
{
	struct tls_ctx *sctx = server_ctx(), *cctx = client_ctx();
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct tls_session *c = tls_session_new(cctx, false, NULL);
	cr_assert(eq(int, tls_session_write(c, "secret-client-line\r\n", 20), 0));
	cr_assert(eq(int, tls_session_write(s, "220 secret-banner\r\n", 19), 0));

	/* The ClientHello goes out alone, without the queued plaintext. */
	struct buf wire, cp, sp;
	buf_init(&wire);
	buf_init(&cp);
	buf_init(&sp);
	cr_assert(gt(int, tls_session_pending_output(c, &wire), 0));
	cr_assert(eq(int, !!(!memmem(wire.data, wire.len, "secret", 6)), 1));
	cr_assert(eq(int, tls_session_feed(s, wire.data, wire.len), 0));
	cr_assert(eq(int, tls_session_read(s, &sp), 0));
	buf_reset(&wire);
	tls_session_pending_output(s, &wire);
	cr_assert(eq(int, !!(!memmem(wire.data, wire.len, "secret", 6)), 1));
	tls_session_feed(c, wire.data, wire.len);

	pump(c, s, &cp, &sp);
	cr_assert(eq(str, sp.data, "secret-client-line\r\n"));
	cr_assert(eq(str, cp.data, "220 secret-banner\r\n"));
	cr_assert(eq(int, tls_session_peer_trust(c), TLS_PEER_UNTRUSTED));
	cr_assert(eq(ptr, (void *)tls_session_sni(s), NULL));
	buf_free(&wire);
	buf_free(&cp);
	buf_free(&sp);
	tls_session_free(&c);
	tls_session_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

Test(tls, session_kind_must_match_context)
{
	struct tls_ctx *sctx = server_ctx(), *cctx = client_ctx();
	cr_assert(eq(ptr, tls_session_new(sctx, false, HOST), NULL));
	cr_assert(eq(ptr, tls_session_new(cctx, true, NULL), NULL));
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

/* A bare OpenSSL peer over memory BIOs, for versions the engine itself will not speak. */

struct raw {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rbio, *wbio;
	bool failed;
};

static void raw_init(struct raw *r, bool server, int min, int max)
{
	r->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	cr_assert(eq(int, !!(r->ctx), 1));
	SSL_CTX_set_security_level(r->ctx, 0);
	cr_assert(eq(int, !!(SSL_CTX_set_cipher_list(r->ctx, "DEFAULT:@SECLEVEL=0") == 1), 1));
	cr_assert(eq(int, !!(SSL_CTX_set_min_proto_version(r->ctx, min) == 1), 1));
	cr_assert(eq(int, !!(SSL_CTX_set_max_proto_version(r->ctx, max) == 1), 1));
	if (server) {
		cr_assert(
			eq(int, !!(SSL_CTX_use_certificate_chain_file(r->ctx, cert_path) == 1), 1));
		cr_assert(
			eq(int,
			   !!(SSL_CTX_use_PrivateKey_file(r->ctx, key_path, SSL_FILETYPE_PEM) == 1),
			   1));
	}
	r->ssl = SSL_new(r->ctx);
	r->rbio = BIO_new(BIO_s_mem());
	r->wbio = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(r->rbio, -1);
	BIO_set_mem_eof_return(r->wbio, -1);
	SSL_set_bio(r->ssl, r->rbio, r->wbio);
	if (server)
		SSL_set_accept_state(r->ssl);
	else
		SSL_set_connect_state(r->ssl);
	r->failed = false;
}

static void raw_free(struct raw *r)
{
	SSL_free(r->ssl);
	SSL_CTX_free(r->ctx);
	ERR_clear_error();
}

static void raw_step(struct raw *r, struct buf *plain)
{
	if (r->failed)
		return;
	if (!SSL_is_init_finished(r->ssl)) {
		int x = SSL_do_handshake(r->ssl);
		if (x != 1) {
			int e = SSL_get_error(r->ssl, x);
			if (e != SSL_ERROR_WANT_READ)
				r->failed = true;
			return;
		}
	}
	char tmp[16384];
	int n;
	while ((n = SSL_read(r->ssl, tmp, sizeof(tmp))) > 0)
		buf_append(plain, tmp, (size_t)n);
}

static void raw_pump(struct tls_session *t, struct raw *r, struct buf *t_plain, struct buf *r_plain,
		     int *t_rc)
{
	struct buf wire;
	buf_init(&wire);
	*t_rc = 0;
	for (int i = 0; i < 100; i++) {
		bool moved = false;
		raw_step(r, r_plain);
		size_t n = BIO_ctrl_pending(r->wbio);
		if (n > 0) {
			moved = true;
			buf_reset(&wire);
			buf_reserve(&wire, n);
			wire.len = (size_t)BIO_read(r->wbio, wire.data, (int)n);
			tls_session_feed(t, wire.data, wire.len);
		}
		pump_read(t, t_plain, t_rc);
		buf_reset(&wire);
		if (tls_session_pending_output(t, &wire) > 0) {
			moved = true;
			BIO_write(r->rbio, wire.data, (int)wire.len);
		}
		if (!moved)
			break;
	}
	buf_free(&wire);
}

Test(tls, tls12_only_client_gets_tls12)
{
	struct tls_ctx *sctx = server_ctx();
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct raw r;
	raw_init(&r, false, TLS1_2_VERSION, TLS1_2_VERSION);
	struct buf sp, rp;
	buf_init(&sp);
	buf_init(&rp);
	int rc;
	raw_pump(s, &r, &sp, &rp, &rc);
	cr_assert(eq(int, rc, 0), "%s", tls_session_error(s));
	cr_assert(eq(int, !!(!r.failed), 1));
	cr_assert(eq(int, !!(tls_session_handshake_done(s)), 1));
	cr_assert(eq(str, (char *)tls_session_version(s), "TLSv1.2"));
	cr_assert(eq(str, (char *)tls_session_cipher(s), "ECDHE-ECDSA-AES256-GCM-SHA384"));
	cr_assert(eq(str, (char *)tls_session_summary(s),
		     "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)"));

	cr_assert(eq(int, !!(SSL_write(r.ssl, "QUIT\r\n", 6) == 6), 1));
	cr_assert(eq(int, tls_session_write(s, "221 bye\r\n", 9), 0));
	raw_pump(s, &r, &sp, &rp, &rc);
	cr_assert(eq(str, sp.data, "QUIT\r\n"));
	cr_assert(eq(str, rp.data, "221 bye\r\n"));

	buf_free(&sp);
	buf_free(&rp);
	raw_free(&r);
	tls_session_free(&s);
	tls_ctx_free(&sctx);
}

/* A raw client with its own cipher preferences, against the engine server. */
static char *negotiated_cipher(int max, const char *ciphers12, const char *suites13)
{
	struct tls_ctx *sctx = server_ctx();
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct raw r;
	raw_init(&r, false, TLS1_2_VERSION, max);
	cr_assert(eq(int, SSL_set_cipher_list(r.ssl, ciphers12), 1));
	cr_assert(eq(int, SSL_set_ciphersuites(r.ssl, suites13), 1));
	struct buf sp, rp;
	buf_init(&sp);
	buf_init(&rp);
	int rc;
	raw_pump(s, &r, &sp, &rp, &rc);
	char *cipher = rc == 0 && tls_session_handshake_done(s)
			       ? xstrdup(tls_session_cipher(s))
			       : xasprintf("error: %s", tls_session_error(s));
	buf_free(&sp);
	buf_free(&rp);
	raw_free(&r);
	tls_session_free(&s);
	tls_ctx_free(&sctx);
	return cipher;
}

Test(tls, server_chooses_the_cipher)
{
	const char *suites =
		"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384";
	char *c = negotiated_cipher(TLS1_3_VERSION, "DEFAULT", suites);
	cr_assert(eq(str, c, "TLS_AES_256_GCM_SHA384"));
	free(c);
	c = negotiated_cipher(TLS1_2_VERSION,
			      "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-"
			      "AES256-GCM-SHA384",
			      suites);
	cr_assert(eq(str, c, "ECDHE-ECDSA-AES256-GCM-SHA384"));
	free(c);
	/* CBC and static-RSA-only clients are refused. */
	c = negotiated_cipher(TLS1_2_VERSION, "ECDHE-ECDSA-AES256-SHA:AES256-GCM-SHA384", suites);
	cr_assert(eq(str, c, "error: handshake failed: no shared cipher"));
	free(c);
}

Test(tls, engine_client_talks_to_tls12_only_server)
{
	struct tls_ctx *cctx = client_ctx();
	struct tls_session *c = tls_session_new(cctx, false, HOST);
	struct raw r;
	raw_init(&r, true, TLS1_2_VERSION, TLS1_2_VERSION);
	struct buf cp, rp;
	buf_init(&cp);
	buf_init(&rp);
	int rc;
	raw_pump(c, &r, &cp, &rp, &rc);
	cr_assert(eq(int, rc, 0), "%s", tls_session_error(c));
	cr_assert(eq(int, !!(tls_session_handshake_done(c)), 1));
	cr_assert(eq(str, (char *)tls_session_version(c), "TLSv1.2"));
	cr_assert(eq(str, (char *)tls_session_peer_cn(c), HOST));
	cr_assert(eq(int, tls_session_write(c, "MAIL FROM:<a@b>\r\n", 17), 0));
	raw_pump(c, &r, &cp, &rp, &rc);
	cr_assert(eq(str, rp.data, "MAIL FROM:<a@b>\r\n"));

	/* A server asking to renegotiate gets no new handshake (SSL_OP_NO_RENEGOTIATION). */
	cr_assert(eq(int, SSL_renegotiate(r.ssl), 1));
	raw_pump(c, &r, &cp, &rp, &rc);
	cr_assert(eq(int, SSL_renegotiate_pending(r.ssl), 1));
	/* (OpenSSL as a server answers the refusal with a fatal alert.) */
	cr_assert(eq(int, rc, TLS_ERROR));
	cr_assert(eq(str, (char *)tls_session_error(c),
		     "read failed: sslv3 alert handshake failure"));
	buf_free(&cp);
	buf_free(&rp);
	raw_free(&r);
	tls_session_free(&c);
	tls_ctx_free(&cctx);
}

Test(tls, tls11_client_is_refused)
{
	struct tls_ctx *sctx = server_ctx();
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct raw r;
	raw_init(&r, false, TLS1_1_VERSION, TLS1_1_VERSION);
	struct buf sp, rp;
	buf_init(&sp);
	buf_init(&rp);
	int rc;
	raw_pump(s, &r, &sp, &rp, &rc);
	cr_assert(eq(int, rc, TLS_ERROR));
	cr_assert(eq(int, !!(!tls_session_handshake_done(s)), 1));
	cr_assert(eq(str, (char *)tls_session_error(s), "handshake failed: unsupported protocol"));
	cr_assert(eq(int, !!(r.failed), 1),
		  "the client must see the refusal (protocol_version alert)");
	cr_assert(eq(int, tls_session_write(s, "x", 1), TLS_ERROR));
	buf_free(&sp);
	buf_free(&rp);
	raw_free(&r);
	tls_session_free(&s);
	tls_ctx_free(&sctx);
}

static void garbage_fails(const void *bytes, size_t len, const char *want)
{
	struct tls_ctx *sctx = server_ctx();
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct buf sp, out;
	buf_init(&sp);
	buf_init(&out);
	cr_assert(eq(int, tls_session_feed(s, bytes, len), 0));
	cr_assert(eq(int, tls_session_read(s, &sp), TLS_ERROR));
	cr_assert(eq(sz, sp.len, 0));
	if (want)
		cr_assert(eq(str, (char *)tls_session_error(s), (char *)want));
	else
		cr_assert(eq(int, strncmp(tls_session_error(s), "handshake failed: ", 18), 0), "%s",
			  tls_session_error(s));
	/* Stays failed, does not crash on further use. */
	cr_assert(eq(int, tls_session_feed(s, "more", 4), TLS_ERROR));
	cr_assert(eq(int, tls_session_read(s, &sp), TLS_ERROR));
	cr_assert(eq(int, tls_session_write(s, "x", 1), TLS_ERROR));
	tls_session_pending_output(s, &out);
	tls_session_shutdown(s);
	cr_assert(eq(int, !!(!tls_session_handshake_done(s)), 1));
	cr_assert(eq(str, (char *)tls_session_version(s), ""));
	cr_assert(eq(str, (char *)tls_session_summary(s), ""));
	buf_free(&sp);
	buf_free(&out);
	tls_session_free(&s);
	tls_ctx_free(&sctx);
}

Test(tls, smtp_command_instead_of_client_hello)
{
	garbage_fails("EHLO x\r\n", 8, "handshake failed: wrong version number");
}

Test(tls, random_bytes_instead_of_client_hello)
{
	for (unsigned seed = 1; seed <= 20; seed++) {
		struct buf g;
		buf_init(&g);
		fill_random(&g, 600, seed);
		g.data[0] = 0x16; /* even when it looks like a handshake record */
		if (seed % 2)
			g.data[1] = 0x03;
		garbage_fails(g.data, g.len, NULL);
		buf_free(&g);
	}
}

Test(tls, server_error_from_client_side)
{
	/* A client whose server answers with plaintext fails readably too. */
	struct tls_ctx *cctx = client_ctx();
	struct tls_session *c = tls_session_new(cctx, false, HOST);
	struct buf cp;
	buf_init(&cp);
	tls_session_feed(c, "554 5.7.0 no TLS for you\r\n", 26);
	cr_assert(eq(int, tls_session_read(c, &cp), TLS_ERROR));
	cr_assert(eq(str, (char *)tls_session_error(c), "handshake failed: wrong version number"));
	buf_free(&cp);
	tls_session_free(&c);
	tls_ctx_free(&cctx);
}

/* Certificates. */

static X509 *load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert(eq(int, !!(f), 1), "%s", path);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert(eq(int, !!(x), 1));
	return x;
}

static char *cert_cn(X509 *x)
{
	char cn[256];
	cr_assert(eq(int,
		     !!(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
						  sizeof(cn)) > 0),
		     1));
	return xstrdup(cn);
}

TestSuite(cert, .init = setup_dir, .fini = teardown_dir, .timeout = 30);

Test(cert, self_signed_modes_names_and_loads)
{
	umask(077); /* the certificate is 0644 whatever the umask */
	char err[256] = "";
	cr_assert(eq(int, tls_generate_self_signed(HOST, cert_path, key_path, err, sizeof(err)), 0),
		  "%s", err);
	struct stat st;
	cr_assert(eq(int, stat(key_path, &st), 0));
	cr_assert(eq(int, !!(S_ISREG(st.st_mode)), 1));
	cr_assert(eq(int, st.st_mode & 07777, 0600));
	cr_assert(eq(int, stat(cert_path, &st), 0));
	cr_assert(eq(int, st.st_mode & 07777, 0644));

	X509 *x = load_cert(cert_path);
	char *cn = cert_cn(x);
	cr_assert(eq(str, cn, HOST));
	free(cn);
	GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	cr_assert(eq(int, !!(san), 1));
	cr_assert(eq(int, sk_GENERAL_NAME_num(san), 1));
	GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, 0);
	cr_assert(eq(int, gn->type, GEN_DNS));
	cr_assert(eq(str, (char *)ASN1_STRING_get0_data(gn->d.dNSName), HOST));
	GENERAL_NAMES_free(san);
	cr_assert(eq(int, X509_check_host(x, HOST, 0, 0, NULL), 1));
	cr_assert(eq(int, X509_get_signature_nid(x), NID_ecdsa_with_SHA256));
	/* About ten years. */
	time_t t9 = time(NULL) + (time_t)9 * 366 * 86400,
	       t11 = time(NULL) + (time_t)11 * 365 * 86400;
	cr_assert(eq(int, X509_cmp_time(X509_get0_notAfter(x), &t9), 1));
	cr_assert(eq(int, X509_cmp_time(X509_get0_notAfter(x), &t11), -1));
	cr_assert(eq(int, X509_cmp_current_time(X509_get0_notBefore(x)), -1));
	X509_free(x);

	/* No temporary files left behind. */
	char *argv[] = { "sh", "-c", NULL, NULL };
	char *cmd = xasprintf("test \"$(ls %s | grep -c XXXX\\|\\.pem\\.)\" = 0", tdir);
	argv[2] = cmd;
	cr_assert(eq(int, test_run(argv), 0));
	free(cmd);

	/* It serves, and a client pinning it verifies it by name. */
	setenv("SSL_CERT_FILE", cert_path, 1);
	struct tls_ctx *sctx = server_ctx(), *cctx = client_ctx();
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct tls_session *c = tls_session_new(cctx, false, HOST);
	struct buf cp, sp;
	buf_init(&cp);
	buf_init(&sp);
	pump(c, s, &cp, &sp);
	cr_assert(eq(int, !!(tls_session_handshake_done(c)), 1));
	cr_assert(eq(str, (char *)tls_peer_trust_name(tls_session_peer_trust(c)), "Verified"));
	buf_free(&cp);
	buf_free(&sp);
	tls_session_free(&c);
	tls_session_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

Test(cert, self_signed_refuses_bad_names_and_dirs)
{
	char err[256] = "";
	cr_assert(eq(int,
		     tls_generate_self_signed("a,DNS:evil.example", cert_path, key_path, err,
					      sizeof(err)),
		     -1));
	cr_assert(eq(str, err, "cannot make a certificate for host name \"a,DNS:evil.example\""));
	cr_assert(eq(int, tls_generate_self_signed("", cert_path, key_path, err, sizeof(err)), -1));
	cr_assert(eq(int, access(key_path, F_OK), -1));
	char *bad = tpath("nodir/key.pem");
	cr_assert(eq(int, tls_generate_self_signed(HOST, cert_path, bad, err, sizeof(err)), -1));
	cr_assert(eq(int,
		     !!(strstr(err, "nodir/key.pem") && strstr(err, "No such file or directory")),
		     1),
		  "%s", err);
	free(bad);
}

Test(cert, ensure_generates_once_then_reuses)
{
	char err[256] = "";
	char *state = tpath("state/sub");
	char *cert = NULL, *key = NULL;
	cr_assert(
		eq(int, tls_ensure_cert(state, HOST, NULL, NULL, &cert, &key, err, sizeof(err)), 1),
		"%s", err);
	char *want_cert = xasprintf("%s/tls/cert.pem", state);
	char *want_key = xasprintf("%s/tls/key.pem", state);
	cr_assert(eq(str, cert, want_cert));
	cr_assert(eq(str, key, want_key));
	struct stat st1, st2;
	cr_assert(eq(int, stat(key, &st1), 0));
	cr_assert(eq(int, st1.st_mode & 07777, 0600));
	char *tlsdir = xasprintf("%s/tls", state);
	struct stat dst;
	cr_assert(eq(int, stat(tlsdir, &dst), 0));
	cr_assert(eq(int, dst.st_mode & 07777, 0700));
	free(tlsdir);
	strcpy(cert_path, cert);
	strcpy(key_path, key);
	struct tls_ctx *ctx = server_ctx();
	tls_ctx_free(&ctx);
	free(cert);
	free(key);

	/* Second start: the same files, untouched. */
	cr_assert(
		eq(int, tls_ensure_cert(state, HOST, NULL, NULL, &cert, &key, err, sizeof(err)), 0),
		"%s", err);
	cr_assert(eq(int, stat(key, &st2), 0));
	cr_assert(eq(u64, (uint64_t)st1.st_ino, (uint64_t)st2.st_ino));
	free(cert);
	free(key);

	/* A missing half is regenerated. */
	unlink(want_cert);
	cr_assert(
		eq(int, tls_ensure_cert(state, HOST, NULL, NULL, &cert, &key, err, sizeof(err)), 1),
		"%s", err);
	cr_assert(eq(int, access(want_cert, R_OK), 0));
	free(cert);
	free(key);

	/* Configured files win; one without the other is an error. */
	cr_assert(eq(int,
		     tls_ensure_cert(state, HOST, "/etc/c.pem", "/etc/k.pem", &cert, &key, err,
				     sizeof(err)),
		     0));
	cr_assert(eq(str, cert, "/etc/c.pem"));
	cr_assert(eq(str, key, "/etc/k.pem"));
	free(cert);
	free(key);
	cr_assert(
		eq(int,
		   tls_ensure_cert(state, HOST, "/etc/c.pem", NULL, &cert, &key, err, sizeof(err)),
		   -1));
	cr_assert(eq(str, err, "tls_cert and tls_key must be set together"));
	cr_assert(eq(ptr, cert, NULL));
	free(want_cert);
	free(want_key);
	free(state);
}

Test(cert, server_ctx_errors_name_the_file)
{
	char err[256] = "";
	char *missing = tpath("missing.pem");
	cr_assert(eq(ptr, tls_server_ctx_new(missing, missing, err, sizeof(err)), NULL));
	cr_assert(eq(int, !!(strstr(err, "cannot load certificate") && strstr(err, "missing.pem")),
		     1),
		  "%s", err);

	char *c1 = tpath("c1.pem"), *k1 = tpath("k1.pem"), *c2 = tpath("c2.pem"),
	     *k2 = tpath("k2.pem");
	cr_assert(eq(int, tls_generate_self_signed("a.example", c1, k1, err, sizeof(err)), 0));
	cr_assert(eq(int, tls_generate_self_signed("b.example", c2, k2, err, sizeof(err)), 0));
	cr_assert(eq(ptr, tls_server_ctx_new(c1, k2, err, sizeof(err)), NULL));
	char *want = xasprintf("key %s does not match certificate %s", k2, c1);
	cr_assert(eq(str, err, want));
	cr_assert(eq(ptr, tls_server_ctx_new(c1, c1, err, sizeof(err)), NULL));
	cr_assert(eq(int, !!(strstr(err, "cannot load key")), 1), "%s", err);
	cr_assert(eq(int, ERR_peek_error(), 0), "the OpenSSL error queue is left clean");
	free(want);
	free(missing);
	free(c1);
	free(k1);
	free(c2);
	free(k2);
}

static char *handshake_cn(struct tls_ctx *sctx, struct tls_ctx *cctx)
{
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct tls_session *c = tls_session_new(cctx, false, NULL);
	struct buf cp, sp;
	buf_init(&cp);
	buf_init(&sp);
	pump(c, s, &cp, &sp);
	cr_assert(eq(int, !!(tls_session_handshake_done(c)), 1));
	char *cn = xstrdup(tls_session_peer_cn(c));
	buf_free(&cp);
	buf_free(&sp);
	tls_session_free(&c);
	tls_session_free(&s);
	return cn;
}

Test(cert, reload_serves_new_certificate_to_new_sessions_only)
{
	char err[256] = "";
	char *c1 = tpath("c1.pem"), *k1 = tpath("k1.pem"), *c2 = tpath("c2.pem"),
	     *k2 = tpath("k2.pem");
	cr_assert(eq(int, tls_generate_self_signed("a.example", c1, k1, err, sizeof(err)), 0));
	cr_assert(eq(int, tls_generate_self_signed("b.example", c2, k2, err, sizeof(err)), 0));
	struct tls_ctx *sctx = tls_server_ctx_new(c1, k1, err, sizeof(err));
	struct tls_ctx *cctx = client_ctx();
	cr_assert(eq(int, !!(sctx), 1), "%s", err);

	/* An existing session from before the reload. */
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct tls_session *c = tls_session_new(cctx, false, NULL);
	struct buf cp, sp;
	buf_init(&cp);
	buf_init(&sp);
	pump(c, s, &cp, &sp);
	cr_assert(eq(str, (char *)tls_session_peer_cn(c), "a.example"));

	cr_assert(eq(int, tls_ctx_reload(sctx, c2, k2, err, sizeof(err)), 0), "%s", err);
	char *cn = handshake_cn(sctx, cctx);
	cr_assert(eq(str, cn, "b.example"));
	free(cn);

	/* The old session still works both ways after the reload, and after the context is gone. */
	tls_session_write(c, "NOOP\r\n", 6);
	tls_session_write(s, "250 2.0.0 ok\r\n", 14);
	struct pumped p = pump(c, s, &cp, &sp);
	cr_assert(eq(int, p.c_rc + p.s_rc, 0));
	cr_assert(eq(str, sp.data, "NOOP\r\n"));
	cr_assert(eq(str, cp.data, "250 2.0.0 ok\r\n"));

	/* A failed reload keeps what was served. */
	char *missing = tpath("missing.pem");
	cr_assert(eq(int, tls_ctx_reload(sctx, missing, k1, err, sizeof(err)), -1));
	cr_assert(eq(int, !!(strstr(err, "missing.pem")), 1), "%s", err);
	cn = handshake_cn(sctx, cctx);
	cr_assert(eq(str, cn, "b.example"));
	free(cn);
	cr_assert(eq(int, tls_ctx_reload(cctx, c1, k1, err, sizeof(err)), -1));

	tls_ctx_free(&sctx);
	buf_reset(&sp);
	tls_session_write(c, "QUIT\r\n", 6);
	pump(c, s, &cp, &sp);
	cr_assert(eq(str, sp.data, "QUIT\r\n"));

	buf_free(&cp);
	buf_free(&sp);
	tls_session_free(&c);
	tls_session_free(&s);
	tls_ctx_free(&cctx);
	free(missing);
	free(c1);
	free(k1);
	free(c2);
	free(k2);
}

/* A CA and a certificate it signed, made with the openssl program. */
static void make_ca_and_leaf(void)
{
	char *ca = tpath("ca.pem"), *cakey = tpath("ca.key");
	char *ca_argv[] = { "openssl",
			    "req",
			    "-x509",
			    "-newkey",
			    "ec",
			    "-pkeyopt",
			    "ec_paramgen_curve:P-256",
			    "-nodes",
			    "-keyout",
			    cakey,
			    "-out",
			    ca,
			    "-subj",
			    "/CN=Test CA",
			    "-days",
			    "2",
			    NULL };
	cr_assert(eq(int, test_run(ca_argv), 0));
	char *leaf_argv[] = { "openssl",
			      "req",
			      "-x509",
			      "-newkey",
			      "ec",
			      "-pkeyopt",
			      "ec_paramgen_curve:P-256",
			      "-nodes",
			      "-keyout",
			      key_path,
			      "-out",
			      cert_path,
			      "-subj",
			      "/CN=" HOST,
			      "-addext",
			      "subjectAltName=DNS:" HOST ",IP:127.0.0.1",
			      "-addext",
			      "basicConstraints=critical,CA:FALSE",
			      "-CA",
			      ca,
			      "-CAkey",
			      cakey,
			      "-days",
			      "2",
			      NULL };
	cr_assert(eq(int, test_run(leaf_argv), 0));
	free(ca);
	free(cakey);
}

static enum tls_peer_trust trust_for(const char *sni)
{
	struct tls_ctx *sctx = server_ctx(), *cctx = client_ctx();
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct tls_session *c = tls_session_new(cctx, false, sni);
	struct buf cp, sp;
	buf_init(&cp);
	buf_init(&sp);
	struct pumped p = pump(c, s, &cp, &sp);
	cr_assert(eq(int, p.c_rc, 0), "%s", tls_session_error(c));
	cr_assert(eq(int, !!(tls_session_handshake_done(c)), 1));
	enum tls_peer_trust t = tls_session_peer_trust(c);
	if (sni && sni[0] >= '0' && sni[0] <= '9')
		cr_assert(eq(ptr, (void *)tls_session_sni(s), NULL), "no IP literal as SNI");
	buf_free(&cp);
	buf_free(&sp);
	tls_session_free(&c);
	tls_session_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
	return t;
}

Test(cert, client_reports_verified_trusted_untrusted)
{
	make_ca_and_leaf();
	char *ca = tpath("ca.pem");
	/* Untrusted: the CA is not in the store, yet the handshake completes. */
	cr_assert(eq(int, trust_for(HOST), TLS_PEER_UNTRUSTED));
	setenv("SSL_CERT_FILE", ca, 1);
	cr_assert(eq(int, trust_for(HOST), TLS_PEER_VERIFIED));
	cr_assert(eq(int, trust_for("other.example"), TLS_PEER_TRUSTED));
	cr_assert(eq(int, trust_for(NULL), TLS_PEER_TRUSTED));
	cr_assert(eq(int, trust_for("127.0.0.1"), TLS_PEER_VERIFIED));
	cr_assert(eq(int, trust_for("127.0.0.2"), TLS_PEER_TRUSTED));
	free(ca);
}

/* Without SSL_CERT_FILE the roots come from the hashed directory (SSL_CERT_DIR here), read when
 * the handshake needs them. */
Test(cert, client_verifies_from_hashed_directory)
{
	make_ca_and_leaf();
	char *dir = tpath("roots");
	unsetenv("SSL_CERT_FILE");
	char *cmd = xasprintf("mkdir %s", dir);
	char *mk_argv[] = { "sh", "-c", cmd, NULL };
	cr_assert(eq(int, test_run(mk_argv), 0));
	free(cmd);
	setenv("SSL_CERT_DIR", dir, 1);
	cr_assert(eq(int, trust_for(HOST), TLS_PEER_UNTRUSTED), "empty directory");
	cmd = xasprintf("cp %s/ca.pem %s/ && openssl rehash %s", tdir, dir, dir);
	char *rehash_argv[] = { "sh", "-c", cmd, NULL };
	cr_assert(eq(int, test_run(rehash_argv), 0));
	free(cmd);
	cr_assert(eq(int, trust_for(HOST), TLS_PEER_VERIFIED));
	cr_assert(eq(int, trust_for("other.example"), TLS_PEER_TRUSTED));
	free(dir);
}

/* The openssl programs at the other end of a real socket. */

struct child {
	pid_t pid;
	int in;  /* its stdin, or -1 */
	int out; /* its stdout */
};

static struct child spawn(char *const argv[])
{
	int pin[2], pout[2];
	cr_assert(eq(int, !!(pipe(pin) == 0 && pipe(pout) == 0), 1));
	struct child ch;
	ch.pid = fork();
	cr_assert(eq(int, !!(ch.pid >= 0), 1));
	if (ch.pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		close(pin[1]);
		close(pout[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	ch.in = pin[1];
	ch.out = pout[0];
	return ch;
}

/* Reads fd to EOF within a few seconds. */
static void read_all(int fd, struct buf *b)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		cr_assert(eq(int, !!(poll(&pfd, 1, 10000) == 1), 1),
			  "timed out reading child output");
		char tmp[4096];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		buf_append(b, tmp, (size_t)n);
	}
}

static int child_wait(struct child *ch)
{
	int st;
	for (int i = 0; i < 500; i++) {
		pid_t r = waitpid(ch->pid, &st, WNOHANG);
		if (r == ch->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		usleep(10000);
	}
	kill(ch->pid, SIGKILL);
	waitpid(ch->pid, &st, 0);
	return -1;
}

/*
 * Drives a session over a connected socket until want_plain (a substring) has been
 * received, then answers with reply (if any) and closes with close_notify.
 */
static void drive(int fd, struct tls_session *t, const char *want_plain, const char *reply,
		  struct buf *plain)
{
	struct buf out;
	buf_init(&out);
	bool replied = false;
	for (int i = 0; i < 2000; i++) {
		buf_reset(&out);
		tls_session_pending_output(t, &out);
		for (size_t off = 0; off < out.len;) {
			ssize_t n = write(fd, out.data + off, out.len - off);
			cr_assert(eq(int, !!(n > 0), 1), "write: %s", strerror(errno));
			off += (size_t)n;
		}
		if (replied)
			break;
		if (plain->len && strstr(plain->data, want_plain)) {
			if (reply)
				cr_assert(eq(int, tls_session_write(t, reply, strlen(reply)), 0));
			tls_session_shutdown(t);
			replied = true;
			continue;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		cr_assert(eq(int, !!(poll(&pfd, 1, 10000) == 1), 1),
			  "timed out waiting for the peer");
		char tmp[16384];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		cr_assert(eq(int, !!(n > 0), 1), "peer closed early; got \"%s\"",
			  plain->data ? plain->data : "");
		cr_assert(eq(int, tls_session_feed(t, tmp, (size_t)n), 0));
		int r = tls_session_read(t, plain);
		cr_assert(eq(int, !!(r >= 0), 1), "%s", tls_session_error(t));
	}
	cr_assert(eq(int, !!(replied), 1));
	buf_free(&out);
}

static int unix_listen(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	cr_assert(eq(int, !!(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0), 1));
	cr_assert(eq(int, !!(listen(fd, 1) == 0), 1));
	return fd;
}

static int unix_connect_retry(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	for (int i = 0; i < 500; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		close(fd);
		usleep(10000);
	}
	cr_fail("cannot connect to %s", path);
	return -1;
}

Test(tls, openssl_s_client_talks_to_engine)
{
	char *sock = tpath("s");
	int lfd = unix_listen(sock);
	char *argv[] = { "openssl", "s_client",         "-unix", sock,
			 "-quiet",  "-servername",      HOST,    "-CAfile",
			 cert_path, "-verify_hostname", HOST,    "-verify_return_error",
			 NULL };
	struct child ch = spawn(argv);
	cr_assert(eq(int, !!(write(ch.in, "hello from s_client\n", 20) == 20), 1));

	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	cr_assert(eq(int, !!(poll(&pfd, 1, 10000) == 1), 1), "s_client did not connect");
	int fd = accept(lfd, NULL, NULL);
	cr_assert(eq(int, !!(fd >= 0), 1));
	struct tls_ctx *sctx = server_ctx();
	struct tls_session *s = tls_session_new(sctx, true, NULL);
	struct buf plain;
	buf_init(&plain);
	drive(fd, s, "\n", "echo: hello back\n", &plain);
	cr_assert(eq(str, plain.data, "hello from s_client\n"));
	cr_assert(eq(str, (char *)tls_session_version(s), "TLSv1.3"));
	cr_assert(eq(str, (char *)tls_session_sni(s), HOST));
	close(fd);

	struct buf got;
	buf_init(&got);
	read_all(ch.out, &got);
	close(ch.in);
	close(ch.out);
	cr_assert(eq(int, child_wait(&ch), 0));
	cr_assert(eq(str, got.data, "echo: hello back\n"));

	buf_free(&got);
	buf_free(&plain);
	tls_session_free(&s);
	tls_ctx_free(&sctx);
	close(lfd);
	free(sock);
}

Test(tls, engine_talks_to_openssl_s_server)
{
	make_ca_and_leaf();
	char *ca = tpath("ca.pem");
	setenv("SSL_CERT_FILE", ca, 1);
	char *sock = tpath("s");
	char *argv[] = { "openssl", "s_server", "-unix", sock,   "-cert",   cert_path, "-key",
			 key_path,  "-naccept", "1",     "-rev", "-tls1_2", NULL };
	struct child ch = spawn(argv);
	int fd = unix_connect_retry(sock);

	struct tls_ctx *cctx = client_ctx();
	struct tls_session *c = tls_session_new(cctx, false, HOST);
	cr_assert(eq(int, tls_session_write(c, "olleh\n", 6), 0));
	struct buf plain;
	buf_init(&plain);
	drive(fd, c, "hello", NULL, &plain);
	cr_assert(eq(int, !!(strstr(plain.data, "hello")), 1), "%s", plain.data);
	cr_assert(eq(str, (char *)tls_session_version(c), "TLSv1.2"));
	cr_assert(eq(int, tls_session_peer_trust(c), TLS_PEER_VERIFIED));
	cr_assert(eq(str, (char *)tls_session_peer_cn(c), HOST));
	close(fd);

	struct buf junk;
	buf_init(&junk);
	close(ch.in);
	read_all(ch.out, &junk);
	close(ch.out);
	cr_assert(eq(int, child_wait(&ch), 0));

	buf_free(&junk);
	buf_free(&plain);
	tls_session_free(&c);
	tls_ctx_free(&cctx);
	free(sock);
	free(ca);
}
