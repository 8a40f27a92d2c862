/* tables.c - the users, aliases and mailbox_routes tables mtad keeps, re-read when their files change. */
#include "tables.h"

#include "deliver.h"
#include "log.h"
#include "mailbox_routes.h"
#include "mtad.h"
#include "relay.h"

int mtad_tables_reload(struct mtad *m)
{
	int reloaded = delivery_tables_reload(&m->accounts, &m->aliases);
	if (m->routes) {
		char err[1024];
		int r = mailbox_routes_reload_if_changed(&m->routes, err, sizeof(err));
		if (r < 0)
			log_error("mailbox_routes not reloaded: %s", err);
		else if (r > 0) {
			log_info("mailbox_routes reloaded: %zu routes",
				 mailbox_routes_count(m->routes));
			reloaded = 1;
		}
	}
	if (m->relay && relay_reload_tables(m->relay))
		reloaded = 1;
	return reloaded;
}
