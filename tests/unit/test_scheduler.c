/* test_scheduler.c - the scheduler's pure arithmetic: how retries that came due during a restart are spread out. */
#include <criterion/criterion.h>

#include "scheduler.h"

Test(scheduler, recover_spread_starts_now)
{
	cr_assert_eq(scheduler_recover_spread(1000, 0, 100), 1000,
		     "the first overdue retry goes at once");
	cr_assert_eq(scheduler_recover_spread(1000, 99, 100), 1000);
	cr_assert_eq(scheduler_recover_spread(1000, 100, 100), 1001);
}

Test(scheduler, recover_spread_bounds_retries_per_second)
{
	/* 100,000 overdue retries: never more than 100 due in the same second, none skipped,
	 * the last one 1,000 s after the restart. */
	enum { N = 100000, RATE = 100 };
	static unsigned per_second[N / RATE + 1];
	int64_t now = 1700000000, last = now;
	for (size_t rank = 0; rank < N; rank++) {
		int64_t due = scheduler_recover_spread(now, rank, RATE);
		cr_assert_geq(due, last, "due times never go backwards");
		cr_assert_lt(due - now, N / RATE + 1);
		per_second[due - now]++;
		last = due;
	}
	for (size_t i = 0; i < N / RATE; i++)
		cr_assert_eq(per_second[i], RATE, "second %zu: %u retries", i, per_second[i]);
	cr_assert_eq(last - now, N / RATE - 1);
}

Test(scheduler, recover_spread_zero_rate_is_one_per_second)
{
	cr_assert_eq(scheduler_recover_spread(50, 3, 0), 53);
}
