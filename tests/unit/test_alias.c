/* test_alias.c - aliases_file parsing and recipient resolution (plus-addressing, case, chains, loops). */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"

static struct aliases *test_parse(const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return aliases_parse("aliases", text, strlen(text), err, errlen);
}

static void test_parse_fails(const char *text, const char *expect_prefix, const char *expect_sub)
{
	char err[512];
	struct aliases *al = test_parse(text, err, sizeof(err));
	cr_assert_null(al, "accepted: %s", text);
	cr_assert_eq(strncmp(err, expect_prefix, strlen(expect_prefix)), 0, "err \"%s\" for %s",
		     err, text);
	cr_assert(strstr(err, expect_sub), "err \"%s\" lacks \"%s\"", err, expect_sub);
}

Test(aliases_parse, entries_comments_continuations)
{
	char err[512];
	struct aliases *al = test_parse("# the aliases\n"
					"\n"
					"Team@Example.ORG: alice@example.org, bob@remote.test,\n"
					"    carol@example.org\n"
					"  # a comment inside the entry\n"
					"\tdave\n"
					"postmaster: root@example.org\r\n"
					"\"odd, name\"@example.org: \"x, y\"@remote.test\n",
					err, sizeof(err));
	cr_assert_not_null(al, "%s", err);

	size_t n = 0;
	const struct alias_target *t = aliases_lookup(al, "team@example.org", &n);
	cr_assert_not_null(t);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(t[0].local, "alice");
	cr_assert_str_eq(t[0].domain, "example.org");
	cr_assert_str_eq(t[1].local, "bob");
	cr_assert_str_eq(t[1].domain, "remote.test");
	cr_assert_str_eq(t[2].local, "carol");
	cr_assert_str_eq(t[3].local, "dave");
	cr_assert_str_eq(t[3].domain, "");

	t = aliases_lookup(al, "postmaster", &n);
	cr_assert_not_null(t);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(t[0].local, "root");
	cr_assert_null(aliases_lookup(al, "postmaster@example.org", &n));

	t = aliases_lookup(al, "odd, name@example.org", &n);
	cr_assert_not_null(t);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(t[0].local, "x, y");
	cr_assert(t[0].quoted);
	aliases_free(&al);
	cr_assert_null(al);
	cr_assert_null(aliases_lookup(NULL, "x", &n));
}

Test(aliases_parse, errors_name_file_and_line)
{
	test_parse_fails("a@x.org: b@x.org\n\nA@X.org: c@x.org\n", "aliases:3:", "given twice");
	test_parse_fails("a@x.org: b@x.org\nno colon here\n", "aliases:2:", "expected");
	test_parse_fails("a@x.org: b@x.org\nc@x.org: bad address@@\n", "aliases:2:", "bad target");
	test_parse_fails("   b@x.org\n", "aliases:1:", "continuation");
	test_parse_fails("a@x.org: |/usr/bin/prog\n", "aliases:1:", "not supported");
	test_parse_fails("a@x.org: /var/mail/file\n", "aliases:1:", "not supported");
	test_parse_fails("a@x.org: :include:/etc/list\n", "aliases:1:", "not supported");
	test_parse_fails("# c\na@x.org:\nb@x.org: c@x.org\n", "aliases:2:", "no targets");
	test_parse_fails("a@x.org: b@x.org\nlast@x.org:   \n", "aliases:2:", "no targets");
	test_parse_fails(": b@x.org\n", "aliases:1:", "bad alias name");
	test_parse_fails("a b@x.org: c@x.org\n", "aliases:1:", "bad alias name");

	char err[128];
	const char nul[] = "a@x.org: b@x.org\nc@x.org: d\0@x.org\n";
	cr_assert_null(aliases_parse("f", nul, sizeof(nul) - 1, err, sizeof(err)));
	cr_assert_eq(strncmp(err, "f:2:", 4), 0, "%s", err);
}

