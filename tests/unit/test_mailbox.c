/* test_mailbox.c - one Maildir folder through mailbox.h: UIDs, flags in names, keywords, sync reports, index rebuild, append/copy, concurrency, scale. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "mailbox.h"
#include "mailbox_index.h"
#include "store.h"

static char test_dir[PATH_MAX];

/* snprintf that fails the test on truncation. */
static void test_fmt(char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void test_fmt(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < outlen, "path too long");
}
static char test_md[PATH_MAX];

static int test_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Base directory of the test folders: tmpfs when there is one, because the concurrency
 * test is about locking, not about how long a shared disk takes to fsync 3000 times. */
static const char *test_base(void)
{
	struct stat st;
	return stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
		       ? "/dev/shm"
		       : "/tmp";
}

static void test_setup(void)
{
	test_fmt(test_dir, sizeof(test_dir), "%s/test_mailbox.XXXXXX", test_base());
	cr_assert_not_null(mkdtemp(test_dir));
	test_fmt(test_md, sizeof(test_md), "%s/md", test_dir);
	cr_assert_eq(store_maildir_create(test_md), 0);
}

static void test_teardown(void)
{
	nftw(test_dir, test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(mailbox, .init = test_setup, .fini = test_teardown);

/* Delivers a message as mtad does (new/SECS.UNIQUE.HOST,S=SIZE). */
static void test_deliver(const char *md, int64_t secs, const char *unique, const char *body)
{
	char name[NAME_MAX + 1];
	struct iovec iov = { .iov_base = (void *)body, .iov_len = strlen(body) };
	store_maildir_name(name, sizeof(name), secs, unique, "host.example", strlen(body));
	cr_assert_eq(store_maildir_deliver(md, name, &iov, 1), 0);
}

static int test_count_dir(const char *md, const char *sub)
{
	char path[PATH_MAX];
	test_fmt(path, sizeof(path), "%s/%s", md, sub);
	DIR *d = opendir(path);
	cr_assert_not_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static struct mailbox *test_open(const char *md)
{
	struct mailbox *mb;
	char err[256] = "";
	int r = mailbox_open(md, false, &mb, err, sizeof(err));
	cr_assert_eq(r, 0, "open: %s", err);
	return mb;
}

/* Renames a message file as another Maildir client would (new info suffix). */
static void test_rename_info(const char *md, const struct mailbox_msg *m, const char *info)
{
	char from[PATH_MAX], to[PATH_MAX];
	size_t blen = strcspn(m->filename, ":");
	test_fmt(from, sizeof(from), "%s/%s/%s", md, m->in_new ? "new" : "cur", m->filename);
	test_fmt(to, sizeof(to), "%s/cur/%.*s:2,%s", md, (int)blen, m->filename, info);
	cr_assert_eq(rename(from, to), 0, "rename %s: %s", from, strerror(errno));
}

static void test_index_path(char *out, size_t outlen)
{
	test_fmt(out, outlen, "%s/" MAILBOX_INDEX_FILE, test_md);
}

Test(mailbox, open_empty_creates_index)
{
	struct mailbox *mb = test_open(test_md);
	cr_assert_eq(mb->count, 0);
	cr_assert_eq(mb->uidnext, 1);
	cr_assert_gt(mb->uidvalidity, 0);
	cr_assert_geq(mb->highest_modseq, 1);
	char path[PATH_MAX];
	struct stat st;
	test_index_path(path, sizeof(path));
	cr_assert_eq(stat(path, &st), 0, "the index exists after open");
	mailbox_close(&mb);
	cr_assert_null(mb);
}

Test(mailbox, open_missing_folder_fails)
{
	struct mailbox *mb = NULL;
	char err[256], path[PATH_MAX];
	test_fmt(path, sizeof(path), "%s/nope", test_dir);
	cr_assert_eq(mailbox_open(path, false, &mb, err, sizeof(err)), -ENOENT);
	cr_assert_null(mb);
	cr_assert_neq(err[0], '\0');
}

Test(mailbox, uids_in_arrival_order_and_moved_to_cur)
{
	/* Names sort wrongly as strings (999 < 1000 numerically): arrival order wins. */
	test_deliver(test_md, 1000, "Mb", "Subject: b\r\n\r\nb\r\n");
	test_deliver(test_md, 999, "Mz", "Subject: a\r\n\r\na\r\n");
	test_deliver(test_md, 1000, "Ma", "Subject: c\r\n\r\nccc\r\n");
	struct mailbox *mb = test_open(test_md);
	cr_assert_eq(mb->count, 3);
	cr_assert_str_eq(mb->msgs[0].filename, "999.Mz.host.example,S=17:2,");
	cr_assert_eq(strncmp(mb->msgs[1].filename, "1000.Ma.", 8), 0);
	cr_assert_eq(strncmp(mb->msgs[2].filename, "1000.Mb.", 8), 0);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(mb->msgs[i].uid, i + 1);
		cr_assert_eq(mb->msgs[i].in_new, false);
		cr_assert(mb->msgs[i].flags & MAILBOX_RECENT);
		cr_assert_eq(mb->msgs[i].flags & ~MAILBOX_RECENT, 0u);
	}
	cr_assert_eq(mb->msgs[0].internal_date, 999);
	cr_assert_eq(mb->msgs[1].size, 19);
	cr_assert_eq(mb->uidnext, 4);
	cr_assert_eq(test_count_dir(test_md, "new"), 0);
	cr_assert_eq(test_count_dir(test_md, "cur"), 3);
	char path[PATH_MAX];
	cr_assert_eq(mailbox_msg_path(mb, 2, path, sizeof(path)), 0);
	cr_assert_eq(access(path, R_OK), 0);

	/* A second open sees the same UIDs, from the index. */
	struct mailbox *mb2 = test_open(test_md);
	cr_assert_eq(mb2->count, 3);
	cr_assert_eq(mb2->uidvalidity, mb->uidvalidity);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(mb2->msgs[i].uid, mb->msgs[i].uid);
		cr_assert_str_eq(mb2->msgs[i].filename, mb->msgs[i].filename);
		cr_assert_eq(mb2->msgs[i].flags & MAILBOX_RECENT, 0u, "recent only for the first");
	}
	cr_assert_eq(mailbox_find_uid(mb2, 2), 1);
	cr_assert_eq(mailbox_find_uid(mb2, 7), -1);
	mailbox_close(&mb2);
	mailbox_close(&mb);
}

Test(mailbox, readonly_leaves_new_alone_but_assigns_uids)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb;
	char err[256];
	cr_assert_eq(mailbox_open(test_md, true, &mb, err, sizeof(err)), 0);
	cr_assert_eq(mb->count, 1);
	cr_assert(mb->msgs[0].in_new);
	cr_assert_eq(test_count_dir(test_md, "new"), 1);
	cr_assert_eq(mailbox_store(mb, 0, '+', MAILBOX_SEEN, NULL, 0), -EROFS);
	uint32_t uid = mb->msgs[0].uid;
	mailbox_close(&mb);
	mb = test_open(test_md);
	cr_assert_eq(mb->msgs[0].uid, uid);
	cr_assert_not(mb->msgs[0].in_new);
	mailbox_close(&mb);
}

/* Issue 17: EXAMINE said "0 RECENT" where STATUS and SELECT said 2. A read-only view shows the
 * messages no session claimed yet as \Recent and leaves them recent for the next session. */
Test(mailbox, readonly_view_shows_unclaimed_recent)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	test_deliver(test_md, 101, "Mb", "y\r\n");
	struct mailbox *mb;
	char err[256];
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(mailbox_open(test_md, true, &mb, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(mailbox_recent_count(mb), 2, "round %d", round);
		cr_assert(mb->msgs[0].flags & MAILBOX_RECENT);
		mailbox_close(&mb);
		struct mailbox_status st;
		cr_assert_eq(mailbox_status(test_md, false, &st), 0);
		cr_assert_eq(st.recent, 2);
	}
	mb = test_open(test_md);
	cr_assert_eq(mailbox_recent_count(mb), 2, "the read-write view claims them");
	mailbox_close(&mb);
	cr_assert_eq(mailbox_open(test_md, true, &mb, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(mailbox_recent_count(mb), 0, "claimed by the read-write view");
	mailbox_close(&mb);
}

Test(mailbox, sync_reports_new_and_is_quiet_when_nothing_changed)
{
	struct mailbox *mb = test_open(test_md);
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_new + ch.n_expunged + ch.n_flag_changed, 0);
	mailbox_changes_free(&ch);
	test_deliver(test_md, 100, "Ma", "x\r\n");
	test_deliver(test_md, 101, "Mb", "y\r\n");
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_new, 2);
	cr_assert_eq(ch.n_expunged, 0);
	cr_assert_not(ch.uidvalidity_changed);
	cr_assert_eq(mb->count, 2);
	mailbox_changes_free(&ch);
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_new + ch.n_expunged + ch.n_flag_changed, 0);
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
}

