/* test_mailbox_folder.c - folders of an account: Maildir++ name mapping, LIST data, CREATE/DELETE/RENAME (INBOX rule), subscriptions. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailbox.h"
#include "store.h"

static char test_dir[PATH_MAX];
static char test_acct[PATH_MAX];

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

static int test_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void test_setup(void)
{
	test_fmt(test_dir, sizeof(test_dir), "/tmp/test_folder.XXXXXX");
	cr_assert_not_null(mkdtemp(test_dir));
	test_fmt(test_acct, sizeof(test_acct), "%s/mail/example.org/alice", test_dir);
}

static void test_teardown(void)
{
	nftw(test_dir, test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(folder, .init = test_setup, .fini = test_teardown);

static void test_path_is(const char *name, const char *suffix)
{
	char out[PATH_MAX], want[PATH_MAX];
	cr_assert_eq(mailbox_folder_path("/acct", name, out, sizeof(out)), 0, "%s", name);
	test_fmt(want, sizeof(want), "/acct%s", suffix);
	cr_assert_str_eq(out, want);
}

Test(folder, name_mapping)
{
	test_path_is("INBOX", "");
	test_path_is("inbox", "");
	test_path_is("Sent", "/.Sent");
	test_path_is("A/B", "/.A.B");
	test_path_is("Archive/2026", "/.Archive.2026");
	test_path_is("Entw&APw-rfe", "/.Entw&APw-rfe");
	test_path_is("Tom &- Jerry", "/.Tom &- Jerry");
	test_path_is("INBOX/Sub", "/.INBOX.Sub");
}

Test(folder, name_refusals)
{
	static const char *const bad[] = {
		"",      "/",       "/A",        "A/",
		"A//B",  ".",       "..",        "a/../b",
		"a/./b", ".hidden", "a/.hidden", "a.b",
		"a\tb",  "a\nb",    "a\x7f",     "\xc3\xa9t\xc3\xa9",
		"&",     "&AGE-",   "a*",        "a%b",
	};
	char out[PATH_MAX];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(mailbox_folder_path("/acct", bad[i], out, sizeof(out)), -1, "'%s'",
			     bad[i]);
	char small[8];
	cr_assert_eq(mailbox_folder_path("/acct", "Sent", small, sizeof(small)), -1);
	char longname[300];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert_eq(mailbox_folder_path("/acct", longname, out, sizeof(out)), -1);
}

static long test_list(struct mailbox_folder **f)
{
	long n = mailbox_folder_list(test_acct, f);
	cr_assert_geq(n, 1);
	cr_assert_str_eq((*f)[0].name, "INBOX");
	return n;
}

static const struct mailbox_folder *test_find(struct mailbox_folder *f, long n, const char *name)
{
	for (long i = 0; i < n; i++) {
		if (strcmp(f[i].name, name) == 0)
			return &f[i];
	}
	return NULL;
}

Test(folder, list_of_a_new_account_is_inbox)
{
	struct mailbox_folder *f;
	cr_assert_eq(test_list(&f), 1);
	cr_assert_not(f[0].noselect);
	mailbox_folders_free(f, 1);
}

Test(folder, create_special_and_list)
{
	cr_assert_eq(mailbox_create_special(test_acct), 0);
	cr_assert_eq(mailbox_create_special(test_acct), 0, "idempotent");
	char err[256];
	cr_assert_eq(mailbox_folder_create(test_acct, "Work/2026/Q1", err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(mailbox_folder_create(test_acct, "Work/2026/Q1", err, sizeof(err)), -EEXIST);
	cr_assert_eq(mailbox_folder_create(test_acct, "inbox", err, sizeof(err)), -EEXIST);
	cr_assert_eq(mailbox_folder_create(test_acct, "a/../b", err, sizeof(err)), -EINVAL);
	cr_assert_eq(mailbox_folder_create(test_acct, "Work B", err, sizeof(err)), 0);
	cr_assert_eq(mailbox_folder_create(test_acct, "Tmp/", err, sizeof(err)), 0);

	/* A folder made by another tool without its parent: the parent is \Noselect. */
	char path[PATH_MAX];
	test_fmt(path, sizeof(path), "%s/.Lone.Child", test_acct);
	cr_assert_eq(store_maildir_create(path), 0);
	/* Junk that is not a folder is ignored. */
	test_fmt(path, sizeof(path), "%s/.bad..name", test_acct);
	cr_assert_eq(store_maildir_create(path), 0);

	struct mailbox_folder *f;
	long n = test_list(&f);
	const char *want[] = { "INBOX",      "Archive",   "Drafts",      "Junk",  "Lone",
			       "Lone/Child", "Sent",      "Tmp",         "Trash", "Work",
			       "Work B",     "Work/2026", "Work/2026/Q1" };
	cr_assert_eq(n, (long)(sizeof(want) / sizeof(want[0])));
	for (long i = 0; i < n; i++)
		cr_assert_str_eq(f[i].name, want[i]);
	cr_assert_str_eq(test_find(f, n, "Sent")->special_use, "\\Sent");
	cr_assert_str_eq(test_find(f, n, "Trash")->special_use, "\\Trash");
	cr_assert_str_eq(test_find(f, n, "Junk")->special_use, "\\Junk");
	cr_assert_str_eq(test_find(f, n, "Drafts")->special_use, "\\Drafts");
	cr_assert_str_eq(test_find(f, n, "Archive")->special_use, "\\Archive");
	cr_assert_null(test_find(f, n, "Work")->special_use);
	cr_assert(test_find(f, n, "Sent")->subscribed);
	cr_assert_not(test_find(f, n, "Work")->subscribed);
	cr_assert(test_find(f, n, "Work")->has_children);
	cr_assert_not(test_find(f, n, "Work")->noselect, "parents are created");
	cr_assert(test_find(f, n, "Work/2026")->has_children);
	cr_assert_not(test_find(f, n, "Work/2026/Q1")->has_children);
	cr_assert_not(test_find(f, n, "Work B")->has_children);
	cr_assert(test_find(f, n, "Lone")->noselect);
	cr_assert(test_find(f, n, "Lone")->has_children);
	cr_assert_not(test_find(f, n, "INBOX")->has_children);
	mailbox_folders_free(f, (size_t)n);

	/* The created folder is a Maildir that mailbox_open can use. */
	cr_assert_eq(mailbox_folder_path(test_acct, "Work/2026/Q1", path, sizeof(path)), 0);
	struct mailbox *mb;
	cr_assert_eq(mailbox_open(path, false, &mb, err, sizeof(err)), 0, "%s", err);
	mailbox_close(&mb);
}

