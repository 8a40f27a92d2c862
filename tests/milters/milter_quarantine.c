/* milter_quarantine.c - test milter: quarantines every message at end of message. */
#include "milter_common.h"

static sfsistat h_eom(SMFICTX *ctx)
{
	smfi_quarantine(ctx, "suspicious attachment (test)");
	return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
	struct smfiDesc d = test_milter_desc("quarantine");
	d.xxfi_eom = h_eom;
	test_milter_run(argc, argv, &d);
}
