/* test_dns.c - dns.c against a real dnsmasq on loopback, on a real libuv loop: MX, A/AAAA, failures. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"

#define DNSMASQ "/usr/sbin/dnsmasq"

static pid_t dnsmasq_pid = -1;
static uint16_t dnsmasq_port;
static uv_loop_t loop;
static struct dns *dns;
static int silent_fd = -1;  /* a UDP socket that never answers */
static uv_timer_t watchdog; /* bounds every wait */
static bool expired;

/* ---- dnsmasq ---- */

/* A port free for both UDP and TCP on 127.0.0.1 right now. */
static uint16_t free_port(void)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		socklen_t len = sizeof(sin);
		int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		cr_assert(u >= 0 && t >= 0);
		cr_assert_eq(bind(u, (struct sockaddr *)&sin, sizeof(sin)), 0);
		cr_assert_eq(getsockname(u, (struct sockaddr *)&sin, &len), 0);
		int ok = bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(u);
		close(t);
		if (ok)
			return ntohs(sin.sin_port);
	}
	cr_assert_fail("no free port");
	return 0;
}

/* A minimal DNS query packet for name/type. Returns its length. */
static size_t make_query(unsigned char *p, const char *name, unsigned type)
{
	size_t n = 0;
	const unsigned char hdr[12] = { 0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	memcpy(p, hdr, sizeof(hdr));
	n = sizeof(hdr);
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		p[n++] = (unsigned char)l;
		memcpy(p + n, name, l);
		n += l;
		name += l + (dot ? 1 : 0);
	}
	p[n++] = 0;
	p[n++] = 0;
	p[n++] = (unsigned char)type;
	p[n++] = 0;
	p[n++] = 1;
	return n;
}

/* True once dnsmasq answers a query on its port. */
static int dnsmasq_answers(uint16_t port)
{
	unsigned char q[512], r[512];
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	size_t n = make_query(q, "two.test", 15);
	int ok = 0;

	if (sendto(fd, q, n, 0, (struct sockaddr *)&sin, sizeof(sin)) == (ssize_t)n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 50) == 1 && recv(fd, r, sizeof(r), 0) > 12)
			ok = 1;
	}
	close(fd);
	return ok;
}

