/* fuzz_smtp_command.c - libFuzzer target: command line splitting and smtp_command_parse. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "smtp_proto.h"

/* DSN parameters: NOTIFY canonical form parses back to the same bits; ORCPT is
 * "type;address"; ENVID and the ORCPT address survive an xtext round trip. */
static void fuzz_smtp_command_dsn(const struct smtp_command *cmd)
{
	char out[32], back[SMTP_ORCPT_MAX + 1];
	unsigned v = 0;
	struct buf b;

	assert(strlen(cmd->envid) <= SMTP_ENVID_MAX && strlen(cmd->orcpt) <= SMTP_ORCPT_MAX);
	if (cmd->notify) {
		assert(cmd->verb == SMTP_VERB_RCPT);
		assert(!(cmd->notify & SMTP_NOTIFY_NEVER) || cmd->notify == SMTP_NOTIFY_NEVER);
		smtp_notify_format(cmd->notify, out, sizeof(out));
		assert(smtp_notify_parse(out, strlen(out), &v) == 0 && v == cmd->notify);
	}
	if (cmd->ret || cmd->envid[0])
		assert(cmd->verb == SMTP_VERB_MAIL);
	buf_init(&b);
	smtp_xtext_encode(&b, cmd->envid, strlen(cmd->envid));
	assert(smtp_xtext_decode(b.data ? b.data : "", b.len, back, sizeof(back)) == 0 &&
	       strcmp(back, cmd->envid) == 0);
	buf_free(&b);
	if (cmd->orcpt[0]) {
		const char *semi = strchr(cmd->orcpt, ';');
		assert(cmd->verb == SMTP_VERB_RCPT && semi && semi > cmd->orcpt && semi[1]);
		if (semi - cmd->orcpt == 5 && strncasecmp(cmd->orcpt, "utf-8", 5) == 0) {
			/* what the client side sends on is what the server side reads back */
			char again[SMTP_ORCPT_MAX * 10 + 1];
			buf_init(&b);
			smtp_utf8_addr_xtext_encode(&b, semi + 1, strlen(semi + 1));
			assert(b.len < sizeof(again));
			memcpy(again, b.data, b.len + 1);
			assert(smtp_utf8_addr_unescape(again) == 0 && strcmp(again, semi + 1) == 0);
			buf_free(&b);
		}
	}
}

static void fuzz_smtp_command_one(const char *line, size_t len, unsigned flags)
{
	struct smtp_command cmd;
	struct smtp_error err;

	if (smtp_command_parse(line, len, flags, &cmd, &err) < 0) {
		assert(err.code == 500 || err.code == 501 || err.code == 553 || err.code == 555);
		assert(err.enhanced != NULL && err.text != NULL);
		return;
	}
	assert(cmd.verb != SMTP_VERB_UNKNOWN);
	assert(cmd.arg != NULL && cmd.arg >= line && cmd.arg + cmd.arg_len <= line + len);
	assert(strlen(cmd.helo) < sizeof(cmd.helo));
	assert(strlen(cmd.auth) < sizeof(cmd.auth));
	assert(strlen(cmd.mechanism) <= 20);
	if (cmd.initial != NULL)
		assert(cmd.initial >= line && cmd.initial + cmd.initial_len <= line + len);
	if (cmd.verb == SMTP_VERB_MAIL || cmd.verb == SMTP_VERB_RCPT) {
		if (cmd.path.utf8)
			assert(flags & ADDR_ALLOW_UTF8);
		if (cmd.verb == SMTP_VERB_MAIL && cmd.path.utf8)
			assert(cmd.smtputf8);
		if (cmd.path.is_null)
			assert(cmd.verb == SMTP_VERB_MAIL);
	}
	if (cmd.verb == SMTP_VERB_HELO || cmd.verb == SMTP_VERB_EHLO)
		assert(cmd.helo[0] != '\0');
	fuzz_smtp_command_dsn(&cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in;
	unsigned flags;

	if (size < 1)
		return 0;
	flags = (data[0] & 1) ? ADDR_ALLOW_UTF8 : 0;
	in = (const char *)data + 1;
	size--;

	/* The whole input as one line, then as the session would split it. */
	fuzz_smtp_command_one(in, size, flags);
	while (size > 0) {
		size_t line_len, consumed;
		int ret = smtp_line_next(in, size, &line_len, &consumed);

		if (ret == 0) {
			assert(size < SMTP_COMMAND_LINE_MAX);
			break;
		}
		if (ret < 0) {
			const char *lf = memchr(in, '\n', size);

			assert(lf == NULL || (size_t)(lf - in) >= SMTP_COMMAND_LINE_MAX);
			if (lf == NULL)
				break;
			size -= (size_t)(lf - in) + 1;
			in = lf + 1;
			continue;
		}
		assert(consumed <= size && consumed <= SMTP_COMMAND_LINE_MAX);
		assert(in[consumed - 1] == '\n');
		assert(line_len + 1 == consumed ||
		       (line_len + 2 == consumed && in[line_len] == '\r'));
		assert(memchr(in, '\n', line_len) == NULL);
		fuzz_smtp_command_one(in, line_len, flags);
		in += consumed;
		size -= consumed;
	}
	return 0;
}
