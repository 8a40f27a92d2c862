/* zz_temp_deps.c - TEMPORARY minimal config/addr functions so the deliver branch builds before config.c and addr.c merge; deleted in the branch's last commit. */
#include "addr.h"
#include "config.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void config_defaults(struct config *cfg)
{
	char host[256];
	memset(cfg, 0, sizeof(*cfg));
	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	cfg->hostname = xstrdup(host);
	cfg->domains.items = xmalloc(sizeof(char *));
	cfg->domains.items[0] = xstrdup("localhost");
	cfg->domains.n = 1;
	cfg->state_dir = xstrdup("./var");
	cfg->max_message_size = 35u * 1024 * 1024;
	cfg->max_recipients = 1000;
	cfg->recipient_delimiter = xstrdup("+");
}

void config_free(struct config *cfg)
{
	free(cfg->path);
	free(cfg->hostname);
	for (size_t i = 0; i < cfg->domains.n; i++)
		free(cfg->domains.items[i]);
	free(cfg->domains.items);
	free(cfg->state_dir);
	free(cfg->users_file);
	free(cfg->aliases_file);
	free(cfg->recipient_delimiter);
	memset(cfg, 0, sizeof(*cfg));
}

bool config_is_local_domain(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->domains.n; i++)
		if (strcasecmp(cfg->domains.items[i], domain) == 0)
			return true;
	return false;
}

