/* acme_proto.c - the ACME (RFC 8555) message layer: keys, JWK thumbprint, ES256 JWS, CSR, and the server's JSON objects. */
#include "acme_proto.h"
#include "xalloc.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void acme_b64url(struct buf *out, const void *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = data;
	size_t i;
	for (i = 0; i + 3 <= len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		char q[4] = { alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63],
			      alphabet[v & 63] };
		buf_append(out, q, 4);
	}
	if (len - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		char q[2] = { alphabet[v >> 18], alphabet[(v >> 12) & 63] };
		buf_append(out, q, 2);
	} else if (len - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		char q[3] = { alphabet[v >> 18], alphabet[(v >> 12) & 63],
			      alphabet[(v >> 6) & 63] };
		buf_append(out, q, 3);
	}
}

EVP_PKEY *acme_key_new(void)
{
	return EVP_EC_gen("P-256");
}

int acme_jwk(EVP_PKEY *key, struct buf *out)
{
	BIGNUM *x = NULL, *y = NULL;
	unsigned char xb[32], yb[32];
	int r = -1;
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
	    BN_bn2binpad(x, xb, 32) != 32 || BN_bn2binpad(y, yb, 32) != 32)
		goto out;
	buf_append_str(out, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"");
	acme_b64url(out, xb, 32);
	buf_append_str(out, "\",\"y\":\"");
	acme_b64url(out, yb, 32);
	buf_append_str(out, "\"}");
	r = 0;
out:
	BN_free(x);
	BN_free(y);
	return r;
}

int acme_thumbprint(EVP_PKEY *key, struct buf *out)
{
	struct buf jwk;
	unsigned char md[SHA256_DIGEST_LENGTH];
	buf_init(&jwk);
	if (acme_jwk(key, &jwk) < 0) {
		buf_free(&jwk);
		return -1;
	}
	SHA256((const unsigned char *)jwk.data, jwk.len, md);
	buf_free(&jwk);
	acme_b64url(out, md, sizeof(md));
	return 0;
}

/* A JSON string literal of s (the URLs and nonces we put in headers). */
static void acme_json_str(struct buf *out, const char *s)
{
	json_t *j = json_string(s);
	char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	buf_append_str(out, text ? text : "\"\"");
	free(text);
	json_decref(j);
}

int acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
	     const char *payload, struct buf *out)
{
	struct buf prot, b64;
	buf_init(&prot);
	buf_init(&b64);
	buf_append_str(&prot, "{\"alg\":\"ES256\",");
	if (kid) {
		buf_append_str(&prot, "\"kid\":");
		acme_json_str(&prot, kid);
	} else {
		buf_append_str(&prot, "\"jwk\":");
		if (acme_jwk(key, &prot) < 0) {
			buf_free(&prot);
			return -1;
		}
	}
	buf_append_str(&prot, ",\"nonce\":");
	acme_json_str(&prot, nonce);
	buf_append_str(&prot, ",\"url\":");
	acme_json_str(&prot, url);
	buf_append_str(&prot, "}");
	/* signing input: b64(protected) "." b64(payload) */
	acme_b64url(&b64, prot.data, prot.len);
	size_t prot_len = b64.len;
	buf_append_str(&b64, ".");
	if (payload)
		acme_b64url(&b64, payload, strlen(payload));
	buf_free(&prot);

	int r = -1;
	unsigned char *der = NULL, rs[64];
	size_t der_len = 0;
	ECDSA_SIG *sig = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &der_len, (unsigned char *)b64.data, b64.len) != 1)
		goto out;
	der = xmalloc(der_len);
	if (EVP_DigestSign(md, der, &der_len, (unsigned char *)b64.data, b64.len) != 1)
		goto out;
	const unsigned char *p = der;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) != 32)
		goto out;
	buf_printf(out, "{\"protected\":\"%.*s\",\"payload\":\"%s\",\"signature\":\"",
		   (int)prot_len, b64.data, b64.data + prot_len + 1);
	acme_b64url(out, rs, sizeof(rs));
	buf_append_str(out, "\"}");
	r = 0;
out:
	ECDSA_SIG_free(sig);
	free(der);
	EVP_MD_CTX_free(md);
	buf_free(&b64);
	return r;
}

int acme_csr(EVP_PKEY *key, const char *const *names, size_t n, struct buf *out)
{
	if (n == 0)
		return -1;
	int r = -1;
	X509_REQ *req = X509_REQ_new();
	X509_NAME *subj = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	struct buf san;
	buf_init(&san);
	for (size_t i = 0; i < n; i++)
		buf_printf(&san, "%sDNS:%s", i ? "," : "", names[i]);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san.data);
	unsigned char *der = NULL;
	int len;
	if (!req || !subj || !exts || !ext || X509_REQ_set_version(req, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)names[0],
				       -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, subj) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
	    sk_X509_EXTENSION_push(exts, ext) <= 0)
		goto out;
	ext = NULL; /* owned by exts */
	if (X509_REQ_add_extensions(req, exts) != 1 || X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    (len = i2d_X509_REQ(req, &der)) <= 0)
		goto out;
	acme_b64url(out, der, (size_t)len);
	r = 0;
out:
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(subj);
	X509_REQ_free(req);
	buf_free(&san);
	return r;
}

/* ---- JSON objects ---- */

