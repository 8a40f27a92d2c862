/* mailctl.c - the administration command: check the configuration, manage accounts, inspect the queue. */
#include "accounts.h"
#include "config.h"
#include "deliver.h"
#include "log.h"
#include "mailbox_routes.h"
#include "mailctl_dns.h"
#include "password.h"
#include "privilege.h"
#include "queue.h"
#include "queue_file.h"
#include "quota.h"
#include "store.h"
#include "str.h"
#include "xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void mailctl_usage(FILE *f)
{
	fprintf(f,
		"usage: mailctl [-c FILE] COMMAND\n"
		"commands:\n"
		"  check                  validate the configuration, users_file and aliases_file\n"
		"  user add ADDRESS       add an account (password read from stdin, stored "
		"hashed)\n"
		"  user passwd ADDRESS    change an account's password (read from stdin)\n"
		"  user del ADDRESS       remove an account\n"
		"  user list              list the accounts with their storage usage and quota\n"
		"  queue [--json]         list queued messages: id, size, age, sender, recipients\n"
		"  stats [--json]         counts by state (live figures when mtad is running)\n"
		"  flush                  retry every deferred message now\n"
		"  tlsrpt send            send the TLS-RPT reports of the counts so far now\n"
		"  mta-sts refresh        fetch every cached MTA-STS policy again now\n"
		"  hold ID | release ID   keep a message from delivery / let it go again\n"
		"  delete ID              remove a message from the queue without a bounce\n"
		"  dns [--check] DOMAIN   print the DNS records DOMAIN needs / check what is "
		"published\n"
		"  --help, --version\n");
}

static int mailctl_check(const struct config *cfg)
{
	char err[1024];
	struct accounts *acc = accounts_load(cfg->users_file, err, sizeof(err));
	if (!acc) {
		fprintf(stderr, "mailctl: %s\n", err);
		return EX_CONFIG_STATUS;
	}
	size_t naccounts = acc->n;
	accounts_free(&acc);
	if (cfg->aliases_file) {
		struct aliases *al = aliases_load(cfg->aliases_file, err, sizeof(err));
		if (!al) {
			fprintf(stderr, "mailctl: %s\n", err);
			return EX_CONFIG_STATUS;
		}
		aliases_free(&al);
	}
	size_t nroutes = 0;
	if (cfg->mailbox_routes) {
		struct mailbox_routes *routes = mailbox_routes_load(cfg->mailbox_routes, err,
								    sizeof(err));
		if (!routes) {
			fprintf(stderr, "mailctl: %s\n", err);
			return EX_CONFIG_STATUS;
		}
		nroutes = mailbox_routes_count(routes);
		mailbox_routes_free(&routes);
	}
	printf("configuration OK: %s (%zu account(s), %zu local domain(s)",
	       cfg->path ? cfg->path : "built-in defaults", naccounts, cfg->domains.n);
	if (cfg->mailbox_routes)
		printf(", %zu mailbox route(s)", nroutes);
	printf(")\n");
	return 0;
}

/* Reads the password: the first line of stdin, without its line ending. */
static int mailctl_read_password(char *out, size_t outlen)
{
	if (!fgets(out, (int)outlen, stdin)) {
		fprintf(stderr, "mailctl: no password on standard input\n");
		return -1;
	}
	out[strcspn(out, "\r\n")] = '\0';
	if (out[0] == '\0') {
		fprintf(stderr, "mailctl: empty password\n");
		return -1;
	}
	return 0;
}

