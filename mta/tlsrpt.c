/* tlsrpt.c - SMTP TLS Reporting (RFC 8460), the pure parts: the _smtp._tls TXT record, the session counts of a period (JSON), the aggregate report, its gzip and its mail. */
#include "tlsrpt.h"
#include "base64.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

static const char *const tlsrpt_result_names[TLSRPT_NRESULTS] = {
	[TLSRPT_SUCCESS] = "success",
	[TLSRPT_STARTTLS_NOT_SUPPORTED] = "starttls-not-supported",
	[TLSRPT_CERTIFICATE_HOST_MISMATCH] = "certificate-host-mismatch",
	[TLSRPT_CERTIFICATE_EXPIRED] = "certificate-expired",
	[TLSRPT_CERTIFICATE_NOT_TRUSTED] = "certificate-not-trusted",
	[TLSRPT_VALIDATION_FAILURE] = "validation-failure",
	[TLSRPT_TLSA_INVALID] = "tlsa-invalid",
	[TLSRPT_DNSSEC_INVALID] = "dnssec-invalid",
	[TLSRPT_DANE_REQUIRED] = "dane-required",
	[TLSRPT_STS_POLICY_FETCH_ERROR] = "sts-policy-fetch-error",
	[TLSRPT_STS_POLICY_INVALID] = "sts-policy-invalid",
	[TLSRPT_STS_WEBPKI_INVALID] = "sts-webpki-invalid",
};

const char *tlsrpt_result_name(enum tlsrpt_result r)
{
	return r >= 0 && r < TLSRPT_NRESULTS ? tlsrpt_result_names[r] : "validation-failure";
}

const char *tlsrpt_policy_type_name(enum tlsrpt_policy_type t)
{
	switch (t) {
	case TLSRPT_STS:
		return "sts";
	case TLSRPT_TLSA:
		return "tlsa";
	default:
		return "no-policy-found";
	}
}

/* ---- the TXT record ---- */

static bool tlsrpt_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* One URI of rua, trimmed: kept when it is mailto: or https: and fits. */
static void tlsrpt_add_uri(struct tlsrpt_rua *out, const char *p, size_t n)
{
	while (n && tlsrpt_wsp(*p))
		p++, n--;
	while (n && tlsrpt_wsp(p[n - 1]))
		n--;
	if (n == 0 || n > TLSRPT_URI_MAX || out->n >= TLSRPT_RUA_MAX)
		return;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return;
	if (!(n > 7 && strncasecmp(p, "mailto:", 7) == 0) &&
	    !(n > 8 && strncasecmp(p, "https://", 8) == 0))
		return;
	memcpy(out->uri[out->n], p, n);
	out->uri[out->n][n] = '\0';
	out->n++;
}

static int tlsrpt_txt_fields(const char *txt, size_t len, struct tlsrpt_rua *out)
{
	static const char ver[] = "v=TLSRPTv1";
	if (len < sizeof(ver) - 1 || memcmp(txt, ver, sizeof(ver) - 1) != 0)
		return -1;
	size_t i = sizeof(ver) - 1;
	bool have_rua = false;
	for (;;) {
		while (i < len && tlsrpt_wsp(txt[i]))
			i++;
		if (i == len)
			break;
		if (txt[i] != ';')
			return -1; /* "v=TLSRPTv1x" or junk after a field */
		i++;
		while (i < len && tlsrpt_wsp(txt[i]))
			i++;
		if (i == len)
			break; /* a trailing ';' */
		/* field name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
		size_t name = i;
		if (!isalnum((unsigned char)txt[i]))
			return -1;
		while (i < len && (isalnum((unsigned char)txt[i]) || txt[i] == '_' ||
				   txt[i] == '-' || txt[i] == '.'))
			i++;
		size_t name_len = i - name;
		if (name_len > 32 || i == len || txt[i] != '=')
			return -1;
		i++;
		size_t val = i;
		while (i < len && txt[i] != ';')
			i++;
		size_t val_len = i - val;
		while (val_len && tlsrpt_wsp(txt[val + val_len - 1]))
			val_len--;
		if (name_len == 3 && strncmp(txt + name, "rua", 3) == 0) {
			if (have_rua || val_len == 0)
				return -1;
			have_rua = true;
			size_t s = val;
			for (size_t k = val; k <= val + val_len; k++) {
				if (k == val + val_len || txt[k] == ',') {
					tlsrpt_add_uri(out, txt + s, k - s);
					s = k + 1;
				}
			}
		} else if (name_len == 1 && txt[name] == 'v') {
			return -1; /* a second version */
		} else {
			for (size_t k = val; k < val + val_len; k++)
				if ((unsigned char)txt[k] < 0x21 || (unsigned char)txt[k] > 0x7e ||
				    txt[k] == '=')
					return -1; /* ext-value: 1*(%x21-3A / %x3C / %x3E-7E) */
			if (val_len == 0)
				return -1;
		}
	}
	return have_rua ? 0 : -1;
}

