/* test_sort_keys.c - SORT/THREAD keys: RFC 5256 base subjects (imaptest's and the RFC's cases), first addresses, display names, dates, message ids, the cache record. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailbox_cache.h"
#include "sort_keys.h"

static char *base(const char *subject, bool *reply)
{
	struct buf b;
	buf_init(&b);
	sort_base_subject(&b, subject, strlen(subject), reply);
	char *s = buf_steal(&b, NULL);
	return s ? s : strdup("");
}

#define BASE(in, want, want_reply)                                        \
	do {                                                              \
		bool r_;                                                  \
		char *s_ = base(in, &r_);                                 \
		cr_assert_str_eq(s_, want, "base subject of \"%s\"", in); \
		cr_assert_eq(r_, want_reply, "reply flag of \"%s\"", in); \
		free(s_);                                                 \
	} while (0)

Test(sort_keys, base_subject_rfc5256)
{
	BASE("a", "a", false);
	BASE("Re: a", "a", true);
	BASE("RE:   a  ", "a", true);
	BASE("Fw: a", "a", true);
	BASE("FWD: a", "a", true);
	BASE("Re[2]: a", "a", true);
	BASE("a (fwd)", "a", true);
	BASE("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b", true);
	BASE("Re: [FWD: c]", "c", true);
	BASE("[fwd: a]", "a", true);
	BASE("re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon", true);
	BASE("[xyz]", "[xyz]", false); /* removing the blob would leave nothing */
	BASE("[xyz] a", "a", false);
	BASE("b (a)", "b (a)", false);
	BASE("Ad: Re: Ad: Re: Ad: x", "Ad: Re: Ad: Re: Ad: x", false);
	BASE("", "", false);
	BASE("   ", "", false);
	BASE("Re:", "", true);
	BASE("a\r\n\tb  \t c", "a b c", false);
}

Test(sort_keys, base_subject_encoded_words)
{
	BASE("=?iso-8859-1?q?_?=", "", false);
	BASE("Re: =?utf-8?q?b?=", "b", true);
	BASE("=?iso-8859-1?q?RE:_C?=", "C", true);
	BASE("=?us-ascii?b?UmU6IGM=?=", "c", true);
	BASE("=?utf-8?q?Caf=C3=A9?=", "Caf\xc3\xa9", false);
}

static void keys_of(struct sort_keys *k, const char *hdr)
{
	sort_keys_from_header(k, hdr, strlen(hdr));
}

Test(sort_keys, from_header)
{
	struct sort_keys k;
	keys_of(&k, "From: =?iso-8859-1?q?foo_aar?= <e@f.g>\r\n"
		    "To: a: xx@xx.org, yy@yy.org;\r\n"
		    "Cc: user2@domain2.org (foo bar)\r\n"
		    "Subject: Re: [list] Hello\r\n"
		    "Date: Fri, 22 Feb 2008 00:00:00 +0200\r\n"
		    "Message-ID: <a@b>\r\n"
		    "References: <x@y> junk <bad> (c <no@no>) <z@w>\r\n"
		    "In-Reply-To: <ignored@x>\r\n\r\n");
	cr_assert(k.has_date);
	cr_assert_eq(k.date, 1203631200); /* 2008-02-21 22:00 UTC */
	cr_assert(k.reply);
	cr_assert_str_eq(k.subject, "HELLO");
	cr_assert_str_eq(k.from, "E");
	cr_assert_str_eq(k.display_from, "FOO AAR");
	cr_assert_str_eq(k.to, "A"); /* a group: its name */
	cr_assert_str_eq(k.display_to, "A");
	cr_assert_str_eq(k.cc, "USER2");
	cr_assert_str_eq(k.message_id, "<a@b>");
	cr_assert_str_eq(k.references, "<x@y> <z@w>");
	sort_keys_free(&k);

	keys_of(&k, "From: b@c.d\r\nTo: d\r\nIn-Reply-To: Your message <p@q> of Monday\r\n\r\n");
	cr_assert(!k.has_date);
	cr_assert_str_eq(k.subject, "");
	cr_assert_str_eq(k.display_from, "B@C.D"); /* no name: the address */
	cr_assert_str_eq(k.display_to, "D");
	cr_assert_str_eq(k.cc, "");
	cr_assert_str_eq(k.message_id, "");
	cr_assert_str_eq(k.references, "<p@q>"); /* no References: In-Reply-To's id */
	sort_keys_free(&k);
}

