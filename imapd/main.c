/* main.c - imapd: load the configuration, TLS context, bind the IMAP listeners, drop privileges, run the loop, shut down in order. */
#include "accounts.h"
#include "auth_throttle.h"
#include "config.h"
#include "daemon.h"
#include "imapd.h"
#include "log.h"
#include "privilege.h"
#include "tls.h"
#include "xalloc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct imapd imapd;
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t tables_timer;

static void imapd_usage(FILE *f)
{
	fprintf(f, "usage: imapd [-c FILE] [-f]\n"
		   "  -c FILE    configuration file (default: $MAIL_CONF, else PREFIX/etc/mail.conf,\n"
		   "             else built-in defaults)\n"
		   "  -f         stay in the foreground and log to stderr\n"
		   "  --help     this text\n"
		   "  --version  print the version\n");
}

static void imapd_reload_accounts(void)
{
	char err[512];
	int r = accounts_reload_if_changed(&imapd.accounts, err, sizeof(err));
	if (r < 0)
		log_error("users_file not reloaded: %s", err);
	else if (r > 0)
		log_info("users_file reloaded: %zu account(s)", imapd.accounts->n);
}

static void imapd_tables_tick(uv_timer_t *t)
{
	(void)t;
	imapd_reload_accounts();
	auth_throttle_prune(imapd.auth_throttle, time(NULL));
}

static void imapd_stop(uv_signal_t *sig, int signum)
{
	(void)sig;
	if (imapd.stopping)
		return;
	imapd.stopping = true;
	log_info("stopping on signal %d", signum);
	net_listeners_close(&imapd.listeners);
	net_conns_close_all("shutdown");
	uv_stop(imapd.loop);
}

static void imapd_hup(uv_signal_t *sig, int signum)
{
	(void)sig;
	(void)signum;
	char err[1024];
	log_info("SIGHUP: reloading users and certificates");
	imapd_reload_accounts();
	if (tls_ctx_reload(imapd.tls, imapd.tls_cert, imapd.tls_key, err, sizeof(err)) < 0)
		log_error("certificate not reloaded: %s", err);
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

	imapd.accounts = accounts_load(cfg.users_file, err, sizeof(err));
	if (!imapd.accounts)
		log_fatal(EX_CONFIG_STATUS, "%s", err);

	char *cert = NULL, *key = NULL;
	int gen = tls_ensure_cert(cfg.state_dir, cfg.hostname, cfg.tls_cert, cfg.tls_key, &cert, &key,
				  err, sizeof(err));
	if (gen < 0)
		log_fatal(EX_CONFIG_STATUS, "%s", err);
	if (gen == 1)
		log_info("generated a self-signed certificate for %s in %s", cfg.hostname, cert);
	imapd.tls = tls_server_ctx_new(cert, key, err, sizeof(err));
	if (!imapd.tls)
		log_fatal(EX_CONFIG_STATUS, "%s", err);
	imapd.tls_cert = cert;
	imapd.tls_key = key;
	imapd.auth_throttle = auth_throttle_new(NULL);

	if (imapd_listen(&imapd, err, sizeof(err)) < 0)
		log_fatal(71, "%s", err);

	char mail_dir[4096];
	snprintf(mail_dir, sizeof(mail_dir), "%s/mail", cfg.state_dir);
	if (mkdir(mail_dir, 0755) < 0 && errno != EEXIST)
		log_fatal(75, "cannot create %s: %m", mail_dir);
	if (geteuid() == 0) {
		uid_t uid;
		gid_t gid;
		if (privilege_lookup(cfg.run_user, &uid, &gid, err, sizeof(err)) < 0)
			log_fatal(EX_CONFIG_STATUS, "%s", err);
		char tls_dir[4096];
		snprintf(tls_dir, sizeof(tls_dir), "%s/tls", cfg.state_dir);
		const char *own[] = { cfg.state_dir, mail_dir, tls_dir, cert, key };
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			if (privilege_chown(own[i], uid, gid, err, sizeof(err)) < 0)
				log_fatal(75, "%s", err);
		if (privilege_drop(cfg.run_user, err, sizeof(err)) < 0)
			log_fatal(75, "%s", err);
		if (access(mail_dir, R_OK | W_OK | X_OK) < 0)
			log_fatal(75, "after dropping privileges to %s: cannot use %s: %m", cfg.run_user,
				  mail_dir);
	}

	uv_signal_init(imapd.loop, &sig_term);
	uv_signal_start(&sig_term, imapd_stop, SIGTERM);
	uv_signal_init(imapd.loop, &sig_int);
	uv_signal_start(&sig_int, imapd_stop, SIGINT);
	uv_signal_init(imapd.loop, &sig_hup);
	uv_signal_start(&sig_hup, imapd_hup, SIGHUP);
	uv_timer_init(imapd.loop, &tables_timer);
	uv_timer_start(&tables_timer, imapd_tables_tick, 2000, 2000);

	for (struct net_listener *l = imapd.listeners; l; l = l->next)
		log_info("listening on %s (%s)", l->addr_text, l->name);
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
