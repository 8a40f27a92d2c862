/* buf.c - growable byte buffer. */
#include "buf.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An emptied buffer keeps at most this much storage: a connection's input buffer grows to a
 * whole read (64 KiB) during DATA, and fifty sessions each keeping one cost 3 MiB. */
#define BUF_KEEP_EMPTY 4096
#define BUF_MIN_CAP    64

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

/* Formats the conversions log lines use (%s %.*s %c %d %u %ld %lu %lld %llu %zd %zu %%, no
 * flags or widths) into dst[0..cap), cut at cap - 1 octets like vsnprintf; without stdio's
 * per-call set-up, which cost more than the rest of a log line. Returns the length, or -1
 * (nothing consumed from ap that matters: the caller formats with its own copy) for anything
 * else, which vsnprintf then does. */
int str_format_fast(char *dst, size_t cap, const char *fmt, va_list ap)
{
	size_t n = 0;
#define STR_PUT(ch)                          \
	do {                                 \
		char str_put_ch = (ch);      \
		if (n + 1 < cap)             \
			dst[n] = str_put_ch; \
		n++;                         \
	} while (0)
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			STR_PUT(*f);
			continue;
		}
		f++;
		const char *str = NULL;
		size_t str_len = 0;
		bool neg = false;
		unsigned long long v = 0;
		bool number = true;
		if (*f == '%') {
			STR_PUT('%');
			continue;
		} else if (*f == 's') {
			str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			str_len = strlen(str);
			number = false;
		} else if (f[0] == '.' && f[1] == '*' && f[2] == 's') {
			int prec = va_arg(ap, int);
			str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			str_len = prec < 0 ? strlen(str) : strnlen(str, (size_t)prec);
			f += 2;
			number = false;
		} else if (*f == 'c') {
			STR_PUT((char)va_arg(ap, int));
			continue;
		} else if (*f == 'd' || *f == 'u') {
			if (*f == 'd') {
				long long x = va_arg(ap, int);
				neg = x < 0;
				v = neg ? 0ULL - (unsigned long long)x : (unsigned long long)x;
			} else {
				v = va_arg(ap, unsigned);
			}
		} else if ((f[0] == 'l' || f[0] == 'z') && (f[1] == 'd' || f[1] == 'u')) {
			bool is_long = f[0] == 'l';
			if (f[1] == 'd') {
				long long x = is_long ? va_arg(ap, long)
						      : (long long)va_arg(ap, ssize_t);
				neg = x < 0;
				v = neg ? 0ULL - (unsigned long long)x : (unsigned long long)x;
			} else {
				v = is_long ? va_arg(ap, unsigned long) : va_arg(ap, size_t);
			}
			f++;
		} else if (f[0] == 'l' && f[1] == 'l' && (f[2] == 'd' || f[2] == 'u')) {
			if (f[2] == 'd') {
				long long x = va_arg(ap, long long);
				neg = x < 0;
				v = neg ? 0ULL - (unsigned long long)x : (unsigned long long)x;
			} else {
				v = va_arg(ap, unsigned long long);
			}
			f += 2;
		} else {
			return -1;
		}
		if (number) {
			char digits[24];
			size_t k = 0;
			do {
				digits[k++] = (char)('0' + v % 10);
				v /= 10;
			} while (v);
			if (neg)
				STR_PUT('-');
			while (k)
				STR_PUT(digits[--k]);
		} else {
			size_t room = n + 1 < cap ? cap - 1 - n : 0;
			if (room)
				memcpy(dst + n, str, str_len < room ? str_len : room);
			n += str_len;
		}
	}
#undef STR_PUT
	if (cap)
		dst[n < cap ? n : cap - 1] = '\0';
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

int str_vformat(char *dst, size_t cap, const char *fmt, va_list ap)
{
	va_list fast;
	va_copy(fast, ap);
	int n = str_format_fast(dst, cap, fmt, fast);
	va_end(fast);
	return n >= 0 ? n : vsnprintf(dst, cap, fmt, ap);
}

int str_format(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = str_vformat(dst, cap, fmt, ap);
	va_end(ap);
	return n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[512];
	int n = str_vformat(tmp, sizeof(tmp), fmt, ap);
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
