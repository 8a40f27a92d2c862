/* test_addr.c - unit tests for RFC 5321 path/mailbox parsing, domain checks and formatting. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

#define ALL (ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8 | ADDR_ALLOW_NO_DOMAIN | ADDR_ALLOW_SOURCE_ROUTE)

static int test_addr_path(const char *s, unsigned flags, struct addr *a, size_t *used)
{
	const char *error = NULL;
	int ret = addr_parse_path(s, strlen(s), flags, a, used, &error);

	if (ret < 0)
		cr_assert_not_null(error, "an error without a reason for %s", s);
	return ret;
}

static void test_addr_ok(const char *s, unsigned flags, const char *local, const char *domain)
{
	struct addr a;
	size_t used;

	cr_assert_eq(test_addr_path(s, flags, &a, &used), 0, "rejected %s", s);
	cr_assert_str_eq(a.local, local, "local of %s", s);
	cr_assert_str_eq(a.domain, domain, "domain of %s", s);
	cr_assert_eq(used, strlen(s), "consumed of %s", s);
}

static void test_addr_bad(const char *s, unsigned flags)
{
	struct addr a;
	size_t used;

	cr_assert_eq(test_addr_path(s, flags, &a, &used), -1, "accepted %s", s);
}

Test(addr, dot_string)
{
	test_addr_ok("<user@example.com>", 0, "user", "example.com");
	test_addr_ok("<first.last@example.com>", 0, "first.last", "example.com");
	test_addr_ok("<a!#$%&'*+-/=?^_`{|}~z@example.com>", 0, "a!#$%&'*+-/=?^_`{|}~z",
		     "example.com");
	test_addr_ok("<User@Example.COM>", 0, "User", "example.com"); /* local case kept */
	test_addr_ok("<a@localhost>", 0, "a", "localhost");
	test_addr_ok("<a@123.example>", 0, "a", "123.example");
	test_addr_ok("<a@x-y.example>", 0, "a", "x-y.example");
}

Test(addr, consumed_stops_at_bracket)
{
	struct addr a;
	size_t used;
	const char *s = "<a@b.example> SIZE=10";

	cr_assert_eq(test_addr_path(s, 0, &a, &used), 0);
	cr_assert_eq(used, 13);
	cr_assert_str_eq(a.domain, "b.example");
}

Test(addr, quoted_local)
{
	struct addr a;
	size_t used;

	cr_assert_eq(test_addr_path("<\"john doe\"@example.com>", 0, &a, &used), 0);
	cr_assert_str_eq(a.local, "john doe");
	cr_assert(a.quoted);
	test_addr_ok("<\"a\\\"b\\\\c\"@example.com>", 0, "a\"b\\c", "example.com");
	test_addr_ok("<\"a>b\"@example.com>", 0, "a>b", "example.com");
	test_addr_ok("<\"x@y\"@example.com>", 0, "x@y", "example.com");
	test_addr_ok("<\"\\q\"@example.com>", 0, "q", "example.com");
	test_addr_ok("<\"\"@example.com>", 0, "", "example.com");
	test_addr_ok("<\"a..b\"@example.com>", 0, "a..b", "example.com");
}

Test(addr, quoted_local_bad)
{
	test_addr_bad("<\"abc@example.com>", 0);       /* unterminated */
	test_addr_bad("<\"a\tb\"@example.com>", 0);    /* control char */
	test_addr_bad("<\"a\\\x01\"@example.com>", 0); /* quoted pair of a control */
	test_addr_bad("<\"a\"b@example.com>", 0);      /* text after the quotes */
	test_addr_bad("<\"a\\", 0);
}

