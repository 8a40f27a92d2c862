/* milter.c - the milter client: per-session connections, stages in order, replies and modifications, timeouts, default action.
 * Security: a milter is a separate program that may be down, slow or broken; every packet goes
 * through milter_proto's checks and any fault ends in milter_default_action, never a crash. */
#include "milter.h"
#include "milter_proto.h"
#include "addr.h"
#include "deliver.h"
#include "log.h"
#include "mtad.h"
#include "net.h"
#include "rfc5322.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#define MILTER_WRITE_HIGH (256 * 1024) /* body sent without replies: wait above this */

enum milter_state {
	MILTER_S_IDLE, /* not connected yet */
	MILTER_S_CONNECTING,
	MILTER_S_OPTNEG, /* waiting for the option negotiation reply */
	MILTER_S_READY,
	MILTER_S_DONE,   /* accepted the connection: never called again */
	MILTER_S_FAILED, /* down, timed out or broke the protocol: the default action applies */
};

enum milter_stage {
	MILTER_STAGE_CONNECT,
	MILTER_STAGE_HELO,
	MILTER_STAGE_MAIL,
	MILTER_STAGE_RCPT,
	MILTER_STAGE_DATA,
	MILTER_STAGE_EOM,
};

static const char *const milter_stage_names[] = {
	"connect", "helo", "mail", "rcpt", "data", "eom"
};

/* Steps of the end-of-message stage for one milter. */
enum milter_eom_step {
	MILTER_EOM_DATA,
	MILTER_EOM_HEADERS,
	MILTER_EOM_EOH,
	MILTER_EOM_BODY,
	MILTER_EOM_EOB,
	MILTER_EOM_DONE,
};

struct milter {
	struct milter_set *set;
	char *spec;
	struct net_conn *conn;
	enum milter_state state;
	uint32_t version, actions, protocol;
	char *symlist[MILTER_M_NSTAGES];
	bool msg_accepted; /* accepted the message: skipped until the next MAIL */
	bool in_tx;        /* saw MAIL and the transaction is not over */
	bool data_sent;
	bool eob_done; /* answered end of message in the current stage */
	char waiting;  /* command whose reply is awaited, 0 when none */
};

struct milter_set {
	struct mtad *m;
	char name[80];
	struct milter *list;
	size_t n;
	/* the stage in flight */
	bool busy;
	enum milter_stage stage;
	size_t cur; /* the milter being driven */
	int step;   /* its progress through the stage */
	milter_done_cb cb;
	void *arg;
	struct milter_result res;
	bool finished; /* res is ready: deliver from the timer */
	char **macros; /* the stage's macros (copied) */
	char macro_cmd;
	enum milter_macro_stage macro_stage;
	struct buf packet; /* the stage's command packet */
	/* end of message */
	struct milter_mm {
		struct buf *msg;
		struct queue_envelope *env;
	} mmv, *mm;
	size_t hdr_pos; /* next header field (offset into the message) */
	size_t body_pos;
	struct buf newbody;
	bool newbody_set;
	bool discard;     /* DISCARD for the current transaction */
	uv_timer_t timer; /* delivers results on the loop; paces body writes */
};

static void milter_run(struct milter_set *ms);

/* ---- results ---- */

static void milter_set_reply(struct milter_set *ms, enum milter_verdict v, const char *text)
{
	ms->res.verdict = v;
	buf_reset(&ms->res.reply);
	if (text)
		buf_printf(&ms->res.reply, "%s\r\n", text);
}

/* The standard reply of a reject or tempfail at the current stage (a greeting can only be
 * 554 or 421). */
static void milter_std_reply(struct milter_set *ms, enum milter_verdict v)
{
	bool greeting = ms->stage == MILTER_STAGE_CONNECT;
	if (v == MILTER_REJECT)
		milter_set_reply(ms, v,
				 greeting                         ? "554 5.7.1 Access denied"
				 : ms->stage == MILTER_STAGE_RCPT ? "550 5.7.1 Recipient rejected"
								  : "550 5.7.1 Command rejected");
	else
		milter_set_reply(ms, v,
				 greeting ? "421 4.7.1 Service unavailable - try again later"
					  : "451 4.7.1 Service unavailable - try again later");
}

static void milter_default_result(struct milter_set *ms)
{
	switch (ms->m->cfg->milter_default_action) {
	case MILTER_ACTION_REJECT:
		milter_std_reply(ms, MILTER_REJECT);
		break;
	case MILTER_ACTION_TEMPFAIL:
		milter_std_reply(ms, MILTER_TEMPFAIL);
		break;
	case MILTER_ACTION_ACCEPT:
		break;
	}
}

/* ---- connections ---- */

static void milter_write(struct milter *mi, const struct buf *b)
{
	if (mi->conn && b->len)
		net_conn_write(mi->conn, b->data, b->len);
}

static void milter_close(struct milter *mi, bool quit)
{
	if (!mi->conn)
		return;
	if (quit && (mi->state == MILTER_S_READY || mi->state == MILTER_S_DONE) && !mi->waiting) {
		struct buf b;
		buf_init(&b);
		milter_put_packet(&b, MILTER_CMD_QUIT, NULL, 0);
		milter_write(mi, &b);
		buf_free(&b);
	}
	struct net_conn *c = mi->conn;
	mi->conn = NULL;
	c->data = NULL;
	if (c->connect_cb)
		return; /* still connecting: milter_connected sees data == NULL and lets it go */
	net_conn_close(c, quit ? "quit" : "milter error");
}

