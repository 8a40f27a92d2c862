/* daemon.c - what mtad's and imapd's main() share: command line, TLS set-up, privilege drop, signals, the final handle sweep. */
#include "daemon.h"

#include "accounts.h"
#include "auth_cache.h"
#include "auth_throttle.h"
#include "config.h"
#include "fileutil.h"
#include "log.h"
#include "net.h"
#include "privilege.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef MAIL_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#else
#define sd_notify(unset, state) ((void)(unset), (void)(state))
#endif

static uv_signal_t daemon_sig_term, daemon_sig_int, daemon_sig_hup;
static uv_timer_t daemon_tables_timer;
static uv_signal_cb daemon_on_hup;

/* SIGHUP under systemd (Type=notify): the reload is bracketed by RELOADING=1 and READY=1. */
static void daemon_hup(uv_signal_t *sig, int signum)
{
	sd_notify(0, "RELOADING=1");
	daemon_on_hup(sig, signum);
	sd_notify(0, "READY=1");
}

int daemon_options(int argc, char **argv, const char *name, void (*usage)(FILE *f),
		   const char **conf_r, int *foreground_r)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	*conf_r = NULL;
	*foreground_r = 0;
	while ((ch = getopt_long(argc, argv, "c:f", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*conf_r = optarg;
			break;
		case 'f':
			*foreground_r = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", name, MAIL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	return -1;
}

static void daemon_walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

void daemon_close_handles(uv_loop_t *loop)
{
	uv_walk(loop, daemon_walk_close, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
}

struct tls_ctx *daemon_tls_setup(const struct config *cfg, char **cert_r, char **key_r)
{
	char err[1024];
	daemon_state_dirs(cfg, NULL, 0);
	char *cert = NULL, *key = NULL;
	int gen = tls_ensure_cert(cfg->state_dir, cfg->hostname, cfg->tls_cert, cfg->tls_key, &cert,
				  &key, err, sizeof(err));
	if (gen < 0)
		log_fatal(EX_CONFIG_STATUS, "%s", err);
	if (gen == 1)
		log_info("generated a self-signed certificate for %s in %s", cfg->hostname, cert);
	struct tls_ctx *tls = tls_server_ctx_new(cert, key, err, sizeof(err));
	if (!tls)
		log_fatal(EX_CONFIG_STATUS, "%s", err);
	*cert_r = cert;
	*key_r = key;
	return tls;
}

void daemon_tls_reload(struct tls_ctx *tls, const char *cert, const char *key)
{
	char err[1024];
	if (tls_ctx_reload(tls, cert, key, err, sizeof(err)) < 0)
		log_error("certificate not reloaded: %s", err);
}

void daemon_tls_follow(struct tls_ctx *tls, const char *cert, const char *key,
		       struct file_stamp *stamp, bool *stamped)
{
	if (*stamped && !file_stamp_changed(stamp, cert))
		return;
	struct stat st;
	file_stamp_set(stamp, stat(cert, &st) == 0 ? &st : NULL);
	if (*stamped) {
		log_info("certificate %s changed: reloading it", cert);
		daemon_tls_reload(tls, cert, key);
	}
	*stamped = true;
}

/* Root's view of run_user, looked up once. */
static bool daemon_run_ids(const struct config *cfg, uid_t *uid, gid_t *gid)
{
	char err[1024];
	if (geteuid() != 0)
		return false;
	if (privilege_lookup(cfg->run_user, uid, gid, err, sizeof(err)) < 0)
		log_fatal(EX_CONFIG_STATUS, "%s", err);
	return true;
}

void daemon_state_dirs(const struct config *cfg, const struct daemon_dir *dirs, size_t n)
{
	char err[1024];
	uid_t uid = 0;
	gid_t gid = 0;
	bool root = daemon_run_ids(cfg, &uid, &gid);
	/* state_dir itself is the administrator's path (followed); nothing below it is. */
	if (mkdir(cfg->state_dir, 0755) < 0 && errno != EEXIST)
		log_fatal(73, "cannot create state_dir %s: %s", cfg->state_dir, strerror(errno));
	int top = open(cfg->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		log_fatal(73, "state_dir %s: %s", cfg->state_dir, strerror(errno));
	close(top);
	const struct daemon_dir common[] = { { "", 0 }, { "mail", 0755 }, { "tls", 0 } };
	for (size_t i = 0; i < n + sizeof(common) / sizeof(common[0]); i++) {
		const struct daemon_dir *d = i < n ? &dirs[i] : &common[i - n];
		if (!root) {
			struct stat st;
			int fd = open_beneath(cfg->state_dir, d->rel, S_IFDIR, d->mode, &st);
			if (fd < 0 && !(fd == -ENOENT && !d->mode))
				log_fatal(73, "%s/%s %s", cfg->state_dir, d->rel,
					  open_beneath_error(fd));
			if (fd >= 0)
				close(fd);
		} else if (privilege_own_beneath(cfg->state_dir, d->rel, S_IFDIR, d->mode, uid, gid,
						 err, sizeof(err)) < 0) {
			log_fatal(73, "%s", err);
		}
	}
}

bool daemon_drop_privileges(const struct config *cfg, const char *const *extra_dirs, size_t n_extra,
			    const char *cert, const char *key)
{
	char err[1024];
	uid_t uid;
	gid_t gid;
	(void)cert;
	(void)key;
	if (!daemon_run_ids(cfg, &uid, &gid))
		return false;
	for (size_t i = 0; i < n_extra; i++)
		if (privilege_own_beneath(cfg->state_dir, extra_dirs[i], S_IFDIR, 0, uid, gid, err,
					  sizeof(err)) < 0)
			log_fatal(73, "%s", err);
	/* The generated pair in state_dir/tls is run_user's (SIGHUP reloads it); an
	 * administrator's tls_cert/tls_key was read above, as root, and is never chowned. */
	if (!cfg->tls_cert) {
		const char *own[] = { "tls", "tls/cert.pem", "tls/key.pem" };
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			if (privilege_own_beneath(cfg->state_dir, own[i], i ? S_IFREG : S_IFDIR, 0,
						  uid, gid, err, sizeof(err)) < 0)
				log_fatal(73, "%s", err);
	}
	if (privilege_drop(cfg->run_user, err, sizeof(err)) < 0)
		log_fatal(75, "%s", err);
	return true;
}

struct auth_throttle *daemon_auth_throttle(const struct config *cfg)
{
	struct auth_throttle_config throttle;
	auth_throttle_config_default(&throttle);
	throttle.delay_max = (unsigned)cfg->auth_failure_delay_max;
	throttle.block_failures = cfg->auth_block_failures;
	throttle.block_time = (time_t)cfg->auth_block_time;
	return auth_throttle_new(&throttle);
}

struct auth_cache *daemon_auth_cache(const struct config *cfg)
{
	struct auth_cache *c = auth_cache_new(cfg->auth_cache_size, (unsigned)cfg->auth_cache_ttl);
	if (!c && cfg->auth_cache_size && cfg->auth_cache_ttl)
		log_error("no login cache: no random secret could be made");
	return c;
}

int daemon_reload_accounts(struct accounts **accounts)
{
	char err[512];
	int r = accounts_reload_if_changed(accounts, err, sizeof(err));
	if (r < 0)
		log_error("users_file not reloaded: %s", err);
	else if (r > 0)
		log_info("users_file reloaded: %zu account(s)", (*accounts)->n);
	return r;
}

void daemon_signals_start(uv_loop_t *loop, uv_signal_cb on_stop, uv_signal_cb on_hup,
			  uv_timer_cb on_tick)
{
	uv_signal_init(loop, &daemon_sig_term);
	uv_signal_start(&daemon_sig_term, on_stop, SIGTERM);
	uv_signal_init(loop, &daemon_sig_int);
	uv_signal_start(&daemon_sig_int, on_stop, SIGINT);
	uv_signal_init(loop, &daemon_sig_hup);
	daemon_on_hup = on_hup;
	uv_signal_start(&daemon_sig_hup, daemon_hup, SIGHUP);
	uv_timer_init(loop, &daemon_tables_timer);
	uv_timer_start(&daemon_tables_timer, on_tick, 2000, 2000);
	sd_notify(0, "READY=1"); /* main() calls this once listening */
}

bool daemon_stop(uv_loop_t *loop, bool *stopping, struct net_listener **listeners, int signum)
{
	if (*stopping)
		return false;
	*stopping = true;
	sd_notify(0, "STOPPING=1");
	log_info("stopping on signal %d", signum);
	net_listeners_close(listeners);
	net_conns_close_all("shutdown");
	uv_stop(loop);
	return true;
}

void daemon_log_listeners(const struct net_listener *head)
{
	for (const struct net_listener *l = head; l; l = l->next)
		log_info("listening on %s (%s)", l->addr_text, l->name);
}
