/* metrics_http.c - the /metrics handler: snapshot of the counters, the daemon's gauges, process memory, one text. */
#include "metrics_http.h"

#include "http_server.h"
#include "net.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct metrics_http {
	metrics_collect_fn *collect;
	void *arg;
};

/* Resident and virtual size from /proc/self/statm (procfs: no disk wait). */
static void metrics_http_memory(struct metric_sample **v, size_t *n)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long long size = 0, resident = 0;
	if (!f)
		return;
	int got = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (got != 2)
		return;
	double page = (double)sysconf(_SC_PAGESIZE);
	metrics_gauge(v, n, "process_resident_memory_bytes", "Resident memory size in bytes.", NULL,
		      NULL, (double)resident * page);
	metrics_gauge(v, n, "process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL,
		      NULL, (double)size * page);
}

static int metrics_http_get(void *arg, const struct http_request *req, struct http_reply *reply)
{
	struct metrics_http *mh = arg;
	struct metric_sample *v = NULL;
	size_t n = 0;

	if (strcmp(req->path, "/metrics") != 0) {
		buf_append_str(&reply->body, "not found\n");
		return 404;
	}
	metrics_snapshot(&v, &n);
	if (mh->collect)
		mh->collect(mh->arg, &v, &n);
	metrics_gauge(&v, &n, "mail_connections_open", "Connections open now (all listeners).",
		      NULL, NULL, (double)net_conn_count());
	metrics_http_memory(&v, &n);
	bool om = strstr(req->accept, "application/openmetrics-text") != NULL;
	metrics_write(v, n, om, &reply->body);
	free(v);
	reply->content_type = om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
				 : "text/plain; version=0.0.4; charset=utf-8";
	return 200;
}

void metrics_http_route(struct http_server *s, metrics_collect_fn *collect, void *arg)
{
	/* One per process, alive until exit (the route may outlive a stopped server's loop). */
	static struct metrics_http mh;
	mh.collect = collect;
	mh.arg = arg;
	http_server_route(s, "GET", "/metrics", metrics_http_get, &mh);
}
