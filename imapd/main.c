/* main.c - imapd: load the configuration, TLS context, bind the IMAP listeners, drop privileges, run the loop, shut down in order. */
#include "accounts.h"
#include "auth_cache.h"
#include "auth_throttle.h"
#include "config.h"
#include "daemon.h"
#include "http_server.h"
#include "metrics_http.h"
#include "fileutil.h"
#include "imap_proxy.h"
#include "imapd.h"
#include "log.h"
#include "mailbox_routes.h"
#include "tls.h"
#include "xalloc.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct imapd imapd;

static void imapd_usage(FILE *f)
{
	fprintf(f,
		"usage: imapd [-c FILE] [-f]\n"
		"  -c FILE    configuration file (default: $MAIL_CONF, else PREFIX/etc/mail.conf,\n"
		"             else built-in defaults)\n"
		"  -f         stay in the foreground and log to stderr\n"
		"  --help     this text\n"
		"  --version  print the version\n");
}

static void imapd_routes_reload(void)
{
	char err[1024];
	if (!imapd.routes)
		return;
	int r = mailbox_routes_reload_if_changed(&imapd.routes, err, sizeof(err));
	if (r < 0)
		log_error("mailbox_routes not reloaded: %s", err);
	else if (r > 0)
		log_info("mailbox_routes reloaded: %zu routes", mailbox_routes_count(imapd.routes));
	r = tls_policy_file_reload(&imapd.proxy_policy, err, sizeof(err));
	if (r < 0)
		log_error("relay_tls_policy_file not reloaded: %s", err);
	else if (r > 0)
		log_info("relay_tls_policy_file reloaded");
}
/* The served certificate as loaded: mtad's ACME client may replace it. */
static struct file_stamp imapd_cert_stamp;
static bool imapd_cert_stamped;

static void imapd_tables_tick(uv_timer_t *t)
{
	(void)t;
	daemon_tls_follow(imapd.tls, imapd.tls_cert, imapd.tls_key, &imapd_cert_stamp,
			  &imapd_cert_stamped);
	daemon_reload_accounts(&imapd.accounts);
	imapd_routes_reload();
	auth_throttle_prune(imapd.auth_throttle, time(NULL));
}

static struct http_server *imapd_metrics; /* imap_metrics_listen, else metrics_listen */

static void imapd_stop(uv_signal_t *sig, int signum)
{
	(void)sig;
	if (daemon_stop(imapd.loop, &imapd.stopping, &imapd.listeners, signum))
		http_server_stop(&imapd_metrics);
}

static void imapd_hup(uv_signal_t *sig, int signum)
{
	(void)sig;
	(void)signum;
	log_info("SIGHUP: reloading users and certificates");
	daemon_reload_accounts(&imapd.accounts);
	imapd_routes_reload();
	daemon_tls_reload(imapd.tls, imapd.tls_cert, imapd.tls_key);
}

