/* test_store.c - the Maildir store (paths, names, durable delivery, recovery scan) and delivery_maildir. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver.h"
#include "store.h"

static char test_dir[PATH_MAX];

static int test_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void test_setup(void)
{
	snprintf(test_dir, sizeof(test_dir), "/tmp/test_store.XXXXXX");
	cr_assert_not_null(mkdtemp(test_dir));
}

static void test_teardown(void)
{
	chmod(test_dir, 0700);
	nftw(test_dir, test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Reads a whole file into a malloc'd buffer. */
static char *test_read(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	*len_r = (size_t)n;
	return b;
}

/* Entries of a directory (not . and ..); names[0] is returned when exactly one. */
static int test_count(const char *dir, char *first, size_t firstlen)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "opendir %s", dir);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n++ == 0 && first)
			snprintf(first, firstlen, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* Formats a path into out (PATH_MAX bytes). */
static void test_fmt(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
}

/* Formats a path into one of four rotating buffers (for immediate use only). */
static char *test_path(const char *fmt, ...)
{
	static char p[4][PATH_MAX];
	static int i;
	char *r = p[i++ % 4];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r, PATH_MAX, fmt, ap);
	va_end(ap);
	return r;
}

Test(store_name, format_and_round_trip)
{
	char name[256];
	size_t n = store_maildir_name(name, sizeof(name), 1700000000, "M123456P99Q7",
				      "mx.example.org", 4321);
	cr_assert_str_eq(name, "1700000000.M123456P99Q7.mx.example.org,S=4321");
	cr_assert_eq(n, strlen(name));

	struct store_name_info info;
	cr_assert_eq(store_maildir_parse_name(name, &info), 0);
	cr_assert_eq(info.base_len, strlen("1700000000.M123456P99Q7.mx.example.org"));
	cr_assert(info.has_size);
	cr_assert_eq(info.size, 4321);
	cr_assert_str_eq(info.flags, "");
}

Test(store_name, host_encoding)
{
	char name[256];
	store_maildir_name(name, sizeof(name), 5, "Q1R0", "a/b:c,d", 0);
	cr_assert_str_eq(name, "5.Q1R0.a\\057b\\072c\\054d,S=0");
	struct store_name_info info;
	cr_assert_eq(store_maildir_parse_name(name, &info), 0);
	cr_assert_eq(info.base_len, strlen("5.Q1R0.a\\057b\\072c\\054d"));
	cr_assert_eq(info.size, 0);
	cr_assert(info.has_size);
}

Test(store_name, truncation_is_snprintf_like)
{
	char name[10];
	size_t n = store_maildir_name(name, sizeof(name), 1700000000, "U", "host", 1);
	cr_assert_eq(n, strlen("1700000000.U.host,S=1"));
	cr_assert_eq(strlen(name), 9);
	cr_assert_str_eq(name, "170000000");
}

Test(store_name, parse_fields_and_flags)
{
	struct store_name_info info;
	cr_assert_eq(store_maildir_parse_name("1.X.h,S=10,W=12:2,FRS", &info), 0);
	cr_assert_eq(info.size, 10);
	cr_assert_str_eq(info.flags, "FRS");
	cr_assert_eq(info.base_len, 5);

	cr_assert_eq(store_maildir_parse_name("1.X.h:2,S", &info), 0);
	cr_assert_not(info.has_size);
	cr_assert_eq(info.size, 0);
	cr_assert_str_eq(info.flags, "S");
	cr_assert_eq(info.base_len, 5);

	cr_assert_eq(store_maildir_parse_name("1.X.h,W=5,S=7", &info), 0);
	cr_assert_eq(info.size, 7);
	cr_assert_eq(store_maildir_parse_name("plain", &info), 0);
	cr_assert_eq(info.base_len, 5);
	cr_assert_not(info.has_size);

	cr_assert_eq(store_maildir_parse_name("", &info), -1);
	cr_assert_eq(store_maildir_parse_name(",S=1", &info), -1);
	cr_assert_eq(store_maildir_parse_name("1.X.h,S=abc", &info), -1);
	cr_assert_eq(store_maildir_parse_name("1.X.h,S=", &info), -1);
	cr_assert_eq(store_maildir_parse_name("1.X.h,S=99999999999999999999", &info), -1);
	cr_assert_eq(store_maildir_parse_name("1.X.h:2,ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh", &info),
		     -1);
}

