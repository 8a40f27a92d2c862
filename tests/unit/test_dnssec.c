/* test_dnssec.c - unit tests for the wire-format name decoder of the DNSSEC resolver's answers. */
#include <criterion/criterion.h>
#include <string.h>

#include "dnssec.h"

Test(dnssec, wire_names)
{
	char out[300];
	const unsigned char mx[] = { 0, 10, 2, 'm', 'x', 4, 't', 'e', 's', 't', 0 };
	cr_expect_eq(dnssec_wire_name(mx, sizeof(mx), 2, out, sizeof(out)), 9);
	cr_expect_str_eq(out, "mx.test");
	const unsigned char root[] = { 0, 0, 0 };
	cr_expect_eq(dnssec_wire_name(root, sizeof(root), 2, out, sizeof(out)), 1);
	cr_expect_str_eq(out, "");
}

Test(dnssec, bad_wire_names)
{
	char out[300];
	const unsigned char cut[] = { 5, 'a', 'b' };
	cr_expect_eq(dnssec_wire_name(cut, sizeof(cut), 0, out, sizeof(out)), -1);
	const unsigned char noend[] = { 1, 'a' };
	cr_expect_eq(dnssec_wire_name(noend, sizeof(noend), 0, out, sizeof(out)), -1);
	const unsigned char ptr[] = { 0xc0, 0x0c };
	cr_expect_eq(dnssec_wire_name(ptr, sizeof(ptr), 0, out, sizeof(out)), -1);
	const unsigned char dot[] = { 3, 'a', '.', 'b', 0 };
	cr_expect_eq(dnssec_wire_name(dot, sizeof(dot), 0, out, sizeof(out)), -1);
	const unsigned char sp[] = { 3, 'a', ' ', 'b', 0 };
	cr_expect_eq(dnssec_wire_name(sp, sizeof(sp), 0, out, sizeof(out)), -1);
	unsigned char longname[400];
	size_t n = 0;
	for (int i = 0; i < 5; i++) {
		longname[n++] = 63;
		memset(longname + n, 'a', 63);
		n += 63;
	}
	longname[n++] = 0;
	cr_expect_eq(dnssec_wire_name(longname, n, 0, out, sizeof(out)), -1, "over 253");
	const unsigned char one[] = { 1, 'a', 0 };
	cr_expect_eq(dnssec_wire_name(one, sizeof(one), 0, out, 2), -1, "no room");
}
