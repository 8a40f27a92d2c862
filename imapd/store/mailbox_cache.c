/* mailbox_cache.c - the per-folder header cache (mtad-cache): pure record format, lookup by UID, fill from message files, locked appends.
 *
 * MAILDIR/mtad-cache, append-only:
 *
 *   mtad-cache 1 UIDVALIDITY\n
 *   K UID LEN CHECK\n<LEN bytes>\n      (any number, any order)
 *
 * - K: 'H' = the message's header block (up to and including the blank line), 'E' = its
 *   IMAP ENVELOPE as FETCH renders it (common/mime), 'S' = its SORT/THREAD keys (sort_keys.h:
 *   sent date, base subject, first addresses, display names, message ids).
 *
 * - CHECK: FNV-1a 32 of the LEN bytes, 8 lower-case hex digits. LEN <= MAILBOX_CACHE_MAX_HEADER.
 * - A record that is torn (crash during an append), malformed or fails its check ends the
 *   file for readers; the next writer truncates the file there before appending.
 * - A UID may appear twice (two sessions filled it at once): the first one counts; a folder's
 *   messages never change bytes under one UIDVALIDITY, so both are equal.
 * - A head with another UIDVALIDITY, or a damaged head, makes the whole file void; a writer
 *   with a higher UIDVALIDITY starts it afresh.
 * Writers hold flock(LOCK_EX) on the cache file itself while appending; readers take no
 * lock and use only complete, checked records. The cache is an accelerator only: deleting
 * it loses nothing.
 */
#include "mailbox_cache.h"
#include "imap_render.h"
#include "mime.h"
#include "rfc5322.h"
#include "sort_keys.h"
#include "str.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC      "mtad-cache 1 "
#define CACHE_READ_CHUNK 8192
#define CACHE_HUGE_MIN   ((size_t)8 << 20) /* images at least this large get huge-page advice */

/* ---- pure format ---- */

static uint32_t cache_check(const char *p, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 16777619u;
	}
	return h;
}

/* Parses a decimal number of at most 10 digits ending at a stop byte. */
static bool cache_number(const char *p, size_t len, size_t *pos, char stop, uint64_t max,
			 uint64_t *v_r)
{
	size_t i = *pos;
	uint64_t v = 0;
	size_t digits = 0;
	while (i < len && p[i] >= '0' && p[i] <= '9') {
		if (++digits > 10)
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
		i++;
	}
	if (digits == 0 || (digits > 1 && p[*pos] == '0') || i >= len || p[i] != stop || v > max)
		return false;
	*pos = i + 1;
	*v_r = v;
	return true;
}

size_t mailbox_cache_parse_head(const char *data, size_t len, uint32_t *uidvalidity_r)
{
	size_t m = sizeof(CACHE_MAGIC) - 1;
	*uidvalidity_r = 0;
	if (len < m || memcmp(data, CACHE_MAGIC, m) != 0)
		return 0;
	size_t pos = m;
	uint64_t v;
	if (!cache_number(data, len, &pos, '\n', UINT32_MAX, &v) || v == 0)
		return 0;
	*uidvalidity_r = (uint32_t)v;
	return pos;
}

size_t mailbox_cache_parse_records(const char *data, size_t len, size_t start, bool verify,
				   struct mailbox_cache_recs *out)
{
	size_t good = start;
	size_t pos = start;
	while (pos < len) {
		char kind = data[pos];
		if (len - pos < 2 ||
		    (kind != MAILBOX_CACHE_HEADER && kind != MAILBOX_CACHE_ENVELOPE &&
		     kind != MAILBOX_CACHE_SORTKEYS) ||
		    data[pos + 1] != ' ')
			break;
		pos += 2;
		uint64_t uid, hlen;
		if (!cache_number(data, len, &pos, ' ', UINT32_MAX, &uid) || uid == 0)
			break;
		if (!cache_number(data, len, &pos, ' ', MAILBOX_CACHE_MAX_HEADER, &hlen))
			break;
		if (len - pos < 9 || data[pos + 8] != '\n')
			break;
		uint32_t check = 0;
		bool hex_ok = true;
		for (int k = 0; k < 8; k++) {
			int d = hex_value(data[pos + (size_t)k]);
			if (d < 0) {
				hex_ok = false;
				break;
			}
			check = check << 4 | (uint32_t)d;
		}
		if (!hex_ok)
			break;
		pos += 9;
		if (len - pos < hlen + 1 || data[pos + hlen] != '\n')
			break;
		if (verify && cache_check(data + pos, (size_t)hlen) != check)
			break;
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 64;
			out->r = xrealloc(out->r, out->cap * sizeof(*out->r));
		}
		out->r[out->n++] = (struct mailbox_cache_rec){ (uint32_t)uid, kind, check, pos,
							       (size_t)hlen };
		pos += hlen + 1;
		good = pos;
	}
	return good;
}

