/* dns_records.c - the DNS records a mail domain needs: built from the configuration, and read back from DNS replies. */
#include "dns_records.h"
#include "base64.h"
#include "fileutil.h"
#include "str.h"
#include "tls.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <ctype.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DNS_RECORDS_TTL      3600
#define DNS_RECORDS_MAX_AGE  604800 /* MTA-STS max_age: one week */
#define DNS_RECORDS_FILE_MAX (1024 * 1024)

#ifndef ns_t_tlsa
#define ns_t_tlsa 52
#endif

const char *dns_type_name(int type)
{
	switch (type) {
	case ns_t_a:
		return "A";
	case ns_t_aaaa:
		return "AAAA";
	case ns_t_mx:
		return "MX";
	case ns_t_txt:
		return "TXT";
	case ns_t_cname:
		return "CNAME";
	case ns_t_ptr:
		return "PTR";
	case ns_t_srv:
		return "SRV";
	case ns_t_tlsa:
		return "TLSA";
	}
	return "TYPE?";
}

/* ---- building ---- */

/* The buffer's text as a malloc'd string ("" when empty). */
static char *dns_buf_str(struct buf *b)
{
	char *s = buf_steal(b, NULL);
	return s ? s : xstrdup("");
}

static void dns_records_add(struct dns_records *r, const char *what, enum dns_match match, int type,
			    char *name, char *rdata)
{
	r->items = xrealloc(r->items, (r->n + 1) * sizeof(*r->items));
	r->items[r->n++] = (struct dns_record){
		.name = name, .type = type, .rdata = rdata, .what = what, .match = match
	};
}

/* The first listener's port, 0 when the listener is off. */
static unsigned dns_records_port(const struct config_hostport_list *l)
{
	return l->n > 0 ? l->items[0].port : 0;
}

/* An address worth publishing: a listener bound to one public address. */
static bool dns_records_public_ip(const char *host, int *family_r)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		uint32_t a = ntohl(a4.s_addr);
		*family_r = AF_INET;
		return a != 0 && (a >> 24) != 127 && (a >> 24) != 10 && (a >> 20) != 0xac1 &&
		       (a >> 16) != 0xc0a8;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		*family_r = AF_INET6;
		return !IN6_IS_ADDR_UNSPECIFIED(&a6) && !IN6_IS_ADDR_LOOPBACK(&a6) &&
		       !IN6_IS_ADDR_LINKLOCAL(&a6) && (a6.s6_addr[0] & 0xfe) != 0xfc;
	}
	return false;
}

void dns_records_mta_sts_policy(const struct config *cfg, bool enforce, struct buf *out)
{
	buf_printf(out, "version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: %d\r\n",
		   enforce ? "enforce" : "testing", cfg->hostname, DNS_RECORDS_MAX_AGE);
}

