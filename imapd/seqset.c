/* seqset.c - IMAP sequence sets: parsing, normalised range lists, '*' resolution, printing. */
#include "seqset.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

void seqset_init(struct seqset *set)
{
	memset(set, 0, sizeof(*set));
}

void seqset_free(struct seqset *set)
{
	free(set->ranges);
	free(set->star);
	seqset_init(set);
}

static void seqset_insert_at(struct seqset *set, size_t pos, uint32_t lo, uint32_t hi)
{
	if (set->count == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 8;
		set->ranges = xrealloc(set->ranges, set->cap * sizeof(*set->ranges));
	}
	memmove(&set->ranges[pos + 1], &set->ranges[pos],
		(set->count - pos) * sizeof(*set->ranges));
	set->ranges[pos].lo = lo;
	set->ranges[pos].hi = hi;
	set->count++;
}

void seqset_add_range(struct seqset *set, uint32_t lo, uint32_t hi)
{
	if (lo > hi) {
		uint32_t t = lo;
		lo = hi;
		hi = t;
	}
	if (lo == 0)
		lo = 1;
	if (hi == 0)
		return;
	/* Fast path: at or after the last range. */
	if (set->count > 0) {
		struct seqset_range *last = &set->ranges[set->count - 1];
		if (lo >= last->lo && (uint64_t)lo <= (uint64_t)last->hi + 1) {
			if (hi > last->hi)
				last->hi = hi;
			return;
		}
	}
	/* First range that ends at or after lo - 1: everything before stays apart. */
	size_t a = 0, b = set->count;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if ((uint64_t)set->ranges[m].hi + 1 < lo)
			a = m + 1;
		else
			b = m;
	}
	if (a == set->count || (uint64_t)hi + 1 < set->ranges[a].lo) {
		seqset_insert_at(set, a, lo, hi);
		return;
	}
	/* Overlaps or touches ranges[a]: merge it and every following range it reaches. */
	struct seqset_range *r = &set->ranges[a];
	if (lo < r->lo)
		r->lo = lo;
	if (hi > r->hi)
		r->hi = hi;
	size_t j = a + 1;
	while (j < set->count && (uint64_t)set->ranges[j].lo <= (uint64_t)r->hi + 1) {
		if (set->ranges[j].hi > r->hi)
			r->hi = set->ranges[j].hi;
		j++;
	}
	memmove(&set->ranges[a + 1], &set->ranges[j], (set->count - j) * sizeof(*set->ranges));
	set->count -= j - (a + 1);
}

void seqset_add(struct seqset *set, uint32_t n)
{
	seqset_add_range(set, n, n);
}

/* One nz-number or '*' at s[*pos]; *star_r tells which. */
static int seqset_parse_value(const char *s, size_t len, size_t *pos, unsigned flags, uint32_t *n_r,
			      bool *star_r, const char **error_r)
{
	size_t i = *pos;
	if (i >= len || s[i] == ',' || s[i] == ':') {
		*error_r = "Invalid sequence set: empty element";
		return -1;
	}
	if (s[i] == '*') {
		if (flags & SEQSET_NO_STAR) {
			*error_r = "Invalid sequence set: '*' not allowed here";
			return -1;
		}
		*star_r = true;
		*n_r = 0;
		*pos = i + 1;
		return 0;
	}
	if (s[i] < '0' || s[i] > '9') {
		*error_r = "Invalid sequence set: unexpected character";
		return -1;
	}
	if (s[i] == '0') {
		*error_r = "Invalid sequence set: 0 or leading zero";
		return -1;
	}
	uint64_t n = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		n = n * 10 + (uint64_t)(s[i] - '0');
		if (n > UINT32_MAX) {
			*error_r = "Invalid sequence set: number above 4294967295";
			return -1;
		}
		i++;
	}
	*star_r = false;
	*n_r = (uint32_t)n;
	*pos = i;
	return 0;
}

static void seqset_add_star(struct seqset *set, uint32_t other)
{
	size_t n = set->star_count;
	if ((n & (n - 1)) == 0) /* 0, 1, 2, 4, ...: capacity doubles */
		set->star = xrealloc(set->star, (n ? n * 2 : 1) * sizeof(*set->star));
	set->star[set->star_count++] = other;
}

