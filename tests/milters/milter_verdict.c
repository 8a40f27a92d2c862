/* milter_verdict.c - test milter: answers ACTION (reject, tempfail, discard, accept) at STAGE; at rcpt only for recipients containing MATCH. */
#include "milter_common.h"

static const char *stage, *action, *match;

static sfsistat verdict(const char *here)
{
	if (strcmp(stage, here) != 0)
		return SMFIS_CONTINUE;
	if (strcmp(action, "reject") == 0)
		return SMFIS_REJECT;
	if (strcmp(action, "tempfail") == 0)
		return SMFIS_TEMPFAIL;
	if (strcmp(action, "discard") == 0)
		return SMFIS_DISCARD;
	if (strcmp(action, "accept") == 0)
		return SMFIS_ACCEPT;
	return SMFIS_CONTINUE;
}

static sfsistat h_connect(SMFICTX *c, char *h, _SOCK_ADDR *sa)
{
	(void)c;
	(void)h;
	(void)sa;
	return verdict("connect");
}
static sfsistat h_helo(SMFICTX *c, char *h)
{
	(void)c;
	(void)h;
	return verdict("helo");
}
static sfsistat h_envfrom(SMFICTX *c, char **a)
{
	(void)c;
	(void)a;
	return verdict("mail");
}
static sfsistat h_data(SMFICTX *c)
{
	(void)c;
	return verdict("data");
}
static sfsistat h_header(SMFICTX *c, char *n, char *v)
{
	(void)c;
	(void)n;
	(void)v;
	return verdict("header");
}
static sfsistat h_eoh(SMFICTX *c)
{
	(void)c;
	return verdict("eoh");
}
static sfsistat h_body(SMFICTX *c, unsigned char *b, size_t l)
{
	(void)c;
	(void)b;
	(void)l;
	return verdict("body");
}
static sfsistat h_eom(SMFICTX *c)
{
	if (strcmp(stage, "eom") == 0)
		smfi_addheader(c, "X-Should-Not-Appear", "yes");
	return verdict("eom");
}

static sfsistat h_envrcpt(SMFICTX *c, char **a)
{
	(void)c;
	if (match && !strstr(a[0], match))
		return SMFIS_CONTINUE;
	return verdict("rcpt");
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: milter_verdict CONN STAGE ACTION [MATCH]\n");
		return 64;
	}
	stage = argv[2];
	action = argv[3];
	match = argc > 4 ? argv[4] : NULL;
	struct smfiDesc d = test_milter_desc("verdict");
	d.xxfi_connect = h_connect;
	d.xxfi_helo = h_helo;
	d.xxfi_envfrom = h_envfrom;
	d.xxfi_envrcpt = h_envrcpt;
	d.xxfi_data = h_data;
	d.xxfi_header = h_header;
	d.xxfi_eoh = h_eoh;
	d.xxfi_body = h_body;
	d.xxfi_eom = h_eom;
	test_milter_run(argc, argv, &d);
}
