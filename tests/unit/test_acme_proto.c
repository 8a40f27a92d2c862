/* test_acme_proto.c - acme_proto.c: base64url, JWK thumbprint (RFC 7638), ES256 JWS that verifies, CSR, the server's JSON objects. */
#include <criterion/criterion.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "acme_proto.h"
#include "base64.h"

static char *b64url(const char *s, size_t len)
{
	struct buf b;
	buf_init(&b);
	acme_b64url(&b, s, len);
	buf_append(&b, "", 0);
	return buf_steal(&b, NULL);
}

/* base64url back to bytes (test only): via the standard alphabet and padding. */
static size_t unb64url(const char *in, size_t len, unsigned char *out, size_t outsize)
{
	char tmp[4096];
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		tmp[n++] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	while (n % 4)
		tmp[n++] = '=';
	size_t outlen;
	const char *err;
	cr_assert_eq(base64_decode(tmp, n, out, outsize, &outlen, &err), 0, "%s", err);
	return outlen;
}

Test(acme_proto, b64url)
{
	char *s = b64url("\xfb\xff", 2);
	cr_expect_str_eq(s, "-_8");
	free(s);
	s = b64url("abc", 3);
	cr_expect_str_eq(s, "YWJj");
	free(s);
	s = b64url("", 0);
	cr_expect_str_eq(s ? s : "", "");
	free(s);
}

/* RFC 7638's member order and the thumbprint of a known P-256 key (RFC 7515 A.3's key). */
Test(acme_proto, jwk_thumbprint)
{
	static const char pem[] = "-----BEGIN PUBLIC KEY-----\n"
				  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7"
				  "6e8Tus9uPHvRVEXH8UTN"
				  "G72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
				  "-----END PUBLIC KEY-----\n";
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	cr_assert_not_null(k);
	struct buf jwk, tp;
	buf_init(&jwk);
	buf_init(&tp);
	cr_assert_eq(acme_jwk(k, &jwk), 0);
	buf_append(&jwk, "", 0);
	cr_expect_str_eq(jwk.data, "{\"crv\":\"P-256\",\"kty\":\"EC\","
				   "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
				   "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}");
	cr_assert_eq(acme_thumbprint(k, &tp), 0);
	cr_expect_eq(tp.len, 43);
	buf_free(&jwk);
	buf_free(&tp);
	EVP_PKEY_free(k);
}

/* The JWS verifies with the key: r||s of 64 bytes over "protected.payload". */
Test(acme_proto, jws_verifies)
{
	EVP_PKEY *k = acme_key_new();
	cr_assert_not_null(k);
	struct buf out;
	buf_init(&out);
	cr_assert_eq(acme_jws(k, "https://ca/acct/1", "nonce-1", "https://ca/new-order",
			      "{\"a\":1}", &out),
		     0);
	buf_append(&out, "", 0);
	const char *p = strstr(out.data, "\"protected\":\"") + 13;
	const char *pe = strchr(p, '"');
	const char *pl = strstr(out.data, "\"payload\":\"") + 11;
	const char *ple = strchr(pl, '"');
	const char *sg = strstr(out.data, "\"signature\":\"") + 13;
	const char *sge = strchr(sg, '"');
	unsigned char hdr[1024], payload[64], rs[128];
	size_t hl = unb64url(p, (size_t)(pe - p), hdr, sizeof(hdr));
	hdr[hl] = 0;
	cr_expect(strstr((char *)hdr, "\"alg\":\"ES256\""));
	cr_expect(strstr((char *)hdr, "\"kid\":\"https://ca/acct/1\""));
	cr_expect(strstr((char *)hdr, "\"nonce\":\"nonce-1\""));
	cr_expect(strstr((char *)hdr, "\"url\":\"https://ca/new-order\""));
	cr_expect_null(strstr((char *)hdr, "jwk"));
	size_t n = unb64url(pl, (size_t)(ple - pl), payload, sizeof(payload));
	cr_expect(n == 7 && memcmp(payload, "{\"a\":1}", 7) == 0);
	cr_assert_eq(unb64url(sg, (size_t)(sge - sg), rs, sizeof(rs)), 64);

	ECDSA_SIG *sig = ECDSA_SIG_new();
	ECDSA_SIG_set0(sig, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL));
	unsigned char *der = NULL;
	int dl = i2d_ECDSA_SIG(sig, &der);
	char input[2048];
	int il = snprintf(input, sizeof(input), "%.*s.%.*s", (int)(pe - p), p, (int)(ple - pl), pl);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	cr_assert_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k), 1);
	cr_expect_eq(
		EVP_DigestVerify(md, der, (size_t)dl, (const unsigned char *)input, (size_t)il), 1,
		"signature over protected.payload");
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);

	/* newAccount: the jwk instead of a kid; POST-as-GET: an empty payload. */
	buf_reset(&out);
	cr_assert_eq(acme_jws(k, NULL, "n", "https://ca/x", NULL, &out), 0);
	buf_append(&out, "", 0);
	cr_expect(strstr(out.data, "\"payload\":\"\""));
	p = strstr(out.data, "\"protected\":\"") + 13;
	hl = unb64url(p, (size_t)(strchr(p, '"') - p), hdr, sizeof(hdr));
	hdr[hl] = 0;
	cr_expect(strstr((char *)hdr, "\"jwk\":{\"crv\":\"P-256\""));
	buf_free(&out);
	EVP_PKEY_free(k);
}

