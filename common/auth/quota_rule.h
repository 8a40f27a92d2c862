/* quota_rule.h - Dovecot quota rules ("*:storage=1G") as the users file carries them. */
#ifndef MAIL_QUOTA_RULE_H
#define MAIL_QUOTA_RULE_H

#include <stddef.h>
#include <stdint.h>

/* Parses one Dovecot quota rule, the value of a userdb_quota_rule field:
 * "MAILBOX:LIMIT[:LIMIT...]" or "MAILBOX:ignore". MAILBOX "*" (or "?") is the account's
 * default rule, the only one we enforce; a rule for another mailbox is accepted and ignored.
 * LIMITs: "storage=N[unit]" (no unit: kilobytes, as Dovecot reads it), "bytes=N[unit]" (no
 * unit: bytes), "messages=N" (accepted, not enforced); units B, K, M, G, T (powers of 1024,
 * case-insensitive, an optional trailing B as in "MB"). 0 and "ignore" mean no limit.
 * Pure. Returns 1 with *bytes_r the storage limit (0 = none) for a default rule that sets
 * one, 0 for a rule that does not concern the account's storage (another mailbox, only
 * messages=), -1 with *error_r a static description for a malformed rule. */
int quota_rule_parse(const char *s, size_t len, uint64_t *bytes_r, const char **error_r);

#endif
