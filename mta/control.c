/* control.c - the control socket: queue flush/hold/release/delete and live statistics for mailctl. */
#include "control.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "queue_file.h"
#include "mta_sts_client.h"
#include "relay.h"
#include "scheduler.h"
#include "tlsrpt_reporter.h"
#include "xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTROL_LINE_MAX 256

struct control_session {
	struct mtad *m;
	struct net_conn *conn;
	bool busy;
	bool gone;
	/* an operation on a message being delivered is retried a few times */
	enum scheduler_op op;
	char id[QUEUE_ID_MAX + 1];
	unsigned tries;
	uv_timer_t retry;
	bool retry_init;
};

static void control_op_done(void *arg, int status);

static void control_retry_fired(uv_timer_t *t)
{
	struct control_session *cs = t->data;
	scheduler_control(cs->m->sched, cs->op, cs->id, control_op_done, cs);
}

static void control_session_closed(uv_handle_t *h)
{
	free(h->data);
}

static void control_session_free(struct control_session *cs)
{
	if (cs->retry_init)
		uv_close((uv_handle_t *)&cs->retry, control_session_closed);
	else
		free(cs);
}

static void control_op_done(void *arg, int status)
{
	struct control_session *cs = arg;
	if (status == -EBUSY && !cs->gone && cs->tries++ < 100 && cs->m->sched) {
		if (!cs->retry_init) {
			uv_timer_init(cs->m->loop, &cs->retry);
			cs->retry.data = cs;
			cs->retry_init = true;
		}
		uv_timer_start(&cs->retry, control_retry_fired, 100, 0);
		return;
	}
	cs->busy = false;
	if (cs->gone) {
		control_session_free(cs);
		return;
	}
	if (status == 0)
		net_conn_printf(cs->conn, "OK\n");
	else if (status == -ENOENT)
		net_conn_printf(
			cs->conn,
			"ERR no such message in the queue (or being delivered right now)\n");
	else
		net_conn_printf(cs->conn, "ERR %s\n", strerror(-status));
	net_conn_close(cs->conn, "done");
}

/* mailctl tlsrpt send: the report run is over. */
static void control_tlsrpt_sent(void *arg, unsigned reports, unsigned errors, const char *why)
{
	struct control_session *cs = arg;
	cs->busy = false;
	if (cs->gone) {
		control_session_free(cs);
		return;
	}
	if (why[0])
		net_conn_printf(cs->conn, "ERR %s\n", why);
	else
		net_conn_printf(cs->conn, "reports: %u\nerrors: %u\nOK\n", reports, errors);
	net_conn_close(cs->conn, "done");
}

static void control_handle(struct control_session *cs, char *line)
{
	struct mtad *m = cs->m;
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (strcmp(line, "flush") == 0 && !arg) {
		scheduler_flush(m->sched);
		log_info("queue flush requested");
		net_conn_printf(cs->conn, "OK\n");
	} else if (strcmp(line, "stats") == 0 && !arg) {
		struct scheduler_stats st;
		scheduler_get_stats(m->sched, &st);
		net_conn_printf(cs->conn,
				"messages: %zu\nheld: %zu\nin_delivery: %zu\nconnections: %u\n"
				"sessions_total: %" PRIu64 "\naccepted: %" PRIu64
				"\nrejected: %" PRIu64 "\ndelivered: %" PRIu64
				"\ndeferred: %" PRIu64 "\nfailed: %" PRIu64
				"\ndelivered_last_minute: %" PRIu64 "\nOK\n",
				st.messages, st.held, st.busy, net_conn_count(),
				metric_value(MET_SMTP_SESSIONS, NULL, NULL),
				metric_value(MET_MESSAGES_ACCEPTED, NULL, NULL),
				metric_value(MET_MESSAGES_REJECTED, NULL, NULL), st.delivered,
				st.deferred, st.failed, st.delivered_last_minute);
	} else if ((strcmp(line, "hold") == 0 || strcmp(line, "release") == 0 ||
		    strcmp(line, "delete") == 0) &&
		   arg) {
		if (!queue_id_valid(arg)) {
			net_conn_printf(cs->conn, "ERR invalid queue id\n");
		} else {
			enum scheduler_op op = line[0] == 'h'   ? SCHEDULER_HOLD
					       : line[0] == 'r' ? SCHEDULER_RELEASE
								: SCHEDULER_DELETE;
			cs->busy = true;
			cs->op = op;
			snprintf(cs->id, sizeof(cs->id), "%s", arg);
			scheduler_control(m->sched, op, arg, control_op_done, cs);
			return;
		}
	} else if (strcmp(line, "tlsrpt") == 0 && arg && strcmp(arg, "send") == 0 && m->relay) {
		cs->busy = true;
		log_info("TLS-RPT reports requested");
		tlsrpt_reporter_send(relay_tlsrpt(m->relay), control_tlsrpt_sent, cs);
		return;
	} else if (strcmp(line, "mta-sts") == 0 && arg && strcmp(arg, "refresh") == 0 && m->relay) {
		net_conn_printf(cs->conn, "refreshing: %u\nOK\n",
				mta_sts_client_refresh(relay_mta_sts(m->relay), true));
	} else {
		net_conn_printf(cs->conn, "ERR unknown command\n");
	}
	net_conn_close(cs->conn, "done");
}

static void control_on_read(struct net_conn *c)
{
	struct control_session *cs = c->data;
	if (cs->busy)
		return;
	char *nl = memchr(c->in.data, '\n', c->in.len);
	if (!nl) {
		if (c->in.len > CONTROL_LINE_MAX) {
			net_conn_printf(c, "ERR line too long\n");
			net_conn_close(c, "bad request");
			buf_reset(&c->in);
		}
		return;
	}
	size_t len = (size_t)(nl - c->in.data);
	char line[CONTROL_LINE_MAX + 1];
	if (len > CONTROL_LINE_MAX)
		len = CONTROL_LINE_MAX;
	memcpy(line, c->in.data, len);
	line[len] = '\0';
	if (len && line[len - 1] == '\r')
		line[len - 1] = '\0';
	buf_reset(&c->in);
	control_handle(cs, line);
}

static void control_on_close(struct net_conn *c, const char *reason)
{
	(void)reason;
	struct control_session *cs = c->data;
	if (!cs)
		return;
	if (cs->busy) {
		cs->gone = true; /* freed when the operation completes */
		return;
	}
	control_session_free(cs);
}

static const struct net_conn_ops control_ops = {
	.on_read = control_on_read,
	.on_close = control_on_close,
};

static void control_accept(struct net_listener *l, struct net_conn *c)
{
	struct control_session *cs = xcalloc(1, sizeof(*cs));
	cs->m = l->data;
	cs->conn = c;
	c->data = cs;
	c->ops = &control_ops;
	net_conn_set_timeout(c, 30000);
}

int control_listen(struct mtad *m, const char *path, char *err, size_t errlen)
{
	return net_listen_unix(m->loop, path, 0600, "control", control_accept, m, &m->listeners,
			       err, errlen);
}