static void zz_set(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

void config_load_or_exit(struct config *cfg, const char *path)
{
	config_defaults(cfg);
	if (!path)
		path = getenv("MAIL_CONF");
	if (path) {
		FILE *f = fopen(path, "r");
		char line[4096];
		unsigned lineno = 0;
		if (!f) {
			fprintf(stderr, "%s:0: %s\n", path, strerror(errno));
			exit(EX_CONFIG_STATUS);
		}
		cfg->path = xstrdup(path);
		while (fgets(line, sizeof(line), f)) {
			lineno++;
			char *s = line, *e = line + strlen(line);
			while (e > s && isspace((unsigned char)e[-1]))
				*--e = '\0';
			while (isspace((unsigned char)*s))
				s++;
			if (*s == '\0' || *s == '#')
				continue;
			char *eq = strchr(s, '=');
			if (!eq) {
				fprintf(stderr, "%s:%u: expected key = value\n", path, lineno);
				exit(EX_CONFIG_STATUS);
			}
			char *k = s, *ke = eq, *v = eq + 1;
			while (ke > k && isspace((unsigned char)ke[-1]))
				ke--;
			*ke = '\0';
			while (isspace((unsigned char)*v))
				v++;
			if (strcmp(k, "hostname") == 0) {
				zz_set(&cfg->hostname, v);
			} else if (strcmp(k, "state_dir") == 0) {
				zz_set(&cfg->state_dir, v);
			} else if (strcmp(k, "users_file") == 0) {
				zz_set(&cfg->users_file, v);
			} else if (strcmp(k, "aliases_file") == 0) {
				zz_set(&cfg->aliases_file, v);
			} else if (strcmp(k, "recipient_delimiter") == 0) {
				zz_set(&cfg->recipient_delimiter, v);
			} else if (strcmp(k, "max_message_size") == 0) {
				char *end;
				unsigned long long n = strtoull(v, &end, 10);
				if (*end == 'k')
					n *= 1024, end++;
				else if (*end == 'M')
					n *= 1024 * 1024, end++;
				if (*end != '\0' || end == v) {
					fprintf(stderr, "%s:%u: bad size\n", path, lineno);
					exit(EX_CONFIG_STATUS);
				}
				cfg->max_message_size = n;
			} else if (strcmp(k, "domains") == 0) {
				for (size_t i = 0; i < cfg->domains.n; i++)
					free(cfg->domains.items[i]);
				cfg->domains.n = 0;
				for (char *t = strtok(v, " ,\t"); t; t = strtok(NULL, " ,\t")) {
					cfg->domains.items = xrealloc(cfg->domains.items,
						(cfg->domains.n + 1) * sizeof(char *));
					for (char *c = t; *c; c++)
						*c = (char)tolower((unsigned char)*c);
					cfg->domains.items[cfg->domains.n++] = xstrdup(t);
				}
			} else {
				fprintf(stderr, "%s:%u: unknown key '%s'\n", path, lineno, k);
				exit(EX_CONFIG_STATUS);
			}
		}
		fclose(f);
	}
	if (!cfg->users_file)
		cfg->users_file = xasprintf("%s/users", cfg->state_dir);
}

int addr_parse_mailbox(const char *s, size_t len, unsigned flags, struct addr *a,
		       const char **error_r)
{
	size_t i = 0, n = 0;
	memset(a, 0, sizeof(*a));
	if (len == 0) {
		if (flags & ADDR_ALLOW_NULL) {
			a->is_null = true;
			return 0;
		}
		*error_r = "empty address";
		return -1;
	}
	if (s[0] == '"') {
		a->quoted = true;
		for (i = 1; i < len && s[i] != '"'; i++) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			if (n >= ADDR_LOCAL_MAX || (unsigned char)s[i] < 0x20) {
				*error_r = "bad quoted local part";
				return -1;
			}
			a->local[n++] = s[i];
		}
		if (i >= len) {
			*error_r = "unterminated quoted string";
			return -1;
		}
		i++;
	} else {
		for (; i < len && s[i] != '@'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c <= 0x20 || c == 0x7f || strchr("\"(),:;<>@[\\]", c) || n >= ADDR_LOCAL_MAX) {
				*error_r = "bad local part";
				return -1;
			}
			if (c >= 0x80 && !(flags & ADDR_ALLOW_UTF8)) {
				*error_r = "non-ASCII local part";
				return -1;
			}
			a->local[n++] = (char)c;
		}
		if (n == 0 || a->local[0] == '.' || a->local[n - 1] == '.' ||
		    strstr(a->local, "..")) {
			*error_r = "bad local part";
			return -1;
		}
	}
	if (i == len) {
		if (flags & ADDR_ALLOW_NO_DOMAIN)
			return 0;
		*error_r = "missing domain";
		return -1;
	}
	if (s[i] != '@' || i + 1 >= len || len - i - 1 > ADDR_DOMAIN_MAX) {
		*error_r = "bad domain";
		return -1;
	}
	n = 0;
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '.' || c == '-' || c == '[' || c == ']' || c == ':' ||
		      (c >= 0x80 && (flags & ADDR_ALLOW_UTF8)))) {
			*error_r = "bad domain";
			return -1;
		}
		a->domain[n++] = (char)tolower(c);
	}
	for (const char *p = a->local; *p; p++)
		if ((unsigned char)*p >= 0x80)
			a->utf8 = true;
	return 0;
}

size_t addr_format(const struct addr *a, char *out, size_t outlen)
{
	bool quote = a->local[0] == '\0' || a->local[0] == '.';
	for (const char *p = a->local; *p; p++)
		if ((unsigned char)*p <= 0x20 || strchr("\"(),:;<>@[\\]", *p) ||
		    (p[0] == '.' && (p[1] == '.' || p[1] == '\0')))
			quote = true;
	if (a->is_null) {
		if (outlen)
			out[0] = '\0';
		return 0;
	}
	char tmp[2 * ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	size_t n = 0;
	if (quote)
		tmp[n++] = '"';
	for (const char *p = a->local; *p; p++) {
		if (quote && (*p == '"' || *p == '\\'))
			tmp[n++] = '\\';
		tmp[n++] = *p;
	}
	if (quote)
		tmp[n++] = '"';
	tmp[n] = '\0';
	return (size_t)snprintf(out, outlen, "%s%s%s", tmp, a->domain[0] ? "@" : "", a->domain);
}
