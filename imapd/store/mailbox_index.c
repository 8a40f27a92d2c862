/* mailbox_index.c - the per-folder UID index file and keyword list: format, pure parser, flag letters, locking, atomic file replacement.
 *
 * MAILDIR/mtad-uidlist, text, one record per line, every line ends in '\n':
 *
 *   mtad-uidlist VERSION UIDVALIDITY UIDNEXT HIGHESTMODSEQ COUNT NEWSTAMP CURSTAMP [RECENTUID]
 *   UID MODSEQ SIZE IDATE LOC NAME          (COUNT lines, UID strictly increasing)
 *
 * - VERSION: 1, or 2 when some SIZE is "-" (not known yet: the file's name has no ",S=" and
 *   nobody asked). Version 2 is written only while a size is unknown, so an index without
 *   one stays readable by the versions that know only 1. Both are read.
 * - UIDVALIDITY, UIDNEXT: 1..2^32-1; every UID < UIDNEXT. HIGHESTMODSEQ >= every MODSEQ >= 1.
 * - NEWSTAMP, CURSTAMP: "SEC.NSEC" mtimes of new/ and cur/ taken just before the last full
 *   directory scan ("0.0" = unknown, rescan). When both still match, the directories hold
 *   exactly what the index says, so a sync costs a few stat calls.
 * - RECENTUID: the first UID no read-write SELECT has claimed as \Recent yet (RFC 3501
 *   2.3.2); 1..UIDNEXT. Absent: UIDNEXT (nothing is recent; written only when lower).
 * - SIZE: octets of the file, or "-" (version 2 only); IDATE: internal date, seconds since
 *   the epoch.
 * - LOC: 'n' (file in new/) or 'c' (in cur/). NAME: the file's full current name (base name
 *   before the first ':', then ":2,FLAGS"); the base name identifies the message.
 * - COUNT must equal the number of records: a truncated or damaged file is refused and the
 *   caller rebuilds the index from the directories (new UIDVALIDITY), losing nothing.
 *
 * MAILDIR/mtad-keywords: "N NAME\n" per keyword, N = 0..25 = flag letter 'a'+N (the idea of
 * Dovecot's dovecot-keywords).
 */
#include "mailbox_index.h"
#include "fileutil.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAILBOX_INDEX_MAGIC "mtad-uidlist "

struct mailbox_names *mailbox_names_ref(struct mailbox_names *n)
{
	if (n)
		__atomic_add_fetch(&n->refs, 1, __ATOMIC_RELAXED);
	return n;
}

