/* test_tlsrpt.c - unit tests for TLS-RPT's pure parts: the _smtp._tls record, the period counts, the RFC 8460 report, its gzip and its mail. */
#include <criterion/criterion.h>
#include <string.h>
#include <zlib.h>

#include "tlsrpt.h"

static struct tlsrpt_rua rua;

static int txt(const char *s)
{
	return tlsrpt_txt_parse(s, strlen(s), &rua);
}

Test(tlsrpt, txt_valid_records)
{
	cr_assert_eq(txt("v=TLSRPTv1; rua=mailto:reports@example.com"), 0);
	cr_assert_eq(rua.n, 1);
	cr_expect_str_eq(rua.uri[0], "mailto:reports@example.com");
	cr_assert_eq(txt("v=TLSRPTv1;rua=mailto:a@example.com, https://r.example.com/v1 ;"), 0);
	cr_assert_eq(rua.n, 2);
	cr_expect_str_eq(rua.uri[0], "mailto:a@example.com");
	cr_expect_str_eq(rua.uri[1], "https://r.example.com/v1");
	/* extensions ignored; other schemes skipped */
	cr_assert_eq(txt("v=TLSRPTv1 ; ext_1=x.y ; rua=ftp://x,mailto:b@example.org"), 0);
	cr_assert_eq(rua.n, 1);
	cr_expect_str_eq(rua.uri[0], "mailto:b@example.org");
	cr_assert_eq(txt("v=TLSRPTv1; rua=ftp://x"), 0);
	cr_expect_eq(rua.n, 0);
}

Test(tlsrpt, txt_invalid_records)
{
	cr_expect_eq(txt(""), -1);
	cr_expect_eq(txt("v=TLSRPTv2; rua=mailto:a@b"), -1);
	cr_expect_eq(txt("rua=mailto:a@b; v=TLSRPTv1"), -1); /* version first */
	cr_expect_eq(txt("v=TLSRPTv1"), -1);                 /* rua required */
	cr_expect_eq(txt("v=TLSRPTv1;"), -1);
	cr_expect_eq(txt("v=TLSRPTv1; rua="), -1);
	cr_expect_eq(txt("v=TLSRPTv1x; rua=mailto:a@b"), -1);
	cr_expect_eq(txt("v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d"), -1);
	cr_expect_eq(txt("v=TLSRPTv1;; rua=mailto:a@b"), -1);
	cr_expect_eq(txt("v=TLSRPTv1; v=TLSRPTv1; rua=mailto:a@b"), -1);
	cr_expect_eq(rua.n, 0);
	/* a bad field after rua: nothing of the record is used (found by fuzz_tlsrpt) */
	cr_expect_eq(txt("v=TLSRPTv1;rua=mailto:a@example.com, https://r.example/v1 =;tx x;"), -1);
	cr_expect_eq(rua.n, 0);
}

Test(tlsrpt, txt_select_needs_exactly_one)
{
	char err[200];
	char *one[] = { "v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@example.com" };
	cr_assert_eq(tlsrpt_txt_select(one, 2, &rua, err, sizeof(err)), 1);
	cr_expect_str_eq(rua.uri[0], "mailto:a@example.com");
	char *none[] = { "v=spf1 -all" };
	cr_expect_eq(tlsrpt_txt_select(none, 1, &rua, err, sizeof(err)), 0);
	char *two[] = { "v=TLSRPTv1; rua=mailto:a@x", "v=TLSRPTv1; rua=mailto:b@x" };
	cr_expect_eq(tlsrpt_txt_select(two, 2, &rua, err, sizeof(err)), -1);
	char *bad[] = { "v=TLSRPTv1; nope" };
	cr_expect_eq(tlsrpt_txt_select(bad, 1, &rua, err, sizeof(err)), -1);
}

