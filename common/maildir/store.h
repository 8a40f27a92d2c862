/* store.h - the Maildir store: mailbox paths, unique file names, durable tmp -> new delivery (shared new/ fsync). */
#ifndef MAIL_STORE_H
#define MAIL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* state_dir/mail/DOMAIN/LOCALPART (domain and local part lower-cased by the caller; use the
 * _for_addr(ess) forms below, which decide what an address maps to).
 * Refuses names that could escape the tree ("", ".", "..", '/', leading '.', NUL, control
 * characters). Returns 0 or -1 (EINVAL / ENAMETOOLONG in errno). */
int store_mailbox_path(const char *state_dir, const char *domain, const char *local, char *out,
		       size_t outlen);

/* THE Maildir of an address, for every program (imapd login, deliver, mtad's local delivery):
 * state_dir/mail/DOMAIN/LOCAL with LOCAL the local part decoded (quotes and backslash escapes
 * removed, as a mailbox it is one name whatever its spelling) and ASCII lower-cased, DOMAIN
 * lower-cased. The _for_address form parses "local@domain" first (addr_parse_mailbox, UTF-8
 * allowed). Distinct account names (addr_account_name) give distinct Maildirs. Same returns
 * as store_mailbox_path (EINVAL also for an address that does not parse). */
struct addr;
int store_mailbox_path_for_addr(const char *state_dir, const struct addr *a, char *out,
				size_t outlen);
int store_mailbox_path_for_address(const char *state_dir, const char *address, char *out,
				   size_t outlen);

/* Creates the Maildir (and parents) with cur/ new/ tmp/, mode 0700. Returns 0 or -errno. */
int store_maildir_create(const char *maildir);

/* Builds a Maildir base name "SECS.UNIQUE.HOST" (HOST with '/' and ':' encoded as \057 and
 * \072) followed by ",S=SIZE". UNIQUE must be unique on this host for this second, e.g.
 * "M123456P99Q7" or, for queue deliveries, "Q<queueid>R<index>" (deterministic, so a
 * redelivery after a crash can be detected). Returns the length (snprintf-like). */
size_t store_maildir_name(char *out, size_t outlen, int64_t secs, const char *unique,
			  const char *host, uint64_t size);

/* Parsed form of a Maildir file name "BASE[,S=SIZE][,W=VSIZE][:2,FLAGS]". */
struct store_name_info {
	size_t base_len; /* bytes of the name before the first ',' or ':' */
	uint64_t size;   /* ,S= value; 0 and has_size false when absent */
	bool has_size;
	char flags[32]; /* the letters after ":2," (sorted as found), "" if none */
};
int store_maildir_parse_name(const char *name, struct store_name_info *info_r);

/* Writes the concatenated iov into MAILDIR/tmp/NAME, fsyncs it, links it to MAILDIR/new/NAME
 * and returns once an fsync of new/ that started after the link has finished: concurrent
 * deliveries into the same new/ (from other threads) share that fsync. Returns 0 on
 * success, 1 when NAME already exists in new/ (already delivered; the existing file is
 * untouched and nothing is left in tmp/), or -errno on failure (tmp file removed; -ENOENT
 * when tmp/ or new/ is missing: store_maildir_create, then try again). Thread-safe. */
int store_maildir_deliver(const char *maildir, const char *name, const struct iovec *iov,
			  int iovcnt);

/* Recovery check: does new/ or cur/ of MAILDIR hold a file whose name contains the token
 * ".UNIQUE." (as made by store_maildir_name)? Scans the directories: use only after a
 * crash. Returns 1 yes, 0 no, -errno on error. */
int store_maildir_has_unique(const char *maildir, const char *unique);

#endif
