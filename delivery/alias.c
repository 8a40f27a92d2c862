/* alias.c - the aliases_file table: parse (pure, file:line errors), look up, reload when changed. */
#include "daemon.h"
#include "deliver.h"
#include "log.h"
#include "str.h"
#include "table_file.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ALIASES_MAX_FILE (16 * 1024 * 1024)

struct alias_entry {
	char *key;                    /* lower-cased "local@domain" or bare "local" */
	struct alias_target *targets; /* strings owned by the entry */
	size_t n;
	size_t line;
};

struct aliases {
	char *path;
	struct alias_entry *items; /* sorted by key */
	size_t n;
	struct file_stamp stamp; /* of the file when loaded */
};

static int alias_entry_cmp(const void *a, const void *b)
{
	const struct alias_entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int alias_entry_cmp_key(const void *a, const void *b)
{
	return strcmp(((const struct alias_entry *)a)->key, ((const struct alias_entry *)b)->key);
}

static void alias_entry_free(struct alias_entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		free((char *)e->targets[i].local); /* domain shares the allocation */
	free(e->targets);
	free(e->key);
}

/* Position of the first c in [s, s+len) outside a quoted string, or len. */
static size_t alias_find_unquoted(const char *s, size_t len, char c)
{
	bool q = false;
	for (size_t i = 0; i < len; i++) {
		if (q && s[i] == '\\') {
			i++;
		} else if (s[i] == '"') {
			q = !q;
		} else if (!q && s[i] == c) {
			return i;
		}
	}
	return len;
}

static void alias_trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/* Adds the comma-separated targets of [s, s+len) to e. Returns 0 or -1 with err set. */
static int alias_add_targets(struct alias_entry *e, size_t *cap, const char *name, size_t lineno,
			     const char *s, size_t len, char *err, size_t errlen)
{
	while (len > 0) {
		size_t k = alias_find_unquoted(s, len, ',');
		const char *t = s;
		size_t tl = k;
		alias_trim(&t, &tl);
		s += k < len ? k + 1 : k;
		len -= k < len ? k + 1 : k;
		if (tl == 0)
			continue;
		if (t[0] == '|' || t[0] == '/' || (tl >= 9 && memcmp(t, ":include:", 9) == 0)) {
			snprintf(err, errlen,
				 "%s:%zu: pipe, file and :include: targets are not supported", name,
				 lineno);
			return -1;
		}
		struct addr a;
		const char *why;
		if (delivery_parse_address(t, tl, &a, &why) < 0) {
			snprintf(err, errlen, "%s:%zu: bad target \"%.*s\": %s", name, lineno,
				 (int)(tl > 200 ? 200 : tl), t, why);
			return -1;
		}
		if (e->n == *cap) {
			*cap = *cap ? *cap * 2 : 4;
			e->targets = xrealloc(e->targets, *cap * sizeof(*e->targets));
		}
		size_t ll = strlen(a.local), dl = strlen(a.domain);
		char *mem = xmalloc(ll + dl + 2);
		memcpy(mem, a.local, ll + 1);
		memcpy(mem + ll + 1, a.domain, dl + 1);
		e->targets[e->n].local = mem;
		e->targets[e->n].domain = mem + ll + 1;
		e->targets[e->n].quoted = a.quoted;
		e->n++;
	}
	return 0;
}

/* Checks the last entry got at least one target. */
static int alias_check_complete(const struct aliases *al, const char *name, char *err,
				size_t errlen)
{
	if (al->n > 0 && al->items[al->n - 1].n == 0) {
		snprintf(err, errlen, "%s:%zu: alias \"%s\" has no targets", name,
			 al->items[al->n - 1].line, al->items[al->n - 1].key);
		return -1;
	}
	return 0;
}

struct aliases *aliases_parse(const char *name, const char *text, size_t len, char *err,
			      size_t errlen)
{
	struct aliases *al = xcalloc(1, sizeof(*al));
	size_t cap = 0, tcap = 0, lineno = 0, pos = 0;

	const char *line;
	size_t l;
	while (table_next_line(text, len, &pos, &line, &l)) {
		lineno++;
		if (memchr(line, '\0', l)) {
			snprintf(err, errlen, "%s:%zu: NUL byte", name, lineno);
			goto fail;
		}
		if (l > 0 && line[l - 1] == '\r')
			l--;
		const char *s = line;
		size_t sl = l;
		alias_trim(&s, &sl);
		if (sl == 0 || s[0] == '#')
			continue;
		if (line[0] == ' ' || line[0] == '\t') {
			if (al->n == 0) {
				snprintf(err, errlen, "%s:%zu: continuation line without an alias",
					 name, lineno);
				goto fail;
			}
			if (alias_add_targets(&al->items[al->n - 1], &tcap, name, lineno, s, sl,
					      err, errlen) < 0)
				goto fail;
			continue;
		}
		if (alias_check_complete(al, name, err, errlen) < 0)
			goto fail;
		size_t colon = alias_find_unquoted(s, sl, ':');
		if (colon == sl) {
			snprintf(err, errlen, "%s:%zu: expected \"alias: target, ...\"", name,
				 lineno);
			goto fail;
		}
		const char *k = s;
		size_t kl = colon;
		alias_trim(&k, &kl);
		struct addr ka;
		const char *why;
		if (kl == 0 || delivery_parse_address(k, kl, &ka, &why) < 0) {
			snprintf(err, errlen, "%s:%zu: bad alias name \"%.*s\": %s", name, lineno,
				 (int)(kl > 200 ? 200 : kl), k, kl == 0 ? "empty" : why);
			goto fail;
		}
		if (al->n == cap) {
			cap = cap ? cap * 2 : 16;
			al->items = xrealloc(al->items, cap * sizeof(*al->items));
		}
		struct alias_entry *e = &al->items[al->n++];
		char *key = ka.domain[0] ? xasprintf("%s@%s", ka.local, ka.domain)
					 : xstrdup(ka.local);
		e->key = str_lower(xstrdup(key));
		free(key);
		e->targets = NULL;
		e->n = 0;
		e->line = lineno;
		tcap = 0;
		if (alias_add_targets(e, &tcap, name, lineno, s + colon + 1, sl - colon - 1, err,
				      errlen) < 0)
			goto fail;
	}
	if (alias_check_complete(al, name, err, errlen) < 0)
		goto fail;
	if (al->n > 0)
		qsort(al->items, al->n, sizeof(*al->items), alias_entry_cmp);
	for (size_t i = 1; i < al->n; i++) {
		if (strcmp(al->items[i - 1].key, al->items[i].key) == 0) {
			snprintf(err, errlen,
				 "%s:%zu: alias \"%s\" given twice (first at line %zu)", name,
				 al->items[i].line, al->items[i].key, al->items[i - 1].line);
			goto fail;
		}
	}
	return al;
fail:
	aliases_free(&al);
	return NULL;
}

struct aliases *aliases_load(const char *path, char *err, size_t errlen)
{
	struct stat st;
	size_t n;
	char why[64];
	snprintf(why, sizeof(why), "not a regular file of at most %d bytes", ALIASES_MAX_FILE);
	char *text = table_file_read(path, ALIASES_MAX_FILE, true, why, &n, &st, err, errlen);
	if (!text)
		return NULL;
	struct aliases *al = aliases_parse(path, text, n, err, errlen);
	free(text);
	if (!al)
		return NULL;
	al->path = xstrdup(path);
	file_stamp_set(&al->stamp, &st);
	return al;
}

int aliases_reload_if_changed(struct aliases **alp, char *err, size_t errlen)
{
	struct aliases *al = *alp;
	if (!al || !al->path) {
		snprintf(err, errlen, "aliases: not loaded from a file");
		return -1;
	}
	if (!file_stamp_changed(&al->stamp, al->path))
		return 0;
	struct aliases *fresh = aliases_load(al->path, err, errlen);
	if (!fresh)
		return -1;
	aliases_free(alp);
	*alp = fresh;
	return 1;
}

const struct alias_target *aliases_lookup(const struct aliases *al, const char *key, size_t *n_r)
{
	if (!al || al->n == 0)
		return NULL;
	struct alias_entry k = { .key = (char *)key };
	const struct alias_entry *e = bsearch(&k, al->items, al->n, sizeof(*al->items),
					      alias_entry_cmp_key);
	if (!e)
		return NULL;
	*n_r = e->n;
	return e->targets;
}

void aliases_free(struct aliases **alp)
{
	struct aliases *al = *alp;
	if (!al)
		return;
	for (size_t i = 0; i < al->n; i++)
		alias_entry_free(&al->items[i]);
	free(al->items);
	free(al->path);
	free(al);
	*alp = NULL;
}

int delivery_tables_reload(struct accounts **acc, struct aliases **al)
{
	int reloaded = daemon_reload_accounts(acc) > 0;
	if (*al) {
		char err[512];
		int r = aliases_reload_if_changed(al, err, sizeof(err));
		if (r < 0)
			log_error("aliases_file not reloaded: %s", err);
		else if (r > 0) {
			log_info("aliases_file reloaded");
			reloaded = 1;
		}
	}
	return reloaded;
}