void mailbox_names_unref(struct mailbox_names *n)
{
	if (n && __atomic_sub_fetch(&n->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(n);
}

bool mailbox_names_holds(const struct mailbox_names *n, const char *p)
{
	return n && p >= n->data && p < n->data + n->len;
}

static struct mailbox_names *mailbox_names_new(size_t len)
{
	struct mailbox_names *n = xmalloc(sizeof(*n) + len + 1);
	n->refs = 1;
	n->len = len;
	return n;
}

struct mailbox_frozen *mailbox_frozen_ref(struct mailbox_frozen *f)
{
	if (f)
		__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
	return f;
}

void mailbox_frozen_unref(struct mailbox_frozen *f)
{
	if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(__atomic_load_n(&f->view, __ATOMIC_ACQUIRE));
	free(f->e);
	mailbox_names_unref(f->names);
	free(f);
}

void mailbox_index_init(struct mailbox_index *idx)
{
	memset(idx, 0, sizeof(*idx));
}

void mailbox_index_name_release(const struct mailbox_index *idx, char *name)
{
	if (!mailbox_names_holds(idx->names, name))
		free(name);
}

void mailbox_index_name_set(struct mailbox_index *idx, struct mailbox_entry *e, char *name)
{
	if (idx->frozen)
		abort(); /* a caller forgot mailbox_index_own: it would write shared entries */
	mailbox_index_name_release(idx, e->name);
	e->name = name;
}

void mailbox_index_free(struct mailbox_index *idx)
{
	if (idx->frozen) {
		mailbox_frozen_unref(idx->frozen);
	} else {
		for (size_t i = 0; i < idx->n; i++)
			mailbox_index_name_release(idx, idx->e[i].name);
		free(idx->e);
	}
	mailbox_names_unref(idx->names);
	mailbox_index_init(idx);
}

void mailbox_index_own(struct mailbox_index *idx)
{
	struct mailbox_frozen *f = idx->frozen;
	if (!f)
		return;
	/* Every name lies in idx->names, which idx holds a reference of its own on. */
	idx->cap = idx->n ? idx->n : 1;
	idx->e = xmalloc(idx->cap * sizeof(*idx->e));
	if (idx->n)
		memcpy(idx->e, f->e, idx->n * sizeof(*idx->e));
	idx->frozen = NULL;
	mailbox_frozen_unref(f);
}

void mailbox_index_freeze(struct mailbox_index *idx)
{
	if (idx->frozen)
		return;
	for (size_t i = 0; i < idx->n; i++) {
		if (!mailbox_names_holds(idx->names, idx->e[i].name)) {
			mailbox_index_pack(idx);
			break;
		}
	}
	struct mailbox_frozen *f = xcalloc(1, sizeof(*f));
	f->refs = 1;
	f->e = idx->e;
	f->n = idx->n;
	f->names = mailbox_names_ref(idx->names);
	idx->frozen = f;
	idx->cap = idx->n;
}

void mailbox_index_share(struct mailbox_index *dst, const struct mailbox_index *src)
{
	if (!src->frozen)
		abort(); /* only frozen entries are shared */
	*dst = *src;
	mailbox_frozen_ref(dst->frozen);
	mailbox_names_ref(dst->names);
}

void mailbox_index_pack(struct mailbox_index *idx)
{
	if (idx->frozen)
		return; /* every name already lies in the block */
	size_t total = 0;
	for (size_t i = 0; i < idx->n; i++)
		total += strlen(idx->e[i].name) + 1;
	struct mailbox_names *names = mailbox_names_new(total);
	char *p = names->data;
	for (size_t i = 0; i < idx->n; i++) {
		size_t len = strlen(idx->e[i].name) + 1;
		memcpy(p, idx->e[i].name, len);
		mailbox_index_name_release(idx, idx->e[i].name);
		idx->e[i].name = p;
		p += len;
	}
	mailbox_names_unref(idx->names);
	idx->names = names;
}

void mailbox_index_push(struct mailbox_index *idx, const struct mailbox_entry *e)
{
	if (idx->frozen)
		mailbox_index_own(idx);
	if (idx->n == idx->cap) {
		idx->cap = idx->cap ? idx->cap * 2 : 64;
		idx->e = xrealloc(idx->e, idx->cap * sizeof(*idx->e));
	}
	idx->e[idx->n++] = *e;
}

void mailbox_index_copy(struct mailbox_index *dst, const struct mailbox_index *src)
{
	*dst = *src;
	dst->e = NULL;
	dst->n = dst->cap = 0;
	dst->frozen = NULL;
	dst->names = mailbox_names_ref(src->names);
	if (src->n) {
		dst->cap = src->n;
		dst->e = xmalloc(src->n * sizeof(*dst->e));
		memcpy(dst->e, src->e, src->n * sizeof(*dst->e));
		for (size_t i = 0; i < src->n; i++) {
			if (!mailbox_names_holds(src->names, src->e[i].name))
				dst->e[i].name = xstrdup(src->e[i].name);
		}
		dst->n = src->n;
	}
}

static void mailbox_index_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void mailbox_index_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

bool mailbox_index_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '/' || c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

size_t mailbox_index_base_len(const char *name)
{
	return (size_t)(strchrnul(name, ':') - name);
}

/* Reads a decimal number up to the next ' ' (consumed) or end. Returns 0/-1. */
static int mailbox_index_num(const char **p, const char *end, uint64_t max, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	if (s == end || *s < '0' || *s > '9')
		return -1;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (x > (max - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	if (s < end) {
		if (*s != ' ')
			return -1;
		s++;
	}
	*p = s;
	*v = x;
	return 0;
}

/* "SEC.NSEC" followed by ' ' or end. */
static int mailbox_index_stamp(const char **p, const char *end, struct mailbox_stamp *st)
{
	const char *s = *p;
	uint64_t sec = 0, nsec = 0;
	const char *dot = memchr(s, '.', (size_t)(end - s));
	if (!dot)
		return -1;
	const char *q = s;
	/* the seconds part must end exactly at the dot */
	for (; q < dot; q++) {
		if (*q < '0' || *q > '9' || sec > (uint64_t)INT64_MAX / 10 - 9)
			return -1;
		sec = sec * 10 + (uint64_t)(*q - '0');
	}
	if (q == s)
		return -1;
	q = dot + 1;
	if (mailbox_index_num(&q, end, 999999999, &nsec) < 0)
		return -1;
	st->sec = (int64_t)sec;
	st->nsec = (long)nsec;
	*p = q;
	return 0;
}

int mailbox_index_parse(const char *data, size_t len, struct mailbox_index *idx_r, char *err,
			size_t errlen)
{
	mailbox_index_init(idx_r);
	const char *p = data, *end = data + len;
	const char *nl = memchr(p, '\n', len);
	uint64_t v[5];
	size_t magic = strlen(MAILBOX_INDEX_MAGIC);

	if (!nl || (size_t)(nl - p) < magic + 2 || memcmp(p, MAILBOX_INDEX_MAGIC, magic) != 0 ||
	    (p[magic] != '1' && p[magic] != '2') || p[magic + 1] != ' ') {
		mailbox_index_err(err, errlen, "line 1: not an mtad-uidlist version 1 or 2 header");
		return -1;
	}
	bool v2 = p[magic] == '2';
	const char *q = p + magic + 2;
	static const uint64_t hmax[4] = { UINT32_MAX, UINT32_MAX, INT64_MAX,
					  MAILBOX_INDEX_MAX_MSGS };
	for (size_t i = 0; i < 4; i++) {
		if (mailbox_index_num(&q, nl, hmax[i], &v[i]) < 0 || q == nl) {
			mailbox_index_err(err, errlen, "line 1: bad header field %zu", i + 1);
			return -1;
		}
		if (i == 0)
			idx_r->uidvalidity = (uint32_t)v[0];
	}
	if (mailbox_index_stamp(&q, nl, &idx_r->new_stamp) < 0 || q == nl ||
	    mailbox_index_stamp(&q, nl, &idx_r->cur_stamp) < 0) {
		mailbox_index_err(err, errlen, "line 1: bad directory stamps");
		return -1;
	}
	v[4] = 0;
	if (q != nl && (mailbox_index_num(&q, nl, UINT32_MAX, &v[4]) < 0 || q != nl || v[4] == 0)) {
		mailbox_index_err(err, errlen, "line 1: bad RECENTUID");
		return -1;
	}
	if (v[0] == 0 || v[1] == 0 || v[2] == 0) {
		mailbox_index_err(err, errlen,
				  "line 1: zero UIDVALIDITY, UIDNEXT or HIGHESTMODSEQ");
		return -1;
	}
	idx_r->uidnext = (uint32_t)v[1];
	idx_r->highest_modseq = v[2];
	if (v[4] > v[1]) {
		mailbox_index_err(err, errlen, "line 1: RECENTUID above UIDNEXT");
		return -1;
	}
	idx_r->recent_uid = v[4] ? (uint32_t)v[4] : idx_r->uidnext;
	uint64_t count = v[3];
	/* Each record takes at least 12 bytes: do not trust COUNT for the allocation. */
	if (count > len / 12 + 1) {
		mailbox_index_err(err, errlen, "line 1: count %" PRIu64 " exceeds the file", count);
		goto fail;
	}
	p = nl + 1;
	uint32_t last_uid = 0;
	size_t line = 1;
	/* Every name lands in one block (bounded by the file's size): no allocation per name. */
	idx_r->names = mailbox_names_new(len);
	char *names_end = idx_r->names->data;
	while (p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			mailbox_index_err(err, errlen, "line %zu: no newline (truncated)", line);
			goto fail;
		}
		if (idx_r->n >= count) {
			mailbox_index_err(err, errlen, "line %zu: more records than %" PRIu64, line,
					  count);
			goto fail;
		}
		static const uint64_t rmax[4] = { UINT32_MAX, INT64_MAX, MAILBOX_INDEX_MAX_SIZE,
						  MAILBOX_INDEX_MAX_DATE };
		q = p;
		bool size_unknown = false;
		for (size_t i = 0; i < 4; i++) {
			if (i == 2 && v2 && nl - q >= 2 && q[0] == '-' && q[1] == ' ') {
				size_unknown = true;
				v[2] = 0;
				q += 2;
				continue;
			}
			if (mailbox_index_num(&q, nl, rmax[i], &v[i]) < 0 || q == nl ||
			    q[-1] != ' ') {
				mailbox_index_err(err, errlen, "line %zu: bad field %zu", line,
						  i + 1);
				goto fail;
			}
		}
		if (nl - q < 3 || (q[0] != 'n' && q[0] != 'c') || q[1] != ' ') {
			mailbox_index_err(err, errlen, "line %zu: bad location", line);
			goto fail;
		}
		bool in_new = q[0] == 'n';
		q += 2;
		if (!mailbox_index_name_ok(q, (size_t)(nl - q))) { /* refuses NUL too */
			mailbox_index_err(err, errlen, "line %zu: bad file name", line);
			goto fail;
		}
		uint32_t uid = (uint32_t)v[0];
		if (uid == 0 || uid <= last_uid || uid >= idx_r->uidnext) {
			mailbox_index_err(err, errlen,
					  "line %zu: UID %" PRIu32 " out of order or range", line,
					  uid);
			goto fail;
		}
		if (v[1] == 0 || v[1] > idx_r->highest_modseq) {
			mailbox_index_err(err, errlen, "line %zu: modseq out of range", line);
			goto fail;
		}
		if (q[0] == ':') {
			mailbox_index_err(err, errlen, "line %zu: empty base name", line);
			goto fail;
		}
		size_t name_len = (size_t)(nl - q);
		memcpy(names_end, q, name_len);
		names_end[name_len] = '\0';
		struct mailbox_entry e = {
			.uid = uid,
			.modseq = v[1],
			.size = size_unknown ? MAILBOX_SIZE_UNKNOWN : v[2],
			.idate = (int64_t)v[3],
			.name = names_end,
			.in_new = in_new,
		};
		names_end += name_len + 1;
		mailbox_index_push(idx_r, &e);
		last_uid = uid;
		p = nl + 1;
	}
	if (idx_r->n != count) {
		mailbox_index_err(err, errlen, "%zu records, header says %" PRIu64, idx_r->n,
				  count);
		goto fail;
	}
	return 0;
fail:;
	uint32_t uv = idx_r->uidvalidity;
	mailbox_index_free(idx_r);
	idx_r->uidvalidity = uv;
	return -1;
}

/* Writes v in decimal at p; returns the end. */
static char *mailbox_index_put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

void mailbox_index_format(const struct mailbox_index *idx, struct buf *out)
{
	bool v2 = false;
	for (size_t i = 0; i < idx->n && !v2; i++)
		v2 = idx->e[i].size == MAILBOX_SIZE_UNKNOWN;
	buf_printf(out,
		   MAILBOX_INDEX_MAGIC "%c %" PRIu32 " %" PRIu32 " %" PRIu64 " %zu %" PRId64
				       ".%ld %" PRId64 ".%ld",
		   v2 ? '2' : '1', idx->uidvalidity, idx->uidnext, idx->highest_modseq, idx->n,
		   idx->new_stamp.sec, idx->new_stamp.nsec, idx->cur_stamp.sec,
		   idx->cur_stamp.nsec);
	/* Written only when some message is still unclaimed: the common file stays readable
	 * by versions that predate the field. */
	if (idx->recent_uid && idx->recent_uid < idx->uidnext)
		buf_printf(out, " %" PRIu32, idx->recent_uid);
	buf_append_str(out, "\n");
	/* One line per message, formatted by hand: a 100,000-message folder's index is
	 * rewritten on every change, and printf was most of that cost. */
	buf_reserve(out, idx->n * 64);
	for (size_t i = 0; i < idx->n; i++) {
		const struct mailbox_entry *e = &idx->e[i];
		size_t nlen = strlen(e->name);
		buf_reserve(out, 4 * 21 + 8 + nlen);
		char *p = out->data + out->len;
		p = mailbox_index_put_u64(p, e->uid);
		*p++ = ' ';
		p = mailbox_index_put_u64(p, e->modseq);
		*p++ = ' ';
		if (e->size == MAILBOX_SIZE_UNKNOWN)
			*p++ = '-';
		else
			p = mailbox_index_put_u64(p, e->size);
		*p++ = ' ';
		if (e->idate < 0) {
			*p++ = '-';
			p = mailbox_index_put_u64(p, (uint64_t)0 - (uint64_t)e->idate);
		} else {
			p = mailbox_index_put_u64(p, (uint64_t)e->idate);
		}
		*p++ = ' ';
		*p++ = e->in_new ? 'n' : 'c';
		*p++ = ' ';
		memcpy(p, e->name, nlen);
		p += nlen;
		*p++ = '\n';
		out->len = (size_t)(p - out->data);
	}
	out->data[out->len] = '\0';
}

void mailbox_vanished_free(struct mailbox_vanished *v)
{
	free(v->rec);
	memset(v, 0, sizeof(*v));
}

#define MAILBOX_VANISHED_MAGIC "mtad-vanished 1 "

int mailbox_vanished_parse(const char *data, size_t len, struct mailbox_vanished *v, char *err,
			   size_t errlen)
{
	memset(v, 0, sizeof(*v));
	const char *p = data, *end = data + len;
	const char *nl = memchr(p, '\n', len);
	size_t magic = strlen(MAILBOX_VANISHED_MAGIC);
	uint64_t h[2];
	if (!nl || (size_t)(nl - p) < magic || memcmp(p, MAILBOX_VANISHED_MAGIC, magic) != 0) {
		mailbox_index_err(err, errlen, "line 1: not an mtad-vanished version 1 header");
		return -1;
	}
	const char *q = p + magic;
	if (mailbox_index_num(&q, nl, UINT32_MAX, &h[0]) < 0 || q == nl || q[-1] != ' ' ||
	    mailbox_index_num(&q, nl, INT64_MAX, &h[1]) < 0 || q != nl || h[0] == 0) {
		mailbox_index_err(err, errlen, "line 1: bad UIDVALIDITY or FLOOR");
		return -1;
	}
	v->uidvalidity = (uint32_t)h[0];
	v->floor = h[1];
	size_t cap = 0, line = 1;
	uint64_t last = v->floor;
	for (p = nl + 1; p < end; p = nl + 1) {
		line++;
		uint64_t r[3];
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || v->n >= MAILBOX_VANISHED_MAX) {
			mailbox_index_err(err, errlen, "line %zu: %s", line,
					  nl ? "too many records" : "no newline (truncated)");
			goto fail;
		}
		q = p;
		static const uint64_t rmax[3] = { INT64_MAX, UINT32_MAX, UINT32_MAX };
		for (size_t i = 0; i < 3; i++) {
			if (mailbox_index_num(&q, nl, rmax[i], &r[i]) < 0 ||
			    (i < 2 && (q == nl || q[-1] != ' '))) {
				mailbox_index_err(err, errlen, "line %zu: bad field %zu", line,
						  i + 1);
				goto fail;
			}
		}
		if (q != nl || r[0] <= v->floor || r[0] < last || r[1] == 0 || r[1] > r[2]) {
			mailbox_index_err(err, errlen, "line %zu: record out of order or range",
					  line);
			goto fail;
		}
		if (v->n == cap) {
			cap = cap ? cap * 2 : 16;
			v->rec = xrealloc(v->rec, cap * sizeof(*v->rec));
		}
		v->rec[v->n++] = (struct mailbox_vanished_rec){ r[0], (uint32_t)r[1],
								(uint32_t)r[2] };
		last = r[0];
	}
	return 0;
fail:
	mailbox_vanished_free(v);
	return -1;
}

void mailbox_vanished_format(const struct mailbox_vanished *v, struct buf *out)
{
	buf_printf(out, MAILBOX_VANISHED_MAGIC "%" PRIu32 " %" PRIu64 "\n", v->uidvalidity,
		   v->floor);
	for (size_t i = 0; i < v->n; i++)
		buf_printf(out, "%" PRIu64 " %" PRIu32 " %" PRIu32 "\n", v->rec[i].modseq,
			   v->rec[i].lo, v->rec[i].hi);
}

void mailbox_vanished_add(struct mailbox_vanished *v, uint64_t modseq, const uint32_t *uids,
			  size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (uids[i] != 0) {
			v->rec = xrealloc(v->rec, (v->n + 1) * sizeof(*v->rec));
			v->rec[v->n++] = (struct mailbox_vanished_rec){ modseq, uids[i], uids[j] };
		}
		i = j + 1;
	}
	if (v->n > MAILBOX_VANISHED_MAX) {
		size_t drop = v->n - MAILBOX_VANISHED_MAX;
		/* Records of one expunge go together, so the floor names whole expunges. */
		while (drop < v->n && v->rec[drop].modseq == v->rec[drop - 1].modseq)
			drop++;
		v->floor = v->rec[drop - 1].modseq;
		memmove(v->rec, v->rec + drop, (v->n - drop) * sizeof(*v->rec));
		v->n -= drop;
	}
}

bool mailbox_keyword_name_ok(const char *name)
{
	size_t n = 0;
	if (!name || !*name || name[0] == '\\')
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++, n++) {
		/* IMAP atom-char: no SP, CTL, ( ) { % * " \ ] and 7-bit only */
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p))
			return false;
	}
	return n <= 128;
}

