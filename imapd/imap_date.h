/* imap_date.h - IMAP date ("1-Feb-1994") and date-time ("17-Jul-1996 02:44:25 -0700") parsing and formatting (pure). */
#ifndef MAIL_IMAP_DATE_H
#define MAIL_IMAP_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "17-Jul-1996 02:44:25 -0700" plus NUL */
#define IMAP_DATETIME_LEN 27

struct imap_date {
	int year;  /* 0..9999 */
	int month; /* 1..12 */
	int day;   /* 1..31, valid for the month */
};

/* date (RFC 3501 9): date-day "-" date-month "-" date-year, day of 1 or 2 digits, month
 * name in any case. The caller removes DQUOTEs (the parser already does). 0 or -1. */
int imap_date_parse(const char *s, size_t len, struct imap_date *date_r);

/* date-time (APPEND, without the DQUOTEs): day as " 7", "07" or "7", then
 * "-Mon-YYYY HH:MM:SS +HHMM". Gives the instant as seconds since the epoch and the zone
 * offset in minutes east of UTC. A leap second 60 is read as 59. 0 or -1. */
int imap_datetime_parse(const char *s, size_t len, int64_t *time_r, int *tz_minutes_r);

/* Formats INTERNALDATE text (without DQUOTEs) into out[IMAP_DATETIME_LEN]: the instant t
 * shown in the zone tz_minutes east of UTC, e.g. "07-Jul-1996 02:44:25 -0700".
 * Returns false for instants outside years 0..9999. */
bool imap_datetime_format(int64_t t, int tz_minutes, char out[IMAP_DATETIME_LEN]);

/* Day number (days since 1970-01-01, negative before) of a date, for SEARCH
 * BEFORE/ON/SINCE comparisons. */
int64_t imap_date_days(const struct imap_date *date);
/* Day number of the instant t seen in the zone tz_minutes east of UTC. */
int64_t imap_date_days_of_time(int64_t t, int tz_minutes);
/* Inverse of imap_date_days. */
void imap_date_from_days(int64_t days, struct imap_date *date_r);

#endif
