/* test_mailbox_cache.c - the header cache (mtad-cache): record parser on good, torn and hostile input; fill, reuse, UIDVALIDITY change and damage through the cache object and mailbox.h. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileutil.h"
#include "mailbox.h"
#include "mailbox_cache.h"
#include "mailbox_index.h"

static char test_md[200];

static void test_setup(void)
{
	snprintf(test_md, sizeof(test_md), "/tmp/test_mailbox_cache.%d", (int)getpid());
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", test_md);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(mkdir(test_md, 0700), 0);
}

static void test_teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", test_md);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(mailbox_cache, .init = test_setup, .fini = test_teardown);

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static char *test_read_file(const char *path, size_t *len_r)
{
	char *data;
	cr_assert_eq(read_file(path, 1 << 24, false, &data, len_r), 0);
	return data;
}

Test(mailbox_cache, head_parse)
{
	uint32_t uv;
	cr_assert_eq(mailbox_cache_parse_head("mtad-cache 1 42\n", 16, &uv), 16);
	cr_assert_eq(uv, 42);
	cr_assert_eq(mailbox_cache_parse_head("mtad-cache 1 42", 15, &uv), 0, "torn head");
	cr_assert_eq(mailbox_cache_parse_head("mtad-cache 1 0\n", 15, &uv), 0, "zero");
	cr_assert_eq(mailbox_cache_parse_head("mtad-cache 1 042\n", 17, &uv), 0, "leading zero");
	cr_assert_eq(mailbox_cache_parse_head("mtad-cache 1 4294967296\n", 24, &uv), 0);
	cr_assert_eq(mailbox_cache_parse_head("mtad-cache 2 42\n", 16, &uv), 0, "version");
	cr_assert_eq(mailbox_cache_parse_head("", 0, &uv), 0);
}

Test(mailbox_cache, records_round_trip_and_torn_tail)
{
	struct buf b;
	buf_init(&b);
	mailbox_cache_format_head(&b, 7);
	size_t head = b.len;
	mailbox_cache_format_record(&b, MAILBOX_CACHE_HEADER, 3, "Subject: a\r\n\r\n", 14);
	mailbox_cache_format_record(&b, MAILBOX_CACHE_ENVELOPE, 1, "", 0);
	mailbox_cache_format_record(&b, MAILBOX_CACHE_HEADER, 9, "X: \n b\n\n", 8);
	size_t whole = b.len;
	uint32_t uv;
	cr_assert_eq(mailbox_cache_parse_head(b.data, b.len, &uv), head);
	struct mailbox_cache_recs r = { 0 };
	cr_assert_eq(mailbox_cache_parse_records(b.data, b.len, head, true, &r), whole);
	cr_assert_eq(r.n, 3);
	cr_assert_eq(r.r[0].uid, 3);
	cr_assert_eq(r.r[0].len, 14);
	cr_assert_eq(memcmp(b.data + r.r[0].off, "Subject: a\r\n\r\n", 14), 0);
	cr_assert_eq(r.r[0].kind, 'H');
	cr_assert_eq(r.r[1].uid, 1);
	cr_assert_eq(r.r[1].kind, 'E');
	cr_assert_eq(r.r[1].len, 0);
	cr_assert_eq(r.r[2].uid, 9);
	mailbox_cache_recs_free(&r);
	/* Every cut inside the last record keeps exactly the first two. */
	size_t two_end = 0;
	cr_assert_eq(mailbox_cache_parse_records(b.data, whole, head, true, &r), whole);
	two_end = r.r[2].off - strlen("H 9 8 00000000\n");
	mailbox_cache_recs_free(&r);
	for (size_t cut = two_end; cut < whole; cut++) {
		cr_assert_eq(mailbox_cache_parse_records(b.data, cut, head, true, &r), two_end,
			     "cut %zu", cut);
		cr_assert_eq(r.n, 2);
		mailbox_cache_recs_free(&r);
	}
	buf_free(&b);
}

Test(mailbox_cache, damaged_records_end_the_file)
{
	static const char *bad[] = {
		"H 0 1 00000000\nx\n",  /* UID 0 */
		"H 1 1 0000000\nx\n",   /* short check */
		"H 1 1 0000000g\nx\n",  /* not hex */
		"H 1 1 00000000\nx\n",  /* wrong check */
		"H 1 70000 00000000\n", /* longer than the limit */
		"H 1 2 00000000\nx\n",  /* no newline after the bytes */
		"Z 1 1 00000000\nx\n",
		"H  1 1 00000000\nx\n",
		"H 01 1 00000000\nx\n",
		"H 99999999999 1 00000000\nx\n",
		"H 1 18446744073709551617 00000000\nx\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mailbox_cache_recs r = { 0 };
		cr_assert_eq(mailbox_cache_parse_records(bad[i], strlen(bad[i]), 0, true, &r), 0,
			     "%s", bad[i]);
		cr_assert_eq(r.n, 0);
		mailbox_cache_recs_free(&r);
	}
}

