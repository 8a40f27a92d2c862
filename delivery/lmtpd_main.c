/* lmtpd_main.c - lmtpd: load the configuration and tables, bind lmtp_listen, drop privileges, serve LMTP until stopped. */
#include "accounts.h"
#include "config.h"
#include "daemon.h"
#include "deliver.h"
#include "lmtp_server.h"
#include "log.h"
#include "net.h"
#include "tls.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct lmtp_server lmtpd;
static bool lmtpd_stopping;

static void lmtpd_usage(FILE *f)
{
	fprintf(f,
		"usage: lmtpd [-c FILE] [-f]\n"
		"Accepts LMTP (RFC 2033) on lmtp_listen and delivers each message into the\n"
		"Maildirs of this host, answering for each recipient once its copy is on disk.\n"
		"  -c FILE    configuration file (default: $MAIL_CONF, else PREFIX/etc/mail.conf,\n"
		"             else built-in defaults)\n"
		"  -f         stay in the foreground and log to stderr\n"
		"  --help     this text\n"
		"  --version  print the version\n");
}

static void lmtpd_tick(uv_timer_t *t)
{
	(void)t;
	delivery_tables_reload(&lmtpd.accounts, &lmtpd.aliases);
}

static void lmtpd_stop(uv_signal_t *sig, int signum)
{
	(void)sig;
	daemon_stop(lmtpd.loop, &lmtpd_stopping, &lmtpd.listeners, signum);
}

static void lmtpd_hup(uv_signal_t *sig, int signum)
{
	(void)sig;
	(void)signum;
	log_info("SIGHUP: reloading users, aliases and certificates");
	delivery_tables_reload(&lmtpd.accounts, &lmtpd.aliases);
}

int main(int argc, char **argv)
{
	const char *conf;
	int foreground;
	int status = daemon_options(argc, argv, "lmtpd", lmtpd_usage, &conf, &foreground);
	if (status >= 0)
		return status;
	signal(SIGPIPE, SIG_IGN);

	static struct config cfg;
	config_load_or_exit(&cfg, conf);
	log_init("lmtpd", foreground);
	char err[1024];
	if (!cfg.lmtp_listen || !cfg.lmtp_listen[0])
		log_fatal(EX_CONFIG_STATUS,
			  "%s: lmtp_listen is not set: lmtpd has nothing to serve",
			  cfg.path ? cfg.path : "built-in defaults");

	memset(&lmtpd, 0, sizeof(lmtpd));
	lmtpd.cfg = &cfg;
	lmtpd.loop = uv_default_loop();
	lmtpd.accounts = accounts_load(cfg.users_file, err, sizeof(err));
	if (!lmtpd.accounts)
		log_fatal(EX_CONFIG_STATUS, "%s", err);
	if (cfg.aliases_file) {
		lmtpd.aliases = aliases_load(cfg.aliases_file, err, sizeof(err));
		if (!lmtpd.aliases)
			log_fatal(EX_CONFIG_STATUS, "%s", err);
	}

	daemon_state_dirs(&cfg, NULL, 0);
	char *tls_cert = NULL, *tls_key = NULL;
	lmtpd.tls = daemon_tls_setup(&cfg, &tls_cert, &tls_key);

	if (lmtp_server_listen(&lmtpd, err, sizeof(err)) < 0)
		log_fatal(71, "%s", err);

	char mail_dir[4096];
	snprintf(mail_dir, sizeof(mail_dir), "%s/mail", cfg.state_dir);
	if (daemon_drop_privileges(&cfg, NULL, 0, tls_cert, tls_key) &&
	    access(mail_dir, R_OK | W_OK | X_OK) < 0)
		log_fatal(75, "after dropping privileges to %s: cannot use %s: %m", cfg.run_user,
			  mail_dir);

	daemon_signals_start(lmtpd.loop, lmtpd_stop, lmtpd_hup, lmtpd_tick);
	daemon_log_listeners(lmtpd.listeners);
	log_info("started: hostname=%s, state_dir=%s, accounts=%zu", cfg.hostname, cfg.state_dir,
		 lmtpd.accounts->n);

	uv_run(lmtpd.loop, UV_RUN_DEFAULT);

	/* Deliveries on the thread pool finish (and answer, or free their session) first. */
	while (lmtpd.jobs)
		uv_run(lmtpd.loop, UV_RUN_ONCE);
	daemon_close_handles(lmtpd.loop);
	uv_loop_close(lmtpd.loop);
	tls_ctx_free(&lmtpd.tls);
	free(tls_cert);
	free(tls_key);
	aliases_free(&lmtpd.aliases);
	accounts_free(&lmtpd.accounts);
	config_free(&cfg);
	log_info("stopped");
	return 0;
}