Test(mailbox, flags_round_trip_through_file_names)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb = test_open(test_md);
	cr_assert_eq(mailbox_store(mb, 0, '+', MAILBOX_SEEN | MAILBOX_FLAGGED, NULL, 0), 0);
	cr_assert_str_eq(mb->msgs[0].filename, "100.Ma.host.example,S=3:2,FS");
	uint64_t ms = mb->msgs[0].modseq;
	cr_assert_eq(mailbox_store(mb, 0, '+', MAILBOX_DRAFT | MAILBOX_ANSWERED | MAILBOX_DELETED,
				   NULL, 0),
		     0);
	cr_assert_str_eq(mb->msgs[0].filename, "100.Ma.host.example,S=3:2,DFRST");
	cr_assert_gt(mb->msgs[0].modseq, ms);
	cr_assert_eq(mb->highest_modseq, mb->msgs[0].modseq);
	cr_assert_eq(mailbox_store(mb, 0, '-', MAILBOX_FLAGGED | MAILBOX_DELETED, NULL, 0), 0);
	cr_assert_str_eq(mb->msgs[0].filename, "100.Ma.host.example,S=3:2,DRS");
	cr_assert_eq(mailbox_store(mb, 0, '=', MAILBOX_ANSWERED, NULL, 0), 0);
	cr_assert_str_eq(mb->msgs[0].filename, "100.Ma.host.example,S=3:2,R");
	cr_assert_eq(mb->msgs[0].flags & ~MAILBOX_RECENT, (unsigned)MAILBOX_ANSWERED);
	cr_assert_eq(test_count_dir(test_md, "cur"), 1);

	/* Our own STORE is not reported back as a change by the next sync. */
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_flag_changed, 0);
	mailbox_changes_free(&ch);

	/* Another session sees the flags and the modseq. */
	struct mailbox *mb2 = test_open(test_md);
	cr_assert_eq(mb2->msgs[0].flags, (unsigned)MAILBOX_ANSWERED);
	cr_assert_eq(mb2->msgs[0].modseq, mb->msgs[0].modseq);
	mailbox_close(&mb2);
	mailbox_close(&mb);
}

Test(mailbox, mutt_rename_seen_as_flag_change)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	test_deliver(test_md, 101, "Mb", "y\r\n");
	struct mailbox *mb = test_open(test_md);
	uint64_t ms = mb->highest_modseq;
	test_rename_info(test_md, &mb->msgs[1], "RS");
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_flag_changed, 1);
	cr_assert_eq(ch.flag_changed_uids[0], mb->msgs[1].uid);
	cr_assert_eq(ch.n_new + ch.n_expunged, 0);
	cr_assert_eq(mb->msgs[1].flags & ~MAILBOX_RECENT,
		     (unsigned)(MAILBOX_ANSWERED | MAILBOX_SEEN));
	cr_assert_gt(mb->msgs[1].modseq, ms);
	cr_assert_eq(mb->msgs[0].flags & ~MAILBOX_RECENT, 0u);
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
}

Test(mailbox, unknown_letters_kept_on_store)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb = test_open(test_md);
	test_rename_info(test_md, &mb->msgs[0], "PS"); /* P = passed, no IMAP flag */
	cr_assert_eq(mailbox_sync(mb, NULL), 0);
	cr_assert_eq(mailbox_store(mb, 0, '=', MAILBOX_FLAGGED, NULL, 0), 0);
	cr_assert_str_eq(mb->msgs[0].filename, "100.Ma.host.example,S=3:2,FP");
	mailbox_close(&mb);
}

Test(mailbox, keywords_letters_and_list_file)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	test_deliver(test_md, 101, "Mb", "y\r\n");
	struct mailbox *mb = test_open(test_md);
	const char *kw1[] = { "$Forwarded", "Junk" };
	cr_assert_eq(mailbox_store(mb, 0, '+', MAILBOX_SEEN, kw1, 2), 0);
	cr_assert_str_eq(mb->msgs[0].filename, "100.Ma.host.example,S=3:2,Sab");
	cr_assert_eq(mb->nkeywords, 2);
	cr_assert_str_eq(mb->keywords[0], "$Forwarded");
	cr_assert_str_eq(mb->keywords[1], "Junk");
	cr_assert_eq(mb->msgs[0].keywords, 3u);
	const char *kw2[] = { "junk" }; /* keywords compare case-insensitively */
	cr_assert_eq(mailbox_store(mb, 1, '+', 0, kw2, 1), 0);
	cr_assert_eq(mb->msgs[1].keywords, 2u);
	cr_assert_str_eq(mb->msgs[1].filename, "101.Mb.host.example,S=3:2,b");
	const char *kw3[] = { "$Forwarded" };
	cr_assert_eq(mailbox_store(mb, 0, '-', 0, kw3, 1), 0);
	cr_assert_str_eq(mb->msgs[0].filename, "100.Ma.host.example,S=3:2,Sb");
	const char *bad[] = { "has space" };
	cr_assert_eq(mailbox_store(mb, 0, '+', 0, bad, 1), -EINVAL);

	char path[PATH_MAX], buf[256];
	test_fmt(path, sizeof(path), "%s/" MAILBOX_KEYWORDS_FILE, test_md);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	cr_assert_str_eq(buf, "0 $Forwarded\n1 Junk\n");

	struct mailbox *mb2 = test_open(test_md);
	cr_assert_str_eq(mb2->keywords[1], "Junk");
	cr_assert_eq(mb2->msgs[0].keywords, 2u);
	mailbox_close(&mb2);
	mailbox_close(&mb);
}

Test(mailbox, keywords_limit_26)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb = test_open(test_md);
	char names[27][8];
	const char *p[27];
	for (int i = 0; i < 27; i++) {
		test_fmt(names[i], sizeof(names[i]), "k%d", i);
		p[i] = names[i];
	}
	cr_assert_eq(mailbox_store(mb, 0, '+', 0, p, 26), 0);
	cr_assert_eq(mb->msgs[0].keywords, (1u << 26) - 1);
	cr_assert_eq(mailbox_store(mb, 0, '+', 0, p + 26, 1), -ENOSPC);
	mailbox_close(&mb);
}

Test(mailbox, expunge_reports_decreasing_seqs)
{
	for (int i = 0; i < 6; i++) {
		char u[16];
		test_fmt(u, sizeof(u), "M%d", i);
		test_deliver(test_md, 100 + i, u, "x\r\n");
	}
	struct mailbox *mb = test_open(test_md);
	size_t del[] = { 1, 3, 4 };
	cr_assert_eq(mailbox_store_many(mb, del, 3, '+', MAILBOX_DELETED, NULL, 0), 0);
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_expunge(mb, NULL, 0, &ch), 0);
	cr_assert_eq(ch.n_expunged, 3);
	cr_assert_eq(ch.expunged_seqs[0], 5);
	cr_assert_eq(ch.expunged_seqs[1], 4);
	cr_assert_eq(ch.expunged_seqs[2], 2);
	cr_assert_eq(ch.expunged_uids[0], 5);
	cr_assert_eq(ch.expunged_uids[2], 2);
	mailbox_changes_free(&ch);
	cr_assert_eq(mb->count, 3);
	cr_assert_eq(mb->msgs[0].uid, 1);
	cr_assert_eq(mb->msgs[1].uid, 3);
	cr_assert_eq(mb->msgs[2].uid, 6);
	cr_assert_eq(test_count_dir(test_md, "cur"), 3);

	/* UID EXPUNGE: only the listed \Deleted ones. */
	size_t all[] = { 0, 1, 2 };
	cr_assert_eq(mailbox_store_many(mb, all, 3, '+', MAILBOX_DELETED, NULL, 0), 0);
	uint32_t only[] = { 6, 1 };
	cr_assert_eq(mailbox_expunge(mb, only, 2, &ch), 0);
	cr_assert_eq(ch.n_expunged, 2);
	cr_assert_eq(ch.expunged_seqs[0], 3);
	cr_assert_eq(ch.expunged_seqs[1], 1);
	mailbox_changes_free(&ch);
	cr_assert_eq(mb->count, 1);
	cr_assert_eq(mb->msgs[0].uid, 3);

	/* Another session sees the expunges at its next sync, highest seq first. */
	mailbox_close(&mb);
	mb = test_open(test_md);
	cr_assert_eq(mb->count, 1);
	cr_assert_eq(mb->uidnext, 7);
	mailbox_close(&mb);
}

Test(mailbox, vanished_files_reported_decreasing)
{
	for (int i = 0; i < 5; i++) {
		char u[16];
		test_fmt(u, sizeof(u), "M%d", i);
		test_deliver(test_md, 100 + i, u, "x\r\n");
	}
	struct mailbox *mb = test_open(test_md);
	char path[PATH_MAX];
	for (size_t i = 0; i < 5; i += 2) {
		cr_assert_eq(mailbox_msg_path(mb, i, path, sizeof(path)), 0);
		cr_assert_eq(unlink(path), 0);
	}
	test_deliver(test_md, 200, "Mnew", "z\r\n");
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_expunged, 3);
	cr_assert_eq(ch.expunged_seqs[0], 5);
	cr_assert_eq(ch.expunged_seqs[1], 3);
	cr_assert_eq(ch.expunged_seqs[2], 1);
	cr_assert_eq(ch.expunged_uids[0], 5);
	cr_assert_eq(ch.n_new, 1);
	cr_assert_eq(mb->count, 3);
	cr_assert_eq(mb->msgs[2].uid, 6);
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
}