size_t mailbox_keywords_parse(const char *data, size_t len, char *names[MAILBOX_MAX_KEYWORDS])
{
	size_t used = 0;
	const char *p = data, *end = data + len;
	for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++)
		names[i] = NULL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *q = p;
		uint64_t idx;
		if (mailbox_index_num(&q, le, 1000, &idx) == 0 && q < le && q[-1] == ' ' &&
		    idx < MAILBOX_MAX_KEYWORDS && !names[idx] && (size_t)(le - q) <= 128) {
			char *name = xstrndup(q, (size_t)(le - q));
			bool dup = false;
			for (size_t i = 0; i < MAILBOX_MAX_KEYWORDS; i++)
				dup = dup || (names[i] && strcasecmp(names[i], name) == 0);
			if (!dup && mailbox_keyword_name_ok(name) &&
			    strlen(name) == (size_t)(le - q)) {
				names[idx] = name;
				if (idx + 1 > used)
					used = (size_t)idx + 1;
			} else {
				free(name);
			}
		}
		p = nl ? nl + 1 : end;
	}
	return used;
}

void mailbox_keywords_format(char *const names[MAILBOX_MAX_KEYWORDS], size_t n, struct buf *out)
{
	for (size_t i = 0; i < n && i < MAILBOX_MAX_KEYWORDS; i++) {
		if (names[i])
			buf_printf(out, "%zu %s\n", i, names[i]);
	}
}