Test(tlsrpt, https_split)
{
	char host[256];
	int port;
	cr_assert_eq(tlsrpt_https_split("https://r.example.com/x", host, sizeof(host), &port), 0);
	cr_expect_str_eq(host, "r.example.com");
	cr_expect_eq(port, 443);
	cr_assert_eq(tlsrpt_https_split("https://r.example.com:8443", host, sizeof(host), &port),
		     0);
	cr_expect_eq(port, 8443);
	cr_assert_eq(tlsrpt_https_split("https://[::1]:9/p", host, sizeof(host), &port), 0);
	cr_expect_str_eq(host, "::1");
	cr_expect_eq(port, 9);
	cr_expect_eq(tlsrpt_https_split("http://r.example.com/", host, sizeof(host), &port), -1);
	cr_expect_eq(tlsrpt_https_split("https://u@r.example.com/", host, sizeof(host), &port), -1);
	cr_expect_eq(tlsrpt_https_split("https://r:99999/", host, sizeof(host), &port), -1);
	cr_expect_eq(tlsrpt_https_split("https:///x", host, sizeof(host), &port), -1);
}

static json_t *period_with_counts(void)
{
	json_t *p = tlsrpt_period_new(1700000000);
	const char *strs[] = { "version: STSv1", "mode: enforce", "mx: mx.example.net",
			       "max_age: 86400" };
	const char *mx[] = { "mx.example.net" };
	struct tlsrpt_event ev = { .domain = "example.net",
				   .type = TLSRPT_STS,
				   .policy_strings = strs,
				   .n_policy_strings = 4,
				   .mx_hosts = mx,
				   .n_mx_hosts = 1,
				   .result = TLSRPT_SUCCESS,
				   .receiving_mx_hostname = "mx.example.net",
				   .receiving_ip = "192.0.2.1" };
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tlsrpt_period_add(p, &ev), 0);
	ev.result = TLSRPT_CERTIFICATE_HOST_MISMATCH;
	cr_assert_eq(tlsrpt_period_add(p, &ev), 0);
	cr_assert_eq(tlsrpt_period_add(p, &ev), 0);
	ev.result = TLSRPT_STARTTLS_NOT_SUPPORTED;
	cr_assert_eq(tlsrpt_period_add(p, &ev), 0);
	struct tlsrpt_event np = { .domain = "other.example",
				   .type = TLSRPT_NO_POLICY,
				   .result = TLSRPT_SUCCESS };
	cr_assert_eq(tlsrpt_period_add(p, &np), 0);
	cr_expect_eq(tlsrpt_period_add(p, &(struct tlsrpt_event){ .domain = "x",
								  .result = TLSRPT_NOT_COUNTED }),
		     -1);
	tlsrpt_period_close(p, 1700086400);
	return p;
}

