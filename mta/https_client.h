/* https_client.h - one HTTPS request with libcurl (blocking: the thread pool's), to an address resolved by our own resolver: MTA-STS policy fetches and TLS-RPT report uploads. */
#ifndef MAIL_HTTPS_CLIENT_H
#define MAIL_HTTPS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct https_request {
	/* input */
	const char *url;  /* https only; redirects are not followed */
	const char *host; /* the URL's host name, pinned to addr (CURLOPT_RESOLVE) */
	int port;
	const char *addr;    /* numeric IPv4 or IPv6 address of host */
	const char *ca_file; /* NULL: the system's CAs */
	/* POST when content_type is set: body (body_len octets) sent with that type */
	const char *content_type;
	const void *body;
	size_t body_len;
	size_t max_response; /* a longer response body fails ("larger than N bytes") */
	long timeout;        /* seconds, whole transfer */
	/* output */
	long status; /* HTTP status, 0 when no response */
	char *ctype; /* the response's Content-Type (allocated) or NULL */
	char *data;  /* the response body, NUL-terminated (allocated) or NULL */
	size_t len;
	bool cert_failed; /* the server's certificate did not verify */
	char why[512];    /* the transfer failed: why ("" when a response came) */
};

/* Call once at start-up (curl_global_init). */
void https_client_init(void);

/* Performs r (blocking). Returns 0 when a response came (see r->status), -1 with r->why. */
int https_request_run(struct https_request *r);
void https_request_free(struct https_request *r);

#endif