Test(addr, address_literals)
{
	test_addr_ok("<a@[192.0.2.1]>", 0, "a", "[192.0.2.1]");
	test_addr_ok("<a@[IPv6:2001:DB8::1]>", 0, "a", "[IPv6:2001:db8::1]");
	test_addr_ok("<a@[ipv6:::1]>", 0, "a", "[IPv6:::1]");
	test_addr_ok("<a@[IPv6:::ffff:192.0.2.1]>", 0, "a", "[IPv6:::ffff:192.0.2.1]");
	test_addr_bad("<a@[192.0.2.256]>", 0);
	test_addr_bad("<a@[192.0.2]>", 0);
	test_addr_bad("<a@[IPv6:2001:db8::g]>", 0);
	test_addr_bad("<a@[IPv6:1.2.3.4]>", 0);
	test_addr_bad("<a@[x-tag:whatever]>", 0); /* general literal */
	test_addr_bad("<a@[192.0.2.1>", 0);
	test_addr_bad("<a@[]>", 0);
	test_addr_bad("<a@[[1.2.3.4]]>", 0);
}

Test(addr, source_route)
{
	test_addr_ok("<@relay.example:user@example.com>", ADDR_ALLOW_SOURCE_ROUTE, "user",
		     "example.com");
	test_addr_ok("<@a.example,@b.example:user@example.com>", ADDR_ALLOW_SOURCE_ROUTE, "user",
		     "example.com");
	test_addr_ok("<@[192.0.2.1],@[IPv6:::1]:u@example.com>", ADDR_ALLOW_SOURCE_ROUTE, "u",
		     "example.com");
	test_addr_bad("<@relay.example:user@example.com>", 0);
	test_addr_bad("<@relay.example,user@example.com>", ADDR_ALLOW_SOURCE_ROUTE);
	test_addr_bad("<@:user@example.com>", ADDR_ALLOW_SOURCE_ROUTE);
	test_addr_bad("<@a..b:user@example.com>", ADDR_ALLOW_SOURCE_ROUTE);
	test_addr_bad("<@a,b:user@example.com>", ADDR_ALLOW_SOURCE_ROUTE);
	test_addr_bad("<@a.example>", ADDR_ALLOW_SOURCE_ROUTE);
}

Test(addr, null_path)
{
	struct addr a;
	size_t used;

	cr_assert_eq(test_addr_path("<>", ADDR_ALLOW_NULL, &a, &used), 0);
	cr_assert(a.is_null);
	cr_assert_eq(used, 2);
	test_addr_bad("<>", ADDR_ALLOW_UTF8 | ADDR_ALLOW_NO_DOMAIN | ADDR_ALLOW_SOURCE_ROUTE);
	test_addr_bad("< >", ALL);
}

Test(addr, postmaster)
{
	struct addr a;
	size_t used;

	cr_assert_eq(test_addr_path("<Postmaster>", ADDR_ALLOW_NO_DOMAIN, &a, &used), 0);
	cr_assert_str_eq(a.local, "Postmaster");
	cr_assert_str_eq(a.domain, "");
	cr_assert(!a.is_null);
	test_addr_ok("<POSTMASTER>", ADDR_ALLOW_NO_DOMAIN, "POSTMASTER", "");
	test_addr_bad("<postmaster>", ALL & ~ADDR_ALLOW_NO_DOMAIN);
	test_addr_bad("<webmaster>", ALL);
	test_addr_bad("<\"postmaster\">", ALL);
	test_addr_ok("<postmaster@example.com>", 0, "postmaster", "example.com");
}

Test(addr, utf8)
{
	struct addr a;
	size_t used;

	cr_assert_eq(test_addr_path("<j\xc3\xb6rg@example.com>", ADDR_ALLOW_UTF8, &a, &used), 0);
	cr_assert_str_eq(a.local, "j\xc3\xb6rg");
	cr_assert(a.utf8);
	cr_assert_eq(test_addr_path("<user@b\xc3\xbc"
				    "cher.example>",
				    ADDR_ALLOW_UTF8, &a, &used),
		     0);
	cr_assert_str_eq(a.domain, "b\xc3\xbc"
				   "cher.example");
	cr_assert(a.utf8);
	cr_assert_eq(test_addr_path("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
				    "\xe5\x85\xac\xe5\x8f\xb8>",
				    ADDR_ALLOW_UTF8, &a, &used),
		     0);
	cr_assert(a.utf8);
	cr_assert_eq(test_addr_path("<\"j\xc3\xb6 rg\"@example.com>", ADDR_ALLOW_UTF8, &a, &used),
		     0);
	cr_assert(a.utf8 && a.quoted);
	cr_assert_eq(test_addr_path("<\xf0\x9f\x98\x80@example.com>", ADDR_ALLOW_UTF8, &a, &used),
		     0);
	cr_assert_eq(test_addr_path("<user@example.com>", ADDR_ALLOW_UTF8, &a, &used), 0);
	cr_assert(!a.utf8);
	cr_assert_eq(test_addr_path("<user@Xn--Bcher-kva.example>", 0, &a, &used), 0);
	cr_assert_str_eq(a.domain, "xn--bcher-kva.example");
	cr_assert(!a.utf8);
}

