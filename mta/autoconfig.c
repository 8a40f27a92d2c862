/* autoconfig.c - the Thunderbird autoconfig and Outlook autodiscover documents from the configuration, and their routes. */
#include "autoconfig.h"

#include "config.h"
#include "http_server.h"
#include "log.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static void autoconfig_xml(struct buf *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			buf_append_str(out, "&amp;");
			break;
		case '<':
			buf_append_str(out, "&lt;");
			break;
		case '>':
			buf_append_str(out, "&gt;");
			break;
		case '"':
			buf_append_str(out, "&quot;");
			break;
		case '\'':
			buf_append_str(out, "&apos;");
			break;
		default:
			buf_append(out, s, 1);
		}
	}
}

static uint16_t autoconfig_port(const struct config_hostport_list *l)
{
	return l->n ? l->items[0].port : 0;
}

void autoconfig_info(const struct config *cfg, const char *email, struct autoconfig_info *ai)
{
	const char *at = email ? strrchr(email, '@') : NULL;
	ai->hostname = cfg->hostname;
	ai->domain = cfg->domains.n ? cfg->domains.items[0] : cfg->hostname;
	for (size_t i = 0; at && i < cfg->domains.n; i++)
		if (strcasecmp(cfg->domains.items[i], at + 1) == 0)
			ai->domain = cfg->domains.items[i];
	ai->imaps = autoconfig_port(&cfg->imaps_listen);
	ai->imap = autoconfig_port(&cfg->imap_listen);
	ai->submissions = autoconfig_port(&cfg->submissions_listen);
	ai->submission = autoconfig_port(&cfg->submission_listen);
}

/* ---- the request (pure) ---- */

static bool autoconfig_entity(const char *p, size_t left, char *c, size_t *used)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = { { "&amp;", '&' },
		     { "&lt;", '<' },
		     { "&gt;", '>' },
		     { "&quot;", '"' },
		     { "&apos;", '\'' } };
	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		size_t n = strlen(ents[i].name);
		if (left >= n && memcmp(p, ents[i].name, n) == 0) {
			*c = ents[i].c;
			*used = n;
			return true;
		}
	}
	return false;
}

int autodiscover_email(const char *body, size_t len, char *out, size_t outlen)
{
	static const char want[] = "EMailAddress";
	const size_t wn = sizeof(want) - 1;

	for (size_t i = 0; i < len; i++) {
		if (body[i] != '<')
			continue;
		/* The element name: [prefix:]EMailAddress, then '>' or attributes. */
		size_t s = i + 1, e = s;
		while (e < len && body[e] != '>' && body[e] != '/' &&
		       !isspace((unsigned char)body[e]))
			e++;
		size_t local = s;
		for (size_t k = s; k < e; k++)
			if (body[k] == ':')
				local = k + 1;
		if (e - local != wn || memcmp(body + local, want, wn) != 0)
			continue;
		while (e < len && body[e] != '>')
			e++;
		if (e >= len || body[e - 1] == '/')
			return -1; /* cut off, or <EMailAddress/> */
		size_t p = e + 1, o = 0;
		while (p < len && isspace((unsigned char)body[p]))
			p++;
		while (p < len && body[p] != '<') {
			char c = body[p];
			size_t used = 1;
			if (c == '&' && !autoconfig_entity(body + p, len - p, &c, &used))
				return -1;
			if ((unsigned char)c < 0x20 && !isspace((unsigned char)c))
				return -1;
			if (c == 0x7f || c == '<' || o + 1 >= outlen)
				return -1;
			out[o++] = c;
			p += used;
		}
		if (p >= len)
			return -1; /* no closing tag */
		while (o > 0 && isspace((unsigned char)out[o - 1]))
			o--;
		for (size_t k = 0; k < o; k++)
			if (isspace((unsigned char)out[k]))
				return -1;
		out[o] = '\0';
		return o ? 0 : -1;
	}
	return -1;
}

/* ---- the documents (pure) ---- */

static void autoconfig_tb_server(struct buf *out, const char *kind, const char *type,
				 const struct autoconfig_info *ai, uint16_t port,
				 const char *socket)
{
	if (!port)
		return;
	buf_printf(out, "    <%s type=\"%s\">\n      <hostname>", kind, type);
	autoconfig_xml(out, ai->hostname);
	buf_printf(out,
		   "</hostname>\n      <port>%u</port>\n      <socketType>%s</socketType>\n"
		   "      <authentication>password-cleartext</authentication>\n"
		   "      <username>%%EMAILADDRESS%%</username>\n    </%s>\n",
		   port, socket, kind);
}