/* The milter broke down (unreachable, timeout, protocol error, closed). If it was being
 * driven, the stage goes on per milter_default_action. */
static void milter_fail(struct milter *mi, const char *why)
{
	struct milter_set *ms = mi->set;
	bool driven = ms->busy && !ms->finished && ms->cur < ms->n && &ms->list[ms->cur] == mi;
	log_warn("milter %s (%s): %s; default action %s", mi->spec, ms->name, why,
		 ms->m->cfg->milter_default_action == MILTER_ACTION_ACCEPT   ? "accept"
		 : ms->m->cfg->milter_default_action == MILTER_ACTION_REJECT ? "reject"
									     : "tempfail");
	mi->waiting = 0;
	mi->state = MILTER_S_FAILED;
	milter_close(mi, false);
	if (!driven)
		return;
	uv_timer_stop(&ms->timer); /* body pacing */
	milter_default_result(ms);
	if (ms->res.verdict != MILTER_CONTINUE) {
		ms->cur = ms->n; /* stop the stage */
	} else {
		ms->cur++;
		ms->step = 0;
	}
	milter_run(ms);
}

static void milter_wait(struct milter *mi, char cmd, uint64_t seconds)
{
	mi->waiting = cmd;
	if (mi->conn)
		net_conn_set_timeout(mi->conn, seconds * 1000);
}

static void milter_on_timeout(struct net_conn *c)
{
	struct milter *mi = c->data;
	if (!mi)
		return;
	milter_fail(mi, mi->waiting ? "timeout waiting for a reply" : "idle timeout");
}

static void milter_on_close(struct net_conn *c, const char *reason)
{
	struct milter *mi = c->data;
	if (!mi)
		return;
	mi->conn = NULL;
	c->data = NULL;
	char why[96];
	snprintf(why, sizeof(why), "connection closed (%s)", reason);
	milter_fail(mi, why);
}

static void milter_on_read(struct net_conn *c);

static const struct net_conn_ops milter_conn_ops = {
	.on_read = milter_on_read,
	.on_timeout = milter_on_timeout,
	.on_close = milter_on_close,
};

static void milter_connected(struct net_conn *c, int status)
{
	struct milter *mi = c->data;
	if (!mi) {
		if (status == 0)
			net_conn_close(c, "session gone"); /* given up meanwhile */
		return;
	}
	if (status < 0) {
		mi->conn = NULL;
		c->data = NULL;
		char why[128];
		snprintf(why, sizeof(why), "cannot connect: %s", uv_strerror(status));
		milter_fail(mi, why);
		return;
	}
	c->max_in = 2 * MILTER_PACKET_MAX;
	struct buf b;
	buf_init(&b);
	milter_put_optneg(&b, MILTER_VERSION, MILTER_ACTIONS_ALL, MILTER_P_OFFERED);
	milter_write(mi, &b);
	buf_free(&b);
	mi->state = MILTER_S_OPTNEG;
	milter_wait(mi, MILTER_CMD_OPTNEG, mi->set->m->cfg->milter_connect_timeout);
}

static void milter_connect(struct milter *mi)
{
	struct config_milter cm;
	const char *err;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (config_parse_milter(mi->spec, &cm, &err) < 0) {
		milter_fail(mi, err);
		return;
	}
	if (cm.family == AF_UNIX) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", cm.path);
	} else if (uv_ip4_addr(cm.host, cm.port, (struct sockaddr_in *)&ss) != 0 &&
		   uv_ip6_addr(cm.host, cm.port, (struct sockaddr_in6 *)&ss) != 0) {
		/* A host name: resolved here, once per session (milters are local services). */
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = cm.family;
		hints.ai_socktype = SOCK_STREAM;
		char port[8];
		snprintf(port, sizeof(port), "%u", cm.port);
		if (getaddrinfo(cm.host, port, &hints, &res) != 0 || !res) {
			milter_fail(mi, "cannot resolve the milter's host name");
			return;
		}
		memcpy(&ss, res->ai_addr, res->ai_addrlen);
		freeaddrinfo(res);
	}
	mi->state = MILTER_S_CONNECTING;
	mi->conn = net_connect(mi->set->m->loop, (struct sockaddr *)&ss,
			       mi->set->m->cfg->milter_connect_timeout * 1000, &milter_conn_ops, mi,
			       milter_connected);
}

/* ---- sending a stage ---- */

static bool milter_is_message_stage(enum milter_stage st)
{
	return st >= MILTER_STAGE_MAIL;
}

static void milter_send_macros(struct milter *mi, char cmd, enum milter_macro_stage mst)
{
	struct milter_set *ms = mi->set;
	if (!ms->macros)
		return;
	struct buf b;
	buf_init(&b);
	milter_put_macros(&b, cmd, (const char *const *)ms->macros, mi->symlist[mst]);
	milter_write(mi, &b);
	buf_free(&b);
}