bool mailbox_cache_record_ok(const char *data, const struct mailbox_cache_rec *r)
{
	return cache_check(data + r->off, r->len) == r->check;
}

void mailbox_cache_format_head(struct buf *out, uint32_t uidvalidity)
{
	buf_printf(out, CACHE_MAGIC "%" PRIu32 "\n", uidvalidity);
}

void mailbox_cache_format_record(struct buf *out, char kind, uint32_t uid, const char *bytes,
				 size_t len)
{
	buf_printf(out, "%c %" PRIu32 " %zu %08" PRIx32 "\n", kind, uid, len,
		   cache_check(bytes, len));
	buf_append(out, bytes, len);
	buf_append(out, "\n", 1);
}

void mailbox_cache_recs_free(struct mailbox_cache_recs *r)
{
	free(r->r);
	memset(r, 0, sizeof(*r));
}

/* ---- the cache object ---- */

struct cache_entry {
	uint32_t uid;
	char kind;       /* 0: a record from the file whose bytes failed their check */
	bool pending;    /* bytes in c->mem, not yet in the file */
	bool unverified; /* from the file, bytes not yet compared with check */
	uint32_t check;
	size_t off, len;
};

struct mailbox_cache {
	char path[PATH_MAX];
	uint32_t uidvalidity;
	bool disabled;     /* the file is beyond our limits or belongs to a newer UIDVALIDITY */
	bool tail_checked; /* the file was checked for others' appends since the last flush */
	struct buf disk;   /* the file image read so far: head + good records */
	size_t disk_good;  /* disk.len when the head was valid and ours, else 0 */
	struct buf mem;    /* records filled by us, not yet appended */
	struct cache_entry *e;
	size_t n, cap;
	long *slot; /* open addressing: entry index + 1, 0 = empty */
	size_t nslots;
	struct buf scratch; /* a header too large to cache, or the file's bytes being read */
};

/* UIDs are unique and mostly dense, so the key itself spreads them without collisions, and
 * lookups in UID order (SEARCH, FETCH 1:*) walk the slots in memory order instead of jumping
 * (a scrambling hash made every lookup of a 100,000-message SEARCH a cache miss). */
static size_t cache_hash(uint32_t uid, char kind, size_t nslots)
{
	size_t k = kind == MAILBOX_CACHE_ENVELOPE ? 1 : kind == MAILBOX_CACHE_SORTKEYS ? 2 : 0;
	return (size_t)(((size_t)uid * 4u + k) & (nslots - 1));
}

static long cache_find(const struct mailbox_cache *c, uint32_t uid, char kind)
{
	if (!c->nslots)
		return -1;
	for (size_t h = cache_hash(uid, kind, c->nslots);; h = (h + 1) & (c->nslots - 1)) {
		long v = c->slot[h];
		if (v == 0)
			return -1;
		if (c->e[v - 1].uid == uid && c->e[v - 1].kind == kind)
			return v - 1;
	}
}

/* An entry about to be used: a record from the file is checked against its check value
 * first; one that fails is dropped (its slot stays, matching nothing) and reads as a miss. */
static long cache_usable(struct mailbox_cache *c, long i)
{
	if (i < 0 || !c->e[i].unverified)
		return i;
	struct cache_entry *e = &c->e[i];
	struct mailbox_cache_rec r = { e->uid, e->kind, e->check, e->off, e->len };
	if (mailbox_cache_record_ok(c->disk.data, &r)) {
		e->unverified = false;
		return i;
	}
	e->kind = 0;
	return -1;
}

static void cache_rehash(struct mailbox_cache *c)
{
	size_t n = c->nslots ? c->nslots * 2 : 1024;
	while (n < c->n * 2 + 2)
		n *= 2;
	free(c->slot);
	c->slot = xcalloc(n, sizeof(*c->slot));
	c->nslots = n;
	for (size_t i = 0; i < c->n; i++) {
		size_t h = cache_hash(c->e[i].uid, c->e[i].kind, n);
		while (c->slot[h])
			h = (h + 1) & (n - 1);
		c->slot[h] = (long)i + 1;
	}
}

