/* metrics.c - the family table, lock-free series (atomics, never freed) and the pure text writer. */
#include "metrics.h"

#include "xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metric_family_desc {
	const char *name; /* counters without _total */
	enum metric_type type;
	unsigned daemons; /* METRICS_MTAD | METRICS_IMAPD: shown as 0 before any series exists */
	const char *labels[2];
	const char *help;
};

static const struct metric_family_desc metric_families[MET_NFAMILIES] = {
	[MET_CONNECTIONS] = { "mail_connections",
			      METRIC_COUNTER,
			      0,
			      { "listener" },
			      "Connections accepted, by listener." },
	[MET_AUTH_FAILURES] = { "mail_auth_failures",
				METRIC_COUNTER,
				0,
				{ "service" },
				"Failed logins (SMTP AUTH, IMAP LOGIN/AUTHENTICATE)." },
	[MET_DNS_LOOKUPS] = { "mail_dns_lookups",
			      METRIC_COUNTER,
			      0,
			      { "type", "result" },
			      "DNS lookups, by record type and result." },
	[MET_SMTP_SESSIONS] = { "mail_smtp_sessions",
				METRIC_COUNTER,
				METRICS_MTAD,
				{ NULL },
				"SMTP sessions started." },
	[MET_MESSAGES_ACCEPTED] = { "mail_messages_accepted",
				    METRIC_COUNTER,
				    METRICS_MTAD,
				    { NULL },
				    "Messages accepted into the queue (250 after DATA)." },
	[MET_MESSAGES_REJECTED] = { "mail_messages_rejected",
				    METRIC_COUNTER,
				    0,
				    { "reason" },
				    "Messages refused at or after DATA, by reason." },
	[MET_RCPT_REJECTED] = { "mail_recipients_rejected",
				METRIC_COUNTER,
				0,
				{ "reason" },
				"Recipients refused at RCPT, by reason." },
	[MET_DELIVERIES] = { "mail_deliveries",
			     METRIC_COUNTER,
			     0,
			     { "status", "destination" },
			     "Recipient delivery attempts, by outcome and destination class." },
	[MET_RELAY_TLS] = { "mail_relay_tls",
			    METRIC_COUNTER,
			    0,
			    { "outcome" },
			    "Outbound SMTP sessions, by TLS outcome." },
	[MET_RELAY_TLS_RESULTS] = { "mail_relay_tls_results",
				    METRIC_COUNTER,
				    0,
				    { "policy_type", "result" },
				    "Outbound TLS sessions and policy failures as TLS-RPT counts "
				    "them (RFC 8460): policy type and result type (or success)." },
	[MET_MILTER_VERDICTS] = { "mail_milter_verdicts",
				  METRIC_COUNTER,
				  0,
				  { "verdict" },
				  "Milter replies, by verdict." },
	[MET_MILTER_SECONDS] = { "mail_milter_duration_seconds",
				 METRIC_HISTOGRAM,
				 0,
				 { NULL },
				 "Time from a milter request to its reply." },
	[MET_IMAP_SESSIONS] = { "mail_imap_sessions",
				METRIC_COUNTER,
				METRICS_IMAPD,
				{ NULL },
				"IMAP sessions started." },
	[MET_IMAP_COMMAND_SECONDS] = { "mail_imap_command_duration_seconds",
				       METRIC_HISTOGRAM,
				       0,
				       { "command" },
				       "IMAP commands by name: time from the command to its "
				       "reply." },
};

const double metric_bucket_bounds[METRIC_BUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
						      0.1,   0.25,   0.5,   1,    5 };

/* One series. Immutable but for the atomics; linked at the head of its family's list. */
struct metric_series {
	struct metric_series *next;
	char *values[2];
	_Atomic uint64_t value; /* counter; histogram: count */
	_Atomic uint64_t buckets[METRIC_BUCKETS];
	_Atomic uint64_t sum_ns; /* histogram sum in nanoseconds */
};

static _Atomic(struct metric_series *) metric_heads[MET_NFAMILIES];
static pthread_mutex_t metric_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned metric_daemon;

void metrics_init(unsigned daemon)
{
	metric_daemon = daemon;
}