int tlsrpt_txt_parse(const char *txt, size_t len, struct tlsrpt_rua *out)
{
	memset(out, 0, sizeof(*out));
	if (tlsrpt_txt_fields(txt, len, out) == 0)
		return 0;
	memset(out, 0, sizeof(*out)); /* nothing of a record that is not valid as a whole */
	return -1;
}

int tlsrpt_txt_select(char *const *records, size_t n, struct tlsrpt_rua *out, char *err,
		      size_t errlen)
{
	size_t found = 0, which = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		if (strncmp(records[i], "v=TLSRPTv1", 10) == 0) {
			found++;
			which = i;
		}
	}
	if (found == 0)
		return 0;
	if (found > 1) {
		snprintf(err, errlen, "%zu TLSRPTv1 records (exactly one is allowed)", found);
		return -1;
	}
	if (tlsrpt_txt_parse(records[which], strlen(records[which]), out) < 0) {
		snprintf(err, errlen, "invalid record \"%.120s\"", records[which]);
		return -1;
	}
	return 1;
}

int tlsrpt_https_split(const char *uri, char *host, size_t hostlen, int *port)
{
	if (strncasecmp(uri, "https://", 8) != 0)
		return -1;
	const char *p = uri + 8;
	const char *end;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end)
			return -1;
		p++;
	} else {
		end = p + strcspn(p, ":/?#");
	}
	size_t n = (size_t)(end - p);
	if (n == 0 || n >= hostlen || memchr(p, '@', n))
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	if (*end == ']')
		end++;
	*port = 443;
	if (*end == ':') {
		char *e;
		long v = strtol(end + 1, &e, 10);
		if (e == end + 1 || v < 1 || v > 65535 || (*e && *e != '/' && *e != '?'))
			return -1;
		*port = (int)v;
	} else if (*end && *end != '/' && *end != '?') {
		return -1;
	}
	return 0;
}

/* ---- a period's counts ---- */

json_t *tlsrpt_period_new(int64_t start)
{
	return json_pack("{s:I, s:I, s:{}}", "start", (json_int_t)start, "end", (json_int_t)0,
			 "policies");
}

int64_t tlsrpt_period_start(const json_t *period)
{
	return (int64_t)json_integer_value(json_object_get(period, "start"));
}

int64_t tlsrpt_period_end(const json_t *period)
{
	return (int64_t)json_integer_value(json_object_get(period, "end"));
}

void tlsrpt_period_close(json_t *period, int64_t end)
{
	json_object_set_new(period, "end", json_integer((json_int_t)end));
}

