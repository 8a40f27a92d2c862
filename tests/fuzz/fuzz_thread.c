/* fuzz_thread.c - libFuzzer target: threads of messages described by the input (one per line: "id refs... |subject"), both algorithms; the output names every message once and its parentheses balance. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "thread.h"

#define FUZZ_MAX_MSGS 200

static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	struct thread_msg m[FUZZ_MAX_MSGS];
	size_t n = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && n < FUZZ_MAX_MSGS;
	     line = strtok_r(NULL, "\n", &save)) {
		char *bar = strchr(line, '|');
		const char *subject = "";
		if (bar) {
			*bar = '\0';
			subject = bar + 1;
		}
		while (*line == ' ')
			line++;
		char *sp = strchr(line, ' ');
		const char *refs = "";
		if (sp) {
			*sp = '\0';
			refs = sp + 1;
		}
		m[n] = (struct thread_msg){ (uint32_t)(n + 1),
					    (int64_t)(line[0] & 7),
					    subject,
					    (line[0] & 8) != 0,
					    line,
					    refs };
		n++;
	}
	for (int alg = 0; alg < 2; alg++) {
		struct buf b;
		buf_init(&b);
		thread_write(&b, alg ? THREAD_REFERENCES : THREAD_ORDEREDSUBJECT, m, n);
		int depth = 0;
		size_t numbers = 0;
		for (size_t i = 0; i < b.len; i++) {
			char c = b.data[i];
			if (c == '(')
				depth++;
			else if (c == ')')
				fuzz_check(--depth >= 0);
			else if (c >= '0' && c <= '9' &&
				 (i == 0 || b.data[i - 1] < '0' || b.data[i - 1] > '9'))
				numbers++;
		}
		fuzz_check(depth == 0);
		fuzz_check(numbers == n);
		buf_free(&b);
	}
	free(text);
	return 0;
}
