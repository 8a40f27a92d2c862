/* main.c - mtad: load the configuration, open the queue, bind listeners, drop privileges (common/daemon.c), run the loop. */
#include "autoconfig.h"
#include "acme.h"
#include "config.h"
#include "daemon.h"
#include "control.h"
#include "deliver.h"
#include "fileutil.h"
#include "http_server.h"
#include "metrics_http.h"
#include "dns.h"
#include "log.h"
#include "mailbox_routes.h"
#include "maildrop.h"
#include "mta_sts.h"
#include "mtad.h"
#include "client_names.h"
#include "privilege.h"
#include "auth_cache.h"
#include "auth_throttle.h"
#include "relay.h"
#include "tls.h"
#include "scheduler.h"
#include "smtp_server.h"
#include "tables.h"
#include "xalloc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static struct mtad mtad;
static struct http_server *mtad_metrics; /* metrics_listen, when apart from http_listen */

/* Scrape time, on the loop: the queue by state and age. */
static void mtad_collect(void *arg, struct metric_sample **v, size_t *n)
{
	static const char *const states[] = { "waiting", "delivering", "held" };
	static const char *const ages[] = { "5m", "1h", "1d", "+Inf" };
	struct scheduler_stats st;
	(void)arg;
	if (!mtad.sched)
		return;
	scheduler_get_stats(mtad.sched, &st);
	for (int s = 0; s < 3; s++)
		for (int a = 0; a < 4; a++)
			metrics_gauge2(v, n, "mail_queue_messages",
				       "Messages in the queue, by state and age (younger than).",
				       "state", states[s], "age", ages[a], (double)st.by_age[s][a]);
	for (int s = 0; s < 3; s++)
		metrics_gauge2(v, n, "mail_queue_oldest_age_seconds",
			       "Age of the oldest message in the queue, by state.", "state",
			       states[s], NULL, NULL, (double)st.oldest[s]);
}

static void mtad_usage(FILE *f)
{
	fprintf(f,
		"usage: mtad [-c FILE] [-f]\n"
		"  -c FILE    configuration file (default: $MAIL_CONF, else PREFIX/etc/mail.conf,\n"
		"             else built-in defaults)\n"
		"  -f         stay in the foreground and log to stderr\n"
		"  --help     this text\n"
		"  --version  print the version\n");
}

static void mtad_tables_tick(uv_timer_t *t)
{
	(void)t;
	mtad_tables_reload(&mtad);
}

/* One mtad per state_dir: an exclusive flock on state_dir/mtad.lock (opened without following
 * a link), held until the process exits; the file says the holder's pid. A second mtad exits
 * 75 (EX_TEMPFAIL) naming it (docs/reliability.md). */
static void mtad_lock_state_dir(const struct config *cfg)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/mtad.lock", cfg->state_dir);
	int fd = open_lock_file(path, 0644);
	if (fd < 0)
		log_fatal(73, "cannot open %s: %s", path, strerror(-fd));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_fatal(75,
			  "another mtad (pid %s) is already running on state_dir %s (it holds %s): "
			  "not starting a second one",
			  pid[0] ? pid : "unknown", cfg->state_dir, path);
	}
	char text[32];
	int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) != len)
		log_warn("cannot write the pid into %s: %m", path);
	uid_t uid;
	gid_t gid;
	char err[256];
	/* run_user may start mtad itself later: the file is its. Through the descriptor. */
	if (geteuid() == 0 && privilege_lookup(cfg->run_user, &uid, &gid, err, sizeof(err)) == 0 &&
	    fchown(fd, uid, gid) < 0)
		log_warn("cannot chown %s: %m", path);
	/* Kept open (close-on-exec) for the life of the process: the lock goes with it. */
}

static void mtad_stop(uv_signal_t *sig, int signum)
{
	(void)sig;
	if (daemon_stop(mtad.loop, &mtad.stopping, &mtad.listeners, signum)) {
		http_server_stop(&mtad.http);
		http_server_stop(&mtad_metrics);
	}
}

static void mtad_hup(uv_signal_t *sig, int signum)
{
	(void)sig;
	(void)signum;
	log_info("SIGHUP: reloading tables and certificates");
	mtad_tables_reload(&mtad);
	daemon_tls_reload(mtad.tls, mtad.tls_cert, mtad.tls_key);
	if (mtad.http)
		mta_sts_refresh(mtad.cfg); /* enforce once the certificate is CA-signed */
}