Test(addr, utf8_bad)
{
	test_addr_bad("<j\xc3\xb6rg@example.com>", 0); /* not allowed */
	test_addr_bad("<user@b\xc3\xbc"
		      "cher.example>",
		      0);
	test_addr_bad("<j\xc3rg@example.com>", ADDR_ALLOW_UTF8);         /* truncated */
	test_addr_bad("<j\xc0\xafrg@example.com>", ADDR_ALLOW_UTF8);     /* overlong '/' */
	test_addr_bad("<j\xe0\x80\xafrg@example.com>", ADDR_ALLOW_UTF8); /* overlong, 3 octets */
	test_addr_bad("<j\xf0\x80\x80\xafrg@example.com>",
		      ADDR_ALLOW_UTF8);                                  /* overlong, 4 octets */
	test_addr_bad("<j\xed\xa0\x80rg@example.com>", ADDR_ALLOW_UTF8); /* surrogate U+D800 */
	test_addr_bad("<j\xf4\x90\x80\x80rg@example.com>", ADDR_ALLOW_UTF8); /* beyond U+10FFFF */
	test_addr_bad("<j\xc2\x85rg@example.com>", ADDR_ALLOW_UTF8);         /* C1 control NEL */
	test_addr_bad("<j\xffrg@example.com>", ADDR_ALLOW_UTF8);
	test_addr_bad("<user@b\xed\xa0\x80.example>", ADDR_ALLOW_UTF8);
	test_addr_bad("<user@\xc3\xbc\xc3>", ADDR_ALLOW_UTF8);
}

Test(addr, malformed)
{
	test_addr_bad("", ALL);
	test_addr_bad("user@example.com", ALL);  /* no brackets */
	test_addr_bad("<user@example.com", ALL); /* missing '>' */
	test_addr_bad("<user@example.com ", ALL);
	test_addr_bad("<@>", ALL);
	test_addr_bad("<@example.com>", ALL);
	test_addr_bad("<user@>", ALL);
	test_addr_bad("<user>", ALL);
	test_addr_bad("<@example.com:>", ALL);
	test_addr_bad("<.user@example.com>", ALL);
	test_addr_bad("<user.@example.com>", ALL);
	test_addr_bad("<us..er@example.com>", ALL);
	test_addr_bad("<us er@example.com>", ALL);
	test_addr_bad("<user@exa mple.com>", ALL);
	test_addr_bad("<user@example..com>", ALL);
	test_addr_bad("<user@.example.com>", ALL);
	test_addr_bad("<user@example.com.>", ALL);
	test_addr_bad("<user@-example.com>", ALL);
	test_addr_bad("<user@example-.com>", ALL);
	test_addr_bad("<user@exa_mple.com>", ALL);
	test_addr_bad("<user@@example.com>", ALL);
	test_addr_bad("<user@example.com@x>", ALL);
	test_addr_bad("<us(er@example.com>", ALL);
	test_addr_bad("<user\x7f@example.com>", ALL);
	test_addr_bad("<user\r@example.com>", ALL);
}

