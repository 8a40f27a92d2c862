/* fuzz_autodiscover.c - libFuzzer target: the Outlook autodiscover request parser, and the document echoing what it found. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "autoconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char email[321];
	if (autodiscover_email((const char *)data, size, email, sizeof(email)) != 0)
		return 0;
	size_t n = strlen(email);
	assert(n > 0 && n < sizeof(email));
	assert(strpbrk(email, "< \t\r\n") == NULL);
	struct autoconfig_info ai = { .hostname = "mx.example.org",
				      .domain = "example.org",
				      .imaps = 993,
				      .submissions = 465 };
	struct buf b;
	buf_init(&b);
	autoconfig_outlook_xml(&ai, email, &b);
	/* What was echoed cannot open or close an element. */
	const char *ln = strstr(b.data, "<LoginName>");
	assert(ln);
	const char *end = strstr(ln, "</LoginName>");
	assert(end);
	for (const char *p = ln + 11; p < end; p++)
		assert(*p != '<' && *p != '>' && *p != '"');
	buf_free(&b);
	return 0;
}
