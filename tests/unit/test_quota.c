/* test_quota.c - the maildirsize file: parsing, recount from a Maildir, updates, checks. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "quota.h"

static char dir[256];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_quota.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *rel, const char *content)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (char *p = path + strlen(dir) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0700);
			*p = '/';
		}
	}
	if (!content) {
		mkdir(path, 0700);
		return;
	}
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(content, f);
	fclose(f);
}

static int parse(const char *s, struct maildir_quota_usage *u)
{
	return maildir_quota_parse(s, strlen(s), u);
}

Test(quota, parse)
{
	struct maildir_quota_usage u;
	cr_assert_eq(parse("1048576S\n100 1\n-20 -1\n 5000 2\n", &u), 0);
	cr_assert_eq(u.bytes, 5080);
	cr_assert_eq(u.messages, 2);
	cr_assert_eq(parse("0S\n", &u), 0);
	cr_assert_eq(u.bytes, 0);
	cr_assert_eq(parse("1000S,10C\n300\n", &u), 0); /* a count may be left out */
	cr_assert_eq(u.bytes, 300);
	cr_assert_eq(parse("", &u), -1);
	cr_assert_eq(parse("100S", &u), -1);
	cr_assert_eq(parse("100S\n100 1", &u), -1); /* torn last line */
	cr_assert_eq(parse("100S\nx 1\n", &u), -1);
	cr_assert_eq(parse("100S\n1 1 1\n", &u), -1);
	cr_assert_eq(parse("100S\n99999999999999999999 1\n", &u), -1);
}

Test(quota, root)
{
	char out[PATH_MAX];
	cr_assert_eq(maildir_quota_root("/s/mail/d/alice", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "/s/mail/d/alice");
	cr_assert_eq(maildir_quota_root("/s/mail/d/alice/.Sent", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "/s/mail/d/alice");
	cr_assert_eq(maildir_quota_root("/s/mail/d/alice/.A.B/", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "/s/mail/d/alice");
}

Test(quota, recount_and_update, .init = setup, .fini = teardown)
{
	put("tmp", NULL);
	put("cur/1.M1.h,S=100:2,S", "x");
	put("new/2.M2.h,S=50", "x");
	put("new/3.M3.h", "12345"); /* no S=: its file size */
	put(".Sent/cur/4.M4.h,S=1000:2,", "x");
	put(".Sent/new/.hidden", "ignored");
	put("mtad-deleting.1.1/cur/5.M5.h,S=7", "x"); /* not a folder: not counted */
	struct maildir_quota_usage u;
	cr_assert_eq(maildir_quota_get(dir, 4096, &u), 0);
	cr_assert_eq(u.bytes, 1155);
	cr_assert_eq(u.messages, 4);
	char path[PATH_MAX], *text = NULL;
	snprintf(path, sizeof(path), "%s/maildirsize", dir);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	size_t cap = 0;
	cr_assert(getline(&text, &cap, f) > 0);
	cr_assert_str_eq(text, "4096S\n");
	free(text);
	fclose(f);

	maildir_quota_update(dir, 200, 1);
	maildir_quota_update_folder(path, 0, 0); /* no change: nothing written */
	char sent[PATH_MAX];
	snprintf(sent, sizeof(sent), "%s/.Sent", dir);
	maildir_quota_update_folder(sent, -1000, -1);
	cr_assert_eq(maildir_quota_get(dir, 4096, &u), 0);
	cr_assert_eq(u.bytes, 355); /* the figure, not a recount */
	cr_assert_eq(u.messages, 4);

	cr_assert_eq(maildir_quota_check(dir, 4096, 3741, &u), 0);
	cr_assert_eq(maildir_quota_check(dir, 4096, 3742, &u), 1);
	cr_assert_eq(maildir_quota_check(dir, 0, 1ULL << 40, &u), 0);

	/* An old figure is recounted before it refuses. */
	struct timespec old[2] = { { .tv_sec = time(NULL) - 3600 },
				   { .tv_sec = time(NULL) - 3600 } };
	maildir_quota_update(dir, 3000, 0); /* overstated: 3355 */
	cr_assert_eq(maildir_quota_check(dir, 4096, 1000, &u), 1);
	cr_assert_eq(utimensat(AT_FDCWD, path, old, 0), 0);
	cr_assert_eq(maildir_quota_check(dir, 4096, 1000, &u), 0);
	cr_assert_eq(u.bytes, 1155);

	/* Removing the file forces a recount. */
	maildir_quota_update(dir, 100000, 1);
	maildir_quota_invalidate(dir);
	cr_assert_eq(maildir_quota_get(dir, 4096, &u), 0);
	cr_assert_eq(u.bytes, 1155);
}

Test(quota, recount_when_large_or_negative, .init = setup, .fini = teardown)
{
	put("tmp", NULL);
	put("cur/1.M1.h,S=100:2,", "x");
	struct maildir_quota_usage u;
	put("maildirsize", "0S\n-500 -1\n");
	cr_assert_eq(maildir_quota_get(dir, 0, &u), 0);
	cr_assert_eq(u.bytes, 100);
	for (int i = 0; i < 1300; i++)
		maildir_quota_update(dir, 1, 0);
	cr_assert_eq(maildir_quota_get(dir, 0, &u), 0);
	cr_assert_eq(u.bytes, 100); /* grown past MAILDIR_QUOTA_FILE_MAX: recounted */
}

Test(quota, missing_maildir)
{
	struct maildir_quota_usage u;
	cr_assert_eq(maildir_quota_get("/nonexistent/test_quota/x", 10, &u), 0);
	cr_assert_eq(u.bytes, 0);
	cr_assert_eq(maildir_quota_check("/nonexistent/test_quota/x", 10, 10, &u), 0);
	cr_assert_eq(maildir_quota_check("/nonexistent/test_quota/x", 10, 11, &u), 1);
}