int main(int argc, char **argv)
{
	const char *conf;
	int foreground;
	int status = daemon_options(argc, argv, "mtad", mtad_usage, &conf, &foreground);
	if (status >= 0)
		return status;

	/* Parallel fsyncs let the file system fold flushes: a bigger pool than libuv's 4. */
	if (!getenv("UV_THREADPOOL_SIZE"))
		setenv("UV_THREADPOOL_SIZE", "16", 1);
	signal(SIGPIPE, SIG_IGN);

	static struct config cfg;
	config_load_or_exit(&cfg, conf);
	log_init("mtad", foreground);
	metrics_init(METRICS_MTAD);
	char err[1024];

	memset(&mtad, 0, sizeof(mtad));
	mtad.cfg = &cfg;
	mtad.loop = uv_default_loop();

	mtad.accounts = accounts_load(cfg.users_file, err, sizeof(err));
	if (!mtad.accounts)
		log_fatal(EX_CONFIG_STATUS, "%s", err);
	if (cfg.aliases_file) {
		mtad.aliases = aliases_load(cfg.aliases_file, err, sizeof(err));
		if (!mtad.aliases)
			log_fatal(EX_CONFIG_STATUS, "%s", err);
	}
	if (cfg.mailbox_routes) {
		mtad.routes = mailbox_routes_load(cfg.mailbox_routes, err, sizeof(err));
		if (!mtad.routes)
			log_fatal(EX_CONFIG_STATUS, "%s", err);
	}

	/* state_dir and the queue's directories, made (and, as root, given to run_user) without
	 * following a link; then one mtad per state_dir. */
	const struct daemon_dir queue_dirs[] = { { "queue", 0700 },
						 { "queue/active", 0700 },
						 { "queue/tmp", 0700 },
						 { "queue/corrupt", 0700 },
						 { "queue/spare", 0700 },
						 { "tlsrpt", 0700 } /* TLS-RPT counts */ };
	daemon_state_dirs(&cfg, queue_dirs, sizeof(queue_dirs) / sizeof(queue_dirs[0]));
	mtad_lock_state_dir(&cfg);
	if (maildrop_prepare(&cfg, err, sizeof(err)) < 0)
		log_fatal(73, "%s", err);

	/* TLS: the configured pair, or one generated into state_dir/tls at first start. */
	mtad.tls = daemon_tls_setup(&cfg, &mtad.tls_cert, &mtad.tls_key);
	mtad.auth_throttle = daemon_auth_throttle(&cfg);
	mtad.auth_cache = daemon_auth_cache(&cfg);

	if (smtp_server_listen(&mtad, err, sizeof(err)) < 0)
		log_fatal(71, "%s", err);
	/* HTTP (port 80 needs root): a port in use stops start-up naming the config line. */
	if (cfg.http_listen.host[0])
		mtad.http = http_server_start_or_exit(mtad.loop, &cfg, "http_listen",
						      &cfg.http_listen);
	if (mtad.http) {
		autoconfig_routes(mtad.http, &cfg);
		mta_sts_routes(mtad.http, &cfg);
	}
	if (cfg.metrics_listen.host[0]) {
		if (mtad.http && strcmp(cfg.metrics_listen.host, cfg.http_listen.host) == 0 &&
		    cfg.metrics_listen.port == cfg.http_listen.port)
			metrics_http_route(mtad.http, mtad_collect,
					   NULL); /* one listener for both */
		else
			metrics_http_route(
				mtad_metrics = http_server_start_or_exit(
					mtad.loop, &cfg, "metrics_listen", &cfg.metrics_listen),
				mtad_collect, NULL);
	}
	/* ACME (acme = yes): its directory is made before the privilege drop, its http-01 route
	 * added to http_listen; it starts with the loop. */
	struct acme *acme = acme_start(&mtad);

	/* Before dropping privileges: smarthost credentials are readable by root only. */
	mtad.relay = relay_new(&mtad, err, sizeof(err));
	if (!mtad.relay)
		log_fatal(EX_CONFIG_STATUS, "%s", err);

	/* The queue is opened (and its files read) as run_user only. */
	bool dropped = daemon_drop_privileges(&cfg, NULL, 0, mtad.tls_cert, mtad.tls_key);
	mtad.queue = queue_open(mtad.loop, cfg.state_dir, err, sizeof(err));
	if (!mtad.queue)
		log_fatal(75, "%s%s%s%s", dropped ? "after dropping privileges to " : "",
			  dropped ? cfg.run_user : "", dropped ? ": " : "", err);

	char sock[4096];
	snprintf(sock, sizeof(sock), "%s/control", cfg.state_dir);
	if (control_listen(&mtad, sock, err, sizeof(err)) < 0)
		log_fatal(71, "%s", err);
	snprintf(sock, sizeof(sock), "%s/submit.sock", cfg.state_dir);
	if (smtp_server_listen_local(&mtad, sock, err, sizeof(err)) < 0)
		log_fatal(71, "%s", err);

	mtad.sched = scheduler_new(&mtad);
	scheduler_recover(mtad.sched);
	maildrop_start(&mtad);

	daemon_signals_start(mtad.loop, mtad_stop, mtad_hup, mtad_tables_tick);
	daemon_log_listeners(mtad.listeners);
	if (mtad.http)
		log_info("listening on %s (http)", http_server_address(mtad.http));
	if (mtad_metrics)
		log_info("listening on %s (metrics)", http_server_address(mtad_metrics));
	log_info("started: hostname=%s, state_dir=%s, domains=%zu, accounts=%zu", cfg.hostname,
		 cfg.state_dir, cfg.domains.n, mtad.accounts->n);

	uv_run(mtad.loop, UV_RUN_DEFAULT);
	acme_stop(&acme);

	/* Orderly shutdown: every handle closed, in-flight thread-pool work drained. */
	scheduler_stop(&mtad.sched);
	relay_free(&mtad.relay);
	dns_free(&mtad.dns);
	client_names_free(&mtad.client_names);
	daemon_close_handles(mtad.loop);
	uv_loop_close(mtad.loop);
	queue_close(&mtad.queue);
	tls_ctx_free(&mtad.tls);
	auth_throttle_free(&mtad.auth_throttle);
	auth_cache_free(&mtad.auth_cache);
	free(mtad.tls_cert);
	free(mtad.tls_key);
	accounts_free(&mtad.accounts);
	aliases_free(&mtad.aliases);
	mailbox_routes_free(&mtad.routes);
	mta_sts_routes_free();
	config_free(&cfg);
	log_info("stopped");
	return 0;
}
