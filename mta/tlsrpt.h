/* tlsrpt.h - SMTP TLS Reporting (RFC 8460), the pure parts: the _smtp._tls TXT record, the session counts of a period, the JSON aggregate report and its mail. */
#ifndef MAIL_TLSRPT_H
#define MAIL_TLSRPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TLSRPT_RUA_MAX         4    /* report URIs used per domain */
#define TLSRPT_URI_MAX         255  /* longer URIs are skipped */
#define TLSRPT_POLICIES_MAX    2000 /* (domain, policy type) pairs counted per period */
#define TLSRPT_DETAILS_MAX     32   /* failure-details entries per pair */
#define TLSRPT_POLICY_STRINGS  16   /* policy-string lines kept per pair */
#define TLSRPT_REPORT_BODY_MAX (1024 * 1024)

/* The report URIs of a domain's record ("mailto:..." or "https://..."). */
struct tlsrpt_rua {
	size_t n;
	char uri[TLSRPT_RUA_MAX][TLSRPT_URI_MAX + 1];
};

/*
 * Parses one TXT record (pure): "v=TLSRPTv1; rua=URI[,URI...]" (RFC 8460 3) with blanks
 * around ';' and ',', an optional trailing ';' and extension fields ignored; the version
 * must come first and rua must be present. URIs other than mailto: and https: are ignored
 * (so are those over TLSRPT_URI_MAX octets). Returns 0 with *out filled (possibly with no
 * usable URI), or -1 with *out empty: not a TLSRPTv1 record, or a malformed one.
 */
int tlsrpt_txt_parse(const char *txt, size_t len, struct tlsrpt_rua *out);

/* Chooses among every TXT string of _smtp._tls.DOMAIN (pure): records not starting with
 * "v=TLSRPTv1" are ignored and exactly one must remain (RFC 8460 3: else the domain does
 * not implement TLS-RPT). Returns 1 with *out, 0 when there is none, -1 with err. */
int tlsrpt_txt_select(char *const *records, size_t n, struct tlsrpt_rua *out, char *err,
		      size_t errlen);

/* Splits "https://host[:port]/path" (pure): host without brackets, the port (443 when
 * absent). Returns 0, or -1 when it is not such a URI. */
int tlsrpt_https_split(const char *uri, char *host, size_t hostlen, int *port);

enum tlsrpt_policy_type {
	TLSRPT_NO_POLICY, /* "no-policy-found" */
	TLSRPT_STS,       /* "sts" */
	TLSRPT_TLSA,      /* "tlsa" */
};

/* The result types of RFC 8460 4.3; TLSRPT_SUCCESS counts a successful session. */
enum tlsrpt_result {
	TLSRPT_NOT_COUNTED = -1, /* no TLS session to speak of (e.g. the connection failed) */
	TLSRPT_SUCCESS = 0,
	TLSRPT_STARTTLS_NOT_SUPPORTED,
	TLSRPT_CERTIFICATE_HOST_MISMATCH,
	TLSRPT_CERTIFICATE_EXPIRED,
	TLSRPT_CERTIFICATE_NOT_TRUSTED,
	TLSRPT_VALIDATION_FAILURE,
	TLSRPT_TLSA_INVALID,
	TLSRPT_DNSSEC_INVALID,
	TLSRPT_DANE_REQUIRED,
	TLSRPT_STS_POLICY_FETCH_ERROR,
	TLSRPT_STS_POLICY_INVALID,
	TLSRPT_STS_WEBPKI_INVALID,
	TLSRPT_NRESULTS
};

/* "success" for TLSRPT_SUCCESS, else the RFC's word ("certificate-expired"). */
const char *tlsrpt_result_name(enum tlsrpt_result r);
/* "no-policy-found", "sts", "tlsa". */
const char *tlsrpt_policy_type_name(enum tlsrpt_policy_type t);

/* One session (or a policy failure without one) to count. */
struct tlsrpt_event {
	const char *domain; /* the policy domain (the recipient domain), lower case */
	enum tlsrpt_policy_type type;
	const char *const *policy_strings; /* sts: the policy's lines; tlsa: the records */
	size_t n_policy_strings;
	const char *const *mx_hosts; /* sts: the policy's mx patterns */
	size_t n_mx_hosts;
	enum tlsrpt_result result;
	const char *receiving_mx_hostname; /* or NULL */
	const char *receiving_ip;          /* or NULL */
	const char *info;                  /* additional-information, or NULL */
};

/*
 * A period's counts, as a JSON object (also the file format under state_dir/tlsrpt):
 * {"start": UNIX, "end": UNIX or 0 while open, "policies": {"TYPE DOMAIN": {"policy": {...},
 * "summary": {...}, "failure-details": [...]}}} with the RFC's member names inside.
 */
json_t *tlsrpt_period_new(int64_t start);
/* Counts ev. Returns 0, or -1 when the period already holds TLSRPT_POLICIES_MAX pairs (the
 * session is not counted). Failure details beyond TLSRPT_DETAILS_MAX per pair only count in
 * the summary. */
int tlsrpt_period_add(json_t *period, const struct tlsrpt_event *ev);
/* Parses a period file (pure). Returns the object, or NULL with err. */
json_t *tlsrpt_period_load(const char *text, size_t len, char *err, size_t errlen);
int64_t tlsrpt_period_start(const json_t *period);
int64_t tlsrpt_period_end(const json_t *period);
void tlsrpt_period_close(json_t *period, int64_t end);
/* The policy domains counted, each once, sorted (free with free(), each and the array). */
size_t tlsrpt_period_domains(const json_t *period, char ***out);

/* The aggregate report of domain for a closed period (RFC 8460 4.4), or NULL when the
 * period counted nothing for it. */
json_t *tlsrpt_report_build(const json_t *period, const char *domain, const char *org_name,
			    const char *contact, const char *report_id);

/* gzip (RFC 1952) of data appended to out. Returns 0, or -1. */
int tlsrpt_gzip(const void *data, size_t len, struct buf *out);

/* The report mail (RFC 8460 5.3), CRLF line endings: multipart/report; report-type="tlsrpt"
 * with a text part and the gzipped report as an application/tlsrpt+gzip attachment named
 * SUBMITTER!DOMAIN!BEGIN!END.json.gz. date is a unix time for the Date field. */
void tlsrpt_mail_compose(struct buf *out, const char *from, const char *to, const char *domain,
			 const char *submitter, const char *report_id, int64_t begin, int64_t end,
			 int64_t date, const void *gz, size_t gz_len);

#endif
