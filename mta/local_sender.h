/* local_sender.h - the sender rules of local submission (the sendmail socket, state_dir/maildrop): whose envelope sender is honoured. */
#ifndef MAIL_LOCAL_SENDER_H
#define MAIL_LOCAL_SENDER_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether uid may choose its envelope sender (sendmail -f): root, run_user and the login
 * names of trusted_users. */
bool local_sender_trusted(const struct config *cfg, long uid);

/* The envelope sender of a message submitted locally by uid (the kernel's SO_PEERCRED, or a
 * maildrop file's owner) that asked for requested ("" the null sender). A trusted uid, or one
 * asking for its own LOGIN@hostname, gets what it asked for; anyone else gets LOGIN@hostname
 * (LOGIN: the uid's login name, else "uidN"), and then warning gets the header field
 * "X-Authentication-Warning: HOST: LOGIN set sender to REQUESTED using -f\r\n" (as sendmail
 * adds it) and true is returned. out may be requested. docs/security.md. */
bool local_sender_decide(const struct config *cfg, long uid, const char *requested, char *out,
			 size_t outlen, char *warning, size_t warnlen);

#endif