Test(aliases_load, load_and_reload)
{
	char path[] = "/tmp/test_alias.XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "a@x.org: b@x.org\n", 17), 17);
	close(fd);

	char err[512];
	struct aliases *al = aliases_load(path, err, sizeof(err));
	cr_assert_not_null(al, "%s", err);
	cr_assert_eq(aliases_reload_if_changed(&al, err, sizeof(err)), 0);

	FILE *f = fopen(path, "w");
	fputs("a@x.org: c@x.org, d@x.org\n", f);
	fclose(f);
	struct timespec ts[2] = { { .tv_sec = 1000, .tv_nsec = 0 }, { .tv_sec = 1000 } };
	utimensat(AT_FDCWD, path, ts, 0);
	cr_assert_eq(aliases_reload_if_changed(&al, err, sizeof(err)), 1, "%s", err);
	size_t n;
	const struct alias_target *t = aliases_lookup(al, "a@x.org", &n);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(t[0].local, "c");

	f = fopen(path, "w");
	fputs("a@x.org: c@x.org\nbroken\n", f);
	fclose(f);
	cr_assert_eq(aliases_reload_if_changed(&al, err, sizeof(err)), -1);
	cr_assert(strstr(err, ":2:"), "%s", err);
	t = aliases_lookup(al, "a@x.org", &n); /* the old table is kept */
	cr_assert_eq(n, 2);

	unlink(path);
	cr_assert_null(aliases_load(path, err, sizeof(err)));
	cr_assert(strstr(err, ":0:"), "%s", err);
	aliases_free(&al);
}

/* Resolution fixtures: two local domains, a few accounts. */
static char *test_domains[] = { "localhost", "example.org" };

static struct config test_cfg(const char *delim)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "mx.test";
	cfg.domains.items = test_domains;
	cfg.domains.n = 2;
	cfg.state_dir = "/nonexistent";
	cfg.recipient_delimiter = (char *)delim;
	return cfg;
}

static struct accounts *test_accounts(void)
{
	static const char users[] = "alice@localhost:{PLAIN}x\n"
				    "bob@localhost:{PLAIN}x\n"
				    "carol@localhost:{PLAIN}x\n"
				    "alice@example.org:{PLAIN}x\n"
				    "root@example.org:{PLAIN}x\n"
				    "a-b@localhost:{PLAIN}x\n";
	char err[256];
	struct accounts *acc = accounts_parse("users", users, sizeof(users) - 1, err, sizeof(err));
	cr_assert_not_null(acc, "%s", err);
	return acc;
}

struct test_res {
	enum delivery_status st;
	struct delivery_target *t;
	size_t n;
	char err[512];
};

static struct test_res test_resolve(const char *delim, const char *aliases, const char *rcpt)
{
	struct test_res r;
	struct config cfg = test_cfg(delim);
	struct accounts *acc = test_accounts();
	struct aliases *al = NULL;
	char err[512];
	if (aliases) {
		al = test_parse(aliases, err, sizeof(err));
		cr_assert_not_null(al, "%s", err);
	}
	struct addr a;
	const char *why;
	cr_assert_eq(delivery_parse_address(rcpt, strlen(rcpt), &a, &why), 0, "%s: %s", rcpt, why);
	memset(&r, 0, sizeof(r));
	r.st = delivery_resolve(&cfg, acc, al, &a, &r.t, &r.n, r.err, sizeof(r.err));
	aliases_free(&al);
	accounts_free(&acc);
	return r;
}

/* "local@domain" of target i, with "!" appended when it is remote. */
static const char *test_target(const struct test_res *r, size_t i)
{
	static char buf[600];
	cr_assert_lt(i, r->n);
	snprintf(buf, sizeof(buf), "%s@%s%s", r->t[i].addr.local, r->t[i].addr.domain,
		 r->t[i].local ? "" : "!");
	return buf;
}