/* The policy's id: the first 10 bytes of its SHA-256, hex (RFC 8461: 1-32 alphanumerics). */
static char *dns_records_sts_id(const struct config *cfg, bool enforce)
{
	struct buf b;
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[21];
	buf_init(&b);
	dns_records_mta_sts_policy(cfg, enforce, &b);
	SHA256((const unsigned char *)b.data, b.len, md);
	buf_free(&b);
	for (int i = 0; i < 10; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return xstrdup(hex);
}

void dns_records_build(const struct config *cfg, const char *domain,
		       const struct dns_records_inputs *in, struct dns_records *out)
{
	const char *host = cfg->hostname;
	struct buf c;
	memset(out, 0, sizeof(*out));
	buf_init(&c);

	/* The host's own addresses, when a listener names a public one. */
	const struct config_hostport_list *lists[] = { &cfg->smtp_listen, &cfg->submission_listen,
						       &cfg->submissions_listen, &cfg->imap_listen,
						       &cfg->imaps_listen };
	size_t n_addr = 0;
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
		for (size_t i = 0; i < lists[l]->n; i++) {
			int family;
			const char *ip = lists[l]->items[i].host;
			if (!dns_records_public_ip(ip, &family))
				continue;
			bool dup = false;
			for (size_t k = 0; k < out->n; k++)
				dup |= strcmp(out->items[k].rdata, ip) == 0;
			if (dup)
				continue;
			dns_records_add(out, "address", DNS_MATCH_EXACT,
					family == AF_INET ? ns_t_a : ns_t_aaaa,
					xasprintf("%s.", host), xstrdup(ip));
			n_addr++;
		}
	if (n_addr == 0)
		buf_printf(
			&c,
			"; %s. needs A (and AAAA) records of its public addresses (the listeners "
			"are not bound to one).\n",
			host);
	buf_printf(&c,
		   "; PTR: the reverse DNS of each address of %s must name %s. (ask the provider "
		   "of the address); receivers check it.\n",
		   host, host);

	dns_records_add(out, "MX", DNS_MATCH_MX, ns_t_mx, xasprintf("%s.", domain),
			xasprintf("10 %s.", host));
	dns_records_add(out, "SPF", DNS_MATCH_EXACT, ns_t_txt, xasprintf("%s.", domain),
			xstrdup("v=spf1 mx -all"));
	if (cfg->smarthost.host[0])
		buf_printf(&c,
			   "; SPF: mail leaves through the smarthost %s: add its include: or ip4: "
			   "to the SPF record.\n",
			   cfg->smarthost.host);
	dns_records_add(out, "DMARC", DNS_MATCH_EXACT, ns_t_txt, xasprintf("_dmarc.%s.", domain),
			xasprintf("v=DMARC1; p=quarantine; rua=mailto:postmaster@%s", domain));
	if (in->dkim_selector && in->dkim_key)
		dns_records_add(out, "DKIM", DNS_MATCH_DKIM, ns_t_txt,
				xasprintf("%s._domainkey.%s.", in->dkim_selector, domain),
				xasprintf("v=DKIM1; k=rsa; p=%s", in->dkim_key));
	else
		buf_printf(&c, "; DKIM: %s\n",
			   in->dkim_note ? in->dkim_note : "no OpenDKIM key configured");

	/* MTA-STS: enforce only with a certificate other servers can verify. */
	bool enforce = in->tlsa[0] && !in->self_signed;
	char *id = dns_records_sts_id(cfg, enforce);
	dns_records_add(out, "MTA-STS", DNS_MATCH_EXACT, ns_t_txt,
			xasprintf("_mta-sts.%s.", domain), xasprintf("v=STSv1; id=%s", id));
	free(id);
	dns_records_add(out, "MTA-STS host", DNS_MATCH_EXACT, ns_t_cname,
			xasprintf("mta-sts.%s.", domain), xasprintf("%s.", host));
	dns_records_add(out, "TLS-RPT", DNS_MATCH_EXACT, ns_t_txt,
			xasprintf("_smtp._tls.%s.", domain),
			xasprintf("v=TLSRPTv1; rua=mailto:postmaster@%s", domain));
	if (in->tlsa[0])
		dns_records_add(out, "TLSA", DNS_MATCH_EXACT, ns_t_tlsa,
				xasprintf("_25._tcp.%s.", host), xasprintf("3 1 1 %s", in->tlsa));
	else
		buf_printf(&c, "; TLSA: %s\n",
			   in->cert_error ? in->cert_error : "no certificate yet");

	/* RFC 6186: "0 0 0 ." says the service is not offered. */
	static const struct {
		const char *service;
		size_t off;
	} srv[] = {
		{ "submission", offsetof(struct config, submission_listen) },
		{ "submissions", offsetof(struct config, submissions_listen) },
		{ "imap", offsetof(struct config, imap_listen) },
		{ "imaps", offsetof(struct config, imaps_listen) },
	};
	for (size_t i = 0; i < sizeof(srv) / sizeof(srv[0]); i++) {
		const struct config_hostport_list *l =
			(const struct config_hostport_list *)((const char *)cfg + srv[i].off);
		unsigned port = dns_records_port(l);
		dns_records_add(out, "SRV", DNS_MATCH_EXACT, ns_t_srv,
				xasprintf("_%s._tcp.%s.", srv[i].service, domain),
				port ? xasprintf("0 1 %u %s.", port, host) : xstrdup("0 0 0 ."));
	}
	dns_records_add(out, "autoconfig", DNS_MATCH_EXACT, ns_t_cname,
			xasprintf("autoconfig.%s.", domain), xasprintf("%s.", host));
	dns_records_add(out, "autodiscover", DNS_MATCH_EXACT, ns_t_cname,
			xasprintf("autodiscover.%s.", domain), xasprintf("%s.", host));

	buf_printf(&c,
		   "; MTA-STS policy file, served as https://mta-sts.%s/.well-known/mta-sts.txt",
		   domain);
	buf_printf(&c, " (mode %s%s):\n", enforce ? "enforce" : "testing",
		   enforce ? "" : " until the certificate is signed by a CA");
	struct buf p;
	buf_init(&p);
	dns_records_mta_sts_policy(cfg, enforce, &p);
	for (char *line = p.data, *end; line && *line; line = end + 2) {
		end = strstr(line, "\r\n");
		if (!end)
			break;
		buf_printf(&c, ";   %.*s\n", (int)(end - line), line);
	}
	buf_free(&p);
	out->comments = dns_buf_str(&c);
}

void dns_records_free(struct dns_records *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].name);
		free(r->items[i].rdata);
	}
	free(r->items);
	free(r->comments);
	memset(r, 0, sizeof(*r));
}

