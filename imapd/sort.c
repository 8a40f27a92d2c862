/* sort.c - SORT/THREAD argument parsing (criteria, algorithm, charset, then the SEARCH program) and the SORT comparison (pure). */
#include "sort.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int sort_fail(struct search_error *err, enum search_error_code code, const char *text)
{
	err->code = code;
	err->text = text;
	return -1;
}

/* The search part: builds "[RETURN opts] CHARSET name keys..." and hands it to search_parse,
 * so that RETURN, CHARSET and the keys follow SEARCH's rules exactly. */
static int sort_parse_search(const struct imap_arg *ret, const struct imap_arg *charset,
			     const struct imap_arg *keys, unsigned nkeys, unsigned flags,
			     struct search_program *prog, struct search_error *err)
{
	unsigned n = 0;
	struct imap_arg *a = calloc((size_t)nkeys + 5, sizeof(*a));
	if (!a)
		return sort_fail(err, SEARCH_ERR_LIMIT, "Out of memory");
	static char word_return[] = "RETURN", word_charset[] = "CHARSET";
	if (ret) {
		a[n++] = (struct imap_arg){ .type = IMAP_ARG_ATOM, .str = word_return, .len = 6 };
		a[n++] = *ret;
	}
	a[n++] = (struct imap_arg){ .type = IMAP_ARG_ATOM, .str = word_charset, .len = 7 };
	a[n++] = *charset;
	for (unsigned i = 0; i < nkeys; i++)
		a[n++] = keys[i];
	a[n].type = IMAP_ARG_EOL;
	int r = search_parse(a, n, flags, prog, err);
	free(a);
	return r;
}

static const struct {
	const char *name;
	enum sort_key key;
} sort_keys_table[] = {
	{ "ARRIVAL", SORT_ARRIVAL },
	{ "CC", SORT_CC },
	{ "DATE", SORT_DATE },
	{ "FROM", SORT_FROM },
	{ "SIZE", SORT_SIZE },
	{ "SUBJECT", SORT_SUBJECT },
	{ "TO", SORT_TO },
	{ "DISPLAYFROM", SORT_DISPLAYFROM },
	{ "DISPLAYTO", SORT_DISPLAYTO },
};

static int sort_parse_criteria(const struct imap_arg *a, struct sort_program *p,
			       struct search_error *err)
{
	const struct imap_arg *list;
	unsigned n;
	if (!imap_arg_list(a, &list, &n) || n == 0)
		return sort_fail(err, SEARCH_ERR_SYNTAX, "Sort criteria must be a non-empty list");
	bool reverse = false;
	for (unsigned i = 0; i < n; i++) {
		const char *w = imap_arg_atom(&list[i]);
		if (!w)
			return sort_fail(err, SEARCH_ERR_SYNTAX, "Invalid sort criterion");
		if (strcasecmp(w, "REVERSE") == 0) {
			if (reverse)
				return sort_fail(err, SEARCH_ERR_SYNTAX, "REVERSE twice");
			reverse = true;
			continue;
		}
		size_t k;
		for (k = 0; k < sizeof(sort_keys_table) / sizeof(sort_keys_table[0]); k++)
			if (strcasecmp(w, sort_keys_table[k].name) == 0)
				break;
		if (k == sizeof(sort_keys_table) / sizeof(sort_keys_table[0]))
			return sort_fail(err, SEARCH_ERR_SYNTAX, "Unknown sort criterion");
		if (p->ncrit == SORT_MAX_CRITERIA)
			return sort_fail(err, SEARCH_ERR_SYNTAX, "Too many sort criteria");
		enum sort_key key = sort_keys_table[k].key;
		p->crit[p->ncrit++] = (struct sort_criterion){ key, reverse };
		if (key != SORT_ARRIVAL && key != SORT_SIZE)
			p->needs_keys = true;
		reverse = false;
	}
	if (reverse)
		return sort_fail(err, SEARCH_ERR_SYNTAX, "REVERSE without a criterion");
	return 0;
}

