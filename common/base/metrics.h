/* metrics.h - the one home of the daemons' counters and histograms (atomics bumped where events happen) and their OpenMetrics text. */
#ifndef MAIL_METRICS_H
#define MAIL_METRICS_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Every family either daemon counts; names, help and label names are in metrics.c's table
 * (README "Monitoring" lists them). Label values are short fixed words chosen by the code
 * (a reason, a command name from the dispatch table), never client text. */
enum metric_family {
	MET_CONNECTIONS,       /* {listener} connections accepted */
	MET_AUTH_FAILURES,     /* {service} failed logins (SMTP AUTH, IMAP) */
	MET_DNS_LOOKUPS,       /* {type,result} */
	MET_SMTP_SESSIONS,     /* SMTP sessions started (mailctl stats: sessions_total) */
	MET_MESSAGES_ACCEPTED, /* messages queued (250 after DATA) */
	MET_MESSAGES_REJECTED, /* {reason} messages refused at or after DATA */
	MET_RCPT_REJECTED,     /* {reason} recipients refused at RCPT */
	MET_DELIVERIES,        /* {status,destination} recipient outcomes */
	MET_RELAY_TLS,         /* {outcome} outbound sessions: tls, plaintext, failed */
	MET_RELAY_TLS_RESULTS, /* {policy_type,result} TLS-RPT's counts (mta/tlsrpt.h) */
	MET_MILTER_VERDICTS,   /* {verdict} */
	MET_MILTER_SECONDS,    /* histogram: time from a milter request to its reply */
	MET_IMAP_SESSIONS,     /* IMAP sessions started */
	MET_IMAP_COMMAND_SECONDS, /* {command} histogram: from the command's line to its tagged reply */
	MET_NFAMILIES
};

/* Which daemon shows a family with no series yet (as 0). */
#define METRICS_MTAD  1u
#define METRICS_IMAPD 2u

/* Before counting: which families this process shows (METRICS_MTAD or METRICS_IMAPD). */
void metrics_init(unsigned daemon);

/* Adds n to the series of family f with label values v1, v2 (NULL where the family has
 * fewer labels). Thread-safe and lock-free once the series exists. */
void metric_add(enum metric_family f, const char *v1, const char *v2, uint64_t n);
static inline void metric_inc(enum metric_family f, const char *v1, const char *v2)
{
	metric_add(f, v1, v2, 1);
}
/* A histogram observation in seconds. */
void metric_observe(enum metric_family f, const char *v1, const char *v2, double seconds);

/* A counter's value: one series (v1, v2 as given), or with v1 NULL the sum of all series of
 * a family; v2 NULL also sums over the second label. Histograms: the observation count. */
uint64_t metric_value(enum metric_family f, const char *v1, const char *v2);

/* Histogram buckets: upper bounds in seconds; the +Inf bucket follows. */
#define METRIC_BUCKETS 11
extern const double metric_bucket_bounds[METRIC_BUCKETS];

/* One sample as the writer takes it. */
struct metric_sample {
	const char *family; /* counters without the _total suffix */
	enum metric_type type;
	const char *help;
	const char *label_names[2]; /* NULL-terminated early when fewer */
	const char *label_values[2];
	double value;                     /* counter, gauge */
	uint64_t buckets[METRIC_BUCKETS]; /* histogram: per bucket, not cumulative */
	uint64_t count;                   /* histogram: all observations (also +Inf) */
	double sum;                       /* histogram: seconds */
};

/* The text exposition of samples (pure): families in order of first appearance, each with
 * HELP and TYPE once, label values and help escaped. openmetrics: OpenMetrics 1.0 (TYPE
 * names counters without _total, "# EOF" at the end); else the Prometheus text format 0.0.4
 * (what promtool and plain curl get). */
void metrics_write(const struct metric_sample *samples, size_t n, bool openmetrics,
		   struct buf *out);

/* Appends a sample of every series this process has (and a 0 for its own label-less families)
 * to *v (grown with xrealloc; *n updated). */
void metrics_snapshot(struct metric_sample **v, size_t *n);

/* Appends one gauge sample (for values taken on the loop at scrape time); label names and
 * values are static strings, NULL for none. */
void metrics_gauge(struct metric_sample **v, size_t *n, const char *family, const char *help,
		   const char *label_name, const char *label_value, double value);
void metrics_gauge2(struct metric_sample **v, size_t *n, const char *family, const char *help,
		    const char *l1, const char *v1, const char *l2, const char *v2, double value);

#endif