void dns_record_format(const struct dns_record *r, struct buf *out)
{
	buf_printf(out, "%s\t%d\tIN\t%s\t", r->name, DNS_RECORDS_TTL, dns_type_name(r->type));
	if (r->type != ns_t_txt) {
		buf_printf(out, "%s\n", r->rdata);
		return;
	}
	size_t len = strlen(r->rdata);
	for (size_t off = 0; off < len || off == 0; off += 255) {
		size_t n = len - off < 255 ? len - off : 255;
		buf_append_str(out, off ? " \"" : "\"");
		for (size_t i = 0; i < n; i++) {
			char ch = r->rdata[off + i];
			if (ch == '"' || ch == '\\')
				buf_append(out, "\\", 1);
			buf_append(out, &ch, 1);
		}
		buf_append(out, "\"", 1);
		if (len == 0)
			break;
	}
	buf_append(out, "\n", 1);
}

/* ---- reading replies ---- */

void dns_rdata_free(char **rdata, long n)
{
	for (long i = 0; i < n; i++)
		free(rdata[i]);
	free(rdata);
}

/* A domain name at p of the message: "name." ("." for the root). NULL when malformed. */
static char *dns_answer_name(const unsigned char *p, const unsigned char *msg, size_t len,
			     long *enclen_r)
{
	char *s = NULL;
	if (ares_expand_name(p, msg, (int)len, &s, enclen_r) != ARES_SUCCESS)
		return NULL;
	char *name = xasprintf("%s.", s[0] ? s : "");
	ares_free_string(s);
	if (strcmp(name, "..") == 0)
		name[1] = '\0';
	return name;
}

static uint16_t dns_get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The rdata of one record in presentation form, NULL when malformed. */
static char *dns_answer_rdata(int type, const unsigned char *rd, size_t rdlen,
			      const unsigned char *msg, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];
	long enclen;
	struct buf b;
	switch (type) {
	case ns_t_a:
		if (rdlen != 4)
			return NULL;
		return xstrdup(inet_ntop(AF_INET, rd, tmp, sizeof(tmp)));
	case ns_t_aaaa:
		if (rdlen != 16)
			return NULL;
		return xstrdup(inet_ntop(AF_INET6, rd, tmp, sizeof(tmp)));
	case ns_t_cname:
	case ns_t_ptr:
	case ns_t_ns:
		return dns_answer_name(rd, msg, len, &enclen);
	case ns_t_mx: {
		if (rdlen < 3)
			return NULL;
		char *name = dns_answer_name(rd + 2, msg, len, &enclen);
		if (!name)
			return NULL;
		char *s = xasprintf("%u %s", dns_get16(rd), name);
		free(name);
		return s;
	}
	case ns_t_srv: {
		if (rdlen < 7)
			return NULL;
		char *name = dns_answer_name(rd + 6, msg, len, &enclen);
		if (!name)
			return NULL;
		char *s = xasprintf("%u %u %u %s", dns_get16(rd), dns_get16(rd + 2),
				    dns_get16(rd + 4), name);
		free(name);
		return s;
	}
	case ns_t_txt:
		buf_init(&b);
		for (size_t i = 0; i < rdlen;) {
			size_t n = rd[i++];
			if (i + n > rdlen) {
				buf_free(&b);
				return NULL;
			}
			buf_append(&b, rd + i, n);
			i += n;
		}
		return dns_buf_str(&b);
	case ns_t_tlsa:
		if (rdlen < 3)
			return NULL;
		buf_init(&b);
		buf_printf(&b, "%u %u %u ", rd[0], rd[1], rd[2]);
		for (size_t i = 3; i < rdlen; i++)
			buf_printf(&b, "%02x", rd[i]);
		return dns_buf_str(&b);
	}
	buf_init(&b);
	for (size_t i = 0; i < rdlen; i++)
		buf_printf(&b, "%02x", rd[i]);
	return dns_buf_str(&b);
}

