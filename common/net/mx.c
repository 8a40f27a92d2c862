/* mx.c - pure mail exchanger selection: null MX detection, dedupe, sort, equal-preference shuffle. */
#include "mx.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool mx_name_is_root(const char *name)
{
	return name == NULL || name[0] == '\0' || (name[0] == '.' && name[1] == '\0');
}

bool mx_is_null(const struct mx_entry *e, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!mx_name_is_root(e[i].name))
			return false;
	return true;
}

/* Orders by name, case-insensitively, then by preference: duplicates become neighbours with
 * the most preferred first. */
static int mx_cmp_name(const void *a, const void *b)
{
	const struct mx_entry *x = a, *y = b;
	int c = strcasecmp(x->name, y->name);
	if (c != 0)
		return c;
	if (x->preference != y->preference)
		return x->preference < y->preference ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Orders by preference, then by name so the order before shuffling is canonical. */
static int mx_cmp_pref(const void *a, const void *b)
{
	const struct mx_entry *x = a, *y = b;
	if (x->preference != y->preference)
		return x->preference < y->preference ? -1 : 1;
	int c = strcasecmp(x->name, y->name);
	return c != 0 ? c : strcmp(x->name, y->name);
}

/* Uniform integer in [0, bound) from rnd, rejecting the biased tail of the 32-bit range. */
static uint32_t mx_uniform(uint32_t bound, mx_random_fn rnd, void *arg)
{
	uint32_t limit = UINT32_MAX - UINT32_MAX % bound;
	for (int tries = 0; tries < 64; tries++) {
		uint32_t r = rnd(arg);
		if (r < limit)
			return r % bound;
	}
	/* A broken generator: fall back to the (slightly biased) modulo, never loop forever. */
	return rnd(arg) % bound;
}

static void mx_shuffle(struct mx_entry *e, size_t n, mx_random_fn rnd, void *arg)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = mx_uniform((uint32_t)i, rnd, arg);
		struct mx_entry t = e[i - 1];
		e[i - 1] = e[j];
		e[j] = t;
	}
}

size_t mx_select(struct mx_entry *e, size_t n, size_t max, mx_random_fn rnd, void *arg)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (!mx_name_is_root(e[i].name))
			e[k++] = e[i];
	n = k;
	if (n == 0)
		return 0;

	qsort(e, n, sizeof(*e), mx_cmp_name);
	k = 1;
	for (size_t i = 1; i < n; i++)
		if (strcasecmp(e[i].name, e[k - 1].name) != 0)
			e[k++] = e[i];
	n = k;

	qsort(e, n, sizeof(*e), mx_cmp_pref);
	for (size_t start = 0; start < n;) {
		size_t end = start + 1;
		while (end < n && e[end].preference == e[start].preference)
			end++;
		/* Only the runs that can still be within the cap need shuffling, but a run that
		 * straddles the cap must be shuffled whole so the cut is random too. */
		if (start >= max)
			break;
		if (rnd != NULL && end - start > 1)
			mx_shuffle(e + start, end - start, rnd, arg);
		start = end;
	}
	return n < max ? n : max;
}

struct mx_entry mx_implicit(const char *domain)
{
	struct mx_entry e = { .name = domain, .preference = 0 };
	return e;
}

int mx_check_name(const char *name, const char **error_r)
{
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0) {
		*error_r = "empty domain name";
		return -1;
	}
	if (len > MX_NAME_MAX) {
		*error_r = "domain name longer than 253 octets";
		return -1;
	}
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0) {
				*error_r = "empty label in domain name";
				return -1;
			}
			label = 0;
			continue;
		}
		if (c <= ' ' || c == 0x7f || c == '\\') {
			*error_r = "invalid character in domain name";
			return -1;
		}
		if (++label > 63) {
			*error_r = "domain name label longer than 63 octets";
			return -1;
		}
	}
	if (label == 0) {
		*error_r = "empty label in domain name";
		return -1;
	}
	return 0;
}
