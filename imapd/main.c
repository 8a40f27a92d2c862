/* main.c - imapd: load the configuration, TLS context, bind the IMAP listeners, drop privileges, run the loop, shut down in order. */
#include "accounts.h"
#include "auth_throttle.h"
#include "config.h"
#include "daemon.h"
#include "fileutil.h"
#include "imapd.h"
#include "log.h"
#include "tls.h"
#include "xalloc.h"

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

/* The served certificate as loaded: mtad's ACME client may replace it. */
static struct file_stamp imapd_cert_stamp;
static bool imapd_cert_stamped;

static void imapd_tables_tick(uv_timer_t *t)
{
	(void)t;
	daemon_tls_follow(imapd.tls, imapd.tls_cert, imapd.tls_key, &imapd_cert_stamp,
			  &imapd_cert_stamped);
	daemon_reload_accounts(&imapd.accounts);
	auth_throttle_prune(imapd.auth_throttle, time(NULL));
}

static void imapd_stop(uv_signal_t *sig, int signum)
{
	(void)sig;
	daemon_stop(imapd.loop, &imapd.stopping, &imapd.listeners, signum);
}

static void imapd_hup(uv_signal_t *sig, int signum)
{
	(void)sig;
	(void)signum;
	log_info("SIGHUP: reloading users and certificates");
	daemon_reload_accounts(&imapd.accounts);
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
	char err[1024];

	memset(&imapd, 0, sizeof(imapd));
	imapd.cfg = &cfg;
	imapd.loop = uv_default_loop();
	/* Pool threads mostly wait for the disk (store work, FETCH read-ahead): more than libuv's
	 * 4 let those waits overlap (docs/imap-store.md). An operator's UV_THREADPOOL_SIZE wins. */
	setenv("UV_THREADPOOL_SIZE", IMAPD_POOL_THREADS, 0);
	imapd_pool_setup(&imapd, (unsigned)strtoul(getenv("UV_THREADPOOL_SIZE"), NULL, 10));

	imapd.accounts = accounts_load(cfg.users_file, err, sizeof(err));
	if (!imapd.accounts)
		log_fatal(EX_CONFIG_STATUS, "%s", err);

	imapd.tls = daemon_tls_setup(&cfg, &imapd.tls_cert, &imapd.tls_key);
	daemon_tls_follow(imapd.tls, imapd.tls_cert, imapd.tls_key, &imapd_cert_stamp,
			  &imapd_cert_stamped);
	imapd.auth_throttle = daemon_auth_throttle(&cfg);

	if (imapd_listen(&imapd, err, sizeof(err)) < 0)
		log_fatal(71, "%s", err);

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
	auth_throttle_free(&imapd.auth_throttle);
	free(imapd.tls_cert);
	free(imapd.tls_key);
	accounts_free(&imapd.accounts);
	config_free(&cfg);
	log_info("stopped");
	return 0;
}
