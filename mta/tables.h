/* tables.h - the users and aliases tables mtad keeps, re-read when their files change. */
#ifndef MAIL_TABLES_H
#define MAIL_TABLES_H

struct mtad;

/* Re-reads users_file and aliases_file where they changed (logged). Called by the timer, on
 * SIGHUP, and when a recipient is unknown, so that a permanent refusal never comes from a stale
 * table. Returns 1 when a table was reloaded, else 0. */
int mtad_tables_reload(struct mtad *m);

#endif
