/* test_thread.c - RFC 5256 threading: ORDEREDSUBJECT grouping, REFERENCES links, loops, duplicate ids, dummy pruning, subject merging, deep chains. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thread.h"

static char *threads(enum thread_algorithm alg, const struct thread_msg *m, size_t n)
{
	struct buf b;
	buf_init(&b);
	thread_write(&b, alg, m, n);
	char *s = buf_steal(&b, NULL);
	return s ? s : strdup("");
}

#define M(num, date, subj, reply, id, refs)      \
	{                                        \
		num, date, subj, reply, id, refs \
	}

Test(thread, references_rfc_shapes)
{
	/* imaptest "thread": b refers to a and c, c to b: the loop is not made. */
	struct thread_msg m[] = {
		M(1, 300, "", false, "<a@b>", ""),
		M(2, 100, "", false, "<b@b>", "<a@b> <c@b>"),
		M(3, 200, "", false, "<c@b>", "<b@b>"),
	};
	char *s = threads(THREAD_REFERENCES, m, 3);
	cr_assert_str_eq(s, "(3 2)(1)");
	free(s);
	/* Without message 1: the dummy for <a@b> goes. */
	struct thread_msg m2[] = {
		M(1, 100, "", false, "<b@b>", "<a@b> <c@b>"),
		M(2, 200, "", false, "<c@b>", "<b@b>"),
	};
	s = threads(THREAD_REFERENCES, m2, 2);
	cr_assert_str_eq(s, "(2 1)");
	free(s);
}

Test(thread, references_duplicates_and_dummies)
{
	struct thread_msg dup[] = {
		M(1, 0, "", false, "<a@b>", ""),
		M(2, 0, "", false, "<a@b>", ""),
	};
	char *s = threads(THREAD_REFERENCES, dup, 2);
	cr_assert_str_eq(s, "(1)(2)");
	free(s);
	/* Two replies to a message that is not here: a dummy parent with two children. */
	struct thread_msg orphans[] = {
		M(1, 0, "", false, "", "<a@b>"),
		M(2, 1, "", false, "", "<a@b>"),
	};
	s = threads(THREAD_REFERENCES, orphans, 2);
	cr_assert_str_eq(s, "((1)(2))");
	free(s);
	/* One child: promoted to the top, then gathered by subject under the original. */
	struct thread_msg promoted[] = {
		M(1, 0, "FOO", false, "<a@b>", ""),
		M(2, 1, "FOO", true, "<b@b>", "<c@b>"),
	};
	s = threads(THREAD_REFERENCES, promoted, 2);
	cr_assert_str_eq(s, "(1 2)");
	free(s);
	/* A duplicate of a reply is a sibling; children sorted by date, then by order. */
	struct thread_msg t7[] = {
		M(1, 0, "", false, "<a@b>", ""),
		M(2, 0, "", false, "<b@b>", "<a@b>"),
		M(3, 0, "", false, "<c@b>", "<b@b>"),
		M(4, 0, "", false, "<b@b>", "<a@b>"),
	};
	s = threads(THREAD_REFERENCES, t7, 4);
	cr_assert_str_eq(s, "(1 (2 3)(4))");
	free(s);
}

Test(thread, references_subjects_merge)
{
	/* Two unrelated non-replies with one subject: a dummy holds both. */
	struct thread_msg m[] = {
		M(1, 10, "X", false, "<1@x>", ""),
		M(2, 20, "X", false, "<2@x>", ""),
		M(3, 5, "Y", false, "<3@x>", ""),
	};
	char *s = threads(THREAD_REFERENCES, m, 3);
	cr_assert_str_eq(s, "(3)((1)(2))");
	free(s);
}

Test(thread, orderedsubject)
{
	/* imaptest thread-orderedsubject2: dates decide inside and between threads. */
	struct thread_msg m[] = {
		M(1, 10, "A", false, "", ""), M(2, 9, "B", false, "", ""),
		M(3, 8, "A", false, "", ""),  M(4, 7, "B", false, "", ""),
		M(5, 30, "A", false, "", ""), M(6, 29, "B", false, "", ""),
		M(7, 28, "A", false, "", ""), M(8, 27, "B", false, "", ""),
	};
	char *s = threads(THREAD_ORDEREDSUBJECT, m, 8);
	cr_assert_str_eq(s, "(4 (2)(8)(6))(3 (1)(7)(5))");
	free(s);
	struct thread_msg two[] = { M(9, 0, "", false, "", ""), M(10, 0, "", false, "", "") };
	s = threads(THREAD_ORDEREDSUBJECT, two, 2);
	cr_assert_str_eq(s, "(9 10)");
	free(s);
	s = threads(THREAD_ORDEREDSUBJECT, two, 0);
	cr_assert_str_eq(s, "");
	free(s);
}

Test(thread, deep_chain_needs_no_stack)
{
	/* 200,000 messages each replying to the one before: no recursion to overflow. */
	size_t n = 200000;
	struct thread_msg *m = calloc(n, sizeof(*m));
	char(*ids)[24] = calloc(n, sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "<%zu@x>", i);
		m[i] = (struct thread_msg){ (uint32_t)(i + 1),  (int64_t)i, "S", i > 0, ids[i],
					    i ? ids[i - 1] : "" };
	}
	char *s = threads(THREAD_REFERENCES, m, n);
	cr_assert_eq(strncmp(s, "(1 2 3 ", 7), 0);
	cr_assert_eq(strcmp(s + strlen(s) - 8, " 200000)"), 0);
	free(s);
	free(ids);
	free(m);
}