/* The "no" and "no reply" protocol bits of a simple stage. */
static void milter_stage_bits(enum milter_stage st, uint32_t *no, uint32_t *noreply)
{
	static const uint32_t nos[] = { MILTER_P_NOCONNECT, MILTER_P_NOHELO, MILTER_P_NOMAIL,
					MILTER_P_NORCPT,    MILTER_P_NODATA, 0 };
	static const uint32_t nrs[] = { MILTER_P_NR_CONN, MILTER_P_NR_HELO, MILTER_P_NR_MAIL,
					MILTER_P_NR_RCPT, MILTER_P_NR_DATA, 0 };
	*no = nos[st];
	*noreply = nrs[st];
}

enum milter_go { MILTER_GO_WAIT, MILTER_GO_NEXT, MILTER_GO_STOP };

/* A milter that is down: the default action decides the stage. */
static enum milter_go milter_go_failed(struct milter_set *ms)
{
	milter_default_result(ms);
	return ms->res.verdict == MILTER_CONTINUE ? MILTER_GO_NEXT : MILTER_GO_STOP;
}

/* Sends the command of a simple stage (everything but EOM). */
static enum milter_go milter_go_simple(struct milter *mi)
{
	struct milter_set *ms = mi->set;
	uint32_t no, noreply;
	milter_stage_bits(ms->stage, &no, &noreply);
	if (ms->stage == MILTER_STAGE_DATA && mi->version < 4)
		no = ~0u; /* older milters have no DATA step */
	if (ms->stage == MILTER_STAGE_MAIL) {
		mi->msg_accepted = false;
		mi->data_sent = false;
		mi->in_tx = true;
	}
	if (ms->stage == MILTER_STAGE_DATA)
		mi->data_sent = true;
	if (mi->protocol & no)
		return MILTER_GO_NEXT;
	milter_send_macros(mi, ms->macro_cmd, ms->macro_stage);
	milter_write(mi, &ms->packet);
	if (mi->protocol & noreply)
		return MILTER_GO_NEXT;
	milter_wait(mi, ms->packet.data[4], ms->m->cfg->milter_command_timeout);
	return MILTER_GO_WAIT;
}

/* One step of the end-of-message stage for milter mi. */
static enum milter_go milter_go_eom(struct milter *mi)
{
	struct milter_set *ms = mi->set;
	const struct config *cfg = ms->m->cfg;
	struct buf *msg = ms->mm->msg;
	struct buf b;
	for (;;) {
		switch ((enum milter_eom_step)ms->step) {
		case MILTER_EOM_DATA:
			ms->step = MILTER_EOM_HEADERS;
			ms->hdr_pos = 0;
			ms->body_pos = SIZE_MAX;
			buf_reset(&ms->newbody);
			ms->newbody_set = false;
			if (!mi->data_sent) {
				mi->data_sent = true;
				if (mi->version >= 4 && !(mi->protocol & MILTER_P_NODATA)) {
					milter_send_macros(mi, MILTER_CMD_DATA, MILTER_M_DATA);
					buf_init(&b);
					milter_put_packet(&b, MILTER_CMD_DATA, NULL, 0);
					milter_write(mi, &b);
					buf_free(&b);
					if (!(mi->protocol & MILTER_P_NR_DATA)) {
						milter_wait(mi, MILTER_CMD_DATA,
							    cfg->milter_command_timeout);
						return MILTER_GO_WAIT;
					}
				}
			}
			break;
		case MILTER_EOM_HEADERS: {
			if (mi->protocol & MILTER_P_NOHDRS) {
				ms->step = MILTER_EOM_EOH;
				break;
			}
			size_t body;
			size_t hend = milter_header_block_end(msg->data, msg->len, &body);
			struct rfc5322_iter it;
			struct rfc5322_field f;
			rfc5322_iter_init(&it, msg->data, hend);
			it.pos = ms->hdr_pos;
			if (!rfc5322_iter_next(&it, &f)) {
				ms->step = MILTER_EOM_EOH;
				break;
			}
			ms->hdr_pos = f.end;
			const char *v = f.value;
			size_t vl = f.value_len;
			if (!(mi->protocol & MILTER_P_HDR_LEADSPC)) {
				while (vl && (*v == ' ' || *v == '\t')) {
					v++;
					vl--;
				}
			}
			struct buf val;
			buf_init(&val);
			milter_value_to_wire(&val, v, vl);
			buf_init(&b);
			milter_put_header(&b, f.name, f.name_len, val.data ? val.data : "",
					  val.len);
			milter_write(mi, &b);
			buf_free(&b);
			buf_free(&val);
			if (!(mi->protocol & MILTER_P_NR_HDR)) {
				milter_wait(mi, MILTER_CMD_HEADER, cfg->milter_command_timeout);
				return MILTER_GO_WAIT;
			}
			break;
		}
		case MILTER_EOM_EOH:
			ms->step = MILTER_EOM_BODY;
			if (!(mi->protocol & MILTER_P_NOEOH)) {
				buf_init(&b);
				milter_put_packet(&b, MILTER_CMD_EOH, NULL, 0);
				milter_write(mi, &b);
				buf_free(&b);
				if (!(mi->protocol & MILTER_P_NR_EOH)) {
					milter_wait(mi, MILTER_CMD_EOH,
						    cfg->milter_command_timeout);
					return MILTER_GO_WAIT;
				}
			}
			break;
		case MILTER_EOM_BODY: {
			if (mi->protocol & MILTER_P_NOBODY) {
				ms->step = MILTER_EOM_EOB;
				break;
			}
			if (ms->body_pos == SIZE_MAX)
				milter_header_block_end(msg->data, msg->len, &ms->body_pos);
			if (ms->body_pos >= msg->len) {
				ms->step = MILTER_EOM_EOB;
				break;
			}
			if (mi->conn && mi->conn->writing + mi->conn->out.len > MILTER_WRITE_HIGH)
				return MILTER_GO_WAIT; /* unanswered chunks: milter_run paces */
			size_t n = msg->len - ms->body_pos;
			if (n > MILTER_CHUNK_MAX)
				n = MILTER_CHUNK_MAX;
			buf_init(&b);
			milter_put_packet(&b, MILTER_CMD_BODY, msg->data + ms->body_pos, n);
			milter_write(mi, &b);
			buf_free(&b);
			ms->body_pos += n;
			if (!(mi->protocol & MILTER_P_NR_BODY)) {
				milter_wait(mi, MILTER_CMD_BODY, cfg->milter_command_timeout);
				return MILTER_GO_WAIT;
			}
			break;
		}
		case MILTER_EOM_EOB:
			ms->step = MILTER_EOM_DONE;
			milter_send_macros(mi, MILTER_CMD_BODYEOB, MILTER_M_EOM);
			buf_init(&b);
			milter_put_packet(&b, MILTER_CMD_BODYEOB, NULL, 0);
			milter_write(mi, &b);
			buf_free(&b);
			milter_wait(mi, MILTER_CMD_BODYEOB, cfg->milter_eom_timeout);
			return MILTER_GO_WAIT;
		case MILTER_EOM_DONE:
			return MILTER_GO_NEXT;
		}
	}
}