static int mailctl_normalise_address(const struct config *cfg, const char *in, char *out,
				     size_t outlen)
{
	struct addr a;
	const char *error;
	if (addr_parse_mailbox(in, strlen(in), ADDR_ALLOW_UTF8, &a, &error) < 0) {
		fprintf(stderr, "mailctl: %s: %s\n", in, error);
		return -1;
	}
	for (char *p = a.local; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (!config_is_local_domain(cfg, a.domain))
		fprintf(stderr,
			"mailctl: warning: %s is not in domains; mail for it will not be "
			"accepted\n",
			a.domain);
	size_t n = addr_format(&a, out, outlen);
	if (n >= outlen) {
		/* Never cut it short: the shorter address may be another account's. */
		fprintf(stderr, "mailctl: %.64s...: address too long (%zu bytes, at most %zu)\n",
			in, n, outlen - 1);
		return -1;
	}
	return 0;
}

/* "address  used BYTES of LIMIT bytes (P%), N messages": the storage usage as the quota sees it
 * (the Maildir's maildirsize, counted when missing). */
static void mailctl_user_line(const struct config *cfg, const struct account *a)
{
	char maildir[PATH_MAX];
	struct maildir_quota_usage u = { 0, 0 };
	uint64_t limit = accounts_quota(a, cfg->default_quota);
	int r = -EINVAL;
	if (store_mailbox_path_for_address(cfg->state_dir, a->address, maildir, sizeof(maildir)) ==
	    0)
		r = maildir_quota_get(maildir, limit, &u);
	if (r < 0) {
		printf("%s  usage unknown (%s)\n", a->address, strerror(-r));
		return;
	}
	if (limit)
		printf("%s  used %lld of %llu bytes (%llu%%), %lld messages\n", a->address,
		       (long long)u.bytes, (unsigned long long)limit,
		       (unsigned long long)((uint64_t)u.bytes * 100 / limit),
		       (long long)u.messages);
	else
		printf("%s  used %lld bytes (no limit), %lld messages\n", a->address,
		       (long long)u.bytes, (long long)u.messages);
}

static int mailctl_user(const struct config *cfg, int argc, char **argv)
{
	char err[1024], address[600], password[1024], hash[512];
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		struct accounts *acc = accounts_load(cfg->users_file, err, sizeof(err));
		if (!acc) {
			fprintf(stderr, "mailctl: %s\n", err);
			return EX_CONFIG_STATUS;
		}
		for (size_t i = 0; i < acc->n; i++)
			mailctl_user_line(cfg, &acc->items[i]);
		accounts_free(&acc);
		return 0;
	}
	if (argc != 2) {
		mailctl_usage(stderr);
		return 64;
	}
	if (mailctl_normalise_address(cfg, argv[1], address, sizeof(address)) < 0)
		return 65;
	const char *verb = argv[0];
	if (strcmp(verb, "del") == 0) {
		int r = accounts_file_update(cfg->users_file, address, NULL, 0600, err,
					     sizeof(err));
		if (r < 0) {
			fprintf(stderr, "mailctl: %s\n", err);
			return 74;
		}
		if (r == 0) {
			fprintf(stderr, "mailctl: %s: no such account\n", address);
			return 67;
		}
		printf("removed %s\n", address);
		return 0;
	}
	if (strcmp(verb, "add") != 0 && strcmp(verb, "passwd") != 0) {
		mailctl_usage(stderr);
		return 64;
	}
	struct accounts *acc = accounts_load(cfg->users_file, err, sizeof(err));
	if (!acc) {
		fprintf(stderr, "mailctl: %s\n", err);
		return EX_CONFIG_STATUS;
	}
	bool exists = accounts_find(acc, address) != NULL;
	accounts_free(&acc);
	if (strcmp(verb, "add") == 0 && exists) {
		fprintf(stderr, "mailctl: %s already exists (use: user passwd)\n", address);
		return 73;
	}
	if (strcmp(verb, "passwd") == 0 && !exists) {
		fprintf(stderr, "mailctl: %s: no such account\n", address);
		return 67;
	}
	if (mailctl_read_password(password, sizeof(password)) < 0)
		return 65;
	if (password_hash(password, hash, sizeof(hash), err, sizeof(err)) < 0) {
		fprintf(stderr, "mailctl: cannot hash password: %s\n", err);
		return 70;
	}
	explicit_bzero(password, sizeof(password));
	mkdir(cfg->state_dir, 0755);
	if (accounts_file_update(cfg->users_file, address, hash, 0600, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		return 74;
	}
	/* The daemons read the file after dropping to run_user. */
	uid_t uid;
	gid_t gid;
	if (geteuid() == 0 && privilege_lookup(cfg->run_user, &uid, &gid, err, sizeof(err)) == 0)
		privilege_chown(cfg->users_file, uid, gid, err, sizeof(err));
	printf("%s %s\n", strcmp(verb, "add") == 0 ? "added" : "password changed for", address);
	return 0;
}

/* Sends one request to mtad's control socket and prints the answer. Returns 0 for "OK",
 * 1 for "ERR", -1 when mtad cannot be reached. json: turn "key: value" lines into JSON. */
static int mailctl_control(const struct config *cfg, const char *request, bool json, bool quiet)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/control", cfg->state_dir) >=
	    sizeof(sun.sun_path))
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (!quiet)
			fprintf(stderr, "mailctl: cannot reach mtad at %s: %s\n", sun.sun_path,
				strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char req[300];
	int n = snprintf(req, sizeof(req), "%s\n", request);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	FILE *f = fdopen(fd, "r");
	char line[1024];
	int ret = -1, first = 1;
	if (json)
		printf("{");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "OK") == 0) {
			ret = 0;
			break;
		}
		if (strncmp(line, "ERR ", 4) == 0) {
			fprintf(stderr, "mailctl: %s\n", line + 4);
			ret = 1;
			break;
		}
		char *colon = strstr(line, ": ");
		if (json && colon) {
			*colon = '\0';
			printf("%s\"%s\":%s", first ? "" : ",", line, colon + 2);
			first = 0;
		} else {
			printf("%s\n", line);
		}
	}
	if (json)
		printf("}\n");
	if (f)
		fclose(f);
	else
		close(fd);
	return ret;
}