/* Adds an entry unless the UID is known. */
static void cache_add(struct mailbox_cache *c, const struct mailbox_cache_rec *r, bool pending)
{
	if (cache_find(c, r->uid, r->kind) >= 0)
		return;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->e = xrealloc(c->e, c->cap * sizeof(*c->e));
	}
	uint32_t uid = r->uid;
	char kind = r->kind;
	c->e[c->n++] = (struct cache_entry){
		uid, kind, pending, !pending, r->check, r->off, r->len
	};
	if ((c->n + 1) * 2 > c->nslots) {
		cache_rehash(c);
		return;
	}
	size_t h = cache_hash(uid, kind, c->nslots);
	while (c->slot[h])
		h = (h + 1) & (c->nslots - 1);
	c->slot[h] = (long)c->n;
}

/* Forgets every entry that came from the file. */
static void cache_drop_disk(struct mailbox_cache *c)
{
	size_t w = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->e[i].pending)
			c->e[w++] = c->e[i];
	c->n = w;
	buf_reset(&c->disk);
	c->disk_good = 0;
	cache_rehash(c);
}

struct mailbox_cache *mailbox_cache_new(const char *maildir, uint32_t uidvalidity)
{
	struct mailbox_cache *c = xcalloc(1, sizeof(*c));
	int n = snprintf(c->path, sizeof(c->path), "%s/%s", maildir, MAILBOX_CACHE_FILE);
	if (n < 0 || (size_t)n >= sizeof(c->path))
		c->disabled = true;
	c->uidvalidity = uidvalidity;
	buf_init(&c->disk);
	buf_init(&c->mem);
	buf_init(&c->scratch);
	return c;
}

uint32_t mailbox_cache_uidvalidity(const struct mailbox_cache *c)
{
	return c->uidvalidity;
}

/* A large file image (a 100,000-message folder's is over 100 MB) is read into transparent huge
 * pages where the kernel offers them (madvise mode): one fault per 2 MB instead of one per
 * 4 KB page, which on a virtual machine cost more than reading the bytes. Advice only. */