static void dnsmasq_start(void)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		char port_arg[32];
		dnsmasq_port = free_port();
		snprintf(port_arg, sizeof(port_arg), "--port=%u", dnsmasq_port);
		char *argv[] = {
			DNSMASQ,
			"--keep-in-foreground",
			"--no-resolv",
			"--no-hosts",
			"--conf-file=/dev/null",
			"--pid-file=",
			"--listen-address=127.0.0.1",
			"--bind-interfaces",
			port_arg,
			"--local=/test/",
			"--mx-host=two.test,mx1.two.test,10",
			"--mx-host=two.test,mx2.two.test,20",
			"--host-record=mx1.two.test,127.0.0.2",
			"--host-record=mx2.two.test,127.0.0.3,::1",
			"--host-record=nomx.test,127.0.0.4",
			"--mx-host=null.test,.,0",
			"--mx-host=eq.test,a.eq.test,10",
			"--mx-host=eq.test,b.eq.test,10",
			"--mx-host=eq.test,c.eq.test,10",
			"--host-record=a.eq.test,127.0.1.1",
			"--host-record=b.eq.test,127.0.1.2",
			"--host-record=c.eq.test,127.0.1.3",
			/* mx.refused is outside every local domain: dnsmasq, without upstream
			 * servers, answers REFUSED for it. */
			"--mx-host=mixed.test,mx.refused,10",
			"--mx-host=mixed.test,mx1.two.test,20",
			"--mx-host=allfail.test,mx.refused,10",
			"--mx-host=noaddr.test,gone.test,10",
			/* PTR: a.eq.test's host-record gives 127.0.1.1 a confirmed name; these
			 * point at a name without addresses and at one with other addresses. */
			"--ptr-record=9.9.9.127.in-addr.arpa,liar.test",
			"--ptr-record=8.9.9.127.in-addr.arpa,a.eq.test",
			"--cname=alias.test,mx1.two.test",
			"--mx-host=many.test,mx01.many.test,1",
			"--mx-host=many.test,mx02.many.test,2",
			"--mx-host=many.test,mx03.many.test,3",
			"--mx-host=many.test,mx04.many.test,4",
			"--mx-host=many.test,mx05.many.test,5",
			"--mx-host=many.test,mx06.many.test,6",
			"--mx-host=many.test,mx07.many.test,7",
			"--mx-host=many.test,mx08.many.test,8",
			"--mx-host=many.test,mx09.many.test,9",
			"--mx-host=many.test,mx10.many.test,10",
			"--mx-host=many.test,mx11.many.test,11",
			"--mx-host=many.test,mx12.many.test,12",
			"--host-record=mx01.many.test,127.0.2.1",
			"--host-record=mx02.many.test,127.0.2.2",
			"--host-record=mx03.many.test,127.0.2.3",
			"--host-record=mx04.many.test,127.0.2.4",
			"--host-record=mx05.many.test,127.0.2.5",
			"--host-record=mx06.many.test,127.0.2.6",
			"--host-record=mx07.many.test,127.0.2.7",
			"--host-record=mx08.many.test,127.0.2.8",
			"--host-record=mx09.many.test,127.0.2.9",
			"--host-record=mx10.many.test,127.0.2.10",
			"--host-record=mx11.many.test,127.0.2.11",
			"--host-record=mx12.many.test,127.0.2.12",
			NULL,
		};
		/* big.test: 40 long-named MX records, too many for a 512-byte UDP answer, so
		 * the resolver must retry over TCP. */
		char *args[200];
		static char big[80][96];
		size_t na = 0;
		for (char **a = argv; *a; a++)
			args[na++] = *a;
		for (int i = 0; i < 40; i++) {
			snprintf(big[2 * i], sizeof(big[0]),
				 "--mx-host=big.test,a-rather-long-exchanger-name-%02d.big.test,%d",
				 i, i);
			snprintf(big[2 * i + 1], sizeof(big[0]),
				 "--host-record=a-rather-long-exchanger-name-%02d.big.test,127.0.3."
				 "%d",
				 i, i + 1);
			args[na++] = big[2 * i];
			args[na++] = big[2 * i + 1];
		}
		args[na] = NULL;
		/* --keep-in-foreground rather than --no-daemon: the latter serves a TCP
		 * connection inside the main process and answers no UDP until it closes. */
		pid_t pid = fork();
		cr_assert(pid >= 0);
		if (pid == 0) {
			/* Dies with the test process, whatever happens to it. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			int null = open("/dev/null", O_RDWR);
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			execv(DNSMASQ, args);
			_exit(127);
		}
		dnsmasq_pid = pid;
		for (int i = 0; i < 100; i++) { /* at most ~5 s */
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				dnsmasq_pid = -1; /* lost a port race, or no dnsmasq */
				cr_assert(!(WIFEXITED(st) && WEXITSTATUS(st) == 127),
					  DNSMASQ " cannot be run");
				break;
			}
			if (dnsmasq_answers(dnsmasq_port))
				return;
		}
		if (dnsmasq_pid > 0) {
			kill(dnsmasq_pid, SIGKILL);
			waitpid(dnsmasq_pid, NULL, 0);
			dnsmasq_pid = -1;
		}
	}
	cr_assert_fail("dnsmasq did not start");
}

static void dnsmasq_stop(void)
{
	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
		dnsmasq_pid = -1;
	}
}

/* ---- loop helpers ---- */

static uint32_t zero_random(void *arg)
{
	(void)arg;
	return 0;
}

static struct dns *make_dns(uint16_t port, unsigned timeout_ms, unsigned tries)
{
	struct config_hostport hp = { .host = "127.0.0.1", .port = port };
	struct config_hostport_list servers = { &hp, 1 };
	struct dns_options opts = { .timeout_ms = timeout_ms,
				    .tries = tries,
				    .random = zero_random };
	char err[256] = "";
	struct dns *d = dns_new_opts(&loop, &servers, &opts, err, sizeof(err));
	cr_assert_not_null(d, "dns_new: %s", err);
	return d;
}

