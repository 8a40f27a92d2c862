/* test_mailbox_routes.c - the mailbox_routes table: targets, the imap: back end, lookups by address then domain, and file:line errors. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailbox_routes.h"

static struct mailbox_routes *test_parse(const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return mailbox_routes_parse("routes", text, strlen(text), err, errlen);
}

static void test_fails(const char *text, const char *want)
{
	char err[512];
	struct mailbox_routes *r = test_parse(text, err, sizeof(err));
	cr_assert_null(r, "accepted: %s", text);
	cr_assert(strstr(err, want), "err \"%s\" lacks \"%s\" for %s", err, want, text);
}

Test(mailbox_routes, targets_and_lookup)
{
	char err[512];
	struct mailbox_routes *r = test_parse(
		"# shards\n"
		"\n"
		"example.org: lmtp:[10.0.0.5]:24\n"
		"Alice@Example.ORG: lmtp:[10.0.0.6]:2424 imap:[10.0.0.6]:1143\n"
		"boss@example.org: local\r\n"
		"other.test: lmtp:unix:/run/dovecot/lmtp\n"
		"v6.test:\tlmtp:[2001:db8::5]:24\n"
		"named.test: lmtp:backend.internal:24\n",
		err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	cr_expect_eq(mailbox_routes_count(r), 6);

	const struct mailbox_route *a = mailbox_routes_lookup(r, "ALICE@example.org");
	cr_assert_not_null(a);
	cr_expect_eq(a->kind, MAILBOX_ROUTE_LMTP_INET);
	cr_expect_str_eq(a->host, "10.0.0.6");
	cr_expect_eq(a->port, 2424);
	cr_expect_str_eq(a->imap_host, "10.0.0.6");
	cr_expect_eq(a->imap_port, 1143);

	/* Any other address of the domain: the domain's line, IMAP on the same host, port 143. */
	const struct mailbox_route *b = mailbox_routes_lookup(r, "bob@example.org");
	cr_assert_not_null(b);
	cr_expect_str_eq(b->host, "10.0.0.5");
	cr_expect_eq(b->port, 24);
	cr_expect_str_eq(b->imap_host, "10.0.0.5");
	cr_expect_eq(b->imap_port, 143);

	const struct mailbox_route *boss = mailbox_routes_lookup(r, "boss@example.org");
	cr_assert_not_null(boss);
	cr_expect_eq(boss->kind, MAILBOX_ROUTE_LOCAL);

	const struct mailbox_route *u = mailbox_routes_lookup(r, "x@other.test");
	cr_assert_not_null(u);
	cr_expect_eq(u->kind, MAILBOX_ROUTE_LMTP_UNIX);
	cr_expect_str_eq(u->path, "/run/dovecot/lmtp");
	cr_expect_eq(u->imap_port, 0, "no IMAP back end is known for a unix socket");

	const struct mailbox_route *v6 = mailbox_routes_lookup(r, "x@v6.test");
	cr_assert_not_null(v6);
	cr_expect_str_eq(v6->host, "2001:db8::5");

	char shown[300];
	mailbox_route_format(v6, shown, sizeof(shown));
	cr_expect_str_eq(shown, "lmtp:[2001:db8::5]:24");
	mailbox_route_format(u, shown, sizeof(shown));
	cr_expect_str_eq(shown, "lmtp:unix:/run/dovecot/lmtp");
	mailbox_route_format(NULL, shown, sizeof(shown));
	cr_expect_str_eq(shown, "local");

	cr_expect_null(mailbox_routes_lookup(r, "someone@unrouted.test"), "unlisted: local");
	cr_expect_null(mailbox_routes_lookup(NULL, "a@example.org"), "no table: local");
	mailbox_routes_free(&r);
	cr_expect_null(r);
}

Test(mailbox_routes, errors_name_the_line)
{
	test_fails("example.org lmtp:[10.0.0.5]:24\n", "routes:1: bad key");
	test_fails("example.org local\n", "routes:1: expected");
	test_fails("\nexample.org: smtp:[10.0.0.5]:24\n", "routes:2: example.org: target must be");
	test_fails("example.org: lmtp:[10.0.0.5]\n", "expected :PORT");
	test_fails("example.org: lmtp:[10.0.0.5]:0\n", "bad port");
	test_fails("example.org: lmtp:[10.0.0.5]:70000\n", "bad port");
	test_fails("example.org: lmtp:2001:db8::5:24\n", "needs brackets");
	test_fails("example.org: lmtp:unix:run/lmtp\n", "absolute path");
	test_fails("example.org:\n", "missing target");
	test_fails("example.org: local imap:[10.0.0.1]:143\n", "only imap:");
	test_fails("example.org: lmtp:[a]:24 imap:[b]:143 extra\n", "too many words");
	test_fails("@example.org: local\n", "bad key");
	test_fails("a b@example.org: local\n", "bad key");
	test_fails("a@example.org: local\nA@EXAMPLE.org: lmtp:[h]:24\n",
		   "routes:2: \"a@example.org\" given twice (first at line 1)");
}

Test(mailbox_routes, reload_when_the_file_changes)
{
	char path[] = "/tmp/test_routes_XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char *v1 = "example.org: lmtp:[10.0.0.5]:24\n";
	cr_assert_eq(write(fd, v1, strlen(v1)), (ssize_t)strlen(v1));
	close(fd);
	char err[512];
	struct mailbox_routes *r = mailbox_routes_load(path, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	cr_expect_eq(mailbox_routes_reload_if_changed(&r, err, sizeof(err)), 0);
	FILE *f = fopen(path, "w");
	fputs("example.org: lmtp:[10.0.0.7]:24\nnew.test: local\n", f);
	fclose(f);
	cr_expect_eq(mailbox_routes_reload_if_changed(&r, err, sizeof(err)), 1, "%s", err);
	cr_expect_str_eq(mailbox_routes_lookup(r, "a@example.org")->host, "10.0.0.7");
	/* A broken edit keeps the table in use. */
	f = fopen(path, "w");
	fputs("example.org lmtp\n", f);
	fclose(f);
	cr_expect_eq(mailbox_routes_reload_if_changed(&r, err, sizeof(err)), -1);
	cr_expect(strstr(err, ":1: expected") != NULL, "%s", err);
	cr_expect_str_eq(mailbox_routes_lookup(r, "a@example.org")->host, "10.0.0.7");
	mailbox_routes_free(&r);
	unlink(path);
}
