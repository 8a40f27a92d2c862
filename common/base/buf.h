/* buf.h - growable byte buffer: the one home of append/consume arithmetic on bytes, and of the fast snprintf (str_format). */
#ifndef MAIL_BUF_H
#define MAIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data; /* owned; NUL-terminated beyond len for convenience */
	size_t len; /* bytes in use */
	size_t cap; /* bytes allocated (excluding the NUL) */
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

/* snprintf for what per-message code formats: %s %.*s %c %d %u %ld %lu %zd %zu %lld %llu %%
 * (no flags or widths) without stdio's per-call set-up, which costs more than the rest of a
 * short line; any other conversion is handed to vsnprintf. Same result and return value as
 * snprintf (the would-be length; output cut at cap - 1 octets and NUL-terminated). */
int str_format(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int str_vformat(char *dst, size_t cap, const char *fmt, va_list ap);
/* The fast path alone: -1 (ap left to the caller's own copy) for a conversion it lacks. */
int str_format_fast(char *dst, size_t cap, const char *fmt, va_list ap);

#endif
