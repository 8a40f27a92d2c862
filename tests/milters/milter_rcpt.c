/* milter_rcpt.c - test milter: at end of message deletes argv[2], adds argv[3] (with ESMTP args) and sets the sender to argv[4]. */
#include "milter_common.h"

static char **args;

static sfsistat h_eom(SMFICTX *ctx)
{
	if (args[2][0])
		smfi_delrcpt(ctx, args[2]);
	if (args[3][0])
		smfi_addrcpt_par(ctx, args[3], "NOTIFY=NEVER");
	if (args[4][0])
		smfi_chgfrom(ctx, args[4], NULL);
	return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: milter_rcpt CONN DELRCPT ADDRCPT NEWFROM\n");
		return 64;
	}
	args = argv;
	struct smfiDesc d = test_milter_desc("rcpt");
	d.xxfi_eom = h_eom;
	test_milter_run(argc, argv, &d);
}
