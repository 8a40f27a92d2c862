/* smtp_server.h - inbound SMTP sessions on the MX and submission listeners. */
#ifndef MAIL_SMTP_SERVER_H
#define MAIL_SMTP_SERVER_H

#include "mtad.h"
#include "net.h"

enum smtp_listener_kind {
	SMTP_LISTENER_MX,          /* smtp_listen: local domains from anyone, relays for nobody */
	SMTP_LISTENER_SUBMISSION,  /* submission_listen: STARTTLS, AUTH, then relay */
	SMTP_LISTENER_SUBMISSIONS, /* submissions_listen: implicit TLS, AUTH, then relay */
	SMTP_LISTENER_LOCAL,       /* state_dir/submit.sock: the sendmail command (local users) */
};

/* The accept callback of every SMTP listener; the listener's data is the struct mtad and
 * its name tells the kind ("smtp", "submission", "submissions"). */
void smtp_server_accept(struct net_listener *l, struct net_conn *c);

/* Binds every SMTP listener of the configuration. Returns 0 or -1 with err. */
int smtp_server_listen(struct mtad *m, char *err, size_t errlen);

/* Binds the local submission socket used by sendmail (mode 0666: any local user). */
int smtp_server_listen_local(struct mtad *m, const char *path, char *err, size_t errlen);

#endif
