/* buf.h - growable byte buffer: the one home of append/consume arithmetic on bytes. */
#ifndef MAIL_BUF_H
#define MAIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;	/* owned; NUL-terminated beyond len for convenience */
	size_t len;	/* bytes in use */
	size_t cap;	/* bytes allocated (excluding the NUL) */
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes. Consuming everything gives back storage over 4 KiB (data stays
 * a valid pointer). */
void buf_consume(struct buf *b, size_t n);
/* Hands the storage to the caller (who frees it) and resets b. */
char *buf_steal(struct buf *b, size_t *len_r);

#endif