Test(folder, delete_rules)
{
	char err[256], path[PATH_MAX];
	cr_assert_eq(mailbox_folder_create(test_acct, "A/B", err, sizeof(err)), 0);
	cr_assert_eq(mailbox_folder_delete(test_acct, "INBOX", err, sizeof(err)), -EPERM);
	cr_assert_eq(mailbox_folder_delete(test_acct, "Nope", err, sizeof(err)), -ENOENT);
	cr_assert_eq(mailbox_folder_delete(test_acct, "A", err, sizeof(err)), -ENOTEMPTY);
	cr_assert_neq(strstr(err, "children"), NULL);
	cr_assert_eq(mailbox_folder_path(test_acct, "A/B", path, sizeof(path)), 0);
	uint32_t uv, uid;
	cr_assert_eq(mailbox_append(path, "x\r\n", 3, 0, NULL, 0, 0, &uv, &uid, err, sizeof(err)),
		     0);
	cr_assert_eq(mailbox_folder_delete(test_acct, "A/B", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(access(path, F_OK), -1);
	cr_assert_eq(mailbox_folder_delete(test_acct, "A", err, sizeof(err)), 0);
	struct mailbox_folder *f;
	long n = test_list(&f);
	cr_assert_eq(n, 1);
	mailbox_folders_free(f, (size_t)n);
	/* Nothing left behind in the account directory but INBOX's own entries. */
	DIR *d = opendir(test_acct);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		cr_assert_null(strstr(de->d_name, "deleting"), "%s", de->d_name);
	closedir(d);
}

/* Issue 17: a folder deleted and created again within the same second got its old
 * UIDVALIDITY back, so a client's cached UIDs matched different messages. */
Test(folder, recreated_folder_gets_a_greater_uidvalidity)
{
	char err[256], path[PATH_MAX];
	uint32_t prev = 0;
	cr_assert_eq(mailbox_folder_path(test_acct, "A", path, sizeof(path)), 0);
	for (int round = 0; round < 5; round++) {
		cr_assert_eq(mailbox_folder_create(test_acct, "A", err, sizeof(err)), 0, "%s", err);
		uint32_t uv, uid;
		cr_assert_eq(mailbox_append(path, "x\r\n", 3, 0, NULL, 0, 0, &uv, &uid, err,
					    sizeof(err)),
			     0, "%s", err);
		cr_assert_eq(uid, 1);
		struct mailbox_status st;
		cr_assert_eq(mailbox_status(path, false, &st), 0);
		cr_assert_eq(st.uidvalidity, uv);
		cr_assert_gt(uv, prev, "round %d: UIDVALIDITY %u after %u", round, uv, prev);
		prev = uv;
		cr_assert_eq(mailbox_folder_delete(test_acct, "A", err, sizeof(err)), 0, "%s", err);
	}
	/* Another folder of the account never reuses a value either. */
	cr_assert_eq(mailbox_folder_create(test_acct, "B", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(mailbox_folder_path(test_acct, "B", path, sizeof(path)), 0);
	struct mailbox_status st;
	cr_assert_eq(mailbox_status(path, false, &st), 0);
	cr_assert_gt(st.uidvalidity, prev);
}

Test(folder, rename_with_children_and_subscriptions)
{
	char err[256], path[PATH_MAX];
	cr_assert_eq(mailbox_folder_create(test_acct, "Old/Kid", err, sizeof(err)), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "Old/Kid", true), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "Old", true), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "Older", true), 0);
	cr_assert_eq(mailbox_folder_path(test_acct, "Old/Kid", path, sizeof(path)), 0);
	uint32_t uv, uid;
	cr_assert_eq(mailbox_append(path, "x\r\n", 3, MAILBOX_SEEN, NULL, 0, 0, &uv, &uid, err,
				    sizeof(err)),
		     0);
	cr_assert_eq(mailbox_folder_rename(test_acct, "Old", "Old/Deeper", err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(mailbox_folder_rename(test_acct, "Nope", "X", err, sizeof(err)), -ENOENT);
	cr_assert_eq(mailbox_folder_create(test_acct, "Taken", err, sizeof(err)), 0);
	cr_assert_eq(mailbox_folder_rename(test_acct, "Old", "Taken", err, sizeof(err)), -EEXIST);
	cr_assert_eq(mailbox_folder_rename(test_acct, "Old", "INBOX", err, sizeof(err)), -EEXIST);
	cr_assert_eq(mailbox_folder_rename(test_acct, "Old", "New/Place", err, sizeof(err)), 0,
		     "%s", err);

	struct mailbox_folder *f;
	long n = test_list(&f);
	cr_assert_null(test_find(f, n, "Old"));
	cr_assert_null(test_find(f, n, "Old/Kid"));
	cr_assert_not_null(test_find(f, n, "New"));
	cr_assert(test_find(f, n, "New/Place")->subscribed);
	cr_assert(test_find(f, n, "New/Place/Kid")->subscribed);
	mailbox_folders_free(f, (size_t)n);

	/* The message kept its UID and UIDVALIDITY (the index moved with the folder). */
	cr_assert_eq(mailbox_folder_path(test_acct, "New/Place/Kid", path, sizeof(path)), 0);
	struct mailbox_status st;
	cr_assert_eq(mailbox_status(path, true, &st), 0);
	cr_assert_eq(st.messages, 1);
	cr_assert_eq(st.uidvalidity, uv);
	cr_assert_eq(st.uidnext, uid + 1);
	cr_assert_eq(st.unseen, 0);
}

Test(folder, rename_inbox_moves_messages)
{
	char err[256], path[PATH_MAX];
	cr_assert_eq(mailbox_create_special(test_acct), 0);
	cr_assert_eq(mailbox_folder_create(test_acct, "INBOX/Kept", err, sizeof(err)), 0);
	uint32_t uv, uid;
	cr_assert_eq(mailbox_append(test_acct, "a\r\n", 3, MAILBOX_SEEN, NULL, 0, 0, &uv, &uid, err,
				    sizeof(err)),
		     0);
	char name[NAME_MAX + 1];
	struct iovec iov = { .iov_base = "b\r\n", .iov_len = 3 };
	store_maildir_name(name, sizeof(name), 1000, "Mx", "host", 3);
	cr_assert_eq(store_maildir_deliver(test_acct, name, &iov, 1), 0);

	struct mailbox *inbox;
	cr_assert_eq(mailbox_open(test_acct, false, &inbox, err, sizeof(err)), 0);
	cr_assert_eq(inbox->count, 2);
	store_maildir_name(name, sizeof(name), 1001, "My", "host", 3);
	cr_assert_eq(store_maildir_deliver(test_acct, name, &iov, 1), 0);

	cr_assert_eq(mailbox_folder_rename(test_acct, "INBOX", "Old Mail", err, sizeof(err)), 0,
		     "%s", err);
	struct mailbox_changes ch;
	cr_assert_eq(mailbox_sync(inbox, &ch), 0);
	cr_assert_eq(inbox->count, 0);
	cr_assert_eq(ch.n_expunged, 2);
	mailbox_changes_free(&ch);
	mailbox_close(&inbox);

	cr_assert_eq(mailbox_folder_path(test_acct, "Old Mail", path, sizeof(path)), 0);
	struct mailbox *mb;
	cr_assert_eq(mailbox_open(path, false, &mb, err, sizeof(err)), 0);
	cr_assert_eq(mb->count, 3);
	unsigned seen = 0;
	for (size_t i = 0; i < mb->count; i++)
		seen += (mb->msgs[i].flags & MAILBOX_SEEN) != 0;
	cr_assert_eq(seen, 1, "flags kept");
	mailbox_close(&mb);

	struct mailbox_folder *f;
	long n = test_list(&f);
	cr_assert_not_null(test_find(f, n, "INBOX/Kept"), "INBOX's children stay");
	cr_assert(test_find(f, n, "INBOX")->has_children);
	mailbox_folders_free(f, (size_t)n);
	struct mailbox_status st;
	cr_assert_eq(mailbox_status(test_acct, true, &st), 0);
	cr_assert_eq(st.messages, 0);
}

Test(folder, subscriptions_file)
{
	cr_assert_eq(mailbox_subscribe(test_acct, "inbox", true), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "Lists/C", true), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "Lists/C", true), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "Gone", true), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "Gone", false), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "a/../b", true), -EINVAL);
	char path[PATH_MAX], buf[256];
	test_fmt(path, sizeof(path), "%s/subscriptions", test_acct);
	FILE *fp = fopen(path, "r");
	cr_assert_not_null(fp);
	size_t len = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[len] = '\0';
	fclose(fp);
	cr_assert_str_eq(buf, "INBOX\nLists/C\n");
	/* Dovecot 2.3's "V\t2" form is read too. */
	fp = fopen(path, "w");
	fputs("V\t2\n\nLists\tD\nINBOX\n", fp);
	fclose(fp);
	char err[256];
	cr_assert_eq(mailbox_folder_create(test_acct, "Lists/D", err, sizeof(err)), 0);
	struct mailbox_folder *f;
	long n = test_list(&f);
	cr_assert(test_find(f, n, "Lists/D")->subscribed);
	cr_assert(test_find(f, n, "INBOX")->subscribed);
	cr_assert_not(test_find(f, n, "Lists")->subscribed);
	mailbox_folders_free(f, (size_t)n);
}