static void test_expect(const struct test_res *r, const char *const *want, size_t n)
{
	cr_assert_eq(r->st, DELIVERY_OK, "status %d: %s", r->st, r->err);
	cr_assert_eq(r->n, n, "got %zu targets", r->n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(test_target(r, i), want[i]);
}

#define EXPECT(r, ...)                                             \
	do {                                                       \
		static const char *const w_[] = { __VA_ARGS__ };   \
		test_expect(&(r), w_, sizeof(w_) / sizeof(w_[0])); \
		free((r).t);                                       \
	} while (0)

Test(resolve, account_case_and_plus)
{
	struct test_res r = test_resolve("+", NULL, "alice@localhost");
	EXPECT(r, "alice@localhost");
	r = test_resolve("+", NULL, "ALICE+Lists@LocalHost");
	EXPECT(r, "alice@localhost");
	r = test_resolve("+", NULL, "alice"); /* no domain: the first local domain */
	EXPECT(r, "alice@localhost");
	r = test_resolve("+-", NULL, "alice-news@example.org");
	EXPECT(r, "alice@example.org");
	r = test_resolve("+-", NULL, "a-b@localhost"); /* the full name is an account */
	EXPECT(r, "a-b@localhost");
	r = test_resolve("+", NULL, "a-b+x@localhost");
	EXPECT(r, "a-b@localhost");
}

Test(resolve, unknown_users)
{
	struct test_res r = test_resolve("+", NULL, "nobody@localhost");
	cr_assert_eq(r.st, DELIVERY_UNKNOWN_USER);
	cr_assert(strstr(r.err, "nobody@localhost"), "%s", r.err);
	cr_assert_null(r.t);
	r = test_resolve("", NULL, "alice+x@localhost"); /* "" disables plus-addressing */
	cr_assert_eq(r.st, DELIVERY_UNKNOWN_USER);
	r = test_resolve("+", NULL, "+alice@localhost"); /* nothing before the delimiter */
	cr_assert_eq(r.st, DELIVERY_UNKNOWN_USER);
	r = test_resolve("+", NULL, "bob@example.org"); /* account in the other domain only */
	cr_assert_eq(r.st, DELIVERY_UNKNOWN_USER);
	r = test_resolve("+", "list@localhost: alice, ghost\n", "list@localhost");
	cr_assert_eq(r.st, DELIVERY_UNKNOWN_USER);
	cr_assert(strstr(r.err, "ghost@localhost"), "%s", r.err);
}

Test(resolve, remote_passes_through)
{
	struct test_res r = test_resolve("+", NULL, "Someone+x@Remote.TEST");
	EXPECT(r, "Someone+x@remote.test!");
}

Test(resolve, alias_chains_and_remote_targets)
{
	const char *al = "team@localhost: alice, ops@localhost, Bob@Remote.Test\n"
			 "ops@localhost: carol@localhost, oncall@localhost\n"
			 "oncall@localhost: bob\n";
	struct test_res r = test_resolve("+", al, "Team+urgent@LOCALHOST");
	EXPECT(r, "alice@localhost", "carol@localhost", "bob@localhost", "Bob@remote.test!");
}

Test(resolve, full_address_before_stripped)
{
	const char *al = "alice+spam@localhost: carol\n"
			 "bob: alice\n";
	struct test_res r = test_resolve("+", al, "alice+spam@localhost");
	EXPECT(r, "carol@localhost");
	r = test_resolve("+", al, "alice+ham@localhost");
	EXPECT(r, "alice@localhost");
	r = test_resolve("+", al, "bob+x@localhost"); /* the alias beats the account */
	EXPECT(r, "alice@localhost");
}

Test(resolve, bare_key_in_every_local_domain)
{
	const char *al = "postmaster: root\n"
			 "root@localhost: alice\n";
	struct test_res r = test_resolve("+", al, "postmaster@example.org");
	EXPECT(r, "root@example.org");
	r = test_resolve("+", al, "PostMaster@localhost");
	EXPECT(r, "alice@localhost");
	r = test_resolve("+", al, "postmaster");
	EXPECT(r, "alice@localhost");
	r = test_resolve("+", "postmaster@example.org: alice\npostmaster: bob@localhost\n",
			 "postmaster@example.org"); /* the domain's own key wins */
	EXPECT(r, "alice@example.org");
}

Test(resolve, self_reference_keeps_account)
{
	struct test_res r = test_resolve("+", "alice@localhost: alice, bob\n", "alice@localhost");
	EXPECT(r, "alice@localhost", "bob@localhost");
	r = test_resolve("+", "alice: alice+archive, carol\n", "alice+x@localhost");
	EXPECT(r, "alice@localhost", "carol@localhost");
}

Test(resolve, duplicates_removed)
{
	const char *al = "list@localhost: alice, ALICE@localhost, alice+x@localhost, g1, g2\n"
			 "g1@localhost: bob, x@remote.test\n"
			 "g2@localhost: bob, g1, x@REMOTE.test\n";
	struct test_res r = test_resolve("+", al, "list@localhost");
	EXPECT(r, "alice@localhost", "bob@localhost", "x@remote.test!");
}

Test(resolve, loops_are_permanent_errors)
{
	struct test_res r = test_resolve("+", "a@localhost: b\nb@localhost: c\nc@localhost: a\n",
					 "a@localhost");
	cr_assert_eq(r.st, DELIVERY_PERMFAIL);
	cr_assert(strstr(r.err, "alias loop"), "%s", r.err);
	cr_assert(strstr(r.err, "c@localhost -> a@localhost"), "%s", r.err);
	cr_assert_null(r.t);
	r = test_resolve("+", "a@localhost: alice, b\nb@localhost: a+x\n", "a@localhost");
	cr_assert_eq(r.st, DELIVERY_PERMFAIL);
	cr_assert(strstr(r.err, "alias loop"), "%s", r.err);
}

/* Chain l0 -> l1 -> ... -> lN -> alice: N+1 nested expansions. */
static char *test_chain(int n)
{
	char *s = malloc(64 * (size_t)(n + 2));
	size_t off = 0;
	for (int i = 0; i < n; i++)
		off += (size_t)sprintf(s + off, "l%d@localhost: l%d\n", i, i + 1);
	sprintf(s + off, "l%d@localhost: alice\n", n);
	return s;
}

Test(resolve, depth_limit)
{
	char *al = test_chain(19); /* 20 expansions: allowed */
	struct test_res r = test_resolve("+", al, "l0@localhost");
	EXPECT(r, "alice@localhost");
	free(al);
	al = test_chain(20); /* 21: refused */
	r = test_resolve("+", al, "l0@localhost");
	cr_assert_eq(r.st, DELIVERY_PERMFAIL);
	cr_assert(strstr(r.err, "deeper than 20"), "%s", r.err);
	free(al);
}

Test(resolve, diamonds_stay_linear, .timeout = 5)
{
	/* Each level names the next level twice (once with a +detail): 2^19 paths when
	 * expanded naively, beyond the expansion budget; each alias is expanded once. */
	char *s = malloc(64 * 24);
	size_t off = 0;
	for (int i = 0; i < 19; i++)
		off += (size_t)sprintf(s + off, "d%d@localhost: d%d, d%d+x, alice\n", i, i + 1,
				       i + 1);
	sprintf(s + off, "d19@localhost: bob\n");
	struct test_res r = test_resolve("+", s, "d0@localhost");
	EXPECT(r, "bob@localhost", "alice@localhost");
	free(s);
}

Test(resolve, too_many_targets)
{
	size_t cap = 5000 * 24 + 64;
	char *s = malloc(cap);
	size_t off = (size_t)sprintf(s, "big@localhost: ");
	for (int i = 0; i < 5000; i++)
		off += (size_t)sprintf(s + off, "u%d@remote.test, ", i);
	sprintf(s + off, "\n");
	struct test_res r = test_resolve("+", s, "big@localhost");
	cr_assert_eq(r.st, DELIVERY_PERMFAIL);
	cr_assert(strstr(r.err, "recipients"), "%s", r.err);
	free(s);
}

Test(resolve, parse_address_forms)
{
	struct addr a;
	const char *why;
	cr_assert_eq(delivery_parse_address("alice", 5, &a, &why), 0);
	cr_assert_str_eq(a.local, "alice");
	cr_assert_str_eq(a.domain, "");
	cr_assert_eq(delivery_parse_address("a@Example.ORG", 13, &a, &why), 0);
	cr_assert_str_eq(a.domain, "example.org");
	cr_assert_eq(delivery_parse_address("a b", 3, &a, &why), -1);
	cr_assert_eq(delivery_parse_address("", 0, &a, &why), -1);
}
