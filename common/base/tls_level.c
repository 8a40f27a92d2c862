/* tls_level.c - the words of the outbound TLS security levels, one list for the configuration and the policy file. */
#include "tls_level.h"

#include <string.h>
#include <strings.h>

static const char *const tls_level_names[] = {
	[TLS_LEVEL_NONE] = "none",           [TLS_LEVEL_MAY] = "may",
	[TLS_LEVEL_ENCRYPT] = "encrypt",     [TLS_LEVEL_DANE] = "dane",
	[TLS_LEVEL_DANE_ONLY] = "dane-only", [TLS_LEVEL_VERIFY] = "verify",
	[TLS_LEVEL_SECURE] = "secure",
};

#define TLS_LEVEL_N (sizeof(tls_level_names) / sizeof(tls_level_names[0]))

int tls_level_parse(const char *word, size_t len)
{
	for (size_t i = 0; i < TLS_LEVEL_N; i++)
		if (strlen(tls_level_names[i]) == len &&
		    strncasecmp(word, tls_level_names[i], len) == 0)
			return (int)i;
	return -1;
}

const char *tls_level_name(enum tls_level level)
{
	return (unsigned)level < TLS_LEVEL_N ? tls_level_names[level] : "?";
}
