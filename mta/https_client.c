/* https_client.c - one HTTPS request with libcurl (blocking, for the thread pool) pinned to an address of our own resolver: the one home of mtad's outbound HTTPS. */
#include "https_client.h"
#include "xalloc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void https_client_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct https_body {
	struct https_request *r;
	bool too_big;
};

static size_t https_write(char *p, size_t size, size_t n, void *arg)
{
	struct https_body *b = arg;
	struct https_request *r = b->r;
	size_t k = size * n;
	if (r->len + k > r->max_response) {
		b->too_big = true;
		return 0;
	}
	r->data = xrealloc(r->data, r->len + k + 1);
	memcpy(r->data + r->len, p, k);
	r->len += k;
	r->data[r->len] = '\0';
	return k;
}

int https_request_run(struct https_request *r)
{
	char resolve[400], errbuf[CURL_ERROR_SIZE] = "";
	r->status = 0;
	r->why[0] = '\0';
	/* an IPv6 address goes in brackets in CURLOPT_RESOLVE */
	snprintf(resolve, sizeof(resolve), strchr(r->addr, ':') ? "%s:%d:[%s]" : "%s:%d:%s",
		 r->host, r->port, r->addr);
	struct curl_slist *res = curl_slist_append(NULL, resolve);
	struct curl_slist *hdrs = NULL;
	struct https_body b = { .r = r };
	CURL *h = curl_easy_init();
	if (!h) {
		snprintf(r->why, sizeof(r->why), "cannot start libcurl");
		curl_slist_free_all(res);
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_RESOLVE, res);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, r->timeout > 0 ? r->timeout : 30L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mtad/" MAIL_VERSION);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, https_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (r->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file);
	if (r->content_type) {
		char ct[200];
		snprintf(ct, sizeof(ct), "Content-Type: %s", r->content_type);
		hdrs = curl_slist_append(hdrs, ct);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	}
	CURLcode rc = curl_easy_perform(h);
	char *ctype = NULL;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
	free(r->ctype);
	r->ctype = ctype ? xstrdup(ctype) : NULL;
	int ret = 0;
	if (rc != CURLE_OK) {
		r->cert_failed = rc == CURLE_PEER_FAILED_VERIFICATION;
		if (b.too_big)
			snprintf(r->why, sizeof(r->why), "larger than %zu bytes", r->max_response);
		else
			snprintf(r->why, sizeof(r->why), "%s",
				 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		ret = -1;
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(res);
	curl_slist_free_all(hdrs);
	return ret;
}

void https_request_free(struct https_request *r)
{
	free(r->ctype);
	free(r->data);
	r->ctype = r->data = NULL;
	r->len = 0;
}
