/* tlsrpt_reporter.h - TLS-RPT (RFC 8460) in mtad: counts outbound TLS sessions per policy domain and UTC day under state_dir/tlsrpt, and sends the daily reports to each domain's rua (mail through our own queue, or HTTPS POST). */
#ifndef MAIL_TLSRPT_REPORTER_H
#define MAIL_TLSRPT_REPORTER_H

#include "tlsrpt.h"

struct mtad;
struct dns;
struct tlsrpt_reporter;

/* Loads the unsent periods of state_dir/tlsrpt (start-up, before the loop runs) and starts
 * the timers: the counts are written from the thread pool every few seconds, the reports
 * of finished days go out once a day (shortly after midnight UTC). */
struct tlsrpt_reporter *tlsrpt_reporter_new(struct mtad *m, struct dns *dns);
/* Writes the counts (the loop has stopped serving) and frees r when its timer has closed. */
void tlsrpt_reporter_free(struct tlsrpt_reporter **r);

/* Counts one session or policy failure (also in the metric mail_relay_tls_results). */
void tlsrpt_reporter_count(struct tlsrpt_reporter *r, const struct tlsrpt_event *ev);

/* Ends the current period now and sends the reports of every finished period (mailctl
 * tlsrpt send). done(arg, reports, errors, why) runs once, later; why is non-empty when
 * nothing was started (a run in progress, reports off). */
typedef void tlsrpt_sent_cb(void *arg, unsigned reports, unsigned errors, const char *why);
void tlsrpt_reporter_send(struct tlsrpt_reporter *r, tlsrpt_sent_cb *done, void *arg);

#endif