/* The bit of a system flag letter, 0 if it is none. */
static unsigned mailbox_flag_bit(char c)
{
	switch (c) {
	case 'S':
		return MAILBOX_SEEN;
	case 'R':
		return MAILBOX_ANSWERED;
	case 'F':
		return MAILBOX_FLAGGED;
	case 'T':
		return MAILBOX_DELETED;
	case 'D':
		return MAILBOX_DRAFT;
	default:
		return 0;
	}
}

static const char *mailbox_info(const char *name)
{
	const char *info = strchr(name, ':');
	if (info && strncmp(info, ":2,", 3) == 0)
		return info + 3;
	return NULL;
}

void mailbox_name_flags(const char *name, unsigned *flags_r, uint32_t *kw_r)
{
	const char *info = mailbox_info(name);
	*flags_r = 0;
	*kw_r = 0;
	for (; info && *info; info++) {
		if (*info >= 'a' && *info <= 'z')
			*kw_r |= (uint32_t)1 << (*info - 'a');
		else
			*flags_r |= mailbox_flag_bit(*info);
	}
}

void mailbox_info_build(const char *old_name, unsigned flags, uint32_t kw, char *out, size_t outlen)
{
	bool have[128] = { false };
	const char *info = old_name ? mailbox_info(old_name) : NULL;
	for (; info && *info; info++) {
		unsigned char c = (unsigned char)*info;
		/* keep letters we do not manage (e.g. 'P' passed); only printable ASCII */
		if (c > 0x20 && c < 0x7f && c != ':' && c != '/' && !(c >= 'a' && c <= 'z') &&
		    !mailbox_flag_bit((char)c))
			have[c] = true;
	}
	for (const char *f = "DFRST"; *f; f++)
		have[(unsigned char)*f] = (flags & mailbox_flag_bit(*f)) != 0;
	for (unsigned i = 0; i < MAILBOX_MAX_KEYWORDS; i++)
		have['a' + i] = (kw >> i) & 1;
	size_t n = 0;
	if (outlen < 4) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	memcpy(out, ":2,", 3);
	n = 3;
	for (unsigned c = 0x21; c < 0x7f && n + 1 < outlen; c++) {
		if (have[c])
			out[n++] = (char)c;
	}
	out[n] = '\0';
}

