/* metrics_http.h - serves the process's metrics (common/base/metrics.c) at /metrics of an HTTP listener. */
#ifndef MAIL_METRICS_HTTP_H
#define MAIL_METRICS_HTTP_H

#include "metrics.h"

#include <stddef.h>

struct http_server;

/* Appends the daemon's gauges taken at scrape time (on the loop: it may read loop state). */
typedef void metrics_collect_fn(void *arg, struct metric_sample **v, size_t *n);

/* Adds GET /metrics to s: the counters and histograms, what collect adds (may be NULL), and
 * the process's memory. OpenMetrics 1.0 when the Accept header asks for
 * application/openmetrics-text (Prometheus does), else the Prometheus text format 0.0.4. */
void metrics_http_route(struct http_server *s, metrics_collect_fn *collect, void *arg);

#endif
