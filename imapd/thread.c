/* thread.c - RFC 5256 threading: ORDEREDSUBJECT (groups by base subject) and REFERENCES (the message id links, dummies pruned, roots grouped by subject), without recursion (pure). */
#include "thread.h"
#include "sort_keys.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#define NONE ((size_t)-1)

/* A container (RFC 5256 3 "REFERENCES"): a message or a dummy standing for an id no message
 * here carries. Children are a linked list. */
struct tnode {
	size_t msg; /* index into msgs, or NONE for a dummy */
	size_t parent, child, next;
	size_t last;    /* the last child, when child != NONE */
	const char *id; /* the id it is known by (hash key), or NULL */
	size_t id_len;
	bool gone; /* pruned or merged away */
};

struct tctx {
	const struct thread_msg *msgs;
	struct tnode *n;
	size_t count, cap;
	size_t nids;  /* nodes with an id */
	size_t *slot; /* id hash: node index + 1 */
	size_t nslots;
};

static size_t t_new(struct tctx *t, size_t msg)
{
	if (t->count == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->n = xrealloc(t->n, t->cap * sizeof(*t->n));
	}
	t->n[t->count] = (struct tnode){ msg, NONE, NONE, NONE, NONE, NULL, 0, false };
	return t->count++;
}

static size_t t_hash(const char *s, size_t len)
{
	size_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static void t_rehash(struct tctx *t)
{
	size_t ns = t->nslots ? t->nslots * 2 : 256;
	size_t *slot = xcalloc(ns, sizeof(*slot));
	for (size_t i = 0; i < t->count; i++) {
		if (!t->n[i].id)
			continue;
		size_t h = t_hash(t->n[i].id, t->n[i].id_len) & (ns - 1);
		while (slot[h])
			h = (h + 1) & (ns - 1);
		slot[h] = i + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->nslots = ns;
}

/* The node known by id, or NONE; with create, a new dummy for it. */
static size_t t_lookup(struct tctx *t, const char *id, size_t len, bool create)
{
	if (t->nslots) {
		for (size_t h = t_hash(id, len) & (t->nslots - 1); t->slot[h];
		     h = (h + 1) & (t->nslots - 1)) {
			const struct tnode *x = &t->n[t->slot[h] - 1];
			if (x->id_len == len && memcmp(x->id, id, len) == 0)
				return t->slot[h] - 1;
		}
	}
	if (!create)
		return NONE;
	size_t i = t_new(t, NONE);
	t->n[i].id = id;
	t->n[i].id_len = len;
	if (++t->nids * 2 >= t->nslots) {
		t_rehash(t);
	} else {
		size_t h = t_hash(id, len) & (t->nslots - 1);
		while (t->slot[h])
			h = (h + 1) & (t->nslots - 1);
		t->slot[h] = i + 1;
	}
	return i;
}

/* Whether a is b or below b: whether making a the parent of b would close a loop. A walk
 * longer than THREAD_MAX_WALK (only a crafted folder has such chains) counts as a loop, so
 * that no folder costs more than n * THREAD_MAX_WALK steps. */
#define THREAD_MAX_WALK 10000
static bool t_within(const struct tctx *t, size_t a, size_t b)
{
	if (t->n[b].child == NONE)
		return a == b; /* nothing below b: the common case of a new message */
	size_t steps = 0;
	for (size_t x = a; x != NONE; x = t->n[x].parent)
		if (x == b || ++steps > THREAD_MAX_WALK)
			return true;
	return false;
}

static void t_unlink(struct tctx *t, size_t c)
{
	size_t p = t->n[c].parent;
	if (p == NONE)
		return;
	size_t *pp = &t->n[p].child, prev = NONE;
	while (*pp != c) {
		prev = *pp;
		pp = &t->n[*pp].next;
	}
	*pp = t->n[c].next;
	if (t->n[p].last == c)
		t->n[p].last = prev;
	t->n[c].parent = NONE;
	t->n[c].next = NONE;
}

/* Appends c to p's children. */
static void t_link(struct tctx *t, size_t p, size_t c)
{
	t_unlink(t, c);
	if (t->n[p].child == NONE)
		t->n[p].child = c;
	else
		t->n[t->n[p].last].next = c;
	t->n[p].last = c;
	t->n[c].parent = p;
	t->n[c].next = NONE;
}

/* The message that stands for node x in comparisons: itself, or a dummy's first child's. */
static size_t t_repr(const struct tctx *t, size_t x)
{
	while (x != NONE && t->n[x].msg == NONE)
		x = t->n[x].child;
	return x == NONE ? NONE : t->n[x].msg;
}

static int t_cmp_msgs(const struct thread_msg *msgs, size_t a, size_t b)
{
	if (a == NONE || b == NONE)
		return (a == NONE) - (b == NONE);
	if (msgs[a].date != msgs[b].date)
		return msgs[a].date < msgs[b].date ? -1 : 1;
	return a < b ? -1 : a > b;
}

static int t_cmp_nodes(const void *x, const void *y, void *arg)
{
	const struct tctx *t = arg;
	return t_cmp_msgs(t->msgs, t_repr(t, *(const size_t *)x), t_repr(t, *(const size_t *)y));
}

/* Node indexes in post-order (children before parents), of the trees under roots. */
static size_t *t_postorder(const struct tctx *t, const size_t *roots, size_t nroots, size_t *n_r)
{
	size_t *out = xmalloc((t->count + 1) * sizeof(*out));
	size_t *stack = xmalloc((t->count + 1) * sizeof(*stack));
	size_t n = 0;
	for (size_t r = 0; r < nroots; r++) {
		/* Reverse pre-order (node, then children right to left) reversed = post-order. */
		size_t sp = 0, start = n;
		stack[sp++] = roots[r];
		while (sp) {
			size_t x = stack[--sp];
			out[n++] = x;
			for (size_t c = t->n[x].child; c != NONE; c = t->n[c].next)
				stack[sp++] = c;
		}
		for (size_t i = start, j = n - 1; i < j; i++, j--) {
			size_t tmp = out[i];
			out[i] = out[j];
			out[j] = tmp;
		}
	}
	free(stack);
	*n_r = n;
	return out;
}

/* Sorts the children of every node under roots by date (a dummy by its first child's). */
static void t_sort_children(struct tctx *t, const size_t *roots, size_t nroots)
{
	size_t n;
	size_t *order = t_postorder(t, roots, nroots, &n);
	size_t *kids = NULL, cap = 0;
	for (size_t i = 0; i < n; i++) {
		size_t x = order[i], k = 0;
		for (size_t c = t->n[x].child; c != NONE; c = t->n[c].next) {
			if (k == cap) {
				cap = cap ? cap * 2 : 16;
				kids = xrealloc(kids, cap * sizeof(*kids));
			}
			kids[k++] = c;
		}
		if (k < 2)
			continue;
		qsort_r(kids, k, sizeof(*kids), t_cmp_nodes, t);
		t->n[x].child = kids[0];
		for (size_t j = 0; j + 1 < k; j++)
			t->n[kids[j]].next = kids[j + 1];
		t->n[kids[k - 1]].next = NONE;
		t->n[x].last = kids[k - 1];
	}
	free(kids);
	free(order);
}

/* The roots (nodes without a parent, not gone), in node order. */
static size_t *t_roots(const struct tctx *t, size_t *n_r)
{
	size_t *r = xmalloc((t->count + 1) * sizeof(*r));
	size_t n = 0;
	for (size_t i = 0; i < t->count; i++)
		if (!t->n[i].gone && t->n[i].parent == NONE)
			r[n++] = i;
	*n_r = n;
	return r;
}

/* Step 3: dummies without children go; a dummy's children take its place (at the top only
 * when it had a single child). */
static void t_prune(struct tctx *t)
{
	size_t nroots, n;
	size_t *roots = t_roots(t, &nroots);
	size_t *order = t_postorder(t, roots, nroots, &n);
	for (size_t i = 0; i < n; i++) {
		size_t x = order[i];
		/* Rebuild x's children: its dummy children are replaced by their children. */
		size_t c = t->n[x].child, head = NONE, *tail = &head, last = NONE;
		while (c != NONE) {
			size_t next = t->n[c].next;
			if (t->n[c].msg == NONE) {
				t->n[c].gone = true;
				for (size_t g = t->n[c].child; g != NONE;) {
					size_t gn = t->n[g].next;
					t->n[g].parent = x;
					last = g;
					*tail = g;
					tail = &t->n[g].next;
					g = gn;
				}
				t->n[c].child = NONE;
			} else {
				last = c;
				*tail = c;
				tail = &t->n[c].next;
			}
			c = next;
		}
		*tail = NONE;
		t->n[x].child = head;
		t->n[x].last = last;
	}
	/* The top level. */
	for (size_t r = 0; r < nroots; r++) {
		size_t x = roots[r];
		if (t->n[x].msg != NONE)
			continue;
		size_t c = t->n[x].child;
		if (c == NONE) {
			t->n[x].gone = true;
		} else if (t->n[c].next == NONE) {
			t->n[x].gone = true;
			t->n[x].child = NONE;
			t->n[c].parent = NONE;
		}
	}
	free(order);
	free(roots);
}

static const char *t_subject(const struct tctx *t, size_t x)
{
	size_t m = t_repr(t, x);
	return m == NONE ? "" : t->msgs[m].subject;
}

/* Step 5: roots with the same base subject are gathered. */
static void t_group_subjects(struct tctx *t)
{
	size_t nroots;
	size_t *roots = t_roots(t, &nroots);
	t_sort_children(t, roots, nroots);
	qsort_r(roots, nroots, sizeof(*roots), t_cmp_nodes, t);
	/* The subject table: a hash of subject -> node. */
	size_t ns = 16;
	while (ns < nroots * 2 + 2)
		ns *= 2;
	size_t *tab = xcalloc(ns, sizeof(*tab));
	for (size_t r = 0; r < nroots; r++) {
		size_t x = roots[r];
		const char *s = t_subject(t, x);
		if (!*s)
			continue;
		size_t h = t_hash(s, strlen(s)) & (ns - 1);
		while (tab[h] && strcmp(t_subject(t, tab[h] - 1), s) != 0)
			h = (h + 1) & (ns - 1);
		if (!tab[h]) {
			tab[h] = x + 1;
			continue;
		}
		size_t old = tab[h] - 1;
		bool x_dummy = t->n[x].msg == NONE, old_dummy = t->n[old].msg == NONE;
		if ((x_dummy && !old_dummy) ||
		    (!x_dummy && !old_dummy && !t->msgs[t->n[x].msg].reply &&
		     t->msgs[t->n[old].msg].reply))
			tab[h] = x + 1;
	}
	for (size_t r = 0; r < nroots; r++) {
		size_t x = roots[r];
		if (t->n[x].gone || t->n[x].parent != NONE)
			continue;
		const char *s = t_subject(t, x);
		if (!*s)
			continue;
		size_t h = t_hash(s, strlen(s)) & (ns - 1);
		while (tab[h] && strcmp(t_subject(t, tab[h] - 1), s) != 0)
			h = (h + 1) & (ns - 1);
		if (!tab[h] || tab[h] - 1 == x)
			continue;
		size_t old = tab[h] - 1;
		bool x_dummy = t->n[x].msg == NONE, old_dummy = t->n[old].msg == NONE;
		if (x_dummy && old_dummy) {
			while (t->n[x].child != NONE)
				t_link(t, old, t->n[x].child);
			t->n[x].gone = true;
		} else if (old_dummy) {
			t_link(t, old, x);
		} else if (!x_dummy && t->msgs[t->n[x].msg].reply &&
			   !t->msgs[t->n[old].msg].reply) {
			t_link(t, old, x);
		} else {
			size_t d = t_new(t, NONE);
			t_link(t, d, old);
			t_link(t, d, x);
			tab[h] = d + 1;
		}
	}
	free(tab);
	free(roots);
}

/* Writes the trees under roots: "(" number [" " child | " (" child ")(" child ")"] ")". */
static void t_write(struct buf *out, const struct tctx *t, const size_t *roots, size_t nroots)
{
	struct frame {
		size_t node, kid;
		bool entered, multi;
	};
	struct frame *st = xmalloc((t->count + 1) * sizeof(*st));
	for (size_t r = 0; r < nroots; r++) {
		size_t sp = 0;
		buf_append(out, "(", 1);
		st[sp++] = (struct frame){ roots[r], NONE, false, false };
		while (sp) {
			struct frame *f = &st[sp - 1];
			if (!f->entered) {
				f->entered = true;
				const struct tnode *x = &t->n[f->node];
				bool dummy = x->msg == NONE;
				if (!dummy)
					buf_printf(out, "%u", t->msgs[x->msg].number);
				if (x->child == NONE) {
					sp--;
					buf_append(out, ")", 1);
					continue;
				}
				if (!dummy)
					buf_append(out, " ", 1);
				if (t->n[x->child].next == NONE) {
					/* One child: the chain goes on in this frame. */
					f->node = x->child;
					f->entered = false;
					continue;
				}
				f->multi = true;
				f->kid = x->child;
			}
			if (f->kid == NONE) {
				sp--;
				buf_append(out, ")", 1);
				continue;
			}
			size_t k = f->kid;
			f->kid = t->n[k].next;
			buf_append(out, "(", 1);
			st[sp++] = (struct frame){ k, NONE, false, false };
		}
	}
	free(st);
}

struct t_refs_ctx {
	struct tctx *t;
	size_t prev;
};

static void t_ref(const char *id, size_t len, void *arg)
{
	struct t_refs_ctx *r = arg;
	size_t cur = t_lookup(r->t, id, len, true);
	/* Link consecutive references, unless already linked or a loop would form. */
	if (r->prev != NONE && cur != r->prev && r->t->n[cur].parent == NONE &&
	    !t_within(r->t, r->prev, cur))
		t_link(r->t, r->prev, cur);
	r->prev = cur;
}

static void thread_references(struct buf *out, const struct thread_msg *msgs, size_t n)
{
	struct tctx t = { .msgs = msgs };
	for (size_t i = 0; i < n; i++) {
		/* 1.A: the message's container; a duplicate id gets a container of its own. */
		size_t me = NONE;
		size_t idlen = strlen(msgs[i].msgid);
		if (idlen) {
			me = t_lookup(&t, msgs[i].msgid, idlen, true);
			if (t.n[me].msg != NONE)
				me = NONE;
		}
		if (me == NONE)
			me = t_new(&t, i);
		t.n[me].msg = i;
		/* 1.B: link the references; 1.C: the last one is the parent. */
		struct t_refs_ctx r = { &t, NONE };
		sort_keys_each_ref(msgs[i].refs, t_ref, &r);
		t_unlink(&t, me);
		if (r.prev != NONE && !t_within(&t, r.prev, me))
			t_link(&t, r.prev, me);
	}
	t_prune(&t);
	t_group_subjects(&t);
	size_t nroots;
	size_t *roots = t_roots(&t, &nroots);
	t_sort_children(&t, roots, nroots);
	qsort_r(roots, nroots, sizeof(*roots), t_cmp_nodes, &t);
	t_write(out, &t, roots, nroots);
	free(roots);
	free(t.n);
	free(t.slot);
}

static int t_cmp_subject(const void *x, const void *y, void *arg)
{
	const struct thread_msg *msgs = arg;
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	int c = strcmp(msgs[a].subject, msgs[b].subject);
	return c ? c : t_cmp_msgs(msgs, a, b);
}

static void thread_orderedsubject(struct buf *out, const struct thread_msg *msgs, size_t n)
{
	struct tctx t = { .msgs = msgs };
	size_t *idx = xmalloc((n + 1) * sizeof(*idx));
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), t_cmp_subject, (void *)msgs);
	size_t root = NONE;
	for (size_t i = 0; i < n; i++) {
		size_t x = t_new(&t, idx[i]);
		if (root != NONE && strcmp(msgs[idx[i]].subject, msgs[t.n[root].msg].subject) == 0)
			t_link(&t, root, x);
		else
			root = x;
	}
	free(idx);
	size_t nroots;
	size_t *roots = t_roots(&t, &nroots);
	qsort_r(roots, nroots, sizeof(*roots), t_cmp_nodes, &t);
	t_write(out, &t, roots, nroots);
	free(roots);
	free(t.n);
}

void thread_write(struct buf *out, enum thread_algorithm alg, const struct thread_msg *msgs,
		  size_t n)
{
	if (alg == THREAD_ORDEREDSUBJECT)
		thread_orderedsubject(out, msgs, n);
	else
		thread_references(out, msgs, n);
}
