/* control.h - the control socket (state_dir/control, owner-only) that mailctl talks to. */
#ifndef MAIL_CONTROL_H
#define MAIL_CONTROL_H

#include "mtad.h"

/* Protocol: one request line ("flush", "hold ID", "release ID", "delete ID", "stats",
 * "tlsrpt send", "mta-sts refresh"),
 * answered by zero or more "key: value" lines and a final "OK" or "ERR text" line; then
 * the server closes the connection. */
int control_listen(struct mtad *m, const char *path, char *err, size_t errlen);

#endif
