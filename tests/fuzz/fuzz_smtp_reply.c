/* fuzz_smtp_reply.c - libFuzzer target: SMTP reply lines, xtext and the status code a bounce derives from an error text. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "smtp_proto.h"

static void fuzz_smtp_reply_line(const char *line, size_t len)
{
	int code = -1;
	const char *text = NULL;
	size_t tlen = 0;
	int r = smtp_reply_line_parse(line, len, &code, &text, &tlen);
	assert(r >= -1 && r <= 1);
	if (r < 0)
		return;
	assert(code >= 200 && code <= 559);
	assert(text >= line && text + tlen <= line + len);
	if (r == 0)
		assert(len >= 4 && line[3] == '-');
}

static void fuzz_smtp_reply_xtext(const char *in, size_t len, size_t outlen)
{
	char out[300];
	memset(out, 'Z', sizeof(out));
	if (smtp_xtext_decode(in, len, out, outlen) == 0) {
		size_t n = strlen(out);
		assert(n < outlen && n <= len);
		for (size_t i = 0; i < n; i++)
			assert(out[i] != '\0');
	}
	assert(outlen >= sizeof(out) || out[outlen] == 'Z'); /* nothing written past outlen */
}

/* The status code is "class.subject.detail": one of 2/4/5, 1-3 digits, 1-3 digits. */
static void fuzz_smtp_reply_status(const char *text, int code)
{
	char out[16];
	memset(out, 'Z', sizeof(out));
	bounce_status_code(text, code, out);
	size_t n = strnlen(out, sizeof(out));
	assert(n < sizeof(out) && n >= 5 && n <= 9);
	assert(out[0] == '2' || out[0] == '4' || out[0] == '5');
	assert(out[1] == '.');
	size_t i = 2, d = 0;
	while (isdigit((unsigned char)out[i])) {
		i++;
		d++;
	}
	assert(d >= 1 && d <= 3 && out[i] == '.');
	i++;
	d = 0;
	while (isdigit((unsigned char)out[i])) {
		i++;
		d++;
	}
	assert(d >= 1 && d <= 3 && out[i] == '\0');
	if (strstr(text, out) == NULL) /* not found in the text: derived from the code */
		assert(strcmp(out + 1, ".0.0") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1); /* exact size: ASan catches reads past the end */
	memcpy(copy, data, size);
	fuzz_smtp_reply_line(copy, size);
	/* every line of a multi-line reply as the client splits it */
	for (size_t off = 0; off < size;) {
		const char *nl = memchr(copy + off, '\n', size - off);
		size_t l = nl ? (size_t)(nl - (copy + off)) : size - off;
		char *line = malloc(l ? l : 1);
		memcpy(line, copy + off, l);
		fuzz_smtp_reply_line(line, l);
		free(line);
		off += l + 1;
	}
	fuzz_smtp_reply_xtext(copy, size, size > 0 ? (size_t)data[0] % 300 : 0);
	fuzz_smtp_reply_xtext(copy, size, 300);
	copy[size] = '\0';
	int code = size > 0 ? 200 + data[0] % 400 : 0;
	fuzz_smtp_reply_status(copy, code);
	fuzz_smtp_reply_status(copy, 0);
	free(copy);
	return 0;
}
