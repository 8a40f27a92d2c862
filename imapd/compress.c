/* compress.c - COMPRESS=DEFLATE (RFC 4978): a raw deflate layer (zlib) under the session's IMAP stream, after TLS if any. */
/*
 * zlib does the work: it is the reference implementation of deflate (RFC 1951), fast and
 * hardened for decades, where a deflate of our own would be slower, larger and riskier. The
 * layer goes into the connection as a net_filter (common/net): every batch of output ends with
 * Z_SYNC_FLUSH, so each response can be decoded as soon as it arrives; input is inflated as
 * it comes, pipelined bytes after the COMPRESS command included.
 */
#include "compress.h"
#include "client.h"
#include "commands.h"
#include "log.h"
#include "net.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* One read of compressed input may not inflate to more than this: deflate can grow 1,000-fold,
 * and c->in's own limit applies only between reads. Larger is a bomb: the session ends. */
#define COMPRESS_INFLATE_MAX (64u * 1024 * 1024)
#define COMPRESS_LEVEL       6

struct compress_ctx {
	z_stream in, out;
};

static int compress_decode(void *ctx, const void *data, size_t n, struct buf *out)
{
	struct compress_ctx *z = ctx;
	size_t start = out->len;
	z->in.next_in = (Bytef *)(uintptr_t)data;
	z->in.avail_in = (uInt)n;
	for (;;) {
		buf_reserve(out, 16384);
		z->in.next_out = (Bytef *)out->data + out->len;
		z->in.avail_out = (uInt)(out->cap - out->len);
		int r = inflate(&z->in, Z_SYNC_FLUSH);
		out->len = out->cap - z->in.avail_out;
		out->data[out->len] = '\0';
		if (r == Z_STREAM_END || (r != Z_OK && r != Z_BUF_ERROR))
			return -1; /* the stream never ends while the connection lives */
		if (out->len - start > COMPRESS_INFLATE_MAX)
			return -1;
		/* Done when all input is taken and zlib had room left (nothing pending). */
		if ((z->in.avail_in == 0 && z->in.avail_out > 0) || r == Z_BUF_ERROR)
			break;
	}
	return 0;
}

static int compress_encode(void *ctx, const void *data, size_t n, struct buf *out)
{
	struct compress_ctx *z = ctx;
	z->out.next_in = (Bytef *)(uintptr_t)data;
	z->out.avail_in = (uInt)n;
	for (;;) {
		buf_reserve(out, deflateBound(&z->out, z->out.avail_in) + 64);
		z->out.next_out = (Bytef *)out->data + out->len;
		z->out.avail_out = (uInt)(out->cap - out->len);
		int r = deflate(&z->out, Z_SYNC_FLUSH);
		out->len = out->cap - z->out.avail_out;
		if (r != Z_OK && r != Z_BUF_ERROR)
			return -1;
		if (z->out.avail_in == 0 && z->out.avail_out > 0)
			return 0;
	}
}

static void compress_free(void *ctx)
{
	struct compress_ctx *z = ctx;
	inflateEnd(&z->in);
	deflateEnd(&z->out);
	free(z);
}

void cmd_compress(struct imap_client *c, const struct imap_command *cmd)
{
	if (cmd->count != 1 || !imap_arg_is_atom(&cmd->args[0])) {
		client_tagged(c, cmd->tag, "BAD", "Usage: COMPRESS DEFLATE");
		return;
	}
	if (!imap_arg_atom_equals(&cmd->args[0], "DEFLATE")) {
		client_tagged(c, cmd->tag, "BAD", "Unknown compression mechanism");
		return;
	}
	if (c->conn->filter) {
		client_tagged(c, cmd->tag, "NO", "[COMPRESSIONACTIVE] DEFLATE active already");
		return;
	}
	struct compress_ctx *z = xcalloc(1, sizeof(*z));
	if (inflateInit2(&z->in, -15) != Z_OK) {
		free(z);
		client_tagged(c, cmd->tag, "NO", "[SERVERBUG] Cannot start compression");
		return;
	}
	if (deflateInit2(&z->out, COMPRESS_LEVEL, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		inflateEnd(&z->in);
		free(z);
		client_tagged(c, cmd->tag, "NO", "[SERVERBUG] Cannot start compression");
		return;
	}
	client_tagged(c, cmd->tag, "OK", "DEFLATE active");
	const struct net_filter f = {
		.decode = compress_decode,
		.encode = compress_encode,
		.free = compress_free,
		.ctx = z,
	};
	if (net_conn_set_filter(c->conn, &f) < 0) {
		log_info("imap: [%s]: user=%s, bad compressed data after COMPRESS", c->peer_ip,
			 c->user);
		client_close(c, "bad compressed data");
		return;
	}
	log_info("imap: [%s]: user=%s, COMPRESS=DEFLATE active", c->peer_ip, c->user);
}
