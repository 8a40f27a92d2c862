/* milter_drop.c - test milter: drops the connection (the process exits) at STAGE (helo, mail, rcpt or eom). */
#include "milter_common.h"

static const char *stage;

static sfsistat maybe_drop(const char *here)
{
	if (strcmp(stage, here) == 0)
		_exit(3);
	return SMFIS_CONTINUE;
}

static sfsistat h_helo(SMFICTX *c, char *h)
{
	(void)c;
	(void)h;
	return maybe_drop("helo");
}
static sfsistat h_envfrom(SMFICTX *c, char **a)
{
	(void)c;
	(void)a;
	return maybe_drop("mail");
}
static sfsistat h_envrcpt(SMFICTX *c, char **a)
{
	(void)c;
	(void)a;
	return maybe_drop("rcpt");
}
static sfsistat h_eom(SMFICTX *c)
{
	(void)c;
	return maybe_drop("eom");
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: milter_drop CONN STAGE\n");
		return 64;
	}
	stage = argv[2];
	struct smfiDesc d = test_milter_desc("drop");
	d.xxfi_helo = h_helo;
	d.xxfi_envfrom = h_envfrom;
	d.xxfi_envrcpt = h_envrcpt;
	d.xxfi_eom = h_eom;
	test_milter_run(argc, argv, &d);
}
