/* test_metrics.c - the metrics text writer (both formats, escaping, grouping, histograms) and the lock-free series. */
#include "metrics.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static char *test_write(const struct metric_sample *s, size_t n, bool om)
{
	struct buf b;
	buf_init(&b);
	metrics_write(s, n, om, &b);
	size_t len;
	return buf_steal(&b, &len);
}

Test(metrics, counter_prometheus_text_names_total_in_help_and_type)
{
	struct metric_sample s[] = {
		{ .family = "mail_messages_rejected",
		  .type = METRIC_COUNTER,
		  .help = "Messages refused.",
		  .label_names = { "reason" },
		  .label_values = { "size" },
		  .value = 3 },
		{ .family = "mail_connections_open",
		  .type = METRIC_GAUGE,
		  .help = "Open.",
		  .value = 2 },
		{ .family = "mail_messages_rejected",
		  .type = METRIC_COUNTER,
		  .help = "Messages refused.",
		  .label_names = { "reason" },
		  .label_values = { "milter" },
		  .value = 1 },
	};
	char *t = test_write(s, 3, false);
	cr_expect_str_eq(t, "# HELP mail_messages_rejected_total Messages refused.\n"
			    "# TYPE mail_messages_rejected_total counter\n"
			    "mail_messages_rejected_total{reason=\"size\"} 3\n"
			    "mail_messages_rejected_total{reason=\"milter\"} 1\n"
			    "# HELP mail_connections_open Open.\n"
			    "# TYPE mail_connections_open gauge\n"
			    "mail_connections_open 2\n");
	free(t);
}

Test(metrics, openmetrics_family_without_total_and_eof)
{
	struct metric_sample s[] = {
		{ .family = "mail_messages_accepted",
		  .type = METRIC_COUNTER,
		  .help = "Queued.",
		  .value = 7 },
	};
	char *t = test_write(s, 1, true);
	cr_expect_str_eq(t, "# HELP mail_messages_accepted Queued.\n"
			    "# TYPE mail_messages_accepted counter\n"
			    "mail_messages_accepted_total 7\n"
			    "# EOF\n");
	free(t);
}

Test(metrics, label_values_and_help_escaped)
{
	struct metric_sample s[] = {
		{ .family = "x",
		  .type = METRIC_GAUGE,
		  .help = "a\\b\nc",
		  .label_names = { "k", "l" },
		  .label_values = { "q\"u\\o\nte", "" },
		  .value = 0.5 },
	};
	char *t = test_write(s, 1, false);
	cr_expect_str_eq(t, "# HELP x a\\\\b\\nc\n"
			    "# TYPE x gauge\n"
			    "x{k=\"q\\\"u\\\\o\\nte\",l=\"\"} 0.5\n");
	free(t);
}

Test(metrics, histogram_buckets_cumulative_with_inf_sum_count)
{
	struct metric_sample s = { .family = "lat_seconds",
				   .type = METRIC_HISTOGRAM,
				   .help = "Latency.",
				   .label_names = { "command" },
				   .label_values = { "FETCH" },
				   .count = 4,
				   .sum = 7.25 };
	s.buckets[0] = 1; /* <= 0.001 */
	s.buckets[6] = 2; /* <= 0.1 */
	/* one more above the last bound: only in +Inf */
	char *t = test_write(&s, 1, false);
	cr_expect(strstr(t, "# TYPE lat_seconds histogram\n") != NULL, "%s", t);
	cr_expect(strstr(t, "lat_seconds_bucket{command=\"FETCH\",le=\"0.001\"} 1\n") != NULL, "%s",
		  t);
	cr_expect(strstr(t, "lat_seconds_bucket{command=\"FETCH\",le=\"0.05\"} 1\n") != NULL, "%s",
		  t);
	cr_expect(strstr(t, "lat_seconds_bucket{command=\"FETCH\",le=\"0.1\"} 3\n") != NULL, "%s",
		  t);
	cr_expect(strstr(t, "lat_seconds_bucket{command=\"FETCH\",le=\"5\"} 3\n") != NULL, "%s", t);
	cr_expect(strstr(t, "lat_seconds_bucket{command=\"FETCH\",le=\"+Inf\"} 4\n") != NULL, "%s",
		  t);
	cr_expect(strstr(t, "lat_seconds_sum{command=\"FETCH\"} 7.25\n") != NULL, "%s", t);
	cr_expect(strstr(t, "lat_seconds_count{command=\"FETCH\"} 4\n") != NULL, "%s", t);
	free(t);
}

static void *test_bump(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10000; i++) {
		metric_inc(MET_CONNECTIONS, i % 2 ? "smtp" : "imap", NULL);
		metric_observe(MET_IMAP_COMMAND_SECONDS, "NOOP", NULL, 0.002);
	}
	return NULL;
}

Test(metrics, series_from_many_threads_add_up_and_show_in_the_snapshot)
{
	metrics_init(METRICS_MTAD);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, test_bump, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(metric_value(MET_CONNECTIONS, "smtp", NULL), 20000);
	cr_expect_eq(metric_value(MET_CONNECTIONS, NULL, NULL), 40000);
	cr_expect_eq(metric_value(MET_IMAP_COMMAND_SECONDS, "NOOP", NULL), 40000);

	struct metric_sample *v = NULL;
	size_t n = 0;
	metrics_snapshot(&v, &n);
	char *t = test_write(v, n, false);
	cr_expect(strstr(t, "mail_connections_total{listener=\"smtp\"} 20000\n") != NULL, "%s", t);
	cr_expect(
		strstr(t,
		       "mail_imap_command_duration_seconds_bucket{command=\"NOOP\",le=\"0.0025\"} "
		       "40000\n") != NULL,
		"%s", t);
	/* mtad's label-less families show 0 before any event; imapd's do not. */
	cr_expect(strstr(t, "mail_messages_accepted_total 0\n") != NULL, "%s", t);
	cr_expect(strstr(t, "mail_imap_sessions_total") == NULL, "%s", t);
	free(t);
	free(v);
}
