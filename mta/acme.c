/* acme.c - mtad's ACME client (RFC 8555): obtains and renews the certificate of hostname off the loop, answers http-01. */
#include "acme.h"
#include "mta_sts.h"
#include "acme_proto.h"
#include "daemon.h"
#include "fileutil.h"
#include "http_server.h"
#include "log.h"
#include "mtad.h"
#include "tls.h"
#include "xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ACME_RETRY_SECONDS 3600 /* after a failure */
#define ACME_POLL_TRIES    60   /* status polls of an authorization or order ... */
#define ACME_POLL_MS       500  /* ... this far apart */
#define ACME_BODY_MAX      (1024 * 1024)
#define ACME_MAX_TOKENS    ACME_MAX_NAMES

struct acme_token {
	char *token, *keyauth;
};

struct acme {
	struct mtad *m;
	uv_timer_t timer;
	uv_work_t work;
	bool busy, stopping;
	char *cert_path, *key_path, *account_path;
	char *names[ACME_MAX_NAMES];
	size_t n_names;
	/* http-01: what the worker publishes and the HTTP listener reads. */
	pthread_mutex_t lock;
	struct acme_token tokens[ACME_MAX_TOKENS];
	size_t n_tokens;
	/* the worker's outcome, read on the loop after it */
	int result;         /* 1 a new certificate was installed, 0 not due, -1 failed */
	bool extra_failed;  /* an authorization of a name other than hostname failed */
	time_t extra_until; /* until then a certificate for hostname alone is enough */
	char why[3072];
	time_t next;
	time_t not_after;
};

/* ---- HTTP (worker thread) ---- */

struct acme_http {
	struct acme *a;
	struct buf body;
	char nonce[256];
	char location[ACME_URL_MAX];
	char content_type[128];
	long status;
};

static size_t acme_curl_body(char *p, size_t size, size_t n, void *arg)
{
	struct acme_http *h = arg;
	if (h->body.len + size * n > ACME_BODY_MAX)
		return 0;
	buf_append(&h->body, p, size * n);
	return size * n;
}

/* Copies the value of header line p (len bytes) into out when its name is name. */
static void acme_header_value(const char *p, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	if (len <= nl + 1 || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return;
	const char *v = p + nl + 1, *end = p + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	snprintf(out, outlen, "%.*s", (int)(end - v), v);
}

static size_t acme_curl_header(char *p, size_t size, size_t n, void *arg)
{
	struct acme_http *h = arg;
	acme_header_value(p, size * n, "Replay-Nonce", h->nonce, sizeof(h->nonce));
	acme_header_value(p, size * n, "Location", h->location, sizeof(h->location));
	acme_header_value(p, size * n, "Content-Type", h->content_type, sizeof(h->content_type));
	return size * n;
}

/* One request. body NULL: GET (HEAD when head). Returns 0 with h filled (any status), or -1
 * with a->why set when there was no answer. */
static int acme_request(struct acme *a, const char *url, const char *body, bool head,
			struct acme_http *h)
{
	const struct config *cfg = a->m->cfg;
	memset(h, 0, sizeof(*h));
	h->a = a;
	buf_init(&h->body);
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(a->why, sizeof(a->why), "cannot start libcurl");
		return -1;
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "mtad/" MAIL_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, acme_curl_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, acme_curl_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	if (cfg->acme_ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->acme_ca_file);
	if (body) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/jose+json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	} else if (head) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	}
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		snprintf(a->why, sizeof(a->why), "%s: %s", url,
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		buf_free(&h->body);
		return -1;
	}
	buf_append(&h->body, "", 0);
	return 0;
}

/* The account session of one run. */
struct acme_session {
	struct acme *a;
	EVP_PKEY *account;
	EVP_PKEY *cert_key;
	struct acme_directory dir;
	char nonce[256];
	char kid[ACME_URL_MAX];
};

/* A signed POST (payload NULL: POST-as-GET). Retries up to three times on badNonce. Returns 0 with a
 * 2xx answer in h, or -1 with a->why set. */