long dns_answer_parse(const unsigned char *msg, size_t len, int type, char ***rdata_r,
		      const char **error_r)
{
	*rdata_r = NULL;
	if (len < NS_HFIXEDSZ || len > 65535) {
		*error_r = "reply shorter than a DNS header";
		return -1;
	}
	unsigned qd = dns_get16(msg + 4), an = dns_get16(msg + 6);
	const unsigned char *p = msg + NS_HFIXEDSZ, *end = msg + len;
	long enclen;
	for (unsigned i = 0; i < qd; i++) {
		char *name = NULL;
		if (ares_expand_name(p, msg, (int)len, &name, &enclen) != ARES_SUCCESS) {
			*error_r = "bad name in the question";
			return -1;
		}
		ares_free_string(name);
		p += enclen;
		if (end - p < 4) {
			*error_r = "question cut short";
			return -1;
		}
		p += 4;
	}
	char **out = NULL;
	long n = 0;
	for (unsigned i = 0; i < an; i++) {
		char *name = NULL;
		if (ares_expand_name(p, msg, (int)len, &name, &enclen) != ARES_SUCCESS) {
			*error_r = "bad name in an answer";
			goto fail;
		}
		ares_free_string(name);
		p += enclen;
		if (end - p < 10) {
			*error_r = "answer record cut short";
			goto fail;
		}
		int rtype = dns_get16(p), rclass = dns_get16(p + 2);
		size_t rdlen = dns_get16(p + 8);
		p += 10;
		if ((size_t)(end - p) < rdlen) {
			*error_r = "answer data cut short";
			goto fail;
		}
		if (rtype == type && rclass == ns_c_in) {
			char *rd = dns_answer_rdata(type, p, rdlen, msg, len);
			if (!rd) {
				*error_r = "malformed record data";
				goto fail;
			}
			out = xrealloc(out, (size_t)(n + 1) * sizeof(*out));
			out[n++] = rd;
		}
		p += rdlen;
	}
	*rdata_r = out;
	return n;
fail:
	dns_rdata_free(out, n);
	return -1;
}

/* TXT text without blanks after ';' and at the ends. */
static char *dns_txt_norm(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;
	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s; s++) {
		*o++ = *s;
		if (*s == ';')
			while (s[1] == ' ' || s[1] == '\t')
				s++;
	}
	while (o > out && (o[-1] == ' ' || o[-1] == '\t' || o[-1] == ';'))
		o--;
	*o = '\0';
	return out;
}

/* The value of tag in a DKIM record ("p"), without blanks; NULL if absent. */
static char *dns_dkim_tag(const char *s, const char *tag)
{
	size_t tl = strlen(tag);
	for (const char *p = s; p && *p;) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		const char *semi = strchr(p, ';');
		size_t len = semi ? (size_t)(semi - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (eq) {
			size_t kl = (size_t)(eq - p);
			while (kl > 0 && (p[kl - 1] == ' ' || p[kl - 1] == '\t'))
				kl--;
			if (kl == tl && strncmp(p, tag, tl) == 0) {
				char *v = xmalloc(len + 1), *o = v;
				for (const char *q = eq + 1; q < p + len; q++)
					if (!isspace((unsigned char)*q))
						*o++ = *q;
				*o = '\0';
				return v;
			}
		}
		p = semi;
	}
	return NULL;
}

bool dns_record_matches(const struct dns_record *r, const char *published)
{
	if (r->match == DNS_MATCH_MX) {
		const char *ours = strchr(r->rdata, ' '), *theirs = strchr(published, ' ');
		return ours && theirs && strcasecmp(ours + 1, theirs + 1) == 0;
	}
	if (r->match == DNS_MATCH_DKIM) {
		char *a = dns_dkim_tag(r->rdata, "p"), *b = dns_dkim_tag(published, "p");
		bool eq = a && b && strcmp(a, b) == 0;
		free(a);
		free(b);
		return eq;
	}
	size_t ol = strlen(r->rdata), pl = strlen(published);
	if (r->type == ns_t_srv && ol >= 2 && strcmp(r->rdata + ol - 2, " .") == 0)
		return pl >= 2 && strcmp(published + pl - 2, " .") == 0; /* RFC 6186: not offered */
	if (r->type == ns_t_txt) {
		char *a = dns_txt_norm(r->rdata), *b = dns_txt_norm(published);
		bool eq = strcmp(a, b) == 0;
		free(a);
		free(b);
		return eq;
	}
	return strcasecmp(r->rdata, published) == 0;
}

