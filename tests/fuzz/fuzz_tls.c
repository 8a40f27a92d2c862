/* fuzz_tls.c - arbitrary peer bytes, cut in arbitrary pieces, into TLS server and client sessions. */
#include "tls.h"
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct tls_ctx *fuzz_sctx, *fuzz_cctx;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz_tls.XXXXXX";
	char cert[64], key[64], err[256];
	if (!mkdtemp(dir))
		abort();
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	if (tls_generate_self_signed("fuzz.example", cert, key, err, sizeof(err)) < 0 ||
	    !(fuzz_sctx = tls_server_ctx_new(cert, key, err, sizeof(err))) ||
	    !(fuzz_cctx = tls_client_ctx_new(err, sizeof(err)))) {
		fprintf(stderr, "fuzz_tls: %s\n", err);
		abort();
	}
	unlink(cert);
	unlink(key);
	rmdir(dir);
	return 0;
}

/* Feeds the input in pieces of the given size, driving the session as a connection would. */
static void fuzz_tls_run(bool server, const uint8_t *data, size_t size, size_t piece)
{
	struct tls_session *s = tls_session_new(server ? fuzz_sctx : fuzz_cctx, server,
						server ? NULL : "fuzz.example");
	if (!s)
		abort();
	struct buf plain, out;
	buf_init(&plain);
	buf_init(&out);
	tls_session_write(s, "220 queued before the handshake\r\n", 33);
	for (size_t off = 0; off < size; off += piece) {
		size_t n = size - off < piece ? size - off : piece;
		if (tls_session_feed(s, data + off, n) < 0)
			break;
		int r = tls_session_read(s, &plain);
		tls_session_pending_output(s, &out);
		if (r < 0) {
			if (r == TLS_ERROR && !tls_session_error(s)[0])
				abort(); /* an error always says why */
			break;
		}
		if (tls_session_handshake_done(s)) {
			if (!tls_session_version(s)[0] || !tls_session_summary(s)[0])
				abort();
			tls_session_write(s, "250 ok\r\n", 8);
		}
		buf_reset(&out);
	}
	tls_session_shutdown(s);
	tls_session_pending_output(s, &out);
	buf_free(&plain);
	buf_free(&out);
	tls_session_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t piece = (size_t)data[0] * 8 + 1;
	fuzz_tls_run(true, data + 1, size - 1, piece);
	fuzz_tls_run(false, data + 1, size - 1, piece);
	return 0;
}