/* Drives the current milter one step: connect and negotiate first if needed. */
static enum milter_go milter_go(struct milter *mi)
{
	struct milter_set *ms = mi->set;
	switch (mi->state) {
	case MILTER_S_IDLE:
		if (ms->stage != MILTER_STAGE_CONNECT)
			return milter_go_failed(ms); /* cannot happen: connect runs first */
		milter_connect(mi);
		if (mi->state == MILTER_S_FAILED)
			return milter_go_failed(ms);
		return MILTER_GO_WAIT;
	case MILTER_S_CONNECTING:
	case MILTER_S_OPTNEG:
		return MILTER_GO_WAIT;
	case MILTER_S_FAILED:
		return milter_go_failed(ms);
	case MILTER_S_DONE:
		return MILTER_GO_NEXT;
	case MILTER_S_READY:
		break;
	}
	if (milter_is_message_stage(ms->stage) && mi->msg_accepted &&
	    ms->stage != MILTER_STAGE_MAIL)
		return MILTER_GO_NEXT;
	if (ms->stage == MILTER_STAGE_EOM)
		return milter_go_eom(mi);
	return milter_go_simple(mi);
}

static void milter_deliver(uv_timer_t *t)
{
	struct milter_set *ms = t->data;
	if (!ms->finished) {
		milter_run(ms); /* body pacing */
		return;
	}
	ms->finished = false;
	ms->busy = false;
	milter_done_cb cb = ms->cb;
	ms->cb = NULL;
	cb(ms->arg, &ms->res);
}

static void milter_stage_end(struct milter_set *ms)
{
	if (ms->stage == MILTER_STAGE_EOM) {
		/* Those that did not answer end of message (accepted or skipped early, or came after
		 * a reject) close the transaction with ABORT. */
		struct buf b;
		buf_init(&b);
		milter_put_packet(&b, MILTER_CMD_ABORT, NULL, 0);
		for (size_t i = 0; i < ms->n; i++) {
			struct milter *mi = &ms->list[i];
			if (mi->in_tx && !mi->eob_done && mi->state == MILTER_S_READY &&
			    !mi->waiting)
				milter_write(mi, &b);
			mi->in_tx = false;
			mi->msg_accepted = false;
			mi->data_sent = false;
			mi->eob_done = false;
		}
		buf_free(&b);
		ms->discard = false;
		ms->mm = NULL;
	}
	if (ms->res.verdict == MILTER_DISCARD) {
		if (ms->stage == MILTER_STAGE_EOM) {
			/* reported as is */
		} else if (ms->stage >= MILTER_STAGE_MAIL) {
			ms->discard = true;
			ms->res.verdict = MILTER_CONTINUE;
		} else {
			ms->res.verdict = MILTER_CONTINUE; /* meaningless before MAIL */
		}
	}
	ms->finished = true;
	uv_timer_start(&ms->timer, milter_deliver, 0, 0);
}

static void milter_run(struct milter_set *ms)
{
	while (ms->cur < ms->n) {
		struct milter *mi = &ms->list[ms->cur];
		if (mi->waiting)
			return; /* its reply drives the stage on */
		enum milter_go g = milter_go(mi);
		if (g == MILTER_GO_WAIT) {
			if (ms->stage == MILTER_STAGE_EOM && ms->step == MILTER_EOM_BODY &&
			    !mi->waiting && mi->state == MILTER_S_READY)
				uv_timer_start(&ms->timer, milter_deliver, 5, 0);
			return;
		}
		if (g == MILTER_GO_STOP)
			break;
		ms->cur++;
		ms->step = 0;
	}
	milter_stage_end(ms);
}