static bool metric_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static struct metric_series *metric_find(enum metric_family f, const char *v1, const char *v2)
{
	for (struct metric_series *s = atomic_load_explicit(&metric_heads[f], memory_order_acquire);
	     s; s = s->next)
		if (metric_eq(s->values[0], v1) && metric_eq(s->values[1], v2))
			return s;
	return NULL;
}

static struct metric_series *metric_series(enum metric_family f, const char *v1, const char *v2)
{
	const struct metric_family_desc *d = &metric_families[f];
	if (!d->labels[0])
		v1 = NULL;
	if (!d->labels[1])
		v2 = NULL;
	if (d->labels[0] && !v1)
		v1 = "";
	if (d->labels[1] && !v2)
		v2 = "";
	struct metric_series *s = metric_find(f, v1, v2);
	if (s)
		return s;
	pthread_mutex_lock(&metric_mu);
	s = metric_find(f, v1, v2);
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->values[0] = v1 ? xstrdup(v1) : NULL;
		s->values[1] = v2 ? xstrdup(v2) : NULL;
		s->next = atomic_load_explicit(&metric_heads[f], memory_order_relaxed);
		atomic_store_explicit(&metric_heads[f], s, memory_order_release);
	}
	pthread_mutex_unlock(&metric_mu);
	return s;
}

void metric_add(enum metric_family f, const char *v1, const char *v2, uint64_t n)
{
	atomic_fetch_add_explicit(&metric_series(f, v1, v2)->value, n, memory_order_relaxed);
}

void metric_observe(enum metric_family f, const char *v1, const char *v2, double seconds)
{
	struct metric_series *s = metric_series(f, v1, v2);
	size_t b = 0;
	while (b < METRIC_BUCKETS && seconds > metric_bucket_bounds[b])
		b++;
	if (b < METRIC_BUCKETS)
		atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
	if (seconds > 0)
		atomic_fetch_add_explicit(&s->sum_ns, (uint64_t)(seconds * 1e9),
					  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->value, 1, memory_order_relaxed);
}

uint64_t metric_value(enum metric_family f, const char *v1, const char *v2)
{
	uint64_t total = 0;
	for (struct metric_series *s = atomic_load_explicit(&metric_heads[f], memory_order_acquire);
	     s; s = s->next)
		if ((!v1 || metric_eq(s->values[0], v1)) && (!v2 || metric_eq(s->values[1], v2)))
			total += atomic_load_explicit(&s->value, memory_order_relaxed);
	return total;
}

static struct metric_sample *metrics_push(struct metric_sample **v, size_t *n)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	struct metric_sample *s = &(*v)[(*n)++];
	memset(s, 0, sizeof(*s));
	return s;
}

void metrics_snapshot(struct metric_sample **v, size_t *n)
{
	for (size_t f = 0; f < MET_NFAMILIES; f++) {
		const struct metric_family_desc *d = &metric_families[f];
		struct metric_series *head = atomic_load_explicit(&metric_heads[f],
								  memory_order_acquire);
		if (!head && (d->daemons & metric_daemon) && !d->labels[0]) {
			struct metric_sample *s = metrics_push(v, n);
			s->family = d->name;
			s->type = d->type;
			s->help = d->help;
			continue;
		}
		for (struct metric_series *m = head; m; m = m->next) {
			struct metric_sample *s = metrics_push(v, n);
			s->family = d->name;
			s->type = d->type;
			s->help = d->help;
			for (int i = 0; i < 2; i++) {
				s->label_names[i] = d->labels[i];
				s->label_values[i] = m->values[i];
			}
			uint64_t count = atomic_load_explicit(&m->value, memory_order_relaxed);
			if (d->type == METRIC_HISTOGRAM) {
				uint64_t in_buckets = 0;
				for (size_t b = 0; b < METRIC_BUCKETS; b++) {
					s->buckets[b] = atomic_load_explicit(&m->buckets[b],
									     memory_order_relaxed);
					in_buckets += s->buckets[b];
				}
				/* Read apart from the count: never report fewer than the buckets. */
				s->count = count < in_buckets ? in_buckets : count;
				s->sum = (double)atomic_load_explicit(&m->sum_ns,
								      memory_order_relaxed) /
					 1e9;
			} else {
				s->value = (double)count;
			}
		}
	}
}

