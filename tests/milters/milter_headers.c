/* milter_headers.c - test milter: reports the macros, headers and body it saw, then adds, inserts, changes and deletes headers; "noreply" negotiates no replies for headers and body, and header values with their leading space. */
#include "milter_common.h"

static int noreply; /* SMFIP_NR_HDR, SMFIP_NR_BODY, SMFIP_HDR_LEADSPC */

static sfsistat h_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
			    unsigned long f3, unsigned long *pf0, unsigned long *pf1,
			    unsigned long *pf2, unsigned long *pf3)
{
	(void)ctx;
	(void)f2;
	(void)f3;
	unsigned long want = SMFIP_NR_HDR | SMFIP_NR_BODY | SMFIP_HDR_LEADSPC;
	if ((f1 & want) != want)
		return SMFIS_REJECT;
	*pf0 = f0;
	*pf1 = want;
	*pf2 = 0;
	*pf3 = 0;
	return SMFIS_CONTINUE;
}

/* With SMFIP_HDR_LEADSPC, values carry their own leading space. */
static char *v(const char *text)
{
	static char out[4][3100];
	static int k;
	k = (k + 1) % 4;
	snprintf(out[k], sizeof(out[k]), "%s%s", noreply ? " " : "", text);
	return out[k];
}

#include <pthread.h>

struct priv {
	char macros[2048];
	int headers;
	size_t body;
	char subject[256];
};

static void add_macro(SMFICTX *ctx, struct priv *p, const char *name)
{
	char *v = smfi_getsymval(ctx, (char *)name);
	size_t l = strlen(p->macros);
	snprintf(p->macros + l, sizeof(p->macros) - l, "%s%s=%s", l ? " " : "", name, v ? v : "-");
}

static struct priv *get(SMFICTX *ctx)
{
	struct priv *p = smfi_getpriv(ctx);
	if (!p) {
		p = calloc(1, sizeof(*p));
		smfi_setpriv(ctx, p);
	}
	return p;
}

static sfsistat h_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	struct priv *p = get(ctx);
	p->macros[0] = '\0';
	size_t l = strlen(p->macros);
	snprintf(p->macros + l, sizeof(p->macros) - l, "host=%s family=%d", host,
		 sa ? sa->sa_family : -1);
	add_macro(ctx, p, "j");
	add_macro(ctx, p, "{daemon_name}");
	add_macro(ctx, p, "{if_addr}");
	add_macro(ctx, p, "{client_addr}");
	add_macro(ctx, p, "{client_name}");
	add_macro(ctx, p, "{client_ptr}");
	add_macro(ctx, p, "_");
	return SMFIS_CONTINUE;
}

static sfsistat h_helo(SMFICTX *ctx, char *helo)
{
	struct priv *p = get(ctx);
	size_t l = strlen(p->macros);
	snprintf(p->macros + l, sizeof(p->macros) - l, " helo=%s", helo);
	return SMFIS_CONTINUE;
}

static sfsistat h_envfrom(SMFICTX *ctx, char **argv)
{
	struct priv *p = get(ctx);
	p->headers = 0;
	p->body = 0;
	size_t l = strlen(p->macros);
	snprintf(p->macros + l, sizeof(p->macros) - l, " from=%s", argv[0]);
	add_macro(ctx, p, "{mail_addr}");
	add_macro(ctx, p, "{auth_authen}");
	add_macro(ctx, p, "{auth_type}");
	add_macro(ctx, p, "{tls_version}");
	return SMFIS_CONTINUE;
}

static sfsistat h_envrcpt(SMFICTX *ctx, char **argv)
{
	struct priv *p = get(ctx);
	size_t l = strlen(p->macros);
	snprintf(p->macros + l, sizeof(p->macros) - l, " rcpt=%s", argv[0]);
	add_macro(ctx, p, "{rcpt_addr}");
	return SMFIS_CONTINUE;
}

static sfsistat h_header(SMFICTX *ctx, char *name, char *value)
{
	struct priv *p = get(ctx);
	p->headers++;
	if (strcasecmp(name, "Subject") == 0)
		snprintf(p->subject, sizeof(p->subject), "%s", value);
	return noreply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat h_body(SMFICTX *ctx, unsigned char *b, size_t len)
{
	(void)b;
	get(ctx)->body += len;
	return noreply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat h_eom(SMFICTX *ctx)
{
	struct priv *p = get(ctx);
	char text[2900];
	add_macro(ctx, p, "i");
	smfi_addheader(ctx, "X-Test-Macros", v(p->macros));
	snprintf(text, sizeof(text), "headers=%d body=%zu", p->headers, p->body);
	smfi_addheader(ctx, "X-Test-Seen", v(text));
	smfi_insheader(ctx, 0, "X-Test-First", v("inserted at the top"));
	snprintf(text, sizeof(text), "[was: %s]", p->subject);
	smfi_chgheader(ctx, "Subject", 1, v(text));
	smfi_chgheader(ctx, "X-Remove-Me", 1, NULL);
	smfi_chgheader(ctx, "X-Second", 2, v("second changed"));
	smfi_addheader(ctx, "X-Folded", v("first line\n\tsecond line"));
	p->macros[0] = '\0';
	return SMFIS_CONTINUE;
}

static sfsistat h_close(SMFICTX *ctx)
{
	free(smfi_getpriv(ctx));
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
	noreply = argc > 2 && strcmp(argv[2], "noreply") == 0;
	struct smfiDesc d = test_milter_desc("headers");
	if (noreply)
		d.xxfi_negotiate = h_negotiate;
	d.xxfi_connect = h_connect;
	d.xxfi_helo = h_helo;
	d.xxfi_envfrom = h_envfrom;
	d.xxfi_envrcpt = h_envrcpt;
	d.xxfi_header = h_header;
	d.xxfi_body = h_body;
	d.xxfi_eom = h_eom;
	d.xxfi_close = h_close;
	test_milter_run(argc, argv, &d);
}
