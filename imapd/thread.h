/* thread.h - THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256) over messages' keys, written as the THREAD response's thread list (pure). */
#ifndef MAIL_IMAP_THREAD_H
#define MAIL_IMAP_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum thread_algorithm {
	THREAD_ORDEREDSUBJECT,
	THREAD_REFERENCES,
};

/* One message to thread, in mailbox order. Strings as sort_keys.h makes them. */
struct thread_msg {
	uint32_t number;     /* what the response shows: sequence number or UID */
	int64_t date;        /* sent date, else the internal date */
	const char *subject; /* base subject, upper-cased */
	bool reply;          /* the subject had a Re:/Fwd: */
	const char *msgid;   /* "<...>" or "" */
	const char *refs;    /* space-separated ids, oldest first (REFERENCES only) */
};

/* Appends the threads of msgs[0..n) ("(1 2)(3 (4)(5))"; nothing for n == 0) to out. Iterative:
 * any depth of reply chains costs no stack. */
void thread_write(struct buf *out, enum thread_algorithm alg, const struct thread_msg *msgs,
		  size_t n);

#endif