Test(tlsrpt, report_has_the_rfc_fields)
{
	json_t *p = period_with_counts();
	json_t *r = tlsrpt_report_build(p, "example.net", "mail.sender.example",
					"postmaster@mail.sender.example",
					"id-1@mail.sender.example");
	cr_assert_not_null(r);
	cr_expect_str_eq(json_string_value(json_object_get(r, "organization-name")),
			 "mail.sender.example");
	cr_expect_str_eq(json_string_value(json_object_get(r, "contact-info")),
			 "postmaster@mail.sender.example");
	cr_expect_str_eq(json_string_value(json_object_get(r, "report-id")),
			 "id-1@mail.sender.example");
	json_t *dr = json_object_get(r, "date-range");
	cr_expect_str_eq(json_string_value(json_object_get(dr, "start-datetime")),
			 "2023-11-14T22:13:20Z");
	cr_expect_str_eq(json_string_value(json_object_get(dr, "end-datetime")),
			 "2023-11-15T22:13:20Z");
	json_t *pols = json_object_get(r, "policies");
	cr_assert_eq(json_array_size(pols), 1);
	json_t *e = json_array_get(pols, 0);
	json_t *pol = json_object_get(e, "policy");
	cr_expect_str_eq(json_string_value(json_object_get(pol, "policy-type")), "sts");
	cr_expect_str_eq(json_string_value(json_object_get(pol, "policy-domain")), "example.net");
	cr_expect_eq(json_array_size(json_object_get(pol, "policy-string")), 4);
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(pol, "mx-host"), 0)),
			 "mx.example.net");
	json_t *sum = json_object_get(e, "summary");
	cr_expect_eq(json_integer_value(json_object_get(sum, "total-successful-session-count")), 3);
	cr_expect_eq(json_integer_value(json_object_get(sum, "total-failure-session-count")), 3);
	json_t *fd = json_object_get(e, "failure-details");
	cr_assert_eq(json_array_size(fd), 2);
	json_t *f0 = json_array_get(fd, 0);
	cr_expect_str_eq(json_string_value(json_object_get(f0, "result-type")),
			 "certificate-host-mismatch");
	cr_expect_eq(json_integer_value(json_object_get(f0, "failed-session-count")), 2);
	cr_expect_str_eq(json_string_value(json_object_get(f0, "receiving-mx-hostname")),
			 "mx.example.net");
	cr_expect_str_eq(json_string_value(json_object_get(f0, "receiving-ip")), "192.0.2.1");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(fd, 1), "result-type")),
			 "starttls-not-supported");
	json_decref(r);
	/* no-policy-found: no policy-string, no failure-details when none failed */
	r = tlsrpt_report_build(p, "other.example", "o", "c", "i");
	e = json_array_get(json_object_get(r, "policies"), 0);
	pol = json_object_get(e, "policy");
	cr_expect_str_eq(json_string_value(json_object_get(pol, "policy-type")), "no-policy-found");
	cr_expect_null(json_object_get(pol, "policy-string"));
	cr_expect_null(json_object_get(e, "failure-details"));
	json_decref(r);
	cr_expect_null(tlsrpt_report_build(p, "nothing.example", "o", "c", "i"));
	char **domains;
	size_t n = tlsrpt_period_domains(p, &domains);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(domains[0], "example.net");
	cr_expect_str_eq(domains[1], "other.example");
	for (size_t i = 0; i < n; i++)
		free(domains[i]);
	free(domains);
	json_decref(p);
}

Test(tlsrpt, period_file_round_trip)
{
	json_t *p = period_with_counts();
	char *text = json_dumps(p, JSON_COMPACT);
	char err[200];
	json_t *q = tlsrpt_period_load(text, strlen(text), err, sizeof(err));
	cr_assert_not_null(q, "%s", err);
	cr_expect(json_equal(p, q));
	cr_expect_eq(tlsrpt_period_start(q), 1700000000);
	cr_expect_eq(tlsrpt_period_end(q), 1700086400);
	json_decref(q);
	free(text);
	json_decref(p);
	const char *bad[] = {
		"",
		"[]",
		"{\"start\":1,\"end\":0}",
		"{\"start\":-1,\"end\":0,\"policies\":{}}",
		"{\"start\":1,\"end\":0,\"policies\":{\"sts a\":{}}}",
		"{\"start\":1,\"end\":0,\"policies\":{\"sts "
		"b\":{\"policy\":{\"policy-type\":\"sts\","
		"\"policy-domain\":\"a\"},\"summary\":{\"total-successful-session-count\":0,"
		"\"total-failure-session-count\":0},\"failure-details\":[]}}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_null(tlsrpt_period_load(bad[i], strlen(bad[i]), err, sizeof(err)), "%s",
			       bad[i]);
}