static _Atomic unsigned long mailbox_replace_synced;

unsigned long mailbox_file_replace_synced(void)
{
	return mailbox_replace_synced;
}

int mailbox_file_replace(const char *dir, const char *tmpname, const char *name, const void *data,
			 size_t len)
{
	return mailbox_file_replace_sync(dir, tmpname, name, data, len, true);
}

int mailbox_file_replace_sync(const char *dir, const char *tmpname, const char *name,
			      const void *data, size_t len, bool durable)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s/%s", dir, tmpname) >= (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	const char *p = data;
	int r = 0;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (r == 0 && durable && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	if (!durable)
		return 0;
	mailbox_replace_synced++;
	return fsync_dir(dir);
}

int mailbox_lock(const char *maildir)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/" MAILBOX_LOCK_FILE, maildir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return mailbox_lock_path(path);
}

int mailbox_lock_path(const char *path)
{
	int fd = open_lock_file(path, 0600);
	if (fd < 0)
		return fd;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int r = -errno;
			close(fd);
			return r;
		}
	}
	return fd;
}

void mailbox_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

uint32_t mailbox_lock_hint_read(int fd)
{
	char b[64];
	ssize_t n = pread(fd, b, sizeof(b) - 1, 0);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	unsigned long v = 0;
	if (sscanf(b, "uidvalidity %lu", &v) != 1 || v > UINT32_MAX)
		return 0;
	return (uint32_t)v;
}

void mailbox_lock_hint_write(int fd, uint32_t uidvalidity)
{
	char b[64];
	int n = snprintf(b, sizeof(b), "uidvalidity %" PRIu32 "\n", uidvalidity);
	if (pwrite(fd, b, (size_t)n, 0) == n && ftruncate(fd, n) < 0)
		return; /* only a hint: a failure costs nothing but its accuracy */
}
