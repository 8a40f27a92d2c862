/* test_dns_records.c - dns_records.c: the records built from a configuration, DNS reply parsing, OpenDKIM files. */
#include <criterion/criterion.h>
#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>

#include "dns_records.h"

static const struct dns_record *find(const struct dns_records *r, const char *name, int type)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->items[i].name, name) == 0 && r->items[i].type == type)
			return &r->items[i];
	return NULL;
}

static void load(struct config *cfg, const char *text)
{
	char err[256];
	config_defaults(cfg);
	cr_assert_eq(config_parse(cfg, "t", text, strlen(text), err, sizeof(err)), 0, "%s", err);
	config_finish(cfg);
}

Test(dns_records, build_from_config)
{
	struct config cfg;
	load(&cfg, "hostname = mail.example.org\ndomains = example.org\n"
		   "submission_listen = 203.0.113.10:587\nsubmissions_listen =\n"
		   "imap_listen = [2001:db8::25]:143\nimaps_listen = 0.0.0.0:993\n");
	struct dns_records_inputs in = { .self_signed = false };
	strcpy(in.tlsa, "ab12");
	in.dkim_selector = "s1";
	in.dkim_key = "KEY";
	struct dns_records r;
	dns_records_build(&cfg, "example.org", &in, &r);
	const struct dns_record *x = find(&r, "example.org.", ns_t_mx);
	cr_assert(x);
	cr_expect_str_eq(x->rdata, "10 mail.example.org.");
	cr_expect_str_eq(find(&r, "_25._tcp.mail.example.org.", 52)->rdata, "3 1 1 ab12");
	cr_expect_str_eq(find(&r, "s1._domainkey.example.org.", ns_t_txt)->rdata,
			 "v=DKIM1; k=rsa; p=KEY");
	cr_expect_str_eq(find(&r, "_submission._tcp.example.org.", ns_t_srv)->rdata,
			 "0 1 587 mail.example.org.");
	cr_expect_str_eq(find(&r, "_submissions._tcp.example.org.", ns_t_srv)->rdata, "0 0 0 .");
	cr_expect_str_eq(find(&r, "mail.example.org.", ns_t_a)->rdata, "203.0.113.10");
	cr_expect_str_eq(find(&r, "mail.example.org.", ns_t_aaaa)->rdata, "2001:db8::25");
	cr_expect(strstr(r.comments, "mode: enforce"));
	dns_records_free(&r);

	/* A self-signed certificate: the policy only tests, and so its id differs. */
	in.self_signed = true;
	struct dns_records r2;
	dns_records_build(&cfg, "example.org", &in, &r2);
	cr_expect(strstr(r2.comments, "mode: testing"));
	dns_records_build(&cfg, "example.org", &in, &r);
	cr_expect_str_eq(find(&r, "_mta-sts.example.org.", ns_t_txt)->rdata,
			 find(&r2, "_mta-sts.example.org.", ns_t_txt)->rdata);
	dns_records_free(&r);
	in.self_signed = false;
	dns_records_build(&cfg, "example.org", &in, &r);
	cr_expect_str_neq(find(&r, "_mta-sts.example.org.", ns_t_txt)->rdata,
			  find(&r2, "_mta-sts.example.org.", ns_t_txt)->rdata);
	dns_records_free(&r);
	dns_records_free(&r2);
	config_free(&cfg);
}

Test(dns_records, txt_split_and_quoted)
{
	char text[600];
	memset(text, 'a', 599);
	text[599] = '\0';
	text[10] = '"';
	struct dns_record r = { .name = "x.", .type = ns_t_txt, .rdata = text };
	struct buf b;
	buf_init(&b);
	dns_record_format(&r, &b);
	cr_expect(strncmp(b.data, "x.\t3600\tIN\tTXT\t\"aaaaaaaaaa\\\"", 27) == 0, "%s", b.data);
	/* 599 octets: three strings of 255, 255, 89 */
	size_t quotes = 0;
	for (size_t i = 0; i < b.len; i++)
		quotes += b.data[i] == '"' && b.data[i - 1] != '\\';
	cr_expect_eq(quotes, 6);
	buf_free(&b);
}

/* A reply for "x.test" TXT with two answers (one of another type) and name compression. */
static const unsigned char reply[] = {
	0x12,
	0x34,
	0x81,
	0x80,
	0,
	1,
	0,
	3,
	0,
	0,
	0,
	0,
	1,
	'x',
	4,
	't',
	'e',
	's',
	't',
	0,
	0,
	16,
	0,
	1,
	/* CNAME x. -> ptr to question name */
	0xc0,
	12,
	0,
	5,
	0,
	1,
	0,
	0,
	0,
	60,
	0,
	2,
	0xc0,
	12,
	/* TXT "ab" "cd" */
	0xc0,
	12,
	0,
	16,
	0,
	1,
	0,
	0,
	0,
	60,
	0,
	6,
	2,
	'a',
	'b',
	2,
	'c',
	'd',
	/* SRV 0 1 587 -> x.test */
	0xc0,
	12,
	0,
	33,
	0,
	1,
	0,
	0,
	0,
	60,
	0,
	8,
	0,
	0,
	0,
	1,
	2,
	75,
	0xc0,
	12,
};

