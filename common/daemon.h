/* daemon.h - what every daemon's main() shares: the command line (-c FILE, -f, --help, --version) and the final handle sweep. */
#ifndef MAIL_DAEMON_H
#define MAIL_DAEMON_H

#include <stdio.h>
#include <uv.h>

/* Parses "NAME [-c FILE] [-f]" plus --help and --version. Returns -1 to go on (with *conf_r
 * NULL when -c was not given), or the status main() must return at once: 0 after --help or
 * --version, 64 (EX_USAGE) after a usage error. */
int daemon_options(int argc, char **argv, const char *name, void (*usage)(FILE *f),
		   const char **conf_r, int *foreground_r);

/* After uv_run returned: closes every handle still open (signals, timers) and runs the loop
 * until in-flight thread-pool work and close callbacks are done. */
void daemon_close_handles(uv_loop_t *loop);

#endif