static json_t *tlsrpt_strings(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n && i < TLSRPT_POLICY_STRINGS; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void tlsrpt_inc(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	json_object_set_new(obj, key, json_integer(json_integer_value(v) + 1));
}

/* Two optional strings equal (NULL equals a missing member). */
static bool tlsrpt_same(const json_t *obj, const char *key, const char *s)
{
	const char *v = json_string_value(json_object_get(obj, key));
	if (!v || !s)
		return !v && !s;
	return strcmp(v, s) == 0;
}

int tlsrpt_period_add(json_t *period, const struct tlsrpt_event *ev)
{
	json_t *policies = json_object_get(period, "policies");
	if (!policies || !ev->domain || ev->result < 0)
		return -1;
	char key[300];
	snprintf(key, sizeof(key), "%s %s", tlsrpt_policy_type_name(ev->type), ev->domain);
	json_t *p = json_object_get(policies, key);
	if (!p) {
		if (json_object_size(policies) >= TLSRPT_POLICIES_MAX)
			return -1;
		json_t *pol = json_pack("{s:s, s:s}", "policy-type",
					tlsrpt_policy_type_name(ev->type), "policy-domain",
					ev->domain);
		if (ev->type != TLSRPT_NO_POLICY)
			json_object_set_new(
				pol, "policy-string",
				tlsrpt_strings(ev->policy_strings, ev->n_policy_strings));
		if (ev->type == TLSRPT_STS)
			json_object_set_new(pol, "mx-host",
					    tlsrpt_strings(ev->mx_hosts, ev->n_mx_hosts));
		p = json_pack("{s:o, s:{s:i, s:i}, s:[]}", "policy", pol, "summary",
			      "total-successful-session-count", 0, "total-failure-session-count", 0,
			      "failure-details");
		json_object_set_new(policies, key, p);
	} else if (ev->type != TLSRPT_NO_POLICY && ev->n_policy_strings) {
		/* the policy seen last is the one reported (a refresh may change it) */
		json_t *pol = json_object_get(p, "policy");
		json_object_set_new(pol, "policy-string",
				    tlsrpt_strings(ev->policy_strings, ev->n_policy_strings));
		if (ev->type == TLSRPT_STS)
			json_object_set_new(pol, "mx-host",
					    tlsrpt_strings(ev->mx_hosts, ev->n_mx_hosts));
	}
	json_t *summary = json_object_get(p, "summary");
	if (ev->result == TLSRPT_SUCCESS) {
		tlsrpt_inc(summary, "total-successful-session-count");
		return 0;
	}
	tlsrpt_inc(summary, "total-failure-session-count");
	json_t *details = json_object_get(p, "failure-details");
	const char *rt = tlsrpt_result_name(ev->result);
	size_t i;
	json_t *d;
	json_array_foreach(details, i, d)
	{
		if (tlsrpt_same(d, "result-type", rt) &&
		    tlsrpt_same(d, "receiving-mx-hostname", ev->receiving_mx_hostname) &&
		    tlsrpt_same(d, "receiving-ip", ev->receiving_ip)) {
			tlsrpt_inc(d, "failed-session-count");
			return 0;
		}
	}
	if (json_array_size(details) >= TLSRPT_DETAILS_MAX)
		return 0;
	d = json_pack("{s:s, s:i}", "result-type", rt, "failed-session-count", 1);
	if (ev->receiving_mx_hostname)
		json_object_set_new(d, "receiving-mx-hostname",
				    json_string(ev->receiving_mx_hostname));
	if (ev->receiving_ip)
		json_object_set_new(d, "receiving-ip", json_string(ev->receiving_ip));
	if (ev->info)
		json_object_set_new(d, "additional-information", json_string(ev->info));
	json_array_append_new(details, d);
	return 0;
}

/* Whether v is an array of at most max strings. */
static bool tlsrpt_string_array(const json_t *v, size_t max)
{
	if (!json_is_array(v) || json_array_size(v) > max)
		return false;
	size_t i;
	const json_t *s;
	json_array_foreach(v, i, s)
	{
		if (!json_is_string(s))
			return false;
	}
	return true;
}

static bool tlsrpt_count_ok(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* One "TYPE DOMAIN" entry of a loaded file, checked member by member. */
static bool tlsrpt_entry_ok(const char *key, const json_t *p)
{
	const json_t *pol = json_object_get(p, "policy");
	const json_t *sum = json_object_get(p, "summary");
	const json_t *det = json_object_get(p, "failure-details");
	const char *type = json_string_value(json_object_get(pol, "policy-type"));
	const char *domain = json_string_value(json_object_get(pol, "policy-domain"));
	if (!type || !domain || !json_is_object(sum) || !json_is_array(det) ||
	    json_array_size(det) > TLSRPT_DETAILS_MAX)
		return false;
	char want[300];
	snprintf(want, sizeof(want), "%s %s", type, domain);
	if (strcmp(want, key) != 0 || strlen(domain) > 255)
		return false;
	if (strcmp(type, "sts") != 0 && strcmp(type, "tlsa") != 0 &&
	    strcmp(type, "no-policy-found") != 0)
		return false;
	const json_t *ps = json_object_get(pol, "policy-string");
	const json_t *mx = json_object_get(pol, "mx-host");
	if ((ps && !tlsrpt_string_array(ps, TLSRPT_POLICY_STRINGS)) ||
	    (mx && !tlsrpt_string_array(mx, TLSRPT_POLICY_STRINGS)))
		return false;
	if (!tlsrpt_count_ok(json_object_get(sum, "total-successful-session-count")) ||
	    !tlsrpt_count_ok(json_object_get(sum, "total-failure-session-count")))
		return false;
	size_t i;
	const json_t *d;
	json_array_foreach(det, i, d)
	{
		if (!json_is_string(json_object_get(d, "result-type")) ||
		    !tlsrpt_count_ok(json_object_get(d, "failed-session-count")))
			return false;
		const char *keys[] = { "receiving-mx-hostname", "receiving-ip",
				       "additional-information" };
		for (size_t k = 0; k < 3; k++) {
			const json_t *v = json_object_get(d, keys[k]);
			if (v && !json_is_string(v))
				return false;
		}
	}
	return true;
}

json_t *tlsrpt_period_load(const char *text, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "line %d: %s", je.line, je.text);
		return NULL;
	}
	json_t *policies = json_object_get(root, "policies");
	if (!json_is_object(root) || !tlsrpt_count_ok(json_object_get(root, "start")) ||
	    !tlsrpt_count_ok(json_object_get(root, "end")) || !json_is_object(policies) ||
	    json_object_size(policies) > TLSRPT_POLICIES_MAX) {
		snprintf(err, errlen, "not a TLS-RPT period (start, end, policies)");
		json_decref(root);
		return NULL;
	}
	const char *key;
	json_t *p;
	json_object_foreach(policies, key, p)
	{
		if (!tlsrpt_entry_ok(key, p)) {
			snprintf(err, errlen, "malformed entry \"%.100s\"", key);
			json_decref(root);
			return NULL;
		}
	}
	return root;
}

