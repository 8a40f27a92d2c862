/* accounts.c - the users_file table: parse, sort, look up, reload when the file changes. */
#include "accounts.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int account_cmp(const void *a, const void *b)
{
	return strcmp(((const struct account *)a)->address, ((const struct account *)b)->address);
}

struct accounts *accounts_parse(const char *name, const char *text, size_t len, char *err,
				size_t errlen)
{
	struct accounts *acc = xcalloc(1, sizeof(*acc));
	size_t cap = 0, lineno = 0, pos = 0;

	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos;
		pos += l + (nl ? 1 : 0);
		lineno++;
		while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
			l--;
		size_t s = 0;
		while (s < l && (line[s] == ' ' || line[s] == '\t'))
			s++;
		if (s == l || line[s] == '#')
			continue;
		const char *colon = memchr(line + s, ':', l - s);
		const char *at = memchr(line + s, '@', l - s);
		if (!colon || colon == line + s || !at || at > colon || memchr(line + s, '\0', l - s)) {
			snprintf(err, errlen, "%s:%zu: expected address:{SCHEME}hash", name, lineno);
			accounts_free(&acc);
			return NULL;
		}
		/* Dovecot passwd-file: user:password:uid:gid:gecos:home:shell:extra; we use the
		 * first two fields. */
		const char *pw = colon + 1;
		const char *pwend = memchr(pw, ':', (size_t)(line + l - pw));
		if (!pwend)
			pwend = line + l;
		if (acc->n == cap) {
			cap = cap ? cap * 2 : 16;
			acc->items = xrealloc(acc->items, cap * sizeof(*acc->items));
		}
		struct account *a = &acc->items[acc->n++];
		a->address = xstrndup(line + s, (size_t)(colon - (line + s)));
		for (char *p = a->address; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		a->hash = xstrndup(pw, (size_t)(pwend - pw));
	}
	qsort(acc->items, acc->n, sizeof(*acc->items), account_cmp);
	return acc;
}

struct accounts *accounts_load(const char *path, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT) {
			struct accounts *acc = xcalloc(1, sizeof(*acc));
			acc->path = xstrdup(path);
			acc->missing = true;
			return acc;
		}
		snprintf(err, errlen, "%s:0: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_size > 64 * 1024 * 1024) {
		snprintf(err, errlen, "%s:0: cannot read (size)", path);
		fclose(f);
		return NULL;
	}
	char *text = xmalloc((size_t)st.st_size + 1);
	size_t n = fread(text, 1, (size_t)st.st_size, f);
	int rerr = ferror(f);
	fclose(f);
	if (rerr) {
		snprintf(err, errlen, "%s:0: read error", path);
		free(text);
		return NULL;
	}
	struct accounts *acc = accounts_parse(path, text, n, err, errlen);
	free(text);
	if (!acc)
		return NULL;
	acc->path = xstrdup(path);
	acc->mtime = st.st_mtim.tv_sec;
	acc->mtime_nsec = st.st_mtim.tv_nsec;
	acc->size = st.st_size;
	return acc;
}

int accounts_reload_if_changed(struct accounts **accp, char *err, size_t errlen)
{
	struct accounts *acc = *accp;
	struct stat st;
	if (stat(acc->path, &st) < 0) {
		if (errno == ENOENT && acc->missing)
			return 0;
	} else if (!acc->missing && st.st_mtim.tv_sec == acc->mtime &&
		   st.st_mtim.tv_nsec == acc->mtime_nsec && st.st_size == acc->size) {
		return 0;
	}
	struct accounts *fresh = accounts_load(acc->path, err, errlen);
	if (!fresh)
		return -1;
	accounts_free(accp);
	*accp = fresh;
	return 1;
}

const struct account *accounts_find(const struct accounts *acc, const char *address)
{
	struct account key = { .address = (char *)address, .hash = NULL };
	if (!acc || acc->n == 0)
		return NULL;
	return bsearch(&key, acc->items, acc->n, sizeof(*acc->items), account_cmp);
}

void accounts_free(struct accounts **accp)
{
	struct accounts *acc = *accp;
	if (!acc)
		return;
	for (size_t i = 0; i < acc->n; i++) {
		free(acc->items[i].address);
		free(acc->items[i].hash);
	}
	free(acc->items);
	free(acc->path);
	free(acc);
	*accp = NULL;
}