/* ---- replies ---- */

static void milter_next(struct milter *mi)
{
	struct milter_set *ms = mi->set;
	ms->cur++;
	ms->step = 0;
	milter_run(ms);
}

static void milter_stop(struct milter_set *ms)
{
	ms->cur = ms->n;
	milter_run(ms);
}

/* Strips <> around an address from a milter. */
static void milter_bare_addr(const char *s, char *out, size_t outlen)
{
	size_t n = strlen(s);
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), s);
}

static void milter_env_add(struct queue_envelope *env, const char *addr, const char *orig)
{
	for (size_t i = 0; i < env->nrcpts; i++)
		if (strcmp(env->rcpts[i].addr, addr) == 0)
			return;
	env->rcpts = xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
	struct queue_rcpt *r = &env->rcpts[env->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orig = orig && strcmp(orig, addr) != 0 ? xstrdup(orig) : NULL;
}

/* Adds a recipient as RCPT would (aliases, local accounts). Returns 0 or -1 with why. */
static int milter_add_rcpt(struct milter_set *ms, const char *spec, char *why, size_t whylen)
{
	const struct config *cfg = ms->m->cfg;
	struct queue_envelope *env = ms->mm->env;
	char bare[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	struct addr a;
	const char *err;
	milter_bare_addr(spec, bare, sizeof(bare));
	if (addr_parse_mailbox(bare, strlen(bare), ADDR_ALLOW_UTF8, &a, &err) < 0) {
		snprintf(why, whylen, "bad address: %s", err);
		return -1;
	}
	char text[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	addr_format(&a, text, sizeof(text));
	if (!config_is_local_domain(cfg, a.domain)) {
		if (env->nrcpts >= cfg->max_recipients) {
			snprintf(why, whylen, "too many recipients");
			return -1;
		}
		milter_env_add(env, text, NULL);
		return 0;
	}
	struct delivery_target *t = NULL;
	size_t nt = 0;
	if (delivery_resolve(cfg, ms->m->accounts, ms->m->aliases, &a, &t, &nt, why, whylen) !=
	    DELIVERY_OK) {
		free(t);
		return -1;
	}
	for (size_t i = 0; i < nt; i++) {
		if (env->nrcpts >= cfg->max_recipients) {
			snprintf(why, whylen, "too many recipients");
			free(t);
			return -1;
		}
		char f[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
		addr_format(&t[i].addr, f, sizeof(f));
		milter_env_add(env, f, text);
	}
	free(t);
	return 0;
}

static void milter_del_rcpt(struct milter_set *ms, const char *spec)
{
	struct queue_envelope *env = ms->mm->env;
	char bare[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
	milter_bare_addr(spec, bare, sizeof(bare));
	size_t j = 0;
	for (size_t i = 0; i < env->nrcpts; i++) {
		struct queue_rcpt *r = &env->rcpts[i];
		if (strcasecmp(r->addr, bare) == 0 || (r->orig && strcasecmp(r->orig, bare) == 0)) {
			free(r->addr);
			free(r->orig);
			free(r->last_error);
			continue;
		}
		env->rcpts[j++] = *r;
	}
	env->nrcpts = j;
}

/* Applies one modification action (after end of message). Returns 0 or -1 with *why. */
static int milter_modify(struct milter *mi, const struct milter_reply *r, const char **why)
{
	struct milter_set *ms = mi->set;
	const struct config *cfg = ms->m->cfg;
	struct buf *msg = ms->mm->msg;
	bool leadspc = mi->protocol & MILTER_P_HDR_LEADSPC;
	static const struct {
		char cmd;
		uint32_t flag;
	} need[] = {
		{ MILTER_R_ADDRCPT, MILTER_F_ADDRCPT },
		{ MILTER_R_ADDRCPT_PAR, MILTER_F_ADDRCPT_PAR },
		{ MILTER_R_DELRCPT, MILTER_F_DELRCPT },
		{ MILTER_R_CHGFROM, MILTER_F_CHGFROM },
		{ MILTER_R_ADDHEADER, MILTER_F_ADDHDRS },
		{ MILTER_R_INSHEADER, MILTER_F_ADDHDRS },
		{ MILTER_R_CHGHEADER, MILTER_F_CHGHDRS },
		{ MILTER_R_REPLBODY, MILTER_F_CHGBODY },
		{ MILTER_R_QUARANTINE, MILTER_F_QUARANTINE },
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (need[i].cmd == r->cmd && !(mi->actions & need[i].flag)) {
			*why = "modification not negotiated";
			return -1;
		}
	}
	const char *id = ms->mm->env->id;
	switch (r->cmd) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
	case MILTER_R_CHGHEADER: {
		if (!milter_header_name_ok(r->s1)) {
			*why = "bad header field name";
			return -1;
		}
		struct buf v;
		buf_init(&v);
		milter_value_from_wire(&v, r->s2, strlen(r->s2));
		if (msg->len + v.len + strlen(r->s1) + 4 > cfg->max_message_size + 1024 * 1024) {
			buf_free(&v);
			*why = "message grows too large";
			return -1;
		}
		if (r->cmd == MILTER_R_CHGHEADER) {
			milter_header_change(msg, r->index, r->s1, v.data ? v.data : "", v.len,
					     leadspc);
			log_info("%s: milter %s: %s header %s", id, mi->spec,
				 v.len ? "changed" : "deleted", r->s1);
		} else {
			milter_header_insert(msg,
					     r->cmd == MILTER_R_INSHEADER ? r->index : UINT32_MAX,
					     r->s1, v.data ? v.data : "", v.len, leadspc);
			log_info("%s: milter %s: added header %s", id, mi->spec, r->s1);
		}
		buf_free(&v);
		return 0;
	}
	case MILTER_R_REPLBODY:
		if (ms->newbody.len + r->body_len > cfg->max_message_size) {
			*why = "replacement body too large";
			return -1;
		}
		ms->newbody_set = true;
		buf_append(&ms->newbody, r->body, r->body_len);
		return 0;
	case MILTER_R_ADDRCPT:
	case MILTER_R_ADDRCPT_PAR: {
		char err[256];
		if (milter_add_rcpt(ms, r->s1, err, sizeof(err)) < 0)
			log_warn("%s: milter %s: recipient %s not added: %s", id, mi->spec, r->s1,
				 err);
		else
			log_info("%s: milter %s: added recipient %s", id, mi->spec, r->s1);
		return 0;
	}
	case MILTER_R_DELRCPT:
		milter_del_rcpt(ms, r->s1);
		log_info("%s: milter %s: deleted recipient %s", id, mi->spec, r->s1);
		return 0;
	case MILTER_R_CHGFROM: {
		char bare[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
		struct addr a;
		const char *err;
		milter_bare_addr(r->s1, bare, sizeof(bare));
		if (addr_parse_mailbox(bare, strlen(bare), ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8, &a,
				       &err) < 0) {
			*why = "bad sender address";
			return -1;
		}
		char text[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];
		addr_format(&a, text, sizeof(text));
		free(ms->mm->env->sender);
		ms->mm->env->sender = xstrdup(text);
		log_info("%s: milter %s: sender changed to <%s>", id, mi->spec, text);
		return 0;
	}
	case MILTER_R_QUARANTINE:
		ms->mm->env->held = true;
		log_info("%s: milter %s: quarantined (held): %.200s", id, mi->spec, r->s1);
		return 0;
	default:
		*why = "unexpected reply";
		return -1;
	}
}

static bool milter_is_modification(char cmd)
{
	return strchr("+-2ehimbq", cmd) != NULL;
}

/* A reply that ends this milter's part of the stage (or the whole stage). */
static void milter_final(struct milter *mi, const struct milter_reply *r)
{
	struct milter_set *ms = mi->set;
	enum milter_stage st = ms->stage;
	const char *why = NULL;
	switch (r->cmd) {
	case MILTER_R_CONTINUE:
		break;
	case MILTER_R_ACCEPT:
		if (st == MILTER_STAGE_CONNECT || st == MILTER_STAGE_HELO)
			mi->state = MILTER_S_DONE;
		else if (st != MILTER_STAGE_EOM)
			mi->msg_accepted = true;
		break;
	case MILTER_R_REJECT:
		milter_std_reply(ms, MILTER_REJECT);
		break;
	case MILTER_R_TEMPFAIL:
		milter_std_reply(ms, MILTER_TEMPFAIL);
		break;
	case MILTER_R_DISCARD:
		if (st == MILTER_STAGE_CONNECT || st == MILTER_STAGE_HELO)
			mi->state = MILTER_S_DONE;
		else
			ms->res.verdict = MILTER_DISCARD;
		break;
	case MILTER_R_CONN_FAIL:
	case MILTER_R_SHUTDOWN: {
		char t[300];
		snprintf(t, sizeof(t), "421 4.7.0 %s closing connection", ms->m->cfg->hostname);
		milter_set_reply(ms, MILTER_SHUTDOWN, t);
		break;
	}
	case MILTER_R_REPLYCODE: {
		struct buf out;
		buf_init(&out);
		int code = milter_reply_format(r->s1, strlen(r->s1), &out, &why);
		if (code < 0) {
			buf_free(&out);
			milter_fail(mi, why);
			return;
		}
		ms->res.verdict = code >= 500 ? MILTER_REJECT : MILTER_TEMPFAIL;
		buf_reset(&ms->res.reply);
		buf_append(&ms->res.reply, out.data, out.len);
		buf_free(&out);
		break;
	}
	}
	if (st == MILTER_STAGE_EOM && (r->cmd == MILTER_R_CONTINUE || r->cmd == MILTER_R_ACCEPT) &&
	    ms->newbody_set) {
		milter_body_replace(ms->mm->msg, ms->newbody.data ? ms->newbody.data : "",
				    ms->newbody.len);
		log_info("%s: milter %s: replaced the body", ms->mm->env->id, mi->spec);
		buf_free(&ms->newbody);
		ms->newbody_set = false;
	}
	if (ms->res.verdict == MILTER_CONTINUE) {
		milter_next(mi);
		return;
	}
	if (ms->res.verdict != MILTER_SHUTDOWN)
		log_info("milter %s (%s): %s at %s", mi->spec, ms->name,
			 ms->res.verdict == MILTER_DISCARD ? "discard" : "reject",
			 milter_stage_names[st]);
	milter_stop(ms);
}

static void milter_reply(struct milter *mi, char cmd, const char *data, size_t len)
{
	struct milter_set *ms = mi->set;
	struct milter_reply r;
	const char *why = NULL;
	char waited = mi->waiting;
	if (!waited) {
		milter_fail(mi, "reply without a command");
		return;
	}
	if (waited == MILTER_CMD_OPTNEG) {
		struct milter_optneg o;
		if (cmd != MILTER_R_OPTNEG) {
			milter_fail(mi, "no option negotiation reply");
			return;
		}
		if (milter_optneg_decode(data, len, MILTER_ACTIONS_ALL, MILTER_P_OFFERED, &o,
					 &why) < 0) {
			milter_fail(mi, why);
			return;
		}
		mi->version = o.version;
		mi->actions = o.actions;
		mi->protocol = o.protocol;
		for (int i = 0; i < MILTER_M_NSTAGES; i++) {
			free(mi->symlist[i]);
			mi->symlist[i] = o.symlist[i] ? xstrdup(o.symlist[i]) : NULL;
		}
		mi->waiting = 0;
		net_conn_set_timeout(mi->conn, 0);
		mi->state = MILTER_S_READY;
		log_debug("milter %s: version %u actions 0x%x protocol 0x%x", mi->spec, o.version,
			  o.actions, o.protocol);
		milter_run(ms);
		return;
	}
	if (milter_reply_decode(cmd, data, len, &r, &why) < 0) {
		milter_fail(mi, why);
		return;
	}
	if (cmd == MILTER_R_PROGRESS) {
		milter_wait(mi, waited,
			    waited == MILTER_CMD_BODYEOB ? ms->m->cfg->milter_eom_timeout
							 : ms->m->cfg->milter_command_timeout);
		return;
	}
	if (milter_is_modification(cmd)) {
		if (waited != MILTER_CMD_BODYEOB) {
			milter_fail(mi, "modification before end of message");
			return;
		}
		if (milter_modify(mi, &r, &why) < 0)
			milter_fail(mi, why);
		return;
	}
	mi->waiting = 0;
	if (mi->conn)
		net_conn_set_timeout(mi->conn, 0);
	if (waited == MILTER_CMD_BODYEOB)
		mi->eob_done = true;
	if (cmd == MILTER_R_SKIP) {
		if (waited == MILTER_CMD_BODY)
			ms->step = MILTER_EOM_EOB;
		milter_run(ms); /* elsewhere: taken as continue */
		return;
	}
	if (ms->stage == MILTER_STAGE_EOM && waited != MILTER_CMD_BODYEOB &&
	    (cmd == MILTER_R_CONTINUE)) {
		milter_run(ms); /* the next header, chunk or step */
		return;
	}
	milter_final(mi, &r);
}

static void milter_on_read(struct net_conn *c)
{
	while (c->data && c->in.len) {
		struct milter *mi = c->data;
		char cmd;
		const char *data, *why;
		size_t len, used;
		int r = milter_packet_next(c->in.data, c->in.len, MILTER_PACKET_MAX, &cmd, &data,
					   &len, &used, &why);
		if (r == 0)
			return;
		if (r < 0) {
			buf_reset(&c->in);
			milter_fail(mi, why);
			return;
		}
		/* Copied: handling may close the connection or write to it. */
		char *copy = xmalloc(len + 1);
		memcpy(copy, data, len);
		copy[len] = '\0';
		buf_consume(&c->in, used);
		milter_reply(mi, cmd, copy, len);
		free(copy);
	}
}

/* ---- the public stages ---- */

struct milter_set *milter_set_new(struct mtad *m, const struct config_strlist *specs,
				  const char *name)
{
	if (!specs || specs->n == 0)
		return NULL;
	struct milter_set *ms = xcalloc(1, sizeof(*ms));
	ms->m = m;
	snprintf(ms->name, sizeof(ms->name), "%s", name);
	ms->n = specs->n;
	ms->list = xcalloc(ms->n, sizeof(*ms->list));
	for (size_t i = 0; i < ms->n; i++) {
		ms->list[i].set = ms;
		ms->list[i].spec = xstrdup(specs->items[i]);
	}
	buf_init(&ms->res.reply);
	buf_init(&ms->packet);
	buf_init(&ms->newbody);
	uv_timer_init(m->loop, &ms->timer);
	ms->timer.data = ms;
	return ms;
}

static void milter_free_macros(struct milter_set *ms)
{
	if (!ms->macros)
		return;
	for (size_t i = 0; ms->macros[i]; i++)
		free(ms->macros[i]);
	free(ms->macros);
	ms->macros = NULL;
}

static void milter_set_release(uv_handle_t *h)
{
	struct milter_set *ms = h->data;
	for (size_t i = 0; i < ms->n; i++) {
		free(ms->list[i].spec);
		for (int k = 0; k < MILTER_M_NSTAGES; k++)
			free(ms->list[i].symlist[k]);
	}
	free(ms->list);
	milter_free_macros(ms);
	buf_free(&ms->res.reply);
	buf_free(&ms->packet);
	buf_free(&ms->newbody);
	free(ms);
}

void milter_set_free(struct milter_set *ms)
{
	if (!ms)
		return;
	for (size_t i = 0; i < ms->n; i++)
		milter_close(&ms->list[i], true);
	ms->cb = NULL;
	if (uv_is_closing((uv_handle_t *)&ms->timer))
		return; /* the loop is being torn down: it owns the handle now */
	uv_close((uv_handle_t *)&ms->timer, milter_set_release);
}

/* Copies macros (pairs with a NULL value are kept out). */
static void milter_set_macros(struct milter_set *ms, const char *const *macros, char cmd,
			      enum milter_macro_stage mst)
{
	milter_free_macros(ms);
	ms->macro_cmd = cmd;
	ms->macro_stage = mst;
	if (!macros)
		return;
	size_t n = 0;
	while (macros[n])
		n += 2;
	ms->macros = xcalloc(n + 1, sizeof(char *));
	size_t j = 0;
	for (size_t i = 0; i < n; i += 2) {
		if (!macros[i + 1])
			continue;
		ms->macros[j++] = xstrdup(macros[i]);
		ms->macros[j++] = xstrdup(macros[i + 1]);
	}
}

static void milter_start(struct milter_set *ms, enum milter_stage st, milter_done_cb cb, void *arg)
{
	ms->busy = true;
	ms->finished = false;
	ms->stage = st;
	ms->cur = 0;
	ms->step = 0;
	ms->cb = cb;
	ms->arg = arg;
	ms->res.verdict = MILTER_CONTINUE;
	buf_reset(&ms->res.reply);
	if (ms->discard && st >= MILTER_STAGE_RCPT) {
		/* The message will be dropped: nobody needs to see more of it. */
		if (st == MILTER_STAGE_EOM)
			ms->res.verdict = MILTER_DISCARD;
		ms->cur = ms->n;
	}
	milter_run(ms);
}

void milter_stage_connect(struct milter_set *ms, const char *hostname, char family, uint16_t port,
			  const char *addr, const char *const *macros, milter_done_cb cb, void *arg)
{
	milter_set_macros(ms, macros, MILTER_CMD_CONNECT, MILTER_M_CONNECT);
	buf_reset(&ms->packet);
	milter_put_connect(&ms->packet, hostname, family, port, addr);
	milter_start(ms, MILTER_STAGE_CONNECT, cb, arg);
}

void milter_stage_helo(struct milter_set *ms, const char *helo, const char *const *macros,
		       milter_done_cb cb, void *arg)
{
	milter_set_macros(ms, macros, MILTER_CMD_HELO, MILTER_M_HELO);
	buf_reset(&ms->packet);
	milter_put_strings(&ms->packet, MILTER_CMD_HELO, &helo, 1);
	milter_start(ms, MILTER_STAGE_HELO, cb, arg);
}

void milter_stage_mail(struct milter_set *ms, const char *const *args, size_t nargs,
		       const char *const *macros, milter_done_cb cb, void *arg)
{
	ms->discard = false;
	milter_set_macros(ms, macros, MILTER_CMD_MAIL, MILTER_M_ENVFROM);
	buf_reset(&ms->packet);
	milter_put_strings(&ms->packet, MILTER_CMD_MAIL, args, nargs);
	milter_start(ms, MILTER_STAGE_MAIL, cb, arg);
}

void milter_stage_rcpt(struct milter_set *ms, const char *const *args, size_t nargs,
		       const char *const *macros, milter_done_cb cb, void *arg)
{
	milter_set_macros(ms, macros, MILTER_CMD_RCPT, MILTER_M_ENVRCPT);
	buf_reset(&ms->packet);
	milter_put_strings(&ms->packet, MILTER_CMD_RCPT, args, nargs);
	milter_start(ms, MILTER_STAGE_RCPT, cb, arg);
}

void milter_stage_data(struct milter_set *ms, const char *const *macros, milter_done_cb cb,
		       void *arg)
{
	milter_set_macros(ms, macros, MILTER_CMD_DATA, MILTER_M_DATA);
	buf_reset(&ms->packet);
	milter_put_packet(&ms->packet, MILTER_CMD_DATA, NULL, 0);
	milter_start(ms, MILTER_STAGE_DATA, cb, arg);
}

void milter_stage_eom(struct milter_set *ms, struct buf *msg, struct queue_envelope *env,
		      const char *const *macros, milter_done_cb cb, void *arg)
{
	milter_set_macros(ms, macros, MILTER_CMD_BODYEOB, MILTER_M_EOM);
	ms->mmv.msg = msg;
	ms->mmv.env = env;
	ms->mm = &ms->mmv;
	milter_start(ms, MILTER_STAGE_EOM, cb, arg);
}

void milter_abort(struct milter_set *ms)
{
	if (!ms || ms->busy)
		return;
	ms->discard = false;
	struct buf b;
	buf_init(&b);
	milter_put_packet(&b, MILTER_CMD_ABORT, NULL, 0);
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *mi = &ms->list[i];
		if (mi->in_tx && mi->state == MILTER_S_READY && !mi->waiting)
			milter_write(mi, &b);
		mi->in_tx = false;
		mi->msg_accepted = false;
		mi->data_sent = false;
	}
	buf_free(&b);
}

bool milter_discarding(const struct milter_set *ms)
{
	return ms && ms->discard;
}