static int tlsrpt_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t tlsrpt_period_domains(const json_t *period, char ***out)
{
	json_t *policies = json_object_get(period, "policies");
	size_t n = 0, cap = json_object_size(policies);
	char **v = xcalloc(cap ? cap : 1, sizeof(*v));
	const char *key;
	json_t *p;
	json_object_foreach(policies, key, p)
	{
		const char *d = json_string_value(
			json_object_get(json_object_get(p, "policy"), "policy-domain"));
		if (d)
			v[n++] = xstrdup(d);
	}
	qsort(v, n, sizeof(*v), tlsrpt_strcmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && strcmp(v[k - 1], v[i]) == 0)
			free(v[i]);
		else
			v[k++] = v[i];
	}
	*out = v;
	return k;
}

static void tlsrpt_iso(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *tlsrpt_report_build(const json_t *period, const char *domain, const char *org_name,
			    const char *contact, const char *report_id)
{
	char start[32], end[32];
	tlsrpt_iso(tlsrpt_period_start(period), start, sizeof(start));
	tlsrpt_iso(tlsrpt_period_end(period), end, sizeof(end));
	json_t *list = json_array();
	static const char *const types[] = { "sts", "tlsa", "no-policy-found" };
	json_t *policies = json_object_get(period, "policies");
	for (size_t i = 0; i < 3; i++) {
		char key[300];
		snprintf(key, sizeof(key), "%s %s", types[i], domain);
		json_t *p = json_object_get(policies, key);
		if (!p)
			continue;
		json_t *copy = json_deep_copy(p);
		if (json_array_size(json_object_get(copy, "failure-details")) == 0)
			json_object_del(copy, "failure-details");
		json_array_append_new(list, copy);
	}
	if (json_array_size(list) == 0) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:o}", "organization-name", org_name,
			 "date-range", "start-datetime", start, "end-datetime", end, "contact-info",
			 contact, "report-id", report_id, "policies", list);
}

