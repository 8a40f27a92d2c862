/* milter_common.h - shared start-up of the test milters: connection spec from argv[1], libmilter main loop. */
#ifndef TEST_MILTER_COMMON_H
#define TEST_MILTER_COMMON_H

#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs the milter on argv[1] ("inet:PORT@127.0.0.1" or "unix:/path"); never returns. */
static void test_milter_run(int argc, char **argv, struct smfiDesc *desc)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CONN [ARGS...]\n", argv[0]);
		exit(64);
	}
	if (strncmp(argv[1], "unix:", 5) == 0)
		unlink(argv[1] + 5);
	if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(*desc) == MI_FAILURE ||
	    smfi_opensocket(true) == MI_FAILURE) {
		fprintf(stderr, "%s: cannot listen on %s\n", argv[0], argv[1]);
		exit(71);
	}
	smfi_settimeout(60);
	exit(smfi_main() == MI_SUCCESS ? 0 : 1);
}

/* A description with every callback empty and every action allowed. */
static struct smfiDesc test_milter_desc(const char *name)
{
	struct smfiDesc d;
	memset(&d, 0, sizeof(d));
	d.xxfi_name = (char *)name;
	d.xxfi_version = SMFI_VERSION;
	d.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT |
		       SMFIF_ADDRCPT_PAR | SMFIF_DELRCPT | SMFIF_QUARANTINE | SMFIF_CHGFROM |
		       SMFIF_SETSYMLIST;
	return d;
}

#endif
