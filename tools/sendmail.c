/* sendmail.c - the Sendmail-compatible submission command: a message on stdin into mtad's queue through state_dir/submit.sock. */
#include "addr.h"
#include "buf.h"
#include "config.h"
#include "fileutil.h"
#include "log.h"
#include "rfc5322.h"
#include "smtp_proto.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EX_USAGE       64
#define EX_DATAERR     65
#define EX_NOUSER      67
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE    70
#define EX_TEMPFAIL    75

static void sendmail_usage(FILE *f)
{
	fprintf(f,
		"usage: sendmail [-t] [-i] [-f SENDER] [-F NAME] [-C FILE] [RECIPIENT...]\n"
		"  -t       take recipients from the To:, Cc: and Bcc: headers (Bcc: is removed)\n"
		"  -i, -oi  a line with a single dot does not end the message\n"
		"  -f ADDR  envelope sender (default: your user name at hostname)\n"
		"  -F NAME  full name for a From: header added when the message has none\n"
		"  -C FILE  configuration file (also -c)\n"
		"The message is read from standard input and handed to mtad; when mtad is not\n"
		"running it is kept in state_dir/maildrop and delivered when mtad starts.\n");
}

struct sendmail_conn {
	int fd;
	struct buf in;
};

static int sendmail_reply(struct sendmail_conn *c, char *text, size_t textlen)
{
	for (;;) {
		char *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) : NULL;
		if (nl) {
			size_t len = (size_t)(nl - c->in.data);
			int code;
			const char *t;
			size_t tl;
			int r = smtp_reply_line_parse(c->in.data, len, &code, &t, &tl);
			if (r >= 0 && text)
				snprintf(text, textlen, "%d %.*s", code, (int)tl, t);
			buf_consume(&c->in, len + 1);
			if (r < 0)
				return -1;
			if (r == 1)
				return code;
			continue;
		}
		char tmp[4096];
		ssize_t n = read(c->fd, tmp, sizeof(tmp));
		if (n <= 0)
			return -1;
		buf_append(&c->in, tmp, (size_t)n);
	}
}

static int sendmail_write_fd(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int sendmail_write(struct sendmail_conn *c, const char *p, size_t n)
{
	return sendmail_write_fd(c->fd, p, n);
}

static int sendmail_cmd(struct sendmail_conn *c, char *text, size_t textlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int sendmail_cmd(struct sendmail_conn *c, char *text, size_t textlen, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > sizeof(line) - 3)
		return -1;
	line[n++] = '\r';
	line[n++] = '\n';
	if (sendmail_write(c, line, (size_t)n) < 0)
		return -1;
	return sendmail_reply(c, text, textlen);
}

/* Reads stdin into msg with CRLF line endings; without -i a line "." ends it. */
static int sendmail_read_message(struct buf *msg, bool dot_ends, uint64_t max)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		size_t l = (size_t)n;
		bool nl = line[l - 1] == '\n';
		if (nl)
			l--;
		if (nl && l > 0 && line[l - 1] == '\r')
			l--;
		if (dot_ends && l == 1 && line[0] == '.')
			break;
		buf_append(msg, line, l);
		if (nl)
			buf_append(msg, "\r\n", 2);
		if (max && msg->len > max) {
			free(line);
			return -1;
		}
	}
	free(line);
	if (msg->len && msg->data[msg->len - 1] != '\n')
		buf_append(msg, "\r\n", 2);
	return 0;
}

/* -t: recipients from To:, Cc:, Bcc:; the Bcc: fields are removed from the message. */
static void sendmail_header_rcpts(struct buf *msg, char ***rcpts, size_t *n)
{
	size_t hlen = rfc5322_header_length(msg->data, msg->len);
	struct rfc5322_iter it;
	struct rfc5322_field f;
	struct buf kept;
	buf_init(&kept);
	rfc5322_iter_init(&it, msg->data, hlen);
	size_t last = 0;
	while (rfc5322_iter_next(&it, &f)) {
		bool bcc = rfc5322_name_is(&f, "Bcc");
		if (bcc || rfc5322_name_is(&f, "To") || rfc5322_name_is(&f, "Cc")) {
			struct rfc5322_addr *list;
			size_t k = rfc5322_parse_addresses(f.value, f.value_len, &list);
			for (size_t i = 0; i < k; i++) {
				if (list[i].kind != RFC5322_ADDR_MAILBOX || !list[i].host ||
				    strcmp(list[i].host, "MISSING_DOMAIN") == 0)
					continue;
				*rcpts = xrealloc(*rcpts, (*n + 1) * sizeof(**rcpts));
				(*rcpts)[(*n)++] = xasprintf("%s@%s", list[i].mailbox,
							     list[i].host);
			}
			rfc5322_addrs_free(list, k);
		}
		if (bcc) {
			buf_append(&kept, msg->data + last, f.start - last);
			last = f.end;
		}
	}
	if (last) {
		buf_append(&kept, msg->data + last, msg->len - last);
		buf_free(msg);
		*msg = kept;
	} else {
		buf_free(&kept);
	}
}