void metrics_gauge2(struct metric_sample **v, size_t *n, const char *family, const char *help,
		    const char *l1, const char *v1, const char *l2, const char *v2, double value)
{
	struct metric_sample *s = metrics_push(v, n);
	s->family = family;
	s->type = METRIC_GAUGE;
	s->help = help;
	s->label_names[0] = l1;
	s->label_values[0] = v1;
	s->label_names[1] = l1 ? l2 : NULL;
	s->label_values[1] = v2;
	s->value = value;
}

void metrics_gauge(struct metric_sample **v, size_t *n, const char *family, const char *help,
		   const char *label_name, const char *label_value, double value)
{
	metrics_gauge2(v, n, family, help, label_name, label_value, NULL, NULL, value);
}

/* ---- the writer (pure) ---- */

static void metrics_escape(struct buf *out, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_append_str(out, "\\\\");
		else if (*s == '\n')
			buf_append_str(out, "\\n");
		else if (*s == '"' && quote)
			buf_append_str(out, "\\\"");
		else
			buf_append(out, s, 1);
	}
}

static void metrics_number(struct buf *out, double v)
{
	if (isnan(v))
		buf_append_str(out, "NaN");
	else if (isinf(v))
		buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		buf_printf(out, "%.0f", v);
	else
		buf_printf(out, "%.9g", v);
}

/* NAME{labels[,le="..."]} */
static void metrics_series_name(struct buf *out, const struct metric_sample *s, const char *suffix,
				const char *le)
{
	buf_append_str(out, s->family);
	buf_append_str(out, suffix);
	bool any = false;
	for (int i = 0; i < 2 && s->label_names[i]; i++) {
		buf_append_str(out, any ? "," : "{");
		any = true;
		buf_printf(out, "%s=\"", s->label_names[i]);
		metrics_escape(out, s->label_values[i] ? s->label_values[i] : "", true);
		buf_append_str(out, "\"");
	}
	if (le) {
		buf_append_str(out, any ? "," : "{");
		any = true;
		buf_printf(out, "le=\"%s\"", le);
	}
	if (any)
		buf_append_str(out, "}");
	buf_append_str(out, " ");
}

static void metrics_write_sample(struct buf *out, const struct metric_sample *s)
{
	if (s->type == METRIC_HISTOGRAM) {
		uint64_t cum = 0;
		char le[32];
		for (size_t b = 0; b < METRIC_BUCKETS; b++) {
			cum += s->buckets[b];
			snprintf(le, sizeof(le), "%g", metric_bucket_bounds[b]);
			metrics_series_name(out, s, "_bucket", le);
			buf_printf(out, "%llu\n", (unsigned long long)cum);
		}
		metrics_series_name(out, s, "_bucket", "+Inf");
		buf_printf(out, "%llu\n", (unsigned long long)(s->count > cum ? s->count : cum));
		metrics_series_name(out, s, "_sum", NULL);
		metrics_number(out, s->sum);
		buf_append_str(out, "\n");
		metrics_series_name(out, s, "_count", NULL);
		buf_printf(out, "%llu\n", (unsigned long long)(s->count > cum ? s->count : cum));
		return;
	}
	metrics_series_name(out, s, s->type == METRIC_COUNTER ? "_total" : "", NULL);
	metrics_number(out, s->value);
	buf_append_str(out, "\n");
}

void metrics_write(const struct metric_sample *samples, size_t n, bool openmetrics, struct buf *out)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	bool *done = xcalloc(n ? n : 1, sizeof(bool));

	for (size_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		const struct metric_sample *f = &samples[i];
		const char *suffix = f->type == METRIC_COUNTER && !openmetrics ? "_total" : "";
		buf_printf(out, "# HELP %s%s ", f->family, suffix);
		metrics_escape(out, f->help ? f->help : "", false);
		buf_printf(out, "\n# TYPE %s%s %s\n", f->family, suffix, types[f->type]);
		for (size_t j = i; j < n; j++) {
			if (done[j] || strcmp(samples[j].family, f->family) != 0)
				continue;
			done[j] = true;
			metrics_write_sample(out, &samples[j]);
		}
	}
	if (openmetrics)
		buf_append_str(out, "# EOF\n");
	free(done);
}