static json_t *acme_json_load(const char *json, size_t len, const char **error_r)
{
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		*error_r = "not a JSON object";
		return NULL;
	}
	return root;
}

/* Copies string member key of obj into out; returns -1 when absent (out = ""). */
static int acme_json_copy(json_t *obj, const char *key, char *out, size_t outlen)
{
	const char *s = json_string_value(json_object_get(obj, key));
	out[0] = '\0';
	if (!s)
		return -1;
	snprintf(out, outlen, "%s", s);
	return strlen(s) < outlen ? 0 : -1;
}

int acme_parse_directory(const char *json, size_t len, struct acme_directory *d,
			 const char **error_r)
{
	memset(d, 0, sizeof(*d));
	json_t *root = acme_json_load(json, len, error_r);
	if (!root)
		return -1;
	int r = 0;
	if (acme_json_copy(root, "newNonce", d->new_nonce, sizeof(d->new_nonce)) < 0 ||
	    acme_json_copy(root, "newAccount", d->new_account, sizeof(d->new_account)) < 0 ||
	    acme_json_copy(root, "newOrder", d->new_order, sizeof(d->new_order)) < 0) {
		*error_r = "directory lacks newNonce, newAccount or newOrder";
		r = -1;
	}
	json_decref(root);
	return r;
}

int acme_parse_order(const char *json, size_t len, struct acme_order *o, const char **error_r)
{
	memset(o, 0, sizeof(*o));
	json_t *root = acme_json_load(json, len, error_r);
	if (!root)
		return -1;
	int r = -1;
	json_t *authz = json_object_get(root, "authorizations");
	if (acme_json_copy(root, "status", o->status, sizeof(o->status)) < 0) {
		*error_r = "order without status";
		goto out;
	}
	acme_json_copy(root, "finalize", o->finalize, sizeof(o->finalize));
	acme_json_copy(root, "certificate", o->certificate, sizeof(o->certificate));
	if (!json_is_array(authz) || json_array_size(authz) > ACME_MAX_NAMES) {
		*error_r = "order without a list of authorizations";
		goto out;
	}
	for (size_t i = 0; i < json_array_size(authz); i++) {
		const char *u = json_string_value(json_array_get(authz, i));
		if (!u || strlen(u) >= ACME_URL_MAX) {
			*error_r = "order with a bad authorization URL";
			acme_order_free(o);
			goto out;
		}
		o->authz[o->n_authz++] = xstrdup(u);
	}
	r = 0;
out:
	json_decref(root);
	return r;
}

void acme_order_free(struct acme_order *o)
{
	for (size_t i = 0; i < o->n_authz; i++)
		free(o->authz[i]);
	o->n_authz = 0;
}

/* "type: detail" of a problem object. */
static void acme_problem_text(json_t *err, char *out, size_t outlen)
{
	const char *type = json_string_value(json_object_get(err, "type"));
	const char *detail = json_string_value(json_object_get(err, "detail"));
	out[0] = '\0';
	if (type || detail)
		snprintf(out, outlen, "%s%s%s", type ? type : "", type && detail ? ": " : "",
			 detail ? detail : "");
}

int acme_parse_authz(const char *json, size_t len, struct acme_authz *a, const char **error_r)
{
	memset(a, 0, sizeof(*a));
	json_t *root = acme_json_load(json, len, error_r);
	if (!root)
		return -1;
	int r = -1;
	if (acme_json_copy(root, "status", a->status, sizeof(a->status)) < 0) {
		*error_r = "authorization without status";
		goto out;
	}
	acme_json_copy(json_object_get(root, "identifier"), "value", a->identifier,
		       sizeof(a->identifier));
	json_t *chs = json_object_get(root, "challenges");
	if (!json_is_array(chs)) {
		*error_r = "authorization without challenges";
		goto out;
	}
	for (size_t i = 0; i < json_array_size(chs); i++) {
		json_t *ch = json_array_get(chs, i);
		const char *type = json_string_value(json_object_get(ch, "type"));
		json_t *err = json_object_get(ch, "error");
		if (json_is_object(err) && !a->error[0])
			acme_problem_text(err, a->error, sizeof(a->error));
		if (!type || strcmp(type, "http-01") != 0)
			continue;
		if (acme_json_copy(ch, "url", a->http01_url, sizeof(a->http01_url)) < 0 ||
		    acme_json_copy(ch, "token", a->http01_token, sizeof(a->http01_token)) < 0) {
			*error_r = "http-01 challenge without url or token";
			goto out;
		}
		/* RFC 8555 8.3: the token is base64url; it becomes a URL path segment. */
		if (strspn(a->http01_token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					    "0123456789-_") != strlen(a->http01_token) ||
		    !a->http01_token[0]) {
			*error_r = "http-01 token is not base64url";
			goto out;
		}
	}
	r = 0;
out:
	json_decref(root);
	return r;
}

void acme_parse_problem(const char *json, size_t len, char *out, size_t outlen)
{
	const char *error;
	out[0] = '\0';
	json_t *root = acme_json_load(json, len, &error);
	if (root)
		acme_problem_text(root, out, outlen);
	json_decref(root);
}

time_t acme_renew_at(time_t not_before, time_t not_after)
{
	if (not_after <= not_before)
		return not_before;
	return not_before + (not_after - not_before) / 3 * 2;
}