static const char MSG[] = "From: a@example.org\r\nSubject: hello\r\n\r\nbody text\r\n";

static void make_msg(const char *name, const char *data)
{
	char path[PATH_MAX];
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/cur %s/new %s/tmp", test_md, test_md, test_md);
	cr_assert_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/cur/%s", test_md, name);
	write_file(path, data, strlen(data));
}

Test(mailbox_cache, fill_reuse_and_file_gone)
{
	make_msg("1700000000.a:2,", MSG);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cur/1700000000.a:2,", test_md);
	struct mailbox_cache *c = mailbox_cache_new(test_md, 5);
	const char *h;
	size_t len;
	cr_assert_eq(mailbox_cache_header(c, 1, path, &h, &len), 0);
	cr_assert_eq(len, strlen("From: a@example.org\r\nSubject: hello\r\n\r\n"));
	cr_assert_eq(memcmp(h, MSG, len), 0);
	mailbox_cache_free(c); /* flushes */

	/* A new cache object answers without the message file. */
	unlink(path);
	c = mailbox_cache_new(test_md, 5);
	cr_assert_eq(mailbox_cache_header(c, 1, path, &h, &len), 0);
	cr_assert_eq(memcmp(h, MSG, len), 0);
	cr_assert_eq(mailbox_cache_header(c, 2, path, &h, &len), -ENOENT);
	mailbox_cache_free(c);

	/* Another UIDVALIDITY: the file's records do not count, and a flush starts it afresh. */
	make_msg("1700000000.b:2,", "Subject: other\n\nx\n");
	snprintf(path, sizeof(path), "%s/cur/1700000000.b:2,", test_md);
	c = mailbox_cache_new(test_md, 6);
	cr_assert_eq(mailbox_cache_header(c, 1, path, &h, &len), 0);
	cr_assert_eq(len, strlen("Subject: other\n\n"));
	mailbox_cache_free(c);
	char cpath[PATH_MAX];
	snprintf(cpath, sizeof(cpath), "%s/%s", test_md, MAILBOX_CACHE_FILE);
	size_t flen;
	char *data = test_read_file(cpath, &flen);
	cr_assert(flen > 16 && memcmp(data, "mtad-cache 1 6\n", 15) == 0);
	free(data);
	/* An older generation's session never clobbers the newer file. */
	c = mailbox_cache_new(test_md, 5);
	cr_assert_eq(mailbox_cache_header(c, 1, path, &h, &len), 0);
	mailbox_cache_free(c);
	data = test_read_file(cpath, &flen);
	cr_assert(memcmp(data, "mtad-cache 1 6\n", 15) == 0);
	free(data);
}

/* Two messages, 1.a:2, and 2.b:2, with these contents; their paths and the cache file's. */
static void make_two(const char *one, const char *two, char *p1, char *p2, char *cpath)
{
	make_msg("1.a:2,", one);
	make_msg("2.b:2,", two);
	snprintf(p1, PATH_MAX, "%s/cur/1.a:2,", test_md);
	snprintf(p2, PATH_MAX, "%s/cur/2.b:2,", test_md);
	snprintf(cpath, PATH_MAX, "%s/%s", test_md, MAILBOX_CACHE_FILE);
}

Test(mailbox_cache, torn_tail_is_cut_by_the_next_writer)
{
	char p1[PATH_MAX], p2[PATH_MAX], cpath[PATH_MAX];
	make_two("A: 1\n\n", "B: 2\n\n", p1, p2, cpath);
	struct mailbox_cache *c = mailbox_cache_new(test_md, 9);
	const char *h;
	size_t len;
	cr_assert_eq(mailbox_cache_header(c, 1, p1, &h, &len), 0);
	mailbox_cache_free(c);
	/* A crash in the middle of an append. */
	int fd = open(cpath, O_WRONLY | O_APPEND);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "H 7 100 0000", 12), 12);
	close(fd);
	c = mailbox_cache_new(test_md, 9);
	cr_assert_eq(mailbox_cache_header(c, 2, p2, &h, &len), 0);
	cr_assert_eq(len, 6);
	mailbox_cache_free(c);
	size_t flen;
	char *data = test_read_file(cpath, &flen);
	struct mailbox_cache_recs r = { 0 };
	uint32_t uv;
	size_t head = mailbox_cache_parse_head(data, flen, &uv);
	cr_assert(head > 0);
	cr_assert_eq(mailbox_cache_parse_records(data, flen, head, true, &r), flen,
		     "no torn bytes left");
	cr_assert_eq(r.n, 2);
	mailbox_cache_recs_free(&r);
	free(data);
}

