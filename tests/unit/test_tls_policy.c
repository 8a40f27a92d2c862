/* test_tls_policy.c - unit tests for the relay_tls_policy_file parser and the destination lookup. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tls_policy.h"

static char err[256];

static int parse(const char *text, struct tls_policy_table *t)
{
	err[0] = '\0';
	return tls_policy_parse("p", text, strlen(text), t, err, sizeof(err));
}

Test(tls_policy, parses_lines_comments_and_blanks)
{
	struct tls_policy_table t;
	cr_assert_eq(parse("# partners\n\nexample.com verify\n  .example.org\tsecure # subdomains\n"
			   "[Smtp.Provider.NET] encrypt\nplain.test none\r\nx.test DANE-ONLY\n",
			   &t),
		     0, "%s", err);
	cr_assert_eq(t.n, 5);
	cr_expect_str_eq(t.entries[0].dest, "example.com");
	cr_expect_eq(t.entries[0].level, TLS_LEVEL_VERIFY);
	cr_expect_eq(t.entries[0].line, 3);
	cr_expect(t.entries[1].subdomains);
	cr_expect_str_eq(t.entries[1].dest, "example.org");
	cr_expect_eq(t.entries[1].level, TLS_LEVEL_SECURE);
	cr_expect(t.entries[2].host);
	cr_expect_str_eq(t.entries[2].dest, "smtp.provider.net");
	cr_expect_eq(t.entries[3].level, TLS_LEVEL_NONE);
	cr_expect_eq(t.entries[4].level, TLS_LEVEL_DANE_ONLY);
	tls_policy_table_free(&t);
}

Test(tls_policy, errors_name_the_line)
{
	struct tls_policy_table t;
	cr_expect_eq(parse("a.test may\nb.test mandatory\n", &t), -1);
	cr_expect_str_eq(err, "p:2: unknown level (none, may, encrypt, dane, dane-only, verify, "
			      "secure)");
	cr_expect_eq(t.n, 0);
	cr_expect_eq(parse("a.test\n", &t), -1);
	cr_expect_str_eq(err, "p:1: expected DESTINATION LEVEL");
	cr_expect_eq(parse("a.test may extra\n", &t), -1);
	cr_expect_str_eq(err, "p:1: unexpected text after the level");
	cr_expect_eq(parse("a..test may\n", &t), -1);
	cr_expect_str_eq(err, "p:1: invalid destination");
	cr_expect_eq(parse("[a.test may\n", &t), -1);
	cr_expect_eq(parse("a/b may\n", &t), -1);
	cr_expect_eq(parse("[] may\n", &t), -1);
}

Test(tls_policy, lookup_order_and_source)
{
	struct tls_policy_table t;
	cr_assert_eq(parse("example.com verify\n.example.com encrypt\n.sub.example.com dane\n"
			   "[relay.test] secure\nexample.com dane-only\n",
			   &t),
		     0, "%s", err);
	struct tls_policy p = tls_policy_lookup(&t, "Example.COM", NULL, TLS_LEVEL_MAY);
	cr_expect_eq(p.level, TLS_LEVEL_DANE_ONLY, "the later line wins");
	cr_expect_eq(p.source, TLS_SOURCE_FILE);
	cr_expect_eq(p.line, 5);
	p = tls_policy_lookup(&t, "a.example.com", NULL, TLS_LEVEL_MAY);
	cr_expect_eq(p.level, TLS_LEVEL_ENCRYPT);
	p = tls_policy_lookup(&t, "x.sub.example.com", NULL, TLS_LEVEL_MAY);
	cr_expect_eq(p.level, TLS_LEVEL_DANE, "the closest parent");
	p = tls_policy_lookup(&t, "other.test", NULL, TLS_LEVEL_NONE);
	cr_expect_eq(p.level, TLS_LEVEL_NONE);
	cr_expect_eq(p.source, TLS_SOURCE_DEFAULT);
	p = tls_policy_lookup(&t, NULL, "relay.test", TLS_LEVEL_MAY);
	cr_expect_eq(p.level, TLS_LEVEL_SECURE);
	p = tls_policy_lookup(&t, NULL, "example.com", TLS_LEVEL_MAY);
	cr_expect_eq(p.source, TLS_SOURCE_DEFAULT, "a domain line is not a [host] line");
	p = tls_policy_lookup(NULL, "example.com", NULL, TLS_LEVEL_VERIFY);
	cr_expect_eq(p.level, TLS_LEVEL_VERIFY);
	char d[64];
	p = tls_policy_lookup(&t, "a.example.com", NULL, TLS_LEVEL_MAY);
	tls_policy_describe(&p, d, sizeof(d));
	cr_expect_str_eq(d, "encrypt/file:2");
	p.source = TLS_SOURCE_DEFAULT;
	tls_policy_describe(&p, d, sizeof(d));
	cr_expect_str_eq(d, "encrypt/default");
	tls_policy_table_free(&t);
}