Test(mailbox, index_deleted_rebuilt_with_new_uidvalidity_same_flags)
{
	for (int i = 0; i < 4; i++) {
		char u[16];
		test_fmt(u, sizeof(u), "M%d", i);
		test_deliver(test_md, 100 + i, u, "x\r\n");
	}
	struct mailbox *mb = test_open(test_md);
	const char *kw[] = { "Work" };
	cr_assert_eq(mailbox_store(mb, 1, '+', MAILBOX_SEEN | MAILBOX_ANSWERED, kw, 1), 0);
	cr_assert_eq(mailbox_store(mb, 3, '+', MAILBOX_FLAGGED, NULL, 0), 0);
	uint32_t uv = mb->uidvalidity;
	char path[PATH_MAX];
	test_index_path(path, sizeof(path));
	cr_assert_eq(unlink(path), 0);

	/* The open session learns the index was rebuilt. */
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert(ch.uidvalidity_changed);
	cr_assert_gt(mb->uidvalidity, uv, "strictly greater than the known old value");
	cr_assert_eq(mb->count, 4);
	mailbox_changes_free(&ch);
	uint32_t uv2 = mb->uidvalidity;
	mailbox_close(&mb);

	/* Deleted again with no session open: still greater (hint in the lock file). */
	cr_assert_eq(unlink(path), 0);
	mb = test_open(test_md);
	cr_assert_gt(mb->uidvalidity, uv2);
	cr_assert_eq(mb->count, 4);
	cr_assert_eq(mb->msgs[1].flags & ~MAILBOX_RECENT,
		     (unsigned)(MAILBOX_SEEN | MAILBOX_ANSWERED));
	cr_assert_eq(mb->msgs[1].keywords, 1u);
	cr_assert_str_eq(mb->keywords[0], "Work");
	cr_assert_eq(mb->msgs[3].flags & ~MAILBOX_RECENT, (unsigned)MAILBOX_FLAGGED);
	cr_assert_eq(mb->msgs[0].flags & ~MAILBOX_RECENT, 0u);
	mailbox_close(&mb);
}

Test(mailbox, corrupt_index_rebuilt)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	test_deliver(test_md, 101, "Mb", "y\r\n");
	struct mailbox *mb = test_open(test_md);
	cr_assert_eq(mailbox_store(mb, 0, '+', MAILBOX_SEEN, NULL, 0), 0);
	uint32_t uv = mb->uidvalidity;
	mailbox_close(&mb);
	static const char *const bad[] = {
		"garbage\n",
		"",
		"mtad-uidlist 1 5 3 9 2 0.0 0.0\n1 1 3 100 c 100.Ma:2,S\n",       /* truncated */
		"mtad-uidlist 1 5 3 9 2 0.0 0.0\n2 1 3 100 c x\n1 1 3 100 c y\n", /* order */
		"mtad-uidlist 1 5 3 9 2 0.0 0.0\n1 1 3 100 c x:2,S\n2 1 3 100 c x:2,\n", /* dup */
		"mtad-uidlist 1 5 3 9 1 0.0 0.0\n1 1 3 100 c ../../etc/passwd\n",
	};
	char path[PATH_MAX];
	test_index_path(path, sizeof(path));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs(bad[i], f);
		fclose(f);
		mb = test_open(test_md);
		cr_assert_eq(mb->count, 2, "case %zu", i);
		cr_assert_neq(mb->uidvalidity, uv, "case %zu", i);
		cr_assert_eq(mb->msgs[0].flags & ~MAILBOX_RECENT, (unsigned)MAILBOX_SEEN);
		cr_assert_eq(mb->msgs[1].flags & ~MAILBOX_RECENT, 0u);
		uv = mb->uidvalidity;
		mailbox_close(&mb);
	}
}

Test(mailbox, append_assigns_uid_and_flags)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb = test_open(test_md);
	uint32_t uv = 0, uid = 0;
	char err[256];
	const char *kw[] = { "$MDNSent" };
	const char *msg = "Subject: hi\r\n\r\nbody\r\n";
	cr_assert_eq(mailbox_append(test_md, msg, strlen(msg), MAILBOX_SEEN | MAILBOX_DRAFT, kw, 1,
				    1700000000, &uv, &uid, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(uv, mb->uidvalidity);
	cr_assert_eq(uid, 2);
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_new, 1);
	mailbox_changes_free(&ch);
	cr_assert_eq(mb->count, 2);
	cr_assert_eq(mb->msgs[1].uid, 2);
	cr_assert_eq(mb->msgs[1].flags & ~MAILBOX_RECENT, (unsigned)(MAILBOX_SEEN | MAILBOX_DRAFT));
	cr_assert_eq(mb->msgs[1].internal_date, 1700000000);
	cr_assert_eq(mb->msgs[1].size, strlen(msg));
	cr_assert_str_eq(mb->keywords[mb->msgs[1].keywords == 1 ? 0 : 1], "$MDNSent");
	cr_assert_eq(test_count_dir(test_md, "tmp"), 0);
	char path[PATH_MAX];
	cr_assert_eq(mailbox_msg_path(mb, 1, path, sizeof(path)), 0);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq((size_t)st.st_size, strlen(msg));
	cr_assert_eq(st.st_mtime, 1700000000);

	char missing[PATH_MAX];
	test_fmt(missing, sizeof(missing), "%s/nope", test_dir);
	cr_assert_eq(mailbox_append(missing, msg, strlen(msg), 0, NULL, 0, 0, &uv, &uid, err,
				    sizeof(err)),
		     -ENOENT);
	mailbox_close(&mb);
}

Test(mailbox, copy_keeps_flags_and_keywords)
{
	char dst[PATH_MAX];
	test_fmt(dst, sizeof(dst), "%s/.Archive", test_md);
	cr_assert_eq(store_maildir_create(dst), 0);
	test_deliver(test_md, 100, "Ma", "hello\r\n");
	test_deliver(test_md, 101, "Mb", "world\r\n");
	struct mailbox *mb = test_open(test_md);
	const char *kw[] = { "Other", "Work" };
	cr_assert_eq(mailbox_store(mb, 1, '+', 0, kw, 1), 0); /* "Other" takes letter a */
	cr_assert_eq(mailbox_store(mb, 1, '+', MAILBOX_FLAGGED, kw + 1, 1), 0); /* Work: b */
	cr_assert_str_eq(mb->msgs[1].filename, "101.Mb.host.example,S=7:2,Fab");
	/* Destination has a different keyword list: "Work" must map to its own letter. */
	struct mailbox *mbd = test_open(dst);
	uint32_t uv, uid;
	char err[256];
	const char *dkw[] = { "Work" };
	cr_assert_eq(mailbox_append(dst, "z\r\n", 3, 0, dkw, 1, 0, &uv, &uid, err, sizeof(err)), 0);
	size_t which[] = { 0, 1 };
	uint32_t uids[2];
	cr_assert_eq(mailbox_copy_many(mb, which, 2, dst, &uv, uids), 0);
	cr_assert_eq(uv, mbd->uidvalidity);
	cr_assert_eq(uids[0], 2);
	cr_assert_eq(uids[1], 3);
	cr_assert_eq(mailbox_sync(mbd, NULL), 0);
	cr_assert_eq(mbd->count, 3);
	long i = mailbox_find_uid(mbd, 3);
	cr_assert_geq(i, 0);
	cr_assert_eq(mbd->msgs[i].flags & ~MAILBOX_RECENT, (unsigned)MAILBOX_FLAGGED);
	/* "Work" keeps the destination's letter a, "Other" gets the next free one. */
	cr_assert_eq(mbd->msgs[i].keywords, 3u);
	cr_assert_str_eq(mbd->keywords[0], "Work");
	cr_assert_str_eq(mbd->keywords[1], "Other");
	cr_assert_eq(mbd->msgs[mailbox_find_uid(mbd, 2)].keywords, 0u);
	cr_assert_eq(mbd->msgs[i].size, 7);
	cr_assert_eq(mbd->msgs[i].internal_date, 101);
	/* Hard link: same inode as the source. */
	char p1[PATH_MAX], p2[PATH_MAX];
	struct stat s1, s2;
	cr_assert_eq(mailbox_msg_path(mb, 1, p1, sizeof(p1)), 0);
	cr_assert_eq(mailbox_msg_path(mbd, (size_t)i, p2, sizeof(p2)), 0);
	cr_assert_eq(stat(p1, &s1), 0);
	cr_assert_eq(stat(p2, &s2), 0);
	cr_assert_eq(s1.st_ino, s2.st_ino);
	/* Copy to a missing folder fails cleanly. */
	char missing[PATH_MAX];
	test_fmt(missing, sizeof(missing), "%s/.Nope", test_md);
	cr_assert_eq(mailbox_copy(mb, 0, missing, &uv, &uid), -ENOENT);
	mailbox_close(&mbd);
	mailbox_close(&mb);
}

Test(mailbox, status_counts)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	test_deliver(test_md, 101, "Mb", "yy\r\n");
	struct mailbox_status st;
	cr_assert_eq(mailbox_status(test_md, true, &st), 0);
	cr_assert_eq(st.messages, 2);
	cr_assert_eq(st.unseen, 2);
	cr_assert_eq(st.uidnext, 3);
	cr_assert_eq(st.size, 7);
	cr_assert_gt(st.uidvalidity, 0);
	struct mailbox *mb = test_open(test_md);
	cr_assert_eq(mb->uidvalidity, st.uidvalidity);
	cr_assert_eq(mailbox_store(mb, 0, '+', MAILBOX_SEEN, NULL, 0), 0);
	mailbox_close(&mb);
	cr_assert_eq(mailbox_status(test_md, true, &st), 0);
	cr_assert_eq(st.unseen, 1);
	cr_assert_gt(st.highest_modseq, 1);
	char missing[PATH_MAX];
	test_fmt(missing, sizeof(missing), "%s/.Nope", test_md);
	cr_assert_eq(mailbox_status(missing, true, &st), -ENOENT);
}