Test(dns_records, answer_parse)
{
	char **rd;
	const char *err;
	cr_assert_eq(dns_answer_parse(reply, sizeof(reply), ns_t_txt, &rd, &err), 1);
	cr_expect_str_eq(rd[0], "abcd");
	dns_rdata_free(rd, 1);
	cr_assert_eq(dns_answer_parse(reply, sizeof(reply), ns_t_srv, &rd, &err), 1);
	cr_expect_str_eq(rd[0], "0 1 587 x.test.");
	dns_rdata_free(rd, 1);
	cr_assert_eq(dns_answer_parse(reply, sizeof(reply), ns_t_cname, &rd, &err), 1);
	cr_expect_str_eq(rd[0], "x.test.");
	dns_rdata_free(rd, 1);
	cr_expect_eq(dns_answer_parse(reply, sizeof(reply), ns_t_mx, &rd, &err), 0);
	/* Cut anywhere: an error, never a read past the end. */
	for (size_t n = 0; n < sizeof(reply); n++) {
		long k = dns_answer_parse(reply, n, ns_t_srv, &rd, &err);
		cr_expect_lt(k, 1, "cut at %zu", n);
	}
}

Test(dns_records, matches)
{
	struct dns_record mx = { .type = ns_t_mx,
				 .rdata = "10 mail.example.org.",
				 .match = DNS_MATCH_MX };
	cr_expect(dns_record_matches(&mx, "20 MAIL.example.org."));
	cr_expect_not(dns_record_matches(&mx, "10 other.example.org."));
	struct dns_record txt = { .type = ns_t_txt, .rdata = "v=DMARC1; p=quarantine" };
	cr_expect(dns_record_matches(&txt, "v=DMARC1;p=quarantine;"));
	cr_expect_not(dns_record_matches(&txt, "v=DMARC1; p=none"));
	struct dns_record dkim = { .type = ns_t_txt,
				   .rdata = "v=DKIM1; k=rsa; p=ABC",
				   .match = DNS_MATCH_DKIM };
	cr_expect(dns_record_matches(&dkim, "v=DKIM1; h=sha256; k=rsa; p=A B C"));
	cr_expect_not(dns_record_matches(&dkim, "v=DKIM1; k=rsa; p=ABD"));
	struct dns_record srv = { .type = ns_t_srv, .rdata = "0 0 0 ." };
	cr_expect(dns_record_matches(&srv, "0 0 1 ."));
	cr_expect_not(dns_record_matches(&srv, "0 1 465 mail.example.org."));
	struct dns_record tlsa = { .type = 52, .rdata = "3 1 1 abcd" };
	cr_expect(dns_record_matches(&tlsa, "3 1 1 ABCD"));
}

Test(dns_records, opendkim_conf)
{
	char *sel, *key, *table;
	const char *conf =
		"# comment\nMode s\nDomain example.org, example.net\n"
		"Selector\tmail2026 # trailing\nKeyFile /etc/dkimkeys/mail2026.private\n";
	cr_assert_eq(
		dns_records_opendkim_conf(conf, strlen(conf), "example.net", &sel, &key, &table),
		1);
	cr_expect_str_eq(sel, "mail2026");
	cr_expect_str_eq(key, "/etc/dkimkeys/mail2026.private");
	cr_expect_null(table);
	free(sel);
	free(key);
	cr_expect_eq(
		dns_records_opendkim_conf(conf, strlen(conf), "example.com", &sel, &key, &table),
		0);
	const char *t = "KeyTable file:/etc/opendkim/key.table\n";
	cr_expect_eq(dns_records_opendkim_conf(t, strlen(t), "example.com", &sel, &key, &table), 0);
	cr_expect_str_eq(table, "/etc/opendkim/key.table");
	free(table);
	const char *kt = "k1 example.com:s1:/k/one\nk2 example.org:s2:/k/two\nbad line\n";
	cr_assert_eq(dns_records_opendkim_keytable(kt, strlen(kt), "example.org", &sel, &key), 1);
	cr_expect_str_eq(sel, "s2");
	cr_expect_str_eq(key, "/k/two");
	free(sel);
	free(key);
	cr_expect_eq(dns_records_opendkim_keytable(kt, strlen(kt), "x.org", &sel, &key), 0);
}