static const char *mailctl_state_name(enum queue_rcpt_state st)
{
	switch (st) {
	case QUEUE_RCPT_PENDING:
		return "pending";
	case QUEUE_RCPT_DEFERRED:
		return "deferred";
	case QUEUE_RCPT_DELIVERED:
		return "delivered";
	case QUEUE_RCPT_FAILED:
		return "failed";
	}
	return "?";
}

/* Queue text came from the network (a remote server's reply, the envelope): escaped for the
 * terminal by the one escaper (str.h). Returns a malloc'd string. */
static char *mailctl_printable(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	char *out = xmalloc(len * 4 + 1);
	str_escape_printable(s ? s : "", len, out, len * 4 + 1);
	return out;
}

static void mailctl_json_string(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static int mailctl_queue(const struct config *cfg, bool json, bool stats_only)
{
	char err[1024];
	struct queue *q = queue_open(NULL, cfg->state_dir, err, sizeof(err));
	if (!q) {
		fprintf(stderr, "mailctl: %s\n", err);
		return 75;
	}
	char **ids = NULL;
	long n = queue_list(q, &ids);
	if (n < 0) {
		fprintf(stderr, "mailctl: %s: %s\n", q->active_dir, strerror((int)-n));
		queue_close(&q);
		return 74;
	}
	time_t now = time(NULL);
	size_t msgs = 0, held = 0, by_state[4] = { 0 };
	if (json && !stats_only)
		printf("[");
	for (long i = 0; i < n; i++) {
		struct queue_envelope env;
		char *data;
		size_t len;
		if (queue_load(q, ids[i], &env, &data, &len) != 0) {
			free(ids[i]);
			continue;
		}
		msgs++;
		held += env.held;
		for (size_t k = 0; k < env.nrcpts; k++)
			by_state[env.rcpts[k].state]++;
		if (stats_only) {
			/* counted */
		} else if (json) {
			printf("%s{\"id\":\"%s\",\"size\":%zu,\"age\":%" PRId64
			       ",\"held\":%s,\"sender\":",
			       msgs > 1 ? "," : "", env.id, env.msg_len, (int64_t)now - env.arrival,
			       env.held ? "true" : "false");
			mailctl_json_string(env.sender);
			printf(",\"recipients\":[");
			for (size_t k = 0; k < env.nrcpts; k++) {
				const struct queue_rcpt *r = &env.rcpts[k];
				printf("%s{\"address\":", k ? "," : "");
				mailctl_json_string(r->addr);
				printf(",\"state\":\"%s\",\"attempts\":%u,\"last_error\":",
				       mailctl_state_name(r->state), r->attempts);
				if (r->last_error)
					mailctl_json_string(r->last_error);
				else
					printf("null");
				printf("}");
			}
			printf("]}");
		} else {
			int64_t age = (int64_t)now - env.arrival;
			char *sender = mailctl_printable(env.sender);
			printf("%-16s %8zu %6" PRId64 "m%s <%s>\n", env.id, env.msg_len, age / 60,
			       env.held ? " HELD" : "", sender);
			free(sender);
			for (size_t k = 0; k < env.nrcpts; k++) {
				const struct queue_rcpt *r = &env.rcpts[k];
				char *addr = mailctl_printable(r->addr);
				char *error = r->last_error ? mailctl_printable(r->last_error)
							    : NULL;
				printf("    %-9s <%s>%s%s%s\n", mailctl_state_name(r->state), addr,
				       error ? " (" : "", error ? error : "", error ? ")" : "");
				free(addr);
				free(error);
			}
		}
		queue_envelope_free(&env);
		free(data);
		free(ids[i]);
	}
	free(ids);
	queue_close(&q);
	if (stats_only) {
		if (json)
			printf("{\"messages\":%zu,\"held\":%zu,\"pending\":%zu,\"deferred\":%zu,"
			       "\"delivered\":%zu,\"failed\":%zu}\n",
			       msgs, held, by_state[0], by_state[1], by_state[2], by_state[3]);
		else
			printf("messages: %zu\nheld: %zu\nrecipients pending: %zu\nrecipients "
			       "deferred: %zu\n"
			       "recipients delivered: %zu\nrecipients failed: %zu\n",
			       msgs, held, by_state[0], by_state[1], by_state[2], by_state[3]);
	} else if (json) {
		printf("]\n");
	} else if (msgs == 0) {
		printf("mail queue is empty\n");
	} else {
		printf("-- %zu message(s)\n", msgs);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "+c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'h':
			mailctl_usage(stdout);
			return 0;
		case 'V':
			printf("mailctl %s\n", MAIL_VERSION);
			return 0;
		default:
			mailctl_usage(stderr);
			return 64;
		}
	}
	if (optind >= argc) {
		mailctl_usage(stderr);
		return 64;
	}
	log_init("mailctl", 1);
	static struct config cfg;
	config_load_or_exit(&cfg, conf);
	const char *cmd = argv[optind];
	int rest = argc - optind - 1;
	char **rargv = argv + optind + 1;
	bool json = rest >= 1 && strcmp(rargv[rest - 1], "--json") == 0;
	int ret;
	if (strcmp(cmd, "check") == 0 && rest == 0)
		ret = mailctl_check(&cfg);
	else if (strcmp(cmd, "dns") == 0)
		ret = mailctl_dns(&cfg, rest, rargv);
	else if (strcmp(cmd, "user") == 0)
		ret = mailctl_user(&cfg, rest, rargv);
	else if (strcmp(cmd, "queue") == 0 && rest <= 1)
		ret = mailctl_queue(&cfg, json, false);
	else if (strcmp(cmd, "stats") == 0 && rest <= 1) {
		ret = mailctl_control(&cfg, "stats", json, true);
		if (ret < 0)
			ret = mailctl_queue(&cfg, json, true); /* mtad not running: count files */
	} else if (strcmp(cmd, "mta-sts") == 0 && rest == 1 && strcmp(rargv[0], "refresh") == 0) {
		ret = mailctl_control(&cfg, "mta-sts refresh", false, false);
		ret = ret == 0 ? 0 : 69;
	} else if (strcmp(cmd, "tlsrpt") == 0 && rest == 1 && strcmp(rargv[0], "send") == 0) {
		ret = mailctl_control(&cfg, "tlsrpt send", false, false);
		ret = ret == 0 ? 0 : ret > 0 ? 75 : 69;
	} else if (strcmp(cmd, "flush") == 0 && rest == 0) {
		ret = mailctl_control(&cfg, "flush", false, false);
		ret = ret == 0 ? 0 : 69;
	} else if ((strcmp(cmd, "hold") == 0 || strcmp(cmd, "release") == 0 ||
		    strcmp(cmd, "delete") == 0) &&
		   rest == 1) {
		char req[200];
		snprintf(req, sizeof(req), "%s %.64s", cmd, rargv[0]);
		ret = mailctl_control(&cfg, req, false, false);
		ret = ret == 0 ? 0 : ret > 0 ? 67 : 69;
		if (ret == 0)
			printf("%s: %s\n", rargv[0],
			       cmd[0] == 'h'   ? "held"
			       : cmd[0] == 'r' ? "released"
					       : "deleted");
	} else {
		mailctl_usage(stderr);
		ret = 64;
	}
	config_free(&cfg);
	return ret;
}
