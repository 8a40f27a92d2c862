/* tls_policy.c - relay_tls_policy_file: the pure parser, the lookup of a destination's level, and the reload-if-changed file. */
#include "tls_policy.h"
#include "table_file.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TLS_POLICY_FILE_MAX (4 << 20)
#define TLS_POLICY_DEST_MAX 253

static bool tp_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* A destination name: letters, digits, '-', '_', '.', no empty label. */
static bool tp_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > TLS_POLICY_DEST_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '-' || c == '_' || c == '.'))
			return false;
		if (c == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

static int tp_fail(struct tls_policy_table *out, char *err, size_t errlen, const char *name,
		   unsigned line, const char *why)
{
	snprintf(err, errlen, "%s:%u: %s", name, line, why);
	tls_policy_table_free(out);
	return -1;
}

int tls_policy_parse(const char *name, const char *text, size_t len, struct tls_policy_table *out,
		     char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	size_t pos = 0, cap = 0;
	unsigned lineno = 0;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos;
		pos += l + (nl ? 1 : 0);
		lineno++;
		size_t i = 0;
		while (i < l && tp_blank(line[i]))
			i++;
		if (i == l || line[i] == '#')
			continue;
		size_t d0 = i;
		while (i < l && !tp_blank(line[i]))
			i++;
		size_t d1 = i;
		while (i < l && tp_blank(line[i]))
			i++;
		size_t w0 = i;
		while (i < l && !tp_blank(line[i]))
			i++;
		size_t w1 = i;
		while (i < l && tp_blank(line[i]))
			i++;
		if (w0 == w1)
			return tp_fail(out, err, errlen, name, lineno,
				       "expected DESTINATION LEVEL");
		if (i < l && line[i] != '#')
			return tp_fail(out, err, errlen, name, lineno,
				       "unexpected text after the level");
		for (size_t k = 0; k < l; k++)
			if (line[k] == '\0')
				return tp_fail(out, err, errlen, name, lineno, "NUL byte");
		int level = tls_level_parse(line + w0, w1 - w0);
		if (level < 0)
			return tp_fail(out, err, errlen, name, lineno,
				       "unknown level (none, may, encrypt, dane, dane-only, "
				       "verify, secure)");
		const char *d = line + d0;
		size_t dn = d1 - d0;
		bool host = false, sub = false;
		if (dn >= 2 && d[0] == '[' && d[dn - 1] == ']') {
			host = true;
			d++;
			dn -= 2;
		} else if (dn >= 1 && d[0] == '.') {
			sub = true;
			d++;
			dn--;
		}
		if (!tp_name_ok(d, dn))
			return tp_fail(out, err, errlen, name, lineno, "invalid destination");
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->entries = xrealloc(out->entries, cap * sizeof(*out->entries));
		}
		struct tls_policy_entry *e = &out->entries[out->n++];
		e->dest = xstrndup(d, dn);
		for (char *p = e->dest; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		e->host = host;
		e->subdomains = sub;
		e->level = (enum tls_level)level;
		e->line = lineno;
	}
	return 0;
}

void tls_policy_table_free(struct tls_policy_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->entries[i].dest);
	free(t->entries);
	memset(t, 0, sizeof(*t));
}

/* The last entry of the kind for name (later lines win). */
static const struct tls_policy_entry *tp_find(const struct tls_policy_table *t, const char *name,
					      bool host, bool sub)
{
	const struct tls_policy_entry *hit = NULL;
	for (size_t i = 0; t && i < t->n; i++) {
		const struct tls_policy_entry *e = &t->entries[i];
		if (e->host == host && e->subdomains == sub && strcasecmp(e->dest, name) == 0)
			hit = e;
	}
	return hit;
}

struct tls_policy tls_policy_lookup(const struct tls_policy_table *t, const char *domain,
				    const char *host, enum tls_level def)
{
	struct tls_policy p = { .level = def, .source = TLS_SOURCE_DEFAULT };
	const struct tls_policy_entry *e = NULL;
	if (host) {
		e = tp_find(t, host, true, false);
	} else if (domain) {
		size_t n = strlen(domain);
		char name[TLS_POLICY_DEST_MAX + 2];
		snprintf(name, sizeof(name), "%.*s", (int)(n && domain[n - 1] == '.' ? n - 1 : n),
			 domain);
		e = tp_find(t, name, false, false);
		for (const char *dot = strchr(name, '.'); !e && dot; dot = strchr(dot + 1, '.'))
			e = tp_find(t, dot + 1, false, true);
	}
	if (e) {
		p.level = e->level;
		p.source = TLS_SOURCE_FILE;
		p.line = e->line;
	}
	return p;
}

void tls_policy_describe(const struct tls_policy *p, char *out, size_t outlen)
{
	switch (p->source) {
	case TLS_SOURCE_FILE:
		snprintf(out, outlen, "%s/file:%u", tls_level_name(p->level), p->line);
		break;
	case TLS_SOURCE_REQUIRETLS:
		snprintf(out, outlen, "%s/requiretls", tls_level_name(p->level));
		break;
	case TLS_SOURCE_TLS_REQUIRED_NO:
		snprintf(out, outlen, "%s/tls-required-no", tls_level_name(p->level));
		break;
	case TLS_SOURCE_MTA_STS:
		snprintf(out, outlen, "%s/mta-sts", tls_level_name(p->level));
		break;
	case TLS_SOURCE_MTA_STS_TESTING:
		snprintf(out, outlen, "%s/mta-sts-testing", tls_level_name(p->level));
		break;
	case TLS_SOURCE_DEFAULT:
	default:
		snprintf(out, outlen, "%s/default", tls_level_name(p->level));
		break;
	}
}

static int tp_file_read(struct tls_policy_file *f, struct tls_policy_table *t, char *err,
			size_t errlen)
{
	size_t len = 0;
	struct stat st;
	char *text = table_file_read(f->path, TLS_POLICY_FILE_MAX, true, "file too large", &len,
				     &st, err, errlen);
	if (!text) {
		file_stamp_set(&f->stamp, NULL);
		return -1;
	}
	int r = tls_policy_parse(f->path, text, len, t, err, errlen);
	free(text);
	file_stamp_set(&f->stamp, &st);
	return r;
}

int tls_policy_file_load(struct tls_policy_file *f, const char *path, char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	if (!path)
		return 0;
	f->path = xstrdup(path);
	return tp_file_read(f, &f->table, err, errlen);
}

int tls_policy_file_reload(struct tls_policy_file *f, char *err, size_t errlen)
{
	if (!f->path || !file_stamp_changed(&f->stamp, f->path))
		return 0;
	struct tls_policy_table t;
	if (tp_file_read(f, &t, err, errlen) < 0)
		return -1;
	tls_policy_table_free(&f->table);
	f->table = t;
	return 1;
}

void tls_policy_file_free(struct tls_policy_file *f)
{
	tls_policy_table_free(&f->table);
	free(f->path);
	memset(f, 0, sizeof(*f));
}
