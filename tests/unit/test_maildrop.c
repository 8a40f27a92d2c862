/* test_maildrop.c - maildrop_parse: the file sendmail writes into state_dir/maildrop when mtad is not running. */
#include <criterion/criterion.h>
#include <string.h>

#include "maildrop.h"

static int parse(const char *s, struct maildrop_msg *m, const char **err)
{
	return maildrop_parse(s, strlen(s), m, err);
}

Test(maildrop, parses_envelope_and_message)
{
	struct maildrop_msg m;
	const char *err = NULL;
	const char *f = "MAILDROP 1\nS cron@localhost\nR a@localhost\nR b@example.test\n\n"
			"Subject: x\r\n\r\nbody\r\n";
	cr_assert_eq(parse(f, &m, &err), 0, "%s", err);
	cr_expect_eq(m.sender_len, strlen("cron@localhost"));
	cr_expect_eq(memcmp(m.sender, "cron@localhost", m.sender_len), 0);
	cr_assert_eq(m.nrcpts, 2);
	cr_expect_eq(memcmp(m.rcpts[1], "b@example.test", m.rcpt_lens[1]), 0);
	cr_expect_eq(m.msg_len, strlen("Subject: x\r\n\r\nbody\r\n"));
	cr_expect_eq(memcmp(m.msg, "Subject: x", 10), 0);
}

Test(maildrop, null_sender_and_empty_message)
{
	struct maildrop_msg m;
	const char *err = NULL;
	cr_assert_eq(parse("MAILDROP 1\nS \nR a@localhost\n\n", &m, &err), 0, "%s", err);
	cr_expect_eq(m.sender_len, 0);
	cr_expect_eq(m.msg_len, 0);
}

Test(maildrop, refuses_what_is_not_one)
{
	struct maildrop_msg m;
	const char *err = NULL;
	const char *bad[] = {
		"",
		"MAILDROP 2\nS a@b\nR c@d\n\nx",
		"MAILDROP 1\nS a@b\nR c@d\n",           /* no end of the envelope */
		"MAILDROP 1\nR c@d\n\nx",               /* no sender */
		"MAILDROP 1\nS a@b\n\nx",               /* no recipient */
		"MAILDROP 1\nS a@b\nS e@f\nR c@d\n\nx", /* two senders */
		"MAILDROP 1\nS a@b\nX c@d\n\nx",        /* unknown line */
		"MAILDROP 1\nS a@b\nR \n\nx",           /* empty recipient */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		cr_expect_eq(parse(bad[i], &m, &err), -1, "case %zu", i);
		cr_expect_not_null(err, "case %zu", i);
	}
}