static void cache_advise_huge(const struct buf *b)
{
#ifdef MADV_HUGEPAGE
	if (b->cap < CACHE_HUGE_MIN)
		return;
	uintptr_t start = ((uintptr_t)b->data + 4095) & ~(uintptr_t)4095;
	uintptr_t end = ((uintptr_t)b->data + b->cap) & ~(uintptr_t)4095;
	if (end > start)
		(void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
	(void)b;
#endif
}

/* Reads fd's bytes from c->disk.len to its end (bounded). Returns the file size or -errno. */
static long long cache_read_tail(struct mailbox_cache *c, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size > MAILBOX_CACHE_MAX_FILE) {
		c->disabled = true;
		return -EFBIG;
	}
	if ((size_t)st.st_size < c->disk.len) {
		/* Shrunk: started afresh by someone (new UIDVALIDITY) or truncated. */
		cache_drop_disk(c);
	}
	size_t want = (size_t)st.st_size - c->disk.len;
	if (want == 0)
		return (long long)st.st_size;
	buf_reserve(&c->disk, want);
	cache_advise_huge(&c->disk);
	size_t got = 0;
	while (got < want) {
		ssize_t r = pread(fd, c->disk.data + c->disk.len + got, want - got,
				  (off_t)(c->disk.len + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	c->disk.len += got;
	c->disk.data[c->disk.len] = '\0';
	return (long long)st.st_size;
}

/* Parses what cache_read_tail added. */
static void cache_parse_disk(struct mailbox_cache *c)
{
	if (c->disk_good == 0) {
		uint32_t uv;
		size_t h = mailbox_cache_parse_head(c->disk.data, c->disk.len, &uv);
		if (h == 0 || uv != c->uidvalidity) {
			if (h && uv > c->uidvalidity)
				c->disabled = true; /* a newer folder generation owns it */
			return;
		}
		c->disk_good = h;
	}
	struct mailbox_cache_recs recs = { 0 };
	/* Each record's bytes are checked when it is first used (most never are in a session). */
	size_t end = mailbox_cache_parse_records(c->disk.data, c->disk.len, c->disk_good, false,
						 &recs);
	for (size_t i = 0; i < recs.n; i++)
		cache_add(c, &recs.r[i], false);
	mailbox_cache_recs_free(&recs);
	c->disk_good = end;
	/* Keep only the good prefix: a torn tail is read again once complete. */
	c->disk.len = end;
	if (c->disk.data)
		c->disk.data[end] = '\0';
}

/* Picks up what other sessions appended (no lock: only complete records count). */
static void cache_refresh(struct mailbox_cache *c)
{
	if (c->disabled || c->tail_checked)
		return;
	c->tail_checked = true;
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (c->disk_good == 0)
		buf_reset(&c->disk);
	if (cache_read_tail(c, fd) >= 0)
		cache_parse_disk(c);
	close(fd);
}

static const char *cache_bytes(const struct mailbox_cache *c, const struct cache_entry *e)
{
	return (e->pending ? c->mem.data : c->disk.data) + e->off;
}

static void cache_remember(struct mailbox_cache *c, uint32_t uid, char kind, const char *bytes,
			   size_t len)
{
	if (c->disabled || len > MAILBOX_CACHE_MAX_HEADER || cache_find(c, uid, kind) >= 0)
		return;
	mailbox_cache_format_record(&c->mem, kind, uid, bytes, len);
	struct mailbox_cache_rec r = { uid, kind, 0, c->mem.len - 1 - len, len };
	cache_add(c, &r, true);
	if (c->mem.len > 256 * 1024)
		mailbox_cache_flush(c);
}

void mailbox_cache_note(struct mailbox_cache *c, uint32_t uid, const char *msg, size_t len)
{
	if (!c)
		return;
	cache_remember(c, uid, MAILBOX_CACHE_HEADER, msg, rfc5322_header_length(msg, len));
}

/* Reads the header block of the file at path into c->scratch. */
static int cache_read_header(struct mailbox_cache *c, const char *path, size_t *hlen_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf_reset(&c->scratch);
	bool eof = false;
	size_t hlen = 0;
	for (;;) {
		buf_reserve(&c->scratch, CACHE_READ_CHUNK);
		ssize_t r = read(fd, c->scratch.data + c->scratch.len, CACHE_READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		if (r == 0)
			eof = true;
		c->scratch.len += (size_t)r;
		c->scratch.data[c->scratch.len] = '\0';
		hlen = rfc5322_header_length(c->scratch.data, c->scratch.len);
		/* Two bytes of slack: a blank line must not be split across reads. */
		if (eof || hlen + 2 <= c->scratch.len)
			break;
	}
	close(fd);
	*hlen_r = hlen;
	return 0;
}

int mailbox_cache_header(struct mailbox_cache *c, uint32_t uid, const char *path,
			 const char **hdr_r, size_t *len_r)
{
	long i = cache_usable(c, cache_find(c, uid, MAILBOX_CACHE_HEADER));
	if (i < 0) {
		cache_refresh(c);
		i = cache_usable(c, cache_find(c, uid, MAILBOX_CACHE_HEADER));
	}
	if (i >= 0) {
		*hdr_r = cache_bytes(c, &c->e[i]);
		*len_r = c->e[i].len;
		return 0;
	}
	size_t hlen = 0;
	int r = cache_read_header(c, path, &hlen);
	if (r < 0)
		return r;
	cache_remember(c, uid, MAILBOX_CACHE_HEADER, c->scratch.data, hlen);
	i = cache_find(c, uid, MAILBOX_CACHE_HEADER);
	if (i >= 0) {
		*hdr_r = cache_bytes(c, &c->e[i]);
		*len_r = c->e[i].len;
	} else {
		*hdr_r = c->scratch.data;
		*len_r = hlen;
	}
	return 0;
}

/* A record of kind derived from the header block by render (the ENVELOPE, the sort keys):
 * from the cache, else rendered and cached. */
static int cache_derived(struct mailbox_cache *c, uint32_t uid, const char *path, char kind,
			 void (*render)(struct buf *out, const char *hdr, size_t len),
			 const char **out_r, size_t *len_r)
{
	long i = cache_usable(c, cache_find(c, uid, kind));
	if (i < 0) {
		cache_refresh(c);
		i = cache_usable(c, cache_find(c, uid, kind));
	}
	if (i < 0) {
		const char *hdr;
		size_t hlen;
		int r = mailbox_cache_header(c, uid, path, &hdr, &hlen);
		if (r < 0)
			return r;
		struct buf out;
		buf_init(&out);
		render(&out, hdr, hlen);
		cache_remember(c, uid, kind, out.data ? out.data : "", out.len);
		i = cache_find(c, uid, kind);
		if (i < 0) {
			/* Not cacheable (too large, cache disabled): hand out the rendering. */
			buf_reset(&c->scratch);
			buf_append(&c->scratch, out.data ? out.data : "", out.len);
			buf_free(&out);
			*out_r = c->scratch.data;
			*len_r = c->scratch.len;
			return 0;
		}
		buf_free(&out);
	}
	*out_r = cache_bytes(c, &c->e[i]);
	*len_r = c->e[i].len;
	return 0;
}

int mailbox_cache_envelope(struct mailbox_cache *c, uint32_t uid, const char *path,
			   const char **env_r, size_t *len_r)
{
	return cache_derived(c, uid, path, MAILBOX_CACHE_ENVELOPE, imap_write_envelope, env_r,
			     len_r);
}

static void cache_render_sortkeys(struct buf *out, const char *hdr, size_t len)
{
	struct sort_keys k;
	sort_keys_from_header(&k, hdr, len);
	sort_keys_format(out, &k);
	sort_keys_free(&k);
}

int mailbox_cache_sortkeys(struct mailbox_cache *c, uint32_t uid, const char *path,
			   const char **rec_r, size_t *len_r)
{
	return cache_derived(c, uid, path, MAILBOX_CACHE_SORTKEYS, cache_render_sortkeys, rec_r,
			     len_r);
}

static int cache_write_all(int fd, const char *p, size_t len, off_t off)
{
	while (len) {
		ssize_t r = pwrite(fd, p, len, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
		off += r;
	}
	return 0;
}

void mailbox_cache_flush(struct mailbox_cache *c)
{
	if (!c)
		return;
	c->tail_checked = false;
	if (c->mem.len == 0 || c->disabled)
		return;
	int fd = open(c->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		goto done;
	if (flock(fd, LOCK_EX) < 0) {
		close(fd);
		goto done;
	}
	/* Read what others appended; a head of an older generation (or none) starts afresh. */
	if (c->disk_good == 0)
		buf_reset(&c->disk);
	if (cache_read_tail(c, fd) < 0)
		goto unlock;
	cache_parse_disk(c);
	if (c->disabled)
		goto unlock;
	if (c->disk_good == 0) {
		cache_drop_disk(c);
		mailbox_cache_format_head(&c->disk, c->uidvalidity);
		if (ftruncate(fd, 0) < 0 || cache_write_all(fd, c->disk.data, c->disk.len, 0) < 0) {
			buf_reset(&c->disk);
			goto unlock;
		}
		c->disk_good = c->disk.len;
	}
	/* Drop a torn tail, then append ours at the end of the good records. */
	struct stat st;
	if (fstat(fd, &st) < 0)
		goto unlock;
	if ((size_t)st.st_size != c->disk_good && ftruncate(fd, (off_t)c->disk_good) < 0)
		goto unlock;
	if (c->disk_good + c->mem.len > MAILBOX_CACHE_MAX_FILE ||
	    cache_write_all(fd, c->mem.data, c->mem.len, (off_t)c->disk_good) < 0) {
		if (ftruncate(fd, (off_t)c->disk_good) < 0) {
			/* the torn tail is ignored by readers and cut by the next writer */
		}
		goto unlock;
	}
	/* Our records now live in the file image. */
	size_t base = c->disk.len;
	buf_append(&c->disk, c->mem.data, c->mem.len);
	c->disk_good = c->disk.len;
	for (size_t i = 0; i < c->n; i++) {
		if (c->e[i].pending) {
			c->e[i].pending = false;
			c->e[i].off += base;
		}
	}
	buf_reset(&c->mem);
unlock:
	flock(fd, LOCK_UN);
	close(fd);
done:
	/* Whatever could not be written is dropped from memory too. */
	if (c->mem.len) {
		size_t w = 0;
		for (size_t i = 0; i < c->n; i++)
			if (!c->e[i].pending)
				c->e[w++] = c->e[i];
		c->n = w;
		buf_reset(&c->mem);
		cache_rehash(c);
	}
}

void mailbox_cache_free(struct mailbox_cache *c)
{
	if (!c)
		return;
	mailbox_cache_flush(c);
	buf_free(&c->disk);
	buf_free(&c->mem);
	buf_free(&c->scratch);
	free(c->e);
	free(c->slot);
	free(c);
}