static void setup(void)
{
	cr_assert_eq(uv_loop_init(&loop), 0);
	uv_timer_init(&loop, &watchdog);
	dnsmasq_start();
	dns = make_dns(dnsmasq_port, 1000, 2);
}

static void teardown(void)
{
	dns_free(&dns);
	uv_close((uv_handle_t *)&watchdog, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (silent_fd >= 0) {
		close(silent_fd);
		silent_fd = -1;
	}
	dnsmasq_stop();
	/* Every handle of the resolver is closed and freed. */
	cr_assert_eq(uv_loop_close(&loop), 0, "handles left open on the loop");
}

TestSuite(dns, .init = setup, .fini = teardown, .timeout = 10);

/* What a callback saw. */
struct outcome {
	int calls;
	bool returned;  /* dns_lookup_* had returned when the callback ran */
	bool sync_call; /* the callback ran before dns_lookup_* returned */
	enum dns_status status;
	char error[800];
	char query[300];
	bool implicit_mx;
	struct dns_host hosts[DNS_MAX_MX];
	size_t n_hosts;
	struct dns **free_in_cb;  /* dns_free this from the callback */
	struct dns *relookup_dns; /* on DNS_CANCELLED, start a lookup on this resolver */
	int relookup_rc;          /* and what it returned */
};

static void on_result(const struct dns_result *res, void *arg)
{
	struct outcome *o = arg;
	o->calls++;
	if (!o->returned)
		o->sync_call = true;
	o->status = res->status;
	snprintf(o->error, sizeof(o->error), "%s", res->error);
	snprintf(o->query, sizeof(o->query), "%s", res->query);
	o->implicit_mx = res->implicit_mx;
	o->n_hosts = res->n_hosts;
	cr_assert_leq(res->n_hosts, DNS_MAX_MX);
	for (size_t i = 0; i < res->n_hosts; i++)
		o->hosts[i] = res->hosts[i];
	if (res->status == DNS_CANCELLED && o->relookup_dns)
		o->relookup_rc = dns_lookup_mx(o->relookup_dns, "two.test", on_result, o);
	if (o->free_in_cb)
		dns_free(o->free_in_cb);
}

static void on_ptr(const struct dns_ptr_result *res, void *arg)
{
	struct outcome *o = arg;
	o->calls++;
	if (!o->returned)
		o->sync_call = true;
	o->status = res->status;
	snprintf(o->error, sizeof(o->error), "%s", res->error);
	snprintf(o->query, sizeof(o->query), "%s", res->ptr_name);
	o->implicit_mx = res->confirmed; /* reused: the name is forward-confirmed */
}

static void lookup_ptr(const char *ip, struct outcome *o)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else {
		cr_assert_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
	}
	memset(o, 0, sizeof(*o));
	cr_assert_eq(dns_lookup_ptr(dns, (struct sockaddr *)&ss, on_ptr, o), 0);
	o->returned = true;
}

static void lookup_mx(const char *domain, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	cr_assert_eq(dns_lookup_mx(dns, domain, on_result, o), 0);
	o->returned = true;
}

static void lookup_host(const char *name, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	cr_assert_eq(dns_lookup_host(dns, name, on_result, o), 0);
	o->returned = true;
}

static void watchdog_cb(uv_timer_t *t)
{
	(void)t;
	expired = true;
}

/* Runs the loop until every outcome has been reported (or 5 s pass). */
static void wait_all(struct outcome *o, size_t n)
{
	expired = false;
	uv_timer_start(&watchdog, watchdog_cb, 5000, 0);
	for (;;) {
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += o[i].calls > 0;
		if (done == n || expired)
			break;
		uv_run(&loop, UV_RUN_ONCE);
	}
	uv_timer_stop(&watchdog);
	cr_assert_not(expired, "lookups did not finish in 5 s");
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(o[i].calls, 1, "callback ran %d times", o[i].calls);
		cr_assert_not(o[i].sync_call, "callback ran inside dns_lookup_*");
	}
}