static int acme_post(struct acme_session *s, const char *url, const char *payload,
		     struct acme_http *h)
{
	struct acme *a = s->a;
	for (int attempt = 0; attempt < 4; attempt++) {
		if (!s->nonce[0]) {
			struct acme_http nh;
			if (acme_request(a, s->dir.new_nonce, NULL, true, &nh) < 0)
				return -1;
			snprintf(s->nonce, sizeof(s->nonce), "%s", nh.nonce);
			buf_free(&nh.body);
			if (!s->nonce[0]) {
				snprintf(a->why, sizeof(a->why), "%s: no Replay-Nonce",
					 s->dir.new_nonce);
				return -1;
			}
		}
		struct buf jws;
		buf_init(&jws);
		if (acme_jws(s->account, s->kid[0] ? s->kid : NULL, s->nonce, url, payload, &jws) <
		    0) {
			buf_free(&jws);
			snprintf(a->why, sizeof(a->why), "cannot sign a request");
			return -1;
		}
		buf_append(&jws, "", 0);
		int r = acme_request(a, url, jws.data, false, h);
		buf_free(&jws);
		if (r < 0)
			return -1;
		snprintf(s->nonce, sizeof(s->nonce), "%s", h->nonce);
		if (h->status >= 200 && h->status < 300)
			return 0;
		char problem[512];
		acme_parse_problem(h->body.data, h->body.len, problem, sizeof(problem));
		snprintf(a->why, sizeof(a->why), "%s: HTTP %ld%s%s", url, h->status,
			 problem[0] ? ": " : "", problem);
		buf_free(&h->body);
		if (!strstr(problem, "badNonce"))
			return -1;
	}
	return -1;
}

/* ---- files ---- */

