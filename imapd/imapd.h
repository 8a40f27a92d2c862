/* imapd.h - state shared by the whole imapd daemon: configuration, TLS, accounts, throttle, live sessions, the extensions a session can enable. */
#ifndef MAIL_IMAPD_H
#define MAIL_IMAPD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "net.h"
#include "tls_policy.h"

struct accounts;
struct auth_cache;
struct auth_throttle;
struct client_work;
struct imap_client;
struct mailbox_routes;
struct tls_ctx;

#define IMAPD_IDLE_TIMEOUT_MS      (30 * 60 * 1000) /* RFC 3501 5.4: at least 30 minutes */
#define IMAPD_PREAUTH_TIMEOUT_MS   (60 * 1000)      /* before LOGIN: short */
#define IMAPD_IDLE_KEEPALIVE_MS    (2 * 60 * 1000)  /* "* OK Still here" during IDLE */
#define IMAPD_PREAUTH_MAX_COMMANDS 30               /* commands allowed before authentication */
#define IMAPD_MAX_BAD_COMMANDS     20               /* BAD responses in a row before BYE */
#define IMAPD_POOL_THREADS         "16" /* libuv pool size unless UV_THREADPOOL_SIZE is set */
#define IMAPD_MALLOC_ARENAS        2    /* M_ARENA_MAX (main.c) */
/* All sessions' synchronising literals together (announced sizes, reserved before "+"): a
 * literal that would pass it is answered NO [LIMIT] without reading it. */
#define IMAPD_LITERAL_MEMORY_MAX   ((uint64_t)256 << 20)
#define IMAPD_NONSYNC_LITERAL_MAX  4096 /* LITERAL- (RFC 7888): larger {n+} is BAD, skipped */

/* The extensions a session has turned on (ENABLE, or CONDSTORE by first use): imap_client.enabled
 * bits, which the selected folder's view reads too (mailbox_view.h). */
enum imap_enabled {
	IMAP_ENABLED_CONDSTORE = 1 << 0,
	IMAP_ENABLED_UTF8 = 1 << 1,
	IMAP_ENABLED_REV2 = 1 << 2,
	IMAP_ENABLED_QRESYNC = 1 << 3, /* implies CONDSTORE (RFC 7162 3.2.3) */
};
/* Mailbox names travel as UTF-8 (RFC 9051, RFC 6855 UTF8=ACCEPT), not modified UTF-7. */
#define IMAP_ENABLED_UTF8_NAMES (IMAP_ENABLED_REV2 | IMAP_ENABLED_UTF8)

struct imapd {
	struct config *cfg;
	uv_loop_t *loop;
	struct tls_ctx *tls;
	char *tls_cert, *tls_key;
	struct accounts *accounts;
	struct auth_throttle *auth_throttle;
	struct auth_cache *auth_cache; /* verified logins (NULL: none) */
	struct net_listener *listeners;
	struct imap_client *clients; /* every live session (for change notification) */
	unsigned pool_jobs;          /* client_run_on_pool work queued and not yet done */
	/* Sessions' command work on the pool is gated (client.c) so that logins (password
	 * checks, account opening) always find a free pool thread and SEARCHes cannot take all
	 * the others: at most pool_cmd_max command jobs run at once, pool_heavy_max of them
	 * CMD_FLAG_HEAVY; the rest wait in order in a list on the loop. */
	unsigned pool_cmd_max, pool_heavy_max;
	unsigned pool_cmd_running, pool_heavy_running;
	struct client_work *pool_wait_head, *pool_wait_tail;
	uint64_t literal_bytes; /* sessions' reserved literal bytes (IMAPD_LITERAL_MEMORY_MAX) */
	struct mailbox_routes *routes; /* mailbox_routes, for imap_proxy (NULL: all local) */
	struct tls_ctx *proxy_tls;     /* client TLS toward back ends (imap_proxy), made at start */
	struct tls_policy_file
		proxy_policy; /* relay_tls_policy_file: "[host]" lines of back ends */
	bool stopping;
};

/* Sets pool_cmd_max and pool_heavy_max for a thread pool of threads threads: a quarter of
 * them (at least one) stay for logins, a third of the rest at most run SEARCHes. */
void imapd_pool_setup(struct imapd *d, unsigned threads);

/* Binds imap_listen (STARTTLS) and imaps_listen (implicit TLS). Returns 0 or -1 with err. */
int imapd_listen(struct imapd *d, char *err, size_t errlen);

/* Tells every other session that has the folder at maildir selected that it changed (it
 * syncs at once when idling, else before its next response). */
void imapd_notify_folder(struct imapd *d, const struct imap_client *except, const char *maildir);

#endif
