/* accounts.c - the users_file table: parse, sort, look up, reload when the file changes. */
#include "accounts.h"
#include "fileutil.h"
#include "quota_rule.h"
#include "table_file.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

/* The extra fields of a passwd-file line (after the seventh field: space-separated
 * key=value): a userdb_quota_rule (or quota_rule, numbered or not) for "*" sets a->quota.
 * Returns 0, or -1 with *error_r set. */
static int accounts_extra_fields(const char *p, const char *end, struct account *a, bool *any,
				 const char **error_r)
{
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const char *tok = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		const char *eq = memchr(tok, '=', (size_t)(p - tok));
		if (!eq)
			continue;
		const char *key = tok;
		if ((size_t)(eq - key) > 7 && strncmp(key, "userdb_", 7) == 0)
			key += 7;
		if ((size_t)(eq - key) < 10 || strncmp(key, "quota_rule", 10) != 0)
			continue;
		bool numbered = true;
		for (const char *k = key + 10; k < eq; k++)
			numbered = numbered && *k >= '0' && *k <= '9';
		if (!numbered)
			continue;
		uint64_t bytes;
		int r = quota_rule_parse(eq + 1, (size_t)(p - eq - 1), &bytes, error_r);
		if (r < 0)
			return -1;
		if (r == 1) {
			*any = true;
			a->has_quota = true;
			a->quota = bytes;
		}
	}
	return 0;
}

static int account_cmp(const void *a, const void *b)
{
	return strcmp(((const struct account *)a)->address, ((const struct account *)b)->address);
}

struct accounts *accounts_parse(const char *name, const char *text, size_t len, char *err,
				size_t errlen)
{
	struct accounts *acc = xcalloc(1, sizeof(*acc));
	size_t cap = 0, lineno = 0, pos = 0;

	const char *line;
	size_t l;
	while (table_next_line(text, len, &pos, &line, &l)) {
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
		if (!colon || colon == line + s || !at || at > colon ||
		    memchr(line + s, '\0', l - s)) {
			snprintf(err, errlen, "%s:%zu: expected address:{SCHEME}hash", name,
				 lineno);
			accounts_free(&acc);
			return NULL;
		}
		/* Dovecot passwd-file: user:password:uid:gid:gecos:home:shell:extra; we use the
		 * first two fields and a quota rule among the extra fields. */
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
		a->has_quota = false;
		a->quota = 0;
		/* uid:gid:gecos:home:shell, then the extra fields (which may hold ':'). */
		const char *extra = pwend;
		for (int f = 0; f < 5 && extra < line + l; f++) {
			extra = memchr(extra + 1, ':', (size_t)(line + l - extra - 1));
			if (!extra)
				break;
		}
		const char *error;
		if (extra && extra < line + l &&
		    accounts_extra_fields(extra + 1, line + l, a, &acc->any_quota, &error) < 0) {
			snprintf(err, errlen, "%s:%zu: %s", name, lineno, error);
			accounts_free(&acc);
			return NULL;
		}
	}
	qsort(acc->items, acc->n, sizeof(*acc->items), account_cmp);
	return acc;
}

struct accounts *accounts_load(const char *path, char *err, size_t errlen)
{
	struct stat st;
	size_t n;
	char *text = table_file_read(path, 64 * 1024 * 1024, false, "cannot read (size)", &n, &st,
				     err, errlen);
	if (!text) {
		if (errno != ENOENT)
			return NULL;
		struct accounts *acc = xcalloc(1, sizeof(*acc));
		acc->path = xstrdup(path);
		file_stamp_set(&acc->stamp, NULL);
		return acc;
	}
	struct accounts *acc = accounts_parse(path, text, n, err, errlen);
	free(text);
	if (!acc)
		return NULL;
	acc->path = xstrdup(path);
	file_stamp_set(&acc->stamp, &st);
	return acc;
}

int accounts_reload_if_changed(struct accounts **accp, char *err, size_t errlen)
{
	struct accounts *acc = *accp;
	if (!file_stamp_changed(&acc->stamp, acc->path))
		return 0;
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

uint64_t accounts_quota(const struct account *a, uint64_t default_quota)
{
	return a && a->has_quota ? a->quota : default_quota;
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

int accounts_file_update(const char *path, const char *address, const char *hash, unsigned mode,
			 char *err, size_t errlen)
{
	char lock_path[4096], tmp_path[4096];
	size_t alen = strlen(address);
	int ret = -1, found = 0;
	struct buf out, rest;

	if (alen == 0 || strchr(address, ':') || strchr(address, '\n') || !strchr(address, '@') ||
	    (hash && (strchr(hash, '\n') || strchr(hash, ':')))) {
		snprintf(err, errlen, "invalid address or hash");
		return -1;
	}
	snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
	snprintf(tmp_path, sizeof(tmp_path), "%s.tmp.%ld", path, (long)getpid());
	int lock = open_lock_file(lock_path, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		snprintf(err, errlen, "%s: %s", lock_path, strerror(lock < 0 ? -lock : errno));
		if (lock >= 0)
			close(lock);
		return -1;
	}
	buf_init(&out);
	buf_init(&rest);
	struct stat st;
	FILE *f = fopen(path, "r");
	if (!f && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (f) {
		if (fstat(fileno(f), &st) == 0)
			mode = st.st_mode & 0777;
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while ((n = getline(&line, &cap, f)) > 0) {
			const char *colon = memchr(line, ':', (size_t)n);
			if (colon && (size_t)(colon - line) == alen &&
			    strncasecmp(line, address, alen) == 0) {
				found = 1;
				/* uid:gid:...:extra fields stay with a new password */
				const char *pwend = memchr(colon + 1, ':',
							   (size_t)(line + n - colon - 1));
				buf_reset(&rest);
				if (pwend) {
					size_t rl = (size_t)(line + n - pwend);
					while (rl > 0 &&
					       (pwend[rl - 1] == '\n' || pwend[rl - 1] == '\r'))
						rl--;
					buf_append(&rest, pwend, rl);
				}
				continue; /* replaced or removed below */
			}
			buf_append(&out, line, (size_t)n);
			if (line[n - 1] != '\n')
				buf_append(&out, "\n", 1);
		}
		free(line);
		fclose(f);
	}
	if (hash)
		buf_printf(&out, "%s:%s%.*s\n", address, hash, (int)rest.len,
			   rest.data ? rest.data : "");
	else if (!found) {
		ret = 0;
		goto done;
	}
	int fd = open(tmp_path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp_path, strerror(errno));
		goto done;
	}
	ssize_t w = write(fd, out.data ? out.data : "", out.len);
	if (w != (ssize_t)out.len || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp_path, w < 0 ? strerror(errno) : "short write");
		close(fd);
		unlink(tmp_path);
		goto done;
	}
	fchmod(fd, mode);
	if (f && geteuid() == 0)
		if (fchown(fd, st.st_uid, st.st_gid) < 0) {
			/* best effort: the new file stays root's, which root still reads and writes */
		}
	close(fd);
	if (rename(tmp_path, path) < 0) {
		snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
		unlink(tmp_path);
		goto done;
	}
	ret = 1;
done:
	buf_free(&out);
	buf_free(&rest);
	close(lock);
	return ret;
}
