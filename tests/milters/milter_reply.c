/* milter_reply.c - test milter: a custom reply: multi-line 550 at end of message, or 451 with text at RCPT (argv[2] "eom" or "rcpt"). */
#include "milter_common.h"

static const char *where;

static sfsistat h_envrcpt(SMFICTX *ctx, char **a)
{
	(void)a;
	if (strcmp(where, "rcpt") != 0)
		return SMFIS_CONTINUE;
	smfi_setreply(ctx, "451", "4.7.28", "Greylisted, come back later");
	return SMFIS_TEMPFAIL;
}

static sfsistat h_eom(SMFICTX *ctx)
{
	if (strcmp(where, "eom") != 0)
		return SMFIS_CONTINUE;
	smfi_setmlreply(ctx, "550", "5.7.1", "Message refused by policy", "See the postmaster",
			"Third line", NULL);
	return SMFIS_REJECT;
}

int main(int argc, char **argv)
{
	where = argc > 2 ? argv[2] : "eom";
	struct smfiDesc d = test_milter_desc("reply");
	d.xxfi_envrcpt = h_envrcpt;
	d.xxfi_eom = h_eom;
	test_milter_run(argc, argv, &d);
}