Test(sort_keys, record_round_trip)
{
	struct sort_keys k, back;
	keys_of(&k, "From: Ann <ann@x>\r\nSubject: Fwd: plan\r\nDate: Thu, 1 Jan 1970 00:00:00 "
		    "-0100\r\nMessage-Id: <1@x>\r\nReferences: <0@x>\r\n\r\n");
	struct buf rec;
	buf_init(&rec);
	sort_keys_format(&rec, &k);
	cr_assert_eq(sort_keys_parse(&back, rec.data, rec.len), 0);
	cr_assert_eq(back.has_date, true);
	cr_assert_eq(back.date, 3600);
	cr_assert_eq(back.reply, true);
	cr_assert_str_eq(back.subject, "PLAN");
	cr_assert_str_eq(back.display_from, "ANN");
	cr_assert_str_eq(back.from, "ANN");
	cr_assert_str_eq(back.message_id, "<1@x>");
	cr_assert_str_eq(back.references, "<0@x>");
	sort_keys_free(&back);
	/* Damaged records are refused. */
	cr_assert_eq(sort_keys_parse(&back, rec.data, rec.len - 1), -1);
	static const char bad_date[] = "s1\nx\n0\n\n\n\n\n\n\n\n\n";
	static const char bad_version[] = "s2\n\n0\n\n\n\n\n\n\n\n\n";
	static const char bad_reply[] = "s1\n\n2\n\n\n\n\n\n\n\n\n";
	static const char empty[] = "s1\n\n0\n\n\n\n\n\n\n\n\n";
	cr_assert_eq(sort_keys_parse(&back, bad_date, strlen(bad_date)), -1);
	cr_assert_eq(sort_keys_parse(&back, bad_version, strlen(bad_version)), -1);
	cr_assert_eq(sort_keys_parse(&back, bad_reply, strlen(bad_reply)), -1);
	cr_assert_eq(sort_keys_parse(&back, empty, strlen(empty)), 0);
	sort_keys_free(&back);
	buf_free(&rec);
	sort_keys_free(&k);
}

Test(sort_keys, long_fields_are_cut)
{
	struct buf h;
	buf_init(&h);
	buf_append_str(&h, "Subject: ");
	for (int i = 0; i < 3000; i++)
		buf_append_str(&h, "\xc3\xa9");
	buf_append_str(&h, "\r\nReferences:");
	for (int i = 0; i < 3000; i++)
		buf_printf(&h, " <%d@x>", i);
	buf_append_str(&h, "\r\n\r\n");
	struct sort_keys k;
	sort_keys_from_header(&k, h.data, h.len);
	cr_assert_leq(strlen(k.subject), SORT_KEYS_MAX_FIELD);
	cr_assert_eq(strlen(k.subject) % 2, 0); /* no UTF-8 sequence cut */
	cr_assert_leq(strlen(k.references), SORT_KEYS_MAX_REFS_LEN);
	size_t rl = strlen(k.references);
	cr_assert_str_eq(k.references + rl - 8, "<2999@x>"); /* the parent is kept */
	cr_assert_eq(k.references[0], '<');
	struct buf rec;
	buf_init(&rec);
	sort_keys_format(&rec, &k);
	cr_assert_leq(rec.len, MAILBOX_CACHE_MAX_HEADER);
	buf_free(&rec);
	sort_keys_free(&k);
	buf_free(&h);
}

static void collect(const char *id, size_t len, void *arg)
{
	buf_append(arg, id, len);
	buf_append(arg, "|", 1);
}

Test(sort_keys, each_ref)
{
	struct buf b;
	buf_init(&b);
	sort_keys_each_ref("<a@b>  <c@d> <e@f>", collect, &b);
	cr_assert_str_eq(b.data, "<a@b>|<c@d>|<e@f>|");
	buf_reset(&b);
	sort_keys_each_ref("", collect, &b);
	cr_assert_eq(b.len, 0);
	buf_free(&b);
}

Test(sort_keys, cached_beside_the_folder)
{
	/* The keys are derived once and then come from mtad-cache: with the message file gone, a
	 * new cache object of the folder still has them. */
	char dir[] = "/tmp/test_sort_keys.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/msg", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("Subject: Re: cached\r\nFrom: Zed <z@x>\r\n\r\nbody\r\n", f);
	fclose(f);
	struct mailbox_cache *c = mailbox_cache_new(dir, 7);
	const char *rec;
	size_t len;
	cr_assert_eq(mailbox_cache_sortkeys(c, 1, path, &rec, &len), 0);
	struct sort_keys k;
	cr_assert_eq(sort_keys_parse(&k, rec, len), 0);
	cr_assert_str_eq(k.subject, "CACHED");
	sort_keys_free(&k);
	mailbox_cache_free(c); /* flushes */
	cr_assert_eq(unlink(path), 0);
	c = mailbox_cache_new(dir, 7);
	cr_assert_eq(mailbox_cache_sortkeys(c, 1, path, &rec, &len), 0);
	cr_assert_eq(sort_keys_parse(&k, rec, len), 0);
	cr_assert_str_eq(k.display_from, "ZED");
	cr_assert(k.reply);
	sort_keys_free(&k);
	cr_assert_lt(mailbox_cache_sortkeys(c, 2, path, &rec, &len), 0); /* not cached, no file */
	mailbox_cache_free(c);
	snprintf(path, sizeof(path), "%s/%s", dir, MAILBOX_CACHE_FILE);
	unlink(path);
	rmdir(dir);
}
