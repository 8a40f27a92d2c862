/* tables.c - the users and aliases tables mtad keeps, re-read when their files change. */
#include "tables.h"

#include "deliver.h"
#include "mtad.h"

int mtad_tables_reload(struct mtad *m)
{
	return delivery_tables_reload(&m->accounts, &m->aliases);
}
