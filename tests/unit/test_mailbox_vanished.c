/* test_mailbox_vanished.c - the expunged-UID log (mtad-vanished): parser, format, bounds, and VANISHED answers from a real folder. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailbox.h"
#include "mailbox_index.h"
#include "store.h"

static char *fmt(const struct mailbox_vanished *v)
{
	struct buf b;
	buf_init(&b);
	mailbox_vanished_format(v, &b);
	return buf_steal(&b, NULL);
}

Test(vanished, parse_format_round_trip)
{
	const char *img = "mtad-vanished 1 77 5\n6 1 3\n6 7 7\n9 4 4\n";
	struct mailbox_vanished v;
	char err[128];
	cr_assert_eq(mailbox_vanished_parse(img, strlen(img), &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v.uidvalidity, 77);
	cr_assert_eq(v.floor, 5);
	cr_assert_eq(v.n, 3);
	cr_assert_eq(v.rec[2].modseq, 9);
	char *out = fmt(&v);
	cr_assert_str_eq(out, img);
	free(out);
	mailbox_vanished_free(&v);
}

Test(vanished, parse_refuses_damage)
{
	static const char *const bad[] = {
		"",
		"mtad-vanished 2 1 0\n",
		"mtad-vanished 1 0 0\n",               /* UIDVALIDITY 0 */
		"mtad-vanished 1 1 5\n5 1 1\n",        /* modseq not above FLOOR */
		"mtad-vanished 1 1 0\n6 1 1\n5 2 2\n", /* modseq going down */
		"mtad-vanished 1 1 0\n6 3 2\n",        /* lo > hi */
		"mtad-vanished 1 1 0\n6 0 2\n",        /* UID 0 */
		"mtad-vanished 1 1 0\n6 1 2",          /* truncated */
		"mtad-vanished 1 1 0\n6 1 2 3\n",
		"mtad-vanished 1 1 0\n6 1 99999999999\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mailbox_vanished v;
		char err[128] = "";
		cr_assert_eq(mailbox_vanished_parse(bad[i], strlen(bad[i]), &v, err, sizeof(err)),
			     -1, "%zu", i);
		cr_assert_neq(err[0], '\0');
		cr_assert_null(v.rec);
	}
}

Test(vanished, add_makes_ranges_and_stays_bounded)
{
	struct mailbox_vanished v = { .uidvalidity = 1, .floor = 0 };
	const uint32_t uids[] = { 1, 2, 3, 5, 8, 9 };
	mailbox_vanished_add(&v, 2, uids, 6);
	char *out = fmt(&v);
	cr_assert_str_eq(out, "mtad-vanished 1 1 0\n2 1 3\n2 5 5\n2 8 9\n");
	free(out);
	/* Past MAILBOX_VANISHED_MAX records the oldest expunges go, whole, and FLOOR rises. */
	for (uint32_t k = 0; k < MAILBOX_VANISHED_MAX; k++) {
		uint32_t u = 100 + 2 * k;
		mailbox_vanished_add(&v, 3 + k, &u, 1);
	}
	cr_assert_leq(v.n, MAILBOX_VANISHED_MAX);
	cr_assert_eq(v.floor, 2);
	cr_assert_eq(v.rec[0].modseq, 3);
	out = fmt(&v);
	struct mailbox_vanished again;
	cr_assert_eq(mailbox_vanished_parse(out, strlen(out), &again, NULL, 0), 0);
	cr_assert_eq(again.n, v.n);
	free(out);
	mailbox_vanished_free(&again);
	mailbox_vanished_free(&v);
}

static char test_dir[PATH_MAX];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

Test(vanished, expunges_are_answered_by_modseq)
{
	snprintf(test_dir, sizeof(test_dir), "/tmp/test_vanished.XXXXXX");
	cr_assert_not_null(mkdtemp(test_dir));
	char md[PATH_MAX + 8], err[256];
	snprintf(md, sizeof(md), "%s/md", test_dir);
	cr_assert_eq(store_maildir_create(md), 0);
	uint32_t uv, uid;
	for (int i = 0; i < 6; i++)
		cr_assert_eq(mailbox_append(md, "Subject: x\r\n\r\nx\r\n", 17,
					    MAILBOX_DELETED * (i < 4), NULL, 0, 0, &uv, &uid, err,
					    sizeof(err)),
			     0, "%s", err);
	struct mailbox *mb;
	cr_assert_eq(mailbox_open(md, false, &mb, err, sizeof(err)), 0, "%s", err);
	uint64_t before = mb->highest_modseq;
	const uint32_t first[] = { 2, 3 };
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_expunge(mb, first, 2, &ch), 0);
	mailbox_changes_free(&ch);
	/* The expunge took a mod-sequence of its own. */
	cr_assert_eq(mb->highest_modseq, before + 1);
	uint64_t mid = mb->highest_modseq;
	cr_assert_eq(mailbox_expunge(mb, NULL, 0, &ch), 0); /* UIDs 1 and 4 */
	mailbox_changes_free(&ch);
	struct mailbox_uid_range *r;
	size_t n = mailbox_vanished_since(mb, mid, &r);
	cr_assert_eq(n, 2);
	cr_assert(r[0].lo == 1 && r[0].hi == 1 && r[1].lo == 4 && r[1].hi == 4);
	free(r);
	n = mailbox_vanished_since(mb, before, &r);
	cr_assert_eq(n, 1);
	cr_assert(r[0].lo == 1 && r[0].hi == 4);
	free(r);
	/* Older than the log: every UID missing below UIDNEXT. */
	n = mailbox_vanished_since(mb, 1, &r);
	cr_assert_eq(n, 1);
	cr_assert(r[0].lo == 1 && r[0].hi == 4);
	free(r);
	/* A file removed behind the store's back is an expunge too (found by the scan). */
	char cur[PATH_MAX * 2];
	snprintf(cur, sizeof(cur), "%s/cur/%s", md, mb->msgs[1].filename);
	cr_assert_eq(unlink(cur), 0);
	uint64_t last = mb->highest_modseq;
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_expunged, 1);
	mailbox_changes_free(&ch);
	n = mailbox_vanished_since(mb, last, &r);
	cr_assert_eq(n, 1);
	cr_assert(r[0].lo == 6 && r[0].hi == 6);
	free(r);
	mailbox_close(&mb);
	nftw(test_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}
