/* test_quota_rule.c - Dovecot quota rules and the users file lines that carry them. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounts.h"
#include "quota_rule.h"

static int parse(const char *s, uint64_t *bytes, const char **why)
{
	*bytes = 12345;
	*why = NULL;
	return quota_rule_parse(s, strlen(s), bytes, why);
}

Test(quota_rule, storage_units)
{
	uint64_t b;
	const char *why;
	cr_assert_eq(parse("*:storage=1G", &b, &why), 1);
	cr_assert_eq(b, 1ULL << 30);
	cr_assert_eq(parse("*:storage=100M", &b, &why), 1);
	cr_assert_eq(b, 100ULL << 20);
	cr_assert_eq(parse("*:storage=512MB", &b, &why), 1);
	cr_assert_eq(b, 512ULL << 20);
	cr_assert_eq(parse("*:storage=2t", &b, &why), 1);
	cr_assert_eq(b, 2ULL << 40);
	/* no unit: kilobytes, as Dovecot reads storage= */
	cr_assert_eq(parse("*:storage=1024", &b, &why), 1);
	cr_assert_eq(b, 1024ULL * 1024);
	cr_assert_eq(parse("*:storage=100b", &b, &why), 1);
	cr_assert_eq(b, 100);
	cr_assert_eq(parse("*:bytes=5000", &b, &why), 1);
	cr_assert_eq(b, 5000);
	cr_assert_eq(parse("*:storage=10k:messages=100", &b, &why), 1);
	cr_assert_eq(b, 10240);
	cr_assert_eq(parse("?:storage=1K", &b, &why), 1);
	cr_assert_eq(b, 1024);
}

Test(quota_rule, none_and_others)
{
	uint64_t b;
	const char *why;
	cr_assert_eq(parse("*:storage=0", &b, &why), 1);
	cr_assert_eq(b, 0);
	cr_assert_eq(parse("*:ignore", &b, &why), 1);
	cr_assert_eq(b, 0);
	/* rules for one mailbox and message counts are accepted, not enforced */
	cr_assert_eq(parse("Trash:storage=+100M", &b, &why), 0);
	cr_assert_eq(parse("Spam:ignore", &b, &why), 0);
	cr_assert_eq(parse("*:messages=1000", &b, &why), 0);
	cr_assert_eq(parse("INBOX:storage=10%", &b, &why), 0);
}

Test(quota_rule, malformed)
{
	static const char *const bad[] = {
		"",
		"*",
		":storage=1G",
		"*:",
		"*:storage",
		"*:storage=",
		"*:storage=G",
		"*:storage=1X",
		"*:storage=1GG",
		"*:storage=-1",
		"*:storage=+1M",
		"*:storage=10%",
		"*:storage=99999999999999999999",
		"*:storage=99999999999T",
		"*:size=1G",
		"*:storage=1G:",
		"*:storage=1 G",
		"*:backend=1G",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t b;
		const char *why;
		cr_assert_eq(parse(bad[i], &b, &why), -1, "%s", bad[i]);
		cr_assert_not_null(why);
	}
}

Test(quota_rule, users_file)
{
	static const char text[] =
		"old@example.org:{PLAIN}x\n"
		"a@example.org:{PLAIN}x::::::userdb_quota_rule=*:storage=1M\n"
		"b@example.org:{PLAIN}x:1000:1000::/home/b::userdb_mail=maildir:~/Maildir "
		"userdb_quota_rule=*:storage=2G userdb_quota_rule2=Trash:storage=+10M\n"
		"c@example.org:{PLAIN}x:::::: quota_rule=*:bytes=500\n"
		"d@example.org:{PLAIN}x::::::userdb_quota_rule=*:storage=0\n"
		"e@example.org:{PLAIN}x:a:b\n";
	char err[256];
	struct accounts *acc = accounts_parse("users", text, sizeof(text) - 1, err, sizeof(err));
	cr_assert_not_null(acc, "%s", err);
	const struct account *a = accounts_find(acc, "old@example.org");
	cr_assert(a && !a->has_quota && strcmp(a->hash, "{PLAIN}x") == 0);
	cr_assert_eq(accounts_quota(a, 777), 777);
	a = accounts_find(acc, "a@example.org");
	cr_assert(a && a->has_quota && a->quota == 1 << 20);
	cr_assert_eq(accounts_quota(a, 777), 1 << 20);
	a = accounts_find(acc, "b@example.org");
	cr_assert(a && a->has_quota && a->quota == 2ULL << 30);
	a = accounts_find(acc, "c@example.org");
	cr_assert(a && a->has_quota && a->quota == 500);
	a = accounts_find(acc, "d@example.org");
	cr_assert(a && a->has_quota && a->quota == 0);
	cr_assert_eq(accounts_quota(a, 777), 0); /* its own "no limit" wins */
	a = accounts_find(acc, "e@example.org");
	cr_assert(a && !a->has_quota);
	cr_assert_eq(accounts_quota(NULL, 5), 5);
	accounts_free(&acc);
}

Test(quota_rule, users_file_error_names_line)
{
	static const char text[] = "a@example.org:{PLAIN}x\n"
				   "b@example.org:{PLAIN}x::::::userdb_quota_rule=*:storage=lots\n";
	char err[256];
	struct accounts *acc = accounts_parse("users", text, sizeof(text) - 1, err, sizeof(err));
	cr_assert_null(acc);
	cr_assert(strncmp(err, "users:2: ", 9) == 0, "%s", err);
}

Test(quota_rule, passwd_keeps_extra_fields)
{
	char dir[] = "/tmp/test_quota_rule.XXXXXX", path[64], err[256];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/users", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("a@example.org:{PLAIN}old::::::userdb_quota_rule=*:storage=1M\n", f);
	fclose(f);
	cr_assert_eq(
		accounts_file_update(path, "a@example.org", "{PLAIN}new", 0600, err, sizeof(err)),
		1, "%s", err);
	struct accounts *acc = accounts_load(path, err, sizeof(err));
	cr_assert_not_null(acc, "%s", err);
	const struct account *a = accounts_find(acc, "a@example.org");
	cr_assert(a && strcmp(a->hash, "{PLAIN}new") == 0);
	cr_assert(a->has_quota && a->quota == 1 << 20);
	accounts_free(&acc);
	unlink(path);
	char lock[80];
	snprintf(lock, sizeof(lock), "%s.lock", path);
	unlink(lock);
	rmdir(dir);
}