Test(store_path, builds_path)
{
	char out[256];
	cr_assert_eq(
		store_mailbox_path("/var/mail-state", "example.org", "alice", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "/var/mail-state/mail/example.org/alice");
	cr_assert_eq(store_mailbox_path("./var", "[127.0.0.1]", "a.b+c", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "./var/mail/[127.0.0.1]/a.b+c");
}

/* F6: one Maildir per account name, whatever the spelling of the address. */
Test(store_path, one_maildir_per_address)
{
	char out[256];
	static const struct {
		const char *address, *path;
	} ok[] = {
		{ "alice@example.org", "/s/mail/example.org/alice" },
		{ "Alice@Example.ORG", "/s/mail/example.org/alice" },
		{ "\"alice\"@example.org", "/s/mail/example.org/alice" },
		{ "\"john smith\"@localhost", "/s/mail/localhost/john smith" },
		{ "\"John Smith\"@localhost", "/s/mail/localhost/john smith" },
		{ "\"\\\"john smith\\\"\"@localhost", "/s/mail/localhost/\"john smith\"" },
		{ "johnsmith@localhost", "/s/mail/localhost/johnsmith" },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(store_mailbox_path_for_address("/s", ok[i].address, out, sizeof(out)),
			     0, "%s refused", ok[i].address);
		cr_assert_str_eq(out, ok[i].path, "%s", ok[i].address);
	}
	static const char *const bad[] = { "",
					   "alice",
					   "@example.org",
					   "\"a/b\"@example.org",
					   "\".x\"@example.org",
					   "\"a\\\nb\"@x.org",
					   "a b@x.org" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(store_mailbox_path_for_address("/s", bad[i], out, sizeof(out)), -1,
			     "%s accepted", bad[i]);
}

Test(store_path, rejects_escapes)
{
	static const char *const bad[] = { "",        ".",    "..",        "../x",    "a/b", "/",
					   ".hidden", "a\nb", "tab\there", "del\x7f", "x/.." };
	char out[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		cr_assert_eq(store_mailbox_path("/s", "example.org", bad[i], out, sizeof(out)), -1,
			     "local \"%s\" accepted", bad[i]);
		cr_assert_eq(errno, EINVAL);
		cr_assert_eq(store_mailbox_path("/s", bad[i], "alice", out, sizeof(out)), -1,
			     "domain \"%s\" accepted", bad[i]);
	}
	errno = 0;
	cr_assert_eq(store_mailbox_path("/s", "example.org", "alice", out, 10), -1);
	cr_assert_eq(errno, ENAMETOOLONG);
}

Test(store_create, makes_nested_maildir, .init = test_setup, .fini = test_teardown)
{
	char md[PATH_MAX];
	test_fmt(md, "%s/mail/example.org/%s", test_dir, "alice");
	cr_assert_eq(store_maildir_create(md), 0);
	static const char *const sub[] = { "cur", "new", "tmp" };
	for (int i = 0; i < 3; i++) {
		struct stat st;
		cr_assert_eq(stat(test_path("%s/%s", md, sub[i]), &st), 0);
		cr_assert(S_ISDIR(st.st_mode));
		cr_assert_eq(st.st_mode & 0777, 0700);
	}
	/* Idempotent, and repairs a missing subdirectory. */
	cr_assert_eq(store_maildir_create(md), 0);
	cr_assert_eq(rmdir(test_path("%s/%s", md, "tmp")), 0);
	cr_assert_eq(store_maildir_create(md), 0);
	struct stat st;
	cr_assert_eq(stat(test_path("%s/%s", md, "tmp"), &st), 0);
}

Test(store_create, file_in_the_way, .init = test_setup, .fini = test_teardown)
{
	char domain[PATH_MAX];
	test_fmt(domain, "%s/mail/%s", test_dir, "example.org");
	cr_assert_eq(store_maildir_create(test_path("%s/mail/x/%s", test_dir, "y")), 0);
	int fd = open(domain, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(store_maildir_create(test_path("%s/%s", domain, "alice")), -ENOTDIR);
}

Test(store_deliver, exact_bytes_and_clean_tmp, .init = test_setup, .fini = test_teardown)
{
	char md[PATH_MAX];
	test_fmt(md, "%s/%s", test_dir, "md");
	cr_assert_eq(store_maildir_create(md), 0);
	const char *parts[] = { "Return-Path: <a@b>\r\n", "Subject: x\r\n\r\n", "body\r\n" };
	struct iovec iov[3];
	size_t total = 0;
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = (void *)parts[i];
		iov[i].iov_len = strlen(parts[i]);
		total += iov[i].iov_len;
	}
	char name[256];
	store_maildir_name(name, sizeof(name), 1700000000, "Q42R1", "host", total);
	cr_assert_eq(store_maildir_deliver(md, name, iov, 3), 0);

	char found[256];
	cr_assert_eq(test_count(test_path("%s/%s", md, "new"), found, sizeof(found)), 1);
	cr_assert_str_eq(found, name);
	cr_assert_eq(test_count(test_path("%s/%s", md, "tmp"), NULL, 0), 0);
	cr_assert_eq(test_count(test_path("%s/%s", md, "cur"), NULL, 0), 0);

	size_t len;
	char *data = test_read(test_path("%s/new/%s", md, name), &len);
	cr_assert_eq(len, total);
	cr_assert_str_eq(data, "Return-Path: <a@b>\r\nSubject: x\r\n\r\nbody\r\n");
	free(data);

	struct stat st;
	struct store_name_info info;
	cr_assert_eq(stat(test_path("%s/new/%s", md, name), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(store_maildir_parse_name(found, &info), 0);
	cr_assert_eq(info.size, (uint64_t)st.st_size);

	/* Same name again: already delivered, the first file is untouched. */
	struct iovec other = { .iov_base = "different", .iov_len = 9 };
	cr_assert_eq(store_maildir_deliver(md, name, &other, 1), 1);
	data = test_read(test_path("%s/new/%s", md, name), &len);
	cr_assert_eq(len, total);
	free(data);
	cr_assert_eq(test_count(test_path("%s/%s", md, "tmp"), NULL, 0), 0);
}

/* Threads delivering at once into two Maildirs share the new/ fsyncs: every delivery
 * returns 0 only once its entry is covered, each file is whole, a second delivery under the
 * same name (a redelivery after a crash) writes nothing. */
#define TEST_THREADS    8
#define TEST_PER_THREAD 20

struct test_deliverer {
	const char *md[2];
	int id;
	int failures;
};

static void *test_deliver_thread(void *arg)
{
	struct test_deliverer *t = arg;
	for (int k = 0; k < TEST_PER_THREAD; k++) {
		char body[64], unique[32], name[256];
		snprintf(body, sizeof(body), "thread %d message %d\r\n", t->id, k);
		snprintf(unique, sizeof(unique), "Q%02dR%02d", t->id, k);
		store_maildir_name(name, sizeof(name), 1700000000, unique, "host", strlen(body));
		struct iovec iov = { .iov_base = body, .iov_len = strlen(body) };
		const char *md = t->md[(t->id + k) % 2];
		if (store_maildir_deliver(md, name, &iov, 1) != 0 ||
		    store_maildir_deliver(md, name, &iov, 1) != 1)
			t->failures++;
	}
	return NULL;
}

Test(store_deliver, concurrent_deliveries_share_directory_fsync, .init = test_setup,
     .fini = test_teardown)
{
	char md[2][PATH_MAX];
	test_fmt(md[0], "%s/%s", test_dir, "md0");
	test_fmt(md[1], "%s/%s", test_dir, "md1");
	cr_assert_eq(store_maildir_create(md[0]), 0);
	cr_assert_eq(store_maildir_create(md[1]), 0);
	pthread_t th[TEST_THREADS];
	struct test_deliverer t[TEST_THREADS];
	for (int i = 0; i < TEST_THREADS; i++) {
		t[i] = (struct test_deliverer){ .md = { md[0], md[1] }, .id = i };
		cr_assert_eq(pthread_create(&th[i], NULL, test_deliver_thread, &t[i]), 0);
	}
	for (int i = 0; i < TEST_THREADS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(t[i].failures, 0, "thread %d", i);
	}
	int n0 = test_count(test_path("%s/new", md[0]), NULL, 0);
	int n1 = test_count(test_path("%s/new", md[1]), NULL, 0);
	cr_assert_eq(n0 + n1, TEST_THREADS * TEST_PER_THREAD);
	cr_assert_eq(n0, n1);
	cr_assert_eq(test_count(test_path("%s/tmp", md[0]), NULL, 0), 0);
	cr_assert_eq(test_count(test_path("%s/tmp", md[1]), NULL, 0), 0);
	for (int i = 0; i < TEST_THREADS; i++) {
		for (int k = 0; k < TEST_PER_THREAD; k++) {
			char body[64], unique[32], name[256];
			size_t len;
			snprintf(body, sizeof(body), "thread %d message %d\r\n", i, k);
			snprintf(unique, sizeof(unique), "Q%02dR%02d", i, k);
			store_maildir_name(name, sizeof(name), 1700000000, unique, "host",
					   strlen(body));
			char *data = test_read(test_path("%s/new/%s", md[(i + k) % 2], name), &len);
			cr_assert_str_eq(data, body);
			free(data);
		}
	}
}

Test(store_deliver, many_vectors_large, .init = test_setup, .fini = test_teardown)
{
	char md[PATH_MAX];
	test_fmt(md, "%s/%s", test_dir, "md");
	cr_assert_eq(store_maildir_create(md), 0);
	enum { NV = 3000, VL = 1000 };
	static struct iovec iov[NV];
	char *big = malloc((size_t)NV * VL);
	for (size_t i = 0; i < (size_t)NV * VL; i++)
		big[i] = (char)('a' + (i * 7) % 26);
	for (int i = 0; i < NV; i++) {
		iov[i].iov_base = big + (size_t)i * VL;
		iov[i].iov_len = (i % 5 == 0) ? 0 : VL;
	}
	cr_assert_eq(store_maildir_deliver(md, "1.big.host", iov, NV), 0);
	size_t len;
	char *data = test_read(test_path("%s/new/%s", md, "1.big.host"), &len);
	size_t off = 0;
	for (int i = 0; i < NV; i++) {
		cr_assert_eq(memcmp(data + off, iov[i].iov_base, iov[i].iov_len), 0);
		off += iov[i].iov_len;
	}
	cr_assert_eq(len, off);
	free(data);
	free(big);
}

Test(store_deliver, stale_tmp_file_replaced, .init = test_setup, .fini = test_teardown)
{
	char md[PATH_MAX];
	test_fmt(md, "%s/%s", test_dir, "md");
	cr_assert_eq(store_maildir_create(md), 0);
	int fd = open(test_path("%s/tmp/%s", md, "1.Q1R0.h"), O_CREAT | O_WRONLY, 0600);
	cr_assert_eq(write(fd, "half", 4), 4);
	close(fd);
	struct iovec iov = { .iov_base = "whole\r\n", .iov_len = 7 };
	cr_assert_eq(store_maildir_deliver(md, "1.Q1R0.h", &iov, 1), 0);
	size_t len;
	char *data = test_read(test_path("%s/new/%s", md, "1.Q1R0.h"), &len);
	cr_assert_eq(len, 7);
	cr_assert_eq(memcmp(data, "whole\r\n", 7), 0);
	free(data);
	cr_assert_eq(test_count(test_path("%s/%s", md, "tmp"), NULL, 0), 0);
}

Test(store_deliver, bad_names_and_failures, .init = test_setup, .fini = test_teardown)
{
	char md[PATH_MAX];
	test_fmt(md, "%s/%s", test_dir, "md");
	cr_assert_eq(store_maildir_create(md), 0);
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	cr_assert_eq(store_maildir_deliver(md, "../escape", &iov, 1), -EINVAL);
	cr_assert_eq(store_maildir_deliver(md, ".hidden", &iov, 1), -EINVAL);
	cr_assert_eq(store_maildir_deliver(md, "", &iov, 1), -EINVAL);
	cr_assert_eq(store_maildir_deliver(md, "a\nb", &iov, 1), -EINVAL);
	cr_assert_eq(test_count(test_path("%s/%s", md, "new"), NULL, 0), 0);

	/* No tmp/: fails with the errno, leaves nothing in new/. */
	cr_assert_eq(rmdir(test_path("%s/%s", md, "tmp")), 0);
	cr_assert_eq(store_maildir_deliver(md, "1.U.h", &iov, 1), -ENOENT);
	cr_assert_eq(test_count(test_path("%s/%s", md, "new"), NULL, 0), 0);

	/* new/ not writable: the tmp file is removed again (root ignores modes; skip then). */
	cr_assert_eq(mkdir(test_path("%s/%s", md, "tmp"), 0700), 0);
	if (geteuid() != 0) {
		cr_assert_eq(chmod(test_path("%s/%s", md, "new"), 0500), 0);
		cr_assert_eq(store_maildir_deliver(md, "1.U.h", &iov, 1), -EACCES);
		chmod(test_path("%s/%s", md, "new"), 0700);
		cr_assert_eq(test_count(test_path("%s/%s", md, "tmp"), NULL, 0), 0);
		cr_assert_eq(test_count(test_path("%s/%s", md, "new"), NULL, 0), 0);
	}
}

Test(store_unique, finds_token_in_new_and_cur, .init = test_setup, .fini = test_teardown)
{
	char md[PATH_MAX];
	test_fmt(md, "%s/%s", test_dir, "md");
	cr_assert_eq(store_maildir_has_unique(md, "Q42R1"), 0); /* no Maildir yet */
	cr_assert_eq(store_maildir_create(md), 0);
	cr_assert_eq(store_maildir_has_unique(md, "Q42R1"), 0);
	char name[256];
	store_maildir_name(name, sizeof(name), 1700000000, "Q42R1", "host.example", 1);
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	cr_assert_eq(store_maildir_deliver(md, name, &iov, 1), 0);
	cr_assert_eq(store_maildir_has_unique(md, "Q42R1"), 1);
	cr_assert_eq(store_maildir_has_unique(md, "Q42R"), 0);
	cr_assert_eq(store_maildir_has_unique(md, "Q42R10"), 0);
	cr_assert_eq(store_maildir_has_unique(md, "2R1"), 0);

	/* A reader moved it to cur/ and set flags: still found. */
	char cur[PATH_MAX];
	test_fmt(cur, "%s/cur/%s:2,S", md, name);
	cr_assert_eq(rename(test_path("%s/new/%s", md, name), cur), 0);
	cr_assert_eq(store_maildir_has_unique(md, "Q42R1"), 1);
	cr_assert_eq(store_maildir_has_unique(md, "a/b"), -EINVAL);
}

/* delivery_maildir: the headers it adds, the name, the error mapping. */
static struct config test_cfg(const char *state_dir)
{
	static char *domains[] = { "localhost" };
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "mx.test";
	cfg.domains.items = domains;
	cfg.domains.n = 1;
	cfg.state_dir = (char *)state_dir;
	cfg.recipient_delimiter = "+";
	cfg.max_message_size = 1024 * 1024;
	return cfg;
}

static struct addr test_addr(const char *local, const char *domain)
{
	struct addr a;
	memset(&a, 0, sizeof(a));
	snprintf(a.local, sizeof(a.local), "%s", local);
	snprintf(a.domain, sizeof(a.domain), "%s", domain);
	return a;
}

Test(delivery_maildir, writes_headers_and_message, .init = test_setup, .fini = test_teardown)
{
	struct config cfg = test_cfg(test_dir);
	struct addr rcpt = test_addr("alice", "localhost");
	const char *msg = "Subject: t\r\n\r\nhello\r\n";
	struct delivery_request req = {
		.cfg = &cfg,
		.rcpt = &rcpt,
		.sender = "bob@example.org",
		.unique = "Q7R0",
		.msg = msg,
		.msg_len = strlen(msg),
		.arrival = 1700000001,
	};
	char err[256] = "";
	cr_assert_eq(delivery_maildir(&req, err, sizeof(err)), DELIVERY_OK, "%s", err);

	const char *expect = "Return-Path: <bob@example.org>\r\nDelivered-To: alice@localhost\r\n"
			     "Subject: t\r\n\r\nhello\r\n";
	char md[PATH_MAX];
	test_fmt(md, "%s/mail/localhost/%s", test_dir, "alice");
	char name[256];
	snprintf(name, sizeof(name), "1700000001.Q7R0.mx.test,S=%zu", strlen(expect));
	size_t len;
	char *data = test_read(test_path("%s/new/%s", md, name), &len);
	cr_assert_str_eq(data, expect);
	free(data);

	/* Redelivery after a crash with check_existing: found, nothing new written. */
	req.check_existing = true;
	req.arrival = 1700000999;
	cr_assert_eq(delivery_maildir(&req, err, sizeof(err)), DELIVERY_OK);
	cr_assert_eq(test_count(test_path("%s/%s", md, "new"), NULL, 0), 1);

	/* Generated unique names: two more files; null sender. */
	req.unique = NULL;
	req.check_existing = false;
	req.sender = "";
	cr_assert_eq(delivery_maildir(&req, err, sizeof(err)), DELIVERY_OK);
	cr_assert_eq(delivery_maildir(&req, err, sizeof(err)), DELIVERY_OK);
	cr_assert_eq(test_count(test_path("%s/%s", md, "new"), NULL, 0), 3);
	cr_assert_eq(test_count(test_path("%s/%s", md, "tmp"), NULL, 0), 0);
}

Test(delivery_maildir, error_mapping, .init = test_setup, .fini = test_teardown)
{
	struct config cfg = test_cfg(test_dir);
	struct addr bad = test_addr("../etc", "localhost");
	struct delivery_request req = {
		.cfg = &cfg,
		.rcpt = &bad,
		.sender = "",
		.msg = "x\r\n",
		.msg_len = 3,
	};
	char err[256] = "";
	cr_assert_eq(delivery_maildir(&req, err, sizeof(err)), DELIVERY_PERMFAIL);

	struct addr ok = test_addr("alice", "localhost");
	req.rcpt = &ok;
	req.sender = "evil\r\nX-Injected: 1";
	cr_assert_eq(delivery_maildir(&req, err, sizeof(err)), DELIVERY_PERMFAIL);

	/* state_dir/mail/localhost is a file: temporary, with the reason. */
	req.sender = "";
	cr_assert_eq(mkdir(test_path("%s/%s", test_dir, "mail"), 0700), 0);
	int fd = open(test_path("%s/mail/%s", test_dir, "localhost"), O_CREAT | O_WRONLY, 0600);
	close(fd);
	err[0] = '\0';
	cr_assert_eq(delivery_maildir(&req, err, sizeof(err)), DELIVERY_TEMPFAIL);
	cr_assert(strstr(err, strerror(ENOTDIR)), "err: %s", err);
}