Test(addr, nul_is_rejected)
{
	struct addr a;
	size_t used;
	const char *error;

	cr_assert_eq(addr_parse_path("<us\0er@example.com>", 19, ALL, &a, &used, &error), -1);
	cr_assert_eq(addr_parse_path("<user@exa\0mple.com>", 19, ALL, &a, &used, &error), -1);
	cr_assert_eq(addr_parse_path("<user@example.com\0>", 19, ALL, &a, &used, &error), -1);
	cr_assert_eq(addr_parse_path("<\"us\0er\"@example.com>", 21, ALL, &a, &used, &error), -1);
	/* found by fuzz_addr: inet_pton stopped at the NUL and accepted the prefix */
	cr_assert_eq(addr_parse_path("<u@[IPv6:2001:db8::\0\0]>", 23, ALL, &a, &used, &error), -1);
	cr_assert_eq(addr_parse_path("<u@[1.2.3.4\0x]>", 15, ALL, &a, &used, &error), -1);
	cr_assert_eq(addr_parse_path("<@a,@[IPv6:::1\0]:u@b>", 21, ALL, &a, &used, &error), -1);
}

Test(addr, lengths)
{
	char s[1024], label[64];
	struct addr a;
	size_t used;

	/* local part: 255 accepted, 256 refused */
	memset(s, 0, sizeof(s));
	s[0] = '<';
	memset(s + 1, 'x', ADDR_LOCAL_MAX);
	strcpy(s + 1 + ADDR_LOCAL_MAX, "@example.com>");
	cr_assert_eq(test_addr_path(s, 0, &a, &used), 0);
	cr_assert_eq(strlen(a.local), ADDR_LOCAL_MAX);
	memset(s + 1, 'x', ADDR_LOCAL_MAX + 1);
	strcpy(s + 2 + ADDR_LOCAL_MAX, "@example.com>");
	test_addr_bad(s, 0);

	/* label: 63 accepted, 64 refused */
	memset(label, 'l', 63);
	label[63] = '\0';
	snprintf(s, sizeof(s), "<u@%s.example>", label);
	cr_assert_eq(test_addr_path(s, 0, &a, &used), 0);
	snprintf(s, sizeof(s), "<u@%sl.example>", label);
	test_addr_bad(s, 0);

	/* domain: 255 accepted (4 x 63 + 3 dots), 256 refused */
	snprintf(s, sizeof(s), "<u@%s.%s.%s.%s>", label, label, label, label);
	cr_assert_eq(test_addr_path(s, 0, &a, &used), 0);
	cr_assert_eq(strlen(a.domain), 255);
	snprintf(s, sizeof(s), "<u@%s.%s.%s.%s.a>", label, label, label, label);
	test_addr_bad(s, 0);
}

Test(addr, parse_mailbox)
{
	struct addr a;
	const char *error;

	cr_assert_eq(addr_parse_mailbox("u@Example.com", 13, 0, &a, &error), 0);
	cr_assert_str_eq(a.local, "u");
	cr_assert_str_eq(a.domain, "example.com");
	cr_assert_eq(addr_parse_mailbox("\"a b\"@x.example", 15, 0, &a, &error), 0);
	cr_assert_str_eq(a.local, "a b");
	cr_assert_eq(addr_parse_mailbox("u@example.com>", 14, 0, &a, &error), -1);
	cr_assert_eq(addr_parse_mailbox("<u@example.com>", 15, 0, &a, &error), -1);
	cr_assert_eq(addr_parse_mailbox("u", 1, 0, &a, &error), -1);
	cr_assert_eq(addr_parse_mailbox("postmaster", 10, ADDR_ALLOW_NO_DOMAIN, &a, &error), 0);
	cr_assert_eq(addr_parse_mailbox("", 0, 0, &a, &error), -1);
	cr_assert_eq(addr_parse_mailbox("", 0, ADDR_ALLOW_NULL, &a, &error), 0);
	cr_assert(a.is_null);
	cr_assert_eq(addr_parse_mailbox("u@", 2, 0, &a, &error), -1);
	cr_assert_eq(addr_parse_mailbox("@x", 2, 0, &a, &error), -1);
}

Test(addr, check_domain)
{
	char d[300];
	const char *error;

	strcpy(d, "Mail.EXAMPLE.org");
	cr_assert_eq(addr_check_domain(d, false, &error), 0);
	cr_assert_str_eq(d, "mail.example.org");
	strcpy(d, "[IPv6:2001:DB8::1]");
	cr_assert_eq(addr_check_domain(d, false, &error), 0);
	cr_assert_str_eq(d, "[IPv6:2001:db8::1]");
	strcpy(d, "b\xc3\xbc"
		  "cher.example");
	cr_assert_eq(addr_check_domain(d, false, &error), -1);
	cr_assert_eq(addr_check_domain(d, true, &error), 0);
	strcpy(d, "");
	cr_assert_eq(addr_check_domain(d, true, &error), -1);
	strcpy(d, "a..b");
	cr_assert_eq(addr_check_domain(d, true, &error), -1);
}