int main(int argc, char **argv)
{
	const char *conf;
	int foreground;
	int status = daemon_options(argc, argv, "imapd", imapd_usage, &conf, &foreground);
	if (status >= 0)
		return status;
	signal(SIGPIPE, SIG_IGN);

	static struct config cfg;
	config_load_or_exit(&cfg, conf);
	log_init("imapd", foreground);
	metrics_init(METRICS_IMAPD);
	char err[1024];

	memset(&imapd, 0, sizeof(imapd));
	imapd.cfg = &cfg;
	imapd.loop = uv_default_loop();
	/* Pool threads mostly wait for the disk (store work, FETCH read-ahead): more than libuv's
	 * 4 let those waits overlap (docs/imap-store.md). An operator's UV_THREADPOOL_SIZE wins. */
	setenv("UV_THREADPOOL_SIZE", IMAPD_POOL_THREADS, 0);
	/* Two malloc arenas, not glibc's 8 per core: each pool thread got its own, and the freed
	 * copies of a large folder's index stayed resident in every one of them (10 sessions
	 * writing to a 100,000-message folder left 340 MiB; docs/imap-store.md "Memory"). An
	 * operator's MALLOC_ARENA_MAX or GLIBC_TUNABLES wins. */
	if (!getenv("MALLOC_ARENA_MAX") && !getenv("GLIBC_TUNABLES"))
		mallopt(M_ARENA_MAX, IMAPD_MALLOC_ARENAS);
	imapd_pool_setup(&imapd, (unsigned)strtoul(getenv("UV_THREADPOOL_SIZE"), NULL, 10));

	imapd.accounts = accounts_load(cfg.users_file, err, sizeof(err));
	if (!imapd.accounts)
		log_fatal(EX_CONFIG_STATUS, "%s", err);

	if (cfg.imap_proxy) {
		if (!cfg.mailbox_routes)
			log_fatal(EX_CONFIG_STATUS, "%s: imap_proxy = yes needs mailbox_routes",
				  cfg.path ? cfg.path : "configuration");
		imapd.routes = mailbox_routes_load(cfg.mailbox_routes, err, sizeof(err));
		if (!imapd.routes)
			log_fatal(EX_CONFIG_STATUS, "%s", err);
		/* The back ends' "[host]" lines, as mtad reads them for LMTP. */
		if (tls_policy_file_load(&imapd.proxy_policy, cfg.relay_tls_policy_file, err,
					 sizeof(err)) < 0)
			log_fatal(EX_CONFIG_STATUS, "%s", err);
		imapd.proxy_tls = imap_proxy_tls_ctx(&imapd, err, sizeof(err));
		if (!imapd.proxy_tls)
			log_fatal(EX_CONFIG_STATUS, "relay_tls_ca_file: %s", err);
	}
	imapd.tls = daemon_tls_setup(&cfg, &imapd.tls_cert, &imapd.tls_key);
	daemon_tls_follow(imapd.tls, imapd.tls_cert, imapd.tls_key, &imapd_cert_stamp,
			  &imapd_cert_stamped);
	imapd.auth_throttle = daemon_auth_throttle(&cfg);
	imapd.auth_cache = daemon_auth_cache(&cfg);

	if (imapd_listen(&imapd, err, sizeof(err)) < 0)
		log_fatal(71, "%s", err);
	/* Its own metrics listener: imap_metrics_listen when mtad has metrics_listen. */
	const char *mkey = cfg.imap_metrics_listen.host[0] ? "imap_metrics_listen"
							   : "metrics_listen";
	const struct config_hostport *mhp = cfg.imap_metrics_listen.host[0]
						    ? &cfg.imap_metrics_listen
						    : &cfg.metrics_listen;
	if (mhp->host[0]) {
		imapd_metrics = http_server_start_or_exit(imapd.loop, &cfg, mkey, mhp);
		metrics_http_route(imapd_metrics, NULL, NULL);
	}

	char mail_dir[4096];
	snprintf(mail_dir, sizeof(mail_dir), "%s/mail", cfg.state_dir);
	if (mkdir(mail_dir, 0755) < 0 && errno != EEXIST)
		log_fatal(75, "cannot create %s: %m", mail_dir);
	if (daemon_drop_privileges(&cfg, NULL, 0, imapd.tls_cert, imapd.tls_key) &&
	    access(mail_dir, R_OK | W_OK | X_OK) < 0)
		log_fatal(75, "after dropping privileges to %s: cannot use %s: %m", cfg.run_user,
			  mail_dir);

	daemon_signals_start(imapd.loop, imapd_stop, imapd_hup, imapd_tables_tick);
	daemon_log_listeners(imapd.listeners);
	if (imapd_metrics)
		log_info("listening on %s (metrics)", http_server_address(imapd_metrics));
	log_info("started: hostname=%s, state_dir=%s, accounts=%zu", cfg.hostname, cfg.state_dir,
		 imapd.accounts->n);

	uv_run(imapd.loop, UV_RUN_DEFAULT);

	/* Orderly shutdown: every handle closed, in-flight password checks drained. */
	/* Store work still on the thread pool finishes first: its sessions free their handles. */
	while (imapd.pool_jobs)
		uv_run(imapd.loop, UV_RUN_ONCE);
	daemon_close_handles(imapd.loop);
	uv_loop_close(imapd.loop);
	tls_ctx_free(&imapd.tls);
	tls_ctx_free(&imapd.proxy_tls);
	mailbox_routes_free(&imapd.routes);
	tls_policy_file_free(&imapd.proxy_policy);
	auth_throttle_free(&imapd.auth_throttle);
	auth_cache_free(&imapd.auth_cache);
	free(imapd.tls_cert);
	free(imapd.tls_key);
	accounts_free(&imapd.accounts);
	config_free(&cfg);
	log_info("stopped");
	return 0;
}
