/* fuzz_imap_date.c - libFuzzer target: IMAP date and date-time parsing; what parses formats and parses back to the same instant. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_date.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1);
	memcpy(s, data, size);
	struct imap_date d;
	if (imap_date_parse(s, size, &d) == 0) {
		assert(d.year >= 0 && d.year <= 9999 && d.month >= 1 && d.month <= 12);
		assert(d.day >= 1 && d.day <= 31);
		struct imap_date back;
		imap_date_from_days(imap_date_days(&d), &back);
		assert(back.year == d.year && back.month == d.month && back.day == d.day);
	}
	int64_t t;
	int tz;
	if (imap_datetime_parse(s, size, &t, &tz) == 0) {
		char out[IMAP_DATETIME_LEN];
		assert(tz > -6000 && tz < 6000);
		if (imap_datetime_format(t, tz, out)) {
			int64_t t2;
			int tz2;
			assert(strlen(out) == IMAP_DATETIME_LEN - 1);
			assert(imap_datetime_parse(out, strlen(out), &t2, &tz2) == 0);
			assert(t2 == t && tz2 == tz);
		}
	}
	free(s);
	return 0;
}
