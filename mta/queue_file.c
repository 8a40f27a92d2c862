/* queue_file.c - queue file records: encode the committed envelope and message, decode a file image. */
#include "queue_file.h"
#include "smtp_proto.h"
#include "xalloc.h"

#include <ctype.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define QUEUE_FILE_VERSION          "MQ2" /* E carries "<length> <crc32>" */
#define QUEUE_FILE_VERSION_UNSEALED "MQ1" /* E empty: written only by tmp + rename */

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), eight bytes per step ("slicing by 8"): about
 * a byte per cycle, so sealing a large message costs little next to writing it. */
static uint32_t queue_crc_table[8][256];

static void queue_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		queue_crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			queue_crc_table[t][i] =
				(queue_crc_table[t - 1][i] >> 8) ^
				queue_crc_table[0][queue_crc_table[t - 1][i] & 0xff];
}

uint32_t queue_crc32(uint32_t crc, const void *data, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, queue_crc_init);
	const unsigned char *p = data;
	uint32_t(*t)[256] = queue_crc_table;
	crc = ~crc;
	for (; len >= 8; p += 8, len -= 8) {
		crc ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		       (uint32_t)p[3] << 24;
		crc = t[7][crc & 0xff] ^ t[6][(crc >> 8) & 0xff] ^ t[5][(crc >> 16) & 0xff] ^
		      t[4][crc >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
	}
	for (; len > 0; p++, len--)
		crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
	return ~crc;
}

