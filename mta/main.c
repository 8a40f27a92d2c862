/* main.c - mtad: load the configuration, open the queue, bind listeners, drop privileges, run the loop. */
#include "config.h"
#include "daemon.h"
#include "control.h"
#include "deliver.h"
#include "log.h"
#include "mtad.h"
#include "auth_throttle.h"
#include "privilege.h"
#include "relay.h"
#include "tls.h"
#include "scheduler.h"
#include "smtp_server.h"
#include "xalloc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct mtad mtad;
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t tables_timer;

static void mtad_usage(FILE *f)
{
	fprintf(f, "usage: mtad [-c FILE] [-f]\n"
		   "  -c FILE    configuration file (default: $MAIL_CONF, else PREFIX/etc/mail.conf,\n"
		   "             else built-in defaults)\n"
		   "  -f         stay in the foreground and log to stderr\n"
		   "  --help     this text\n"
		   "  --version  print the version\n");
}

/* users_file and aliases_file are re-read when they change. */
static void mtad_reload_tables(void)
{
	char err[512];
	int r = accounts_reload_if_changed(&mtad.accounts, err, sizeof(err));
	if (r < 0)
		log_error("users_file not reloaded: %s", err);
	else if (r > 0)
		log_info("users_file reloaded: %zu account(s)", mtad.accounts->n);
	if (mtad.aliases) {
		r = aliases_reload_if_changed(&mtad.aliases, err, sizeof(err));
		if (r < 0)
			log_error("aliases_file not reloaded: %s", err);
		else if (r > 0)
			log_info("aliases_file reloaded");
	}
}

static void mtad_tables_tick(uv_timer_t *t)
{
	(void)t;
	mtad_reload_tables();
}

static void mtad_stop(uv_signal_t *sig, int signum)
{
	(void)sig;
	if (mtad.stopping)
		return;
	mtad.stopping = true;
	log_info("stopping on signal %d", signum);
	net_listeners_close(&mtad.listeners);
	net_conns_close_all("shutdown");
	uv_stop(mtad.loop);
}

static void mtad_hup(uv_signal_t *sig, int signum)
{
	(void)sig;
	(void)signum;
	char err[1024];
	log_info("SIGHUP: reloading tables and certificates");
	mtad_reload_tables();
	if (tls_ctx_reload(mtad.tls, mtad.tls_cert, mtad.tls_key, err, sizeof(err)) < 0)
		log_error("certificate not reloaded: %s", err);
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

	mtad.queue = queue_open(mtad.loop, cfg.state_dir, err, sizeof(err));
	if (!mtad.queue)
		log_fatal(75, "%s", err);

	/* TLS: the configured pair, or one generated into state_dir/tls at first start. */
	char *cert = NULL, *key = NULL;
	int gen = tls_ensure_cert(cfg.state_dir, cfg.hostname, cfg.tls_cert, cfg.tls_key, &cert, &key,
				  err, sizeof(err));
	if (gen < 0)
		log_fatal(EX_CONFIG_STATUS, "%s", err);
	if (gen == 1)
		log_info("generated a self-signed certificate for %s in %s", cfg.hostname, cert);
	mtad.tls = tls_server_ctx_new(cert, key, err, sizeof(err));
	if (!mtad.tls)
		log_fatal(EX_CONFIG_STATUS, "%s", err);
	mtad.tls_cert = cert;
	mtad.tls_key = key;
	struct auth_throttle_config throttle;
	auth_throttle_config_default(&throttle);
	throttle.delay_max = (unsigned)cfg.auth_failure_delay_max;
	throttle.block_failures = cfg.auth_block_failures;
	throttle.block_time = (time_t)cfg.auth_block_time;
	mtad.auth_throttle = auth_throttle_new(&throttle);

	if (smtp_server_listen(&mtad, err, sizeof(err)) < 0)
		log_fatal(71, "%s", err);

	/* Before dropping privileges: smarthost credentials are readable by root only. */
	mtad.relay = relay_new(&mtad, err, sizeof(err));
	if (!mtad.relay)
		log_fatal(EX_CONFIG_STATUS, "%s", err);

	if (geteuid() == 0) {
		uid_t uid;
		gid_t gid;
		if (privilege_lookup(cfg.run_user, &uid, &gid, err, sizeof(err)) < 0)
			log_fatal(EX_CONFIG_STATUS, "%s", err);
		char mail_dir[4096];
		snprintf(mail_dir, sizeof(mail_dir), "%s/mail", cfg.state_dir);
		char tls_dir[4096];
		snprintf(tls_dir, sizeof(tls_dir), "%s/tls", cfg.state_dir);
		const char *own[] = { cfg.state_dir, mtad.queue->dir, mtad.queue->active_dir,
				      mtad.queue->tmp_dir, mtad.queue->corrupt_dir,
				      mtad.queue->spare_dir, mail_dir, tls_dir, cert, key };
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			if (privilege_chown(own[i], uid, gid, err, sizeof(err)) < 0)
				log_fatal(75, "%s", err);
		if (privilege_drop(cfg.run_user, err, sizeof(err)) < 0)
			log_fatal(75, "%s", err);
		/* Every directory above state_dir must be searchable by run_user. */
		struct queue *probe = queue_open(mtad.loop, cfg.state_dir, err, sizeof(err));
		if (!probe)
			log_fatal(75, "after dropping privileges to %s: %s", cfg.run_user, err);
		queue_close(&probe);
	}

	char sock[4096];
	snprintf(sock, sizeof(sock), "%s/control", cfg.state_dir);
	if (control_listen(&mtad, sock, err, sizeof(err)) < 0)
		log_fatal(71, "%s", err);
	snprintf(sock, sizeof(sock), "%s/submit.sock", cfg.state_dir);
	if (smtp_server_listen_local(&mtad, sock, err, sizeof(err)) < 0)
		log_fatal(71, "%s", err);

	mtad.sched = scheduler_new(&mtad);
	scheduler_recover(mtad.sched);

	uv_signal_init(mtad.loop, &sig_term);
	uv_signal_start(&sig_term, mtad_stop, SIGTERM);
	uv_signal_init(mtad.loop, &sig_int);
	uv_signal_start(&sig_int, mtad_stop, SIGINT);
	uv_signal_init(mtad.loop, &sig_hup);
	uv_signal_start(&sig_hup, mtad_hup, SIGHUP);
	uv_timer_init(mtad.loop, &tables_timer);
	uv_timer_start(&tables_timer, mtad_tables_tick, 2000, 2000);

	for (struct net_listener *l = mtad.listeners; l; l = l->next)
		log_info("listening on %s (%s)", l->addr_text, l->name);
	log_info("started: hostname=%s, state_dir=%s, domains=%zu, accounts=%zu", cfg.hostname,
		 cfg.state_dir, cfg.domains.n, mtad.accounts->n);

	uv_run(mtad.loop, UV_RUN_DEFAULT);

	/* Orderly shutdown: every handle closed, in-flight thread-pool work drained. */
	scheduler_stop(&mtad.sched);
	relay_free(&mtad.relay);
	daemon_close_handles(mtad.loop);
	uv_loop_close(mtad.loop);
	queue_close(&mtad.queue);
	tls_ctx_free(&mtad.tls);
	auth_throttle_free(&mtad.auth_throttle);
	free(mtad.tls_cert);
	free(mtad.tls_key);
	accounts_free(&mtad.accounts);
	aliases_free(&mtad.aliases);
	config_free(&cfg);
	log_info("stopped");
	return 0;
}