/* mtad is not running: the message goes durably into state_dir/maildrop (mode 1733: we may
 * create, not list; the file is 0644 under an unguessable name), where mtad picks it up at start; the file's owner (us) is the submitter
 * it trusts (docs/security.md). Written under a t. name, fsynced, renamed to its m. name, the
 * directory flushed. Returns 0 or -1 with err. */
static int sendmail_maildrop(const struct config *cfg, const char *sender, char **rcpts,
			     size_t nrcpts, const struct buf *msg, char *err, size_t errlen)
{
	char dir[4096], tmp[4200], final[4200];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(dir, sizeof(dir), "%s/maildrop", cfg->state_dir);
	/* Mode 0644 so that mtad (run_user) can read it; nobody else can list the directory, and
	 * the name carries 64 random bits, so nobody else can open it either. */
	unsigned long long rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd ^= (unsigned long long)ts.tv_nsec * 0x9e3779b97f4a7c15ULL;
	snprintf(tmp, sizeof(tmp), "%s/t.%lld.%ld.%016llx", dir, (long long)ts.tv_sec,
		 (long)getpid(), rnd);
	snprintf(final, sizeof(final), "%s/m.%lld.%ld.%016llx", dir, (long long)ts.tv_sec,
		 (long)getpid(), rnd);
	int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	struct buf head;
	buf_init(&head);
	buf_printf(&head, "MAILDROP 1\nS %s\n", sender);
	for (size_t i = 0; i < nrcpts; i++)
		if (!strchr(rcpts[i], '\n'))
			buf_printf(&head, "R %s\n", rcpts[i]);
	buf_append(&head, "\n", 1);
	bool ok = fchmod(fd, 0644) == 0 && sendmail_write_fd(fd, head.data, head.len) == 0 &&
		  sendmail_write_fd(fd, msg->data ? msg->data : "", msg->len) == 0 &&
		  fsync(fd) == 0 && rename(tmp, final) == 0;
	buf_free(&head);
	if (ok) {
		/* The directory is not readable for us: when it cannot be opened to be flushed,
		 * the whole file system is. */
		int r = fsync_dir(dir);
		ok = r == 0 || (r == -EACCES && syncfs(fd) == 0);
	}
	if (!ok) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		unlink(tmp);
	}
	close(fd);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *conf = NULL, *sender = NULL, *fullname = NULL;
	bool from_headers = false, dot_ends = true;
	char **rcpts = NULL;
	size_t nrcpts = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0) {
			sendmail_usage(stdout);
			return 0;
		}
		if (strcmp(a, "--version") == 0) {
			printf("sendmail (mtad) %s\n", MAIL_VERSION);
			return 0;
		}
		if (strcmp(a, "--") == 0) {
			for (i++; i < argc; i++) {
				rcpts = xrealloc(rcpts, (nrcpts + 1) * sizeof(*rcpts));
				rcpts[nrcpts++] = xstrdup(argv[i]);
			}
			break;
		}
		if (a[0] != '-') {
			rcpts = xrealloc(rcpts, (nrcpts + 1) * sizeof(*rcpts));
			rcpts[nrcpts++] = xstrdup(a);
			continue;
		}
		if (strcmp(a, "-t") == 0)
			from_headers = true;
		else if (strcmp(a, "-i") == 0 || strcmp(a, "-oi") == 0)
			dot_ends = false;
		else if (strncmp(a, "-f", 2) == 0 || strncmp(a, "-r", 2) == 0)
			sender = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
		else if (strncmp(a, "-F", 2) == 0)
			fullname = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
		else if (strncmp(a, "-C", 2) == 0 || strncmp(a, "-c", 2) == 0)
			conf = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
		else if (strncmp(a, "-o", 2) == 0 || strncmp(a, "-b", 2) == 0 ||
			 strcmp(a, "-v") == 0 || strncmp(a, "-N", 2) == 0 ||
			 strncmp(a, "-R", 2) == 0 || strncmp(a, "-V", 2) == 0)
			continue; /* accepted and ignored, as Postfix does: -odi, -oem, -bm, ... */
		else {
			fprintf(stderr, "sendmail: unknown option %s\n", a);
			sendmail_usage(stderr);
			return EX_USAGE;
		}
	}
	log_init("sendmail", 1);
	static struct config cfg;
	config_load_or_exit(&cfg, conf);

	char default_sender[512];
	if (!sender) {
		struct passwd *pw = getpwuid(getuid());
		snprintf(default_sender, sizeof(default_sender), "%s@%s",
			 pw ? pw->pw_name : "nobody", cfg.hostname);
		sender = default_sender;
	}
	if (strcmp(sender, "<>") == 0)
		sender = "";
	struct buf msg;
	buf_init(&msg);
	struct sendmail_conn c = { .fd = -1 };
	buf_init(&c.in);
	char text[1024] = "";
	int ret = 0;
	if (sendmail_read_message(&msg, dot_ends, cfg.max_message_size) < 0) {
		fprintf(stderr, "sendmail: message larger than max_message_size\n");
		ret = EX_DATAERR;
		goto out;
	}
	if (from_headers)
		sendmail_header_rcpts(&msg, &rcpts, &nrcpts);
	if (nrcpts == 0) {
		fprintf(stderr, "sendmail: no recipients\n");
		ret = EX_USAGE;
		goto out;
	}
	struct rfc5322_field f;
	size_t hlen = rfc5322_header_length(msg.data ? msg.data : "", msg.len);
	if (fullname && !rfc5322_find(msg.data ? msg.data : "", hlen, "From", &f)) {
		struct buf with;
		buf_init(&with);
		buf_printf(&with, "From: \"%s\" <%s>\r\n", fullname, sender);
		buf_append(&with, msg.data, msg.len);
		buf_free(&msg);
		msg = with;
	}

	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/submit.sock", cfg.state_dir);
	c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		char why[4400];
		if (sendmail_maildrop(&cfg, sender, rcpts, nrcpts, &msg, why, sizeof(why)) == 0)
			goto out; /* durable: mtad delivers it when it starts */
		fprintf(stderr,
			"sendmail: cannot reach mtad at %s: %s (is mtad running?), and %s\n",
			sun.sun_path, strerror(e), why);
		ret = EX_TEMPFAIL;
		goto out;
	}
	bool utf8 = false;
	for (const char *p = sender; *p; p++)
		utf8 |= (unsigned char)*p >= 0x80;
	for (size_t i = 0; i < nrcpts; i++)
		for (const char *p = rcpts[i]; *p; p++)
			utf8 |= (unsigned char)*p >= 0x80;
	int code = sendmail_reply(&c, text, sizeof(text));
	if (code != 220)
		goto temp;
	if ((code = sendmail_cmd(&c, text, sizeof(text), "EHLO localhost")) != 250)
		goto temp;
	code = sendmail_cmd(&c, text, sizeof(text), "MAIL FROM:<%s>%s", sender,
			    utf8 ? " SMTPUTF8" : "");
	if (code / 100 == 5) {
		fprintf(stderr, "sendmail: sender <%s> refused: %s\n", sender, text);
		ret = EX_DATAERR;
		goto out;
	}
	if (code != 250)
		goto temp;
	size_t accepted = 0;
	for (size_t i = 0; i < nrcpts; i++) {
		code = sendmail_cmd(&c, text, sizeof(text), "RCPT TO:<%s>", rcpts[i]);
		if (code / 100 == 2) {
			accepted++;
		} else {
			fprintf(stderr, "sendmail: <%s>: %s\n", rcpts[i], text);
			if (ret == 0)
				ret = code / 100 == 5 ? EX_NOUSER : EX_TEMPFAIL;
		}
	}
	if (accepted == 0)
		goto out;
	char bdat[64];
	int bl = snprintf(bdat, sizeof(bdat), "BDAT %zu LAST\r\n", msg.len);
	if (sendmail_write(&c, bdat, (size_t)bl) < 0 || sendmail_write(&c, msg.data, msg.len) < 0)
		goto temp;
	code = sendmail_reply(&c, text, sizeof(text));
	if (code / 100 != 2) {
		fprintf(stderr, "sendmail: message refused: %s\n", text);
		ret = code / 100 == 5 ? EX_DATAERR : EX_TEMPFAIL;
		goto out;
	}
	sendmail_cmd(&c, NULL, 0, "QUIT");
	goto out;
temp:
	fprintf(stderr, "sendmail: submission failed: %s\n", text[0] ? text : "connection lost");
	ret = EX_TEMPFAIL;
out:
	if (c.fd >= 0)
		close(c.fd);
	buf_free(&c.in);
	buf_free(&msg);
	for (size_t i = 0; i < nrcpts; i++)
		free(rcpts[i]);
	free(rcpts);
	config_free(&cfg);
	return ret;
}