/* "::1 127.0.0.3": the host's addresses in order. */
static const char *addrs(const struct dns_host *h)
{
	static char out[DNS_MAX_ADDRS * (INET6_ADDRSTRLEN + 1)];
	size_t off = 0;
	out[0] = '\0';
	for (size_t i = 0; i < h->n_addrs; i++) {
		char a[INET6_ADDRSTRLEN];
		const struct sockaddr_storage *ss = &h->addrs[i];
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
			cr_assert_eq(s4->sin_port, 0);
			inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		} else {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
			cr_assert_eq(ss->ss_family, AF_INET6);
			cr_assert_eq(s6->sin6_port, 0);
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		}
		off += (size_t)snprintf(out + off, sizeof(out) - off, "%s%s", i ? " " : "", a);
	}
	return out;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tests ---- */

Test(dns, mx_list_in_preference_order_with_both_families)
{
	struct outcome o;

	lookup_mx("two.test", &o);
	wait_all(&o, 1);
	cr_assert_eq(o.status, DNS_OK, "%s", o.error);
	cr_assert_str_eq(o.error, "");
	cr_assert_str_eq(o.query, "two.test");
	cr_assert_not(o.implicit_mx);
	cr_assert_eq(o.n_hosts, 2);
	cr_assert_str_eq(o.hosts[0].name, "mx1.two.test");
	cr_assert_eq(o.hosts[0].preference, 10);
	cr_assert_str_eq(addrs(&o.hosts[0]), "127.0.0.2");
	cr_assert_not(o.hosts[0].tempfail);
	cr_assert_str_eq(o.hosts[0].error, ""); /* no AAAA is not an error */
	cr_assert_str_eq(o.hosts[1].name, "mx2.two.test");
	cr_assert_eq(o.hosts[1].preference, 20);
	cr_assert_str_eq(addrs(&o.hosts[1]), "::1 127.0.0.3");
	cr_assert_not(o.hosts[1].tempfail);
	cr_assert_str_eq(o.hosts[1].error, "");
}

Test(dns, trailing_dot_is_the_same_domain)
{
	struct outcome o;

	lookup_mx("two.test.", &o);
	wait_all(&o, 1);
	cr_assert_eq(o.status, DNS_OK, "%s", o.error);
	cr_assert_str_eq(o.query, "two.test");
	cr_assert_eq(o.n_hosts, 2);
	cr_assert_str_eq(o.hosts[0].name, "mx1.two.test");
}

Test(dns, equal_preferences_use_the_injected_random_function)
{
	struct outcome o;

	lookup_mx("eq.test", &o);
	wait_all(&o, 1);
	cr_assert_eq(o.status, DNS_OK, "%s", o.error);
	cr_assert_eq(o.n_hosts, 3);
	/* Fisher-Yates with j = 0 over "a b c": "b c a" (see test_mx). */
	cr_assert_str_eq(o.hosts[0].name, "b.eq.test");
	cr_assert_str_eq(addrs(&o.hosts[0]), "127.0.1.2");
	cr_assert_str_eq(o.hosts[1].name, "c.eq.test");
	cr_assert_str_eq(addrs(&o.hosts[1]), "127.0.1.3");
	cr_assert_str_eq(o.hosts[2].name, "a.eq.test");
	cr_assert_str_eq(addrs(&o.hosts[2]), "127.0.1.1");
}

Test(dns, implicit_mx_when_the_domain_has_no_mx)
{
	struct outcome o;

	lookup_mx("nomx.test", &o);
	wait_all(&o, 1);
	cr_assert_eq(o.status, DNS_OK, "%s", o.error);
	cr_assert(o.implicit_mx);
	cr_assert_eq(o.n_hosts, 1);
	cr_assert_str_eq(o.hosts[0].name, "nomx.test");
	cr_assert_eq(o.hosts[0].preference, 0);
	cr_assert_str_eq(addrs(&o.hosts[0]), "127.0.0.4");
}