/* ---- OpenDKIM configuration ---- */

/* Calls fn for each "KEY VALUE" line of an OpenDKIM-style file (comments and blank lines
 * skipped); stops when fn returns non-zero and returns that. */
static int dns_opendkim_lines(const char *text, size_t len,
			      int (*fn)(const char *key, size_t klen, const char *val, size_t vlen,
					void *arg),
			      void *arg)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *k = p;
		p = nl ? nl + 1 : end;
		while (k < le && (*k == ' ' || *k == '\t'))
			k++;
		if (k == le || *k == '#')
			continue;
		const char *ke = k;
		while (ke < le && *ke != ' ' && *ke != '\t')
			ke++;
		const char *v = ke;
		while (v < le && (*v == ' ' || *v == '\t'))
			v++;
		/* v <= le always; said so gcc -O2 sees the bound cannot be negative */
		size_t vlen = v < le ? (size_t)(le - v) : 0;
		const char *ve = v + vlen;
		const char *hash = vlen ? memchr(v, '#', vlen) : NULL;
		if (hash)
			ve = hash;
		while (ve > v && isspace((unsigned char)ve[-1]))
			ve--;
		int r = fn(k, (size_t)(ke - k), v, (size_t)(ve - v), arg);
		if (r)
			return r;
	}
	return 0;
}

struct dns_opendkim_conf {
	char *domain, *selector, *keyfile, *keytable;
};

static int dns_opendkim_conf_line(const char *key, size_t klen, const char *val, size_t vlen,
				  void *arg)
{
	struct dns_opendkim_conf *c = arg;
	char **slot = NULL;
	if (klen == 6 && strncasecmp(key, "Domain", 6) == 0)
		slot = &c->domain;
	else if (klen == 8 && strncasecmp(key, "Selector", 8) == 0)
		slot = &c->selector;
	else if (klen == 7 && strncasecmp(key, "KeyFile", 7) == 0)
		slot = &c->keyfile;
	else if (klen == 8 && strncasecmp(key, "KeyTable", 8) == 0)
		slot = &c->keytable;
	if (slot && vlen > 0) {
		free(*slot);
		*slot = xstrndup(val, vlen);
	}
	return 0;
}

/* True when domain is among the words of list (blanks and commas between them). */
static bool dns_in_list(const char *list, const char *domain)
{
	size_t dl = strlen(domain);
	for (const char *p = list; *p;) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, " \t,");
		if (n == dl && strncasecmp(p, domain, dl) == 0)
			return true;
		p += n;
	}
	return false;
}

int dns_records_opendkim_conf(const char *text, size_t len, const char *domain, char **selector_r,
			      char **keyfile_r, char **keytable_r)
{
	struct dns_opendkim_conf c = { 0 };
	*selector_r = *keyfile_r = *keytable_r = NULL;
	dns_opendkim_lines(text, len, dns_opendkim_conf_line, &c);
	int found = 0;
	if (c.keytable) {
		const char *path = c.keytable;
		if (strncmp(path, "file:", 5) == 0)
			path += 5;
		if (path[0] == '/')
			*keytable_r = xstrdup(path);
	}
	/* Domain is a list, or a file of domains (starts with '/'): any domain then. */
	bool ours = !c.domain || c.domain[0] == '/' || dns_in_list(c.domain, domain);
	if (!*keytable_r && ours && c.selector && c.keyfile) {
		*selector_r = c.selector;
		*keyfile_r = c.keyfile;
		c.selector = c.keyfile = NULL;
		found = 1;
	}
	free(c.domain);
	free(c.selector);
	free(c.keyfile);
	free(c.keytable);
	return found;
}

struct dns_keytable {
	const char *domain;
	char *selector, *keyfile;
};

static int dns_keytable_line(const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
	struct dns_keytable *t = arg;
	const char *c1 = memchr(val, ':', vlen);
	if (!c1)
		return 0;
	const char *c2 = memchr(c1 + 1, ':', (size_t)(val + vlen - c1 - 1));
	size_t dl = strlen(t->domain);
	if (!c2 || (size_t)(c1 - val) != dl || strncasecmp(val, t->domain, dl) != 0 ||
	    c2 == c1 + 1 || c2 + 1 == val + vlen)
		return 0;
	t->selector = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
	t->keyfile = xstrndup(c2 + 1, (size_t)(val + vlen - c2 - 1));
	return 1;
}

