/* mta_sts.h - MTA-STS (RFC 8461): the _mta-sts TXT record, the policy file, MX pattern matching, and the policy we publish. */
#ifndef MAIL_MTA_STS_H
#define MAIL_MTA_STS_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct http_server;

#define MTA_STS_ID_MAX      32          /* RFC 8461 3.1: id is 1-32 alphanumerics */
#define MTA_STS_MAX_AGE_MAX 31557600L   /* RFC 8461 3.2: about one year */
#define MTA_STS_POLICY_MAX  (64 * 1024) /* RFC 8461 3.3: senders may limit the body to 64 KiB */

/*
 * Parses one TXT record (pure): "v=STSv1; id=ID; [ext=value; ...]" with optional blanks
 * around ';' and an optional trailing ';'. Returns 0 with id (NUL-terminated) filled, or -1:
 * not an STSv1 record, or one that is syntactically invalid (RFC 8461 3.1).
 */
int mta_sts_txt_parse(const char *txt, size_t len, char id[MTA_STS_ID_MAX + 1]);

/*
 * Chooses the record among every TXT string of _mta-sts.DOMAIN (pure): records not starting
 * with "v=STSv1" are ignored; exactly one must remain and be valid. Returns 1 with id
 * filled, 0 when no record starts with "v=STSv1" (no policy), -1 with err (several or an
 * invalid one: also no policy, but worth a log line).
 */
int mta_sts_txt_select(char *const *records, size_t n, char id[MTA_STS_ID_MAX + 1], char *err,
		       size_t errlen);

enum mta_sts_mode {
	MTA_STS_NONE,
	MTA_STS_TESTING,
	MTA_STS_ENFORCE,
};

struct mta_sts_policy {
	enum mta_sts_mode mode;
	long max_age; /* seconds, at most MTA_STS_MAX_AGE_MAX */
	char **mx;    /* lower case patterns: "mail.example.com" or "*.example.com" */
	size_t n_mx;
};

/*
 * Parses a policy file (pure): "key: value" lines ended by LF or CRLF; version (STSv1),
 * mode and max_age required, one or more mx lines unless mode is none; unknown keys
 * ignored; for a repeated version, mode or max_age the first wins. Returns 0 with *out
 * filled (free with mta_sts_policy_free), or -1 with err and *out empty.
 */
int mta_sts_policy_parse(const char *text, size_t len, struct mta_sts_policy *out, char *err,
			 size_t errlen);
void mta_sts_policy_free(struct mta_sts_policy *p);
/* A deep copy (free with mta_sts_policy_free). */
void mta_sts_policy_copy(struct mta_sts_policy *dst, const struct mta_sts_policy *src);

/* Whether host (an MX name, any case, trailing dot allowed) matches pattern (RFC 8461 4.1:
 * "*.example.com" matches exactly one more leftmost label). Pure. */
bool mta_sts_mx_match(const char *pattern, const char *host);

/* Whether host matches one of the policy's mx patterns. */
bool mta_sts_policy_mx_ok(const struct mta_sts_policy *p, const char *host);

/* "enforce", "testing", "none". */
const char *mta_sts_mode_name(enum mta_sts_mode m);

/* Receiver side: serves GET /.well-known/mta-sts.txt on s with our own policy, the text of
 * dns_records_mta_sts_policy() (what `mailctl dns` prints, so the _mta-sts id matches). The
 * mode (enforce only with a CA-signed certificate) is decided from the certificate here, at
 * start-up, and again by mta_sts_refresh (SIGHUP). */
void mta_sts_routes(struct http_server *s, const struct config *cfg);
void mta_sts_refresh(const struct config *cfg);
void mta_sts_routes_free(void);

#endif
