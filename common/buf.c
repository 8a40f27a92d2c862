/* buf.c - growable byte buffer. */
#include "buf.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An emptied buffer keeps at most this much storage: a connection's input buffer grows to a
 * whole read (64 KiB) during DATA, and fifty sessions each keeping one cost 3 MiB. */
#define BUF_KEEP_EMPTY	4096
#define BUF_MIN_CAP	64

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra <= b->cap && b->data)
		return;
	size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < b->len + extra)
		cap *= 2;
	if (b->len == 0 && b->data) {
		/* Nothing to keep: a new block, so malloc may reuse a freed one of the right size
		 * instead of realloc growing this one into fresh pages at the heap's top. */
		free(b->data);
		b->data = xmalloc(cap + 1);
	} else {
		b->data = xrealloc(b->data, cap + 1);
	}
	b->cap = cap;
	b->data[b->len] = '\0';
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[512];
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		buf_append(b, tmp, (size_t)n);
		return;
	}
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		if (b->cap > BUF_KEEP_EMPTY) {
			/* The big block is freed whole (not shrunk in place), so the next buffer that
			 * grows to that size gets it back. */
			char *small = xmalloc(BUF_MIN_CAP + 1);
			free(b->data);
			b->data = small;
			b->cap = BUF_MIN_CAP;
		}
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

char *buf_steal(struct buf *b, size_t *len_r)
{
	char *p = b->data;
	if (len_r)
		*len_r = b->len;
	buf_init(b);
	return p;
}
