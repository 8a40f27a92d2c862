/* test_mta_sts.c - unit tests for the MTA-STS parsers: the _mta-sts TXT record, the policy file and MX pattern matching. */
#include <criterion/criterion.h>
#include <string.h>

#include "mta_sts.h"

static char id[MTA_STS_ID_MAX + 1];
static char err[256];

static int txt(const char *s)
{
	return mta_sts_txt_parse(s, strlen(s), id);
}

Test(mta_sts, txt_valid_records)
{
	cr_assert_eq(txt("v=STSv1; id=20160831085700Z;"), 0);
	cr_expect_str_eq(id, "20160831085700Z");
	cr_assert_eq(txt("v=STSv1;id=abc"), 0);
	cr_expect_str_eq(id, "abc");
	cr_assert_eq(txt("v=STSv1 ;\tid=A1 ; ext_1=foo-bar ;  "), 0);
	cr_expect_str_eq(id, "A1");
	cr_assert_eq(txt("v=STSv1; id=12345678901234567890123456789012"), 0);
}

Test(mta_sts, txt_invalid_records)
{
	cr_expect_eq(txt(""), -1);
	cr_expect_eq(txt("v=STSv2; id=1"), -1);
	cr_expect_eq(txt("id=1; v=STSv1"), -1);   /* version first */
	cr_expect_eq(txt("v=STSv1"), -1);         /* no id */
	cr_expect_eq(txt("v=STSv1; id="), -1);    /* empty id */
	cr_expect_eq(txt("v=STSv1; id=a-b"), -1); /* alphanumerics only */
	cr_expect_eq(txt("v=STSv1; id=123456789012345678901234567890123"), -1); /* 33 */
	cr_expect_eq(txt("v=STSv1; id=1; id=2"), -1);
	cr_expect_eq(txt("v=STSv1;; id=1"), -1);
	cr_expect_eq(txt("v=STSv1x; id=1"), -1);
	cr_expect_eq(txt("v=STSv1; id=1; ext=a b"), -1);
	cr_expect_eq(id[0], '\0');
}

Test(mta_sts, txt_select_one_record)
{
	char *recs[] = { "v=spf1 -all", "v=STSv1; id=x1" };
	cr_expect_eq(mta_sts_txt_select(recs, 2, id, err, sizeof(err)), 1);
	cr_expect_str_eq(id, "x1");
	cr_expect_eq(mta_sts_txt_select(recs, 1, id, err, sizeof(err)), 0);
	char *two[] = { "v=STSv1; id=a", "v=STSv1; id=b" };
	cr_expect_eq(mta_sts_txt_select(two, 2, id, err, sizeof(err)), -1);
	cr_expect(strstr(err, "2 records") != NULL, "%s", err);
	char *bad[] = { "v=STSv1; id=" };
	cr_expect_eq(mta_sts_txt_select(bad, 1, id, err, sizeof(err)), -1);
	cr_expect(strstr(err, "invalid") != NULL, "%s", err);
}

static int pol(const char *s, struct mta_sts_policy *p)
{
	err[0] = '\0';
	return mta_sts_policy_parse(s, strlen(s), p, err, sizeof(err));
}

Test(mta_sts, policy_rfc_example)
{
	struct mta_sts_policy p;
	cr_assert_eq(pol("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
			 "mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			 &p),
		     0, "%s", err);
	cr_expect_eq(p.mode, MTA_STS_ENFORCE);
	cr_expect_eq(p.max_age, 604800);
	cr_assert_eq(p.n_mx, 3);
	cr_expect_str_eq(p.mx[1], "*.example.net");
	cr_expect(mta_sts_policy_mx_ok(&p, "MAIL.example.com."));
	cr_expect(mta_sts_policy_mx_ok(&p, "mx1.example.net"));
	cr_expect(!mta_sts_policy_mx_ok(&p, "example.net"));
	cr_expect(!mta_sts_policy_mx_ok(&p, "a.b.example.net"));
	cr_expect(!mta_sts_policy_mx_ok(&p, "other.example.com"));
	cr_expect_str_eq(mta_sts_mode_name(p.mode), "enforce");
	mta_sts_policy_free(&p);
}

Test(mta_sts, policy_lf_blanks_extensions_first_wins)
{
	struct mta_sts_policy p;
	cr_assert_eq(pol("version:STSv1\nmode:  testing \nfoo_bar: anything\nmx: MX.Example.ORG\n"
			 "mode: enforce\nmax_age: 99999999999\n\n",
			 &p),
		     -1); /* 11 digits */
	cr_assert_eq(pol("version:STSv1\nmode:  testing \nfoo_bar: anything\nmx: MX.Example.ORG\n"
			 "mode: enforce\nmax_age: 9999999999\n\n",
			 &p),
		     0, "%s", err);
	cr_expect_eq(p.mode, MTA_STS_TESTING);
	cr_expect_eq(p.max_age, MTA_STS_MAX_AGE_MAX);
	cr_expect_str_eq(p.mx[0], "mx.example.org");
	mta_sts_policy_free(&p);
	cr_assert_eq(pol("version: STSv1\nmode: none\nmax_age: 86400", &p), 0, "%s", err);
	cr_expect_eq(p.mode, MTA_STS_NONE);
	cr_expect_eq(p.n_mx, 0);
	mta_sts_policy_free(&p);
}

Test(mta_sts, policy_invalid)
{
	struct mta_sts_policy p;
	cr_expect_eq(pol("mode: enforce\nmx: a.b\nmax_age: 1\n", &p), -1);
	cr_expect_str_eq(err, "no version");
	cr_expect_eq(pol("version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n", &p), -1);
	cr_expect_eq(pol("version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n", &p), -1);
	cr_expect(strstr(err, "line 2") != NULL, "%s", err);
	cr_expect_eq(pol("version: STSv1\nmode: enforce\nmax_age: 1\n", &p), -1);
	cr_expect_str_eq(err, "no mx");
	cr_expect_eq(pol("version: STSv1\nmode: enforce\nmx: a.b\n", &p), -1);
	cr_expect_eq(pol("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n", &p), -1);
	cr_expect_eq(pol("version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n", &p), -1);
	cr_expect_eq(pol("version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", &p), -1);
	cr_expect_eq(pol("version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n", &p), -1);
	cr_expect_eq(pol("<html>not a policy</html>\n", &p), -1);
	cr_expect_eq(p.n_mx, 0);
	cr_expect_null(p.mx);
}

Test(mta_sts, mx_match_rfc_4_1)
{
	cr_expect(mta_sts_mx_match("*.example.com", "mx1.example.com"));
	cr_expect(mta_sts_mx_match("*.example.com", "MX1.EXAMPLE.COM."));
	cr_expect(!mta_sts_mx_match("*.example.com", "example.com"));
	cr_expect(!mta_sts_mx_match("*.example.com", "a.mx1.example.com"));
	cr_expect(!mta_sts_mx_match("*.example.com", ".example.com"));
	cr_expect(!mta_sts_mx_match("*.example.com", "mx1.example.com.evil"));
	cr_expect(mta_sts_mx_match("mail.example.com", "mail.example.com."));
	cr_expect(!mta_sts_mx_match("mail.example.com", "xmail.example.com"));
	cr_expect(!mta_sts_mx_match("mail.example.com", ""));
}
