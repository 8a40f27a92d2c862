/* main.c - the deliver program: one message on stdin into each recipient's Maildir, sysexits.h status. */
#include "buf.h"
#include "config.h"
#include "deliver.h"
#include "log.h"
#include "privilege.h"
#include "xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define DELIVER_DEFAULT_MAX_SIZE (35u * 1024 * 1024)

static void deliver_usage(FILE *f)
{
	fprintf(f, "usage: deliver [-c FILE] [-f SENDER] RECIPIENT...\n"
		   "Delivers one message read from standard input into the Maildir of each local\n"
		   "RECIPIENT (local@domain, or a bare local part in the first local domain),\n"
		   "after plus-addressing and aliases_file expansion. Bare LF line endings are\n"
		   "stored as CRLF. Remote alias targets cannot be relayed and are skipped.\n"
		   "\n"
		   "  -c FILE     configuration file (default: $MAIL_CONF, else etc/mail.conf)\n"
		   "  -f SENDER   envelope sender for Return-Path (\"\" or \"<>\" for the null\n"
		   "              sender; default: the invoking user at hostname)\n"
		   "  --help      this text\n"
		   "  --version   print the version\n"
		   "\n"
		   "Exit status: 0 delivered, 64 usage, 65 message too large, 67 unknown user,\n"
		   "69 other permanent failure (alias loop), 75 temporary failure (retry),\n"
		   "78 configuration error.\n");
}

/* Replaces bytes that do not belong on a log line; at most 200 bytes are kept. */
static char *deliver_printable(const char *s)
{
	size_t n = strlen(s);
	char *r = xstrndup(s, n > 200 ? 200 : n);
	for (char *p = r; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return r;
}

/* Reads stdin into out with bare LF made CRLF. Returns 0, 1 when it exceeds limit, -1 on a
 * read error (errno set). */
static int deliver_read_message(uint64_t limit, struct buf *out)
{
	char in[65536];
	bool prev_cr = false;

	for (;;) {
		ssize_t r = read(STDIN_FILENO, in, sizeof(in));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return 0;
		const char *p = in, *end = in + r;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl) {
				buf_append(out, p, (size_t)(end - p));
				prev_cr = end[-1] == '\r';
				break;
			}
			bool cr = nl > p ? nl[-1] == '\r' : prev_cr;
			buf_append(out, p, (size_t)(nl - p));
			buf_append(out, cr ? "\n" : "\r\n", cr ? 1 : 2);
			prev_cr = false;
			p = nl + 1;
		}
		if (out->len > limit)
			return 1;
	}
}

/* The default sender: the invoking user at our hostname, when that makes an address. */
static char *deliver_default_sender(const struct config *cfg)
{
	struct passwd *pw = getpwuid(getuid());
	struct addr a;
	const char *why;
	if (!pw || !cfg->hostname)
		return xstrdup("");
	char *s = xasprintf("%s@%s", pw->pw_name, cfg->hostname);
	if (addr_parse_mailbox(s, strlen(s), 0, &a, &why) < 0) {
		free(s);
		return xstrdup("");
	}
	return s;
}

/* -f SENDER: "" or "<>" is the null sender; otherwise a full address, brackets optional.
 * NULL (after a message on stderr) when it is not an address. */
static char *deliver_parse_sender(const char *arg)
{
	size_t len = strlen(arg);
	struct addr a;
	const char *why;
	char out[ADDR_LOCAL_MAX * 2 + ADDR_DOMAIN_MAX + 8];

	if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
		arg++;
		len -= 2;
	}
	if (addr_parse_mailbox(arg, len, ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8, &a, &why) < 0) {
		char *p = deliver_printable(arg);
		fprintf(stderr, "deliver: bad sender \"%s\": %s\n", p, why);
		free(p);
		return NULL;
	}
	if (addr_format(&a, out, sizeof(out)) >= sizeof(out)) {
		fprintf(stderr, "deliver: sender too long\n");
		return NULL;
	}
	return xstrdup(out);
}

struct deliver_run {
	const struct config *cfg;
	const struct accounts *acc;
	const struct aliases *al;
	const char *sender;
	const struct buf *msg;
	int64_t arrival;
	struct addr *done; /* local targets delivered so far (one copy each) */
	size_t n_done;
	bool tempfail, unknown, permfail;
};

static bool deliver_already_done(struct deliver_run *run, const struct addr *a)
{
	for (size_t i = 0; i < run->n_done; i++)
		if (strcmp(run->done[i].local, a->local) == 0 &&
		    strcmp(run->done[i].domain, a->domain) == 0)
			return true;
	run->done = xrealloc(run->done, (run->n_done + 1) * sizeof(*run->done));
	run->done[run->n_done++] = *a;
	return false;
}

