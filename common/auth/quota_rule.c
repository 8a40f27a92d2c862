/* quota_rule.c - parses a Dovecot quota rule ("*:storage=1G") into a storage limit (pure). */
#include "quota_rule.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* "N[unit]" in [s, end) with mul the multiplier without a unit. */
static int quota_rule_number(const char *s, const char *end, uint64_t mul, uint64_t *out,
			     const char **error_r)
{
	uint64_t v = 0;
	const char *p = s;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10) {
			*error_r = "quota limit too large";
			return -1;
		}
		v = v * 10 + d;
	}
	if (p == s) {
		*error_r = "quota limit is not a number";
		return -1;
	}
	if (p < end) {
		switch (*p) {
		case 'b':
		case 'B':
			mul = 1;
			break;
		case 'k':
		case 'K':
			mul = 1ULL << 10;
			break;
		case 'm':
		case 'M':
			mul = 1ULL << 20;
			break;
		case 'g':
		case 'G':
			mul = 1ULL << 30;
			break;
		case 't':
		case 'T':
			mul = 1ULL << 40;
			break;
		default:
			*error_r = "unknown quota unit (use B, K, M, G or T)";
			return -1;
		}
		p++;
		if (p < end && mul > 1 && (*p == 'b' || *p == 'B'))
			p++; /* "MB" */
		if (p != end) {
			*error_r = "unknown quota unit (use B, K, M, G or T)";
			return -1;
		}
	}
	if (v != 0 && mul > UINT64_MAX / v) {
		*error_r = "quota limit too large";
		return -1;
	}
	*out = v * mul;
	return 0;
}

static bool quota_rule_key(const char *s, size_t n, const char *key)
{
	return n == strlen(key) && strncasecmp(s, key, n) == 0;
}

int quota_rule_parse(const char *s, size_t len, uint64_t *bytes_r, const char **error_r)
{
	const char *end = s + len;
	const char *colon = memchr(s, ':', len);
	*bytes_r = 0;
	if (!colon || colon == s) {
		*error_r = "quota rule is not MAILBOX:LIMITS";
		return -1;
	}
	for (const char *p = s; p < end; p++) {
		if ((unsigned char)*p < 0x21 || *p == 0x7f) {
			*error_r = "control character or space in quota rule";
			return -1;
		}
	}
	bool is_default = (colon - s == 1) && (s[0] == '*' || s[0] == '?');
	const char *p = colon + 1;
	if (p == end) {
		*error_r = "quota rule without limits";
		return -1;
	}
	if (quota_rule_key(p, (size_t)(end - p), "ignore")) {
		*bytes_r = 0;
		return is_default ? 1 : 0;
	}
	if (quota_rule_key(p, (size_t)(end - p), "noenforcing") ||
	    ((size_t)(end - p) > 8 && strncasecmp(p, "backend=", 8) == 0)) {
		*error_r = "unsupported quota rule";
		return -1;
	}
	bool storage = false;
	uint64_t bytes = 0;
	while (p < end) {
		const char *next = memchr(p, ':', (size_t)(end - p));
		if (!next)
			next = end;
		const char *eq = memchr(p, '=', (size_t)(next - p));
		if (!eq) {
			*error_r = "quota limit is not NAME=VALUE";
			return -1;
		}
		const char *v = eq + 1;
		/* Relative limits ("+10M", "-10M", "10%") are for mailbox rules over the default:
		 * fine there, meaningless in the default rule itself. */
		bool relative = v < next && (*v == '+' || *v == '-' || next[-1] == '%');
		if (relative && is_default) {
			*error_r = "relative quota limit in the default rule";
			return -1;
		}
		uint64_t n = 0;
		if (quota_rule_key(p, (size_t)(eq - p), "storage")) {
			if (!relative && quota_rule_number(v, next, 1024, &n, error_r) < 0)
				return -1;
			bytes = n;
			storage = true;
		} else if (quota_rule_key(p, (size_t)(eq - p), "bytes")) {
			if (!relative && quota_rule_number(v, next, 1, &n, error_r) < 0)
				return -1;
			bytes = n;
			storage = true;
		} else if (quota_rule_key(p, (size_t)(eq - p), "messages")) {
			if (!relative && quota_rule_number(v, next, 1, &n, error_r) < 0)
				return -1;
		} else {
			*error_r = "unknown quota limit (use storage, bytes or messages)";
			return -1;
		}
		p = next < end ? next + 1 : end;
		if (next + 1 == end) {
			*error_r = "empty quota limit";
			return -1;
		}
	}
	if (!is_default || !storage)
		return 0;
	*bytes_r = bytes;
	return 1;
}