int tlsrpt_gzip(const void *data, size_t len, struct buf *out)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip header and trailer */
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -1;
	size_t bound = deflateBound(&z, (uLong)len) + 32;
	buf_reserve(out, bound);
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out->data + out->len;
	z.avail_out = (uInt)bound;
	int rc = deflate(&z, Z_FINISH);
	if (rc != Z_STREAM_END) {
		deflateEnd(&z);
		return -1;
	}
	out->len += z.total_out;
	deflateEnd(&z);
	return 0;
}

void tlsrpt_mail_compose(struct buf *out, const char *from, const char *to, const char *domain,
			 const char *submitter, const char *report_id, int64_t begin, int64_t end,
			 int64_t date, const void *gz, size_t gz_len)
{
	char datebuf[64], boundary[80];
	time_t tt = (time_t)date;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(datebuf, sizeof(datebuf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(boundary, sizeof(boundary), "=_tlsrpt_%lld_%zu", (long long)date, gz_len);
	buf_printf(out, "From: <%s>\r\nDate: %s\r\nTo: <%s>\r\n", from, datebuf, to);
	/* RFC 8460 5.3: the Subject, TLS-Report-Domain and TLS-Report-Submitter fields */
	buf_printf(out, "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n", domain,
		   submitter, report_id);
	buf_printf(out, "Message-ID: <%s>\r\n", report_id);
	buf_printf(out, "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\n", domain, submitter);
	buf_printf(out,
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
		   "\tboundary=\"%s\"\r\n"
		   "\r\n"
		   "This is a multipart message in MIME format.\r\n"
		   "\r\n"
		   "--%s\r\n"
		   "Content-Type: text/plain; charset=\"us-ascii\"\r\n"
		   "Content-Transfer-Encoding: 7bit\r\n"
		   "\r\n"
		   "This is an aggregate TLS report (RFC 8460) from %s\r\n"
		   "for the mail it sent to %s.\r\n"
		   "\r\n"
		   "--%s\r\n"
		   "Content-Type: application/tlsrpt+gzip\r\n"
		   "Content-Transfer-Encoding: base64\r\n"
		   "Content-Disposition: attachment;\r\n"
		   "\tfilename=\"%s!%s!%lld!%lld.json.gz\"\r\n"
		   "\r\n",
		   boundary, boundary, submitter, domain, boundary, submitter, domain,
		   (long long)begin, (long long)end);
	struct buf b64;
	buf_init(&b64);
	base64_encode_buf(&b64, gz, gz_len);
	for (size_t i = 0; i < b64.len; i += 76) {
		size_t n = b64.len - i < 76 ? b64.len - i : 76;
		buf_append(out, b64.data + i, n);
		buf_append_str(out, "\r\n");
	}
	buf_free(&b64);
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}
