/* test_autoconfig.c - the autodiscover request parser and the autoconfig/autodiscover documents (escaping, ports). */
#include "autoconfig.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static int test_email(const char *body, char *out, size_t outlen)
{
	return autodiscover_email(body, strlen(body), out, outlen);
}

Test(autoconfig, outlook_request)
{
	char e[321];
	const char *req =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
		"<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/"
		"requestschema/2006\">\r\n  <Request>\r\n"
		"    <EMailAddress>alice@example.org</EMailAddress>\r\n"
		"    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/"
		"outlook/responseschema/2006a</AcceptableResponseSchema>\r\n"
		"  </Request>\r\n</Autodiscover>\r\n";
	cr_assert_eq(test_email(req, e, sizeof(e)), 0);
	cr_expect_str_eq(e, "alice@example.org");
}

Test(autoconfig, prefix_blanks_and_entities)
{
	char e[64];
	cr_assert_eq(test_email("<a:Request><a:EMailAddress xmlns:a=\"x\">\n  b&amp;o&apos;b@x.org "
				"</a:EMailAddress>",
				e, sizeof(e)),
		     0);
	cr_expect_str_eq(e, "b&o'b@x.org");
	/* EMailAddressX is another element. */
	cr_assert_eq(
		test_email("<EMailAddressX>no</EMailAddressX><EMailAddress>yes@x</EMailAddress>", e,
			   sizeof(e)),
		0);
	cr_expect_str_eq(e, "yes@x");
}

Test(autoconfig, refused_requests)
{
	char e[16];
	cr_expect_eq(test_email("", e, sizeof(e)), -1);
	cr_expect_eq(test_email("<Request></Request>", e, sizeof(e)), -1);
	cr_expect_eq(test_email("<EMailAddress></EMailAddress>", e, sizeof(e)), -1);
	cr_expect_eq(test_email("<EMailAddress/>", e, sizeof(e)), -1);
	cr_expect_eq(test_email("<EMailAddress>a@b", e, sizeof(e)), -1, "no closing tag");
	cr_expect_eq(test_email("<EMailAddress>a b@c</EMailAddress>", e, sizeof(e)), -1);
	cr_expect_eq(test_email("<EMailAddress>a&lt;b@c</EMailAddress>", e, sizeof(e)), -1);
	cr_expect_eq(test_email("<EMailAddress>a&#60;b@c</EMailAddress>", e, sizeof(e)), -1);
	cr_expect_eq(test_email("<EMailAddress>a\x01@c</EMailAddress>", e, sizeof(e)), -1);
	cr_expect_eq(test_email("<EMailAddress>0123456789012345@c</EMailAddress>", e, sizeof(e)),
		     -1, "too long");
	cr_expect_eq(test_email("<EMailAddress", e, sizeof(e)), -1);
}

static const struct autoconfig_info test_ai = {
	.hostname = "mx.example.org",
	.domain = "example.org",
	.imaps = 993,
	.imap = 143,
	.submissions = 465,
	.submission = 0,
};

Test(autoconfig, thunderbird_document)
{
	struct buf b;
	buf_init(&b);
	autoconfig_thunderbird_xml(&test_ai, &b);
	cr_expect(strstr(b.data, "<emailProvider id=\"example.org\">") != NULL, "%s", b.data);
	cr_expect(strstr(b.data, "<hostname>mx.example.org</hostname>\n      <port>993</port>\n"
				 "      <socketType>SSL</socketType>") != NULL,
		  "%s", b.data);
	cr_expect(strstr(b.data, "<port>143</port>\n      <socketType>STARTTLS</socketType>") !=
			  NULL,
		  "%s", b.data);
	cr_expect(strstr(b.data, "<outgoingServer type=\"smtp\">") != NULL, "%s", b.data);
	cr_expect(strstr(b.data, "<port>465</port>") != NULL, "%s", b.data);
	cr_expect(strstr(b.data, "<port>587</port>") == NULL, "submission off: not offered");
	buf_free(&b);
}

Test(autoconfig, outlook_document_escapes_the_address)
{
	struct buf b;
	buf_init(&b);
	autoconfig_outlook_xml(&test_ai, "<x>&\"'@example.org", &b);
	cr_expect(strstr(b.data, "<LoginName>&lt;x&gt;&amp;&quot;&apos;@example.org</LoginName>") !=
			  NULL,
		  "%s", b.data);
	cr_expect(strstr(b.data, "<x>") == NULL, "%s", b.data);
	cr_expect(strstr(b.data, "<Type>IMAP</Type>\n        <Server>mx.example.org</Server>\n"
				 "        <Port>993</Port>") != NULL,
		  "%s", b.data);
	cr_expect(strstr(b.data, "<Type>SMTP</Type>\n        <Server>mx.example.org</Server>\n"
				 "        <Port>465</Port>") != NULL,
		  "%s", b.data);
	buf_free(&b);
}
