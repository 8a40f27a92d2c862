/* daemon.h - what every daemon's main() shares: the command line, TLS set-up, privilege drop, signal wiring and the final handle sweep. */
#ifndef MAIL_DAEMON_H
#define MAIL_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <uv.h>

struct accounts;
struct auth_cache;
struct config;
struct net_listener;
struct tls_ctx;

/* Parses "NAME [-c FILE] [-f]" plus --help and --version. Returns -1 to go on (with *conf_r
 * NULL when -c was not given), or the status main() must return at once: 0 after --help or
 * --version, 64 (EX_USAGE) after a usage error. */
int daemon_options(int argc, char **argv, const char *name, void (*usage)(FILE *f),
		   const char **conf_r, int *foreground_r);

/* After uv_run returned: closes every handle still open (signals, timers) and runs the loop
 * until in-flight thread-pool work and close callbacks are done. */
void daemon_close_handles(uv_loop_t *loop);

/* The server TLS context (after daemon_state_dirs(cfg, NULL, 0)): the configured tls_cert/tls_key pair, or one generated into
 * state_dir/tls at first start (logged). *cert_r and *key_r get the pair's paths (free them).
 * Exits with EX_CONFIG_STATUS when there is no usable pair. */
struct tls_ctx *daemon_tls_setup(const struct config *cfg, char **cert_r, char **key_r);

/* SIGHUP's certificate step: re-reads the pair into tls, logging a failure (the old pair stays). */
void daemon_tls_reload(struct tls_ctx *tls, const char *cert, const char *key);

/* Reloads the pair when the certificate file changed since the previous call (the first call
 * only takes note): imapd follows the certificate mtad's ACME client renews. *stamp starts
 * zeroed. */
struct file_stamp;
void daemon_tls_follow(struct tls_ctx *tls, const char *cert, const char *key,
		       struct file_stamp *stamp, bool *stamped);

/* A directory below state_dir the daemon needs: rel ("queue/active"), created with mode when
 * missing (mode 0: not created, only owned when present). */
struct daemon_dir {
	const char *rel;
	mode_t mode;
};

/* Before anything else touches state_dir: creates state_dir (the administrator's path), then
 * dirs[0..n), state_dir/mail (0755) and, when present, state_dir/tls below it without
 * following any symbolic link (open_beneath); started as root, hands each to run_user through
 * the descriptor. A link or another type where a directory belongs: exits 73 (EX_CANTCREAT)
 * with a line naming the path. docs/security.md. */
void daemon_state_dirs(const struct config *cfg, const struct daemon_dir *dirs, size_t n);

/* Started as root: hands extra_dirs[0..n_extra) (directories relative to state_dir, when
 * present) and the generated certificate pair in state_dir/tls to run_user, no link followed
 * (open_beneath); cert and key are not used: a configured tls_cert/tls_key was read as root
 * and is never chowned. Then drops to run_user; exits on failure (73 on a link). Returns true
 * when privileges were dropped (the caller then checks what run_user can reach), false when not
 * started as root (nothing done). */
bool daemon_drop_privileges(const struct config *cfg, const char *const *extra_dirs, size_t n_extra,
			    const char *cert, const char *key);

/* The failed-login throttle with the auth_* keys of cfg (mtad's AUTH and imapd's logins alike). */
struct auth_throttle;
struct auth_throttle *daemon_auth_throttle(const struct config *cfg);
/* The cache of verified logins (auth_cache_ttl, auth_cache_size); NULL when disabled. */
struct auth_cache *daemon_auth_cache(const struct config *cfg);

/* Re-reads users_file when it changed; logs the new count or why it was not reloaded. Returns
 * 1 reloaded, 0 unchanged, -1 error (the old table kept). */
int daemon_reload_accounts(struct accounts **accounts);

/* SIGTERM and SIGINT call on_stop, SIGHUP on_hup, and on_tick runs every 2 seconds (tables
 * re-read when changed). The handles are closed by daemon_close_handles(). Under systemd
 * ($NOTIFY_SOCKET) it tells READY=1, so main() calls it once listening; on_hup is bracketed
 * by RELOADING=1 and READY=1, and daemon_stop() tells STOPPING=1. */
void daemon_signals_start(uv_loop_t *loop, uv_signal_cb on_stop, uv_signal_cb on_hup,
			  uv_timer_cb on_tick);

/* The shared first step of on_stop: once only (*stopping), logs the signal, closes the
 * listeners and every connection, and stops the loop. Returns false when already stopping. */
bool daemon_stop(uv_loop_t *loop, bool *stopping, struct net_listener **listeners, int signum);

/* Logs one "listening on ADDRESS (NAME)" line for each listener. */
void daemon_log_listeners(const struct net_listener *head);

#endif
