/* mta_sts.c - MTA-STS (RFC 8461): pure parsers of the _mta-sts TXT record and the policy file, MX pattern matching, and serving our own policy. */
#include "mta_sts.h"
#include "buf.h"
#include "config.h"
#include "dns_records.h"
#include "http_server.h"
#include "log.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool sts_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool sts_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* One field "name=value" of [p, end) (blanks already trimmed). */
static int sts_txt_field(const char *p, const char *end, bool first, char *id, bool *have_id)
{
	const char *eq = memchr(p, '=', (size_t)(end - p));
	if (!eq || eq == p)
		return -1;
	size_t nlen = (size_t)(eq - p), vlen = (size_t)(end - eq - 1);
	const char *v = eq + 1;
	if (first)
		return nlen == 1 && p[0] == 'v' && vlen == 5 && memcmp(v, "STSv1", 5) == 0 ? 0 : -1;
	/* sts-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
	if (nlen > 32 || !sts_alnum(p[0]))
		return -1;
	for (size_t i = 1; i < nlen; i++)
		if (!sts_alnum(p[i]) && p[i] != '_' && p[i] != '-' && p[i] != '.')
			return -1;
	if (nlen == 2 && memcmp(p, "id", 2) == 0) {
		if (*have_id || vlen < 1 || vlen > MTA_STS_ID_MAX)
			return -1;
		for (size_t i = 0; i < vlen; i++)
			if (!sts_alnum(v[i]))
				return -1;
		memcpy(id, v, vlen);
		id[vlen] = '\0';
		*have_id = true;
		return 0;
	}
	/* sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E) */
	if (vlen < 1)
		return -1;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
			return -1;
	}
	return 0;
}

int mta_sts_txt_parse(const char *txt, size_t len, char id[MTA_STS_ID_MAX + 1])
{
	const char *p = txt, *end = txt + len;
	bool have_id = false, first = true;
	id[0] = '\0';
	if (len < 7 || memcmp(txt, "v=STSv1", 7) != 0)
		return -1;
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *fe = semi ? semi : end;
		const char *fs = p;
		while (fs < fe && sts_wsp(*fs))
			fs++;
		const char *ft = fe;
		while (ft > fs && sts_wsp(ft[-1]))
			ft--;
		if (fs == ft) {
			/* only a trailing delimiter may leave an empty field */
			if (semi || first)
				return -1;
			break;
		}
		if (sts_txt_field(fs, ft, first, id, &have_id) < 0) {
			id[0] = '\0';
			return -1;
		}
		first = false;
		if (!semi)
			break;
		p = semi + 1;
		/* "v=STSv1; id=x;" ends with a delimiter: nothing but blanks may follow */
		const char *q = p;
		while (q < end && sts_wsp(*q))
			q++;
		if (q == end)
			break;
	}
	if (!have_id) {
		id[0] = '\0';
		return -1;
	}
	return 0;
}