Test(dns, null_mx_nxdomain_and_nohost)
{
	struct outcome o[3];

	lookup_mx("null.test", &o[0]);
	lookup_mx("nx.test", &o[1]);
	lookup_mx("noaddr.test", &o[2]);
	wait_all(o, 3);

	cr_assert_eq(o[0].status, DNS_NULL_MX, "%s", dns_status_str(o[0].status));
	cr_assert(strstr(o[0].error, "null MX") != NULL, "%s", o[0].error);
	cr_assert_eq(o[0].n_hosts, 0);

	cr_assert_eq(o[1].status, DNS_NXDOMAIN, "%s", dns_status_str(o[1].status));
	cr_assert(strstr(o[1].error, "nx.test") != NULL, "%s", o[1].error);

	cr_assert_eq(o[2].status, DNS_NOHOST, "%s", dns_status_str(o[2].status));
	cr_assert_eq(o[2].n_hosts, 1);
	cr_assert_str_eq(o[2].hosts[0].name, "gone.test");
	cr_assert_eq(o[2].hosts[0].n_addrs, 0);
	cr_assert_not(o[2].hosts[0].tempfail);
	cr_assert_str_eq(o[2].hosts[0].error,
			 "A: Domain name not found; AAAA: Domain name not found");
	cr_assert(strstr(o[2].error, "gone.test") != NULL, "%s", o[2].error);
}

Test(dns, refused_is_a_temporary_failure)
{
	struct outcome o;

	lookup_mx("refused.example", &o);
	wait_all(&o, 1);
	cr_assert_eq(o.status, DNS_TEMPFAIL, "%s", dns_status_str(o.status));
	cr_assert(strstr(o.error, "refused.example") != NULL, "%s", o.error);
}

Test(dns, exchanger_with_failed_address_lookup_is_kept_and_flagged)
{
	struct outcome o[2];

	lookup_mx("mixed.test", &o[0]);
	lookup_mx("allfail.test", &o[1]);
	wait_all(o, 2);

	cr_assert_eq(o[0].status, DNS_OK, "%s", o[0].error);
	cr_assert_eq(o[0].n_hosts, 2);
	cr_assert_str_eq(o[0].hosts[0].name, "mx.refused");
	cr_assert_eq(o[0].hosts[0].n_addrs, 0);
	cr_assert(o[0].hosts[0].tempfail);
	cr_assert_neq(o[0].hosts[0].error[0], '\0');
	cr_assert_str_eq(o[0].hosts[1].name, "mx1.two.test");
	cr_assert_str_eq(addrs(&o[0].hosts[1]), "127.0.0.2");
	cr_assert_not(o[0].hosts[1].tempfail);

	cr_assert_eq(o[1].status, DNS_TEMPFAIL, "%s", dns_status_str(o[1].status));
	cr_assert_eq(o[1].n_hosts, 1);
	cr_assert(o[1].hosts[0].tempfail);
	cr_assert(strstr(o[1].error, "mx.refused") != NULL, "%s", o[1].error);
}

Test(dns, mx_hosts_are_capped)
{
	struct outcome o;

	lookup_mx("many.test", &o);
	wait_all(&o, 1);
	cr_assert_eq(o.status, DNS_OK, "%s", o.error);
	cr_assert_eq(o.n_hosts, DNS_MAX_MX);
	for (size_t i = 0; i < DNS_MAX_MX; i++) {
		char name[32], addr[32];
		snprintf(name, sizeof(name), "mx%02zu.many.test", i + 1);
		snprintf(addr, sizeof(addr), "127.0.2.%zu", i + 1);
		cr_assert_str_eq(o.hosts[i].name, name);
		cr_assert_eq(o.hosts[i].preference, i + 1);
		cr_assert_str_eq(addrs(&o.hosts[i]), addr);
	}
}

Test(dns, truncated_answer_is_retried_over_tcp)
{
	struct outcome o;

	lookup_mx("big.test", &o);
	wait_all(&o, 1);
	cr_assert_eq(o.status, DNS_OK, "%s", o.error);
	cr_assert_eq(o.n_hosts, DNS_MAX_MX);
	for (size_t i = 0; i < DNS_MAX_MX; i++) {
		char name[64], addr[32];
		snprintf(name, sizeof(name), "a-rather-long-exchanger-name-%02zu.big.test", i);
		snprintf(addr, sizeof(addr), "127.0.3.%zu", i + 1);
		cr_assert_str_eq(o.hosts[i].name, name);
		cr_assert_str_eq(addrs(&o.hosts[i]), addr);
	}
}

