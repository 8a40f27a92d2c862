/* test_imap_date.c - IMAP date and date-time parsing, day numbers, INTERNALDATE formatting. */
#include <criterion/criterion.h>
#include <string.h>

#include "imap_date.h"

static int date(const char *s, struct imap_date *d)
{
	return imap_date_parse(s, strlen(s), d);
}

static int datetime(const char *s, int64_t *t, int *tz)
{
	return imap_datetime_parse(s, strlen(s), t, tz);
}

Test(imap_date, parse_date)
{
	struct imap_date d;
	cr_assert_eq(date("1-Feb-1994", &d), 0);
	cr_assert(d.year == 1994 && d.month == 2 && d.day == 1);
	cr_assert_eq(date("01-feb-1994", &d), 0);
	cr_assert(d.day == 1);
	cr_assert_eq(date("31-DEC-9999", &d), 0);
	cr_assert_eq(date("29-Feb-2000", &d), 0);
	cr_assert_eq(date("29-Feb-2024", &d), 0);
	static const char *const bad[] = {
		"",
		"1",
		"1-Feb",
		"1-Feb-94",
		"1-Feb-19940",
		"0-Feb-1994",
		"32-Jan-1994",
		"31-Apr-1994",
		"29-Feb-1900",
		"29-Feb-2023",
		"001-Feb-1994",
		" 1-Feb-1994",
		"1 Feb 1994",
		"1-Fe-1994",
		"1-Febr-1994",
		"a-Feb-1994",
		"1-Feb-19x4",
		"1-Feb-1994 ",
		"1994-02-01",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(date(bad[i], &d), -1, "accepted \"%s\"", bad[i]);
}

Test(imap_date, day_numbers)
{
	struct imap_date d = { 1970, 1, 1 };
	cr_assert_eq(imap_date_days(&d), 0);
	d = (struct imap_date){ 1994, 2, 1 };
	cr_assert_eq(imap_date_days(&d), 8797);
	d = (struct imap_date){ 1969, 12, 31 };
	cr_assert_eq(imap_date_days(&d), -1);
	d = (struct imap_date){ 2000, 2, 29 };
	cr_assert_eq(imap_date_days(&d), 11016);
	for (int64_t n = -800000; n < 3000000; n += 997) {
		imap_date_from_days(n, &d);
		cr_assert_eq(imap_date_days(&d), n);
	}
	/* 1996-07-17 09:44:25 UTC is 17-Jul 02:44 at -0700, 16-Jul 23:44 at -1000 */
	cr_assert_eq(imap_date_days_of_time(837596665, -7 * 60), 9694);
	cr_assert_eq(imap_date_days_of_time(837596665, -10 * 60), 9693);
	cr_assert_eq(imap_date_days_of_time(-1, 0), -1);
}

Test(imap_date, parse_datetime)
{
	int64_t t;
	int tz;
	cr_assert_eq(datetime("17-Jul-1996 02:44:25 -0700", &t, &tz), 0);
	cr_assert_eq(t, 837596665);
	cr_assert_eq(tz, -420);
	cr_assert_eq(datetime(" 7-Jul-1996 02:44:25 +0130", &t, &tz), 0);
	cr_assert_eq(tz, 90);
	cr_assert_eq(t, 837596665 - 10 * 86400 - 7 * 3600 - 90 * 60);
	cr_assert_eq(datetime("07-Jul-1996 02:44:25 +0130", &t, &tz), 0);
	cr_assert_eq(datetime("7-Jul-1996 02:44:25 +0130", &t, &tz), 0);
	cr_assert_eq(datetime("31-Dec-1998 23:59:60 +0000", &t, &tz), 0);
	cr_assert_eq(t, 915148799, "leap second read as :59");
	static const char *const bad[] = {
		"",
		"17-Jul-1996",
		"17-Jul-1996 02:44:25",
		"17-Jul-1996 02:44:25 0700",
		"17-Jul-1996 24:00:00 +0000",
		"17-Jul-1996 02:60:00 +0000",
		"17-Jul-1996 02:44:61 +0000",
		"17-Jul-1996 02:44:25 +0060",
		"17-Jul-1996 2:44:25 +0000",
		"17-Jul-1996 02:44:25  +0000",
		"17-Jul-1996 02:44:25 +0000 ",
		" 17-Jul-1996 02:44:25 +0000",
		"32-Jul-1996 02:44:25 +0000",
		"17-Jul-1996T02:44:25 +0000",
		"17-Jul-1996 02-44-25 +0000",
		"17-Jul-1996 02:44:25 *0000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(datetime(bad[i], &t, &tz), -1, "accepted \"%s\"", bad[i]);
}

Test(imap_date, format_and_round_trip)
{
	char out[IMAP_DATETIME_LEN];
	cr_assert(imap_datetime_format(837596665, -420, out));
	cr_assert_str_eq(out, "17-Jul-1996 02:44:25 -0700");
	cr_assert(imap_datetime_format(0, 0, out));
	cr_assert_str_eq(out, "01-Jan-1970 00:00:00 +0000");
	cr_assert(imap_datetime_format(-1, 90, out));
	cr_assert_str_eq(out, "01-Jan-1970 01:29:59 +0130");
	cr_assert(imap_datetime_format(253402300799LL, 0, out));
	cr_assert_str_eq(out, "31-Dec-9999 23:59:59 +0000");
	cr_assert(!imap_datetime_format(253402300800LL, 0, out));
	cr_assert(!imap_datetime_format(0, 6000, out));
	cr_assert(!imap_datetime_format(INT64_MAX, 0, out));
	for (int64_t t = -2000000000LL; t < 4000000000LL; t += 7777777) {
		int zones[] = { 0, -420, 330, 840, -720 };
		for (size_t z = 0; z < 5; z++) {
			int64_t back;
			int tz;
			cr_assert(imap_datetime_format(t, zones[z], out));
			cr_assert_eq(datetime(out, &back, &tz), 0, "%s", out);
			cr_assert_eq(back, t, "%s", out);
			cr_assert_eq(tz, zones[z]);
		}
	}
}