static void deliver_one(struct deliver_run *run, const char *arg)
{
	struct addr rcpt;
	const char *why;
	char err[1024], orig[ADDR_LOCAL_MAX * 2 + ADDR_DOMAIN_MAX + 8];
	char to[ADDR_LOCAL_MAX * 2 + ADDR_DOMAIN_MAX + 8];
	struct delivery_target *t;
	size_t n;

	if (delivery_parse_address(arg, strlen(arg), &rcpt, &why) < 0) {
		char *p = deliver_printable(arg);
		log_error("to=<%s>, status=bounced (bad address: %s)", p, why);
		free(p);
		run->unknown = true;
		return;
	}
	addr_format(&rcpt, orig, sizeof(orig));
	enum delivery_status st = delivery_resolve(run->cfg, run->acc, run->al, &rcpt, &t, &n, err,
						   sizeof(err));
	if (st != DELIVERY_OK) {
		log_error("to=<%s>, status=bounced (%s)", orig, err);
		if (st == DELIVERY_UNKNOWN_USER)
			run->unknown = true;
		else if (st == DELIVERY_TEMPFAIL)
			run->tempfail = true;
		else
			run->permfail = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		addr_format(&t[i].addr, to, sizeof(to));
		if (!t[i].local) {
			log_warn("to=<%s>, orig_to=<%s>, status=skipped (remote alias target: "
				 "deliver does not relay)",
				 to, orig);
			continue;
		}
		if (deliver_already_done(run, &t[i].addr))
			continue;
		struct delivery_request req = {
			.cfg = run->cfg,
			.rcpt = &t[i].addr,
			.sender = run->sender,
			.unique = NULL,
			.check_existing = false,
			.msg = run->msg->data,
			.msg_len = run->msg->len,
			.arrival = run->arrival,
			.quota = delivery_quota_limit(run->cfg, run->acc, &t[i].addr),
		};
		st = delivery_maildir(&req, err, sizeof(err));
		if (st == DELIVERY_OK) {
			log_info("to=<%s>, orig_to=<%s>, size=%zu, status=sent (delivered to "
				 "maildir)",
				 to, orig, run->msg->len);
		} else if (st == DELIVERY_TEMPFAIL) {
			log_error("to=<%s>, orig_to=<%s>, status=deferred (%s)", to, orig, err);
			run->tempfail = true;
		} else {
			log_error("to=<%s>, orig_to=<%s>, status=bounced (%s)", to, orig, err);
			run->permfail = true;
		}
	}
	free(t);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cpath = NULL, *farg = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "c:f:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cpath = optarg;
			break;
		case 'f':
			farg = optarg;
			break;
		case 'h':
			deliver_usage(stdout);
			return 0;
		case 'V':
			printf("deliver %s\n", MAIL_VERSION);
			return 0;
		default:
			deliver_usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		deliver_usage(stderr);
		return EX_USAGE;
	}

	log_init("deliver", 1);
	struct config cfg;
	struct aliases *al = NULL;
	struct buf msg;
	char err[1024], *sender = NULL;
	int status = 0;

	buf_init(&msg);
	config_load_or_exit(&cfg, cpath);
	struct accounts *acc = accounts_load(cfg.users_file, err, sizeof(err));
	if (!acc) {
		fprintf(stderr, "%s\n", err);
		status = EX_CONFIG_STATUS;
		goto out;
	}
	if (cfg.aliases_file && cfg.aliases_file[0]) {
		al = aliases_load(cfg.aliases_file, err, sizeof(err));
		if (!al) {
			fprintf(stderr, "%s\n", err);
			status = EX_CONFIG_STATUS;
			goto out;
		}
	}
	/* Started as root (a Sieve or procmail-style hook, an admin's shell): the tables are read
	 * as root, the store is touched only as run_user, or imapd and mtad could not use what we
	 * write (docs/security.md). state_dir/mail is made and owned as the daemons do it. */
	sender = farg ? deliver_parse_sender(farg) : deliver_default_sender(&cfg);
	if (!sender) {
		status = EX_USAGE;
		goto out;
	}
	if (geteuid() == 0) {
		uid_t uid;
		gid_t gid;
		(void)mkdir(cfg.state_dir, 0755);
		if (privilege_lookup(cfg.run_user, &uid, &gid, err, sizeof(err)) < 0 ||
		    privilege_own_beneath(cfg.state_dir, "", S_IFDIR, 0, uid, gid, err,
					  sizeof(err)) < 0 ||
		    privilege_own_beneath(cfg.state_dir, "mail", S_IFDIR, 0755, uid, gid, err,
					  sizeof(err)) < 0 ||
		    privilege_drop(cfg.run_user, err, sizeof(err)) < 0) {
			log_error("status=deferred (%s)", err);
			status = EX_TEMPFAIL;
			goto out;
		}
	}

	uint64_t limit = cfg.max_message_size ? cfg.max_message_size : DELIVER_DEFAULT_MAX_SIZE;
	int r = deliver_read_message(limit, &msg);
	if (r > 0) {
		log_error("status=bounced (message exceeds max_message_size of %llu bytes)",
			  (unsigned long long)limit);
		status = EX_DATAERR;
		goto out;
	} else if (r < 0) {
		log_error("status=deferred (reading the message: %s)", strerror(errno));
		status = EX_TEMPFAIL;
		goto out;
	}

	struct deliver_run run = {
		.cfg = &cfg,
		.acc = acc,
		.al = al,
		.sender = sender,
		.msg = &msg,
		.arrival = (int64_t)time(NULL),
	};
	for (int i = optind; i < argc; i++)
		deliver_one(&run, argv[i]);
	free(run.done);
	if (run.tempfail)
		status = EX_TEMPFAIL;
	else if (run.unknown)
		status = EX_NOUSER;
	else if (run.permfail)
		status = EX_UNAVAILABLE;
out:
	buf_free(&msg);
	free(sender);
	aliases_free(&al);
	accounts_free(&acc);
	config_free(&cfg);
	return status;
}