Test(mailbox_cache, unverified_parse_leaves_the_check_to_use)
{
	const char *wrong = "H 1 1 00000000\nx\n";
	struct mailbox_cache_recs r = { 0 };
	cr_assert_eq(mailbox_cache_parse_records(wrong, strlen(wrong), 0, false, &r),
		     strlen(wrong));
	cr_assert_eq(r.n, 1);
	cr_assert_not(mailbox_cache_record_ok(wrong, &r.r[0]));
	mailbox_cache_recs_free(&r);
	struct buf b;
	buf_init(&b);
	mailbox_cache_format_record(&b, MAILBOX_CACHE_HEADER, 1, "x", 1);
	cr_assert_eq(mailbox_cache_parse_records(b.data, b.len, 0, false, &r), b.len);
	cr_assert_eq(r.n, 1);
	cr_assert(mailbox_cache_record_ok(b.data, &r.r[0]));
	mailbox_cache_recs_free(&r);
	buf_free(&b);
}

Test(mailbox_cache, damaged_record_bytes_read_the_message_instead)
{
	char p1[PATH_MAX], p2[PATH_MAX], cpath[PATH_MAX];
	make_two("Subject: one\n\nx\n", "Subject: two\n\ny\n", p1, p2, cpath);
	struct mailbox_cache *c = mailbox_cache_new(test_md, 9);
	const char *h;
	size_t len;
	cr_assert_eq(mailbox_cache_header(c, 1, p1, &h, &len), 0);
	cr_assert_eq(mailbox_cache_header(c, 2, p2, &h, &len), 0);
	mailbox_cache_free(c);
	/* One byte of the first record's header changes, its framing intact. */
	size_t flen;
	char *data = test_read_file(cpath, &flen);
	char *one = strstr(data, "Subject: one");
	cr_assert(one);
	one[9] = 'X';
	write_file(cpath, data, flen);
	free(data);
	c = mailbox_cache_new(test_md, 9);
	cr_assert_eq(mailbox_cache_header(c, 2, p2, &h, &len), 0);
	cr_assert_eq(len, strlen("Subject: two\n\n"));
	cr_assert_eq(memcmp(h, "Subject: two\n\n", len), 0);
	/* The damaged record is not served: the message file is read (and cached again). */
	cr_assert_eq(mailbox_cache_header(c, 1, p1, &h, &len), 0);
	cr_assert_eq(len, strlen("Subject: one\n\n"));
	cr_assert_eq(memcmp(h, "Subject: one\n\n", len), 0);
	mailbox_cache_free(c);
}