void autoconfig_thunderbird_xml(const struct autoconfig_info *ai, struct buf *out)
{
	buf_append_str(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			    "<clientConfig version=\"1.1\">\n  <emailProvider id=\"");
	autoconfig_xml(out, ai->domain);
	buf_append_str(out, "\">\n    <domain>");
	autoconfig_xml(out, ai->domain);
	buf_append_str(out, "</domain>\n    <displayName>");
	autoconfig_xml(out, ai->domain);
	buf_append_str(out, "</displayName>\n    <displayShortName>");
	autoconfig_xml(out, ai->domain);
	buf_append_str(out, "</displayShortName>\n");
	autoconfig_tb_server(out, "incomingServer", "imap", ai, ai->imaps, "SSL");
	autoconfig_tb_server(out, "incomingServer", "imap", ai, ai->imap, "STARTTLS");
	autoconfig_tb_server(out, "outgoingServer", "smtp", ai, ai->submissions, "SSL");
	autoconfig_tb_server(out, "outgoingServer", "smtp", ai, ai->submission, "STARTTLS");
	buf_append_str(out, "  </emailProvider>\n</clientConfig>\n");
}

static void autoconfig_ol_protocol(struct buf *out, const char *type,
				   const struct autoconfig_info *ai, const char *email,
				   uint16_t port, bool implicit)
{
	if (!port)
		return;
	buf_printf(out, "      <Protocol>\n        <Type>%s</Type>\n        <Server>", type);
	autoconfig_xml(out, ai->hostname);
	buf_printf(out, "</Server>\n        <Port>%u</Port>\n", port);
	if (email) {
		buf_append_str(out, "        <LoginName>");
		autoconfig_xml(out, email);
		buf_append_str(out, "</LoginName>\n");
	}
	buf_append_str(out, "        <DomainRequired>off</DomainRequired>\n"
			    "        <SPA>off</SPA>\n");
	buf_append_str(out,
		       implicit ? "        <SSL>on</SSL>\n"
				: "        <SSL>on</SSL>\n        <Encryption>TLS</Encryption>\n");
	buf_append_str(out, "        <AuthRequired>on</AuthRequired>\n");
	if (strcmp(type, "SMTP") == 0)
		buf_append_str(out, "        <UsePOPAuth>off</UsePOPAuth>\n"
				    "        <SMTPLast>off</SMTPLast>\n");
	buf_append_str(out, "      </Protocol>\n");
}

void autoconfig_outlook_xml(const struct autoconfig_info *ai, const char *email, struct buf *out)
{
	buf_append_str(
		out,
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		"<Autodiscover "
		"xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/"
		"2006\">\n"
		"  <Response "
		"xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/"
		"2006a\">\n"
		"    <Account>\n      <AccountType>email</AccountType>\n"
		"      <Action>settings</Action>\n");
	autoconfig_ol_protocol(out, "IMAP", ai, email, ai->imaps, true);
	autoconfig_ol_protocol(out, "IMAP", ai, email, ai->imap, false);
	autoconfig_ol_protocol(out, "SMTP", ai, email, ai->submissions, true);
	autoconfig_ol_protocol(out, "SMTP", ai, email, ai->submission, false);
	buf_append_str(out, "    </Account>\n  </Response>\n</Autodiscover>\n");
}

/* ---- the routes (on the loop) ---- */

static int autoconfig_get(void *arg, const struct http_request *req, struct http_reply *reply)
{
	const struct config *cfg = arg;
	struct autoconfig_info ai;
	autoconfig_info(cfg, http_request_arg(req, "emailaddress"), &ai);
	autoconfig_thunderbird_xml(&ai, &reply->body);
	reply->content_type = "application/xml; charset=utf-8";
	return 200;
}

static int autodiscover_post(void *arg, const struct http_request *req, struct http_reply *reply)
{
	const struct config *cfg = arg;
	char email[321];
	if (autodiscover_email(req->body, req->body_len, email, sizeof(email)) < 0) {
		log_info("autodiscover: [%s]: no usable EMailAddress in the request", req->peer);
		buf_append_str(&reply->body, "no EMailAddress in the request\n");
		return 400;
	}
	struct autoconfig_info ai;
	autoconfig_info(cfg, email, &ai);
	autoconfig_outlook_xml(&ai, email, &reply->body);
	reply->content_type = "application/xml; charset=utf-8";
	return 200;
}

void autoconfig_routes(struct http_server *s, const struct config *cfg)
{
	void *arg = (void *)cfg;
	http_server_route(s, "GET", "/mail/config-v1.1.xml", autoconfig_get, arg);
	http_server_route(s, "GET", "/.well-known/autoconfig/mail/config-v1.1.xml", autoconfig_get,
			  arg);
	http_server_route(s, "POST", "/autodiscover/autodiscover.xml", autodiscover_post, arg);
	http_server_route(s, "POST", "/Autodiscover/Autodiscover.xml", autodiscover_post, arg);
}
