/* maildrop.h - state_dir/maildrop: messages the sendmail command kept while mtad was not running, picked up into the queue. */
#ifndef MAIL_MAILDROP_H
#define MAIL_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct mtad;

/* One maildrop file, parsed: "MAILDROP 1\n", "S SENDER\n", one "R RCPT\n" per recipient,
 * "\n", then the message (CRLF lines). Pointers are into the parsed buffer, not terminated:
 * lengths given. */
struct maildrop_msg {
	const char *sender;
	size_t sender_len;
	const char *rcpts[1000];
	size_t rcpt_lens[1000];
	size_t nrcpts;
	const char *msg;
	size_t msg_len;
};

/* Pure: parses a maildrop file. Returns 0, or -1 with *error_r. */
int maildrop_parse(const char *data, size_t len, struct maildrop_msg *out, const char **error_r);

/* Started as root or not, before the drop: state_dir/maildrop, made without following a link,
 * mode 1733 (anyone may create a file, nobody else may list or remove it), run_user's.
 * Returns 0 or -1 with err. */
int maildrop_prepare(const struct config *cfg, char *err, size_t errlen);

/* After scheduler_recover: picks up every file now and then every 2 seconds, each into the
 * queue (sender rules of the file's owner uid, local_sender.c), removed once durable there. */
void maildrop_start(struct mtad *m);

#endif
