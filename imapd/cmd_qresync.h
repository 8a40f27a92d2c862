/* cmd_qresync.h - QRESYNC (RFC 7162): SELECT/EXAMINE's QRESYNC parameter, VANISHED (EARLIER) and VANISHED responses. */
#ifndef MAIL_CMD_QRESYNC_H
#define MAIL_CMD_QRESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imap_parser.h"
#include "seqset.h"

struct imap_client;
struct mailbox_uid_range;

/* SELECT's "QRESYNC (uidvalidity modseq [known-uids [(known-seqs known-uid-set)]])". */
struct qresync_select {
	uint32_t uidvalidity;
	uint64_t modseq;
	bool has_known;      /* known-uids given (else every UID is known) */
	struct seqset known; /* known-uids ('*' kept unresolved) */
	bool has_match;      /* seq-match data given (checked, not needed: see .c) */
};

/* Parses the list argument after the QRESYNC select parameter. Pure. Returns 0, or -1 with a
 * static *error_r; q is initialised either way (free it with qresync_select_free). */
int qresync_select_parse(const struct imap_arg *a, struct qresync_select *q, const char **error_r);
void qresync_select_free(struct qresync_select *q);

/* After the SELECT/EXAMINE responses: when the UIDVALIDITY matches, "* VANISHED (EARLIER)"
 * for the known UIDs expunged since q->modseq, then a FETCH (UID FLAGS MODSEQ) for each
 * message changed since. */
void qresync_select_send(struct imap_client *c, const struct qresync_select *q);

/* UID FETCH ... (CHANGEDSINCE since VANISHED): "* VANISHED (EARLIER)" for the UIDs of the set
 * argument a ('*' = the highest UID ever given) expunged since. */
void qresync_fetch_vanished(struct imap_client *c, const struct imap_arg *a, uint64_t since);

/* Appends "* VANISHED [(EARLIER) ]set\r\n" for the ranges that lie in filter (NULL: all);
 * nothing when none does. */
void qresync_write_vanished(struct buf *b, bool earlier, const struct mailbox_uid_range *r,
			    size_t n, const struct seqset *filter);

#endif