int seqset_parse(const char *s, size_t len, unsigned flags, struct seqset *set_r,
		 const char **error_r)
{
	seqset_init(set_r);
	if (len == 1 && s[0] == '$') {
		if (!(flags & SEQSET_ALLOW_SAVED)) {
			*error_r = "Invalid sequence set: '$' without SEARCHRES";
			return -1;
		}
		set_r->saved = true;
		return 0;
	}
	if (len == 0) {
		*error_r = "Invalid sequence set: empty";
		return -1;
	}
	size_t pos = 0;
	for (;;) {
		uint32_t a, b;
		bool a_star, b_star;
		if (seqset_parse_value(s, len, &pos, flags, &a, &a_star, error_r) < 0)
			goto fail;
		b = a;
		b_star = a_star;
		if (pos < len && s[pos] == ':') {
			pos++;
			if (seqset_parse_value(s, len, &pos, flags, &b, &b_star, error_r) < 0)
				goto fail;
		}
		if (a_star && b_star)
			seqset_add_star(set_r, 0);
		else if (a_star)
			seqset_add_star(set_r, b);
		else if (b_star)
			seqset_add_star(set_r, a);
		else
			seqset_add_range(set_r, a, b);
		if (pos == len)
			return 0;
		if (s[pos] != ',') {
			*error_r = s[pos] == '$' ? "Invalid sequence set: '$' must stand alone"
						 : "Invalid sequence set: unexpected character";
			goto fail;
		}
		pos++;
		if (pos == len) {
			*error_r = "Invalid sequence set: empty element";
			goto fail;
		}
	}
fail:
	seqset_free(set_r);
	return -1;
}

void seqset_resolve(const struct seqset *set, uint32_t max, struct seqset *out)
{
	free(out->star);
	out->star = NULL;
	out->star_count = 0;
	out->count = 0;
	out->saved = false;
	if (set->count > 0) {
		if (out->cap < set->count) {
			out->cap = set->count;
			out->ranges = xrealloc(out->ranges, out->cap * sizeof(*out->ranges));
		}
		memcpy(out->ranges, set->ranges, set->count * sizeof(*set->ranges));
		out->count = set->count;
	}
	if (max == 0)
		return;
	for (size_t i = 0; i < set->star_count; i++) {
		uint32_t other = set->star[i] ? set->star[i] : max;
		seqset_add_range(out, other, max);
	}
}

/* Index of the first range whose hi is >= n (set->count when none). */
static size_t seqset_first_range_from(const struct seqset *set, uint32_t n)
{
	size_t a = 0, b = set->count;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (set->ranges[m].hi < n)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

bool seqset_contains(const struct seqset *set, uint32_t n)
{
	size_t a = seqset_first_range_from(set, n);
	return a < set->count && set->ranges[a].lo <= n;
}

bool seqset_next(const struct seqset *set, uint32_t n, uint32_t *next_r)
{
	size_t a = seqset_first_range_from(set, n);
	if (a == set->count)
		return false;
	*next_r = set->ranges[a].lo > n ? set->ranges[a].lo : n;
	return true;
}

bool seqset_contains_max(const struct seqset *set, uint32_t n, uint32_t max)
{
	if (seqset_contains(set, n))
		return true;
	if (max == 0)
		return false;
	for (size_t i = 0; i < set->star_count; i++) {
		uint32_t other = set->star[i] ? set->star[i] : max;
		uint32_t lo = other < max ? other : max;
		uint32_t hi = other < max ? max : other;
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}

uint64_t seqset_count(const struct seqset *set)
{
	uint64_t n = 0;
	for (size_t i = 0; i < set->count; i++)
		n += (uint64_t)set->ranges[i].hi - set->ranges[i].lo + 1;
	return n;
}

bool seqset_min(const struct seqset *set, uint32_t *n_r)
{
	if (set->count == 0)
		return false;
	*n_r = set->ranges[0].lo;
	return true;
}

bool seqset_max(const struct seqset *set, uint32_t *n_r)
{
	if (set->count == 0)
		return false;
	*n_r = set->ranges[set->count - 1].hi;
	return true;
}

void seqset_iter_init(struct seqset_iter *it, const struct seqset *set)
{
	it->set = set;
	it->i = 0;
	it->next = set->count > 0 ? set->ranges[0].lo : 0;
}

bool seqset_iter_next(struct seqset_iter *it, uint32_t *n_r)
{
	if (it->i >= it->set->count)
		return false;
	*n_r = (uint32_t)it->next;
	if (it->next >= it->set->ranges[it->i].hi) {
		it->i++;
		if (it->i < it->set->count)
			it->next = it->set->ranges[it->i].lo;
	} else {
		it->next++;
	}
	return true;
}

void seqset_write(struct buf *b, const struct seqset *set)
{
	bool first = true;
	if (set->saved) {
		buf_append(b, "$", 1);
		return;
	}
	for (size_t i = 0; i < set->count; i++) {
		const struct seqset_range *r = &set->ranges[i];
		if (r->lo == r->hi)
			buf_printf(b, "%s%u", first ? "" : ",", r->lo);
		else
			buf_printf(b, "%s%u:%u", first ? "" : ",", r->lo, r->hi);
		first = false;
	}
	for (size_t i = 0; i < set->star_count; i++) {
		if (set->star[i] == 0)
			buf_printf(b, "%s*", first ? "" : ",");
		else
			buf_printf(b, "%s%u:*", first ? "" : ",", set->star[i]);
		first = false;
	}
}
