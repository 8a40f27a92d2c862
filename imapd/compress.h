/* compress.h - COMPRESS=DEFLATE (RFC 4978): the COMPRESS command, which puts a zlib deflate layer under the session. */
#ifndef MAIL_COMPRESS_H
#define MAIL_COMPRESS_H

#include "client.h"
#include "imap_parser.h"

/* COMPRESS DEFLATE: answers OK uncompressed, then compresses both directions (runs on the
 * loop thread: it changes the connection). */
void cmd_compress(struct imap_client *c, const struct imap_command *cmd);

#endif