Test(dns, invalid_names_and_literals_report_through_the_callback)
{
	struct outcome o[4];

	lookup_mx("a..test", &o[0]);
	lookup_mx("[192.0.2.7]", &o[1]);
	lookup_mx("[IPv6:2001:db8::1]", &o[2]);
	lookup_mx("[not an address]", &o[3]);
	wait_all(o, 4);

	cr_assert_eq(o[0].status, DNS_NXDOMAIN);
	cr_assert(strstr(o[0].error, "empty label") != NULL, "%s", o[0].error);
	cr_assert_eq(o[1].status, DNS_OK, "%s", o[1].error);
	cr_assert_eq(o[1].n_hosts, 1);
	cr_assert_str_eq(addrs(&o[1].hosts[0]), "192.0.2.7");
	cr_assert_eq(o[2].status, DNS_OK, "%s", o[2].error);
	cr_assert_str_eq(addrs(&o[2].hosts[0]), "2001:db8::1");
	cr_assert_eq(o[3].status, DNS_NXDOMAIN);
}

Test(dns, host_lookups)
{
	struct outcome o[6];

	lookup_host("mx2.two.test", &o[0]);
	lookup_host("alias.test", &o[1]);
	lookup_host("nope.test", &o[2]);
	lookup_host("192.0.2.1", &o[3]);
	lookup_host("[2001:db8::5]", &o[4]);
	lookup_host("smarthost.refused", &o[5]);
	wait_all(o, 6);

	cr_assert_eq(o[0].status, DNS_OK, "%s", o[0].error);
	cr_assert_eq(o[0].n_hosts, 1);
	cr_assert_str_eq(o[0].hosts[0].name, "mx2.two.test");
	cr_assert_str_eq(addrs(&o[0].hosts[0]), "::1 127.0.0.3");

	cr_assert_eq(o[1].status, DNS_OK, "%s", o[1].error); /* through the CNAME */
	cr_assert_str_eq(addrs(&o[1].hosts[0]), "127.0.0.2");

	cr_assert_eq(o[2].status, DNS_NOHOST, "%s", dns_status_str(o[2].status));
	cr_assert_not(o[2].hosts[0].tempfail);

	cr_assert_eq(o[3].status, DNS_OK);
	cr_assert_str_eq(addrs(&o[3].hosts[0]), "192.0.2.1");
	cr_assert_eq(o[4].status, DNS_OK);
	cr_assert_str_eq(addrs(&o[4].hosts[0]), "2001:db8::5");

	cr_assert_eq(o[5].status, DNS_TEMPFAIL, "%s", dns_status_str(o[5].status));
	cr_assert(o[5].hosts[0].tempfail);
}

Test(dns, many_concurrent_lookups)
{
	struct outcome o[40];

	for (int i = 0; i < 40; i++)
		lookup_mx(i % 2 ? "two.test" : "nomx.test", &o[i]);
	wait_all(o, 40);
	for (int i = 0; i < 40; i++) {
		cr_assert_eq(o[i].status, DNS_OK, "%d: %s", i, o[i].error);
		cr_assert_eq(o[i].n_hosts, i % 2 ? 2u : 1u);
	}
}

