/* imap_date.c - IMAP date and date-time text to and from days and epoch seconds, without the C library's time zone state. */
#include "imap_date.h"

#include <string.h>
#include <strings.h>

static const char imap_date_months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static bool imap_date_is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int imap_date_month_days(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && imap_date_is_leap(y) ? 29 : days[m - 1];
}

/* Howard Hinnant's days_from_civil. */
int64_t imap_date_days(const struct imap_date *d)
{
	int64_t y = d->year - (d->month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (d->month + 9) % 12;
	int64_t doy = (153 * mp + 2) / 5 + d->day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void imap_date_from_days(int64_t z, struct imap_date *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	d->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	d->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	d->year = (int)(yoe + era * 400 + (d->month <= 2));
}

static int64_t imap_date_floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t imap_date_days_of_time(int64_t t, int tz_minutes)
{
	return imap_date_floor_div(t + (int64_t)tz_minutes * 60, 86400);
}

static int imap_date_digits(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "-Mon-YYYY" after the day; *pos at the first '-'. */
static int imap_date_parse_rest(const char *s, size_t len, size_t *pos, int day,
				struct imap_date *d)
{
	size_t i = *pos;
	if (len - i < 9 || s[i] != '-' || s[i + 4] != '-')
		return -1;
	int month = 0;
	for (int m = 0; m < 12; m++) {
		if (strncasecmp(s + i + 1, imap_date_months[m], 3) == 0)
			month = m + 1;
	}
	int year = imap_date_digits(s + i + 5, 4);
	if (month == 0 || year < 0 || day < 1 || day > imap_date_month_days(year, month))
		return -1;
	d->year = year;
	d->month = month;
	d->day = day;
	*pos = i + 9;
	return 0;
}

/* day: "7", "07" or (fixed) " 7". */
static int imap_date_parse_day(const char *s, size_t len, size_t *pos, bool allow_space)
{
	size_t i = 0;
	if (allow_space && len > 0 && s[0] == ' ')
		i = 1;
	size_t start = i;
	while (i < len && i - start < 2 && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == start || (start == 1 && i - start != 1))
		return -1;
	*pos = i;
	return imap_date_digits(s + start, i - start);
}

int imap_date_parse(const char *s, size_t len, struct imap_date *date_r)
{
	size_t pos;
	int day = imap_date_parse_day(s, len, &pos, false);
	if (day < 0 || imap_date_parse_rest(s, len, &pos, day, date_r) < 0 || pos != len)
		return -1;
	return 0;
}

int imap_datetime_parse(const char *s, size_t len, int64_t *time_r, int *tz_minutes_r)
{
	struct imap_date d;
	size_t pos;
	int day = imap_date_parse_day(s, len, &pos, true);
	if (day < 0 || imap_date_parse_rest(s, len, &pos, day, &d) < 0)
		return -1;
	/* " HH:MM:SS +HHMM" */
	const char *t = s + pos;
	if (len - pos != 15 || t[0] != ' ' || t[3] != ':' || t[6] != ':' || t[9] != ' ' ||
	    (t[10] != '+' && t[10] != '-'))
		return -1;
	int hh = imap_date_digits(t + 1, 2), mm = imap_date_digits(t + 4, 2);
	int ss = imap_date_digits(t + 7, 2);
	int zh = imap_date_digits(t + 11, 2), zm = imap_date_digits(t + 13, 2);
	if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 || zh < 0 || zm < 0 ||
	    zm > 59)
		return -1;
	if (ss == 60)
		ss = 59;
	int tz = (zh * 60 + zm) * (t[10] == '-' ? -1 : 1);
	*time_r = imap_date_days(&d) * 86400 + hh * 3600 + mm * 60 + ss - (int64_t)tz * 60;
	*tz_minutes_r = tz;
	return 0;
}

static void imap_date_put(char *out, int v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

bool imap_datetime_format(int64_t t, int tz_minutes, char out[IMAP_DATETIME_LEN])
{
	if (tz_minutes <= -6000 || tz_minutes >= 6000 || t < -400000000000LL || t > 400000000000LL)
		return false;
	int64_t local = t + (int64_t)tz_minutes * 60;
	int64_t days = imap_date_floor_div(local, 86400);
	int64_t secs = local - days * 86400;
	struct imap_date d;
	imap_date_from_days(days, &d);
	if (d.year < 0 || d.year > 9999)
		return false;
	int tz = tz_minutes < 0 ? -tz_minutes : tz_minutes;
	int secs_i = (int)secs;
	/* "DD-Mon-YYYY HH:MM:SS +ZZZZ", written by hand: every field has a known width. */
	imap_date_put(out, d.day, 2);
	out[2] = '-';
	memcpy(out + 3, imap_date_months[d.month - 1], 3);
	out[6] = '-';
	imap_date_put(out + 7, d.year, 4);
	out[11] = ' ';
	imap_date_put(out + 12, secs_i / 3600, 2);
	out[14] = ':';
	imap_date_put(out + 15, secs_i / 60 % 60, 2);
	out[17] = ':';
	imap_date_put(out + 18, secs_i % 60, 2);
	out[20] = ' ';
	out[21] = tz_minutes < 0 ? '-' : '+';
	imap_date_put(out + 22, tz / 60, 2);
	imap_date_put(out + 24, tz % 60, 2);
	out[26] = '\0';
	return true;
}