Test(mailbox, store_after_foreign_rename_merges_flags)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb = test_open(test_md);
	test_rename_info(test_md, &mb->msgs[0], "RS"); /* our view still has the old name */
	cr_assert_eq(mailbox_store(mb, 0, '+', MAILBOX_FLAGGED, NULL, 0), 0);
	cr_assert_str_eq(mb->msgs[0].filename, "100.Ma.host.example,S=3:2,FRS");
	cr_assert_eq(test_count_dir(test_md, "cur"), 1);
	mailbox_close(&mb);
}

/* The case behind "FETCH ... NO" under imaptest's stress mode: another session changed the
 * message's flags (its file was renamed) after this view was made. */
Test(mailbox, open_after_foreign_rename_finds_the_file)
{
	test_deliver(test_md, 100, "Mo", "hello\r\n");
	struct mailbox *mb = test_open(test_md);
	char old[PATH_MAX];
	cr_assert_eq(mailbox_msg_path(mb, 0, old, sizeof(old)), 0);
	test_rename_info(test_md, &mb->msgs[0], "FS"); /* our view still has the old name */
	cr_assert_eq(access(old, F_OK), -1);
	int fd = mailbox_msg_open(mb, 0);
	cr_assert_geq(fd, 0, "open: %s", strerror(-fd));
	char buf[16] = "";
	cr_assert_eq(read(fd, buf, sizeof(buf) - 1), 7);
	cr_assert_str_eq(buf, "hello\r\n");
	close(fd);
	/* Expunged by someone else, not yet reported: really gone. */
	char now[PATH_MAX];
	test_fmt(now, sizeof(now), "%s/cur/%.*s:2,FS", test_md,
		 (int)strcspn(mb->msgs[0].filename, ":"), mb->msgs[0].filename);
	cr_assert_eq(unlink(now), 0);
	cr_assert_eq(mailbox_msg_open(mb, 0), -ENOENT);
	mailbox_close(&mb);
}

Test(mailbox, expunge_after_foreign_rename)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb = test_open(test_md);
	cr_assert_eq(mailbox_store(mb, 0, '+', MAILBOX_DELETED, NULL, 0), 0);
	test_rename_info(test_md, &mb->msgs[0], "ST");
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_expunge(mb, NULL, 0, &ch), 0);
	cr_assert_eq(ch.n_expunged, 1);
	mailbox_changes_free(&ch);
	cr_assert_eq(test_count_dir(test_md, "cur"), 0);
	mailbox_close(&mb);
}

Test(mailbox, copy_after_foreign_rename)
{
	char dst[PATH_MAX];
	test_fmt(dst, sizeof(dst), "%s/.Copies", test_md);
	cr_assert_eq(store_maildir_create(dst), 0);
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb = test_open(test_md);
	test_rename_info(test_md, &mb->msgs[0], "S");
	uint32_t uv, uid;
	cr_assert_eq(mailbox_copy(mb, 0, dst, &uv, &uid), 0);
	struct mailbox *mbd = test_open(dst);
	cr_assert_eq(mbd->count, 1);
	cr_assert_eq(mbd->msgs[0].uid, uid);
	cr_assert_eq(mbd->msgs[0].flags & ~MAILBOX_RECENT, (unsigned)MAILBOX_SEEN);
	mailbox_close(&mbd);
	mailbox_close(&mb);
}

Test(mailbox, same_base_in_new_and_cur_shown_once)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	char a[PATH_MAX], b[PATH_MAX];
	test_fmt(a, sizeof(a), "%s/new/100.Ma.host.example,S=3", test_md);
	test_fmt(b, sizeof(b), "%s/cur/100.Ma.host.example,S=3:2,S", test_md);
	cr_assert_eq(link(a, b), 0);
	struct mailbox *mb = test_open(test_md);
	cr_assert_eq(mb->count, 1);
	cr_assert_eq(mb->msgs[0].flags & ~MAILBOX_RECENT, (unsigned)MAILBOX_SEEN, "cur/ wins");
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_new + ch.n_expunged, 0);
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
}

Test(mailbox, quiet_sync_does_not_rewrite_the_index)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb = test_open(test_md);
	char path[PATH_MAX];
	struct stat st1, st2;
	test_index_path(path, sizeof(path));
	cr_assert_eq(mailbox_sync(mb, NULL), 0);
	cr_assert_eq(stat(path, &st1), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(mailbox_sync(mb, NULL), 0);
	cr_assert_eq(stat(path, &st2), 0);
	cr_assert_eq(st1.st_ino, st2.st_ino);
	mailbox_close(&mb);
}

Test(mailbox, file_without_size_or_date_in_name)
{
	/* A file dropped by another tool: size and date come from stat. */
	char path[PATH_MAX];
	test_fmt(path, sizeof(path), "%s/cur/odd-name:2,F", test_md);
	FILE *f = fopen(path, "w");
	fputs("hello\r\n", f);
	fclose(f);
	struct timespec ts[2] = { { .tv_sec = 1234567890 }, { .tv_sec = 1234567890 } };
	cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
	struct mailbox *mb = test_open(test_md);
	cr_assert_eq(mb->count, 1);
	cr_assert_eq(mb->msgs[0].size, 7);
	cr_assert_eq(mb->msgs[0].internal_date, 1234567890);
	cr_assert_eq(mb->msgs[0].flags & ~MAILBOX_RECENT, (unsigned)MAILBOX_FLAGGED);
	mailbox_close(&mb);
}

Test(mailbox, sizes_not_in_names_are_learnt_on_use)
{
	/* Files named with a time but no ",S=" (other Maildir tools): the first open does not stat
	 * them; the size is learnt when asked, then kept in the index. */
	char path[PATH_MAX];
	for (int i = 0; i < 3; i++) {
		test_fmt(path, sizeof(path), "%s/cur/%d.M%dP1.other:2,S", test_md, 1700000000 + i,
			 i);
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		for (int k = 0; k <= i; k++)
			fputs("0123456789\r\n", f);
		fclose(f);
	}
	struct mailbox *mb = test_open(test_md);
	cr_assert_eq(mb->count, 3);
	cr_assert_eq(mb->msgs[1].size, MAILBOX_SIZE_UNKNOWN);
	cr_assert_eq(mb->msgs[1].internal_date, 1700000001);
	char idx_path[PATH_MAX], *data;
	size_t len;
	test_index_path(idx_path, sizeof(idx_path));
	cr_assert_eq(read_file(idx_path, 1 << 20, false, &data, &len), 0);
	cr_assert(strncmp(data, "mtad-uidlist 2 ", 15) == 0, "%s", data);
	free(data);
	struct mailbox_status st;
	cr_assert_eq(mailbox_status(test_md, false, &st), 0);
	cr_assert_eq(st.messages, 3);
	cr_assert_eq(mailbox_msg_size(mb, 1), 24);
	cr_assert_eq(mb->msgs[1].size, 24);
	cr_assert_eq(mailbox_msg_size(mb, 2), 36);
	/* The next sync writes what was learnt. */
	cr_assert_eq(mailbox_sync(mb, NULL), 0);
	struct mailbox *again = test_open(test_md);
	cr_assert_eq(again->msgs[1].size, 24);
	cr_assert_eq(again->msgs[0].size, MAILBOX_SIZE_UNKNOWN);
	mailbox_close(&again);
	/* STATUS SIZE learns the rest, and the index is version 1 again. */
	cr_assert_eq(mailbox_status(test_md, true, &st), 0);
	cr_assert_eq(st.size, 12 + 24 + 36);
	cr_assert_eq(read_file(idx_path, 1 << 20, false, &data, &len), 0);
	cr_assert(strncmp(data, "mtad-uidlist 1 ", 15) == 0, "%s", data);
	free(data);
	mailbox_close(&mb);
}