/* A loopback UDP port with a socket that reads nothing: queries to it time out. */
static uint16_t silent_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	silent_fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert(silent_fd >= 0);
	cr_assert_eq(bind(silent_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(silent_fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

Test(dns, timeout_is_a_temporary_failure)
{
	struct outcome o[2];

	dns_free(&dns);
	dns = make_dns(silent_port(), 300, 1);
	double t0 = now_s();
	lookup_mx("two.test", &o[0]);
	lookup_host("mx1.two.test", &o[1]);
	wait_all(o, 2);
	double elapsed = now_s() - t0;

	cr_assert_eq(o[0].status, DNS_TEMPFAIL, "%s", dns_status_str(o[0].status));
	cr_assert(strstr(o[0].error, "Timeout") != NULL, "%s", o[0].error);
	cr_assert_eq(o[1].status, DNS_TEMPFAIL, "%s", dns_status_str(o[1].status));
	cr_assert(o[1].hosts[0].tempfail);
	cr_assert(elapsed >= 0.25 && elapsed < 2.0, "took %.3f s", elapsed);
}

Test(dns, unreachable_server_is_a_temporary_failure)
{
	struct outcome o;

	dns_free(&dns);
	dns = make_dns(free_port(), 300, 1); /* nothing listens there */
	lookup_mx("two.test", &o);
	wait_all(&o, 1);
	cr_assert_eq(o.status, DNS_TEMPFAIL, "%s", dns_status_str(o.status));
}

Test(dns, free_cancels_outstanding_lookups_once)
{
	struct outcome o[4];
	struct dns *d;

	dns_free(&dns);
	dns = d = make_dns(silent_port(), 5000, 1);
	lookup_mx("two.test", &o[0]);
	lookup_mx("nomx.test", &o[1]);
	lookup_host("mx1.two.test", &o[2]);
	uv_run(&loop, UV_RUN_NOWAIT);    /* queries out, sockets watched */
	lookup_host("192.0.2.1", &o[3]); /* finished, not yet reported */
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(o[i].calls, 0);
		o[i].relookup_dns = d;
	}

	dns_free(&dns);
	cr_assert_null(dns);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(o[i].calls, 1, "lookup %d: %d callbacks", i, o[i].calls);
		cr_assert_eq(o[i].status, DNS_CANCELLED);
		cr_assert_eq(o[i].n_hosts, 0);
		cr_assert_eq(o[i].relookup_rc, -1, "a lookup during dns_free was accepted");
	}
	/* The handles close on the loop; teardown checks that none is left. */
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(o[i].calls, 1);
}

Test(dns, free_from_a_callback_cancels_the_rest)
{
	struct outcome o[2];

	/* One resolver: the literal finishes first, its callback frees the resolver while the
	 * other lookup waits on a server that never answers. */
	dns_free(&dns);
	dns = make_dns(silent_port(), 5000, 1);
	lookup_host("127.0.0.9", &o[0]);
	lookup_mx("two.test", &o[1]);
	o[0].free_in_cb = &dns;
	wait_all(o, 2);
	cr_assert_eq(o[0].status, DNS_OK);
	cr_assert_eq(o[1].status, DNS_CANCELLED);
	cr_assert_null(dns);
}

Test(dns, bad_server_address_is_a_configuration_error)
{
	struct config_hostport hp = { .host = "dns.example", .port = 53 };
	struct config_hostport_list servers = { &hp, 1 };
	char err[256] = "";

	cr_assert_null(dns_new(&loop, &servers, err, sizeof(err)));
	cr_assert_str_eq(err, "dns_servers: dns.example is not an IP address");
}

Test(dns, empty_server_list_uses_the_system_resolver)
{
	struct config_hostport_list none = { NULL, 0 };
	char err[256] = "";
	struct dns *d = dns_new(&loop, &none, err, sizeof(err));

	cr_assert_not_null(d, "%s", err);
	dns_free(&d);
	cr_assert_null(d);
}

Test(dns, ptr_lookups_are_forward_confirmed)
{
	struct outcome o[5];

	lookup_ptr("127.0.1.1", &o[0]);
	lookup_ptr("::ffff:127.0.1.1", &o[1]); /* IPv4-mapped: the IPv4 PTR */
	lookup_ptr("127.9.9.9", &o[2]);
	lookup_ptr("127.9.9.8", &o[3]);
	lookup_ptr("127.9.9.7", &o[4]);
	wait_all(o, 5);

	for (int i = 0; i < 2; i++) {
		cr_assert_eq(o[i].status, DNS_OK, "%s", o[i].error);
		cr_assert_str_eq(o[i].query, "a.eq.test");
		cr_assert(o[i].implicit_mx, "not confirmed: %s", o[i].error);
		cr_assert_str_eq(o[i].error, "");
	}
	/* A PTR name without addresses, and one whose addresses are others: not confirmed. */
	cr_assert_eq(o[2].status, DNS_OK, "%s", o[2].error);
	cr_assert_str_eq(o[2].query, "liar.test");
	cr_assert_not(o[2].implicit_mx);
	cr_assert_eq(o[3].status, DNS_OK, "%s", o[3].error);
	cr_assert_str_eq(o[3].query, "a.eq.test");
	cr_assert_not(o[3].implicit_mx);
	/* No PTR record at all. */
	cr_assert_neq(o[4].status, DNS_OK);
	cr_assert_str_eq(o[4].query, "");
	cr_assert_not(o[4].implicit_mx);
}

Test(dns, ptr_lookup_cancelled_by_free)
{
	struct outcome o;
	lookup_ptr("127.0.1.1", &o);
	dns_free(&dns);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.status, DNS_CANCELLED);
	cr_assert_str_eq(o.query, "");
}

