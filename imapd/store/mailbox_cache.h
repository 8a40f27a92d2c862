/* mailbox_cache.h - the per-folder cache of message header blocks beside the UID index (mtad-cache): pure record parser/formatter, and the lookup/fill/append object used by FETCH and SEARCH. */
#ifndef MAIL_MAILBOX_CACHE_H
#define MAIL_MAILBOX_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define MAILBOX_CACHE_FILE       "mtad-cache"
/* A header block longer than this is not cached (it is read from the message each time). */
#define MAILBOX_CACHE_MAX_HEADER (64 * 1024)
/* A cache file longer than this is neither read nor grown (the folder works without it). */
#define MAILBOX_CACHE_MAX_FILE   ((size_t)512 << 20)

/* What a record holds. */
enum mailbox_cache_kind {
	MAILBOX_CACHE_HEADER = 'H',   /* the raw header block */
	MAILBOX_CACHE_ENVELOPE = 'E', /* the rendered IMAP ENVELOPE */
	MAILBOX_CACHE_SORTKEYS = 'S', /* SORT/THREAD keys (sort_keys_format) */
};

/* One cached item: bytes [off, off+len) of the parsed image. */
struct mailbox_cache_rec {
	uint32_t uid;
	char kind;      /* enum mailbox_cache_kind */
	uint32_t check; /* the record's check value (FNV-1a of its bytes), as written */
	size_t off, len;
};

struct mailbox_cache_recs {
	struct mailbox_cache_rec *r;
	size_t n, cap;
};

/* ---- pure file format (see mailbox_cache.c) ---- */

/* Parses the first line "mtad-cache 1 UIDVALIDITY\n". Returns its length, or 0 when it is
 * missing, torn or malformed. Pure. */
size_t mailbox_cache_parse_head(const char *data, size_t len, uint32_t *uidvalidity_r);
/* Parses the records in data[start, len), appending each well-formed one (offsets into data)
 * to out; stops at the first torn or damaged record. Returns the offset just past the last
 * good record (start when there is none). verify false leaves out the comparison of each
 * record's bytes with its check value (the costly part: every byte of a 100 MB file): the
 * caller checks a record with mailbox_cache_record_ok before it uses it. Pure. */
size_t mailbox_cache_parse_records(const char *data, size_t len, size_t start, bool verify,
				   struct mailbox_cache_recs *out);
/* Whether the bytes of a record parsed without verify match its check value. Pure. */
bool mailbox_cache_record_ok(const char *data, const struct mailbox_cache_rec *r);
void mailbox_cache_format_head(struct buf *out, uint32_t uidvalidity);
void mailbox_cache_format_record(struct buf *out, char kind, uint32_t uid, const char *bytes,
				 size_t len);
void mailbox_cache_recs_free(struct mailbox_cache_recs *r);

/* ---- the cache of one open folder (not shared between threads; no globals) ---- */

struct mailbox_cache;

/* A cache for the Maildir at maildir whose index has this UIDVALIDITY. Opens nothing yet. */
struct mailbox_cache *mailbox_cache_new(const char *maildir, uint32_t uidvalidity);
/* Appends what was filled to the file, then frees. NULL is fine. */
void mailbox_cache_free(struct mailbox_cache *c);
uint32_t mailbox_cache_uidvalidity(const struct mailbox_cache *c);

/* The header block (up to and including the empty line) of message uid, whose file is at
 * path: from the cache, else read from the file and remembered for the cache. *hdr_r stays
 * valid until the next call on c. Returns 0 or -errno (the file is gone: -ENOENT). */
int mailbox_cache_header(struct mailbox_cache *c, uint32_t uid, const char *path,
			 const char **hdr_r, size_t *len_r);
/* The IMAP ENVELOPE of message uid (rendered from its header block on a miss, and cached).
 * Same rules as mailbox_cache_header. */
int mailbox_cache_envelope(struct mailbox_cache *c, uint32_t uid, const char *path,
			   const char **env_r, size_t *len_r);
/* The SORT/THREAD keys record of message uid (sort_keys_format; parse with sort_keys_parse),
 * derived from its header block on a miss, and cached. Same rules as mailbox_cache_header. */
int mailbox_cache_sortkeys(struct mailbox_cache *c, uint32_t uid, const char *path,
			   const char **rec_r, size_t *len_r);
/* Remembers the header of a message whose bytes the caller already has (APPEND, a FETCH
 * that read the whole file). */
void mailbox_cache_note(struct mailbox_cache *c, uint32_t uid, const char *msg, size_t len);
/* Appends the remembered records to the file (one locked write). Errors only cost speed. */
void mailbox_cache_flush(struct mailbox_cache *c);

#endif