Test(mailbox_cache, mailbox_msg_header_through_the_folder)
{
	make_msg("1700000000.M1.h,S=50:2,S", MSG);
	struct mailbox *mb;
	char err[256];
	cr_assert_eq(mailbox_open(test_md, false, &mb, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(mb->count, 1);
	const char *h;
	size_t len;
	cr_assert_eq(mailbox_msg_header(mb, 0, &h, &len), 0);
	cr_assert_eq(memcmp(h, MSG, len), 0);
	cr_assert_eq(mailbox_msg_header(mb, 1, &h, &len), -EINVAL);
	const char *env;
	size_t elen;
	cr_assert_eq(mailbox_msg_envelope(mb, 0, &env, &elen), 0);
	cr_assert(elen > 0 && env[0] == '(' && env[elen - 1] == ')');
	cr_assert(memmem(env, elen, "\"hello\"", 7) != NULL);
	/* Served again from the cache, byte for byte. */
	char *copy = strndup(env, elen);
	cr_assert_eq(mailbox_msg_envelope(mb, 0, &env, &elen), 0);
	cr_assert_eq(memcmp(env, copy, elen), 0);
	free(copy);
	mailbox_close(&mb);
	char cpath[PATH_MAX];
	snprintf(cpath, sizeof(cpath), "%s/%s", test_md, MAILBOX_CACHE_FILE);
	cr_assert_eq(access(cpath, F_OK), 0, "the cache was written at close");
}

Test(mailbox_cache, recent_claimed_once_examine_claims_nothing)
{
	make_msg("1700000000.M1.h,S=50:2,", MSG);
	make_msg("1700000001.M2.h,S=50:2,", MSG);
	struct mailbox_status st;
	cr_assert_eq(mailbox_status(test_md, true, &st), 0);
	cr_assert_eq(st.recent, 2);
	struct mailbox *ro, *a, *b;
	char err[256];
	cr_assert_eq(mailbox_open(test_md, true, &ro, err, sizeof(err)), 0);
	cr_assert_eq(mailbox_recent_count(ro), 2, "shown as STATUS counts them, not claimed");
	cr_assert_eq(mailbox_open(test_md, false, &a, err, sizeof(err)), 0);
	cr_assert_eq(mailbox_recent_count(a), 2);
	cr_assert_eq(mailbox_open(test_md, false, &b, err, sizeof(err)), 0);
	cr_assert_eq(mailbox_recent_count(b), 0);
	cr_assert_eq(mailbox_status(test_md, true, &st), 0);
	cr_assert_eq(st.recent, 0);
	/* A later arrival goes to whichever read-write session syncs first. */
	uint32_t uv, uid;
	cr_assert_eq(mailbox_append(test_md, MSG, strlen(MSG), 0, NULL, 0, 1700000002, &uv, &uid,
				    err, sizeof(err)),
		     0);
	cr_assert_eq(mailbox_sync(ro, NULL), 0);
	cr_assert_eq(mailbox_recent_count(ro), 3, "the unclaimed arrival is shown too");
	cr_assert_eq(mailbox_sync(b, NULL), 0);
	cr_assert_eq(mailbox_recent_count(b), 1);
	cr_assert(b->msgs[2].flags & MAILBOX_RECENT);
	cr_assert_eq(mailbox_sync(a, NULL), 0);
	cr_assert_eq(mailbox_recent_count(a), 2, "a keeps its own and gets none of b's");
	cr_assert(!(a->msgs[2].flags & MAILBOX_RECENT));
	mailbox_close(&ro);
	mailbox_close(&a);
	mailbox_close(&b);
}

/* Slots are indexed by the UID itself: UIDs that land on the same slot (spaced by the table
 * size, near 2^32), dense runs, both kinds, and UIDs never cached are all told apart. */
Test(mailbox_cache, colliding_and_dense_uids)
{
	uint32_t uids[3000];
	size_t n = 0;
	for (uint32_t k = 0; k < 1000; k++)
		uids[n++] = 4294967295u - k * 2048u; /* one slot for all in small tables */
	for (uint32_t k = 0; k < 1000; k++)
		uids[n++] = 1 + k; /* dense */
	for (uint32_t k = 0; k < 1000; k++)
		uids[n++] = 100000 + k * 1024u;
	struct mailbox_cache *c = mailbox_cache_new(test_md, 3);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/none", test_md);
	for (size_t i = 0; i < n; i++) {
		char msg[64];
		int len = snprintf(msg, sizeof(msg), "X-Uid: %u\r\n\r\nbody", uids[i]);
		mailbox_cache_note(c, uids[i], msg, (size_t)len);
	}
	mailbox_cache_free(c); /* flushed: the file holds every record */
	c = mailbox_cache_new(test_md, 3);
	for (size_t i = 0; i < n; i++) {
		const char *h, *env;
		size_t len, env_len;
		char want[64];
		int wl = snprintf(want, sizeof(want), "X-Uid: %u\r\n\r\n", uids[i]);
		cr_assert_eq(mailbox_cache_header(c, uids[i], path, &h, &len), 0, "uid %u",
			     uids[i]);
		cr_assert_eq(len, (size_t)wl);
		cr_assert_eq(memcmp(h, want, len), 0, "uid %u", uids[i]);
		/* An ENVELOPE record made from it, kept apart from the header record. */
		cr_assert_eq(mailbox_cache_envelope(c, uids[i], path, &env, &env_len), 0);
		cr_assert(env_len > 0);
	}
	const char *h;
	size_t len;
	cr_assert_eq(mailbox_cache_header(c, 2000, path, &h, &len), -ENOENT);
	cr_assert_eq(mailbox_cache_header(c, 4294967295u - 1024u, path, &h, &len), -ENOENT);
	mailbox_cache_free(c);
}