int mta_sts_txt_select(char *const *records, size_t n, char id[MTA_STS_ID_MAX + 1], char *err,
		       size_t errlen)
{
	size_t found = 0;
	const char *rec = NULL;
	id[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (strncmp(records[i], "v=STSv1", 7) == 0) {
			found++;
			rec = records[i];
		}
	if (found == 0)
		return 0;
	if (found > 1) {
		snprintf(err, errlen, "%zu records start with v=STSv1", found);
		return -1;
	}
	if (mta_sts_txt_parse(rec, strlen(rec), id) < 0) {
		snprintf(err, errlen, "invalid record \"%.100s\"", rec);
		return -1;
	}
	return 1;
}

/* ["*."] Domain: labels of letters, digits and '-', 1-63 long, at most 253 in all. */
static bool sts_pattern_ok(const char *v, size_t len)
{
	if (len >= 2 && v[0] == '*' && v[1] == '.') {
		v += 2;
		len -= 2;
	}
	if (len == 0 || len > 253)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (sts_alnum(v[i]) || v[i] == '-' || v[i] == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

void mta_sts_policy_free(struct mta_sts_policy *p)
{
	for (size_t i = 0; i < p->n_mx; i++)
		free(p->mx[i]);
	free(p->mx);
	memset(p, 0, sizeof(*p));
}

void mta_sts_policy_copy(struct mta_sts_policy *dst, const struct mta_sts_policy *src)
{
	*dst = *src;
	dst->mx = src->n_mx ? xcalloc(src->n_mx, sizeof(*dst->mx)) : NULL;
	for (size_t i = 0; i < src->n_mx; i++)
		dst->mx[i] = xstrdup(src->mx[i]);
}

static int sts_fail(struct mta_sts_policy *out, char *err, size_t errlen, unsigned line,
		    const char *why)
{
	mta_sts_policy_free(out);
	if (line)
		snprintf(err, errlen, "line %u: %s", line, why);
	else
		snprintf(err, errlen, "%s", why);
	return -1;
}

int mta_sts_policy_parse(const char *text, size_t len, struct mta_sts_policy *out, char *err,
			 size_t errlen)
{
	bool have_version = false, have_mode = false, have_age = false;
	const char *p = text, *end = text + len;
	unsigned line = 0;
	memset(out, 0, sizeof(*out));
	if (len > MTA_STS_POLICY_MAX)
		return sts_fail(out, err, errlen, 0, "larger than 64 KiB");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		line++;
		if (le > p && le[-1] == '\r')
			le--;
		const char *next = nl ? nl + 1 : end;
		if (le == p) { /* an empty line: allowed (a trailing one is common) */
			p = next;
			continue;
		}
		const char *colon = memchr(p, ':', (size_t)(le - p));
		if (!colon || colon == p)
			return sts_fail(out, err, errlen, line, "not \"key: value\"");
		size_t klen = (size_t)(colon - p);
		for (size_t i = 0; i < klen; i++)
			if (!sts_alnum(p[i]) && p[i] != '_' && p[i] != '-' && p[i] != '.')
				return sts_fail(out, err, errlen, line, "invalid key");
		const char *v = colon + 1;
		while (v < le && sts_wsp(*v))
			v++;
		const char *ve = le;
		while (ve > v && sts_wsp(ve[-1]))
			ve--;
		size_t vlen = (size_t)(ve - v);
		for (size_t i = 0; i < vlen; i++)
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				return sts_fail(out, err, errlen, line, "control character");
#define KEY(s) (klen == sizeof(s) - 1 && memcmp(p, s, klen) == 0)
#define VAL(s) (vlen == sizeof(s) - 1 && memcmp(v, s, vlen) == 0)
		if (KEY("version")) {
			if (!have_version) {
				if (!VAL("STSv1"))
					return sts_fail(out, err, errlen, line,
							"version is not STSv1");
				have_version = true;
			}
		} else if (KEY("mode")) {
			if (!have_mode) {
				if (VAL("enforce"))
					out->mode = MTA_STS_ENFORCE;
				else if (VAL("testing"))
					out->mode = MTA_STS_TESTING;
				else if (VAL("none"))
					out->mode = MTA_STS_NONE;
				else
					return sts_fail(out, err, errlen, line,
							"mode is not enforce, testing or none");
				have_mode = true;
			}
		} else if (KEY("max_age")) {
			if (!have_age) {
				if (vlen < 1 || vlen > 10)
					return sts_fail(out, err, errlen, line,
							"max_age is not 1-10 digits");
				long a = 0;
				for (size_t i = 0; i < vlen; i++) {
					if (v[i] < '0' || v[i] > '9')
						return sts_fail(out, err, errlen, line,
								"max_age is not 1-10 digits");
					a = a * 10 + (v[i] - '0');
				}
				out->max_age = a > MTA_STS_MAX_AGE_MAX ? MTA_STS_MAX_AGE_MAX : a;
				have_age = true;
			}
		} else if (KEY("mx")) {
			if (!sts_pattern_ok(v, vlen))
				return sts_fail(out, err, errlen, line, "invalid mx pattern");
			char *m = xstrndup(v, vlen);
			for (char *c = m; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			out->mx = xrealloc(out->mx, (out->n_mx + 1) * sizeof(*out->mx));
			out->mx[out->n_mx++] = m;
		} /* other keys: extensions, ignored */
#undef KEY
#undef VAL
		p = next;
	}
	if (!have_version)
		return sts_fail(out, err, errlen, 0, "no version");
	if (!have_mode)
		return sts_fail(out, err, errlen, 0, "no mode");
	if (!have_age)
		return sts_fail(out, err, errlen, 0, "no max_age");
	if (out->mode != MTA_STS_NONE && out->n_mx == 0)
		return sts_fail(out, err, errlen, 0, "no mx");
	return 0;
}

bool mta_sts_mx_match(const char *pattern, const char *host)
{
	size_t hl = strlen(host);
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (hl == 0)
		return false;
	if (pattern[0] == '*' && pattern[1] == '.') {
		/* exactly one label in place of the '*' */
		const char *dot = memchr(host, '.', hl);
		if (!dot || dot == host)
			return false;
		size_t rest = hl - (size_t)(dot + 1 - host);
		return strlen(pattern + 2) == rest && strncasecmp(dot + 1, pattern + 2, rest) == 0;
	}
	return strlen(pattern) == hl && strncasecmp(pattern, host, hl) == 0;
}

bool mta_sts_policy_mx_ok(const struct mta_sts_policy *p, const char *host)
{
	for (size_t i = 0; i < p->n_mx; i++)
		if (mta_sts_mx_match(p->mx[i], host))
			return true;
	return false;
}

const char *mta_sts_mode_name(enum mta_sts_mode m)
{
	switch (m) {
	case MTA_STS_ENFORCE:
		return "enforce";
	case MTA_STS_TESTING:
		return "testing";
	case MTA_STS_NONE:
		break;
	}
	return "none";
}

/* --- receiver side --- */

/* The text served (the loop thread owns it): rebuilt at start-up and on SIGHUP. */
static struct buf sts_served;
static bool sts_served_init;

void mta_sts_refresh(const struct config *cfg)
{
	struct dns_records_inputs in;
	const char *domain = cfg->domains.n ? cfg->domains.items[0] : cfg->hostname;
	dns_records_load_inputs(cfg, domain, &in);
	/* the same choice as dns_records_build: enforce only with a CA-signed certificate */
	bool enforce = in.tlsa[0] && !in.self_signed;
	dns_records_inputs_free(&in);
	if (!sts_served_init) {
		buf_init(&sts_served);
		sts_served_init = true;
	}
	sts_served.len = 0;
	dns_records_mta_sts_policy(cfg, enforce, &sts_served);
}

static int mta_sts_get(void *arg, const struct http_request *req, struct http_reply *reply)
{
	(void)arg;
	if (strcmp(req->path, "/.well-known/mta-sts.txt") != 0)
		return 404;
	buf_append(&reply->body, sts_served.data, sts_served.len);
	reply->content_type = "text/plain";
	return 200;
}

void mta_sts_routes(struct http_server *s, const struct config *cfg)
{
	mta_sts_refresh(cfg);
	http_server_route(s, "GET", "/.well-known/mta-sts.txt", mta_sts_get, NULL);
}

void mta_sts_routes_free(void)
{
	if (sts_served_init)
		buf_free(&sts_served);
	sts_served_init = false;
}
