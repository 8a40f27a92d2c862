/* mailbox_shared.c - the parsed indexes this process last read or wrote, shared by its sessions. */
/*
 * imapd is one process serving every session, so a SELECT of a folder another session read a
 * moment ago would parse the same index file again. Instead the parsed index is kept here,
 * keyed by folder path and valid while the index file's identity (device, inode, size,
 * mtime) is the one it was read from or written as: every writer replaces the file
 * (write-then-rename under the folder lock), so any change by any process shows as a new
 * identity, and the directory stamps in the index still catch deliveries. The file's header
 * line (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, COUNT, stamps, RECENTUID) must match as well,
 * so even a reused inode with the same size and a coarse mtime in the same clock tick is
 * not taken for the old file. The snapshot's entries are frozen: a state shares them and
 * copies them only before it changes one (mailbox_index_own), and a view of them may be
 * published for every session to share (mailbox_view_update). */
#include "mailbox_internal.h"
#include "xalloc.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAILBOX_SNAPSHOT_HEAD 192 /* room for the index's header line */

struct mailbox_snapshot {
	char *path;
	struct mailbox_fileid id;
	char head[MAILBOX_SNAPSHOT_HEAD]; /* the file's first line, '\n' included */
	size_t headlen;
	struct mailbox_index idx; /* frozen (every name inside idx.names) */
	uint64_t used;            /* last use, for replacing the least recent */
};

#define MAILBOX_SNAPSHOTS    8   /* folders remembered at once */
#define MAILBOX_SNAPSHOT_MIN 256 /* smaller folders parse fast enough */

static pthread_mutex_t mailbox_snapshots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mailbox_snapshot mailbox_snapshots[MAILBOX_SNAPSHOTS];
static uint64_t mailbox_snapshots_clock;

/* Length of the first line of an index image (with its '\n'), 0 if it does not fit. */
static size_t mailbox_snapshot_head_len(const char *data, size_t len)
{
	const char *nl = memchr(data, '\n',
				len < MAILBOX_SNAPSHOT_HEAD ? len : MAILBOX_SNAPSHOT_HEAD);
	return nl ? (size_t)(nl - data) + 1 : 0;
}

/* The snapshot of path with file identity id and header line head, or NULL (lock held). */
static struct mailbox_snapshot *mailbox_snapshot_find(const char *path,
						      const struct mailbox_fileid *id,
						      const char *head, size_t headlen)
{
	for (size_t i = 0; i < MAILBOX_SNAPSHOTS; i++) {
		struct mailbox_snapshot *sn = &mailbox_snapshots[i];
		if (sn->path && strcmp(sn->path, path) == 0 && mailbox_fileid_eq(&sn->id, id) &&
		    (!head || (sn->headlen == headlen && memcmp(sn->head, head, headlen) == 0)))
			return sn;
	}
	return NULL;
}

/* Copies the index remembered for folder path, index file file with identity id, into idx_r
 * (folder lock held, so the file cannot change meanwhile). Returns true on a hit. */
bool mailbox_snapshot_get(const char *path, const char *file, const struct mailbox_fileid *id,
			  struct mailbox_index *idx_r)
{
	pthread_mutex_lock(&mailbox_snapshots_lock);
	bool candidate = mailbox_snapshot_find(path, id, NULL, 0) != NULL;
	pthread_mutex_unlock(&mailbox_snapshots_lock);
	if (!candidate)
		return false;
	char head[MAILBOX_SNAPSHOT_HEAD];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = pread(fd, head, sizeof(head), 0);
	close(fd);
	size_t headlen = n > 0 ? mailbox_snapshot_head_len(head, (size_t)n) : 0;
	if (headlen == 0)
		return false;
	pthread_mutex_lock(&mailbox_snapshots_lock);
	struct mailbox_snapshot *sn = mailbox_snapshot_find(path, id, head, headlen);
	if (sn) {
		mailbox_index_share(idx_r, &sn->idx);
		sn->used = ++mailbox_snapshots_clock;
	}
	pthread_mutex_unlock(&mailbox_snapshots_lock);
	return sn != NULL;
}

/* Remembers idx as the content of path's index file id whose image begins with data: idx's
 * entries are frozen (its names packed first when some lie outside the block), and the
 * snapshot shares them. */
void mailbox_snapshot_put(const char *path, const struct mailbox_fileid *id, const char *data,
			  size_t len, struct mailbox_index *idx)
{
	size_t headlen = mailbox_snapshot_head_len(data, len);
	if (!id->exists || idx->n < MAILBOX_SNAPSHOT_MIN || headlen == 0)
		return;
	mailbox_index_freeze(idx);
	struct mailbox_index copy;
	mailbox_index_share(&copy, idx);
	pthread_mutex_lock(&mailbox_snapshots_lock);
	struct mailbox_snapshot *slot = NULL;
	for (size_t i = 0; i < MAILBOX_SNAPSHOTS; i++) {
		struct mailbox_snapshot *sn = &mailbox_snapshots[i];
		if (sn->path && strcmp(sn->path, path) == 0) {
			slot = sn;
			break;
		}
		if (!slot || (slot->path && (!sn->path || sn->used < slot->used)))
			slot = sn;
	}
	struct mailbox_index old = slot->idx;
	char *old_path = slot->path;
	slot->path = old_path && strcmp(old_path, path) == 0 ? old_path : xstrdup(path);
	if (slot->path != old_path)
		free(old_path);
	slot->id = *id;
	memcpy(slot->head, data, headlen);
	slot->headlen = headlen;
	slot->idx = copy;
	slot->used = ++mailbox_snapshots_clock;
	pthread_mutex_unlock(&mailbox_snapshots_lock);
	mailbox_index_free(&old);
}