int sort_parse(const struct imap_arg *args, unsigned count, unsigned flags, struct sort_program *p,
	       struct search_error *err_r)
{
	memset(p, 0, sizeof(*p));
	unsigned pos = 0;
	const struct imap_arg *ret = NULL;
	if (pos < count && imap_arg_atom_equals(&args[pos], "RETURN")) {
		if (pos + 1 >= count || args[pos + 1].type != IMAP_ARG_LIST)
			return sort_fail(err_r, SEARCH_ERR_SYNTAX,
					 "RETURN needs a list of options");
		ret = &args[pos + 1];
		pos += 2;
	}
	if (pos >= count)
		return sort_fail(err_r, SEARCH_ERR_SYNTAX, "Missing sort criteria");
	if (sort_parse_criteria(&args[pos], p, err_r) < 0)
		return -1;
	pos++;
	if (pos >= count || (args[pos].type != IMAP_ARG_ATOM && args[pos].type != IMAP_ARG_STRING &&
			     args[pos].type != IMAP_ARG_LITERAL))
		return sort_fail(err_r, SEARCH_ERR_SYNTAX, "Missing charset");
	return sort_parse_search(ret, &args[pos], args + pos + 1, count - pos - 1, flags,
				 &p->search, err_r);
}

int thread_parse(const struct imap_arg *args, unsigned count, unsigned flags,
		 struct sort_program *p, struct search_error *err_r)
{
	memset(p, 0, sizeof(*p));
	const char *alg = count > 0 ? imap_arg_atom(&args[0]) : NULL;
	if (!alg)
		return sort_fail(err_r, SEARCH_ERR_SYNTAX, "Missing threading algorithm");
	if (strcasecmp(alg, "ORDEREDSUBJECT") == 0)
		p->alg = THREAD_ORDEREDSUBJECT;
	else if (strcasecmp(alg, "REFERENCES") == 0)
		p->alg = THREAD_REFERENCES;
	else
		return sort_fail(err_r, SEARCH_ERR_SYNTAX, "Unknown threading algorithm");
	p->needs_keys = true;
	if (count < 2 || (args[1].type != IMAP_ARG_ATOM && args[1].type != IMAP_ARG_STRING &&
			  args[1].type != IMAP_ARG_LITERAL))
		return sort_fail(err_r, SEARCH_ERR_SYNTAX, "Missing charset");
	return sort_parse_search(NULL, &args[1], args + 2, count - 2, flags, &p->search, err_r);
}

void sort_program_free(struct sort_program *p)
{
	search_program_free(&p->search);
}

static int sort_cmp_num(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int sort_cmp(const void *x, const void *y, void *arg)
{
	const struct sort_msg *a = x, *b = y;
	const struct sort_program *p = arg;
	for (unsigned i = 0; i < p->ncrit; i++) {
		int c = 0;
		switch (p->crit[i].key) {
		case SORT_ARRIVAL:
			c = sort_cmp_num(a->arrival, b->arrival);
			break;
		case SORT_DATE:
			c = sort_cmp_num(a->date, b->date);
			break;
		case SORT_SIZE:
			c = a->size < b->size ? -1 : a->size > b->size;
			break;
		case SORT_SUBJECT:
			c = strcmp(a->subject, b->subject);
			break;
		case SORT_FROM:
			c = strcmp(a->from, b->from);
			break;
		case SORT_TO:
			c = strcmp(a->to, b->to);
			break;
		case SORT_CC:
			c = strcmp(a->cc, b->cc);
			break;
		case SORT_DISPLAYFROM:
			c = strcmp(a->display_from, b->display_from);
			break;
		case SORT_DISPLAYTO:
			c = strcmp(a->display_to, b->display_to);
			break;
		}
		if (c)
			return p->crit[i].reverse ? -c : c;
	}
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void sort_order(struct sort_msg *msgs, size_t n, const struct sort_criterion *crit, unsigned ncrit)
{
	struct sort_program p = { .ncrit = ncrit };
	memcpy(p.crit, crit, ncrit * sizeof(*crit));
	qsort_r(msgs, n, sizeof(*msgs), sort_cmp, &p);
}