void queue_record_put(struct buf *out, char type, const void *payload, size_t len)
{
	/* "<type><len>:<payload>\n", the length in decimal without printf (about ten records
	 * per queue file). */
	char digits[24];
	size_t nd = 0, v = len;
	do {
		digits[sizeof(digits) - 1 - nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_reserve(out, 1 + nd + 1 + len + 1);
	char *p = out->data + out->len;
	*p++ = type;
	memcpy(p, digits + sizeof(digits) - nd, nd);
	p += nd;
	*p++ = ':';
	if (len)
		memcpy(p, payload, len);
	p += len;
	*p++ = '\n';
	out->len = (size_t)(p - out->data);
	out->data[out->len] = '\0';
}

void queue_record_putf(struct buf *out, char type, const char *fmt, ...)
{
	char tmp[1200];
	va_list ap;
	va_start(ap, fmt);
	int n = str_vformat(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	queue_record_put(out, type, tmp, (size_t)n);
}

static void queue_put_str(struct buf *out, char type, const char *s)
{
	if (s)
		queue_record_put(out, type, s, strlen(s));
}

void queue_file_encode(const struct queue_envelope *env, const char *msg, size_t msg_len,
		       struct buf *head, struct buf *tail)
{
	queue_put_str(head, 'V', QUEUE_FILE_VERSION);
	queue_put_str(head, 'I', env->id);
	queue_record_putf(head, 'T', "%" PRId64, env->arrival);
	queue_put_str(head, 'S', env->sender ? env->sender : "");
	queue_put_str(head, 'B', env->body_flags);
	queue_put_str(head, 'C', env->client);
	queue_put_str(head, 'H', env->helo);
	queue_put_str(head, 'A', env->auth);
	queue_put_str(head, 'P', env->proto);
	if (env->ret)
		queue_put_str(head, 'F', env->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
	queue_put_str(head, 'J', env->envid);
	for (size_t i = 0; i < env->nrcpts; i++) {
		queue_put_str(head, 'R', env->rcpts[i].addr);
		queue_put_str(head, 'O', env->rcpts[i].orig);
		if (env->rcpts[i].notify) {
			char notify[32];
			smtp_notify_format(env->rcpts[i].notify, notify, sizeof(notify));
			queue_put_str(head, 'N', notify);
		}
		queue_put_str(head, 'K', env->rcpts[i].orcpt);
	}
	buf_printf(head, "M%zu:", msg_len);
	/* The commit record seals everything before it: a torn write (pages of a file that
	 * reached the disk in any order) never passes for a committed message. */
	uint32_t crc = queue_crc32(0, head->data, head->len);
	crc = queue_crc32(crc, msg, msg_len);
	crc = queue_crc32(crc, "\n", 1);
	buf_append(tail, "\n", 1);
	queue_record_putf(tail, 'E', "%zu %08" PRIx32, head->len + msg_len + 1, crc);
	if (env->held)
		queue_state_held(tail, true);
}

/* Reads one record at data[*pos]. Returns 1 with type/payload, 0 at a clean end of input,
 * -1 for a torn or malformed record. */
static int queue_record_get(const char *data, size_t len, size_t *pos, char *type_r,
			    const char **payload_r, size_t *plen_r)
{
	size_t p = *pos;
	if (p >= len)
		return 0;
	char type = data[p++];
	if (!isalpha((unsigned char)type))
		return -1;
	uint64_t n = 0;
	size_t digits = 0;
	while (p < len && data[p] >= '0' && data[p] <= '9') {
		if (++digits > 15)
			return -1;
		n = n * 10 + (uint64_t)(data[p] - '0');
		p++;
	}
	if (digits == 0 || p >= len || data[p] != ':')
		return -1;
	p++;
	if (n > len - p || len - p - n < 1 || data[p + n] != '\n')
		return -1;
	*type_r = type;
	*payload_r = data + p;
	*plen_r = (size_t)n;
	*pos = p + (size_t)n + 1;
	return 1;
}

static char *queue_dup(const char *p, size_t n)
{
	return xstrndup(p, n);
}

/* Parses "N" or "N rest" numbers at the start of a payload. */
static int queue_parse_i64(const char **p, const char *end, int64_t *out)
{
	const char *s = *p;
	bool neg = false;
	int64_t v = 0;
	if (s < end && *s == '-') {
		neg = true;
		s++;
	}
	const char *start = s;
	while (s < end && *s >= '0' && *s <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
		s++;
	}
	if (s == start)
		return -1;
	if (s < end) {
		if (*s != ' ')
			return -1;
		s++;
	}
	*out = neg ? -v : v;
	*p = s;
	return 0;
}

static int queue_apply_state(struct queue_envelope *env, char type, const char *pl, size_t n)
{
	const char *p = pl, *end = pl + n;
	int64_t idx, a, b, code;

	switch (type) {
	case 'h':
		env->held = n == 1 && pl[0] == '1';
		return 0;
	case 'b':
	case 'w':
		if (queue_parse_i64(&p, end, &a) < 0)
			return -1;
		if (type == 'b')
			env->bounced = a;
		else
			env->warned = a;
		return 0;
	case 'D':
	case 'X':
	case 'Q':
		break;
	default:
		return -1;
	}
	if (queue_parse_i64(&p, end, &idx) < 0 || idx < 0 || (uint64_t)idx >= env->nrcpts)
		return -1;
	struct queue_rcpt *r = &env->rcpts[idx];
	if (type == 'D') {
		if (queue_parse_i64(&p, end, &a) < 0)
			return -1;
		r->state = QUEUE_RCPT_DELIVERED;
		r->done_time = a;
		r->via = p + 1 == end && (*p == QUEUE_VIA_LOCAL || *p == QUEUE_VIA_RELAYED ||
					  *p == QUEUE_VIA_DSN)
				 ? *p
				 : 0;
		return 0;
	}
	if (type == 'X') {
		if (queue_parse_i64(&p, end, &a) < 0 || queue_parse_i64(&p, end, &code) < 0)
			return -1;
		r->state = QUEUE_RCPT_FAILED;
		r->done_time = a;
		r->code = (int)code;
	} else {
		if (queue_parse_i64(&p, end, &a) < 0 || queue_parse_i64(&p, end, &b) < 0 || a < 0 ||
		    a > 1000000)
			return -1;
		if (r->state == QUEUE_RCPT_DELIVERED || r->state == QUEUE_RCPT_FAILED)
			return 0;
		r->state = QUEUE_RCPT_DEFERRED;
		r->attempts = (unsigned)a;
		r->next_attempt = b;
	}
	free(r->last_error);
	r->last_error = queue_dup(p, (size_t)(end - p));
	return 0;
}

/* Checks the commit record "<length> <8 lower-case hex digits of the CRC-32>" against the
 * bytes before it (record_start of them). */
static int queue_check_seal(const char *data, size_t record_start, const char *pl, size_t plen,
			    const char **error_r)
{
	const char *p = pl, *end = pl + plen;
	int64_t sealed_len;
	uint32_t crc = 0;
	if (queue_parse_i64(&p, end, &sealed_len) < 0 || pl[0] == '-' || end - p != 8) {
		*error_r = "bad commit record";
		return -1;
	}
	for (; p < end; p++) {
		int d = *p >= '0' && *p <= '9'   ? *p - '0'
			: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
						 : -1;
		if (d < 0) {
			*error_r = "bad commit record";
			return -1;
		}
		crc = crc << 4 | (uint32_t)d;
	}
	if ((uint64_t)sealed_len != record_start) {
		*error_r = "commit record length mismatch (torn queue file)";
		return -1;
	}
	if (queue_crc32(0, data, record_start) != crc) {
		*error_r = "commit record checksum mismatch (torn queue file)";
		return -1;
	}
	return 0;
}

int queue_file_decode(const char *data, size_t len, struct queue_envelope *env,
		      const char **error_r)
{
	size_t pos = 0, plen, cap = 0;
	const char *pl;
	char type;
	bool have_msg = false, ended = false, have_id = false;
	int r;

	memset(env, 0, sizeof(*env));
	r = queue_record_get(data, len, &pos, &type, &pl, &plen);
	if (r != 1 || type != 'V' || plen != 3 ||
	    (memcmp(pl, QUEUE_FILE_VERSION, 3) != 0 &&
	     memcmp(pl, QUEUE_FILE_VERSION_UNSEALED, 3) != 0)) {
		*error_r = "not a queue file (bad version record)";
		return -1;
	}
	bool sealed = memcmp(pl, QUEUE_FILE_VERSION, 3) == 0;
	while (!ended) {
		size_t record_start = pos;
		r = queue_record_get(data, len, &pos, &type, &pl, &plen);
		if (r != 1) {
			*error_r = r == 0 ? "incomplete queue file (no end record)"
					  : "malformed record";
			goto fail;
		}
		if (memchr(pl, '\0', plen) && type != 'M') {
			*error_r = "NUL in envelope record";
			goto fail;
		}
		switch (type) {
		case 'I':
			if (plen == 0 || plen > QUEUE_ID_MAX) {
				*error_r = "bad queue id";
				goto fail;
			}
			memcpy(env->id, pl, plen);
			env->id[plen] = '\0';
			if (!queue_id_valid(env->id)) {
				*error_r = "bad queue id";
				goto fail;
			}
			have_id = true;
			break;
		case 'T': {
			const char *p = pl;
			if (queue_parse_i64(&p, pl + plen, &env->arrival) < 0 || p != pl + plen) {
				*error_r = "bad arrival time";
				goto fail;
			}
			break;
		}
		case 'S':
			free(env->sender);
			env->sender = queue_dup(pl, plen);
			break;
		case 'B':
			free(env->body_flags);
			env->body_flags = queue_dup(pl, plen);
			break;
		case 'C':
			free(env->client);
			env->client = queue_dup(pl, plen);
			break;
		case 'H':
			free(env->helo);
			env->helo = queue_dup(pl, plen);
			break;
		case 'A':
			free(env->auth);
			env->auth = queue_dup(pl, plen);
			break;
		case 'P':
			free(env->proto);
			env->proto = queue_dup(pl, plen);
			break;
		case 'R':
			if (have_msg || plen == 0) {
				*error_r = "bad recipient record";
				goto fail;
			}
			if (env->nrcpts == cap) {
				cap = cap ? cap * 2 : 4;
				env->rcpts = xrealloc(env->rcpts, cap * sizeof(*env->rcpts));
			}
			memset(&env->rcpts[env->nrcpts], 0, sizeof(env->rcpts[0]));
			env->rcpts[env->nrcpts++].addr = queue_dup(pl, plen);
			break;
		case 'O':
			if (env->nrcpts == 0 || env->rcpts[env->nrcpts - 1].orig) {
				*error_r = "original recipient without recipient";
				goto fail;
			}
			env->rcpts[env->nrcpts - 1].orig = queue_dup(pl, plen);
			break;
		case 'N':
			if (env->nrcpts == 0 || env->rcpts[env->nrcpts - 1].notify ||
			    smtp_notify_parse(pl, plen, &env->rcpts[env->nrcpts - 1].notify) < 0) {
				*error_r = "bad NOTIFY record";
				goto fail;
			}
			break;
		case 'K':
			if (env->nrcpts == 0 || env->rcpts[env->nrcpts - 1].orcpt || plen == 0) {
				*error_r = "bad ORCPT record";
				goto fail;
			}
			env->rcpts[env->nrcpts - 1].orcpt = queue_dup(pl, plen);
			break;
		case 'F':
			if (plen == 4 && memcmp(pl, "FULL", 4) == 0)
				env->ret = SMTP_RET_FULL;
			else if (plen == 4 && memcmp(pl, "HDRS", 4) == 0)
				env->ret = SMTP_RET_HDRS;
			else {
				*error_r = "bad RET record";
				goto fail;
			}
			break;
		case 'J':
			free(env->envid);
			env->envid = queue_dup(pl, plen);
			break;
		case 'M':
			if (have_msg) {
				*error_r = "two message records";
				goto fail;
			}
			have_msg = true;
			env->msg_offset = (size_t)(pl - data);
			env->msg_len = plen;
			break;
		case 'E':
			if (sealed ? queue_check_seal(data, record_start, pl, plen, error_r) < 0
				   : plen != 0) {
				if (!sealed)
					*error_r = "bad end record";
				goto fail;
			}
			ended = true;
			break;
		default:
			*error_r = "unknown record type in envelope";
			goto fail;
		}
	}
	if (!have_msg || !have_id || !env->sender || env->nrcpts == 0) {
		*error_r = "incomplete envelope";
		goto fail;
	}
	/* The state log: stop quietly at a torn or malformed record. */
	while (queue_record_get(data, len, &pos, &type, &pl, &plen) == 1) {
		if (queue_apply_state(env, type, pl, plen) < 0)
			break;
	}
	return 0;
fail:
	queue_envelope_free(env);
	return -1;
}

void queue_envelope_free(struct queue_envelope *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orig);
		free(env->rcpts[i].orcpt);
		free(env->rcpts[i].last_error);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->body_flags);
	free(env->client);
	free(env->helo);
	free(env->auth);
	free(env->proto);
	free(env->envid);
	memset(env, 0, sizeof(*env));
}

static void queue_text_clean(char *dst, size_t dstlen, const char *src)
{
	size_t j = 0;
	for (size_t i = 0; src && src[i] && j + 1 < dstlen; i++)
		dst[j++] = (src[i] == '\n' || src[i] == '\r' || src[i] == '\0') ? ' ' : src[i];
	dst[j] = '\0';
}

void queue_state_delivered(struct buf *out, size_t index, int64_t when, char via)
{
	if (via)
		queue_record_putf(out, 'D', "%zu %" PRId64 " %c", index, when, via);
	else
		queue_record_putf(out, 'D', "%zu %" PRId64, index, when);
}

void queue_state_failed(struct buf *out, size_t index, int64_t when, int code, const char *text)
{
	char t[1024];
	queue_text_clean(t, sizeof(t), text);
	queue_record_putf(out, 'X', "%zu %" PRId64 " %d %s", index, when, code, t);
}

void queue_state_deferred(struct buf *out, size_t index, unsigned attempts, int64_t next,
			  const char *text)
{
	char t[1024];
	queue_text_clean(t, sizeof(t), text);
	queue_record_putf(out, 'Q', "%zu %u %" PRId64 " %s", index, attempts, next, t);
}

void queue_state_held(struct buf *out, bool held)
{
	queue_record_put(out, 'h', held ? "1" : "0", 1);
}

void queue_state_bounced(struct buf *out, int64_t when)
{
	queue_record_putf(out, 'b', "%" PRId64, when);
}

void queue_state_warned(struct buf *out, int64_t when)
{
	queue_record_putf(out, 'w', "%" PRId64, when);
}

void queue_id_new(char out[QUEUE_ID_MAX + 1])
{
	static _Atomic uint64_t last;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	uint64_t now = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	uint64_t prev = atomic_load(&last), next;
	do {
		next = now > prev ? now : prev + 1;
	} while (!atomic_compare_exchange_weak(&last, &prev, next));
	/* "%016" PRIX64, by hand (once per message and per spare) */
	static const char hex[] = "0123456789ABCDEF";
	for (int i = 15; i >= 0; i--, next >>= 4)
		out[i] = hex[next & 0xf];
	out[16] = '\0';
}

bool queue_id_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 8 || n > QUEUE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'A' && s[i] <= 'F'))
			return false;
	return true;
}

bool queue_envelope_requiretls(const struct queue_envelope *env)
{
	const char *f = env->body_flags;
	for (const char *p = f ? strstr(f, "REQUIRETLS") : NULL; p; p = strstr(p + 1, "REQUIRETLS"))
		if ((p == f || p[-1] == ' ') && (p[10] == '\0' || p[10] == ' '))
			return true;
	return false;
}