Test(acme_proto, csr)
{
	EVP_PKEY *k = acme_key_new();
	const char *names[] = { "mail.example.org", "mta-sts.example.org" };
	struct buf out;
	buf_init(&out);
	cr_assert_eq(acme_csr(k, names, 2, &out), 0);
	unsigned char der[4096];
	size_t n = unb64url(out.data, out.len, der, sizeof(der));
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)n);
	cr_assert_not_null(req);
	cr_expect_eq(X509_REQ_verify(req, k), 1);
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *sans = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	cr_assert_eq(sk_GENERAL_NAME_num(sans), 2);
	GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, 1);
	cr_expect_str_eq((const char *)ASN1_STRING_get0_data(g->d.dNSName), "mta-sts.example.org");
	GENERAL_NAMES_free(sans);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	buf_free(&out);
	EVP_PKEY_free(k);
}

Test(acme_proto, objects)
{
	const char *err;
	struct acme_directory d;
	const char *dir = "{\"newNonce\":\"https://ca/nonce\",\"newAccount\":\"https://ca/acct\","
			  "\"newOrder\":\"https://ca/order\",\"meta\":{}}";
	cr_assert_eq(acme_parse_directory(dir, strlen(dir), &d, &err), 0);
	cr_expect_str_eq(d.new_order, "https://ca/order");
	cr_expect_eq(acme_parse_directory("{\"newNonce\":1}", 14, &d, &err), -1);
	cr_expect_eq(acme_parse_directory("[", 1, &d, &err), -1);

	struct acme_order o;
	const char *ord = "{\"status\":\"pending\",\"finalize\":\"https://ca/fin\","
			  "\"authorizations\":[\"https://ca/a/1\",\"https://ca/a/2\"]}";
	cr_assert_eq(acme_parse_order(ord, strlen(ord), &o, &err), 0);
	cr_expect_eq(o.n_authz, 2);
	cr_expect_str_eq(o.authz[1], "https://ca/a/2");
	cr_expect_str_eq(o.finalize, "https://ca/fin");
	acme_order_free(&o);

	struct acme_authz a;
	const char *az =
		"{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\",\"value\":\"x.org\"},"
		"\"challenges\":[{\"type\":\"dns-01\",\"url\":\"u1\",\"token\":\"t1\"},"
		"{\"type\":\"http-01\",\"url\":\"u2\",\"token\":\"Ab-_9\",\"error\":{"
		"\"type\":\"urn:ietf:params:acme:error:connection\",\"detail\":\"refused\"}}]}";
	cr_assert_eq(acme_parse_authz(az, strlen(az), &a, &err), 0);
	cr_expect_str_eq(a.http01_url, "u2");
	cr_expect_str_eq(a.http01_token, "Ab-_9");
	cr_expect_str_eq(a.identifier, "x.org");
	cr_expect_str_eq(a.error, "urn:ietf:params:acme:error:connection: refused");
	/* A token that would leave its URL path segment is refused. */
	const char *bad =
		"{\"status\":\"pending\",\"challenges\":[{\"type\":\"http-01\",\"url\":\"u\","
		"\"token\":\"../x\"}]}";
	cr_expect_eq(acme_parse_authz(bad, strlen(bad), &a, &err), -1);

	char problem[128];
	const char *pd = "{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"stale\"}";
	acme_parse_problem(pd, strlen(pd), problem, sizeof(problem));
	cr_expect_str_eq(problem, "urn:ietf:params:acme:error:badNonce: stale");
}

Test(acme_proto, renew_at_two_thirds)
{
	cr_expect_eq(acme_renew_at(0, 90 * 86400), 60 * 86400);
	cr_expect_eq(acme_renew_at(1000, 1000), 1000);
}