static void sa_parse(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		return;
	}
	cr_assert_eq(inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)ss)->sin6_addr), 1, "%s", ip);
	ss->ss_family = AF_INET6;
}

Test(dns_pure, reverse_names)
{
	struct sockaddr_storage ss;
	char out[128];

	sa_parse("192.0.2.10", &ss);
	cr_assert_eq(dns_reverse_name((struct sockaddr *)&ss, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "10.2.0.192.in-addr.arpa");
	sa_parse("::ffff:192.0.2.10", &ss);
	cr_assert_eq(dns_reverse_name((struct sockaddr *)&ss, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "10.2.0.192.in-addr.arpa");
	sa_parse("2001:db8::567:89ab", &ss);
	cr_assert_eq(dns_reverse_name((struct sockaddr *)&ss, out, sizeof(out)), 0);
	cr_assert_str_eq(
		out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	/* Short buffers and other families are refused, never truncated. */
	cr_assert_eq(dns_reverse_name((struct sockaddr *)&ss, out, 72), -1);
	sa_parse("255.255.255.255", &ss);
	cr_assert_eq(dns_reverse_name((struct sockaddr *)&ss, out, 28), -1);
	cr_assert_eq(dns_reverse_name((struct sockaddr *)&ss, out, 29), 0);
	cr_assert_str_eq(out, "255.255.255.255.in-addr.arpa");
	ss.ss_family = AF_UNIX;
	cr_assert_eq(dns_reverse_name((struct sockaddr *)&ss, out, sizeof(out)), -1);
	cr_assert_eq(dns_reverse_name(NULL, out, sizeof(out)), -1);
}

Test(dns_pure, host_has_addr)
{
	struct dns_host h = { .name = "h.test" };
	struct sockaddr_storage ss;

	sa_parse("2001:db8::1", &h.addrs[0]);
	sa_parse("192.0.2.1", &h.addrs[1]);
	h.n_addrs = 2;
	((struct sockaddr_in *)&h.addrs[1])->sin_port = htons(25); /* ports do not matter */
	sa_parse("192.0.2.1", &ss);
	cr_assert(dns_host_has_addr(&h, (struct sockaddr *)&ss));
	sa_parse("::ffff:192.0.2.1", &ss); /* a dual-stack listener's view of an IPv4 client */
	cr_assert(dns_host_has_addr(&h, (struct sockaddr *)&ss));
	sa_parse("2001:db8::1", &ss);
	cr_assert(dns_host_has_addr(&h, (struct sockaddr *)&ss));
	sa_parse("2001:db8::2", &ss);
	cr_assert_not(dns_host_has_addr(&h, (struct sockaddr *)&ss));
	sa_parse("192.0.2.2", &ss);
	cr_assert_not(dns_host_has_addr(&h, (struct sockaddr *)&ss));
	h.n_addrs = 0;
	sa_parse("192.0.2.1", &ss);
	cr_assert_not(dns_host_has_addr(&h, (struct sockaddr *)&ss));
	cr_assert_not(dns_host_has_addr(NULL, (struct sockaddr *)&ss));
}