Test(mailbox, version_1_index_still_loads)
{
	/* An index written by the versions before sizes-on-demand keeps its UIDVALIDITY. */
	test_deliver(test_md, 1700000000, "M1P1", "hello\r\n");
	struct mailbox *mb = test_open(test_md);
	uint32_t uv = mb->uidvalidity;
	char name[NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", mb->msgs[0].filename);
	mailbox_close(&mb);
	char idx_path[PATH_MAX], text[1024];
	test_index_path(idx_path, sizeof(idx_path));
	snprintf(text, sizeof(text), "mtad-uidlist 1 %u 5 9 1 0.0 0.0\n4 9 7 1700000000 c %s\n", uv,
		 name);
	FILE *f = fopen(idx_path, "w");
	fputs(text, f);
	fclose(f);
	mb = test_open(test_md);
	cr_assert_eq(mb->uidvalidity, uv);
	cr_assert_eq(mb->count, 1);
	cr_assert_eq(mb->msgs[0].uid, 4);
	cr_assert_eq(mb->uidnext, 5);
	cr_assert_eq(mb->highest_modseq, 9);
	cr_assert_eq(mb->msgs[0].size, 7);
	mailbox_close(&mb);
}

/* Big enough for the process's shared copy of parsed indexes. */
#define TEST_SHARED_MSGS 300

Test(mailbox, shared_index_sees_every_change, .timeout = 60)
{
	char unique[64];
	for (int i = 0; i < TEST_SHARED_MSGS; i++) {
		snprintf(unique, sizeof(unique), "M%dP1", i);
		test_deliver(test_md, 1700000000 + i, unique, "x\r\n");
	}
	struct mailbox *a = test_open(test_md);
	cr_assert_eq(a->count, TEST_SHARED_MSGS);
	cr_assert_eq(mailbox_recent_count(a), TEST_SHARED_MSGS);
	/* A second session: same state, nothing recent any more (a claimed it). */
	struct mailbox *b = test_open(test_md);
	cr_assert_eq(b->count, TEST_SHARED_MSGS);
	cr_assert_eq(b->uidvalidity, a->uidvalidity);
	cr_assert_eq(b->uidnext, a->uidnext);
	cr_assert_eq(b->highest_modseq, a->highest_modseq);
	cr_assert_eq(mailbox_recent_count(b), 0);
	mailbox_close(&b);
	/* A delivery between two opens. */
	test_deliver(test_md, 1800000000, "late", "late\r\n");
	b = test_open(test_md);
	cr_assert_eq(b->count, TEST_SHARED_MSGS + 1);
	cr_assert_eq(mailbox_recent_count(b), 1);
	cr_assert(b->msgs[TEST_SHARED_MSGS].flags & MAILBOX_RECENT);
	mailbox_close(&b);
	/* A flag change by this process, then by another process (its own index write). */
	cr_assert_eq(mailbox_store(a, 5, '+', MAILBOX_FLAGGED, NULL, 0), 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct mailbox *c;
		char err[256];
		int ok = mailbox_open(test_md, false, &c, err, sizeof(err)) == 0 &&
			 mailbox_store(c, 7, '+', MAILBOX_DELETED, NULL, 0) == 0 &&
			 mailbox_expunge(c, NULL, 0, NULL) == 0;
		_exit(ok ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	b = test_open(test_md);
	cr_assert_eq(b->count, TEST_SHARED_MSGS);
	cr_assert(b->msgs[5].flags & MAILBOX_FLAGGED);
	cr_assert_eq(b->msgs[7].uid, 9); /* UID 8 expunged by the other process */
	cr_assert_eq(mailbox_recent_count(b), 0);
	/* The first session learns the expunge at its next sync. */
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(a, &ch), 0);
	cr_assert_eq(ch.n_expunged, 1);
	cr_assert_eq(ch.expunged_uids[0], 8);
	cr_assert_eq(ch.n_new, 1);
	mailbox_changes_free(&ch);
	cr_assert_eq(a->highest_modseq, b->highest_modseq);
	mailbox_close(&b);
	mailbox_close(&a);
}

Test(mailbox, shared_index_checks_the_header_too)
{
	/* The same inode, size and mtime but another content (rewritten in place, mtime put
	 * back): the header line tells, the file is parsed again. */
	char unique[64];
	for (int i = 0; i < TEST_SHARED_MSGS; i++) {
		snprintf(unique, sizeof(unique), "M%dP1", i);
		test_deliver(test_md, 1700000000 + i, unique, "x\r\n");
	}
	struct mailbox *a = test_open(test_md);
	uint64_t hms = a->highest_modseq;
	mailbox_close(&a);
	char idx_path[PATH_MAX], *data;
	size_t len;
	struct stat st;
	test_index_path(idx_path, sizeof(idx_path));
	cr_assert_eq(stat(idx_path, &st), 0);
	cr_assert_eq(read_file(idx_path, 1 << 24, false, &data, &len), 0);
	char old[32], new[32];
	snprintf(old, sizeof(old), " %" PRIu64 " %d ", hms, TEST_SHARED_MSGS);
	snprintf(new, sizeof(new), " %" PRIu64 " %d ", hms + 7, TEST_SHARED_MSGS);
	cr_assert_eq(strlen(old), strlen(new));
	char *at = strstr(data, old);
	cr_assert_not_null(at);
	memcpy(at, new, strlen(new));
	int fd = open(idx_path, O_WRONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, data, len, 0), (ssize_t)len);
	close(fd);
	free(data);
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	cr_assert_eq(utimensat(AT_FDCWD, idx_path, ts, 0), 0);
	struct mailbox *b = test_open(test_md);
	cr_assert_eq(b->highest_modseq, hms + 7);
	mailbox_close(&b);
}

/* ---- concurrency ---- */

#define TEST_WRITERS    4
#define TEST_APPENDS    200
#define TEST_DELIVERIES 100

/* A syncing session: its view must always ascend by UID and never show a file twice. */
static int test_syncer(const char *md, int rounds)
{
	struct mailbox *mb;
	char err[256];
	if (mailbox_open(md, false, &mb, err, sizeof(err)) < 0)
		return 1;
	for (int k = 0; k < rounds; k++) {
		struct mailbox_changes ch;
		size_t before = mb->count;
		if (mailbox_sync(mb, &ch) < 0)
			return 2;
		if (ch.uidvalidity_changed || ch.n_expunged != 0)
			return 3;
		if (mb->count != before + ch.n_new)
			return 4;
		mailbox_changes_free(&ch);
		for (size_t i = 1; i < mb->count; i++) {
			if (mb->msgs[i].uid <= mb->msgs[i - 1].uid)
				return 5;
		}
		if (mb->count > 0 && mb->msgs[mb->count - 1].uid >= mb->uidnext)
			return 6;
		usleep(2000);
	}
	mailbox_close(&mb);
	return 0;
}

Test(mailbox, concurrent_appends_deliveries_and_sync, .timeout = 60)
{
	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pids[TEST_WRITERS + 2];
	for (int w = 0; w < TEST_WRITERS; w++) {
		pids[w] = fork();
		cr_assert_geq(pids[w], 0);
		if (pids[w] == 0) {
			close(fds[0]);
			for (int k = 0; k < TEST_APPENDS; k++) {
				char msg[64], err[256];
				uint32_t uv, uid;
				int n = snprintf(msg, sizeof(msg), "Subject: w%d k%d\r\n\r\nx\r\n",
						 w, k);
				if (mailbox_append(test_md, msg, (size_t)n,
						   (k % 3) ? MAILBOX_SEEN : 0, NULL, 0, 0, &uv,
						   &uid, err, sizeof(err)) < 0)
					_exit(1);
				if (write(fds[1], &uid, sizeof(uid)) != sizeof(uid))
					_exit(2);
			}
			_exit(0);
		}
	}
	pids[TEST_WRITERS] = fork();
	if (pids[TEST_WRITERS] == 0) {
		for (int k = 0; k < TEST_DELIVERIES; k++) {
			char name[NAME_MAX + 1], body[64], u[32];
			int n = snprintf(body, sizeof(body), "Subject: d%d\r\n\r\ny\r\n", k);
			snprintf(u, sizeof(u), "D%dP%d", k, (int)getpid());
			struct iovec iov = { .iov_base = body, .iov_len = (size_t)n };
			store_maildir_name(name, sizeof(name), time(NULL), u, "host", (uint64_t)n);
			if (store_maildir_deliver(test_md, name, &iov, 1) != 0)
				_exit(1);
		}
		_exit(0);
	}
	pids[TEST_WRITERS + 1] = fork();
	if (pids[TEST_WRITERS + 1] == 0)
		_exit(test_syncer(test_md, 200));
	close(fds[1]);

	static uint32_t uids[TEST_WRITERS * TEST_APPENDS];
	size_t nuids = 0;
	uint32_t u;
	while (read(fds[0], &u, sizeof(u)) == sizeof(u) && nuids < TEST_WRITERS * TEST_APPENDS)
		uids[nuids++] = u;
	close(fds[0]);
	for (int w = 0; w < TEST_WRITERS + 2; w++) {
		int status;
		cr_assert_eq(waitpid(pids[w], &status, 0), pids[w]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status %d", w,
			  status);
	}
	cr_assert_eq(nuids, TEST_WRITERS * TEST_APPENDS);

	struct mailbox *mb = test_open(test_md);
	size_t total = TEST_WRITERS * TEST_APPENDS + TEST_DELIVERIES;
	cr_assert_eq(mb->count, total, "no message lost or shown twice");
	cr_assert_eq(mb->uidnext, total + 1);
	for (size_t i = 0; i < nuids; i++) {
		cr_assert_geq(mailbox_find_uid(mb, uids[i]), 0, "appended UID %u present", uids[i]);
		for (size_t j = i + 1; j < nuids; j++)
			cr_assert_neq(uids[i], uids[j], "UID %u given twice", uids[i]);
	}
	for (size_t i = 0; i < mb->count; i++)
		cr_assert_eq(mb->msgs[i].uid, i + 1);
	cr_assert_eq(test_count_dir(test_md, "new"), 0);
	cr_assert_eq(test_count_dir(test_md, "cur"), (int)total);
	cr_assert_eq(test_count_dir(test_md, "tmp"), 0);
	mailbox_close(&mb);
	gettimeofday(&t1, NULL);
	printf("concurrency: %zu messages in %.2f s\n", total,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6);
}

/* ---- scale ---- */

#define TEST_SCALE 20000

Test(mailbox, large_folder_opens_from_the_index, .timeout = 60)
{
	char path[PATH_MAX], name[NAME_MAX + 1];
	struct timeval t0, t1, t2, t3;
	char proto[PATH_MAX];
	test_fmt(proto, sizeof(proto), "%s/tmp/proto", test_md);
	FILE *f = fopen(proto, "w");
	cr_assert_not_null(f);
	fputs("x\r\n", f);
	fclose(f);
	/* Hard links of one small file: cheap to make, each a message of its own. */
	for (int i = 0; i < TEST_SCALE; i++) {
		char u[32];
		snprintf(u, sizeof(u), "M%dP1", i);
		store_maildir_name(name, sizeof(name), 1600000000 + i / 10, u, "host", 3);
		test_fmt(path, sizeof(path), "%s/new/%s", test_md, name);
		cr_assert_eq(link(proto, path), 0);
	}
	unlink(proto);
	gettimeofday(&t0, NULL);
	struct mailbox *mb = test_open(test_md);
	gettimeofday(&t1, NULL);
	cr_assert_eq(mb->count, TEST_SCALE);
	uint32_t uv = mb->uidvalidity;
	mailbox_close(&mb);
	gettimeofday(&t2, NULL);
	mb = test_open(test_md);
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	gettimeofday(&t3, NULL);
	cr_assert_eq(ch.n_new + ch.n_expunged + ch.n_flag_changed, 0);
	mailbox_changes_free(&ch);
	cr_assert_eq(mb->count, TEST_SCALE);
	cr_assert_eq(mb->uidvalidity, uv);
	cr_assert_eq(mb->msgs[TEST_SCALE - 1].size, 3);
	cr_assert_eq(mb->msgs[TEST_SCALE - 1].internal_date, 1600000000 + (TEST_SCALE - 1) / 10);
	double second = (double)(t3.tv_sec - t2.tv_sec) + (double)(t3.tv_usec - t2.tv_usec) / 1e6;
	printf("scale: first open (indexing %d new files) %.3f s, second open+sync %.3f s\n",
	       TEST_SCALE,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6, second);
	cr_expect_lt(second, 1.0, "second open+sync took %.3f s", second);
	mailbox_close(&mb);
}

/* ---- sessions of one process sharing a large folder's index and view ---- */

#define TEST_SHARED 300 /* above MAILBOX_SNAPSHOT_MIN: the process keeps the parsed index */

/* Directory mtimes older than a second are trusted (no rescan at each open). */
static void test_age_dirs(const char *md)
{
	static const char *const sub[] = { "cur", "new" };
	struct timespec ts[2] = { { .tv_sec = time(NULL) - 10 }, { .tv_sec = time(NULL) - 10 } };
	char path[PATH_MAX];
	for (int i = 0; i < 2; i++) {
		test_fmt(path, sizeof(path), "%s/%s", md, sub[i]);
		cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
}

/* TEST_SHARED messages in cur/, named as our delivery names them (size known), the index
 * built and every message claimed as \Recent by a first session that is closed again. */
static void test_shared_folder(void)
{
	char path[PATH_MAX], name[NAME_MAX + 1], proto[PATH_MAX];
	test_fmt(proto, sizeof(proto), "%s/tmp/proto", test_md);
	FILE *f = fopen(proto, "w");
	cr_assert_not_null(f);
	fputs("abc\r\n", f);
	fclose(f);
	for (int i = 0; i < TEST_SHARED; i++) {
		char u[32];
		snprintf(u, sizeof(u), "M%dP1", i);
		store_maildir_name(name, sizeof(name), 1600000000 + i, u, "host", 5);
		test_fmt(path, sizeof(path), "%s/cur/%s:2,", test_md, name);
		cr_assert_eq(link(proto, path), 0);
	}
	unlink(proto);
	test_age_dirs(test_md);
	struct mailbox *first = test_open(test_md);
	cr_assert_eq(mailbox_recent_count(first), TEST_SHARED);
	mailbox_close(&first);
}

/* The flags a message of mb shows, without \Recent. */
static unsigned test_flags(const struct mailbox *mb, size_t i)
{
	return mb->msgs[i].flags & ~(unsigned)MAILBOX_RECENT;
}

Test(mailbox, sessions_share_a_large_folder_and_copy_on_change, .timeout = 30)
{
	test_shared_folder();
	/* The first view of the index is built and published; the next ones share it. */
	struct mailbox *a = test_open(test_md), *b = test_open(test_md), *c = test_open(test_md);
	cr_assert_eq(a->count, TEST_SHARED);
	cr_assert_eq(b->msgs, a->msgs, "the second SELECT shares the first one's messages");
	cr_assert_eq(c->msgs, a->msgs);
	cr_assert_eq(mailbox_recent_count(b), 0);
	cr_assert_eq(mailbox_first_unseen(b), 0);
	cr_assert_eq(mailbox_msg_size(b, 7), 5);
	cr_assert_eq(b->msgs[TEST_SHARED - 1].uid, TEST_SHARED);
	struct mailbox *ro;
	char err[256];
	cr_assert_eq(mailbox_open(test_md, true, &ro, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ro->msgs, a->msgs, "EXAMINE shares too");

	/* A STORE copies only the storing view; the others keep what they were told. */
	cr_assert_eq(mailbox_store(b, 4, '+', MAILBOX_FLAGGED, NULL, 0), 0);
	cr_assert_neq(b->msgs, a->msgs);
	cr_assert_eq(test_flags(b, 4), (unsigned)MAILBOX_FLAGGED);
	cr_assert_eq(test_flags(a, 4), 0u);
	cr_assert_eq(test_flags(c, 4), 0u);
	/* A STORE that changes nothing does not copy. */
	cr_assert_eq(mailbox_store(c, 5, '-', MAILBOX_SEEN, NULL, 0), 0);
	cr_assert_eq(c->msgs, a->msgs);
	cr_assert_eq(mailbox_store(c, 6, '+', MAILBOX_SEEN, NULL, 0), 0);
	cr_assert_neq(c->msgs, a->msgs);
	cr_assert_eq(mailbox_first_unseen(c), 0);
	cr_assert_eq(test_flags(a, 6), 0u);

	/* The others learn both changes at their next sync (the first of them scans the
	 * directories once the renames are a second old, then the index is shared again). */
	test_age_dirs(test_md);
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(a, &ch), 0);
	cr_assert_eq(ch.n_flag_changed, 2);
	cr_assert_eq(ch.flag_changed_uids[0], 5);
	cr_assert_eq(ch.flag_changed_uids[1], 7);
	cr_assert_eq(ch.n_new + ch.n_expunged, 0);
	mailbox_changes_free(&ch);
	cr_assert_eq(test_flags(a, 4), (unsigned)MAILBOX_FLAGGED);
	cr_assert_eq(test_flags(a, 6), (unsigned)MAILBOX_SEEN);
	/* a's new view is published: a new session and the read-only one share it. */
	struct mailbox *d = test_open(test_md);
	cr_assert_eq(d->msgs, a->msgs);
	cr_assert_eq(test_flags(d, 6), (unsigned)MAILBOX_SEEN);
	cr_assert_eq(mailbox_sync(ro, &ch), 0);
	cr_assert_eq(ch.n_flag_changed, 2);
	mailbox_changes_free(&ch);
	cr_assert_eq(ro->msgs, a->msgs);

	/* Another process rewrites the index (as deliver or a second imapd would). */
	pid_t pid = fork();
	if (pid == 0) {
		struct mailbox *m;
		if (mailbox_open(test_md, false, &m, err, sizeof(err)) < 0 ||
		    mailbox_store(m, 0, '+', MAILBOX_ANSWERED, NULL, 0) < 0)
			_exit(1);
		mailbox_close(&m);
		_exit(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_eq(mailbox_sync(d, &ch), 0);
	cr_assert_eq(ch.n_flag_changed, 1);
	cr_assert_eq(ch.flag_changed_uids[0], 1);
	mailbox_changes_free(&ch);
	cr_assert_eq(test_flags(d, 0), (unsigned)MAILBOX_ANSWERED);
	cr_assert_eq(test_flags(a, 0), 0u, "a has not synced yet");

	/* EXPUNGE by one view: the sharing views keep valid messages until they sync. */
	cr_assert_eq(mailbox_store(c, 9, '+', MAILBOX_DELETED, NULL, 0), 0);
	cr_assert_eq(mailbox_expunge(c, NULL, 0, &ch), 0);
	cr_assert_eq(ch.n_expunged, 1);
	cr_assert_eq(ch.expunged_seqs[0], 10);
	mailbox_changes_free(&ch);
	cr_assert_eq(c->count, TEST_SHARED - 1);
	cr_assert_eq(a->msgs[9].uid, 10);
	cr_assert_eq(mailbox_msg_size(a, 9), 5);
	struct mailbox *views[] = { a, b, d, ro };
	for (size_t k = 0; k < 4; k++) {
		cr_assert_eq(mailbox_sync(views[k], &ch), 0);
		cr_assert_eq(ch.n_expunged, 1, "view %zu", k);
		cr_assert_eq(ch.expunged_seqs[0], 10);
		cr_assert_eq(ch.expunged_uids[0], 10);
		mailbox_changes_free(&ch);
		cr_assert_eq(views[k]->count, TEST_SHARED - 1);
		cr_assert_eq(views[k]->msgs[9].uid, 11);
		cr_assert_eq(test_flags(views[k], 0), (unsigned)MAILBOX_ANSWERED);
		cr_assert_eq(test_flags(views[k], 4), (unsigned)MAILBOX_FLAGGED);
	}

	/* A delivery while all are open: every view sees it, exactly one read-write view
	 * has it as \Recent, and the views that sync later share again. */
	test_deliver(test_md, 1700000000, "Mnew", "new\r\n");
	size_t recent = 0;
	struct mailbox *rw[] = { a, b, c, d };
	for (size_t k = 0; k < 4; k++) {
		cr_assert_eq(mailbox_sync(rw[k], &ch), 0);
		cr_assert_eq(ch.n_new, 1, "view %zu", k);
		mailbox_changes_free(&ch);
		cr_assert_eq(rw[k]->count, TEST_SHARED);
		cr_assert_eq(rw[k]->msgs[TEST_SHARED - 1].uid, TEST_SHARED + 1);
		cr_assert_eq(mailbox_msg_size(rw[k], TEST_SHARED - 1), 5);
		recent += mailbox_recent_count(rw[k]);
	}
	cr_assert_eq(recent, 1);
	cr_assert_eq(mailbox_recent_count(ro), 0);
	mailbox_close(&a);
	mailbox_close(&c);
	mailbox_close(&b);
	mailbox_close(&ro);
	mailbox_close(&d);
}

Test(mailbox, shared_view_with_every_message_seen_knows_no_unseen)
{
	test_shared_folder();
	struct mailbox *a = test_open(test_md);
	size_t *all = malloc(TEST_SHARED * sizeof(*all));
	for (size_t i = 0; i < TEST_SHARED; i++)
		all[i] = i;
	cr_assert_eq(mailbox_store_many(a, all, TEST_SHARED, '+', MAILBOX_SEEN, NULL, 0), 0);
	free(all);
	cr_assert_eq(mailbox_first_unseen(a), TEST_SHARED);
	test_age_dirs(test_md); /* the renames are a second old: the next open scans once */
	struct mailbox *b = test_open(test_md), *c = test_open(test_md);
	cr_assert_eq(c->msgs, b->msgs);
	cr_assert_eq(mailbox_first_unseen(c), TEST_SHARED);
	cr_assert_eq(mailbox_store(a, 3, '-', MAILBOX_SEEN, NULL, 0), 0);
	cr_assert_eq(mailbox_first_unseen(a), 3);
	cr_assert_eq(mailbox_sync(c, NULL), 0);
	cr_assert_eq(mailbox_first_unseen(c), 3);
	mailbox_close(&a);
	mailbox_close(&b);
	mailbox_close(&c);
}

/* ---- the index parser (pure) ---- */

/* Parses from an exact-size heap copy, so reading past the end is caught under ASan. */
static int test_parse(const char *text, struct mailbox_index *idx)
{
	size_t len = strlen(text);
	char *copy = malloc(len ? len : 1);
	memcpy(copy, text, len);
	char err[128] = "";
	int r = mailbox_index_parse(copy, len, idx, err, sizeof(err));
	if (r < 0)
		cr_assert_neq(err[0], '\0');
	free(copy);
	return r;
}

Test(mailbox, index_parse_round_trip)
{
	/* Also the fuzzer's first find: a name at the very end of an unterminated buffer. */
	const char *text = "mtad-uidlist 1 1700000000 4 7 3 1700000100.123456789 0.0\n"
			   "1 2 120 1700000000 c 1700000000.M1P2Q3.host,S=120:2,S\n"
			   "2 5 77 1700000005 c 1700000005.Q0A1R0.mx\\072x,S=77:2,FRSab\n"
			   "3 7 10 99 n 99.odd\n";
	struct mailbox_index idx;
	cr_assert_eq(test_parse(text, &idx), 0);
	cr_assert_eq(idx.uidvalidity, 1700000000);
	cr_assert_eq(idx.uidnext, 4);
	cr_assert_eq(idx.highest_modseq, 7);
	cr_assert_eq(idx.new_stamp.sec, 1700000100);
	cr_assert_eq(idx.new_stamp.nsec, 123456789);
	cr_assert_eq(idx.n, 3);
	cr_assert_eq(idx.e[1].size, 77);
	cr_assert(idx.e[2].in_new);
	cr_assert_str_eq(idx.e[2].name, "99.odd");
	struct buf b;
	buf_init(&b);
	mailbox_index_format(&idx, &b);
	cr_assert_str_eq(b.data, text);
	buf_free(&b);
	mailbox_index_free(&idx);
}

Test(mailbox, index_version_2_unknown_sizes)
{
	/* "-" = size not learnt yet; written as version 2 only while some size is unknown. */
	const char *v2 = "mtad-uidlist 2 1700000000 3 7 2 0.0 0.0\n"
			 "1 2 - 1700000000 c 1700000000.a:2,S\n"
			 "2 5 77 1700000005 c 1700000005.b,S=77:2,\n";
	struct mailbox_index idx;
	cr_assert_eq(test_parse(v2, &idx), 0);
	cr_assert_eq(idx.n, 2);
	cr_assert_eq(idx.e[0].size, MAILBOX_SIZE_UNKNOWN);
	cr_assert_eq(idx.e[1].size, 77);
	struct buf b;
	buf_init(&b);
	mailbox_index_format(&idx, &b);
	cr_assert_str_eq(b.data, v2);
	/* Once learnt, the file is version 1 again: readable by the versions before 2. */
	idx.e[0].size = 12;
	buf_free(&b);
	buf_init(&b);
	mailbox_index_format(&idx, &b);
	cr_assert_str_eq(b.data, "mtad-uidlist 1 1700000000 3 7 2 0.0 0.0\n"
				 "1 2 12 1700000000 c 1700000000.a:2,S\n"
				 "2 5 77 1700000005 c 1700000005.b,S=77:2,\n");
	buf_free(&b);
	mailbox_index_free(&idx);
}

Test(mailbox, index_copy_shares_names_and_survives_renames)
{
	struct mailbox_index idx, copy;
	cr_assert_eq(test_parse("mtad-uidlist 1 1 3 7 2 0.0 0.0\n1 1 1 1 c a\n2 1 1 1 c b\n", &idx),
		     0);
	mailbox_index_copy(&copy, &idx);
	cr_assert_eq(copy.e[0].name, idx.e[0].name); /* shared, not copied */
	mailbox_index_name_set(&copy, &copy.e[0], strdup("a:2,S"));
	mailbox_index_free(&idx); /* the copy keeps the block alive */
	cr_assert_str_eq(copy.e[0].name, "a:2,S");
	cr_assert_str_eq(copy.e[1].name, "b");
	mailbox_index_pack(&copy);
	cr_assert(mailbox_names_holds(copy.names, copy.e[0].name));
	cr_assert_str_eq(copy.e[0].name, "a:2,S");
	mailbox_index_free(&copy);
}

Test(mailbox, index_freeze_shares_entries_until_one_changes)
{
	struct mailbox_index idx, copy;
	cr_assert_eq(test_parse("mtad-uidlist 1 1 3 7 2 0.0 0.0\n1 1 1 1 c a\n2 1 1 1 c b\n", &idx),
		     0);
	mailbox_index_name_set(&idx, &idx.e[1], strdup("b:2,S")); /* outside the block */
	mailbox_index_freeze(&idx);
	cr_assert_not_null(idx.frozen);
	cr_assert(mailbox_names_holds(idx.names, idx.e[1].name), "packed before freezing");
	mailbox_index_share(&copy, &idx);
	cr_assert_eq(copy.e, idx.e);
	mailbox_index_own(&copy);
	cr_assert_neq(copy.e, idx.e);
	cr_assert_null(copy.frozen);
	cr_assert_eq(copy.e[1].name, idx.e[1].name); /* the names stay shared */
	copy.e[0].modseq = 6;
	mailbox_index_name_set(&copy, &copy.e[1], strdup("b:2,FS"));
	struct mailbox_entry e = {
		.uid = 3, .modseq = 7, .size = 1, .idate = 1, .name = strdup("c")
	};
	mailbox_index_push(&copy, &e);
	cr_assert_eq(idx.e[0].modseq, 1);
	cr_assert_str_eq(idx.e[1].name, "b:2,S");
	mailbox_index_free(&idx); /* the copy keeps the names alive */
	cr_assert_str_eq(copy.e[0].name, "a");
	cr_assert_str_eq(copy.e[1].name, "b:2,FS");
	cr_assert_eq(copy.n, 3);
	/* A frozen index that is pushed to owns its entries first. */
	mailbox_index_freeze(&copy);
	struct mailbox_index third;
	mailbox_index_share(&third, &copy);
	e.uid = 4;
	e.name = strdup("d");
	mailbox_index_push(&third, &e);
	cr_assert_eq(copy.n, 3);
	cr_assert_eq(third.n, 4);
	mailbox_index_free(&copy);
	mailbox_index_free(&third);
}

Test(mailbox, index_parse_refusals)
{
	static const char *const bad[] = {
		"mtad-uidlist 1 0 4 7 0 0.0 0.0\n",                 /* UIDVALIDITY 0 */
		"mtad-uidlist 3 1 4 7 0 0.0 0.0\n",                 /* version */
		"mtad-uidlist 1 1 4 7 1 0.0 0.0\n1 1 - 1 c x\n",    /* unknown size in version 1 */
		"mtad-uidlist 2 1 4 7 1 0.0 0.0\n1 1 -- 1 c x\n",   /* bad unknown size */
		"mtad-uidlist 1 1 4 7 0 0.0\n",                     /* stamps */
		"mtad-uidlist 1 1 4 7 0 0.0 0.0",                   /* no newline */
		"mtad-uidlist 1 1 4 7 1 0.0 0.0\n4 1 1 1 c x\n",    /* uid >= uidnext */
		"mtad-uidlist 1 1 4 7 1 0.0 0.0\n1 8 1 1 c x\n",    /* modseq > highest */
		"mtad-uidlist 1 1 4 7 1 0.0 0.0\n1 1 1 1 x x\n",    /* location */
		"mtad-uidlist 1 1 4 7 1 0.0 0.0\n1 1 1 1 c :2,S\n", /* empty base */
		"mtad-uidlist 1 1 4 7 1 0.0 0.0\n1 1 1 1 c a/b\n",  /* slash */
		"mtad-uidlist 1 1 4 7 1 0.0 0.0\n1 1 1 1 c .x\n",   /* dot file */
		"mtad-uidlist 1 1 4 7 1 0.0 0.0\n1 1 1 1 c x\n2 1 1 1 c y\n", /* count */
		"mtad-uidlist 1 1 4 7 99999999 0.0 0.0\n",        /* count beyond the file */
		"mtad-uidlist 1 1 4294967296 7 0 0.0 0.0\n",      /* overflow */
		"mtad-uidlist 1 1 4 7 1 0.0 0.0\n1  1 1 1 c x\n", /* empty field */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mailbox_index idx;
		cr_assert_eq(test_parse(bad[i], &idx), -1, "case %zu", i);
		cr_assert_eq(idx.n, 0);
		mailbox_index_free(&idx);
	}
}

Test(mailbox, flag_letters)
{
	unsigned fl;
	uint32_t kw;
	mailbox_name_flags("1.x,S=3:2,DFPRSTac", &fl, &kw);
	cr_assert_eq(fl, (unsigned)(MAILBOX_DRAFT | MAILBOX_FLAGGED | MAILBOX_ANSWERED |
				    MAILBOX_SEEN | MAILBOX_DELETED));
	cr_assert_eq(kw, 5u);
	mailbox_name_flags("1.x,S=3", &fl, &kw);
	cr_assert_eq(fl, 0u);
	mailbox_name_flags("1.x:1,S", &fl, &kw); /* experimental info: no flags */
	cr_assert_eq(fl, 0u);
	char info[64];
	mailbox_info_build("1.x:2,PSa", MAILBOX_SEEN | MAILBOX_FLAGGED, 1u << 25, info,
			   sizeof(info));
	cr_assert_str_eq(info, ":2,FPSz");
	mailbox_info_build(NULL, 0, 0, info, sizeof(info));
	cr_assert_str_eq(info, ":2,");
}

Test(mailbox, quiet_sync_takes_no_lock, .timeout = 20)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb = test_open(test_md);
	/* Directory stamps younger than a second are not trusted; let them age, rescan once. */
	sleep(2);
	cr_assert_eq(mailbox_sync(mb, NULL), 0);
	cr_assert_eq(mailbox_sync(mb, NULL), 0);
	/* Someone holds the folder lock: a sync with nothing to do must not wait for it. */
	int fd = mailbox_lock(test_md);
	cr_assert_geq(fd, 0);
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_new + ch.n_expunged + ch.n_flag_changed, 0);
	mailbox_changes_free(&ch);
	mailbox_unlock(fd);
	/* And a delivery is still noticed afterwards. */
	test_deliver(test_md, 101, "Mb", "y\r\n");
	cr_assert_eq(mailbox_sync(mb, &ch), 0);
	cr_assert_eq(ch.n_new, 1);
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
}

Test(mailbox, leftover_temp_index_is_harmless)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	struct mailbox *mb = test_open(test_md);
	uint32_t uv = mb->uidvalidity;
	mailbox_close(&mb);
	/* A crash while writing the next index leaves a partial temp file: ignored, replaced. */
	char path[PATH_MAX];
	test_fmt(path, sizeof(path), "%s/" MAILBOX_INDEX_TMP, test_md);
	FILE *f = fopen(path, "w");
	fputs("mtad-uidlist 1 9 9", f);
	fclose(f);
	mb = test_open(test_md);
	cr_assert_eq(mb->uidvalidity, uv);
	cr_assert_eq(mb->count, 1);
	cr_assert_eq(mailbox_store(mb, 0, '+', MAILBOX_SEEN, NULL, 0), 0);
	cr_assert_eq(access(path, F_OK), -1, "the temp file became the index");
	mailbox_close(&mb);
	mb = test_open(test_md);
	cr_assert_eq(mb->uidvalidity, uv);
	cr_assert_eq(mb->msgs[0].flags, (unsigned)MAILBOX_SEEN);
	mailbox_close(&mb);
}

Test(mailbox, concurrent_stores_keep_every_flag, .timeout = 30)
{
	/* Two sessions set different flags on the same messages at once: both survive, and
	 * every change got its own modseq. */
	for (int i = 0; i < 20; i++) {
		char u[16];
		test_fmt(u, sizeof(u), "M%d", i);
		test_deliver(test_md, 100 + i, u, "x\r\n");
	}
	struct mailbox *mb = test_open(test_md);
	uint64_t ms0 = mb->highest_modseq;
	mailbox_close(&mb);
	pid_t pid[2];
	for (int w = 0; w < 2; w++) {
		pid[w] = fork();
		if (pid[w] == 0) {
			struct mailbox *m;
			char err[256];
			if (mailbox_open(test_md, false, &m, err, sizeof(err)) < 0)
				_exit(1);
			for (size_t i = 0; i < m->count; i++) {
				if (mailbox_store(m, i, '+', w ? MAILBOX_SEEN : MAILBOX_FLAGGED,
						  NULL, 0) < 0)
					_exit(2);
			}
			mailbox_close(&m);
			_exit(0);
		}
	}
	for (int w = 0; w < 2; w++) {
		int status;
		cr_assert_eq(waitpid(pid[w], &status, 0), pid[w]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	mb = test_open(test_md);
	cr_assert_eq(mb->count, 20);
	for (size_t i = 0; i < mb->count; i++)
		cr_assert_eq(mb->msgs[i].flags, (unsigned)(MAILBOX_SEEN | MAILBOX_FLAGGED),
			     "msg %zu", i);
	cr_assert_eq(mb->highest_modseq, ms0 + 40);
	mailbox_close(&mb);
}

/* Issue 18: an index write that only records flags or expunges is not fsynced (their truth is
 * the file names); one that gives out UIDs (a new message, APPEND) or a new UIDVALIDITY is. */
Test(mailbox, index_fsynced_only_when_it_gives_out_uids)
{
	test_deliver(test_md, 100, "Ma", "x\r\n");
	test_deliver(test_md, 101, "Mb", "y\r\n");
	unsigned long n0 = mailbox_file_replace_synced();
	struct mailbox *mb = test_open(test_md);
	cr_assert_gt(mailbox_file_replace_synced(), n0, "the first index (UIDVALIDITY, UIDs)");
	unsigned long n1 = mailbox_file_replace_synced();
	cr_assert_eq(mailbox_store(mb, 0, '+', MAILBOX_SEEN | MAILBOX_DELETED, NULL, 0), 0);
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_expunge(mb, NULL, 0, &ch), 0);
	cr_assert_eq(ch.n_expunged, 1);
	mailbox_changes_free(&ch);
	cr_assert_eq(mailbox_file_replace_synced(), n1, "STORE and EXPUNGE: no fsync");
	uint32_t uv = 0, uid = 0;
	char err[256];
	const char *msg = "Subject: hi\r\n\r\nbody\r\n";
	cr_assert_eq(mailbox_append(test_md, msg, strlen(msg), 0, NULL, 0, 1700000000, &uv, &uid,
				    err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(uid, 3);
	cr_assert_gt(mailbox_file_replace_synced(), n1, "APPEND gave out UID 3: fsynced");
	mailbox_close(&mb);
	/* what was written without fsync is still what the next reader finds */
	mb = test_open(test_md);
	cr_assert_eq(mb->count, 2);
	cr_assert_eq(mb->msgs[0].uid, 2);
	cr_assert_eq(mb->msgs[1].uid, 3);
	mailbox_close(&mb);
}

Test(mailbox, sessions_share_a_folder_whose_names_lack_sizes, .timeout = 30)
{
	/* Names as other Maildir tools write them: a time, no ",S=". Sizes are learnt on demand,
	 * and the view is still shared by the sessions of the process. */
	char path[PATH_MAX];
	for (int i = 0; i < TEST_SHARED; i++) {
		test_fmt(path, sizeof(path), "%s/cur/%d.M%dP1.other:2,S", test_md, 1700000000 + i,
			 i);
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		for (int k = 0; k <= i % 3; k++)
			fputs("0123456789\r\n", f);
		fclose(f);
	}
	test_age_dirs(test_md);
	struct mailbox *first = test_open(test_md);
	mailbox_close(&first); /* claims \Recent and writes the index */
	test_age_dirs(test_md);
	struct mailbox *a = test_open(test_md), *b = test_open(test_md);
	cr_assert_eq(a->count, TEST_SHARED);
	cr_assert_eq(a->msgs[4].size, MAILBOX_SIZE_UNKNOWN);
	cr_assert_eq(b->msgs, a->msgs, "the second SELECT shares the first one's messages");
	/* Learnt without writing the shared array; the next sync puts it in the index. */
	cr_assert_eq(mailbox_msg_size(b, 4), 24);
	cr_assert_eq(mailbox_msg_size(b, 4), 24);
	cr_assert_eq(a->msgs[4].size, MAILBOX_SIZE_UNKNOWN);
	cr_assert_eq(mailbox_msg_size(a, 5), 36);
	cr_assert_eq(mailbox_sync(b, NULL), 0);
	struct mailbox *c = test_open(test_md);
	cr_assert_eq(c->msgs[4].size, 24);
	cr_assert_eq(mailbox_msg_size(c, 4), 24);
	cr_assert_eq(mailbox_sync(a, NULL), 0);
	cr_assert_eq(a->msgs[5].size, 36);
	cr_assert_eq(mailbox_msg_size(a, 4), 24);
	mailbox_close(&c);
	mailbox_close(&b);
	mailbox_close(&a);
}
