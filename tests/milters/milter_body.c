/* milter_body.c - test milter: replaces the body (in two pieces, LF line endings) at end of message. */
#include "milter_common.h"

static sfsistat h_eom(SMFICTX *ctx)
{
	smfi_replacebody(ctx, (unsigned char *)"Replaced by the milter.\nLine two", 32);
	smfi_replacebody(ctx, (unsigned char *)".\n", 2);
	return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
	struct smfiDesc d = test_milter_desc("body");
	d.xxfi_eom = h_eom;
	test_milter_run(argc, argv, &d);
}
