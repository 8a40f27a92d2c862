/* milter_sleep.c - test milter: sleeps SECONDS at STAGE (mail or eom); with "progress", sends a progress packet every second meanwhile. */
#include "milter_common.h"

static const char *stage;
static int seconds;
static int progress;

static void nap(SMFICTX *ctx)
{
	for (int i = 0; i < seconds; i++) {
		sleep(1);
		if (progress)
			smfi_progress(ctx);
	}
}

static sfsistat h_envfrom(SMFICTX *ctx, char **a)
{
	(void)a;
	if (strcmp(stage, "mail") == 0)
		nap(ctx);
	return SMFIS_CONTINUE;
}

static sfsistat h_eom(SMFICTX *ctx)
{
	if (strcmp(stage, "eom") == 0)
		nap(ctx);
	smfi_addheader(ctx, "X-Slept", "yes");
	return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: milter_sleep CONN STAGE SECONDS [progress]\n");
		return 64;
	}
	stage = argv[2];
	seconds = atoi(argv[3]);
	progress = argc > 4 && strcmp(argv[4], "progress") == 0;
	struct smfiDesc d = test_milter_desc("sleep");
	d.xxfi_envfrom = h_envfrom;
	d.xxfi_eom = h_eom;
	test_milter_run(argc, argv, &d);
}