Test(tlsrpt, bounded)
{
	json_t *p = tlsrpt_period_new(0);
	char d[32];
	struct tlsrpt_event ev = { .domain = d,
				   .type = TLSRPT_NO_POLICY,
				   .result = TLSRPT_SUCCESS };
	for (int i = 0; i < TLSRPT_POLICIES_MAX; i++) {
		snprintf(d, sizeof(d), "d%d.example", i);
		cr_assert_eq(tlsrpt_period_add(p, &ev), 0);
	}
	snprintf(d, sizeof(d), "one-more.example");
	cr_expect_eq(tlsrpt_period_add(p, &ev), -1);
	/* failure details: at most TLSRPT_DETAILS_MAX, the rest only in the summary */
	char ip[32];
	ev = (struct tlsrpt_event){ .domain = "d1.example",
				    .type = TLSRPT_NO_POLICY,
				    .result = TLSRPT_STARTTLS_NOT_SUPPORTED,
				    .receiving_ip = ip };
	for (int i = 0; i < TLSRPT_DETAILS_MAX + 5; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		cr_assert_eq(tlsrpt_period_add(p, &ev), 0);
	}
	json_t *e = json_object_get(json_object_get(p, "policies"), "no-policy-found d1.example");
	cr_expect_eq(json_array_size(json_object_get(e, "failure-details")), TLSRPT_DETAILS_MAX);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(e, "summary"),
							"total-failure-session-count")),
		     TLSRPT_DETAILS_MAX + 5);
	json_decref(p);
}

Test(tlsrpt, gzip_and_mail)
{
	const char *text = "{\"organization-name\":\"x\"}";
	struct buf gz;
	buf_init(&gz);
	cr_assert_eq(tlsrpt_gzip(text, strlen(text), &gz), 0);
	cr_assert_eq((unsigned char)gz.data[0], 0x1f); /* gzip magic */
	cr_assert_eq((unsigned char)gz.data[1], 0x8b);
	char out[256];
	z_stream z = { 0 };
	cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)gz.data;
	z.avail_in = (uInt)gz.len;
	z.next_out = (Bytef *)out;
	z.avail_out = sizeof(out);
	cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	cr_expect_eq(z.total_out, strlen(text));
	cr_expect_eq(memcmp(out, text, strlen(text)), 0);
	inflateEnd(&z);
	struct buf m;
	buf_init(&m);
	tlsrpt_mail_compose(&m, "postmaster@s.example", "rua@r.example", "r.example", "s.example",
			    "id1@s.example", 100, 200, 300, gz.data, gz.len);
	cr_expect_not_null(strstr(m.data, "\r\nSubject: Report Domain: r.example Submitter: "
					  "s.example Report-ID: <id1@s.example>\r\n"));
	cr_expect_not_null(strstr(m.data, "\r\nTLS-Report-Domain: r.example\r\n"));
	cr_expect_not_null(strstr(m.data, "\r\nTLS-Report-Submitter: s.example\r\n"));
	cr_expect_not_null(
		strstr(m.data, "Content-Type: multipart/report; report-type=\"tlsrpt\";"));
	cr_expect_not_null(strstr(m.data, "Content-Type: application/tlsrpt+gzip\r\n"));
	cr_expect_not_null(strstr(m.data, "filename=\"s.example!r.example!100!200.json.gz\""));
	cr_expect_eq(strstr(m.data, "\n") - strstr(m.data, "\r\n"), 1); /* CRLF */
	buf_free(&m);
	buf_free(&gz);
}

Test(tlsrpt, names)
{
	cr_expect_str_eq(tlsrpt_result_name(TLSRPT_STARTTLS_NOT_SUPPORTED),
			 "starttls-not-supported");
	cr_expect_str_eq(tlsrpt_result_name(TLSRPT_STS_WEBPKI_INVALID), "sts-webpki-invalid");
	cr_expect_str_eq(tlsrpt_result_name(TLSRPT_DANE_REQUIRED), "dane-required");
	cr_expect_str_eq(tlsrpt_policy_type_name(TLSRPT_NO_POLICY), "no-policy-found");
	cr_expect_str_eq(tlsrpt_policy_type_name(TLSRPT_TLSA), "tlsa");
}