int dns_records_opendkim_keytable(const char *text, size_t len, const char *domain,
				  char **selector_r, char **keyfile_r)
{
	struct dns_keytable t = { .domain = domain };
	*selector_r = *keyfile_r = NULL;
	if (dns_opendkim_lines(text, len, dns_keytable_line, &t) == 0)
		return 0;
	*selector_r = t.selector;
	*keyfile_r = t.keyfile;
	return 1;
}

/* ---- inputs from files ---- */

static void dns_records_load_cert(const struct config *cfg, struct dns_records_inputs *in)
{
	char *cert_path, *key_path;
	tls_cert_paths(cfg->state_dir, cfg->tls_cert, cfg->tls_key, &cert_path, &key_path);
	FILE *f = fopen(cert_path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	unsigned char *der = NULL;
	int len = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1;
	if (len > 0) {
		unsigned char md[SHA256_DIGEST_LENGTH];
		SHA256(der, (size_t)len, md);
		for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
			snprintf(in->tlsa + 2 * i, 3, "%02x", md[i]);
		in->self_signed = X509_NAME_cmp(X509_get_subject_name(x),
						X509_get_issuer_name(x)) == 0;
	} else {
		in->cert_error = xasprintf("no certificate in %s yet (mtad writes one at its first "
					   "start)",
					   cert_path);
	}
	OPENSSL_free(der);
	X509_free(x);
	free(cert_path);
	free(key_path);
}

/* The p= value of a private key file: base64 of the DER SubjectPublicKeyInfo. */
static char *dns_records_dkim_pub(const char *keyfile, char **note_r)
{
	FILE *f = fopen(keyfile, "r");
	if (!f) {
		*note_r = xasprintf("cannot read the OpenDKIM key %s (run as a user who can)",
				    keyfile);
		return NULL;
	}
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	unsigned char *der = NULL;
	int len = k ? i2d_PUBKEY(k, &der) : -1;
	EVP_PKEY_free(k);
	if (len <= 0) {
		*note_r = xasprintf("%s is not a PEM private key", keyfile);
		return NULL;
	}
	char *b64 = xmalloc(BASE64_ENCODED_LEN((size_t)len) + 1);
	base64_encode(der, (size_t)len, b64, BASE64_ENCODED_LEN((size_t)len) + 1);
	OPENSSL_free(der);
	return b64;
}

static void dns_records_load_dkim(const struct config *cfg, const char *domain,
				  struct dns_records_inputs *in)
{
	char *text = NULL, *selector = NULL, *keyfile = NULL, *keytable = NULL;
	size_t len;
	const char *conf = cfg->opendkim_conf;
	if (!conf || read_file(conf, DNS_RECORDS_FILE_MAX, false, &text, &len) < 0) {
		in->dkim_note = xasprintf("no OpenDKIM configuration%s%s: sign with OpenDKIM "
					  "(docs/milters.md) and set opendkim_conf",
					  conf ? " at " : "", conf ? conf : "");
		return;
	}
	int found = dns_records_opendkim_conf(text, len, domain, &selector, &keyfile, &keytable);
	free(text);
	if (!found && keytable) {
		if (read_file(keytable, DNS_RECORDS_FILE_MAX, false, &text, &len) == 0) {
			found = dns_records_opendkim_keytable(text, len, domain, &selector,
							      &keyfile);
			free(text);
		}
	}
	if (found)
		in->dkim_key = dns_records_dkim_pub(keyfile, &in->dkim_note);
	if (in->dkim_key)
		in->dkim_selector = selector, selector = NULL;
	else if (!in->dkim_note)
		in->dkim_note = xasprintf("%s names no signing key for %s", conf, domain);
	free(selector);
	free(keyfile);
	free(keytable);
}

void dns_records_load_inputs(const struct config *cfg, const char *domain,
			     struct dns_records_inputs *in)
{
	memset(in, 0, sizeof(*in));
	dns_records_load_cert(cfg, in);
	dns_records_load_dkim(cfg, domain, in);
}

void dns_records_inputs_free(struct dns_records_inputs *in)
{
	free(in->cert_error);
	free(in->dkim_selector);
	free(in->dkim_key);
	free(in->dkim_note);
	memset(in, 0, sizeof(*in));
}
