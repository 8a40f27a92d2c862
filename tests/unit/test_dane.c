/* test_dane.c - unit tests for the TLSA RDATA parser: which records DANE for SMTP can use (RFC 7672 3.1). */
#include <criterion/criterion.h>
#include <string.h>

#include "dane.h"

static int tlsa(unsigned char u, unsigned char s, unsigned char m, size_t dlen, struct tls_tlsa *t)
{
	unsigned char rd[3 + 80];
	memset(rd, 0xab, sizeof(rd));
	rd[0] = u;
	rd[1] = s;
	rd[2] = m;
	return dane_tlsa_parse(rd, 3 + dlen, t);
}

Test(dane, usable_records)
{
	struct tls_tlsa t;
	cr_expect_eq(tlsa(3, 1, 1, 32, &t), 1);
	cr_expect_eq(t.usage, 3);
	cr_expect_eq(t.selector, 1);
	cr_expect_eq(t.mtype, 1);
	cr_expect_eq(t.len, 32);
	cr_expect_eq(tlsa(3, 0, 2, 64, &t), 1);
	cr_expect_eq(tlsa(2, 0, 1, 32, &t), 1);
	cr_expect_eq(tlsa(2, 1, 2, 64, &t), 1);
}

Test(dane, unusable_records)
{
	struct tls_tlsa t;
	cr_expect_eq(tlsa(0, 0, 1, 32, &t), 0, "PKIX-TA is unusable for SMTP");
	cr_expect_eq(tlsa(1, 1, 1, 32, &t), 0, "PKIX-EE is unusable for SMTP");
	cr_expect_eq(tlsa(4, 1, 1, 32, &t), 0);
	cr_expect_eq(tlsa(3, 2, 1, 32, &t), 0, "unknown selector");
	cr_expect_eq(tlsa(3, 1, 0, 70, &t), 0, "full data is not supported");
	cr_expect_eq(tlsa(3, 1, 9, 5, &t), 0, "unknown matching type");
}

Test(dane, malformed_records)
{
	struct tls_tlsa t;
	cr_expect_eq(tlsa(3, 1, 1, 31, &t), -1, "SHA-256 digest of 31 bytes");
	cr_expect_eq(tlsa(3, 1, 2, 32, &t), -1, "SHA-512 digest of 32 bytes");
	cr_expect_eq(tlsa(3, 1, 1, 0, &t), -1);
	unsigned char rd[2] = { 3, 1 };
	cr_expect_eq(dane_tlsa_parse(rd, 2, &t), -1);
	cr_expect_eq(dane_tlsa_parse(NULL, 0, &t), -1);
}
