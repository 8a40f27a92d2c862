/* tables.c - the users and aliases tables mtad keeps, re-read when their files change. */
#include "tables.h"

#include "daemon.h"
#include "deliver.h"
#include "log.h"
#include "mtad.h"
#include "relay.h"

int mtad_tables_reload(struct mtad *m)
{
	int reloaded = daemon_reload_accounts(&m->accounts) > 0;
	if (m->aliases) {
		char err[512];
		int r = aliases_reload_if_changed(&m->aliases, err, sizeof(err));
		if (r < 0)
			log_error("aliases_file not reloaded: %s", err);
		else if (r > 0) {
			log_info("aliases_file reloaded");
			reloaded = 1;
		}
	}
	if (m->relay && relay_reload_tables(m->relay))
		reloaded = 1;
	return reloaded;
}