/* Issue 17: a subscribed folder that was deleted stays subscribed and is listed, marked
 * nonexistent (RFC 3501 6.3.6, RFC 5258 \NonExistent); it gives no parent to the others. */
Test(folder, deleted_folder_stays_subscribed_and_listed_nonexistent)
{
	char err[256];
	cr_assert_eq(mailbox_folder_create(test_acct, "Keep", err, sizeof(err)), 0);
	cr_assert_eq(mailbox_folder_create(test_acct, "Gone", err, sizeof(err)), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "Keep", true), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "Gone", true), 0);
	cr_assert_eq(mailbox_subscribe(test_acct, "Far/Away", true), 0);
	cr_assert_eq(mailbox_folder_delete(test_acct, "Gone", err, sizeof(err)), 0);
	struct mailbox_folder *f;
	long n = test_list(&f);
	const struct mailbox_folder *g = test_find(f, n, "Gone");
	cr_assert_not_null(g);
	cr_assert(g->subscribed && g->nonexistent && !g->noselect);
	g = test_find(f, n, "Far/Away");
	cr_assert_not_null(g);
	cr_assert(g->subscribed && g->nonexistent);
	cr_assert_null(test_find(f, n, "Far"), "no folder implied by a subscription");
	g = test_find(f, n, "Keep");
	cr_assert(g->subscribed && !g->nonexistent);
	for (long i = 2; i < n; i++) /* INBOX first, then by name */
		cr_assert_lt(strcmp(f[i - 1].name, f[i].name), 0, "sorted, listed once");
	mailbox_folders_free(f, (size_t)n);
}