static void test_addr_format_is(const char *in, const char *want)
{
	struct addr a;
	size_t used;
	char out[600];
	size_t n;

	cr_assert_eq(test_addr_path(in, ALL, &a, &used), 0, "rejected %s", in);
	n = addr_format(&a, out, sizeof(out));
	cr_assert_str_eq(out, want);
	cr_assert_eq(n, strlen(want));
}

Test(addr, format)
{
	test_addr_format_is("<user@Example.com>", "user@example.com");
	test_addr_format_is("<\"user\"@example.com>", "user@example.com"); /* needless quotes go */
	test_addr_format_is("<\"john doe\"@example.com>", "\"john doe\"@example.com");
	test_addr_format_is("<\"a\\\"b\\\\c\"@example.com>", "\"a\\\"b\\\\c\"@example.com");
	test_addr_format_is("<\"a..b\"@example.com>", "\"a..b\"@example.com");
	test_addr_format_is("<\".a\"@example.com>", "\".a\"@example.com");
	test_addr_format_is("<\"\"@example.com>", "\"\"@example.com");
	test_addr_format_is("<>", "");
	test_addr_format_is("<postmaster>", "postmaster");
	test_addr_format_is("<@r.example:u@[192.0.2.1]>", "u@[192.0.2.1]");
	test_addr_format_is("<j\xc3\xb6rg@example.com>", "j\xc3\xb6rg@example.com");
}

Test(addr, format_round_trip)
{
	static const char *const cases[] = {
		"<\"john doe\"@example.com>",
		"<\"a\\\"b\\\\c\"@example.com>",
		"<a.b@c.example>",
		"<\"a@b\"@c.example>",
		"<\"\"@c.example>",
		"<\" \"@c.example>",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr a, b;
		size_t used;
		char out[600], wire[610];
		const char *error;

		cr_assert_eq(test_addr_path(cases[i], 0, &a, &used), 0);
		addr_format(&a, out, sizeof(out));
		snprintf(wire, sizeof(wire), "<%s>", out);
		cr_assert_eq(addr_parse_path(wire, strlen(wire), 0, &b, &used, &error), 0,
			     "reparse of %s", wire);
		cr_assert_str_eq(a.local, b.local);
		cr_assert_str_eq(a.domain, b.domain);
	}
}

Test(addr, format_truncates_like_snprintf)
{
	struct addr a;
	size_t used;
	char out[8];

	cr_assert_eq(test_addr_path("<\"john doe\"@example.com>", 0, &a, &used), 0);
	cr_assert_eq(addr_format(&a, out, sizeof(out)), 22);
	cr_assert_str_eq(out, "\"john d");
	cr_assert_eq(addr_format(&a, NULL, 0), 22);
}

Test(addr, account_name_is_canonical)
{
	static const struct {
		const char *in, *name;
	} cases[] = {
		{ "Alice@Example.ORG", "alice@example.org" },
		{ "\"alice\"@example.org", "alice@example.org" },
		{ "\"John Smith\"@localhost", "\"john smith\"@localhost" },
		{ "\"\\\"john smith\\\"\"@localhost", "\"\\\"john smith\\\"\"@localhost" },
		{ "\"a\\b\"@x.org", "ab@x.org" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr a;
		const char *error;
		char out[600];
		cr_assert_eq(addr_parse_mailbox(cases[i].in, strlen(cases[i].in), ADDR_ALLOW_UTF8,
						&a, &error),
			     0, "%s", cases[i].in);
		cr_assert_eq(addr_account_name(&a, out, sizeof(out)), strlen(cases[i].name));
		cr_assert_str_eq(out, cases[i].name, "%s", cases[i].in);
	}
}