/* Writes data to path through path.new: fsync, rename, fsync of the directory. */
static int acme_write_file(const char *path, const void *data, size_t len, mode_t mode, char *why,
			   size_t whylen)
{
	char *tmp = xasprintf("%s.new", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	int r = -1;
	if (fd < 0) {
		snprintf(why, whylen, "cannot write %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0)
		snprintf(why, whylen, "cannot write %s: %s", tmp, strerror(errno));
	else if (rename(tmp, path) < 0)
		snprintf(why, whylen, "cannot rename %s: %s", tmp, strerror(errno));
	else
		r = 0;
	close(fd);
	if (r < 0)
		unlink(tmp);
	else {
		char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		fsync_dir(slash ? dir : ".");
		free(dir);
	}
	free(tmp);
	return r;
}

static EVP_PKEY *acme_read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/* The account key, made (0600) at the first run. */
static EVP_PKEY *acme_account_key(struct acme *a)
{
	EVP_PKEY *k = acme_read_key(a->account_path);
	if (k)
		return k;
	k = acme_key_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long len;
	if (!k || !b || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(b, &pem)) <= 0 ||
	    acme_write_file(a->account_path, pem, (size_t)len, 0600, a->why, sizeof(a->why)) < 0) {
		if (!a->why[0])
			snprintf(a->why, sizeof(a->why), "cannot make the account key");
		EVP_PKEY_free(k);
		k = NULL;
	} else {
		log_info("acme: new account key in %s", a->account_path);
	}
	BIO_free(b);
	return k;
}

static time_t acme_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* Is the current certificate due for replacement? Returns 1 (why says why), or 0 with
 * *renew_r the time it will be. */
static int acme_due(struct acme *a, time_t now, time_t *renew_r, time_t *not_after_r)
{
	FILE *f = fopen(a->cert_path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	int due = 1;
	if (!x) {
		snprintf(a->why, sizeof(a->why), "no certificate in %s", a->cert_path);
		return 1;
	}
	time_t nb = acme_asn1_time(X509_get0_notBefore(x));
	time_t na = acme_asn1_time(X509_get0_notAfter(x));
	*not_after_r = na;
	if (X509_check_issued(x, x) == X509_V_OK) {
		snprintf(a->why, sizeof(a->why), "the certificate is self-signed");
		goto out;
	}
	for (size_t i = 0; i < (now < a->extra_until ? 1 : a->n_names); i++)
		if (X509_check_host(x, a->names[i], 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1) {
			snprintf(a->why, sizeof(a->why), "the certificate does not name %s",
				 a->names[i]);
			goto out;
		}
	*renew_r = acme_renew_at(nb, na);
	if (now >= *renew_r) {
		snprintf(a->why, sizeof(a->why), "two thirds of its lifetime have passed");
		goto out;
	}
	due = 0;
out:
	X509_free(x);
	return due;
}

/* ---- http-01 tokens ---- */

static void acme_tokens_add(struct acme *a, const char *token, const char *keyauth)
{
	pthread_mutex_lock(&a->lock);
	if (a->n_tokens < ACME_MAX_TOKENS) {
		a->tokens[a->n_tokens].token = xstrdup(token);
		a->tokens[a->n_tokens].keyauth = xstrdup(keyauth);
		a->n_tokens++;
	}
	pthread_mutex_unlock(&a->lock);
}

static void acme_tokens_clear(struct acme *a)
{
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->n_tokens; i++) {
		free(a->tokens[i].token);
		free(a->tokens[i].keyauth);
	}
	a->n_tokens = 0;
	pthread_mutex_unlock(&a->lock);
}

int acme_http01_answer(struct acme *a, const char *token, struct buf *out)
{
	int status = 404;
	if (!a)
		return 404;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->n_tokens; i++)
		if (strcmp(a->tokens[i].token, token) == 0) {
			buf_append_str(out, a->tokens[i].keyauth);
			status = 200;
			break;
		}
	pthread_mutex_unlock(&a->lock);
	return status;
}

/* ---- the protocol (worker thread) ---- */

/* Polls url (POST-as-GET) until its status leaves pending/processing; the body stays in h. */
static int acme_poll(struct acme_session *s, const char *url, struct acme_http *h, char *status,
		     size_t statuslen)
{
	for (int i = 0; i < ACME_POLL_TRIES; i++) {
		if (acme_post(s, url, NULL, h) < 0)
			return -1;
		struct acme_authz az;
		struct acme_order o;
		const char *err;
		if (acme_parse_authz(h->body.data, h->body.len, &az, &err) == 0)
			snprintf(status, statuslen, "%s", az.status);
		else if (acme_parse_order(h->body.data, h->body.len, &o, &err) == 0) {
			snprintf(status, statuslen, "%s", o.status);
			acme_order_free(&o);
		} else {
			snprintf(s->a->why, sizeof(s->a->why), "%s: %s", url, err);
			buf_free(&h->body);
			return -1;
		}
		if (strcmp(status, "pending") != 0 && strcmp(status, "processing") != 0)
			return 0;
		buf_free(&h->body);
		usleep(ACME_POLL_MS * 1000);
	}
	snprintf(s->a->why, sizeof(s->a->why), "%s: still %s after %d s", url, status,
		 ACME_POLL_TRIES * ACME_POLL_MS / 1000);
	return -1;
}

/* One authorization: answer its http-01 challenge and wait for the verdict. */
static int acme_authorize(struct acme_session *s, const char *url, const char *thumbprint)
{
	struct acme *a = s->a;
	struct acme_http h;
	struct acme_authz az;
	const char *err;
	if (acme_post(s, url, NULL, &h) < 0)
		return -1;
	int r = acme_parse_authz(h.body.data, h.body.len, &az, &err);
	buf_free(&h.body);
	if (r < 0) {
		snprintf(a->why, sizeof(a->why), "%s: %s", url, err);
		return -1;
	}
	if (strcmp(az.status, "valid") == 0)
		return 0;
	if (!az.http01_url[0]) {
		snprintf(a->why, sizeof(a->why), "%s: no http-01 challenge offered", az.identifier);
		return -1;
	}
	char *keyauth = xasprintf("%s.%s", az.http01_token, thumbprint);
	acme_tokens_add(a, az.http01_token, keyauth);
	free(keyauth);
	if (acme_post(s, az.http01_url, "{}", &h) < 0)
		return -1;
	buf_free(&h.body);
	char status[16];
	if (acme_poll(s, url, &h, status, sizeof(status)) < 0)
		return -1;
	acme_parse_authz(h.body.data, h.body.len, &az, &err);
	buf_free(&h.body);
	if (strcmp(status, "valid") != 0) {
		snprintf(a->why, sizeof(a->why), "%s: authorization %s%s%s", az.identifier, status,
			 az.error[0] ? ": " : "", az.error);
		if (strcasecmp(az.identifier, a->names[0]) != 0)
			a->extra_failed = true;
		return -1;
	}
	return 0;
}

/* Checks a downloaded chain: PEM certificates, the first for our key and names. */
static int acme_check_chain(struct acme *a, EVP_PKEY *key, const char *pem, size_t len,
			    time_t *not_after_r)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int r = -1;
	if (!x)
		snprintf(a->why, sizeof(a->why), "the certificate downloaded is not PEM");
	else if (X509_check_private_key(x, key) != 1)
		snprintf(a->why, sizeof(a->why), "the certificate downloaded is not for our key");
	else if (X509_check_host(x, a->names[0], 0, 0, NULL) != 1)
		snprintf(a->why, sizeof(a->why), "the certificate downloaded does not name %s",
			 a->names[0]);
	else {
		*not_after_r = acme_asn1_time(X509_get0_notAfter(x));
		r = 0;
	}
	X509_free(x);
	BIO_free(b);
	return r;
}

static int acme_obtain(struct acme_session *s)
{
	struct acme *a = s->a;
	const struct config *cfg = a->m->cfg;
	struct acme_http h;
	const char *err;
	const char *dir_url = cfg->acme_directory ? cfg->acme_directory : ACME_DEFAULT_DIRECTORY;

	if (acme_request(a, dir_url, NULL, false, &h) < 0)
		return -1;
	int r = h.status == 200 ? acme_parse_directory(h.body.data, h.body.len, &s->dir, &err) : -1;
	if (r < 0)
		snprintf(a->why, sizeof(a->why), "%s: %s", dir_url,
			 h.status == 200 ? err : "no directory (HTTP error)");
	buf_free(&h.body);
	if (r < 0)
		return -1;

	/* The account: created, or found again for the same key (RFC 8555 7.3). */
	s->kid[0] = '\0'; /* newAccount is signed with the jwk */
	char *email = cfg->acme_email
			      ? xstrdup(cfg->acme_email)
			      : xasprintf("postmaster@%s",
					  cfg->domains.n ? cfg->domains.items[0] : cfg->hostname);
	char *payload = xasprintf("{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:%s\"]}",
				  email);
	free(email);
	r = acme_post(s, s->dir.new_account, payload, &h);
	free(payload);
	if (r < 0)
		return -1;
	snprintf(s->kid, sizeof(s->kid), "%s", h.location);
	buf_free(&h.body);
	if (!s->kid[0]) {
		snprintf(a->why, sizeof(a->why), "%s: no account URL", s->dir.new_account);
		return -1;
	}

	struct buf ids;
	buf_init(&ids);
	buf_append_str(&ids, "{\"identifiers\":[");
	for (size_t i = 0; i < a->n_names; i++)
		buf_printf(&ids, "%s{\"type\":\"dns\",\"value\":\"%s\"}", i ? "," : "",
			   a->names[i]);
	buf_append_str(&ids, "]}");
	r = acme_post(s, s->dir.new_order, ids.data, &h);
	buf_free(&ids);
	if (r < 0)
		return -1;
	char order_url[ACME_URL_MAX];
	snprintf(order_url, sizeof(order_url), "%s", h.location);
	struct acme_order o;
	r = acme_parse_order(h.body.data, h.body.len, &o, &err);
	buf_free(&h.body);
	if (r < 0 || !order_url[0]) {
		snprintf(a->why, sizeof(a->why), "%s: %s", s->dir.new_order,
			 r < 0 ? err : "no order URL");
		return -1;
	}
	struct buf thumb;
	buf_init(&thumb);
	acme_thumbprint(s->account, &thumb);
	buf_append(&thumb, "", 0);
	for (size_t i = 0; i < o.n_authz && r == 0; i++)
		r = acme_authorize(s, o.authz[i], thumb.data);
	buf_free(&thumb);
	acme_order_free(&o);
	if (r < 0)
		return -1;

	struct buf csr, body;
	buf_init(&csr);
	buf_init(&body);
	if (acme_csr(s->cert_key, (const char *const *)a->names, a->n_names, &csr) < 0) {
		buf_free(&csr);
		snprintf(a->why, sizeof(a->why), "cannot make the CSR");
		return -1;
	}
	buf_printf(&body, "{\"csr\":\"%.*s\"}", (int)csr.len, csr.data);
	buf_free(&csr);
	char finalize[ACME_URL_MAX];
	/* The order's finalize URL, read again (it is in the order object). */
	if (acme_post(s, order_url, NULL, &h) < 0) {
		buf_free(&body);
		return -1;
	}
	r = acme_parse_order(h.body.data, h.body.len, &o, &err);
	buf_free(&h.body);
	snprintf(finalize, sizeof(finalize), "%s", r == 0 ? o.finalize : "");
	acme_order_free(&o);
	if (!finalize[0] || acme_post(s, finalize, body.data, &h) < 0) {
		if (!finalize[0])
			snprintf(a->why, sizeof(a->why), "%s: no finalize URL", order_url);
		buf_free(&body);
		return -1;
	}
	buf_free(&body);
	buf_free(&h.body);
	char status[16];
	if (acme_poll(s, order_url, &h, status, sizeof(status)) < 0)
		return -1;
	r = acme_parse_order(h.body.data, h.body.len, &o, &err);
	buf_free(&h.body);
	if (r < 0 || strcmp(o.status, "valid") != 0 || !o.certificate[0]) {
		snprintf(a->why, sizeof(a->why), "%s: order %s", order_url, r < 0 ? err : o.status);
		acme_order_free(&o);
		return -1;
	}
	char cert_url[ACME_URL_MAX];
	snprintf(cert_url, sizeof(cert_url), "%s", o.certificate);
	acme_order_free(&o);
	if (acme_post(s, cert_url, NULL, &h) < 0)
		return -1;
	time_t na = 0;
	r = acme_check_chain(a, s->cert_key, h.body.data, h.body.len, &na);
	if (r == 0)
		r = acme_write_file(a->cert_path, h.body.data, h.body.len, 0644, a->why,
				    sizeof(a->why));
	buf_free(&h.body);
	if (r == 0)
		a->not_after = na;
	return r;
}

static void acme_work(uv_work_t *w)
{
	struct acme *a = container_of(w, struct acme, work);
	time_t now = time(NULL), renew = 0, na = 0;
	a->why[0] = '\0';
	a->result = 0;
	if (!acme_due(a, now, &renew, &na)) {
		a->next = renew;
		a->not_after = na;
		return;
	}
	log_info("acme: obtaining a certificate for %s and %zu more name(s): %s", a->names[0],
		 a->n_names - 1, a->why);
	a->why[0] = '\0';
	struct acme_session s = { .a = a };
	s.account = acme_account_key(a);
	s.cert_key = acme_read_key(a->key_path);
	if (!s.cert_key)
		snprintf(a->why, sizeof(a->why), "cannot read the key %s", a->key_path);
	a->extra_failed = false;
	a->result = s.account && s.cert_key && acme_obtain(&s) == 0 ? 1 : -1;
	if (a->result < 0 && a->extra_failed && a->n_names > 1) {
		/* The mta-sts. and autoconfig. names are a convenience: without their DNS records
		 * the hostname still gets its certificate; they are asked for again in a day. */
		size_t n = a->n_names;
		log_warn("acme: %s; asking for %s alone", a->why, a->names[0]);
		a->why[0] = '\0';
		a->n_names = 1;
		a->result = acme_obtain(&s) == 0 ? 1 : -1;
		a->n_names = n;
		if (a->result > 0)
			a->extra_until = time(NULL) + 86400;
	}
	acme_tokens_clear(a);
	EVP_PKEY_free(s.account);
	EVP_PKEY_free(s.cert_key);
	if (a->result > 0) {
		a->next = acme_renew_at(time(NULL), a->not_after);
		if (a->extra_until && a->extra_until < a->next)
			a->next = a->extra_until;
	} else {
		a->next = time(NULL) + ACME_RETRY_SECONDS;
	}
}

static void acme_timer_cb(uv_timer_t *t);

/* The timer's close callback: the last of the client. */
static void acme_closed(uv_handle_t *h)
{
	struct acme *a = h->data;
	acme_tokens_clear(a);
	pthread_mutex_destroy(&a->lock);
	for (size_t i = 0; i < a->n_names; i++)
		free(a->names[i]);
	free(a->cert_path);
	free(a->key_path);
	free(a->account_path);
	free(a);
}

static void acme_schedule(struct acme *a, time_t when)
{
	time_t now = time(NULL);
	uint64_t ms = when > now ? (uint64_t)(when - now) * 1000 : 0;
	/* Timers are re-armed at most daily: the clock may jump. */
	if (ms > 86400000)
		ms = 86400000;
	uv_timer_start(&a->timer, acme_timer_cb, ms, 0);
}

static void acme_after_work(uv_work_t *w, int status)
{
	struct acme *a = container_of(w, struct acme, work);
	a->busy = false;
	if (a->stopping) {
		uv_close((uv_handle_t *)&a->timer, acme_closed);
		return;
	}
	char when[32] = "?";
	struct tm tm;
	if (gmtime_r(&a->next, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	if (a->result > 0) {
		log_info("acme: installed a new certificate for %s in %s; renewal from %s",
			 a->names[0], a->cert_path, when);
		daemon_tls_reload(a->m->tls, a->m->tls_cert, a->m->tls_key);
		if (a->m->http)
			mta_sts_refresh(a->m->cfg); /* a CA-signed certificate: mode enforce */
	} else if (a->result < 0) {
		log_error(
			"acme: no new certificate: %s; keeping the current one, next attempt at %s",
			a->why, when);
	}
	(void)status;
	acme_schedule(a, a->next);
}

static void acme_timer_cb(uv_timer_t *t)
{
	struct acme *a = t->data;
	if (a->busy || a->stopping)
		return;
	if (time(NULL) < a->next) {
		acme_schedule(a, a->next);
		return;
	}
	a->busy = true;
	uv_queue_work(a->m->loop, &a->work, acme_work, acme_after_work);
}

size_t acme_cert_names(const struct mtad *m, char **names, size_t max)
{
	const struct config *cfg = m->cfg;
	size_t n = 0;
	if (max == 0)
		return 0;
	names[n++] = xstrdup(cfg->hostname);
	for (size_t i = 0; i < cfg->domains.n && n + 2 <= max; i++) {
		const char *d = cfg->domains.items[i];
		if (strcmp(d, "localhost") == 0)
			continue;
		names[n++] = xasprintf("mta-sts.%s", d);
		names[n++] = xasprintf("autoconfig.%s", d);
	}
	return n;
}

/* GET /.well-known/acme-challenge/TOKEN on http_listen. */
static int acme_http_handler(void *arg, const struct http_request *req, struct http_reply *reply)
{
	const char *token = req->path + strlen(ACME_CHALLENGE_PREFIX);
	int status = acme_http01_answer(arg, token, &reply->body);
	reply->content_type = "application/octet-stream";
	log_info("acme: http-01 request from %s for %.80s: %d", req->peer, token, status);
	return status;
}

struct acme *acme_start(struct mtad *m)
{
	const struct config *cfg = m->cfg;
	if (!cfg->acme)
		return NULL;
	if (cfg->tls_cert || cfg->tls_key)
		log_fatal(EX_CONFIG_STATUS,
			  "%s: acme = yes manages the pair in %s/tls: remove tls_cert and tls_key",
			  cfg->path ? cfg->path : "configuration", cfg->state_dir);
	if (!m->http)
		log_fatal(EX_CONFIG_STATUS,
			  "%s: acme = yes answers the http-01 challenge on http_listen (port 80): "
			  "set it",
			  cfg->path ? cfg->path : "configuration");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct acme *a = xcalloc(1, sizeof(*a));
	a->m = m;
	pthread_mutex_init(&a->lock, NULL);
	tls_cert_paths(cfg->state_dir, NULL, NULL, &a->cert_path, &a->key_path);
	a->account_path = xasprintf("%s/acme/account.pem", cfg->state_dir);
	/* Before the privilege drop: state_dir/acme is made and given to run_user. */
	const struct daemon_dir dirs[] = { { "acme", 0700 } };
	daemon_state_dirs(cfg, dirs, 1);
	a->n_names = acme_cert_names(m, a->names, ACME_MAX_NAMES);
	http_server_route(m->http, "GET", ACME_CHALLENGE_PREFIX, acme_http_handler, a);
	uv_timer_init(m->loop, &a->timer);
	a->timer.data = a;
	a->next = 0;
	log_info("acme: certificate for %s from %s", a->names[0],
		 cfg->acme_directory ? cfg->acme_directory : ACME_DEFAULT_DIRECTORY);
	acme_schedule(a, 0);
	return a;
}

void acme_stop(struct acme **ap)
{
	struct acme *a = *ap;
	if (!a)
		return;
	*ap = NULL;
	a->stopping = true;
	if (a->m->http)
		http_server_unroute(a->m->http, "GET", ACME_CHALLENGE_PREFIX);
	uv_timer_stop(&a->timer);
	/* A job still on the pool closes the timer when it is done. */
	if (!a->busy)
		uv_close((uv_handle_t *)&a->timer, acme_closed);
}
